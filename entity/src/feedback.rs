//! Citizens' feedback: complaints and recommendations (PAKN), ratings and questions. Who recorded it (a
//! citizen's identity number when a citizen did) is personal data: sealed, keyed-hashed and masked like an
//! applicant's, never stored in clear.
use domain::{FeedbackChannel, FeedbackKind, Rating};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feedback")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub kind: FeedbackKind,
    pub channel: FeedbackChannel,
    pub unit_id: i64,
    pub dossier_id: Option<i64>,
    pub received_at: i64,
    pub due_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub answer: Option<String>,
    pub rating: Option<Rating>,
    pub likes: i32,
    pub dislikes: i32,
    pub repeat_of_id: Option<i64>,
    pub content: Option<String>,
    pub recorded_by_sealed: Option<String>,
    pub recorded_by_hash: Option<String>,
    pub recorded_by_masked: Option<String>,
    pub version: i32,
    pub content_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
