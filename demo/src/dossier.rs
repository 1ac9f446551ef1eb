//! Dossiers. Each is first drawn as a compact [`Plan`] from its own generator, seeded by (seed, stratum,
//! index), so that any pass can replay it without keeping it; then rendered as an interchange record.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::clock::{self, DAY, HOUR, MINUTE};
use super::mix;
use super::tables::{self, SECTORS};
use super::world::{COMM, STREAM_PLAN, World};
use domain::*;
use interchange_format::records::*;

/// How processing ended, as of the last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    Resolved {
        resolved: i64,
        returned: i64,
    },
    Withdrawn(i64),
    Stopped(i64),
    /// Still processing, or waiting for the applicant's supplement.
    Open,
    /// Refused at reception (an online submission); it never counts as received.
    NotAccepted(i64),
}

#[derive(Debug, Clone)]
pub(super) struct Supplement {
    pub requested: i64,
    pub answered: Option<i64>,
}

/// Everything about a dossier that later passes need, in wall-clock seconds (see `clock`).
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub stratum: u32,
    pub j: u32,
    /// A refused online submission drawn beside dossier `j`.
    pub refused: bool,
    pub proc: u32,
    pub channel: Channel,
    pub late: bool,
    pub submitted: Option<i64>,
    pub received: i64,
    pub due: i64,
    pub processing: i64,
    pub payment_requested: Option<i64>,
    pub supplements: Vec<Supplement>,
    pub end: End,
    /// Apology letter: issued, new due date.
    pub apology: Option<(i64, i64)>,
    pub digitized: bool,
    pub reused: bool,
    pub from_storage: bool,
    pub result_electronic: bool,
    pub to_storage: bool,
    pub synced: Option<i64>,
    /// Seeds of the generators of the applicant, the receipts and the feedback, and the draw that decides
    /// whether there is feedback: drawn first, so they do not depend on the dossier's shape.
    pub applicant_seed: u64,
    pub receipt_seed: u64,
    pub feedback_seed: u64,
    pub feedback_draw: f64,
    refused_draw: f64,
    pub text: usize,
}

/// A dossier with its code, in the order of the day's receipts.
pub(super) struct Scheduled {
    pub plan: Plan,
    pub code: DossierCode,
}

/// Chance that an offline dossier is filed under a procedure that is not fully online, beyond what popularity
/// gives (a modelled figure: FULL_ONLINE_DOSSIERS is not published).
const OFFLINE_NOT_FULL: f64 = 0.4;

/// Chance that an online dossier comes with a refused submission beside it.
const REFUSED_SHARE: f64 = 0.004;

/// Whether the `j`-th of `count` items is one of the `chosen` spread evenly over them (starting at `offset`):
/// exactly `chosen` of the `count` are.
pub(super) fn spaced(j: u32, count: u32, chosen: u32, offset: u32) -> bool {
    let (j, c, m, o) = (u64::from(j), u64::from(count.max(1)), u64::from(chosen), u64::from(offset));
    ((j + 1) * m + o) / c > (j * m + o) / c
}

/// A time of day within office hours (7:30–11:30, 13:30–17:00).
fn office_time(rng: &mut StdRng) -> i64 {
    if rng.random::<f64>() < 0.55 {
        7 * HOUR + 30 * MINUTE + rng.random_range(0..4 * HOUR)
    } else {
        13 * HOUR + 30 * MINUTE + rng.random_range(0..3 * HOUR + 30 * MINUTE)
    }
}

const OPENS: i64 = 7 * HOUR + 30 * MINUTE;
const CLOSES: i64 = 17 * HOUR;

/// The latest office-hours second (working day, 7:30–17:00) not after `t`, or `t` itself when that would fall
/// before `floor`. The seconds past the half hour are kept as jitter.
fn office_before(w: &World, t: i64, floor: i64) -> i64 {
    let (mut day, tod) = (t.div_euclid(DAY), t.rem_euclid(DAY));
    let working = w.wd.is_working(day);
    if working && (OPENS..=CLOSES).contains(&tod) {
        return t;
    }
    if !(working && tod > CLOSES) {
        day -= 1;
        while !w.wd.is_working(day) {
            day -= 1;
        }
    }
    let snapped = day * DAY + CLOSES - t.rem_euclid(30 * MINUTE);
    if snapped >= floor { snapped } else { t }
}

/// The earliest office-hours second not before `t`.
fn office_after(w: &World, t: i64) -> i64 {
    let (mut day, tod) = (t.div_euclid(DAY), t.rem_euclid(DAY));
    let working = w.wd.is_working(day);
    if working && (OPENS..=CLOSES).contains(&tod) {
        return t;
    }
    if !(working && tod < OPENS) {
        day += 1;
        while !w.wd.is_working(day) {
            day += 1;
        }
    }
    day * DAY + OPENS + t.rem_euclid(30 * MINUTE)
}

/// `a + (b − a) × f`.
fn between(a: i64, b: i64, f: f64) -> i64 {
    a + ((b - a) as f64 * f) as i64
}

/// Draws dossier `j` of stratum `k`, received on `day`.
pub(super) fn plan(w: &World, k: usize, j: u32, day: i64) -> Plan {
    let s = &w.strata[k];
    let level = usize::from(s.level);
    let mut rng = StdRng::seed_from_u64(mix(&[w.seed, STREAM_PLAN, k as u64, u64::from(j)]));
    let applicant_seed = rng.random();
    let receipt_seed = rng.random();
    let feedback_seed = rng.random();
    let feedback_draw = rng.random();
    let refused_draw = rng.random();
    let late = spaced(j, s.count, s.late, s.late_offset);
    let online = spaced(j, s.count, s.online, s.online_offset);
    let digitized = spaced(j, s.count, s.digitized, s.digitized_offset);
    // Offline dossiers lean towards the procedures that are not fully online: a citizen who comes to the desk
    // is likelier to need one (the published online shares by level fix only how many arrive online).
    let proc = if !online && rng.random::<f64>() < OFFLINE_NOT_FULL {
        w.picker(s).pick_not_full(rng.random())
    } else {
        w.picker(s).pick(online, rng.random())
    };
    let pr = &w.procs[proc as usize];
    let channel = if online {
        Channel::Online
    } else if rng.random::<f64>() < 0.02 {
        Channel::Postal
    } else {
        Channel::Direct
    };
    let tod = office_time(&mut rng);
    let received = day * DAY + tod;
    let submitted = match channel {
        Channel::Online => Some(received - rng.random_range(5 * MINUTE..60 * HOUR)),
        Channel::Postal => Some(received - rng.random_range(DAY..3 * DAY)),
        Channel::Direct => None,
    };
    let due = w.wd.add(day, pr.days.max(1)) * DAY + tod;
    let gap = rng.random_range(10 * MINUTE..3 * HOUR);
    let course = if late {
        late_course(w, &mut rng, received, due, received + gap)
    } else {
        on_time_course(w, &mut rng, received, due, gap)
    };
    let Course { processing, supplements, end, apology } = course;
    let payment_requested = match end {
        End::Resolved { resolved, .. } if online && pr.rec.fee > 0 && rng.random::<f64>() < 0.3 => {
            Some(between(processing, resolved, rng.random_range(0.2..0.6)))
        }
        _ => None,
    };
    let result_electronic = rng.random::<f64>() < [0.82, 0.72, 0.66][level.min(COMM)];
    let r: f64 = rng.random();
    let synced = if r < 0.96 {
        Some(received + rng.random_range(MINUTE..2 * HOUR))
    } else if r < 0.99 {
        Some(received + rng.random_range(DAY..5 * DAY))
    } else {
        None
    };
    Plan {
        stratum: k as u32,
        j,
        refused: false,
        proc,
        channel,
        late,
        submitted,
        received,
        due,
        processing,
        payment_requested,
        supplements,
        end,
        apology,
        digitized,
        reused: rng.random::<f64>() < [0.45, 0.35, 0.3][level.min(COMM)],
        from_storage: rng.random::<f64>() < if online { 0.2 } else { 0.06 },
        result_electronic,
        to_storage: result_electronic && rng.random::<f64>() < 0.5,
        synced,
        applicant_seed,
        receipt_seed,
        feedback_seed,
        feedback_draw,
        refused_draw,
        text: rng.random_range(0..60),
    }
}

/// What happens to a dossier between its reception and its end: when processing starts, its supplement
/// requests, how it ends and the apology letter, if any.
struct Course {
    processing: i64,
    supplements: Vec<Supplement>,
    end: End,
    apology: Option<(i64, i64)>,
}

/// The course of a dossier on time as the indicators count it, whatever the evaluation instant: ended (or
/// waiting on the applicant) by the due date once paused time is taken off, or still open with a due date after
/// the period's evaluation instant.
fn on_time_course(w: &World, rng: &mut StdRng, received: i64, due: i64, gap: i64) -> Course {
    let span = due - received;
    let mut processing = received + gap;
    let mut supplements = Vec::new();
    let mut end = End::Open;
    let t_end = w.t_end;
    let r: f64 = rng.random();
    let at = between(received, due - MINUTE, rng.random_range(0.05..0.9));
    if due >= t_end && r < 0.5 {
        end = End::Open;
    } else if r < 0.004 {
        processing = received + gap.min((at - received) / 2);
        end = End::Withdrawn(at);
    } else if r < 0.006 {
        processing = received + gap.min((at - received) / 2);
        end = End::Stopped(office_before(w, at, processing));
    } else if r < 0.009 {
        processing = received + gap.min((at - received) / 2);
        supplements.push(Supplement { requested: office_before(w, at, processing), answered: None });
    } else {
        let drawn = (span as f64 * rng.random::<f64>().powf(1.6)) as i64;
        let effective = received + drawn.max(30 * MINUTE).min(span - MINUTE);
        processing = received + gap.min((effective - received) / 3);
        let (mut pause, mut floor) = (0, processing);
        if rng.random::<f64>() < 0.05 {
            let requested =
                office_before(w, between(processing, effective, rng.random_range(0.1..0.9)), processing);
            pause = rng.random_range(20 * HOUR..10 * DAY);
            floor = requested + pause;
            supplements.push(Supplement { requested, answered: Some(floor) });
        }
        // Moving the resolution back into office hours keeps it on time.
        let resolved = office_before(w, effective + pause, floor);
        end = End::Resolved {
            resolved,
            returned: office_after(w, resolved + rng.random_range(10 * MINUTE..3 * DAY)),
        };
    }
    Course { processing, supplements, end, apology: None }
}

/// The course of a late dossier, late whatever the evaluation instant from the period's end on: ended after the
/// due date once paused time is taken off, open past the due date before the period ends, or asked twice for
/// supplements (which makes a dossier late by rule) when it would otherwise end after the period.
fn late_course(w: &World, rng: &mut StdRng, received: i64, due: i64, processing: i64) -> Course {
    let mut supplements = Vec::new();
    let mut end = End::Open;
    let mut apology = None;
    let t_end = w.t_end;
    let mut twice = rng.random::<f64>() < 0.10;
    if !twice {
        if due < t_end - DAY && received >= t_end - 60 * DAY && rng.random::<f64>() < 0.15 {
            end = End::Open;
        } else {
            let delay = HOUR + ((-(1.0 - rng.random::<f64>()).ln() * 3.0 * DAY as f64) as i64).min(40 * DAY);
            let effective = due + delay;
            let mut pause = 0;
            if rng.random::<f64>() < 0.2 {
                let requested =
                    office_before(w, between(processing, due, rng.random_range(0.1..0.9)), processing);
                pause = rng.random_range(20 * HOUR..10 * DAY);
                supplements.push(Supplement { requested, answered: Some(requested + pause) });
            }
            // Moving the resolution forward into office hours keeps it late.
            let resolved = office_after(w, effective + pause);
            if resolved > t_end - HOUR {
                twice = true;
            } else {
                end = End::Resolved {
                    resolved,
                    returned: office_after(w, resolved + rng.random_range(10 * MINUTE..2 * DAY)),
                };
            }
        }
    }
    if twice {
        supplements.clear();
        // Both requests fall before the period's end (received by mid-December, asked within two weeks).
        let first = office_after(w, processing + rng.random_range(HOUR..3 * DAY));
        let first_answer = first + rng.random_range(20 * HOUR..7 * DAY);
        let second = office_after(w, first_answer + rng.random_range(HOUR..3 * DAY));
        supplements.push(Supplement { requested: first, answered: Some(first_answer) });
        if rng.random::<f64>() < 0.8 {
            let answer = second + rng.random_range(20 * HOUR..7 * DAY);
            supplements.push(Supplement { requested: second, answered: Some(answer) });
            let resolved = office_after(w, answer + rng.random_range(2 * HOUR..5 * DAY));
            end = End::Resolved {
                resolved,
                returned: office_after(w, resolved + rng.random_range(10 * MINUTE..2 * DAY)),
            };
        } else {
            supplements.push(Supplement { requested: second, answered: None });
            end = End::Open;
        }
    }
    if rng.random::<f64>() < 0.85 {
        // The letter goes out when the delay becomes known: with a second supplement request (which the
        // rules require an apology for), otherwise shortly before the due date.
        let issued = match supplements.get(1) {
            Some(second) => second.requested + rng.random_range(10 * MINUTE..DAY),
            None => office_before(w, (due - rng.random_range(0..2 * DAY)).max(received + HOUR), received),
        };
        let new_due = match end {
            End::Resolved { resolved, .. } if resolved > due => resolved + rng.random_range(0..2 * DAY),
            _ => due + rng.random_range(2 * DAY..15 * DAY),
        };
        apology = Some((issued, new_due));
    }
    Course { processing, supplements, end, apology }
}

/// The refused online submission that sometimes comes beside an online dossier, drawn from a stream derived
/// from the dossier's applicant seed (so that it never disturbs the dossier itself).
fn refused(w: &World, p: &Plan, day: i64) -> Option<Plan> {
    if p.channel != Channel::Online || p.refused_draw >= REFUSED_SHARE {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(mix(&[p.applicant_seed, 0x5EF]));
    let tod = office_time(&mut rng);
    let received = day * DAY + tod;
    let at = received + rng.random_range(5 * MINUTE..3 * HOUR);
    let pr = &w.procs[p.proc as usize];
    Some(Plan {
        refused: true,
        submitted: Some(received - rng.random_range(10 * MINUTE..48 * HOUR)),
        received,
        due: w.wd.add(day, pr.days.max(1)) * DAY + tod,
        processing: at,
        payment_requested: None,
        supplements: Vec::new(),
        end: End::NotAccepted(at),
        apology: None,
        late: false,
        digitized: false,
        reused: false,
        from_storage: false,
        result_electronic: false,
        to_storage: false,
        synced: Some(at + rng.random_range(MINUTE..HOUR)),
        applicant_seed: rng.random(),
        receipt_seed: 0,
        feedback_seed: 0,
        feedback_draw: 1.0,
        text: rng.random_range(0..60),
        ..p.clone()
    })
}

/// Replays the period day by day: each day's dossiers of every stratum, in order of receipt, numbered per
/// unit and day. Only one day is held at a time.
pub(super) fn schedule(w: &World, f: &mut dyn FnMut(i64, &[Scheduled])) {
    let mut next = vec![0u32; w.strata.len()];
    let mut seq = vec![0u32; w.units.len()];
    for (d, &day) in w.days.iter().enumerate() {
        let mut plans = Vec::new();
        for (k, start) in next.iter_mut().enumerate() {
            let end = w.bound(k, d + 1);
            for j in *start..end {
                let p = plan(w, k, j, day);
                if let Some(r) = refused(w, &p, day) {
                    plans.push(r);
                }
                plans.push(p);
            }
            *start = end;
        }
        plans.sort_by_key(|p| (p.received, p.stratum, p.j, p.refused));
        let date = clock::date(day).format("%y%m%d").to_string();
        seq.iter_mut().for_each(|s| *s = 0);
        let list: Vec<Scheduled> = plans
            .into_iter()
            .map(|plan| {
                let unit = w.strata[plan.stratum as usize].unit as usize;
                seq[unit] += 1;
                let code = format!("{}-{}-{:04}", w.units[unit].agency, date, seq[unit]);
                Scheduled { plan, code: code.into() }
            })
            .collect();
        f(day, &list);
    }
}

/// A synthetic applicant.
pub(super) struct Applicant {
    pub kind: ApplicantKind,
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub vneid: bool,
}

fn one<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list.get(rng.random_range(0..list.len().max(1))).copied().unwrap_or("")
}

/// A person's name: family, middle and given name, Co Tu family names in the highlands.
pub(super) fn person_name(rng: &mut StdRng, highland: bool) -> (String, bool) {
    let female = rng.random::<f64>() < 0.5;
    let family = if highland && rng.random::<f64>() < 0.5 {
        one(rng, tables::FAMILY_HIGHLAND)
    } else {
        let total: u32 = tables::FAMILY.iter().map(|f| f.1).sum();
        let mut x = rng.random_range(0..total.max(1));
        let mut chosen = "Nguyễn";
        for &(name, weight) in tables::FAMILY {
            if x < weight {
                chosen = name;
                break;
            }
            x -= weight;
        }
        chosen
    };
    let (middle, given) = if female {
        (one(rng, tables::MIDDLE_FEMALE), one(rng, tables::GIVEN_FEMALE))
    } else {
        (one(rng, tables::MIDDLE_MALE), one(rng, tables::GIVEN_MALE))
    };
    (format!("{family} {middle} {given}"), female)
}

/// The demo citizen: one known person among the random applicants, so that the README can say whose token
/// sees dossiers (`token --role CITIZEN --sub 049190000001`). She is the applicant of the first dossier of each
/// of the district-level strata of Tam Kỳ (`502`) whose first applicant is a citizen (twelve dossiers at the
/// default scale; some at any scale that gives those strata a dossier). Only her name, number and phone are
/// fixed: everything the indicators read is drawn as for any other applicant, so the figures do not change.
pub const DEMO_CITIZEN_ID: &str = "049190000001";
pub const DEMO_CITIZEN_NAME: &str = "Phan Thị Thu Hà";
const DEMO_CITIZEN_PHONE: &str = "0905000001";
const DEMO_CITIZEN_UNIT: &str = "502";

/// The applicant of a dossier: a person, business or organization the procedure admits, with a random
/// identity number of the right shape (a 12-digit citizen identity number, a 10-digit tax code); or the demo
/// citizen.
pub(super) fn applicant(w: &World, p: &Plan) -> Applicant {
    let mut a = drawn_applicant(w, p);
    let unit = &w.units[w.strata[p.stratum as usize].unit as usize];
    if a.kind == ApplicantKind::Citizen && p.j == 0 && !p.refused && unit.code == DEMO_CITIZEN_UNIT {
        a.name = DEMO_CITIZEN_NAME.to_owned();
        a.id_number = DEMO_CITIZEN_ID.to_owned();
        a.phone = Some(DEMO_CITIZEN_PHONE.to_owned());
        a.email = None;
    }
    a
}

fn drawn_applicant(w: &World, p: &Plan) -> Applicant {
    let mut rng = StdRng::seed_from_u64(p.applicant_seed);
    let types = &w.procs[p.proc as usize].rec.applicant_types;
    let citizen_ok = types.is_empty() || types.contains(&ApplicantKind::Citizen);
    let others: Vec<ApplicantKind> = types.iter().copied().filter(|&t| t != ApplicantKind::Citizen).collect();
    let kind = if citizen_ok && (others.is_empty() || rng.random::<f64>() < 0.85) {
        ApplicantKind::Citizen
    } else {
        others.get(rng.random_range(0..others.len().max(1))).copied().unwrap_or(ApplicantKind::Citizen)
    };
    let unit = &w.units[w.strata[p.stratum as usize].unit as usize];
    let highland = unit.district.is_some_and(|d| tables::DISTRICTS[d].highland);
    let phone = (rng.random::<f64>() < 0.9).then(|| {
        format!("0{}{:08}", one(&mut rng, &["3", "5", "7", "8", "9"]), rng.random_range(0..100_000_000u32))
    });
    let (name, id_number) = match kind {
        ApplicantKind::Citizen => {
            let (name, female) = person_name(&mut rng, highland);
            let born = rng.random_range(1945..=2006);
            let century = if born >= 2000 { 2 } else { 0 } + u32::from(female);
            let province = if rng.random::<f64>() < 0.85 {
                49
            } else {
                *[48, 51, 1, 79, 46, 52].get(rng.random_range(0..6)).unwrap_or(&49)
            };
            let id =
                format!("{province:03}{century}{:02}{:06}", born % 100, rng.random_range(0..1_000_000u32));
            (name, id)
        }
        ApplicantKind::Business => {
            let name = format!(
                "{} {}",
                one(&mut rng, tables::BUSINESS_FORMS),
                one(&mut rng, tables::BUSINESS_WORDS)
            );
            (name, tax_code(&mut rng))
        }
        ApplicantKind::Organization => {
            let place = unit.district.map_or("Quảng Nam", |d| {
                let n = tables::DISTRICTS[d].name;
                n.trim_start_matches("Huyện ").trim_start_matches("Thành phố ").trim_start_matches("Thị xã ")
            });
            let name = format!("{} {}", one(&mut rng, tables::ORGANIZATION_FORMS), place);
            (name, tax_code(&mut rng))
        }
    };
    let email = (rng.random::<f64>() < 0.15)
        .then(|| format!("hoso{:06}@example.com", rng.random_range(0..1_000_000u32)));
    let online = p.channel == Channel::Online;
    let vneid = kind == ApplicantKind::Citizen && rng.random::<f64>() < if online { 0.75 } else { 0.35 };
    Applicant { kind, name, id_number, phone, email, vneid }
}

/// A Quảng Nam tax code: ten digits starting with 40, now and then a branch suffix.
fn tax_code(rng: &mut StdRng) -> String {
    let base = format!("40{:08}", rng.random_range(0..100_000_000u32));
    if rng.random::<f64>() < 0.05 { format!("{base}-{:03}", rng.random_range(1..20)) } else { base }
}

fn event(status: DossierStatus, at: i64, note: Option<&str>) -> EventRec {
    EventRec { status, at: clock::instant(at), note: note.map(str::to_owned) }
}

/// The status history of a planned dossier, in time order; `pick` chooses its notes.
fn history(p: &Plan, pick: &dyn Fn(&[&'static str]) -> &'static str) -> Vec<EventRec> {
    let mut events = Vec::with_capacity(8);
    if p.channel == Channel::Online
        && let Some(t) = p.submitted
    {
        events.push(event(DossierStatus::Registered, t, None));
    }
    if let End::NotAccepted(t) = p.end {
        events.push(event(DossierStatus::NotAccepted, t, Some(pick(tables::REFUSAL_NOTES))));
    } else {
        events.push(event(DossierStatus::Received, p.received, None));
        events.push(event(DossierStatus::Processing, p.processing, None));
        for s in &p.supplements {
            events.push(event(
                DossierStatus::SupplementRequested,
                s.requested,
                Some(pick(tables::SUPPLEMENT_REASONS)),
            ));
            if let Some(t) = s.answered {
                events.push(event(DossierStatus::Processing, t, None));
            }
        }
        if let Some(t) = p.payment_requested {
            events.push(event(DossierStatus::PaymentRequested, t, None));
        }
        match p.end {
            End::Resolved { resolved, returned } => {
                events.push(event(DossierStatus::Resolved, resolved, None));
                events.push(event(DossierStatus::Returned, returned, None));
            }
            End::Withdrawn(t) => {
                events.push(event(DossierStatus::Withdrawn, t, Some(pick(tables::WITHDRAW_NOTES))))
            }
            End::Stopped(t) => events.push(event(DossierStatus::Stopped, t, Some(pick(tables::STOP_NOTES)))),
            End::Open | End::NotAccepted(_) => {}
        }
    }
    events.sort_by_key(|e| e.at);
    events
}

/// The interchange record of a scheduled dossier.
pub(super) fn render(w: &World, s: &Scheduled) -> DossierRec {
    let p = &s.plan;
    let unit = &w.units[w.strata[p.stratum as usize].unit as usize];
    let proc = &w.procs[p.proc as usize];
    let a = applicant(w, p);
    let pick = |list: &[&'static str]| list.get(p.text % list.len().max(1)).copied().unwrap_or("");
    let events = history(p, &pick);
    let supplements = p
        .supplements
        .iter()
        .map(|s| SupplementRec {
            requested_at: clock::instant(s.requested),
            received_at: s.answered.map(clock::instant),
            reason: Some(pick(tables::SUPPLEMENT_REASONS).to_owned()),
        })
        .collect();
    let apologies = p
        .apology
        .iter()
        .map(|&(issued, new_due)| ApologyRec {
            issued_at: clock::instant(issued),
            reason: pick(tables::APOLOGY_REASONS).to_owned(),
            new_due_at: clock::instant(new_due),
        })
        .collect();
    let resolved = matches!(p.end, End::Resolved { .. });
    DossierRec {
        code: s.code.clone(),
        procedure: proc.rec.code.clone(),
        unit: unit.code.clone(),
        channel: p.channel,
        applicant: ApplicantRec {
            id_number: a.id_number,
            name: a.name,
            kind: ApplicantKindOrDefault(a.kind),
            phone: a.phone,
            email: a.email,
            vneid_verified: a.vneid,
        },
        submitted_at: p.submitted.map(clock::instant),
        received_at: clock::instant(p.received),
        due_at: clock::instant(p.due),
        events,
        supplements,
        apologies,
        inputs_digitized: p.digitized,
        reused_data: p.reused,
        from_citizen_storage: p.from_storage,
        result_electronic: resolved && p.result_electronic,
        result_to_citizen_storage: resolved && p.to_storage,
        synced_at: p.synced.map(clock::instant),
    }
}

/// The sector code of a plan's procedure (used to size receipts).
pub(super) fn sector_code(w: &World, p: &Plan) -> &'static str {
    SECTORS[w.procs[p.proc as usize].sector].code
}
