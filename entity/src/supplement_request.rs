//! Requests to the applicant for missing documents (yêu cầu bổ sung) and their answers.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "supplement_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dossier_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i32,
    pub requested_at: i64,
    pub received_at: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
