//! Summary groups: the summary rows of every PROVINCE and MINISTRY merged over its scope (the units of
//! [`UnitTree::summary_groups`]), kept in the four summary tables beside the units' own rows under the group's
//! negated id. A report of such a unit at an instant by which every merge into it has happened reads those few
//! merged rows instead of the rows of its hundreds of units, so that its cost follows the summary groups' keys
//! (months, procedures), not the number of units or dossiers.
//!
//! Merged rows are derived from the units' rows, never from dossiers, and are kept right without slowing writes
//! down: a write rebuilds its units' rows as before and records, in its own transaction, the months of receipt of
//! each group it touched in `summary_stale`. A report answers from a group's merged rows only when its snapshot
//! shows no such record for the group (and the group's units are the scope's); otherwise it reads the units' rows,
//! as if there were no group. [`refresh`] merges the recorded months again and deletes the records it read, in
//! one transaction: a write that commits after its first read leaves its record, so the merged rows are never
//! taken for more than they are. The gateway refreshes a few hundred milliseconds after writes
//! ([`keep_fresh`]), and an import before it returns. A change of units ([`regroup`]) recomputes the groups' units
//! and marks every group out of date.
//!
//! Every statement that writes merged rows runs under one lock (an advisory lock on PostgreSQL, the database's
//! write lock on SQLite), so two never interleave.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionSession, TransactionTrait};

use super::indicators::rules::FACT_NAMES;
use super::sql::id_list;
use crate::domain::scope::UnitTree;

/// A summary table: its name, its key columns other than the unit, the order in which reports read them (merged
/// rows are written in that order, so that a report's rows lie on few pages), and its value columns with the
/// aggregate that merges them over units.
struct Table {
    name: &'static str,
    keys: &'static str,
    order: &'static str,
    values: Vec<(&'static str, &'static str)>,
}

fn tables() -> [Table; 4] {
    let counts = || std::iter::once("dossiers").chain(FACT_NAMES).map(|c| (c, "SUM")).collect::<Vec<_>>();
    [
        Table {
            name: "dossier_rollup",
            keys: "received_month, end_month, settle_month, ended_with_result, fee_bearing, full_online, paper_result",
            order: "received_month, end_month, settle_month",
            values: counts(),
        },
        Table {
            name: "procedure_rollup",
            keys: "procedure_id, received_month",
            order: "received_month, procedure_id",
            values: ["first_settled", "first_paid_online", "first_paid_any", "first_vneid"]
                .map(|c| (c, "MIN"))
                .to_vec(),
        },
        Table {
            name: "open_rollup",
            keys: "at_month, received_month, end_month, ended_with_result, fee_bearing, full_online, paper_result",
            order: "at_month, received_month, end_month",
            values: counts(),
        },
        Table {
            name: "open_procedure_rollup",
            keys: "procedure_id, at_month, received_month",
            order: "at_month, received_month, procedure_id",
            values: ["paid_online", "paid_any", "vneid"].map(|c| (c, "MAX")).to_vec(),
        },
    ]
}

/// The first and the last (excluded) month of receipt of "every month".
const ALL_MONTHS: (i64, i64) = (i64::MIN + 1, i64::MAX);

/// Takes the lock under which merged rows are written, to the end of the transaction.
async fn lock(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    let sql = match conn.get_database_backend() {
        // Any number the gateway uses for nothing else.
        DbBackend::Postgres => "SELECT pg_advisory_xact_lock(766208)",
        // A write first, so that the transaction holds the database's write lock from its start.
        _ => "UPDATE open_horizon SET open_to = open_to WHERE id = 0",
    };
    conn.execute_unprepared(sql).await.map(|_| ())
}

/// Writes the merged rows of `table` from the units' rows meeting `filter` (a condition over the table's
/// columns, qualified `t.`), for every group of `summary_group sg` meeting `groups` (a condition on it).
fn merge_sql(table: &Table, filter: &str, groups: &str) -> String {
    let keys_t = table.keys.split(", ").map(|k| format!("t.{k}")).collect::<Vec<_>>().join(", ");
    let names = table.values.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ");
    let merged = table.values.iter().map(|(c, f)| format!("{f}(t.{c})")).collect::<Vec<_>>().join(", ");
    let order_t = table.order.split(", ").map(|k| format!("t.{k}")).collect::<Vec<_>>().join(", ");
    format!(
        "INSERT INTO {} (unit_id, {}, {names}) SELECT -sg.group_id, {keys_t}, {merged} FROM {} t JOIN summary_group sg \
         ON sg.unit_id = t.unit_id WHERE {filter} AND {groups} GROUP BY sg.group_id, {keys_t} \
         ORDER BY sg.group_id, {order_t}",
        table.name, table.keys, table.name
    )
}

/// Merges again the rows of group `group` received in months `[from, to)`, under the lock.
async fn merge_months(conn: &impl ConnectionTrait, group: i64, (from, to): (i64, i64)) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let months = format!("t.received_month >= {from} AND t.received_month < {to}");
    for table in tables() {
        let delete = format!(
            "DELETE FROM {} WHERE unit_id = {} AND received_month >= {from} AND received_month < {to}",
            table.name, -group
        );
        conn.execute_raw(Statement::from_string(backend, delete)).await?;
        let insert = merge_sql(&table, &months, &format!("sg.group_id = {group}"));
        conn.execute_raw(Statement::from_string(backend, insert)).await?;
    }
    Ok(())
}

/// Records, in a writing transaction, that the merged rows of the groups holding these units are out of date for
/// the given months of receipt `[from, to)` of each unit.
pub(in crate::db) async fn mark_stale(
    conn: &impl ConnectionTrait,
    parts: &[(i64, (i64, i64))],
) -> Result<(), DbErr> {
    for chunk in parts.chunks(200) {
        let units = chunk
            .iter()
            .map(|(u, (from, to))| format!("SELECT {u} AS unit_id, {from} AS from_month, {to} AS to_month"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!(
            "INSERT INTO summary_stale (group_id, from_month, to_month) SELECT sg.group_id, MIN(v.from_month), \
             MAX(v.to_month) FROM summary_group sg JOIN ({units}) v ON v.unit_id = sg.unit_id GROUP BY sg.group_id"
        );
        conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql)).await?;
    }
    Ok(())
}

/// Merges again every month recorded out of date, and deletes the records read, in one transaction per call.
/// Returns how many groups it merged.
pub async fn refresh<C: ConnectionTrait + TransactionTrait>(conn: &C) -> Result<usize, DbErr> {
    let backend = conn.get_database_backend();
    // Nearly always nothing to do: a read, without the lock.
    let any = conn
        .query_one_raw(Statement::from_string(backend, "SELECT id FROM summary_stale LIMIT 1".to_owned()))
        .await?;
    if any.is_none() {
        return Ok(0);
    }
    let txn = conn.begin().await?;
    lock(&txn).await?;
    // Read before the units' rows are: a write committing in between leaves its record for the next refresh.
    let rows = txn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, group_id, from_month, to_month FROM summary_stale".to_owned(),
        ))
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut months: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for r in &rows {
        ids.push(r.try_get_by_index::<i64>(0)?);
        let (from, to) = (r.try_get_by_index::<i64>(2)?, r.try_get_by_index::<i64>(3)?);
        let e = months.entry(r.try_get_by_index(1)?).or_insert((from, to));
        *e = (e.0.min(from), e.1.max(to));
    }
    for (&group, &span) in &months {
        merge_months(&txn, group, span).await?;
    }
    for chunk in ids.chunks(500) {
        let delete = format!("DELETE FROM summary_stale WHERE id IN ({})", id_list(chunk));
        txn.execute_raw(Statement::from_string(backend, delete)).await?;
    }
    txn.commit().await?;
    Ok(months.len())
}

/// Recomputes the groups and their units from `tree` (the units as they now are, in this transaction), drops every
/// merged row and records every group out of date: [`refresh`] merges them after the transaction commits.
pub(crate) async fn regroup(conn: &impl ConnectionTrait, tree: &UnitTree) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    lock(conn).await?;
    drop_merged(conn).await?;
    conn.execute_unprepared("DELETE FROM summary_group").await?;
    conn.execute_unprepared("DELETE FROM summary_stale").await?;
    let mut pairs = Vec::new();
    for (group, units) in tree.summary_groups() {
        pairs.extend(units.into_iter().map(|u| format!("({group}, {u})")));
        let stale = format!(
            "INSERT INTO summary_stale (group_id, from_month, to_month) VALUES ({group}, {}, {})",
            ALL_MONTHS.0, ALL_MONTHS.1
        );
        conn.execute_raw(Statement::from_string(backend, stale)).await?;
    }
    for chunk in pairs.chunks(1000) {
        let insert = format!("INSERT INTO summary_group (group_id, unit_id) VALUES {}", chunk.join(", "));
        conn.execute_raw(Statement::from_string(backend, insert)).await?;
    }
    Ok(())
}

/// Merges every group's rows from scratch and clears every out-of-date record, in the caller's transaction (after
/// [`regroup`], when the summaries are derived again from the stored rows).
pub(in crate::db) async fn merge_all(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    lock(conn).await?;
    drop_merged(conn).await?;
    for table in tables() {
        conn.execute_raw(Statement::from_string(backend, merge_sql(&table, "1 = 1", "1 = 1"))).await?;
    }
    conn.execute_unprepared("DELETE FROM summary_stale").await.map(|_| ())
}

/// Deletes every merged row (under the lock the caller holds).
async fn drop_merged(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    for table in tables() {
        conn.execute_unprepared(&format!("DELETE FROM {} WHERE unit_id < 0", table.name)).await?;
    }
    Ok(())
}

/// Writes the merged open rows of the month starts `(from, to]` that [`super::rollup::extend_open`] just
/// summarised for the units, in its transaction.
pub(in crate::db) async fn merge_open_months(
    conn: &impl ConnectionTrait,
    from: i64,
    to: i64,
) -> Result<(), DbErr> {
    lock(conn).await?;
    let months = format!("t.at_month > {from} AND t.at_month <= {to}");
    for table in tables().into_iter().filter(|t| t.name.starts_with("open_")) {
        let sql = merge_sql(&table, &months, "1 = 1");
        conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql)).await?;
    }
    Ok(())
}

/// Keeps the merged rows in step with writes: looks for out-of-date months every `every` and merges them.
pub async fn keep_fresh(db: sea_orm::DatabaseConnection, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = refresh(&db).await {
            tracing::warn!(error = %e, "merging the summary groups again failed; reports read the units' rows");
        }
    }
}
