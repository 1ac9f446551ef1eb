//! The columns of a dossier derived from its other rows, kept in step by every write in its own transaction:
//! `settled_at` (when its indicator facts stop changing, see [`crate::db::rollup`]), `negative_feedback_at`
//! (from its feedback) and `dossier_paid` (from its receipts).

use migration::{NEVER, SUMMARY_FROM, SUMMARY_TO};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Set, Statement};

use super::bulk::insert_chunked;
use super::sql::{greatest, id_list, names};
use crate::domain::lifecycle::DerivedFacts;
use crate::domain::time::Micros;
use crate::domain::{FeedbackKind, Rating};

/// A dated column of `dossier` that the settled rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dated {
    ReceivedAt,
    ResolvedAt,
    OtherEndAt,
    NotAcceptedAt,
    FirstSupplementRequestedAt,
    FirstSupplementReceivedAt,
    SecondSupplementRequestedAt,
    SyncedAt,
    NegativeFeedbackAt,
}

impl Dated {
    fn column(self) -> &'static str {
        match self {
            Dated::ReceivedAt => "received_at",
            Dated::ResolvedAt => "resolved_at",
            Dated::OtherEndAt => "other_end_at",
            Dated::NotAcceptedAt => "not_accepted_at",
            Dated::FirstSupplementRequestedAt => "first_supplement_requested_at",
            Dated::FirstSupplementReceivedAt => "first_supplement_received_at",
            Dated::SecondSupplementRequestedAt => "second_supplement_requested_at",
            Dated::SyncedAt => "synced_at",
            Dated::NegativeFeedbackAt => "negative_feedback_at",
        }
    }
}

/// The settled rule, declared once and read by both of its renderings below ([`settled_at`] for rows built in
/// the process, [`settled_sql`] for rows changed in place): a dossier whose outcome is one of [`ENDINGS`]
/// settles at the latest of its [`DATED`] facts, unless it was received before the summarised span or that
/// latest fact falls after it (then `NEVER`: it is always counted from its own rows).
pub const ENDINGS: [Dated; 3] = [Dated::ResolvedAt, Dated::OtherEndAt, Dated::NotAcceptedAt];
/// The dated facts a settled dossier can no longer gain; see [`ENDINGS`].
pub const DATED: [Dated; 9] = [
    Dated::ReceivedAt,
    Dated::ResolvedAt,
    Dated::OtherEndAt,
    Dated::NotAcceptedAt,
    Dated::FirstSupplementRequestedAt,
    Dated::FirstSupplementReceivedAt,
    Dated::SecondSupplementRequestedAt,
    Dated::SyncedAt,
    Dated::NegativeFeedbackAt,
];

/// The rule over values: `value` gives each dated fact of the dossier (`ReceivedAt` is always set).
pub fn settled_at(value: impl Fn(Dated) -> Option<Micros>) -> Micros {
    let ended = ENDINGS.into_iter().any(|d| value(d).is_some());
    let received_at = value(Dated::ReceivedAt).unwrap_or(0);
    let latest = DATED.into_iter().filter_map(&value).max().unwrap_or(0);
    if !ended || received_at < SUMMARY_FROM || latest >= SUMMARY_TO { NEVER } else { latest }
}

/// [`settled_at`] of a dossier the importer builds from its record: no feedback is linked to it yet.
pub fn settled_at_of_new(received_at: Micros, synced_at: Option<Micros>, f: &DerivedFacts) -> Micros {
    settled_at(|d| match d {
        Dated::ReceivedAt => Some(received_at),
        Dated::ResolvedAt => f.resolved_at,
        Dated::OtherEndAt => f.other_end_at,
        Dated::NotAcceptedAt => f.not_accepted_at,
        Dated::FirstSupplementRequestedAt => f.first_supplement_requested_at,
        Dated::FirstSupplementReceivedAt => f.first_supplement_received_at,
        Dated::SecondSupplementRequestedAt => f.second_supplement_requested_at,
        Dated::SyncedAt => synced_at,
        Dated::NegativeFeedbackAt => None,
    })
}

/// `settled_at` of a `dossier_paid` row: the latest instant at which one of the dossier's receipts was issued or
/// cancelled (from then on whether it is paid no longer changes, even when its receipts count over several
/// intervals), `NEVER` when that is past the summarised span.
pub fn paid_settled_at(bounds: impl IntoIterator<Item = Option<Micros>>) -> Micros {
    let latest = bounds.into_iter().flatten().max().unwrap_or(0);
    if latest >= SUMMARY_TO { NEVER } else { latest }
}

/// The rule as SQL over the columns of `dossier` (unqualified, as in an UPDATE), with the dossier's
/// negative-feedback instant given by the expression `negative`.
pub fn settled_sql(backend: DbBackend, negative: &str) -> String {
    let column = |d: Dated| if d == Dated::NegativeFeedbackAt { negative } else { d.column() };
    let ended = ENDINGS.map(|d| format!("{} IS NOT NULL", column(d))).join(" OR ");
    let latest = greatest(backend, &DATED.map(|d| format!("COALESCE({}, 0)", column(d))));
    let received_at = column(Dated::ReceivedAt);
    format!(
        "(CASE WHEN NOT ({ended}) OR {received_at} < {SUMMARY_FROM} OR {latest} >= {SUMMARY_TO} THEN {NEVER} \
         ELSE {latest} END)"
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
            entity::dossier_paid::ActiveModel {
                dossier_id: Set(dossier_id),
                unit_id: Set(unit_id),
                paid_from: Set(paid_from),
                paid_to: Set(paid_to),
                paid_online_from: Set(paid_online_from),
                paid_online_to: Set(paid_online_to),
                irregular: Set(irregular),
                settled_at: Set(paid_settled_at(rs.iter().flat_map(|&(i, c, _)| [Some(i), c]))),
            }
        });
        insert_chunked(conn, models.collect(), 8).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dossier_settles_at_its_latest_fact_once_it_has_ended_inside_the_summarised_span() {
        let received = SUMMARY_FROM + 1_000;
        let facts = |resolved: Option<Micros>, synced: Option<Micros>| {
            move |d: Dated| match d {
                Dated::ReceivedAt => Some(received),
                Dated::ResolvedAt => resolved,
                Dated::SyncedAt => synced,
                _ => None,
            }
        };
        assert_eq!(settled_at(facts(None, Some(received + 5))), NEVER, "open dossiers never settle");
        assert_eq!(settled_at(facts(Some(received + 10), Some(received + 50))), received + 50);
        assert_eq!(settled_at(facts(Some(SUMMARY_TO), None)), NEVER, "a fact after the span");
        let early = |d: Dated| match d {
            Dated::ReceivedAt => Some(SUMMARY_FROM - 1),
            Dated::ResolvedAt => Some(SUMMARY_FROM + 1),
            _ => None,
        };
        assert_eq!(settled_at(early), NEVER, "received before the span");
        // The SQL rendering reads the same columns: every dated column appears, the ending ones in its test.
        let sql = settled_sql(DbBackend::Sqlite, "negative_feedback_at");
        for d in DATED {
            assert!(sql.contains(&format!("COALESCE({}, 0)", d.column())), "{d:?}");
        }
        for d in ENDINGS {
            assert!(sql.contains(&format!("{} IS NOT NULL", d.column())), "{d:?}");
        }
    }
}
