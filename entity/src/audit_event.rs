//! The audit trail: who read whose personal data, who wrote what, every import and export, every refused
//! access. Append-only: the database refuses updates and the deletion of events younger than the minimum
//! retention (see the migration that creates it).
use domain::Role;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: i64,
    pub actor: Actor,
    /// A staff token's `sub`, a citizen's keyed hash, an operator's account; none for anonymous callers.
    pub subject: Option<String>,
    pub role: Option<Role>,
    /// The unit of a staff token.
    pub actor_unit: Option<String>,
    pub operation: String,
    pub outcome: Outcome,
    pub object_kind: Option<ObjectKind>,
    pub object_code: Option<String>,
    /// The unit the event is filed under: the object's (its dossier's, for a receipt), or, for an event without
    /// an object, the acting staff's.
    pub unit_id: Option<i64>,
    /// The personal-data fields returned, a set of bits (see the gateway's `domain::personal::FieldSet`).
    pub fields: i64,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Actor {
    /// A request without a token (or with one that was refused).
    #[sea_orm(string_value = "ANONYMOUS")]
    Anonymous,
    #[sea_orm(string_value = "CITIZEN")]
    Citizen,
    #[sea_orm(string_value = "STAFF")]
    Staff,
    /// Someone running the command line (`import`, `export`) with the database's credentials.
    #[sea_orm(string_value = "OPERATOR")]
    Operator,
}

/// What became of the access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Outcome {
    #[sea_orm(string_value = "OK")]
    Ok,
    /// A bad, expired or missing token (HTTP 401, WebSocket 4401/4403, or an operation that needs a token).
    #[sea_orm(string_value = "UNAUTHENTICATED")]
    Unauthenticated,
    /// The caller's role may not do this.
    #[sea_orm(string_value = "FORBIDDEN")]
    Forbidden,
    /// The object exists but lies outside the caller's scope (the caller was told it does not exist).
    #[sea_orm(string_value = "OUT_OF_SCOPE")]
    OutOfScope,
}

/// The kind of object accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ObjectKind {
    #[sea_orm(string_value = "DOSSIER")]
    Dossier,
    #[sea_orm(string_value = "RECEIPT")]
    Receipt,
    #[sea_orm(string_value = "FEEDBACK")]
    Feedback,
    #[sea_orm(string_value = "UNIT")]
    Unit,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
