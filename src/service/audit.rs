//! Reading the audit trail (ADMIN, in scope), and the events of the command line.

use super::policy::{self, Audit, Operation};
use super::{ApiError, PageArgs, Service};
use crate::db::audit::{AuditFilter, Stamp};
use crate::db::read::{Page, ReadScope};
use crate::domain::time::Micros;
use entity::audit_event::{self, Actor, Outcome};
use sea_orm::ActiveEnum;

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
        let op = Operation::AuditEvents;
        let g = self.grant(op).await?;
        let ReadScope::Units(scope, _) = &g.scope else { return Err(ApiError::NotFound) };
        if policy::rule_of(op).is_some_and(|r| r.audit == Audit::Queries) {
            // Who looked whom up: the subject asked for is kept as the trail keeps citizens, by its keyed hash.
            let subject = q.subject.as_deref().map(|s| self.app.vault.hash(s));
            let mut e = self.stamp(op.name(), Some(&g.tree)).record(g.now, Outcome::Ok, None);
            e.detail = Some(format!(
                "subject {}, object {}, operation {}, outcome {}, from {}, to {}",
                subject.as_deref().unwrap_or("-"),
                q.object_code.as_deref().unwrap_or("-"),
                q.operation.as_deref().unwrap_or("-"),
                q.outcome.map_or("-".to_owned(), |o| o.to_value()),
                q.from.map_or("-".to_owned(), |t| t.to_string()),
                q.to.map_or("-".to_owned(), |t| t.to_string()),
            ));
            self.app.audit.record(e).await?;
        }
        // Every access acknowledged before the request, unless the database keeps the writer from it.
        if !self.app.audit.flush_within(std::time::Duration::from_secs(2)).await {
            tracing::warn!("the audit trail is behind: the answer may miss the latest accesses");
        }
        let subjects = q.subject.map(|s| vec![self.app.vault.hash(&s), s]).unwrap_or_default();
        let f = AuditFilter {
            subjects,
            object_code: q.object_code,
            operation: q.operation,
            outcome: q.outcome,
            from: q.from,
            to: q.to,
        };
        let f = &f;
        Ok((self.app.reads)
            .run(|db| async move { crate::db::audit::events(&db, scope, f, page.first, page.after).await })
            .await?)
    }
}

/// The stamp of a command-line operation: the operator's account, no role, no network address.
pub fn operator_stamp(name: &str, operation: &str) -> Stamp {
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

/// Writes the audit trail as JSON Lines, oldest first: every event, or those about `unit`'s scope (as of now),
/// within `[from, to)`. The export is itself recorded. Returns how many events were written.
pub async fn export_trail<W: tokio::io::AsyncWrite + Unpin>(
    conn: &sea_orm::DatabaseConnection,
    operator: &str,
    unit: Option<&str>,
    (from, to): (Option<crate::domain::time::Micros>, Option<crate::domain::time::Micros>),
    out: &mut W,
) -> anyhow::Result<u64> {
    use tokio::io::AsyncWriteExt;
    let tree = crate::db::load_units(conn).await?;
    let scope = match unit {
        Some(code) => {
            let Some(u) = tree.get(code) else { anyhow::bail!("unknown unit `{code}`") };
            Some((tree.scope_at(code, crate::domain::time::now()), u.id))
        }
        None => None,
    };
    let filter = crate::db::audit::AuditFilter { from, to, ..Default::default() };
    let (mut after, mut n) = (0, 0u64);
    loop {
        let page =
            crate::db::audit::events_after(conn, scope.as_ref().map(|s| &s.0), &filter, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in page {
            let line = serde_json::json!({
                "id": e.id,
                "at": crate::domain::time::from_micros(e.at).to_rfc3339(),
                "actor": e.actor.to_value(),
                "subject": e.subject,
                "role": e.role,
                "actor_unit": e.actor_unit,
                "operation": e.operation,
                "outcome": e.outcome.to_value(),
                "object_kind": e.object_kind.map(|k| k.to_value()),
                "object_code": e.object_code,
                "unit": e.unit_id.and_then(|id| tree.by_id(id)).map(|u| u.code.clone()),
                "fields": crate::db::audit::fields(&e)?.into_iter().map(|f| f.name()).collect::<Vec<_>>(),
                "client_addr": e.client_addr,
                "request_id": e.request_id,
                "detail": e.detail,
            });
            out.write_all(line.to_string().as_bytes()).await?;
            out.write_all(b"\n").await?;
            n += 1;
        }
    }
    let stamp = operator_stamp(operator, "auditExport");
    let mut e = stamp.record(crate::domain::time::now(), entity::audit_event::Outcome::Ok, None);
    e.detail =
        Some(format!("{n} events of {}", unit.map_or("every unit".to_owned(), |u| format!("unit {u}"))));
    e.unit_id = scope.map(|s| s.1);
    crate::db::audit::insert(conn, &[e]).await?;
    Ok(n)
}
