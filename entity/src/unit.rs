//! Administrative units as versioned records: a merged unit keeps its row, gains `valid_to` and a `successor`.
use domain::{UnitCode, UnitLevel};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: UnitCode,
    pub name: String,
    pub level: UnitLevel,
    pub parent_code: Option<UnitCode>,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub successor_code: Option<UnitCode>,
    pub offers_e_certified_copy: bool,
    pub content_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
