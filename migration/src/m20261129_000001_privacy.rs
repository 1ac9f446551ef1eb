//! Personal data out of reach of anyone who reads the database, and the audit trail.
//!
//! - `feedback.recorded_by` (a citizen's identity number when a citizen records feedback) gets the treatment of
//!   an applicant's identity number: sealed, keyed-hashed for matching, masked for display. Sealing needs the
//!   key, which a migration does not have: the gateway seals the clear values right after this migration, and the
//!   next one drops the clear column.
//! - The digests of records holding personal data were unkeyed: they are cleared here (a re-import writes each
//!   record once more, with a keyed digest).
//! - `audit_event`: one row per access to an object's personal data, per write, per import and export, and per
//!   refused access. The database keeps it append-only: updates are refused, and so is deleting an event younger
//!   than [`crate::AUDIT_MIN_AGE_DAYS`] (the retention purge removes only older ones).

use sea_orm_migration::{prelude::*, schema::*};

use crate::AUDIT_MIN_AGE_DAYS;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Feedback {
    Table,
    RecordedBySealed,
    RecordedByHash,
    RecordedByMasked,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Id,
    At,
    Actor,
    Subject,
    Role,
    ActorUnit,
    Operation,
    Outcome,
    ObjectKind,
    ObjectCode,
    UnitId,
    Fields,
    ClientAddr,
    RequestId,
    Detail,
}

fn index(name: &str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(AuditEvent::Table);
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // Long by nature: the privacy migration's steps (sealed recorder columns, keyed digests cleared, the audit
    // table, its indexes and append-only triggers on each database) in the order they must run; frozen once released.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Feedback::RecordedBySealed, Feedback::RecordedByHash, Feedback::RecordedByMasked] {
            manager
                .alter_table(Table::alter().table(Feedback::Table).add_column(string_null(col)).to_owned())
                .await?;
        }
        let conn = manager.get_connection();
        for table in ["dossier", "receipt", "feedback"] {
            conn.execute_unprepared(&format!("UPDATE {table} SET content_hash = ''")).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AuditEvent::Table)
                    .col(big_pk_auto(AuditEvent::Id))
                    .col(big_integer(AuditEvent::At))
                    .col(string(AuditEvent::Actor))
                    .col(string_null(AuditEvent::Subject))
                    .col(string_null(AuditEvent::Role))
                    .col(string_null(AuditEvent::ActorUnit))
                    .col(string(AuditEvent::Operation))
                    .col(string(AuditEvent::Outcome))
                    .col(string_null(AuditEvent::ObjectKind))
                    .col(string_null(AuditEvent::ObjectCode))
                    .col(big_integer_null(AuditEvent::UnitId))
                    .col(big_integer(AuditEvent::Fields).default(0))
                    .col(string_null(AuditEvent::ClientAddr))
                    .col(string_null(AuditEvent::RequestId))
                    .col(text_null(AuditEvent::Detail))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_audit_object", &["object_code", "at"])).await?;
        manager.create_index(index("idx_audit_subject", &["subject", "at"])).await?;
        manager.create_index(index("idx_audit_unit", &["unit_id", "at"])).await?;

        let min_age = AUDIT_MIN_AGE_DAYS * 86_400_000_000;
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                conn.execute_unprepared(&format!(
                    "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                       IF TG_OP = 'UPDATE' OR TG_OP = 'TRUNCATE' THEN
                         RAISE EXCEPTION 'audit_event is append-only';
                       END IF;
                       IF OLD.at > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - {min_age} THEN
                         RAISE EXCEPTION 'audit events are kept at least {AUDIT_MIN_AGE_DAYS} days';
                       END IF;
                       RETURN OLD;
                     END $$"
                ))
                .await?;
                for (name, when, each) in [
                    ("audit_event_no_update", "UPDATE", "ROW"),
                    ("audit_event_no_early_delete", "DELETE", "ROW"),
                    ("audit_event_no_truncate", "TRUNCATE", "STATEMENT"),
                ] {
                    conn.execute_unprepared(&format!(
                        "CREATE TRIGGER {name} BEFORE {when} ON audit_event FOR EACH {each} \
                         EXECUTE FUNCTION audit_event_append_only()"
                    ))
                    .await?;
                }
            }
            _ => {
                conn.execute_unprepared(
                    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event \
                     BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
                )
                .await?;
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER audit_event_no_early_delete BEFORE DELETE ON audit_event \
                     WHEN OLD.at > CAST(strftime('%s', 'now') AS INTEGER) * 1000000 - {min_age} \
                     BEGIN SELECT RAISE(ABORT, 'audit events are kept at least {AUDIT_MIN_AGE_DAYS} days'); END"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditEvent::Table).to_owned()).await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager.get_connection().execute_unprepared("DROP FUNCTION audit_event_append_only()").await?;
        }
        for col in [Feedback::RecordedBySealed, Feedback::RecordedByHash, Feedback::RecordedByMasked] {
            manager.alter_table(Table::alter().table(Feedback::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}
