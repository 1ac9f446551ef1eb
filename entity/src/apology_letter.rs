//! Apology letters (thư xin lỗi) for late dossiers, each with a new appointment date.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "apology_letter")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dossier_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i32,
    pub issued_at: i64,
    pub reason: String,
    pub new_due_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
