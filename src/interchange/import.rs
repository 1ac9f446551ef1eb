//! Streaming import of JSON Lines (interchange.md).
//!
//! Lines are read one at a time (a line over 1 MiB is refused without being held), parsed and checked on
//! their own, then gathered into batches whose references are resolved against what is stored and what came
//! earlier in the file. Batches are written with multi-row statements inside one transaction for the whole
//! import: by default one bad line rolls everything back; with `skip_invalid` the good lines are kept and the
//! bad ones go to the rejects sink. Memory is bounded by the batch size and the reference tables (units,
//! sectors, procedures), not by the file.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Set, TransactionTrait,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use super::records::*;
use super::validate::{LineError, MAX_LINE_BYTES, parse_line};
use crate::db;
use crate::db::write::*;
use crate::pii::Vault;

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
    units: HashMap<String, UnitRef>,
    sectors: HashMap<String, i64>,
    procedures: HashMap<String, i64>,
}

#[derive(Clone)]
struct UnitRef {
    id: i64,
    parent: Option<String>,
    successor: Option<String>,
    hash: String,
}

impl Refs {
    async fn load(conn: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let units = entity::unit::Entity::find()
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
            .into_tuple::<(String, i64)>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        Ok(Refs { units, sectors, procedures })
    }

    /// Whether following `parent` (or `successor`) links from `code` comes back to it.
    fn has_cycle(&self, code: &str, next: impl Fn(&UnitRef) -> Option<&String>) -> bool {
        let mut seen = HashSet::new();
        let mut cur = self.units.get(code).and_then(&next);
        while let Some(c) = cur {
            if c == code || !seen.insert(c.clone()) {
                return c == code;
            }
            cur = self.units.get(c).and_then(&next);
        }
        false
    }
}

/// A stored row's id and content digest.
#[derive(Clone)]
struct Stored {
    id: i64,
    hash: String,
}

/// The importer's state across batches.
struct Importer<'a, C> {
    conn: &'a C,
    vault: &'a Vault,
    refs: Refs,
    report: ImportReport,
    /// Units whose records were written (and [`db::REFERENCE_DATA`]), for the change counters.
    touched: HashSet<i64>,
}

/// A line that passed its own checks, waiting for its batch.
struct Pending {
    line: u64,
    record: Record,
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
        let mut bad: Vec<(u64, Vec<LineError>)> = Vec::new();

        // Look up the stored dossiers, receipts and feedback that this batch names.
        let mut dossier_codes: HashSet<String> = HashSet::new();
        let mut feedback_codes: HashSet<String> = HashSet::new();
        let mut receipt_keys: HashSet<(String, i64)> = HashSet::new();
        for p in &batch {
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
        let dossier_codes: HashSet<&str> = dossier_codes.iter().map(String::as_str).collect();
        let feedback_codes: HashSet<&str> = feedback_codes.iter().map(String::as_str).collect();
        let receipt_keys: HashSet<(&str, i64)> = receipt_keys.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        let mut dossiers = self.stored_dossiers(&dossier_codes).await?;
        let mut feedbacks = self.stored_feedback(&feedback_codes).await?;
        let receipts = self.stored_receipts(&receipt_keys).await?;

        // Records of this batch by key, last one winning, in the order of first appearance.
        let mut new_dossiers: Vec<(DossierRec, String)> = Vec::new();
        let mut new_dossier_index: HashMap<String, usize> = HashMap::new();
        let mut changed_dossiers: Vec<(i64, DossierRec, String)> = Vec::new();
        let mut new_receipts: Vec<(ReceiptRec, String)> = Vec::new();
        let mut new_receipt_index: HashMap<(String, i64), usize> = HashMap::new();
        let mut changed_receipts: Vec<(i64, ReceiptRec, String)> = Vec::new();
        let mut new_feedback: Vec<(FeedbackRec, String)> = Vec::new();
        let mut new_feedback_index: HashMap<String, usize> = HashMap::new();
        let mut changed_feedback: Vec<(i64, FeedbackRec, String)> = Vec::new();
        let mut touched_dossiers: Vec<String> = Vec::new();

        for Pending { line, record } in batch {
            let key = record.key();
            let hash = content_hash(&record);
            let mut errs: Vec<LineError> = Vec::new();
            let mut missing = |field: &str, what: &str, code: &str| {
                errs.push(LineError {
                    line,
                    key: Some(key.clone()),
                    field: field.to_owned(),
                    reason: format!("{what} `{code}` is neither stored nor defined on an earlier line"),
                });
            };
            match record {
                Record::Unit(u) => {
                    for (field, r) in [("parent", &u.parent), ("successor", &u.successor)] {
                        if let Some(c) = r
                            && !self.refs.units.contains_key(c)
                        {
                            missing(field, "unit", c);
                        }
                    }
                    if errs.is_empty() {
                        let previous = self.refs.units.get(&u.code).cloned();
                        self.refs.units.insert(
                            u.code.clone(),
                            UnitRef {
                                id: previous.as_ref().map_or(0, |p| p.id),
                                parent: u.parent.clone(),
                                successor: u.successor.clone(),
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
                            errs.push(LineError {
                                line,
                                key: Some(key.clone()),
                                field: field.into(),
                                reason: format!("the {field} chain makes a cycle"),
                            });
                        } else if previous.as_ref().is_some_and(|p| p.hash == hash) {
                            self.report.unchanged += 1;
                        } else {
                            let mut model = unit_model(&u, hash);
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
                            self.touched.insert(db::REFERENCE_DATA);
                            self.report.written += 1;
                        }
                    }
                }
                Record::Holiday(h) => {
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
                }
                Record::Sector(s) => {
                    let existing = entity::sector::Entity::find()
                        .filter(entity::sector::Column::Code.eq(&s.code))
                        .one(self.conn)
                        .await?;
                    match existing {
                        Some(old) if old.content_hash == hash => self.report.unchanged += 1,
                        Some(old) => {
                            let mut m = sector_model(&s, hash);
                            m.id = Set(old.id);
                            m.update(self.conn).await?;
                            self.touched.insert(db::REFERENCE_DATA);
                            self.report.written += 1;
                        }
                        None => {
                            let id = sector_model(&s, hash).insert(self.conn).await?.id;
                            self.refs.sectors.insert(s.code.clone(), id);
                            self.touched.insert(db::REFERENCE_DATA);
                            self.report.written += 1;
                        }
                    }
                }
                Record::Procedure(p) => {
                    let sector = self.refs.sectors.get(&p.sector).copied();
                    let authority = self.refs.units.get(&p.authority).map(|u| u.id);
                    if sector.is_none() {
                        missing("sector", "sector", &p.sector);
                    }
                    if authority.is_none() {
                        missing("authority", "unit", &p.authority);
                    }
                    if let (Some(sector), Some(authority)) = (sector, authority) {
                        let existing = entity::procedure::Entity::find()
                            .filter(entity::procedure::Column::Code.eq(&p.code))
                            .one(self.conn)
                            .await?;
                        match existing {
                            Some(old) if old.content_hash == hash => self.report.unchanged += 1,
                            Some(old) => {
                                let mut m = procedure_model(&p, sector, authority, hash);
                                m.id = Set(old.id);
                                m.update(self.conn).await?;
                                self.report.written += 1;
                            }
                            None => {
                                let id =
                                    procedure_model(&p, sector, authority, hash).insert(self.conn).await?.id;
                                self.refs.procedures.insert(p.code.clone(), id);
                                self.report.written += 1;
                            }
                        }
                    }
                }
                Record::Dossier(d) => {
                    if !self.refs.procedures.contains_key(&d.procedure) {
                        missing("procedure", "procedure", &d.procedure);
                    }
                    if !self.refs.units.contains_key(&d.unit) {
                        missing("unit", "unit", &d.unit);
                    }
                    if errs.is_empty() {
                        match dossiers.get(&d.code) {
                            Some(Some(s)) if s.hash == hash => self.report.unchanged += 1,
                            Some(Some(s)) => {
                                touched_dossiers.push(d.code.clone());
                                changed_dossiers.push((s.id, d, hash));
                                self.report.written += 1;
                            }
                            _ => {
                                // New, or defined earlier in this batch: the later line replaces it whole.
                                dossiers.insert(d.code.clone(), None);
                                match new_dossier_index.get(&d.code) {
                                    Some(&i) => new_dossiers[i] = (d, hash),
                                    None => {
                                        new_dossier_index.insert(d.code.clone(), new_dossiers.len());
                                        new_dossiers.push((d, hash));
                                    }
                                }
                                self.report.written += 1;
                            }
                        }
                    }
                }
                Record::Receipt(r) => {
                    if !dossiers.contains_key(&r.dossier) {
                        missing("dossier", "dossier", &r.dossier);
                    }
                    if errs.is_empty() {
                        let k = (r.series.clone(), r.number);
                        match receipts.get(&k) {
                            Some(s) if s.hash == hash => self.report.unchanged += 1,
                            Some(s) => {
                                changed_receipts.push((s.id, r, hash));
                                self.report.written += 1;
                            }
                            None => {
                                match new_receipt_index.get(&k) {
                                    Some(&i) => new_receipts[i] = (r, hash),
                                    None => {
                                        new_receipt_index.insert(k, new_receipts.len());
                                        new_receipts.push((r, hash));
                                    }
                                }
                                self.report.written += 1;
                            }
                        }
                    }
                }
                Record::Feedback(f) => {
                    if !self.refs.units.contains_key(&f.unit) {
                        missing("unit", "unit", &f.unit);
                    }
                    if let Some(d) = &f.dossier
                        && !dossiers.contains_key(d)
                    {
                        missing("dossier", "dossier", d);
                    }
                    if let Some(r) = &f.repeat_of
                        && !feedbacks.contains_key(r)
                    {
                        missing("repeat_of", "feedback", r);
                    }
                    if errs.is_empty() {
                        if let Some(d) = &f.dossier {
                            touched_dossiers.push(d.clone());
                        }
                        match feedbacks.get(&f.code) {
                            Some(Some(s)) if s.hash == hash => self.report.unchanged += 1,
                            Some(Some(s)) => {
                                if let Some(d) = &f.dossier {
                                    touched_dossiers.push(d.clone());
                                }
                                changed_feedback.push((s.id, f, hash));
                                self.report.written += 1;
                            }
                            _ => {
                                feedbacks.insert(f.code.clone(), None);
                                match new_feedback_index.get(&f.code) {
                                    Some(&i) => new_feedback[i] = (f, hash),
                                    None => {
                                        new_feedback_index.insert(f.code.clone(), new_feedback.len());
                                        new_feedback.push((f, hash));
                                    }
                                }
                                self.report.written += 1;
                            }
                        }
                    }
                }
            }
            if !errs.is_empty() {
                let errs = self.reject(errs);
                bad.push((line, errs));
            }
        }

        // The units whose records change: before the writes (a record may move to another unit) and after.
        let ids = |v: Vec<i64>| v.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let changed_d: Vec<i64> = changed_dossiers.iter().map(|(id, _, _)| *id).collect();
        let changed_f: Vec<i64> = changed_feedback.iter().map(|(id, _, _)| *id).collect();
        let changed_r: Vec<i64> = changed_receipts.iter().map(|(id, _, _)| *id).collect();
        if !changed_d.is_empty() {
            self.touch_sql(format!("SELECT unit_id FROM dossier WHERE id IN ({})", ids(changed_d))).await?;
        }
        if !changed_f.is_empty() {
            self.touch_sql(format!("SELECT unit_id FROM feedback WHERE id IN ({})", ids(changed_f))).await?;
        }
        if !changed_r.is_empty() {
            self.touch_sql(format!(
                "SELECT d.unit_id FROM receipt r JOIN dossier d ON d.id = r.dossier_id WHERE r.id IN ({})",
                ids(changed_r)
            ))
            .await?;
        }
        for (d, _) in &new_dossiers {
            self.touched.extend(self.refs.units.get(&d.unit).map(|u| u.id));
        }
        for (_, d, _) in &changed_dossiers {
            self.touched.extend(self.refs.units.get(&d.unit).map(|u| u.id));
        }
        for (f, _) in &new_feedback {
            self.touched.extend(self.refs.units.get(&f.unit).map(|u| u.id));
        }
        for (_, f, _) in &changed_feedback {
            self.touched.extend(self.refs.units.get(&f.unit).map(|u| u.id));
        }
        let receipt_dossiers: HashSet<&str> = new_receipts
            .iter()
            .map(|(r, _)| r.dossier.as_str())
            .chain(changed_receipts.iter().map(|(_, r, _)| r.dossier.as_str()))
            .collect();

        self.write_dossiers(new_dossiers, changed_dossiers).await?;
        let codes: HashSet<&str> =
            dossier_codes.iter().copied().chain(touched_dossiers.iter().map(String::as_str)).collect();
        let dossier_ids = self.stored_dossiers(&codes).await?;
        let id_of = |code: &str| dossier_ids.get(code).and_then(|s| s.as_ref().map(|s| s.id));
        let receipt_dossier_ids: Vec<i64> = receipt_dossiers.iter().filter_map(|c| id_of(c)).collect();
        if !receipt_dossier_ids.is_empty() {
            self.touch_sql(format!("SELECT unit_id FROM dossier WHERE id IN ({})", ids(receipt_dossier_ids)))
                .await?;
        }

        let mut rows = Vec::new();
        for (r, hash) in &new_receipts {
            if let Some(id) = id_of(&r.dossier) {
                rows.push(receipt_model(r, id, hash.clone()));
            }
        }
        insert_chunked(self.conn, rows, 18).await?;
        for (id, r, hash) in changed_receipts {
            if let Some(did) = id_of(&r.dossier) {
                let mut m = receipt_model(&r, did, hash);
                m.id = Set(id);
                m.version = sea_orm::ActiveValue::NotSet;
                m.update(self.conn).await?;
            }
        }

        // Feedback: insert without repeat_of first, so that a repeat may name feedback of the same batch.
        let mut rows = Vec::new();
        for (f, hash) in &new_feedback {
            if let Some(uid) = self.refs.units.get(&f.unit).map(|u| u.id) {
                rows.push(feedback_model(f, uid, f.dossier.as_deref().and_then(id_of), None, hash.clone()));
            }
        }
        insert_chunked(self.conn, rows, 18).await?;
        let fb_codes: HashSet<&str> = new_feedback
            .iter()
            .flat_map(|(f, _)| std::iter::once(f.code.as_str()).chain(f.repeat_of.as_deref()))
            .chain(changed_feedback.iter().filter_map(|(_, f, _)| f.repeat_of.as_deref()))
            .collect();
        let fb_ids = self.stored_feedback(&fb_codes).await?;
        let fb_id = |code: &str| fb_ids.get(code).and_then(|s| s.as_ref().map(|s| s.id));
        for (f, _) in &new_feedback {
            if let (Some(id), Some(rep)) = (fb_id(&f.code), f.repeat_of.as_deref().and_then(fb_id)) {
                entity::feedback::Entity::update_many()
                    .col_expr(entity::feedback::Column::RepeatOfId, sea_orm::sea_query::Expr::value(rep))
                    .filter(entity::feedback::Column::Id.eq(id))
                    .exec(self.conn)
                    .await?;
            }
        }
        for (id, f, hash) in changed_feedback {
            if let Some(uid) = self.refs.units.get(&f.unit).map(|u| u.id) {
                let mut m = feedback_model(
                    &f,
                    uid,
                    f.dossier.as_deref().and_then(id_of),
                    f.repeat_of.as_deref().and_then(fb_id),
                    hash,
                );
                m.id = Set(id);
                m.version = sea_orm::ActiveValue::NotSet;
                m.update(self.conn).await?;
            }
        }
        let touched: Vec<i64> =
            touched_dossiers.iter().filter_map(|c| id_of(c)).collect::<HashSet<_>>().into_iter().collect();
        refresh_negative_feedback(self.conn, &touched).await?;
        Ok(bad)
    }

    /// Adds the unit ids a query returns to the touched set.
    async fn touch_sql(&mut self, sql: String) -> Result<(), DbErr> {
        let rows = self
            .conn
            .query_all_raw(sea_orm::Statement::from_string(self.conn.get_database_backend(), sql))
            .await?;
        for r in rows {
            self.touched.insert(r.try_get_by_index::<i64>(0)?);
        }
        Ok(())
    }

    async fn write_dossiers(
        &mut self,
        new: Vec<(DossierRec, String)>,
        changed: Vec<(i64, DossierRec, String)>,
    ) -> Result<(), DbErr> {
        let mut rows = Vec::with_capacity(new.len());
        for (d, hash) in &new {
            let (Some(&pid), Some(uid)) =
                (self.refs.procedures.get(&d.procedure), self.refs.units.get(&d.unit).map(|u| u.id))
            else {
                continue;
            };
            rows.push(dossier_model(d, pid, uid, self.vault, hash.clone()));
        }
        insert_chunked(self.conn, rows, 37).await?;
        let codes: HashSet<&str> = new.iter().map(|(d, _)| d.code.as_str()).collect();
        let ids = self.stored_dossiers(&codes).await?;
        let mut children = DossierChildren::new();
        for (d, _) in &new {
            if let Some(Some(s)) = ids.get(&d.code) {
                children.add(s.id, d);
            }
        }
        for (id, d, hash) in &changed {
            let (Some(&pid), Some(uid)) =
                (self.refs.procedures.get(&d.procedure), self.refs.units.get(&d.unit).map(|u| u.id))
            else {
                continue;
            };
            let mut m = dossier_model(d, pid, uid, self.vault, hash.clone());
            m.id = Set(*id);
            m.version = sea_orm::ActiveValue::NotSet;
            m.negative_feedback_at = sea_orm::ActiveValue::NotSet;
            m.update(self.conn).await?;
            delete_children(self.conn, *id).await?;
            children.add(*id, d);
        }
        children.insert(self.conn).await
    }

    async fn stored_dossiers(&self, codes: &HashSet<&str>) -> Result<HashMap<String, Option<Stored>>, DbErr> {
        let mut out = HashMap::new();
        let codes: Vec<&str> = codes.iter().copied().collect();
        for chunk in codes.chunks(900) {
            let rows = entity::dossier::Entity::find()
                .select_only()
                .columns([entity::dossier::Column::Code, entity::dossier::Column::ContentHash])
                .column(entity::dossier::Column::Id)
                .filter(entity::dossier::Column::Code.is_in(chunk.iter().copied()))
                .into_tuple::<(String, String, i64)>()
                .all(self.conn)
                .await?;
            for (code, hash, id) in rows {
                out.insert(code, Some(Stored { id, hash }));
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
                .column(entity::feedback::Column::Id)
                .filter(entity::feedback::Column::Code.is_in(chunk.iter().copied()))
                .into_tuple::<(String, String, i64)>()
                .all(self.conn)
                .await?;
            for (code, hash, id) in rows {
                out.insert(code, Some(Stored { id, hash }));
            }
        }
        Ok(out)
    }

    async fn stored_receipts(
        &self,
        keys: &HashSet<(&str, i64)>,
    ) -> Result<HashMap<(String, i64), Stored>, DbErr> {
        let mut out = HashMap::new();
        let series: HashSet<&str> = keys.iter().map(|(s, _)| *s).collect();
        for s in series {
            let numbers: Vec<i64> = keys.iter().filter(|(x, _)| *x == s).map(|(_, n)| *n).collect();
            for chunk in numbers.chunks(900) {
                let rows = entity::receipt::Entity::find()
                    .select_only()
                    .columns([entity::receipt::Column::Number, entity::receipt::Column::Id])
                    .column(entity::receipt::Column::ContentHash)
                    .filter(entity::receipt::Column::Series.eq(s))
                    .filter(entity::receipt::Column::Number.is_in(chunk.iter().copied()))
                    .into_tuple::<(i64, i64, String)>()
                    .all(self.conn)
                    .await?;
                for (number, id, hash) in rows {
                    out.insert((s.to_owned(), number), Stored { id, hash });
                }
            }
        }
        Ok(out)
    }
}

/// Where rejected lines go in `skip_invalid` mode: one JSON object a line with the line number, key, errors and
/// the original text.
pub type Rejects<'a> = Option<&'a mut (dyn AsyncWrite + Unpin + Send)>;

/// Imports JSON Lines from `input`.
pub async fn import<R>(
    conn: &DatabaseConnection,
    vault: &Vault,
    input: R,
    opts: ImportOptions,
    mut rejects: Rejects<'_>,
) -> Result<ImportReport, ImportError>
where
    R: AsyncBufRead + Unpin,
{
    let txn = conn.begin().await?;
    let result: Result<(ImportReport, HashSet<i64>), ImportError> = async {
        let refs = Refs::load(&txn).await?;
        let mut imp =
            Importer { conn: &txn, vault, refs, report: ImportReport::default(), touched: HashSet::new() };
        let mut input = input;
        let mut buf = Vec::with_capacity(4096);
        let mut line_no = 0u64;
        let mut batch: Vec<Pending> = Vec::with_capacity(opts.batch_size);
        // Original text of this batch's lines, kept only to copy bad ones into the rejects file.
        let mut texts: HashMap<u64, String> = HashMap::new();
        let keep_text = opts.skip_invalid && rejects.is_some();
        loop {
            let next = read_line(&mut input, &mut buf).await?;
            let eof = next.is_none();
            if let Some(too_long) = next {
                line_no += 1;
                if !too_long && buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                imp.report.lines += 1;
                let parsed = if too_long {
                    Err(vec![LineError {
                        line: line_no,
                        key: None,
                        field: "-".into(),
                        reason: format!("line longer than {MAX_LINE_BYTES} bytes"),
                    }])
                } else {
                    parse_line(&buf, line_no)
                };
                match parsed {
                    Ok(record) => {
                        if keep_text {
                            texts.insert(line_no, String::from_utf8_lossy(&buf).into_owned());
                        }
                        batch.push(Pending { line: line_no, record });
                    }
                    Err(errors) => {
                        let errors = imp.reject(errors);
                        let text =
                            if too_long { String::new() } else { String::from_utf8_lossy(&buf).into_owned() };
                        write_reject(&mut rejects, line_no, &errors, &text).await?;
                    }
                }
            }
            if batch.len() >= opts.batch_size || (eof && !batch.is_empty()) {
                let bad = imp.apply(std::mem::take(&mut batch)).await?;
                for (line, errors) in bad {
                    let text = texts.remove(&line).unwrap_or_default();
                    write_reject(&mut rejects, line, &errors, &text).await?;
                }
                texts.clear();
            }
            if eof {
                break;
            }
        }
        let touched = std::mem::take(&mut imp.touched);
        Ok((imp.report, touched))
    }
    .await;
    // Roll back at once on a fault: a transaction merely dropped keeps its locks until its connection is reused.
    let (mut report, touched) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = txn.rollback().await;
            return Err(e);
        }
    };
    if report.rejected > 0 && !opts.skip_invalid {
        txn.rollback().await?;
        report.written = 0;
        report.unchanged = 0;
    } else {
        db::touch(&txn, touched).await?;
        txn.commit().await?;
        report.committed = true;
    }
    if let Some(w) = rejects.as_mut() {
        w.flush().await?;
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
}
