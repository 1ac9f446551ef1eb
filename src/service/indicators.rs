//! The Decision 766 indicators (public by law) and the records behind them (dashboards in scope).
//!
//! Every operation evaluates at one instant T, never after now: an `asOf` in the future is evaluated now (see
//! [`Window::of`]). A drill-down is authorized and scoped at that instant: the unit's scope at T must lie within
//! the caller's scope, so a merger that has not happened yet never shows its units early.

use super::feedback::FeedbackView;
use super::policy::Operation;
use super::{ApiError, Grant, PageArgs, Service};
use crate::db::indicators::{self as ind, DrillQuery, Outcome};
use crate::db::read::{self, Page, ReadScope};
use crate::domain::UnitLevel;
use crate::domain::indicators::MetricKey;
use crate::domain::indicators::{Ranked, Window};
use crate::domain::scope::{Scope, UnitInfo};
use crate::domain::time::{Micros, PeriodSpec, SeriesStep, series_periods};
use entity::audit_event::ObjectKind;
use sea_orm::{DatabaseConnection, DbErr};
use std::future::Future;

/// What a drill-down asks.
#[derive(Debug, Clone)]
pub struct DrillArgs {
    pub unit_code: String,
    pub period: PeriodSpec,
    pub as_of: Option<Micros>,
    pub metric: MetricKey,
    pub outcome: Outcome,
    pub sector_code: Option<String>,
    pub procedure_code: Option<String>,
    pub page: PageArgs,
}

impl Service<'_> {
    /// A unit's report for a period.
    pub async fn indicators(
        &self,
        unit_code: &str,
        period: &PeriodSpec,
        as_of: Option<Micros>,
    ) -> Result<crate::indicators::Report, ApiError> {
        let g = self.grant(Operation::Indicators).await?;
        let w = Window::of(period, as_of, g.now)?;
        Ok(crate::indicators::report(self.app, unit_code, &w).await?)
    }

    /// The units of a level within a parent, ranked.
    pub async fn ranking(
        &self,
        level: UnitLevel,
        parent_code: Option<&str>,
        period: &PeriodSpec,
        as_of: Option<Micros>,
    ) -> Result<Vec<Ranked>, ApiError> {
        let g = self.grant(Operation::Ranking).await?;
        let w = Window::of(period, as_of, g.now)?;
        Ok(crate::indicators::ranking(self.app, level, parent_code, &w).await?)
    }

    /// A unit's reports for each step from `from` to `to` (see [`series_periods`]), each exactly its `indicators`.
    pub async fn indicator_series(
        &self,
        unit_code: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        step: SeriesStep,
        cumulative: bool,
        as_of: Option<Micros>,
    ) -> Result<Vec<crate::indicators::Report>, ApiError> {
        let g = self.grant(Operation::IndicatorSeries).await?;
        let windows = series_periods(from, to, step, cumulative)?
            .iter()
            .map(|p| Window::of(p, as_of, g.now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::indicators::series(self.app, unit_code, &windows).await?)
    }

    /// One metric of a unit's report broken down by child unit, sector or procedure (aggregates, public like
    /// the report; the records stay behind the drill-downs).
    pub async fn indicator_breakdown(
        &self,
        unit_code: &str,
        period: &PeriodSpec,
        as_of: Option<Micros>,
        metric: MetricKey,
        by: crate::indicators::BreakdownBy,
    ) -> Result<crate::indicators::Breakdown, ApiError> {
        let g = self.grant(Operation::IndicatorBreakdown).await?;
        let w = Window::of(period, as_of, g.now)?;
        Ok(crate::indicators::breakdown(self.app, unit_code, &w, metric, by).await?)
    }

    /// Checks that a report subscription may start (the unit exists and the period is valid).
    pub async fn subscribe_report(&self, unit_code: &str, period: &PeriodSpec) -> Result<(), ApiError> {
        let g = self.grant(Operation::IndicatorReportChanged).await?;
        Window::of(period, None, g.now)?;
        if self.app.units().await?.get(unit_code).is_none() {
            return Err(ApiError::NotFound);
        }
        Ok(())
    }

    /// The common start of a drill-down: the grant, the window, and the unit's scope at T, which must lie within
    /// the caller's records (anything else looks missing, and is recorded as refused when the unit exists).
    async fn drill(
        &self,
        op: Operation,
        unit_code: &str,
        period: &PeriodSpec,
        as_of: Option<Micros>,
    ) -> Result<(Grant, Window, Scope), ApiError> {
        let g = self.grant(op).await?;
        let w = Window::of(period, as_of, g.now)?;
        let data = g.tree.scope_at(unit_code, w.at);
        let within = match &g.scope {
            ReadScope::Units(mine, _) => !data.ids.is_empty() && data.ids.iter().all(|id| mine.contains(*id)),
            _ => false,
        };
        if !within {
            self.missed(op, ObjectKind::Unit, unit_code, &g).await?;
            return Err(ApiError::NotFound);
        }
        Ok((g, w, data))
    }

    /// The drill-down query: sector and procedure codes resolved to ids (an unknown code matches nothing).
    async fn drill_query(&self, a: &DrillArgs) -> Result<DrillQuery, ApiError> {
        let sector_id = match &a.sector_code {
            Some(c) => Some(read::sector_id(&self.app.db, c).await?.unwrap_or(-1)),
            None => None,
        };
        let procedure_id = match &a.procedure_code {
            Some(c) => Some(read::procedure_by_code(&self.app.db, c).await?.map_or(-1, |p| p.id)),
            None => None,
        };
        Ok(DrillQuery {
            metric: a.metric,
            outcome: a.outcome,
            sector_id,
            procedure_id,
            first: a.page.first,
            after: a.page.after,
        })
    }

    /// The dossiers behind a dossier metric.
    pub async fn indicator_dossiers(&self, a: DrillArgs) -> Result<Page<entity::dossier::Model>, ApiError> {
        let (_, w, scope) =
            self.drill(Operation::IndicatorDossiers, &a.unit_code, &a.period, a.as_of).await?;
        let q = self.drill_query(&a).await?;
        let (scope, w, q) = (&scope, &w, &q);
        self.drilled_page(
            q.first,
            |db| async move { ind::drill_dossiers(&db, scope, w, q).await },
            |db, ids| async move { read::dossiers_by_ids(&db, &ids).await },
        )
        .await
    }

    /// The procedures behind a procedure metric.
    pub async fn indicator_procedures(
        &self,
        a: DrillArgs,
    ) -> Result<Page<entity::procedure::Model>, ApiError> {
        let (g, w, _) = self.drill(Operation::IndicatorProcedures, &a.unit_code, &a.period, a.as_of).await?;
        let calendar = self.app.calendar().await?;
        let q = self.drill_query(&a).await?;
        let (tree, calendar, unit_code, w, q) = (&g.tree, &calendar, &a.unit_code, &w, &q);
        self.drilled_page(
            q.first,
            |db| async move { ind::drill_procedures(&db, tree, calendar, unit_code, w, q).await },
            |db, ids| async move { read::procedures_by_ids(&db, &ids).await },
        )
        .await
    }

    /// The communes behind ELECTRONIC_CERTIFIED_COPY, by code.
    pub async fn indicator_communes(
        &self,
        unit_code: &str,
        period: &PeriodSpec,
        as_of: Option<Micros>,
        outcome: Outcome,
    ) -> Result<Vec<UnitInfo>, ApiError> {
        let (g, w, _) = self.drill(Operation::IndicatorCommunes, unit_code, period, as_of).await?;
        let ids = ind::drill_communes(&g.tree, unit_code, &w, outcome);
        Ok(ids.iter().filter_map(|id| g.tree.by_id(*id).cloned()).collect())
    }

    /// The PAKN behind PAKN_ON_TIME or PAKN_SATISFACTION.
    pub async fn indicator_feedback(&self, a: DrillArgs) -> Result<Page<FeedbackView>, ApiError> {
        let (g, w, scope) =
            self.drill(Operation::IndicatorFeedback, &a.unit_code, &a.period, a.as_of).await?;
        let q = self.drill_query(&a).await?;
        let (scope, w, q) = (&scope, &w, &q);
        let page = self
            .drilled_page(
                q.first,
                |db| async move { ind::drill_pakn(&db, scope, w, q).await },
                |db, ids| async move { read::feedback_by_ids(&db, &ids).await },
            )
            .await?;
        Ok(Page { items: self.feedback_views(&g.scope, page.items).await?, has_next: page.has_next })
    }
}

impl Service<'_> {
    /// One page of a drill-down: the ids the rules select (`first + 1` of them, by `ids`), then the rows of the
    /// first `first` (by `rows`), both read on one connection (a replica when one has caught up).
    async fn drilled_page<T, I, IFut, R, RFut>(
        &self,
        first: u64,
        ids: I,
        rows: R,
    ) -> Result<Page<T>, ApiError>
    where
        I: Fn(DatabaseConnection) -> IFut,
        IFut: Future<Output = Result<Vec<i64>, ind::DrillError>>,
        R: Fn(DatabaseConnection, Vec<i64>) -> RFut,
        RFut: Future<Output = Result<Vec<T>, DbErr>>,
    {
        let (ids, rows) = (&ids, &rows);
        let (items, has_next) = (self.app.reads)
            .run(|db| async move {
                let (found, has_next) = one_page(ids(db.clone()).await?, first);
                Ok::<_, ApiError>((rows(db, found).await?, has_next))
            })
            .await?;
        Ok(Page { items, has_next })
    }
}

/// The ids of one page from the `first + 1` a drill-down found, and whether another page follows.
fn one_page(mut ids: Vec<i64>, first: u64) -> (Vec<i64>, bool) {
    let has_next = ids.len() as u64 > first;
    ids.truncate(first as usize);
    (ids, has_next)
}
