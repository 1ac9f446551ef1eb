//! The month starts (instants) of the summarised years (2000 to 2099), which the open summaries are evaluated at.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_month")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub month_start: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
