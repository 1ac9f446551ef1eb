//! Cached indicator answers without a database read per request, still including every acknowledged write.
//!
//! An indicator answer is cached under the data version of its scope, and it must include every write
//! acknowledged before its request arrived, by any process. Without more, that takes a read of the version
//! that starts after the request arrived (shared by the requests that arrive together, see
//! [`super::shared_reads`]): a database round trip per answer. On PostgreSQL a gateway instance instead keeps
//! the versions it read and answers from them, which is safe because every writer waits for it first:
//!
//! - **Readers.** An instance listens on the channel `writes.<its schema>` and holds a lease, a row of
//!   `cache_reader` whose `lease_until` it renews every [`TICK`] through the listening connection itself. It
//!   registers after it listens; the registration records in `taken_in` a fresh number of the sequence
//!   `write_announcement`, and only then does the instance start a new epoch and answer from versions it
//!   remembers. A version is remembered with the epoch in force before its read started and used only in that
//!   epoch, and only while the lease, as the instance counts it, lasts ([`LEASE`] minus [`MARGIN`] from when the
//!   renewal was sent, so it ends before the row's `lease_until`).
//! - **Writers.** After a write commits and before it is acknowledged, the writer looks for other live leases;
//!   when there are any it announces the write (`announce_write()`: a number from the sequence, sent as a
//!   notification) and waits until every live lease has `taken_in` at least that number, or has lapsed.
//! - **Taking in.** A reader that receives announcements starts a new epoch first, then records the highest
//!   number in `taken_in`. The number was drawn after the write committed, so a reader that took it in started
//!   its epoch after the commit: every version it reads from then on includes the write, and every version it
//!   read before is no longer used. A reader that loses its connection stops answering from memory at once; one
//!   that hangs stops renewing, and its writers wait for its lease to lapse, never longer ([`wait_for_readers`]);
//!   a connection that dies without a reset is dropped when the lease lapses, and a new session begins.
//!
//! Writers outside a gateway (the importer) wait the same way. SQLite has no notifications: a gateway on it
//! reads the version per request (the read is a local file read there).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sea_orm::sqlx::Connection;
use sea_orm::sqlx::postgres::{PgConnection, PgListener, PgPoolOptions};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::watch;

use super::DataVersion;

/// How long a lease lasts after a renewal, in the database's clock.
pub const LEASE: Duration = Duration::from_secs(5);
/// How much earlier than the database an instance counts its own lease to end.
pub const MARGIN: Duration = Duration::from_secs(1);
/// How often an instance renews its lease.
pub const TICK: Duration = Duration::from_millis(500);
/// How long a writer waits for the readers before it gives up (logged as an error): a reader renews only after
/// taking in what it received, so a live lease that never takes an announcement in means a fault.
const MAX_WAIT: Duration = Duration::from_secs(LEASE.as_secs() + 2);
/// The notification channel is this followed by the schema's name (so that gateways on other schemas of the same
/// database, which number their announcements with their own sequence, are not heard).
const CHANNEL_PREFIX: &str = "writes.";
/// A listening session lost is retried after this long.
const RETRY: Duration = Duration::from_millis(500);

/// One instance's side of the protocol (see the module documentation). Clones share it.
#[derive(Clone)]
pub struct Freshness {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    epoch: AtomicU64,
    /// Nanoseconds after `base` until which remembered versions may be used; 0: not at all.
    armed_until: AtomicU64,
    base: Instant,
    versions: Mutex<HashMap<String, (u64, DataVersion)>>,
    started: AtomicBool,
    /// Dropped with the last clone: the background tasks stop.
    _alive: watch::Sender<()>,
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new()
    }
}

/// Remembered versions beyond this many are dropped at the next epoch's first entry.
const MAX_REMEMBERED: usize = 10_000;

impl Freshness {
    pub fn new() -> Self {
        let (alive, _) = watch::channel(());
        Freshness {
            inner: Arc::new(Inner {
                id: uuid::Uuid::new_v4().simple().to_string(),
                epoch: AtomicU64::new(0),
                armed_until: AtomicU64::new(0),
                base: Instant::now(),
                versions: Mutex::new(HashMap::new()),
                started: AtomicBool::new(false),
                _alive: alive,
            }),
        }
    }

    /// This instance's lease name.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The current epoch: read it before a version read that [`Freshness::remember`] may keep.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::SeqCst)
    }

    /// The version of `key` remembered in the current epoch, while the lease lasts.
    pub fn remembered(&self, key: &str) -> Option<DataVersion> {
        if !self.inner.armed() {
            return None;
        }
        let epoch = self.epoch();
        let versions = self.inner.versions.lock().unwrap_or_else(|e| e.into_inner());
        versions.get(key).filter(|(e, _)| *e == epoch).map(|(_, v)| *v)
    }

    /// Keeps `version` of `key`, read by a read that started after `epoch` was current, if it still is.
    pub fn remember(&self, key: &str, epoch: u64, version: DataVersion) {
        let mut versions = self.inner.versions.lock().unwrap_or_else(|e| e.into_inner());
        if self.epoch() != epoch {
            return;
        }
        if versions.len() >= MAX_REMEMBERED && !versions.contains_key(key) {
            versions.retain(|_, (e, _)| *e == epoch);
        }
        versions.insert(key.to_owned(), (epoch, version));
    }

    /// Whether remembered versions are used now.
    pub fn is_armed(&self) -> bool {
        self.inner.armed()
    }

    /// Waits until remembered versions are used (tests), at most `limit`.
    pub async fn armed_within(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.is_armed() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.is_armed()
    }

    /// Forgets every remembered version: this instance wrote (or may have: a write that failed after its commit).
    pub fn wrote(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Stops listening and gives the lease back (a gateway that stops), so that writers need not wait for it to
    /// lapse; remembered versions are no longer used.
    pub async fn release(&self, db: &DatabaseConnection) {
        self.inner.disarm();
        self.inner._alive.send_replace(());
        if db.get_database_backend() == DbBackend::Postgres {
            let gone = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM cache_reader WHERE id = $1",
                [self.inner.id.clone().into()],
            );
            if let Err(e) = db.execute_raw(gone).await {
                tracing::warn!(error = %e, "the cache lease was not given back; it lapses by itself");
            }
        }
    }

    /// Starts listening for writes on `db` (PostgreSQL only; once; needs a Tokio runtime). Until the lease is
    /// taken, and whenever it is lost, versions are read per request.
    pub fn listen(&self, db: &DatabaseConnection) {
        if db.get_database_backend() != DbBackend::Postgres || self.inner.started.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let id = self.inner.id.clone();
        tokio::spawn(listen_loop(weak, db.clone(), self.inner._alive.subscribe()));
        tokio::spawn(tick_loop(id, db.clone(), self.inner._alive.subscribe()));
    }
}

impl Inner {
    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn armed(&self) -> bool {
        self.now() < self.armed_until.load(Ordering::SeqCst)
    }

    fn disarm(&self) {
        self.armed_until.store(0, Ordering::SeqCst);
    }

    /// The lease was renewed by a statement sent at `sent`.
    fn renewed(&self, sent: Instant) {
        let until = (sent + (LEASE - MARGIN)).saturating_duration_since(self.base);
        self.armed_until.store(u64::try_from(until.as_nanos()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }
}

/// What a notification on the channel says.
enum Heard<'a> {
    /// A write was announced with this number.
    Write(i64),
    /// Time to renew the lease of this instance.
    Tick(&'a str),
}

fn heard(payload: &str) -> Option<Heard<'_>> {
    match payload.strip_prefix("tick:") {
        Some(id) => Some(Heard::Tick(id)),
        None => payload.parse().ok().map(Heard::Write),
    }
}

/// Listens, one session after another, until the instance is dropped.
async fn listen_loop(weak: Weak<Inner>, db: DatabaseConnection, mut alive: watch::Receiver<()>) {
    loop {
        let outcome = tokio::select! {
            _ = alive.changed() => return,
            outcome = session(&weak, &db) => outcome,
            // A connection that died without a word (no reset) would hold the session forever.
            () = lapsed(&weak) => {
                Err(sea_orm::sqlx::Error::Protocol("the lease lapsed: no tick came through the connection".into()))
            }
        };
        let Some(inner) = weak.upgrade() else { return };
        inner.disarm();
        drop(inner);
        match outcome {
            Ok(()) => {
                tracing::warn!("the write listener lost its connection; cached answers read the version")
            }
            Err(e) => {
                tracing::warn!(error = %e, "the write listener failed; cached answers read the version")
            }
        }
        tokio::select! {
            _ = alive.changed() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Returns once the lease of the session in progress has lapsed by this instance's count (never before the
/// session took it).
async fn lapsed(weak: &Weak<Inner>) {
    loop {
        tokio::time::sleep(TICK).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.armed_until.load(Ordering::SeqCst) != 0 && !inner.armed() {
            return;
        }
    }
}

/// One listening session: listen, register, then take in announcements and renew on ticks until the
/// connection is lost (`Ok`) or a statement fails.
async fn session(weak: &Weak<Inner>, db: &DatabaseConnection) -> Result<(), sea_orm::sqlx::Error> {
    // The listening connection is opened apart from the app's pool, without its setup: it takes the pool's schema.
    let schema = pool_schema(db).await?;
    // A pool of its own, of one connection: a listener holds its connection, which the app's pool would lose.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*db.get_postgres_connection_pool().connect_options()).clone());
    let mut listener = PgListener::connect_with(&own).await?;
    listener.ignore_pool_close_event(true);
    let Some(id) = weak.upgrade().map(|i| i.id.clone()) else { return Ok(()) };
    set_up(&mut listener, &schema, "cache-reader", &id).await?;
    // Renewals and acknowledgements need not wait for the disk: a lost one only shortens a lease, and a crash that
    // loses it also ends this connection, which ends this session's use of what it remembers.
    sea_orm::sqlx::query("SET synchronous_commit = off").execute(&mut listener).await?;
    listener.listen(&format!("{CHANNEL_PREFIX}{schema}")).await?;
    let lease_ms = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    let sent = Instant::now();
    // Registered after listening: a write announced from now on reaches this session; one numbered before the
    // number drawn here committed before this statement ran, so the epoch started below comes after it.
    sea_orm::sqlx::query(
        "INSERT INTO cache_reader (id, lease_until, taken_in) \
         VALUES ($1, now() + $2 * interval '1 millisecond', nextval('write_announcement')) \
         ON CONFLICT (id) DO UPDATE SET lease_until = EXCLUDED.lease_until, taken_in = EXCLUDED.taken_in",
    )
    .bind(&id)
    .bind(lease_ms)
    .execute(&mut listener)
    .await?;
    // Leases that lapsed an hour ago belong to instances that are gone.
    sea_orm::sqlx::query("DELETE FROM cache_reader WHERE lease_until < now() - interval '1 hour'")
        .execute(&mut listener)
        .await?;
    {
        let Some(inner) = weak.upgrade() else { return Ok(()) };
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        inner.renewed(sent);
    }
    tracing::debug!(id, "cached answers use remembered versions");
    loop {
        let Some(first) = listener.try_recv().await? else { return Ok(()) };
        let mut taken = 0i64;
        let mut renew = false;
        let mut note = |payload: &str| match heard(payload) {
            Some(Heard::Write(n)) => taken = taken.max(n),
            Some(Heard::Tick(t)) => renew |= t == id,
            None => {}
        };
        note(first.payload());
        while let Some(n) = listener.next_buffered() {
            note(n.payload());
        }
        if taken == 0 && !renew {
            continue;
        }
        let Some(inner) = weak.upgrade() else { return Ok(()) };
        if taken > 0 {
            // Before the number is recorded: a writer that sees it may acknowledge at once.
            inner.epoch.fetch_add(1, Ordering::SeqCst);
        }
        let sent = Instant::now();
        let done = sea_orm::sqlx::query(
            "UPDATE cache_reader SET lease_until = now() + $2 * interval '1 millisecond', \
             taken_in = GREATEST(taken_in, $3) WHERE id = $1",
        )
        .bind(&id)
        .bind(lease_ms)
        .bind(taken)
        .execute(&mut listener)
        .await?;
        if done.rows_affected() != 1 {
            // The row was removed under it: register again in a new session.
            return Ok(());
        }
        inner.renewed(sent);
    }
}

/// The schema `db`'s pool works in, and a connection of its own (not from the pool) set to it, named after
/// instance `id`'s role `what`.
async fn own_connection(
    db: &DatabaseConnection,
    what: &str,
    id: &str,
) -> Result<(PgConnection, String), sea_orm::sqlx::Error> {
    let schema = pool_schema(db).await?;
    let mut conn = PgConnection::connect_with(&db.get_postgres_connection_pool().connect_options()).await?;
    set_up(&mut conn, &schema, what, id).await?;
    Ok((conn, schema))
}

/// The schema the connections of `db`'s pool work in (their setup sets it).
async fn pool_schema(db: &DatabaseConnection) -> Result<String, sea_orm::sqlx::Error> {
    sea_orm::sqlx::query_scalar("SELECT current_schema()").fetch_one(db.get_postgres_connection_pool()).await
}

/// Sets a connection opened apart from the pool (without its setup) to `schema`, named for the activity view.
async fn set_up<'c, E>(conn: E, schema: &str, what: &str, id: &str) -> Result<(), sea_orm::sqlx::Error>
where
    E: sea_orm::sqlx::Executor<'c, Database = sea_orm::sqlx::Postgres>,
{
    sea_orm::sqlx::query(
        "SELECT set_config('search_path', $1, false), set_config('application_name', $2, false)",
    )
    .bind(format!("\"{}\"", schema.replace('"', "\"\"")))
    .bind(format!("dvc-{what} {id}"))
    .execute(conn)
    .await?;
    Ok(())
}

/// Asks the listener of instance `id` to renew its lease every [`TICK`], through a connection of its own (not
/// the pool's, whose connections belong to requests): a listener that no longer receives notifications stops
/// renewing, and its lease lapses.
async fn tick_loop(id: String, db: DatabaseConnection, mut alive: watch::Receiver<()>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticker: Option<(PgConnection, String)> = None;
    loop {
        tokio::select! {
            _ = alive.changed() => break,
            _ = every.tick() => {}
        }
        if ticker.is_none() {
            match own_connection(&db, "lease-ticker", &id).await {
                Ok(c) => ticker = Some(c),
                Err(e) => {
                    tracing::debug!(error = %e, "no connection for lease ticks");
                    continue;
                }
            }
        }
        let Some((conn, schema)) = ticker.as_mut() else { continue };
        let sent = sea_orm::sqlx::query("SELECT CAST(pg_notify($1, $2) AS TEXT)")
            .bind(format!("{CHANNEL_PREFIX}{schema}"))
            .bind(format!("tick:{id}"))
            .execute(&mut *conn)
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "lease tick not sent");
            ticker = None;
        }
    }
    // Gone: writers need not wait for this lease to lapse.
    if let Some((conn, _)) = ticker.as_mut() {
        let _ = sea_orm::sqlx::query("DELETE FROM cache_reader WHERE id = $1")
            .bind(&id)
            .execute(&mut *conn)
            .await;
    }
}

/// To be called after a write committed and before it is acknowledged: `local` (the writing instance, if any)
/// forgets its remembered versions, and on PostgreSQL every other instance holding a lease takes the write in
/// first (see the module documentation).
pub async fn acknowledge_writes(db: &DatabaseConnection, local: Option<&Freshness>) {
    if let Some(f) = local {
        f.wrote();
    }
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let me = local.map(|f| f.id().to_owned()).unwrap_or_default();
    let until = Instant::now() + MAX_WAIT;
    loop {
        match wait_for_readers(db, &me, until).await {
            Ok(()) => return,
            Err(e) if Instant::now() < until => {
                tracing::warn!(error = %e, "waiting for the cache readers failed; trying again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "a write is acknowledged before every cache reader took it in");
                return;
            }
        }
    }
}

/// Announces a write and waits until every live lease but `me` took it in, or lapsed, or `until` passed.
async fn wait_for_readers(db: &DatabaseConnection, me: &str, until: Instant) -> Result<(), DbErr> {
    let others = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT EXISTS (SELECT 1 FROM cache_reader WHERE lease_until > now() AND id <> $1)",
        [me.into()],
    );
    let any = db.query_one_raw(others).await?.map(|r| r.try_get_by_index::<bool>(0)).transpose()?;
    if any != Some(true) {
        return Ok(());
    }
    let announced = Statement::from_string(DbBackend::Postgres, "SELECT announce_write()");
    let number: i64 = db
        .query_one_raw(announced)
        .await?
        .ok_or_else(|| DbErr::Custom("announce_write() returned no row".into()))?
        .try_get_by_index(0)?;
    let mut pause = Duration::from_millis(1);
    loop {
        tokio::time::sleep(pause).await;
        let pending = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM cache_reader \
             WHERE lease_until > now() AND id <> $1 AND taken_in < $2)",
            [me.into(), number.into()],
        );
        let waiting = db.query_one_raw(pending).await?.map(|r| r.try_get_by_index::<bool>(0)).transpose()?;
        if waiting != Some(true) {
            return Ok(());
        }
        if Instant::now() >= until {
            tracing::error!(
                number,
                "a cache reader renews its lease without taking in a write; acknowledging"
            );
            return Ok(());
        }
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_used_only_in_its_epoch_and_while_the_lease_lasts() {
        let f = Freshness::new();
        let v = DataVersion { reference: 1, scope: 7 };
        let e = f.epoch();
        f.remember("49", e, v);
        assert_eq!(f.remembered("49"), None, "no lease yet");
        f.inner.renewed(Instant::now());
        assert_eq!(f.remembered("49"), Some(v));
        f.wrote();
        assert_eq!(f.remembered("49"), None, "a write ends the epoch");
        // A read that started before the write is not kept.
        f.remember("49", e, v);
        assert_eq!(f.remembered("49"), None);
        f.remember("49", f.epoch(), v);
        assert_eq!(f.remembered("49"), Some(v));
        f.inner.disarm();
        assert_eq!(f.remembered("49"), None, "no lease, no memory");
        f.inner.renewed(Instant::now() - LEASE);
        assert_eq!(f.remembered("49"), None, "a lease counted from a renewal sent too long ago");
    }

    #[test]
    fn announcements_and_ticks_are_told_apart() {
        assert!(matches!(heard("42"), Some(Heard::Write(42))));
        assert!(matches!(heard("tick:abc"), Some(Heard::Tick("abc"))));
        assert!(heard("junk").is_none());
    }
}
