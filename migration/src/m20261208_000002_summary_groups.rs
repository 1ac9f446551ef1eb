//! Summary rows merged over the scope of every province and ministry (a *summary group*), kept in the four
//! summary tables beside the units' own rows under the group's negated unit id, so that a report of such a unit
//! reads a few hundred merged groups instead of every unit's. `summary_group` lists each group's units;
//! `summary_stale` lists the months of receipt whose merged rows a write made out of date, until the gateway
//! merges them again (a report of a group with such a month reads the units' rows). The tables hold only derived
//! rows; the gateway derives them from the stored rows right after this migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SummaryStale {
    Table,
    Id,
    GroupId,
    FromMonth,
    ToMonth,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        conn.execute_unprepared(
            "CREATE TABLE summary_group (group_id BIGINT NOT NULL, unit_id BIGINT NOT NULL, \
             PRIMARY KEY (group_id, unit_id))",
        )
        .await?;
        conn.execute_unprepared("CREATE INDEX idx_summary_group_unit ON summary_group (unit_id)").await?;
        manager
            .create_table(
                Table::create()
                    .table(SummaryStale::Table)
                    .col(big_pk_auto(SummaryStale::Id))
                    .col(big_integer(SummaryStale::GroupId))
                    .col(big_integer(SummaryStale::FromMonth))
                    .col(big_integer(SummaryStale::ToMonth))
                    .to_owned(),
            )
            .await?;
        conn.execute_unprepared("CREATE INDEX idx_summary_stale_group ON summary_stale (group_id)").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        // The merged rows go with the tables that describe them.
        for table in ["dossier_rollup", "procedure_rollup", "open_rollup", "open_procedure_rollup"] {
            conn.execute_unprepared(&format!("DELETE FROM {table} WHERE unit_id < 0")).await?;
        }
        conn.execute_unprepared("DROP TABLE summary_stale").await?;
        conn.execute_unprepared("DROP TABLE summary_group").await?;
        Ok(())
    }
}
