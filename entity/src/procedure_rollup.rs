//! For the procedure metrics (procedures with at least one dossier received in the period, and paid, paid online
//! or VNeID-verified), kept in step with every write like `dossier_rollup`: per unit, procedure and month of
//! receipt, the month in which the first of its settled dossiers settled, and the first of those paid online,
//! paid, or with a VNeID-verified applicant (missing when there is none).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "procedure_rollup")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub procedure_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub received_month: i64,
    pub first_settled: i64,
    pub first_paid_online: Option<i64>,
    pub first_paid_any: Option<i64>,
    pub first_vneid: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
