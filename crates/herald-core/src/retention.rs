//! How long a channel keeps its notifications.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::DomainError;

/// A channel's retention policy. Either bound may be absent; history is pruned
/// past whichever is reached first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Keep at most this many notifications in the channel.
    #[schema(example = 10000, minimum = 1)]
    pub max_count: Option<i64>,
    /// Keep notifications at most this many seconds.
    #[schema(example = 604800, minimum = 1)]
    pub max_age_seconds: Option<i64>,
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
