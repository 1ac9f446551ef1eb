//! The counts behind the Decision 766 indicators, computed by SQL aggregates over indexed columns (never by
//! loading dossiers into the process). The same SQL text runs on SQLite and PostgreSQL: instants are integers
//! and every bound is an integer written into the statement by this module (never text from a client).

mod breakdown;
mod drill;
pub(in crate::db) mod rules;
mod series;

pub use breakdown::*;
pub use drill::*;
pub use series::*;

use std::collections::HashMap;

use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, DbErr, IsolationLevel, QueryResult, Statement,
    TransactionSession, TransactionTrait,
};

use crate::domain::indicators::{Count, MetricKey, Window, transparency_deadlines};
use crate::domain::scope::{Scope, UnitTree};
use crate::domain::time::{Calendar, Micros, first_date_at_or_after, start_of};
use crate::domain::{ProcedureStatus, UnitLevel};

use rules::*;

/// The counts of all 19 metrics for one unit and window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub HashMap<MetricKeyId, Count>);

/// A metric key usable as a map key (the domain enum is `Hash`).
pub type MetricKeyId = MetricKey;

impl Counts {
    pub fn get(&self, k: MetricKey) -> Count {
        self.0.get(&k).copied().unwrap_or_default()
    }
}

fn get(row: &QueryResult, i: usize) -> Result<i64, DbErr> {
    // SUM gives BIGINT on PostgreSQL and INTEGER on SQLite; both read as i64.
    row.try_get_by_index::<Option<i64>>(i).map(|v| v.unwrap_or(0))
}

/// Counts every metric for `unit_code` in window `w`.
pub async fn counts(
    conn: &(impl ConnectionTrait + TransactionTrait),
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
) -> Result<Counts, DbErr> {
    counts_with(conn, tree, calendar, unit_code, w, true).await
}

/// [`counts`], reading every dossier row by row unless `summaries` (so that tests can compare both ways).
///
/// Its statements read one snapshot of the database, in one read-only transaction (repeatable read on
/// PostgreSQL; on SQLite every transaction reads one snapshot): a write that commits while they run, moving a
/// dossier between the rows read one by one and the summaries, is either wholly in the answer or not at all.
pub async fn counts_with(
    conn: &(impl ConnectionTrait + TransactionTrait),
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
    summaries: bool,
) -> Result<Counts, DbErr> {
    let txn = read_snapshot(conn).await?;
    let counts = counts_in(&txn, tree, calendar, unit_code, w, summaries).await?;
    txn.commit().await?;
    Ok(counts)
}

/// A read-only transaction that reads one snapshot of the database (repeatable read on PostgreSQL; on SQLite every
/// transaction reads one snapshot), for statements whose answers must agree with each other.
async fn read_snapshot<C: ConnectionTrait + TransactionTrait>(conn: &C) -> Result<C::Transaction, DbErr> {
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            conn.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await
        }
        _ => conn.begin().await,
    }
}

async fn counts_in(
    conn: &impl ConnectionTrait,
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
    summaries: bool,
) -> Result<Counts, DbErr> {
    let scope = tree.scope_at(unit_code, w.at);
    let reading = if summaries { Reading::of(conn, w).await? } else { Reading::Rows };
    let rows = match reading {
        Reading::Rows => Summarised::Units(&scope),
        _ => summarised(conn, tree, unit_code, w.at, &scope).await?,
    };
    let (sums, procedures) = dossier_aggregates(conn, w, &scope, &rows, reading).await?;
    let backend = conn.get_database_backend();
    let mut pakn = [0; 3];
    if let Some(row) = conn.query_one_raw(Statement::from_string(backend, pakn_sql(w, &scope))).await? {
        pakn = [get(&row, 0)?, get(&row, 1)?, get(&row, 2)?];
    }
    let announced = announced_procedures(conn, tree, unit_code, w.at).await?;
    let gathered = Gathered { sums, procedures, procedure_counts: None, pakn };
    Ok(assemble(&gathered, &announced, tree, calendar, unit_code, &scope, w))
}

/// What one window's counts are made of, as read from the database: the dossier sums, the procedures with
/// dossiers in the scope (or the procedure metrics already counted from them, in the order of
/// [`PROCEDURE_METRICS`]), and the PAKN in scope, on time and satisfied.
#[derive(Debug, Default)]
struct Gathered {
    sums: DossierSums,
    procedures: ProcedureFlags,
    procedure_counts: Option<[Count; 3]>,
    pakn: [i64; 3],
}

/// The metrics counted by procedure from the procedures with dossiers in the scope (see [`procedure_places`]).
const PROCEDURE_METRICS: [MetricKey; 3] =
    [MetricKey::ProceduresPaidOnline, MetricKey::ProceduresWithReceipts, MetricKey::VneidProcedures];

/// The counts of window `w` from what was gathered for it, the procedures of the unit's announcing authority and
/// the unit tree.
fn assemble(
    g: &Gathered,
    announced: &[Announced],
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    scope: &Scope,
    w: &Window,
) -> Counts {
    let mut c: HashMap<MetricKey, Count> = HashMap::new();
    let mut add = |k: MetricKey, num: i64, den: i64| {
        let e = c.entry(k).or_default();
        e.num += num;
        e.den += den;
    };
    // Every dossier metric but PROCEDURES_WITH_RECEIPTS, a procedure metric whose sums only tell which
    // procedures had a paid dossier (see `procedure_places`).
    for k in DOSSIER_METRICS.into_iter().filter(|&k| k != MetricKey::ProceduresWithReceipts) {
        let c = g.sums.get(k);
        add(k, c.num, c.den);
    }
    for (k, c) in PROCEDURE_METRICS.into_iter().zip(g.procedure_counts.unwrap_or_default()) {
        add(k, c.num, c.den);
    }
    let places = procedure_places(&g.procedures)
        .chain(transparency_places(announced, tree, calendar, unit_code, w))
        .chain(certified_copy_places(tree, scope, w));
    for (_, k, passing) in places {
        add(k, i64::from(passing), 1);
    }
    let [den, on_time, satisfied] = g.pakn;
    add(MetricKey::PaknOnTime, on_time, den);
    add(MetricKey::PaknSatisfaction, satisfied, den);
    Counts(c)
}

/// What the procedure metrics need of a procedure with dossiers in a scope.
#[derive(Debug, Clone, Copy, Default)]
struct ProcedureFacts {
    fee_bearing: bool,
    accepts_citizens: bool,
    /// A dossier received in the period.
    received: bool,
    /// One of those paid online, paid at all, with a VNeID-verified applicant.
    paid_online: bool,
    paid_any: bool,
    vneid: bool,
}

type ProcedureFlags = HashMap<i64, ProcedureFacts>;

/// One record's place in a metric counted by records other than dossiers and PAKN: (its id, the metric, whether
/// it is in the numerator); it is in the denominator.
type Place = (i64, MetricKey, bool);

/// The (denominator, numerator) sums of the dossier metrics, by metric.
#[derive(Debug, Default)]
struct DossierSums([Count; DOSSIER_METRICS.len()]);

impl DossierSums {
    /// Adds a row whose columns from `first` on are the (denominator, numerator) pairs of [`DOSSIER_METRICS`],
    /// in order, as [`dossier_sql`] and [`rollup_sql`] write them.
    fn add_row(&mut self, row: &QueryResult, first: usize) -> Result<(), DbErr> {
        for (i, c) in self.0.iter_mut().enumerate() {
            c.den += get(row, first + 2 * i)?;
            c.num += get(row, first + 2 * i + 1)?;
        }
        Ok(())
    }

    fn add(&mut self, other: &DossierSums) {
        for (c, o) in self.0.iter_mut().zip(&other.0) {
            c.num += o.num;
            c.den += o.den;
        }
    }

    fn add_numerator(&mut self, k: MetricKey, n: i64) {
        if let Some(i) = DOSSIER_METRICS.iter().position(|&m| m == k) {
            self.0[i].num += n;
        }
    }

    fn get(&self, k: MetricKey) -> Count {
        DOSSIER_METRICS.iter().position(|&m| m == k).map(|i| self.0[i]).unwrap_or_default()
    }
}

/// Adds a per-procedure aggregate row whose columns from `first` on are [`PROCEDURE_FLAGS`] and the
/// (denominator, numerator) pairs of [`DOSSIER_METRICS`]: to `sums`, and to the procedure's facts. Returns the
/// procedure's id and the row's sums.
fn add_dossier_row(
    sums: &mut DossierSums,
    procedures: &mut ProcedureFlags,
    row: &QueryResult,
    first: usize,
) -> Result<(i64, DossierSums), DbErr> {
    use MetricKey::*;
    let mut of_procedure = DossierSums::default();
    of_procedure.add_row(row, first + 3)?;
    let id = row.try_get_by_index::<i64>(first)?;
    let e = procedures.entry(id).or_default();
    e.fee_bearing |= get(row, first + 1)? > 0;
    e.accepts_citizens |= get(row, first + 2)? > 0;
    e.received |= of_procedure.get(DossierSync).den > 0;
    e.paid_online |= of_procedure.get(PaidOnlineDossiers).num > 0;
    e.paid_any |= of_procedure.get(ProceduresWithReceipts).num > 0;
    e.vneid |= of_procedure.get(VneidDossiers).num > 0;
    sums.add(&of_procedure);
    Ok((id, of_procedure))
}

/// Adds a row of [`irregular_sql`] whose columns from `first` on are the procedure and its dossiers paid online
/// and paid at all. Returns the procedure's id and those two counts.
fn add_irregular_row(
    sums: &mut DossierSums,
    procedures: &mut ProcedureFlags,
    row: &QueryResult,
    first: usize,
) -> Result<(i64, i64, i64), DbErr> {
    use MetricKey::*;
    let (id, online, any) = (row.try_get_by_index::<i64>(first)?, get(row, first + 1)?, get(row, first + 2)?);
    sums.add_numerator(PaidOnlineDossiers, online);
    sums.add_numerator(ProceduresWithReceipts, any);
    let e = procedures.entry(id).or_default();
    e.paid_online |= online > 0;
    e.paid_any |= any > 0;
    Ok((id, online, any))
}

/// Adds a row of [`procedure_rollup_sql`] whose columns from `first` on are [`PROCEDURE_FLAGS`] and the first
/// months, counting what settled before `cut`.
fn add_procedure_rollup_row(
    procedures: &mut ProcedureFlags,
    row: &QueryResult,
    first: usize,
    cut: Micros,
) -> Result<(), DbErr> {
    let e = procedures.entry(row.try_get_by_index::<i64>(first)?).or_default();
    e.fee_bearing |= get(row, first + 1)? > 0;
    e.accepts_citizens |= get(row, first + 2)? > 0;
    let before_cut = |i: usize| -> Result<bool, DbErr> {
        Ok(row.try_get_by_index::<Option<i64>>(first + i)?.is_some_and(|m| m < cut))
    };
    e.received |= before_cut(3)?;
    e.paid_online |= before_cut(4)?;
    e.paid_any |= before_cut(5)?;
    e.vneid |= before_cut(6)?;
    Ok(())
}

/// Adds a row of [`open_procedure_sql`] whose columns from `first` on are [`PROCEDURE_FLAGS`] and
/// [`OPEN_PROCEDURE_COLUMNS`]: a procedure with a dossier received in the period.
fn add_open_procedure_row(
    procedures: &mut ProcedureFlags,
    row: &QueryResult,
    first: usize,
) -> Result<(), DbErr> {
    let e = procedures.entry(row.try_get_by_index::<i64>(first)?).or_default();
    e.fee_bearing |= get(row, first + 1)? > 0;
    e.accepts_citizens |= get(row, first + 2)? > 0;
    e.received = true;
    e.paid_online |= get(row, first + 3)? > 0;
    e.paid_any |= get(row, first + 4)? > 0;
    e.vneid |= get(row, first + 5)? > 0;
    Ok(())
}

/// How a window's dossiers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Every dossier row by row.
    Rows,
    /// The dossiers settled before the cut from `dossier_rollup`, the others row by row.
    Settled(Micros),
    /// Every dossier from the summaries: those settled before the cut (the window's own instant, a month start)
    /// from `dossier_rollup`, the others from the open summaries of that month start.
    Summaries(Micros),
}

impl Reading {
    /// The fastest reading that answers window `w`, in the snapshot `conn` reads (the open summaries' horizon is
    /// read in it).
    async fn of(conn: &impl ConnectionTrait, w: &Window) -> Result<Self, DbErr> {
        let Some(cut) = summary_cut(w) else { return Ok(Reading::Rows) };
        if cut == w.at && open_answers(w, cut, crate::db::rollup::horizon(conn, "").await?) {
            Ok(Reading::Summaries(cut))
        } else {
            Ok(Reading::Settled(cut))
        }
    }
}

/// The dossier metrics, as the sums of `dossier_sql`'s (denominator, numerator) pairs over the dossiers read as
/// `reading` says, and the [`ProcedureFacts`] of the scope.
async fn dossier_aggregates(
    conn: &impl ConnectionTrait,
    w: &Window,
    scope: &Scope,
    summarised: &Summarised<'_>,
    reading: Reading,
) -> Result<(DossierSums, ProcedureFlags), DbErr> {
    let backend = conn.get_database_backend();
    let mut sums = DossierSums::default();
    let mut procedures = ProcedureFlags::new();
    let (cut, rows) = match reading {
        Reading::Rows => (None, Some(dossier_sql(w, scope, None))),
        Reading::Settled(cut) => (Some(cut), Some(dossier_sql(w, scope, Some(cut)))),
        Reading::Summaries(cut) => (Some(cut), None),
    };
    if let Some(sql) = rows {
        for row in conn.query_all_raw(Statement::from_string(backend, sql)).await? {
            add_dossier_row(&mut sums, &mut procedures, &row, 0)?;
        }
    }
    if let Reading::Summaries(_) = reading {
        if let Some(row) =
            conn.query_one_raw(Statement::from_string(backend, open_rollup_sql(w, summarised))).await?
        {
            sums.add_row(&row, 0)?;
        }
        for row in
            conn.query_all_raw(Statement::from_string(backend, open_procedure_sql(w, summarised))).await?
        {
            add_open_procedure_row(&mut procedures, &row, 0)?;
        }
    }
    // Paid online and paid at all, of the dossiers with irregular receipts read row by row (none when the
    // summaries answer the whole window).
    if let Reading::Rows | Reading::Settled(_) = reading {
        for row in conn.query_all_raw(Statement::from_string(backend, irregular_sql(w, scope, cut))).await? {
            add_irregular_row(&mut sums, &mut procedures, &row, 0)?;
        }
    }
    if let Some(cut) = cut {
        if let Some(row) =
            conn.query_one_raw(Statement::from_string(backend, rollup_sql(w, summarised, cut))).await?
        {
            sums.add_row(&row, 0)?;
        }
        for row in conn
            .query_all_raw(Statement::from_string(backend, procedure_rollup_sql(w, summarised, cut)))
            .await?
        {
            add_procedure_rollup_row(&mut procedures, &row, 0, cut)?;
        }
    }
    Ok((sums, procedures))
}

/// How the summaries answer for `scope`, the scope of `unit_code` at `t`, in the snapshot `conn` reads: through the
/// unit's summary group when it has one whose units are the scope's (as stored, counted) and nothing has made its
/// merged rows out of date; otherwise through the scope's units' own rows.
async fn summarised<'a>(
    conn: &impl ConnectionTrait,
    tree: &UnitTree,
    unit_code: &str,
    t: Micros,
    scope: &'a Scope,
) -> Result<Summarised<'a>, DbErr> {
    let Some((group, units)) = tree.summary_group_at(unit_code, t) else {
        return Ok(Summarised::Units(scope));
    };
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM summary_group WHERE group_id = {group}), \
         (SELECT COUNT(*) FROM summary_stale WHERE group_id = {group})"
    );
    let row = conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql)).await?;
    let stored = match row {
        Some(r) => (get(&r, 0)?, get(&r, 1)?),
        None => (0, 1),
    };
    Ok(if stored == (units as i64, 0) { Summarised::Group(group) } else { Summarised::Units(scope) })
}

/// The places of the procedures with dossiers in the scope in the procedure metrics.
fn procedure_places(procedures: &ProcedureFlags) -> impl Iterator<Item = Place> + '_ {
    procedures.iter().flat_map(|(&id, p)| {
        let fee = p.fee_bearing && p.received;
        let citizen = p.accepts_citizens && p.received;
        [
            fee.then_some((id, MetricKey::ProceduresPaidOnline, p.paid_online)),
            fee.then_some((id, MetricKey::ProceduresWithReceipts, p.paid_any)),
            citizen.then_some((id, MetricKey::VneidProcedures, p.vneid)),
        ]
        .into_iter()
        .flatten()
    })
}

/// The places of the communes of the scope valid at T in ELECTRONIC_CERTIFIED_COPY.
fn certified_copy_places<'a>(
    tree: &'a UnitTree,
    scope: &'a Scope,
    w: &Window,
) -> impl Iterator<Item = Place> + 'a {
    let t = w.at;
    tree.all()
        .iter()
        .filter(move |u| u.level == UnitLevel::Commune && scope.contains(u.id) && u.valid_at(t))
        .map(|u| (u.id, MetricKey::ElectronicCertifiedCopy, u.offers_e_certified_copy))
}

/// A procedure announced by an authority, as the transparency metrics read it.
#[derive(Debug, Clone)]
struct Announced {
    id: i64,
    authority_id: i64,
    legal: Option<chrono::NaiveDate>,
    announced: Option<chrono::NaiveDate>,
    published: Option<chrono::NaiveDate>,
    status: ProcedureStatus,
    content_full: bool,
}

/// The procedures announced by the nearest province or ministry at or above the unit, within that authority's
/// scope at `t` (a scope only grows with time, so this holds those of every earlier instant too).
async fn announced_procedures(
    conn: &impl ConnectionTrait,
    tree: &UnitTree,
    unit_code: &str,
    t: Micros,
) -> Result<Vec<Announced>, DbErr> {
    let Some(authority) = tree.authority_of(unit_code) else { return Ok(Vec::new()) };
    let auth_scope = tree.scope_at(&authority.code, t);
    let sql = format!(
        "SELECT p.id, p.authority_id, p.legal_effective_on, p.announced_on, p.published_on, p.status, \
         p.content_full FROM procedure p WHERE 1 = 1{}",
        unit_filter("p.authority_id", &auth_scope)
    );
    let mut out = Vec::new();
    for row in conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql)).await? {
        out.push(Announced {
            id: row.try_get_by_index(0)?,
            authority_id: row.try_get_by_index(1)?,
            legal: row.try_get_by_index(2)?,
            announced: row.try_get_by_index(3)?,
            published: row.try_get_by_index(4)?,
            status: row.try_get_by_index(5)?,
            content_full: row.try_get_by_index(6)?,
        });
    }
    Ok(out)
}

/// The places in the transparency metrics of the procedures announced by the nearest province or ministry at or
/// above the unit (those of `announced` within the authority's scope at T).
fn transparency_places(
    announced: &[Announced],
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
) -> Vec<Place> {
    let Some(authority) = tree.authority_of(unit_code) else { return Vec::new() };
    let auth_scope = tree.scope_of(&authority.code, w.at);
    let first_day = first_date_at_or_after(w.start);
    let before_t = first_date_at_or_after(w.at);
    let mut places = Vec::new();
    for p in announced.iter().filter(|p| auth_scope.scope.contains(p.authority_id)) {
        let (n, m) = transparency_deadlines(tree.by_id(p.authority_id).map(|u| u.level));
        let published_before_t = p.published.is_some_and(|d| start_of(d) < w.at);
        if let Some(a) = p.announced.filter(|a| *a >= first_day && *a < before_t) {
            let publish_ok = p.legal.is_some_and(|l| a <= calendar.add_working_days(l, -n));
            places.push((p.id, MetricKey::PublishOnTime, publish_ok));
            let update_ok =
                published_before_t && p.published.is_some_and(|d| d <= calendar.add_working_days(a, m));
            places.push((p.id, MetricKey::PublicUpdateOnTime, update_ok));
        }
        if p.status == ProcedureStatus::Published && published_before_t {
            places.push((p.id, MetricKey::PublicContentFull, p.content_full));
        }
    }
    places
}
