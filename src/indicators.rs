//! The indicator service: a unit and a period → scope → data generation → cache → counts → scores. Counting
//! is `db::indicators`; scoring is `domain::indicators`; this module only wires them to the cache.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::cache::{Aggregate, IndicatorKey, Ttl};
use crate::db::indicators as ind;
use crate::domain::UnitLevel;
use crate::domain::indicators::{
    Count, FORMULA_VERSION, MetricKey, Ranked, Scored, Window, ranked, score_all,
};

/// How long an answer for a period still open may be reused (the data generation still has to match).
const OPEN_BUCKET_MICROS: i64 = 60_000_000;
/// How long an open period's answer is kept.
const OPEN_TTL: Ttl = Ttl::Fixed(Duration::from_secs(60));
/// How long a closed period's answer is kept in Redis after it was last read (in process: until evicted).
const CLOSED_TTL: Ttl = Ttl::UntilUnused(Duration::from_secs(30 * 24 * 3600));

/// What the cache keeps: the counts and the instant they were evaluated at.
#[derive(Serialize, Deserialize)]
struct Cached {
    t: i64,
    counts: Vec<(i64, i64)>,
}

/// Why an indicator request was refused.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    #[error("unknown unit `{0}`")]
    UnknownUnit(String),
    #[error(transparent)]
    Period(#[from] crate::domain::time::PeriodError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    /// A computation shared with concurrent requests (see the cache) failed.
    #[error(transparent)]
    Shared(Arc<IndicatorError>),
    /// A cached answer that does not read back: written by another version of the gateway.
    #[error("unreadable cached answer: {0}")]
    Cached(#[from] serde_json::Error),
}

/// A scored report and the instant it was evaluated at.
pub struct Report {
    pub window: Window,
    pub scored: Arc<Scored>,
    /// The scope and data version it was computed for (a single report's; `None` in a series).
    pub basis: Option<(String, crate::db::DataVersion)>,
}

/// The report of `unit_code` for window `w`, from the cache when the unit's data has not changed.
pub async fn report(app: &App, unit_code: &str, w: &Window) -> Result<Report, IndicatorError> {
    let (text, _, basis) = cached(app, Aggregate::Report, unit_code, w).await?;
    Ok(Report { basis: Some(basis), ..scored(app, text, w).await? })
}

/// What the cache keeps of `kind` for `unit_code` and window `w`, at the data version of the unit's scope read
/// after this call began; counted (on a replica when one has caught up) when the cache does not hold it. Also the
/// unit tree it was read with.
async fn cached(
    app: &App,
    kind: Aggregate,
    unit_code: &str,
    w: &Window,
) -> Result<
    (Arc<String>, Arc<crate::domain::scope::UnitTree>, (String, crate::db::DataVersion)),
    IndicatorError,
> {
    let fresh = app.indicator_inputs(unit_code, w.at).await?;
    let tree = fresh.units.clone();
    if tree.get(unit_code).is_none() {
        return Err(IndicatorError::UnknownUnit(unit_code.to_owned()));
    }
    let (key, ttl) = cache_key(kind, unit_code, w);
    let text = app
        .cache
        .get_or_compute(&key, fresh.version, ttl, || async {
            let (tree, calendar) = (&tree, &fresh.calendar);
            match kind {
                Aggregate::Report => {
                    let c = app
                        .reads
                        .run(|db| async move { ind::counts(&db, tree, calendar, unit_code, w).await })
                        .await?;
                    cached_text(w, &c)
                }
                Aggregate::Cells => {
                    let cells = app
                        .reads
                        .run(
                            |db| async move { ind::breakdown_cells(&db, tree, calendar, unit_code, w).await },
                        )
                        .await?;
                    Ok(serde_json::to_string(&cells)?)
                }
            }
        })
        .await
        .map_err(IndicatorError::Shared)?;
    Ok((text, tree, (fresh.scope_key, fresh.version)))
}

/// The cache key of what is kept for `unit_code` and window `w`, and how long it is kept.
fn cache_key(kind: Aggregate, unit_code: &str, w: &Window) -> (IndicatorKey, Ttl) {
    let closed = w.at == w.end;
    let key = IndicatorKey {
        kind,
        formula_version: FORMULA_VERSION,
        unit: unit_code.to_owned(),
        start: w.start,
        end: w.end,
        bucket: if w.live { w.at - w.at.rem_euclid(OPEN_BUCKET_MICROS) } else { w.at },
    };
    // A closed period's answer changes only with its data: it stays until a new version replaces it (in Redis,
    // unless nobody asks for it for a month). An answer evaluated now serves the rest of its minute; one at an
    // explicit `asOf` serves only that instant.
    (key, if closed { CLOSED_TTL } else { OPEN_TTL })
}

/// What the cache keeps of a report's counts.
fn cached_text(w: &Window, c: &ind::Counts) -> Result<String, IndicatorError> {
    let counts = MetricKey::ALL.iter().map(|&k| c.get(k)).map(|c| (c.num, c.den)).collect();
    Ok(serde_json::to_string(&Cached { t: w.at, counts })?)
}

/// The report a cached text holds, scored.
async fn scored(app: &App, text: Arc<String>, w: &Window) -> Result<Report, IndicatorError> {
    // Scoring with exact rationals costs more than the rest of a cached answer: equal counts share one score.
    let scored = match app.scored.get(&text).await {
        Some(s) => s,
        None => {
            let cached: Cached = serde_json::from_str(&text)?;
            let scored = score_all(|k| {
                let i = MetricKey::ALL.iter().position(|&m| m == k).unwrap_or(0);
                cached.counts.get(i).map(|&(num, den)| Count { num, den }).unwrap_or_default()
            });
            let s = (cached.t, Arc::new(scored));
            app.scored.insert(text, s.clone()).await;
            s
        }
    };
    Ok(Report { window: Window { at: scored.0, ..*w }, scored: scored.1, basis: None })
}

/// The reports of `unit_code` for each of `windows`, in order: each exactly [`report`] of its window, and kept in
/// the same cache entries. Those the cache does not hold are counted together, with one pass over the summaries
/// and the dossiers (`db::indicators::series_counts`), not one report at a time.
pub async fn series(app: &App, unit_code: &str, windows: &[Window]) -> Result<Vec<Report>, IndicatorError> {
    let Some(last) = windows.iter().map(|w| w.at).max() else { return Ok(Vec::new()) };
    // One data version per scope of the unit among the windows (usually one: a scope changes only when a unit
    // merges into it), each read after the request began.
    // The counts are made with the first scope's unit tree, so every version must have been read with that same
    // reference data: when the reference data moved in between, read them all again (as `indicator_inputs`
    // does for one scope).
    let mut attempts = 0;
    let (inputs, version_of) = loop {
        attempts += 1;
        let first = app.indicator_inputs(unit_code, last).await?;
        if first.units.get(unit_code).is_none() {
            return Err(IndicatorError::UnknownUnit(unit_code.to_owned()));
        }
        let mut inputs = vec![(first.units.scope_of(unit_code, last).key.clone(), first)];
        let mut version_of = Vec::with_capacity(windows.len());
        for w in windows {
            let key = inputs[0].1.units.scope_of(unit_code, w.at).key.clone();
            let i = match inputs.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    inputs.push((key, app.indicator_inputs(unit_code, w.at).await?));
                    inputs.len() - 1
                }
            };
            version_of.push(inputs[i].1.version);
        }
        let reference = inputs[0].1.version.reference;
        if attempts == 3 || inputs.iter().all(|(_, x)| x.version.reference == reference) {
            break (inputs, version_of);
        }
    };
    let keys: Vec<_> = windows.iter().map(|w| cache_key(Aggregate::Report, unit_code, w)).collect();
    let mut texts = futures_util::future::join_all(
        keys.iter().zip(&version_of).map(|((key, ttl), &version)| app.cache.peek(key, version, *ttl)),
    )
    .await;
    let missing: Vec<usize> = (0..windows.len()).filter(|&i| texts[i].is_none()).collect();
    if !missing.is_empty() {
        let asked: Vec<Window> = missing.iter().map(|&i| windows[i]).collect();
        let (tree, calendar, asked) = (&inputs[0].1.units, &inputs[0].1.calendar, &asked);
        let counts = app
            .reads
            .run(|db| async move { ind::series_counts(&db, tree, calendar, unit_code, asked).await })
            .await?;
        for (&i, c) in missing.iter().zip(&counts) {
            let text = cached_text(&windows[i], c)?;
            let (key, ttl) = &keys[i];
            let kept = app
                .cache
                .get_or_compute(key, version_of[i], *ttl, || async { Ok::<_, IndicatorError>(text) })
                .await
                .map_err(IndicatorError::Shared)?;
            texts[i] = Some(kept);
        }
    }
    let mut out = Vec::with_capacity(windows.len());
    for (w, text) in windows.iter().zip(texts) {
        let text = text.ok_or_else(|| IndicatorError::UnknownUnit(unit_code.to_owned()))?;
        out.push(scored(app, text, w).await?);
    }
    Ok(out)
}

/// How a breakdown groups a unit's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakdownBy {
    /// By the unit's children and the units merged into it, its own records a group of their own.
    ChildUnit,
    Sector,
    Procedure,
}

/// What a breakdown group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// The unit's own records (and, for procedure metrics, the procedures of an authority outside its scope).
    Own,
    /// A child unit, or a unit merged into the unit, with everything in its scope.
    Unit,
    Sector,
    Procedure,
    /// Records filed under no procedure: communes, and PAKN not about a dossier.
    NoProcedure,
}

/// One group of a breakdown.
#[derive(Debug, Clone)]
pub struct BreakdownGroup {
    pub kind: GroupKind,
    pub code: String,
    pub name: String,
    pub count: Count,
    pub ratio: Option<f64>,
    /// The exact share of the unit's lost points, and it rounded to 2 decimals.
    pub lost: crate::domain::indicators::Ratio,
    pub points_lost: f64,
}

/// A metric of a unit's report broken down into groups, sorted by points lost (most first), then by code.
#[derive(Debug, Clone)]
pub struct Breakdown {
    pub window: Window,
    pub metric: crate::domain::indicators::MetricScore,
    /// The metric's points lost, rounded to 2 decimals.
    pub points_lost: f64,
    pub groups: Vec<BreakdownGroup>,
}

/// Metric `key` of the report of `unit_code` for window `w`, broken down `by` (see `db::indicators::Cells`); the
/// cells are cached like reports.
pub async fn breakdown(
    app: &App,
    unit_code: &str,
    w: &Window,
    key: MetricKey,
    by: BreakdownBy,
) -> Result<Breakdown, IndicatorError> {
    let (text, tree, _) = cached(app, Aggregate::Cells, unit_code, w).await?;
    let cells = match app.cells.get(&text).await {
        Some(cells) => cells,
        None => {
            let cells: Arc<ind::Cells> = Arc::new(serde_json::from_str(&text)?);
            app.cells.insert(text, cells.clone()).await;
            cells
        }
    };
    // The instant the cells were counted at (within a live minute, an earlier one than this request's).
    Ok(group_cells(&cells, &tree, unit_code, &Window { at: cells.t, ..*w }, key, by))
}

/// Groups the cells of one metric.
fn group_cells(
    cells: &ind::Cells,
    tree: &crate::domain::scope::UnitTree,
    unit_code: &str,
    w: &Window,
    key: MetricKey,
    by: BreakdownBy,
) -> Breakdown {
    use std::collections::HashMap;
    let procedures: HashMap<i64, &ind::ProcedureLabel> = cells.procedures.iter().map(|p| (p.id, p)).collect();
    let sectors: HashMap<i64, &ind::SectorLabel> = cells.sectors.iter().map(|s| (s.id, s)).collect();
    let root = tree.get(unit_code);
    let root_id = root.map(|u| u.id).unwrap_or_default();
    let branches = tree.branches_at(unit_code, w.at);
    let of_metric: Vec<&ind::Cell> = cells.cells.iter().filter(|c| c.key() == key).collect();
    let total =
        of_metric.iter().fold(Count::default(), |t, c| Count { num: t.num + c.num, den: t.den + c.den });
    // (kind, code) → (name, counts).
    let mut groups: HashMap<(GroupKind, String), (String, Count)> = HashMap::new();
    for c in of_metric {
        let (kind, code, name) = match by {
            BreakdownBy::ChildUnit => {
                let head = c.unit.and_then(|u| branches.get(&u)).copied().unwrap_or(root_id);
                let unit = tree.by_id(head);
                let kind = if head == root_id { GroupKind::Own } else { GroupKind::Unit };
                (kind, unit.map(|u| u.code.to_string()).unwrap_or_default(), unit.map(|u| u.name.clone()))
            }
            BreakdownBy::Procedure => match c.procedure.and_then(|p| procedures.get(&p)) {
                Some(p) => (GroupKind::Procedure, p.code.clone(), Some(p.name.clone())),
                None => (GroupKind::NoProcedure, String::new(), None),
            },
            BreakdownBy::Sector => {
                match c.procedure.and_then(|p| procedures.get(&p)).and_then(|p| sectors.get(&p.sector_id)) {
                    Some(s) => (GroupKind::Sector, s.code.clone(), Some(s.name.clone())),
                    None => (GroupKind::NoProcedure, String::new(), None),
                }
            }
        };
        let e = groups.entry((kind, code)).or_insert_with(|| (name.unwrap_or_default(), Count::default()));
        e.1.num += c.num;
        e.1.den += c.den;
    }
    let metric = crate::domain::indicators::score(key, total);
    let lost_total = crate::domain::indicators::Ratio::int(key.max_score()).minus(metric.score.clone());
    let mut groups: Vec<BreakdownGroup> = groups
        .into_iter()
        .map(|((kind, code), (name, count))| {
            let lost = crate::domain::indicators::points_lost(key, total, count);
            BreakdownGroup {
                kind,
                code,
                name,
                count,
                ratio: (count.den > 0).then(|| count.num as f64 / count.den as f64),
                points_lost: lost.round2(),
                lost,
            }
        })
        .collect();
    groups.sort_by(|a, b| b.lost.cmp(&a.lost).then_with(|| a.code.cmp(&b.code)));
    Breakdown { window: *w, points_lost: lost_total.round2(), metric, groups }
}

/// How many of a ranking's reports are computed at a time.
const RANKING_PARALLEL: usize = 4;

/// The ranking of the units of `level` within `parent` (docs/indicators.md, "Rankings"), each from the cache.
pub async fn ranking(
    app: &App,
    level: UnitLevel,
    parent: Option<&str>,
    w: &Window,
) -> Result<Vec<Ranked>, IndicatorError> {
    let tree = app.units().await?;
    let peers = tree
        .peers(level, parent, w.at)
        .ok_or_else(|| IndicatorError::UnknownUnit(parent.unwrap_or_default().to_owned()))?;
    // A few reports at a time: a cold one is mostly the database's work, which then uses every core.
    use futures_util::{StreamExt, TryStreamExt};
    let peers: Vec<_> = peers.into_iter().map(|u| (u.code.clone(), u.name.clone())).collect();
    let entries: Vec<_> = futures_util::stream::iter(peers)
        .map(|(code, name)| async move {
            let r = report(app, &code, w).await?;
            Ok::<_, IndicatorError>((code, r.scored.points, (name, r.scored.grade)))
        })
        .buffered(RANKING_PARALLEL)
        .try_collect()
        .await?;
    Ok(ranked(entries))
}
