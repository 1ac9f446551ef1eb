//! The fixed part of the demo and the plan of the variable part: units, procedures, and the strata (one per
//! unit and sector) that fix, before any dossier is drawn, how many dossiers each stratum receives, how many
//! of them end late and how many arrive online. Dossiers are then drawn stratum by stratum and day by day.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::clock::{self, WorkDays};
use super::tables::{self, BAC_TRA_MY, CENTRE, DEPARTMENTS, DISTRICTS, LATE_DISTRICTS, SECTORS};
use super::{DemoOptions, Published, dossier_count, mix};
use domain::*;
use interchange_format::records::*;

/// Procedure and dossier levels, as indices.
pub(super) const PROV: usize = 0;
pub(super) const DIST: usize = 1;
pub(super) const COMM: usize = 2;

/// RNG streams: each purpose draws from its own generator so that changing one never shifts another.
pub(super) const STREAM_STRUCTURE: u64 = 1;
pub(super) const STREAM_PLAN: u64 = 2;
pub(super) const STREAM_DAY_FEEDBACK: u64 = 3;

/// Procedures are FULL, PARTIAL or NONE online and integrated with the national portal in exactly these
/// numbers (Quảng Nam, 2024).
pub(super) const PROCEDURES_FULL: usize = 954;
pub(super) const PROCEDURES_PARTIAL: usize = 818;
pub(super) const PROCEDURES_INTEGRATED: usize = 1_113;
/// The most used procedures of each level and sector are always online, so that online dossiers always find
/// an online procedure.
const ALWAYS_ONLINE_RANKS: usize = 3;

pub(super) struct Unit {
    pub code: UnitCode,
    pub name: String,
    pub level: UnitLevel,
    pub parent: Option<UnitCode>,
    pub offers_copy: bool,
    /// Agency identifier that prefixes the unit's dossier codes.
    pub agency: String,
    /// Index into `DISTRICTS` for districts and their communes.
    pub district: Option<usize>,
    /// Receipt series: 0 for the province, 1 + district index otherwise.
    pub series: usize,
}

pub(super) struct Proc {
    pub rec: ProcedureRec,
    pub sector: usize,
    /// Processing time in working days.
    pub days: u32,
    pub receipt_kind: ReceiptKind,
}

/// Procedures of one level and sector with cumulative popularity (a Zipf law over their rank).
#[derive(Default)]
pub(super) struct Picker {
    any: Vec<(f64, u32)>,
    online: Vec<(f64, u32)>,
    /// The procedures that are not fully online.
    not_full: Vec<(f64, u32)>,
}

impl Picker {
    /// The procedure at quantile `u` of the popularity distribution (online procedures only when asked).
    pub(super) fn pick(&self, online: bool, u: f64) -> u32 {
        let list = if online && !self.online.is_empty() { &self.online } else { &self.any };
        Self::at(list, u)
    }

    /// The procedure at quantile `u` among those that are not fully online (any, when there are none).
    pub(super) fn pick_not_full(&self, u: f64) -> u32 {
        Self::at(if self.not_full.is_empty() { &self.any } else { &self.not_full }, u)
    }

    fn at(list: &[(f64, u32)], u: f64) -> u32 {
        let i = list.partition_point(|&(c, _)| c <= u);
        list.get(i).or(list.last()).map_or(0, |&(_, p)| p)
    }

    fn push(list: &mut Vec<(f64, u32)>, weight: f64, proc: u32) {
        let c = list.last().map_or(0.0, |l| l.0) + weight;
        list.push((c, proc));
    }

    fn normalize(list: &mut [(f64, u32)]) {
        let total = list.last().map_or(1.0, |l| l.0);
        for l in list.iter_mut() {
            l.0 /= total;
        }
        if let Some(l) = list.last_mut() {
            l.0 = 1.0;
        }
    }
}

/// The dossiers of one unit in one sector.
pub(super) struct Stratum {
    pub unit: u32,
    pub level: u8,
    pub sector: u8,
    pub count: u32,
    /// How many end late, and how many arrive online: exact numbers, spread evenly over the stratum.
    pub late: u32,
    pub online: u32,
    pub late_offset: u32,
    pub online_offset: u32,
    /// How many have digitized inputs, spread the same way.
    pub digitized: u32,
    pub digitized_offset: u32,
    /// Shift of the stratum's dossiers over the days of the period, in units of one dossier.
    pub day_offset: f64,
}

/// A unit that receives dossiers, with what decides its share of them.
struct Receiver {
    unit: usize,
    level: usize,
    weight: f64,
    mix: Vec<(usize, f64)>,
    late_weight: f64,
    bac_tra_my: bool,
}

pub(super) struct World {
    pub seed: u64,
    pub wd: WorkDays,
    pub holidays: Vec<(i64, &'static str)>,
    pub units: Vec<Unit>,
    pub procs: Vec<Proc>,
    pub pickers: Vec<Picker>,
    pub strata: Vec<Stratum>,
    /// Working days of the period, and the cumulative share of dossiers received up to each (len + 1 entries).
    pub days: Vec<i64>,
    pub cdf: Vec<f64>,
    pub dossiers: u64,
    /// Evaluation instant of the 2024 figures: 2025-01-01 00:00 (wall-clock seconds).
    pub t_end: i64,
    /// Units that receive feedback not tied to a dossier, with cumulative weights.
    pub feedback_units: Vec<(f64, u32)>,
    /// For each district, its own index in `units` and those of its communes.
    pub district_units: Vec<Vec<u32>>,
}

impl World {
    pub(super) fn build(opts: &DemoOptions) -> World {
        let seed = opts.seed;
        let mut rng = StdRng::seed_from_u64(mix(&[seed, STREAM_STRUCTURE]));
        let holidays: Vec<(i64, &'static str)> =
            tables::HOLIDAYS.iter().map(|&((y, m, d), name)| (clock::ymd(y, m, d), name)).collect();
        let holiday_days: Vec<i64> = holidays.iter().map(|h| h.0).collect();
        let wd = WorkDays::new(clock::ymd(2018, 1, 1), clock::ymd(2027, 12, 31), &holiday_days);
        let (units, receivers) = build_units(&mut rng);
        let (procs, pickers) = build_procedures(&mut rng, &wd);
        let published = Published::at(opts.scale);
        let strata = build_strata(&mut rng, &receivers, &published);
        let (days, cdf) = build_days(&wd);
        let feedback_units = feedback_units(&units, &receivers);
        let mut district_units = vec![Vec::new(); DISTRICTS.len()];
        for (i, u) in units.iter().enumerate() {
            if let Some(d) = u.district {
                district_units[d].push(i as u32);
            }
        }
        World {
            seed,
            wd,
            holidays,
            units,
            procs,
            pickers,
            strata,
            days,
            cdf,
            dossiers: dossier_count(opts.scale),
            t_end: clock::ymd(2025, 1, 1) * clock::DAY,
            feedback_units,
            district_units,
        }
    }

    /// The first index of stratum `k` received on or after day `d` of the period (`d` = number of days): the
    /// stratum's dossiers follow the period's daily volume, each day getting the indices whose quantile falls
    /// in it.
    pub(super) fn bound(&self, k: usize, d: usize) -> u32 {
        let s = &self.strata[k];
        let c = f64::from(s.count);
        let x = (self.cdf[d] * c - s.day_offset).ceil();
        x.clamp(0.0, c) as u32
    }

    pub(super) fn picker(&self, s: &Stratum) -> &Picker {
        &self.pickers[usize::from(s.level) * SECTORS.len() + usize::from(s.sector)]
    }

    pub(super) fn unit_records(&self) -> impl Iterator<Item = UnitRec> + '_ {
        self.units.iter().map(|u| UnitRec {
            code: u.code.clone(),
            name: u.name.clone(),
            level: u.level,
            parent: u.parent.clone(),
            valid_from: None,
            valid_to: None,
            successor: None,
            offers_e_certified_copy: u.offers_copy,
        })
    }
}

fn unit(code: &str, name: &str, level: UnitLevel, parent: Option<&str>, agency: String) -> Unit {
    Unit {
        code: code.into(),
        name: name.to_owned(),
        level,
        parent: parent.map(UnitCode::from),
        offers_copy: false,
        agency,
        district: None,
        series: 0,
    }
}

fn sector_index(code: &str) -> Option<usize> {
    SECTORS.iter().position(|s| s.code == code)
}

/// Units parents first: the country, the province, its departments, districts and communes.
fn build_units(rng: &mut StdRng) -> (Vec<Unit>, Vec<Receiver>) {
    let mut units = vec![
        unit("VN", "Việt Nam", UnitLevel::National, None, "000.00.00.G00".into()),
        unit("49", "Tỉnh Quảng Nam", UnitLevel::Province, Some("VN"), "000.00.00.H42".into()),
        unit(CENTRE.0, CENTRE.1, UnitLevel::Department, Some("49"), "000.00.30.H42".into()),
    ];
    let mut receivers = Vec::new();
    for d in DEPARTMENTS {
        let agency = format!("000.00.{}.H42", d.code.trim_start_matches("H49."));
        receivers.push(Receiver {
            unit: units.len(),
            level: PROV,
            weight: d.share,
            mix: d.sectors.iter().filter_map(|&(c, s)| Some((sector_index(c)?, s))).collect(),
            late_weight: d.late,
            bac_tra_my: false,
        });
        units.push(unit(d.code, d.name, UnitLevel::Department, Some("49"), agency));
    }
    let district_mix: Vec<(usize, f64)> = SECTORS
        .iter()
        .enumerate()
        .filter(|(_, s)| s.district_mix > 0.0)
        .map(|(i, s)| (i, s.district_mix))
        .collect();
    let commune_mix: Vec<(usize, f64)> = SECTORS
        .iter()
        .enumerate()
        .filter(|(_, s)| s.commune_mix > 0.0)
        .map(|(i, s)| (i, s.commune_mix))
        .collect();
    for (i, d) in DISTRICTS.iter().enumerate() {
        let mut u = unit(d.code, d.name, UnitLevel::District, Some("49"), format!("000.00.{}.H42", d.code));
        u.district = Some(i);
        u.series = 1 + i;
        receivers.push(Receiver {
            unit: units.len(),
            level: DIST,
            weight: d.weight,
            mix: district_mix.clone(),
            late_weight: d.late,
            bac_tra_my: d.code == BAC_TRA_MY,
        });
        units.push(u);
    }
    // Commune codes follow the national numbering's pattern: five digits from 20194, in steps of three.
    let mut code = 20_194;
    for (i, d) in DISTRICTS.iter().enumerate() {
        let sizes: Vec<f64> = d
            .communes
            .iter()
            .map(|name| {
                let urban = name.starts_with("Phường") || name.starts_with("Thị trấn");
                (if urban { 1.5 } else { 1.0 }) * rng.random_range(0.7..1.3)
            })
            .collect();
        let total: f64 = sizes.iter().sum();
        // Communes of the districts that run late at district level run somewhat late too.
        let late_weight = if LATE_DISTRICTS.contains(&d.code) { 1.6 } else { 1.0 };
        for (n, (name, size)) in d.communes.iter().zip(&sizes).enumerate() {
            let c = code.to_string();
            let mut u =
                unit(&c, name, UnitLevel::Commune, Some(d.code), format!("000.{:02}.{}.H42", n + 1, d.code));
            u.district = Some(i);
            u.series = 1 + i;
            u.offers_copy = rng.random::<f64>() < 0.9;
            receivers.push(Receiver {
                unit: units.len(),
                level: COMM,
                weight: d.weight * size / total,
                mix: commune_mix.clone(),
                late_weight,
                bac_tra_my: d.code == BAC_TRA_MY,
            });
            units.push(u);
            code += 3;
        }
    }
    (units, receivers)
}

/// The name of the `rank`-th procedure of a sector at a level.
fn procedure_name(s: &tables::SectorSpec, level: usize, rank: usize) -> String {
    if let Some(name) = s.heads[level].get(rank) {
        return (*name).to_owned();
    }
    // Each level starts elsewhere in the list of compositions so that levels do not repeat each other's names.
    let t = rank - s.heads[level].len() + level * 150;
    let (na, no) = (tables::ACTIONS.len(), s.objects.len().max(1));
    let action = tables::ACTIONS[t % na];
    let object = s.objects.get((t / na) % no).copied().unwrap_or("hồ sơ");
    let qualifier = tables::QUALIFIERS[(t / (na * no)) % tables::QUALIFIERS.len()];
    format!("{action} {object}{qualifier}")
}

const FEES: &[i64] = &[
    15_000, 20_000, 25_000, 30_000, 50_000, 50_000, 100_000, 100_000, 135_000, 150_000, 200_000, 300_000,
    500_000,
];

/// The 1,927 procedures announced by the province, with their online levels, fees, dates and content.
fn build_procedures(rng: &mut StdRng, wd: &WorkDays) -> (Vec<Proc>, Vec<Picker>) {
    let mut procs = Vec::new();
    let mut ranks = Vec::new();
    for (si, s) in SECTORS.iter().enumerate() {
        for level in [PROV, DIST, COMM] {
            for rank in 0..s.procs[level] as usize {
                let i = procs.len();
                let code = format!("{}.{:06}", level + 1, 1_000 + i * 389);
                let proc_level =
                    [ProcedureLevel::Province, ProcedureLevel::District, ProcedureLevel::Commune][level];
                let head = rank < s.heads[level].len().max(1);
                let fee = if (head && s.head_fee) || (!head && rng.random::<f64>() < s.fee_share) {
                    FEES[rng.random_range(0..FEES.len())]
                } else {
                    0
                };
                let days = {
                    let d = rng.random_range(s.days.0..=s.days.1);
                    if d > 10 { (d + 2) / 5 * 5 } else { d }
                };
                let rec = ProcedureRec {
                    code: code.into(),
                    name: procedure_name(s, level, rank),
                    sector: s.code.to_owned(),
                    authority: UnitCode::from("49"),
                    level: proc_level,
                    online_level: OnlineLevel::None,
                    fee,
                    processing_days: Some(f64::from(days)),
                    applicant_types: applicant_types(rng, s.business),
                    returns_paper_result: rng.random::<f64>() < 0.75,
                    status: ProcedureStatusOrDefault::default(),
                    legal_effective_on: None,
                    announced_on: None,
                    published_on: None,
                    content: content(rng),
                    national_portal_integrated: false,
                };
                let receipt_kind = if s.charge { ReceiptKind::Charge } else { ReceiptKind::Fee };
                procs.push(Proc { rec, sector: si, days, receipt_kind });
                ranks.push((si, level, rank));
            }
        }
    }
    // Online levels and portal integration in exact numbers; NONE only among the rarely used procedures.
    let mut tail: Vec<usize> = (0..procs.len()).filter(|&i| ranks[i].2 >= ALWAYS_ONLINE_RANKS).collect();
    tail.shuffle(rng);
    let none_count = procs.len().saturating_sub(PROCEDURES_FULL + PROCEDURES_PARTIAL).min(tail.len());
    let none: std::collections::HashSet<usize> = tail[..none_count].iter().copied().collect();
    let mut online: Vec<usize> = (0..procs.len()).filter(|i| !none.contains(i)).collect();
    online.shuffle(rng);
    for (n, &i) in online.iter().enumerate() {
        procs[i].rec.online_level =
            if n < PROCEDURES_FULL { OnlineLevel::Full } else { OnlineLevel::Partial };
    }
    online.shuffle(rng);
    for &i in online.iter().take(PROCEDURES_INTEGRATED) {
        procs[i].rec.national_portal_integrated = true;
    }
    for p in &mut procs {
        dates(rng, wd, &mut p.rec);
    }
    let mut pickers: Vec<Picker> = (0..3 * SECTORS.len()).map(|_| Picker::default()).collect();
    for (i, &(si, level, rank)) in ranks.iter().enumerate() {
        let picker = &mut pickers[level * SECTORS.len() + si];
        let weight = 1.0 / ((rank + 1) as f64).powf(1.1);
        Picker::push(&mut picker.any, weight, i as u32);
        if procs[i].rec.online_level != OnlineLevel::None {
            Picker::push(&mut picker.online, weight, i as u32);
        }
        if procs[i].rec.online_level != OnlineLevel::Full {
            Picker::push(&mut picker.not_full, weight, i as u32);
        }
    }
    for p in &mut pickers {
        Picker::normalize(&mut p.any);
        Picker::normalize(&mut p.online);
        Picker::normalize(&mut p.not_full);
    }
    (procs, pickers)
}

fn applicant_types(rng: &mut StdRng, business: f64) -> Vec<ApplicantKind> {
    let mut out = Vec::new();
    if rng.random::<f64>() < 1.0 - 0.8 * business {
        out.push(ApplicantKind::Citizen);
    }
    if rng.random::<f64>() < business {
        out.push(ApplicantKind::Business);
    }
    if rng.random::<f64>() < 0.1 + 0.2 * business {
        out.push(ApplicantKind::Organization);
    }
    if out.is_empty() {
        out.push(if business > 0.5 { ApplicantKind::Business } else { ApplicantKind::Citizen });
    }
    out
}

/// All seven parts for most procedures; one or two parts missing for a few.
fn content(rng: &mut StdRng) -> Vec<ContentPart> {
    let mut parts = ContentPart::ALL.to_vec();
    if rng.random::<f64>() < 0.04 {
        for _ in 0..rng.random_range(1..=2) {
            let i = rng.random_range(1..parts.len());
            parts.remove(i);
        }
    }
    parts
}

/// Announcement, entry into force and publication: 40 % announced in 2024, mostly on time (announced five or
/// more working days before taking effect, published within five working days), a few dates missing.
fn dates(rng: &mut StdRng, wd: &WorkDays, p: &mut ProcedureRec) {
    let (from, to) = if rng.random::<f64>() < 0.4 {
        (clock::ymd(2024, 1, 2), clock::ymd(2024, 12, 20))
    } else {
        (clock::ymd(2019, 1, 2), clock::ymd(2023, 12, 29))
    };
    let mut announced = rng.random_range(from..=to);
    while !wd.is_working(announced) {
        announced += 1;
    }
    let legal = if rng.random::<f64>() < 0.95 {
        wd.add(announced, rng.random_range(5..=30))
    } else {
        announced - rng.random_range(0..=10)
    };
    let r: f64 = rng.random();
    let published = if r < 0.95 {
        Some(wd.add(announced, rng.random_range(0..=5)))
    } else if r < 0.99 {
        Some(wd.add(announced, rng.random_range(6..=20)))
    } else {
        None
    };
    p.announced_on = (rng.random::<f64>() >= 0.005).then(|| clock::date(announced));
    p.legal_effective_on = (rng.random::<f64>() >= 0.01).then(|| clock::date(legal));
    p.published_on = published.map(clock::date);
}

/// Splits `total` into whole parts proportional to `weights`, none above its cap, by largest remainder: the
/// parts sum to `total` exactly (to the sum of the caps when that is smaller). Deterministic: ties go to the
/// lower index.
pub(super) fn apportion(total: u64, weights: &[f64], caps: &[u64]) -> Vec<u64> {
    let n = weights.len();
    if total >= caps.iter().sum::<u64>() {
        return caps.to_vec();
    }
    let mut out = vec![0u64; n];
    let mut fixed = vec![false; n];
    let mut left = total;
    let mut quota = vec![0.0f64; n];
    // Water-filling: a part whose share reaches its cap is fixed at the cap; the others share what is left.
    loop {
        let open: Vec<usize> = (0..n).filter(|&i| !fixed[i]).collect();
        let w_sum: f64 = open.iter().map(|&i| weights[i].max(0.0)).sum();
        let mut capped = Vec::new();
        for &i in &open {
            quota[i] = if w_sum > 0.0 {
                left as f64 * weights[i].max(0.0) / w_sum
            } else {
                left as f64 / open.len() as f64
            };
            if quota[i] >= caps[i] as f64 {
                capped.push(i);
            }
        }
        if capped.is_empty() {
            break;
        }
        for i in capped {
            fixed[i] = true;
            out[i] = caps[i];
            left -= caps[i].min(left);
        }
    }
    let mut given = 0;
    for i in (0..n).filter(|&i| !fixed[i]) {
        out[i] = (quota[i].floor() as u64).min(caps[i]);
        given += out[i];
    }
    let mut rest = left.saturating_sub(given);
    let mut order: Vec<usize> = (0..n).filter(|&i| !fixed[i]).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (quota[a] - quota[a].floor(), quota[b] - quota[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().chain(order.iter()) {
        if rest == 0 {
            break;
        }
        if out[i] < caps[i] {
            out[i] += 1;
            rest -= 1;
        }
    }
    out
}

/// `total − round(total × rate)`: the complement of a published rate, as a whole count.
fn complement(total: u64, rate: f64) -> u64 {
    total - ((total as f64 * rate).round() as u64).min(total)
}

/// Distributes `total` over `members` (indices into `counts`) by `weights`, capped by the counts.
fn spread(total: u64, members: &[usize], counts: &[u64], weight: impl Fn(usize) -> f64) -> Vec<(usize, u64)> {
    let weights: Vec<f64> = members.iter().map(|&i| weight(i)).collect();
    let caps: Vec<u64> = members.iter().map(|&i| counts[i]).collect();
    members.iter().copied().zip(apportion(total, &weights, &caps)).collect()
}

/// Counts per unit, then per unit and sector, each level summing exactly to its published total; likewise
/// the late, online and digitized dossiers, Bắc Trà My (whose figures are published) apart from the rest.
fn build_strata(rng: &mut StdRng, receivers: &[Receiver], p: &Published) -> Vec<Stratum> {
    let n = receivers.len();
    let mut counts = vec![0u64; n];
    let mut late = vec![0u64; n];
    let mut online = vec![0u64; n];
    let mut digitized = vec![0u64; n];
    for level in [PROV, DIST, COMM] {
        let members: Vec<usize> = (0..n).filter(|&i| receivers[i].level == level).collect();
        let total = p.dossiers[level];
        let caps = vec![total; members.len()];
        let weights: Vec<f64> = members.iter().map(|&i| receivers[i].weight).collect();
        for (&i, c) in members.iter().zip(apportion(total, &weights, &caps)) {
            counts[i] = c;
        }
        // Bắc Trà My's own rates are published; the rest of the level makes up the level's totals.
        let (btm, rest): (Vec<usize>, Vec<usize>) = members.iter().partition(|&&i| receivers[i].bac_tra_my);
        let btm_count: u64 = btm.iter().map(|&i| counts[i]).sum();
        let btm_late = complement(btm_count, p.bac_tra_my_on_time[level]);
        let btm_online = (btm_count as f64 * p.bac_tra_my_online).round() as u64;
        let rest_count = total - btm_count;
        let btm_digitized = (btm_count as f64 * p.bac_tra_my_digitized).round() as u64;
        let rest_digitized = (rest_count as f64 * p.digitized[level]).round() as u64;
        let level_late = complement(total, p.on_time[level]);
        let level_online = (total as f64 * p.online[level]).round() as u64;
        // (what, Bắc Trà My's part, the rest's part, whether the rest is weighted towards late units)
        let plans = [
            (&mut late, btm_late, level_late.saturating_sub(btm_late), true),
            (&mut online, btm_online, level_online.saturating_sub(btm_online), false),
            (&mut digitized, btm_digitized, rest_digitized, false),
        ];
        for (target, group, others, by_lateness) in plans {
            let parts = spread(group, &btm, &counts, |i| counts[i] as f64).into_iter().chain(spread(
                others,
                &rest,
                &counts,
                |i| counts[i] as f64 * if by_lateness { receivers[i].late_weight } else { 1.0 },
            ));
            for (i, v) in parts {
                target[i] = v;
            }
        }
    }
    let mut strata = Vec::new();
    for (i, r) in receivers.iter().enumerate() {
        let shares: Vec<f64> = r.mix.iter().map(|m| m.1).collect();
        let per_sector = apportion(counts[i], &shares, &vec![counts[i]; shares.len()]);
        let late_w: Vec<f64> =
            r.mix.iter().zip(&per_sector).map(|(m, &c)| c as f64 * SECTORS[m.0].late).collect();
        let late_s = apportion(late[i], &late_w, &per_sector);
        let by_count: Vec<f64> = per_sector.iter().map(|&c| c as f64).collect();
        let online_s = apportion(online[i], &by_count, &per_sector);
        let digitized_s = apportion(digitized[i], &by_count, &per_sector);
        for (k, m) in r.mix.iter().enumerate() {
            let (c, l, o, dg) = (per_sector[k], late_s[k], online_s[k], digitized_s[k]);
            let count = c as u32;
            strata.push(Stratum {
                unit: r.unit as u32,
                level: r.level as u8,
                sector: m.0 as u8,
                count,
                late: l as u32,
                online: o as u32,
                late_offset: rng.random_range(0..count.max(1)),
                online_offset: rng.random_range(0..count.max(1)),
                digitized: dg as u32,
                digitized_offset: rng.random_range(0..count.max(1)),
                day_offset: rng.random::<f64>(),
            });
        }
    }
    strata
}

/// Working days from 2023-12-15 to 2024-12-14 and their share of the year's dossiers: busier on Mondays and in
/// the fortnight before Tết, quieter on Fridays and just after Tết, slowly growing over the year.
fn build_days(wd: &WorkDays) -> (Vec<i64>, Vec<f64>) {
    let (first, last) = (clock::ymd(2023, 12, 15), clock::ymd(2024, 12, 14));
    let days: Vec<i64> = (first..=last).filter(|&d| wd.is_working(d)).collect();
    let (tet_rush, tet_after) = (
        (clock::ymd(2024, 1, 25), clock::ymd(2024, 2, 7)),
        (clock::ymd(2024, 2, 15), clock::ymd(2024, 2, 23)),
    );
    let mut cdf = vec![0.0];
    let mut acc = 0.0;
    for (i, &d) in days.iter().enumerate() {
        let mut w = [1.12, 1.04, 1.0, 0.98, 0.9, 1.0, 1.0][clock::weekday(d) as usize];
        if (tet_rush.0..=tet_rush.1).contains(&d) {
            w *= 1.3;
        }
        if (tet_after.0..=tet_after.1).contains(&d) {
            w *= 0.75;
        }
        w *= 0.95 + 0.1 * i as f64 / days.len().max(1) as f64;
        acc += w;
        cdf.push(acc);
    }
    for c in cdf.iter_mut() {
        *c /= acc;
    }
    if let Some(c) = cdf.last_mut() {
        *c = 1.0;
    }
    (days, cdf)
}

/// Where feedback not tied to a dossier goes: the centre, the departments, the districts and the communes.
fn feedback_units(units: &[Unit], receivers: &[Receiver]) -> Vec<(f64, u32)> {
    let centre = units.iter().position(|u| u.code == CENTRE.0).unwrap_or(0);
    let mut level_total = [0.0f64; 3];
    for r in receivers {
        level_total[r.level] += r.weight;
    }
    let level_share = [0.25, 0.35, 0.25];
    let mut out = vec![(0.15, centre as u32)];
    for r in receivers {
        let w = level_share[r.level] * r.weight / level_total[r.level].max(f64::MIN_POSITIVE);
        let c = out.last().map_or(0.0, |l| l.0) + w;
        out.push((c, r.unit as u32));
    }
    let total = out.last().map_or(1.0, |l| l.0);
    for o in out.iter_mut() {
        o.0 /= total;
    }
    out
}
