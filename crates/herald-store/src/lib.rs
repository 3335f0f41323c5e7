//! Herald's persistence: sea-orm entities and repositories. The only crate
//! that knows SQL.
//!
//! Every repository method that touches tenant data takes the tenant id as
//! its first argument and filters by it, so a cross-tenant read cannot be
//! written by accident. Rows never leave this crate; callers get
//! `herald_core` types.

#![forbid(unsafe_code)]

mod bulk;
mod clock;
mod convert;
mod entity;
mod error;
mod key_cache;
mod pool_settings;
mod sealed_secrets;

pub mod audit;
pub mod channels;
pub mod dead_letters;
pub mod deliveries;
pub mod history;
pub mod idempotent_requests;
pub mod keys;
pub mod log_source;
pub mod notifications;
pub mod operator;
pub mod origins;
pub mod outbox;
pub mod pg_bus;
pub mod plugins;
pub mod publish;
pub mod query_timing;
pub mod quotas;
pub mod reads;
pub mod recipients;
pub mod retention;
pub mod signing_keys;
pub mod tenants;

use std::sync::Arc;
use std::time::Duration;

use herald_migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use tokio::sync::{Mutex, MutexGuard};

pub use error::StoreError;
pub use pool_settings::PoolSettings;

/// A handle on the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Kept for connections outside the pool (LISTEN).
    url: Arc<str>,
    keys: Arc<key_cache::KeyCache>,
    /// Seals HS256 secrets at rest when the operator set `secrets_key`.
    secrets: Option<Arc<sealed_secrets::SecretsKey>>,
    /// Which tenants are suspended, as last read (same lifetime as `keys`).
    suspended: Arc<tenants::SuspendedCache>,
    /// SQLite allows one writer at a time and a deferred transaction that
    /// upgrades to a write can fail instead of waiting; serialising this
    /// process's write transactions avoids both. `None` on PostgreSQL.
    write_lock: Option<Arc<Mutex<()>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend_name()).finish()
    }
}

impl Store {
    /// Connects to `sqlite://path` (the file is created when missing) or
    /// `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Duration::from_secs(5)).await
    }

    /// Like [`Store::connect`], caching API key lookups for `key_cache_ttl`
    /// (zero disables the cache).
    pub async fn connect_with(url: &str, key_cache_ttl: Duration) -> Result<Self, StoreError> {
        Self::connect_pooled(url, key_cache_ttl, &PoolSettings::default()).await
    }

    /// Like [`Store::connect_with`], with the connection pool shaped by `pool`.
    pub async fn connect_pooled(url: &str, key_cache_ttl: Duration, pool: &PoolSettings) -> Result<Self, StoreError> {
        let is_sqlite = url.starts_with("sqlite:");
        if !is_sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(StoreError::Config(format!("unsupported database URL `{url}`: use sqlite://PATH or postgres://…")));
        }
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(pool.acquire_timeout)
            .min_connections(pool.min_connections)
            .max_lifetime(pool.max_lifetime)
            .idle_timeout(pool.idle_timeout);
        if is_sqlite {
            opts.max_connections(pool.max_connections.unwrap_or(8)).map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a publish is acknowledged only once its commit is
                    // on disk, so a crash or power cut loses nothing acked.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
            });
        } else {
            opts.max_connections(pool.max_connections.unwrap_or(16));
        }
        let db = Database::connect(opts).await.map_err(StoreError::from)?;
        Ok(Self {
            write_lock: is_sqlite.then(|| Arc::new(Mutex::new(()))),
            db,
            url: url.into(),
            keys: Arc::new(key_cache::KeyCache::new(key_cache_ttl)),
            secrets: None,
            suspended: Arc::new(tenants::SuspendedCache::new(key_cache_ttl)),
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        herald_migration::Migrator::up(&self.db, None).await.map_err(StoreError::from)
    }

    /// Migrations this binary knows that the database has not applied (for
    /// the readiness check: a node must not serve an older schema).
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        Ok(herald_migration::Migrator::get_pending_migrations(&self.db).await.map_err(StoreError::from)?.len())
    }

    /// Round-trips a trivial query (for health checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(StoreError::from)
    }

    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
            _ => "other",
        }
    }

    /// Held for the duration of a write transaction (SQLite only).
    async fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }
}
