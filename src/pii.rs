//! Personal data (identity numbers, phones, emails): sealed with AES-256-GCM so that an export can give them
//! back, hashed with a keyed HMAC so that a citizen's dossiers can be found by their identity number, and
//! masked for display. Nothing personal is stored in clear, and nothing derived from it (digests, indexes, logs)
//! can be computed back to it without the key: every digest of a record that holds personal data is keyed.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A sealed value could not be opened (wrong key or damaged data).
#[derive(Debug, thiserror::Error)]
#[error("sealed personal data could not be opened")]
pub struct OpenError;

/// Seals, opens, hashes and masks personal data with keys derived from one secret.
#[derive(Clone)]
pub struct Vault {
    hash_key: [u8; 32],
    digest_key: [u8; 32],
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// An HMAC-SHA256 keyed with `key`. HMAC accepts keys of every length, so construction cannot fail.
#[allow(clippy::expect_used)]
fn hmac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn derive(secret: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut mac = hmac(secret);
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

impl Vault {
    pub fn new(secret: &str) -> Self {
        let hash_key = derive(secret.as_bytes(), b"dvc-gateway/pii/hash");
        let seal_key = derive(secret.as_bytes(), b"dvc-gateway/pii/seal");
        let digest_key = derive(secret.as_bytes(), b"dvc-gateway/pii/content-digest");
        Vault { hash_key, digest_key, cipher: Aes256Gcm::new(&seal_key.into()) }
    }

    /// A short keyed digest of a whole record (144 bits), to tell whether a stored record changed. Keyed because
    /// the record holds personal data: an unkeyed digest, with the row's other columns in clear and the mask's
    /// last digits, would let anyone who reads the database find an identity number by trying them all.
    pub fn digest(&self, text: &str) -> String {
        let mut mac = hmac(&self.digest_key);
        mac.update(text.as_bytes());
        B64.encode(&mac.finalize().into_bytes()[..18])
    }

    /// Keyed hash for matching: equal inputs give equal hashes; the input cannot be read back.
    pub fn hash(&self, value: &str) -> String {
        let mut mac = hmac(&self.hash_key);
        mac.update(value.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// Encrypts with a nonce derived from the value, so that sealing the same value twice gives the same text
    /// (re-importing a file changes nothing) while the value stays unreadable without the key.
    pub fn seal(&self, value: &str) -> String {
        let digest = self.hash(value);
        let digest = B64.decode(digest).unwrap_or_default();
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&digest[..12]);
        let ct = self.cipher.encrypt(&Nonce::from(nonce), value.as_bytes()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<String, OpenError> {
        let raw = B64.decode(sealed).map_err(|_| OpenError)?;
        if raw.len() < 12 {
            return Err(OpenError);
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| OpenError)?;
        let pt = self.cipher.decrypt(&Nonce::from(nonce), ct).map_err(|_| OpenError)?;
        String::from_utf8(pt).map_err(|_| OpenError)
    }
}

/// Shows the last three characters of an identity number: `*********901`.
pub fn mask_id(id: &str) -> String {
    mask_keep_end(id, 3)
}

/// Shows the first two and last two digits of a phone number: `09******96`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars.iter().enumerate().map(|(i, c)| if i < 2 || i >= n - 2 { *c } else { '*' }).collect()
}

/// Shows the first letter of the local part and the domain: `n***@example.vn`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

fn mask_keep_end(s: &str, keep: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    chars.iter().enumerate().map(|(i, c)| if i + keep >= n { *c } else { '*' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_key_and_are_deterministic() {
        let v = Vault::new("k1");
        let s = v.seal("012345678901");
        assert!(!s.contains("012345678901"));
        assert_eq!(s, v.seal("012345678901"));
        assert_eq!(v.open(&s).unwrap(), "012345678901");
        assert!(Vault::new("k2").open(&s).is_err());
        assert_eq!(v.hash("012345678901"), v.hash("012345678901"));
        assert_ne!(v.hash("012345678901"), Vault::new("k2").hash("012345678901"));
        assert_eq!(v.digest("line"), v.digest("line"));
        assert_ne!(v.digest("line"), Vault::new("k2").digest("line"));
        assert_ne!(v.digest("line"), v.hash("line")[..24], "digests and matching hashes use different keys");
    }

    #[test]
    fn masks() {
        assert_eq!(mask_id("012345678901"), "*********901");
        assert_eq!(mask_phone("0962174596"), "09******96");
        assert_eq!(mask_email("nguyen@example.vn"), "n***@example.vn");
    }
}
