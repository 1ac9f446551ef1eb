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

use sea_orm::{ConnectionTrait, DbErr, Statement};

use super::derived::{refresh_receipts, settled_sql};
use super::sql::id_list;
use crate::domain::time::{Micros, month_of, next_month};

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
            super::mark_changed(conn, [unit]).await?;
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
    refresh_receipts(conn, &paid).await?;
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
