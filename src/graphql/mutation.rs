//! Mutations. Each parses its input, calls one function of `db::lifecycle` (one transaction), and maps the
//! result.

use async_graphql::{Context, InputObject, Object};
use chrono::{DateTime, FixedOffset};

use super::enums::*;
use super::types::*;
use super::{IntoGql, app, caller, require, visibility};
use crate::app::StatusChanged;
use crate::auth::Role as AuthRole;
use crate::db::convert::opt_status;
use crate::db::lifecycle as lc;
use crate::domain::time::{now, to_micros};

const OFFICERS: &[AuthRole] = &[AuthRole::Officer, AuthRole::Admin];
const DESK: &[AuthRole] = &[AuthRole::Hotline, AuthRole::Officer, AuthRole::Admin];

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
    /// Due time; defaults to the procedure's processing time in working days.
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
    /// When the answer is due (PAKN; 14 days by default).
    pub due_at: Option<DateTime<FixedOffset>>,
    /// Code of the feedback this repeats.
    pub repeat_of: Option<String>,
}

/// Root of every mutation.
pub struct Mutation;

fn announce(ctx: &Context<'_>, d: &entity::dossier::Model) {
    if let Ok(Some(status)) = opt_status(&d.status) {
        app(ctx).announce(StatusChanged { code: d.code.clone(), status });
    }
}

#[Object]
impl Mutation {
    /// Receives a dossier at a one-stop desk (OFFICER, ADMIN).
    async fn receive_dossier(
        &self,
        ctx: &Context<'_>,
        input: ReceiveDossierInput,
    ) -> async_graphql::Result<Dossier> {
        require(ctx, OFFICERS)?;
        let app = app(ctx);
        let vis = visibility(ctx).await?;
        let tree = app.units().await.gql()?;
        let cal = app.calendar().await.gql()?;
        let a = input.applicant;
        let spec = lc::NewDossier {
            procedure_code: input.procedure_code,
            unit_code: input.unit_code,
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
        let d = lc::receive_dossier(&app.db, &app.vault, &vis, &tree, &cal, spec, now()).await.gql()?;
        announce(ctx, &d);
        Ok(Dossier(d))
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
        require(ctx, OFFICERS)?;
        let vis = visibility(ctx).await?;
        let d = lc::change_status(&app(ctx).db, &vis, &code, status.into(), note, expected_version, now())
            .await
            .gql()?;
        announce(ctx, &d);
        Ok(Dossier(d))
    }

    /// Asks the applicant for missing documents (OFFICER, ADMIN).
    async fn request_supplement(
        &self,
        ctx: &Context<'_>,
        code: String,
        reason: String,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Dossier> {
        require(ctx, OFFICERS)?;
        let vis = visibility(ctx).await?;
        let d =
            lc::request_supplement(&app(ctx).db, &vis, &code, reason, expected_version, now()).await.gql()?;
        announce(ctx, &d);
        Ok(Dossier(d))
    }

    /// Records that the applicant supplied the documents; processing resumes (OFFICER, ADMIN).
    async fn answer_supplement(
        &self,
        ctx: &Context<'_>,
        code: String,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Dossier> {
        require(ctx, OFFICERS)?;
        let vis = visibility(ctx).await?;
        let d = lc::answer_supplement(&app(ctx).db, &vis, &code, expected_version, now()).await.gql()?;
        announce(ctx, &d);
        Ok(Dossier(d))
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
        require(ctx, OFFICERS)?;
        let vis = visibility(ctx).await?;
        let d = lc::issue_apology(
            &app(ctx).db,
            &vis,
            &code,
            reason,
            to_micros(new_due_at),
            expected_version,
            now(),
        )
        .await
        .gql()?;
        Ok(Dossier(d))
    }

    /// Issues an e-receipt; a taken series and number is a CONFLICT (OFFICER, ADMIN).
    async fn issue_receipt(
        &self,
        ctx: &Context<'_>,
        input: IssueReceiptInput,
    ) -> async_graphql::Result<Receipt> {
        require(ctx, OFFICERS)?;
        let vis = visibility(ctx).await?;
        let spec = lc::NewReceipt {
            series: input.series,
            number: input.number,
            template: input.template,
            dossier_code: input.dossier_code,
            payer_name: input.payer_name,
            payer_tax_code: input.payer_tax_code,
            amount: input.amount,
            kind: input.kind.into(),
            payment_channel: input.payment_channel.into(),
            method: input.method.map(Into::into),
            transaction_ref: input.transaction_ref,
        };
        Ok(Receipt(lc::issue_receipt(&app(ctx).db, &vis, spec, now()).await.gql()?))
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
        require(ctx, OFFICERS)?;
        let vis = visibility(ctx).await?;
        Ok(Receipt(
            lc::cancel_receipt(&app(ctx).db, &vis, &series, number, reason, expected_version, now())
                .await
                .gql()?,
        ))
    }

    /// Records feedback (HOTLINE, OFFICER, ADMIN in scope; CITIZEN on their own dossiers).
    async fn record_feedback(
        &self,
        ctx: &Context<'_>,
        input: RecordFeedbackInput,
    ) -> async_graphql::Result<Feedback> {
        require(ctx, &[AuthRole::Citizen, AuthRole::Hotline, AuthRole::Officer, AuthRole::Admin])?;
        let app = app(ctx);
        let vis = visibility(ctx).await?;
        let tree = app.units().await.gql()?;
        let spec = lc::NewFeedback {
            kind: input.kind.into(),
            channel: input.channel.into(),
            unit_code: input.unit_code,
            dossier_code: input.dossier_code,
            content: input.content,
            rating: input.rating.map(Into::into),
            due_at: input.due_at.map(to_micros),
            repeat_of: input.repeat_of,
            recorded_by: caller(ctx).sub().unwrap_or_default().to_owned(),
        };
        Ok(Feedback(lc::record_feedback(&app.db, &vis, &tree, spec, now()).await.gql()?))
    }

    /// Answers feedback (HOTLINE, OFFICER, ADMIN in scope).
    async fn answer_feedback(
        &self,
        ctx: &Context<'_>,
        code: String,
        answer: String,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Feedback> {
        require(ctx, DESK)?;
        let vis = visibility(ctx).await?;
        Ok(Feedback(
            lc::answer_feedback(&app(ctx).db, &vis, &code, answer, expected_version, now()).await.gql()?,
        ))
    }
}
