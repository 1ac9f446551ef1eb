//! E-receipts (biên lai điện tử) for fee-bearing dossiers, numbered per series in order of issue.

use std::collections::HashMap;

use chrono::Datelike;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::clock::{self, DAY, HOUR, MINUTE};
use super::dossier::{End, Scheduled, applicant, schedule, sector_code};
use super::tables::{self, DISTRICTS};
use super::world::World;
use domain::*;
use interchange_format::records::*;

/// Share of fee-bearing dossiers without a receipt (exempted), and of receipts cancelled and replaced.
const EXEMPT: f64 = 0.04;
const CANCELLED: f64 = 0.006;

/// Next number of each series (`{prefix}-{yy}E`: the province or a district, and the year of issue).
#[derive(Default)]
struct Numbers(HashMap<(usize, i32), i64>);

impl Numbers {
    fn next(&mut self, prefix: usize, issued: i64) -> (String, i64) {
        let year = clock::date(issued.div_euclid(DAY)).year();
        let n = self.0.entry((prefix, year)).or_insert(0);
        *n += 1;
        let name = if prefix == 0 { "QNA" } else { DISTRICTS.get(prefix - 1).map_or("QNA", |d| d.series) };
        (format!("{name}-{:02}E", year.rem_euclid(100)), *n)
    }
}

/// Replays the dossiers and emits their receipts.
pub(super) fn emit_receipts(w: &World, emit: &mut dyn FnMut(Record)) {
    let mut numbers = Numbers::default();
    schedule(w, &mut |_, list| {
        for s in list {
            receipts_of(w, s, &mut numbers, emit);
        }
    });
}

/// How a receipt is paid: the channel (online dossiers mostly through a portal) and the method.
fn payment(rng: &mut StdRng, online: bool) -> (PaymentChannel, PaymentMethod) {
    let r: f64 = rng.random();
    let payment_channel = match (online, r) {
        (true, r) if r < 0.58 => PaymentChannel::NationalPortal,
        (true, r) if r < 0.93 => PaymentChannel::ProvincialPortal,
        (false, r) if r < 0.22 => PaymentChannel::ProvincialPortal,
        _ => PaymentChannel::Counter,
    };
    let r: f64 = rng.random();
    let method = match (payment_channel, r) {
        (PaymentChannel::Counter, r) if r < 0.75 => PaymentMethod::Cash,
        (PaymentChannel::Counter, r) if r < 0.9 => PaymentMethod::BankTransfer,
        (PaymentChannel::Counter, _) => PaymentMethod::Card,
        (_, r) if r < 0.6 => PaymentMethod::BankTransfer,
        (_, r) if r < 0.85 => PaymentMethod::EWallet,
        _ => PaymentMethod::Card,
    };
    (payment_channel, method)
}

fn receipts_of(w: &World, s: &Scheduled, numbers: &mut Numbers, emit: &mut dyn FnMut(Record)) {
    let p = &s.plan;
    let proc = &w.procs[p.proc as usize];
    if p.refused || proc.rec.fee <= 0 || matches!(p.end, End::Withdrawn(_)) {
        return;
    }
    let mut rng = StdRng::seed_from_u64(p.receipt_seed);
    if rng.random::<f64>() < EXEMPT {
        return;
    }
    // Certified copies and civil-status extracts are paid per copy.
    let copies = if matches!(sector_code(w, p), "CTHUC" | "HT") {
        [1, 1, 1, 2, 2, 3, 4][rng.random_range(0..7)]
    } else {
        1
    };
    let online = p.channel == Channel::Online;
    let issued = match (p.payment_requested, p.submitted) {
        (Some(t), _) => t + rng.random_range(5 * MINUTE..20 * HOUR),
        (None, Some(t)) if online => t + rng.random_range(MINUTE..30 * MINUTE),
        _ => p.received + rng.random_range(MINUTE..20 * MINUTE),
    };
    let (payment_channel, method) = payment(&mut rng, online);
    let a = applicant(w, p);
    let unit = &w.units[w.strata[p.stratum as usize].unit as usize];
    let template = if proc.receipt_kind == ReceiptKind::Fee { "01BLP0-001" } else { "01BLP0-002" };
    let receipt = |issued: i64, rng: &mut StdRng, numbers: &mut Numbers| {
        let (series, number) = numbers.next(unit.series, issued);
        let transaction_ref = (method != PaymentMethod::Cash).then(|| {
            let prefix = match method {
                PaymentMethod::Card => "POS",
                PaymentMethod::EWallet => "EW",
                _ => "FT",
            };
            format!(
                "{prefix}{}{:010}",
                clock::date(issued.div_euclid(DAY)).format("%y%m%d"),
                rng.random_range(0..10_000_000_000u64)
            )
        });
        ReceiptRec {
            series,
            number,
            template: Some(template.to_owned()),
            dossier: s.code.clone(),
            payer_name: a.name.clone(),
            payer_tax_code: (a.kind != ApplicantKind::Citizen).then(|| a.id_number.clone()),
            amount: proc.rec.fee * copies,
            kind: proc.receipt_kind,
            payment_channel,
            method: Some(method),
            transaction_ref,
            issued_at: clock::instant(issued),
            status: ReceiptStatusOrDefault::default(),
            cancelled_at: None,
            cancel_reason: None,
        }
    };
    let mut first = receipt(issued, &mut rng, numbers);
    if rng.random::<f64>() < CANCELLED {
        // A wrong receipt is cancelled and a correct one issued in its place, under the next number.
        let cancelled = issued + rng.random_range(10 * MINUTE..2 * DAY);
        first.status = ReceiptStatusOrDefault(ReceiptStatus::Cancelled);
        first.cancelled_at = Some(clock::instant(cancelled));
        first.cancel_reason =
            Some(tables::CANCEL_REASONS[rng.random_range(0..tables::CANCEL_REASONS.len())].to_owned());
        emit(Record::Receipt(first));
        let replacement = receipt(cancelled + rng.random_range(2 * MINUTE..30 * MINUTE), &mut rng, numbers);
        emit(Record::Receipt(replacement));
    } else {
        emit(Record::Receipt(first));
    }
}
