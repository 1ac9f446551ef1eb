//! The audit trail's writer.
//!
//! Writes are audited inside their own transaction (see `db::lifecycle`): a write and its audit event commit
//! together or not at all. Reads, refusals and the like are handed to this writer, which appends them in
//! batches from a background task, so that recording an access costs a request a channel send, not a database
//! round trip. An accepted event is in memory until its batch commits (within milliseconds); a database fault
//! makes the writer retry the batch until it commits, and a full queue makes requests wait rather than drop
//! events. [`AuditLog::flush`] waits until everything recorded before it is in the database (the server calls it
//! when it stops; the audit query calls it so that it sees every access acknowledged before it).

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::{ActiveEnum, DatabaseConnection};
use tokio::sync::{mpsc, oneshot};

pub use crate::db::audit::AuditRecord;

/// Events the queue holds before requests wait for room.
const QUEUE: usize = 10_000;
/// Events appended by one statement at most.
const BATCH: usize = 1_000;
/// How long a request waits for room in a full queue before it fails (the database is down or far behind).
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

enum Msg {
    Record(Box<AuditRecord>),
    Flush(oneshot::Sender<()>),
}

/// The audit trail could not take an event: its queue stayed full (the database does not keep up).
#[derive(Debug, thiserror::Error)]
#[error("the audit trail could not record the access")]
pub struct Unrecorded;

/// A handle on the writer; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog(..)")
    }
}

impl AuditLog {
    /// Starts the writer on `db` (on the current Tokio runtime).
    pub fn start(db: DatabaseConnection) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(db, rx));
        AuditLog { tx }
    }

    /// Hands an event to the writer.
    pub async fn record(&self, r: AuditRecord) -> Result<(), Unrecorded> {
        self.tx.send_timeout(Msg::Record(Box::new(r)), SEND_TIMEOUT).await.map_err(|_| Unrecorded)
    }

    /// Waits until every event recorded before this call is in the database.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Appends what arrives, a batch at a time, retrying a batch until it commits.
async fn write_loop(db: DatabaseConnection, mut rx: mpsc::Receiver<Msg>) {
    let mut batch: Vec<AuditRecord> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(r) => batch.push(*r),
                Msg::Flush(done) => waiting.push(done),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        let rows = merge(std::mem::take(&mut batch));
        let mut backoff = Duration::from_millis(50);
        while !rows.is_empty() {
            match crate::db::audit::insert(&db, &rows).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, events = rows.len(), "audit events not written yet; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Merges the events of one request about one object (the personal fields of one dossier are revealed one field
/// at a time) into one event listing every field. Events without a request id stay apart.
fn merge(records: Vec<AuditRecord>) -> Vec<AuditRecord> {
    let mut out: Vec<AuditRecord> = Vec::with_capacity(records.len());
    let mut index: HashMap<(String, String, Option<String>), usize> = HashMap::new();
    for r in records {
        let key = r.request_id.clone().map(|id| (id, r.operation.clone(), r.object_code.clone()));
        match key.as_ref().and_then(|k| index.get(k)) {
            Some(&i) if out[i].outcome == r.outcome && out[i].object_kind == r.object_kind => {
                for f in r.fields {
                    if !out[i].fields.contains(&f) {
                        out[i].fields.push(f);
                    }
                }
            }
            _ => {
                if let Some(k) = key {
                    index.insert(k, out.len());
                }
                out.push(r);
            }
        }
    }
    out
}

/// Deletes, once a day, the events older than the configured retention (the database refuses to delete any
/// younger than its minimum, whatever the setting).
pub async fn purge_daily(app: crate::app::App) {
    let day = Duration::from_secs(24 * 3600);
    loop {
        let keep = i64::from(app.settings.audit_retention_days) * 86_400_000_000;
        match crate::db::audit::purge(&app.db, crate::domain::time::now() - keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "audit events past their retention deleted"),
            Err(e) => tracing::error!(error = %e, "audit retention purge failed"),
        }
        tokio::time::sleep(day).await;
    }
}

/// Writes the audit trail as JSON Lines, oldest first: every event, or those about `unit`'s scope (as of now),
/// within `[from, to)`. The export is itself recorded. Returns how many events were written.
pub async fn export<W: tokio::io::AsyncWrite + Unpin>(
    conn: &DatabaseConnection,
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
                "fields": crate::db::audit::fields(&e)?,
                "client_addr": e.client_addr,
                "request_id": e.request_id,
                "detail": e.detail,
            });
            out.write_all(line.to_string().as_bytes()).await?;
            out.write_all(b"\n").await?;
            n += 1;
        }
    }
    let stamp = crate::service::audit::operator(operator, "auditExport");
    let mut e = stamp.record(crate::domain::time::now(), entity::audit_event::Outcome::Ok, None);
    e.detail =
        Some(format!("{n} events of {}", unit.map_or("every unit".to_owned(), |u| format!("unit {u}"))));
    e.unit_id = scope.map(|s| s.1);
    crate::db::audit::insert(conn, &[e]).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::audit_event::{Actor, ObjectKind, Outcome};

    fn read(request: Option<&str>, code: &str, field: &str) -> AuditRecord {
        AuditRecord {
            at: 1,
            actor: Actor::Staff,
            subject: Some("s".into()),
            role: Some("LEADER".into()),
            actor_unit: Some("49".into()),
            actor_unit_id: Some(1),
            operation: "dossier".into(),
            outcome: Outcome::Ok,
            object_kind: Some(ObjectKind::Dossier),
            object_code: Some(code.into()),
            unit_id: Some(2),
            fields: vec![field.into()],
            client_addr: None,
            request_id: request.map(str::to_owned),
            detail: None,
        }
    }

    #[test]
    fn the_fields_of_one_object_in_one_request_make_one_event() {
        let merged = merge(vec![
            read(Some("r1"), "D1", "applicant.name"),
            read(Some("r1"), "D2", "applicant.name"),
            read(Some("r1"), "D1", "applicant.idNumberMasked"),
            read(Some("r2"), "D1", "applicant.name"),
            read(None, "D1", "applicant.name"),
            read(None, "D1", "applicant.phoneMasked"),
        ]);
        let got: Vec<(Option<&str>, &str, Vec<&str>)> = merged
            .iter()
            .map(|r| {
                (
                    r.request_id.as_deref(),
                    r.object_code.as_deref().unwrap_or(""),
                    r.fields.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("r1"), "D1", vec!["applicant.name", "applicant.idNumberMasked"]),
                (Some("r1"), "D2", vec!["applicant.name"]),
                (Some("r2"), "D1", vec!["applicant.name"]),
                (None, "D1", vec!["applicant.name"]),
                (None, "D1", vec!["applicant.phoneMasked"]),
            ]
        );
    }
}
