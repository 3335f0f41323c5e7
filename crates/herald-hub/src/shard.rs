//! A share of the hub's subscribers: the streams that run on one thread,
//! and the task on that thread that queues each fed batch for them.
//!
//! Why shards: waking a task from another thread is a system call (Tokio
//! wakes the runtime's I/O driver through an eventfd for every task
//! scheduled from outside it). A hub that queued frames for 10,000 streams
//! from the relay's thread made 10,000 system calls per notification, and
//! ran that loop on one core while the streams waited. Now each stream
//! registers with the shard of the thread it runs on; the hub hands a batch
//! to every shard (one wake-up per thread) and each shard's task, on its
//! streams' own thread, queues the frames and wakes them there, for the
//! price of a push on that thread's run queue. The fan-out runs on every
//! worker thread at once.
//!
//! A thread without a Tokio runtime (a plain unit test) gets a shard with
//! no task: the publisher queues its frames itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use herald_core::ids::TenantId;
use herald_core::names::{ChannelName, UserId};
use herald_core::pattern::ChannelPattern;
use tokio::sync::mpsc;

use crate::Frame;
use crate::queue::{self, SendError};

pub(crate) type SubId = u64;

pub(crate) struct Sub {
    pub user: UserId,
    /// Sorted and without duplicates; shared with the stream.
    pub patterns: Arc<[ChannelPattern]>,
    /// The token's `exp` (unix seconds): nothing is delivered at or after it.
    pub exp: i64,
    pub tx: queue::Sender,
}

/// One tenant's subscribers on one shard, indexed so a notification visits
/// only the streams that can match it.
#[derive(Default)]
pub(crate) struct Subscribers {
    pub subs: HashMap<SubId, Sub>,
    /// Subscribers whose patterns are all exact, by channel.
    exact: HashMap<String, Vec<SubId>>,
    /// Subscribers with at least one wildcard pattern.
    wild: Vec<SubId>,
}

impl Subscribers {
    fn is_exact(sub: &Sub) -> bool {
        sub.patterns.iter().all(ChannelPattern::is_exact)
    }

    fn insert(&mut self, id: SubId, sub: Sub) {
        if Self::is_exact(&sub) {
            for p in sub.patterns.iter() {
                self.exact.entry(p.as_str().to_owned()).or_default().push(id);
            }
        } else {
            self.wild.push(id);
        }
        self.subs.insert(id, sub);
    }

    /// Whether it was here.
    fn remove(&mut self, id: SubId) -> bool {
        let Some(sub) = self.subs.remove(&id) else { return false };
        if Self::is_exact(&sub) {
            for p in sub.patterns.iter() {
                if let Some(list) = self.exact.get_mut(p.as_str()) {
                    list.retain(|s| *s != id);
                    if list.is_empty() {
                        self.exact.remove(p.as_str());
                    }
                }
            }
        } else {
            self.wild.retain(|s| *s != id);
        }
        true
    }

    /// The subscribers whose patterns match `channel`.
    fn matching<'a>(&'a self, channel: &'a ChannelName) -> impl Iterator<Item = (SubId, &'a Sub)> + 'a {
        let exact = self.exact.get(channel.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let wild = self.wild.iter().filter(move |id| self.subs[*id].patterns.iter().any(|p| p.matches(channel)));
        exact.iter().chain(wild).map(move |id| (*id, &self.subs[id]))
    }
}

/// Every tenant's subscribers on one shard.
#[derive(Default)]
pub(crate) struct Registry {
    pub tenants: HashMap<TenantId, Subscribers>,
}

impl Registry {
    pub fn insert(&mut self, tenant: &TenantId, id: SubId, sub: Sub) {
        self.tenants.entry(tenant.clone()).or_default().insert(id, sub);
    }

    /// Whether it was here.
    pub fn remove(&mut self, tenant: &TenantId, id: SubId) -> bool {
        let Some(subs) = self.tenants.get_mut(tenant) else { return false };
        let removed = subs.remove(id);
        if subs.subs.is_empty() {
            self.tenants.remove(tenant);
        }
        removed
    }
}

/// What one delivery did besides queueing frames.
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    /// Subscribers removed (queue full, token expired), by tenant.
    pub streams: Vec<TenantId>,
    /// Of those, how many overflowed.
    pub overflows: u64,
    /// Notifications not queued for a subscriber that was to get them.
    pub undelivered: u64,
}

pub(crate) struct Shard {
    registry: Mutex<Registry>,
    /// The shard's task; `None`: the publisher delivers itself.
    inbox: Option<mpsc::UnboundedSender<Arc<[Frame]>>>,
}

impl Shard {
    /// A shard for the current thread: with a task on its Tokio runtime if
    /// it has one. `deliver` runs the task's batches (it holds the hub
    /// weakly, so the task ends with the hub).
    pub fn for_this_thread(deliver: impl Fn(&Shard, &[Frame]) + Send + 'static) -> Arc<Shard> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Arc::new(Shard { registry: Mutex::default(), inbox: None });
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Arc<[Frame]>>();
        let shard = Arc::new(Shard { registry: Mutex::default(), inbox: Some(tx) });
        let weak: Weak<Shard> = Arc::downgrade(&shard);
        // On a current-thread runtime (each HTTP worker's) the task runs on
        // this very thread, beside the streams it wakes.
        runtime.spawn(async move {
            while let Some(batch) = rx.recv().await {
                let Some(shard) = weak.upgrade() else { return };
                deliver(&shard, &batch);
                // Batches that queued up meanwhile, in order, before the
                // woken streams run.
                while let Ok(batch) = rx.try_recv() {
                    deliver(&shard, &batch);
                }
            }
        });
        shard
    }

    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a batch to the shard's task: `Ok(false)` when the shard has no
    /// task and the caller must deliver it, `Err` when the task is gone
    /// (its runtime stopped, and its streams with it).
    pub fn hand(&self, batch: &Arc<[Frame]>) -> Result<bool, ()> {
        match &self.inbox {
            Some(tx) => tx.send(batch.clone()).map(|()| true).map_err(|_| ()),
            None => Ok(false),
        }
    }

    /// Queues a batch for every matching subscriber, in order. A subscriber
    /// whose queue is full, or whose token expired (it gets
    /// `token-expired`), is closed at once, so it gets nothing after the
    /// frame it missed (a resume from a later id would skip that one), and
    /// removed.
    pub fn deliver(&self, batch: &[Frame], now: i64) -> Dropped {
        let mut registry = self.lock();
        let mut dropped = Dropped::default();
        let mut gone: Vec<(TenantId, SubId)> = Vec::new();
        for frame in batch {
            let Some(n) = &frame.note else { continue };
            let Some(subs) = registry.tenants.get(&n.tenant) else { continue };
            for (id, sub) in subs.matching(&n.channel) {
                if !n.is_for(&sub.user) {
                    continue;
                }
                if sub.exp <= now {
                    let _ = sub.tx.try_send(Frame::token_expired(sub.exp));
                    sub.tx.close();
                    gone.push((n.tenant.clone(), id));
                    continue;
                }
                match sub.tx.try_send(frame.clone()) {
                    Ok(()) => {}
                    Err(SendError::Full) => {
                        tracing::debug!(tenant = %n.tenant, subscriber = id, "subscriber queue overflowed; disconnecting it");
                        sub.tx.close();
                        dropped.overflows += 1;
                        dropped.undelivered += 1;
                        gone.push((n.tenant.clone(), id));
                    }
                    Err(SendError::Closed) => {
                        dropped.undelivered += 1;
                        gone.push((n.tenant.clone(), id));
                    }
                }
            }
        }
        for (tenant, id) in gone {
            if registry.remove(&tenant, id) {
                dropped.streams.push(tenant);
            }
        }
        dropped
    }
}
