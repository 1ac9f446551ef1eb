//! The drill-downs behind each metric: the dossiers, PAKN, procedures or communes a count counted, with the
//! same conditions as the count (see [`super::rules`]), a page at a time.

use sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::domain::indicators::{MetricKey, Window};
use crate::domain::scope::{Scope, UnitTree};
use crate::domain::time::Calendar;

use super::rules::*;
use super::{
    Reading, announced_procedures, certified_copy_places, dossier_aggregates, procedure_places,
    transparency_places,
};

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

pub(super) fn outcome_condition(outcome: Outcome, num: &str) -> String {
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
pub(super) fn push_procedure_filters(sql: &mut String, q: &DrillQuery) {
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
            let announced = announced_procedures(conn, tree, unit_code, w.at).await?;
            transparency_places(&announced, tree, calendar, unit_code, w)
        }
        ProceduresPaidOnline | ProceduresWithReceipts | VneidProcedures => {
            let scope = tree.scope_at(unit_code, w.at);
            let units = Summarised::Units(&scope);
            let (_, procedures) =
                dossier_aggregates(conn, w, &scope, &units, Reading::of(conn, w).await?).await?;
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
    let scope = tree.scope_at(unit_code, w.at);
    let mut ids: Vec<i64> = certified_copy_places(tree, &scope, w)
        .filter(|&(_, _, passing)| listed(outcome, passing))
        .map(|(id, ..)| id)
        .collect();
    ids.sort_by_cached_key(|id| tree.by_id(*id).map(|u| u.code.clone()));
    ids
}
