//! The application layer's one error type. Every use case returns it;
//! `herald-server`'s `problem.rs` maps it to HTTP in one place. Lower
//! layers' errors are folded in here, so a transport never needs to know
//! the storage or plugin types to answer.

use herald_core::DomainError;
use herald_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that fails the domain's rules, a scope the token lacks, a bad token.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The addressed thing does not exist (for this tenant).
    #[error("{0}")]
    NotFound(String),
    /// A unique value is already taken.
    #[error("{0}")]
    Conflict(String),
    /// No credentials, or credentials that match nothing.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials without the right to do this.
    #[error("{0}")]
    Forbidden(String),
    /// Well-formed input that a lower layer refused (a plugin that does not
    /// validate, a template that does not compile).
    #[error("{0}")]
    Rejected(String),
    /// A value larger than Herald accepts (`data`, a batch).
    #[error("{0}")]
    TooLarge(String),
    /// A tenant quota is used up; the request may succeed after
    /// `retry_after` seconds.
    #[error("{detail}")]
    QuotaExceeded { detail: String, retry_after: u64 },
    /// An upload past one of the tenant's plugin quotas (plugins, versions
    /// of one, bytes): retrying will not help until some are deleted or the
    /// operator raises the quota.
    #[error("{0}")]
    PluginQuotaExceeded(String),
    /// One client address holds as many streams and long-polls as it may.
    #[error("{0}")]
    TooManyConnections(String),
    /// An `Idempotency-Key` sent again with a different request.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// An `Idempotency-Key` whose first request is still running.
    #[error("{0}")]
    IdempotencyInProgress(String),
    /// The operator suspended the tenant.
    #[error("{0}")]
    TenantSuspended(String),
    /// Herald was asked to mint a token but holds no secret to sign it with.
    #[error("{0}")]
    NoSigningKey(String),
    /// The tenant's plugin hooks are behind (its queue on the plugin
    /// workers is full): worth retrying shortly.
    #[error("{0}")]
    PluginsBusy(String),
    /// A poll's deliver hooks used up its hook-time allowance before they
    /// decided on a single notification.
    #[error("{0}")]
    HookBudgetExhausted(String),
    /// A notification id that was never committed (marking it read).
    #[error("{0}")]
    UnknownNotification(String),
    /// The user holds as many read receipts as are kept.
    #[error("{0}")]
    TooManyReadReceipts(String),
    /// This node should not get traffic yet.
    #[error("{0}")]
    NotReady(String),
    /// No database connection came free in time: worth retrying.
    #[error("no database connection came free in time")]
    Busy,
    /// The node is shutting down (the publish writer is gone).
    #[error("the publisher is shutting down")]
    ShuttingDown,
    /// A storage failure that is Herald's fault, with its cause for the log.
    #[error(transparent)]
    Storage(StoreError),
    /// Another failure that is Herald's fault.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => AppError::NotFound(e.to_string()),
            StoreError::Conflict(c) => AppError::Conflict(c),
            StoreError::Busy => AppError::Busy,
            StoreError::Closed => AppError::ShuttingDown,
            other => AppError::Storage(other),
        }
    }
}

impl From<crate::plugin_workers::Refused> for AppError {
    fn from(r: crate::plugin_workers::Refused) -> Self {
        match r {
            crate::plugin_workers::Refused::QueueFull => {
                AppError::PluginsBusy("this tenant's plugin hooks are behind; try again shortly".into())
            }
            crate::plugin_workers::Refused::Stopped => AppError::ShuttingDown,
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_message_and_meaning() {
        let e = AppError::from(StoreError::NotFound("channel"));
        assert!(matches!(&e, AppError::NotFound(m) if m == "channel not found"), "got {e:?}");
        let e = AppError::from(StoreError::Busy);
        assert_eq!(e.to_string(), "no database connection came free in time");
        assert!(matches!(AppError::from(StoreError::Closed), AppError::ShuttingDown));
        let e = AppError::from(StoreError::Corrupt("x".into()));
        assert!(matches!(&e, AppError::Storage(_)), "got {e:?}");
        assert_eq!(e.to_string(), "corrupt row: x");
    }
}
