//! Decision 766/QĐ-TTg indicators, formula version `qd766-portal-2024` (docs/indicators.md): the 19
//! metrics, their groups, scoring and grades. Counting happens in the database; this module turns counts into
//! scores with exact rational arithmetic.

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{ToPrimitive, Zero};

use crate::codes::UnitCode;
use crate::enums::UnitLevel;
use crate::time::{Micros, PeriodError, PeriodSpec};

/// The formula version every report carries.
pub const FORMULA_VERSION: &str = "qd766-portal-2024";

/// An exact non-negative rational number. Arbitrary precision: the sum of 19 metric scores has the product of
/// their denominators (each up to the number of dossiers) as its denominator, which no fixed-width integer holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ratio(BigRational);

impl Ratio {
    /// `num / den`; a zero denominator gives zero (callers score that case before dividing).
    pub fn new(num: i128, den: i128) -> Self {
        if den == 0 {
            return Ratio::zero();
        }
        Ratio(BigRational::new(BigInt::from(num), BigInt::from(den)))
    }

    pub fn zero() -> Self {
        Ratio(BigRational::zero())
    }

    pub fn int(n: i128) -> Self {
        Ratio(BigRational::from_integer(BigInt::from(n)))
    }

    pub fn plus(self, o: Ratio) -> Ratio {
        Ratio(self.0 + o.0)
    }

    pub fn times(self, o: Ratio) -> Ratio {
        Ratio(self.0 * o.0)
    }

    pub fn minus(self, o: Ratio) -> Ratio {
        Ratio(self.0 - o.0)
    }

    /// Rounded to two decimals, half away from zero.
    pub fn round2(&self) -> f64 {
        let hundredths = (&self.0 * BigInt::from(100)).round().to_integer();
        hundredths.to_i64().map_or(f64::NAN, |h| h as f64 / 100.0)
    }

    pub fn to_f64(&self) -> f64 {
        self.0.to_f64().unwrap_or(f64::NAN)
    }
}

/// The six groups as the national portal scores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKey {
    Transparency,
    Progress,
    OnlineService,
    OnlinePayment,
    Satisfaction,
    Digitization,
}

impl GroupKey {
    pub const ALL: [GroupKey; 6] = [
        GroupKey::Transparency,
        GroupKey::Progress,
        GroupKey::OnlineService,
        GroupKey::OnlinePayment,
        GroupKey::Satisfaction,
        GroupKey::Digitization,
    ];

    pub fn max_score(self) -> i128 {
        match self {
            GroupKey::Transparency => 18,
            GroupKey::Progress => 20,
            GroupKey::OnlineService => 12,
            GroupKey::OnlinePayment => 10,
            GroupKey::Satisfaction => 18,
            GroupKey::Digitization => 22,
        }
    }
}

/// How a metric turns its ratio into points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoring {
    /// `max × R`.
    Linear,
    /// `max × min(1, R / t)` with `t = num / den`.
    Target(i128, i128),
    /// Linear, with full points when there is nothing to count.
    LinearFullWhenNone,
}

/// The 19 metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl MetricKey {
    /// Every metric, grouped and in the order of docs/indicators.md.
    pub const ALL: [MetricKey; 19] = [
        MetricKey::PublishOnTime,
        MetricKey::PublicUpdateOnTime,
        MetricKey::PublicContentFull,
        MetricKey::DossierSync,
        MetricKey::OnTimeProcessing,
        MetricKey::FullOnlineDossiers,
        MetricKey::PaidOnlineDossiers,
        MetricKey::ProceduresPaidOnline,
        MetricKey::ProceduresWithReceipts,
        MetricKey::DossierSatisfaction,
        MetricKey::PaknOnTime,
        MetricKey::PaknSatisfaction,
        MetricKey::ElectronicResult,
        MetricKey::DigitizedDossiers,
        MetricKey::ElectronicCertifiedCopy,
        MetricKey::ReusedDigitizedData,
        MetricKey::SharedToCitizenStorage,
        MetricKey::VneidDossiers,
        MetricKey::VneidProcedures,
    ];

    pub fn group(self) -> GroupKey {
        use MetricKey::*;
        match self {
            PublishOnTime | PublicUpdateOnTime | PublicContentFull | DossierSync => GroupKey::Transparency,
            OnTimeProcessing => GroupKey::Progress,
            FullOnlineDossiers => GroupKey::OnlineService,
            PaidOnlineDossiers | ProceduresPaidOnline | ProceduresWithReceipts => GroupKey::OnlinePayment,
            DossierSatisfaction | PaknOnTime | PaknSatisfaction => GroupKey::Satisfaction,
            _ => GroupKey::Digitization,
        }
    }

    pub fn max_score(self) -> i128 {
        use MetricKey::*;
        match self {
            PublishOnTime => 6,
            PublicUpdateOnTime => 4,
            PublicContentFull => 2,
            DossierSync => 6,
            OnTimeProcessing => 20,
            FullOnlineDossiers => 12,
            PaidOnlineDossiers => 6,
            ProceduresPaidOnline | ProceduresWithReceipts => 2,
            DossierSatisfaction | PaknOnTime | PaknSatisfaction => 6,
            ElectronicResult => 6,
            DigitizedDossiers => 4,
            ElectronicCertifiedCopy | ReusedDigitizedData => 2,
            SharedToCitizenStorage => 4,
            VneidDossiers | VneidProcedures => 2,
        }
    }

    pub fn scoring(self) -> Scoring {
        use MetricKey::*;
        match self {
            ProceduresPaidOnline | ProceduresWithReceipts | ReusedDigitizedData => Scoring::Target(4, 5),
            DossierSatisfaction => Scoring::Target(9, 10),
            PaknOnTime | PaknSatisfaction => Scoring::LinearFullWhenNone,
            _ => Scoring::Linear,
        }
    }
}

/// A numerator and denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub num: i64,
    pub den: i64,
}

/// One scored metric.
#[derive(Debug, Clone)]
pub struct MetricScore {
    pub key: MetricKey,
    pub count: Count,
    pub ratio: Option<f64>,
    pub score: Ratio,
    /// `score` rounded to two decimals (computed once: exact arithmetic costs more than serving an answer).
    pub points: f64,
    pub max: i128,
}

/// Scores one metric.
pub fn score(key: MetricKey, c: Count) -> MetricScore {
    let max = Ratio::int(key.max_score());
    let (ratio, score) = if c.den == 0 {
        let s = if key.scoring() == Scoring::LinearFullWhenNone { max } else { Ratio::zero() };
        (None, s)
    } else {
        let r = Ratio::new(i128::from(c.num), i128::from(c.den));
        let s = match key.scoring() {
            Scoring::Linear | Scoring::LinearFullWhenNone => max.times(r),
            Scoring::Target(tn, td) => max.times(r.times(Ratio::new(td, tn)).min(Ratio::int(1))),
        };
        (Some(c.num as f64 / c.den as f64), s)
    };
    MetricScore { key, count: c, ratio, points: score.round2(), score, max: key.max_score() }
}

/// The points a unit loses on metric `key` (its maximum less its exact score) that fall on a group of its records
/// counted `group` within `total`: the loss shared by the failing records (the denominator less the numerator),
/// so that the groups' shares add up to the loss. Zero when nothing fails or nothing is counted.
pub fn points_lost(key: MetricKey, total: Count, group: Count) -> Ratio {
    let failing = total.den - total.num;
    if total.den == 0 || failing <= 0 {
        return Ratio::zero();
    }
    let lost = Ratio::int(key.max_score()).minus(score(key, total).score);
    lost.times(Ratio::new(i128::from(group.den - group.num), i128::from(failing)))
}

/// Grades of a rounded total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    Excellent,
    Good,
    Fair,
    Average,
    Weak,
}

pub fn grade(rounded_total: f64) -> Grade {
    if rounded_total >= 90.0 {
        Grade::Excellent
    } else if rounded_total >= 80.0 {
        Grade::Good
    } else if rounded_total >= 70.0 {
        Grade::Fair
    } else if rounded_total >= 50.0 {
        Grade::Average
    } else {
        Grade::Weak
    }
}

/// A group with its metrics.
#[derive(Debug, Clone)]
pub struct GroupScore {
    pub key: GroupKey,
    pub score: Ratio,
    /// `score` rounded to two decimals.
    pub points: f64,
    pub metrics: Vec<MetricScore>,
}

/// A whole report: the groups, the exact total and its grade.
#[derive(Debug, Clone)]
pub struct Scored {
    pub groups: Vec<GroupScore>,
    pub total: Ratio,
    /// `total` rounded to two decimals.
    pub points: f64,
    pub grade: Grade,
}

/// Scores a full set of counts (`counts(key)` for each of the 19 metrics).
pub fn score_all(counts: impl Fn(MetricKey) -> Count) -> Scored {
    let mut groups = Vec::new();
    let mut total = Ratio::zero();
    for g in GroupKey::ALL {
        let metrics: Vec<MetricScore> =
            MetricKey::ALL.iter().filter(|m| m.group() == g).map(|&m| score(m, counts(m))).collect();
        let s = metrics.iter().fold(Ratio::zero(), |acc, m| acc.plus(m.score.clone()));
        total = total.plus(s.clone());
        groups.push(GroupScore { key: g, points: s.round2(), score: s, metrics });
    }
    let points = total.round2();
    Scored { groups, grade: grade(points), points, total }
}

/// Competition ranks (1, 2, 2, 4) of `(code, rounded total)` pairs: highest total first, ties by code.
pub fn rank<T>(mut entries: Vec<(UnitCode, f64, T)>) -> Vec<(u32, UnitCode, f64, T)> {
    entries.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    let mut out = Vec::with_capacity(entries.len());
    let mut rank = 0u32;
    let mut prev: Option<f64> = None;
    for (i, (code, total, extra)) in entries.into_iter().enumerate() {
        if prev != Some(total) {
            rank = i as u32 + 1;
            prev = Some(total);
        }
        out.push((rank, code, total, extra));
    }
    out
}

/// The instants of one evaluation: the period `[start, end)` and the evaluation instant
/// `at = min(end, asOf, now)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub start: Micros,
    pub end: Micros,
    pub at: Micros,
    /// Evaluated now (no `asOf` and the period not over): an answer computed earlier in the same minute, with
    /// no write since, serves. Otherwise `at` is exact.
    pub live: bool,
}

impl Window {
    /// The window of a period and an optional `asOf` (default: now). The evaluation instant is never after now:
    /// an `asOf` in the future is evaluated now, in every operation, so that nothing dated later (a unit
    /// merging next year) counts before it happens.
    pub fn of(spec: &PeriodSpec, as_of: Option<Micros>, now: Micros) -> Result<Window, PeriodError> {
        let p = spec.resolve()?;
        let asked = as_of.map_or(now, |a| a.min(now));
        let at = p.end.min(asked);
        Ok(Window { start: p.start, end: p.end, at, live: asked == now && at < p.end })
    }

    /// Whether the period starts on a month boundary (every year, quarter and month does): then the indicator
    /// summary answers for the dossiers settled before T's month, and only the others are read row by row.
    pub fn summarised(&self) -> bool {
        crate::time::month_of(self.start) == self.start
    }

    /// Whether the answer is shared with other requests: evaluated now (within the minute) or at the period's
    /// end. An exact earlier `asOf` is an answer of its own.
    pub fn shared(&self) -> bool {
        self.live || self.at == self.end
    }
}

/// How many working days a ministry or a province has to announce a procedure before its legal basis takes
/// effect, and to publish it after announcing it (the transparency metrics PUBLISH_ON_TIME and
/// PUBLIC_UPDATE_ON_TIME).
pub fn transparency_deadlines(authority: Option<UnitLevel>) -> (i32, i32) {
    match authority {
        Some(UnitLevel::Ministry) => (20, 10),
        _ => (5, 5),
    }
}

/// One ranked unit.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub rank: u32,
    pub of: u32,
    pub code: UnitCode,
    pub name: String,
    pub total: f64,
    pub grade: Grade,
}

/// Competition-ranks `(code, rounded total, (name, grade))` entries.
pub fn ranked(entries: Vec<(UnitCode, f64, (String, Grade))>) -> Vec<Ranked> {
    let of = entries.len() as u32;
    rank(entries)
        .into_iter()
        .map(|(rank, code, total, (name, grade))| Ranked { rank, of, code, name, total, grade })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_province_sized_report_sums_exactly() {
        // Quảng Nam 2024 at full scale: the exact total has a 102-bit denominator, past what i128 arithmetic
        // can carry through its intermediate products (it once came out as -0.15).
        let counts: [(MetricKey, i64, i64); 19] = [
            (MetricKey::PublishOnTime, 717, 759),
            (MetricKey::PublicUpdateOnTime, 730, 759),
            (MetricKey::PublicContentFull, 1829, 1910),
            (MetricKey::DossierSync, 379_567, 383_389),
            (MetricKey::OnTimeProcessing, 376_804, 387_776),
            (MetricKey::FullOnlineDossiers, 145_253, 216_304),
            (MetricKey::PaidOnlineDossiers, 148_900, 230_865),
            (MetricKey::ProceduresPaidOnline, 671, 694),
            (MetricKey::ProceduresWithReceipts, 694, 694),
            (MetricKey::DossierSatisfaction, 376_395, 387_776),
            (MetricKey::PaknOnTime, 342, 409),
            (MetricKey::PaknSatisfaction, 297, 409),
            (MetricKey::ElectronicResult, 213_857, 300_201),
            (MetricKey::DigitizedDossiers, 215_190, 383_389),
            (MetricKey::ElectronicCertifiedCopy, 217, 238),
            (MetricKey::ReusedDigitizedData, 96_928, 383_389),
            (MetricKey::SharedToCitizenStorage, 145_256, 383_389),
            (MetricKey::VneidDossiers, 191_999, 383_389),
            (MetricKey::VneidProcedures, 1384, 1419),
        ];
        let s = score_all(|k| {
            let &(_, num, den) = counts.iter().find(|c| c.0 == k).expect("every metric");
            Count { num, den }
        });
        // 81.5495146… by exact fractions (Python's `fractions`).
        assert_eq!(s.total.round2(), 81.55);
        assert!((s.total.to_f64() - 81.549_514_620_970_84).abs() < 1e-9);
        assert_eq!(s.grade, Grade::Good);
    }

    #[test]
    fn scoring_matches_the_published_phu_tho_figures() {
        // progress 528,684 / 597,918 → 17.68 of 20
        assert_eq!(
            score(MetricKey::OnTimeProcessing, Count { num: 528_684, den: 597_918 }).score.round2(),
            17.68
        );
        // dossier satisfaction 528,464 / 597,918 → 5.89 of 6 (target 90 %)
        assert_eq!(
            score(MetricKey::DossierSatisfaction, Count { num: 528_464, den: 597_918 }).score.round2(),
            5.89
        );
        // PAKN on time 296 / 570 → 3.12 of 6
        assert_eq!(score(MetricKey::PaknOnTime, Count { num: 296, den: 570 }).score.round2(), 3.12);
    }

    #[test]
    fn empty_denominators() {
        let s = score(MetricKey::PaknSatisfaction, Count::default());
        assert_eq!((s.ratio, s.score.round2()), (None, 6.0));
        let s = score(MetricKey::DossierSync, Count::default());
        assert_eq!((s.ratio, s.score.round2()), (None, 0.0));
        // Target scoring caps at the maximum.
        assert_eq!(score(MetricKey::ReusedDigitizedData, Count { num: 9, den: 10 }).score.round2(), 2.0);
        assert_eq!(score(MetricKey::ReusedDigitizedData, Count { num: 1, den: 5 }).score.round2(), 0.5);
    }

    #[test]
    fn rounding_is_half_away_from_zero_and_exact() {
        assert_eq!(Ratio::new(1, 200).round2(), 0.01);
        assert_eq!(Ratio::new(1, 201).round2(), 0.0);
        assert_eq!(Ratio::new(2005, 1000).round2(), 2.01);
    }

    #[test]
    fn competition_ranking_with_ties_by_code() {
        let r = rank(vec![
            ("b".into(), 50.0, ()),
            ("a".into(), 50.0, ()),
            ("c".into(), 70.0, ()),
            ("d".into(), 10.0, ()),
        ]);
        let got: Vec<(u32, &str)> = r.iter().map(|(k, c, _, _)| (*k, c.as_str())).collect();
        assert_eq!(got, vec![(1, "c"), (2, "a"), (2, "b"), (4, "d")]);
    }

    #[test]
    fn grades() {
        assert_eq!(grade(90.0), Grade::Excellent);
        assert_eq!(grade(89.99), Grade::Good);
        assert_eq!(grade(70.0), Grade::Fair);
        assert_eq!(grade(50.0), Grade::Average);
        assert_eq!(grade(49.99), Grade::Weak);
    }
}
