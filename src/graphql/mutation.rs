//! Mutations. Each parses its input, calls one function of the service (which decides the access and runs one
//! audited transaction), and maps the result.

use async_graphql::{Context, InputObject, Object};
use chrono::{DateTime, FixedOffset};

use super::enums::*;
use super::types::*;
use super::{IntoGql, service};
use crate::db::lifecycle as lc;
use crate::domain::time::to_micros;
use crate::service::policy::Operation;

/// The applicant of a new dossier.
#[derive(InputObject)]
pub struct ApplicantInput {
    /// Identity number (9 or 12 digits) for a citizen, tax code otherwise. Stored sealed, never shown in full.
    pub id_number: String,
    /// Name.
    pub name: String,
    /// Citizen (default), business or organization.
    #[graphql(default_with = "ApplicantKind::Citizen")]
    pub kind: ApplicantKind,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Identity verified with VNeID.
    #[graphql(default)]
    pub vneid_verified: bool,
}

/// A dossier received at the desk.
#[derive(InputObject)]
pub struct ReceiveDossierInput {
    /// Procedure code.
    pub procedure_code: String,
    /// Receiving unit (in the officer's scope).
    pub unit_code: String,
    /// How it arrived.
    pub channel: Channel,
    /// The applicant.
    pub applicant: ApplicantInput,
    /// When submitted online, if it was.
    pub submitted_at: Option<DateTime<FixedOffset>>,
    /// Due time: the procedure's processing time in working days, unless an earlier one is given (it may be
    /// shortened, never extended).
    pub due_at: Option<DateTime<FixedOffset>>,
    /// Input documents were digitized.
    #[graphql(default)]
    pub inputs_digitized: bool,
    /// Data already held by the state was reused.
    #[graphql(default)]
    pub reused_data: bool,
    /// Documents came from the citizen's e-storage.
    #[graphql(default)]
    pub from_citizen_storage: bool,
}

/// A receipt to issue.
#[derive(InputObject)]
pub struct IssueReceiptInput {
    /// Series (ký hiệu).
    pub series: String,
    /// Number, unique within the series.
    pub number: i64,
    /// Template (mẫu số).
    pub template: Option<String>,
    /// The dossier paid for.
    pub dossier_code: String,
    /// Payer.
    pub payer_name: String,
    /// Payer's tax code.
    pub payer_tax_code: Option<String>,
    /// Amount in VND (> 0).
    pub amount: i64,
    /// Phí or lệ phí.
    pub kind: ReceiptKind,
    /// Where it was paid.
    pub payment_channel: PaymentChannel,
    /// Means of payment.
    pub method: Option<PaymentMethod>,
    /// Payment transaction reference.
    pub transaction_ref: Option<String>,
}

/// Feedback to record; `receivedAt` is the server's clock.
#[derive(InputObject)]
pub struct RecordFeedbackInput {
    /// Kind.
    pub kind: FeedbackKind,
    /// How it reached the unit.
    pub channel: FeedbackChannel,
    /// The unit it concerns.
    pub unit_code: String,
    /// The dossier it concerns (required for citizens).
    pub dossier_code: Option<String>,
    /// What was said.
    pub content: String,
    /// The rating (required for RATING).
    pub rating: Option<Rating>,
    /// When a complaint or recommendation must be answered: ten working days after it is received, unless staff
    /// give an earlier time (it may be shortened, never extended; citizens give none; other kinds have none).
    pub due_at: Option<DateTime<FixedOffset>>,
    /// Code of the feedback this repeats.
    pub repeat_of: Option<String>,
}

/// Root of every mutation.
pub struct Mutation;

/// Root of every mutation.
#[Object]
impl Mutation {
    /// Receives a dossier at a one-stop desk (OFFICER, ADMIN).
    async fn receive_dossier(
        &self,
        ctx: &Context<'_>,
        input: ReceiveDossierInput,
    ) -> async_graphql::Result<Dossier> {
        let a = input.applicant;
        let spec = lc::NewDossier {
            procedure_code: input.procedure_code.into(),
            unit_code: input.unit_code.into(),
            channel: input.channel.into(),
            applicant_id_number: a.id_number,
            applicant_name: a.name,
            applicant_kind: a.kind.into(),
            applicant_phone: a.phone,
            applicant_email: a.email,
            vneid_verified: a.vneid_verified,
            submitted_at: input.submitted_at.map(to_micros),
            due_at: input.due_at.map(to_micros),
            inputs_digitized: input.inputs_digitized,
            reused_data: input.reused_data,
            from_citizen_storage: input.from_citizen_storage,
        };
        let d = service(ctx).receive_dossier(spec).await.gql()?;
        Ok(Dossier(d, Operation::ReceiveDossier))
    }

    /// Moves a dossier to a new status along the allowed transitions (OFFICER, ADMIN).
    async fn change_dossier_status(
        &self,
        ctx: &Context<'_>,
        code: String,
        status: DossierStatus,
        note: Option<String>,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Dossier> {
        let d = service(ctx)
            .change_dossier_status(&code.into(), status.into(), note, expected_version)
            .await
            .gql()?;
        Ok(Dossier(d, Operation::ChangeDossierStatus))
    }

    /// Asks the applicant for missing documents (OFFICER, ADMIN).
    async fn request_supplement(
        &self,
        ctx: &Context<'_>,
        code: String,
        reason: String,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Dossier> {
        let d = service(ctx).request_supplement(&code.into(), reason, expected_version).await.gql()?;
        Ok(Dossier(d, Operation::RequestSupplement))
    }

    /// Records that the applicant supplied the documents; processing resumes (OFFICER, ADMIN).
    async fn answer_supplement(
        &self,
        ctx: &Context<'_>,
        code: String,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Dossier> {
        let d = service(ctx).answer_supplement(&code.into(), expected_version).await.gql()?;
        Ok(Dossier(d, Operation::AnswerSupplement))
    }

    /// Issues an apology letter with a new appointment (OFFICER, ADMIN).
    async fn issue_apology(
        &self,
        ctx: &Context<'_>,
        code: String,
        reason: String,
        new_due_at: DateTime<FixedOffset>,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Dossier> {
        let d = service(ctx)
            .issue_apology(&code.into(), reason, to_micros(new_due_at), expected_version)
            .await
            .gql()?;
        Ok(Dossier(d, Operation::IssueApology))
    }

    /// Issues an e-receipt; a taken series and number is a CONFLICT (OFFICER, ADMIN).
    async fn issue_receipt(
        &self,
        ctx: &Context<'_>,
        input: IssueReceiptInput,
    ) -> async_graphql::Result<Receipt> {
        let spec = lc::NewReceipt {
            series: input.series,
            number: input.number,
            template: input.template,
            dossier_code: input.dossier_code.into(),
            payer_name: input.payer_name,
            payer_tax_code: input.payer_tax_code,
            amount: input.amount,
            kind: input.kind.into(),
            payment_channel: input.payment_channel.into(),
            method: input.method.map(Into::into),
            transaction_ref: input.transaction_ref,
        };
        Ok(Receipt(service(ctx).issue_receipt(spec).await.gql()?, Operation::IssueReceipt))
    }

    /// Cancels an e-receipt with a reason (OFFICER, ADMIN).
    async fn cancel_receipt(
        &self,
        ctx: &Context<'_>,
        series: String,
        number: i64,
        reason: String,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Receipt> {
        let r = service(ctx).cancel_receipt(&series, number, reason, expected_version).await.gql()?;
        Ok(Receipt(r, Operation::CancelReceipt))
    }

    /// Records feedback (HOTLINE, OFFICER, ADMIN in scope; CITIZEN on their own dossiers).
    async fn record_feedback(
        &self,
        ctx: &Context<'_>,
        input: RecordFeedbackInput,
    ) -> async_graphql::Result<Feedback> {
        let spec = lc::NewFeedback {
            kind: input.kind.into(),
            channel: input.channel.into(),
            unit_code: input.unit_code.into(),
            dossier_code: input.dossier_code.map(Into::into),
            content: input.content,
            rating: input.rating.map(Into::into),
            due_at: input.due_at.map(to_micros),
            repeat_of: input.repeat_of,
            recorded_by: None,
        };
        Ok(Feedback(service(ctx).record_feedback(spec).await.gql()?, Operation::RecordFeedback))
    }

    /// Answers feedback (HOTLINE, OFFICER, ADMIN in scope).
    async fn answer_feedback(
        &self,
        ctx: &Context<'_>,
        code: String,
        answer: String,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Feedback> {
        let f = service(ctx).answer_feedback(&code, answer, expected_version).await.gql()?;
        Ok(Feedback(f, Operation::AnswerFeedback))
    }
}
