//! The aggregate cache: Redis when `REDIS_URL` is set (shared by every gateway instance), in-process otherwise,
//! behind one interface. An in-process layer sits in front of Redis in both cases and coalesces concurrent misses
//! for one key, so that each key is computed once per instance.
//!
//! A key names what was asked (see [`IndicatorKey`]); the value carries the [`DataVersion`] it was computed at,
//! and is used only by a request that read the same version, so an entry never needs to be invalidated: a write
//! makes the next request compute the value again and replace it under the same key. Redis faults never fail a
//! request: after a short timeout the value is computed directly, the cache reports itself degraded, and the
//! connection is retried in the background of later requests.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use moka::policy::Expiry;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use crate::db::DataVersion;

/// How long one Redis command may take before the cache gives up on it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(150);
/// How often a lost Redis connection is retried.
const RECONNECT_EVERY: Duration = Duration::from_millis(500);
/// How long one instance may compute a value while the others wait for it (should it die meanwhile, another
/// takes over after this).
const LOCK_FOR: Duration = Duration::from_secs(10);
/// How often an instance waiting for another's value looks for it.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// What one indicator request asks: the formula version, the unit, the period and the evaluation instant's
/// bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndicatorKey {
    /// What is kept: a report's counts, or its cells for breakdowns.
    pub kind: Aggregate,
    pub formula_version: &'static str,
    pub unit: String,
    pub start: i64,
    pub end: i64,
    /// The evaluation instant's bucket: the instant itself (the period's end for closed periods, or an explicit
    /// `asOf`), or its minute for an answer evaluated now.
    pub bucket: i64,
}

/// What an [`IndicatorKey`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// The 19 counts of a report.
    Report,
    /// The counts by unit and procedure behind a report (`db::indicators::Cells`).
    Cells,
}

impl IndicatorKey {
    pub fn render(&self, prefix: &str) -> String {
        let kind = match self.kind {
            Aggregate::Report => "ind",
            Aggregate::Cells => "cells",
        };
        format!(
            "{prefix}:{kind}:{}:{}:{}:{}:{}",
            self.formula_version, self.unit, self.start, self.end, self.bucket
        )
    }
}

/// How long an entry is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// For this long after it was stored.
    Fixed(Duration),
    /// Until a newer version replaces it; in Redis, also until nobody read it for this long (every read extends
    /// it), so that answers nobody asks for any more do not stay forever.
    UntilUnused(Duration),
}

impl Ttl {
    fn seconds(self) -> u64 {
        match self {
            Ttl::Fixed(d) | Ttl::UntilUnused(d) => d.as_secs().max(1),
        }
    }
}

/// The in-process entries: open periods' expire, closed periods' stay until evicted for room.
struct LocalExpiry;

impl Expiry<String, (Arc<String>, Ttl)> for LocalExpiry {
    fn expire_after_create(&self, _: &String, value: &(Arc<String>, Ttl), _: Instant) -> Option<Duration> {
        match value.1 {
            Ttl::Fixed(d) => Some(d),
            Ttl::UntilUnused(_) => None,
        }
    }
}

/// A value as Redis stores it: its version, a newline, the value.
fn stored(version: DataVersion, value: &str) -> String {
    format!("{version}\n{value}")
}

/// The value stored in Redis, if it was computed at `version`.
fn at_version(stored: &str, version: DataVersion) -> Option<&str> {
    let (v, value) = stored.split_once('\n')?;
    (v == version.to_string()).then_some(value)
}

/// Health of the cache, as `/readyz` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheHealth {
    /// No Redis configured: in-process only.
    InProcess,
    /// Redis answers.
    Ok,
    /// Redis is configured but does not answer: values are computed directly.
    Degraded,
}

impl CacheHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheHealth::InProcess => "in-process",
            CacheHealth::Ok => "ok",
            CacheHealth::Degraded => "degraded",
        }
    }
}

struct RedisStore {
    client: redis::Client,
    conn: Mutex<(Option<ConnectionManager>, Option<Instant>)>,
    healthy: AtomicBool,
}

impl RedisStore {
    async fn connection(&self) -> Option<ConnectionManager> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = &guard.0 {
            return Some(c.clone());
        }
        if guard.1.is_some_and(|at| at.elapsed() < RECONNECT_EVERY) {
            return None;
        }
        guard.1 = Some(Instant::now());
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        match tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        {
            Ok(Ok(c)) => {
                guard.0 = Some(c.clone());
                Some(c)
            }
            _ => {
                self.mark(false);
                None
            }
        }
    }

    fn mark(&self, ok: bool) {
        let was = self.healthy.swap(ok, Ordering::Relaxed);
        if was != ok {
            if ok {
                tracing::info!("redis answers again: caching resumed");
            } else {
                tracing::warn!("redis does not answer: computing indicators directly");
            }
        }
    }

    /// Runs one command within [`REDIS_TIMEOUT`]: `None` (and the cache marked degraded) when Redis does not
    /// answer.
    async fn run<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Option<T> {
        let mut c = self.connection().await?;
        match tokio::time::timeout(REDIS_TIMEOUT, command.query_async::<T>(&mut c)).await {
            Ok(Ok(v)) => {
                self.mark(true);
                Some(v)
            }
            _ => {
                self.mark(false);
                None
            }
        }
    }

    /// The value under `key` (`Some(None)`: absent), extending its life when it lives until unused.
    async fn get(&self, key: &str, ttl: Ttl) -> Option<Option<String>> {
        let command = match ttl {
            Ttl::Fixed(_) => redis::cmd("GET").arg(key).clone(),
            Ttl::UntilUnused(_) => redis::cmd("GETEX").arg(key).arg("EX").arg(ttl.seconds()).clone(),
        };
        self.run(&command).await
    }

    async fn set(&self, key: &str, value: &str, ttl: Ttl) {
        self.run::<()>(redis::cmd("SET").arg(key).arg(value).arg("EX").arg(ttl.seconds())).await;
    }

    /// Takes the lock `key` for [`LOCK_FOR`]: `Some(false)` when another holds it.
    async fn lock(&self, key: &str) -> Option<bool> {
        let millis = LOCK_FOR.as_millis() as u64;
        let taken: Option<String> =
            self.run(redis::cmd("SET").arg(key).arg(1).arg("NX").arg("PX").arg(millis)).await?;
        Some(taken.is_some())
    }

    async fn unlock(&self, key: &str) {
        self.run::<i64>(redis::cmd("DEL").arg(key)).await;
    }

    async fn ping(&self) -> bool {
        self.run::<String>(&redis::cmd("PING")).await.is_some()
    }

    /// Adds `n` to the counter `key`, which expires `ttl_secs` after it was created: its new value.
    async fn add(&self, key: &str, n: u32, ttl_secs: u64) -> Option<i64> {
        let value: i64 = self.run(redis::cmd("INCRBY").arg(key).arg(n)).await?;
        if value == i64::from(n) {
            self.run::<i64>(redis::cmd("EXPIRE").arg(key).arg(ttl_secs)).await?;
        }
        Some(value)
    }
}

/// The cache of indicator counts (as JSON text, the same in both layers).
#[derive(Clone)]
pub struct AggregateCache {
    /// Keyed by the rendered key and the version, so that concurrent misses for one version compute once.
    local: moka::future::Cache<String, (Arc<String>, Ttl)>,
    redis: Option<Arc<RedisStore>>,
    prefix: String,
}

impl AggregateCache {
    /// An in-process cache, or Redis behind an in-process layer when `redis_url` is given.
    pub fn new(redis_url: Option<&str>, prefix: &str) -> Result<Self, redis::RedisError> {
        let redis = match redis_url {
            Some(url) => Some(Arc::new(RedisStore {
                client: redis::Client::open(url)?,
                conn: Mutex::new((None, None)),
                healthy: AtomicBool::new(true),
            })),
            None => None,
        };
        let local = moka::future::Cache::builder().max_capacity(20_000).expire_after(LocalExpiry).build();
        Ok(AggregateCache { local, redis, prefix: prefix.to_owned() })
    }

    /// The value under `key` computed at `version`, computing it when absent or computed at another version:
    /// once, however many ask at the same time, in this instance (the in-process layer coalesces) and, with
    /// Redis, across instances (one takes a lock in Redis and computes; the others wait for its value).
    pub async fn get_or_compute<F, Fut, E>(
        &self,
        key: &IndicatorKey,
        version: DataVersion,
        ttl: Ttl,
        compute: F,
    ) -> Result<Arc<String>, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, E>>,
        E: Send + Sync + 'static,
    {
        let k = key.render(&self.prefix);
        let redis = self.redis.clone();
        self.local
            .try_get_with(format!("{k}@{version}"), async move {
                let Some(r) = &redis else { return compute().await.map(|v| (Arc::new(v), ttl)) };
                let lock = format!("{k}@{version}:computing");
                let mut locked = false;
                // Until the value is there or this instance holds the lock (and, holding it, found no value that
                // the previous holder stored just before releasing it); a Redis fault ends the wait.
                while let Some(stored) = r.get(&k, ttl).await {
                    if let Some(v) = stored.as_deref().and_then(|s| at_version(s, version)) {
                        if locked {
                            r.unlock(&lock).await;
                        }
                        return Ok((Arc::new(v.to_owned()), ttl));
                    }
                    if locked {
                        break;
                    }
                    match r.lock(&lock).await {
                        Some(true) => locked = true,
                        Some(false) => tokio::time::sleep(WAIT_POLL).await,
                        None => break,
                    }
                }
                let v = compute().await;
                if let Ok(v) = &v {
                    r.set(&k, &stored(version, v), ttl).await;
                }
                if locked {
                    r.unlock(&lock).await;
                }
                v.map(|v| (Arc::new(v), ttl))
            })
            .await
            .map(|(v, _)| v)
    }

    /// The value under `key` computed at `version`, when either layer has it (nothing is computed). A value found
    /// in Redis is read as `get_or_compute` reads it (extending a long-lived entry) and kept in process too.
    pub async fn peek(&self, key: &IndicatorKey, version: DataVersion, ttl: Ttl) -> Option<Arc<String>> {
        let k = key.render(&self.prefix);
        let local_key = format!("{k}@{version}");
        if let Some((v, _)) = self.local.get(&local_key).await {
            return Some(v);
        }
        let r = self.redis.as_ref()?;
        let stored = r.get(&k, ttl).await??;
        let v = Arc::new(at_version(&stored, version)?.to_owned());
        self.local.insert(local_key, (v.clone(), ttl)).await;
        Some(v)
    }

    /// The cache's health; with Redis, a PING decides.
    /// Adds `n` to the shared counter `name` (under the prefix), expiring after `ttl_secs`: its new value, or
    /// `None` without Redis or while it does not answer (the caller then counts in process).
    pub async fn add_shared(&self, name: &str, n: u32, ttl_secs: u64) -> Option<i64> {
        let r = self.redis.as_ref()?;
        r.add(&format!("{}:{name}", self.prefix), n, ttl_secs).await
    }

    /// The shared counter `name` (0 when absent), or `None` as for [`Self::add_shared`]; reading creates nothing.
    pub async fn read_shared(&self, name: &str) -> Option<i64> {
        let r = self.redis.as_ref()?;
        let value: Option<i64> = r.run(redis::cmd("GET").arg(format!("{}:{name}", self.prefix))).await?;
        Some(value.unwrap_or(0))
    }

    pub async fn health(&self) -> CacheHealth {
        match &self.redis {
            None => CacheHealth::InProcess,
            Some(r) => {
                if r.ping().await {
                    CacheHealth::Ok
                } else {
                    CacheHealth::Degraded
                }
            }
        }
    }

    /// Whether Redis is configured and answered the last command.
    pub fn redis_healthy(&self) -> Option<bool> {
        self.redis.as_ref().map(|r| r.healthy.load(Ordering::Relaxed))
    }

    /// Drops the in-process layer (tests use it to reach Redis).
    pub fn clear_local(&self) {
        self.local.invalidate_all();
    }
}
