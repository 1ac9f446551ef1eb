//! Streaming export to JSON Lines, in an order an import accepts: units (parents and successors first),
//! holidays, sectors, procedures, dossiers, receipts, feedback (a repeated feedback before its repeats).
//! `import(export(x))` reproduces `x`; instants are written at +07:00.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::records::*;
use crate::db::audit::Stamp;
use crate::domain::time::{from_micros, now};
use crate::domain::{DossierCode, ProcedureCode, UnitCode};
use crate::pii::Vault;
use entity::audit_event::Outcome;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing the output failed: {0}")]
    Write(#[from] std::io::Error),
    #[error("database error during export")]
    Db(#[from] DbErr),
    #[error("unknown unit `{0}`")]
    UnknownUnit(String),
    #[error("stored personal data could not be opened with the configured PII_KEY")]
    Seal,
}

/// Counts of what was written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub records: u64,
}

const PAGE: u64 = 1000;

struct Out<'a, W: AsyncWrite + Unpin> {
    w: &'a mut W,
    count: u64,
}

impl<W: AsyncWrite + Unpin> Out<'_, W> {
    async fn put(&mut self, r: Record) -> std::io::Result<()> {
        self.w.write_all(r.to_line().as_bytes()).await?;
        self.w.write_all(b"\n").await?;
        self.count += 1;
        Ok(())
    }
}

/// Writes every record, or with `unit` the records of that unit's scope (as of now) together with the units,
/// sectors and procedures they refer to, so that the file imports into an empty database. A scoped export writes
/// nothing of another scope: a feedback's link to a dossier, or to a feedback it repeats, outside the scope is
/// left out rather than followed. The export is recorded in the audit trail.
/// The records are read from `source` (the primary or a replica that caught up with it), the audit event is
/// written through `conn` (the primary).
pub async fn export<W: AsyncWrite + Unpin>(
    source: &impl ConnectionTrait,
    conn: &impl ConnectionTrait,
    vault: &Vault,
    stamp: &Stamp,
    unit: Option<&str>,
    w: &mut W,
) -> Result<ExportReport, ExportError> {
    let report = write_all(source, vault, unit, w).await?;
    let mut e = stamp.record(now(), Outcome::Ok, None);
    e.detail = Some(format!(
        "{} records of {}",
        report.records,
        unit.map_or("every unit".to_owned(), |u| format!("unit {u}"))
    ));
    if let Some(u) = unit {
        e.object_kind = Some(entity::audit_event::ObjectKind::Unit);
        e.object_code = Some(u.to_owned());
        e.unit_id = crate::db::load_units(conn).await?.get(u).map(|u| u.id);
    }
    crate::db::audit::insert(conn, &[e]).await?;
    Ok(report)
}

/// What an export writes, chosen before anything is written.
struct Selection {
    /// The units' ids of the scope (`None`: every unit).
    scope: Option<HashSet<i64>>,
    /// Every stored unit, by id.
    units: Vec<entity::unit::Model>,
    /// The procedures to write, by id.
    procedures: Vec<entity::procedure::Model>,
    /// The feedback to write, repeated ones before their repeats.
    feedback_ids: Vec<i64>,
}

/// The codes by which a record names the records written before it.
struct Written<'a> {
    units: HashMap<i64, &'a entity::unit::Model>,
    procedures: HashMap<i64, ProcedureCode>,
    dossiers: HashMap<i64, DossierCode>,
}

impl Written<'_> {
    /// The code of the unit with id `id` (empty when it is unknown).
    fn unit_code(&self, id: i64) -> UnitCode {
        self.units.get(&id).map(|u| u.code.clone()).unwrap_or_default()
    }
}

/// The dossiers of `scope` (every dossier without one).
fn scoped_dossiers(scope: &Option<HashSet<i64>>) -> sea_orm::Select<entity::dossier::Entity> {
    let q = entity::dossier::Entity::find();
    match scope {
        None => q,
        Some(s) => q.filter(entity::dossier::Column::UnitId.is_in(s.iter().copied())),
    }
}

/// Writes the records of `unit`'s scope (or every record), one kind after the other in the order of the module.
async fn write_all<W: AsyncWrite + Unpin>(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    unit: Option<&str>,
    w: &mut W,
) -> Result<ExportReport, ExportError> {
    let Selection { scope, units, procedures, feedback_ids } = choose(conn, unit).await?;
    let mut out = Out { w, count: 0 };
    let mut written = Written {
        units: units.iter().map(|u| (u.id, u)).collect(),
        procedures: HashMap::new(),
        dossiers: HashMap::new(),
    };
    write_units(&mut out, &units, &written.units, &scope, &procedures).await?;
    for h in entity::holiday::Entity::find().order_by_asc(entity::holiday::Column::Date).all(conn).await? {
        out.put(Record::Holiday(HolidayRec { date: h.date, name: h.name })).await?;
    }
    written.procedures = write_sectors_and_procedures(conn, &mut out, &scope, procedures, &written).await?;
    written.dossiers = write_dossiers(conn, vault, &mut out, &scope, &written).await?;
    write_receipts(conn, &mut out, &scope, &written.dossiers).await?;
    write_feedback(conn, vault, &mut out, &feedback_ids, &written).await?;
    out.w.flush().await?;
    Ok(ExportReport { records: out.count })
}

/// Chooses the scope, the procedures and the feedback to write; an unknown `unit` is an error.
async fn choose(conn: &impl ConnectionTrait, unit: Option<&str>) -> Result<Selection, ExportError> {
    let units = entity::unit::Entity::find().order_by_asc(entity::unit::Column::Id).all(conn).await?;
    let tree = crate::db::load_units(conn).await?;
    let scope = match unit {
        Some(code) => {
            if tree.get(code).is_none() {
                return Err(ExportError::UnknownUnit(code.to_owned()));
            }
            Some(tree.scope_at(code, now()).ids)
        }
        None => None,
    };
    let in_scope = |id: i64| scope.as_ref().is_none_or(|s| s.contains(&id));

    // Which dossiers, procedures and feedback go out.
    let feedback_ids = feedback_order(conn, &scope).await?;
    let procedures =
        entity::procedure::Entity::find().order_by_asc(entity::procedure::Column::Id).all(conn).await?;
    let used_procedures: HashSet<i64> = match &scope {
        None => procedures.iter().map(|p| p.id).collect(),
        Some(_) => {
            let ids: Vec<i64> = scoped_dossiers(&scope)
                .select_only()
                .column(entity::dossier::Column::ProcedureId)
                .distinct()
                .into_tuple()
                .all(conn)
                .await?;
            let mut set: HashSet<i64> = ids.into_iter().collect();
            set.extend(procedures.iter().filter(|p| in_scope(p.authority_id)).map(|p| p.id));
            set
        }
    };
    let procedures: Vec<_> = procedures.into_iter().filter(|p| used_procedures.contains(&p.id)).collect();
    Ok(Selection { scope, units, procedures, feedback_ids })
}

/// Writes the units: the scope, plus every unit referred to (authorities, parents, successors), closed under
/// parent and successor links, written parents and successors first.
async fn write_units<W: AsyncWrite + Unpin>(
    out: &mut Out<'_, W>,
    units: &[entity::unit::Model],
    by_id: &HashMap<i64, &entity::unit::Model>,
    scope: &Option<HashSet<i64>>,
    procedures: &[entity::procedure::Model],
) -> std::io::Result<()> {
    let by_code: HashMap<&str, &entity::unit::Model> = units.iter().map(|u| (u.code.as_str(), u)).collect();
    let mut wanted: HashSet<i64> = match scope {
        None => units.iter().map(|u| u.id).collect(),
        Some(s) => s.clone(),
    };
    wanted.extend(procedures.iter().map(|p| p.authority_id));
    let mut order: Vec<i64> = Vec::new();
    let mut placed: HashSet<i64> = HashSet::new();
    let mut start: Vec<i64> = wanted.iter().copied().collect();
    start.sort_unstable();
    for id in start {
        place_unit(id, by_id, &by_code, &mut placed, &mut order, 0);
    }
    for id in order {
        if let Some(u) = by_id.get(&id) {
            out.put(Record::Unit(unit_record(u))).await?;
        }
    }
    Ok(())
}

/// Writes the sectors (with a scope, those of the procedures only) and the procedures; returns the procedures'
/// codes by id.
async fn write_sectors_and_procedures<W: AsyncWrite + Unpin>(
    conn: &impl ConnectionTrait,
    out: &mut Out<'_, W>,
    scope: &Option<HashSet<i64>>,
    procedures: Vec<entity::procedure::Model>,
    written: &Written<'_>,
) -> Result<HashMap<i64, ProcedureCode>, ExportError> {
    let sectors = entity::sector::Entity::find().order_by_asc(entity::sector::Column::Id).all(conn).await?;
    let used_sectors: HashSet<i64> = procedures.iter().map(|p| p.sector_id).collect();
    let sector_code: HashMap<i64, String> = sectors.iter().map(|s| (s.id, s.code.clone())).collect();
    for s in sectors {
        if scope.is_none() || used_sectors.contains(&s.id) {
            out.put(Record::Sector(SectorRec { code: s.code, name: s.name })).await?;
        }
    }
    let mut procedure_code: HashMap<i64, ProcedureCode> = HashMap::new();
    for p in procedures {
        procedure_code.insert(p.id, p.code.clone());
        out.put(Record::Procedure(ProcedureRec {
            code: p.code,
            name: p.name,
            sector: sector_code.get(&p.sector_id).cloned().unwrap_or_default(),
            authority: written.unit_code(p.authority_id),
            level: p.level,
            online_level: p.online_level,
            fee: p.fee,
            processing_days: p.processing_days,
            applicant_types: p.applicant_types.0.clone(),
            returns_paper_result: p.returns_paper_result,
            status: ProcedureStatusOrDefault(p.status),
            legal_effective_on: p.legal_effective_on,
            announced_on: p.announced_on,
            published_on: p.published_on,
            content: p.content.0.clone(),
            national_portal_integrated: p.national_portal_integrated,
        }))
        .await?;
    }
    Ok(procedure_code)
}

/// The events, supplement requests and apology letters of a page of dossiers, by dossier id.
#[derive(Default)]
struct DossierChildren {
    events: HashMap<i64, Vec<EventRec>>,
    supplements: HashMap<i64, Vec<SupplementRec>>,
    apologies: HashMap<i64, Vec<ApologyRec>>,
}

/// Writes the dossiers of the scope, a page at a time with their children; returns the written dossiers' codes
/// by id.
async fn write_dossiers<W: AsyncWrite + Unpin>(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    out: &mut Out<'_, W>,
    scope: &Option<HashSet<i64>>,
    written: &Written<'_>,
) -> Result<HashMap<i64, DossierCode>, ExportError> {
    let mut exported_dossiers: HashMap<i64, DossierCode> = HashMap::new();
    let mut after = 0i64;
    loop {
        let page = scoped_dossiers(scope)
            .filter(entity::dossier::Column::Id.gt(after))
            .order_by_asc(entity::dossier::Column::Id)
            .limit(PAGE)
            .all(conn)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let ids: Vec<i64> = page.iter().map(|d| d.id).collect();
        let mut children = dossier_children(conn, &ids).await?;
        for d in page {
            let (id, code) = (d.id, d.code.clone());
            let rec = dossier_record(vault, written, &mut children, d)?;
            exported_dossiers.insert(id, code);
            out.put(Record::Dossier(rec)).await?;
        }
    }
    Ok(exported_dossiers)
}

/// Reads the children of the dossiers `ids`, each kind in its stored order.
async fn dossier_children(conn: &impl ConnectionTrait, ids: &[i64]) -> Result<DossierChildren, DbErr> {
    let mut children = DossierChildren::default();
    for e in entity::dossier_event::Entity::find()
        .filter(entity::dossier_event::Column::DossierId.is_in(ids.to_vec()))
        .order_by_asc(entity::dossier_event::Column::DossierId)
        .order_by_asc(entity::dossier_event::Column::Seq)
        .all(conn)
        .await?
    {
        children.events.entry(e.dossier_id).or_default().push(EventRec {
            status: e.status,
            at: instant(e.at),
            note: e.note,
        });
    }
    for s in entity::supplement_request::Entity::find()
        .filter(entity::supplement_request::Column::DossierId.is_in(ids.to_vec()))
        .order_by_asc(entity::supplement_request::Column::DossierId)
        .order_by_asc(entity::supplement_request::Column::Seq)
        .all(conn)
        .await?
    {
        children.supplements.entry(s.dossier_id).or_default().push(SupplementRec {
            requested_at: instant(s.requested_at),
            received_at: opt_instant(s.received_at),
            reason: s.reason,
        });
    }
    for a in entity::apology_letter::Entity::find()
        .filter(entity::apology_letter::Column::DossierId.is_in(ids.to_vec()))
        .order_by_asc(entity::apology_letter::Column::DossierId)
        .order_by_asc(entity::apology_letter::Column::Seq)
        .all(conn)
        .await?
    {
        children.apologies.entry(a.dossier_id).or_default().push(ApologyRec {
            issued_at: instant(a.issued_at),
            reason: a.reason,
            new_due_at: instant(a.new_due_at),
        });
    }
    Ok(children)
}

/// The record of stored dossier `d`, its personal data opened, its children taken from `children`.
fn dossier_record(
    vault: &Vault,
    written: &Written<'_>,
    children: &mut DossierChildren,
    d: entity::dossier::Model,
) -> Result<DossierRec, ExportError> {
    let open = |s: &str| vault.open(s).map_err(|_| ExportError::Seal);
    Ok(DossierRec {
        code: d.code,
        procedure: written.procedures.get(&d.procedure_id).cloned().unwrap_or_default(),
        unit: written.unit_code(d.unit_id),
        channel: d.channel,
        applicant: ApplicantRec {
            id_number: open(&d.applicant_id_sealed)?,
            name: d.applicant_name,
            kind: ApplicantKindOrDefault(d.applicant_kind),
            phone: d.applicant_phone_sealed.as_deref().map(open).transpose()?,
            email: d.applicant_email_sealed.as_deref().map(open).transpose()?,
            vneid_verified: d.vneid_verified,
        },
        submitted_at: opt_instant(d.submitted_at),
        received_at: instant(d.received_at),
        due_at: instant(d.due_at),
        events: children.events.remove(&d.id).unwrap_or_default(),
        supplements: children.supplements.remove(&d.id).unwrap_or_default(),
        apologies: children.apologies.remove(&d.id).unwrap_or_default(),
        inputs_digitized: d.inputs_digitized,
        reused_data: d.reused_data,
        from_citizen_storage: d.from_citizen_storage,
        result_electronic: d.result_electronic,
        result_to_citizen_storage: d.result_to_citizen_storage,
        synced_at: opt_instant(d.synced_at),
    })
}

/// Writes the receipts of the exported dossiers (`exported_dossiers`: their codes by id).
async fn write_receipts<W: AsyncWrite + Unpin>(
    conn: &impl ConnectionTrait,
    out: &mut Out<'_, W>,
    scope: &Option<HashSet<i64>>,
    exported_dossiers: &HashMap<i64, DossierCode>,
) -> Result<(), ExportError> {
    let mut after = 0i64;
    loop {
        let mut q = entity::receipt::Entity::find().filter(entity::receipt::Column::Id.gt(after));
        if scope.is_some() {
            q = q.filter(
                entity::receipt::Column::DossierId
                    .is_in(exported_dossiers.keys().copied().collect::<Vec<_>>()),
            );
        }
        let page = q.order_by_asc(entity::receipt::Column::Id).limit(PAGE).all(conn).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in page {
            // Every dossier is exported before the receipts, so its code is known.
            let Some(dossier) = exported_dossiers.get(&r.dossier_id).cloned() else { continue };
            out.put(Record::Receipt(ReceiptRec {
                series: r.series,
                number: r.number,
                template: r.template,
                dossier,
                payer_name: r.payer_name,
                payer_tax_code: r.payer_tax_code,
                amount: r.amount,
                kind: r.kind,
                payment_channel: r.payment_channel,
                method: r.method,
                transaction_ref: r.transaction_ref,
                issued_at: instant(r.issued_at),
                status: ReceiptStatusOrDefault(r.status),
                cancelled_at: opt_instant(r.cancelled_at),
                cancel_reason: r.cancel_reason,
            }))
            .await?;
        }
    }
    Ok(())
}

/// Writes the feedback `feedback_ids` in that order (repeated ones before their repeats).
async fn write_feedback<W: AsyncWrite + Unpin>(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    out: &mut Out<'_, W>,
    feedback_ids: &[i64],
    written: &Written<'_>,
) -> Result<(), ExportError> {
    let mut feedback_code: HashMap<i64, String> = HashMap::new();
    for chunk in feedback_ids.chunks(PAGE as usize) {
        let rows = entity::feedback::Entity::find()
            .filter(entity::feedback::Column::Id.is_in(chunk.iter().copied()))
            .all(conn)
            .await?;
        let mut by: HashMap<i64, entity::feedback::Model> = rows.into_iter().map(|f| (f.id, f)).collect();
        for id in chunk {
            let Some(f) = by.remove(id) else { continue };
            feedback_code.insert(f.id, f.code.clone());
            // A link to a dossier that is not in the file (outside the scope) is left out, never followed.
            let dossier = f.dossier_id.and_then(|d| written.dossiers.get(&d).cloned());
            out.put(Record::Feedback(FeedbackRec {
                code: f.code,
                kind: f.kind,
                channel: f.channel,
                unit: written.unit_code(f.unit_id),
                dossier,
                received_at: instant(f.received_at),
                due_at: opt_instant(f.due_at),
                answered_at: opt_instant(f.answered_at),
                answer: f.answer,
                rating: f.rating,
                likes: f.likes,
                dislikes: f.dislikes,
                repeat_of: f.repeat_of_id.and_then(|r| feedback_code.get(&r).cloned()),
                content: f.content,
                recorded_by: f
                    .recorded_by_sealed
                    .as_deref()
                    .map(|s| vault.open(s))
                    .transpose()
                    .map_err(|_| ExportError::Seal)?,
            }))
            .await?;
        }
    }
    Ok(())
}

fn place_unit(
    id: i64,
    by_id: &HashMap<i64, &entity::unit::Model>,
    by_code: &HashMap<&str, &entity::unit::Model>,
    placed: &mut HashSet<i64>,
    order: &mut Vec<i64>,
    depth: usize,
) {
    if depth > 64 || !placed.insert(id) {
        return;
    }
    let Some(u) = by_id.get(&id) else { return };
    for r in [&u.parent_code, &u.successor_code].into_iter().flatten() {
        if let Some(dep) = by_code.get(r.as_str()) {
            place_unit(dep.id, by_id, by_code, placed, order, depth + 1);
        }
    }
    order.push(id);
}

/// Feedback ids in an order where every `repeat_of` target comes before the feedback naming it. With a scope,
/// the feedback of the scope's units only (a repeat of a feedback outside it loses the link).
async fn feedback_order(
    conn: &impl ConnectionTrait,
    scope: &Option<HashSet<i64>>,
) -> Result<Vec<i64>, DbErr> {
    let all: Vec<(i64, i64, Option<i64>)> = entity::feedback::Entity::find()
        .select_only()
        .columns([
            entity::feedback::Column::Id,
            entity::feedback::Column::UnitId,
            entity::feedback::Column::RepeatOfId,
        ])
        .order_by_asc(entity::feedback::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    let repeat_of: HashMap<i64, Option<i64>> = all.iter().map(|(id, _, r)| (*id, *r)).collect();
    let in_scope_unit: HashMap<i64, bool> =
        all.iter().map(|(id, unit, _)| (*id, scope.as_ref().is_none_or(|s| s.contains(unit)))).collect();
    let mut placed: HashSet<i64> = HashSet::new();
    let mut order = Vec::new();
    for (id, unit, _) in &all {
        if scope.as_ref().is_some_and(|s| !s.contains(unit)) {
            continue;
        }
        // Walk up the repeat chain within the scope, then place from the top down.
        let mut chain = vec![*id];
        let mut cur = repeat_of.get(id).copied().flatten();
        while let Some(c) = cur {
            if placed.contains(&c) || chain.contains(&c) || !in_scope_unit.get(&c).is_some_and(|&ok| ok) {
                break;
            }
            chain.push(c);
            cur = repeat_of.get(&c).copied().flatten();
        }
        for c in chain.into_iter().rev() {
            if placed.insert(c) {
                order.push(c);
            }
        }
    }
    Ok(order)
}

fn unit_record(m: &entity::unit::Model) -> UnitRec {
    UnitRec {
        code: m.code.clone(),
        name: m.name.clone(),
        level: m.level,
        parent: m.parent_code.clone(),
        valid_from: m.valid_from,
        valid_to: m.valid_to,
        successor: m.successor_code.clone(),
        offers_e_certified_copy: m.offers_e_certified_copy,
    }
}

fn instant(us: i64) -> Instant {
    from_micros(us)
}

fn opt_instant(us: Option<i64>) -> Option<Instant> {
    us.map(from_micros)
}
