//! Writes made through the API. Each is one transaction that starts by taking its write lock (a guarded version
//! bump, so that of two conflicting concurrent writes exactly one wins and the other gets `Conflict`; on SQLite
//! the database's write lock, before anything is read, so that concurrent writes queue instead of failing),
//! appends to the dossier's history where the dossier changes, refreshes the derived facts and the data
//! generation, appends its audit event, then commits: a write and its audit event are never apart.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};

use super::audit::{ObjectRef, Stamp};
use super::bulk::hold_write_lock;
use super::derived::{refresh_negative_feedback, refresh_receipts, refresh_settled};
use super::read::ReadScope;
use super::rows::{ApplicantRow, DossierRow, FeedbackRow, ReceiptRow};
use super::write::{bump_version, dossier_model, feedback_model, receipt_model};
use crate::domain::lifecycle::{
    Event, Supplement, check_amount, check_receipt_number, check_transition, chosen_due, derive_facts,
    dossier_due, pakn_due,
};
use crate::domain::personal::check_applicant_id;
use crate::domain::time::{Calendar, Micros, from_micros};
use crate::domain::*;
use crate::pii::Vault;
use entity::audit_event::Outcome;

use entity::{apology_letter, dossier, dossier_event, feedback, receipt, supplement_request};

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl WriteError {
    /// A unique-key violation is a conflict with another write, not an internal fault.
    fn from_db(e: DbErr) -> Self {
        match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                WriteError::Conflict("the key is already taken".into())
            }
            _ => WriteError::Db(e),
        }
    }
}

type Result<T> = std::result::Result<T, WriteError>;

fn stale() -> WriteError {
    WriteError::Conflict("the record was changed by another write; read it again and retry".into())
}

/// Loads a dossier of the scope (outside any transaction), or `NotFound`.
async fn visible_dossier(
    db: &DatabaseConnection,
    scope: &ReadScope,
    code: &DossierCode,
) -> Result<dossier::Model> {
    super::read::dossier(db, scope, code).await?.ok_or(WriteError::NotFound)
}

/// Appends the audit event of an accepted write, inside its transaction.
async fn audited(conn: &impl ConnectionTrait, stamp: &Stamp, at: Micros, object: &ObjectRef) -> Result<()> {
    super::audit::insert(conn, &[stamp.record(at, Outcome::Ok, Some(object))]).await?;
    Ok(())
}

/// `n` random decimal digits from the operating system's generator: codes that never tell how many records
/// exist.
fn random_digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// Inserts a row with a fresh random code, drawing another when the code is taken (a collision, or a code an
/// import stored): each attempt runs in a savepoint, so a failed one leaves the transaction usable.
async fn insert_coded<A>(
    txn: &sea_orm::DatabaseTransaction,
    code: impl Fn() -> String,
    row: impl Fn(String) -> A,
) -> Result<<A::Entity as EntityTrait>::Model>
where
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    for _ in 0..8 {
        let attempt = txn.begin().await?;
        match row(code()).insert(&attempt).await {
            Ok(saved) => {
                attempt.commit().await?;
                return Ok(saved);
            }
            Err(e) => {
                attempt.rollback().await?;
                if !matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) {
                    return Err(WriteError::Db(e));
                }
            }
        }
    }
    Err(WriteError::Conflict("no free code was found; try again".into()))
}

/// Recomputes a dossier's derived columns from its stored history and supplements, and its indicator summary.
pub async fn refresh_facts(conn: &impl ConnectionTrait, id: i64) -> std::result::Result<(), DbErr> {
    let events: Vec<Event> = dossier_event::Entity::find()
        .filter(dossier_event::Column::DossierId.eq(id))
        .order_by_asc(dossier_event::Column::Seq)
        .all(conn)
        .await?
        .into_iter()
        .map(|e| Event { status: e.status, at: e.at })
        .collect();
    let sups: Vec<Supplement> = supplement_request::Entity::find()
        .filter(supplement_request::Column::DossierId.eq(id))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| Supplement { requested_at: s.requested_at, received_at: s.received_at })
        .collect();
    let f = derive_facts(&events, &sups);
    let m = dossier::ActiveModel {
        id: Set(id),
        status: Set(f.status),
        status_at: Set(f.status_at),
        not_accepted_at: Set(f.not_accepted_at),
        resolved_at: Set(f.resolved_at),
        other_end_at: Set(f.other_end_at),
        other_end_status: Set(f.other_end_status),
        first_supplement_requested_at: Set(f.first_supplement_requested_at),
        first_supplement_received_at: Set(f.first_supplement_received_at),
        second_supplement_requested_at: Set(f.second_supplement_requested_at),
        ..Default::default()
    };
    m.update(conn).await?;
    refresh_settled(conn, &[id]).await?;
    super::rollup::rebuild_for(conn, &[id]).await
}

async fn append_event(
    conn: &impl ConnectionTrait,
    id: i64,
    status: DossierStatus,
    at: Micros,
    note: Option<String>,
) -> std::result::Result<(), DbErr> {
    let seq =
        dossier_event::Entity::find().filter(dossier_event::Column::DossierId.eq(id)).count(conn).await?
            as i32;
    dossier_event::ActiveModel {
        dossier_id: Set(id),
        seq: Set(seq),
        status: Set(status),
        at: Set(at),
        note: Set(note),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Runs `body` in a transaction opened by bumping the dossier's version from `expected`, audited as `stamp`.
async fn with_dossier<F, T>(
    db: &DatabaseConnection,
    d: &dossier::Model,
    expected: Option<i32>,
    stamp: &Stamp,
    now: Micros,
    body: F,
) -> Result<T>
where
    F: for<'c> FnOnce(
            &'c sea_orm::DatabaseTransaction,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'c>>
        + Send,
    T: Send,
{
    let txn = db.begin().await?;
    let result = async {
        if !bump_version::<dossier::Entity>(&txn, d.id, expected.unwrap_or(d.version)).await? {
            return Err(stale());
        }
        let out = body(&txn).await?;
        refresh_facts(&txn, d.id).await?;
        super::mark_changed(&txn, [d.unit_id]).await?;
        audited(&txn, stamp, now, &ObjectRef::dossier(d)).await?;
        Ok(out)
    }
    .await;
    finish(txn, result).await
}

/// Commits when the work succeeded; otherwise rolls back at once, because a transaction merely dropped keeps
/// its locks until its pooled connection is used again.
async fn finish<T>(txn: sea_orm::DatabaseTransaction, result: Result<T>) -> Result<T> {
    match result {
        Ok(v) => {
            txn.commit().await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rollback) = txn.rollback().await {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

/// A new dossier received at a one-stop desk.
#[derive(Debug, Clone)]
pub struct NewDossier {
    pub procedure_code: ProcedureCode,
    pub unit_code: UnitCode,
    pub channel: Channel,
    pub applicant_id_number: String,
    pub applicant_name: String,
    pub applicant_kind: ApplicantKind,
    pub applicant_phone: Option<String>,
    pub applicant_email: Option<String>,
    pub vneid_verified: bool,
    pub submitted_at: Option<Micros>,
    /// Earlier than the procedure's processing time in working days from now, if staff ask.
    pub due_at: Option<Micros>,
    pub inputs_digitized: bool,
    pub reused_data: bool,
    pub from_citizen_storage: bool,
}

/// What every API write needs besides its input: the database, the records the writer may act on, who writes
/// (for the audit event) and the server's clock.
pub struct Writer<'a> {
    pub db: &'a DatabaseConnection,
    pub scope: &'a ReadScope,
    pub stamp: &'a Stamp,
    pub now: Micros,
}

/// Receives a dossier: a new random code, a RECEIVED event at the server's clock, and a due time from the
/// procedure's processing time (staff may shorten it, never extend it).
pub async fn receive_dossier(
    w: &Writer<'_>,
    vault: &Vault,
    tree: &crate::domain::scope::UnitTree,
    calendar: &Calendar,
    input: NewDossier,
) -> Result<dossier::Model> {
    let now = w.now;
    let unit =
        tree.get(&input.unit_code).filter(|u| w.scope.covers_unit(u.id)).ok_or(WriteError::NotFound)?;
    let proc = super::read::procedure_by_code(w.db, &input.procedure_code)
        .await?
        .ok_or_else(|| WriteError::Validation(format!("unknown procedure `{}`", input.procedure_code)))?;
    check_applicant_id(input.applicant_kind, &input.applicant_id_number)
        .map_err(|e| WriteError::Validation(e.into()))?;
    if input.applicant_name.trim().is_empty() {
        return Err(WriteError::Validation("the applicant's name must not be empty".into()));
    }
    let due_at = chosen_due(dossier_due(calendar, now, proc.processing_days), input.due_at, now)
        .map_err(|e| WriteError::Validation(e.to_string()))?;
    let prefix = format!("000.00.{}-{}-", unit.code, from_micros(now).format("%y%m%d"));
    // The same row builder as the importer's, so personal data is sealed, hashed and masked in one place.
    let row = |code: String| DossierRow {
        code: code.into(),
        channel: input.channel,
        applicant: ApplicantRow {
            id_number: input.applicant_id_number.clone(),
            name: input.applicant_name.clone(),
            kind: input.applicant_kind,
            phone: input.applicant_phone.clone(),
            email: input.applicant_email.clone(),
            vneid_verified: input.vneid_verified,
        },
        submitted_at: input.submitted_at,
        received_at: now,
        due_at,
        events: Vec::new(),
        supplements: Vec::new(),
        apologies: Vec::new(),
        inputs_digitized: input.inputs_digitized,
        reused_data: input.reused_data,
        from_citizen_storage: input.from_citizen_storage,
        result_electronic: false,
        result_to_citizen_storage: false,
        synced_at: None,
    };
    let txn = w.db.begin().await?;
    let result = async {
        hold_write_lock(&txn).await?;
        let saved = insert_coded(
            &txn,
            || format!("{prefix}{}", random_digits(10)),
            |code| dossier_model(&row(code), proc.id, unit.id, vault, String::new()),
        )
        .await?;
        if let Some(sub) = input.submitted_at {
            append_event(&txn, saved.id, DossierStatus::Registered, sub, None).await?;
        }
        append_event(&txn, saved.id, DossierStatus::Received, now, None).await?;
        refresh_facts(&txn, saved.id).await?;
        super::mark_changed(&txn, [saved.unit_id]).await?;
        audited(&txn, w.stamp, now, &ObjectRef::dossier(&saved)).await?;
        Ok(saved)
    }
    .await;
    let saved = finish(txn, result).await?;
    reload(w.db, saved.id).await
}

/// Moves a dossier to a new status, following the allowed transitions.
pub async fn change_status(
    w: &Writer<'_>,
    code: &DossierCode,
    to: DossierStatus,
    note: Option<String>,
    expected: Option<i32>,
) -> Result<dossier::Model> {
    let (d, now) = (visible_dossier(w.db, w.scope, code).await?, w.now);
    let id = d.id;
    with_dossier(w.db, &d, expected, w.stamp, now, move |txn| {
        Box::pin(async move {
            let current = dossier::Entity::find_by_id(id).one(txn).await?.ok_or(WriteError::NotFound)?;
            check_transition(current.status, to).map_err(|e| WriteError::Validation(e.to_string()))?;
            if to == DossierStatus::SupplementRequested {
                return Err(WriteError::Validation("use requestSupplement to ask for documents".into()));
            }
            append_event(txn, id, to, now.max(current.status_at.unwrap_or(now)), note).await?;
            Ok(())
        })
    })
    .await?;
    reload(w.db, id).await
}

/// Asks the applicant for documents: a supplement request and a SUPPLEMENT_REQUESTED event.
pub async fn request_supplement(
    w: &Writer<'_>,
    code: &DossierCode,
    reason: String,
    expected: Option<i32>,
) -> Result<dossier::Model> {
    let (d, now) = (visible_dossier(w.db, w.scope, code).await?, w.now);
    let id = d.id;
    with_dossier(w.db, &d, expected, w.stamp, now, move |txn| {
        Box::pin(async move {
            let current = dossier::Entity::find_by_id(id).one(txn).await?.ok_or(WriteError::NotFound)?;
            check_transition(current.status, DossierStatus::SupplementRequested)
                .map_err(|e| WriteError::Validation(e.to_string()))?;
            let seq = supplement_request::Entity::find()
                .filter(supplement_request::Column::DossierId.eq(id))
                .count(txn)
                .await? as i32;
            supplement_request::ActiveModel {
                dossier_id: Set(id),
                seq: Set(seq),
                requested_at: Set(now),
                received_at: Set(None),
                reason: Set(Some(reason.clone())),
            }
            .insert(txn)
            .await?;
            append_event(txn, id, DossierStatus::SupplementRequested, now, Some(reason)).await?;
            Ok(())
        })
    })
    .await?;
    reload(w.db, id).await
}

/// Records the applicant's answer to the open supplement request; processing resumes.
pub async fn answer_supplement(
    w: &Writer<'_>,
    code: &DossierCode,
    expected: Option<i32>,
) -> Result<dossier::Model> {
    let (d, now) = (visible_dossier(w.db, w.scope, code).await?, w.now);
    let id = d.id;
    with_dossier(w.db, &d, expected, w.stamp, now, move |txn| {
        Box::pin(async move {
            let open = supplement_request::Entity::find()
                .filter(supplement_request::Column::DossierId.eq(id))
                .filter(supplement_request::Column::ReceivedAt.is_null())
                .order_by_desc(supplement_request::Column::Seq)
                .one(txn)
                .await?
                .ok_or_else(|| WriteError::Validation("the dossier has no open supplement request".into()))?;
            let mut m = open.into_active_model();
            m.received_at = Set(Some(now));
            m.update(txn).await?;
            let current = dossier::Entity::find_by_id(id).one(txn).await?.ok_or(WriteError::NotFound)?;
            if current.status == Some(DossierStatus::SupplementRequested) {
                append_event(txn, id, DossierStatus::Processing, now, Some("supplement received".into()))
                    .await?;
            }
            Ok(())
        })
    })
    .await?;
    reload(w.db, id).await
}

/// Issues an apology letter with a new appointment date (the due date used by the indicators stays).
pub async fn issue_apology(
    w: &Writer<'_>,
    code: &DossierCode,
    reason: String,
    new_due_at: Micros,
    expected: Option<i32>,
) -> Result<dossier::Model> {
    let now = w.now;
    if reason.trim().is_empty() {
        return Err(WriteError::Validation("an apology needs a reason".into()));
    }
    if new_due_at <= now {
        return Err(WriteError::Validation("the new appointment must be in the future".into()));
    }
    let d = visible_dossier(w.db, w.scope, code).await?;
    let id = d.id;
    with_dossier(w.db, &d, expected, w.stamp, now, move |txn| {
        Box::pin(async move {
            let seq = apology_letter::Entity::find()
                .filter(apology_letter::Column::DossierId.eq(id))
                .count(txn)
                .await? as i32;
            apology_letter::ActiveModel {
                dossier_id: Set(id),
                seq: Set(seq),
                issued_at: Set(now),
                reason: Set(reason),
                new_due_at: Set(new_due_at),
            }
            .insert(txn)
            .await?;
            Ok(())
        })
    })
    .await?;
    reload(w.db, id).await
}

async fn reload(db: &DatabaseConnection, id: i64) -> Result<dossier::Model> {
    dossier::Entity::find_by_id(id).one(db).await?.ok_or(WriteError::NotFound)
}

/// A receipt to issue.
#[derive(Debug, Clone)]
pub struct NewReceipt {
    pub series: String,
    pub number: i64,
    pub template: Option<String>,
    pub dossier_code: DossierCode,
    pub payer_name: String,
    pub payer_tax_code: Option<String>,
    pub amount: i64,
    pub kind: ReceiptKind,
    pub payment_channel: PaymentChannel,
    pub method: Option<PaymentMethod>,
    pub transaction_ref: Option<String>,
}

/// Issues an e-receipt; a taken (series, number) is a conflict. Returns it with its dossier.
pub async fn issue_receipt(w: &Writer<'_>, r: NewReceipt) -> Result<(receipt::Model, dossier::Model)> {
    let now = w.now;
    check_amount(r.amount).map_err(|why| WriteError::Validation(format!("amount {why}")))?;
    check_receipt_number(r.number).map_err(|why| WriteError::Validation(format!("number {why}")))?;
    if r.series.trim().is_empty() || r.payer_name.trim().is_empty() {
        return Err(WriteError::Validation("series and payerName must not be empty".into()));
    }
    let d = visible_dossier(w.db, w.scope, &r.dossier_code).await?;
    let txn = w.db.begin().await?;
    let result = async {
        hold_write_lock(&txn).await?;
        let row = ReceiptRow {
            series: r.series,
            number: r.number,
            template: r.template,
            payer_name: r.payer_name,
            payer_tax_code: r.payer_tax_code,
            amount: r.amount,
            kind: r.kind,
            payment_channel: r.payment_channel,
            method: r.method,
            transaction_ref: r.transaction_ref,
            issued_at: now,
            status: ReceiptStatus::Issued,
            cancelled_at: None,
            cancel_reason: None,
        };
        let saved =
            receipt_model(&row, d.id, String::new()).insert(&txn).await.map_err(WriteError::from_db)?;
        refresh_receipts(&txn, &[d.id]).await?;
        super::rollup::rebuild_for(&txn, &[d.id]).await?;
        super::mark_changed(&txn, [d.unit_id]).await?;
        audited(&txn, w.stamp, now, &ObjectRef::receipt(&saved, Some(d.unit_id))).await?;
        Ok(saved)
    }
    .await;
    Ok((finish(txn, result).await?, d))
}

/// Cancels a receipt with a reason. Returns it with its dossier.
pub async fn cancel_receipt(
    w: &Writer<'_>,
    series: &str,
    number: i64,
    reason: String,
    expected: Option<i32>,
) -> Result<(receipt::Model, dossier::Model)> {
    let now = w.now;
    if reason.trim().is_empty() {
        return Err(WriteError::Validation("a cancellation needs a reason".into()));
    }
    let r = super::read::receipt(w.db, w.scope, series, number).await?.ok_or(WriteError::NotFound)?;
    let txn = w.db.begin().await?;
    let result = async {
        if !bump_version::<receipt::Entity>(&txn, r.id, expected.unwrap_or(r.version)).await? {
            return Err(stale());
        }
        let current = receipt::Entity::find_by_id(r.id).one(&txn).await?.ok_or(WriteError::NotFound)?;
        if current.status == ReceiptStatus::Cancelled {
            return Err(WriteError::Validation("the receipt is already cancelled".into()));
        }
        let mut m = current.into_active_model();
        m.status = Set(ReceiptStatus::Cancelled);
        m.cancelled_at = Set(Some(now));
        m.cancel_reason = Set(Some(reason));
        let saved = m.update(&txn).await?;
        refresh_receipts(&txn, &[saved.dossier_id]).await?;
        super::rollup::rebuild_for(&txn, &[saved.dossier_id]).await?;
        let dossier =
            dossier::Entity::find_by_id(saved.dossier_id).one(&txn).await?.ok_or(WriteError::NotFound)?;
        super::mark_changed(&txn, [dossier.unit_id]).await?;
        audited(&txn, w.stamp, now, &ObjectRef::receipt(&saved, Some(dossier.unit_id))).await?;
        Ok((saved, dossier))
    }
    .await;
    finish(txn, result).await
}

/// Feedback to record.
#[derive(Debug, Clone)]
pub struct NewFeedback {
    pub kind: FeedbackKind,
    pub channel: FeedbackChannel,
    pub unit_code: UnitCode,
    pub dossier_code: Option<DossierCode>,
    pub content: String,
    pub rating: Option<Rating>,
    /// Earlier than the rule's deadline, if staff ask (complaints and recommendations only).
    pub due_at: Option<Micros>,
    pub repeat_of: Option<String>,
    /// Who records it (a citizen's identity number, or a staff account): stored sealed.
    pub recorded_by: Option<String>,
}

/// Records feedback at the server's clock: on a dossier of the scope (a citizen's own), to a unit of the scope
/// (for staff) whose scope holds the dossier. Complaints and recommendations are due in
/// [`crate::domain::lifecycle::PAKN_WORKING_DAYS`] working days; other kinds have no due time.
pub async fn record_feedback(
    w: &Writer<'_>,
    vault: &Vault,
    tree: &crate::domain::scope::UnitTree,
    calendar: &Calendar,
    f: NewFeedback,
) -> Result<(feedback::Model, Option<DossierCode>)> {
    let now = w.now;
    let unit = tree.get(&f.unit_code).ok_or(WriteError::NotFound)?;
    let dossier = match &f.dossier_code {
        Some(code) => Some(visible_dossier(w.db, w.scope, code).await?),
        None => None,
    };
    match w.scope {
        ReadScope::Units(..) if !w.scope.covers_unit(unit.id) => return Err(WriteError::NotFound),
        // A citizen's records are their dossiers: without one, nothing of theirs is concerned.
        ReadScope::Applicant(_) if dossier.is_none() => return Err(WriteError::NotFound),
        ReadScope::Nothing => return Err(WriteError::NotFound),
        _ => {}
    }
    if let Some(d) = &dossier {
        let dossier_unit = tree.by_id(d.unit_id).map(|u| u.code.as_str()).unwrap_or_default();
        if !tree.covers(&unit.code, dossier_unit, now) {
            return Err(WriteError::Validation(format!(
                "unitCode must be the dossier's unit `{dossier_unit}` or a unit whose scope holds it"
            )));
        }
    }
    let due_at = feedback_due(calendar, &f, now)?;
    let repeat_of = match &f.repeat_of {
        Some(code) => Some(
            super::read::feedback(w.db, w.scope, code)
                .await?
                .ok_or_else(|| WriteError::Validation(format!("unknown feedback `{code}`")))?
                .id,
        ),
        None => None,
    };
    let day = from_micros(now).format("%y%m%d").to_string();
    let row = |code: String| {
        let row = FeedbackRow {
            code,
            kind: f.kind,
            channel: f.channel,
            received_at: now,
            due_at,
            answered_at: None,
            answer: None,
            rating: f.rating,
            likes: 0,
            dislikes: 0,
            content: Some(f.content.clone()),
            recorded_by: f.recorded_by.clone(),
        };
        let dossier_id = dossier.as_ref().map(|d| d.id);
        feedback_model(&row, unit.id, dossier_id, repeat_of, vault, String::new())
    };
    let txn = w.db.begin().await?;
    let result = async {
        hold_write_lock(&txn).await?;
        let saved = insert_coded(&txn, || format!("PAKN-{day}-{}", random_digits(10)), row).await?;
        if let Some(d) = &dossier {
            refresh_negative_feedback(&txn, &[d.id]).await?;
            super::rollup::rebuild_for(&txn, &[d.id]).await?;
        }
        super::mark_changed(&txn, [saved.unit_id]).await?;
        audited(&txn, w.stamp, now, &ObjectRef::feedback(&saved)).await?;
        Ok(saved)
    }
    .await;
    Ok((finish(txn, result).await?, dossier.map(|d| d.code)))
}

/// Checks a new feedback's own fields and derives its due time: complaints and recommendations are due after
/// the rule's working days (staff may shorten that, never extend it); other kinds have none.
fn feedback_due(calendar: &Calendar, f: &NewFeedback, now: Micros) -> Result<Option<Micros>> {
    if f.content.trim().is_empty() {
        return Err(WriteError::Validation("content must not be empty".into()));
    }
    if f.kind == FeedbackKind::Rating && f.rating.is_none() {
        return Err(WriteError::Validation("a RATING needs a rating".into()));
    }
    if f.kind.is_pakn() {
        let due = chosen_due(pakn_due(calendar, now), f.due_at, now)
            .map_err(|e| WriteError::Validation(e.to_string()))?;
        Ok(Some(due))
    } else if f.due_at.is_some() {
        Err(WriteError::Validation("only complaints and recommendations have a due time".into()))
    } else {
        Ok(None)
    }
}

/// Answers feedback.
pub async fn answer_feedback(
    w: &Writer<'_>,
    code: &str,
    answer: String,
    expected: Option<i32>,
) -> Result<feedback::Model> {
    let now = w.now;
    if answer.trim().is_empty() {
        return Err(WriteError::Validation("the answer must not be empty".into()));
    }
    let f = super::read::feedback(w.db, w.scope, code).await?.ok_or(WriteError::NotFound)?;
    let txn = w.db.begin().await?;
    let result = async {
        if !bump_version::<feedback::Entity>(&txn, f.id, expected.unwrap_or(f.version)).await? {
            return Err(stale());
        }
        let current = feedback::Entity::find_by_id(f.id).one(&txn).await?.ok_or(WriteError::NotFound)?;
        if current.answered_at.is_some() {
            return Err(WriteError::Validation("the feedback is already answered".into()));
        }
        let mut m = current.into_active_model();
        m.answered_at = Set(Some(now));
        m.answer = Set(Some(answer));
        let saved = m.update(&txn).await?;
        super::mark_changed(&txn, [saved.unit_id]).await?;
        audited(&txn, w.stamp, now, &ObjectRef::feedback(&saved)).await?;
        Ok(saved)
    }
    .await;
    finish(txn, result).await
}
