//! Every Vietnam-time day of the summarised years (2000 to 2099) with the instant its month begins, so that SQL can
//! put an instant into its month on both databases by an equality join on the day number
//! `(instant + 7 h) / 1 day`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_day")]
pub struct Model {
    /// Days since 1970-01-01 in Vietnam time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i64,
    pub month_start: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
