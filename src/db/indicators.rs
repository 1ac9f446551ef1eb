//! The counts behind the Decision 766 indicators, computed by SQL aggregates over indexed columns (never by
//! loading dossiers into the process). The same SQL text runs on SQLite and PostgreSQL: instants are integers
//! and every bound is an integer written into the statement by this module (never text from a client).

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement};

use crate::domain::UnitLevel;
use crate::domain::indicators::{Count, MetricKey};
use crate::domain::scope::{Scope, UnitTree};
use crate::domain::time::{Calendar, Micros, first_date_at_or_after, start_of};

/// The instants of one evaluation: the period `[s, e)` and the evaluation instant `t = min(e, asOf)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub s: Micros,
    pub e: Micros,
    pub t: Micros,
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

/// The per-procedure dossier aggregate (see indicators.md, "Dossier rules").
fn dossier_sql(w: &Window, scope: &Scope) -> String {
    let (t, s) = (w.t, w.s);
    let ended_res = format!("(d.resolved_at IS NOT NULL AND d.resolved_at <= {t})");
    let ended_other = format!("(d.other_end_at IS NOT NULL AND d.other_end_at <= {t})");
    let end_event =
        format!("(CASE WHEN {ended_res} THEN d.resolved_at WHEN {ended_other} THEN d.other_end_at END)");
    let two_sup =
        format!("(d.second_supplement_requested_at IS NOT NULL AND d.second_supplement_requested_at <= {t})");
    let one_sup =
        format!("(d.first_supplement_requested_at IS NOT NULL AND d.first_supplement_requested_at <= {t})");
    let answered =
        format!("(d.first_supplement_received_at IS NOT NULL AND d.first_supplement_received_at <= {t})");
    let end_t = format!(
        "COALESCE({end_event}, CASE WHEN {one_sup} AND NOT {two_sup} AND NOT {answered} THEN d.first_supplement_requested_at END)"
    );
    let paused = format!(
        "(CASE WHEN {one_sup} AND NOT {two_sup} AND {answered} THEN d.first_supplement_received_at - d.first_supplement_requested_at ELSE 0 END)"
    );
    let on_time = format!("(NOT {two_sup} AND COALESCE({end_t}, {t}) - {paused} <= d.due_at)");
    let in_scope = format!("({end_t} IS NULL OR {end_t} >= {s})");
    let rip = format!("(d.received_at >= {s})");
    let no_negative = format!("(d.negative_feedback_at IS NULL OR d.negative_feedback_at > {t})");
    let receipt = |online: bool| {
        format!(
            "EXISTS (SELECT 1 FROM receipt r WHERE r.dossier_id = d.id AND r.issued_at <= {t} AND (r.cancelled_at IS NULL OR r.cancelled_at > {t}){})",
            if online { " AND r.payment_channel IN ('NATIONAL_PORTAL', 'PROVINCIAL_PORTAL')" } else { "" }
        )
    };
    let fee = "(p.fee > 0)";
    let full = "(p.online_level = 'FULL')";
    let er = format!(
        "({end_event} IS NOT NULL AND {end_event} >= {s} AND {end_event} < {t} AND ({ended_res} OR d.other_end_status = 'RETURNED') AND p.returns_paper_result)"
    );
    let n = |cond: String| format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let cols = [
        n(in_scope.clone()),
        n(format!("{in_scope} AND {on_time}")),
        n(format!("{in_scope} AND {on_time} AND {no_negative}")),
        n(rip.clone()),
        n(format!("{rip} AND d.synced_at IS NOT NULL AND d.synced_at <= {t}")),
        n(format!("{rip} AND {full}")),
        n(format!("{rip} AND {full} AND d.channel = 'ONLINE'")),
        n(format!("{rip} AND {fee}")),
        n(format!("{rip} AND {fee} AND {}", receipt(true))),
        n(format!("{rip} AND {fee} AND {}", receipt(false))),
        n(er.clone()),
        n(format!("{er} AND d.result_electronic")),
        n(format!("{rip} AND d.inputs_digitized AND (NOT p.returns_paper_result OR d.result_electronic)")),
        n(format!("{rip} AND d.reused_data")),
        n(format!("{rip} AND (d.from_citizen_storage OR d.result_to_citizen_storage)")),
        n(format!("{rip} AND d.vneid_verified")),
    ];
    format!(
        "SELECT p.id, CAST(MAX(CASE WHEN p.fee > 0 THEN 1 ELSE 0 END) AS BIGINT), CAST(MAX(CASE WHEN p.accepts_citizens THEN 1 ELSE 0 END) AS BIGINT), {} \
         FROM dossier d JOIN procedure p ON p.id = d.procedure_id \
         WHERE d.received_at < {t} AND (d.not_accepted_at IS NULL OR d.not_accepted_at > {t}){} \
         GROUP BY p.id",
        cols.join(", "),
        unit_filter("d.unit_id", scope)
    )
}

fn pakn_sql(w: &Window, scope: &Scope) -> String {
    let (t, s) = (w.t, w.s);
    let on_time = format!(
        "((f.answered_at IS NOT NULL AND f.answered_at <= {t} AND f.answered_at <= f.due_at) OR \
         ((f.answered_at IS NULL OR f.answered_at > {t}) AND {t} <= f.due_at))"
    );
    format!(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN {on_time} THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN {on_time} AND f.dislikes <= f.likes AND NOT EXISTS (SELECT 1 FROM feedback f2 \
         WHERE f2.repeat_of_id = f.id AND f2.received_at <= {t}) THEN 1 ELSE 0 END), 0) \
         FROM feedback f WHERE f.kind IN ('COMPLAINT', 'RECOMMENDATION') AND f.received_at < {t} \
         AND (f.answered_at IS NULL OR f.answered_at > {t} OR f.answered_at >= {s}){}",
        unit_filter("f.unit_id", scope)
    )
}

fn get(row: &QueryResult, i: usize) -> Result<i64, DbErr> {
    // SUM gives BIGINT on PostgreSQL and INTEGER on SQLite; both read as i64.
    row.try_get_by_index::<Option<i64>>(i).map(|v| v.unwrap_or(0))
}

/// Counts every metric for `unit_code` in window `w`.
pub async fn counts(
    conn: &impl ConnectionTrait,
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
) -> Result<Counts, DbErr> {
    let scope = tree.scope_at(unit_code, w.t);
    let backend = conn.get_database_backend();
    let mut c: HashMap<MetricKey, Count> = HashMap::new();
    let mut add = |k: MetricKey, num: i64, den: i64| {
        let e = c.entry(k).or_default();
        e.num += num;
        e.den += den;
    };

    let rows = conn.query_all_raw(Statement::from_string(backend, dossier_sql(w, &scope))).await?;
    for row in &rows {
        let v: Vec<i64> = (1..19).map(|i| get(row, i)).collect::<Result<_, _>>()?;
        let (fee_bearing, citizens) = (v[0] > 0, v[1] > 0);
        let x = &v[2..];
        add(MetricKey::OnTimeProcessing, x[1], x[0]);
        add(MetricKey::DossierSatisfaction, x[2], x[0]);
        add(MetricKey::DossierSync, x[4], x[3]);
        add(MetricKey::FullOnlineDossiers, x[6], x[5]);
        add(MetricKey::PaidOnlineDossiers, x[8], x[7]);
        if fee_bearing && x[3] > 0 {
            add(MetricKey::ProceduresPaidOnline, i64::from(x[8] > 0), 1);
            add(MetricKey::ProceduresWithReceipts, i64::from(x[9] > 0), 1);
        }
        add(MetricKey::ElectronicResult, x[11], x[10]);
        add(MetricKey::DigitizedDossiers, x[12], x[3]);
        add(MetricKey::ReusedDigitizedData, x[13], x[3]);
        add(MetricKey::SharedToCitizenStorage, x[14], x[3]);
        add(MetricKey::VneidDossiers, x[15], x[3]);
        if citizens && x[3] > 0 {
            add(MetricKey::VneidProcedures, i64::from(x[15] > 0), 1);
        }
    }

    if let Some(row) = conn.query_one_raw(Statement::from_string(backend, pakn_sql(w, &scope))).await? {
        let (den, on_time, satisfied) = (get(&row, 0)?, get(&row, 1)?, get(&row, 2)?);
        add(MetricKey::PaknOnTime, on_time, den);
        add(MetricKey::PaknSatisfaction, satisfied, den);
    }

    // Communes of the scope valid at T.
    for u in
        tree.all().iter().filter(|u| u.level == UnitLevel::Commune && scope.contains(u.id) && u.valid_at(w.t))
    {
        add(MetricKey::ElectronicCertifiedCopy, i64::from(u.offers_e_certified_copy), 1);
    }

    // Transparency: the procedures announced by the nearest province or ministry at or above the unit.
    if let Some(authority) = tree.authority_of(unit_code) {
        let auth_scope = tree.scope_at(&authority.code, w.t);
        let sql = format!(
            "SELECT p.authority_id, p.legal_effective_on, p.announced_on, p.published_on, p.status, p.content_full \
             FROM procedure p WHERE 1 = 1{}",
            unit_filter("p.authority_id", &auth_scope)
        );
        let first_day = first_date_at_or_after(w.s);
        let before_t = first_date_at_or_after(w.t);
        for row in conn.query_all_raw(Statement::from_string(backend, sql)).await? {
            let authority_id: i64 = row.try_get_by_index(0)?;
            let legal: Option<chrono::NaiveDate> = row.try_get_by_index(1)?;
            let announced: Option<chrono::NaiveDate> = row.try_get_by_index(2)?;
            let published: Option<chrono::NaiveDate> = row.try_get_by_index(3)?;
            let status: String = row.try_get_by_index(4)?;
            let content_full: bool = row.try_get_by_index(5)?;
            let (n, m) = match tree.by_id(authority_id).map(|u| u.level) {
                Some(UnitLevel::Ministry) => (20, 10),
                _ => (5, 5),
            };
            let published_before_t = published.is_some_and(|d| start_of(d) < w.t);
            if let Some(a) = announced.filter(|a| *a >= first_day && *a < before_t) {
                let publish_ok = legal.is_some_and(|l| a <= calendar.add_working_days(l, -n));
                add(MetricKey::PublishOnTime, i64::from(publish_ok), 1);
                let update_ok =
                    published_before_t && published.is_some_and(|p| p <= calendar.add_working_days(a, m));
                add(MetricKey::PublicUpdateOnTime, i64::from(update_ok), 1);
            }
            if status == "PUBLISHED" && published_before_t {
                add(MetricKey::PublicContentFull, i64::from(content_full), 1);
            }
        }
    }
    Ok(Counts(c))
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

/// The window of a period spec and an optional `asOf` (default: now).
pub fn window(
    spec: &crate::domain::time::PeriodSpec,
    as_of: Option<Micros>,
    now: Micros,
) -> Result<Window, IndicatorError> {
    let p = spec.resolve()?;
    Ok(Window { s: p.start, e: p.end, t: p.end.min(as_of.unwrap_or(now)) })
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
