//! Errors of the storage layer.

use sea_orm::{ConnAcquireErr, DbErr, SqlErr};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The named object does not exist (for this tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value is already taken.
    #[error("{0}")]
    Conflict(String),
    /// The configuration names a database Herald cannot use.
    #[error("{0}")]
    Config(String),
    /// A stored row could not be read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The writer task is gone (the server is shutting down).
    #[error("the publisher is shutting down")]
    Closed,
    /// No connection came free within the pool's acquire timeout: the
    /// database is overloaded, which is worth retrying, not a bug.
    #[error("no database connection came free in time")]
    Busy,
    #[error("database error: {0}")]
    Db(#[source] DbErr),
}

impl StoreError {
    /// Maps a database error, turning unique violations into `Conflict`.
    pub(crate) fn from_db(e: DbErr, conflict: &str) -> Self {
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(conflict.to_owned()),
            _ => StoreError::from(e),
        }
    }
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        match e {
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => StoreError::Busy,
            e => StoreError::Db(e),
        }
    }
}
