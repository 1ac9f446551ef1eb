//! Dossiers (hồ sơ). Personal data is sealed (encrypted) and hashed, never stored in clear. The columns after
//! `status_at` are derived from the event history and supplements on every write, so that the indicator
//! aggregates need no joins.
use domain::{ApplicantKind, Channel, DossierCode, DossierStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dossier")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: DossierCode,
    pub procedure_id: i64,
    pub unit_id: i64,
    pub channel: Channel,
    pub applicant_kind: ApplicantKind,
    pub applicant_name: String,
    pub applicant_id_hash: String,
    pub applicant_id_sealed: String,
    pub applicant_id_masked: String,
    pub applicant_phone_sealed: Option<String>,
    pub applicant_phone_masked: Option<String>,
    pub applicant_email_sealed: Option<String>,
    pub applicant_email_masked: Option<String>,
    pub vneid_verified: bool,
    pub submitted_at: Option<i64>,
    pub received_at: i64,
    pub due_at: i64,
    pub inputs_digitized: bool,
    pub reused_data: bool,
    pub from_citizen_storage: bool,
    pub result_electronic: bool,
    pub result_to_citizen_storage: bool,
    pub synced_at: Option<i64>,
    /// Status of the latest event (by time, then by order), if any.
    pub status: Option<DossierStatus>,
    pub status_at: Option<i64>,
    pub not_accepted_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub other_end_at: Option<i64>,
    pub other_end_status: Option<DossierStatus>,
    pub first_supplement_requested_at: Option<i64>,
    pub first_supplement_received_at: Option<i64>,
    pub second_supplement_requested_at: Option<i64>,
    pub negative_feedback_at: Option<i64>,
    /// The instant after which none of the dossier's own indicator facts change (its latest dated fact), or
    /// `i64::MAX` while they may: see `dossier_rollup`.
    pub settled_at: i64,
    pub version: i32,
    pub content_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What a dossier's public status reads (`dossierStatus`): no personal data, seven columns.
#[derive(Clone, Debug, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct PublicStatus {
    pub code: DossierCode,
    pub procedure_id: i64,
    pub unit_id: i64,
    pub received_at: i64,
    pub due_at: i64,
    pub status: Option<DossierStatus>,
    pub status_at: Option<i64>,
}

/// A dossier row, whole or partial, that carries its code (what lookups by code key their answers by).
pub trait Coded {
    fn code(&self) -> &DossierCode;
}

impl Coded for Model {
    fn code(&self) -> &DossierCode {
        &self.code
    }
}

impl Coded for PublicStatus {
    fn code(&self) -> &DossierCode {
        &self.code
    }
}

impl From<Model> for PublicStatus {
    fn from(d: Model) -> Self {
        PublicStatus {
            code: d.code,
            procedure_id: d.procedure_id,
            unit_id: d.unit_id,
            received_at: d.received_at,
            due_at: d.due_at,
            status: d.status,
            status_at: d.status_at,
        }
    }
}
