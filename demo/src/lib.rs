//! Deterministic demo data: Quảng Nam province (unit `49`) in 2024, as interchange records.
//!
//! The data are synthetic (random names and identity numbers) but calibrated on the province's published
//! 2024 figures, so that the indicators computed from them look like the province's:
//!
//! - structure, whatever the scale: the country, the province, 13 departments and the provincial public
//!   administration centre, the 18 districts (codes 502–519) and their 238 communes; the holidays of 2023–2025;
//!   16 sectors; 1,927 procedures announced by the province, 954 FULL and 818 PARTIAL online (155 NONE),
//!   1,113 integrated with the national portal;
//! - dossiers, scaled: at scale 1.0, 390,402 dossiers received from 2023-12-15 to 2024-12-14, of which 94,118 at
//!   province level (departments, through the provincial centre; 92.3 % online) and 125,106 at district level
//!   (65.1 % online), the rest at communes; on time 99.76 % at province level, 93.92 % at district level and
//!   98.31 % at commune level; Bắc Trà My 97.5 % on time at district level and 95.7 % in its communes, 71.6 %
//!   online and 80 % with digitized inputs; lateness concentrated in land, environment and finance–planning and
//!   in Quế Sơn, Thăng Bình, Phú Ninh and Duy Xuyên (over 5 % late at district level); receipts for
//!   fee-bearing dossiers; ratings, complaints, recommendations and questions;
//! - one known citizen, [`DEMO_CITIZEN_ID`], the applicant of twelve dossiers in Tam Kỳ at the default scale,
//!   so that a CITIZEN token has something to see.
//!
//! **Counts.** With `s` the scale (negative or non-finite read as 0), the number of dossiers that count as
//! received is `round(390,402 × s)` ([`dossier_count`]): `round(94,118 × s)` at province level,
//! `round(125,106 × s)` at district level, the rest at communes. Beside them, about 0.4 % of online dossiers
//! come with an online submission that was refused at reception (a NOT_ACCEPTED event): such a record never
//! counts as received.
//!
//! **Calibration.** Nothing that a published figure fixes is left to coin flips. Each level's total is split
//! over units and then over each unit's sectors by largest-remainder apportionment, so that the parts sum
//! exactly; the late, online and digitized counts are split the same way (lateness weighted towards the late
//! sectors and districts, all capped by the counts). Within a stratum (one unit, one sector) the `late` of
//! `count` dossiers are spread evenly over its indices, and likewise the online and digitized ones, so a
//! level's realized on-time rate is
//! `1 − late / count` with `late = count − round(count × rate)`: within half a dossier of the published rate.
//! A dossier marked late is late under the rules of docs/indicators.md from the period's evaluation instant
//! (2025-01-01) on — ended after its due date once supplement pauses are taken off, still open past its due
//! date, or asked twice for supplements — and one marked on time is on time at that instant, and for good
//! once it has ended (ended by its due date, waiting on the applicant since before it, or, for about 1 %,
//! still open with a due date in 2025).
//!
//! **Order and memory.** Records come in an order an import accepts: units (parents first), holidays,
//! sectors, procedures, dossiers, receipts, feedback (a repeat after the feedback it repeats). Each dossier is
//! drawn from its own generator, seeded by (seed, stratum, index), and the period is walked day by day; the
//! receipts and feedback passes walk it again and draw the same dossiers, so only one day's dossiers are ever
//! held.

mod clock;
mod dossier;
mod feedback;
mod receipts;
mod tables;
mod world;

#[cfg(test)]
mod tests;

pub use dossier::{DEMO_CITIZEN_ID, DEMO_CITIZEN_NAME};
use interchange_format::records::{HolidayRec, Record, SectorRec};

/// The default scale: loads in a few seconds (about 20,000 dossiers).
pub const DEFAULT_SCALE: f64 = 0.05;

/// Size of the demo data set: 1.0 is the full published volume (390,402 dossiers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoOptions {
    /// Multiplies the numbers of dossiers, receipts and feedback; units, sectors and procedures are fixed.
    pub scale: f64,
    /// The same seed and scale give the same records.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { scale: DEFAULT_SCALE, seed: 2024 }
    }
}

/// Published totals of dossiers received in 2024: all, at province level (through the provincial centre),
/// at district level.
const DOSSIERS: f64 = 390_402.0;
const PROVINCE_DOSSIERS: f64 = 94_118.0;
const DISTRICT_DOSSIERS: f64 = 125_106.0;

/// The number of dossiers that count as received at a scale: `round(390,402 × scale)`.
pub fn dossier_count(scale: f64) -> u64 {
    (DOSSIERS * sane(scale)).round() as u64
}

fn sane(scale: f64) -> f64 {
    if scale.is_finite() && scale > 0.0 { scale } else { 0.0 }
}

/// The published figures the generator hits, per level (province, district, commune), at a scale. The commune
/// online share and the digitized shares (except Bắc Trà My's) are not published; the values here are
/// plausible ones.
struct Published {
    dossiers: [u64; 3],
    on_time: [f64; 3],
    online: [f64; 3],
    digitized: [f64; 3],
    bac_tra_my_on_time: [f64; 3],
    bac_tra_my_online: f64,
    bac_tra_my_digitized: f64,
}

impl Published {
    fn at(scale: f64) -> Published {
        let s = sane(scale);
        let all = dossier_count(s);
        let province = (PROVINCE_DOSSIERS * s).round() as u64;
        let district = (DISTRICT_DOSSIERS * s).round() as u64;
        Published {
            dossiers: [province, district, all.saturating_sub(province + district)],
            on_time: [0.9976, 0.9392, 0.9831],
            online: [0.923, 0.651, 0.58],
            digitized: [0.88, 0.72, 0.64],
            bac_tra_my_on_time: [1.0, 0.975, 0.957],
            bac_tra_my_online: 0.716,
            bac_tra_my_digitized: 0.80,
        }
    }
}

/// Mixes numbers into one seed (SplitMix64 steps): every generator is seeded from the user's seed and the
/// place of what it draws, never from another generator's state.
fn mix(parts: &[u64]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    for &p in parts {
        let mut z = (h ^ p).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

/// Calls `emit` for every record, in an order an import accepts: units (parents first), holidays, sectors,
/// procedures, dossiers, receipts, then feedback (a repeated one before its repeats).
pub fn generate(opts: &DemoOptions, emit: &mut dyn FnMut(Record)) {
    let w = world::World::build(opts);
    for u in w.unit_records() {
        emit(Record::Unit(u));
    }
    for &(day, name) in &w.holidays {
        emit(Record::Holiday(HolidayRec { date: clock::date(day), name: name.to_owned() }));
    }
    for s in tables::SECTORS {
        emit(Record::Sector(SectorRec { code: s.code.to_owned(), name: s.name.to_owned() }));
    }
    for p in &w.procs {
        emit(Record::Procedure(p.rec.clone()));
    }
    dossier::schedule(&w, &mut |_, list| {
        for s in list {
            emit(Record::Dossier(dossier::render(&w, s)));
        }
    });
    receipts::emit_receipts(&w, emit);
    feedback::emit_feedback(&w, emit);
}
