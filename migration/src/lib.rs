//! Schema migrations for dvc-gateway. They run unchanged on SQLite and PostgreSQL.
//!
//! This crate deliberately does not depend on `entity`: a migration describes the schema as it was when the
//! migration was written, so later changes to the entities can never rewrite history.
//! Migrations are append-only: a change to a shipped table is a new migration.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;
mod m20261128_000001_indicator_summaries;
mod m20261129_000001_privacy;
mod m20261129_000002_drop_clear_recorder;
mod m20261130_000001_rollup_names;
mod m20261130_000002_procedure_search;
mod m20261206_000001_open_rollup;
mod m20261207_000001_cache_reader;
mod m20261208_000001_settled_receipts;
mod m20261208_000002_summary_groups;
mod m20261208_000003_procedure_rollup_months;

/// The migration before which the gateway seals the clear `feedback.recorded_by` with its key (it drops the
/// column).
pub const SEAL_RECORDERS_BEFORE: &str = "m20261129_000002_drop_clear_recorder";

/// Migrations after which the gateway derives the indicator summaries again from the stored rows (they create
/// or recreate the summary tables), unless the database was empty.
pub const REBUILD_SUMMARIES_AFTER: [&str; 5] = [
    "m20261128_000001_indicator_summaries",
    "m20261130_000001_rollup_names",
    "m20261206_000001_open_rollup",
    "m20261208_000001_settled_receipts",
    "m20261208_000002_summary_groups",
];

/// The migration after which the gateway fills `procedure.search_text` of the stored procedures.
pub const FILL_PROCEDURE_SEARCH_AFTER: &str = "m20261130_000002_procedure_search";

/// Audit events younger than this are never deleted: the database refuses it, whatever the configured retention.
pub const AUDIT_MIN_AGE_DAYS: i64 = 180;

/// The condition that makes a feedback a PAKN (a complaint or a recommendation). The partial index
/// `idx_feedback_pakn` covers exactly the rows it selects, and the indicator queries use the same text, so that
/// both databases read only PAKN rows, not every rating of a unit.
pub const PAKN_KINDS: &str = "kind IN ('COMPLAINT', 'RECOMMENDATION')";

/// `settled_at` of a dossier whose indicator facts may still change (it is open, or its dates lie outside the
/// summarised years): the indicators read it row by row.
pub const NEVER: i64 = i64::MAX;

/// The summarised instants, `[SUMMARY_FROM, SUMMARY_TO)`: 2000-01-01 to 2100-01-01 in Vietnam time. A dossier
/// received earlier or settling later is never summarised.
pub const SUMMARY_FROM: i64 = month_start(2000, 1);
pub const SUMMARY_TO: i64 = month_start(2100, 1);

/// The instant (microseconds since the epoch) at which month `m` of year `y` begins in Vietnam time (UTC+07:00).
pub const fn month_start(y: i64, m: i64) -> i64 {
    // Days from 1970-01-01 to y-m-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 - 7 * 3_600) * 1_000_000
}

/// Microseconds in a day, and Vietnam's offset from UTC.
pub const DAY: i64 = 86_400_000_000;
pub const VN_OFFSET: i64 = 7 * 3_600 * 1_000_000;

/// The Vietnam-time day number (days since 1970-01-01) of `x`, a SQL expression for an instant in the
/// summarised years.
pub fn day_sql(x: &str) -> String {
    format!("(({x} + {VN_OFFSET}) / {DAY})")
}

/// The rows of table `calendar_day`: every day of the summarised years with the start of its month.
pub fn calendar_days() -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for y in 2000..2100 {
        for m in 1..=12 {
            let (start, next) =
                (month_start(y, m), if m == 12 { month_start(y + 1, 1) } else { month_start(y, m + 1) });
            out.extend(((start + VN_OFFSET) / DAY..(next + VN_OFFSET) / DAY).map(|d| (d, start)));
        }
    }
    out
}

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tables::Migration),
            Box::new(m20261128_000001_indicator_summaries::Migration),
            Box::new(m20261129_000001_privacy::Migration),
            Box::new(m20261129_000002_drop_clear_recorder::Migration),
            Box::new(m20261130_000001_rollup_names::Migration),
            Box::new(m20261130_000002_procedure_search::Migration),
            Box::new(m20261206_000001_open_rollup::Migration),
            Box::new(m20261207_000001_cache_reader::Migration),
            Box::new(m20261208_000001_settled_receipts::Migration),
            Box::new(m20261208_000002_summary_groups::Migration),
            Box::new(m20261208_000003_procedure_rollup_months::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn months_begin_at_vietnam_midnights() {
        // 2024-01-01T00:00:00+07:00 = 2023-12-31T17:00:00Z = 1704042000 s.
        assert_eq!(super::month_start(2024, 1), 1_704_042_000_000_000);
        // 2024-03-01T00:00:00+07:00 (after a leap February) = 1709226000 s.
        assert_eq!(super::month_start(2024, 3), 1_709_226_000_000_000);
        let days = super::calendar_days();
        // 2000-01-01 to 2099-12-31: 100 years with 25 leap days (2000 is one, 2100 is not in range).
        assert_eq!(days.len(), 36_525);
        assert!(days.windows(2).all(|w| w[1].0 == w[0].0 + 1 && w[1].1 >= w[0].1));
        // 2024-03-01 00:00+07:00 lies on the first day of its month, one microsecond earlier on February's last.
        let day = |x: i64| (x + super::VN_OFFSET) / super::DAY;
        let month_of = |x: i64| days.iter().find(|d| d.0 == day(x)).unwrap().1;
        let march = super::month_start(2024, 3);
        assert_eq!(month_of(march), march);
        assert_eq!(month_of(march - 1), super::month_start(2024, 2));
    }
}
