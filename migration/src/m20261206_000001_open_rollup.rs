//! The summaries of the dossiers still open at a month's start: for every month start M up to a horizon and every
//! dossier received before M whose indicator facts were not settled before M, its facts as the rules evaluate
//! them at M, counted by unit, month of receipt and the month its processing ended by M (`open_rollup`, shaped
//! like `dossier_rollup` with `at_month` in place of `settle_month`), and by procedure (`open_procedure_rollup`).
//! With `dossier_rollup`, they answer every report evaluated at a month start without reading a dossier row.
//!
//! `open_horizon` holds the last month start summarised: later month starts are read row by row until the
//! gateway extends the summaries (at start and as months pass). `calendar_month` lists the month starts of the
//! summarised years. A partial index finds the dossiers whose receipts count over several intervals. The
//! tables hold only derived counts; the gateway derives them from the stored rows right after this migration.

use sea_orm_migration::prelude::*;

// The counts of a group: the columns `dossier_rollup` has had since that migration.
use crate::m20261130_000001_rollup_names::COUNTS;
use crate::{SUMMARY_FROM, calendar_days};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        conn.execute_unprepared("CREATE TABLE calendar_month (month_start BIGINT NOT NULL PRIMARY KEY)")
            .await?;
        let mut months: Vec<i64> = calendar_days().into_iter().map(|(_, m)| m).collect();
        months.dedup();
        let values = months.iter().map(|m| format!("({m})")).collect::<Vec<_>>().join(",");
        conn.execute_unprepared(&format!("INSERT INTO calendar_month (month_start) VALUES {values}")).await?;
        conn.execute_unprepared(
            "CREATE TABLE open_horizon (id INTEGER NOT NULL PRIMARY KEY, open_to BIGINT NOT NULL)",
        )
        .await?;
        // Nothing summarised yet: the month before the first summarised one.
        conn.execute_unprepared(&format!(
            "INSERT INTO open_horizon (id, open_to) VALUES (0, {})",
            SUMMARY_FROM - 1
        ))
        .await?;
        let counts = COUNTS.iter().map(|c| format!("{c} BIGINT NOT NULL")).collect::<Vec<_>>().join(", ");
        conn.execute_unprepared(&format!(
            "CREATE TABLE open_rollup (unit_id BIGINT NOT NULL, at_month BIGINT NOT NULL, \
             received_month BIGINT NOT NULL, end_month BIGINT NOT NULL, ended_with_result BOOLEAN NOT NULL, \
             fee_bearing BOOLEAN NOT NULL, full_online BOOLEAN NOT NULL, paper_result BOOLEAN NOT NULL, {counts}, \
             PRIMARY KEY (unit_id, at_month, received_month, end_month, ended_with_result, fee_bearing, \
             full_online, paper_result))"
        ))
        .await?;
        conn.execute_unprepared(
            "CREATE TABLE open_procedure_rollup (unit_id BIGINT NOT NULL, procedure_id BIGINT NOT NULL, \
             at_month BIGINT NOT NULL, received_month BIGINT NOT NULL, paid_online INTEGER NOT NULL, \
             paid_any INTEGER NOT NULL, vneid INTEGER NOT NULL, \
             PRIMARY KEY (unit_id, at_month, received_month, procedure_id))",
        )
        .await?;
        // The few dossiers whose receipts count over several intervals, which every report reads one by one.
        conn.execute_unprepared(
            "CREATE INDEX idx_dossier_paid_irregular ON dossier_paid (unit_id) WHERE irregular",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        conn.execute_unprepared("DROP INDEX idx_dossier_paid_irregular").await?;
        for table in ["open_procedure_rollup", "open_rollup", "open_horizon", "calendar_month"] {
            conn.execute_unprepared(&format!("DROP TABLE {table}")).await?;
        }
        Ok(())
    }
}
