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
mod db_kind;
mod dialect;
mod entity;
mod error;
mod key_cache;
mod outbox_status;
mod pool_settings;
mod sealed_secrets;
#[cfg(test)]
mod test_db;
mod write;

pub mod audit;
pub mod channels;
pub mod dead_letters;
pub mod deliveries;
pub mod history;
pub mod idempotent_requests;
pub mod keys;
pub mod log_source;
pub mod mercure_settings;
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
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

pub use db_kind::{DbKind, UnsupportedDatabaseUrl};
pub use error::StoreError;
pub use pool_settings::PoolSettings;

/// A pooled connection idle this long is pinged before it is used again.
const STALE_AFTER: Duration = Duration::from_secs(30);

/// A handle on the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Parsed once from the URL; every backend-specific choice reads it.
    kind: DbKind,
    /// Kept for connections outside the pool (LISTEN).
    url: Arc<str>,
    keys: Arc<key_cache::KeyCache>,
    /// Seals HS256 secrets at rest when the operator set `secrets_key`.
    secrets: Option<Arc<sealed_secrets::SecretsKey>>,
    /// Which tenants are suspended, as last read (same lifetime as `keys`).
    suspended: Arc<tenants::SuspendedCache>,
    /// Which operator key a hash belongs to, as last read (same lifetime as `keys`).
    operators: Arc<operator::OperatorKeyCache>,
    /// Taken by every write (see `write.rs`); a no-op on PostgreSQL.
    write_lock: write::WriteLock,
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
        let kind = DbKind::from_url(url).map_err(|e| StoreError::Config(e.to_string()))?;
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(pool.acquire_timeout)
            .min_connections(pool.min_connections)
            .max_lifetime(pool.max_lifetime)
            .idle_timeout(pool.idle_timeout)
            // Ping only a connection that sat idle (one the server or a
            // proxy may have dropped), not every one taken from the pool:
            // the default pings on every acquire, a round trip added to
            // each publish's commit and every read.
            .test_before_acquire_if_idle_for(STALE_AFTER);
        if kind.is_sqlite() {
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
            write_lock: write::WriteLock::for_kind(kind),
            db,
            kind,
            url: url.into(),
            keys: Arc::new(key_cache::KeyCache::new(key_cache_ttl)),
            secrets: None,
            suspended: Arc::new(tenants::SuspendedCache::new(key_cache_ttl)),
            operators: Arc::new(operator::OperatorKeyCache::new(key_cache_ttl)),
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

    /// Which database this store talks to.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn is_postgres(&self) -> bool {
        self.kind.is_postgres()
    }

    /// `sqlite` or `postgres` (the same as `self.kind().as_str()`).
    pub fn backend_name(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The SQL dialect of hand-written statements.
    pub(crate) fn dialect(&self) -> dialect::Dialect {
        dialect::Dialect::of(self.kind)
    }
}
