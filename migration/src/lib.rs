//! Schema migrations for dvc-gateway. They run unchanged on SQLite and PostgreSQL.
//!
//! This crate deliberately does not depend on `entity`: a migration describes the schema as it was when the
//! migration was written, so later changes to the entities can never rewrite history.
//! Migrations are append-only: a change to a shipped table is a new migration.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;

/// The condition that makes a feedback a PAKN (a complaint or a recommendation). The partial index
/// `idx_feedback_pakn` covers exactly the rows it selects, and the indicator queries use the same text, so that
/// both databases read only PAKN rows, not every rating of a unit.
pub const PAKN_KINDS: &str = "kind IN ('COMPLAINT', 'RECOMMENDATION')";

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261127_000001_create_tables::Migration)]
    }
}
