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
use entity::audit_event::Outcome;

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

/// Appends what arrives, a batch at a time. After the first event of a batch the writer sleeps for [`LINGER`] (or
/// until a flush is asked for) and then takes whatever queued meanwhile, so that events arriving one by one
/// neither wake it one by one nor cost one statement each.
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
        write(&db, coalesce(std::mem::take(&mut batch))).await;
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes `rows`, however long the database stays away: an outage is retried with backoff. An event the database
/// refuses on its own while the others go in (none should, its text being cleaned) is logged and set aside, so
/// that it never holds up the trail.
async fn write(db: &DatabaseConnection, mut rows: Vec<AuditRecord>) {
    use crate::db::audit::{AppendError, append};
    let mut backoff = Duration::from_millis(50);
    while !rows.is_empty() {
        let failed = match append(db, &rows).await {
            Ok(()) => return,
            Err(AppendError::Refused(_)) if rows.len() > 1 => {
                let mut left = Vec::new();
                for r in rows {
                    match append(db, std::slice::from_ref(&r)).await {
                        Ok(()) => {}
                        Err(AppendError::Refused(e)) => {
                            tracing::error!(error = %e, event = ?r, "an audit event the database refuses was set aside");
                        }
                        Err(AppendError::Unavailable(_)) => left.push(r),
                    }
                }
                rows = left;
                continue;
            }
            Err(AppendError::Refused(e)) => {
                tracing::error!(error = %e, event = ?rows, "an audit event the database refuses was set aside");
                return;
            }
            Err(AppendError::Unavailable(e)) => e,
        };
        tracing::error!(error = %failed, events = rows.len(), "audit events not written yet; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
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

/// Folds repeated refusals without an object (a client retrying a bad token, a role calling what it may not) into
/// one event per kind and batch, which says how many there were: a flood of them costs one row per batch, not one
/// per request. Every other event stays as it is.
fn coalesce(records: Vec<AuditRecord>) -> Vec<AuditRecord> {
    let mut out: Vec<AuditRecord> = Vec::with_capacity(records.len());
    let mut seen: HashMap<AuditRecord, (usize, u32)> = HashMap::new();
    for r in records {
        if r.outcome == Outcome::Ok || r.object_code.is_some() {
            out.push(r);
            continue;
        }
        let key = AuditRecord { at: 0, request_id: None, ..r.clone() };
        match seen.get_mut(&key) {
            Some((_, n)) => *n += 1,
            None => {
                seen.insert(key, (out.len(), 1));
                out.push(r);
            }
        }
    }
    for (i, n) in seen.into_values() {
        if n > 1 {
            let d = out[i].detail.take().map_or(String::new(), |d| format!("{d}; "));
            out[i].detail = Some(format!("{d}{n} times in {} ms", LINGER.as_millis()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::personal::PersonalField;
    use crate::domain::personal::PersonalField::{ApplicantIdNumber as Id, ApplicantName as Name};
    use entity::audit_event::{Actor, ObjectKind};

    fn read(request: Option<&str>, code: &str, field: PersonalField) -> AuditRecord {
        AuditRecord {
            at: 1,
            actor: Actor::Staff,
            subject: Some("s".into()),
            role: Some(crate::domain::Role::Leader),
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
    fn repeated_refusals_fold_and_reads_stay_apart() {
        let refused = |addr: &str| AuditRecord {
            outcome: Outcome::Unauthenticated,
            object_kind: None,
            object_code: None,
            fields: Default::default(),
            client_addr: Some(addr.into()),
            detail: Some("the token has expired".into()),
            ..read(Some("r1"), "D1", Name)
        };
        let out = coalesce(vec![
            refused("10.0.0.1"),
            read(Some("r1"), "D1", Name),
            refused("10.0.0.1"),
            read(Some("r1"), "D1", Id),
            refused("10.0.0.2"),
            refused("10.0.0.1"),
        ]);
        let got: Vec<(Outcome, Option<&str>, Option<&str>)> =
            out.iter().map(|r| (r.outcome, r.client_addr.as_deref(), r.detail.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                (
                    Outcome::Unauthenticated,
                    Some("10.0.0.1"),
                    Some("the token has expired; 3 times in 200 ms")
                ),
                (Outcome::Ok, None, None),
                (Outcome::Ok, None, None),
                (Outcome::Unauthenticated, Some("10.0.0.2"), Some("the token has expired")),
            ]
        );
    }
}
