//! Delivered on a live path cancels the email.
//!
//! The stream and the poll route call [`Tracker::delivered`] for every
//! notification they hand to a user. That call must cost nothing on the
//! hot path, so it returns at once unless the notification is direct
//! (`recipients` is set and lists the user) and its channel has an email
//! policy, which it learns from an in-memory set per tenant, refreshed from
//! the database every few seconds and updated at once when a channel is
//! changed through this node. Only then does it queue a mark, with
//! `try_send` (never waiting); a background task writes queued marks in
//! batches: a pending email becomes `delivered`, and the delivery log
//! records that cancellation.
//!
//! What this costs in accuracy, deliberately: a channel given an email
//! policy on another node is known here within the refresh interval, and a
//! mark that finds the queue full is dropped (and counted in the log). In
//! both cases the email is sent although the user saw the notification; no
//! notification is ever lost by it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use herald_core::email::DeliveryPath;
use herald_core::ids::TenantId;
use herald_core::names::{ChannelName, UserId};
use herald_core::notification::Notification;
use herald_store::deliveries::LiveDelivery;
use herald_store::{Store, StoreError};
use tokio::sync::mpsc;

use crate::tasks::CancellationToken;

/// Marks waiting for the writer before new ones are dropped.
const QUEUE: usize = 65_536;
/// Marks written in one transaction.
const BATCH: usize = 1000;

/// Where a live delivery happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LivePath {
    /// Handed to a Server-Sent Events stream (live or replayed history).
    Stream,
    /// Returned by a poll or long-poll.
    Poll,
}

impl From<LivePath> for DeliveryPath {
    fn from(p: LivePath) -> Self {
        match p {
            LivePath::Stream => DeliveryPath::Stream,
            LivePath::Poll => DeliveryPath::Poll,
        }
    }
}

struct Mark {
    tenant: TenantId,
    delivery: LiveDelivery,
}

/// Records live deliveries that make an email unnecessary. Cheap to clone.
#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

struct Inner {
    /// Per tenant, the channels with an email policy.
    channels: RwLock<HashMap<TenantId, HashSet<ChannelName>>>,
    /// Does any tenant have one? Spares even the read lock when none does.
    any: AtomicBool,
    tx: mpsc::Sender<Mark>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker").field("dropped", &self.inner.dropped.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl Tracker {
    /// Loads which channels have an email policy. The returned task writes
    /// marks and refreshes that set every `refresh`; run it supervised.
    pub async fn start(store: Store, refresh: Duration) -> Result<(Tracker, TrackerTask), StoreError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let tracker =
            Tracker { inner: Arc::new(Inner { channels: RwLock::default(), any: AtomicBool::new(false), tx, dropped: AtomicU64::new(0) }) };
        tracker.replace(store.email_channels().await?);
        let task = TrackerTask { tracker: tracker.clone(), store, refresh, rx: Arc::new(tokio::sync::Mutex::new(rx)) };
        Ok((tracker, task))
    }

    /// `user` received `n` on a live path. Call it for every delivery;
    /// it returns at once unless the delivery may cancel an email.
    pub fn delivered(&self, n: &Notification, user: &UserId, path: LivePath) {
        let Some(recipients) = &n.recipients else { return };
        if !self.inner.any.load(Ordering::Relaxed) || !self.has_email(&n.tenant, &n.channel) || !recipients.contains(user) {
            return;
        }
        let mark = Mark {
            tenant: n.tenant.clone(),
            delivery: LiveDelivery {
                user: user.clone(),
                notification: n.id,
                channel: n.channel.clone(),
                path: path.into(),
                at: chrono::Utc::now(),
            },
        };
        if self.inner.tx.try_send(mark).is_err() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A channel's email policy was set or removed through this node.
    pub fn channel_changed(&self, tenant: &TenantId, channel: &ChannelName, has_email: bool) {
        let mut map = self.inner.channels.write().unwrap_or_else(|e| e.into_inner());
        if has_email {
            map.entry(tenant.clone()).or_default().insert(channel.clone());
        } else if let Some(set) = map.get_mut(tenant) {
            set.remove(channel);
            if set.is_empty() {
                map.remove(tenant);
            }
        }
        self.inner.any.store(!map.is_empty(), Ordering::Relaxed);
    }

    fn has_email(&self, tenant: &TenantId, channel: &ChannelName) -> bool {
        self.inner.channels.read().unwrap_or_else(|e| e.into_inner()).get(tenant).is_some_and(|s| s.contains(channel))
    }

    fn replace(&self, rows: Vec<(TenantId, ChannelName)>) {
        let mut fresh: HashMap<TenantId, HashSet<ChannelName>> = HashMap::new();
        for (t, c) in rows {
            fresh.entry(t).or_default().insert(c);
        }
        let any = !fresh.is_empty();
        *self.inner.channels.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.inner.any.store(any, Ordering::Relaxed);
    }
}

/// The tracker's writer: marks in batches, and the periodic reload of the
/// channels with an email policy. Restartable: the queue outlives a run.
#[derive(Clone)]
pub struct TrackerTask {
    tracker: Tracker,
    store: Store,
    refresh: Duration,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Mark>>>,
}

impl TrackerTask {
    /// Runs until `stop`; then writes what is already queued and returns.
    pub async fn run(self, stop: CancellationToken) {
        let (store, refresh) = (&self.store, self.refresh);
        let mut rx = self.rx.lock().await;
        let mut tick = tokio::time::interval(refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut reported = 0;
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    let mut batch = Vec::new();
                    while let Ok(m) = rx.try_recv() {
                        batch.push(m);
                    }
                    write(store, batch).await;
                    return;
                }
                mark = rx.recv() => {
                    let Some(first) = mark else { return };
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                    write(store, batch).await;
                }
                _ = tick.tick() => {
                    match store.email_channels().await {
                        Ok(rows) => self.tracker.replace(rows),
                        Err(e) => tracing::warn!(error = %e, "reloading the channels with an email policy failed; keeping the last set"),
                    }
                    let dropped = self.tracker.inner.dropped.load(Ordering::Relaxed);
                    if dropped > reported {
                        tracing::warn!(dropped = dropped - reported, "live deliveries not recorded (queue full): their emails may still be sent");
                        reported = dropped;
                    }
                }
            }
        }
    }
}

/// Writes a batch, one transaction per tenant.
async fn write(store: &Store, mut batch: Vec<Mark>) {
    batch.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    let mut start = 0;
    while start < batch.len() {
        let tenant = batch[start].tenant.clone();
        let end = batch[start..].iter().position(|m| m.tenant != tenant).map_or(batch.len(), |i| start + i);
        let items: Vec<LiveDelivery> = batch[start..end].iter().map(|m| m.delivery.clone()).collect();
        if let Err(e) = store.record_live_deliveries(&tenant, &items).await {
            tracing::warn!(tenant = %tenant, deliveries = items.len(), error = %e, "recording live deliveries failed; their emails may still be sent");
        }
        start = end;
    }
}
