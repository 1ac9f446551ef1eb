//! The instants at which the months of the summarised years begin in Vietnam time (2000-01 to 2100-01), so that
//! SQL can put an instant into its month on both databases.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "month_start")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub start: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
