//! Dossiers whose receipts count over several intervals settle like the others (at the latest instant a receipt
//! was issued or cancelled) and are summarised with their receipts read exactly, so that a report answered from
//! the summaries no longer reads them one by one. The schema keeps its shape: the gateway derives
//! `dossier_paid.settled_at` and the summaries again from the stored rows right after this migration (see
//! [`crate::REBUILD_SUMMARIES_AFTER`]). The second partial index over those dossiers, identical to the first
//! (`idx_paid_irregular`), is dropped.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX idx_dossier_paid_irregular").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_dossier_paid_irregular ON dossier_paid (unit_id) WHERE irregular",
            )
            .await?;
        Ok(())
    }
}
