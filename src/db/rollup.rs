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

use migration::SUMMARY_FROM;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionSession, TransactionTrait};

use super::derived::{refresh_receipts, settled_sql};
use super::sql::id_list;
use crate::domain::time::{Micros, month_of, next_month, now};

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
    /// never wait for each other in a cycle). The rows of up to 200 units are rebuilt by one statement of each
    /// kind.
    ///
    /// The open summaries are rebuilt with them, up to their horizon, which is read under a lock that an
    /// extension of the horizon ([`extend_open`]) waits for and takes first: the two never interleave.
    pub async fn rebuild(self, conn: &impl ConnectionTrait) -> Result<(), DbErr> {
        if self.0.is_empty() {
            return Ok(());
        }
        let backend = conn.get_database_backend();
        let lock = match backend {
            DbBackend::Postgres => {
                // The summary statements are estimated far costlier than they run (a dossier spans a month start
                // or two, not the dozen the planner assumes): compiling them would take longer than running them.
                conn.execute_unprepared("SET LOCAL jit = off").await?;
                conn.execute_unprepared(super::sql::WORK_MEM).await?;
                " FOR SHARE"
            }
            // SQLite runs one writing transaction at a time.
            _ => "",
        };
        let horizon = horizon(conn, lock).await?;
        let mut parts: Vec<(i64, (Micros, Micros))> = self
            .0
            .into_iter()
            .map(|(unit, (first, last))| {
                // The open summaries write the months before the summarised years as 0: those are rebuilt
                // together.
                let lo = if first < SUMMARY_FROM { i64::MIN + 1 } else { first };
                (unit, (lo, next_month(last)))
            })
            .collect();
        parts.sort_unstable();
        super::mark_changed(conn, parts.iter().map(|&(unit, _)| unit)).await?;
        // The merged rows of their groups are out of date for these months until merged again.
        super::groups::mark_stale(conn, &parts).await?;
        // Many units (an import) in few statements: each reads the dossiers and their receipts once.
        for chunk in parts.chunks(200) {
            let within = |unit: &str, at: &str| {
                let arms: Vec<String> = chunk
                    .iter()
                    .map(|(u, (lo, hi))| format!("({unit} = {u} AND {at} >= {lo} AND {at} < {hi})"))
                    .collect();
                format!("({})", arms.join(" OR "))
            };
            for table in ["dossier_rollup", "procedure_rollup", "open_rollup", "open_procedure_rollup"] {
                let delete = format!("DELETE FROM {table} WHERE {}", within("unit_id", "received_month"));
                conn.execute_raw(Statement::from_string(backend, delete)).await?;
            }
            let filter = within("d.unit_id", "d.received_at");
            let months = format!("cm.month_start <= {horizon}");
            let inserts = super::indicators::rules::rollup_insert_sql(backend, &filter)
                .into_iter()
                .chain(super::indicators::rules::open_insert_sql(backend, &filter, &months));
            for sql in inserts {
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
    for table in ["dossier_rollup", "procedure_rollup", "open_rollup", "open_procedure_rollup"] {
        conn.execute_unprepared(&format!("DELETE FROM {table}")).await?;
    }
    let to = month_of(now());
    conn.execute_unprepared(&format!("UPDATE open_horizon SET open_to = {to} WHERE id = 0")).await?;
    let mut dirty = Dirty::default();
    dirty
        .add_rows(
            conn,
            "SELECT unit_id, MIN(received_at), MAX(received_at) FROM dossier GROUP BY unit_id".to_owned(),
        )
        .await?;
    dirty.rebuild(conn).await?;
    super::groups::regroup(conn, &super::load_units(conn).await?).await?;
    super::groups::merge_all(conn).await
}

/// The last month start the open summaries cover, read with `lock` (an SQL locking clause, or nothing).
pub(in crate::db) async fn horizon(conn: &impl ConnectionTrait, lock: &str) -> Result<Micros, DbErr> {
    let sql = format!("SELECT open_to FROM open_horizon WHERE id = 0{lock}");
    let row = conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql)).await?;
    row.map(|r| r.try_get_by_index(0))
        .transpose()?
        .ok_or_else(|| DbErr::RecordNotFound("open_horizon".into()))
}

/// Extends the open summaries to every month start up to `to` (when they do not reach it yet), in one transaction:
/// every dossier not settled at such a month start is summarised at it. A report at a month start past the
/// horizon reads its open dossiers row by row, so this changes no answer, only how fast later ones come; the
/// gateway runs it at start and as months pass. Returns whether it extended them.
pub async fn extend_open<C: ConnectionTrait + TransactionTrait>(conn: &C, to: Micros) -> Result<bool, DbErr> {
    // Nearly always already there: a read, without taking the write lock.
    if horizon(conn, "").await? >= to {
        return Ok(false);
    }
    let txn = conn.begin().await?;
    let backend = txn.get_database_backend();
    // The write lock first (on SQLite too, so that the transaction never has to upgrade a read lock).
    txn.execute_unprepared("UPDATE open_horizon SET open_to = open_to WHERE id = 0").await?;
    let from = horizon(&txn, "").await?;
    if from >= to {
        txn.commit().await?;
        return Ok(false);
    }
    // The dossiers settled before the first new month start have no pair with it or any later one.
    let filter = format!("(d.settled_at > {from} OR dp.settled_at > {from})");
    let months = format!("cm.month_start > {from} AND cm.month_start <= {to}");
    for sql in super::indicators::rules::open_insert_sql(backend, &filter, &months) {
        txn.execute_raw(Statement::from_string(backend, sql)).await?;
    }
    super::groups::merge_open_months(&txn, from, to).await?;
    txn.execute_unprepared(&format!("UPDATE open_horizon SET open_to = {to} WHERE id = 0")).await?;
    txn.commit().await?;
    Ok(true)
}

/// Keeps the open summaries reaching the current month (migrating extended them at start): checks every quarter of
/// an hour (a month's start is summarised within that of its beginning; until then, reports at it read its open
/// dossiers row by row).
pub async fn keep_open_extended(db: sea_orm::DatabaseConnection) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(15 * 60)).await;
        match extend_open(&db, month_of(now())).await {
            Ok(true) => tracing::info!("open dossier summaries extended to the current month"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "extending the open dossier summaries failed"),
        }
    }
}
