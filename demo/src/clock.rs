//! Time inside the generator: plain integer seconds on Vietnam's wall clock, so that day arithmetic is a
//! division, and a working-day table so that adding working days costs a lookup, not a walk.

use chrono::{DateTime, Datelike, NaiveDate};

use domain::time::vn_offset;
use interchange_format::records::Instant;

pub(super) const MINUTE: i64 = 60;
pub(super) const HOUR: i64 = 3_600;
pub(super) const DAY: i64 = 86_400;

/// Vietnam's offset from UTC, in seconds (no daylight saving).
const OFFSET: i64 = 7 * HOUR;
/// chrono's day number of 1970-01-01 counted from 0001-01-01 as day 1.
const EPOCH_FROM_CE: i64 = 719_163;

/// Days since 1970-01-01.
pub(super) fn day_number(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce()) - EPOCH_FROM_CE
}

/// The day number of a calendar date (0 for an impossible date, which the fixed tables never hold).
pub(super) fn ymd(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d).map(day_number).unwrap_or(0)
}

/// The calendar date of a day number.
pub(super) fn date(day: i64) -> NaiveDate {
    i32::try_from(day + EPOCH_FROM_CE).ok().and_then(NaiveDate::from_num_days_from_ce_opt).unwrap_or_default()
}

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub(super) fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// A wall-clock second (seconds since 1970-01-01 00:00 in Vietnam) as an interchange instant at +07:00.
pub(super) fn instant(t: i64) -> Instant {
    DateTime::from_timestamp(t - OFFSET, 0).unwrap_or_default().with_timezone(&vn_offset())
}

/// Working days (Monday to Friday minus holidays) over a span of dates; outside it only weekends are skipped.
pub(super) struct WorkDays {
    first: i64,
    working: Vec<bool>,
    /// `upto[i]`: working days in `[first, first + i]`.
    upto: Vec<u32>,
    /// The working days in order.
    list: Vec<i64>,
}

impl WorkDays {
    pub(super) fn new(first: i64, last: i64, holidays: &[i64]) -> Self {
        let mut working = Vec::new();
        let mut upto = Vec::new();
        let mut list = Vec::new();
        for day in first..=last {
            let w = weekday(day) < 5 && !holidays.contains(&day);
            if w {
                list.push(day);
            }
            working.push(w);
            upto.push(list.len() as u32);
        }
        WorkDays { first, working, upto, list }
    }

    pub(super) fn is_working(&self, day: i64) -> bool {
        usize::try_from(day - self.first)
            .ok()
            .and_then(|i| self.working.get(i).copied())
            .unwrap_or_else(|| weekday(day) < 5)
    }

    /// `day + n` working days as `Calendar::add_working_days` counts them: the n-th working day after `day`.
    pub(super) fn add(&self, day: i64, n: u32) -> i64 {
        if n == 0 {
            return day;
        }
        if let Some(&before) = usize::try_from(day - self.first).ok().and_then(|i| self.upto.get(i))
            && let Some(&d) = self.list.get(before as usize + n as usize - 1)
        {
            return d;
        }
        let mut d = day;
        let mut left = n;
        while left > 0 {
            d += 1;
            if self.is_working(d) {
                left -= 1;
            }
        }
        d
    }
}
