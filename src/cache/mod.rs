//! The aggregate cache: Redis when `REDIS_URL` is set (shared by every gateway instance), in-process otherwise,
//! behind one interface. An in-process layer sits in front of Redis in both cases and coalesces concurrent misses
//! for one key, so that each key is computed once per instance.
//!
//! Keys carry everything the value depends on (see [`IndicatorKey`]): entries never need to be invalidated,
//! only to expire. Redis faults never fail a request: after a short timeout the value is computed directly,
//! the cache reports itself degraded, and the connection is retried in the background of later requests.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

/// How long one Redis command may take before the cache gives up on it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(150);
/// How often a lost Redis connection is retried.
const RECONNECT_EVERY: Duration = Duration::from_millis(500);

/// What the cache holds for one indicator request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndicatorKey {
    pub formula_version: &'static str,
    pub unit: String,
    pub start: i64,
    pub end: i64,
    /// The evaluation instant's bucket: the period's end for closed periods, a minute otherwise.
    pub bucket: i64,
    /// The change counter of the data in the unit's scope.
    pub generation: i64,
}

impl IndicatorKey {
    pub fn render(&self, prefix: &str) -> String {
        format!(
            "{prefix}:ind:{}:{}:{}:{}:{}:{}",
            self.formula_version, self.unit, self.start, self.end, self.bucket, self.generation
        )
    }
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

    async fn get(&self, key: &str) -> Option<String> {
        let mut c = self.connection().await?;
        match tokio::time::timeout(REDIS_TIMEOUT, c.get::<_, Option<String>>(key)).await {
            Ok(Ok(v)) => {
                self.mark(true);
                v
            }
            _ => {
                self.mark(false);
                None
            }
        }
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) {
        let Some(mut c) = self.connection().await else { return };
        let secs = ttl.as_secs().max(1);
        let ok = matches!(
            tokio::time::timeout(REDIS_TIMEOUT, c.set_ex::<_, _, ()>(key, value, secs)).await,
            Ok(Ok(()))
        );
        self.mark(ok);
    }

    async fn ping(&self) -> bool {
        let Some(mut c) = self.connection().await else { return false };
        let ok = matches!(
            tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut c)).await,
            Ok(Ok(_))
        );
        self.mark(ok);
        ok
    }
}

/// The cache of indicator counts (as JSON text, the same in both layers).
#[derive(Clone)]
pub struct AggregateCache {
    local: moka::future::Cache<String, Arc<String>>,
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
        let local = moka::future::Cache::builder()
            .max_capacity(20_000)
            .time_to_idle(Duration::from_secs(15 * 60))
            .build();
        Ok(AggregateCache { local, redis, prefix: prefix.to_owned() })
    }

    /// The value under `key`, computing it (once per instance, however many ask at the same time) when absent.
    pub async fn get_or_compute<F, Fut, E>(
        &self,
        key: &IndicatorKey,
        ttl: Duration,
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
            .try_get_with(k.clone(), async move {
                if let Some(r) = &redis
                    && let Some(v) = r.get(&k).await
                {
                    return Ok(Arc::new(v));
                }
                let v = compute().await?;
                if let Some(r) = &redis {
                    r.set(&k, &v, ttl).await;
                }
                Ok(Arc::new(v))
            })
            .await
    }

    /// The cache's health; with Redis, a PING decides.
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
