//! Record types of the interchange format. Field names are the format's; unknown fields are refused; absent
//! optional fields and `null` mean the same; booleans default to false and lists to empty.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use domain::*;

/// An instant as written in the format: RFC 3339 with an offset.
pub type Instant = DateTime<FixedOffset>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitRec {
    pub code: UnitCode,
    pub name: String,
    pub level: UnitLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<UnitCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<UnitCode>,
    #[serde(default, deserialize_with = "null_default")]
    pub offers_e_certified_copy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayRec {
    pub date: NaiveDate,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectorRec {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureRec {
    pub code: ProcedureCode,
    pub name: String,
    pub sector: String,
    pub authority: UnitCode,
    pub level: ProcedureLevel,
    pub online_level: OnlineLevel,
    pub fee: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_days: Option<f64>,
    #[serde(default, deserialize_with = "null_default")]
    pub applicant_types: Vec<ApplicantKind>,
    #[serde(default, deserialize_with = "null_default")]
    pub returns_paper_result: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub status: ProcedureStatusOrDefault,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_effective_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announced_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_on: Option<NaiveDate>,
    #[serde(default, deserialize_with = "null_default")]
    pub content: Vec<ContentPart>,
    #[serde(default, deserialize_with = "null_default")]
    pub national_portal_integrated: bool,
}

/// A procedure's status, PUBLISHED when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProcedureStatusOrDefault(pub ProcedureStatus);

impl Default for ProcedureStatusOrDefault {
    fn default() -> Self {
        ProcedureStatusOrDefault(ProcedureStatus::Published)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicantRec {
    pub id_number: String,
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub kind: ApplicantKindOrDefault,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub vneid_verified: bool,
}

/// An applicant's kind, CITIZEN when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApplicantKindOrDefault(pub ApplicantKind);

impl Default for ApplicantKindOrDefault {
    fn default() -> Self {
        ApplicantKindOrDefault(ApplicantKind::Citizen)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRec {
    pub status: DossierStatus,
    pub at: Instant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplementRec {
    pub requested_at: Instant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApologyRec {
    pub issued_at: Instant,
    pub reason: String,
    pub new_due_at: Instant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DossierRec {
    pub code: DossierCode,
    pub procedure: ProcedureCode,
    pub unit: UnitCode,
    pub channel: Channel,
    pub applicant: ApplicantRec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<Instant>,
    pub received_at: Instant,
    pub due_at: Instant,
    pub events: Vec<EventRec>,
    #[serde(default, deserialize_with = "null_default")]
    pub supplements: Vec<SupplementRec>,
    #[serde(default, deserialize_with = "null_default")]
    pub apologies: Vec<ApologyRec>,
    #[serde(default, deserialize_with = "null_default")]
    pub inputs_digitized: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub reused_data: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub from_citizen_storage: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub result_electronic: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub result_to_citizen_storage: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRec {
    pub series: String,
    pub number: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    pub dossier: DossierCode,
    pub payer_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_tax_code: Option<String>,
    pub amount: i64,
    pub kind: ReceiptKind,
    pub payment_channel: PaymentChannel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<PaymentMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_ref: Option<String>,
    pub issued_at: Instant,
    #[serde(default, deserialize_with = "null_default")]
    pub status: ReceiptStatusOrDefault,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

/// A receipt's status, ISSUED when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReceiptStatusOrDefault(pub ReceiptStatus);

impl Default for ReceiptStatusOrDefault {
    fn default() -> Self {
        ReceiptStatusOrDefault(ReceiptStatus::Issued)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRec {
    pub code: String,
    pub kind: FeedbackKind,
    pub channel: FeedbackChannel,
    pub unit: UnitCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dossier: Option<DossierCode>,
    pub received_at: Instant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<Rating>,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub likes: i32,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub dislikes: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<String>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// One line of the format. Serialized with `type` first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Unit(UnitRec),
    Holiday(HolidayRec),
    Sector(SectorRec),
    Procedure(ProcedureRec),
    Dossier(DossierRec),
    Receipt(ReceiptRec),
    Feedback(FeedbackRec),
}

/// The record kinds, in the order an export writes them (each may refer only to earlier kinds or itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Unit,
    Holiday,
    Sector,
    Procedure,
    Dossier,
    Receipt,
    Feedback,
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::Unit(_) => Kind::Unit,
            Record::Holiday(_) => Kind::Holiday,
            Record::Sector(_) => Kind::Sector,
            Record::Procedure(_) => Kind::Procedure,
            Record::Dossier(_) => Kind::Dossier,
            Record::Receipt(_) => Kind::Receipt,
            Record::Feedback(_) => Kind::Feedback,
        }
    }

    /// The record's natural key as shown in reports.
    pub fn key(&self) -> String {
        match self {
            Record::Unit(r) => r.code.to_string(),
            Record::Holiday(r) => r.date.to_string(),
            Record::Sector(r) => r.code.clone(),
            Record::Procedure(r) => r.code.to_string(),
            Record::Dossier(r) => r.code.to_string(),
            Record::Receipt(r) => format!("{}/{}", r.series, r.number),
            Record::Feedback(r) => r.code.clone(),
        }
    }

    /// One JSON line, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `null` reads as the type's default, as an absent field does.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_comes_first_and_defaults_are_written() {
        let r = Record::Holiday(HolidayRec {
            date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            name: "Tết".into(),
        });
        assert_eq!(r.to_line(), r#"{"type":"holiday","date":"2024-01-01","name":"Tết"}"#);
    }
}
