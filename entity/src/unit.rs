//! Administrative units as versioned records: a merged unit keeps its row, gains `valid_to` and a `successor`.
use domain::UnitLevel;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub level: UnitLevel,
    pub parent_code: Option<String>,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub successor_code: Option<String>,
    pub offers_e_certified_copy: bool,
    pub content_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
