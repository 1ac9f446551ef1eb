//! Schema migrations for dvc-gateway. They run unchanged on SQLite and PostgreSQL.
//!
//! This crate deliberately does not depend on `entity`: a migration describes the schema as it was when the
//! migration was written, so later changes to the entities can never rewrite history.
//! Migrations are append-only: a change to a shipped table is a new migration.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;
mod m20261128_000001_indicator_summaries;

/// The condition that makes a feedback a PAKN (a complaint or a recommendation). The partial index
/// `idx_feedback_pakn` covers exactly the rows it selects, and the indicator queries use the same text, so that
/// both databases read only PAKN rows, not every rating of a unit.
pub const PAKN_KINDS: &str = "kind IN ('COMPLAINT', 'RECOMMENDATION')";

/// `settled_at` of a dossier whose indicator facts may still change (it is open, its receipts count over
/// several intervals, or its dates lie outside the summarised years): the indicators read it row by row.
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

/// Every month start of the summarised years, and `SUMMARY_TO`: the rows of table `month_start`.
pub fn month_starts() -> Vec<i64> {
    let mut out: Vec<i64> = (2000..2100).flat_map(|y| (1..=12).map(move |m| month_start(y, m))).collect();
    out.push(SUMMARY_TO);
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
        ]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn month_starts_are_vietnam_midnights() {
        // 2024-01-01T00:00:00+07:00 = 2023-12-31T17:00:00Z = 1704042000 s.
        assert_eq!(super::month_start(2024, 1), 1_704_042_000_000_000);
        // 2024-03-01T00:00:00+07:00 (after a leap February) = 1709226000 s.
        assert_eq!(super::month_start(2024, 3), 1_709_226_000_000_000);
        let all = super::month_starts();
        assert_eq!(all.len(), 1201);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }
}
