//! Rate limits: public lookups and computations per client address, failed authentications per client
//! address, and authenticated calls per token subject. Each counts in fixed one-minute windows; with
//! `REDIS_URL` the counters live in Redis, so every instance shares them, and in process otherwise or while
//! Redis does not answer. A request over a limit is answered 429 `RATE_LIMITED` with `Retry-After`, the seconds
//! until the window ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::AggregateCache;

/// What a counter limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// `dossierStatus`, rankings and indicator reports the cache cannot answer, asked without a token; per
    /// client address.
    Public,
    /// Tokens refused; per client address.
    AuthFailure,
    /// Every call with a valid token; per subject.
    Subject,
}

impl Bucket {
    fn name(self) -> &'static str {
        match self {
            Bucket::Public => "public",
            Bucket::AuthFailure => "authfail",
            Bucket::Subject => "subject",
        }
    }
}

/// The limits per minute (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub public_per_minute: u32,
    pub auth_failures_per_minute: u32,
    pub subject_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits { public_per_minute: 120, auth_failures_per_minute: 20, subject_per_minute: 1200 }
    }
}

impl RateLimits {
    fn of(&self, b: Bucket) -> u32 {
        match b {
            Bucket::Public => self.public_per_minute,
            Bucket::AuthFailure => self.auth_failures_per_minute,
            Bucket::Subject => self.subject_per_minute,
        }
    }
}

const WINDOW_SECS: u64 = 60;

/// Counts requests against [`RateLimits`].
#[derive(Clone)]
pub struct Limiter {
    limits: RateLimits,
    shared: AggregateCache,
    local: moka::future::Cache<String, Arc<AtomicU64>>,
}

impl Limiter {
    pub fn new(limits: RateLimits, shared: AggregateCache) -> Self {
        let local = moka::future::Cache::builder()
            .max_capacity(1_000_000)
            .time_to_live(Duration::from_secs(2 * WINDOW_SECS))
            .build();
        Limiter { limits, shared, local }
    }

    /// Counts `n` units for `key`; `Err(seconds)` (until the window ends) when that goes over the limit.
    pub async fn take(&self, bucket: Bucket, key: &str, n: u32) -> Result<(), u64> {
        let limit = self.limits.of(bucket);
        if limit == 0 || n == 0 {
            return Ok(());
        }
        let (window, retry_after) = window_now();
        let name = format!("rate:{}:{key}:{window}", bucket.name());
        let count = match self.shared.add_shared(&name, n, WINDOW_SECS * 2).await {
            Some(v) => v.max(0) as u64,
            None => {
                let counter = self.local.get_with(name, async { Arc::new(AtomicU64::new(0)) }).await;
                counter.fetch_add(u64::from(n), Ordering::Relaxed) + u64::from(n)
            }
        };
        if count > u64::from(limit) { Err(retry_after) } else { Ok(()) }
    }

    /// Whether `key` is already over its limit in this window, without counting (`Err(seconds)` if so).
    pub async fn check(&self, bucket: Bucket, key: &str) -> Result<(), u64> {
        let limit = self.limits.of(bucket);
        if limit == 0 {
            return Ok(());
        }
        let (window, retry_after) = window_now();
        let name = format!("rate:{}:{key}:{window}", bucket.name());
        let count = match self.shared.read_shared(&name).await {
            Some(v) => v.max(0) as u64,
            None => self.local.get(&name).await.map_or(0, |c| c.load(Ordering::Relaxed)),
        };
        if count >= u64::from(limit) { Err(retry_after) } else { Ok(()) }
    }
}

/// The current window's number and the seconds until it ends.
fn window_now() -> (u64, u64) {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    (secs / WINDOW_SECS, WINDOW_SECS - secs % WINDOW_SECS)
}

/// The client's address: the TCP peer, or, when the peer is one of the trusted proxies, the right-most address
/// of `X-Forwarded-For` that is not itself a trusted proxy (what a client writes further left is not believed).
pub fn client_addr(
    peer: Option<std::net::IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[std::net::IpAddr],
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let Some(list) = forwarded_for else { return Some(peer) };
    for hop in list.rsplit(',') {
        match hop.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        let xff = Some("6.6.6.6, 203.0.113.7, 10.0.0.2");
        assert_eq!(client_addr(Some(ip("198.51.100.1")), xff, &trusted), Some(ip("198.51.100.1")));
        assert_eq!(client_addr(Some(ip("10.0.0.1")), xff, &trusted), Some(ip("203.0.113.7")));
        assert_eq!(client_addr(Some(ip("10.0.0.1")), None, &trusted), Some(ip("10.0.0.1")));
        assert_eq!(client_addr(Some(ip("10.0.0.1")), Some("garbage"), &trusted), Some(ip("10.0.0.1")));
    }
}
