//! Instants, dates and periods in Vietnam time (UTC+07:00, no daylight saving), and working days.
//!
//! Storage keeps instants as microseconds since the Unix epoch ([`Micros`]); everything a person reads is shown
//! at +07:00.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Offset, Utc, Weekday};

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// Vietnam's offset from UTC.
pub fn vn_offset() -> FixedOffset {
    // 7 hours is always a valid offset, so the fallback to UTC never happens.
    FixedOffset::east_opt(7 * 3600).unwrap_or(Utc.fix())
}

/// The storage form of an instant.
pub fn to_micros(t: DateTime<FixedOffset>) -> Micros {
    t.timestamp_micros()
}

/// An instant shown in Vietnam time.
pub fn from_micros(us: Micros) -> DateTime<FixedOffset> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default().with_timezone(&vn_offset())
}

/// The instant `d 00:00+07:00`.
pub fn start_of(d: NaiveDate) -> Micros {
    let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    (midnight - Duration::hours(7)).and_utc().timestamp_micros()
}

/// The current instant.
pub fn now() -> Micros {
    Utc::now().timestamp_micros()
}

/// The Vietnam-time calendar date of an instant.
pub fn date_of(us: Micros) -> NaiveDate {
    from_micros(us).date_naive()
}

/// The instant at which the Vietnam-time month of `us` begins.
pub fn month_of(us: Micros) -> Micros {
    let d = date_of(us);
    start_of(d.with_day(1).unwrap_or(d))
}

/// The instant at which the month after the one beginning at `month` begins.
pub fn next_month(month: Micros) -> Micros {
    month_of(month + Duration::days(32).num_microseconds().unwrap_or(0))
}

/// The first date whose midnight is at or after `t`: `d 00:00+07 ≥ t ⇔ d ≥ first_date_at_or_after(t)`, and
/// `d 00:00+07 < t ⇔ d < first_date_at_or_after(t)`.
pub fn first_date_at_or_after(t: Micros) -> NaiveDate {
    let d = date_of(t);
    if start_of(d) == t { d } else { d.succ_opt().unwrap_or(d) }
}

/// Why a period was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("give `year` (with at most one of `quarter` or `month`), or both `from` and `to`")]
    Shape,
    #[error("quarter must be 1 to 4")]
    Quarter,
    #[error("month must be 1 to 12")]
    Month,
    #[error("year is out of range")]
    Year,
    #[error("`from` must be before `to`")]
    Empty,
    #[error("`from` and `to` must each be the first day of a {0}")]
    Step(&'static str),
    #[error("a series has at most {0} steps; ask for a shorter range or a longer step")]
    TooManySteps(usize),
}

/// The length of one step of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesStep {
    Month,
    Quarter,
    Year,
}

impl SeriesStep {
    fn months(self) -> u32 {
        match self {
            SeriesStep::Month => 1,
            SeriesStep::Quarter => 3,
            SeriesStep::Year => 12,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SeriesStep::Month => "month",
            SeriesStep::Quarter => "quarter",
            SeriesStep::Year => "year",
        }
    }
}

/// How many steps a series may have (ten years of months).
pub const MAX_SERIES_STEPS: usize = 120;

/// The periods of a series from `from` to `to` (exclusive) by `step`; with `cumulative`, each from the start of
/// its step's year to the step's end. `from` and `to` must be the first days of steps.
pub fn series_periods(
    from: NaiveDate,
    to: NaiveDate,
    step: SeriesStep,
    cumulative: bool,
) -> Result<Vec<PeriodSpec>, PeriodError> {
    let aligned = |d: NaiveDate| d.day() == 1 && (d.month() - 1).is_multiple_of(step.months());
    if !aligned(from) || !aligned(to) {
        return Err(PeriodError::Step(step.name()));
    }
    if from >= to {
        return Err(PeriodError::Empty);
    }
    ymd(from.year(), 1)?;
    ymd(to.year(), 1)?;
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let end = start.checked_add_months(chrono::Months::new(step.months())).ok_or(PeriodError::Year)?;
        if out.len() == MAX_SERIES_STEPS {
            return Err(PeriodError::TooManySteps(MAX_SERIES_STEPS));
        }
        let first = if cumulative { ymd(start.year(), 1)? } else { start };
        out.push(PeriodSpec { from: Some(first), to: Some(end), ..PeriodSpec::default() });
        start = end;
    }
    Ok(out)
}

/// A period `[start, end)` in Vietnam time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub start: Micros,
    pub end: Micros,
}

/// What a client asks for: a year, a quarter or month of a year, or a date range with `to` exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodSpec {
    pub year: Option<i32>,
    pub quarter: Option<u32>,
    pub month: Option<u32>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl PeriodSpec {
    /// Resolves the period's bounds.
    pub fn resolve(&self) -> Result<Period, PeriodError> {
        let (from, to) = match (self.year, self.quarter, self.month, self.from, self.to) {
            (Some(y), None, None, None, None) => (ymd(y, 1)?, ymd(y + 1, 1)?),
            (Some(y), Some(q), None, None, None) => {
                if !(1..=4).contains(&q) {
                    return Err(PeriodError::Quarter);
                }
                let m = (q - 1) * 3 + 1;
                (ymd(y, m)?, if q == 4 { ymd(y + 1, 1)? } else { ymd(y, m + 3)? })
            }
            (Some(y), None, Some(m), None, None) => {
                if !(1..=12).contains(&m) {
                    return Err(PeriodError::Month);
                }
                (ymd(y, m)?, if m == 12 { ymd(y + 1, 1)? } else { ymd(y, m + 1)? })
            }
            (None, None, None, Some(f), Some(t)) => {
                if f >= t {
                    return Err(PeriodError::Empty);
                }
                (f, t)
            }
            _ => return Err(PeriodError::Shape),
        };
        Ok(Period { start: start_of(from), end: start_of(to) })
    }
}

fn ymd(y: i32, m: u32) -> Result<NaiveDate, PeriodError> {
    if !(1900..=2999).contains(&y) {
        return Err(PeriodError::Year);
    }
    NaiveDate::from_ymd_opt(y, m, 1).ok_or(PeriodError::Year)
}

/// The holiday calendar: Monday to Friday are working days unless listed here.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Calendar { holidays: holidays.into_iter().collect() }
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&d)
    }

    /// `d + n` working days (`n` may be negative): step one calendar day at a time, counting the working days
    /// stepped onto, and stop on the n-th. `n = 0` is `d`.
    pub fn add_working_days(&self, d: NaiveDate, n: i32) -> NaiveDate {
        let step = if n < 0 { -1 } else { 1 };
        let mut left = n.abs();
        let mut day = d;
        while left > 0 {
            day += Duration::days(step);
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn periods_are_in_vietnam_time() {
        let q = PeriodSpec { year: Some(2025), quarter: Some(4), ..Default::default() }.resolve();
        let q = q.unwrap_or(Period { start: 0, end: 0 });
        assert_eq!(from_micros(q.start).to_rfc3339(), "2025-10-01T00:00:00+07:00");
        assert_eq!(from_micros(q.end).to_rfc3339(), "2026-01-01T00:00:00+07:00");
        let m = PeriodSpec { year: Some(2024), month: Some(2), ..Default::default() }.resolve();
        assert_eq!(
            m.map(|p| from_micros(p.end).to_rfc3339()).ok().as_deref(),
            Some("2024-03-01T00:00:00+07:00")
        );
        assert_eq!(
            PeriodSpec { year: Some(2024), quarter: Some(5), ..Default::default() }.resolve(),
            Err(PeriodError::Quarter)
        );
        assert_eq!(
            PeriodSpec { year: Some(2024), quarter: Some(1), month: Some(1), ..Default::default() }.resolve(),
            Err(PeriodError::Shape)
        );
        assert_eq!(
            PeriodSpec { from: Some(d("2025-06-08")), to: Some(d("2025-06-01")), ..Default::default() }
                .resolve(),
            Err(PeriodError::Empty)
        );
    }

    #[test]
    fn working_days_skip_weekends_and_tet() {
        let cal = Calendar::new([
            d("2024-02-08"),
            d("2024-02-09"),
            d("2024-02-12"),
            d("2024-02-13"),
            d("2024-02-14"),
        ]);
        // Wednesday 7 Feb 2024 + 1 working day jumps Tết and the weekends to Thursday 15 Feb.
        assert_eq!(cal.add_working_days(d("2024-02-07"), 1), d("2024-02-15"));
        assert_eq!(cal.add_working_days(d("2024-02-15"), -1), d("2024-02-07"));
        // Friday + 1 is Monday; Monday − 5 is the Monday before.
        assert_eq!(cal.add_working_days(d("2024-03-01"), 1), d("2024-03-04"));
        assert_eq!(cal.add_working_days(d("2024-03-11"), -5), d("2024-03-04"));
        // Counting from a Sunday: the first working day stepped onto is Monday.
        assert_eq!(cal.add_working_days(d("2024-03-03"), 1), d("2024-03-04"));
    }

    #[test]
    fn first_date_at_or_after_midnight() {
        let t = start_of(d("2025-01-01"));
        assert_eq!(first_date_at_or_after(t), d("2025-01-01"));
        assert_eq!(first_date_at_or_after(t + 1), d("2025-01-02"));
        assert_eq!(first_date_at_or_after(t - 1), d("2025-01-01"));
    }
}
