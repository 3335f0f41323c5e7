//! Validated names: tenants, channels, notification types, user ids.
//!
//! Each newtype can only be built through its validating constructor, so a
//! value that reached the store or a stream is known to be well-formed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::limits;

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), DomainError> {
    if s.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(DomainError::invalid(field, format!("must be at most {max} bytes")));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $validate:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
                let s = s.into();
                $validate(&s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, DomainError> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

fn validate_tenant_name(s: &str) -> Result<(), DomainError> {
    check_len("tenant name", s, limits::MAX_TENANT_NAME)?;
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return Err(DomainError::invalid("tenant name", "use letters, digits, `-`, `_` and `.` only"));
    }
    Ok(())
}

/// Bytes allowed in one segment of a channel name. `*` and `>` are reserved
/// for patterns, `.` separates segments.
pub(crate) fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'@' | b'=' | b'+')
}

fn validate_channel_name(s: &str) -> Result<(), DomainError> {
    check_len("channel name", s, limits::MAX_CHANNEL_NAME)?;
    for seg in s.split('.') {
        if seg.is_empty() {
            return Err(DomainError::invalid("channel name", "segments separated by `.` must not be empty"));
        }
        if !seg.bytes().all(is_segment_byte) {
            return Err(DomainError::invalid("channel name", "use letters, digits and `-_:@=+` in segments separated by `.`"));
        }
    }
    Ok(())
}

/// Event types Herald itself sends on a stream; a notification may not use them.
pub const RESERVED_EVENT_TYPES: &[&str] = &["token-expired", "history-truncated", "message", "plugin-budget-exhausted"];

fn validate_event_type(s: &str) -> Result<(), DomainError> {
    check_len("type", s, limits::MAX_EVENT_TYPE)?;
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/')) {
        return Err(DomainError::invalid("type", "use letters, digits and `-_.:/` only"));
    }
    if RESERVED_EVENT_TYPES.contains(&s) {
        return Err(DomainError::invalid("type", format!("`{s}` is reserved for Herald's own events")));
    }
    Ok(())
}

fn validate_user_id(s: &str) -> Result<(), DomainError> {
    check_len("user id", s, limits::MAX_USER_ID)?;
    if s.chars().any(char::is_control) {
        return Err(DomainError::invalid("user id", "must not contain control characters"));
    }
    Ok(())
}

fn validate_key_name(s: &str) -> Result<(), DomainError> {
    check_len("name", s, limits::MAX_KEY_NAME)?;
    if s.chars().any(char::is_control) {
        return Err(DomainError::invalid("name", "must not contain control characters"));
    }
    Ok(())
}

fn validate_idempotency_key(s: &str) -> Result<(), DomainError> {
    check_len("idempotency_key", s, limits::MAX_IDEMPOTENCY_KEY)?;
    if s.chars().any(char::is_control) {
        return Err(DomainError::invalid("idempotency_key", "must not contain control characters"));
    }
    Ok(())
}

fn validate_plugin_name(s: &str) -> Result<(), DomainError> {
    check_len("plugin name", s, limits::MAX_PLUGIN_NAME)?;
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(DomainError::invalid("plugin name", "use letters, digits, `-` and `_` only"));
    }
    Ok(())
}

fn validate_plugin_version(s: &str) -> Result<(), DomainError> {
    check_len("plugin version", s, limits::MAX_PLUGIN_VERSION)?;
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'_')) {
        return Err(DomainError::invalid("plugin version", "use letters, digits, `.`, `-`, `+` and `_` only (e.g. 1.2.0)"));
    }
    Ok(())
}

string_newtype!(
    /// A tenant's name for a plugin, e.g. `redact`; channels refer to it.
    PluginName, validate_plugin_name
);
string_newtype!(
    /// A plugin version label, e.g. `1.2.0`; the newest upload is used
    /// unless a chain step pins one.
    PluginVersion, validate_plugin_version
);
string_newtype!(
    /// A tenant's human name, unique across the server.
    TenantName, validate_tenant_name
);
string_newtype!(
    /// A channel name such as `orders` or `user.42.inbox`: segments separated by `.`.
    ChannelName, validate_channel_name
);
string_newtype!(
    /// A notification type; it becomes the SSE `event:` field.
    EventType, validate_event_type
);
string_newtype!(
    /// A subscriber's user id (the token's `sub`, a recipient).
    UserId, validate_user_id
);
string_newtype!(
    /// A label for an API key.
    KeyName, validate_key_name
);
string_newtype!(
    /// A publisher-chosen key that makes a publish safe to retry.
    IdempotencyKey, validate_idempotency_key
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        for ok in ["orders", "user.42.inbox", "a-b_c:d@e=f+g", &"x".repeat(128)] {
            ChannelName::parse(ok).unwrap();
        }
        for bad in ["", ".a", "a.", "a..b", "a.*", "a.>", "a b", "ü", &"x".repeat(129)] {
            assert!(ChannelName::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn event_types_refuse_reserved_and_newlines() {
        EventType::parse("order.created").unwrap();
        assert!(EventType::parse("token-expired").is_err());
        assert!(EventType::parse("a\nb").is_err());
        assert!(EventType::parse("").is_err());
    }

    #[test]
    fn tenant_names() {
        TenantName::parse("acme-corp.eu").unwrap();
        assert!(TenantName::parse("acme corp").is_err());
        assert!(TenantName::parse("x".repeat(65)).is_err());
    }

    #[test]
    fn user_ids_refuse_control_characters() {
        UserId::parse("42").unwrap();
        UserId::parse("alice@example.com").unwrap();
        assert!(UserId::parse("a\u{0}").is_err());
    }
}
