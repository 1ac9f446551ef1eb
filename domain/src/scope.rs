//! Administrative units and the scope of a unit at an instant (docs/indicators.md, "Scope").
//!
//! The whole unit tree is small (about twelve thousand units for the country), so it is held in memory and
//! scopes are computed here; the database is then asked for the records of a set of unit ids.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;

use crate::codes::UnitCode;
use crate::enums::UnitLevel;
use crate::time::{Micros, start_of};

/// One administrative unit as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitInfo {
    pub id: i64,
    pub code: UnitCode,
    pub name: String,
    pub level: UnitLevel,
    pub parent_code: Option<UnitCode>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub successor_code: Option<UnitCode>,
    pub offers_e_certified_copy: bool,
}

impl UnitInfo {
    /// `valid_from` missing or ≤ T, and `valid_to` missing or T < `valid_to`.
    pub fn valid_at(&self, t: Micros) -> bool {
        self.valid_from.is_none_or(|d| start_of(d) <= t) && self.valid_to.is_none_or(|d| t < start_of(d))
    }

    /// Merged away by T: `valid_to ≤ T`.
    fn merged_by(&self, t: Micros) -> bool {
        self.valid_to.is_some_and(|d| start_of(d) <= t)
    }
}

/// The unit tree, indexed for scope computations.
#[derive(Debug, Clone, Default)]
pub struct UnitTree {
    units: Vec<UnitInfo>,
    by_code: HashMap<UnitCode, usize>,
    by_id: HashMap<i64, usize>,
    children: HashMap<UnitCode, Vec<usize>>,
    predecessors: HashMap<UnitCode, Vec<usize>>,
    /// The instants at which a unit is merged away (the start of its `valid_to`), ascending: a scope is the same
    /// at every instant between two of them.
    merges: Vec<Micros>,
    /// Scopes computed so far, by root and by the number of merges before their instant (see
    /// [`UnitTree::scope_of`]).
    scopes: Arc<Mutex<KeptScopes>>,
}

/// Scopes by (root, number of merges before the instant).
type KeptScopes = HashMap<(usize, usize), Arc<ScopeAt>>;

/// A scope, and the key that names it among the data versions (its ids in order, or `*` for the whole tree).
#[derive(Debug)]
pub struct ScopeAt {
    pub scope: Scope,
    pub key: String,
}

/// How many scopes a tree keeps (it starts over beyond that).
const SCOPES_KEPT: usize = 4096;

impl UnitTree {
    pub fn new(units: Vec<UnitInfo>) -> Self {
        let mut tree = UnitTree::default();
        for (i, u) in units.iter().enumerate() {
            tree.by_code.insert(u.code.clone(), i);
            tree.by_id.insert(u.id, i);
            if let Some(p) = &u.parent_code {
                tree.children.entry(p.clone()).or_default().push(i);
            }
            if let Some(s) = &u.successor_code {
                tree.predecessors.entry(s.clone()).or_default().push(i);
            }
        }
        tree.merges = units.iter().filter_map(|u| u.valid_to.map(start_of)).collect();
        tree.merges.sort_unstable();
        tree.merges.dedup();
        tree.units = units;
        tree
    }

    /// [`UnitTree::scope_at`], computed once per root for the instants between two merges and kept with the
    /// tree (a tree is replaced, never changed, when the units change).
    pub fn scope_of(&self, code: &str, t: Micros) -> Arc<ScopeAt> {
        let Some(&root) = self.by_code.get(code) else {
            return Arc::new(ScopeAt {
                scope: Scope { ids: HashSet::new(), whole_tree: false },
                key: String::new(),
            });
        };
        let epoch = self.merges.partition_point(|&m| m <= t);
        let mut kept = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = kept.get(&(root, epoch)) {
            return s.clone();
        }
        let scope = self.scope_at(code, t);
        let key = if scope.whole_tree {
            "*".to_owned()
        } else {
            scope.sorted_ids().iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        };
        let s = Arc::new(ScopeAt { scope, key });
        if kept.len() >= SCOPES_KEPT {
            kept.clear();
        }
        kept.insert((root, epoch), s.clone());
        s
    }

    pub fn get(&self, code: &str) -> Option<&UnitInfo> {
        self.by_code.get(code).map(|&i| &self.units[i])
    }

    pub fn by_id(&self, id: i64) -> Option<&UnitInfo> {
        self.by_id.get(&id).map(|&i| &self.units[i])
    }

    pub fn all(&self) -> &[UnitInfo] {
        &self.units
    }

    /// The units whose parent is `code`, from the index (not a scan of the tree).
    pub fn children_of(&self, code: &str) -> impl Iterator<Item = &UnitInfo> {
        self.children.get(code).into_iter().flatten().map(|&i| &self.units[i])
    }

    /// The scope of `code` at `t`: the unit, every unit whose parent is in the scope, and every unit merged away
    /// by `t` whose successor is in the scope. Empty when the unit does not exist.
    pub fn scope_at(&self, code: &str, t: Micros) -> Scope {
        let mut ids = HashSet::new();
        let Some(&root) = self.by_code.get(code) else {
            return Scope { ids, whole_tree: false };
        };
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            let u = &self.units[i];
            if !ids.insert(u.id) {
                continue;
            }
            if let Some(kids) = self.children.get(&u.code) {
                stack.extend(kids.iter().copied());
            }
            if let Some(preds) = self.predecessors.get(&u.code) {
                stack.extend(preds.iter().copied().filter(|&p| self.units[p].merged_by(t)));
            }
        }
        let whole_tree = ids.len() == self.units.len();
        Scope { ids, whole_tree }
    }

    /// The scope of `code` at `t` cut into branches: each unit of the scope mapped to the id of the unit it is
    /// reached through from `code` (a child of `code`, a unit merged into it by `t`, or `code` itself), so that
    /// every unit of the scope lies in exactly one branch.
    pub fn branches_at(&self, code: &str, t: Micros) -> HashMap<i64, i64> {
        let mut out = HashMap::new();
        let Some(&root) = self.by_code.get(code) else { return out };
        let root_id = self.units[root].id;
        out.insert(root_id, root_id);
        let next = |i: usize| {
            let u = &self.units[i];
            let kids = self.children.get(&u.code).into_iter().flatten().copied();
            let preds = self.predecessors.get(&u.code).into_iter().flatten().copied();
            kids.chain(preds.filter(|&p| self.units[p].merged_by(t))).collect::<Vec<_>>()
        };
        for head in next(root) {
            let head_id = self.units[head].id;
            let mut stack = vec![head];
            while let Some(i) = stack.pop() {
                if out.contains_key(&self.units[i].id) {
                    continue;
                }
                out.insert(self.units[i].id, head_id);
                stack.extend(next(i));
            }
        }
        out
    }

    /// Whether `unit` lies in the scope of `root` at `t` (see [`within_scope`]).
    pub fn covers(&self, root: &str, unit: &str, t: Micros) -> bool {
        within_scope(root, unit, t, |code| {
            self.get(code).map(|u| UnitLinks {
                parent: u.parent_code.as_deref(),
                successor: u.successor_code.as_deref(),
                valid_to: u.valid_to,
            })
        })
    }

    /// The nearest PROVINCE or MINISTRY at or above `code` (the unit itself when there is none).
    pub fn authority_of(&self, code: &str) -> Option<&UnitInfo> {
        let start = self.get(code)?;
        let mut cur = start;
        let mut seen = HashSet::new();
        loop {
            if matches!(cur.level, UnitLevel::Province | UnitLevel::Ministry) {
                return Some(cur);
            }
            if !seen.insert(cur.code.clone()) {
                return Some(start);
            }
            match cur.parent_code.as_deref().and_then(|p| self.get(p)) {
                Some(parent) => cur = parent,
                None => return Some(start),
            }
        }
    }

    /// The units whose summaries are also kept merged over their scope (see the gateway's `db::groups`): every
    /// PROVINCE and MINISTRY, with the ids of the units of its scope once every merge into it has happened
    /// (`scope_at` at the end of time), the unit itself included.
    pub fn summary_groups(&self) -> impl Iterator<Item = (i64, Vec<i64>)> + '_ {
        self.units
            .iter()
            .filter(|u| is_summary_group(u.level))
            .map(|u| (u.id, self.scope_of(&u.code, Micros::MAX).scope.sorted_ids()))
    }

    /// The summary group whose merged rows answer for the scope of `code` at `t`, with its number of units: the
    /// unit is a group, and every merge into its scope has happened by `t` (its scope at `t` is the group's
    /// units). `None` otherwise: the units' own rows answer.
    pub fn summary_group_at(&self, code: &str, t: Micros) -> Option<(i64, usize)> {
        let u = self.get(code).filter(|u| is_summary_group(u.level))?;
        let whole = self.scope_of(code, Micros::MAX);
        let at = self.scope_of(code, t);
        (whole.key == at.key).then(|| (u.id, whole.scope.ids.len()))
    }

    /// Whether `code` is `ancestor` or lies below it by `parent` links.
    pub fn is_within(&self, code: &str, ancestor: &str) -> bool {
        let mut cur = Some(code);
        let mut steps = 0;
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            steps += 1;
            if steps > self.units.len() {
                return false;
            }
            cur = self.get(c).and_then(|u| u.parent_code.as_deref());
        }
        false
    }
}

/// The links of one unit that a scope follows.
#[derive(Debug, Clone, Copy)]
pub struct UnitLinks<'a> {
    pub parent: Option<&'a str>,
    pub successor: Option<&'a str>,
    pub valid_to: Option<NaiveDate>,
}

/// Whether `unit` lies in the scope of `root` at `t`, walking up from `unit`: to its parent, and to its successor
/// once it was merged away by `t`. This is [`UnitTree::scope_at`] read backwards (a unit is in a scope exactly
/// when such a path leads from it to the scope's root), for callers that hold links but no tree (the importer).
pub fn within_scope<'a>(
    root: &str,
    unit: &str,
    t: Micros,
    links: impl Fn(&str) -> Option<UnitLinks<'a>>,
) -> bool {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack = vec![unit.to_owned()];
    while let Some(code) = stack.pop() {
        if code == root {
            return true;
        }
        if !seen.insert(code.clone()) {
            continue;
        }
        let Some(l) = links(&code) else { continue };
        stack.extend(l.parent.map(str::to_owned));
        if l.valid_to.is_some_and(|d| start_of(d) <= t) {
            stack.extend(l.successor.map(str::to_owned));
        }
    }
    false
}

/// A set of unit ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub ids: HashSet<i64>,
    /// The scope covers every unit, so queries need no unit filter.
    pub whole_tree: bool,
}

impl Scope {
    pub fn contains(&self, unit_id: i64) -> bool {
        self.whole_tree || self.ids.contains(&unit_id)
    }

    /// The ids in ascending order (stable SQL text, stable cache keys).
    pub fn sorted_ids(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.ids.iter().copied().collect();
        v.sort_unstable();
        v
    }
}

impl UnitTree {
    /// The peers of a ranking: the units of `level` valid at `t` within `parent`'s scope (the parent itself
    /// excluded), or every unit of the level valid at `t` without a parent; `None` when `parent` is unknown.
    pub fn peers(&self, level: UnitLevel, parent: Option<&str>, t: Micros) -> Option<Vec<&UnitInfo>> {
        let of_level = |u: &&UnitInfo| u.level == level && u.valid_at(t);
        Some(match parent {
            Some(p) => {
                let parent_unit = self.get(p)?;
                let scope = self.scope_at(p, t);
                self.all()
                    .iter()
                    .filter(of_level)
                    .filter(|u| u.id != parent_unit.id && scope.contains(u.id))
                    .collect()
            }
            None => self.all().iter().filter(of_level).collect(),
        })
    }
}

/// Whether a unit of this level has its summaries kept merged over its scope.
fn is_summary_group(level: UnitLevel) -> bool {
    matches!(level, UnitLevel::Province | UnitLevel::Ministry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(
        id: i64,
        code: &str,
        level: UnitLevel,
        parent: Option<&str>,
        valid_to: Option<&str>,
        successor: Option<&str>,
    ) -> UnitInfo {
        UnitInfo {
            id,
            code: code.into(),
            name: code.into(),
            level,
            parent_code: parent.map(Into::into),
            valid_from: None,
            valid_to: valid_to.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
            successor_code: successor.map(Into::into),
            offers_e_certified_copy: false,
        }
    }

    fn tree() -> UnitTree {
        use UnitLevel::*;
        UnitTree::new(vec![
            unit(1, "VN", National, None, None, None),
            unit(2, "48", Province, Some("VN"), None, None),
            unit(3, "49", Province, Some("VN"), Some("2025-07-01"), Some("48")),
            unit(4, "502", District, Some("49"), Some("2025-07-01"), None),
            unit(5, "20000", Commune, Some("502"), Some("2025-07-01"), Some("20500")),
            unit(6, "20500", Commune, Some("48"), None, None),
        ])
    }

    #[test]
    fn merged_units_join_their_successor_after_the_merger() {
        let t = tree();
        let before = start_of(NaiveDate::from_ymd_opt(2025, 6, 30).unwrap());
        let after = start_of(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap());
        assert_eq!(t.scope_at("48", before).sorted_ids(), vec![2, 6]);
        assert_eq!(t.scope_at("48", after).sorted_ids(), vec![2, 3, 4, 5, 6]);
        assert_eq!(t.scope_at("20500", after).sorted_ids(), vec![5, 6]);
        assert_eq!(t.scope_at("49", after).sorted_ids(), vec![3, 4, 5]);
        assert!(t.scope_at("VN", before).whole_tree);
        assert!(t.scope_at("nope", before).ids.is_empty());
        // Walking up gives the same answers as building the scope.
        for root in ["VN", "48", "49", "502", "20000", "20500"] {
            for u in t.all() {
                for at in [before, after] {
                    assert_eq!(
                        t.covers(root, &u.code, at),
                        t.scope_at(root, at).contains(u.id),
                        "{} in {root} at {at}",
                        u.code
                    );
                }
            }
        }
    }

    #[test]
    fn kept_scopes_are_the_scopes_at_every_instant() {
        let t = tree();
        let merger = start_of(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap());
        for root in ["VN", "48", "49", "502", "20000", "20500", "nope"] {
            // Asked in both orders, around the merger and exactly at it.
            for at in [merger - 1, merger, merger + 1, 0, merger - 1, i64::MAX, merger] {
                let kept = t.scope_of(root, at);
                assert_eq!(kept.scope.sorted_ids(), t.scope_at(root, at).sorted_ids(), "{root} at {at}");
                assert_eq!(kept.scope.whole_tree, t.scope_at(root, at).whole_tree);
                let key = if kept.scope.whole_tree {
                    "*".to_owned()
                } else {
                    kept.scope.sorted_ids().iter().map(i64::to_string).collect::<Vec<_>>().join(",")
                };
                if root != "nope" {
                    assert_eq!(kept.key, key);
                }
            }
        }
    }

    #[test]
    fn authority_is_the_nearest_province_or_ministry() {
        let t = tree();
        assert_eq!(t.authority_of("20000").map(|u| u.code.as_str()), Some("49"));
        assert_eq!(t.authority_of("VN").map(|u| u.code.as_str()), Some("VN"));
        assert!(t.is_within("20000", "49"));
        assert!(!t.is_within("20000", "48"));
    }
}
