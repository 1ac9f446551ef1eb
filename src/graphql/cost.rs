//! What an operation really costs, refused before anything runs. The schema's complexity limit counts fields,
//! but one `ranking` field computes a report per peer unit, and a report that the indicator summary cannot
//! answer (a period not starting on a month boundary) reads every dossier of its scope. This extension reads the
//! parsed document (every operation, fragments expanded) and refuses, with an error naming the limit and code
//! `LIMIT`, a document that has more root fields or aliases than allowed, or whose indicator reports cost more
//! than the cost budget. It reads only the document and the unit tree in memory (loaded by the process's first
//! request): a refused request never reaches the database.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{InputType, Name, ServerError, ServerResult, Value, Variables};
use chrono::{DateTime, FixedOffset};

use super::enums::UnitLevel;
use super::indicators::{PeriodInput, SeriesStep};
use crate::app::App;
use crate::config::Limits;
use crate::domain::indicators::Window;
use crate::domain::time::{Micros, now, to_micros};

/// The cost of one indicator report served from the cache (a period the summary answers, evaluated now).
pub const CACHED_REPORT: u64 = 1;
/// A report at an explicit `asOf` in a period the summary answers: computed, from the summary.
pub const SUMMARISED_REPORT: u64 = 5;
/// A report the summary cannot answer (the period does not start on a month boundary): a scan of its scope.
pub const SCANNED_REPORT: u64 = 25;

/// Peers assumed for a ranking when the unit tree cannot be read: more than any level has in one province.
const UNKNOWN_PEERS: u64 = 1_000;

/// The extension's factory, with the limits of the settings.
pub struct Cost(pub Limits);

impl ExtensionFactory for Cost {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostCheck(self.0))
    }
}

struct CostCheck(Limits);

#[async_trait::async_trait]
impl Extension for CostCheck {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        // The tree as loaded: the database is read only for the very first request of the process.
        let tree = match ctx.data_opt::<App>() {
            Some(app) => match app.loaded_units().await {
                Some(tree) => Some(tree),
                None => Some(app.units().await.map_err(|e| coded(crate::service::ApiError::from(e)))?),
            },
            None => None,
        };
        let peers = |level: crate::domain::UnitLevel, parent: Option<&str>, t: Micros| -> u64 {
            match &tree {
                Some(tree) => tree.peers(level, parent, t).map_or(0, |p| p.len() as u64),
                None => UNKNOWN_PEERS,
            }
        };
        check(&doc, variables, &self.0, &peers)?;
        Ok(doc)
    }
}

/// What a document asks, counted per operation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub root_fields: usize,
    pub aliases: usize,
    pub cost: u64,
}

/// Refuses a document whose costliest operation exceeds a limit.
pub fn check(
    doc: &ExecutableDocument,
    variables: &Variables,
    limits: &Limits,
    peers: &dyn Fn(crate::domain::UnitLevel, Option<&str>, Micros) -> u64,
) -> ServerResult<()> {
    for (_, op) in doc.operations.iter() {
        let mut counter =
            Counter { doc, variables, limits, peers, tally: Tally::default(), path: HashSet::new() };
        counter.root(&op.node.selection_set.node)?;
    }
    Ok(())
}

/// How many public lookups and computations a document asks (for the per-address rate limit): each
/// `dossierStatus` and `ranking` root field, and each `indicators` the cache cannot answer; the most of any
/// operation in the document.
pub fn public_weight(doc: &ExecutableDocument, variables: &Variables) -> u32 {
    let limits = Limits {
        max_root_fields: usize::MAX,
        max_aliases: usize::MAX,
        max_cost: u64::MAX,
        ..Limits::default()
    };
    let no_peers = |_: crate::domain::UnitLevel, _: Option<&str>, _: Micros| 1;
    let mut most = 0;
    for (_, op) in doc.operations.iter() {
        let mut counter = Counter {
            doc,
            variables,
            limits: &limits,
            peers: &no_peers,
            tally: Tally::default(),
            path: HashSet::new(),
        };
        let mut weight = 0u32;
        let _ = counter.each_field(&op.node.selection_set.node, &mut |c, field| {
            weight += match field.name.node.as_str() {
                "dossierStatus" | "ranking" | "indicatorSeries" | "indicatorBreakdown" => 1,
                "indicators" => u32::from(report_cost(c.window(field)) > CACHED_REPORT),
                _ => 0,
            };
            Ok(())
        });
        most = most.max(weight);
    }
    most
}

fn refuse(what: &str, limit: impl std::fmt::Display, setting: &str) -> ServerError {
    let message = format!(
        "the request has more {what} than the limit of {limit} ({setting}); split it into several requests"
    );
    with_code(message, super::error::LIMIT)
}

/// The service's error, as an error of the request (the unit tree could not be read).
fn coded(e: crate::service::ApiError) -> ServerError {
    with_code(e.to_string(), e.code())
}

fn with_code(message: String, code: &str) -> ServerError {
    let mut e = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    e.extensions = Some(ext);
    e
}

struct Counter<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    limits: &'a Limits,
    peers: &'a dyn Fn(crate::domain::UnitLevel, Option<&str>, Micros) -> u64,
    tally: Tally,
    /// The fragments being expanded on the current path (a cycle is left to validation to refuse).
    path: HashSet<Name>,
}

impl Counter<'_> {
    /// The fields of a selection set with its fragments expanded, each visited with `f`.
    fn each_field(
        &mut self,
        set: &SelectionSet,
        f: &mut dyn FnMut(&mut Self, &Field) -> ServerResult<()>,
    ) -> ServerResult<()> {
        for s in &set.items {
            match &s.node {
                Selection::Field(field) => f(self, &field.node)?,
                Selection::InlineFragment(inline) => self.each_field(&inline.node.selection_set.node, f)?,
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    let Some(fragment) = self.doc.fragments.get(name) else { continue };
                    if !self.path.insert(name.clone()) {
                        continue;
                    }
                    self.each_field(&fragment.node.selection_set.node, f)?;
                    self.path.remove(name);
                }
            }
        }
        Ok(())
    }

    fn root(&mut self, set: &SelectionSet) -> ServerResult<()> {
        self.each_field(set, &mut |c, field| {
            c.tally.root_fields += 1;
            if c.tally.root_fields > c.limits.max_root_fields {
                return Err(refuse("root fields", c.limits.max_root_fields, "MAX_ROOT_FIELDS"));
            }
            c.tally.cost += c.root_cost(field);
            if c.tally.cost > c.limits.max_cost {
                return Err(refuse("indicator cost", c.limits.max_cost, "MAX_QUERY_COST"));
            }
            c.aliases(field)
        })
    }

    /// Counts the aliases of a field and of everything below it.
    fn aliases(&mut self, field: &Field) -> ServerResult<()> {
        if field.alias.is_some() {
            self.tally.aliases += 1;
            if self.tally.aliases > self.limits.max_aliases {
                return Err(refuse("aliases", self.limits.max_aliases, "MAX_ALIASES"));
            }
        }
        self.each_field(&field.selection_set.node, &mut |c, f| c.aliases(f))
    }

    /// The cost of a root field: its reports (see the constants above); other fields cost nothing here (the
    /// schema's complexity limit bounds them).
    fn root_cost(&self, field: &Field) -> u64 {
        match field.name.node.as_str() {
            "indicators" => report_cost(self.window(field)),
            "ranking" => {
                let window = self.window(field);
                let level = self.arg(field, "level").and_then(|v| UnitLevel::parse(Some(v)).ok());
                let parent = self.arg(field, "parentCode").and_then(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                });
                // The peers as the ranking will find them: valid at its evaluation instant.
                let peers = match (level, &window) {
                    (Some(level), Some(w)) => (self.peers)(level.into(), parent.as_deref(), w.at),
                    _ => UNKNOWN_PEERS,
                };
                peers.max(1) * report_cost(window)
            }
            "indicatorSeries" => self.series_cost(field),
            // Its cells are counted from every dossier of the scope, like a report the summary cannot answer.
            "indicatorBreakdown" => SCANNED_REPORT,
            _ => 0,
        }
    }

    /// The cost of a series: the cost of each step's report (a series that does not parse costs a scan).
    fn series_cost(&self, field: &Field) -> u64 {
        let date = |name: &str| match self.arg(field, name) {
            Some(Value::String(s)) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok(),
            _ => None,
        };
        let step = self.arg(field, "step").and_then(|v| SeriesStep::parse(Some(v)).ok());
        let cumulative = matches!(self.arg(field, "cumulative"), Some(Value::Boolean(true)));
        let at = match self.arg(field, "asOf").filter(|v| *v != Value::Null) {
            Some(v) => <DateTime<FixedOffset>>::parse(Some(v)).ok().map(to_micros),
            None => None,
        };
        let (Some(from), Some(to), Some(step)) = (date("from"), date("to"), step) else {
            return SCANNED_REPORT;
        };
        match crate::domain::time::series_periods(from, to, step.into(), cumulative) {
            Ok(periods) => periods.iter().map(|p| report_cost(Window::of(p, at, now()).ok())).sum(),
            Err(_) => SCANNED_REPORT,
        }
    }

    /// The evaluation window of a field's `period` and `asOf`, as the resolver will compute it.
    fn window(&self, field: &Field) -> Option<Window> {
        let period = PeriodInput::parse(self.arg(field, "period")).ok()?;
        let at = match self.arg(field, "asOf").filter(|v| *v != Value::Null) {
            Some(v) => Some(to_micros(<DateTime<FixedOffset>>::parse(Some(v)).ok()?)),
            None => None,
        };
        Window::of(&period.spec(), at, now()).ok()
    }

    /// An argument's value with variables substituted (`None` when absent or naming an unknown variable).
    fn arg(&self, field: &Field, name: &str) -> Option<Value> {
        let v = field.get_argument(name)?;
        v.node.clone().into_const_with(|var| self.variables.get(&var).cloned().ok_or(())).ok()
    }
}

/// What one report of this window costs; a period or instant that does not parse costs a scan (validation or
/// the resolver refuses it).
fn report_cost(window: Option<Window>) -> u64 {
    match window {
        Some(w) if !w.summarised() => SCANNED_REPORT,
        Some(w) if !w.shared() => SUMMARISED_REPORT,
        Some(_) => CACHED_REPORT,
        None => SCANNED_REPORT,
    }
}
