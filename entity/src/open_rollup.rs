//! Counts of the dossiers still open at a month start, kept in step with every write like `dossier_rollup`: for
//! each month start M up to the horizon (`open_horizon`) and each dossier received before M whose facts were not
//! settled before M, its facts as the rules evaluate them at M, counted by unit, M, month of receipt, month its
//! processing ended by M, kind of end and the three procedure properties the rules read. With `dossier_rollup`
//! (the groups settled before M), these answer every report evaluated at M without reading a dossier row.
//! Procedure counts come from `open_procedure_rollup`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "open_rollup")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: i64,
    /// The month start the facts are evaluated at.
    #[sea_orm(primary_key, auto_increment = false)]
    pub at_month: i64,
    /// Month start of `received_at` (0 before the summarised years).
    #[sea_orm(primary_key, auto_increment = false)]
    pub received_month: i64,
    /// Month start of the end of processing by `at_month` as the rules see it (an end, or a single unanswered
    /// supplement request); `i64::MAX` when processing still ran, 0 before the summarised years.
    #[sea_orm(primary_key, auto_increment = false)]
    pub end_month: i64,
    /// Whether processing ended by RESOLVED or RETURNED before `at_month` (the ends ELECTRONIC_RESULT counts).
    #[sea_orm(primary_key, auto_increment = false)]
    pub ended_with_result: bool,
    #[sea_orm(primary_key, auto_increment = false)]
    pub fee_bearing: bool,
    #[sea_orm(primary_key, auto_increment = false)]
    pub full_online: bool,
    #[sea_orm(primary_key, auto_increment = false)]
    pub paper_result: bool,
    /// How many dossiers the group has; the columns below count those of them that meet each rule at `at_month`.
    pub dossiers: i64,
    pub on_time: i64,
    pub satisfied: i64,
    pub synced: i64,
    pub online: i64,
    pub paid_online: i64,
    pub paid_any: i64,
    pub result_electronic: i64,
    pub digitized: i64,
    pub digitized_electronic: i64,
    pub reused: i64,
    pub shared: i64,
    pub vneid: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
