//! Drops `feedback.recorded_by`, whose values the gateway sealed after the previous migration.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Feedback {
    Table,
    RecordedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Feedback::Table).drop_column(Feedback::RecordedBy).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Feedback::Table)
                    .add_column(string_null(Feedback::RecordedBy))
                    .to_owned(),
            )
            .await
    }
}
