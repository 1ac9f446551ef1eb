//! What persistence writes: one plain type per kind of record, produced by the importer (from interchange
//! records) and by the API's writes (from their inputs), and turned into rows by [`super::write`] alone.
//! Instants are microseconds since the epoch, as stored; personal data is still in clear here and is sealed,
//! hashed and masked by the row builders.

use chrono::NaiveDate;

use crate::domain::time::Micros;
use crate::domain::*;

#[derive(Debug, Clone, PartialEq)]
pub struct UnitRow {
    pub code: UnitCode,
    pub name: String,
    pub level: UnitLevel,
    pub parent_code: Option<UnitCode>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub successor_code: Option<UnitCode>,
    pub offers_e_certified_copy: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SectorRow {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcedureRow {
    pub code: ProcedureCode,
    pub name: String,
    pub level: ProcedureLevel,
    pub online_level: OnlineLevel,
    pub fee: i64,
    pub processing_days: Option<f64>,
    pub applicant_types: ApplicantKinds,
    pub returns_paper_result: bool,
    pub status: ProcedureStatus,
    pub legal_effective_on: Option<NaiveDate>,
    pub announced_on: Option<NaiveDate>,
    pub published_on: Option<NaiveDate>,
    pub content: ContentParts,
    pub national_portal_integrated: bool,
}

/// Who applies for a dossier, in clear.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicantRow {
    pub id_number: String,
    pub name: String,
    pub kind: ApplicantKind,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub vneid_verified: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub status: DossierStatus,
    pub at: Micros,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SupplementRow {
    pub requested_at: Micros,
    pub received_at: Option<Micros>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApologyRow {
    pub issued_at: Micros,
    pub reason: String,
    pub new_due_at: Micros,
}

/// A dossier with its history, supplement requests and apology letters.
#[derive(Debug, Clone, PartialEq)]
pub struct DossierRow {
    pub code: DossierCode,
    pub channel: Channel,
    pub applicant: ApplicantRow,
    pub submitted_at: Option<Micros>,
    pub received_at: Micros,
    pub due_at: Micros,
    pub events: Vec<EventRow>,
    pub supplements: Vec<SupplementRow>,
    pub apologies: Vec<ApologyRow>,
    pub inputs_digitized: bool,
    pub reused_data: bool,
    pub from_citizen_storage: bool,
    pub result_electronic: bool,
    pub result_to_citizen_storage: bool,
    pub synced_at: Option<Micros>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRow {
    pub series: String,
    pub number: i64,
    pub template: Option<String>,
    pub payer_name: String,
    pub payer_tax_code: Option<String>,
    pub amount: i64,
    pub kind: ReceiptKind,
    pub payment_channel: PaymentChannel,
    pub method: Option<PaymentMethod>,
    pub transaction_ref: Option<String>,
    pub issued_at: Micros,
    pub status: ReceiptStatus,
    pub cancelled_at: Option<Micros>,
    pub cancel_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRow {
    pub code: String,
    pub kind: FeedbackKind,
    pub channel: FeedbackChannel,
    pub received_at: Micros,
    pub due_at: Option<Micros>,
    pub answered_at: Option<Micros>,
    pub answer: Option<String>,
    pub rating: Option<Rating>,
    pub likes: i32,
    pub dislikes: i32,
    pub content: Option<String>,
    /// Who recorded it, in clear (a citizen's identity number, or a staff account).
    pub recorded_by: Option<String>,
}
