//! Administrative procedures (thủ tục hành chính) as announced by a province or ministry.
use domain::{ApplicantKinds, ContentParts, OnlineLevel, ProcedureCode, ProcedureLevel, ProcedureStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "procedure")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: ProcedureCode,
    pub name: String,
    pub sector_id: i64,
    pub authority_id: i64,
    pub level: ProcedureLevel,
    pub online_level: OnlineLevel,
    pub fee: i64,
    pub processing_days: Option<f64>,
    /// Comma-separated applicant kinds, in interchange order.
    pub applicant_types: ApplicantKinds,
    /// Whether `applicant_types` contains CITIZEN (kept as a column for the VNEID_PROCEDURES aggregate).
    pub accepts_citizens: bool,
    pub returns_paper_result: bool,
    pub status: ProcedureStatus,
    pub legal_effective_on: Option<Date>,
    pub announced_on: Option<Date>,
    pub published_on: Option<Date>,
    /// Comma-separated content parts present, in interchange order.
    pub content: ContentParts,
    /// Whether all seven content parts are present.
    pub content_full: bool,
    pub national_portal_integrated: bool,
    pub content_hash: String,
    /// Code and name folded for case-insensitive search (`domain::search::procedure_key`), so that search
    /// answers the same on both databases.
    pub search_text: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
