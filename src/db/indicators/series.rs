//! The counts of many windows of one unit (a monthly series, say) in one pass: each statement of a report is
//! run once for all the windows, joined with a small table of the windows' instants (S, T and the summary cut),
//! instead of once per window. The rules are the same text as a single report's, with S and T read from that
//! table, so every window's counts equal the report of that window. Windows evaluated at a month start the open
//! summaries cover read them instead of their open dossiers; the summary groups are merged across the scope's
//! units before they are paired with the windows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement};

use super::rules::*;
use super::{
    Counts, Gathered, add_dossier_row, add_irregular_row, add_procedure_rollup_row, announced_procedures,
    assemble, counts_in, get, read_snapshot,
};
use crate::db::sql::WORK_MEM;
use crate::domain::indicators::{Count, Window};
use crate::domain::scope::{Scope, ScopeAt, UnitTree};
use crate::domain::time::{Calendar, Micros, month_of, next_month};

/// The counts of `unit_code` for each of `windows`, in order, read from one snapshot of the database; equal, window
/// by window, to [`super::counts`].
pub async fn series_counts(
    conn: &DatabaseConnection,
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    windows: &[Window],
) -> Result<Vec<Counts>, DbErr> {
    let txn = read_snapshot(conn).await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared(WORK_MEM).await?;
    }
    let side = sibling(conn, &txn).await?;
    let horizon = crate::db::rollup::horizon(&txn, "").await?;
    let mut out: Vec<Option<Counts>> = vec![None; windows.len()];
    // One pass per scope (the unit's scope changes only when a unit merges into it) over the windows the
    // summaries answer; any other window is counted alone.
    let mut passes: Vec<Pass> = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let Some(cut) = summary_cut(w) else {
            out[i] = Some(counts_in(&txn, tree, calendar, unit_code, w, true).await?);
            continue;
        };
        let at = tree.scope_of(unit_code, w.at);
        match passes.iter_mut().find(|(s, _)| s.key == at.key) {
            Some((_, members)) => members.push((i, cut)),
            None => passes.push((at, vec![(i, cut)])),
        }
    }
    for (at, members) in passes {
        let latest = members.iter().map(|&(i, _)| windows[i].at).max().unwrap_or_default();
        let announced = announced_procedures(&txn, tree, unit_code, latest).await?;
        let steps: Vec<Step> = members
            .iter()
            .map(|&(i, cut)| Step {
                index: i,
                w: windows[i],
                cut,
                open: open_answers(&windows[i], cut, horizon),
            })
            .collect();
        let rows = super::summarised(&txn, tree, unit_code, latest, &at.scope).await?;
        let mut gathered = gather(&txn, side.as_ref(), &at.scope, &rows, &steps).await?;
        for step in &steps {
            let g = gathered.remove(&step.index).unwrap_or_default();
            out[step.index] = Some(assemble(&g, &announced, tree, calendar, unit_code, &at.scope, &step.w));
        }
    }
    if let Some(side) = side {
        side.commit().await?;
    }
    txn.commit().await?;
    Ok(out.into_iter().map(Option::unwrap_or_default).collect())
}

/// How long a series waits for a second connection of its pool (one being opened, say) before it runs every
/// statement on its first.
const SIBLING_WAIT: Duration = Duration::from_millis(50);

/// A read-only transaction on another connection of `db` that sees exactly what `txn` sees (PostgreSQL's exported
/// snapshot, also on a standby), so that a series runs two statements at a time. `None` on SQLite, and when the
/// pool has no idle connection and no room for another, or none comes within [`SIBLING_WAIT`]: a request holding
/// one connection never waits long for a second.
async fn sibling(
    db: &DatabaseConnection,
    txn: &DatabaseTransaction,
) -> Result<Option<DatabaseTransaction>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let pool = db.get_postgres_connection_pool();
    if pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections() {
        return Ok(None);
    }
    let exported = Statement::from_string(DbBackend::Postgres, "SELECT pg_export_snapshot()");
    let Some(row) = txn.query_one_raw(exported).await? else { return Ok(None) };
    let id: String = row.try_get_by_index(0)?;
    // An identifier such as 00000003-0000001B-1, quoted into the statement below.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Ok(None);
    }
    let Ok(Ok(side)) = tokio::time::timeout(SIBLING_WAIT, read_snapshot(db)).await else { return Ok(None) };
    side.execute_unprepared(&format!("SET TRANSACTION SNAPSHOT '{id}'")).await?;
    side.execute_unprepared(WORK_MEM).await?;
    Ok(Some(side))
}

/// A scope and the windows counted over it: their indexes and summary cuts.
type Pass = (Arc<ScopeAt>, Vec<(usize, Micros)>);

/// One window of a pass, its summary cut, and whether the open summaries answer it (see [`open_answers`]).
struct Step {
    index: usize,
    w: Window,
    cut: Micros,
    open: bool,
}

/// `rows` (tuples of integers) as a derived table `alias` with the columns `names` (a `VALUES` list costs the
/// planner far less than a union of one-row selects; both databases name its columns `column1`, `column2`, …).
fn values_table(rows: &[String], names: &[&str], alias: &str) -> String {
    let columns: Vec<String> =
        names.iter().enumerate().map(|(i, n)| format!("column{} AS {n}", i + 1)).collect();
    format!("(SELECT {} FROM (VALUES {}) v) {alias}", columns.join(", "), rows.join(", "))
}

/// The windows as a derived table `st(i, s, t, c)`.
fn steps_table<'a>(steps: impl Iterator<Item = &'a Step>) -> String {
    let rows: Vec<String> =
        steps.map(|st| format!("({}, {}, {}, {})", st.index, st.w.start, st.w.at, st.cut)).collect();
    values_table(&rows, &["i", "s", "t", "c"], "st")
}

/// The months of receipt each window's procedure summary spans, from its start to its cut, with the cut, as a
/// derived table `sm(i, m, c)`.
fn steps_months_table<'a>(steps: impl Iterator<Item = &'a Step>) -> String {
    let mut rows = Vec::new();
    for st in steps {
        let mut m = month_of(st.w.start);
        while m < st.cut {
            rows.push(format!("({}, {m}, {})", st.index, st.cut));
            m = next_month(m);
        }
    }
    if rows.is_empty() {
        rows.push("(-1, 0, 0)".to_owned());
    }
    values_table(&rows, &["i", "m", "c"], "sm")
}

/// The procedure summary's rows of months of receipt `[from, to)` merged across the scope's units, as the common
/// table `pr` (the `WITH` clause). A summary group's rows are merged already: read where they are joined, through
/// the index by unit and month.
fn merged_procedures(from: Micros, to: Micros, summarised: &Summarised) -> String {
    let months =
        format!("received_month >= {from} AND received_month < {to}{}", summarised.filter("unit_id"));
    match summarised {
        Summarised::Group(_) => format!(
            "WITH pr AS NOT MATERIALIZED (SELECT procedure_id, received_month, first_settled, first_paid_online, \
             first_paid_any, first_vneid FROM procedure_rollup WHERE {months})"
        ),
        Summarised::Units(_) => format!(
            "WITH pr AS MATERIALIZED (SELECT procedure_id, received_month, MIN(first_settled) AS first_settled, \
             MIN(first_paid_online) AS first_paid_online, MIN(first_paid_any) AS first_paid_any, MIN(first_vneid) AS \
             first_vneid FROM procedure_rollup WHERE {months} GROUP BY procedure_id, received_month)"
        ),
    }
}

/// The open windows' procedure metrics, counted in one statement, by window: each procedure's facts from the open
/// summary (paired with the windows before they are grouped: a window drops the rows received before its start) and
/// from the settled one (merged across units first, then paired by month of receipt), joined per window and
/// procedure, then counted as `procedure_places` counts them. `None` when no window is open.
fn open_procedures_sql(backend: DbBackend, opens: &[&Step], summarised: &Summarised) -> Option<String> {
    if opens.is_empty() {
        return None;
    }
    let open = steps_table(opens.iter().copied());
    let at_months = opens.iter().map(|st| st.w.at.to_string()).collect::<Vec<_>>().join(", ");
    let first = opens.iter().map(|st| st.w.start).min().unwrap_or_default();
    let last = opens.iter().map(|st| st.cut).max().unwrap_or_default();
    let months = steps_months_table(opens.iter().copied());
    let before = |c: &str| format!("CASE WHEN pr.{c} < sm.c THEN 1 ELSE 0 END");
    let fee = "p.fee > 0 AND f.received = 1";
    let citizen = "p.accepts_citizens AND f.received = 1";
    let count = |cond: String| format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    // When every window spans one month of receipt and the scope is a summary group, each side holds at most one
    // row per window and procedure: on PostgreSQL the two are paired by a hash full join rather than grouped after a
    // union (SQLite runs a full join as nested loops over the two sides: 15 times slower on the demo).
    let one_month = |st: &&Step| next_month(month_of(st.w.start)) >= st.w.at.max(st.cut);
    let paired = backend == DbBackend::Postgres && matches!(summarised, Summarised::Group(_));
    let open_facts = format!(
        "SELECT st.i AS i, opr.procedure_id AS procedure_id, 1 AS received, opr.paid_online AS paid_online, \
         opr.paid_any AS paid_any, opr.vneid AS vneid FROM open_procedure_rollup opr JOIN {open} ON \
         opr.at_month = st.t AND opr.received_month >= st.s WHERE opr.at_month IN ({at_months}){}",
        summarised.filter("opr.unit_id")
    );
    let settled_facts = format!(
        "SELECT sm.i AS i, pr.procedure_id AS procedure_id, {} AS received, {} AS paid_online, {} AS paid_any, {} AS \
         vneid FROM pr JOIN {months} ON pr.received_month = sm.m",
        before("first_settled"),
        before("first_paid_online"),
        before("first_paid_any"),
        before("first_vneid"),
    );
    let facts = if paired && opens.iter().all(one_month) {
        let either = |c: &str| format!("COALESCE(o.{c}, 0) | COALESCE(q.{c}, 0) AS {c}");
        format!(
            "o AS ({open_facts}), q AS ({settled_facts}), f AS (SELECT COALESCE(o.i, q.i) AS i, \
             COALESCE(o.procedure_id, q.procedure_id) AS procedure_id, COALESCE(o.received, q.received) AS received, \
             {}, {}, {} FROM o FULL JOIN q ON o.i = q.i AND o.procedure_id = q.procedure_id)",
            either("paid_online"),
            either("paid_any"),
            either("vneid"),
        )
    } else {
        format!(
            "facts AS ({open_facts} UNION ALL {settled_facts}), f AS (SELECT i, procedure_id, MAX(received) AS \
             received, MAX(paid_online) AS paid_online, MAX(paid_any) AS paid_any, MAX(vneid) AS vneid FROM facts \
             GROUP BY i, procedure_id)"
        )
    };
    let procedures = format!(
        "{}, {facts} SELECT f.i, {}, {}, {}, {}, {} FROM f JOIN procedure p ON p.id = f.procedure_id GROUP BY f.i",
        merged_procedures(first, last, summarised),
        count(fee.to_owned()),
        count(format!("{fee} AND f.paid_online = 1")),
        count(format!("{fee} AND f.paid_any = 1")),
        count(citizen.to_owned()),
        count(format!("{citizen} AND f.vneid = 1")),
    );
    Some(procedures)
}

/// Everything the windows' counts are made of, by window index, with one statement of each kind. The open
/// windows' procedure metrics, the costliest statement, are counted in two statements when there is a `side` (a
/// transaction with the same snapshot, see [`sibling`]): half the windows there while the other statements run on
/// `conn`, the other half on `conn` after them; without one, in one statement after them.
async fn gather(
    conn: &impl ConnectionTrait,
    side: Option<&DatabaseTransaction>,
    scope: &Scope,
    summarised: &Summarised<'_>,
    steps: &[Step],
) -> Result<HashMap<usize, Gathered>, DbErr> {
    let opens: Vec<&Step> = steps.iter().filter(|st| st.open).collect();
    let (mut by_step, procedures) = match side {
        // The open windows split in two: the first half's procedure metrics on `side`, the second's on `conn` after
        // the other statements, so that both connections work all along.
        Some(side) => {
            let (first, second) = opens.split_at(opens.len() / 2);
            let on_conn = async {
                let by_step = gather_others(conn, scope, summarised, steps).await?;
                Ok::<_, DbErr>((by_step, open_procedure_counts(conn, second, summarised).await?))
            };
            let ((by_step, mut rows), side_rows) =
                tokio::try_join!(on_conn, open_procedure_counts(side, first, summarised))?;
            rows.extend(side_rows);
            (by_step, rows)
        }
        None => (
            gather_others(conn, scope, summarised, steps).await?,
            open_procedure_counts(conn, &opens, summarised).await?,
        ),
    };
    for st in &opens {
        by_step.entry(st.index).or_default().procedure_counts = Some(Default::default());
    }
    for row in procedures {
        let (fee, paid_online, paid_any) = (get(&row, 1)?, get(&row, 2)?, get(&row, 3)?);
        let (citizen, vneid) = (get(&row, 4)?, get(&row, 5)?);
        by_step.entry(step_index(&row)?).or_default().procedure_counts = Some([
            Count { num: paid_online, den: fee },
            Count { num: paid_any, den: fee },
            Count { num: vneid, den: citizen },
        ]);
    }
    Ok(by_step)
}

/// The window index a statement of [`gather`] writes first in each row.
fn step_index(row: &sea_orm::QueryResult) -> Result<usize, DbErr> {
    Ok(usize::try_from(row.try_get_by_index::<i32>(0)?).unwrap_or_default())
}

/// The rows of [`open_procedures_sql`] for `opens`, read on `c` (none when no window is open).
async fn open_procedure_counts(
    c: &impl ConnectionTrait,
    opens: &[&Step],
    summarised: &Summarised<'_>,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    let backend = c.get_database_backend();
    match open_procedures_sql(backend, opens, summarised) {
        Some(sql) => c.query_all_raw(Statement::from_string(backend, sql)).await,
        None => Ok(Vec::new()),
    }
}

/// What [`gather`] gathers but the open windows' procedure metrics.
async fn gather_others(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    summarised: &Summarised<'_>,
    steps: &[Step],
) -> Result<HashMap<usize, Gathered>, DbErr> {
    let backend = conn.get_database_backend();
    let table = steps_table(steps.iter());
    let cut_of: HashMap<usize, Micros> = steps.iter().map(|s| (s.index, s.cut)).collect();
    let mut by_step: HashMap<usize, Gathered> = HashMap::new();
    let run = |sql: String| async move { conn.query_all_raw(Statement::from_string(backend, sql)).await };

    // The windows the open summaries answer: the dossiers received and not settled at their instant, a month start.
    let opens: Vec<&Step> = steps.iter().filter(|st| st.open).collect();
    if !opens.is_empty() {
        let open = steps_table(opens.iter().copied());
        // Only the month starts of these windows, and the groups in a window's period (as for `dossier_rollup`
        // below: a group outside it is in no metric's denominator).
        let at_months = opens.iter().map(|st| st.w.at.to_string()).collect::<Vec<_>>().join(", ");
        let sums = format!(
            "SELECT st.i, {} FROM open_rollup rl JOIN {open} ON rl.at_month = st.t AND \
             (rl.end_month >= st.s OR rl.received_month >= st.s) WHERE rl.at_month IN ({at_months}){} GROUP BY st.i",
            rollup_columns("st.s"),
            summarised.filter("rl.unit_id")
        );
        for row in run(sums).await? {
            by_step.entry(step_index(&row)?).or_default().sums.add_row(&row, 1)?;
        }
    }
    let rows: Vec<&Step> = steps.iter().filter(|st| !st.open).collect();
    if !rows.is_empty() {
        let table = steps_table(rows.iter().copied());
        let first_cut = rows.iter().map(|s| s.cut).min().unwrap_or_default();
        // The other windows: the dossiers not summarised before a window's cut, each paired with the windows it
        // belongs to: those whose own facts settled at or after the cut, then those whose receipts did (the two
        // never overlap). The pairs are formed first from three columns and materialised (so that no planner joins
        // the windows with every dossier row and drops the pairs only after evaluating them); the rules are then
        // evaluated once per pair.
        let own_rules = DossierRules::at("pairs.t", "pairs.s", Receipts::Columns);
        let own = format!(
            "WITH own_ids AS MATERIALIZED (SELECT id, received_at AS received, settled_at AS settled FROM dossier \
             WHERE settled_at >= {first_cut}{}), \
             pairs AS MATERIALIZED (SELECT st.i AS i, st.s AS s, st.t AS t, own_ids.id AS id FROM own_ids JOIN {table} \
             ON own_ids.received < st.t AND own_ids.settled >= st.c) \
             SELECT pairs.i, {PROCEDURE_FLAGS}, {} FROM pairs JOIN dossier d ON d.id = pairs.id JOIN procedure p ON \
             p.id = d.procedure_id LEFT JOIN dossier_paid dp ON dp.dossier_id = d.id WHERE {} GROUP BY pairs.i, p.id",
            unit_filter("unit_id", scope),
            dossier_columns(&own_rules),
            own_rules.received
        );
        // Few dossiers have receipts that settle after their own facts: they are paired with their windows first
        // (materialised, so that the planner cannot join the windows with every dossier instead), then read.
        let late = DossierRules::at("late.t", "late.s", Receipts::Columns);
        let paid_later = format!(
            "WITH late_ids AS MATERIALIZED (SELECT dp0.dossier_id AS id, d0.received_at AS received, d0.settled_at AS \
             own_settled, dp0.settled_at AS paid_settled FROM dossier_paid dp0 JOIN dossier d0 ON d0.id = dp0.dossier_id \
             WHERE dp0.settled_at >= {first_cut} AND dp0.settled_at > d0.settled_at{}), \
             late AS MATERIALIZED (SELECT st.i AS i, st.s AS s, st.t AS t, late_ids.id AS id FROM late_ids JOIN {table} \
             ON late_ids.received < st.t AND late_ids.own_settled < st.c AND late_ids.paid_settled >= st.c) \
             SELECT late.i, {PROCEDURE_FLAGS}, {} FROM late JOIN dossier d ON d.id = late.id JOIN dossier_paid dp ON \
             dp.dossier_id = d.id JOIN procedure p ON p.id = d.procedure_id WHERE {}{} GROUP BY late.i, p.id",
            unit_filter("dp0.unit_id", scope),
            dossier_columns(&late),
            late.received,
            unit_filter("d.unit_id", scope)
        );
        for rows in [own, paid_later] {
            for row in run(rows).await? {
                let g = by_step.entry(step_index(&row)?).or_default();
                add_dossier_row(&mut g.sums, &mut g.procedures, &row, 1)?;
            }
        }

        // The few dossiers with irregular receipts among those read row by row (the summaries count the others)
        // are found first (through their partial index), then paired with the windows.
        let r = DossierRules::at("st.t", "st.s", Receipts::Exact);
        let irregular = format!(
            "WITH irr AS MATERIALIZED (SELECT dossier_id AS id FROM dossier_paid WHERE irregular{}) \
             SELECT st.i, p.id, {} FROM irr JOIN dossier d ON d.id = irr.id JOIN procedure p ON p.id = d.procedure_id \
             JOIN dossier_paid dp ON dp.dossier_id = d.id JOIN {table} ON d.received_at >= st.s AND d.received_at < st.t \
             AND (d.settled_at >= st.c OR dp.settled_at >= st.c) WHERE {}{} GROUP BY st.i, p.id",
            unit_filter("unit_id", scope),
            irregular_columns(&r),
            r.received,
            unit_filter("d.unit_id", scope)
        );
        for row in run(irregular).await? {
            let g = by_step.entry(step_index(&row)?).or_default();
            add_irregular_row(&mut g.sums, &mut g.procedures, &row, 1)?;
        }
    }

    // The summary groups settled before a window's cut that lie in its period.
    // Only the groups settled before the last cut, and the procedures' months of receipt the windows span.
    let last_cut = steps.iter().map(|st| st.cut).max().unwrap_or_default();
    let groups = merged_rollup(
        "dossier_rollup",
        "received_month, end_month, settle_month, ended_with_result, fee_bearing, full_online, paper_result",
        &format!("settle_month < {last_cut}"),
        summarised,
    );
    let rollup = format!(
        "{groups} SELECT st.i, {} FROM rl JOIN {table} ON rl.settle_month < st.c AND \
         (rl.end_month >= st.s OR rl.received_month >= st.s) GROUP BY st.i",
        rollup_columns("st.s")
    );
    for row in run(rollup).await? {
        by_step.entry(step_index(&row)?).or_default().sums.add_row(&row, 1)?;
    }
    // The other windows' procedures from the settled summary: merged across units first, then paired with the
    // windows by month of receipt (an equality join).
    let rows: Vec<&Step> = steps.iter().filter(|st| !st.open).collect();
    if !rows.is_empty() {
        let first = rows.iter().map(|st| st.w.start).min().unwrap_or_default();
        let last = rows.iter().map(|st| st.cut).max().unwrap_or_default();
        let procedures = format!(
            "{} SELECT sm.i, {PROCEDURE_FLAGS}, {PROCEDURE_ROLLUP_COLUMNS} FROM pr JOIN procedure p ON \
             p.id = pr.procedure_id JOIN {} ON pr.received_month = sm.m GROUP BY sm.i, p.id",
            merged_procedures(first, last, summarised),
            steps_months_table(rows.iter().copied())
        );
        for row in run(procedures).await? {
            let i = step_index(&row)?;
            let cut = cut_of.get(&i).copied().unwrap_or_default();
            add_procedure_rollup_row(&mut by_step.entry(i).or_default().procedures, &row, 1, cut)?;
        }
    }

    let (in_scope, on_time, satisfied) = pakn_rules_at("st.t", "st.s");
    let pakn = format!(
        "SELECT st.i, {} FROM feedback f JOIN {table} ON {in_scope} WHERE 1 = 1{} GROUP BY st.i",
        pakn_columns(&on_time, &satisfied),
        unit_filter("f.unit_id", scope)
    );
    for row in run(pakn).await? {
        by_step.entry(step_index(&row)?).or_default().pakn = [get(&row, 1)?, get(&row, 2)?, get(&row, 3)?];
    }
    Ok(by_step)
}
