//! How long a channel keeps its notifications.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::DomainError;

/// A channel's retention policy. Either bound may be absent; history is pruned
/// past whichever is reached first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema, Default)]
pub struct Retention {
    /// Keep at most this many notifications in the channel.
    #[schema(example = 10000, minimum = 1)]
    pub max_count: Option<i64>,
    /// Keep notifications at most this many seconds.
    #[schema(example = 604800, minimum = 1)]
    pub max_age_seconds: Option<i64>,
}

/// Only a JSON object: serde's derive would also take `[count, age]`, which
/// the documented schema does not allow.
impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            max_count: Option<i64>,
            max_age_seconds: Option<i64>,
        }
        struct ObjectOnly;
        impl<'de> serde::de::Visitor<'de> for ObjectOnly {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object with `max_count` and/or `max_age_seconds`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Fields, A::Error> {
                Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        let f = d.deserialize_map(ObjectOnly)?;
        Ok(Retention { max_count: f.max_count, max_age_seconds: f.max_age_seconds })
    }
}

impl Retention {
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.max_count.is_some_and(|c| c < 1) {
            return Err(DomainError::invalid("retention.max_count", "must be at least 1"));
        }
        if self.max_age_seconds.is_some_and(|s| s < 1) {
            return Err(DomainError::invalid("retention.max_age_seconds", "must be at least 1"));
        }
        // About 290 years; beyond that the arithmetic on timestamps overflows.
        if self.max_age_seconds.is_some_and(|s| s > 9_000_000_000) {
            return Err(DomainError::invalid("retention.max_age_seconds", "is too large"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_read_from_objects_only() {
        let r: Retention = serde_json::from_str(r#"{"max_count": 5}"#).unwrap();
        assert_eq!(r, Retention { max_count: Some(5), max_age_seconds: None });
        assert!(serde_json::from_str::<Retention>("[null, null]").is_err());
        assert!(serde_json::from_str::<Retention>(r#"{"max_count": 5, "other": 1}"#).is_err());
    }
}
