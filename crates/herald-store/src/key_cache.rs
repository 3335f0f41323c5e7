//! A short-lived cache of credential lookups, so the publish path does not
//! query the database on every request.
//!
//! Revocation on this node is immediate (the entry is dropped at once); on
//! other nodes an entry lives at most the configured TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::ids::TenantId;
use herald_core::model::ApiKey;

/// Entries kept before the cache starts over (bounds memory under a flood
/// of distinct valid keys).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub(crate) struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (ApiKey, Instant)>>,
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ApiKey, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, hash: &str) -> Option<ApiKey> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.lock();
        entries.get(hash).filter(|(_, at)| at.elapsed() < self.ttl).map(|(k, _)| k.clone())
    }

    pub(crate) fn put(&self, hash: String, key: ApiKey) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (key, Instant::now()));
    }

    pub(crate) fn forget_key(&self, id: &herald_core::ids::ApiKeyId) {
        self.lock().retain(|_, (k, _)| &k.id != id);
    }

    pub(crate) fn forget_tenant(&self, tenant: &TenantId) {
        self.lock().retain(|_, (k, _)| &k.tenant != tenant);
    }
}
