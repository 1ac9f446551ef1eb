//! Keeping `dossier_rollup` (the counts of settled dossiers, see that entity) in step with every write.
//!
//! A dossier is *settled* once processing ended (or it was not accepted): from then on its indicator facts
//! change only when a write adds a dated fact (a receipt, a feedback, a sync), and `settled_at` is the latest of
//! those dated facts. `dossier.settled_at` covers the dossier's own columns, `dossier_paid.settled_at` its
//! receipts; both are `NEVER` while the facts may still change without a date of their own. Every write that
//! changes a dossier's columns or receipts derives them again, in its own transaction, and rebuilds the summary
//! rows of the dossier's unit and month of receipt: API writes at once, the importer once per import for the
//! months it touched (and, when a procedure's fee, online level or paper result changes, every month with its
//! dossiers).

use std::collections::HashMap;

use migration::{NEVER, SUMMARY_FROM, SUMMARY_TO};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::domain::lifecycle::DerivedFacts;
use crate::domain::time::{Micros, month_of, next_month};

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

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
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

/// The summary rows to rebuild: by unit, the first and last month of receipt touched.
#[derive(Debug, Default)]
pub struct Dirty(HashMap<i64, (Micros, Micros)>);

impl Dirty {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Marks the month of `received_at` of a unit.
    pub fn add(&mut self, unit_id: i64, received_at: Micros) {
        let m = month_of(received_at);
        let e = self.0.entry(unit_id).or_insert((m, m));
        e.0 = e.0.min(m);
        e.1 = e.1.max(m);
    }

    async fn add_rows(&mut self, conn: &impl ConnectionTrait, sql: String) -> Result<(), DbErr> {
        for row in conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql)).await? {
            let unit: i64 = row.try_get_by_index(0)?;
            self.add(unit, row.try_get_by_index(1)?);
            self.add(unit, row.try_get_by_index(2)?);
        }
        Ok(())
    }

    /// Marks the months of these stored dossiers, as they are now.
    pub async fn add_stored(&mut self, conn: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT unit_id, MIN(received_at), MAX(received_at) FROM dossier WHERE id IN ({}) GROUP BY unit_id",
                id_list(chunk)
            );
            self.add_rows(conn, sql).await?;
        }
        Ok(())
    }

    /// Marks every month with dossiers of a procedure whose summarised properties (fee-bearing, fully online,
    /// paper result) changed.
    pub async fn add_procedure(
        &mut self,
        conn: &impl ConnectionTrait,
        procedure_id: i64,
    ) -> Result<(), DbErr> {
        let sql = format!(
            "SELECT unit_id, MIN(received_at), MAX(received_at) FROM dossier WHERE procedure_id = {procedure_id} \
             GROUP BY unit_id"
        );
        self.add_rows(conn, sql).await
    }

    /// Rebuilds the marked summary rows from the dossiers as they are now. Each unit's change counter is bumped
    /// first: its row lock, held to the end of the transaction, makes concurrent rebuilds of one unit's rows
    /// run one after the other, each seeing the other's committed rows (units in order, so two rebuilds
    /// never wait for each other in a cycle).
    pub async fn rebuild(self, conn: &impl ConnectionTrait) -> Result<(), DbErr> {
        let backend = conn.get_database_backend();
        let mut parts: Vec<_> = self.0.into_iter().collect();
        parts.sort_unstable();
        for (unit, (first, last)) in parts {
            super::touch(conn, [unit]).await?;
            let (lo, hi) = (first, next_month(last));
            for table in ["dossier_rollup", "procedure_rollup"] {
                let delete = format!(
                    "DELETE FROM {table} WHERE unit_id = {unit} AND received_month >= {lo} AND received_month < {hi}"
                );
                conn.execute_raw(Statement::from_string(backend, delete)).await?;
            }
            let filter = format!("d.unit_id = {unit} AND d.received_at >= {lo} AND d.received_at < {hi}");
            for sql in super::indicators::rollup_insert_sql(backend, &filter) {
                conn.execute_raw(Statement::from_string(backend, sql)).await?;
            }
        }
        Ok(())
    }
}

/// Rebuilds the summary rows of these few dossiers (their unit and month of receipt), after an API write changed
/// them.
pub async fn rebuild_for(conn: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    let mut dirty = Dirty::default();
    dirty.add_stored(conn, ids).await?;
    dirty.rebuild(conn).await
}

/// Derives every `settled_at` and the whole summary from the stored rows: after the migration that added them,
/// for the rows that existed before it.
pub async fn rebuild_all(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let update = format!("UPDATE dossier SET settled_at = {}", settled_sql(backend, "negative_feedback_at"));
    conn.execute_raw(Statement::from_string(backend, update)).await?;
    let paid = conn
        .query_all_raw(Statement::from_string(backend, "SELECT dossier_id FROM dossier_paid".to_owned()))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0))
        .collect::<Result<Vec<_>, _>>()?;
    super::write::refresh_receipts(conn, &paid).await?;
    conn.execute_unprepared("DELETE FROM dossier_rollup").await?;
    conn.execute_unprepared("DELETE FROM procedure_rollup").await?;
    let mut dirty = Dirty::default();
    dirty
        .add_rows(
            conn,
            "SELECT unit_id, MIN(received_at), MAX(received_at) FROM dossier GROUP BY unit_id".to_owned(),
        )
        .await?;
    dirty.rebuild(conn).await
}
