//! Decision 766 indicators and rankings: public by law, so no token is needed.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, FixedOffset};

use super::enums::UnitLevel;
use super::query::{connection, encode_cursor, page};
use super::types::{Date, Dossier, Feedback, Procedure, Unit};
use super::{IntoGql, service};
use crate::domain::indicators as dom;
use crate::domain::indicators::Window;
use crate::domain::time::{PeriodSpec, from_micros, to_micros};
use crate::service::DrillArgs;
use crate::service::policy::Operation;

/// A period: `year` alone, `year` with `quarter` or `month`, or `from` and `to` (dates, `to` exclusive), in
/// Vietnam time.
#[derive(InputObject, Default, Clone, Copy)]
pub struct PeriodInput {
    /// Calendar year.
    pub year: Option<i32>,
    /// Quarter 1–4 of `year`.
    pub quarter: Option<u32>,
    /// Month 1–12 of `year`.
    pub month: Option<u32>,
    /// First day of a date range.
    pub from: Option<Date>,
    /// Day after the last day of a date range.
    pub to: Option<Date>,
}

impl PeriodInput {
    pub fn spec(&self) -> PeriodSpec {
        PeriodSpec {
            year: self.year,
            quarter: self.quarter,
            month: self.month,
            from: self.from.map(|d| d.0),
            to: self.to.map(|d| d.0),
        }
    }
}

/// Which records of a metric a drill-down lists.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::db::indicators::Outcome", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum MetricOutcome {
    /// Counted in the denominator but not the numerator: where the points go.
    Failing,
    /// Counted in the numerator.
    Passing,
    /// The whole denominator.
    All,
}

/// Grade of a rounded total.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::indicators::Grade", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum Grade {
    /// ≥ 90 (xuất sắc).
    Excellent,
    /// 80 – < 90 (tốt).
    Good,
    /// 70 – < 80 (khá).
    Fair,
    /// 50 – < 70 (trung bình).
    Average,
    /// < 50 (yếu).
    Weak,
}

/// The six groups as the national portal scores them.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::indicators::GroupKey", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum IndicatorGroupKey {
    /// Transparency (18 points).
    Transparency,
    /// Progress (20).
    Progress,
    /// Online service (12).
    OnlineService,
    /// Online payment (10).
    OnlinePayment,
    /// Satisfaction (18).
    Satisfaction,
    /// Digitization (22).
    Digitization,
}

/// The 19 metrics of docs/indicators.md.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::indicators::MetricKey", rename_items = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum MetricKey {
    PublishOnTime,
    PublicUpdateOnTime,
    PublicContentFull,
    DossierSync,
    OnTimeProcessing,
    FullOnlineDossiers,
    PaidOnlineDossiers,
    ProceduresPaidOnline,
    ProceduresWithReceipts,
    DossierSatisfaction,
    PaknOnTime,
    PaknSatisfaction,
    ElectronicResult,
    DigitizedDossiers,
    ElectronicCertifiedCopy,
    ReusedDigitizedData,
    SharedToCitizenStorage,
    VneidDossiers,
    VneidProcedures,
}

/// One metric: its counts, ratio and points.
#[derive(SimpleObject)]
pub struct Metric {
    /// Which metric.
    pub key: MetricKey,
    /// What satisfies the metric.
    pub numerator: i64,
    /// What the metric counts.
    pub denominator: i64,
    /// numerator / denominator; null when nothing is counted.
    pub ratio: Option<f64>,
    /// Points, rounded to 2 decimals (half away from zero).
    pub score: f64,
    /// The metric's maximum.
    pub max_score: f64,
}

/// One group of metrics.
#[derive(SimpleObject)]
pub struct IndicatorGroup {
    /// Which group.
    pub key: IndicatorGroupKey,
    /// Sum of the metrics' exact points, rounded to 2 decimals.
    pub score: f64,
    /// The group's maximum.
    pub max_score: f64,
    /// The metrics.
    pub metrics: Vec<Metric>,
}

/// A unit's indicator report for a period.
#[derive(SimpleObject)]
pub struct IndicatorReport {
    /// The unit.
    pub unit_code: String,
    /// The formula version that produced the numbers.
    pub formula_version: String,
    /// Start of the period (inclusive).
    pub period_start: DateTime<FixedOffset>,
    /// End of the period (exclusive).
    pub period_end: DateTime<FixedOffset>,
    /// The evaluation instant: the earlier of the period's end and `asOf`.
    pub as_of: DateTime<FixedOffset>,
    /// Total of 100 points, rounded to 2 decimals.
    pub total: f64,
    /// Grade of the rounded total.
    pub grade: Grade,
    /// The six groups.
    pub groups: Vec<IndicatorGroup>,
}

/// The length of one step of `indicatorSeries`.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::time::SeriesStep", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum SeriesStep {
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
    /// Calendar years.
    Year,
}

/// How `indicatorBreakdown` groups a unit's records.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::indicators::BreakdownBy", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum BreakdownBy {
    /// By the unit's children and the units merged into it (each with everything in its scope); the unit's own
    /// records form a group of their own.
    ChildUnit,
    /// By the sector of the procedure a record was filed under.
    Sector,
    /// By the procedure a record was filed under.
    Procedure,
}

/// What a breakdown group is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::indicators::GroupKind", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum BreakdownGroupKind {
    /// The unit's own records; for procedure metrics also the procedures of an announcing authority above it.
    Own,
    /// A child unit or a unit merged into the unit.
    Unit,
    /// A sector.
    Sector,
    /// A procedure.
    Procedure,
    /// Records filed under no procedure: communes (ELECTRONIC_CERTIFIED_COPY) and PAKN not about a dossier.
    NoProcedure,
}

/// One group of a breakdown: its share of the metric.
#[derive(SimpleObject)]
pub struct BreakdownGroup {
    /// What the group is.
    pub kind: BreakdownGroupKind,
    /// The unit's, sector's or procedure's code (empty for NO_PROCEDURE).
    pub code: String,
    /// Its name (empty for NO_PROCEDURE).
    pub name: String,
    /// The group's records in the metric's numerator.
    pub numerator: i64,
    /// The group's records in the metric's denominator.
    pub denominator: i64,
    /// numerator / denominator; null when the group has nothing in the denominator.
    pub ratio: Option<f64>,
    /// The points of the metric the unit loses because of this group's failing records (the unit's loss shared
    /// by failing records), rounded to 2 decimals.
    pub points_lost: f64,
}

/// The metric a breakdown cuts, as the unit's report has it.
#[derive(SimpleObject)]
pub struct BreakdownSummary {
    /// The unit.
    pub unit_code: String,
    /// The metric.
    pub metric: MetricKey,
    /// How the groups are formed.
    pub by: BreakdownBy,
    /// Start of the period (inclusive).
    pub period_start: DateTime<FixedOffset>,
    /// End of the period (exclusive).
    pub period_end: DateTime<FixedOffset>,
    /// The evaluation instant.
    pub as_of: DateTime<FixedOffset>,
    /// The unit's numerator: the sum of the groups'.
    pub numerator: i64,
    /// The unit's denominator: the sum of the groups'.
    pub denominator: i64,
    /// numerator / denominator; null when nothing is counted.
    pub ratio: Option<f64>,
    /// The metric's points, rounded to 2 decimals.
    pub score: f64,
    /// The metric's maximum.
    pub max_score: f64,
    /// The points lost on the metric, rounded to 2 decimals.
    pub points_lost: f64,
    /// How many groups there are.
    pub total_count: i32,
}

/// A unit's place in a ranking.
#[derive(SimpleObject)]
pub struct RankingEntry {
    /// Competition rank (1, 2, 2, 4).
    pub rank: i32,
    /// Number of peers.
    pub of: i32,
    /// The unit.
    pub unit_code: String,
    /// Its name.
    pub unit_name: String,
    /// Its rounded total.
    pub total: f64,
    /// Its grade.
    pub grade: Grade,
}

/// The arguments of a drill-down, parsed.
#[allow(clippy::too_many_arguments)] // each argument is a GraphQL argument
fn drill_args(
    ctx: &Context<'_>,
    unit_code: String,
    period: &PeriodInput,
    as_of: Option<DateTime<FixedOffset>>,
    metric: dom::MetricKey,
    outcome: MetricOutcome,
    sector_code: Option<String>,
    procedure_code: Option<String>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<(DrillArgs, bool)> {
    let (page, had) = page(ctx, first, after)?;
    let args = DrillArgs {
        unit_code,
        period: period.spec(),
        as_of: as_of.map(to_micros),
        metric,
        outcome: outcome.into(),
        sector_code,
        procedure_code,
        page,
    };
    Ok((args, had))
}

pub(crate) fn to_report(unit_code: String, w: &Window, s: &dom::Scored) -> IndicatorReport {
    IndicatorReport {
        unit_code,
        formula_version: dom::FORMULA_VERSION.to_owned(),
        period_start: from_micros(w.start),
        period_end: from_micros(w.end),
        as_of: from_micros(w.at),
        total: s.points,
        grade: s.grade.into(),
        groups: s
            .groups
            .iter()
            .map(|g| IndicatorGroup {
                key: g.key.into(),
                score: g.points,
                max_score: g.key.max_score() as f64,
                metrics: g
                    .metrics
                    .iter()
                    .map(|m| Metric {
                        key: m.key.into(),
                        numerator: m.count.num,
                        denominator: m.count.den,
                        ratio: m.ratio,
                        score: m.points,
                        max_score: m.max as f64,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Indicator queries.
#[derive(Default)]
pub struct IndicatorQuery;

/// What one request's indicator reports were computed from, noted by their resolvers for the edge, which may
/// keep the whole answer (`http::answers`); `None` once one of them
/// could not be kept (a live window, or a report without a single basis).
pub struct AnswerBasis(std::sync::Mutex<Option<Vec<(String, crate::db::DataVersion)>>>);

impl Default for AnswerBasis {
    fn default() -> Self {
        AnswerBasis(std::sync::Mutex::new(Some(Vec::new())))
    }
}

impl AnswerBasis {
    /// Notes a report the answer holds.
    pub fn note(&self, report: &crate::indicators::Report) {
        let mut noted = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match (&report.basis, report.window.live) {
            (Some(b), false) => {
                if let Some(v) = noted.as_mut() {
                    v.push(b.clone());
                }
            }
            _ => *noted = None,
        }
    }

    pub(crate) fn taken(&self) -> Option<Vec<(String, crate::db::DataVersion)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Indicator queries.
#[Object]
impl IndicatorQuery {
    /// The Decision 766 indicators of a unit (its scope: the units below it and those merged into it) for a
    /// period, evaluated at `asOf` (default now; never after the period's end, nor after now).
    async fn indicators(
        &self,
        ctx: &Context<'_>,
        unit_code: String,
        period: PeriodInput,
        as_of: Option<DateTime<FixedOffset>>,
    ) -> async_graphql::Result<IndicatorReport> {
        let r = service(ctx).indicators(&unit_code, &period.spec(), as_of.map(to_micros)).await.gql()?;
        // The edge may keep the whole answer, with what each of its reports was computed from.
        if let Ok(basis) = ctx.data::<std::sync::Arc<AnswerBasis>>() {
            basis.note(&r);
        }
        Ok(to_report(unit_code, &r.window, &r.scored))
    }

    /// The units of one level, valid at the evaluation instant and within `parentCode`'s scope (the parent
    /// excluded), ranked by total.
    async fn ranking(
        &self,
        ctx: &Context<'_>,
        level: UnitLevel,
        parent_code: Option<String>,
        period: PeriodInput,
        as_of: Option<DateTime<FixedOffset>>,
    ) -> async_graphql::Result<Vec<RankingEntry>> {
        let spec = period.spec();
        let ranked = service(ctx)
            .ranking(level.into(), parent_code.as_deref(), &spec, as_of.map(to_micros))
            .await
            .gql()?;
        Ok(ranked
            .into_iter()
            .map(|r| RankingEntry {
                rank: r.rank as i32,
                of: r.of as i32,
                unit_code: r.code.into(),
                unit_name: r.name,
                total: r.total,
                grade: r.grade.into(),
            })
            .collect())
    }

    /// The reports of a unit for each step from `from` to `to` (exclusive; both the first day of a step), each
    /// exactly the `indicators` of the step's period or, with `cumulative`, of the period from the start of the
    /// step's year to the step's end (as the national portal reports a year in progress). At most 120 steps.
    #[allow(clippy::too_many_arguments)] // each argument is a GraphQL argument
    async fn indicator_series(
        &self,
        ctx: &Context<'_>,
        unit_code: String,
        from: Date,
        to: Date,
        step: SeriesStep,
        #[graphql(default_with = "Some(false)")] cumulative: Option<bool>,
        as_of: Option<DateTime<FixedOffset>>,
    ) -> async_graphql::Result<Vec<IndicatorReport>> {
        let reports = service(ctx)
            .indicator_series(
                &unit_code,
                from.0,
                to.0,
                step.into(),
                cumulative.unwrap_or(false),
                as_of.map(to_micros),
            )
            .await
            .gql()?;
        Ok(reports.iter().map(|r| to_report(unit_code.clone(), &r.window, &r.scored)).collect())
    }

    /// One metric of a unit's report cut into groups (by child unit, sector or procedure) whose numerators and
    /// denominators add up to the unit's, sorted by the points each group's failing records cost (most first).
    /// Aggregates, public like `indicators`; the records behind them are the drill-downs'.
    #[allow(clippy::too_many_arguments)] // each argument is a GraphQL argument
    async fn indicator_breakdown(
        &self,
        ctx: &Context<'_>,
        unit_code: String,
        period: PeriodInput,
        metric: MetricKey,
        by: BreakdownBy,
        as_of: Option<DateTime<FixedOffset>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, BreakdownGroup, BreakdownSummary, EmptyFields>> {
        let (p, had) = page(ctx, first, after)?;
        let b = service(ctx)
            .indicator_breakdown(&unit_code, &period.spec(), as_of.map(to_micros), metric.into(), by.into())
            .await
            .gql()?;
        let skip = p.after.map_or(0, |a| usize::try_from(a).unwrap_or(usize::MAX).saturating_add(1));
        let total = b.groups.len();
        let summary = BreakdownSummary {
            unit_code,
            metric,
            by,
            period_start: from_micros(b.window.start),
            period_end: from_micros(b.window.end),
            as_of: from_micros(b.window.at),
            numerator: b.metric.count.num,
            denominator: b.metric.count.den,
            ratio: b.metric.ratio,
            score: b.metric.points,
            max_score: b.metric.max as f64,
            points_lost: b.points_lost,
            total_count: i32::try_from(total).unwrap_or(i32::MAX),
        };
        let end = skip.saturating_add(p.first as usize).min(total);
        let mut c = Connection::with_additional_fields(had, end < total, summary);
        c.edges.extend(b.groups.into_iter().enumerate().skip(skip).take(end.saturating_sub(skip)).map(
            |(i, g)| {
                Edge::new(
                    encode_cursor(i as i64),
                    BreakdownGroup {
                        kind: g.kind.into(),
                        code: g.code,
                        name: g.name,
                        numerator: g.count.num,
                        denominator: g.count.den,
                        ratio: g.ratio,
                        points_lost: g.points_lost,
                    },
                )
            },
        ));
        Ok(c)
    }

    /// The dossiers behind a dossier metric of `indicators` (by default those that cost points), newest first,
    /// filterable by sector and procedure. LEADER and ADMIN, for units in their scope.
    #[allow(clippy::too_many_arguments)] // each argument is a GraphQL argument
    async fn indicator_dossiers(
        &self,
        ctx: &Context<'_>,
        unit_code: String,
        period: PeriodInput,
        as_of: Option<DateTime<FixedOffset>>,
        metric: MetricKey,
        #[graphql(default_with = "MetricOutcome::Failing")] outcome: MetricOutcome,
        sector_code: Option<String>,
        procedure_code: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Dossier, EmptyFields, EmptyFields>> {
        let (args, had) = drill_args(
            ctx,
            unit_code,
            &period,
            as_of,
            metric.into(),
            outcome,
            sector_code,
            procedure_code,
            first,
            after,
        )?;
        let p = service(ctx).indicator_dossiers(args).await.gql()?;
        Ok(connection(p, |d| d.id, |d| Dossier(d, Operation::IndicatorDossiers), had))
    }

    /// The procedures behind a procedure metric (by default those that cost points), newest first, filterable by
    /// sector: for PUBLISH_ON_TIME, PUBLIC_UPDATE_ON_TIME and PUBLIC_CONTENT_FULL the procedures of the unit's
    /// announcing province or ministry; for PROCEDURES_PAID_ONLINE, PROCEDURES_WITH_RECEIPTS and VNEID_PROCEDURES
    /// those with dossiers in the unit's scope. LEADER and ADMIN, for units in their scope.
    #[allow(clippy::too_many_arguments)] // each argument is a GraphQL argument
    async fn indicator_procedures(
        &self,
        ctx: &Context<'_>,
        unit_code: String,
        period: PeriodInput,
        as_of: Option<DateTime<FixedOffset>>,
        metric: MetricKey,
        #[graphql(default_with = "MetricOutcome::Failing")] outcome: MetricOutcome,
        sector_code: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Procedure, EmptyFields, EmptyFields>> {
        let (args, had) = drill_args(
            ctx,
            unit_code,
            &period,
            as_of,
            metric.into(),
            outcome,
            sector_code,
            None,
            first,
            after,
        )?;
        let p = service(ctx).indicator_procedures(args).await.gql()?;
        Ok(connection(p, |p| p.id, Procedure, had))
    }

    /// The communes behind ELECTRONIC_CERTIFIED_COPY (by default those that cost points: valid at the evaluation
    /// instant in the unit's scope and not offering electronic certified copies), by code. LEADER and ADMIN, for
    /// units in their scope.
    async fn indicator_communes(
        &self,
        ctx: &Context<'_>,
        unit_code: String,
        period: PeriodInput,
        as_of: Option<DateTime<FixedOffset>>,
        #[graphql(default_with = "MetricOutcome::Failing")] outcome: MetricOutcome,
    ) -> async_graphql::Result<Vec<Unit>> {
        let units = service(ctx)
            .indicator_communes(&unit_code, &period.spec(), as_of.map(to_micros), outcome.into())
            .await
            .gql()?;
        Ok(units.into_iter().map(Unit).collect())
    }

    /// The PAKN behind PAKN_ON_TIME or PAKN_SATISFACTION (by default those that cost points), newest first;
    /// with `sectorCode` or `procedureCode`, only those about a dossier of such a procedure. LEADER and ADMIN,
    /// for units in their scope.
    #[allow(clippy::too_many_arguments)] // each argument is a GraphQL argument
    async fn indicator_feedback(
        &self,
        ctx: &Context<'_>,
        unit_code: String,
        period: PeriodInput,
        as_of: Option<DateTime<FixedOffset>>,
        metric: MetricKey,
        #[graphql(default_with = "MetricOutcome::Failing")] outcome: MetricOutcome,
        sector_code: Option<String>,
        procedure_code: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Feedback, EmptyFields, EmptyFields>> {
        let (args, had) = drill_args(
            ctx,
            unit_code,
            &period,
            as_of,
            metric.into(),
            outcome,
            sector_code,
            procedure_code,
            first,
            after,
        )?;
        let p = service(ctx).indicator_feedback(args).await.gql()?;
        Ok(connection(p, |f| f.row.id, |f| Feedback(f, Operation::IndicatorFeedback), had))
    }
}
