//! Writes shared by the importer and the API mutations. Every function runs inside the caller's transaction.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    Set, Statement,
};

use crate::domain::lifecycle::{DerivedFacts, Event, Supplement, derive_facts};
use crate::domain::time::to_micros;
use crate::interchange::records::*;
use crate::pii::{Vault, mask_email, mask_id, mask_phone};

/// A short keyed digest of a record's canonical JSON: equal records give equal digests, so re-importing an
/// unchanged record writes nothing; without the key nothing can be learnt from it (see [`Vault::digest`]).
pub fn content_hash(vault: &Vault, record: &Record) -> String {
    vault.digest(&record.to_line())
}

/// Who recorded a feedback, as stored: sealed (for export), keyed-hashed (for matching) and masked (for
/// display). It may be a citizen's identity number, so it is personal data like an applicant's.
pub struct Recorder {
    pub sealed: Option<String>,
    pub hash: Option<String>,
    pub masked: Option<String>,
}

impl Recorder {
    pub fn of(vault: &Vault, recorded_by: Option<&str>) -> Self {
        Recorder {
            sealed: recorded_by.map(|r| vault.seal(r)),
            hash: recorded_by.map(|r| vault.hash(r)),
            masked: recorded_by.map(mask_id),
        }
    }
}

/// Rows per multi-row INSERT, sized so that every statement stays under SQLite's and PostgreSQL's limits on
/// bound parameters.
pub fn rows_per_insert(columns: usize) -> usize {
    (30_000 / columns.max(1)).max(1)
}

/// Inserts many rows, in statements of bounded size.
pub async fn insert_chunked<A>(conn: &impl ConnectionTrait, rows: Vec<A>, columns: usize) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    let per = rows_per_insert(columns);
    let mut rows = rows;
    while !rows.is_empty() {
        let rest = if rows.len() > per { rows.split_off(per) } else { Vec::new() };
        <A::Entity as EntityTrait>::insert_many(rows).exec_without_returning(conn).await?;
        rows = rest;
    }
    Ok(())
}

pub fn unit_model(r: &UnitRec, hash: String) -> entity::unit::ActiveModel {
    entity::unit::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        name: Set(r.name.clone()),
        level: Set(r.level),
        parent_code: Set(r.parent.clone()),
        valid_from: Set(r.valid_from),
        valid_to: Set(r.valid_to),
        successor_code: Set(r.successor.clone()),
        offers_e_certified_copy: Set(r.offers_e_certified_copy),
        content_hash: Set(hash),
    }
}

pub fn sector_model(r: &SectorRec, hash: String) -> entity::sector::ActiveModel {
    entity::sector::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        name: Set(r.name.clone()),
        content_hash: Set(hash),
    }
}

pub fn procedure_model(
    r: &ProcedureRec,
    sector_id: i64,
    authority_id: i64,
    hash: String,
) -> entity::procedure::ActiveModel {
    use crate::domain::{ApplicantKind, ContentPart};
    entity::procedure::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        name: Set(r.name.clone()),
        sector_id: Set(sector_id),
        authority_id: Set(authority_id),
        level: Set(r.level),
        online_level: Set(r.online_level),
        fee: Set(r.fee),
        processing_days: Set(r.processing_days),
        applicant_types: Set(crate::domain::ApplicantKinds(r.applicant_types.clone())),
        accepts_citizens: Set(r.applicant_types.contains(&ApplicantKind::Citizen)),
        returns_paper_result: Set(r.returns_paper_result),
        status: Set(r.status.0),
        legal_effective_on: Set(r.legal_effective_on),
        announced_on: Set(r.announced_on),
        published_on: Set(r.published_on),
        content: Set(crate::domain::ContentParts(r.content.clone())),
        content_full: Set(ContentPart::ALL.iter().all(|p| r.content.contains(p))),
        national_portal_integrated: Set(r.national_portal_integrated),
        content_hash: Set(hash),
    }
}

/// The domain view of a dossier record's history.
pub fn facts_of(r: &DossierRec) -> DerivedFacts {
    let events: Vec<Event> =
        r.events.iter().map(|e| Event { status: e.status, at: to_micros(e.at) }).collect();
    let supplements: Vec<Supplement> = r
        .supplements
        .iter()
        .map(|s| Supplement {
            requested_at: to_micros(s.requested_at),
            received_at: s.received_at.map(to_micros),
        })
        .collect();
    derive_facts(&events, &supplements)
}

/// A dossier row from its record. Personal data is sealed, hashed and masked here and nowhere else.
pub fn dossier_model(
    r: &DossierRec,
    procedure_id: i64,
    unit_id: i64,
    vault: &Vault,
    hash: String,
) -> entity::dossier::ActiveModel {
    let f = facts_of(r);
    let a = &r.applicant;
    entity::dossier::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        procedure_id: Set(procedure_id),
        unit_id: Set(unit_id),
        channel: Set(r.channel),
        applicant_kind: Set(a.kind.0),
        applicant_name: Set(a.name.clone()),
        applicant_id_hash: Set(vault.hash(&a.id_number)),
        applicant_id_sealed: Set(vault.seal(&a.id_number)),
        applicant_id_masked: Set(mask_id(&a.id_number)),
        applicant_phone_sealed: Set(a.phone.as_deref().map(|p| vault.seal(p))),
        applicant_phone_masked: Set(a.phone.as_deref().map(mask_phone)),
        applicant_email_sealed: Set(a.email.as_deref().map(|e| vault.seal(e))),
        applicant_email_masked: Set(a.email.as_deref().map(mask_email)),
        vneid_verified: Set(a.vneid_verified),
        submitted_at: Set(r.submitted_at.map(to_micros)),
        received_at: Set(to_micros(r.received_at)),
        due_at: Set(to_micros(r.due_at)),
        inputs_digitized: Set(r.inputs_digitized),
        reused_data: Set(r.reused_data),
        from_citizen_storage: Set(r.from_citizen_storage),
        result_electronic: Set(r.result_electronic),
        result_to_citizen_storage: Set(r.result_to_citizen_storage),
        synced_at: Set(r.synced_at.map(to_micros)),
        status: Set(f.status),
        status_at: Set(f.status_at),
        not_accepted_at: Set(f.not_accepted_at),
        resolved_at: Set(f.resolved_at),
        other_end_at: Set(f.other_end_at),
        other_end_status: Set(f.other_end_status),
        first_supplement_requested_at: Set(f.first_supplement_requested_at),
        first_supplement_received_at: Set(f.first_supplement_received_at),
        second_supplement_requested_at: Set(f.second_supplement_requested_at),
        negative_feedback_at: Set(None),
        settled_at: Set(super::rollup::settled_at(
            to_micros(r.received_at),
            r.synced_at.map(to_micros),
            None,
            &f,
        )),
        version: Set(1),
        content_hash: Set(hash),
    }
}

/// Rows of a dossier's history, supplements and apologies.
pub struct DossierChildren {
    pub events: Vec<entity::dossier_event::ActiveModel>,
    pub supplements: Vec<entity::supplement_request::ActiveModel>,
    pub apologies: Vec<entity::apology_letter::ActiveModel>,
}

impl DossierChildren {
    pub fn new() -> Self {
        DossierChildren { events: Vec::new(), supplements: Vec::new(), apologies: Vec::new() }
    }

    pub fn add(&mut self, dossier_id: i64, r: &DossierRec) {
        for (i, e) in r.events.iter().enumerate() {
            self.events.push(entity::dossier_event::ActiveModel {
                dossier_id: Set(dossier_id),
                seq: Set(i as i32),
                status: Set(e.status),
                at: Set(to_micros(e.at)),
                note: Set(e.note.clone()),
            });
        }
        for (i, s) in r.supplements.iter().enumerate() {
            self.supplements.push(entity::supplement_request::ActiveModel {
                dossier_id: Set(dossier_id),
                seq: Set(i as i32),
                requested_at: Set(to_micros(s.requested_at)),
                received_at: Set(s.received_at.map(to_micros)),
                reason: Set(s.reason.clone()),
            });
        }
        for (i, a) in r.apologies.iter().enumerate() {
            self.apologies.push(entity::apology_letter::ActiveModel {
                dossier_id: Set(dossier_id),
                seq: Set(i as i32),
                issued_at: Set(to_micros(a.issued_at)),
                reason: Set(a.reason.clone()),
                new_due_at: Set(to_micros(a.new_due_at)),
            });
        }
    }

    pub async fn insert(self, conn: &impl ConnectionTrait) -> Result<(), DbErr> {
        insert_chunked(conn, self.events, 5).await?;
        insert_chunked(conn, self.supplements, 5).await?;
        insert_chunked(conn, self.apologies, 5).await?;
        Ok(())
    }
}

impl Default for DossierChildren {
    fn default() -> Self {
        Self::new()
    }
}

/// Removes a dossier's history, supplements and apologies before they are written anew.
pub async fn delete_children(conn: &impl ConnectionTrait, dossier_id: i64) -> Result<(), DbErr> {
    entity::dossier_event::Entity::delete_many()
        .filter(entity::dossier_event::Column::DossierId.eq(dossier_id))
        .exec(conn)
        .await?;
    entity::supplement_request::Entity::delete_many()
        .filter(entity::supplement_request::Column::DossierId.eq(dossier_id))
        .exec(conn)
        .await?;
    entity::apology_letter::Entity::delete_many()
        .filter(entity::apology_letter::Column::DossierId.eq(dossier_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub fn receipt_model(r: &ReceiptRec, dossier_id: i64, hash: String) -> entity::receipt::ActiveModel {
    entity::receipt::ActiveModel {
        id: NotSet,
        series: Set(r.series.clone()),
        number: Set(r.number),
        template: Set(r.template.clone()),
        dossier_id: Set(dossier_id),
        payer_name: Set(r.payer_name.clone()),
        payer_tax_code: Set(r.payer_tax_code.clone()),
        amount: Set(r.amount),
        kind: Set(r.kind),
        payment_channel: Set(r.payment_channel),
        method: Set(r.method),
        transaction_ref: Set(r.transaction_ref.clone()),
        issued_at: Set(to_micros(r.issued_at)),
        status: Set(r.status.0),
        cancelled_at: Set(r.cancelled_at.map(to_micros)),
        cancel_reason: Set(r.cancel_reason.clone()),
        version: Set(1),
        content_hash: Set(hash),
    }
}

pub fn feedback_model(
    r: &FeedbackRec,
    unit_id: i64,
    dossier_id: Option<i64>,
    repeat_of_id: Option<i64>,
    vault: &Vault,
    hash: String,
) -> entity::feedback::ActiveModel {
    let recorder = Recorder::of(vault, r.recorded_by.as_deref());
    entity::feedback::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        kind: Set(r.kind),
        channel: Set(r.channel),
        unit_id: Set(unit_id),
        dossier_id: Set(dossier_id),
        received_at: Set(to_micros(r.received_at)),
        due_at: Set(r.due_at.map(to_micros)),
        answered_at: Set(r.answered_at.map(to_micros)),
        answer: Set(r.answer.clone()),
        rating: Set(r.rating),
        likes: Set(r.likes),
        dislikes: Set(r.dislikes),
        repeat_of_id: Set(repeat_of_id),
        content: Set(r.content.clone()),
        recorded_by_sealed: Set(recorder.sealed),
        recorded_by_hash: Set(recorder.hash),
        recorded_by_masked: Set(recorder.masked),
        version: Set(1),
        content_hash: Set(hash),
    }
}

/// Recomputes `negative_feedback_at` (the earliest complaint or unsatisfied rating linked to the dossier), and
/// with it `settled_at`, for the given dossiers.
pub async fn refresh_negative_feedback(
    conn: &impl ConnectionTrait,
    dossier_ids: &[i64],
) -> Result<(), DbErr> {
    let negative = "(SELECT MIN(f.received_at) FROM feedback f WHERE f.dossier_id = dossier.id AND \
                    (f.kind = 'COMPLAINT' OR (f.kind = 'RATING' AND f.rating IN ('UNSATISFIED', 'VERY_UNSATISFIED'))))";
    let settled = super::rollup::settled_sql(conn.get_database_backend(), negative);
    for chunk in dossier_ids.chunks(500) {
        let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "UPDATE dossier SET negative_feedback_at = {negative}, settled_at = {settled} WHERE id IN ({list})"
        );
        conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql)).await?;
    }
    Ok(())
}

/// Bumps a row's version when it still has `expected`; false when another write got there first.
pub async fn bump_version<E>(conn: &impl ConnectionTrait, id: i64, expected: i32) -> Result<bool, DbErr>
where
    E: EntityTrait,
{
    let table = E::default();
    let stmt = Query::update()
        .table(table)
        .value(Alias::new("version"), Expr::col(Alias::new("version")).add(1))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .and_where(Expr::col(Alias::new("version")).eq(expected))
        .to_owned();
    let res = conn.execute(&stmt).await?;
    Ok(res.rows_affected() == 1)
}

/// Reserves `n` fresh ids of `table` (whose `id` is the auto-incremented key) for rows the caller is about to
/// insert with those ids, so that it never has to read them back. On PostgreSQL they come from the table's
/// sequence; on SQLite from the largest id in use, which is safe because the caller's transaction holds the
/// database's write lock (see [`hold_write_lock`]).
pub async fn reserve_ids(conn: &impl ConnectionTrait, table: &str, n: usize) -> Result<Vec<i64>, DbErr> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    if backend == sea_orm::DbBackend::Postgres {
        let sql = format!(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS seq) \
             SELECT nextval(s.seq) FROM s, generate_series(1, {n})"
        );
        let rows = conn.query_all_raw(Statement::from_string(backend, sql)).await?;
        return rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect();
    }
    let sql = format!(
        "SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), \
         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0))"
    );
    let row = conn.query_one_raw(Statement::from_string(backend, sql)).await?;
    let max = row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0);
    Ok((max + 1..=max + n as i64).collect())
}

/// On SQLite, makes the caller's (deferred) transaction take the database's write lock now, with a statement
/// that writes nothing, so that no other connection writes until it ends. PostgreSQL locks rows, not the
/// database, and needs nothing.
pub async fn hold_write_lock(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if conn.get_database_backend() == sea_orm::DbBackend::Sqlite {
        conn.execute_unprepared("DELETE FROM data_change WHERE id < 0").await?;
    }
    Ok(())
}

/// Derives `dossier_paid` (see that entity) of the given dossiers from their receipts: one read, one delete and
/// one multi-row insert per 500 dossiers.
pub async fn refresh_receipts(conn: &impl ConnectionTrait, dossier_ids: &[i64]) -> Result<(), DbErr> {
    use crate::domain::PaymentChannel;
    use crate::domain::lifecycle::{PaidSpan, paid_spans};
    let backend = conn.get_database_backend();
    let mut ids = dossier_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(500) {
        let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let rows = conn
            .query_all_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT r.dossier_id, d.unit_id, r.issued_at, r.cancelled_at, r.payment_channel FROM receipt r \
                     JOIN dossier d ON d.id = r.dossier_id WHERE r.dossier_id IN ({list})"
                ),
            ))
            .await?;
        type Spans = (i64, Vec<(i64, Option<i64>, bool)>);
        let mut receipts: std::collections::HashMap<i64, Spans> = std::collections::HashMap::new();
        for r in rows {
            let channel: PaymentChannel = r.try_get_by_index(4)?;
            let online = channel.is_online();
            let e = receipts.entry(r.try_get_by_index(0)?).or_insert((r.try_get_by_index(1)?, Vec::new()));
            e.1.push((r.try_get_by_index(2)?, r.try_get_by_index(3)?, online));
        }
        entity::dossier_paid::Entity::delete_many()
            .filter(entity::dossier_paid::Column::DossierId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
        let models = receipts.into_iter().map(|(dossier_id, (unit_id, rs))| {
            let any = paid_spans(rs.iter().map(|&(i, c, _)| (i, c)));
            let online = paid_spans(rs.iter().filter(|r| r.2).map(|&(i, c, _)| (i, c)));
            let irregular = any == PaidSpan::Several || online == PaidSpan::Several;
            let (paid_from, paid_to) = if irregular { (None, None) } else { any.bounds() };
            let (paid_online_from, paid_online_to) = if irregular { (None, None) } else { online.bounds() };
            let bounds = [paid_from, paid_to, paid_online_from, paid_online_to];
            entity::dossier_paid::ActiveModel {
                dossier_id: Set(dossier_id),
                unit_id: Set(unit_id),
                paid_from: Set(paid_from),
                paid_to: Set(paid_to),
                paid_online_from: Set(paid_online_from),
                paid_online_to: Set(paid_online_to),
                irregular: Set(irregular),
                settled_at: Set(super::rollup::paid_settled_at(irregular, bounds)),
            }
        });
        insert_chunked(conn, models.collect(), 8).await?;
    }
    Ok(())
}
