//! Schema migrations for dvc-gateway. They run unchanged on SQLite and PostgreSQL.
//!
//! This crate deliberately does not depend on `entity`: a migration describes the schema as it was when the
//! migration was written, so later changes to the entities can never rewrite history.
//! Migrations are append-only: a change to a shipped table is a new migration.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261127_000001_create_tables::Migration)]
    }
}
