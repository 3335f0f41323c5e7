//! Typed, prefixed identifiers (`ten_…`, `key_…`, `sk_…`).
//!
//! A prefix tells a human which kind of object an id names, and the newtypes
//! stop a key id from being passed where a tenant id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Parses an id, checking its prefix and shape.
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                let rest = s
                    .strip_prefix($prefix)
                    .and_then(|r| r.strip_prefix('_'))
                    .ok_or_else(|| DomainError::invalid($field, format!("expected an id starting with `{}_`", $prefix)))?;
                if rest.is_empty() || rest.len() > 64 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(DomainError::invalid($field, "malformed id"));
                }
                Ok(Self(s.to_owned()))
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
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, DomainError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

prefixed_id!(
    /// A tenant: one SaaS application and everything it owns.
    TenantId, "ten", "tenant id"
);
prefixed_id!(
    /// A tenant API key (publish or admin).
    ApiKeyId, "key", "key id"
);
prefixed_id!(
    /// A subscriber signing key; its id is the JWT `kid`.
    SigningKeyId, "sk", "kid"
);
prefixed_id!(
    /// A channel row (channels are addressed by name in the API).
    ChannelId, "ch", "channel id"
);
prefixed_id!(
    /// One uploaded version of a plugin.
    PluginId, "plg", "plugin id"
);
prefixed_id!(
    /// A dead letter: a notification a fail-closed plugin chain kept out of delivery.
    DeadLetterId, "dl", "dead letter id"
);
prefixed_id!(
    /// An operator key.
    OperatorKeyId, "op", "operator key id"
);
prefixed_id!(
    /// An email in the outbox; also the local part of its `Message-ID`, so
    /// a retried email carries the same one.
    EmailId, "eml", "email id"
);
prefixed_id!(
    /// One entry of the delivery log.
    DeliveryId, "dlv", "delivery id"
);

/// A notification's position in its tenant's log: strictly increasing in
/// commit order within a tenant, so one id resumes a stream over any set of
/// channels.
pub type Seq = i64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_and_keep_their_prefix() {
        let id = TenantId::generate();
        assert!(id.as_str().starts_with("ten_"));
        assert_eq!(TenantId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn wrong_prefix_and_garbage_are_refused() {
        let key = ApiKeyId::generate();
        assert!(TenantId::parse(key.as_str()).is_err());
        assert!(TenantId::parse("ten_").is_err());
        assert!(TenantId::parse("ten_a/b").is_err());
        assert!(TenantId::parse("tenx_abc").is_err());
    }
}
