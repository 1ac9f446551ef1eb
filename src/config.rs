//! Typed settings, read from the environment. This is the only module that reads environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};

/// Signature algorithms a deployment may pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlg {
    Hs256,
    Rs256,
    Es256,
    EdDsa,
}

impl std::str::FromStr for JwtAlg {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "HS256" => JwtAlg::Hs256,
            "RS256" => JwtAlg::Rs256,
            "ES256" => JwtAlg::Es256,
            "EdDSA" => JwtAlg::EdDsa,
            other => bail!("JWT_ALG must be one of HS256, RS256, ES256, EdDSA, not `{other}`"),
        })
    }
}

/// Where tokens are verified from.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub alg: JwtAlg,
    /// HS256 secret. `None` means the development secret (a warning is logged at start).
    pub secret: Option<String>,
    pub public_key_file: Option<PathBuf>,
    pub jwks_file: Option<PathBuf>,
    /// PEM private key used by `dvc-gateway token` for the asymmetric algorithms.
    pub private_key_file: Option<PathBuf>,
    pub issuer: String,
    pub audience: String,
}

/// Request limits enforced at the edge and in the schema.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of one HTTP body or one WebSocket message (continuation frames included).
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Root fields of one operation, and aliases in one operation (fragments expanded).
    pub max_root_fields: usize,
    pub max_aliases: usize,
    /// The indicator reports one operation may ask for, in the units of `graphql::cost` (a cached report 1, one
    /// at an explicit instant 5, one the summary cannot answer 25; a ranking is its peers' reports).
    pub max_cost: u64,
    /// How long one request may run before it is answered `TIMEOUT` (and, on PostgreSQL, its statements).
    pub request_timeout: std::time::Duration,
    pub max_page_size: usize,
    /// Subscriptions one WebSocket connection may hold at once.
    pub max_subscriptions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 256 * 1024,
            max_depth: 12,
            max_complexity: 5_000,
            max_root_fields: 20,
            max_aliases: 30,
            max_cost: 2_000,
            request_timeout: std::time::Duration::from_secs(30),
            max_page_size: 100,
            max_subscriptions: 20,
        }
    }
}

/// What the deployment is: a developer's machine, where development secrets are allowed with a warning, or
/// production, where the gateway refuses to start with anything a reader of the source could know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Development,
    Production,
}

/// The shortest HS256 secret and `PII_KEY` production accepts: 256 bits, the size of the keys derived from them.
pub const MIN_SECRET_BYTES: usize = 32;

/// The shortest audit retention accepted (and the age below which the database itself refuses to delete an
/// audit event, see the migration that creates `audit_event`).
pub const MIN_AUDIT_RETENTION_DAYS: u32 = migration::AUDIT_MIN_AGE_DAYS as u32;

/// All settings of one gateway process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    /// Streaming replicas of the primary for reads (`DATABASE_REPLICA_URL`, comma-separated; see `db::replicas`).
    pub replica_urls: Vec<String>,
    /// How long a read waits for a replica to replay the writes acknowledged before it (`REPLICA_MAX_WAIT_MS`)
    /// before it runs on the primary.
    pub replica_max_wait: std::time::Duration,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (tests give each run its own).
    pub redis_prefix: String,
    pub bind_addr: SocketAddr,
    pub jwt: JwtSettings,
    /// Key for sealing and hashing personal data. `None` means the development key (warned about at start).
    pub pii_key: Option<String>,
    pub profile: Profile,
    /// Serve `/graphiql` (development: on unless `GRAPHIQL=false`; production: off unless `GRAPHIQL=true`).
    pub graphiql: bool,
    /// Answer introspection queries (the same defaults as `graphiql`).
    pub introspection: bool,
    /// Serve the scorecard page at `/scorecard` (on unless `SCORECARD=false`, in every profile: it shows only
    /// public figures unless its user pastes a token).
    pub scorecard: bool,
    pub log_json: bool,
    pub limits: Limits,
    /// Requests per minute per client address and per token subject (`crate::rate`).
    pub rate: crate::rate::RateLimits,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`, comma-separated addresses).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long audit events are kept before the daily purge removes them.
    pub audit_retention_days: u32,
    /// Who runs a command-line operation (`import`, `export`), as recorded in the audit trail.
    pub operator: String,
}

/// The development defaults for secrets; never for production.
pub const DEV_JWT_SECRET: &str = "dvc-gateway-development-secret-do-not-use-in-production";
pub const DEV_PII_KEY: &str = "dvc-gateway-development-pii-key-do-not-use-in-production";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/dvc-gateway.db?mode=rwc";

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the settings through `get` (tests pass a map), and refuses a configuration the profile forbids.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let parse_usize = |k: &str, default: usize| -> anyhow::Result<usize> {
            get(k).map_or(Ok(default), |v| v.parse().with_context(|| format!("{k} must be a whole number")))
        };
        let profile = match get("DVC_PROFILE").as_deref() {
            None | Some("development") => Profile::Development,
            Some("production") => Profile::Production,
            Some(other) => bail!("DVC_PROFILE must be development or production, not `{other}`"),
        };
        // Tools for exploring the API are on for developers and off in production unless asked for.
        let switch = |k: &str| -> anyhow::Result<bool> {
            match get(k).as_deref() {
                None => Ok(profile == Profile::Development),
                Some("true" | "1") => Ok(true),
                Some("false" | "0") => Ok(false),
                Some(other) => bail!("{k} must be true or false, not `{other}`"),
            }
        };
        let defaults = Limits::default();
        let rates = crate::rate::RateLimits::default();
        let retention = parse_usize("AUDIT_RETENTION_DAYS", 5 * 365)?;
        let settings = Settings {
            database_url: get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            replica_urls: get("DATABASE_REPLICA_URL")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            replica_max_wait: std::time::Duration::from_millis(
                parse_usize("REPLICA_MAX_WAIT_MS", 100)? as u64
            ),
            redis_url: get("REDIS_URL"),
            redis_prefix: get("REDIS_PREFIX").unwrap_or_else(|| "dvc".to_owned()),
            bind_addr: get("BIND_ADDR")
                .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
                .parse()
                .context("BIND_ADDR must be host:port")?,
            jwt: JwtSettings {
                alg: get("JWT_ALG").unwrap_or_else(|| "HS256".to_owned()).parse()?,
                secret: get("JWT_SECRET"),
                public_key_file: get("JWT_PUBLIC_KEY_FILE").map(PathBuf::from),
                jwks_file: get("JWT_JWKS_FILE").map(PathBuf::from),
                private_key_file: get("JWT_PRIVATE_KEY_FILE").map(PathBuf::from),
                issuer: get("JWT_ISSUER").unwrap_or_else(|| "dvc-gateway".to_owned()),
                audience: get("JWT_AUDIENCE").unwrap_or_else(|| "dvc-gateway".to_owned()),
            },
            pii_key: get("PII_KEY"),
            profile,
            graphiql: switch("GRAPHIQL")?,
            introspection: switch("INTROSPECTION")?,
            scorecard: match get("SCORECARD").as_deref() {
                None | Some("true" | "1") => true,
                Some("false" | "0") => false,
                Some(other) => bail!("SCORECARD must be true or false, not `{other}`"),
            },
            log_json: get("LOG_FORMAT").is_some_and(|v| v == "json"),
            limits: Limits {
                max_body_bytes: parse_usize("MAX_BODY_BYTES", defaults.max_body_bytes)?,
                max_depth: parse_usize("MAX_QUERY_DEPTH", defaults.max_depth)?,
                max_complexity: parse_usize("MAX_QUERY_COMPLEXITY", defaults.max_complexity)?,
                max_page_size: parse_usize("MAX_PAGE_SIZE", defaults.max_page_size)?,
                max_subscriptions: parse_usize("MAX_SUBSCRIPTIONS", defaults.max_subscriptions)?,
                max_root_fields: parse_usize("MAX_ROOT_FIELDS", defaults.max_root_fields)?,
                max_aliases: parse_usize("MAX_ALIASES", defaults.max_aliases)?,
                max_cost: parse_usize("MAX_QUERY_COST", defaults.max_cost as usize)? as u64,
                request_timeout: std::time::Duration::from_millis(parse_usize(
                    "REQUEST_TIMEOUT_MS",
                    defaults.request_timeout.as_millis() as usize,
                )? as u64),
            },
            rate: crate::rate::RateLimits {
                public_per_minute: parse_usize("RATE_PUBLIC_PER_MINUTE", rates.public_per_minute as usize)?
                    as u32,
                auth_failures_per_minute: parse_usize(
                    "RATE_AUTH_FAILURES_PER_MINUTE",
                    rates.auth_failures_per_minute as usize,
                )? as u32,
                subject_per_minute: parse_usize("RATE_SUBJECT_PER_MINUTE", rates.subject_per_minute as usize)?
                    as u32,
            },
            trusted_proxies: get("TRUSTED_PROXIES")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().with_context(|| format!("TRUSTED_PROXIES: `{s}` is not an IP address")))
                .collect::<anyhow::Result<_>>()?,
            audit_retention_days: u32::try_from(retention).unwrap_or(u32::MAX),
            operator: get("USER").unwrap_or_else(|| "unknown".to_owned()),
        };
        let problems = settings.problems();
        if !problems.is_empty() {
            bail!("refusing to start: {}", problems.join("; "));
        }
        Ok(settings)
    }

    /// What this configuration gets wrong. In every profile: key settings the pinned algorithm would ignore (a
    /// public key beside HS256 would leave the HS256 secret, maybe the development one, verifying tokens). In
    /// production also: any development secret, and secrets too short to resist guessing.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let jwt = &self.jwt;
        let key_files = jwt.public_key_file.is_some() || jwt.jwks_file.is_some();
        match jwt.alg {
            JwtAlg::Hs256 if key_files => out.push(
                "JWT_PUBLIC_KEY_FILE or JWT_JWKS_FILE is set but JWT_ALG is HS256, which verifies with \
                 JWT_SECRET: set JWT_ALG to the key's algorithm"
                    .to_owned(),
            ),
            JwtAlg::Rs256 | JwtAlg::Es256 | JwtAlg::EdDsa if jwt.secret.is_some() => out.push(format!(
                "JWT_SECRET is set but JWT_ALG is {:?}, which verifies with JWT_PUBLIC_KEY_FILE or JWT_JWKS_FILE",
                jwt.alg
            )),
            _ => {}
        }
        if self.audit_retention_days < MIN_AUDIT_RETENTION_DAYS {
            out.push(format!("AUDIT_RETENTION_DAYS must be at least {MIN_AUDIT_RETENTION_DAYS}"));
        }
        if self.profile == Profile::Production {
            if jwt.alg == JwtAlg::Hs256 {
                match jwt.secret.as_deref() {
                    None | Some(DEV_JWT_SECRET) => {
                        out.push("JWT_SECRET is the development secret".to_owned())
                    }
                    Some(s) if s.len() < MIN_SECRET_BYTES => {
                        out.push(format!("JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes"))
                    }
                    Some(_) => {}
                }
            }
            match self.pii_key.as_deref() {
                None | Some(DEV_PII_KEY) => out.push("PII_KEY is the development key".to_owned()),
                Some(k) if k.len() < MIN_SECRET_BYTES => {
                    out.push(format!("PII_KEY is shorter than {MIN_SECRET_BYTES} bytes"))
                }
                Some(_) => {}
            }
        }
        out
    }

    /// Whether personal data is sealed with the development key, which no production deployment can read.
    pub fn dev_pii_key(&self) -> bool {
        self.pii_key.as_deref().is_none_or(|k| k == DEV_PII_KEY)
    }

    /// The key that seals and hashes personal data.
    pub fn pii_key(&self) -> &str {
        self.pii_key.as_deref().unwrap_or(DEV_PII_KEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_and_refusals() {
        let s = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.jwt.alg, JwtAlg::Hs256);
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
        let env: HashMap<&str, &str> = [("JWT_ALG", "none")].into();
        assert!(Settings::from_lookup(|k| env.get(k).map(|v| v.to_string())).is_err());
    }
}
