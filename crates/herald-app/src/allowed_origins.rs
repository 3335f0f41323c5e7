//! Each tenant's allowed browser origins, cached per node: CORS checks run
//! on every cross-origin request, so they must not query the database each
//! time. A change made through this node applies at once; other nodes see
//! it within the cache's lifetime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_core::ids::TenantId;
use herald_store::{Store, StoreError};

/// Each tenant's list, with when it was read.
type Cache = HashMap<TenantId, (Instant, Arc<[String]>)>;

#[derive(Clone, Debug)]
pub struct AllowedOrigins {
    store: Store,
    ttl: Duration,
    cache: Arc<Mutex<Cache>>,
}

impl AllowedOrigins {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self { store, ttl, cache: Arc::default() }
    }

    /// Whether pages on `origin` may call this tenant's subscriber endpoints.
    /// An unknown tenant allows nothing.
    pub async fn allows(&self, tenant: &TenantId, origin: &str) -> Result<bool, StoreError> {
        Ok(self.get(tenant).await?.iter().any(|o| o == origin))
    }

    async fn get(&self, tenant: &TenantId) -> Result<Arc<[String]>, StoreError> {
        if let Some((at, list)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(tenant)
            && at.elapsed() < self.ttl
        {
            return Ok(list.clone());
        }
        let list: Arc<[String]> = match self.store.allowed_origins(tenant).await {
            Ok(list) => list.into(),
            Err(StoreError::NotFound(_)) => Arc::from(Vec::new()),
            Err(e) => return Err(e),
        };
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(tenant.clone(), (Instant::now(), list.clone()));
        Ok(list)
    }

    /// Forgets the tenant's cached list after it changed here.
    pub fn changed(&self, tenant: &TenantId) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(tenant);
    }
}
