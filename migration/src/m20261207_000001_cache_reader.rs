//! The instances that answer indicator requests from their caches without reading the data version per request
//! (PostgreSQL only, see the gateway's `db::freshness`): each holds a lease and records the latest write
//! announcement it has taken in; writers wait for every live lease to take theirs before acknowledging.
//! Announcements go to the channel `writes.<schema>`, so that gateways on other schemas of one database do not
//! take in each other's numbers.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE SEQUENCE write_announcement; \
             CREATE TABLE cache_reader ( \
                 id TEXT PRIMARY KEY, \
                 lease_until TIMESTAMPTZ NOT NULL, \
                 taken_in BIGINT NOT NULL DEFAULT 0 \
             ); \
             CREATE FUNCTION announce_write() RETURNS BIGINT LANGUAGE sql VOLATILE AS $$ \
                 SELECT pg_notify('writes.' || current_schema(), CAST(nextval('write_announcement') AS TEXT)); \
                 SELECT currval('write_announcement') \
             $$",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "DROP FUNCTION announce_write(); DROP TABLE cache_reader; DROP SEQUENCE write_announcement",
            )
            .await?;
        Ok(())
    }
}
