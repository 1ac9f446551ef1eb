//! The procedure summary read by unit and month of receipt: a report reads the months of its period only (its
//! primary key orders a unit's rows by procedure first, so every month of the unit was read), and the rebuild of
//! a unit's months finds them directly.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_procedure_rollup_months ON procedure_rollup (unit_id, received_month)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX idx_procedure_rollup_months").await?;
        Ok(())
    }
}
