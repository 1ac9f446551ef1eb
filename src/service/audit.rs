//! Reading the audit trail (ADMIN, in scope), and the events of the command line.

use super::policy::Operation;
use super::{ApiError, PageArgs, Service};
use crate::db::audit::{AuditFilter, Stamp};
use crate::db::read::{Page, ReadScope};
use crate::domain::time::Micros;
use entity::audit_event::{self, Actor, Outcome};

/// What an administrator asks of the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// A staff account, or a citizen's identity number (matched through its keyed hash, as the trail keeps it).
    pub subject: Option<String>,
    pub object_code: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<Outcome>,
    pub from: Option<Micros>,
    pub to: Option<Micros>,
}

impl Service<'_> {
    /// The events about the units of the administrator's scope, newest first. Every access acknowledged before the
    /// request is in the answer.
    pub async fn audit_events(
        &self,
        q: AuditQuery,
        page: PageArgs,
    ) -> Result<Page<audit_event::Model>, ApiError> {
        let g = self.grant(Operation::AuditEvents).await?;
        let ReadScope::Units(scope, _) = &g.scope else { return Err(ApiError::NotFound) };
        self.app.audit.flush().await;
        let subjects = q.subject.map(|s| vec![self.app.vault.hash(&s), s]).unwrap_or_default();
        let f = AuditFilter {
            subjects,
            object_code: q.object_code,
            operation: q.operation,
            outcome: q.outcome,
            from: q.from,
            to: q.to,
        };
        Ok(crate::db::audit::events(&self.app.db, scope, &f, page.first, page.after).await?)
    }
}

/// The stamp of a command-line operation: the operator's account, no role, no network address.
pub fn operator(name: &str, operation: &str) -> Stamp {
    Stamp {
        actor: Actor::Operator,
        subject: Some(name.to_owned()),
        role: None,
        actor_unit: None,
        actor_unit_id: None,
        operation: operation.to_owned(),
        client_addr: None,
        request_id: None,
    }
}
