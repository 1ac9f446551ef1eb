//! The audit trail's writer.
//!
//! Writes are audited inside their own transaction (see `db::lifecycle`): a write and its audit event commit
//! together or not at all. Reads, refusals and the like are handed to this writer, which appends them in
//! batches from a background task, so that recording an access costs a request a channel send, not a database
//! round trip. An accepted event is in memory until its batch commits (within about 200 ms); a database fault
//! makes the writer retry the batch until it commits, and a full queue makes requests wait rather than drop
//! events. [`AuditLog::flush`] waits until everything recorded before it is in the database (the server calls it
//! when it stops; the audit query calls it so that it sees every access acknowledged before it).

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

pub use crate::db::audit::AuditRecord;

/// Events the queue holds before requests wait for room.
const QUEUE: usize = 10_000;
/// Events appended by one statement at most.
const BATCH: usize = 1_000;
/// How long a request waits for room in a full queue before it fails (the database is down or far behind).
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the writer gathers events before it writes them (unless a flush is asked for or the batch is full):
/// at low rates one statement then carries many events instead of one, which is what keeps recording cheap.
const LINGER: Duration = Duration::from_millis(200);

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
    /// Wakes the writer before its gathering time is up, when someone waits for a flush.
    hurry: std::sync::Arc<tokio::sync::Notify>,
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
        let hurry = std::sync::Arc::new(tokio::sync::Notify::new());
        tokio::spawn(write_loop(db, rx, hurry.clone()));
        AuditLog { tx, hurry }
    }

    /// Hands an event to the writer (waiting for room when the queue is full).
    pub async fn record(&self, r: AuditRecord) -> Result<(), Unrecorded> {
        match self.tx.try_send(Msg::Record(Box::new(r))) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(m)) => {
                self.tx.send_timeout(m, SEND_TIMEOUT).await.map_err(|_| Unrecorded)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Unrecorded),
        }
    }

    /// Waits until every event recorded before this call is in the database.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            self.hurry.notify_one();
            let _ = wait.await;
        }
    }

    /// [`flush`](Self::flush), for at most `limit` (the database may be down); whether it completed.
    pub async fn flush_within(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.flush()).await.is_ok()
    }
}

/// Appends what arrives, a batch at a time, retrying a batch until it commits. After the first event of a batch
/// the writer sleeps for [`LINGER`] (or until a flush is asked for) and then takes whatever queued meanwhile, so
/// that events arriving one by one neither wake it one by one nor cost one statement each.
async fn write_loop(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Msg>,
    hurry: std::sync::Arc<tokio::sync::Notify>,
) {
    let mut batch: Vec<AuditRecord> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let take = |msg: Msg, batch: &mut Vec<AuditRecord>, waiting: &mut Vec<oneshot::Sender<()>>| match msg {
        Msg::Record(r) => batch.push(*r),
        Msg::Flush(done) => waiting.push(done),
    };
    while let Some(first) = rx.recv().await {
        take(first, &mut batch, &mut waiting);
        tokio::select! {
            _ = tokio::time::sleep(LINGER) => {}
            _ = hurry.notified() => {}
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(msg) => take(msg, &mut batch, &mut waiting),
                Err(_) => break,
            }
        }
        let rows = merge(std::mem::take(&mut batch));
        let mut backoff = Duration::from_millis(50);
        while !rows.is_empty() {
            match crate::db::audit::append(&db, &rows).await {
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
                out[i].fields = out[i].fields.union(r.fields);
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

/// Deletes, once a day, the events older than `retention_days` (the database refuses to delete any younger than
/// its minimum, whatever the setting).
pub async fn purge_daily(db: DatabaseConnection, retention_days: u32) {
    let day = Duration::from_secs(24 * 3600);
    loop {
        let keep = i64::from(retention_days) * 86_400_000_000;
        match crate::db::audit::purge(&db, crate::domain::time::now() - keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "audit events past their retention deleted"),
            Err(e) => tracing::error!(error = %e, "audit retention purge failed"),
        }
        tokio::time::sleep(day).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::personal::PersonalField;
    use crate::domain::personal::PersonalField::{
        ApplicantIdNumber as Id, ApplicantName as Name, ApplicantPhone as Phone,
    };
    use entity::audit_event::{Actor, ObjectKind, Outcome};

    fn read(request: Option<&str>, code: &str, field: PersonalField) -> AuditRecord {
        AuditRecord {
            at: 1,
            actor: Actor::Staff,
            subject: Some("s".into()),
            role: Some("LEADER".into()),
            actor_unit: Some("49".into()),
            operation: "dossier".into(),
            outcome: Outcome::Ok,
            object_kind: Some(ObjectKind::Dossier),
            object_code: Some(code.into()),
            unit_id: Some(2),
            fields: [field].into_iter().collect(),
            client_addr: None,
            request_id: request.map(str::to_owned),
            detail: None,
        }
    }

    #[test]
    fn the_fields_of_one_object_in_one_request_make_one_event() {
        let merged = merge(vec![
            read(Some("r1"), "D1", Name),
            read(Some("r1"), "D2", Name),
            read(Some("r1"), "D1", Id),
            read(Some("r2"), "D1", Name),
            read(None, "D1", Name),
            read(None, "D1", Phone),
        ]);
        let got: Vec<(Option<&str>, &str, Vec<PersonalField>)> = merged
            .iter()
            .map(|r| (r.request_id.as_deref(), r.object_code.as_deref().unwrap_or(""), r.fields.fields()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("r1"), "D1", vec![Name, Id]),
                (Some("r1"), "D2", vec![Name]),
                (Some("r2"), "D1", vec![Name]),
                (None, "D1", vec![Name]),
                (None, "D1", vec![Phone]),
            ]
        );
    }
}
