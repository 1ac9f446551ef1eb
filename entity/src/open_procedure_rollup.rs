//! For the procedure metrics at a month start M, kept in step with every write like `open_rollup`: per unit,
//! procedure, M and month of receipt, whether one of the procedure's dossiers received before M and not settled
//! before it was paid online, paid, or had a VNeID-verified applicant at M (1 or 0).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "open_procedure_rollup")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub at_month: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub received_month: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub procedure_id: i64,
    pub paid_online: i32,
    pub paid_any: i32,
    pub vneid: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
