//! The initial schema.
//!
//! Instants are stored as BIGINT microseconds since the Unix epoch: the indicator rules subtract and compare
//! instants inside SQL aggregates, and integers do that identically on SQLite and PostgreSQL. Calendar dates
//! (unit validity, holidays, procedure dates) are DATE columns.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Unit {
    Table,
    Id,
    Code,
    Name,
    Level,
    ParentCode,
    ValidFrom,
    ValidTo,
    SuccessorCode,
    OffersECertifiedCopy,
    ContentHash,
}

#[derive(DeriveIden)]
enum Holiday {
    Table,
    Date,
    Name,
}

#[derive(DeriveIden)]
enum Sector {
    Table,
    Id,
    Code,
    Name,
    ContentHash,
}

#[derive(DeriveIden)]
enum Procedure {
    Table,
    Id,
    Code,
    Name,
    SectorId,
    AuthorityId,
    Level,
    OnlineLevel,
    Fee,
    ProcessingDays,
    ApplicantTypes,
    AcceptsCitizens,
    ReturnsPaperResult,
    Status,
    LegalEffectiveOn,
    AnnouncedOn,
    PublishedOn,
    Content,
    ContentFull,
    NationalPortalIntegrated,
    ContentHash,
}

#[derive(DeriveIden)]
enum Dossier {
    Table,
    Id,
    Code,
    ProcedureId,
    UnitId,
    Channel,
    ApplicantKind,
    ApplicantName,
    ApplicantIdHash,
    ApplicantIdSealed,
    ApplicantIdMasked,
    ApplicantPhoneSealed,
    ApplicantPhoneMasked,
    ApplicantEmailSealed,
    ApplicantEmailMasked,
    VneidVerified,
    SubmittedAt,
    ReceivedAt,
    DueAt,
    InputsDigitized,
    ReusedData,
    FromCitizenStorage,
    ResultElectronic,
    ResultToCitizenStorage,
    SyncedAt,
    Status,
    StatusAt,
    NotAcceptedAt,
    ResolvedAt,
    OtherEndAt,
    OtherEndStatus,
    FirstSupplementRequestedAt,
    FirstSupplementReceivedAt,
    SecondSupplementRequestedAt,
    NegativeFeedbackAt,
    Version,
    ContentHash,
}

#[derive(DeriveIden)]
enum DossierEvent {
    Table,
    DossierId,
    Seq,
    Status,
    At,
    Note,
}

#[derive(DeriveIden)]
enum SupplementRequest {
    Table,
    DossierId,
    Seq,
    RequestedAt,
    ReceivedAt,
    Reason,
}

#[derive(DeriveIden)]
enum ApologyLetter {
    Table,
    DossierId,
    Seq,
    IssuedAt,
    Reason,
    NewDueAt,
}

#[derive(DeriveIden)]
enum DossierPaid {
    Table,
    DossierId,
    UnitId,
    PaidFrom,
    PaidTo,
    PaidOnlineFrom,
    PaidOnlineTo,
    Irregular,
}

#[derive(DeriveIden)]
enum Receipt {
    Table,
    Id,
    Series,
    Number,
    Template,
    DossierId,
    PayerName,
    PayerTaxCode,
    Amount,
    Kind,
    PaymentChannel,
    Method,
    TransactionRef,
    IssuedAt,
    Status,
    CancelledAt,
    CancelReason,
    Version,
    ContentHash,
}

#[derive(DeriveIden)]
enum Feedback {
    Table,
    Id,
    Code,
    Kind,
    Channel,
    UnitId,
    DossierId,
    ReceivedAt,
    DueAt,
    AnsweredAt,
    Answer,
    Rating,
    Likes,
    Dislikes,
    RepeatOfId,
    Content,
    RecordedBy,
    Version,
    ContentHash,
}

#[derive(DeriveIden)]
enum DataChange {
    Table,
    Id,
    Generation,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(from.0, from.1).to(to.0, to.1).on_delete(on_delete).to_owned()
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // Long by nature: one statement per table and index of the schema, in creation order. A migration is frozen
    // once released, so it stays one readable list rather than helpers that later code could change.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Unit::Table)
                    .col(big_pk_auto(Unit::Id))
                    .col(string_uniq(Unit::Code))
                    .col(string(Unit::Name))
                    .col(string(Unit::Level))
                    .col(string_null(Unit::ParentCode))
                    .col(date_null(Unit::ValidFrom))
                    .col(date_null(Unit::ValidTo))
                    .col(string_null(Unit::SuccessorCode))
                    .col(boolean(Unit::OffersECertifiedCopy).default(false))
                    .col(string(Unit::ContentHash))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_unit_parent", Unit::Table, &["parent_code"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Holiday::Table)
                    .col(date(Holiday::Date).primary_key())
                    .col(string(Holiday::Name))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sector::Table)
                    .col(big_pk_auto(Sector::Id))
                    .col(string_uniq(Sector::Code))
                    .col(string(Sector::Name))
                    .col(string(Sector::ContentHash))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Procedure::Table)
                    .col(big_pk_auto(Procedure::Id))
                    .col(string_uniq(Procedure::Code))
                    .col(text(Procedure::Name))
                    .col(big_integer(Procedure::SectorId))
                    .col(big_integer(Procedure::AuthorityId))
                    .col(string(Procedure::Level))
                    .col(string(Procedure::OnlineLevel))
                    .col(big_integer(Procedure::Fee))
                    .col(double_null(Procedure::ProcessingDays))
                    .col(string(Procedure::ApplicantTypes))
                    .col(boolean(Procedure::AcceptsCitizens))
                    .col(boolean(Procedure::ReturnsPaperResult))
                    .col(string(Procedure::Status))
                    .col(date_null(Procedure::LegalEffectiveOn))
                    .col(date_null(Procedure::AnnouncedOn))
                    .col(date_null(Procedure::PublishedOn))
                    .col(string(Procedure::Content))
                    .col(boolean(Procedure::ContentFull))
                    .col(boolean(Procedure::NationalPortalIntegrated))
                    .col(string(Procedure::ContentHash))
                    .foreign_key(&mut fk(
                        "fk_procedure_sector",
                        (Procedure::Table, Procedure::SectorId),
                        (Sector::Table, Sector::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_procedure_authority",
                        (Procedure::Table, Procedure::AuthorityId),
                        (Unit::Table, Unit::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_procedure_sector", Procedure::Table, &["sector_id"])).await?;
        manager.create_index(index("idx_procedure_authority", Procedure::Table, &["authority_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Dossier::Table)
                    .col(big_pk_auto(Dossier::Id))
                    .col(string_uniq(Dossier::Code))
                    .col(big_integer(Dossier::ProcedureId))
                    .col(big_integer(Dossier::UnitId))
                    .col(string(Dossier::Channel))
                    .col(string(Dossier::ApplicantKind))
                    .col(string(Dossier::ApplicantName))
                    .col(string(Dossier::ApplicantIdHash))
                    .col(string(Dossier::ApplicantIdSealed))
                    .col(string(Dossier::ApplicantIdMasked))
                    .col(string_null(Dossier::ApplicantPhoneSealed))
                    .col(string_null(Dossier::ApplicantPhoneMasked))
                    .col(string_null(Dossier::ApplicantEmailSealed))
                    .col(string_null(Dossier::ApplicantEmailMasked))
                    .col(boolean(Dossier::VneidVerified))
                    .col(big_integer_null(Dossier::SubmittedAt))
                    .col(big_integer(Dossier::ReceivedAt))
                    .col(big_integer(Dossier::DueAt))
                    .col(boolean(Dossier::InputsDigitized))
                    .col(boolean(Dossier::ReusedData))
                    .col(boolean(Dossier::FromCitizenStorage))
                    .col(boolean(Dossier::ResultElectronic))
                    .col(boolean(Dossier::ResultToCitizenStorage))
                    .col(big_integer_null(Dossier::SyncedAt))
                    .col(string_null(Dossier::Status))
                    .col(big_integer_null(Dossier::StatusAt))
                    .col(big_integer_null(Dossier::NotAcceptedAt))
                    .col(big_integer_null(Dossier::ResolvedAt))
                    .col(big_integer_null(Dossier::OtherEndAt))
                    .col(string_null(Dossier::OtherEndStatus))
                    .col(big_integer_null(Dossier::FirstSupplementRequestedAt))
                    .col(big_integer_null(Dossier::FirstSupplementReceivedAt))
                    .col(big_integer_null(Dossier::SecondSupplementRequestedAt))
                    .col(big_integer_null(Dossier::NegativeFeedbackAt))
                    .col(integer(Dossier::Version).default(1))
                    .col(string(Dossier::ContentHash))
                    .foreign_key(&mut fk(
                        "fk_dossier_procedure",
                        (Dossier::Table, Dossier::ProcedureId),
                        (Procedure::Table, Procedure::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_dossier_unit",
                        (Dossier::Table, Dossier::UnitId),
                        (Unit::Table, Unit::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        // The indicator aggregates filter by unit and received instant; the API lists by the same pair.
        manager
            .create_index(index("idx_dossier_unit_received", Dossier::Table, &["unit_id", "received_at"]))
            .await?;
        manager.create_index(index("idx_dossier_received", Dossier::Table, &["received_at"])).await?;
        manager
            .create_index(index("idx_dossier_procedure", Dossier::Table, &["procedure_id", "received_at"]))
            .await?;
        manager.create_index(index("idx_dossier_status", Dossier::Table, &["status", "unit_id"])).await?;
        manager.create_index(index("idx_dossier_applicant", Dossier::Table, &["applicant_id_hash"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(DossierEvent::Table)
                    .col(big_integer(DossierEvent::DossierId))
                    .col(integer(DossierEvent::Seq))
                    .col(string(DossierEvent::Status))
                    .col(big_integer(DossierEvent::At))
                    .col(text_null(DossierEvent::Note))
                    .primary_key(Index::create().col(DossierEvent::DossierId).col(DossierEvent::Seq))
                    .foreign_key(&mut fk(
                        "fk_event_dossier",
                        (DossierEvent::Table, DossierEvent::DossierId),
                        (Dossier::Table, Dossier::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SupplementRequest::Table)
                    .col(big_integer(SupplementRequest::DossierId))
                    .col(integer(SupplementRequest::Seq))
                    .col(big_integer(SupplementRequest::RequestedAt))
                    .col(big_integer_null(SupplementRequest::ReceivedAt))
                    .col(text_null(SupplementRequest::Reason))
                    .primary_key(
                        Index::create().col(SupplementRequest::DossierId).col(SupplementRequest::Seq),
                    )
                    .foreign_key(&mut fk(
                        "fk_supplement_dossier",
                        (SupplementRequest::Table, SupplementRequest::DossierId),
                        (Dossier::Table, Dossier::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApologyLetter::Table)
                    .col(big_integer(ApologyLetter::DossierId))
                    .col(integer(ApologyLetter::Seq))
                    .col(big_integer(ApologyLetter::IssuedAt))
                    .col(text(ApologyLetter::Reason))
                    .col(big_integer(ApologyLetter::NewDueAt))
                    .primary_key(Index::create().col(ApologyLetter::DossierId).col(ApologyLetter::Seq))
                    .foreign_key(&mut fk(
                        "fk_apology_dossier",
                        (ApologyLetter::Table, ApologyLetter::DossierId),
                        (Dossier::Table, Dossier::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Receipt::Table)
                    .col(big_pk_auto(Receipt::Id))
                    .col(string(Receipt::Series))
                    .col(big_integer(Receipt::Number))
                    .col(string_null(Receipt::Template))
                    .col(big_integer(Receipt::DossierId))
                    .col(string(Receipt::PayerName))
                    .col(string_null(Receipt::PayerTaxCode))
                    .col(big_integer(Receipt::Amount))
                    .col(string(Receipt::Kind))
                    .col(string(Receipt::PaymentChannel))
                    .col(string_null(Receipt::Method))
                    .col(string_null(Receipt::TransactionRef))
                    .col(big_integer(Receipt::IssuedAt))
                    .col(string(Receipt::Status))
                    .col(big_integer_null(Receipt::CancelledAt))
                    .col(text_null(Receipt::CancelReason))
                    .col(integer(Receipt::Version).default(1))
                    .col(string(Receipt::ContentHash))
                    .foreign_key(&mut fk(
                        "fk_receipt_dossier",
                        (Receipt::Table, Receipt::DossierId),
                        (Dossier::Table, Dossier::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_receipt_series_number", Receipt::Table, &["series", "number"]).unique().to_owned(),
            )
            .await?;
        manager.create_index(index("idx_receipt_dossier", Receipt::Table, &["dossier_id"])).await?;

        // Derived from the receipts whenever they change: when each dossier's receipts count.
        manager
            .create_table(
                Table::create()
                    .table(DossierPaid::Table)
                    .col(big_integer(DossierPaid::DossierId).primary_key())
                    .col(big_integer(DossierPaid::UnitId))
                    .col(big_integer_null(DossierPaid::PaidFrom))
                    .col(big_integer_null(DossierPaid::PaidTo))
                    .col(big_integer_null(DossierPaid::PaidOnlineFrom))
                    .col(big_integer_null(DossierPaid::PaidOnlineTo))
                    .col(boolean(DossierPaid::Irregular))
                    .foreign_key(&mut fk(
                        "fk_paid_dossier",
                        (DossierPaid::Table, DossierPaid::DossierId),
                        (Dossier::Table, Dossier::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_paid_unit", DossierPaid::Table, &["unit_id"])).await?;
        // The few dossiers whose receipts the indicators read one by one (same text on both databases).
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX idx_paid_irregular ON dossier_paid (unit_id) WHERE irregular")
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Feedback::Table)
                    .col(big_pk_auto(Feedback::Id))
                    .col(string_uniq(Feedback::Code))
                    .col(string(Feedback::Kind))
                    .col(string(Feedback::Channel))
                    .col(big_integer(Feedback::UnitId))
                    .col(big_integer_null(Feedback::DossierId))
                    .col(big_integer(Feedback::ReceivedAt))
                    .col(big_integer_null(Feedback::DueAt))
                    .col(big_integer_null(Feedback::AnsweredAt))
                    .col(text_null(Feedback::Answer))
                    .col(string_null(Feedback::Rating))
                    .col(integer(Feedback::Likes).default(0))
                    .col(integer(Feedback::Dislikes).default(0))
                    .col(big_integer_null(Feedback::RepeatOfId))
                    .col(text_null(Feedback::Content))
                    .col(string_null(Feedback::RecordedBy))
                    .col(integer(Feedback::Version).default(1))
                    .col(string(Feedback::ContentHash))
                    .foreign_key(&mut fk(
                        "fk_feedback_unit",
                        (Feedback::Table, Feedback::UnitId),
                        (Unit::Table, Unit::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_feedback_dossier",
                        (Feedback::Table, Feedback::DossierId),
                        (Dossier::Table, Dossier::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_feedback_unit_received", Feedback::Table, &["unit_id", "received_at"]))
            .await?;
        manager.create_index(index("idx_feedback_dossier", Feedback::Table, &["dossier_id"])).await?;
        manager.create_index(index("idx_feedback_repeat_of", Feedback::Table, &["repeat_of_id"])).await?;

        // One row per unit (id 0 for the global data set) whose generation grows with every write: the cache
        // keys on it, so that a write by any process or gateway instance is visible in the next answer.
        manager
            .create_table(
                Table::create()
                    .table(DataChange::Table)
                    .col(big_integer(DataChange::Id).primary_key())
                    .col(big_integer(DataChange::Generation).default(0))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Feedback::Table.into_iden(),
            DossierPaid::Table.into_iden(),
            Receipt::Table.into_iden(),
            ApologyLetter::Table.into_iden(),
            SupplementRequest::Table.into_iden(),
            DossierEvent::Table.into_iden(),
            Dossier::Table.into_iden(),
            Procedure::Table.into_iden(),
            Sector::Table.into_iden(),
            Holiday::Table.into_iden(),
            Unit::Table.into_iden(),
            DataChange::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
