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
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_page_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_body_bytes: 256 * 1024, max_depth: 12, max_complexity: 5_000, max_page_size: 100 }
    }
}

/// All settings of one gateway process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (tests give each run its own).
    pub redis_prefix: String,
    pub bind_addr: SocketAddr,
    pub jwt: JwtSettings,
    /// Key for sealing and hashing personal data. `None` means the development key (warned about at start).
    pub pii_key: Option<String>,
    pub graphiql: bool,
    pub log_json: bool,
    pub limits: Limits,
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

    /// Reads the settings through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let parse_usize = |k: &str, default: usize| -> anyhow::Result<usize> {
            get(k).map_or(Ok(default), |v| v.parse().with_context(|| format!("{k} must be a whole number")))
        };
        let defaults = Limits::default();
        Ok(Settings {
            database_url: get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
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
            graphiql: get("GRAPHIQL").is_none_or(|v| v != "false" && v != "0"),
            log_json: get("LOG_FORMAT").is_some_and(|v| v == "json"),
            limits: Limits {
                max_body_bytes: parse_usize("MAX_BODY_BYTES", defaults.max_body_bytes)?,
                max_depth: parse_usize("MAX_QUERY_DEPTH", defaults.max_depth)?,
                max_complexity: parse_usize("MAX_QUERY_COMPLEXITY", defaults.max_complexity)?,
                max_page_size: parse_usize("MAX_PAGE_SIZE", defaults.max_page_size)?,
            },
        })
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
