//! Counts of the settled dossiers (see `dossier::Model::settled_at`), kept in step with every write: per unit,
//! month of receipt, month of the end of processing, month of settling, kind of end and the three procedure
//! properties the dossier rules read, how many dossiers there are and how many of them meet each rule. Once
//! every dated fact of a dossier lies before the evaluation instant, its facts no longer depend on the instant,
//! and for a period starting on a month boundary its place in the period depends only on these months; so the
//! indicators add these counts for the groups settled before the month of the evaluation instant and read only
//! the other dossiers row by row. Procedure counts come from `procedure_rollup`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dossier_rollup")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: i64,
    /// Month starts (instants) of `received_at`, of the end of processing and of settling.
    #[sea_orm(primary_key, auto_increment = false)]
    pub received_month: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub end_month: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub settle_month: i64,
    /// Whether processing ended by RESOLVED or RETURNED (the ends ELECTRONIC_RESULT counts).
    #[sea_orm(primary_key, auto_increment = false)]
    pub ended_with_result: bool,
    /// Whether the procedure is fee-bearing, fully online, returns a paper result (as stored when summarised: a
    /// change of these rebuilds the procedure's rows).
    #[sea_orm(primary_key, auto_increment = false)]
    pub fee_bearing: bool,
    #[sea_orm(primary_key, auto_increment = false)]
    pub full_online: bool,
    #[sea_orm(primary_key, auto_increment = false)]
    pub paper_result: bool,
    /// How many dossiers the group has; the columns below count those of them that meet each rule.
    pub dossiers: i64,
    pub on_time: i64,
    /// On time and without negative feedback.
    pub satisfied: i64,
    pub synced: i64,
    pub online: i64,
    pub paid_online: i64,
    pub paid_any: i64,
    pub result_electronic: i64,
    /// Inputs digitized; and inputs digitized with an electronic result.
    pub digitized: i64,
    pub digitized_electronic: i64,
    pub reused: i64,
    pub shared: i64,
    pub vneid: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
