//! The columns of a dossier derived from its other rows, kept in step by every write in its own transaction:
//! `settled_at` (when its indicator facts stop changing, see [`crate::db::rollup`]), `negative_feedback_at`
//! (from its feedback) and `dossier_paid` (from its receipts).

use migration::{NEVER, SUMMARY_FROM, SUMMARY_TO};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Set, Statement};

use super::bulk::insert_chunked;
use super::sql::{id_list, names};
use crate::domain::lifecycle::DerivedFacts;
use crate::domain::time::Micros;
use crate::domain::{FeedbackKind, Rating};

/// `settled_at` of a dossier built in the process (the importer's new rows), from its record's facts.
/// [`settled_sql`] is the same rule in SQL, for rows changed in place.
pub fn settled_at(
    received_at: Micros,
    synced_at: Option<Micros>,
    negative_feedback_at: Option<Micros>,
    f: &DerivedFacts,
) -> Micros {
    let ended = f.resolved_at.is_some() || f.other_end_at.is_some() || f.not_accepted_at.is_some();
    let latest = [
        f.resolved_at,
        f.other_end_at,
        f.not_accepted_at,
        f.first_supplement_requested_at,
        f.first_supplement_received_at,
        f.second_supplement_requested_at,
        synced_at,
        negative_feedback_at,
    ]
    .into_iter()
    .flatten()
    .fold(received_at, Micros::max);
    if !ended || received_at < SUMMARY_FROM || latest >= SUMMARY_TO { NEVER } else { latest }
}

/// `settled_at` of a `dossier_paid` row: the latest bound of its intervals, `NEVER` when irregular.
pub fn paid_settled_at(irregular: bool, bounds: [Option<Micros>; 4]) -> Micros {
    let latest = bounds.into_iter().flatten().max().unwrap_or(0);
    if irregular || latest >= SUMMARY_TO { NEVER } else { latest }
}

fn greatest(backend: DbBackend, args: &[String]) -> String {
    let f = if backend == DbBackend::Postgres { "GREATEST" } else { "MAX" };
    format!("{f}({})", args.join(", "))
}

/// [`settled_at`] as SQL over the columns of `dossier` (unqualified, as in an UPDATE), with the dossier's
/// negative-feedback instant given by the expression `negative`.
pub fn settled_sql(backend: DbBackend, negative: &str) -> String {
    let mut args = vec!["received_at".to_owned()];
    for c in [
        "resolved_at",
        "other_end_at",
        "not_accepted_at",
        "first_supplement_requested_at",
        "first_supplement_received_at",
        "second_supplement_requested_at",
        "synced_at",
        negative,
    ] {
        args.push(format!("COALESCE({c}, 0)"));
    }
    let latest = greatest(backend, &args);
    format!(
        "(CASE WHEN received_at < {SUMMARY_FROM} OR (resolved_at IS NULL AND other_end_at IS NULL AND \
         not_accepted_at IS NULL) OR {latest} >= {SUMMARY_TO} THEN {NEVER} ELSE {latest} END)"
    )
}

/// Derives `dossier.settled_at` of these dossiers again from their stored columns.
pub async fn refresh_settled(conn: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "UPDATE dossier SET settled_at = {} WHERE id IN ({})",
            settled_sql(backend, "negative_feedback_at"),
            id_list(chunk)
        );
        conn.execute_raw(Statement::from_string(backend, sql)).await?;
    }
    Ok(())
}

/// Recomputes `negative_feedback_at` (the earliest complaint or unsatisfied rating linked to the dossier), and
/// with it `settled_at`, for the given dossiers.
pub async fn refresh_negative_feedback(
    conn: &impl ConnectionTrait,
    dossier_ids: &[i64],
) -> Result<(), DbErr> {
    // A complaint, or a rating the domain counts as negative.
    let negative = format!(
        "(SELECT MIN(f.received_at) FROM feedback f WHERE f.dossier_id = dossier.id AND (f.kind = {} OR \
         (f.kind = {} AND f.rating IN ({}))))",
        names([FeedbackKind::Complaint]),
        names([FeedbackKind::Rating]),
        names(Rating::ALL.iter().filter(|r| r.is_negative()))
    );
    let settled = settled_sql(conn.get_database_backend(), &negative);
    for chunk in dossier_ids.chunks(500) {
        let list = id_list(chunk);
        let sql = format!(
            "UPDATE dossier SET negative_feedback_at = {negative}, settled_at = {settled} WHERE id IN ({list})"
        );
        conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql)).await?;
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
        let list = id_list(chunk);
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
                settled_at: Set(paid_settled_at(irregular, bounds)),
            }
        });
        insert_chunked(conn, models.collect(), 8).await?;
    }
    Ok(())
}
