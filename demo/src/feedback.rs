//! Feedback: ratings of ended dossiers, complaints and recommendations (PAKN) — some about a dossier, a few
//! repeating an earlier one — and questions.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::clock::{self, DAY, HOUR, MINUTE};
use super::dossier::{End, Scheduled, schedule};
use super::mix;
use super::tables;
use super::world::{STREAM_DAY_FEEDBACK, World};
use domain::*;
use interchange_format::records::*;

/// About one rating per 20 dossiers.
const RATING_SHARE: f64 = 0.05;
/// Complaints about a dossier: far likelier when it was late.
const COMPLAINT_LATE: f64 = 0.01;
const COMPLAINT_ON_TIME: f64 = 0.000_2;
/// PAKN and questions not tied to a dossier, per dossier (with a floor so that small demos show them).
const UNLINKED_PAKN: f64 = 0.000_5;
const UNLINKED_PAKN_MIN: f64 = 8.0;
/// At least this many PAKN not tied to a dossier per district (received by the district or one of its
/// communes, dealt round the districts), so that even the default demo's districts have a dozen PAKN in a year
/// and one late complaint does not move a district's two PAKN metrics by 12 points.
const DISTRICT_PAKN_MIN: u64 = 12;
const QUESTION: f64 = 0.000_6;
const QUESTION_MIN: f64 = 5.0;
/// Every eighth PAKN not tied to a dossier repeats an earlier one (counted, not drawn, so that even a small
/// demo has one).
const REPEAT_EVERY: u64 = 8;
/// PAKN are answered within 10 working days.
const PAKN_DAYS: u32 = 10;

/// An emitted PAKN, as a later repeat needs it.
struct Pakn {
    code: String,
    unit: u32,
    dossier: Option<DossierCode>,
    kind: FeedbackKind,
    received: i64,
}

#[derive(Default)]
struct Feedback {
    ratings: u64,
    pakn: u64,
    questions: u64,
    unlinked: u64,
    earlier: Vec<Pakn>,
    /// PAKN not tied to a dossier and not repeating one, so far.
    placed: u64,
}

/// Replays the dossiers and emits the feedback, day by day.
pub(super) fn emit_feedback(w: &World, emit: &mut dyn FnMut(Record)) {
    if w.dossiers == 0 {
        return;
    }
    let mut fb = Feedback::default();
    let days = w.days.len().max(1) as u64;
    let floor = DISTRICT_PAKN_MIN * w.district_units.len() as u64;
    let unlinked = ((w.dossiers as f64 * UNLINKED_PAKN).round().max(UNLINKED_PAKN_MIN) as u64)
        .max(floor * REPEAT_EVERY / (REPEAT_EVERY - 1) + 1);
    let questions = (w.dossiers as f64 * QUESTION).round().max(QUESTION_MIN) as u64;
    let mut d = 0u64;
    schedule(w, &mut |day, list| {
        for s in list {
            fb.of_dossier(w, s, emit);
        }
        // Spread evenly over the days, so that the totals are exact.
        let today = |total: u64| (d + 1) * total / days - d * total / days;
        for i in 0..today(unlinked) {
            fb.unlinked(w, day, i, emit);
        }
        for i in 0..today(questions) {
            fb.question(w, day, i, emit);
        }
        d += 1;
    });
}

fn one<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list.get(rng.random_range(0..list.len().max(1))).copied().unwrap_or("")
}

fn pick_unit(w: &World, u: f64) -> u32 {
    let i = w.feedback_units.partition_point(|&(c, _)| c <= u);
    w.feedback_units.get(i).or(w.feedback_units.last()).map_or(0, |&(_, unit)| unit)
}

fn pick_channel(rng: &mut StdRng, weights: &[(FeedbackChannel, f64)]) -> FeedbackChannel {
    let mut x = rng.random::<f64>() * weights.iter().map(|w| w.1).sum::<f64>();
    for &(c, w) in weights {
        if x < w {
            return c;
        }
        x -= w;
    }
    weights.last().map_or(FeedbackChannel::Portal, |w| w.0)
}

fn blank(
    code: String,
    kind: FeedbackKind,
    channel: FeedbackChannel,
    unit: UnitCode,
    received: i64,
) -> FeedbackRec {
    FeedbackRec {
        code,
        kind,
        channel,
        unit,
        dossier: None,
        received_at: clock::instant(received),
        due_at: None,
        answered_at: None,
        answer: None,
        rating: None,
        likes: 0,
        dislikes: 0,
        repeat_of: None,
        content: None,
        recorded_by: None,
    }
}

impl Feedback {
    fn of_dossier(&mut self, w: &World, s: &Scheduled, emit: &mut dyn FnMut(Record)) {
        let p = &s.plan;
        if p.refused {
            return;
        }
        let unit = w.strata[p.stratum as usize].unit;
        let complaint = if p.late { COMPLAINT_LATE } else { COMPLAINT_ON_TIME };
        // The dossier's feedback generator is seeded only for the few dossiers that get feedback.
        let rng = || StdRng::seed_from_u64(p.feedback_seed);
        if p.feedback_draw < RATING_SHARE {
            if let End::Resolved { returned, .. } = p.end {
                self.rating(w, &mut rng(), s, unit, returned, emit);
            }
        } else if p.feedback_draw < RATING_SHARE + complaint {
            let after = match p.end {
                End::Resolved { returned, .. } => Some(returned),
                End::Open if p.late => Some(p.due),
                _ => None,
            };
            if let Some(after) = after {
                let mut rng = rng();
                let received = after + rng.random_range(HOUR..10 * DAY);
                let kind = if rng.random::<f64>() < 0.85 {
                    FeedbackKind::Complaint
                } else {
                    FeedbackKind::Recommendation
                };
                let content = one(&mut rng, tables::COMPLAINTS).to_owned();
                self.pakn(w, &mut rng, unit, Some(s.code.clone()), received, kind, None, content, emit);
            }
        }
    }

    fn rating(
        &mut self,
        w: &World,
        rng: &mut StdRng,
        s: &Scheduled,
        unit: u32,
        after: i64,
        emit: &mut dyn FnMut(Record),
    ) {
        self.ratings += 1;
        let received = after + rng.random_range(10 * MINUTE..3 * DAY);
        // Late dossiers are rated lower.
        let shares: [f64; 5] =
            if s.plan.late { [0.25, 0.40, 0.15, 0.15, 0.05] } else { [0.60, 0.345, 0.04, 0.012, 0.003] };
        let mut x: f64 = rng.random();
        let mut rating = Rating::Satisfied;
        for (r, share) in Rating::ALL.iter().zip(shares) {
            if x < share {
                rating = *r;
                break;
            }
            x -= share;
        }
        let channel = pick_channel(
            rng,
            &[
                (FeedbackChannel::Portal, 0.45),
                (FeedbackChannel::Kiosk, 0.30),
                (FeedbackChannel::Sms, 0.10),
                (FeedbackChannel::Zalo, 0.15),
            ],
        );
        let mut f = blank(
            format!("DG-49-{:07}", self.ratings),
            FeedbackKind::Rating,
            channel,
            w.units[unit as usize].code.clone(),
            received,
        );
        f.dossier = Some(s.code.clone());
        f.rating = Some(rating);
        f.content = (rng.random::<f64>() < 0.3).then(|| one(rng, tables::RATING_NOTES).to_owned());
        f.recorded_by = Some(
            if channel == FeedbackChannel::Kiosk { "kiosk-danh-gia" } else { "he-thong-danh-gia" }.to_owned(),
        );
        emit(Record::Feedback(f));
    }

    /// A complaint or recommendation: due in 10 working days; most answered in time, some late, a few of the
    /// most recent still open; likes and dislikes, more dislikes than likes for about one in eight.
    #[allow(clippy::too_many_arguments)]
    fn pakn(
        &mut self,
        w: &World,
        rng: &mut StdRng,
        unit: u32,
        dossier: Option<DossierCode>,
        received: i64,
        kind: FeedbackKind,
        repeat_of: Option<String>,
        content: String,
        emit: &mut dyn FnMut(Record),
    ) {
        self.pakn += 1;
        let code = format!("PAKN-49-{:05}", self.pakn);
        let day = received.div_euclid(DAY);
        let due = w.wd.add(day, PAKN_DAYS) * DAY + (received - day * DAY);
        let recent = received >= clock::ymd(2024, 11, 25) * DAY;
        let answered = if recent && rng.random::<f64>() < 0.35 {
            None
        } else if rng.random::<f64>() < 0.93 {
            Some(received + ((due - received) as f64 * rng.random_range(0.1..0.95)) as i64)
        } else {
            Some(due + rng.random_range(HOUR..12 * DAY))
        };
        let likes = (rng.random::<f64>().powi(2) * 13.0) as i32;
        let dislikes = if rng.random::<f64>() < 0.12 {
            likes + rng.random_range(1..=5)
        } else {
            rng.random_range(0..=likes.min(2))
        };
        let channel = pick_channel(
            rng,
            &[
                (FeedbackChannel::Hotline, 0.25),
                (FeedbackChannel::Portal, 0.40),
                (FeedbackChannel::Zalo, 0.15),
                (FeedbackChannel::Email, 0.10),
                (FeedbackChannel::Sms, 0.05),
                (FeedbackChannel::Kiosk, 0.05),
            ],
        );
        let recorded_by = match channel {
            FeedbackChannel::Hotline => "tongdai1022",
            FeedbackChannel::Portal => "cong-dvc-quangnam",
            _ => "bo-phan-mot-cua",
        };
        let mut f = blank(code.clone(), kind, channel, w.units[unit as usize].code.clone(), received);
        f.dossier = dossier.clone();
        f.due_at = Some(clock::instant(due));
        f.answered_at = answered.map(clock::instant);
        f.answer = answered.map(|_| one(rng, tables::ANSWERS).to_owned());
        f.likes = likes;
        f.dislikes = dislikes;
        f.repeat_of = repeat_of;
        f.content = Some(content);
        f.recorded_by = Some(recorded_by.to_owned());
        emit(Record::Feedback(f));
        self.earlier.push(Pakn { code, unit, dossier, kind, received });
    }

    /// A PAKN about a unit rather than a dossier; now and then the repeat of an earlier one.
    fn unlinked(&mut self, w: &World, day: i64, i: u64, emit: &mut dyn FnMut(Record)) {
        let mut rng = StdRng::seed_from_u64(mix(&[w.seed, STREAM_DAY_FEEDBACK, day as u64, i, 1]));
        self.unlinked += 1;
        if !self.earlier.is_empty() && self.unlinked.is_multiple_of(REPEAT_EVERY) {
            let n = rng.random_range(0..self.earlier.len());
            let (code, unit, dossier, kind, first) = {
                let o = &self.earlier[n];
                (o.code.clone(), o.unit, o.dossier.clone(), o.kind, o.received)
            };
            let received = first + rng.random_range(5 * DAY..30 * DAY);
            let content = format!("Phản ánh lần 2: {}", one(&mut rng, tables::COMPLAINTS));
            self.pakn(w, &mut rng, unit, dossier, received, kind, Some(code), content, emit);
        } else {
            // The first ones are dealt round the districts (each to the district or one of its communes).
            let districts = w.district_units.len() as u64;
            let unit = match w.district_units.get((self.placed % districts.max(1)) as usize) {
                Some(units) if self.placed < DISTRICT_PAKN_MIN * districts && !units.is_empty() => {
                    units[rng.random_range(0..units.len())]
                }
                _ => pick_unit(w, rng.random()),
            };
            self.placed += 1;
            let received = day * DAY + rng.random_range(0..DAY);
            let (kind, content) = if rng.random::<f64>() < 0.6 {
                (FeedbackKind::Complaint, one(&mut rng, tables::COMPLAINTS))
            } else {
                (FeedbackKind::Recommendation, one(&mut rng, tables::RECOMMENDATIONS))
            };
            self.pakn(w, &mut rng, unit, None, received, kind, None, content.to_owned(), emit);
        }
    }

    fn question(&mut self, w: &World, day: i64, i: u64, emit: &mut dyn FnMut(Record)) {
        let mut rng = StdRng::seed_from_u64(mix(&[w.seed, STREAM_DAY_FEEDBACK, day as u64, i, 2]));
        self.questions += 1;
        let unit = pick_unit(w, rng.random());
        let received = day * DAY + rng.random_range(0..DAY);
        let channel = pick_channel(
            &mut rng,
            &[
                (FeedbackChannel::Hotline, 0.4),
                (FeedbackChannel::Portal, 0.3),
                (FeedbackChannel::Zalo, 0.2),
                (FeedbackChannel::Email, 0.1),
            ],
        );
        let mut f = blank(
            format!("HD-49-{:05}", self.questions),
            FeedbackKind::Question,
            channel,
            w.units[unit as usize].code.clone(),
            received,
        );
        f.content = Some(one(&mut rng, tables::QUESTIONS).to_owned());
        if rng.random::<f64>() < 0.95 {
            f.answered_at = Some(clock::instant(received + rng.random_range(HOUR..5 * DAY)));
            f.answer = Some("Đã hướng dẫn công dân thành phần hồ sơ và cách nộp trực tuyến".to_owned());
        }
        f.recorded_by = Some(
            if channel == FeedbackChannel::Hotline { "tongdai1022" } else { "cong-dvc-quangnam" }.to_owned(),
        );
        emit(Record::Feedback(f));
    }
}
