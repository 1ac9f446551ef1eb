//! GraphQL object types. Each wraps a stored row or a domain value; entity models are never exposed as they
//! are, and personal data only ever leaves masked.

use async_graphql::{
    Context, InputValueError, InputValueResult, Object, Scalar, ScalarType, SimpleObject, Value,
};
use chrono::{DateTime, FixedOffset, NaiveDate};

use super::enums::*;
use super::error::IntoGql;
use super::{app, loaders, service};
use crate::db::audit::ObjectRef;
use crate::domain;
use crate::domain::scope::UnitInfo;
use crate::domain::time::{from_micros, now};
use crate::service::policy::{Operation, PersonalField};
use crate::service::{ApiError, FeedbackView, ReceiptView};

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("expected YYYY-MM-DD")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

fn at(us: i64) -> DateTime<FixedOffset> {
    from_micros(us)
}

fn internal<T>(r: Result<T, impl std::fmt::Display>) -> async_graphql::Result<T> {
    r.map_err(|e| ApiError::internal(e)).gql()
}

/// An administrative unit (a versioned record: merged units keep their row with `validTo` and `successorCode`).
pub struct Unit(pub UnitInfo);

/// An administrative unit (a versioned record: merged units keep their row with `validTo` and `successorCode`).
#[Object]
impl Unit {
    /// Unit code (e.g. `49` for Quảng Nam, `VN` for the country).
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Official name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Administrative level.
    async fn level(&self) -> UnitLevel {
        self.0.level.into()
    }
    /// Code of the parent unit.
    async fn parent_code(&self) -> Option<&str> {
        self.0.parent_code.as_deref()
    }
    /// First day of validity.
    async fn valid_from(&self) -> Option<Date> {
        self.0.valid_from.map(Date)
    }
    /// First day no longer valid (exclusive end), for merged or dissolved units.
    async fn valid_to(&self) -> Option<Date> {
        self.0.valid_to.map(Date)
    }
    /// The unit that absorbed this one.
    async fn successor_code(&self) -> Option<&str> {
        self.0.successor_code.as_deref()
    }
    /// Whether the unit issues electronic certified copies (communes).
    async fn offers_e_certified_copy(&self) -> bool {
        self.0.offers_e_certified_copy
    }
    /// Whether the unit is valid now.
    async fn valid_now(&self) -> bool {
        self.0.valid_at(now())
    }
    /// Units whose parent is this one.
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Unit>> {
        let tree = internal(app(ctx).units().await)?;
        Ok(tree.children_of(&self.0.code).cloned().map(Unit).collect())
    }
}

/// A sector (lĩnh vực).
#[derive(SimpleObject)]
pub struct Sector {
    /// Sector code.
    pub code: String,
    /// Sector name.
    pub name: String,
}

impl From<entity::sector::Model> for Sector {
    fn from(m: entity::sector::Model) -> Self {
        Sector { code: m.code, name: m.name }
    }
}

/// An administrative procedure (thủ tục hành chính) in the public catalog.
pub struct Procedure(pub entity::procedure::Model);

#[Object]
impl Procedure {
    /// Procedure code on the national database (e.g. `1.004227`).
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The sector it belongs to.
    async fn sector(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Sector>> {
        Ok(internal(loaders(ctx).sectors.load_one(self.0.sector_id).await)?.map(Sector::from))
    }
    /// The province or ministry that announced it.
    async fn authority(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Unit>> {
        Ok(internal(app(ctx).units().await)?.by_id(self.0.authority_id).cloned().map(Unit))
    }
    /// Where it is performed.
    async fn level(&self) -> ProcedureLevel {
        self.0.level.into()
    }
    /// How far it can be done online.
    async fn online_level(&self) -> OnlineLevel {
        self.0.online_level.into()
    }
    /// Fee in VND (0 when free).
    async fn fee(&self) -> i64 {
        self.0.fee
    }
    /// Processing time in working days.
    async fn processing_days(&self) -> Option<f64> {
        self.0.processing_days
    }
    /// Who may apply.
    async fn applicant_types(&self) -> Vec<ApplicantKind> {
        self.0.applicant_types.0.iter().copied().map(Into::into).collect()
    }
    /// Whether the result is issued on paper.
    async fn returns_paper_result(&self) -> bool {
        self.0.returns_paper_result
    }
    /// Whether it is abolished.
    async fn abolished(&self) -> bool {
        self.0.status == domain::ProcedureStatus::Abolished
    }
    /// Date the legal basis takes effect.
    async fn legal_effective_on(&self) -> Option<Date> {
        self.0.legal_effective_on.map(Date)
    }
    /// Date of the announcing decision.
    async fn announced_on(&self) -> Option<Date> {
        self.0.announced_on.map(Date)
    }
    /// Date published on the national database.
    async fn published_on(&self) -> Option<Date> {
        self.0.published_on.map(Date)
    }
    /// Parts of the public content present (name, sequence, method, components, time_limit, applicants, agency).
    async fn content(&self) -> Vec<String> {
        self.0.content.0.iter().map(|part| part.as_str().to_owned()).collect()
    }
    /// Whether all seven content parts are published.
    async fn content_full(&self) -> bool {
        self.0.content_full
    }
    /// Whether it is integrated with the national public service portal.
    async fn national_portal_integrated(&self) -> bool {
        self.0.national_portal_integrated
    }
}

/// What anyone may know of a dossier from its code: no personal data.
pub struct PublicDossierStatus(pub entity::dossier::PublicStatus);

#[Object]
impl PublicDossierStatus {
    /// Dossier code.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Current status (the latest event), if any.
    async fn status(&self) -> Option<DossierStatus> {
        self.0.status.map(Into::into)
    }
    /// The national portal's status code (1–10).
    async fn status_code(&self) -> Option<i32> {
        self.0.status.map(|s| s.code())
    }
    /// When the current status was reached.
    async fn status_at(&self) -> Option<DateTime<FixedOffset>> {
        self.0.status_at.map(at)
    }
    /// When the dossier was received.
    async fn received_at(&self) -> DateTime<FixedOffset> {
        at(self.0.received_at)
    }
    /// When the result is due.
    async fn due_at(&self) -> DateTime<FixedOffset> {
        at(self.0.due_at)
    }
    /// Name of the procedure.
    async fn procedure_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(internal(loaders(ctx).procedures.load_one(self.0.procedure_id).await)?.map(|p| p.name))
    }
    /// Name of the handling unit.
    async fn unit_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(internal(app(ctx).units().await)?.by_id(self.0.unit_id).map(|u| u.name.clone()))
    }
}

/// The applicant, with personal data masked. The personal fields asked for are recorded in the audit trail by
/// the field that returns the applicant, once for all of them.
pub struct Applicant(entity::dossier::Model);

/// The applicant, with personal data masked. Every personal field read is recorded in the audit trail.
#[Object]
impl Applicant {
    /// Citizen, business or organization.
    async fn kind(&self) -> ApplicantKind {
        self.0.applicant_kind.into()
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.applicant_name
    }
    /// Identity number or tax code, masked (`*********901`).
    async fn id_number_masked(&self) -> &str {
        &self.0.applicant_id_masked
    }
    /// Phone, masked.
    async fn phone_masked(&self) -> Option<&str> {
        self.0.applicant_phone_masked.as_deref()
    }
    /// Email, masked.
    async fn email_masked(&self) -> Option<&str> {
        self.0.applicant_email_masked.as_deref()
    }
    /// Whether the applicant's identity was verified with VNeID.
    async fn vneid_verified(&self) -> bool {
        self.0.vneid_verified
    }
}

/// One entry of a dossier's history.
#[derive(SimpleObject)]
pub struct DossierEvent {
    /// Status reached.
    pub status: DossierStatus,
    /// When.
    pub at: DateTime<FixedOffset>,
    /// Officer's note.
    pub note: Option<String>,
}

/// A request for missing documents.
#[derive(SimpleObject)]
pub struct SupplementRequest {
    /// When requested.
    pub requested_at: DateTime<FixedOffset>,
    /// When the applicant answered.
    pub received_at: Option<DateTime<FixedOffset>>,
    /// What is missing.
    pub reason: Option<String>,
}

/// An apology letter for a late dossier.
#[derive(SimpleObject)]
pub struct ApologyLetter {
    /// When issued.
    pub issued_at: DateTime<FixedOffset>,
    /// Why the dossier is late.
    pub reason: String,
    /// The new appointment.
    pub new_due_at: DateTime<FixedOffset>,
}

/// A dossier (hồ sơ) as staff in scope, or its applicant, see it.
pub struct Dossier(pub entity::dossier::Model, pub Operation);

/// A dossier (hồ sơ) as staff in scope, or its applicant, see it.
#[Object]
impl Dossier {
    /// Dossier code.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Version, incremented by every write: pass it back as `expectedVersion` to detect concurrent changes.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The procedure.
    async fn procedure(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Procedure>> {
        Ok(internal(loaders(ctx).procedures.load_one(self.0.procedure_id).await)?.map(Procedure))
    }
    /// The handling unit.
    async fn unit(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Unit>> {
        Ok(internal(app(ctx).units().await)?.by_id(self.0.unit_id).cloned().map(Unit))
    }
    /// How it reached the unit.
    async fn channel(&self) -> Channel {
        self.0.channel.into()
    }
    /// The applicant (personal data masked).
    async fn applicant(&self, ctx: &Context<'_>) -> async_graphql::Result<Applicant> {
        // Every personal field of the applicant the client asks for (and the dossier has) is recorded, in one event,
        // before any is returned.
        let d = &self.0;
        let look = ctx.look_ahead();
        let present = |f: PersonalField| match f {
            PersonalField::ApplicantPhone => d.applicant_phone_masked.is_some(),
            PersonalField::ApplicantEmail => d.applicant_email_masked.is_some(),
            _ => true,
        };
        let fields: Vec<PersonalField> = crate::service::policy::personal_fields("Applicant")
            .filter(|(name, f)| look.field(name).exists() && present(*f))
            .map(|(_, f)| f)
            .collect();
        service(ctx).reveal(self.1, &ObjectRef::dossier(d), &fields).await.gql()?;
        Ok(Applicant(d.clone()))
    }
    /// When submitted online, if it was.
    async fn submitted_at(&self) -> Option<DateTime<FixedOffset>> {
        self.0.submitted_at.map(at)
    }
    /// When received.
    async fn received_at(&self) -> DateTime<FixedOffset> {
        at(self.0.received_at)
    }
    /// When the result is due (apology letters do not move it).
    async fn due_at(&self) -> DateTime<FixedOffset> {
        at(self.0.due_at)
    }
    /// Current status.
    async fn status(&self) -> Option<DossierStatus> {
        self.0.status.map(Into::into)
    }
    /// When the current status was reached.
    async fn status_at(&self) -> Option<DateTime<FixedOffset>> {
        self.0.status_at.map(at)
    }
    /// Still open and past its due time.
    async fn overdue(&self) -> bool {
        self.0.resolved_at.is_none()
            && self.0.other_end_at.is_none()
            && self.0.not_accepted_at.is_none()
            && self.0.due_at < now()
    }
    /// Status history, oldest first.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DossierEvent>> {
        let rows = internal(loaders(ctx).events.load_one(self.0.id).await)?.unwrap_or_default();
        rows.into_iter()
            .map(|e| Ok(DossierEvent { status: e.status.into(), at: at(e.at), note: e.note }))
            .collect()
    }
    /// Supplement requests.
    async fn supplements(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SupplementRequest>> {
        let rows = internal(loaders(ctx).supplements.load_one(self.0.id).await)?.unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|s| SupplementRequest {
                requested_at: at(s.requested_at),
                received_at: s.received_at.map(at),
                reason: s.reason,
            })
            .collect())
    }
    /// Apology letters.
    async fn apologies(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApologyLetter>> {
        let rows = internal(loaders(ctx).apologies.load_one(self.0.id).await)?.unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|a| ApologyLetter {
                issued_at: at(a.issued_at),
                reason: a.reason,
                new_due_at: at(a.new_due_at),
            })
            .collect())
    }
    /// E-receipts for its fees.
    async fn receipts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Receipt>> {
        Ok(internal(loaders(ctx).receipts.load_one(self.0.id).await)?
            .unwrap_or_default()
            .into_iter()
            .map(|row| {
                let view = ReceiptView { row, dossier_code: self.0.code.clone(), unit_id: self.0.unit_id };
                Receipt(view, self.1)
            })
            .collect())
    }
    /// Feedback about it.
    async fn feedback(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Feedback>> {
        Ok(internal(loaders(ctx).feedback.load_one(self.0.id).await)?
            .unwrap_or_default()
            .into_iter()
            .map(|row| Feedback(FeedbackView { row, dossier_code: Some(self.0.code.clone()) }, self.1))
            .collect())
    }
    /// Input documents were digitized.
    async fn inputs_digitized(&self) -> bool {
        self.0.inputs_digitized
    }
    /// Data already held by the state was reused.
    async fn reused_data(&self) -> bool {
        self.0.reused_data
    }
    /// Documents came from the citizen's e-storage.
    async fn from_citizen_storage(&self) -> bool {
        self.0.from_citizen_storage
    }
    /// The result was issued electronically.
    async fn result_electronic(&self) -> bool {
        self.0.result_electronic
    }
    /// The result was sent to the citizen's e-storage.
    async fn result_to_citizen_storage(&self) -> bool {
        self.0.result_to_citizen_storage
    }
    /// When synchronized with the national portal.
    async fn synced_at(&self) -> Option<DateTime<FixedOffset>> {
        self.0.synced_at.map(at)
    }
}

/// An electronic fee receipt (biên lai điện tử).
pub struct Receipt(pub ReceiptView, pub Operation);

impl Receipt {
    fn object(&self) -> ObjectRef {
        ObjectRef::receipt(&self.0.row, Some(self.0.unit_id))
    }
}

/// An electronic fee receipt (biên lai điện tử).
#[Object]
impl Receipt {
    /// Series (ký hiệu).
    async fn series(&self) -> &str {
        &self.0.row.series
    }
    /// Number within the series.
    async fn number(&self) -> i64 {
        self.0.row.number
    }
    /// Template (mẫu số).
    async fn template(&self) -> Option<&str> {
        self.0.row.template.as_deref()
    }
    /// Version, for `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.row.version
    }
    /// Code of the dossier it pays for.
    async fn dossier_code(&self) -> &str {
        &self.0.dossier_code
    }
    /// Payer (personal data: every read is recorded).
    async fn payer_name(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        service(ctx).reveal(self.1, &self.object(), &[PersonalField::PayerName]).await.gql()?;
        Ok(&self.0.row.payer_name)
    }
    /// Payer's tax code, masked (a person's tax code is their identity number); every read is recorded.
    async fn payer_tax_code(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let Some(code) = &self.0.row.payer_tax_code else { return Ok(None) };
        service(ctx).reveal(self.1, &self.object(), &[PersonalField::PayerTaxCode]).await.gql()?;
        Ok(Some(crate::pii::mask_id(code)))
    }
    /// Amount in VND.
    async fn amount(&self) -> i64 {
        self.0.row.amount
    }
    /// Phí or lệ phí.
    async fn kind(&self) -> ReceiptKind {
        self.0.row.kind.into()
    }
    /// Where it was paid.
    async fn payment_channel(&self) -> PaymentChannel {
        self.0.row.payment_channel.into()
    }
    /// Means of payment.
    async fn method(&self) -> Option<PaymentMethod> {
        self.0.row.method.map(Into::into)
    }
    /// Payment transaction reference.
    async fn transaction_ref(&self) -> Option<&str> {
        self.0.row.transaction_ref.as_deref()
    }
    /// When issued.
    async fn issued_at(&self) -> DateTime<FixedOffset> {
        at(self.0.row.issued_at)
    }
    /// Issued or cancelled.
    async fn status(&self) -> ReceiptStatus {
        self.0.row.status.into()
    }
    /// When cancelled.
    async fn cancelled_at(&self) -> Option<DateTime<FixedOffset>> {
        self.0.row.cancelled_at.map(at)
    }
    /// Why cancelled.
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.row.cancel_reason.as_deref()
    }
}

/// Feedback: a complaint or recommendation (PAKN), a rating or a question.
pub struct Feedback(pub FeedbackView, pub Operation);

/// Feedback: a complaint or recommendation (PAKN), a rating or a question.
#[Object]
impl Feedback {
    /// Feedback code.
    async fn code(&self) -> &str {
        &self.0.row.code
    }
    /// Version, for `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.row.version
    }
    /// Kind.
    async fn kind(&self) -> FeedbackKind {
        self.0.row.kind.into()
    }
    /// How it reached the unit.
    async fn channel(&self) -> FeedbackChannel {
        self.0.row.channel.into()
    }
    /// The unit it concerns.
    async fn unit(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Unit>> {
        Ok(internal(app(ctx).units().await)?.by_id(self.0.row.unit_id).cloned().map(Unit))
    }
    /// Code of the dossier it concerns; null when there is none, or when the caller may not read that dossier.
    async fn dossier_code(&self) -> Option<&str> {
        self.0.dossier_code.as_deref()
    }
    /// When received (the server's clock for feedback recorded through the API).
    async fn received_at(&self) -> DateTime<FixedOffset> {
        at(self.0.row.received_at)
    }
    /// When the answer is due (PAKN).
    async fn due_at(&self) -> Option<DateTime<FixedOffset>> {
        self.0.row.due_at.map(at)
    }
    /// When answered.
    async fn answered_at(&self) -> Option<DateTime<FixedOffset>> {
        self.0.row.answered_at.map(at)
    }
    /// The answer.
    async fn answer(&self) -> Option<&str> {
        self.0.row.answer.as_deref()
    }
    /// The rating (RATING).
    async fn rating(&self) -> Option<Rating> {
        self.0.row.rating.map(Into::into)
    }
    /// Likes on the public answer.
    async fn likes(&self) -> i32 {
        self.0.row.likes
    }
    /// Dislikes on the public answer.
    async fn dislikes(&self) -> i32 {
        self.0.row.dislikes
    }
    /// What was said.
    async fn content(&self) -> Option<&str> {
        self.0.row.content.as_deref()
    }
    /// Who recorded it, masked (a citizen's identity number, or a staff account); every read is recorded.
    async fn recorded_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        if self.0.row.recorded_by_masked.is_none() {
            return Ok(None);
        }
        let object = ObjectRef::feedback(&self.0.row);
        service(ctx).reveal(self.1, &object, &[PersonalField::RecordedBy]).await.gql()?;
        Ok(self.0.row.recorded_by_masked.as_deref())
    }
}
