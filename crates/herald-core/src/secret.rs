//! Secrets Herald hands out (API keys, operator keys, HS256 secrets) and the
//! hash stored in their place.
//!
//! Secrets are 256 random bits, so a fast SHA-256 is enough to store them:
//! there is nothing to brute-force that a slow hash would protect. Storing
//! the hash lets a key be found by an indexed equality lookup.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh secret: `prefix` + `_` + 43 url-safe characters.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The value stored instead of a secret: lowercase hex SHA-256.
pub fn hash(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Prefix of tenant API key secrets.
pub const API_KEY_PREFIX: &str = "hk";
/// Prefix of operator key secrets.
pub const OPERATOR_KEY_PREFIX: &str = "hop";
/// Prefix of generated HS256 signing secrets.
pub const SIGNING_SECRET_PREFIX: &str = "hss";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_hash_stably() {
        let a = generate(API_KEY_PREFIX);
        let b = generate(API_KEY_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("hk_") && a.len() == 3 + 43);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
