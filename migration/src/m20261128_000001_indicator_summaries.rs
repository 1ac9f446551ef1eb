//! Indicator summaries: the PAKN index, when each dossier's indicator facts stopped changing (`settled_at`), the
//! calendar of the months of days, `dossier_rollup` (the counts of settled dossiers by unit, months and procedure
//! kind) and `procedure_rollup` (when the first of a procedure's settled dossiers of a month settled).
//!
//! Rows that exist before this migration get `settled_at = NEVER`, which is always correct (the indicators read
//! such dossiers row by row); the gateway derives the real values and the summary right after applying it.

use sea_orm_migration::prelude::*;

use crate::{NEVER, PAKN_KINDS, calendar_days};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        conn.execute_unprepared(&format!(
            "CREATE INDEX idx_feedback_pakn ON feedback (unit_id, received_at) WHERE {PAKN_KINDS}"
        ))
        .await?;
        for table in ["dossier", "dossier_paid"] {
            conn.execute_unprepared(&format!(
                "ALTER TABLE {table} ADD COLUMN settled_at BIGINT NOT NULL DEFAULT {NEVER}"
            ))
            .await?;
            conn.execute_unprepared(&format!(
                "CREATE INDEX idx_{table}_settled ON {table} (unit_id, settled_at)"
            ))
            .await?;
        }
        conn.execute_unprepared(
            "CREATE TABLE calendar_day (day BIGINT NOT NULL PRIMARY KEY, month_start BIGINT NOT NULL)",
        )
        .await?;
        for chunk in calendar_days().chunks(4000) {
            let values = chunk.iter().map(|(d, m)| format!("({d},{m})")).collect::<Vec<_>>().join(",");
            conn.execute_unprepared(&format!("INSERT INTO calendar_day (day, month_start) VALUES {values}"))
                .await?;
        }
        let counts = [
            "n",
            "on_time",
            "satisfied",
            "synced",
            "online",
            "paid_online",
            "paid_any",
            "result_electronic",
            "digitized",
            "digitized_electronic",
            "reused",
            "shared",
            "vneid",
        ]
        .iter()
        .map(|c| format!("{c} BIGINT NOT NULL"))
        .collect::<Vec<_>>()
        .join(", ");
        conn.execute_unprepared(&format!(
            "CREATE TABLE dossier_rollup (unit_id BIGINT NOT NULL, received_month BIGINT NOT NULL, \
             end_month BIGINT NOT NULL, settle_month BIGINT NOT NULL, er_kind INTEGER NOT NULL, fee INTEGER NOT NULL, \
             full_online INTEGER NOT NULL, paper INTEGER NOT NULL, {counts}, \
             PRIMARY KEY (unit_id, received_month, end_month, settle_month, er_kind, fee, full_online, paper))"
        ))
        .await?;
        conn.execute_unprepared(
            "CREATE TABLE procedure_rollup (unit_id BIGINT NOT NULL, procedure_id BIGINT NOT NULL, \
             received_month BIGINT NOT NULL, first_settled BIGINT NOT NULL, first_paid_online BIGINT, \
             first_paid_any BIGINT, first_vneid BIGINT, PRIMARY KEY (unit_id, procedure_id, received_month))",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        for sql in [
            "DROP TABLE procedure_rollup",
            "DROP TABLE dossier_rollup",
            "DROP TABLE calendar_day",
            "DROP INDEX idx_dossier_paid_settled",
            "DROP INDEX idx_dossier_settled",
            "ALTER TABLE dossier_paid DROP COLUMN settled_at",
            "ALTER TABLE dossier DROP COLUMN settled_at",
            "DROP INDEX idx_feedback_pakn",
        ] {
            conn.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
