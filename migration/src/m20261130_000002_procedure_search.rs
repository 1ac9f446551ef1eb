//! `procedure.search_text`: the procedure's code and name folded for case-insensitive search. The gateway
//! fills it for the rows that exist right after this migration (folding is Unicode lower case, done in the
//! gateway so that both databases compare the same text), and writes it with every procedure afterwards.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE procedure ADD COLUMN search_text TEXT NOT NULL DEFAULT ''")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("ALTER TABLE procedure DROP COLUMN search_text").await?;
        Ok(())
    }
}
