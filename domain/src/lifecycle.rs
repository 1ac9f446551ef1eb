//! The dossier lifecycle: which status changes an officer may make, and the facts the indicator rules need,
//! derived from a dossier's events and supplement requests whenever they are written.

use crate::enums::DossierStatus;
use crate::time::{Calendar, Micros, date_of, start_of};

/// One entry of a dossier's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub status: DossierStatus,
    pub at: Micros,
}

/// A supplement request and, once the applicant answered, the time of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supplement {
    pub requested_at: Micros,
    pub received_at: Option<Micros>,
}

/// Facts about a dossier that do not depend on the evaluation instant, stored beside it so that the indicator
/// aggregates evaluate "as of T" with plain column comparisons (see `docs/indicators.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DerivedFacts {
    /// Latest event by time (the last listed among equal times).
    pub status: Option<DossierStatus>,
    pub status_at: Option<Micros>,
    /// Earliest NOT_ACCEPTED event.
    pub not_accepted_at: Option<Micros>,
    /// Earliest RESOLVED event.
    pub resolved_at: Option<Micros>,
    /// Earliest RETURNED, STOPPED or WITHDRAWN event (at equal instants, in that order).
    pub other_end_at: Option<Micros>,
    pub other_end_status: Option<DossierStatus>,
    /// The earliest supplement request (by request time) and its answer.
    pub first_supplement_requested_at: Option<Micros>,
    pub first_supplement_received_at: Option<Micros>,
    /// The second-earliest request: once it is at or before T the dossier is late.
    pub second_supplement_requested_at: Option<Micros>,
}

fn end_rank(s: DossierStatus) -> Option<u8> {
    match s {
        DossierStatus::Returned => Some(0),
        DossierStatus::Stopped => Some(1),
        DossierStatus::Withdrawn => Some(2),
        _ => None,
    }
}

/// Derives the stored facts from a dossier's history.
pub fn derive_facts(events: &[Event], supplements: &[Supplement]) -> DerivedFacts {
    let mut f = DerivedFacts::default();
    let mut other_end: Option<(Micros, u8, DossierStatus)> = None;
    for e in events {
        if f.status_at.is_none_or(|at| e.at >= at) {
            f.status = Some(e.status);
            f.status_at = Some(e.at);
        }
        match e.status {
            DossierStatus::NotAccepted => f.not_accepted_at = min_opt(f.not_accepted_at, e.at),
            DossierStatus::Resolved => f.resolved_at = min_opt(f.resolved_at, e.at),
            s => {
                if let Some(rank) = end_rank(s)
                    && other_end.is_none_or(|(at, r, _)| (e.at, rank) < (at, r))
                {
                    other_end = Some((e.at, rank, s));
                }
            }
        }
    }
    f.other_end_at = other_end.map(|(at, _, _)| at);
    f.other_end_status = other_end.map(|(_, _, s)| s);
    let mut sorted: Vec<&Supplement> = supplements.iter().collect();
    sorted.sort_by_key(|s| s.requested_at);
    if let Some(first) = sorted.first() {
        f.first_supplement_requested_at = Some(first.requested_at);
        f.first_supplement_received_at = first.received_at;
    }
    f.second_supplement_requested_at = sorted.get(1).map(|s| s.requested_at);
    f
}

fn min_opt(a: Option<Micros>, b: Micros) -> Option<Micros> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// A status change the lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a dossier in status {from} cannot move to {to}")]
pub struct TransitionError {
    pub from: String,
    pub to: DossierStatus,
}

/// The status changes an officer may make through the API, following the national portal's flow:
/// registered online → received (or not accepted) → processing, with detours for supplements and payment →
/// resolved → returned; withdrawal and stopping end a dossier early.
pub fn allowed_next(from: Option<DossierStatus>) -> &'static [DossierStatus] {
    use DossierStatus::*;
    match from {
        None => &[Registered, Received],
        Some(Registered) => &[Received, NotAccepted, Withdrawn],
        Some(Received) => &[Processing, SupplementRequested, PaymentRequested, Resolved, Withdrawn, Stopped],
        Some(Processing) => &[SupplementRequested, PaymentRequested, Resolved, Withdrawn, Stopped],
        Some(SupplementRequested) => &[Processing, Withdrawn, Stopped],
        Some(PaymentRequested) => &[Processing, Resolved, Withdrawn, Stopped],
        Some(Resolved) => &[Returned],
        Some(NotAccepted) | Some(Withdrawn) | Some(Stopped) | Some(Returned) => &[],
    }
}

/// Checks one status change.
pub fn check_transition(from: Option<DossierStatus>, to: DossierStatus) -> Result<(), TransitionError> {
    if allowed_next(from).contains(&to) {
        Ok(())
    } else {
        Err(TransitionError { from: from.map_or_else(|| "(none)".to_owned(), |s| s.to_string()), to })
    }
}

/// When a dossier's receipts count (docs/indicators.md: issued at or before T and not cancelled at
/// or before T), that is the union of their intervals `[issued, cancelled)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidSpan {
    Never,
    /// One interval; `None` as its end: still counting.
    One(Micros, Option<Micros>),
    /// More than one interval (a receipt cancelled, another issued after a gap).
    Several,
}

impl PaidSpan {
    /// The bounds of the one interval, or none.
    pub fn bounds(&self) -> (Option<Micros>, Option<Micros>) {
        match *self {
            PaidSpan::One(from, to) => (Some(from), to),
            _ => (None, None),
        }
    }
}

/// The union of receipt intervals `(issued_at, cancelled_at)`.
pub fn paid_spans(receipts: impl IntoIterator<Item = (Micros, Option<Micros>)>) -> PaidSpan {
    let mut spans: Vec<(Micros, Option<Micros>)> =
        receipts.into_iter().filter(|&(issued, cancelled)| cancelled.is_none_or(|c| c > issued)).collect();
    spans.sort_unstable_by_key(|s| s.0);
    let mut it = spans.into_iter();
    let Some((from, mut to)) = it.next() else { return PaidSpan::Never };
    for (issued, cancelled) in it {
        match to {
            None => {}
            Some(end) if issued <= end => to = cancelled.map(|c| c.max(end)),
            Some(_) => return PaidSpan::Several,
        }
    }
    PaidSpan::One(from, to)
}

/// Working days a complaint or recommendation (PAKN) has for its answer.
pub const PAKN_WORKING_DAYS: i32 = 10;

/// `n` working days after `at`, at the same time of day (Vietnam time).
pub fn working_days_after(calendar: &Calendar, at: Micros, n: i32) -> Micros {
    let day = date_of(at);
    start_of(calendar.add_working_days(day, n)) + (at - start_of(day))
}

/// The most working days a due time is counted over (about eight years). The importer refuses a longer stated
/// processing time, and one stored before that rule is taken as this, so that a wrong catalog entry cannot make
/// a request count days for ever.
pub const MAX_WORKING_DAYS: i32 = 2000;

/// The largest fee or receipt amount accepted, in đồng (a thousand billion, far above any fee): an amount is
/// summed, so a bound keeps every sum far from overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// The largest receipt number of a series.
pub const MAX_RECEIPT_NUMBER: i64 = 9_999_999_999;

/// Why a receipt's amount is refused, if it is: the import and the API apply this one rule.
pub fn check_amount(amount: i64) -> Result<(), &'static str> {
    match amount {
        ..=0 => Err("must be greater than 0"),
        a if a > MAX_AMOUNT => Err("must be at most 1,000,000,000,000"),
        _ => Ok(()),
    }
}

/// Why a receipt's number is refused, if it is.
pub fn check_receipt_number(number: i64) -> Result<(), &'static str> {
    match number {
        ..=0 => Err("must be a positive integer"),
        n if n > MAX_RECEIPT_NUMBER => Err("must be at most 9,999,999,999"),
        _ => Ok(()),
    }
}

/// When a dossier received at `at` is due: the procedure's processing time in working days (rounded up), at the
/// time of day it was received; the end of the day of receipt when the procedure states none (or zero).
pub fn dossier_due(calendar: &Calendar, at: Micros, processing_days: Option<f64>) -> Micros {
    let days = processing_days.unwrap_or(0.0).ceil().clamp(0.0, f64::from(MAX_WORKING_DAYS)) as i32;
    if days == 0 {
        let day = date_of(at);
        return start_of(day.succ_opt().unwrap_or(day));
    }
    working_days_after(calendar, at, days)
}

/// When a PAKN received at `at` must be answered.
pub fn pakn_due(calendar: &Calendar, at: Micros) -> Micros {
    working_days_after(calendar, at, PAKN_WORKING_DAYS)
}

/// A due time asked for instead of the rule's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DueError {
    #[error("dueAt must be after now")]
    Past,
    #[error("dueAt may shorten the deadline the rules give, never extend it (at most {0})")]
    Extended(String),
}

/// The due time of a record received at `now`: `derived` (the rule's), or an earlier one staff ask for. A due time
/// is what the public indicators measure against, so nobody may push it past the rule.
pub fn chosen_due(derived: Micros, asked: Option<Micros>, now: Micros) -> Result<Micros, DueError> {
    match asked {
        None => Ok(derived),
        Some(d) if d <= now => Err(DueError::Past),
        Some(d) if d > derived => Err(DueError::Extended(crate::time::from_micros(derived).to_rfc3339())),
        Some(d) => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DossierStatus::*;

    #[test]
    fn due_times_follow_working_days_and_may_only_be_shortened() {
        use chrono::NaiveDate;
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // Friday 26 April 2024 at 09:00: ten working days skip two weekends and 29 April–1 May.
        let cal = Calendar::new([d(2024, 4, 29), d(2024, 4, 30), d(2024, 5, 1)]);
        let at = start_of(d(2024, 4, 26)) + 9 * 3_600_000_000;
        assert_eq!(pakn_due(&cal, at), start_of(d(2024, 5, 15)) + 9 * 3_600_000_000);
        assert_eq!(dossier_due(&cal, at, Some(2.5)), start_of(d(2024, 5, 6)) + 9 * 3_600_000_000);
        // None stated: due at the end of the day of receipt, not at once.
        assert_eq!(dossier_due(&cal, at, None), start_of(d(2024, 4, 27)));
        assert_eq!(dossier_due(&cal, at, Some(0.0)), start_of(d(2024, 4, 27)));
        let derived = pakn_due(&cal, at);
        assert_eq!(chosen_due(derived, None, at), Ok(derived));
        assert_eq!(chosen_due(derived, Some(at + 1), at), Ok(at + 1));
        assert_eq!(chosen_due(derived, Some(at), at), Err(DueError::Past));
        assert!(matches!(chosen_due(derived, Some(derived + 1), at), Err(DueError::Extended(_))));
    }

    fn ev(status: DossierStatus, at: Micros) -> Event {
        Event { status, at }
    }

    #[test]
    fn resolved_is_kept_beside_an_earlier_returned() {
        let f = derive_facts(&[ev(Received, 1), ev(Returned, 5), ev(Resolved, 7)], &[]);
        assert_eq!(f.resolved_at, Some(7));
        assert_eq!(f.other_end_at, Some(5));
        assert_eq!(f.other_end_status, Some(Returned));
        assert_eq!(f.status, Some(Resolved));
    }

    #[test]
    fn equal_end_instants_prefer_returned_then_stopped_then_withdrawn() {
        let f = derive_facts(&[ev(Withdrawn, 5), ev(Stopped, 5)], &[]);
        assert_eq!(f.other_end_status, Some(Stopped));
        let f = derive_facts(&[ev(Withdrawn, 5), ev(Returned, 5), ev(Stopped, 4)], &[]);
        assert_eq!((f.other_end_at, f.other_end_status), (Some(4), Some(Stopped)));
    }

    #[test]
    fn supplements_are_ordered_by_request_time() {
        let s = [
            Supplement { requested_at: 9, received_at: None },
            Supplement { requested_at: 3, received_at: Some(4) },
        ];
        let f = derive_facts(&[], &s);
        assert_eq!(f.first_supplement_requested_at, Some(3));
        assert_eq!(f.first_supplement_received_at, Some(4));
        assert_eq!(f.second_supplement_requested_at, Some(9));
    }

    #[test]
    fn transitions_follow_the_portal_flow() {
        assert!(check_transition(Some(Received), Processing).is_ok());
        assert!(check_transition(Some(Resolved), Returned).is_ok());
        assert!(check_transition(Some(Returned), Processing).is_err());
        assert!(check_transition(Some(Processing), Received).is_err());
        assert!(check_transition(None, Received).is_ok());
    }

    #[test]
    fn receipt_intervals_merge_when_they_touch() {
        assert_eq!(paid_spans([]), PaidSpan::Never);
        assert_eq!(paid_spans([(5, Some(5))]), PaidSpan::Never);
        assert_eq!(paid_spans([(5, None)]), PaidSpan::One(5, None));
        // Cancelled at 9 and reissued at 9: counting without a break.
        assert_eq!(paid_spans([(9, None), (5, Some(9))]), PaidSpan::One(5, None));
        assert_eq!(paid_spans([(5, Some(9)), (6, Some(7))]), PaidSpan::One(5, Some(9)));
        assert_eq!(paid_spans([(5, None), (20, Some(30))]), PaidSpan::One(5, None));
        // Reissued after a gap: two intervals.
        assert_eq!(paid_spans([(5, Some(9)), (12, None)]), PaidSpan::Several);
    }
}
