//! The rules of the Decision 766 indicators as SQL text: the conditions a dossier or a PAKN meets at the
//! evaluation instant, and the statements built from them (the per-procedure aggregate, its counterpart over
//! the summaries, the summaries themselves, PAKN). The aggregates and the drill-down lists use the same text, so
//! a list always holds what a count counted. Everything written into a statement is an integer or a name of a
//! domain enumeration, never text from a client.

use sea_orm::DbBackend;

use crate::db::sql::{greatest, names};
use crate::domain::indicators::{MetricKey, Window};
use crate::domain::scope::Scope;
use crate::domain::time::{Micros, month_of};
use crate::domain::{Channel, DossierStatus, OnlineLevel, PaymentChannel};

/// Which rows of the summary tables answer for a scope: a summary group's merged rows, or the units' own rows
/// (see `db::groups`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Summarised<'a> {
    /// The merged rows of the group with this id.
    Group(i64),
    /// The rows of the scope's units.
    Units(&'a Scope),
}

impl Summarised<'_> {
    /// The condition on a summary table's unit column `column` (with a leading ` AND `).
    pub(super) fn filter(&self, column: &str) -> String {
        match self {
            Summarised::Group(g) => format!(" AND {column} = {}", -g),
            // The merged rows have negative ids.
            Summarised::Units(scope) if scope.whole_tree => format!(" AND {column} >= 0"),
            Summarised::Units(scope) => unit_filter(column, scope),
        }
    }
}

pub(super) fn unit_filter(column: &str, scope: &Scope) -> String {
    if scope.whole_tree {
        String::new()
    } else if scope.ids.is_empty() {
        " AND 1 = 0".to_owned()
    } else {
        let list = crate::db::sql::id_list(&scope.sorted_ids());
        format!(" AND {column} IN ({list})")
    }
}

/// The dossier rules of docs/indicators.md as SQL conditions on `dossier d JOIN procedure p`, evaluated at T.
/// The aggregate and the drill-down lists use the same text, so a list always holds what a count counted.
pub(super) struct DossierRules {
    /// Received by T: the base condition of every dossier metric.
    pub(super) received: String,
    pub(super) in_scope: String,
    pub(super) on_time: String,
    pub(super) no_negative: String,
    pub(super) received_in_period: String,
    pub(super) synced: String,
    pub(super) full: String,
    pub(super) online: String,
    pub(super) fee: &'static str,
    pub(super) paid_online: String,
    pub(super) paid_any: String,
    pub(super) result_issued: String,
    /// Processing ended by RESOLVED or RETURNED (the ends ELECTRONIC_RESULT counts), and that end.
    pub(super) ended_with_result: String,
    pub(super) end_event: String,
    /// When processing ended by T for the rules: the end, or else a single unanswered supplement request; NULL
    /// while it runs.
    pub(super) end_t: String,
}

/// The per-dossier facts the numerators read besides the rules above.
pub(super) const RESULT_ELECTRONIC: &str = "d.result_electronic";
pub(super) const DIGITIZED: &str = "d.inputs_digitized";
pub(super) const REUSED: &str = "d.reused_data";
pub(super) const SHARED: &str = "(d.from_citizen_storage OR d.result_to_citizen_storage)";
pub(super) const VNEID: &str = "d.vneid_verified";

/// The dossier metrics of the per-procedure aggregates, in the order of their columns.
pub(super) const DOSSIER_METRICS: [MetricKey; 11] = [
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
pub(super) enum Receipts {
    /// Exactly, for every dossier.
    Exact,
    /// From `dossier_paid` only: a dossier with irregular receipts counts as unpaid, and
    /// [`irregular_sql`] adds it back. This keeps the main aggregate free of subqueries, so that PostgreSQL can run
    /// it in parallel.
    Columns,
}

impl DossierRules {
    pub(super) fn new(w: &Window, receipts: Receipts) -> Self {
        Self::at(&w.at.to_string(), &w.start.to_string(), receipts)
    }

    /// The rules with T and S given as SQL expressions (integer literals, or the columns of a table of windows
    /// that a statement evaluating several windows at once joins).
    pub(super) fn at(t: &str, s: &str, receipts: Receipts) -> Self {
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
            names(PaymentChannel::ALL.iter().filter(|c| c.is_online()))
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
        let ended_with_result =
            format!("({ended_res} OR d.other_end_status = {})", names([DossierStatus::Returned]));
        DossierRules {
            received: format!(
                "d.received_at < {t} AND (d.not_accepted_at IS NULL OR d.not_accepted_at > {t})"
            ),
            on_time: format!("(NOT {two_sup} AND COALESCE({end_t}, {t}) - {paused} <= d.due_at)"),
            in_scope: format!("({end_t} IS NULL OR {end_t} >= {s})"),
            received_in_period: format!("(d.received_at >= {s})"),
            no_negative: format!("(d.negative_feedback_at IS NULL OR d.negative_feedback_at > {t})"),
            synced: format!("(d.synced_at IS NOT NULL AND d.synced_at <= {t})"),
            full: format!("(p.online_level = {})", names([OnlineLevel::Full])),
            online: format!("(d.channel = {})", names([Channel::Online])),
            fee: "(p.fee > 0)",
            paid_online: receipt(true),
            paid_any: receipt(false),
            result_issued: format!(
                "({end_event} IS NOT NULL AND {end_event} >= {s} AND {end_event} < {t} AND {ended_with_result} AND p.returns_paper_result)"
            ),
            ended_with_result,
            end_event,
            end_t,
        }
    }

    /// The denominator and numerator conditions of a dossier metric (for procedure metrics, the dossiers that
    /// put a procedure in the denominator and in the numerator); `None` for metrics that do not count dossiers.
    pub(super) fn metric(&self, k: MetricKey) -> Option<(String, String)> {
        let DossierRules {
            in_scope,
            on_time,
            no_negative,
            received_in_period,
            synced,
            full,
            online,
            fee,
            paid_online,
            paid_any,
            result_issued,
            ..
        } = self;
        use MetricKey::*;
        Some(match k {
            OnTimeProcessing => (in_scope.clone(), on_time.clone()),
            DossierSatisfaction => (in_scope.clone(), format!("{on_time} AND {no_negative}")),
            DossierSync => (received_in_period.clone(), synced.clone()),
            FullOnlineDossiers => (format!("{received_in_period} AND {full}"), online.to_string()),
            PaidOnlineDossiers | ProceduresPaidOnline => {
                (format!("{received_in_period} AND {fee}"), paid_online.clone())
            }
            ProceduresWithReceipts => (format!("{received_in_period} AND {fee}"), paid_any.clone()),
            ElectronicResult => (result_issued.clone(), RESULT_ELECTRONIC.into()),
            DigitizedDossiers => (
                received_in_period.clone(),
                format!("({DIGITIZED} AND (NOT p.returns_paper_result OR {RESULT_ELECTRONIC}))"),
            ),
            ReusedDigitizedData => (received_in_period.clone(), REUSED.into()),
            SharedToCitizenStorage => (received_in_period.clone(), SHARED.into()),
            VneidDossiers => (received_in_period.clone(), VNEID.into()),
            VneidProcedures => (format!("{received_in_period} AND p.accepts_citizens"), VNEID.into()),
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
pub(super) const PROCEDURE_FLAGS: &str = "p.id, CAST(MAX(CASE WHEN p.fee > 0 THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(MAX(CASE WHEN p.accepts_citizens THEN 1 ELSE 0 END) AS BIGINT)";

/// The per-procedure dossier aggregate (docs/indicators.md, "Dossiers"), over every dossier of the scope or,
/// with `cut`, over those not summarised in `dossier_rollup` before it (see [`summary_cut`]).
pub(super) fn dossier_sql(w: &Window, scope: &Scope, cut: Option<Micros>) -> String {
    dossier_sql_by(w, scope, cut, false)
}

/// [`dossier_sql`], with `by_unit` also by unit (the unit's id then follows the sums).
pub(super) fn dossier_sql_by(w: &Window, scope: &Scope, cut: Option<Micros>, by_unit: bool) -> String {
    let r = DossierRules::new(w, Receipts::Columns);
    let (unit_column, unit_group) = if by_unit { (", d.unit_id", ", d.unit_id") } else { ("", "") };
    format!(
        "SELECT {PROCEDURE_FLAGS}, {}{unit_column} FROM {} WHERE {}{} GROUP BY p.id{unit_group}",
        dossier_columns(&r),
        dossier_from(scope, cut),
        r.received,
        unit_filter("d.unit_id", scope)
    )
}

/// The (denominator, numerator) sums of [`DOSSIER_METRICS`] under rules `r`, in order, as select columns.
pub(super) fn dossier_columns(r: &DossierRules) -> String {
    let n = |cond: String| format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let mut cols = Vec::new();
    for (den, num) in DOSSIER_METRICS.iter().filter_map(|&k| r.metric(k)) {
        cols.push(n(den.clone()));
        cols.push(n(format!("{den} AND {num}")));
    }
    cols.join(", ")
}

/// The evaluation instant up to which `dossier_rollup` answers for window `w`: the start of T's month, when the
/// period starts on a month boundary (every year, quarter and month does). A summary group settled before it
/// has every dated fact before T, and its months tell whether it lies in the period; the dossiers settled at
/// or after it are read row by row. `None` for other periods: every dossier is read row by row.
pub(super) fn summary_cut(w: &Window) -> Option<Micros> {
    w.summarised().then(|| month_of(w.at))
}

/// A dossier metric's (denominator condition, numerator column) over the groups of `dossier_rollup`: the
/// summary counterpart of [`DossierRules::metric`], with S an SQL expression; `None` for the metrics that do not
/// count dossiers.
pub(super) fn summary_metric(k: MetricKey, s: &str) -> Option<(String, &'static str)> {
    let in_scope = format!("rl.end_month >= {s}");
    let received_in_period = format!("rl.received_month >= {s}");
    use MetricKey::*;
    Some(match k {
        OnTimeProcessing => (in_scope, "rl.on_time"),
        DossierSatisfaction => (in_scope, "rl.satisfied"),
        DossierSync => (received_in_period, "rl.synced"),
        FullOnlineDossiers => (format!("{received_in_period} AND rl.full_online"), "rl.online"),
        PaidOnlineDossiers | ProceduresPaidOnline => {
            (format!("{received_in_period} AND rl.fee_bearing"), "rl.paid_online")
        }
        ProceduresWithReceipts => (format!("{received_in_period} AND rl.fee_bearing"), "rl.paid_any"),
        ElectronicResult => {
            (format!("{in_scope} AND rl.ended_with_result AND rl.paper_result"), "rl.result_electronic")
        }
        DigitizedDossiers => (
            received_in_period,
            "CASE WHEN rl.paper_result THEN rl.digitized_electronic ELSE rl.digitized END",
        ),
        ReusedDigitizedData => (received_in_period, "rl.reused"),
        SharedToCitizenStorage => (received_in_period, "rl.shared"),
        VneidDossiers => (received_in_period, "rl.vneid"),
        // Counted by procedure, from `procedure_rollup`.
        VneidProcedures
        | PublishOnTime
        | PublicUpdateOnTime
        | PublicContentFull
        | ElectronicCertifiedCopy
        | PaknOnTime
        | PaknSatisfaction => return None,
    })
}

/// The summarised part of [`dossier_sql`]'s sums (one row, without the procedure columns), from the groups of
/// `dossier_rollup` settled before `cut`.
pub(super) fn rollup_sql(w: &Window, rows: &Summarised, cut: Micros) -> String {
    format!(
        "SELECT {} FROM dossier_rollup rl WHERE rl.settle_month < {cut}{}",
        rollup_columns(&w.start.to_string()),
        rows.filter("rl.unit_id")
    )
}

/// The (denominator, numerator) sums of [`DOSSIER_METRICS`] over the groups of `dossier_rollup rl`, with S an SQL
/// expression, in the order of [`dossier_columns`].
pub(super) fn rollup_columns(s: &str) -> String {
    let mut cols = Vec::new();
    for (den, num) in DOSSIER_METRICS.iter().filter_map(|&k| summary_metric(k, s)) {
        // SUM of BIGINT is NUMERIC on PostgreSQL.
        cols.push(format!("CAST(COALESCE(SUM(CASE WHEN {den} THEN rl.dossiers ELSE 0 END), 0) AS BIGINT)"));
        cols.push(format!("CAST(COALESCE(SUM(CASE WHEN {den} THEN {num} ELSE 0 END), 0) AS BIGINT)"));
    }
    cols.join(", ")
}

/// What [`procedure_rollup_sql`] reads of `procedure_rollup pr` after [`PROCEDURE_FLAGS`].
pub(super) const PROCEDURE_ROLLUP_COLUMNS: &str =
    "MIN(pr.first_settled), MIN(pr.first_paid_online), MIN(pr.first_paid_any), MIN(pr.first_vneid)";

/// The summarised part of the procedure metrics: by procedure with settled dossiers received in the period, its
/// flags as in [`dossier_sql`] and the first months in which one of them settled, one paid online, one paid
/// and one with a VNeID-verified applicant. Only the months of receipt before `cut` can hold a dossier settled
/// before it: they are read through the index by unit and month.
pub(super) fn procedure_rollup_sql(w: &Window, rows: &Summarised, cut: Micros) -> String {
    format!(
        "SELECT {PROCEDURE_FLAGS}, {PROCEDURE_ROLLUP_COLUMNS} FROM procedure_rollup pr JOIN procedure p \
         ON p.id = pr.procedure_id WHERE pr.received_month >= {} AND pr.received_month < {cut}{} GROUP BY p.id",
        w.start,
        rows.filter("pr.unit_id")
    )
}

/// The count columns of the summary tables after `dossiers`: how many of a group's dossiers meet each fact of
/// [`summary_facts`].
pub(in crate::db) const FACT_NAMES: [&str; 12] = [
    "on_time",
    "satisfied",
    "synced",
    "online",
    "paid_online",
    "paid_any",
    "result_electronic",
    "digitized",
    "digitized_electronic",
    "reused",
    "shared",
    "vneid",
];

/// The facts a summary counts of each dossier under rules `r`, in the order of [`FACT_NAMES`].
fn summary_facts(r: &DossierRules) -> [String; 12] {
    [
        r.on_time.clone(),
        format!("{} AND {}", r.on_time, r.no_negative),
        r.synced.clone(),
        r.online.clone(),
        r.paid_online.clone(),
        r.paid_any.clone(),
        RESULT_ELECTRONIC.to_owned(),
        DIGITIZED.to_owned(),
        format!("{DIGITIZED} AND {RESULT_ELECTRONIC}"),
        REUSED.to_owned(),
        SHARED.to_owned(),
        VNEID.to_owned(),
    ]
}

/// The insert of a summary (`dossier_rollup` or `open_rollup`) from the rows `rows` (a derived table): grouped by
/// `keys` and the flags of [`FLAGS`] (each already computed in `rows`, as named), the count of dossiers and the
/// sum of every fact of [`summary_facts`].
fn summary_insert(table: &str, keys: [(&str, &str); 4], rows: &str) -> String {
    let keys = keys.iter().chain(&FLAGS);
    let columns = keys.clone().map(|(c, _)| *c).collect::<Vec<_>>().join(", ");
    let values = keys.map(|(_, v)| *v).collect::<Vec<_>>().join(", ");
    let sums = FACT_NAMES.map(|n| format!("SUM({n})")).join(", ");
    format!(
        "INSERT INTO {table} ({columns}, dossiers, {}) SELECT {values}, COUNT(*), {sums} FROM {rows} GROUP BY {values}",
        FACT_NAMES.join(", ")
    )
}

/// The facts of [`summary_facts`] as 0/1 select columns named after them.
fn fact_columns(r: &DossierRules) -> String {
    FACT_NAMES
        .iter()
        .zip(summary_facts(r))
        .map(|(n, c)| format!("CASE WHEN {c} THEN 1 ELSE 0 END AS {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `cond` as a boolean select value (a bare condition is not a value on every backend).
fn truth(cond: &str) -> String {
    format!("(CASE WHEN {cond} THEN TRUE ELSE FALSE END)")
}

/// The dossiers a summary statement's part reading receipts `receipts` covers: every dossier whose receipts fit
/// one interval is read from its receipt columns (a plan free of subqueries), the few others from their receipts
/// (a subquery per row, which would make the planner's choice for every row worse).
fn irregular_part(receipts: Receipts) -> &'static str {
    match receipts {
        Receipts::Columns => "(dp.irregular IS NULL OR NOT dp.irregular)",
        Receipts::Exact => "dp.irregular",
    }
}

/// The statements that summarise the settled dossiers selected by `filter` (a condition on `dossier d`) into
/// `dossier_rollup` and `procedure_rollup`. Their facts are evaluated by the rules of [`DossierRules`] at
/// `SUMMARY_TO`, after every instant of a settled dossier, which is what they are at any instant after it
/// settled.
pub(in crate::db) fn rollup_insert_sql(backend: DbBackend, filter: &str) -> Vec<String> {
    use migration::{NEVER, SUMMARY_TO, day_sql};
    // The months of receipt, end and settling, by equality joins on the day (hash joins on PostgreSQL).
    let settled = greatest(backend, &["d.settled_at".to_owned(), "COALESCE(dp.settled_at, 0)".to_owned()]);
    let select = |receipts: Receipts| {
        let r =
            DossierRules::new(&Window { start: 0, end: SUMMARY_TO, at: SUMMARY_TO, live: false }, receipts);
        format!(
            "SELECT d.unit_id, d.procedure_id, rd.month_start AS rm, ed.month_start AS em, sd.month_start AS sm, \
             {} AS ewr, {} AS fee, {} AS fo, {} AS paper, {} FROM dossier d JOIN procedure p ON p.id = d.procedure_id \
             LEFT JOIN dossier_paid dp ON dp.dossier_id = d.id JOIN calendar_day rd ON rd.day = {} \
             JOIN calendar_day ed ON ed.day = {} JOIN calendar_day sd ON sd.day = {} WHERE {filter} AND d.settled_at < {NEVER} \
             AND d.not_accepted_at IS NULL AND (dp.settled_at IS NULL OR dp.settled_at < {NEVER}) AND {}",
            truth(&r.ended_with_result),
            truth(r.fee),
            truth(&r.full),
            truth("p.returns_paper_result"),
            fact_columns(&r),
            day_sql("d.received_at"),
            day_sql(&r.end_event),
            day_sql(&settled),
            irregular_part(receipts),
        )
    };
    let rows = format!("({} UNION ALL {})", select(Receipts::Columns), select(Receipts::Exact));
    let first = |n: &str| format!("MIN(CASE WHEN {n} = 1 THEN sm END)");
    sharing_rows(backend, &rows, |rows| {
        [
            summary_insert(
                "dossier_rollup",
                [
                    ("unit_id", "unit_id"),
                    ("received_month", "rm"),
                    ("end_month", "em"),
                    ("settle_month", "sm"),
                ],
                rows,
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
    })
}

/// The statements that summarise, into `open_rollup` and `open_procedure_rollup`, the dossiers selected by
/// `filter` (a condition on `dossier d`) at each month start M of `calendar_month cm` meeting `months` (a
/// condition on `cm.month_start`) at which they were received and not yet settled: their facts evaluated by the
/// rules of [`DossierRules`] at M. A month or an end before the summarised years is written as 0, no end by M as
/// `NEVER`: the summaries answer only periods that start in the summarised years.
pub(in crate::db) fn open_insert_sql(backend: DbBackend, filter: &str, months: &str) -> Vec<String> {
    use migration::{NEVER, day_sql};
    let m = "cm.month_start";
    let settled = greatest(backend, &["d.settled_at".to_owned(), "COALESCE(dp.settled_at, 0)".to_owned()]);
    let select = |receipts: Receipts| {
        let r = DossierRules::at(m, m, receipts);
        let end_t = &r.end_t;
        format!(
            "SELECT d.unit_id, d.procedure_id, {m} AS am, COALESCE(rd.month_start, 0) AS rm, \
             CASE WHEN {end_t} IS NULL THEN {NEVER} ELSE COALESCE(ed.month_start, 0) END AS em, {} AS ewr, {} AS fee, \
             {} AS fo, {} AS paper, {} FROM dossier d JOIN procedure p ON p.id = d.procedure_id \
             LEFT JOIN dossier_paid dp ON dp.dossier_id = d.id \
             JOIN calendar_month cm ON {m} > d.received_at AND {m} <= {settled} AND {months} \
             LEFT JOIN calendar_day rd ON rd.day = {} LEFT JOIN calendar_day ed ON ed.day = {} \
             WHERE {filter} AND (d.not_accepted_at IS NULL OR d.not_accepted_at > {m}) AND {}",
            truth(&format!(
                "{} IS NOT NULL AND {} < {m} AND {}",
                r.end_event, r.end_event, r.ended_with_result
            )),
            truth(r.fee),
            truth(&r.full),
            truth("p.returns_paper_result"),
            fact_columns(&r),
            day_sql("d.received_at"),
            day_sql(end_t),
            irregular_part(receipts),
        )
    };
    let rows = format!("({} UNION ALL {})", select(Receipts::Columns), select(Receipts::Exact));
    sharing_rows(backend, &rows, |rows| {
        [
            summary_insert(
                "open_rollup",
                [("unit_id", "unit_id"), ("at_month", "am"), ("received_month", "rm"), ("end_month", "em")],
                rows,
            ),
            format!(
                "INSERT INTO open_procedure_rollup (unit_id, procedure_id, at_month, received_month, paid_online, \
             paid_any, vneid) SELECT unit_id, procedure_id, am, rm, MAX(paid_online), MAX(paid_any), MAX(vneid) \
             FROM {rows} GROUP BY unit_id, procedure_id, am, rm"
            ),
        ]
    })
}

/// The flag columns of `dossier_rollup` and `open_rollup`, each with its name in the rows they are derived from.
const FLAGS: [(&str, &str); 4] =
    [("ended_with_result", "ewr"), ("fee_bearing", "fee"), ("full_online", "fo"), ("paper_result", "paper")];

/// The two summary inserts `inserts` makes of the rows of `rows` (a parenthesised subquery), given the name to
/// read them from: on PostgreSQL one statement that reads the dossiers once, into a materialised common table
/// that the first insert (itself a common table) and the second both read; elsewhere the two inserts, each with
/// the subquery (SQLite has no inserts in common tables).
fn sharing_rows(backend: DbBackend, rows: &str, inserts: impl Fn(&str) -> [String; 2]) -> Vec<String> {
    if backend == DbBackend::Postgres {
        let [first, second] = inserts("x");
        vec![format!("WITH x AS MATERIALIZED {rows}, w AS ({first}) {second}")]
    } else {
        inserts(&format!("{rows} x")).into()
    }
}

/// The groups of summary table `table` (`dossier_rollup` or `open_rollup`) within `scope` merged across units by
/// their other keys `keys`, of the rows meeting `filter`, as a materialised common table `rl` with the table's
/// count columns (the `WITH` clause): far fewer groups than the units' rows, computed once, so that joining them
/// with many windows costs little. (A group's count fits in 32 bits, whose sum PostgreSQL adds as a 64-bit
/// integer rather than as a decimal.)
pub(super) fn merged_rollup(table: &str, keys: &str, filter: &str, rows: &Summarised) -> String {
    let sums = std::iter::once("dossiers")
        .chain(FACT_NAMES)
        .map(|c| format!("CAST(SUM(CAST({c} AS INTEGER)) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH rl AS MATERIALIZED (SELECT {keys}, {sums} FROM {table} WHERE {filter}{} GROUP BY {keys})",
        rows.filter("unit_id")
    )
}

/// Whether the open summaries may answer window `w` whose summary cut is `cut`, given their horizon: `w` is
/// evaluated at that month start, the horizon covers it, and its period starts in the summarised years (the
/// summaries write earlier months as 0).
pub(super) fn open_answers(w: &Window, cut: Micros, horizon: Micros) -> bool {
    cut == w.at && cut <= horizon && w.start >= migration::SUMMARY_FROM
}

/// The open summary's part of [`dossier_sql`]'s sums (one row, without the procedure columns): the dossiers
/// received and not settled before `w.at`, a month start.
pub(super) fn open_rollup_sql(w: &Window, rows: &Summarised) -> String {
    format!(
        "SELECT {} FROM open_rollup rl WHERE rl.at_month = {}{}",
        rollup_columns(&w.start.to_string()),
        w.at,
        rows.filter("rl.unit_id")
    )
}

/// What [`open_procedure_sql`] reads of `open_procedure_rollup opr` after [`PROCEDURE_FLAGS`]: whether one of
/// the procedure's dossiers was paid online, paid, VNeID-verified.
pub(super) const OPEN_PROCEDURE_COLUMNS: &str = "CAST(MAX(opr.paid_online) AS BIGINT), \
     CAST(MAX(opr.paid_any) AS BIGINT), CAST(MAX(opr.vneid) AS BIGINT)";

/// The open summary's part of the procedure metrics: by procedure with dossiers received in the period and open at
/// `w.at`, its flags as in [`dossier_sql`] and [`OPEN_PROCEDURE_COLUMNS`].
pub(super) fn open_procedure_sql(w: &Window, rows: &Summarised) -> String {
    format!(
        "SELECT {PROCEDURE_FLAGS}, {OPEN_PROCEDURE_COLUMNS} FROM open_procedure_rollup opr JOIN procedure p \
         ON p.id = opr.procedure_id WHERE opr.at_month = {} AND opr.received_month >= {}{} GROUP BY p.id",
        w.at,
        w.start,
        rows.filter("opr.unit_id")
    )
}

/// The paid counts (online, any) of the dossiers with irregular receipts that [`dossier_sql`] reads row by row
/// (every one of the scope, or with `cut` those not summarised before it), by procedure: what that aggregate,
/// reading receipt columns only, left out. The summaries count the others exactly.
pub(super) fn irregular_sql(w: &Window, scope: &Scope, cut: Option<Micros>) -> String {
    irregular_sql_by(w, scope, cut, false)
}

/// [`irregular_sql`], with `by_unit` also by unit (the unit's id then follows the counts).
pub(super) fn irregular_sql_by(w: &Window, scope: &Scope, cut: Option<Micros>, by_unit: bool) -> String {
    let r = DossierRules::new(w, Receipts::Exact);
    let (unit_column, unit_group) = if by_unit { (", d.unit_id", ", d.unit_id") } else { ("", "") };
    // The dossiers [`dossier_from`] reads with this cut.
    let unsummarised =
        cut.map(|c| format!(" AND (d.settled_at >= {c} OR dp.settled_at >= {c})")).unwrap_or_default();
    // Found from their receipts' row, through its partial index: a scan of the scope's dossiers would grow with
    // them.
    format!(
        "SELECT p.id, {}{unit_column} FROM dossier_paid dp JOIN dossier d ON d.id = dp.dossier_id JOIN procedure p \
         ON p.id = d.procedure_id WHERE dp.irregular{} AND {}{}{unsummarised} GROUP BY p.id{unit_group}",
        irregular_columns(&r),
        unit_filter("dp.unit_id", scope),
        r.received,
        unit_filter("d.unit_id", scope)
    )
}

/// The dossiers received in the period, fee-bearing and paid online, and paid at all, under rules `r` (read with
/// [`Receipts::Exact`]), as two select columns.
pub(super) fn irregular_columns(r: &DossierRules) -> String {
    let base = format!("{} AND {}", r.received_in_period, r.fee);
    format!(
        "SUM(CASE WHEN {base} AND {} THEN 1 ELSE 0 END), SUM(CASE WHEN {base} AND {} THEN 1 ELSE 0 END)",
        r.paid_online, r.paid_any
    )
}

/// The rows the dossier rules read: `dossier d` (all of the scope, or with `cut` those not summarised before it),
/// its `procedure p` and, when it has receipts, its `dossier_paid dp`.
pub(super) fn dossier_from(scope: &Scope, cut: Option<Micros>) -> String {
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
pub(super) fn pakn_rules(w: &Window) -> (String, String, String) {
    pakn_rules_at(&w.at.to_string(), &w.start.to_string())
}

/// [`pakn_rules`] with T and S given as SQL expressions.
pub(super) fn pakn_rules_at(t: &str, s: &str) -> (String, String, String) {
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

pub(super) fn pakn_sql(w: &Window, scope: &Scope) -> String {
    let (in_scope, on_time, satisfied) = pakn_rules(w);
    format!(
        "SELECT {} FROM feedback f WHERE {in_scope}{}",
        pakn_columns(&on_time, &satisfied),
        unit_filter("f.unit_id", scope)
    )
}

/// The PAKN in scope, on time and satisfied (the conditions of [`pakn_rules`]), as three select columns.
pub(super) fn pakn_columns(on_time: &str, satisfied: &str) -> String {
    format!(
        "COUNT(*), COALESCE(SUM(CASE WHEN {on_time} THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN {satisfied} THEN 1 ELSE 0 END), 0)"
    )
}

/// [`pakn_sql`] by unit and by the procedure of the dossier a PAKN is about (none for the others): (unit,
/// procedure, in scope, on time, satisfied).
pub(super) fn pakn_by_sql(w: &Window, scope: &Scope) -> String {
    let (in_scope, on_time, satisfied) = pakn_rules(w);
    format!(
        "SELECT f.unit_id, fd.procedure_id, {} FROM feedback f LEFT JOIN dossier fd ON fd.id = f.dossier_id \
         WHERE {in_scope}{} GROUP BY f.unit_id, fd.procedure_id",
        pakn_columns(&on_time, &satisfied),
        unit_filter("f.unit_id", scope)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dossier_metric_has_a_row_rule_and_a_summary_rule() {
        // The aggregates are decoded by the position of each metric in DOSSIER_METRICS: a metric without both
        // rules would shift every column after it.
        let w = Window { start: 0, end: 10, at: 5, live: false };
        let rules = DossierRules::new(&w, Receipts::Columns);
        for k in DOSSIER_METRICS {
            assert!(rules.metric(k).is_some(), "{k:?} has no row rule");
            assert!(summary_metric(k, &w.start.to_string()).is_some(), "{k:?} has no summary rule");
        }
    }
}
