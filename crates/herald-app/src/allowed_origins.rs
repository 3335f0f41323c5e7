//! Each tenant's allowed browser origins, cached per node: CORS checks run
//! on every cross-origin request, so they must not query the database each
//! time. A change made through this node applies at once; other nodes see
//! it within the cache's lifetime.
//!
//! Anyone can send a preflight naming any tenant id, so the cache is
//! bounded: at most [`MAX_TENANTS`] tenants that exist, and a separate,
//! smaller table of at most [`MAX_UNKNOWN`] ids found not to exist (a flood
//! of made-up ids only ever churns that one). A full table first drops its
//! expired entries, then its oldest.
//!
//! It also holds this node's [`OriginRefusals`]: the refusals it answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_core::ids::TenantId;
use herald_store::{Store, StoreError};

use crate::origin_refusals::OriginRefusals;

/// Tenants that exist, cached at most.
pub(crate) const MAX_TENANTS: usize = 10_000;
/// Tenant ids found not to exist, remembered at most.
pub(crate) const MAX_UNKNOWN: usize = 1_000;

/// Each tenant's list, with when it was read.
type Table = HashMap<TenantId, (Instant, Arc<[String]>)>;

#[derive(Debug, Default)]
struct Cache {
    known: Table,
    unknown: HashMap<TenantId, Instant>,
}

/// How many entries the cache holds now, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheSize {
    pub(crate) tenants: usize,
    pub(crate) unknown: usize,
}

/// What a tenant says of an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OriginCheck {
    Allowed,
    /// The tenant exists and does not list the origin.
    Refused,
    UnknownTenant,
}

#[derive(Clone, Debug)]
pub struct AllowedOrigins {
    store: Store,
    ttl: Duration,
    cache: Arc<Mutex<Cache>>,
    refusals: OriginRefusals,
}

impl AllowedOrigins {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self { store, ttl, cache: Arc::default(), refusals: OriginRefusals::default() }
    }

    /// Whether pages on `origin` may call this tenant's subscriber endpoints.
    /// An unknown tenant allows nothing.
    pub async fn allows(&self, tenant: &TenantId, origin: &str) -> Result<bool, StoreError> {
        Ok(self.check(tenant, origin).await? == OriginCheck::Allowed)
    }

    /// Like [`Self::allows`], telling a refusal from an unknown tenant.
    pub(crate) async fn check(&self, tenant: &TenantId, origin: &str) -> Result<OriginCheck, StoreError> {
        Ok(match self.get(tenant).await? {
            None => OriginCheck::UnknownTenant,
            Some(list) if list.iter().any(|o| o == origin) => OriginCheck::Allowed,
            Some(_) => OriginCheck::Refused,
        })
    }

    /// This node's refusals.
    pub(crate) fn refusals(&self) -> &OriginRefusals {
        &self.refusals
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tenant's list; `None` for a tenant that does not exist.
    async fn get(&self, tenant: &TenantId) -> Result<Option<Arc<[String]>>, StoreError> {
        {
            let cache = self.lock();
            if let Some((at, list)) = cache.known.get(tenant)
                && at.elapsed() < self.ttl
            {
                return Ok(Some(list.clone()));
            }
            if let Some(at) = cache.unknown.get(tenant)
                && at.elapsed() < self.ttl
            {
                return Ok(None);
            }
        }
        match self.store.allowed_origins(tenant).await {
            Ok(list) => {
                let list: Arc<[String]> = list.into();
                let mut cache = self.lock();
                cache.unknown.remove(tenant);
                make_room(&mut cache.known, MAX_TENANTS, self.ttl, |(at, _)| *at);
                cache.known.insert(tenant.clone(), (Instant::now(), list.clone()));
                Ok(Some(list))
            }
            Err(StoreError::NotFound(_)) => {
                let mut cache = self.lock();
                cache.known.remove(tenant);
                make_room(&mut cache.unknown, MAX_UNKNOWN, self.ttl, |at| *at);
                cache.unknown.insert(tenant.clone(), Instant::now());
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Forgets the tenant's cached list after it changed here.
    pub fn changed(&self, tenant: &TenantId) {
        let mut cache = self.lock();
        cache.known.remove(tenant);
        cache.unknown.remove(tenant);
    }

    /// How many entries the cache holds.
    pub(crate) fn size(&self) -> CacheSize {
        let cache = self.lock();
        CacheSize { tenants: cache.known.len(), unknown: cache.unknown.len() }
    }
}

/// Leaves room for one more entry in `table` (at most `max`): drops expired
/// entries, then the oldest. Runs only on a miss with a full table.
fn make_room<V>(table: &mut HashMap<TenantId, V>, max: usize, ttl: Duration, at: impl Fn(&V) -> Instant) {
    if table.len() < max {
        return;
    }
    table.retain(|_, v| at(v).elapsed() < ttl);
    while table.len() >= max {
        let Some(oldest) = table.iter().min_by_key(|(_, v)| at(v)).map(|(k, _)| k.clone()) else { break };
        table.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_drops_expired_entries_then_the_oldest() {
        let ttl = Duration::from_secs(60);
        let now = Instant::now();
        let mut table: HashMap<TenantId, Instant> = HashMap::new();
        let first = TenantId::generate();
        table.insert(first.clone(), now - Duration::from_secs(30));
        for i in 1..5u64 {
            table.insert(TenantId::generate(), now - Duration::from_secs(30 - i));
        }
        make_room(&mut table, 5, ttl, |at| *at);
        assert_eq!(table.len(), 4);
        assert!(!table.contains_key(&first), "the oldest goes");
        let stale = TenantId::generate();
        table.insert(stale.clone(), now - Duration::from_secs(120));
        make_room(&mut table, 5, ttl, |at| *at);
        assert_eq!(table.len(), 4, "the expired entry goes, and nothing else");
        assert!(!table.contains_key(&stale));
    }

    #[tokio::test]
    async fn made_up_tenant_ids_fill_only_the_bounded_unknown_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        store.migrate().await.unwrap();
        let origins = AllowedOrigins::new(store, Duration::from_secs(60));
        for _ in 0..MAX_UNKNOWN + 50 {
            assert!(!origins.allows(&TenantId::generate(), "https://a.example").await.unwrap());
        }
        assert_eq!(origins.size(), CacheSize { tenants: 0, unknown: MAX_UNKNOWN });
    }
}
