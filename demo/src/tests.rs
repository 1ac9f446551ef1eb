use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use chrono::{DateTime, Duration, NaiveDate};

use super::clock::{self, WorkDays};
use super::world::apportion;
use super::*;
use domain::time::Calendar;
use domain::*;
use interchange_format::records::*;
use interchange_format::validate::check;

const SCALE: f64 = 0.01;
const SEED: u64 = 7;

fn records(scale: f64, seed: u64) -> Vec<Record> {
    let mut out = Vec::new();
    generate(&DemoOptions { scale, seed }, &mut |r| out.push(r));
    out
}

/// One small data set shared by the tests that only read it.
fn small() -> &'static [Record] {
    static SMALL: OnceLock<Vec<Record>> = OnceLock::new();
    SMALL.get_or_init(|| records(SCALE, SEED))
}

fn instant(s: &str) -> Instant {
    DateTime::parse_from_rfc3339(s).unwrap()
}

/// The evaluation instant of the year 2024.
fn t_2024() -> Instant {
    instant("2025-01-01T00:00:00+07:00")
}

fn refused(d: &DossierRec) -> bool {
    d.events.iter().any(|e| e.status == DossierStatus::NotAccepted)
}

/// On time as of T, by docs/indicators.md.
fn on_time_at(d: &DossierRec, t: Instant) -> bool {
    let requests: Vec<&SupplementRec> = d.supplements.iter().filter(|s| s.requested_at <= t).collect();
    if requests.len() > 1 {
        return false;
    }
    let first =
        |st: DossierStatus| d.events.iter().filter(|e| e.status == st && e.at <= t).map(|e| e.at).min();
    let mut end = first(DossierStatus::Resolved).or_else(|| {
        [DossierStatus::Returned, DossierStatus::Stopped, DossierStatus::Withdrawn]
            .into_iter()
            .filter_map(first)
            .min()
    });
    let mut paused = Duration::zero();
    if let Some(s) = requests.first() {
        match s.received_at.filter(|&r| r <= t) {
            Some(r) => paused = r - s.requested_at,
            None if end.is_none() => end = Some(s.requested_at),
            None => {}
        }
    }
    end.unwrap_or(t) - paused <= d.due_at
}

/// The brief's simple rule: the earliest RESOLVED event (else the earliest RETURNED, STOPPED or WITHDRAWN) less
/// the answered supplement's pause is not after the due date; two requests are late; a dossier waiting on its
/// only supplement ends at the request; a dossier still open is on time while its due date is not before
/// 2025-01-01.
fn on_time_simple(d: &DossierRec) -> bool {
    if d.supplements.len() > 1 {
        return false;
    }
    let first = |st: DossierStatus| d.events.iter().filter(|e| e.status == st).map(|e| e.at).min();
    let end = first(DossierStatus::Resolved).or_else(|| {
        [DossierStatus::Returned, DossierStatus::Stopped, DossierStatus::Withdrawn]
            .into_iter()
            .filter_map(first)
            .min()
    });
    let pause =
        d.supplements.first().and_then(|s| s.received_at.map(|r| r - s.requested_at)).unwrap_or_default();
    match (end, d.supplements.first()) {
        (Some(e), _) => e - pause <= d.due_at,
        (None, Some(s)) if s.received_at.is_none() => s.requested_at <= d.due_at,
        (None, _) => d.due_at >= t_2024(),
    }
}

/// Level index (0 province incl. departments, 1 district, 2 commune) and district code of each unit.
fn unit_levels(rs: &[Record]) -> HashMap<UnitCode, (usize, Option<UnitCode>)> {
    let units: HashMap<&str, &UnitRec> = rs
        .iter()
        .filter_map(|r| if let Record::Unit(u) = r { Some((u.code.as_str(), u)) } else { None })
        .collect();
    units
        .values()
        .filter_map(|u| {
            let v = match u.level {
                UnitLevel::Department => (0, None),
                UnitLevel::District => (1, Some(u.code.clone())),
                UnitLevel::Commune => (2, u.parent.clone()),
                _ => return None,
            };
            Some((u.code.clone(), v))
        })
        .collect()
}

fn dossiers(rs: &[Record]) -> impl Iterator<Item = &DossierRec> {
    rs.iter().filter_map(|r| if let Record::Dossier(d) = r { Some(d) } else { None })
}

#[test]
fn every_record_is_valid_unique_and_refers_backwards() {
    let rs = small();
    let mut keys: HashSet<(Kind, String)> = HashSet::new();
    let mut last_kind = Kind::Unit;
    let mut units = HashSet::new();
    let (mut sectors, mut procedures, mut dossier_codes, mut feedback) =
        (HashSet::new(), HashSet::new(), HashSet::new(), HashSet::new());
    for r in rs {
        assert_eq!(check(r, 0), vec![], "{}", r.to_line());
        assert!(r.kind() >= last_kind, "{:?} after {:?}", r.kind(), last_kind);
        last_kind = r.kind();
        assert!(keys.insert((r.kind(), r.key())), "duplicate key {}", r.key());
        match r {
            Record::Unit(u) => {
                assert!(
                    u.parent.as_ref().is_none_or(|p| units.contains(p)),
                    "parent of {} comes later",
                    u.code
                );
                units.insert(u.code.clone());
            }
            Record::Holiday(_) => {}
            Record::Sector(s) => {
                sectors.insert(s.code.clone());
            }
            Record::Procedure(p) => {
                assert!(sectors.contains(&p.sector) && units.contains(&p.authority));
                procedures.insert(p.code.clone());
            }
            Record::Dossier(d) => {
                assert!(procedures.contains(&d.procedure) && units.contains(&d.unit));
                assert!(d.events.windows(2).all(|e| e[0].at <= e[1].at), "events of {} out of order", d.code);
                if !refused(d) {
                    assert!(
                        d.events.iter().any(|e| e.status == DossierStatus::Received && e.at == d.received_at)
                    );
                }
                if d.applicant.kind.0 == ApplicantKind::Citizen {
                    assert_eq!(d.applicant.id_number.len(), 12);
                } else {
                    assert_eq!(&d.applicant.id_number[..2], "40");
                }
                for a in &d.apologies {
                    assert!(a.new_due_at > d.due_at && a.issued_at >= d.received_at);
                }
                assert!(d.code.contains(".H42-"), "{}", d.code);
                dossier_codes.insert(d.code.clone());
            }
            Record::Receipt(rc) => {
                assert!(dossier_codes.contains(&rc.dossier), "receipt for unknown {}", rc.dossier)
            }
            Record::Feedback(f) => {
                assert!(units.contains(&f.unit));
                assert!(f.dossier.as_ref().is_none_or(|d| dossier_codes.contains(d)));
                assert!(
                    f.repeat_of.as_ref().is_none_or(|r| feedback.contains(r)),
                    "{} repeats a later one",
                    f.code
                );
                feedback.insert(f.code.clone());
            }
        }
    }
    assert_eq!(last_kind, Kind::Feedback);
    // What the import reads back is what was written.
    for r in rs.iter().step_by(97) {
        let parsed = interchange_format::validate::parse_line(r.to_line().as_bytes(), 1);
        assert_eq!(parsed.as_ref(), Ok(r));
    }
}

#[test]
fn structure_follows_the_published_figures_at_any_scale() {
    let rs = records(0.0, SEED);
    let units: Vec<&UnitRec> =
        rs.iter().filter_map(|r| if let Record::Unit(u) = r { Some(u) } else { None }).collect();
    let province = units.iter().find(|u| u.code == "49").unwrap();
    assert_eq!(
        (province.level, province.parent.as_deref(), province.name.as_str()),
        (UnitLevel::Province, Some("VN"), "Tỉnh Quảng Nam")
    );
    let districts: Vec<&&UnitRec> = units
        .iter()
        .filter(|u| u.level == UnitLevel::District && u.parent.as_deref() == Some("49"))
        .collect();
    assert_eq!(districts.len(), 18);
    assert!(districts.iter().any(|d| d.name.contains("Bắc Trà My") && d.code == "515"));
    let codes: Vec<u32> = districts.iter().map(|d| d.code.parse().unwrap()).collect();
    assert_eq!(codes, (502..=519).collect::<Vec<_>>());
    let departments = units
        .iter()
        .filter(|u| u.level == UnitLevel::Department && u.parent.as_deref() == Some("49"))
        .count();
    assert_eq!(departments, 14);
    let communes: Vec<&&UnitRec> = units.iter().filter(|u| u.level == UnitLevel::Commune).collect();
    assert_eq!(communes.len(), 238);
    assert!(communes.iter().all(|c| c.code.len() == 5 && c.code.starts_with("20")));
    assert!(communes.iter().all(|c| districts.iter().any(|d| Some(&d.code) == c.parent.as_ref())));
    let offering = communes.iter().filter(|c| c.offers_e_certified_copy).count();
    assert!(offering > 180 && offering < 238, "{offering}");

    let procs: Vec<&ProcedureRec> =
        rs.iter().filter_map(|r| if let Record::Procedure(p) = r { Some(p) } else { None }).collect();
    assert_eq!(procs.len(), 1_927);
    let online = |l: OnlineLevel| procs.iter().filter(|p| p.online_level == l).count();
    assert_eq!(
        (online(OnlineLevel::Full), online(OnlineLevel::Partial), online(OnlineLevel::None)),
        (954, 818, 155)
    );
    assert_eq!(procs.iter().filter(|p| p.national_portal_integrated).count(), 1_113);
    assert!(procs.iter().all(|p| p.authority == "49" && p.processing_days.is_some_and(|d| d >= 1.0)));
    let at = |l: ProcedureLevel| procs.iter().filter(|p| p.level == l).count();
    assert_eq!(
        (at(ProcedureLevel::Province), at(ProcedureLevel::District), at(ProcedureLevel::Commune)),
        (1_474, 320, 133)
    );
    let with_fee = procs.iter().filter(|p| p.fee > 0).count() as f64 / procs.len() as f64;
    assert!((0.25..0.40).contains(&with_fee), "{with_fee}");
    let full_content = procs.iter().filter(|p| p.content.len() == 7).count() as f64 / procs.len() as f64;
    assert!(full_content > 0.9 && full_content < 1.0, "{full_content}");
    let sectors = rs.iter().filter(|r| r.kind() == Kind::Sector).count();
    assert!((12..=16).contains(&sectors));

    let holidays: HashSet<NaiveDate> =
        rs.iter().filter_map(|r| if let Record::Holiday(h) = r { Some(h.date) } else { None }).collect();
    for d in [
        "2024-01-01",
        "2024-02-08",
        "2024-02-14",
        "2024-04-18",
        "2024-04-29",
        "2024-09-03",
        "2025-01-28",
        "2023-09-04",
    ] {
        assert!(holidays.contains(&d.parse().unwrap()), "{d}");
    }
    assert!(rs.iter().all(|r| r.kind() < Kind::Dossier), "scale 0 has no dossiers");
}

#[test]
fn dossier_counts_and_on_time_rates_hit_the_published_figures() {
    let rs = small();
    let levels = unit_levels(rs);
    let published = Published::at(SCALE);
    let mut count = [0u64; 3];
    let mut late_at = [0u64; 3];
    let mut late_simple = [0u64; 3];
    let mut online = [0u64; 3];
    // Bắc Trà My: district level, its communes.
    let mut btm = [(0u64, 0u64, 0u64, 0u64); 2];
    let mut refused_count = 0;
    for d in dossiers(rs) {
        if refused(d) {
            refused_count += 1;
            continue;
        }
        let (level, district) = levels[&d.unit].clone();
        let at = on_time_at(d, t_2024());
        let simple = on_time_simple(d);
        assert_eq!(at, simple, "the two rules disagree on {}", d.code);
        // Once the period has ended, a later evaluation agrees for every dossier that has ended.
        if d.events.iter().any(|e| {
            matches!(e.status, DossierStatus::Resolved | DossierStatus::Withdrawn | DossierStatus::Stopped)
        }) {
            assert_eq!(on_time_at(d, instant("2027-01-01T00:00:00+07:00")), at, "{}", d.code);
        }
        count[level] += 1;
        late_at[level] += u64::from(!at);
        late_simple[level] += u64::from(!simple);
        online[level] += u64::from(d.channel == Channel::Online);
        if district.as_deref() == Some("515") && level > 0 {
            let b = &mut btm[level - 1];
            b.0 += 1;
            b.1 += u64::from(!at);
            b.2 += u64::from(d.channel == Channel::Online);
            b.3 += u64::from(d.inputs_digitized);
        }
    }
    assert_eq!(count.iter().sum::<u64>(), dossier_count(SCALE));
    assert_eq!(dossier_count(SCALE), 3_904);
    assert_eq!(count, published.dossiers);
    assert!(refused_count > 0 && refused_count < 40, "{refused_count}");
    for level in 0..3 {
        let n = count[level];
        let expected_late = n - (n as f64 * published.on_time[level]).round() as u64;
        assert_eq!(late_at[level], expected_late, "level {level}");
        assert_eq!(late_simple[level], expected_late, "level {level}");
        let rate = 1.0 - late_at[level] as f64 / n as f64;
        assert!((rate - published.on_time[level]).abs() <= 0.001, "level {level}: {rate}");
        assert_eq!(online[level], (n as f64 * published.online[level]).round() as u64, "level {level}");
    }
    for (i, &(n, late, on, dig)) in btm.iter().enumerate() {
        let target = [0.975, 0.957][i];
        assert_eq!(late, n - (n as f64 * target).round() as u64);
        assert!((on as f64 / n as f64 - 0.716).abs() < 0.02, "{on}/{n}");
        assert!((dig as f64 / n as f64 - 0.80).abs() < 0.03, "{dig}/{n}");
    }
}

#[test]
fn lateness_concentrates_in_the_published_sectors_and_districts() {
    let rs = records(0.05, SEED);
    let levels = unit_levels(&rs);
    let sector_of: HashMap<ProcedureCode, String> = rs
        .iter()
        .filter_map(|r| {
            if let Record::Procedure(p) = r { Some((p.code.clone(), p.sector.clone())) } else { None }
        })
        .collect();
    let mut district: HashMap<UnitCode, (u64, u64)> = HashMap::new();
    let (mut late, mut late_in_focus) = (0u64, 0u64);
    for d in dossiers(&rs).filter(|d| !refused(d)) {
        let on_time = on_time_at(d, t_2024());
        if !on_time {
            late += 1;
            late_in_focus += u64::from(matches!(sector_of[&d.procedure].as_str(), "DD" | "TNMT" | "TCKH"));
        }
        if levels[&d.unit].0 == 1 {
            let e = district.entry(d.unit.clone()).or_default();
            e.0 += 1;
            e.1 += u64::from(!on_time);
        }
    }
    assert!(late_in_focus as f64 > 0.6 * late as f64, "{late_in_focus} of {late}");
    for code in ["509", "513", "518", "508"] {
        let (n, l) = district[code];
        assert!(l as f64 / n as f64 > 0.05, "{code}: {l}/{n}");
    }
    let (n, l) = district["515"];
    assert!((1.0 - l as f64 / n as f64 - 0.975).abs() < 0.005, "{l}/{n}");
}

#[test]
fn receipts_and_feedback_are_plausible() {
    let rs = small();
    let dossier: HashMap<&str, &DossierRec> = dossiers(rs).map(|d| (d.code.as_str(), d)).collect();
    let fee: HashMap<&str, i64> = rs
        .iter()
        .filter_map(|r| if let Record::Procedure(p) = r { Some((p.code.as_str(), p.fee)) } else { None })
        .collect();
    let mut series: HashMap<&str, Vec<i64>> = HashMap::new();
    let (mut receipts, mut cancelled, mut paid_online) = (0, 0, 0);
    let mut paid: HashSet<&str> = HashSet::new();
    for r in rs {
        if let Record::Receipt(rc) = r {
            receipts += 1;
            series.entry(rc.series.as_str()).or_default().push(rc.number);
            let d = dossier[rc.dossier.as_str()];
            assert!(fee[d.procedure.as_str()] > 0 && rc.amount % fee[d.procedure.as_str()] == 0);
            if rc.status.0 == ReceiptStatus::Cancelled {
                cancelled += 1;
            } else {
                paid.insert(rc.dossier.as_str());
                paid_online += u64::from(rc.payment_channel.is_online() == (d.channel == Channel::Online));
            }
        }
    }
    for (s, numbers) in &series {
        assert!(s.ends_with("E") && s.contains('-'), "{s}");
        assert_eq!(*numbers, (1..=numbers.len() as i64).collect::<Vec<_>>(), "series {s}");
    }
    let fee_bearing = dossiers(rs).filter(|d| !refused(d) && fee[d.procedure.as_str()] > 0).count();
    assert!(paid.len() as f64 > 0.9 * fee_bearing as f64, "{} of {fee_bearing}", paid.len());
    assert!(paid_online as f64 > 0.85 * paid.len() as f64);
    assert!(cancelled < receipts / 50);

    let fb: Vec<&FeedbackRec> =
        rs.iter().filter_map(|r| if let Record::Feedback(f) = r { Some(f) } else { None }).collect();
    let of = |k: FeedbackKind| fb.iter().filter(|f| f.kind == k).count();
    let received = dossiers(rs).filter(|d| !refused(d)).count() as f64;
    let ratings = of(FeedbackKind::Rating) as f64 / received;
    assert!((0.035..0.06).contains(&ratings), "{ratings}");
    let good =
        fb.iter().filter(|f| matches!(f.rating, Some(Rating::VerySatisfied | Rating::Satisfied))).count();
    assert!(good as f64 > 0.85 * of(FeedbackKind::Rating) as f64);
    assert!(fb.iter().any(|f| f.rating.is_some_and(Rating::is_negative)));
    let pakn: Vec<&&FeedbackRec> = fb.iter().filter(|f| f.kind.is_pakn()).collect();
    assert!(pakn.len() >= 8 && pakn.iter().all(|f| f.due_at.is_some()));
    assert!(pakn.iter().any(|f| f.repeat_of.is_some()));
    assert!(pakn.iter().any(|f| f.answered_at.is_some_and(|a| Some(a) <= f.due_at)));
    assert!(of(FeedbackKind::Question) >= 5);
}

#[test]
fn the_same_seed_gives_the_same_records() {
    let lines = |seed| records(0.002, seed).iter().map(Record::to_line).collect::<Vec<_>>();
    let a = lines(11);
    assert_eq!(a, lines(11));
    assert_ne!(a, lines(12));
}

#[test]
fn working_days_match_the_domain_calendar() {
    let holidays: Vec<i64> = tables::HOLIDAYS.iter().map(|&((y, m, d), _)| clock::ymd(y, m, d)).collect();
    let wd = WorkDays::new(clock::ymd(2023, 6, 1), clock::ymd(2025, 12, 31), &holidays);
    let cal = Calendar::new(holidays.iter().map(|&d| clock::date(d)));
    for day in clock::ymd(2023, 5, 20)..clock::ymd(2025, 7, 10) {
        for n in [0, 1, 3, 10, 45] {
            assert_eq!(
                clock::date(wd.add(day, n)),
                cal.add_working_days(clock::date(day), n as i32),
                "{day} + {n}"
            );
        }
    }
    assert_eq!(
        clock::instant(clock::ymd(2024, 2, 7) * clock::DAY + 8 * clock::HOUR).to_rfc3339(),
        "2024-02-07T08:00:00+07:00"
    );
}

#[test]
fn apportionment_is_exact_and_respects_caps() {
    assert_eq!(apportion(10, &[1.0, 1.0, 1.0], &[10, 10, 10]), vec![4, 3, 3]);
    assert_eq!(apportion(10, &[100.0, 1.0, 1.0], &[2, 10, 10]), vec![2, 4, 4]);
    assert_eq!(apportion(7, &[0.0, 0.0], &[3, 3]), vec![3, 3]);
    assert_eq!(apportion(0, &[1.0], &[5]), vec![0]);
    let parts = apportion(1_000, &[0.3, 0.2, 0.5, 1e-9], &[1_000; 4]);
    assert_eq!(parts.iter().sum::<u64>(), 1_000);
}

#[test]
fn the_demo_citizen_has_dossiers_in_tam_ky() {
    let hers: Vec<&DossierRec> = small()
        .iter()
        .filter_map(|r| match r {
            Record::Dossier(d) if d.applicant.id_number == DEMO_CITIZEN_ID => Some(d),
            _ => None,
        })
        .collect();
    assert!(hers.len() >= 3, "{} dossiers", hers.len());
    for d in hers {
        assert_eq!(
            (d.applicant.name.as_str(), d.applicant.kind.0),
            (DEMO_CITIZEN_NAME, ApplicantKind::Citizen)
        );
        assert!(d.code.starts_with("000.00.502.H42-"), "{}", d.code);
    }
}

#[test]
fn every_district_has_a_dozen_pakn_even_in_a_small_demo() {
    // One late complaint among a handful would move a district's two PAKN metrics (6 points each) by up to 12
    // points: every district (with its communes) gets at least twelve PAKN not tied to a dossier.
    let rs = small();
    let levels = unit_levels(rs);
    // A district names itself, a commune its district (see `unit_levels`).
    let district_of = |code: &UnitCode| -> Option<UnitCode> { levels.get(code)?.1.clone() };
    let mut per_district: HashMap<UnitCode, usize> = HashMap::new();
    for r in rs {
        if let Record::Feedback(f) = r
            && matches!(f.kind, FeedbackKind::Complaint | FeedbackKind::Recommendation)
            && f.dossier.is_none()
            && f.repeat_of.is_none()
            && let Some(d) = district_of(&f.unit)
        {
            *per_district.entry(d).or_default() += 1;
        }
    }
    assert_eq!(per_district.len(), 18, "{per_district:?}");
    assert!(per_district.values().all(|&n| n >= 12), "{per_district:?}");
}
