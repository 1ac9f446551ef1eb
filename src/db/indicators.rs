//! The counts behind the Decision 766 indicators, computed by SQL aggregates over indexed columns (never by
//! loading dossiers into the process). The same SQL text runs on SQLite and PostgreSQL: instants are integers
//! and every bound is an integer written into the statement by this module (never text from a client).

use std::collections::HashMap;

use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, DbErr, IsolationLevel, QueryResult, Statement,
    TransactionSession, TransactionTrait,
};

use crate::domain::indicators::{Count, MetricKey};
use crate::domain::scope::{Scope, UnitTree};
use crate::domain::time::{Calendar, Micros, first_date_at_or_after, month_of, start_of};
use crate::domain::{PaymentChannel, ProcedureStatus, UnitLevel};

/// The instants of one evaluation: the period `[s, e)` and the evaluation instant `t = min(e, asOf)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub s: Micros,
    pub e: Micros,
    pub t: Micros,
    /// Evaluated now (no `asOf` and the period not over): an answer computed earlier in the same minute, with
    /// no write since, serves. Otherwise `t` is exact.
    pub live: bool,
}

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

fn unit_filter(column: &str, scope: &Scope) -> String {
    if scope.whole_tree {
        String::new()
    } else if scope.ids.is_empty() {
        " AND 1 = 0".to_owned()
    } else {
        let list = scope.sorted_ids().iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        format!(" AND {column} IN ({list})")
    }
}

/// The dossier rules of docs/indicators.md as SQL conditions on `dossier d JOIN procedure p`, evaluated at T.
/// The aggregate and the drill-down lists use the same text, so a list always holds what a count counted.
struct DossierRules {
    /// Received by T: the base condition of every dossier metric.
    received: String,
    in_scope: String,
    on_time: String,
    no_negative: String,
    rip: String,
    synced: String,
    full: &'static str,
    online: &'static str,
    fee: &'static str,
    paid_online: String,
    paid_any: String,
    er: String,
    /// Processing ended by RESOLVED or RETURNED (the ends ELECTRONIC_RESULT counts), and that end.
    er_kind: String,
    end_event: String,
}

/// The per-dossier facts the numerators read besides the rules above.
const RESULT_ELECTRONIC: &str = "d.result_electronic";
const DIGITIZED: &str = "d.inputs_digitized";
const REUSED: &str = "d.reused_data";
const SHARED: &str = "(d.from_citizen_storage OR d.result_to_citizen_storage)";
const VNEID: &str = "d.vneid_verified";

/// The dossier metrics of the per-procedure aggregates, in the order of their columns.
const DOSSIER_METRICS: [MetricKey; 11] = [
    MetricKey::OnTimeProcessing,
    MetricKey::DossierSatisfaction,
    MetricKey::DossierSync,
    MetricKey::FullOnlineDossiers,
    MetricKey::PaidOnlineDossiers,
    MetricKey::ProceduresWithReceipts,
    MetricKey::ElectronicResult,
    MetricKey::DigitizedDossiers,
    MetricKey::ReusedDigitizedData,
    MetricKey::SharedToCitizenStorage,
    MetricKey::VneidDossiers,
];

/// How the rules read whether a dossier was paid at T.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receipts {
    /// Exactly, for every dossier.
    Exact,
    /// From `dossier_paid` only: a dossier with irregular receipts counts as unpaid, and
    /// [`irregular_sql`] adds it back. This keeps the main aggregate free of subqueries, so that PostgreSQL can run
    /// it in parallel.
    Columns,
}

impl DossierRules {
    fn new(w: &Window, receipts: Receipts) -> Self {
        let (t, s) = (w.t, w.s);
        let ended_res = format!("(d.resolved_at IS NOT NULL AND d.resolved_at <= {t})");
        let ended_other = format!("(d.other_end_at IS NOT NULL AND d.other_end_at <= {t})");
        let end_event =
            format!("(CASE WHEN {ended_res} THEN d.resolved_at WHEN {ended_other} THEN d.other_end_at END)");
        let two_sup = format!(
            "(d.second_supplement_requested_at IS NOT NULL AND d.second_supplement_requested_at <= {t})"
        );
        let one_sup = format!(
            "(d.first_supplement_requested_at IS NOT NULL AND d.first_supplement_requested_at <= {t})"
        );
        let answered =
            format!("(d.first_supplement_received_at IS NOT NULL AND d.first_supplement_received_at <= {t})");
        // One unanswered request and no end: the request time is the end, for every rule.
        let end_t = format!(
            "COALESCE({end_event}, CASE WHEN {one_sup} AND NOT {two_sup} AND NOT {answered} THEN d.first_supplement_requested_at END)"
        );
        // One answered request pauses the clock; two or more make the dossier late whatever its dates.
        let paused = format!(
            "(CASE WHEN {one_sup} AND NOT {two_sup} AND {answered} THEN d.first_supplement_received_at - d.first_supplement_requested_at ELSE 0 END)"
        );
        // A receipt counts at T when issued at or before T and not cancelled at or before T. `dossier_paid dp`
        // holds the one interval over which a dossier's receipts count; a dossier whose receipts count over
        // several (`irregular`) is read from the receipts themselves.
        let online_channels = format!(
            " AND r.payment_channel IN ({})",
            PaymentChannel::ALL
                .iter()
                .filter(|c| c.is_online())
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let receipt = |online: bool| {
            let (from, to, channel) = if online {
                ("dp.paid_online_from", "dp.paid_online_to", online_channels.as_str())
            } else {
                ("dp.paid_from", "dp.paid_to", "")
            };
            let columns = format!("({from} IS NOT NULL AND {from} <= {t} AND ({to} IS NULL OR {to} > {t}))");
            match receipts {
                Receipts::Columns => columns,
                Receipts::Exact => format!(
                    "(CASE WHEN dp.irregular THEN EXISTS (SELECT 1 FROM receipt r WHERE r.dossier_id = d.id \
                     AND r.issued_at <= {t} AND (r.cancelled_at IS NULL OR r.cancelled_at > {t}){channel}) ELSE {columns} END)"
                ),
            }
        };
        let er_kind = format!("({ended_res} OR d.other_end_status = 'RETURNED')");
        DossierRules {
            received: format!(
                "d.received_at < {t} AND (d.not_accepted_at IS NULL OR d.not_accepted_at > {t})"
            ),
            on_time: format!("(NOT {two_sup} AND COALESCE({end_t}, {t}) - {paused} <= d.due_at)"),
            in_scope: format!("({end_t} IS NULL OR {end_t} >= {s})"),
            rip: format!("(d.received_at >= {s})"),
            no_negative: format!("(d.negative_feedback_at IS NULL OR d.negative_feedback_at > {t})"),
            synced: format!("(d.synced_at IS NOT NULL AND d.synced_at <= {t})"),
            full: "(p.online_level = 'FULL')",
            online: "(d.channel = 'ONLINE')",
            fee: "(p.fee > 0)",
            paid_online: receipt(true),
            paid_any: receipt(false),
            er: format!(
                "({end_event} IS NOT NULL AND {end_event} >= {s} AND {end_event} < {t} AND {er_kind} AND p.returns_paper_result)"
            ),
            er_kind,
            end_event,
        }
    }

    /// The denominator and numerator conditions of a dossier metric (for procedure metrics, the dossiers that
    /// put a procedure in the denominator and in the numerator); `None` for metrics that do not count dossiers.
    fn metric(&self, k: MetricKey) -> Option<(String, String)> {
        let DossierRules {
            in_scope,
            on_time,
            no_negative,
            rip,
            synced,
            full,
            online,
            fee,
            paid_online,
            paid_any,
            er,
            ..
        } = self;
        use MetricKey::*;
        Some(match k {
            OnTimeProcessing => (in_scope.clone(), on_time.clone()),
            DossierSatisfaction => (in_scope.clone(), format!("{on_time} AND {no_negative}")),
            DossierSync => (rip.clone(), synced.clone()),
            FullOnlineDossiers => (format!("{rip} AND {full}"), online.to_string()),
            PaidOnlineDossiers | ProceduresPaidOnline => (format!("{rip} AND {fee}"), paid_online.clone()),
            ProceduresWithReceipts => (format!("{rip} AND {fee}"), paid_any.clone()),
            ElectronicResult => (er.clone(), RESULT_ELECTRONIC.into()),
            DigitizedDossiers => (
                rip.clone(),
                format!("({DIGITIZED} AND (NOT p.returns_paper_result OR {RESULT_ELECTRONIC}))"),
            ),
            ReusedDigitizedData => (rip.clone(), REUSED.into()),
            SharedToCitizenStorage => (rip.clone(), SHARED.into()),
            VneidDossiers => (rip.clone(), VNEID.into()),
            VneidProcedures => (format!("{rip} AND p.accepts_citizens"), VNEID.into()),
            PublishOnTime
            | PublicUpdateOnTime
            | PublicContentFull
            | ElectronicCertifiedCopy
            | PaknOnTime
            | PaknSatisfaction => return None,
        })
    }
}

/// The first two columns of a per-procedure aggregate: whether the procedure is fee-bearing and accepts citizens.
const PROCEDURE_FLAGS: &str = "p.id, CAST(MAX(CASE WHEN p.fee > 0 THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(MAX(CASE WHEN p.accepts_citizens THEN 1 ELSE 0 END) AS BIGINT)";

/// The per-procedure dossier aggregate (docs/indicators.md, "Dossiers"), over every dossier of the scope or,
/// with `cut`, over those not summarised in `dossier_rollup` before it (see [`summary_cut`]).
fn dossier_sql(w: &Window, scope: &Scope, cut: Option<Micros>) -> String {
    let r = DossierRules::new(w, Receipts::Columns);
    let n = |cond: String| format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let mut cols = Vec::new();
    for (den, num) in DOSSIER_METRICS.iter().filter_map(|&k| r.metric(k)) {
        cols.push(n(den.clone()));
        cols.push(n(format!("{den} AND {num}")));
    }
    format!(
        "SELECT {PROCEDURE_FLAGS}, {} FROM {} WHERE {}{} GROUP BY p.id",
        cols.join(", "),
        dossier_from(scope, cut),
        r.received,
        unit_filter("d.unit_id", scope)
    )
}

/// The evaluation instant up to which `dossier_rollup` answers for window `w`: the start of T's month, when the
/// period starts on a month boundary (every year, quarter and month does). A summary group settled before it
/// has every dated fact before T, and its months tell whether it lies in the period; the dossiers settled at
/// or after it are read row by row. `None` for other periods: every dossier is read row by row.
fn summary_cut(w: &Window) -> Option<Micros> {
    (month_of(w.s) == w.s).then(|| month_of(w.t))
}

/// The summarised part of [`dossier_sql`]'s sums (one row, without the procedure columns), from the groups of
/// `dossier_rollup` settled before `cut`.
fn rollup_sql(w: &Window, scope: &Scope, cut: Micros) -> String {
    let s = w.s;
    let in_scope = format!("rl.end_month >= {s}");
    let rip = format!("rl.received_month >= {s}");
    let mut cols = Vec::new();
    for k in DOSSIER_METRICS {
        use MetricKey::*;
        let (den, num): (String, &str) = match k {
            OnTimeProcessing => (in_scope.clone(), "rl.on_time"),
            DossierSatisfaction => (in_scope.clone(), "rl.satisfied"),
            DossierSync => (rip.clone(), "rl.synced"),
            FullOnlineDossiers => (format!("{rip} AND rl.full_online = 1"), "rl.online"),
            PaidOnlineDossiers => (format!("{rip} AND rl.fee = 1"), "rl.paid_online"),
            ProceduresWithReceipts => (format!("{rip} AND rl.fee = 1"), "rl.paid_any"),
            ElectronicResult => {
                (format!("{in_scope} AND rl.er_kind = 1 AND rl.paper = 1"), "rl.result_electronic")
            }
            DigitizedDossiers => {
                (rip.clone(), "CASE WHEN rl.paper = 1 THEN rl.digitized_electronic ELSE rl.digitized END")
            }
            ReusedDigitizedData => (rip.clone(), "rl.reused"),
            SharedToCitizenStorage => (rip.clone(), "rl.shared"),
            // VNEID_DOSSIERS, the last of DOSSIER_METRICS.
            _ => (rip.clone(), "rl.vneid"),
        };
        // SUM of BIGINT is NUMERIC on PostgreSQL.
        cols.push(format!("CAST(COALESCE(SUM(CASE WHEN {den} THEN rl.n ELSE 0 END), 0) AS BIGINT)"));
        cols.push(format!("CAST(COALESCE(SUM(CASE WHEN {den} THEN {num} ELSE 0 END), 0) AS BIGINT)"));
    }
    format!(
        "SELECT {} FROM dossier_rollup rl WHERE rl.settle_month < {cut}{}",
        cols.join(", "),
        unit_filter("rl.unit_id", scope)
    )
}

/// The summarised part of the procedure metrics: by procedure with settled dossiers received in the period, its
/// flags as in [`dossier_sql`] and the first months in which one of them settled, one paid online, one paid
/// and one with a VNeID-verified applicant.
fn procedure_rollup_sql(w: &Window, scope: &Scope) -> String {
    format!(
        "SELECT {PROCEDURE_FLAGS}, MIN(pr.first_settled), MIN(pr.first_paid_online), MIN(pr.first_paid_any), \
         MIN(pr.first_vneid) FROM procedure_rollup pr JOIN procedure p ON p.id = pr.procedure_id \
         WHERE pr.received_month >= {}{} GROUP BY p.id",
        w.s,
        unit_filter("pr.unit_id", scope)
    )
}

/// The statements that summarise the settled dossiers selected by `filter` (a condition on `dossier d`) into
/// `dossier_rollup` and `procedure_rollup`. Their facts are evaluated by the rules of [`DossierRules`] at
/// `SUMMARY_TO`, after every instant of a settled dossier, which is what they are at any instant after it
/// settled.
pub(super) fn rollup_insert_sql(backend: DbBackend, filter: &str) -> [String; 2] {
    use migration::{NEVER, SUMMARY_TO, day_sql};
    let r = DossierRules::new(&Window { s: 0, e: SUMMARY_TO, t: SUMMARY_TO, live: false }, Receipts::Columns);
    // The months of receipt, end and settling, by equality joins on the day (hash joins on PostgreSQL).
    let month = |alias: &str| format!("{alias}.month_start");
    let settled = if backend == DbBackend::Postgres {
        "GREATEST(d.settled_at, COALESCE(dp.settled_at, 0))"
    } else {
        "MAX(d.settled_at, COALESCE(dp.settled_at, 0))"
    };
    let flag = |cond: &str| format!("CASE WHEN {cond} THEN 1 ELSE 0 END");
    let keys = [
        ("rm", month("rd")),
        ("em", month("ed")),
        ("sm", month("sd")),
        ("er", flag(&r.er_kind)),
        ("fee", flag(r.fee)),
        ("full_online", flag(r.full)),
        ("paper", flag("p.returns_paper_result")),
    ];
    let facts = [
        ("on_time", r.on_time.clone()),
        ("satisfied", format!("{} AND {}", r.on_time, r.no_negative)),
        ("synced", r.synced.clone()),
        ("online", r.online.to_owned()),
        ("paid_online", r.paid_online.clone()),
        ("paid_any", r.paid_any.clone()),
        ("result_electronic", RESULT_ELECTRONIC.to_owned()),
        ("digitized", DIGITIZED.to_owned()),
        ("digitized_electronic", format!("{DIGITIZED} AND {RESULT_ELECTRONIC}")),
        ("reused", REUSED.to_owned()),
        ("shared", SHARED.to_owned()),
        ("vneid", VNEID.to_owned()),
    ];
    let columns = keys
        .iter()
        .map(|(n, e)| format!("{e} AS {n}"))
        .chain(facts.iter().map(|(n, c)| format!("{} AS {n}", flag(c))))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = format!(
        "(SELECT d.unit_id, d.procedure_id, {columns} FROM dossier d JOIN procedure p ON p.id = d.procedure_id \
         LEFT JOIN dossier_paid dp ON dp.dossier_id = d.id JOIN calendar_day rd ON rd.day = {} \
         JOIN calendar_day ed ON ed.day = {} JOIN calendar_day sd ON sd.day = {} WHERE {filter} AND d.settled_at < {NEVER} \
         AND d.not_accepted_at IS NULL AND (dp.settled_at IS NULL OR dp.settled_at < {NEVER})) x",
        day_sql("d.received_at"),
        day_sql(&r.end_event),
        day_sql(settled),
    );
    let key_names = keys.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let names = facts.iter().map(|(n, _)| *n).collect::<Vec<_>>();
    let sums = names.iter().map(|n| format!("SUM({n})")).collect::<Vec<_>>().join(", ");
    let first = |n: &str| format!("MIN(CASE WHEN {n} = 1 THEN sm END)");
    [
        format!(
            "INSERT INTO dossier_rollup (unit_id, received_month, end_month, settle_month, er_kind, fee, full_online, \
             paper, n, {}) SELECT unit_id, {key_names}, COUNT(*), {sums} FROM {rows} GROUP BY unit_id, {key_names}",
            names.join(", ")
        ),
        format!(
            "INSERT INTO procedure_rollup (unit_id, procedure_id, received_month, first_settled, first_paid_online, \
             first_paid_any, first_vneid) SELECT unit_id, procedure_id, rm, MIN(sm), {}, {}, {} FROM {rows} \
             GROUP BY unit_id, procedure_id, rm",
            first("paid_online"),
            first("paid_any"),
            first("vneid")
        ),
    ]
}

/// The paid counts (online, any) of the dossiers with irregular receipts, by procedure: what the main
/// aggregate, reading receipt columns only, left out.
fn irregular_sql(w: &Window, scope: &Scope) -> String {
    let r = DossierRules::new(w, Receipts::Exact);
    let base = format!("{} AND {}", r.rip, r.fee);
    format!(
        "SELECT p.id, SUM(CASE WHEN {base} AND {} THEN 1 ELSE 0 END), SUM(CASE WHEN {base} AND {} THEN 1 ELSE 0 END) \
         FROM {} WHERE dp.irregular AND {}{} GROUP BY p.id",
        r.paid_online,
        r.paid_any,
        dossier_from(scope, None),
        r.received,
        unit_filter("d.unit_id", scope)
    )
}

/// The rows the dossier rules read: `dossier d` (all of the scope, or with `cut` those not summarised before it),
/// its `procedure p` and, when it has receipts, its `dossier_paid dp`.
fn dossier_from(scope: &Scope, cut: Option<Micros>) -> String {
    let dossiers = match cut {
        None => "dossier d".to_owned(),
        // The dossiers not summarised before the cut, found through the `settled_at` indexes: those settled at or
        // after it by their own columns, read once from the heap, and those settled before it whose receipts
        // settled at or after it.
        Some(c) => format!(
            "(SELECT * FROM dossier WHERE settled_at >= {c}{} UNION ALL SELECT d0.* FROM dossier_paid dp0 \
             JOIN dossier d0 ON d0.id = dp0.dossier_id WHERE dp0.settled_at >= {c} AND d0.settled_at < {c}{}) d",
            unit_filter("unit_id", scope),
            unit_filter("dp0.unit_id", scope)
        ),
    };
    // Over a whole scope, the receipts row is read only within it, so that the join hashes only the scope's rows;
    // for the few dossiers not summarised, it is looked up by key.
    let paid_filter = if cut.is_none() { unit_filter("dp.unit_id", scope) } else { String::new() };
    format!(
        "{dossiers} JOIN procedure p ON p.id = d.procedure_id LEFT JOIN dossier_paid dp ON dp.dossier_id = d.id{paid_filter}"
    )
}

/// The PAKN rules as SQL conditions over `feedback f`, evaluated at T: (in scope, on time, satisfied).
fn pakn_rules(w: &Window) -> (String, String, String) {
    let (t, s) = (w.t, w.s);
    let in_scope = format!(
        "f.{} AND f.received_at < {t} AND (f.answered_at IS NULL OR f.answered_at > {t} OR f.answered_at >= {s})",
        migration::PAKN_KINDS
    );
    let on_time = format!(
        "((f.answered_at IS NOT NULL AND f.answered_at <= {t} AND f.answered_at <= f.due_at) OR \
         ((f.answered_at IS NULL OR f.answered_at > {t}) AND {t} <= f.due_at))"
    );
    let satisfied = format!(
        "({on_time} AND f.dislikes <= f.likes AND NOT EXISTS (SELECT 1 FROM feedback f2 WHERE f2.repeat_of_id = f.id AND f2.received_at <= {t}))"
    );
    (in_scope, on_time, satisfied)
}

fn pakn_sql(w: &Window, scope: &Scope) -> String {
    let (in_scope, on_time, satisfied) = pakn_rules(w);
    format!(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN {on_time} THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN {satisfied} THEN 1 ELSE 0 END), 0) FROM feedback f WHERE {in_scope}{}",
        unit_filter("f.unit_id", scope)
    )
}

/// Which records of a metric a drill-down lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// In the denominator, not in the numerator: where the points go.
    Failing,
    /// In the numerator.
    Passing,
    /// The whole denominator.
    All,
}

/// One page of a drill-down list: the records behind `metric` with this `outcome`, newest first.
#[derive(Debug, Clone, Copy)]
pub struct DrillQuery {
    pub metric: MetricKey,
    pub outcome: Outcome,
    /// Only records of procedures of this sector (PAKN: about a dossier of such a procedure).
    pub sector_id: Option<i64>,
    /// Only records of this procedure (PAKN: about a dossier of this procedure).
    pub procedure_id: Option<i64>,
    pub first: u64,
    /// Only ids below this cursor.
    pub after: Option<i64>,
}

/// Why a drill-down was refused.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("{0:?} does not count dossiers")]
    NotDossierMetric(MetricKey),
    #[error("{0:?} does not count PAKN")]
    NotPaknMetric(MetricKey),
    #[error("{0:?} does not count procedures")]
    NotProcedureMetric(MetricKey),
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn outcome_condition(outcome: Outcome, num: &str) -> String {
    match outcome {
        Outcome::Failing => format!(" AND NOT ({num})"),
        Outcome::Passing => format!(" AND ({num})"),
        Outcome::All => String::new(),
    }
}

/// Ids of the dossiers behind a dossier metric, `first + 1` at most (the caller pages).
pub async fn drill_dossiers(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    w: &Window,
    q: &DrillQuery,
) -> Result<Vec<i64>, DrillError> {
    let r = DossierRules::new(w, Receipts::Exact);
    let (den, num) = r.metric(q.metric).ok_or(DrillError::NotDossierMetric(q.metric))?;
    let mut sql = format!(
        "SELECT d.id FROM {} WHERE {} AND {den}{}{}",
        dossier_from(scope, None),
        r.received,
        outcome_condition(q.outcome, &num),
        unit_filter("d.unit_id", scope)
    );
    push_procedure_filters(&mut sql, q);
    page_ids(conn, sql, "d.id", q).await
}

/// Ids of the PAKN behind PAKN_ON_TIME or PAKN_SATISFACTION, `first + 1` at most.
pub async fn drill_pakn(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    w: &Window,
    q: &DrillQuery,
) -> Result<Vec<i64>, DrillError> {
    let (in_scope, on_time, satisfied) = pakn_rules(w);
    let num = match q.metric {
        MetricKey::PaknOnTime => on_time,
        MetricKey::PaknSatisfaction => satisfied,
        other => return Err(DrillError::NotPaknMetric(other)),
    };
    let mut sql = format!(
        "SELECT f.id FROM feedback f WHERE {in_scope}{}{}",
        outcome_condition(q.outcome, &num),
        unit_filter("f.unit_id", scope)
    );
    if q.sector_id.is_some() || q.procedure_id.is_some() {
        sql.push_str(" AND f.dossier_id IN (SELECT d.id FROM dossier d JOIN procedure p ON p.id = d.procedure_id WHERE 1 = 1");
        push_procedure_filters(&mut sql, q);
        sql.push(')');
    }
    page_ids(conn, sql, "f.id", q).await
}

/// The sector and procedure filters of a drill-down, over `procedure p`.
fn push_procedure_filters(sql: &mut String, q: &DrillQuery) {
    if let Some(id) = q.sector_id {
        sql.push_str(&format!(" AND p.sector_id = {id}"));
    }
    if let Some(id) = q.procedure_id {
        sql.push_str(&format!(" AND p.id = {id}"));
    }
}

/// Runs a drill-down query: ids below the cursor, newest first, one more than the page to tell whether another
/// page follows.
async fn page_ids(
    conn: &impl ConnectionTrait,
    mut sql: String,
    id: &str,
    q: &DrillQuery,
) -> Result<Vec<i64>, DrillError> {
    if let Some(a) = q.after {
        sql.push_str(&format!(" AND {id} < {a}"));
    }
    sql.push_str(&format!(" ORDER BY {id} DESC LIMIT {}", q.first + 1));
    let rows = conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql)).await?;
    rows.iter().map(|row| row.try_get_by_index::<i64>(0).map_err(DrillError::from)).collect()
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
    let txn = match conn.get_database_backend() {
        DbBackend::Postgres => {
            conn.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await?
        }
        _ => conn.begin().await?,
    };
    let counts = counts_in(&txn, tree, calendar, unit_code, w, summaries).await?;
    txn.commit().await?;
    Ok(counts)
}

async fn counts_in(
    conn: &impl ConnectionTrait,
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
    summaries: bool,
) -> Result<Counts, DbErr> {
    let scope = tree.scope_at(unit_code, w.t);
    let mut c: HashMap<MetricKey, Count> = HashMap::new();
    let mut add = |k: MetricKey, num: i64, den: i64| {
        let e = c.entry(k).or_default();
        e.num += num;
        e.den += den;
    };

    let cut = if summaries { summary_cut(w) } else { None };
    let (sums, procedures) = dossier_aggregates(conn, w, &scope, cut).await?;
    // (denominator, numerator) pairs in the order of `dossier_sql`.
    let pair = |i: usize| (sums[2 * i], sums[2 * i + 1]);
    let (in_scope, on_time) = pair(0);
    let (_, satisfied) = pair(1);
    let (rip, synced) = pair(2);
    let (full, full_online) = pair(3);
    let (fee_rip, paid_online) = pair(4);
    let (er, er_num) = pair(6);
    let (_, digitized) = pair(7);
    let (_, reused) = pair(8);
    let (_, shared) = pair(9);
    let (_, vneid) = pair(10);
    add(MetricKey::OnTimeProcessing, on_time, in_scope);
    add(MetricKey::DossierSatisfaction, satisfied, in_scope);
    add(MetricKey::DossierSync, synced, rip);
    add(MetricKey::FullOnlineDossiers, full_online, full);
    add(MetricKey::PaidOnlineDossiers, paid_online, fee_rip);
    add(MetricKey::ElectronicResult, er_num, er);
    add(MetricKey::DigitizedDossiers, digitized, rip);
    add(MetricKey::ReusedDigitizedData, reused, rip);
    add(MetricKey::SharedToCitizenStorage, shared, rip);
    add(MetricKey::VneidDossiers, vneid, rip);
    let places = procedure_places(&procedures)
        .chain(transparency(conn, tree, calendar, unit_code, w).await?)
        .chain(certified_copy_places(tree, &scope, w));
    for (_, k, passing) in places {
        add(k, i64::from(passing), 1);
    }

    let backend = conn.get_database_backend();
    if let Some(row) = conn.query_one_raw(Statement::from_string(backend, pakn_sql(w, &scope))).await? {
        let (den, on_time, satisfied) = (get(&row, 0)?, get(&row, 1)?, get(&row, 2)?);
        add(MetricKey::PaknOnTime, on_time, den);
        add(MetricKey::PaknSatisfaction, satisfied, den);
    }
    Ok(Counts(c))
}

/// Per procedure with dossiers in a scope: whether it is fee-bearing, accepts citizens, and has a dossier
/// received in the period, one paid online, one paid, one VNeID-verified.
type ProcedureFlags = HashMap<i64, [bool; 6]>;

/// One record's place in a metric counted by records other than dossiers and PAKN: (its id, the metric, whether
/// it is in the numerator); it is in the denominator.
type Place = (i64, MetricKey, bool);

/// The dossier metrics, as the sums of `dossier_sql`'s (denominator, numerator) pairs over the dossiers read row
/// by row and the summarised ones (before `cut`), and the [`ProcedureFlags`] of the scope.
async fn dossier_aggregates(
    conn: &impl ConnectionTrait,
    w: &Window,
    scope: &Scope,
    cut: Option<Micros>,
) -> Result<([i64; 2 * DOSSIER_METRICS.len()], ProcedureFlags), DbErr> {
    let backend = conn.get_database_backend();
    let mut sums = [0i64; 2 * DOSSIER_METRICS.len()];
    let mut procedures = ProcedureFlags::new();
    for row in conn.query_all_raw(Statement::from_string(backend, dossier_sql(w, scope, cut))).await? {
        let v: Vec<i64> = (1..=sums.len() + 2).map(|i| get(&row, i)).collect::<Result<_, _>>()?;
        sums.iter_mut().zip(&v[2..]).for_each(|(a, b)| *a += b);
        let e = procedures.entry(row.try_get_by_index::<i64>(0)?).or_default();
        for (flag, value) in
            e.iter_mut().zip([v[0], v[1], v[2 + 2 * 2], v[3 + 2 * 4], v[3 + 2 * 5], v[3 + 2 * 10]])
        {
            *flag |= value > 0;
        }
    }
    // Paid online (numerator of pair 4) and paid at all (pair 5) of the dossiers with irregular receipts.
    for row in conn.query_all_raw(Statement::from_string(backend, irregular_sql(w, scope))).await? {
        let (online, any) = (get(&row, 1)?, get(&row, 2)?);
        sums[1 + 2 * 4] += online;
        sums[1 + 2 * 5] += any;
        let e = procedures.entry(row.try_get_by_index::<i64>(0)?).or_default();
        e[3] |= online > 0;
        e[4] |= any > 0;
    }
    if let Some(cut) = cut {
        if let Some(row) =
            conn.query_one_raw(Statement::from_string(backend, rollup_sql(w, scope, cut))).await?
        {
            for (i, a) in sums.iter_mut().enumerate() {
                *a += get(&row, i)?;
            }
        }
        for row in conn.query_all_raw(Statement::from_string(backend, procedure_rollup_sql(w, scope))).await?
        {
            let e = procedures.entry(row.try_get_by_index::<i64>(0)?).or_default();
            e[0] |= get(&row, 1)? > 0;
            e[1] |= get(&row, 2)? > 0;
            for (i, flag) in e.iter_mut().enumerate().skip(2) {
                *flag |= row.try_get_by_index::<Option<i64>>(i + 1)?.is_some_and(|first| first < cut);
            }
        }
    }
    Ok((sums, procedures))
}

/// The places of the procedures with dossiers in the scope in the procedure metrics.
fn procedure_places(procedures: &ProcedureFlags) -> impl Iterator<Item = Place> + '_ {
    procedures.iter().flat_map(|(&id, &[fee_bearing, citizens, received, paid_online, paid_any, vneid])| {
        let fee = fee_bearing && received;
        let citizen = citizens && received;
        [
            fee.then_some((id, MetricKey::ProceduresPaidOnline, paid_online)),
            fee.then_some((id, MetricKey::ProceduresWithReceipts, paid_any)),
            citizen.then_some((id, MetricKey::VneidProcedures, vneid)),
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
    let t = w.t;
    tree.all()
        .iter()
        .filter(move |u| u.level == UnitLevel::Commune && scope.contains(u.id) && u.valid_at(t))
        .map(|u| (u.id, MetricKey::ElectronicCertifiedCopy, u.offers_e_certified_copy))
}

/// The places in the transparency metrics of the procedures announced by the nearest province or ministry at or
/// above the unit.
async fn transparency(
    conn: &impl ConnectionTrait,
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
) -> Result<Vec<Place>, DbErr> {
    let Some(authority) = tree.authority_of(unit_code) else { return Ok(Vec::new()) };
    let auth_scope = tree.scope_at(&authority.code, w.t);
    let sql = format!(
        "SELECT p.id, p.authority_id, p.legal_effective_on, p.announced_on, p.published_on, p.status, \
         p.content_full FROM procedure p WHERE 1 = 1{}",
        unit_filter("p.authority_id", &auth_scope)
    );
    let first_day = first_date_at_or_after(w.s);
    let before_t = first_date_at_or_after(w.t);
    let mut places = Vec::new();
    for row in conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql)).await? {
        let id: i64 = row.try_get_by_index(0)?;
        let authority_id: i64 = row.try_get_by_index(1)?;
        let legal: Option<chrono::NaiveDate> = row.try_get_by_index(2)?;
        let announced: Option<chrono::NaiveDate> = row.try_get_by_index(3)?;
        let published: Option<chrono::NaiveDate> = row.try_get_by_index(4)?;
        let status: String = row.try_get_by_index(5)?;
        let content_full: bool = row.try_get_by_index(6)?;
        let (n, m) = match tree.by_id(authority_id).map(|u| u.level) {
            Some(UnitLevel::Ministry) => (20, 10),
            _ => (5, 5),
        };
        let published_before_t = published.is_some_and(|d| start_of(d) < w.t);
        if let Some(a) = announced.filter(|a| *a >= first_day && *a < before_t) {
            let publish_ok = legal.is_some_and(|l| a <= calendar.add_working_days(l, -n));
            places.push((id, MetricKey::PublishOnTime, publish_ok));
            let update_ok =
                published_before_t && published.is_some_and(|p| p <= calendar.add_working_days(a, m));
            places.push((id, MetricKey::PublicUpdateOnTime, update_ok));
        }
        if status == ProcedureStatus::Published.as_str() && published_before_t {
            places.push((id, MetricKey::PublicContentFull, content_full));
        }
    }
    Ok(places)
}

/// Whether a place is one a drill-down with `outcome` lists.
fn listed(outcome: Outcome, passing: bool) -> bool {
    match outcome {
        Outcome::Failing => !passing,
        Outcome::Passing => passing,
        Outcome::All => true,
    }
}

/// Ids of the procedures behind a procedure metric (the transparency metrics: the procedures of the unit's
/// announcing authority; the others: the procedures with dossiers in the scope), `first + 1` at most.
pub async fn drill_procedures(
    conn: &impl ConnectionTrait,
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
    q: &DrillQuery,
) -> Result<Vec<i64>, DrillError> {
    use MetricKey::*;
    let places = match q.metric {
        PublishOnTime | PublicUpdateOnTime | PublicContentFull => {
            transparency(conn, tree, calendar, unit_code, w).await?
        }
        ProceduresPaidOnline | ProceduresWithReceipts | VneidProcedures => {
            let scope = tree.scope_at(unit_code, w.t);
            let (_, procedures) = dossier_aggregates(conn, w, &scope, summary_cut(w)).await?;
            procedure_places(&procedures).collect()
        }
        other => return Err(DrillError::NotProcedureMetric(other)),
    };
    let ids: Vec<String> = places
        .into_iter()
        .filter(|&(_, k, passing)| k == q.metric && listed(q.outcome, passing))
        .map(|(id, ..)| id.to_string())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!("SELECT p.id FROM procedure p WHERE p.id IN ({})", ids.join(","));
    push_procedure_filters(&mut sql, q);
    page_ids(conn, sql, "p.id", q).await
}

/// Ids of the communes behind ELECTRONIC_CERTIFIED_COPY: the communes of the scope valid at T, by code.
pub fn drill_communes(tree: &UnitTree, unit_code: &str, w: &Window, outcome: Outcome) -> Vec<i64> {
    let scope = tree.scope_at(unit_code, w.t);
    let mut ids: Vec<i64> = certified_copy_places(tree, &scope, w)
        .filter(|&(_, _, passing)| listed(outcome, passing))
        .map(|(id, ..)| id)
        .collect();
    ids.sort_by_cached_key(|id| tree.by_id(*id).map(|u| u.code.clone()));
    ids
}

/// Why an indicator request was refused.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    #[error("unknown unit `{0}`")]
    UnknownUnit(String),
    #[error(transparent)]
    Period(#[from] crate::domain::time::PeriodError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The window of a period spec and an optional `asOf` (default: now). T is never after now: an `asOf` in the
/// future is evaluated now, in every operation, so that nothing dated later (a unit merging next year) counts
/// before it happens.
pub fn window(
    spec: &crate::domain::time::PeriodSpec,
    as_of: Option<Micros>,
    now: Micros,
) -> Result<Window, IndicatorError> {
    let p = spec.resolve()?;
    let asked = as_of.map_or(now, |a| a.min(now));
    let t = p.end.min(asked);
    Ok(Window { s: p.start, e: p.end, t, live: asked == now && t < p.end })
}

/// One ranked unit.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub rank: u32,
    pub of: u32,
    pub code: String,
    pub name: String,
    pub total: f64,
    pub grade: crate::domain::indicators::Grade,
}

/// The peers of a ranking: the units of `level` valid at `t` within `parent`'s scope (the parent itself
/// excluded), or every unit of the level valid at `t` without a parent.
pub fn peers<'a>(
    tree: &'a UnitTree,
    level: UnitLevel,
    parent: Option<&str>,
    t: Micros,
) -> Result<Vec<&'a crate::domain::scope::UnitInfo>, IndicatorError> {
    Ok(match parent {
        Some(p) => {
            let parent_unit = tree.get(p).ok_or_else(|| IndicatorError::UnknownUnit(p.to_owned()))?;
            let scope = tree.scope_at(p, t);
            tree.all()
                .iter()
                .filter(|u| {
                    u.level == level && u.valid_at(t) && u.id != parent_unit.id && scope.contains(u.id)
                })
                .collect()
        }
        None => tree.all().iter().filter(|u| u.level == level && u.valid_at(t)).collect(),
    })
}

/// Competition-ranks `(code, rounded total, (name, grade))` entries.
pub fn ranked(entries: Vec<(String, f64, (String, crate::domain::indicators::Grade))>) -> Vec<Ranked> {
    let of = entries.len() as u32;
    crate::domain::indicators::rank(entries)
        .into_iter()
        .map(|(rank, code, total, (name, grade))| Ranked { rank, of, code, name, total, grade })
        .collect()
}
