//! Writes shared by the importer and the API mutations. Every function runs inside the caller's transaction.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::bulk::insert_chunked;
use super::rows::*;
use crate::domain::lifecycle::{DerivedFacts, Event, Supplement, derive_facts};
use crate::pii::{Vault, mask_email, mask_id, mask_phone};

/// Who recorded a feedback, as stored: sealed (for export), keyed-hashed (for matching) and masked (for
/// display). It may be a citizen's identity number, so it is personal data like an applicant's.
pub struct Recorder {
    pub sealed: Option<String>,
    pub hash: Option<String>,
    pub masked: Option<String>,
}

impl Recorder {
    pub fn of(vault: &Vault, recorded_by: Option<&str>) -> Self {
        Recorder {
            sealed: recorded_by.map(|r| vault.seal(r)),
            hash: recorded_by.map(|r| vault.hash(r)),
            masked: recorded_by.map(mask_id),
        }
    }
}

pub fn unit_model(r: &UnitRow, hash: String) -> entity::unit::ActiveModel {
    entity::unit::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        name: Set(r.name.clone()),
        level: Set(r.level),
        parent_code: Set(r.parent_code.clone()),
        valid_from: Set(r.valid_from),
        valid_to: Set(r.valid_to),
        successor_code: Set(r.successor_code.clone()),
        offers_e_certified_copy: Set(r.offers_e_certified_copy),
        content_hash: Set(hash),
    }
}

pub fn sector_model(r: &SectorRow, hash: String) -> entity::sector::ActiveModel {
    entity::sector::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        name: Set(r.name.clone()),
        content_hash: Set(hash),
    }
}

pub fn procedure_model(
    r: &ProcedureRow,
    sector_id: i64,
    authority_id: i64,
    hash: String,
) -> entity::procedure::ActiveModel {
    use crate::domain::{ApplicantKind, ContentPart};
    entity::procedure::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        name: Set(r.name.clone()),
        sector_id: Set(sector_id),
        authority_id: Set(authority_id),
        level: Set(r.level),
        online_level: Set(r.online_level),
        fee: Set(r.fee),
        processing_days: Set(r.processing_days),
        applicant_types: Set(r.applicant_types.clone()),
        accepts_citizens: Set(r.applicant_types.0.contains(&ApplicantKind::Citizen)),
        returns_paper_result: Set(r.returns_paper_result),
        status: Set(r.status),
        legal_effective_on: Set(r.legal_effective_on),
        announced_on: Set(r.announced_on),
        published_on: Set(r.published_on),
        content: Set(r.content.clone()),
        content_full: Set(ContentPart::ALL.iter().all(|p| r.content.0.contains(p))),
        national_portal_integrated: Set(r.national_portal_integrated),
        content_hash: Set(hash),
        search_text: Set(crate::domain::search::procedure_key(&r.code, &r.name)),
    }
}

/// The domain view of a dossier's history.
pub fn facts_of(r: &DossierRow) -> DerivedFacts {
    let events: Vec<Event> = r.events.iter().map(|e| Event { status: e.status, at: e.at }).collect();
    let supplements: Vec<Supplement> = r
        .supplements
        .iter()
        .map(|s| Supplement { requested_at: s.requested_at, received_at: s.received_at })
        .collect();
    derive_facts(&events, &supplements)
}

/// The row of a dossier. Personal data is sealed, hashed and masked here and nowhere else.
pub fn dossier_model(
    r: &DossierRow,
    procedure_id: i64,
    unit_id: i64,
    vault: &Vault,
    hash: String,
) -> entity::dossier::ActiveModel {
    let f = facts_of(r);
    let a = &r.applicant;
    entity::dossier::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        procedure_id: Set(procedure_id),
        unit_id: Set(unit_id),
        channel: Set(r.channel),
        applicant_kind: Set(a.kind),
        applicant_name: Set(a.name.clone()),
        applicant_id_hash: Set(vault.hash(&a.id_number)),
        applicant_id_sealed: Set(vault.seal(&a.id_number)),
        applicant_id_masked: Set(mask_id(&a.id_number)),
        applicant_phone_sealed: Set(a.phone.as_deref().map(|p| vault.seal(p))),
        applicant_phone_masked: Set(a.phone.as_deref().map(mask_phone)),
        applicant_email_sealed: Set(a.email.as_deref().map(|e| vault.seal(e))),
        applicant_email_masked: Set(a.email.as_deref().map(mask_email)),
        vneid_verified: Set(a.vneid_verified),
        submitted_at: Set(r.submitted_at),
        received_at: Set(r.received_at),
        due_at: Set(r.due_at),
        inputs_digitized: Set(r.inputs_digitized),
        reused_data: Set(r.reused_data),
        from_citizen_storage: Set(r.from_citizen_storage),
        result_electronic: Set(r.result_electronic),
        result_to_citizen_storage: Set(r.result_to_citizen_storage),
        synced_at: Set(r.synced_at),
        status: Set(f.status),
        status_at: Set(f.status_at),
        not_accepted_at: Set(f.not_accepted_at),
        resolved_at: Set(f.resolved_at),
        other_end_at: Set(f.other_end_at),
        other_end_status: Set(f.other_end_status),
        first_supplement_requested_at: Set(f.first_supplement_requested_at),
        first_supplement_received_at: Set(f.first_supplement_received_at),
        second_supplement_requested_at: Set(f.second_supplement_requested_at),
        negative_feedback_at: Set(None),
        settled_at: Set(super::derived::settled_at_of_new(r.received_at, r.synced_at, &f)),
        version: Set(1),
        content_hash: Set(hash),
    }
}

/// Rows of a dossier's history, supplements and apologies.
pub struct DossierChildren {
    pub events: Vec<entity::dossier_event::ActiveModel>,
    pub supplements: Vec<entity::supplement_request::ActiveModel>,
    pub apologies: Vec<entity::apology_letter::ActiveModel>,
}

impl DossierChildren {
    pub fn new() -> Self {
        DossierChildren { events: Vec::new(), supplements: Vec::new(), apologies: Vec::new() }
    }

    pub fn add(&mut self, dossier_id: i64, r: &DossierRow) {
        for (i, e) in r.events.iter().enumerate() {
            self.events.push(entity::dossier_event::ActiveModel {
                dossier_id: Set(dossier_id),
                seq: Set(i as i32),
                status: Set(e.status),
                at: Set(e.at),
                note: Set(e.note.clone()),
            });
        }
        for (i, s) in r.supplements.iter().enumerate() {
            self.supplements.push(entity::supplement_request::ActiveModel {
                dossier_id: Set(dossier_id),
                seq: Set(i as i32),
                requested_at: Set(s.requested_at),
                received_at: Set(s.received_at),
                reason: Set(s.reason.clone()),
            });
        }
        for (i, a) in r.apologies.iter().enumerate() {
            self.apologies.push(entity::apology_letter::ActiveModel {
                dossier_id: Set(dossier_id),
                seq: Set(i as i32),
                issued_at: Set(a.issued_at),
                reason: Set(a.reason.clone()),
                new_due_at: Set(a.new_due_at),
            });
        }
    }

    pub async fn insert(self, conn: &impl ConnectionTrait) -> Result<(), DbErr> {
        insert_chunked(conn, self.events, 5).await?;
        insert_chunked(conn, self.supplements, 5).await?;
        insert_chunked(conn, self.apologies, 5).await?;
        Ok(())
    }
}

impl Default for DossierChildren {
    fn default() -> Self {
        Self::new()
    }
}

/// Removes a dossier's history, supplements and apologies before they are written anew.
pub async fn delete_children(conn: &impl ConnectionTrait, dossier_id: i64) -> Result<(), DbErr> {
    entity::dossier_event::Entity::delete_many()
        .filter(entity::dossier_event::Column::DossierId.eq(dossier_id))
        .exec(conn)
        .await?;
    entity::supplement_request::Entity::delete_many()
        .filter(entity::supplement_request::Column::DossierId.eq(dossier_id))
        .exec(conn)
        .await?;
    entity::apology_letter::Entity::delete_many()
        .filter(entity::apology_letter::Column::DossierId.eq(dossier_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub fn receipt_model(r: &ReceiptRow, dossier_id: i64, hash: String) -> entity::receipt::ActiveModel {
    entity::receipt::ActiveModel {
        id: NotSet,
        series: Set(r.series.clone()),
        number: Set(r.number),
        template: Set(r.template.clone()),
        dossier_id: Set(dossier_id),
        payer_name: Set(r.payer_name.clone()),
        payer_tax_code: Set(r.payer_tax_code.clone()),
        amount: Set(r.amount),
        kind: Set(r.kind),
        payment_channel: Set(r.payment_channel),
        method: Set(r.method),
        transaction_ref: Set(r.transaction_ref.clone()),
        issued_at: Set(r.issued_at),
        status: Set(r.status),
        cancelled_at: Set(r.cancelled_at),
        cancel_reason: Set(r.cancel_reason.clone()),
        version: Set(1),
        content_hash: Set(hash),
    }
}

pub fn feedback_model(
    r: &FeedbackRow,
    unit_id: i64,
    dossier_id: Option<i64>,
    repeat_of_id: Option<i64>,
    vault: &Vault,
    hash: String,
) -> entity::feedback::ActiveModel {
    let recorder = Recorder::of(vault, r.recorded_by.as_deref());
    entity::feedback::ActiveModel {
        id: NotSet,
        code: Set(r.code.clone()),
        kind: Set(r.kind),
        channel: Set(r.channel),
        unit_id: Set(unit_id),
        dossier_id: Set(dossier_id),
        received_at: Set(r.received_at),
        due_at: Set(r.due_at),
        answered_at: Set(r.answered_at),
        answer: Set(r.answer.clone()),
        rating: Set(r.rating),
        likes: Set(r.likes),
        dislikes: Set(r.dislikes),
        repeat_of_id: Set(repeat_of_id),
        content: Set(r.content.clone()),
        recorded_by_sealed: Set(recorder.sealed),
        recorded_by_hash: Set(recorder.hash),
        recorded_by_masked: Set(recorder.masked),
        version: Set(1),
        content_hash: Set(hash),
    }
}

/// Bumps a row's version when it still has `expected`; false when another write got there first.
pub async fn bump_version<E>(conn: &impl ConnectionTrait, id: i64, expected: i32) -> Result<bool, DbErr>
where
    E: EntityTrait,
{
    let table = E::default();
    let stmt = Query::update()
        .table(table)
        .value(Alias::new("version"), Expr::col(Alias::new("version")).add(1))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .and_where(Expr::col(Alias::new("version")).eq(expected))
        .to_owned();
    let res = conn.execute(&stmt).await?;
    Ok(res.rows_affected() == 1)
}
