//! The audit trail, for administrators in scope.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object};
use chrono::{DateTime, FixedOffset};

use super::query::{connection, page};
use super::{IntoGql, service};
use crate::domain::time::{from_micros, to_micros};
use crate::service::AuditQuery as Query;

/// Who acted.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::audit_event::Actor", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum AuditActor {
    /// A request without a token, or with one that was refused.
    Anonymous,
    /// A citizen (the subject is the keyed hash of their identity number).
    Citizen,
    /// Staff (the subject is the token's `sub`).
    Staff,
    /// Someone running the command line (import, export).
    Operator,
}

/// What became of an access.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::audit_event::Outcome", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum AuditOutcome {
    /// Done.
    Ok,
    /// A bad, expired or missing token.
    Unauthenticated,
    /// The role may not do this.
    Forbidden,
    /// The object exists outside the caller's records (the caller was told it does not exist).
    OutOfScope,
}

/// The kind of object accessed.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::audit_event::ObjectKind", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum AuditObjectKind {
    /// A dossier (by code).
    Dossier,
    /// An e-receipt (by `series/number`).
    Receipt,
    /// A feedback (by code).
    Feedback,
    /// A unit (by code).
    Unit,
}

/// Filters of `auditEvents`.
#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    /// A staff account, or a citizen's identity number (matched through the keyed hash the trail keeps).
    pub subject: Option<String>,
    /// The code of a dossier or feedback, or `series/number` of a receipt.
    pub object_code: Option<String>,
    /// An operation (a root field of the schema, `import`, `export`, `authenticate`).
    pub operation: Option<String>,
    /// An outcome.
    pub outcome: Option<AuditOutcome>,
    /// At or after.
    pub from: Option<DateTime<FixedOffset>>,
    /// Before.
    pub to: Option<DateTime<FixedOffset>>,
}

/// One audited access: who, what, when, from where.
pub struct AuditEvent(pub entity::audit_event::Model);

/// One audited access: who, what, when, from where.
#[Object]
impl AuditEvent {
    /// Sequence number (newer events have larger ones).
    async fn id(&self) -> i64 {
        self.0.id
    }
    /// When.
    async fn at(&self) -> DateTime<FixedOffset> {
        from_micros(self.0.at)
    }
    /// Who acted.
    async fn actor(&self) -> AuditActor {
        self.0.actor.into()
    }
    /// Staff account, keyed hash of a citizen's identity number, or operator account.
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// The token's role.
    async fn role(&self) -> Option<&str> {
        self.0.role.map(crate::domain::Role::as_str)
    }
    /// The unit of a staff token.
    async fn actor_unit_code(&self) -> Option<&str> {
        self.0.actor_unit.as_deref()
    }
    /// The operation.
    async fn operation(&self) -> &str {
        &self.0.operation
    }
    /// What became of it.
    async fn outcome(&self) -> AuditOutcome {
        self.0.outcome.into()
    }
    /// The kind of object.
    async fn object_kind(&self) -> Option<AuditObjectKind> {
        self.0.object_kind.map(Into::into)
    }
    /// The object's code.
    async fn object_code(&self) -> Option<&str> {
        self.0.object_code.as_deref()
    }
    /// The personal-data fields returned (`applicant.name`, …).
    async fn fields(&self) -> async_graphql::Result<Vec<&'static str>> {
        Ok(crate::db::audit::fields(&self.0).gql()?.into_iter().map(|f| f.name()).collect())
    }
    /// The client's network address.
    async fn client_address(&self) -> Option<&str> {
        self.0.client_addr.as_deref()
    }
    /// The request id (also in the gateway's logs).
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    /// More about it (why a token was refused, what an import or export did).
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
}

/// Audit queries.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail of the administrator's scope (events about its units' records, and refusals of its staff),
    /// newest first (ADMIN).
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditEvent, EmptyFields, EmptyFields>> {
        let f = filter.unwrap_or_default();
        let q = Query {
            subject: f.subject,
            object_code: f.object_code,
            operation: f.operation,
            outcome: f.outcome.map(Into::into),
            from: f.from.map(to_micros),
            to: f.to.map(to_micros),
        };
        let (args, had) = page(ctx, first, after)?;
        let p = service(ctx).audit_events(q, args).await.gql()?;
        Ok(connection(p, |e| e.id, AuditEvent, had))
    }
}
