//! The warm instances kept between calls, for every plugin of every tenant,
//! under one set of bounds.
//!
//! Instantiating per call would cost far more than a trivial hook, so a
//! call gives its instance back when it ended normally (an instance that
//! trapped, timed out or ran out of memory may be in any state and is
//! dropped). Instances are kept per *binding*, a tenant's use of a compiled
//! plugin: tenants that uploaded the same bytes share the code, never an
//! instance, so a plugin's memory cannot carry data from one tenant to another.
//!
//! Every idle instance holds a slot of the engine's pooling allocator. The
//! bounds here (per binding, per tenant, in total) keep idle instances well
//! below the pool's size, so calls in flight always find a slot; past a
//! bound, the least recently used idle instance goes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::pool::Slot;

/// How many idle instances may be kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdleLimits {
    pub(crate) per_binding: usize,
    pub(crate) per_tenant: usize,
    pub(crate) total: usize,
}

#[derive(Default)]
pub(crate) struct IdlePool {
    inner: Mutex<Pool>,
}

#[derive(Default)]
struct Pool {
    by_binding: HashMap<u64, Entry>,
    /// Every idle instance by the stamp it was given back with, oldest first
    /// (the value is its binding).
    order: BTreeMap<u64, u64>,
    per_tenant: HashMap<Arc<str>, usize>,
    total: usize,
    clock: u64,
}

struct Entry {
    tenant: Arc<str>,
    /// Oldest first; a call takes the newest (its caches are the warmest).
    slots: VecDeque<(u64, Slot)>,
}

impl IdlePool {
    /// The binding's most recently used idle instance, if any.
    pub(crate) fn take(&self, binding: u64) -> Option<Slot> {
        let mut pool = self.lock();
        let entry = pool.by_binding.get_mut(&binding)?;
        let (stamp, slot) = entry.slots.pop_back()?;
        let tenant = entry.tenant.clone();
        pool.order.remove(&stamp);
        pool.forget(binding, &tenant);
        Some(slot)
    }

    /// Keeps `slot` for the binding's next call, making room by evicting the
    /// least recently used idle instances (the tenant's own first when the
    /// tenant is at its bound). Returns the instances to drop, for the caller
    /// to drop after the lock is released (freeing a pool slot is not free).
    pub(crate) fn put(&self, binding: u64, tenant: &Arc<str>, slot: Slot, limits: IdleLimits) -> Vec<Slot> {
        let mut pool = self.lock();
        let kept = pool.by_binding.get(&binding).map_or(0, |e| e.slots.len());
        if kept >= limits.per_binding || limits.per_tenant == 0 || limits.total == 0 {
            return vec![slot];
        }
        let mut evicted = Vec::new();
        while pool.per_tenant.get(tenant).copied().unwrap_or(0) >= limits.per_tenant {
            match pool.evict_oldest_of(Some(tenant)) {
                Some(s) => evicted.push(s),
                None => break,
            }
        }
        while pool.total >= limits.total {
            match pool.evict_oldest_of(None) {
                Some(s) => evicted.push(s),
                None => break,
            }
        }
        pool.clock += 1;
        let stamp = pool.clock;
        pool.order.insert(stamp, binding);
        pool.by_binding
            .entry(binding)
            .or_insert_with(|| Entry { tenant: tenant.clone(), slots: VecDeque::new() })
            .slots
            .push_back((stamp, slot));
        *pool.per_tenant.entry(tenant.clone()).or_insert(0) += 1;
        pool.total += 1;
        evicted
    }

    /// Evicts up to `n` of the least recently used idle instances, whoever's
    /// they are (when the pooling allocator ran out of slots).
    pub(crate) fn evict_oldest(&self, n: usize) -> Vec<Slot> {
        let mut pool = self.lock();
        (0..n).map_while(|_| pool.evict_oldest_of(None)).collect()
    }

    /// Removes every idle instance of the binding.
    pub(crate) fn remove(&self, binding: u64) -> Vec<Slot> {
        let mut pool = self.lock();
        let Some(entry) = pool.by_binding.remove(&binding) else { return Vec::new() };
        let n = entry.slots.len();
        for (stamp, _) in &entry.slots {
            pool.order.remove(stamp);
        }
        pool.total -= n;
        pool.decrement(&entry.tenant, n);
        entry.slots.into_iter().map(|(_, s)| s).collect()
    }

    /// Idle instances of one binding.
    pub(crate) fn count(&self, binding: u64) -> usize {
        self.lock().by_binding.get(&binding).map_or(0, |e| e.slots.len())
    }

    /// Idle instances of one tenant.
    pub(crate) fn tenant_count(&self, tenant: &str) -> usize {
        self.lock().per_tenant.get(tenant).copied().unwrap_or(0)
    }

    /// Idle instances in all.
    pub(crate) fn total(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        // Every update leaves the pool consistent before anything can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pool {
    /// Removes the least recently used idle instance, of `tenant` if given.
    fn evict_oldest_of(&mut self, tenant: Option<&Arc<str>>) -> Option<Slot> {
        let (stamp, binding) = match tenant {
            None => self.order.first_key_value().map(|(s, b)| (*s, *b))?,
            Some(t) => {
                let by_binding = &self.by_binding;
                self.order.iter().find(|(_, b)| by_binding.get(b).is_some_and(|e| &e.tenant == t)).map(|(s, b)| (*s, *b))?
            }
        };
        self.order.remove(&stamp);
        let entry = self.by_binding.get_mut(&binding)?;
        // The binding's oldest instance is the first of its stamps in `order`.
        let (front, slot) = entry.slots.pop_front()?;
        debug_assert_eq!(front, stamp);
        let tenant = entry.tenant.clone();
        self.forget(binding, &tenant);
        Some(slot)
    }

    /// Counts one instance of `binding` out, dropping empty entries.
    fn forget(&mut self, binding: u64, tenant: &Arc<str>) {
        if self.by_binding.get(&binding).is_some_and(|e| e.slots.is_empty()) {
            self.by_binding.remove(&binding);
        }
        self.total -= 1;
        self.decrement(tenant, 1);
    }

    fn decrement(&mut self, tenant: &Arc<str>, n: usize) {
        if let Some(count) = self.per_tenant.get_mut(tenant) {
            *count -= n;
            if *count == 0 {
                self.per_tenant.remove(tenant);
            }
        }
    }
}
