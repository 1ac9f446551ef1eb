//! Tokens and roles: strict JWT verification at the edge, the caller as typed data, and scope checks.
//!
//! A request without a token is anonymous. A request with a token that fails any check (signature,
//! algorithm, `exp`, `nbf`, `iss`, `aud`, `sub`, role, unit) is refused with 401: it is never treated as
//! anonymous. The verifier checks what the token itself says; that its unit exists is checked against the unit
//! tree by [`crate::app::App::authenticate`], the one entry point of both HTTP and WebSocket.

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use crate::config::{DEV_JWT_SECRET, JwtAlg, JwtSettings};
use crate::domain::scope::{Scope, UnitTree};
use crate::domain::time::Micros;

/// What a caller may do (docs/api.md, "Tokens and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Citizen,
    Hotline,
    Officer,
    Leader,
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CITIZEN" => Ok(Role::Citizen),
            "HOTLINE" => Ok(Role::Hotline),
            "OFFICER" => Ok(Role::Officer),
            "LEADER" => Ok(Role::Leader),
            "ADMIN" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}` (CITIZEN, HOTLINE, OFFICER, LEADER, ADMIN)")),
        }
    }
}

/// The claims a gateway token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub iat: i64,
    pub iss: String,
    pub aud: Audience,
}

/// The `aud` claim: one audience, or several (RFC 7519, 4.1.3). The verifier accepts a token when the configured
/// audience is among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl From<&str> for Audience {
    fn from(s: &str) -> Self {
        Audience::One(s.to_owned())
    }
}

/// Who is calling, once the token (if any) was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    /// A citizen, identified by their identity number.
    Citizen {
        sub: String,
    },
    /// Staff of a unit.
    Staff {
        sub: String,
        role: Role,
        unit: String,
    },
}

impl Caller {
    pub fn role(&self) -> Option<Role> {
        match self {
            Caller::Anonymous => None,
            Caller::Citizen { .. } => Some(Role::Citizen),
            Caller::Staff { role, .. } => Some(*role),
        }
    }

    pub fn sub(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Citizen { sub } | Caller::Staff { sub, .. } => Some(sub),
        }
    }

    /// Whether the caller's role is one of `roles`.
    pub fn has_role(&self, roles: &[Role]) -> bool {
        self.role().is_some_and(|r| roles.contains(&r))
    }

    /// The staff unit's scope at `t`; `None` for anonymous callers and citizens.
    pub fn staff_scope(&self, tree: &UnitTree, t: Micros) -> Option<Scope> {
        match self {
            Caller::Staff { unit, .. } => Some(tree.scope_at(unit, t)),
            _ => None,
        }
    }
}

/// A verified token: who it names and until when (microseconds since the epoch, the clock leeway included, so
/// that a connection held open stops exactly when a new request with the same token would be refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub caller: Caller,
    pub expires_at: Micros,
}

/// Why a token was refused. Every variant answers 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header must be `Bearer <token>`")]
    Malformed,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's algorithm is not the one this gateway accepts")]
    WrongAlgorithm,
    #[error("a {0} token must name a unit")]
    MissingUnit(&'static str),
    #[error("the token's unit does not exist")]
    UnknownUnit,
}

/// Seconds of clock difference tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: i64 = 30;

/// Key material problems at start-up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}: {1}")]
    File(String, std::io::Error),
    #[error("key: {0}")]
    Key(String),
}

fn algorithm(alg: JwtAlg) -> Algorithm {
    match alg {
        JwtAlg::Hs256 => Algorithm::HS256,
        JwtAlg::Rs256 => Algorithm::RS256,
        JwtAlg::Es256 => Algorithm::ES256,
        JwtAlg::EdDsa => Algorithm::EdDSA,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError::File(path.display().to_string(), e))
}

/// Verifies tokens with one pinned algorithm.
#[derive(Clone)]
pub struct Verifier {
    alg: Algorithm,
    /// Keys by `kid`; the key under `None` serves tokens without a `kid`.
    keys: HashMap<Option<String>, DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("alg", &self.alg).field("keys", &self.keys.len()).finish()
    }
}

impl Verifier {
    pub fn new(s: &JwtSettings) -> Result<Self, KeyError> {
        let alg = algorithm(s.alg);
        let mut keys = HashMap::new();
        let key_err = |e: jsonwebtoken::errors::Error| KeyError::Key(e.to_string());
        match s.alg {
            JwtAlg::Hs256 => {
                let secret = s.secret.as_deref().unwrap_or(DEV_JWT_SECRET);
                keys.insert(None, DecodingKey::from_secret(secret.as_bytes()));
            }
            _ => {
                if let Some(path) = &s.jwks_file {
                    let set: JwkSet =
                        serde_json::from_slice(&read(path)?).map_err(|e| KeyError::Key(e.to_string()))?;
                    let only = set.keys.len() == 1;
                    for jwk in &set.keys {
                        let key = DecodingKey::from_jwk(jwk).map_err(key_err)?;
                        if only {
                            keys.insert(None, key.clone());
                        }
                        keys.insert(jwk.common.key_id.clone(), key);
                    }
                } else if let Some(path) = &s.public_key_file {
                    let pem = read(path)?;
                    let key = match s.alg {
                        JwtAlg::Rs256 => DecodingKey::from_rsa_pem(&pem),
                        JwtAlg::Es256 => DecodingKey::from_ec_pem(&pem),
                        _ => DecodingKey::from_ed_pem(&pem),
                    }
                    .map_err(key_err)?;
                    keys.insert(None, key);
                } else {
                    return Err(KeyError::Key(format!(
                        "JWT_ALG={:?} needs JWT_PUBLIC_KEY_FILE or JWT_JWKS_FILE",
                        s.alg
                    )));
                }
            }
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&s.issuer]);
        validation.set_audience(&[&s.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.leeway = LEEWAY_SECS as u64;
        Ok(Verifier { alg, keys, validation })
    }

    /// Verifies a bearer token and returns the caller it names and when it expires.
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != self.alg {
            return Err(AuthError::WrongAlgorithm);
        }
        let key = self
            .keys
            .get(&header.kid)
            .or_else(|| self.keys.get(&None))
            .ok_or_else(|| AuthError::Invalid("unknown key id".into()))?;
        let data = decode::<Claims>(token, key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                AuthError::Malformed
            }
            ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
            ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer".into()),
            ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience".into()),
            ErrorKind::MissingRequiredClaim(c) => AuthError::Invalid(format!("missing claim `{c}`")),
            _ => AuthError::Invalid("rejected".into()),
        })?;
        let c = data.claims;
        if c.sub.trim().is_empty() {
            return Err(AuthError::Invalid("empty `sub`".into()));
        }
        let caller = match c.role {
            Role::Citizen => Caller::Citizen { sub: c.sub },
            role => Caller::Staff {
                sub: c.sub,
                role,
                unit: c.unit.filter(|u| !u.is_empty()).ok_or(AuthError::MissingUnit(role.name()))?,
            },
        };
        let expires_at = c.exp.saturating_add(LEEWAY_SECS).saturating_mul(1_000_000);
        Ok(Verified { caller, expires_at })
    }

    /// Reads `Authorization` header text: none is anonymous (and never expires); anything else must verify.
    pub fn from_header(&self, header: Option<&str>) -> Result<Verified, AuthError> {
        match header {
            None => Ok(Verified { caller: Caller::Anonymous, expires_at: Micros::MAX }),
            Some(h) => self.verify(bearer(h)?),
        }
    }
}

/// The token of `Bearer <token>`.
pub fn bearer(header: &str) -> Result<&str, AuthError> {
    let token = header.strip_prefix("Bearer ").ok_or(AuthError::Malformed)?.trim();
    if token.is_empty() { Err(AuthError::Malformed) } else { Ok(token) }
}

impl Role {
    /// The role's name in tokens and in the schema.
    pub fn name(self) -> &'static str {
        match self {
            Role::Citizen => "CITIZEN",
            Role::Hotline => "HOTLINE",
            Role::Officer => "OFFICER",
            Role::Leader => "LEADER",
            Role::Admin => "ADMIN",
        }
    }
}

/// Signs tokens with the configured key (the `token` command and tests).
pub struct Signer {
    alg: Algorithm,
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl Signer {
    pub fn new(s: &JwtSettings) -> Result<Self, KeyError> {
        let alg = algorithm(s.alg);
        let key_err = |e: jsonwebtoken::errors::Error| KeyError::Key(e.to_string());
        let key = match s.alg {
            JwtAlg::Hs256 => {
                EncodingKey::from_secret(s.secret.as_deref().unwrap_or(DEV_JWT_SECRET).as_bytes())
            }
            _ => {
                let path = s.private_key_file.as_ref().ok_or_else(|| {
                    KeyError::Key("signing with an asymmetric algorithm needs JWT_PRIVATE_KEY_FILE".into())
                })?;
                let pem = read(path)?;
                match s.alg {
                    JwtAlg::Rs256 => EncodingKey::from_rsa_pem(&pem),
                    JwtAlg::Es256 => EncodingKey::from_ec_pem(&pem),
                    _ => EncodingKey::from_ed_pem(&pem),
                }
                .map_err(key_err)?
            }
        };
        Ok(Signer { alg, key, issuer: s.issuer.clone(), audience: s.audience.clone() })
    }

    /// A token for `role` (with `unit` for staff) valid for `ttl_secs` from now.
    pub fn sign(&self, sub: &str, role: Role, unit: Option<&str>, ttl_secs: i64) -> Result<String, KeyError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            unit: unit.map(str::to_owned),
            exp: now + ttl_secs,
            nbf: None,
            iat: now,
            iss: self.issuer.clone(),
            aud: Audience::One(self.audience.clone()),
        };
        self.sign_claims(&claims)
    }

    pub fn sign_claims(&self, claims: &Claims) -> Result<String, KeyError> {
        encode(&Header::new(self.alg), claims, &self.key).map_err(|e| KeyError::Key(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn settings() -> JwtSettings {
        Settings::from_lookup(|_| None).unwrap().jwt
    }

    #[test]
    fn a_signed_token_verifies_and_tampering_is_refused() {
        let s = settings();
        let signer = Signer::new(&s).unwrap();
        let v = Verifier::new(&s).unwrap();
        let t = signer.sign("officer-1", Role::Officer, Some("49"), 600).unwrap();
        assert_eq!(
            v.verify(&t).unwrap().caller,
            Caller::Staff { sub: "officer-1".into(), role: Role::Officer, unit: "49".into() }
        );
        let mut bad = t.clone();
        bad.pop();
        bad.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(v.verify(&bad).is_err());
        assert_eq!(v.from_header(Some("Basic abc")), Err(AuthError::Malformed));
        assert_eq!(v.from_header(None).map(|v| v.caller), Ok(Caller::Anonymous));
    }

    #[test]
    fn expiry_audience_issuer_and_unit_are_enforced() {
        let s = settings();
        let signer = Signer::new(&s).unwrap();
        let v = Verifier::new(&s).unwrap();
        let now = chrono::Utc::now().timestamp();
        let base = Claims {
            sub: "x".into(),
            role: Role::Leader,
            unit: Some("49".into()),
            exp: now + 600,
            nbf: None,
            iat: now,
            iss: s.issuer.clone(),
            aud: s.audience.as_str().into(),
        };
        let expired = Claims { exp: now - 120, ..base.clone() };
        assert_eq!(v.verify(&signer.sign_claims(&expired).unwrap()), Err(AuthError::Expired));
        let early = Claims { nbf: Some(now + 600), ..base.clone() };
        assert_eq!(v.verify(&signer.sign_claims(&early).unwrap()), Err(AuthError::NotYetValid));
        let wrong_aud = Claims { aud: "other".into(), ..base.clone() };
        assert!(matches!(v.verify(&signer.sign_claims(&wrong_aud).unwrap()), Err(AuthError::Invalid(_))));
        let listed = Claims { aud: Audience::Many(vec!["other".into(), s.audience.clone()]), ..base.clone() };
        assert!(v.verify(&signer.sign_claims(&listed).unwrap()).is_ok(), "an array naming our audience");
        let unlisted = Claims { aud: Audience::Many(vec!["other".into()]), ..base.clone() };
        assert!(v.verify(&signer.sign_claims(&unlisted).unwrap()).is_err());
        // The expiry carries the leeway, in microseconds.
        assert_eq!(
            v.verify(&signer.sign_claims(&base).unwrap()).unwrap().expires_at,
            (now + 600 + 30) * 1_000_000
        );
        let wrong_iss = Claims { iss: "other".into(), ..base.clone() };
        assert!(matches!(v.verify(&signer.sign_claims(&wrong_iss).unwrap()), Err(AuthError::Invalid(_))));
        let no_unit = Claims { unit: None, ..base.clone() };
        assert_eq!(v.verify(&signer.sign_claims(&no_unit).unwrap()), Err(AuthError::MissingUnit("LEADER")));
    }
}
