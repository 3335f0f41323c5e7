//! Authenticated encryption for values Herald must keep but should not be
//! able to read back from the database alone: ChaCha20-Poly1305 with a
//! random nonce, as `base64(nonce ‖ ciphertext)`.
//!
//! The caller chooses the key, typically derived with [`derive_key`] from
//! a secret that is not stored next to the sealed value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// A 256-bit key from a purpose label and input parts, length-prefixed so
/// that `("ab", "c")` and `("a", "bc")` differ.
pub fn derive_key(purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in std::iter::once(purpose.as_bytes()).chain(parts.iter().copied()) {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// Encrypts `plaintext` under `key`.
pub fn seal(key: &[u8; 32], plaintext: &[u8]) -> String {
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = cipher.encrypt(&Nonce::from(nonce), plaintext).expect("ChaCha20-Poly1305 encrypts any length Herald uses");
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    STANDARD.encode(out)
}

/// Decrypts what [`seal`] produced; `None` if the key is wrong or the
/// value was altered.
pub fn open(key: &[u8; 32], sealed: &str) -> Option<Vec<u8>> {
    let raw = STANDARD.decode(sealed).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    ChaCha20Poly1305::new(&Key::from(*key)).decrypt(&Nonce::from(nonce), ciphertext).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_what_it_sealed_and_nothing_else() {
        let key = derive_key("test", &[b"credential", b"key-1"]);
        let sealed = seal(&key, b"{\"secret\":\"hk_abc\"}");
        assert!(!sealed.contains("hk_abc"));
        assert_eq!(open(&key, &sealed).as_deref(), Some(&b"{\"secret\":\"hk_abc\"}"[..]));
        let other = derive_key("test", &[b"credential", b"key-2"]);
        assert_eq!(open(&other, &sealed), None, "another key opens nothing");
        let mut tampered = STANDARD.decode(&sealed).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, &STANDARD.encode(tampered)), None, "an altered value is refused");
        assert_eq!(open(&key, "not base64!"), None);
        assert_ne!(seal(&key, b"x"), seal(&key, b"x"), "nonces are random");
    }

    #[test]
    fn derived_keys_separate_their_parts() {
        assert_ne!(derive_key("p", &[b"ab", b"c"]), derive_key("p", &[b"a", b"bc"]));
        assert_ne!(derive_key("p", &[b"x"]), derive_key("q", &[b"x"]));
    }
}
