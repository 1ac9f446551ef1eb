//! The indicator service: a unit and a period → scope → data generation → cache → counts → scores. Counting
//! is `db::indicators`; scoring is `domain::indicators`; this module only wires them to the cache.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::cache::{IndicatorKey, Ttl};
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
}

/// The report of `unit_code` for window `w`, from the cache when the unit's data has not changed.
pub async fn report(app: &App, unit_code: &str, w: &Window) -> Result<Report, IndicatorError> {
    let fresh = app.indicator_inputs(unit_code, w.at).await?;
    let tree = fresh.units.clone();
    if tree.get(unit_code).is_none() {
        return Err(IndicatorError::UnknownUnit(unit_code.to_owned()));
    }
    let closed = w.at == w.end;
    let key = IndicatorKey {
        formula_version: FORMULA_VERSION,
        unit: unit_code.to_owned(),
        start: w.start,
        end: w.end,
        bucket: if w.live { w.at - w.at.rem_euclid(OPEN_BUCKET_MICROS) } else { w.at },
    };
    // A closed period's answer changes only with its data: it stays until a new version replaces it (in Redis,
    // unless nobody asks for it for a month). An answer evaluated now serves the rest of its minute; one at an
    // explicit `asOf` serves only that instant.
    let ttl = if closed { CLOSED_TTL } else { OPEN_TTL };
    let text = app
        .cache
        .get_or_compute(&key, fresh.version, ttl, || async {
            let (tree, calendar) = (&tree, &fresh.calendar);
            let c = app
                .reads
                .run(|db| async move { ind::counts(&db, tree, calendar, unit_code, w).await })
                .await?;
            let counts = MetricKey::ALL.iter().map(|&k| c.get(k)).map(|c| (c.num, c.den)).collect();
            Ok::<_, IndicatorError>(serde_json::to_string(&Cached { t: w.at, counts })?)
        })
        .await
        .map_err(IndicatorError::Shared)?;
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
    Ok(Report { window: Window { at: scored.0, ..*w }, scored: scored.1 })
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
