//! Queries.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, FixedOffset};

use super::enums::*;
use super::types::*;
use super::{IntoGql, app, caller, service};
use crate::auth::Caller;
use crate::db::read;
use crate::service::policy::Operation;
use crate::service::{ApiError, PageArgs};

/// Filters of `dossiers`.
#[derive(InputObject, Default)]
pub struct DossierFilter {
    /// Only this unit and the units below it (and units merged into it).
    pub unit_code: Option<String>,
    /// Only this procedure.
    pub procedure_code: Option<String>,
    /// Only procedures of this sector.
    pub sector_code: Option<String>,
    /// Only this current status.
    pub status: Option<DossierStatus>,
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Received at or after.
    pub received_from: Option<DateTime<FixedOffset>>,
    /// Received before.
    pub received_to: Option<DateTime<FixedOffset>>,
    /// Only dossiers still open past their due time (true), or all others (false).
    pub overdue: Option<bool>,
}

/// Filters of `receipts`.
#[derive(InputObject, Default)]
pub struct ReceiptFilter {
    /// Receipts of this dossier.
    pub dossier_code: Option<String>,
    /// This series.
    pub series: Option<String>,
    /// Issued or cancelled.
    pub status: Option<ReceiptStatus>,
}

/// Filters of `feedbacks`.
#[derive(InputObject, Default)]
pub struct FeedbackFilter {
    /// Feedback of this unit's scope.
    pub unit_code: Option<String>,
    /// Feedback about this dossier.
    pub dossier_code: Option<String>,
    /// This kind.
    pub kind: Option<FeedbackKind>,
    /// Unanswered (true) or answered (false).
    pub open: Option<bool>,
}

/// Filters of `procedures`.
#[derive(InputObject, Default)]
pub struct ProcedureFilter {
    /// Procedures of this sector.
    pub sector_code: Option<String>,
    /// Announced by this province or ministry.
    pub authority_code: Option<String>,
    /// Performed at this level.
    pub level: Option<ProcedureLevel>,
    /// Online level.
    pub online_level: Option<OnlineLevel>,
    /// Part of the name or code.
    pub search: Option<String>,
    /// Include abolished procedures.
    #[graphql(default)]
    pub include_abolished: bool,
}

/// Who the caller is.
#[derive(SimpleObject)]
pub struct Viewer {
    /// The role, or null for anonymous callers.
    pub role: Option<Role>,
    /// The unit of a staff token.
    pub unit_code: Option<String>,
}

fn page_size(ctx: &Context<'_>, first: Option<i32>) -> async_graphql::Result<u64> {
    let max = app(ctx).settings.limits.max_page_size;
    match first {
        None => Ok(max.min(20) as u64),
        Some(n) if n < 1 || n as usize > max => {
            Err(ApiError::Validation(format!("`first` must be between 1 and {max}"))).gql()
        }
        Some(n) => Ok(n as u64),
    }
}

/// The page a list asks for, and whether it gave a cursor.
pub(crate) fn page(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<(PageArgs, bool)> {
    let had = after.is_some();
    Ok((PageArgs { first: page_size(ctx, first)?, after: cursor(after)? }, had))
}

fn cursor(after: Option<String>) -> async_graphql::Result<Option<i64>> {
    after
        .map(|c| {
            use base64::Engine;
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c.as_bytes()).ok();
            raw.and_then(|r| String::from_utf8(r).ok())
                .and_then(|s| s.strip_prefix("id:").and_then(|n| n.parse().ok()))
        })
        .map(|c| c.ok_or_else(|| ApiError::Validation("invalid cursor".into())).gql())
        .transpose()
}

pub(crate) fn encode_cursor(id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

pub(crate) fn connection<M, T>(
    page: read::Page<M>,
    id: impl Fn(&M) -> i64,
    wrap: impl Fn(M) -> T,
    had_cursor: bool,
) -> Connection<String, T, EmptyFields, EmptyFields>
where
    T: async_graphql::OutputType,
{
    let mut c = Connection::new(had_cursor, page.has_next);
    c.edges.extend(page.items.into_iter().map(|m| Edge::new(encode_cursor(id(&m)), wrap(m))));
    c
}

/// Dossiers, receipts, feedback, the catalog and units.
#[derive(Default)]
pub struct CoreQuery;

/// Dossiers, receipts, feedback, the catalog and units.
#[Object]
impl CoreQuery {
    /// Who the caller is, as the gateway understood the token.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        service(ctx).viewer().await.gql()?;
        Ok(match caller(ctx) {
            Caller::Anonymous => Viewer { role: None, unit_code: None },
            Caller::Citizen { .. } => Viewer { role: Some(Role::Citizen), unit_code: None },
            Caller::Staff { role, unit, .. } => {
                Viewer { role: Some((*role).into()), unit_code: Some(unit.clone()) }
            }
        })
    }

    /// The public procedure catalog (no token needed), in catalog order.
    async fn procedures(
        &self,
        ctx: &Context<'_>,
        filter: Option<ProcedureFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Procedure, EmptyFields, EmptyFields>> {
        let f = filter.unwrap_or_default();
        let spec = read::ProcedureFilter {
            sector_code: f.sector_code,
            level: f.level.map(Into::into),
            online_level: f.online_level.map(Into::into),
            search: f.search,
            include_abolished: f.include_abolished,
        };
        let (args, had) = page(ctx, first, after)?;
        let p = service(ctx).procedures(f.authority_code.as_deref(), &spec, args).await.gql()?;
        Ok(connection(p, |p| p.id, Procedure, had))
    }

    /// One procedure of the catalog.
    async fn procedure(&self, ctx: &Context<'_>, code: String) -> async_graphql::Result<Option<Procedure>> {
        Ok(service(ctx).procedure(&code).await.gql()?.map(Procedure))
    }

    /// Every sector.
    async fn sectors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Sector>> {
        Ok(service(ctx).sectors().await.gql()?.into_iter().map(Sector::from).collect())
    }

    /// Administrative units, by level and parent (public reference data).
    async fn units(
        &self,
        ctx: &Context<'_>,
        level: Option<UnitLevel>,
        parent_code: Option<String>,
    ) -> async_graphql::Result<Vec<Unit>> {
        let units = service(ctx).units(level.map(Into::into), parent_code.as_deref()).await.gql()?;
        Ok(units.into_iter().map(Unit).collect())
    }

    /// One unit.
    async fn unit(&self, ctx: &Context<'_>, code: String) -> async_graphql::Result<Option<Unit>> {
        Ok(service(ctx).unit(&code).await.gql()?.map(Unit))
    }

    /// A dossier's public status by its code: no token needed, no personal data.
    async fn dossier_status(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<Option<PublicDossierStatus>> {
        Ok(service(ctx).dossier_status(&code.into()).await.gql()?.map(PublicDossierStatus))
    }

    /// One dossier; null when missing or outside the caller's scope.
    async fn dossier(&self, ctx: &Context<'_>, code: String) -> async_graphql::Result<Option<Dossier>> {
        Ok(service(ctx).dossier(&code.into()).await.gql()?.map(|d| Dossier(d, Operation::Dossier)))
    }

    /// Dossiers in the caller's scope (a citizen: their own), newest first.
    async fn dossiers(
        &self,
        ctx: &Context<'_>,
        filter: Option<DossierFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Dossier, EmptyFields, EmptyFields>> {
        let f = filter.unwrap_or_default();
        let spec = read::DossierFilter {
            procedure_code: f.procedure_code,
            sector_code: f.sector_code,
            status: f.status.map(Into::into),
            channel: f.channel.map(Into::into),
            received_from: f.received_from,
            received_to: f.received_to,
            overdue: f.overdue,
        };
        let (args, had) = page(ctx, first, after)?;
        let p = service(ctx).dossiers(f.unit_code.as_deref(), &spec, args).await.gql()?;
        Ok(connection(p, |d| d.id, |d| Dossier(d, Operation::Dossiers), had))
    }

    /// E-receipts of dossiers in scope, newest first.
    async fn receipts(
        &self,
        ctx: &Context<'_>,
        filter: Option<ReceiptFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Receipt, EmptyFields, EmptyFields>> {
        let f = filter.unwrap_or_default();
        let spec = read::ReceiptFilter {
            dossier_code: f.dossier_code.map(Into::into),
            series: f.series,
            status: f.status.map(Into::into),
        };
        let (args, had) = page(ctx, first, after)?;
        let p = service(ctx).receipts(&spec, args).await.gql()?;
        Ok(connection(p, |r| r.row.id, |r| Receipt(r, Operation::Receipts), had))
    }

    /// One receipt by series and number; null when missing or out of scope.
    async fn receipt(
        &self,
        ctx: &Context<'_>,
        series: String,
        number: i64,
    ) -> async_graphql::Result<Option<Receipt>> {
        Ok(service(ctx).receipt(&series, number).await.gql()?.map(|r| Receipt(r, Operation::Receipt)))
    }

    /// Feedback in scope (a citizen: about their own dossiers), newest first.
    async fn feedbacks(
        &self,
        ctx: &Context<'_>,
        filter: Option<FeedbackFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Feedback, EmptyFields, EmptyFields>> {
        let f = filter.unwrap_or_default();
        let spec = read::FeedbackFilter {
            dossier_code: f.dossier_code.map(Into::into),
            kind: f.kind.map(Into::into),
            open: f.open,
        };
        let (args, had) = page(ctx, first, after)?;
        let p = service(ctx).feedbacks(f.unit_code.as_deref(), &spec, args).await.gql()?;
        Ok(connection(p, |f| f.row.id, |f| Feedback(f, Operation::Feedbacks), had))
    }

    /// One feedback by code; null when missing or out of scope.
    async fn feedback(&self, ctx: &Context<'_>, code: String) -> async_graphql::Result<Option<Feedback>> {
        Ok(service(ctx).feedback(&code).await.gql()?.map(|f| Feedback(f, Operation::Feedback)))
    }
}
