//! Read replicas: reads that may run on a streaming replica of the primary (`DATABASE_REPLICA_URL`) and still
//! include every write acknowledged before they began.
//!
//! A read first asks the primary for the end of its flushed write-ahead log. Every acknowledged commit ends at or
//! before it (the gateway commits with `synchronous_commit` on, PostgreSQL's default), and the position is read
//! after the read began (one position serves every request that arrived before it was asked, see
//! [`SharedReads`]). The read then takes a replica that has replayed the log at least that far: one whose last
//! known replay position already covers it, or else the next one, asked for its position every
//! [`POLL`] until it does, for at most the configured wait. A replica that fails or does not answer in time is left
//! aside for [`RETRY_AFTER`]. When no replica can serve in time, or the read fails on the replica, the read runs on
//! the primary: an answer is never older than the writes acknowledged before it, whatever the replicas do.

use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

use super::shared_reads::SharedReads;

/// How often a replica that has not yet replayed far enough is asked again.
pub const POLL: Duration = Duration::from_millis(2);
/// How long a replica that failed is left aside before it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long one position query may take.
const POSITION_TIMEOUT: Duration = Duration::from_millis(500);

/// One replica and what is known of it.
struct Replica {
    conn: DatabaseConnection,
    /// The last replay position read from it (WAL bytes; it only grows).
    replayed: AtomicI64,
    /// Left aside until then, after a failure.
    aside_until: Mutex<Option<Instant>>,
}

impl Replica {
    fn usable(&self) -> bool {
        let aside = self.aside_until.lock().unwrap_or_else(|e| e.into_inner());
        aside.is_none_or(|t| Instant::now() >= t)
    }

    fn set_aside(&self, why: &str) {
        tracing::warn!(reason = why, "read replica left aside for {} s", RETRY_AFTER.as_secs());
        *self.aside_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + RETRY_AFTER);
    }
}

/// Where reads went, for `/metrics`.
#[derive(Debug, Default)]
pub struct ReadCounts {
    /// Reads served by a replica.
    pub replica: AtomicU64,
    /// Reads a replica could have served that ran on the primary: no replica had replayed far enough in time,
    /// none was usable, or the read failed on the replica.
    pub fallback: AtomicU64,
}

/// The primary and its replicas (see the module documentation).
pub struct Reads {
    primary: DatabaseConnection,
    replicas: Arc<Vec<Replica>>,
    next: AtomicUsize,
    positions: SharedReads<Option<i64>>,
    max_wait: Duration,
    pub counts: Arc<ReadCounts>,
}

/// The end of the primary's flushed write-ahead log, in bytes.
async fn flushed(primary: &DatabaseConnection) -> Result<Option<i64>, DbErr> {
    position(primary, "pg_current_wal_flush_lsn()").await
}

/// A WAL position function's value in bytes (`None` when it has none, as `pg_last_wal_replay_lsn()` on a server
/// that is not a replica).
async fn position(conn: &DatabaseConnection, function: &str) -> Result<Option<i64>, DbErr> {
    let sql = format!("SELECT CAST({function} - '0/0'::pg_lsn AS BIGINT)");
    let row = conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql)).await?;
    Ok(row.map(|r| r.try_get_by_index::<Option<i64>>(0)).transpose()?.flatten())
}

impl Reads {
    /// Reads on `primary` only.
    pub fn primary_only(primary: DatabaseConnection) -> Self {
        Reads::new(primary, Vec::new(), Duration::ZERO)
    }

    /// Reads on `replicas` (PostgreSQL streaming replicas of `primary`) when they have caught up within
    /// `max_wait`, on `primary` otherwise.
    pub fn new(primary: DatabaseConnection, replicas: Vec<DatabaseConnection>, max_wait: Duration) -> Self {
        let replicas = replicas
            .into_iter()
            .map(|conn| Replica { conn, replayed: AtomicI64::new(-1), aside_until: Mutex::new(None) })
            .collect();
        Reads {
            primary,
            replicas: Arc::new(replicas),
            next: AtomicUsize::new(0),
            positions: SharedReads::default(),
            max_wait,
            counts: Arc::default(),
        }
    }

    /// The same replicas (and what is known of them, and the counts) with reads of the primary on `primary`,
    /// another pool of the same database (an HTTP worker's own).
    pub fn on_primary(&self, primary: DatabaseConnection) -> Self {
        Reads {
            primary,
            replicas: self.replicas.clone(),
            next: AtomicUsize::new(0),
            positions: SharedReads::default(),
            max_wait: self.max_wait,
            counts: self.counts.clone(),
        }
    }

    pub fn has_replicas(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// Runs `read` on a replica that holds every write acknowledged before this call began, or on the primary.
    /// A read that fails on the replica runs again on the primary (reads have no effects), and the replica is
    /// left aside for [`RETRY_AFTER`].
    pub async fn run<T, E, F, Fut>(&self, read: F) -> Result<T, E>
    where
        F: Fn(DatabaseConnection) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        if self.replicas.is_empty() {
            return read(self.primary.clone()).await;
        }
        let Some(replica) = self.caught_up().await else {
            self.counts.fallback.fetch_add(1, Ordering::Relaxed);
            return read(self.primary.clone()).await;
        };
        match read(replica.conn.clone()).await {
            Ok(v) => {
                self.counts.replica.fetch_add(1, Ordering::Relaxed);
                Ok(v)
            }
            Err(e) => {
                tracing::warn!(error = %e, "a read failed on a replica; it runs on the primary");
                replica.set_aside("a read failed");
                self.counts.fallback.fetch_add(1, Ordering::Relaxed);
                read(self.primary.clone()).await
            }
        }
    }

    /// A connection for a read that cannot be repeated (an export being written): a replica that holds every
    /// write acknowledged before this call began, or the primary.
    pub async fn fresh(&self) -> &DatabaseConnection {
        if self.replicas.is_empty() {
            return &self.primary;
        }
        match self.caught_up().await {
            Some(r) => {
                self.counts.replica.fetch_add(1, Ordering::Relaxed);
                &r.conn
            }
            None => {
                self.counts.fallback.fetch_add(1, Ordering::Relaxed);
                &self.primary
            }
        }
    }

    /// A usable replica that replayed the primary's log up to its flushed end as read after this call began,
    /// waiting for one for at most `max_wait`.
    async fn caught_up(&self) -> Option<&Replica> {
        let deadline = Instant::now() + self.max_wait;
        let needed = match self.positions.get("", || flushed(&self.primary)).await {
            Ok(Some(p)) => p,
            // The primary does not answer (the read will fail there too, with the primary's error), or has no
            // log position to wait for (it is itself a replica: the configuration is wrong, and its log says so).
            Ok(None) | Err(_) => return None,
        };
        let n = self.replicas.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let order = || (0..n).map(move |i| &self.replicas[(first + i) % n]).filter(|r| r.usable());
        if let Some(r) = order().find(|r| r.replayed.load(Ordering::Acquire) >= needed) {
            return Some(r);
        }
        loop {
            let mut asked = false;
            for r in order() {
                asked = true;
                let left = deadline.saturating_duration_since(Instant::now()).max(POLL);
                match tokio::time::timeout(
                    left.min(POSITION_TIMEOUT),
                    position(&r.conn, "pg_last_wal_replay_lsn()"),
                )
                .await
                {
                    Ok(Ok(Some(p))) => {
                        r.replayed.fetch_max(p, Ordering::AcqRel);
                        if p >= needed {
                            return Some(r);
                        }
                    }
                    Ok(Ok(None)) => r.set_aside("not a replica (no replay position)"),
                    Ok(Err(_)) => r.set_aside("position query failed"),
                    Err(_) => r.set_aside("position query timed out"),
                }
            }
            if !asked || Instant::now() + POLL > deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
