//! In-process fan-out of committed notifications to live streams.
//!
//! The hub never sees uncommitted data: it is fed only by the relay
//! ([`relay`]), which takes the store's commit hook and other nodes'
//! announcements, in commit order per tenant. Each notification is encoded
//! once as a whole SSE frame ([`frame::Frame`], reference-counted `Bytes`)
//! and the same bytes are handed to every subscriber. Each tenant's
//! subscribers and recent history have their own locks, so one tenant's
//! fan-out or reconnect storm holds up no other tenant's.
//! Each subscriber has a bounded queue; one that falls behind is dropped
//! from the hub, its stream ends after draining what was queued, and the
//! client resumes from history with `Last-Event-ID`. So a slow reader never
//! slows the others and never loses anything.
//!
//! The hub keeps each followed tenant's recent history as those same frames
//! ([`recent`]), so a stream resuming with `Last-Event-ID` can take what it
//! missed from memory and subscribe in one step, with no gap and no
//! duplicate ([`Hub::resume`]): a reconnect storm costs no database read
//! per stream. A tenant is followed while it has streams here and for
//! [`HistoryLimits::keep`] after its last one left, so clients that all
//! drop at once find their history still here when they come back.
//!
//! The hub also keeps time for its streams: one ticker sends heartbeats,
//! spread evenly over the heartbeat period, and ends streams whose token
//! expired, so an idle stream costs no timer of its own.

#![forbid(unsafe_code)]

pub mod frame;
pub mod queue;
mod recent;
pub mod relay;
mod subscribers;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use herald_core::ids::{Seq, TenantId};
use herald_core::names::{ChannelName, UserId};
use herald_core::notification::Notification;
use herald_core::pattern::ChannelPattern;

pub use crate::frame::Frame;
pub use crate::recent::Entry;
use crate::recent::Recent;
use crate::subscribers::{Dropped, Sub, SubId, Subscribers};

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// How much recent history the hub keeps, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct HistoryLimits {
    /// The most one tenant's recent history may hold, in bytes.
    pub tenant_bytes: usize,
    /// The most all tenants' together may hold, in bytes.
    pub total_bytes: usize,
    /// How long a tenant is still followed after its last stream here left.
    pub keep: Duration,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self { tenant_bytes: 4 << 20, total_bytes: 256 << 20, keep: Duration::from_secs(120) }
    }
}

/// One followed tenant: its live subscribers and its recent history, each
/// behind the tenant's own lock, so that one tenant's fan-out or reconnect
/// storm (copying its recent history for every resuming stream) holds up
/// no other tenant's.
#[derive(Default)]
struct Room {
    recent: Mutex<Recent>,
    subs: RwLock<Subscribers>,
}

impl Room {
    fn recent(&self) -> MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn subs(&self) -> RwLockReadGuard<'_, Subscribers> {
        self.subs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn subs_mut(&self) -> RwLockWriteGuard<'_, Subscribers> {
        self.subs.write().unwrap_or_else(|e| e.into_inner())
    }

    fn remove(&self, ids: &[SubId]) {
        if ids.is_empty() {
            return;
        }
        let mut subs = self.subs_mut();
        for id in ids {
            subs.remove(*id);
        }
    }
}

// Lock order, to rule out deadlocks: `rooms`, then a room's `recent`, then
// its `subs`.
struct Inner {
    /// Shared so that a fan-out holds its tenant's room, not the map: a
    /// tenant's first stream, which adds a room, waits for no fan-out.
    rooms: RwLock<HashMap<TenantId, Arc<Room>>>,
    next_id: AtomicU64,
    queue: usize,
    history: HistoryLimits,
    /// Bytes held by every tenant's recent history.
    history_bytes: AtomicUsize,
    /// Set by [`Hub::drain`]: new subscriptions end at once.
    draining: std::sync::atomic::AtomicBool,
    /// Subscribers disconnected because their queue was full.
    overflows: AtomicU64,
    /// Notifications not handed to a subscriber that was to get them,
    /// because its queue was full or it was disconnected earlier in the
    /// same batch (full queue, expired token); it gets them from history
    /// when it resumes.
    undelivered: AtomicU64,
}

impl Inner {
    fn rooms(&self) -> RwLockReadGuard<'_, HashMap<TenantId, Arc<Room>>> {
        self.rooms.read().unwrap_or_else(|e| e.into_inner())
    }

    fn rooms_mut(&self) -> RwLockWriteGuard<'_, HashMap<TenantId, Arc<Room>>> {
        self.rooms.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the hub counted since it started, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubCounters {
    /// Subscribers disconnected because their queue was full.
    pub queue_overflows: u64,
    /// Notifications not queued for a subscriber that was to get them, for
    /// the same reason; it replays them from history when it resumes.
    pub undelivered: u64,
    /// Bytes held by every tenant's recent history now.
    pub history_bytes: u64,
}

/// The fan-out registry. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("subscribers", &self.subscriber_count()).finish()
    }
}

/// A live subscription. Dropping it unregisters the subscriber.
pub struct Subscription {
    pub rx: queue::Receiver,
    hub: Hub,
    tenant: TenantId,
    id: SubId,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(&self.tenant, &[self.id]);
    }
}

impl Hub {
    /// `queue` is each subscriber's bound, in notifications; recent
    /// history within the default [`HistoryLimits`].
    pub fn new(queue: usize) -> Self {
        Self::with_history(queue, HistoryLimits::default())
    }

    pub fn with_history(queue: usize, history: HistoryLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                rooms: RwLock::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                queue: queue.max(1),
                history,
                history_bytes: AtomicUsize::new(0),
                draining: std::sync::atomic::AtomicBool::new(false),
                overflows: AtomicU64::new(0),
                undelivered: AtomicU64::new(0),
            }),
        }
    }

    fn new_sub(&self, user: UserId, patterns: Arc<[ChannelPattern]>, exp: i64) -> (SubId, Sub, queue::Receiver) {
        // A pattern listed twice would be indexed, and delivered, twice.
        let patterns = if patterns.windows(2).all(|w| w[0].as_str() < w[1].as_str()) {
            patterns
        } else {
            let mut sorted = patterns.to_vec();
            sorted.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            sorted.dedup();
            sorted.into()
        };
        let (tx, rx) = queue::channel(self.inner.queue);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        (id, Sub { user, patterns, exp, tx }, rx)
    }

    /// Registers a subscriber whose token expires at `exp` (unix seconds).
    /// Patterns must already be authorized.
    pub fn subscribe(&self, tenant: &TenantId, user: UserId, patterns: Arc<[ChannelPattern]>, exp: i64) -> Subscription {
        let (id, sub, rx) = self.new_sub(user, patterns, exp);
        let subscription = Subscription { rx, hub: self.clone(), tenant: tenant.clone(), id };
        if self.inner.draining.load(Ordering::Relaxed) {
            // Shutting down: the stream ends after its history, and the
            // client resumes elsewhere.
            return subscription;
        }
        loop {
            {
                // Under the read lock, so the clock cannot unfollow the
                // tenant between finding its room and registering.
                let rooms = self.inner.rooms();
                if let Some(room) = rooms.get(tenant) {
                    room.subs_mut().insert(id, sub);
                    break;
                }
            }
            self.inner.rooms_mut().entry(tenant.clone()).or_default();
        }
        subscription
    }

    /// Subscribes a stream that has sent everything up to `after`, and
    /// returns what it still needs from the recent history: the entries
    /// after `after` that its patterns and user match, and the newest id
    /// they account for (live frames up to it are already covered). `None`
    /// when the recent history does not reach back to `after`: then nothing
    /// is subscribed and the stream reads the database.
    ///
    /// Taking the entries and subscribing happen under the tenant's history
    /// lock, which publishing takes to remember each frame before it
    /// queues it: what was remembered before is in the entries, what is
    /// remembered after reaches the subscription (a frame that is both has
    /// an id the stream already sent, and it skips it).
    pub fn resume(
        &self,
        tenant: &TenantId,
        user: UserId,
        patterns: Arc<[ChannelPattern]>,
        exp: i64,
        after: Seq,
        mut keep: impl FnMut(&Notification) -> bool,
    ) -> Option<(Subscription, Vec<Entry>, Seq)> {
        if self.inner.draining.load(Ordering::Relaxed) {
            return None;
        }
        let rooms = self.inner.rooms();
        let room = rooms.get(tenant)?;
        let recent = room.recent();
        let upto = recent.covers(after)?;
        let entries = recent.after(after, |n| n.is_for(&user) && patterns.iter().any(|p| p.matches(&n.channel)) && keep(n));
        let (id, sub, rx) = self.new_sub(user, patterns, exp);
        room.subs_mut().insert(id, sub);
        drop(recent);
        Some((Subscription { rx, hub: self.clone(), tenant: tenant.clone(), id }, entries, upto))
    }

    /// Forgets a deleted channel's notifications from the recent history.
    pub fn forget_channel(&self, tenant: &TenantId, channel: &ChannelName) {
        if let Some(room) = self.inner.rooms().get(tenant) {
            let freed = room.recent().forget_channel(channel);
            self.inner.history_bytes.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Forgets a tenant's recent history (another node deleted one of its
    /// channels); it starts again with the next notification.
    pub fn forget_history(&self, tenant: &TenantId) {
        if let Some(room) = self.inner.rooms().get(tenant) {
            let freed = room.recent().clear();
            self.inner.history_bytes.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Bytes held by every tenant's recent history.
    pub fn history_bytes(&self) -> usize {
        self.inner.history_bytes.load(Ordering::Relaxed)
    }

    fn remove(&self, tenant: &TenantId, ids: &[SubId]) {
        if let Some(room) = self.inner.rooms().get(tenant) {
            room.remove(ids);
        }
    }

    /// Ends every stream of a tenant (it was deleted or suspended, or its
    /// notifications could not be read) and forgets its recent history.
    pub fn close_tenant(&self, tenant: &TenantId) {
        let room = self.inner.rooms_mut().remove(tenant);
        if let Some(room) = room {
            self.inner.history_bytes.fetch_sub(room.recent().bytes(), Ordering::Relaxed);
            // Now, even if a fan-out still holds the room: dropping the
            // senders ends the streams.
            drop(std::mem::take(&mut *room.subs_mut()));
        }
    }

    /// Ends every stream, spread evenly over `window`, for a shutdown: each
    /// first gets a `retry:` of its own within `window`, so that its client
    /// comes back (to another node, or to this one restarted) neither at
    /// once nor together with every other. Streams opened meanwhile end at
    /// once. Returns how many streams were closed.
    pub async fn drain(&self, window: Duration) -> usize {
        self.inner.draining.store(true, Ordering::Relaxed);
        let mut all: Vec<(TenantId, SubId)> = {
            let rooms = self.inner.rooms();
            rooms.iter().flat_map(|(t, room)| room.subs().subs.keys().map(|id| (t.clone(), *id)).collect::<Vec<_>>()).collect()
        };
        all.sort();
        let n = all.len();
        if n == 0 {
            return 0;
        }
        let window_ms = window.as_millis().max(1) as u64;
        // Close in up to 50 steps; each stream's retry comes from a
        // different permutation than its closing time, so reconnects
        // spread over up to twice the window.
        let steps = n.min(50);
        let per_step = n.div_ceil(steps);
        for (step, chunk) in all.chunks(per_step).enumerate() {
            if step > 0 {
                tokio::time::sleep(window / steps as u32).await;
            }
            let rooms = self.inner.rooms();
            for (i, (tenant, id)) in chunk.iter().enumerate() {
                let k = (step * per_step + i) as u64;
                let retry = window_ms * (k.wrapping_mul(2_654_435_761) % n as u64) / n as u64;
                if let Some(room) = rooms.get(tenant) {
                    let mut subs = room.subs_mut();
                    if let Some(sub) = subs.subs.get(id) {
                        let _ = sub.tx.try_send(Frame::retry(u128::from(retry)));
                    }
                    subs.remove(*id);
                }
            }
        }
        n
    }

    /// Has this tenant any live stream on this node?
    pub fn has_subscribers(&self, tenant: &TenantId) -> bool {
        self.inner.rooms().get(tenant).is_some_and(|r| !r.subs().subs.is_empty())
    }

    /// Does this node follow the tenant: has it streams here, or had it
    /// lately (its recent history is kept for those coming back)? The relay
    /// feeds the hub every commit of a followed tenant.
    pub fn follows(&self, tenant: &TenantId) -> bool {
        self.inner.rooms().contains_key(tenant)
    }

    pub fn subscriber_count(&self) -> usize {
        self.inner.rooms().values().map(|r| r.subs().subs.len()).sum()
    }

    /// What the hub counted since it started.
    pub fn counters(&self) -> HubCounters {
        HubCounters {
            queue_overflows: self.inner.overflows.load(Ordering::Relaxed),
            undelivered: self.inner.undelivered.load(Ordering::Relaxed),
            history_bytes: self.history_bytes() as u64,
        }
    }

    /// Fans out committed notifications, in the order given (commit order).
    /// One caller at a time (the relay), or the order would not hold.
    ///
    /// It queues every frame from the caller's thread, a remote wake-up for
    /// each stream. Queueing them on each stream's own thread instead
    /// (shards per HTTP worker, tried in issue 20) cut this loop from 27 ms
    /// to 20 µs at 10,000 streams but changed no latency, since the time
    /// is in the streams' socket writes, and lost a fifth of the saturated
    /// throughput: streams then ran in lockstep with each batch, so fewer
    /// found several frames queued to send in one write.
    pub fn publish(&self, batch: &[Arc<Notification>]) {
        let now = unix_now();
        let fed = Instant::now();
        let mut dropped = Dropped::default();
        let mut start = 0;
        // A batch is in commit order, usually of one tenant: one run per tenant.
        while start < batch.len() {
            let tenant = &batch[start].tenant;
            let end = start + batch[start..].iter().take_while(|n| &n.tenant == tenant).count();
            let run = &batch[start..end];
            start = end;
            let Some(room) = self.inner.rooms().get(tenant).cloned() else { continue };
            let frames: Vec<Frame> = run
                .iter()
                .map(|n| {
                    let frame = Frame { fed: Some(fed), ..Frame::live(n) };
                    self.remember(&room, Entry { note: n.clone(), frame: frame.bytes.clone() });
                    frame
                })
                .collect();
            let gone = room.subs().deliver(frames.iter(), now, &mut dropped);
            room.remove(&gone);
        }
        self.inner.overflows.fetch_add(dropped.overflows, Ordering::Relaxed);
        self.inner.undelivered.fetch_add(dropped.undelivered, Ordering::Relaxed);
    }

    /// Adds a fed notification to its tenant's recent history, within the
    /// tenant's bound and then the node's: past the node's, the tenant
    /// that publishes gives up its own oldest entries (a busy tenant cannot
    /// push out another's history).
    fn remember(&self, room: &Room, entry: Entry) {
        let limits = &self.inner.history;
        let mut recent = room.recent();
        let change = recent.push(entry, limits.tenant_bytes);
        let bytes = &self.inner.history_bytes;
        bytes.fetch_add(change.added, Ordering::Relaxed);
        // `fetch_sub` answers the total before it subtracts.
        let total = bytes.fetch_sub(change.freed, Ordering::Relaxed) - change.freed;
        if total > limits.total_bytes {
            let keep = recent.bytes().saturating_sub(total - limits.total_bytes);
            bytes.fetch_sub(recent.shrink_to(keep), Ordering::Relaxed);
        }
    }

    /// One second of the hub's clock: a heartbeat to every stream whose
    /// turn it is (each gets one per `every` ticks, their turns spread over
    /// the ticks so heartbeats do not come in one burst), and `token-expired`
    /// to streams whose token expired; tenants left by their last stream
    /// longer than [`HistoryLimits::keep`] ago are no longer followed.
    /// Returns how many heartbeats were sent.
    pub fn tick(&self, tick: u64, every: u64) -> usize {
        let now = unix_now();
        let every = every.max(1);
        let mut sent = 0;
        let mut unfollow = Vec::new();
        {
            let rooms = self.inner.rooms();
            for (tenant, room) in rooms.iter() {
                let mut gone = Vec::new();
                {
                    let subs = room.subs();
                    if subs.idle_since.is_some_and(|t| t.elapsed() >= self.inner.history.keep) {
                        unfollow.push(tenant.clone());
                    }
                    for (id, sub) in &subs.subs {
                        if sub.exp <= now {
                            sub.end_expired();
                            gone.push(*id);
                        } else if (id.wrapping_add(tick)).is_multiple_of(every) {
                            // A full queue means the stream is busy, so it
                            // needs no heartbeat.
                            sent += usize::from(sub.tx.try_send(Frame::heartbeat()).is_ok());
                        }
                    }
                }
                room.remove(&gone);
            }
        }
        if !unfollow.is_empty() {
            let mut rooms = self.inner.rooms_mut();
            for tenant in unfollow {
                // Unless a stream came back meanwhile.
                if rooms.get(&tenant).is_some_and(|r| r.subs().subs.is_empty()) {
                    let room = rooms.remove(&tenant).expect("checked above");
                    self.inner.history_bytes.fetch_sub(room.recent().bytes(), Ordering::Relaxed);
                }
            }
        }
        sent
    }

    /// Runs the clock: `tick` once a second, for ever. A heartbeat reaches
    /// each stream every `heartbeat` (rounded to whole seconds, at least 1).
    pub async fn run_clock(self, heartbeat: Duration) {
        let every = heartbeat.as_secs().max(1);
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tick = 0u64;
        loop {
            interval.tick().await;
            tick = tick.wrapping_add(1);
            self.tick(tick, every);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::ids::Seq;
    use herald_core::names::{ChannelName, EventType};
    use serde_json::value::RawValue;

    /// A notification as the relay feeds it; shared by the crate's tests.
    pub(crate) fn note(tenant: &TenantId, id: Seq, channel: &str, recipients: Option<&[&str]>) -> Arc<Notification> {
        Arc::new(Notification {
            tenant: tenant.clone(),
            id,
            channel: ChannelName::parse(channel).unwrap(),
            event_type: EventType::parse("t").unwrap(),
            data: RawValue::from_string("{}".into()).unwrap(),
            recipients: recipients.map(|r| r.iter().map(|u| UserId::parse(*u).unwrap()).collect()),
            created_at: chrono::Utc::now(),
        })
    }

    const FAR: i64 = i64::MAX;

    pub(crate) fn pats(ps: &[&str]) -> Arc<[ChannelPattern]> {
        ps.iter().map(|p| ChannelPattern::parse(*p).unwrap()).collect()
    }

    #[test]
    fn routes_by_channel_pattern_recipient_and_tenant() {
        let hub = Hub::new(16);
        let t = TenantId::generate();
        let other = TenantId::generate();
        let mut a = hub.subscribe(&t, UserId::parse("a").unwrap(), pats(&["orders"]), FAR);
        let mut b = hub.subscribe(&t, UserId::parse("b").unwrap(), pats(&["user.b.*", "orders"]), FAR);
        let mut c = hub.subscribe(&other, UserId::parse("a").unwrap(), pats(&["orders"]), FAR);
        hub.publish(&[note(&t, 1, "orders", None), note(&t, 2, "user.b.inbox", None), note(&t, 3, "orders", Some(&["b"]))]);
        let ids = |s: &mut Subscription| std::iter::from_fn(|| s.rx.try_recv().ok()).map(|d| d.id.unwrap()).collect::<Vec<_>>();
        assert_eq!(ids(&mut a), vec![1]);
        assert_eq!(ids(&mut b), vec![1, 2, 3]);
        assert_eq!(ids(&mut c), Vec::<Seq>::new());
    }

    #[test]
    fn a_pattern_named_twice_delivers_once() {
        let hub = Hub::new(16);
        let t = TenantId::generate();
        let mut s = hub.subscribe(&t, UserId::parse("a").unwrap(), pats(&["x", "y", "x"]), FAR);
        hub.publish(&[note(&t, 1, "x", None)]);
        assert_eq!(s.rx.try_recv().unwrap().id, Some(1));
        assert!(s.rx.try_recv().is_err(), "expected one frame, got a second");
    }

    #[test]
    fn same_bytes_are_shared_between_subscribers() {
        let hub = Hub::new(4);
        let t = TenantId::generate();
        let mut a = hub.subscribe(&t, UserId::parse("a").unwrap(), pats(&["x"]), FAR);
        let mut b = hub.subscribe(&t, UserId::parse("b").unwrap(), pats(&["x"]), FAR);
        hub.publish(&[note(&t, 1, "x", None)]);
        let (da, db) = (a.rx.try_recv().unwrap(), b.rx.try_recv().unwrap());
        assert_eq!(da.bytes.as_ptr(), db.bytes.as_ptr());
    }

    #[test]
    fn overflowing_subscriber_is_dropped_and_others_keep_going() {
        let hub = Hub::new(2);
        let t = TenantId::generate();
        let mut slow = hub.subscribe(&t, UserId::parse("s").unwrap(), pats(&["x"]), FAR);
        let mut fast = hub.subscribe(&t, UserId::parse("f").unwrap(), pats(&["x"]), FAR);
        for i in 1..=3 {
            hub.publish(&[note(&t, i, "x", None)]);
            while fast.rx.try_recv().is_ok() {}
        }
        assert_eq!(hub.subscriber_count(), 1);
        // The slow one drains what it had, then sees the end of its stream.
        assert_eq!(slow.rx.try_recv().unwrap().id.unwrap(), 1);
        assert_eq!(slow.rx.try_recv().unwrap().id.unwrap(), 2);
        assert!(matches!(slow.rx.try_recv(), Err(queue::TryRecvError::Disconnected)));
        hub.publish(&[note(&t, 4, "x", None)]);
        assert_eq!(fast.rx.try_recv().unwrap().id.unwrap(), 4);
        assert_eq!(hub.counters(), HubCounters { queue_overflows: 1, undelivered: 1, history_bytes: hub.history_bytes() as u64 });
    }

    #[test]
    fn an_overflowed_subscriber_gets_nothing_later_in_the_same_batch() {
        let hub = Hub::new(1);
        let t = TenantId::generate();
        let mut s = hub.subscribe(&t, UserId::parse("s").unwrap(), pats(&["x", "y"]), FAR);
        // 2 overflows the one-slot queue; 3 would fit again if the reader
        // drained meanwhile, but must not be sent.
        hub.publish(&[note(&t, 1, "x", None), note(&t, 2, "x", None)]);
        assert_eq!(s.rx.try_recv().unwrap().id.unwrap(), 1);
        assert!(matches!(s.rx.try_recv(), Err(queue::TryRecvError::Disconnected)));
        let mut s2 = hub.subscribe(&t, UserId::parse("s").unwrap(), pats(&["x"]), FAR);
        hub.publish(&[note(&t, 3, "x", None), note(&t, 4, "x", None), note(&t, 5, "x", None)]);
        assert_eq!(s2.rx.try_recv().unwrap().id.unwrap(), 3);
        assert!(s2.rx.try_recv().is_err());
        // 2, then 4 overflowed; 5 was skipped after 4.
        assert_eq!(hub.counters(), HubCounters { queue_overflows: 2, undelivered: 3, history_bytes: hub.history_bytes() as u64 });
    }

    #[test]
    fn dropping_a_subscription_unregisters_it() {
        let hub = Hub::new(2);
        let t = TenantId::generate();
        let s = hub.subscribe(&t, UserId::parse("s").unwrap(), pats(&["a.>"]), FAR);
        assert_eq!(hub.subscriber_count(), 1);
        drop(s);
        assert_eq!(hub.subscriber_count(), 0);
    }
    fn user(u: &str) -> UserId {
        UserId::parse(u).unwrap()
    }

    fn entry_ids(entries: &[Entry]) -> Vec<Seq> {
        entries.iter().map(|e| e.note.id).collect()
    }

    #[test]
    fn a_resume_takes_what_it_missed_from_memory_then_the_rest_live() {
        let hub = Hub::new(16);
        let t = TenantId::generate();
        let first = hub.subscribe(&t, user("a"), pats(&["x"]), FAR);
        hub.publish(&[note(&t, 1, "x", None), note(&t, 2, "x", None), note(&t, 3, "x", None)]);
        drop(first);
        assert!(!hub.has_subscribers(&t) && hub.follows(&t), "followed a while after the last stream left");
        // Published while nobody listens: still remembered.
        hub.publish(&[note(&t, 4, "x", None), note(&t, 5, "y", None), note(&t, 6, "x", Some(&["b"]))]);
        let (mut sub, missed, upto) = hub.resume(&t, user("a"), pats(&["x"]), FAR, 2, |_| true).expect("2 is within the recent history");
        assert_eq!((entry_ids(&missed), upto), (vec![3, 4], 6), "only x, only what is for user a");
        assert_eq!(missed[0].frame, Frame::notification(&missed[0].note).bytes, "the frame a replay from the database sends");
        assert!(sub.rx.try_recv().is_err(), "nothing queued twice");
        hub.publish(&[note(&t, 7, "x", None)]);
        assert_eq!(sub.rx.try_recv().unwrap().id, Some(7));
        let skip_4 = hub.resume(&t, user("a"), pats(&["x"]), FAR, 0, |n| n.id != 4).unwrap();
        assert_eq!(entry_ids(&skip_4.1), vec![1, 2, 3, 7], "the caller's filter (retention) applies");
    }

    #[test]
    fn a_resume_from_outside_the_recent_history_reads_the_database() {
        let hub = Hub::new(16);
        let t = TenantId::generate();
        assert!(hub.resume(&t, user("a"), pats(&["x"]), FAR, 0, |_| true).is_none(), "a tenant not followed");
        let _s = hub.subscribe(&t, user("a"), pats(&["x"]), FAR);
        hub.publish(&[note(&t, 10, "x", None), note(&t, 11, "x", None)]);
        assert!(hub.resume(&t, user("a"), pats(&["x"]), FAR, 8, |_| true).is_none(), "9 came before this node followed");
        assert_eq!(hub.subscriber_count(), 1, "a refused resume subscribes nothing");
        assert!(hub.resume(&t, user("a"), pats(&["x"]), FAR, 9, |_| true).is_some());
        assert!(hub.resume(&t, user("a"), pats(&["x"]), FAR, 12, |_| true).is_none(), "an id this node has not seen yet");
        hub.forget_history(&t);
        assert!(hub.resume(&t, user("a"), pats(&["x"]), FAR, 9, |_| true).is_none(), "forgotten (another node deleted a channel)");
        assert_eq!(hub.history_bytes(), 0);
        hub.publish(&[note(&t, 12, "x", None)]);
        assert_eq!(entry_ids(&hub.resume(&t, user("a"), pats(&["x"]), FAR, 11, |_| true).unwrap().1), vec![12]);
    }

    #[test]
    fn a_deleted_channel_is_forgotten() {
        let hub = Hub::new(16);
        let t = TenantId::generate();
        let _s = hub.subscribe(&t, user("a"), pats(&["*"]), FAR);
        hub.publish(&[note(&t, 1, "x", None), note(&t, 2, "y", None)]);
        hub.forget_channel(&t, &ChannelName::parse("x").unwrap());
        let (_, missed, upto) = hub.resume(&t, user("a"), pats(&["*"]), FAR, 0, |_| true).unwrap();
        assert_eq!((entry_ids(&missed), upto), (vec![2], 2));
    }

    #[test]
    fn recent_history_is_bounded_per_tenant_and_per_node() {
        let one = {
            let t = TenantId::generate();
            Entry { frame: Frame::notification(&note(&t, 11, "x", None)).bytes, note: note(&t, 11, "x", None) }
        };
        let size = one.frame.len() + one.note.data.get().len() + 256;
        let hub = Hub::with_history(16, HistoryLimits { tenant_bytes: 4 * size, total_bytes: 6 * size, keep: Duration::from_secs(60) });
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let _sa = hub.subscribe(&a, user("u"), pats(&["x"]), FAR);
        let _sb = hub.subscribe(&b, user("u"), pats(&["x"]), FAR);
        hub.publish(&(11..=20).map(|i| note(&a, i, "x", None)).collect::<Vec<_>>());
        assert_eq!(hub.history_bytes(), 4 * size, "a tenant holds at most its share");
        assert!(hub.resume(&a, user("u"), pats(&["x"]), FAR, 15, |_| true).is_none());
        assert_eq!(entry_ids(&hub.resume(&a, user("u"), pats(&["x"]), FAR, 16, |_| true).unwrap().1), vec![17, 18, 19, 20]);
        hub.publish(&(11..=20).map(|i| note(&b, i, "x", None)).collect::<Vec<_>>());
        assert_eq!(hub.history_bytes(), 6 * size, "the node's bound holds");
        assert_eq!(
            entry_ids(&hub.resume(&a, user("u"), pats(&["x"]), FAR, 16, |_| true).unwrap().1),
            vec![17, 18, 19, 20],
            "the tenant that published past the node's bound gave up its own entries, not another's"
        );
        assert_eq!(entry_ids(&hub.resume(&b, user("u"), pats(&["x"]), FAR, 18, |_| true).unwrap().1), vec![19, 20]);
        hub.close_tenant(&a);
        assert_eq!(hub.history_bytes(), 2 * size);
    }

    #[test]
    fn a_tenant_is_no_longer_followed_once_its_streams_stayed_away() {
        let hub = Hub::with_history(16, HistoryLimits { keep: Duration::ZERO, ..HistoryLimits::default() });
        let t = TenantId::generate();
        let s = hub.subscribe(&t, user("a"), pats(&["x"]), FAR);
        hub.publish(&[note(&t, 1, "x", None)]);
        hub.tick(1, 15);
        assert!(hub.follows(&t), "a tenant with a stream stays followed");
        drop(s);
        hub.tick(2, 15);
        assert!(!hub.follows(&t));
        assert_eq!(hub.history_bytes(), 0);
    }
}

#[cfg(test)]
mod clock_tests {
    use super::tests::pats;
    use super::*;

    #[test]
    fn heartbeats_are_spread_over_the_period() {
        let hub = Hub::new(16);
        let t = TenantId::generate();
        let mut subs: Vec<_> = (0..6).map(|i| hub.subscribe(&t, UserId::parse(format!("u{i}")).unwrap(), pats(&["x"]), i64::MAX)).collect();
        // Over one period of 3 ticks each stream gets exactly one heartbeat,
        // a third of them per tick.
        let per_tick: Vec<usize> = (1..=3).map(|tick| hub.tick(tick, 3)).collect();
        assert_eq!(per_tick, vec![2, 2, 2]);
        for s in &mut subs {
            let f = s.rx.try_recv().unwrap();
            assert_eq!(&f.bytes[..], frame::HEARTBEAT);
            assert!(s.rx.try_recv().is_err());
        }
    }

    #[test]
    fn expired_tokens_get_token_expired_and_their_stream_ends() {
        let hub = Hub::new(16);
        let t = TenantId::generate();
        let past = unix_now() - 1;
        let mut old = hub.subscribe(&t, UserId::parse("old").unwrap(), pats(&["x"]), past);
        let mut live = hub.subscribe(&t, UserId::parse("live").unwrap(), pats(&["x"]), i64::MAX);
        hub.tick(1, 1000);
        let f = old.rx.try_recv().unwrap();
        assert!(f.last && f.id.is_none());
        assert_eq!(&f.bytes[..], format!("event: token-expired\ndata: {{\"exp\":{past}}}\n\n").as_bytes());
        assert!(matches!(old.rx.try_recv(), Err(queue::TryRecvError::Disconnected)));
        assert!(live.rx.try_recv().is_err());
        assert_eq!(hub.subscriber_count(), 1);
    }

    #[test]
    fn nothing_is_delivered_on_an_expired_token() {
        let hub = Hub::new(16);
        let t = TenantId::generate();
        let mut s = hub.subscribe(&t, UserId::parse("u").unwrap(), pats(&["x"]), unix_now() - 1);
        let n = Arc::new(Notification {
            tenant: t.clone(),
            id: 1,
            channel: herald_core::names::ChannelName::parse("x").unwrap(),
            event_type: herald_core::names::EventType::parse("t").unwrap(),
            data: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
            recipients: None,
            created_at: chrono::Utc::now(),
        });
        hub.publish(&[n]);
        let f = s.rx.try_recv().unwrap();
        assert!(f.last && f.id.is_none(), "token-expired instead of the notification");
        assert!(s.rx.try_recv().is_err());
    }
}

#[cfg(test)]
mod drain_tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_tells_every_stream_when_to_come_back_then_ends_it_spread_over_the_window() {
        let hub = Hub::new(16);
        let t = TenantId::generate();
        let pats: Arc<[ChannelPattern]> = Arc::new([ChannelPattern::parse("x").unwrap()]);
        let mut subs: Vec<_> =
            (0..100).map(|i| hub.subscribe(&t, UserId::parse(format!("u{i}")).unwrap(), pats.clone(), i64::MAX)).collect();
        let started = tokio::time::Instant::now();
        let closed = hub.drain(Duration::from_secs(5)).await;
        assert_eq!(closed, 100);
        // Paused time advances only by the drain's own sleeps: it took the window.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(4800) && took <= Duration::from_secs(5), "{took:?}");
        let mut retries = Vec::new();
        for s in &mut subs {
            let f = s.rx.recv().await.expect("a retry frame before the end");
            let text = String::from_utf8(f.bytes.to_vec()).unwrap();
            let ms: u64 = text.trim().strip_prefix("retry: ").unwrap().parse().unwrap();
            assert!(ms < 5000);
            retries.push(ms);
            assert!(s.rx.recv().await.is_none(), "then the stream ends");
        }
        retries.sort();
        retries.dedup();
        assert!(retries.len() > 50, "retry delays are spread, not one value: {}", retries.len());
        assert_eq!(hub.subscriber_count(), 0);
        // A stream opened while draining ends at once.
        let mut late = hub.subscribe(&t, UserId::parse("late").unwrap(), pats, i64::MAX);
        assert!(late.rx.recv().await.is_none());
    }
}

#[cfg(test)]
mod thread_tests {
    use super::tests::pats;
    use super::*;
    use std::sync::mpsc as std_mpsc;

    fn note(tenant: &TenantId, id: Seq, channel: &str) -> Arc<Notification> {
        super::tests::note(tenant, id, channel, None)
    }

    fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    /// Streams on two runtimes' threads (as on two HTTP workers), fed from
    /// a third: each gets every frame of its channel, in order, woken
    /// across threads.
    #[test]
    fn streams_on_other_threads_get_every_frame_in_order() {
        let hub = Hub::new(1024);
        let t = TenantId::generate();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (hub, t, ready) = (hub.clone(), t.clone(), ready_tx.clone());
                std::thread::spawn(move || {
                    current_thread().block_on(async move {
                        let mut subs: Vec<_> = (0..3)
                            .map(|i| hub.subscribe(&t, UserId::parse(format!("u{w}-{i}")).unwrap(), pats(&["x"]), i64::MAX))
                            .collect();
                        ready.send(()).unwrap();
                        let mut got = Vec::new();
                        for s in &mut subs {
                            let mut ids = Vec::new();
                            while ids.len() < 400 {
                                let f =
                                    tokio::time::timeout(Duration::from_secs(30), s.rx.recv()).await.expect("frames arrive").expect("open");
                                ids.push(f.id.unwrap());
                            }
                            got.push(ids);
                        }
                        got
                    })
                })
            })
            .collect();
        ready_rx.recv().unwrap();
        ready_rx.recv().unwrap();
        assert_eq!(hub.subscriber_count(), 6);
        for batch in 0..200 {
            let first = batch * 3 + 1;
            hub.publish(&[note(&t, first, "x"), note(&t, first + 1, "y"), note(&t, first + 2, "x")]);
        }
        let expected: Vec<Seq> = (0..200).flat_map(|b| [b * 3 + 1, b * 3 + 3]).collect();
        for worker in workers {
            for ids in worker.join().unwrap() {
                assert_eq!(ids, expected, "every x, in order, nothing else");
            }
        }
        assert_eq!(hub.counters().undelivered, 0);
    }

    /// A stream on a runtime that does not read is closed at its queue's
    /// bound, gets nothing after the frame it missed, and is no longer
    /// counted.
    #[test]
    fn an_overflowing_stream_ends_after_what_it_had() {
        let hub = Hub::new(2);
        let t = TenantId::generate();
        current_thread().block_on(async {
            let mut s = hub.subscribe(&t, UserId::parse("s").unwrap(), pats(&["x"]), i64::MAX);
            hub.publish(&[note(&t, 1, "x"), note(&t, 2, "x"), note(&t, 3, "x"), note(&t, 4, "x")]);
            let mut ids = Vec::new();
            while let Some(f) = tokio::time::timeout(Duration::from_secs(30), s.rx.recv()).await.expect("the queue ends") {
                ids.push(f.id.unwrap());
            }
            assert_eq!(ids, vec![1, 2], "up to the bound, then the end of the stream");
            assert_eq!(hub.subscriber_count(), 0);
            assert_eq!(hub.counters().queue_overflows, 1);
            assert_eq!(hub.counters().undelivered, 2, "3 overflowed, 4 came after it");
        });
    }
}
