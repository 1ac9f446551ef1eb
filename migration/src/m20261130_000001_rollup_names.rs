//! Gives `dossier_rollup` names that explain themselves: the count of a group is `dossiers` (was `n`), and its
//! four keys that are properties of the group's dossiers are booleans (`ended_with_result`, `fee_bearing`,
//! `full_online`, `paper_result`, were the 0/1 integers `er_kind`, `fee`, `full_online`, `paper`).
//!
//! The table holds only derived counts: it is dropped and created anew, and the gateway derives the summary
//! again from the stored rows right after this migration (as after the one that added it).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The counts of a group: how many dossiers it has, and how many of them meet each rule.
pub(crate) const COUNTS: [&str; 13] = [
    "dossiers",
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
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let counts = COUNTS.iter().map(|c| format!("{c} BIGINT NOT NULL")).collect::<Vec<_>>().join(", ");
        conn.execute_unprepared("DROP TABLE dossier_rollup").await?;
        conn.execute_unprepared(&format!(
            "CREATE TABLE dossier_rollup (unit_id BIGINT NOT NULL, received_month BIGINT NOT NULL, \
             end_month BIGINT NOT NULL, settle_month BIGINT NOT NULL, ended_with_result BOOLEAN NOT NULL, \
             fee_bearing BOOLEAN NOT NULL, full_online BOOLEAN NOT NULL, paper_result BOOLEAN NOT NULL, {counts}, \
             PRIMARY KEY (unit_id, received_month, end_month, settle_month, ended_with_result, fee_bearing, \
             full_online, paper_result))"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let counts = std::iter::once("n")
            .chain(COUNTS[1..].iter().copied())
            .map(|c| format!("{c} BIGINT NOT NULL"))
            .collect::<Vec<_>>()
            .join(", ");
        conn.execute_unprepared("DROP TABLE dossier_rollup").await?;
        conn.execute_unprepared(&format!(
            "CREATE TABLE dossier_rollup (unit_id BIGINT NOT NULL, received_month BIGINT NOT NULL, \
             end_month BIGINT NOT NULL, settle_month BIGINT NOT NULL, er_kind INTEGER NOT NULL, fee INTEGER NOT NULL, \
             full_online INTEGER NOT NULL, paper INTEGER NOT NULL, {counts}, \
             PRIMARY KEY (unit_id, received_month, end_month, settle_month, er_kind, fee, full_online, paper))"
        ))
        .await?;
        Ok(())
    }
}
