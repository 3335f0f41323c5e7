//! How many database connections the store keeps and how long each lives,
//! apart from [`crate::Store::connect_pooled`] so that the binary's
//! configuration can set them without knowing sqlx.

use std::time::Duration;

/// The connection pool's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// Connections at most; `None`: 8 on SQLite (one writer at a time
    /// anyway), 16 on PostgreSQL.
    pub max_connections: Option<u32>,
    /// Connections kept open even when idle.
    pub min_connections: u32,
    /// A connection older than this is closed and replaced; `None`: never.
    pub max_lifetime: Option<Duration>,
    /// An idle connection beyond `min_connections` is closed after this;
    /// `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Longest wait for a free connection before the query fails.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    /// sqlx's own defaults, which the store used before these were settable.
    fn default() -> Self {
        Self {
            max_connections: None,
            min_connections: 1,
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            idle_timeout: Some(Duration::from_secs(10 * 60)),
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::TransactionTrait;

    use super::*;
    use crate::Store;

    #[tokio::test]
    async fn a_full_pool_fails_a_query_as_busy_after_the_acquire_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        // Long enough for a loaded machine to hand the one connection
        // around (connecting, migrating, returning it after a drop), short
        // enough for the test.
        let pool = PoolSettings { max_connections: Some(1), acquire_timeout: Duration::from_secs(3), ..PoolSettings::default() };
        let store = Store::connect_pooled(&url, Duration::ZERO, &pool).await.unwrap();
        store.migrate().await.unwrap();
        store.list_tenants(None, 10).await.unwrap();

        // The only connection, held by a transaction.
        let held = store.db.begin().await.unwrap();
        let err = store.list_tenants(None, 10).await.unwrap_err();
        assert!(matches!(err, crate::StoreError::Busy), "{err:?}");
        drop(held);
        store.list_tenants(None, 10).await.unwrap();
    }
}
