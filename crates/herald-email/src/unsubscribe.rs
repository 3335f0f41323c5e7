//! Signed unsubscribe links: a token names a tenant, a user and a channel
//! (or all channels), and only the server that holds the key can make one.
//!
//! A token is URL-safe base64 (no padding) of
//! `version ‖ len ‖ tenant ‖ len ‖ user ‖ len ‖ channel ‖ mac`, where each
//! `len` is one byte, an empty channel means "all channels", and `mac` is
//! HMAC-SHA256 over a fixed domain label and everything before it. Tokens do
//! not expire: a link in an old email must still work (RFC 8058). Changing
//! the key invalidates every link sent so far.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_core::ids::TenantId;
use herald_core::limits;
use herald_core::names::{ChannelName, UserId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::UnsubscribeError;

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"herald-email unsubscribe v1\0";
const MAC_LEN: usize = 32;
// Each field's length is one byte: the validated types guarantee it fits.
// (A tenant id is `ten_` and at most 64 more bytes.)
const _: () = assert!(limits::MAX_USER_ID <= 255 && limits::MAX_CHANNEL_NAME <= 255 && 4 + 64 <= 255);
/// Longest token we will even decode: three fields of at most 255 bytes,
/// their lengths, the version and the MAC, in base64.
const MAX_TOKEN_LEN: usize = (1 + 3 * 256 + MAC_LEN).div_ceil(3) * 4;

/// What a token lets its holder unsubscribe from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnsubscribeScope {
    pub tenant: TenantId,
    pub user: UserId,
    /// `None`: every channel of the tenant.
    pub channel: Option<ChannelName>,
}

/// Signs and verifies unsubscribe tokens with a server secret.
#[derive(Clone)]
pub struct UnsubscribeSigner {
    key: Vec<u8>,
}

impl fmt::Debug for UnsubscribeSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsubscribeSigner").field("key", &"<redacted>").finish()
    }
}

impl UnsubscribeSigner {
    /// The shortest key accepted: as long as the MAC itself.
    pub const MIN_KEY_LEN: usize = 32;

    pub fn new(key: &[u8]) -> Result<Self, UnsubscribeError> {
        if key.len() < Self::MIN_KEY_LEN {
            return Err(UnsubscribeError::KeyTooShort { min: Self::MIN_KEY_LEN, got: key.len() });
        }
        Ok(UnsubscribeSigner { key: key.to_vec() })
    }

    /// A token for the scope, safe to put in a URL path or query as is.
    pub fn sign(&self, scope: &UnsubscribeScope) -> String {
        let mut payload = Vec::with_capacity(128);
        payload.push(VERSION);
        for field in [scope.tenant.as_str(), scope.user.as_str(), scope.channel.as_ref().map_or("", |c| c.as_str())] {
            payload.push(u8::try_from(field.len()).expect("validated names fit in one length byte (checked at compile time)"));
            payload.extend_from_slice(field.as_bytes());
        }
        let tag = self.mac(&payload).finalize().into_bytes();
        payload.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(payload)
    }

    /// The scope a token was signed for, or an error if it was not signed
    /// with this key or was altered. The MAC is compared in constant time.
    pub fn verify(&self, token: &str) -> Result<UnsubscribeScope, UnsubscribeError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(UnsubscribeError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| UnsubscribeError::Malformed)?;
        if bytes.len() < 1 + 3 + MAC_LEN {
            return Err(UnsubscribeError::Malformed);
        }
        let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        self.mac(payload).verify_slice(tag).map_err(|_| UnsubscribeError::BadSignature)?;

        // Only a payload this key signed reaches here, but parse it as
        // carefully as if it were not.
        let (&version, mut rest) = payload.split_first().ok_or(UnsubscribeError::Malformed)?;
        if version != VERSION {
            return Err(UnsubscribeError::Malformed);
        }
        let mut field = || -> Result<&str, UnsubscribeError> {
            let (&len, tail) = rest.split_first().ok_or(UnsubscribeError::Malformed)?;
            let len = usize::from(len);
            if tail.len() < len {
                return Err(UnsubscribeError::Malformed);
            }
            let (value, tail) = tail.split_at(len);
            rest = tail;
            std::str::from_utf8(value).map_err(|_| UnsubscribeError::Malformed)
        };
        let tenant = TenantId::parse(field()?).map_err(|_| UnsubscribeError::Malformed)?;
        let user = UserId::parse(field()?).map_err(|_| UnsubscribeError::Malformed)?;
        let channel = match field()? {
            "" => None,
            c => Some(ChannelName::parse(c).map_err(|_| UnsubscribeError::Malformed)?),
        };
        if !rest.is_empty() {
            return Err(UnsubscribeError::Malformed);
        }
        Ok(UnsubscribeScope { tenant, user, channel })
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(DOMAIN);
        mac.update(payload);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(key: &[u8]) -> UnsubscribeSigner {
        UnsubscribeSigner::new(key).unwrap()
    }

    fn scope(channel: Option<&str>) -> UnsubscribeScope {
        UnsubscribeScope {
            tenant: TenantId::parse("ten_0190f1b2c3d4e5f6a7b8c9d0e1f2a3b4").unwrap(),
            user: UserId::parse("user 42 / ünïcode").unwrap(),
            channel: channel.map(|c| ChannelName::parse(c).unwrap()),
        }
    }

    #[test]
    fn round_trip_one_channel_and_all_channels() {
        let s = signer(&[7; 32]);
        for scope in [scope(Some("orders.eu")), scope(None)] {
            let token = s.sign(&scope);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{token}");
            assert_eq!(s.verify(&token).unwrap(), scope);
        }
        // Deterministic: the same scope gives the same link.
        assert_eq!(s.sign(&scope(None)), s.sign(&scope(None)));
        assert_ne!(s.sign(&scope(None)), s.sign(&scope(Some("orders"))));
    }

    #[test]
    fn tampering_is_refused() {
        let s = signer(&[7; 32]);
        let token = s.sign(&scope(Some("orders")));
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();

        // Flip one bit anywhere: payload or MAC.
        for i in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 0x01;
            let err = s.verify(&URL_SAFE_NO_PAD.encode(&altered)).unwrap_err();
            assert_eq!(err, UnsubscribeError::BadSignature, "byte {i}");
        }
        // Swap the channel for another one while keeping the MAC.
        let other = URL_SAFE_NO_PAD.decode(s.sign(&scope(Some("orderz")))).unwrap();
        let mut spliced = other[..other.len() - MAC_LEN].to_vec();
        spliced.extend_from_slice(&bytes[bytes.len() - MAC_LEN..]);
        assert_eq!(s.verify(&URL_SAFE_NO_PAD.encode(&spliced)).unwrap_err(), UnsubscribeError::BadSignature);
        // Truncated, extended, garbage, empty.
        assert!(s.verify(&token[..token.len() - 2]).is_err());
        assert!(s.verify(&format!("{token}AA")).is_err());
        assert_eq!(s.verify("not base64!").unwrap_err(), UnsubscribeError::Malformed);
        assert_eq!(s.verify("").unwrap_err(), UnsubscribeError::Malformed);
        assert_eq!(s.verify(&"A".repeat(10_000)).unwrap_err(), UnsubscribeError::Malformed);
    }

    #[test]
    fn another_key_is_refused() {
        let token = signer(&[7; 32]).sign(&scope(None));
        assert_eq!(signer(&[8; 32]).verify(&token).unwrap_err(), UnsubscribeError::BadSignature);
    }

    #[test]
    fn short_keys_are_refused_and_debug_hides_the_key() {
        assert_eq!(UnsubscribeSigner::new(&[1; 31]).unwrap_err(), UnsubscribeError::KeyTooShort { min: 32, got: 31 });
        let debug = format!("{:?}", signer(&[0xAB; 32]));
        assert!(debug.contains("<redacted>") && !debug.contains("171"), "{debug}");
    }
}
