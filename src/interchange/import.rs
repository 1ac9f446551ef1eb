//! Streaming import of JSON Lines (docs/interchange.md).
//!
//! Lines are read one at a time (a line over 1 MiB is refused without being held), parsed and checked on
//! their own, then gathered into batches whose references are resolved against what is stored and what came
//! earlier in the file. Batches are written with multi-row statements inside one transaction for the whole
//! import: by default one bad line rolls everything back; with `skip_invalid` the good lines are kept and the
//! bad ones go to the rejects sink. Memory is bounded by the batch size and the reference tables (units,
//! sectors, procedures), not by the file.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QuerySelect, Set, Statement, TransactionTrait,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use super::records::*;
use super::validate::{LineError, MAX_LINE_BYTES, parse_line};
use crate::db;
use crate::db::audit::Stamp;
use crate::db::bulk::{hold_write_lock, insert_chunked, int_array, reserve_ids, text_array};
use crate::db::derived::{refresh_negative_feedback, refresh_receipts};
use crate::db::rows::DossierRow;
use crate::db::write::*;
use crate::domain::time::now;
use crate::domain::time::to_micros;
use crate::domain::{DossierCode, OnlineLevel, ProcedureCode, UnitCode};
use crate::pii::Vault;
use entity::audit_event::Outcome;

/// How an import treats bad lines.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Keep the valid lines and report the bad ones, instead of writing nothing.
    pub skip_invalid: bool,
    /// Lines per batch.
    pub batch_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { skip_invalid: false, batch_size: 1000 }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Lines read (blank lines are not counted).
    pub lines: u64,
    /// Valid records written (inserted or replaced).
    pub written: u64,
    /// Valid records identical to what was stored.
    pub unchanged: u64,
    /// Bad lines.
    pub rejected: u64,
    /// The bad lines' errors (the first 10,000).
    pub errors: Vec<LineError>,
    /// Whether the transaction was committed.
    pub committed: bool,
}

/// An import that could not run to the end (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the input failed: {0}")]
    Read(#[from] std::io::Error),
    #[error("database error during import")]
    Db(#[from] DbErr),
}

const MAX_KEPT_ERRORS: usize = 10_000;

/// The most bytes of input one batch holds.
const MAX_BATCH_BYTES: usize = 16 << 20;

/// Reads one line into `buf` (without the newline). Returns `None` at the end of input, `Some(true)` when the
/// line was longer than the limit (its bytes beyond the limit are discarded, not held).
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(if any { Some(too_long) } else { None });
        }
        any = true;
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(too_long));
        }
    }
}

/// Known reference data, kept in memory for the whole import (it is small).
struct Refs {
    units: HashMap<UnitCode, UnitRef>,
    /// Unit codes by id.
    unit_codes: HashMap<i64, UnitCode>,
    sectors: HashMap<String, i64>,
    procedures: HashMap<ProcedureCode, i64>,
}

#[derive(Clone)]
struct UnitRef {
    id: i64,
    parent: Option<UnitCode>,
    successor: Option<UnitCode>,
    valid_to: Option<chrono::NaiveDate>,
    hash: String,
}

impl Refs {
    async fn load(conn: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let units: HashMap<UnitCode, UnitRef> = entity::unit::Entity::find()
            .all(conn)
            .await?
            .into_iter()
            .map(|u| {
                (
                    u.code.clone(),
                    UnitRef {
                        id: u.id,
                        parent: u.parent_code,
                        successor: u.successor_code,
                        valid_to: u.valid_to,
                        hash: u.content_hash,
                    },
                )
            })
            .collect();
        let sectors =
            entity::sector::Entity::find().all(conn).await?.into_iter().map(|s| (s.code, s.id)).collect();
        let procedures = entity::procedure::Entity::find()
            .select_only()
            .column(entity::procedure::Column::Code)
            .column(entity::procedure::Column::Id)
            .into_tuple::<(ProcedureCode, i64)>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        let unit_codes = units.iter().map(|(code, u): (&UnitCode, &UnitRef)| (u.id, code.clone())).collect();
        Ok(Refs { units, unit_codes, sectors, procedures })
    }

    /// Whether unit `unit` lies in the scope of unit `root` at `t`.
    fn covers(&self, root: &str, unit: &str, t: crate::domain::time::Micros) -> bool {
        crate::domain::scope::within_scope(root, unit, t, |code| {
            self.units.get(code).map(|u| crate::domain::scope::UnitLinks {
                parent: u.parent.as_deref(),
                successor: u.successor.as_deref(),
                valid_to: u.valid_to,
            })
        })
    }

    /// The code of the unit with id `id`.
    fn code_of(&self, id: i64) -> Option<&str> {
        self.unit_codes.get(&id).map(UnitCode::as_str)
    }

    /// Whether following `parent` (or `successor`) links from `code` comes back to it.
    fn has_cycle(&self, code: &str, next: impl Fn(&UnitRef) -> Option<&UnitCode>) -> bool {
        let mut seen = HashSet::new();
        let mut cur = self.units.get(code).and_then(&next);
        while let Some(c) = cur {
            if c == code || !seen.insert(c.clone()) {
                return c == code;
            }
            cur = self.units.get(c.as_str()).and_then(&next);
        }
        false
    }
}

/// A stored row's id, content digest and unit.
#[derive(Clone)]
struct Stored {
    id: i64,
    hash: String,
    /// The unit the stored record belongs to (a receipt's: its dossier's).
    unit_id: i64,
}

/// The importer's state across batches.
struct Importer<'a, C> {
    conn: &'a C,
    vault: &'a Vault,
    refs: Refs,
    report: ImportReport,
    /// Units whose records were written (and [`db::REFERENCE_DATA`]), for the change counters.
    touched: HashSet<i64>,
    /// The indicator summary rows this import changes, rebuilt once before it commits.
    dirty: db::rollup::Dirty,
    /// A unit was written: the summary groups are recomputed before it commits.
    units_changed: bool,
}

/// A line that passed its own checks, waiting for its batch.
struct Pending {
    line: u64,
    record: Record,
    hash: String,
}

/// One batch as read: the lines that parsed, and the lines that did not (with their errors and text).
#[derive(Default)]
struct ReadBatch {
    batch: Vec<Pending>,
    parse_errors: Vec<(u64, Vec<LineError>, String)>,
    /// Original text of the batch's good lines, kept only to copy lines found bad later into the rejects file.
    texts: HashMap<u64, String>,
    eof: bool,
}

/// Reads the input a batch at a time.
struct BatchReader<'v, R> {
    input: R,
    buf: Vec<u8>,
    line_no: u64,
    /// Keep the text of good lines (a later check may reject them into the rejects file).
    keep_text: bool,
    /// Keep the text of bad lines (there is a rejects file to copy them to).
    bad_text: bool,
    vault: &'v Vault,
}

impl<R: AsyncBufRead + Unpin> BatchReader<'_, R> {
    /// Reads and parses lines until `size` of them were read (or [`MAX_BATCH_BYTES`]) or the input ends. Yields to the runtime now and then,
    /// so that the writes of the previous batch, awaited beside it, go on as soon as the server answers.
    async fn read(&mut self, size: usize) -> std::io::Result<ReadBatch> {
        let mut out = ReadBatch::default();
        let mut since_yield = 0;
        // Bounded by lines (good or bad) and by bytes read, so that a file of bad lines or of long ones is held a
        // batch at a time like any other.
        let mut held = 0;
        while out.batch.len() + out.parse_errors.len() < size && held < MAX_BATCH_BYTES {
            let Some(too_long) = read_line(&mut self.input, &mut self.buf).await? else {
                out.eof = true;
                break;
            };
            self.line_no += 1;
            let line = self.line_no;
            // A byte-order mark (as some editors on Windows write) starts the first line: it is not data.
            if line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
            if !too_long && self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = if too_long {
                Err(vec![LineError {
                    line,
                    key: None,
                    field: "-".into(),
                    reason: format!("line longer than {MAX_LINE_BYTES} bytes"),
                }])
            } else {
                parse_line(&self.buf, line)
            };
            held += self.buf.len();
            match parsed {
                Ok(record) => {
                    if self.keep_text {
                        out.texts.insert(line, String::from_utf8_lossy(&self.buf).into_owned());
                    }
                    let hash = self.vault.digest(&record.to_line());
                    out.batch.push(Pending { line, record, hash });
                }
                Err(errors) => {
                    // The text is kept only for the rejects file.
                    let text = if too_long || !self.bad_text {
                        String::new()
                    } else {
                        String::from_utf8_lossy(&self.buf).into_owned()
                    };
                    out.parse_errors.push((line, errors, text));
                }
            }
            since_yield += 1;
            if since_yield == 64 {
                since_yield = 0;
                tokio::task::yield_now().await;
            }
        }
        Ok(out)
    }
}

/// The errors found on one line, each naming the line and its record's key.
struct LineFaults {
    line: u64,
    key: String,
    errors: Vec<LineError>,
}

impl LineFaults {
    /// Notes that `field` names a `what` that is neither stored nor defined earlier.
    fn missing(&mut self, field: &str, what: &str, code: &str) {
        self.add(field, format!("{what} `{code}` is neither stored nor defined on an earlier line"));
    }

    /// Notes that `field` is wrong for `reason`.
    fn add(&mut self, field: &str, reason: String) {
        self.errors.push(LineError {
            line: self.line,
            key: Some(self.key.clone()),
            field: field.to_owned(),
            reason,
        });
    }

    fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The stored dossiers, receipts and feedback that a batch names; the dossiers and feedback it defines are added
/// (as `None`) while it is classified.
struct Named {
    dossiers: HashMap<DossierCode, Option<Stored>>,
    feedbacks: HashMap<String, Option<Stored>>,
    /// Each with the id of its dossier.
    receipts: HashMap<(String, i64), (Stored, i64)>,
}

/// One kind's records of a batch while it is classified: by key, the last one winning, in the order of first
/// appearance.
struct Sorting<K, R> {
    new: Vec<(R, String)>,
    index: HashMap<K, usize>,
    changed: HashMap<i64, (R, String)>,
}

impl<K: std::hash::Hash + Eq, R> Default for Sorting<K, R> {
    fn default() -> Self {
        Sorting { new: Vec::new(), index: HashMap::new(), changed: HashMap::new() }
    }
}

impl<K: std::hash::Hash + Eq, R> Sorting<K, R> {
    /// A record not stored: it replaces a record with the same key earlier in this batch, in that one's place.
    fn add_new(&mut self, key: K, record: R, hash: String) {
        match self.index.get(&key) {
            Some(&i) => self.new[i] = (record, hash),
            None => {
                self.index.insert(key, self.new.len());
                self.new.push((record, hash));
            }
        }
    }

    /// A record stored as is: a change on an earlier line of this batch is undone.
    fn unchanged(&mut self, id: i64) {
        self.changed.remove(&id);
    }

    /// A change of stored record `id`.
    fn add_changed(&mut self, id: i64, record: R, hash: String) {
        self.changed.insert(id, (record, hash));
    }

    fn finish(self) -> Sorted<R> {
        Sorted { new: self.new, changed: self.changed.into_iter().map(|(id, (r, h))| (id, r, h)).collect() }
    }
}

/// One kind's records of a batch to write: new ones, and changes of stored ones (by id), each with its digest.
struct Sorted<R> {
    new: Vec<(R, String)>,
    changed: Vec<(i64, R, String)>,
}

impl<R> Sorted<R> {
    /// The ids of the stored records that change.
    fn changed_ids(&self) -> HashSet<i64> {
        self.changed.iter().map(|(id, _, _)| *id).collect()
    }
}

/// What classifying a batch hands to its writes.
#[derive(Default)]
struct Classified {
    dossiers: Sorting<DossierCode, DossierRec>,
    receipts: Sorting<(String, i64), ReceiptRec>,
    feedback: Sorting<String, FeedbackRec>,
    /// Codes of the dossiers whose feedback changes.
    touched_dossiers: Vec<DossierCode>,
    /// The unit of each dossier this batch writes, by code (a later line may move a stored dossier).
    dossier_units: HashMap<DossierCode, UnitCode>,
    /// The lines found bad, with their errors.
    bad: Vec<(u64, Vec<LineError>)>,
}

/// Every dossier a batch names, by code: stored ones and new ones (with ids reserved, so that nothing has to be
/// read back after the writes), each with its id and its unit's id once the batch is written.
struct DossierIds {
    by_code: HashMap<DossierCode, (i64, Option<i64>)>,
    /// The ids reserved for the new dossiers, in their order.
    new: Vec<i64>,
}

impl DossierIds {
    fn id_of(&self, code: &str) -> Option<i64> {
        self.by_code.get(code).map(|e| e.0)
    }

    fn unit_of(&self, code: &str) -> Option<i64> {
        self.by_code.get(code).and_then(|e| e.1)
    }
}

impl<'a, C: ConnectionTrait> Importer<'a, C> {
    fn reject(&mut self, errors: Vec<LineError>) -> Vec<LineError> {
        self.report.rejected += 1;
        let room = MAX_KEPT_ERRORS.saturating_sub(self.report.errors.len());
        self.report.errors.extend(errors.iter().take(room).cloned());
        errors
    }

    /// Resolves and writes one batch. Returns the errors of lines found bad while resolving.
    async fn apply(&mut self, batch: Vec<Pending>) -> Result<Vec<(u64, Vec<LineError>)>, DbErr> {
        let mut named = self.lookup_named(&batch).await?;
        let Classified { dossiers, receipts, feedback, touched_dossiers, dossier_units: _, bad } =
            self.classify(batch, &mut named).await?;
        let (dossiers, receipts, feedback) = (dossiers.finish(), receipts.finish(), feedback.finish());
        // The dossiers that changed feedback named before this batch: it may now name another one, or none.
        let linked_before = linked_dossiers(self.conn, &feedback.changed_ids()).await?;
        self.collect_changed_units(&named, &dossiers, &receipts, &feedback);
        let ids = self.dossier_ids(&named, &dossiers, &receipts).await?;
        let rewritten: Vec<i64> = dossiers.changed.iter().map(|(id, _, _)| *id).collect();
        self.write_batch_dossiers(dossiers, &ids, &rewritten).await?;
        let paid_dossiers = self.write_receipts(receipts, &named, &ids, &rewritten).await?;
        self.write_feedback(feedback, &named, &ids).await?;
        // A rewritten dossier keeps its stored negative feedback: its `settled_at` is derived in SQL with it.
        let mut touched: HashSet<i64> = touched_dossiers.iter().filter_map(|c| ids.id_of(c)).collect();
        touched.extend(&rewritten);
        touched.extend(linked_before);
        let touched: Vec<i64> = touched.into_iter().collect();
        refresh_negative_feedback(self.conn, &touched).await?;
        // The summary months of every stored dossier this batch changed, as they are now.
        let new_set: HashSet<i64> = ids.new.iter().copied().collect();
        let stored: Vec<i64> =
            touched.iter().chain(&paid_dossiers).filter(|id| !new_set.contains(id)).copied().collect();
        self.dirty.add_stored(self.conn, &stored).await?;
        Ok(bad)
    }

    /// Looks up the stored dossiers, receipts and feedback that `batch` names.
    async fn lookup_named(&self, batch: &[Pending]) -> Result<Named, DbErr> {
        let mut dossier_codes: HashSet<DossierCode> = HashSet::new();
        let mut feedback_codes: HashSet<String> = HashSet::new();
        let mut receipt_keys: HashSet<(String, i64)> = HashSet::new();
        for p in batch {
            match &p.record {
                Record::Dossier(d) => {
                    dossier_codes.insert(d.code.clone());
                }
                Record::Receipt(r) => {
                    dossier_codes.insert(r.dossier.clone());
                    receipt_keys.insert((r.series.clone(), r.number));
                }
                Record::Feedback(f) => {
                    feedback_codes.insert(f.code.clone());
                    if let Some(d) = &f.dossier {
                        dossier_codes.insert(d.clone());
                    }
                    if let Some(r) = &f.repeat_of {
                        feedback_codes.insert(r.clone());
                    }
                }
                _ => {}
            }
        }
        let dossier_codes: HashSet<&str> = dossier_codes.iter().map(DossierCode::as_str).collect();
        let feedback_codes: HashSet<&str> = feedback_codes.iter().map(String::as_str).collect();
        let receipt_keys: HashSet<(&str, i64)> = receipt_keys.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        let dossiers = self.stored_dossiers(&dossier_codes).await?;
        let feedbacks = self.stored_feedback(&feedback_codes).await?;
        let receipts = self.stored_receipts(&receipt_keys).await?;
        Ok(Named { dossiers, feedbacks, receipts })
    }

    /// Checks each line's references; writes the reference data (units, holidays, sectors, procedures) at once
    /// and sorts the dossiers, receipts and feedback into new and changed for the writes that follow.
    async fn classify(&mut self, batch: Vec<Pending>, named: &mut Named) -> Result<Classified, DbErr> {
        let mut out = Classified::default();
        for Pending { line, record, hash } in batch {
            let mut faults = LineFaults { line, key: record.key(), errors: Vec::new() };
            match record {
                Record::Unit(u) => self.write_unit(u, hash, &mut faults).await?,
                Record::Holiday(h) => self.write_holiday(h).await?,
                Record::Sector(s) => self.write_sector(s, hash).await?,
                Record::Procedure(p) => self.write_procedure(p, hash, &mut faults).await?,
                Record::Dossier(d) => self.classify_dossier(d, hash, &mut faults, named, &mut out),
                Record::Receipt(r) => self.classify_receipt(r, hash, &mut faults, named, &mut out),
                Record::Feedback(f) => self.classify_feedback(f, hash, &mut faults, named, &mut out),
            }
            if !faults.is_empty() {
                let errs = self.reject(faults.errors);
                out.bad.push((line, errs));
            }
        }
        Ok(out)
    }

    /// Writes a unit whose parent and successor are known and make no cycle, unless it is stored as is.
    async fn write_unit(&mut self, u: UnitRec, hash: String, faults: &mut LineFaults) -> Result<(), DbErr> {
        for (field, r) in [("parent", &u.parent), ("successor", &u.successor)] {
            if let Some(c) = r
                && !self.refs.units.contains_key(c)
            {
                faults.missing(field, "unit", c);
            }
        }
        if !faults.is_empty() {
            return Ok(());
        }
        let previous = self.refs.units.get(&u.code).cloned();
        self.refs.units.insert(
            u.code.clone(),
            UnitRef {
                id: previous.as_ref().map_or(0, |p| p.id),
                parent: u.parent.clone(),
                successor: u.successor.clone(),
                valid_to: u.valid_to,
                hash: hash.clone(),
            },
        );
        let cyc_parent = self.refs.has_cycle(&u.code, |x| x.parent.as_ref());
        let cyc_successor = self.refs.has_cycle(&u.code, |x| x.successor.as_ref());
        if cyc_parent || cyc_successor {
            match previous {
                Some(p) => self.refs.units.insert(u.code.clone(), p),
                None => self.refs.units.remove(&u.code),
            };
            let field = if cyc_parent { "parent" } else { "successor" };
            faults.add(field, format!("the {field} chain makes a cycle"));
        } else if previous.as_ref().is_some_and(|p| p.hash == hash) {
            self.report.unchanged += 1;
        } else {
            let mut model = unit_model(&(&u).into(), hash);
            let id = match previous {
                Some(p) => {
                    model.id = Set(p.id);
                    model.update(self.conn).await?.id
                }
                None => model.insert(self.conn).await?.id,
            };
            if let Some(r) = self.refs.units.get_mut(&u.code) {
                r.id = id;
            }
            self.refs.unit_codes.insert(id, u.code.clone());
            self.touched.insert(db::REFERENCE_DATA);
            self.units_changed = true;
            self.report.written += 1;
        }
        Ok(())
    }

    /// Writes a holiday, unless it is stored as is.
    async fn write_holiday(&mut self, h: HolidayRec) -> Result<(), DbErr> {
        let model = entity::holiday::ActiveModel { date: Set(h.date), name: Set(h.name.clone()) };
        match entity::holiday::Entity::find_by_id(h.date).one(self.conn).await? {
            Some(old) if old.name == h.name => self.report.unchanged += 1,
            Some(_) => {
                model.update(self.conn).await?;
                self.touched.insert(db::REFERENCE_DATA);
                self.report.written += 1;
            }
            None => {
                model.insert(self.conn).await?;
                self.touched.insert(db::REFERENCE_DATA);
                self.report.written += 1;
            }
        }
        Ok(())
    }

    /// Writes a sector, unless it is stored as is.
    async fn write_sector(&mut self, s: SectorRec, hash: String) -> Result<(), DbErr> {
        let existing = entity::sector::Entity::find()
            .filter(entity::sector::Column::Code.eq(&s.code))
            .one(self.conn)
            .await?;
        match existing {
            Some(old) if old.content_hash == hash => self.report.unchanged += 1,
            Some(old) => {
                let mut m = sector_model(&(&s).into(), hash);
                m.id = Set(old.id);
                m.update(self.conn).await?;
                self.touched.insert(db::REFERENCE_DATA);
                self.report.written += 1;
            }
            None => {
                let id = sector_model(&(&s).into(), hash).insert(self.conn).await?.id;
                self.refs.sectors.insert(s.code.clone(), id);
                self.touched.insert(db::REFERENCE_DATA);
                self.report.written += 1;
            }
        }
        Ok(())
    }

    /// Writes a procedure whose sector and authority are known, unless it is stored as is; a change of what the
    /// summary holds of it marks its dossiers' summary rows for the rebuild.
    async fn write_procedure(
        &mut self,
        p: ProcedureRec,
        hash: String,
        faults: &mut LineFaults,
    ) -> Result<(), DbErr> {
        let sector = self.refs.sectors.get(&p.sector).copied();
        let authority = self.refs.units.get(&p.authority).map(|u| u.id);
        if sector.is_none() {
            faults.missing("sector", "sector", &p.sector);
        }
        if authority.is_none() {
            faults.missing("authority", "unit", &p.authority);
        }
        let (Some(sector), Some(authority)) = (sector, authority) else { return Ok(()) };
        let existing = entity::procedure::Entity::find()
            .filter(entity::procedure::Column::Code.eq(p.code.as_str()))
            .one(self.conn)
            .await?;
        match existing {
            Some(old) if old.content_hash == hash => self.report.unchanged += 1,
            Some(old) => {
                // The summary holds these properties of a dossier's procedure.
                let summarised = |fee: i64, full: bool, paper: bool| (fee > 0, full, paper);
                if summarised(old.fee, old.online_level == OnlineLevel::Full, old.returns_paper_result)
                    != summarised(p.fee, p.online_level == OnlineLevel::Full, p.returns_paper_result)
                {
                    self.dirty.add_procedure(self.conn, old.id).await?;
                }
                let mut m = procedure_model(&(&p).into(), sector, authority, hash);
                m.id = Set(old.id);
                m.update(self.conn).await?;
                self.report.written += 1;
            }
            None => {
                let id = procedure_model(&(&p).into(), sector, authority, hash).insert(self.conn).await?.id;
                self.refs.procedures.insert(p.code.clone(), id);
                self.report.written += 1;
            }
        }
        Ok(())
    }

    /// Sorts a dossier whose procedure and unit are known into new, changed or unchanged.
    fn classify_dossier(
        &mut self,
        d: DossierRec,
        hash: String,
        faults: &mut LineFaults,
        named: &mut Named,
        out: &mut Classified,
    ) {
        if !self.refs.procedures.contains_key(&d.procedure) {
            faults.missing("procedure", "procedure", &d.procedure);
        }
        if !self.refs.units.contains_key(&d.unit) {
            faults.missing("unit", "unit", &d.unit);
        }
        if !faults.is_empty() {
            return;
        }
        out.dossier_units.insert(d.code.clone(), d.unit.clone());
        match named.dossiers.get(&d.code) {
            Some(Some(s)) if s.hash == hash => {
                out.dossiers.unchanged(s.id);
                self.report.unchanged += 1
            }
            Some(Some(s)) => {
                out.touched_dossiers.push(d.code.clone());
                out.dossiers.add_changed(s.id, d, hash);
                self.report.written += 1;
            }
            _ => {
                // New, or defined earlier in this batch: the later line replaces it whole.
                named.dossiers.insert(d.code.clone(), None);
                out.dossiers.add_new(d.code.clone(), d, hash);
                self.report.written += 1;
            }
        }
    }

    /// Sorts a receipt whose dossier is known into new, changed or unchanged.
    fn classify_receipt(
        &mut self,
        r: ReceiptRec,
        hash: String,
        faults: &mut LineFaults,
        named: &Named,
        out: &mut Classified,
    ) {
        if !named.dossiers.contains_key(&r.dossier) {
            faults.missing("dossier", "dossier", &r.dossier);
        }
        if !faults.is_empty() {
            return;
        }
        let k = (r.series.clone(), r.number);
        match named.receipts.get(&k).map(|(s, _)| s) {
            Some(s) if s.hash == hash => {
                out.receipts.unchanged(s.id);
                self.report.unchanged += 1
            }
            Some(s) => {
                out.receipts.add_changed(s.id, r, hash);
                self.report.written += 1;
            }
            None => {
                out.receipts.add_new(k, r, hash);
                self.report.written += 1;
            }
        }
    }

    /// Sorts a feedback whose unit, dossier and repeated feedback are known, and whose dossier lies in its unit's
    /// scope, into new, changed or unchanged.
    fn classify_feedback(
        &mut self,
        f: FeedbackRec,
        hash: String,
        faults: &mut LineFaults,
        named: &mut Named,
        out: &mut Classified,
    ) {
        if !self.refs.units.contains_key(&f.unit) {
            faults.missing("unit", "unit", &f.unit);
        }
        if let Some(d) = &f.dossier
            && !named.dossiers.contains_key(d)
        {
            faults.missing("dossier", "dossier", d);
        }
        if let Some(r) = &f.repeat_of
            && !named.feedbacks.contains_key(r)
        {
            faults.missing("repeat_of", "feedback", r);
        }
        // A feedback concerns a dossier of its unit's scope: its unit, or a unit above it (or that absorbed it) by
        // the time the feedback was received. Otherwise its unit's staff would see a dossier of another scope.
        if let Some(d) = &f.dossier
            && faults.is_empty()
            && self.refs.units.contains_key(&f.unit)
        {
            let unit = out.dossier_units.get(d).map(UnitCode::as_str).or_else(|| {
                named.dossiers.get(d).cloned().flatten().and_then(|s| self.refs.code_of(s.unit_id))
            });
            if let Some(unit) = unit
                && !self.refs.covers(&f.unit, unit, to_micros(f.received_at))
            {
                faults.add(
                    "dossier",
                    format!(
                        "the dossier's unit `{unit}` is outside the scope of unit `{}` when the feedback was \
                         received",
                        f.unit
                    ),
                );
            }
        }
        if !faults.is_empty() {
            return;
        }
        if let Some(d) = &f.dossier {
            out.touched_dossiers.push(d.clone());
        }
        match named.feedbacks.get(&f.code) {
            Some(Some(s)) if s.hash == hash => {
                out.feedback.unchanged(s.id);
                self.report.unchanged += 1
            }
            Some(Some(s)) => {
                if let Some(d) = &f.dossier {
                    out.touched_dossiers.push(d.clone());
                }
                out.feedback.add_changed(s.id, f, hash);
                self.report.written += 1;
            }
            _ => {
                named.feedbacks.insert(f.code.clone(), None);
                out.feedback.add_new(f.code.clone(), f, hash);
                self.report.written += 1;
            }
        }
    }

    /// Collects the units whose records change (their change counters are bumped before commit): before the writes (a record may move to another unit) and
    /// after (a receipt's unit is its dossier's: see [`Self::dossier_ids`]).
    fn collect_changed_units(
        &mut self,
        named: &Named,
        dossiers: &Sorted<DossierRec>,
        receipts: &Sorted<ReceiptRec>,
        feedback: &Sorted<FeedbackRec>,
    ) {
        let (changed_d, changed_f) = (dossiers.changed_ids(), feedback.changed_ids());
        let changed_r = receipts.changed_ids();
        let before = named.dossiers.values().flatten().filter(|s| changed_d.contains(&s.id));
        let before = before.chain(named.feedbacks.values().flatten().filter(|s| changed_f.contains(&s.id)));
        let before =
            before.chain(named.receipts.values().map(|(s, _)| s).filter(|s| changed_r.contains(&s.id)));
        self.touched.extend(before.map(|s| s.unit_id));
        for (d, _) in &dossiers.new {
            self.touched.extend(self.refs.units.get(&d.unit).map(|u| u.id));
        }
        for (_, d, _) in &dossiers.changed {
            self.touched.extend(self.refs.units.get(&d.unit).map(|u| u.id));
        }
        for (f, _) in &feedback.new {
            self.touched.extend(self.refs.units.get(&f.unit).map(|u| u.id));
        }
        for (_, f, _) in &feedback.changed {
            self.touched.extend(self.refs.units.get(&f.unit).map(|u| u.id));
        }
    }

    /// Reserves ids for the new dossiers and maps every dossier the batch names to its id and unit; marks the
    /// units of the receipts' dossiers touched.
    async fn dossier_ids(
        &mut self,
        named: &Named,
        dossiers: &Sorted<DossierRec>,
        receipts: &Sorted<ReceiptRec>,
    ) -> Result<DossierIds, DbErr> {
        let new_ids = reserve_ids(self.conn, "dossier", dossiers.new.len()).await?;
        let mut dossier_ids: HashMap<DossierCode, (i64, Option<i64>)> = HashMap::new();
        for (code, s) in &named.dossiers {
            if let Some(s) = s {
                dossier_ids.insert(code.clone(), (s.id, Some(s.unit_id)));
            }
        }
        for ((d, _), id) in dossiers.new.iter().zip(&new_ids) {
            dossier_ids.insert(d.code.clone(), (*id, self.refs.units.get(&d.unit).map(|u| u.id)));
        }
        for (_, d, _) in &dossiers.changed {
            if let Some(e) = dossier_ids.get_mut(&d.code) {
                e.1 = self.refs.units.get(&d.unit).map(|u| u.id);
            }
        }
        let ids = DossierIds { by_code: dossier_ids, new: new_ids };
        for (r, _) in &receipts.new {
            self.touched.extend(ids.unit_of(&r.dossier));
        }
        for (_, r, _) in &receipts.changed {
            self.touched.extend(ids.unit_of(&r.dossier));
        }
        Ok(ids)
    }

    /// Marks the summary months of the dossiers for the rebuild and writes them (`rewritten`: the changed ones'
    /// ids).
    async fn write_batch_dossiers(
        &mut self,
        dossiers: Sorted<DossierRec>,
        ids: &DossierIds,
        rewritten: &[i64],
    ) -> Result<(), DbErr> {
        // The summary months of the rewritten dossiers as stored (a dossier may move) and of the new ones.
        self.dirty.add_stored(self.conn, rewritten).await?;
        for (d, _) in &dossiers.new {
            if let Some(u) = self.refs.units.get(&d.unit) {
                self.dirty.add(u.id, to_micros(d.received_at));
            }
        }
        self.write_dossiers(dossiers.new.into_iter().zip(ids.new.iter().copied()).collect(), dossiers.changed)
            .await
    }

    /// Writes the receipts and derives again the receipt columns of the dossiers whose receipts change; returns
    /// those dossiers.
    async fn write_receipts(
        &mut self,
        receipts: Sorted<ReceiptRec>,
        named: &Named,
        ids: &DossierIds,
        rewritten: &[i64],
    ) -> Result<Vec<i64>, DbErr> {
        let changed_r = receipts.changed_ids();
        let mut rows = Vec::new();
        for (r, hash) in &receipts.new {
            if let Some(id) = ids.id_of(&r.dossier) {
                rows.push(receipt_model(&r.into(), id, hash.clone()));
            }
        }
        insert_chunked(self.conn, rows, 18).await?;
        // The dossiers whose receipts change, before and after, get their receipt columns derived again.
        let mut paid_dossiers: Vec<i64> =
            receipts.new.iter().filter_map(|(r, _)| ids.id_of(&r.dossier)).collect();
        paid_dossiers.extend(receipts.changed.iter().filter_map(|(_, r, _)| ids.id_of(&r.dossier)));
        // A changed dossier may have moved to another unit.
        paid_dossiers.extend(rewritten.iter().copied());
        // … and the dossiers the changed receipts belonged to.
        paid_dossiers
            .extend(named.receipts.values().filter(|(s, _)| changed_r.contains(&s.id)).map(|(_, d)| *d));
        for (id, r, hash) in receipts.changed {
            if let Some(did) = ids.id_of(&r.dossier) {
                let mut m = receipt_model(&(&r).into(), did, hash);
                m.id = Set(id);
                m.version = sea_orm::ActiveValue::NotSet;
                m.update(self.conn).await?;
            }
        }
        refresh_receipts(self.conn, &paid_dossiers).await?;
        Ok(paid_dossiers)
    }

    /// Writes the feedback, with ids reserved like the dossiers'. A repeat names feedback stored or defined on an
    /// earlier line; when that line's record sits later in this batch's insert order (a code defined twice), the
    /// link is set after the insert.
    async fn write_feedback(
        &mut self,
        feedback: Sorted<FeedbackRec>,
        named: &Named,
        ids: &DossierIds,
    ) -> Result<(), DbErr> {
        let new_fb_ids = reserve_ids(self.conn, "feedback", feedback.new.len()).await?;
        let mut fb_ids: HashMap<&str, (i64, usize)> = HashMap::new();
        for (code, s) in &named.feedbacks {
            if let Some(s) = s {
                fb_ids.insert(code.as_str(), (s.id, 0));
            }
        }
        for (i, ((f, _), id)) in feedback.new.iter().zip(&new_fb_ids).enumerate() {
            fb_ids.insert(f.code.as_str(), (*id, i + 1));
        }
        let fb_id = |code: &str| fb_ids.get(code).map(|e| e.0);
        let mut rows = Vec::new();
        let mut late_links = Vec::new();
        for (i, ((f, hash), id)) in feedback.new.iter().zip(&new_fb_ids).enumerate() {
            let Some(uid) = self.refs.units.get(&f.unit).map(|u| u.id) else { continue };
            let repeat = f.repeat_of.as_deref().and_then(|c| fb_ids.get(c).copied());
            let repeat_now = repeat.filter(|&(_, pos)| pos <= i).map(|(rid, _)| rid);
            if let (Some((rid, _)), None) = (repeat, repeat_now) {
                late_links.push((*id, rid));
            }
            let dossier = f.dossier.as_deref().and_then(|c| ids.id_of(c));
            let mut m = feedback_model(&f.into(), uid, dossier, repeat_now, self.vault, hash.clone());
            m.id = Set(*id);
            rows.push(m);
        }
        insert_chunked(self.conn, rows, 18).await?;
        for (id, rep) in late_links {
            entity::feedback::Entity::update_many()
                .col_expr(entity::feedback::Column::RepeatOfId, sea_orm::sea_query::Expr::value(rep))
                .filter(entity::feedback::Column::Id.eq(id))
                .exec(self.conn)
                .await?;
        }
        for (id, f, hash) in feedback.changed {
            if let Some(uid) = self.refs.units.get(&f.unit).map(|u| u.id) {
                let mut m = feedback_model(
                    &(&f).into(),
                    uid,
                    f.dossier.as_deref().and_then(|c| ids.id_of(c)),
                    f.repeat_of.as_deref().and_then(fb_id),
                    self.vault,
                    hash,
                );
                m.id = Set(id);
                m.version = sea_orm::ActiveValue::NotSet;
                m.update(self.conn).await?;
            }
        }
        Ok(())
    }

    async fn write_dossiers(
        &mut self,
        new: Vec<((DossierRec, String), i64)>,
        changed: Vec<(i64, DossierRec, String)>,
    ) -> Result<(), DbErr> {
        let mut rows = Vec::with_capacity(new.len());
        let mut children = DossierChildren::new();
        for ((d, hash), id) in &new {
            let (Some(&pid), Some(uid)) =
                (self.refs.procedures.get(&d.procedure), self.refs.units.get(&d.unit).map(|u| u.id))
            else {
                continue;
            };
            let row = DossierRow::from(d);
            let mut m = dossier_model(&row, pid, uid, self.vault, hash.clone());
            m.id = Set(*id);
            rows.push(m);
            children.add(*id, &row);
        }
        insert_chunked(self.conn, rows, 38).await?;
        for (id, d, hash) in &changed {
            let (Some(&pid), Some(uid)) =
                (self.refs.procedures.get(&d.procedure), self.refs.units.get(&d.unit).map(|u| u.id))
            else {
                continue;
            };
            let row = DossierRow::from(d);
            let mut m = dossier_model(&row, pid, uid, self.vault, hash.clone());
            m.id = Set(*id);
            m.version = sea_orm::ActiveValue::NotSet;
            m.negative_feedback_at = sea_orm::ActiveValue::NotSet;
            m.update(self.conn).await?;
            delete_children(self.conn, *id).await?;
            children.add(*id, &row);
        }
        children.insert(self.conn).await
    }

    async fn stored_dossiers(
        &self,
        codes: &HashSet<&str>,
    ) -> Result<HashMap<DossierCode, Option<Stored>>, DbErr> {
        let mut out = HashMap::new();
        let codes: Vec<&str> = codes.iter().copied().collect();
        for chunk in codes.chunks(900) {
            let rows = entity::dossier::Entity::find()
                .select_only()
                .columns([entity::dossier::Column::Code, entity::dossier::Column::ContentHash])
                .columns([entity::dossier::Column::Id, entity::dossier::Column::UnitId])
                .filter(entity::dossier::Column::Code.is_in(chunk.iter().copied()))
                .into_tuple::<(DossierCode, String, i64, i64)>()
                .all(self.conn)
                .await?;
            for (code, hash, id, unit_id) in rows {
                out.insert(code, Some(Stored { id, hash, unit_id }));
            }
        }
        Ok(out)
    }

    async fn stored_feedback(&self, codes: &HashSet<&str>) -> Result<HashMap<String, Option<Stored>>, DbErr> {
        let mut out = HashMap::new();
        let codes: Vec<&str> = codes.iter().copied().collect();
        for chunk in codes.chunks(900) {
            let rows = entity::feedback::Entity::find()
                .select_only()
                .columns([entity::feedback::Column::Code, entity::feedback::Column::ContentHash])
                .columns([entity::feedback::Column::Id, entity::feedback::Column::UnitId])
                .filter(entity::feedback::Column::Code.is_in(chunk.iter().copied()))
                .into_tuple::<(String, String, i64, i64)>()
                .all(self.conn)
                .await?;
            for (code, hash, id, unit_id) in rows {
                out.insert(code, Some(Stored { id, hash, unit_id }));
            }
        }
        Ok(out)
    }

    /// The stored receipts with these keys, each with the id of its dossier.
    async fn stored_receipts(
        &self,
        keys: &HashSet<(&str, i64)>,
    ) -> Result<HashMap<(String, i64), (Stored, i64)>, DbErr> {
        use sea_orm::sea_query::{Expr, ExprTrait};
        let mut out = HashMap::new();
        let keys: Vec<(&str, i64)> = keys.iter().copied().collect();
        let backend = self.conn.get_database_backend();
        let mut found: Vec<(String, String, i64, i64, i64)> = Vec::new();
        if backend == sea_orm::DbBackend::Postgres {
            // A join with the keys as two arrays: a list of pairs is planned as one index probe per pair, which on
            // a batch of receipts took longer to plan than to run.
            if !keys.is_empty() {
                let sql = "SELECT r.series, r.content_hash, r.number, r.id, r.dossier_id FROM receipt r \
                           JOIN unnest($1::text[], $2::bigint[]) AS k(series, number) \
                           ON r.series = k.series AND r.number = k.number";
                let values = vec![text_array(keys.iter().map(|k| k.0)), int_array(keys.iter().map(|k| k.1))];
                for row in
                    self.conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?
                {
                    found.push(row.try_get_many_by_index()?);
                }
            }
        } else {
            for chunk in keys.chunks(900) {
                found.extend(
                    entity::receipt::Entity::find()
                        .select_only()
                        .columns([entity::receipt::Column::Series, entity::receipt::Column::ContentHash])
                        .columns([entity::receipt::Column::Number, entity::receipt::Column::Id])
                        .column(entity::receipt::Column::DossierId)
                        .filter(
                            Expr::tuple([
                                Expr::col(entity::receipt::Column::Series),
                                Expr::col(entity::receipt::Column::Number),
                            ])
                            .in_tuples(chunk.iter().map(|&(s, n)| (s.to_owned(), n))),
                        )
                        .into_tuple::<(String, String, i64, i64, i64)>()
                        .all(self.conn)
                        .await?,
                );
            }
        }
        for (series, hash, number, id, dossier_id) in found {
            out.insert((series, number), (Stored { id, hash, unit_id: 0 }, dossier_id));
        }
        // The unit a stored receipt belongs to is its dossier's.
        let ids: Vec<i64> = out.values().map(|(_, d)| *d).collect::<HashSet<_>>().into_iter().collect();
        let mut unit_of: HashMap<i64, i64> = HashMap::new();
        for chunk in ids.chunks(900) {
            let rows = entity::dossier::Entity::find()
                .select_only()
                .columns([entity::dossier::Column::Id, entity::dossier::Column::UnitId])
                .filter(entity::dossier::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple::<(i64, i64)>()
                .all(self.conn)
                .await?;
            unit_of.extend(rows);
        }
        for (s, dossier_id) in out.values_mut() {
            s.unit_id = unit_of.get(dossier_id).copied().unwrap_or_default();
        }
        Ok(out)
    }
}

/// Where rejected lines go in `skip_invalid` mode: one JSON object a line with the line number, key, errors and
/// the original text.
pub type Rejects<'a> = Option<&'a mut (dyn AsyncWrite + Unpin + Send)>;

/// Lines written from which an import refreshes PostgreSQL's statistics once it committed.
const ANALYZE_AFTER: u64 = 10_000;

/// The dossiers these feedback rows name.
async fn linked_dossiers(
    conn: &impl ConnectionTrait,
    feedback_ids: &HashSet<i64>,
) -> Result<Vec<i64>, DbErr> {
    let ids: Vec<i64> = feedback_ids.iter().copied().collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let list = crate::db::sql::id_list(chunk);
        let sql = format!("SELECT dossier_id FROM feedback WHERE id IN ({list}) AND dossier_id IS NOT NULL");
        for row in conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql)).await? {
            out.push(row.try_get_by_index::<i64>(0)?);
        }
    }
    Ok(out)
}

/// Imports JSON Lines from `input`.
pub async fn import<R>(
    conn: &DatabaseConnection,
    vault: &Vault,
    stamp: &Stamp,
    input: R,
    opts: ImportOptions,
    mut rejects: Rejects<'_>,
) -> Result<ImportReport, ImportError>
where
    R: AsyncBufRead + Unpin,
{
    let txn = conn.begin().await?;
    let result = import_batches(&txn, vault, input, opts, &mut rejects).await;
    // Roll back at once on a fault: a transaction merely dropped keeps its locks until its connection is reused.
    let (report, touched) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = txn.rollback().await;
            return Err(e);
        }
    };
    let report = settle(conn, txn, stamp, report, touched, opts).await?;
    if report.committed {
        db::freshness::acknowledge_writes(conn, None).await;
    }
    if let Some(w) = rejects.as_mut() {
        w.flush().await?;
    }
    Ok(report)
}

/// Reads, checks and writes `input` a batch at a time inside `txn`, then rebuilds the summary rows it changed;
/// returns the report and the units whose records were written.
async fn import_batches<R: AsyncBufRead + Unpin>(
    txn: &DatabaseTransaction,
    vault: &Vault,
    input: R,
    opts: ImportOptions,
    rejects: &mut Rejects<'_>,
) -> Result<(ImportReport, HashSet<i64>), ImportError> {
    hold_write_lock(txn).await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Every lookup of an import is answered by an index, but the planner's statistics describe the tables
        // as they were before this (long) transaction began, empty on a first import: without this it turns
        // to whole-table scans that grow with every batch.
        txn.execute_unprepared("SET LOCAL enable_seqscan = off").await?;
    }
    let refs = Refs::load(txn).await?;
    let mut imp = Importer {
        conn: txn,
        vault,
        refs,
        report: ImportReport::default(),
        touched: HashSet::new(),
        dirty: db::rollup::Dirty::default(),
        units_changed: false,
    };
    let keep_text = opts.skip_invalid && rejects.is_some();
    let bad_text = rejects.is_some();
    let mut reader =
        BatchReader { input, buf: Vec::with_capacity(4096), line_no: 0, keep_text, bad_text, vault };
    let mut next = reader.read(opts.batch_size).await?;
    loop {
        let ReadBatch { batch, parse_errors, mut texts, eof } = next;
        for (line, errors, text) in parse_errors {
            imp.report.lines += 1;
            let errors = imp.reject(errors);
            write_reject(rejects, line, &errors, &text).await?;
        }
        if batch.is_empty() && eof {
            break;
        }
        imp.report.lines += batch.len() as u64;
        // The next batch is read and parsed while this one's statements run on the server.
        let following =
            async { if eof { Ok(ReadBatch::default()) } else { reader.read(opts.batch_size).await } };
        let (applied, following) = tokio::join!(imp.apply(batch), following);
        for (line, errors) in applied? {
            let text = texts.remove(&line).unwrap_or_default();
            write_reject(rejects, line, &errors, &text).await?;
        }
        next = following?;
        if eof {
            break;
        }
    }
    std::mem::take(&mut imp.dirty).rebuild(txn).await?;
    if imp.units_changed {
        db::groups::regroup(txn, &db::load_units(txn).await?).await?;
    }
    let touched = std::mem::take(&mut imp.touched);
    Ok((imp.report, touched))
}

/// Commits the import, or rolls it back when it has bad lines that may not be skipped, recording it in the audit
/// trail either way; refreshes PostgreSQL's statistics after a large commit.
async fn settle(
    conn: &DatabaseConnection,
    txn: DatabaseTransaction,
    stamp: &Stamp,
    mut report: ImportReport,
    touched: HashSet<i64>,
    opts: ImportOptions,
) -> Result<ImportReport, ImportError> {
    // Every import is in the audit trail: a committed one in its own transaction, a refused one after it.
    let audit = |r: &ImportReport| {
        let mut e = stamp.record(now(), Outcome::Ok, None);
        e.detail = Some(format!(
            "lines {}, written {}, unchanged {}, rejected {}{}",
            r.lines,
            r.written,
            r.unchanged,
            r.rejected,
            if r.committed { "" } else { ", nothing written" }
        ));
        e
    };
    // A file without a single record (empty, or blank lines only) is most likely not the file meant.
    if report.lines == 0 {
        report.errors.push(LineError {
            line: 0,
            key: None,
            field: "-".into(),
            reason: "the input holds no record".into(),
        });
    }
    if (report.rejected > 0 && !opts.skip_invalid) || report.lines == 0 {
        txn.rollback().await?;
        report.written = 0;
        report.unchanged = 0;
        db::audit::insert(conn, &[audit(&report)]).await?;
    } else {
        db::mark_changed(&txn, touched).await?;
        report.committed = true;
        db::audit::insert(&txn, &[audit(&report)]).await?;
        txn.commit().await?;
        // The summary groups it made out of date are merged again before it returns (until then, and if this
        // fails, reports of those groups read their units' rows).
        if let Err(e) = db::groups::refresh(conn).await {
            tracing::warn!(error = %e, "merging the summary groups after the import failed");
        }
        // A large import leaves PostgreSQL's statistics describing the tables as they were (empty, on a first
        // import) until autovacuum comes by; the indicator queries planned on them meanwhile can take seconds.
        if report.written >= ANALYZE_AFTER && conn.get_database_backend() == sea_orm::DbBackend::Postgres {
            let analyze =
                "ANALYZE dossier, dossier_paid, dossier_rollup, procedure_rollup, receipt, feedback";
            if let Err(e) = conn.execute_unprepared(analyze).await {
                tracing::warn!(error = %e, "ANALYZE after the import failed");
            }
        }
    }
    Ok(report)
}

async fn write_reject(
    rejects: &mut Rejects<'_>,
    line: u64,
    errors: &[LineError],
    text: &str,
) -> std::io::Result<()> {
    let Some(w) = rejects.as_mut() else { return Ok(()) };
    let entry = serde_json::json!({
        "line": line,
        "key": errors.first().and_then(|e| e.key.clone()),
        "errors": errors.iter().map(|e| serde_json::json!({"field": e.field, "reason": e.reason})).collect::<Vec<_>>(),
        "text": text,
    });
    w.write_all(entry.to_string().as_bytes()).await?;
    w.write_all(b"\n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_refused_without_being_held() {
        let mut data = b"{\"a\":1}\r\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        data.extend_from_slice(b"\nlast");
        let mut r = tokio::io::BufReader::new(&data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), Some(false));
        assert_eq!(buf, b"{\"a\":1}");
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), Some(true));
        assert!(buf.is_empty());
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), Some(false));
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_file_of_bad_lines_is_held_a_batch_at_a_time() {
        let data = "not json\n".repeat(5_000);
        let vault = Vault::new("test");
        let input = tokio::io::BufReader::new(data.as_bytes());
        let mut reader = BatchReader {
            input,
            buf: Vec::new(),
            line_no: 0,
            keep_text: false,
            bad_text: false,
            vault: &vault,
        };
        let first = reader.read(100).await.unwrap();
        assert_eq!((first.batch.len(), first.parse_errors.len(), first.eof), (0, 100, false));
        assert!(
            first.parse_errors.iter().all(|(_, _, text)| text.is_empty()),
            "no text kept without a rejects file"
        );
    }
}
