//! One tenant's live subscribers on this node, indexed so a notification
//! visits only the streams that can match it, and the delivery of a batch
//! to them: each frame into each matching stream's bounded queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use herald_core::names::{ChannelName, UserId};
use herald_core::pattern::ChannelPattern;
use rustc_hash::FxHashMap;

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

impl Sub {
    /// Its token expired: it gets `token-expired`, then nothing more (the
    /// caller removes it).
    pub fn end_expired(&self) {
        let _ = self.tx.try_send(Frame::token_expired(self.exp));
        self.tx.close();
    }
}

/// One tenant's subscribers.
#[derive(Default)]
pub(crate) struct Subscribers {
    /// Hashed with Fx, not SipHash: ids are ours, not an attacker's, and
    /// a fan-out looks one up per stream.
    pub subs: FxHashMap<SubId, Sub>,
    /// When the last subscriber left, if none is here.
    pub idle_since: Option<Instant>,
    /// Subscribers whose patterns are all exact, by channel.
    /// (SipHash: channel names are the tenant's, so a hostile one could
    /// pick colliding names; looked up once per notification, not per stream.)
    exact: HashMap<String, Vec<SubId>>,
    /// Subscribers with at least one wildcard pattern.
    wild: Vec<SubId>,
}

impl Subscribers {
    fn is_exact(sub: &Sub) -> bool {
        sub.patterns.iter().all(ChannelPattern::is_exact)
    }

    pub fn insert(&mut self, id: SubId, sub: Sub) {
        self.idle_since = None;
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
    pub fn remove(&mut self, id: SubId) -> bool {
        let Some(sub) = self.subs.remove(&id) else { return false };
        if self.subs.is_empty() {
            self.idle_since = Some(Instant::now());
        }
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

/// What deliveries did besides queueing frames.
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    /// Subscribers whose queue overflowed.
    pub overflows: u64,
    /// Notifications not queued for a subscriber that was to get them.
    pub undelivered: u64,
}

impl Subscribers {
    /// Queues a batch of this tenant's frames for every matching
    /// subscriber, in order. A subscriber whose queue is full, or whose
    /// token expired (it gets `token-expired`), is closed at once, so it
    /// gets nothing after the frame it missed (a resume from a later id
    /// would skip that one); the caller removes the ones returned.
    pub fn deliver<'a>(&self, batch: impl Iterator<Item = &'a Frame>, now: i64, dropped: &mut Dropped) -> Vec<SubId> {
        let mut gone = Vec::new();
        for frame in batch {
            let Some(n) = &frame.note else { continue };
            for (id, sub) in self.matching(&n.channel) {
                if !n.is_for(&sub.user) {
                    continue;
                }
                if sub.exp <= now {
                    sub.end_expired();
                    gone.push(id);
                    continue;
                }
                match sub.tx.try_send(frame.clone()) {
                    Ok(()) => {}
                    Err(SendError::Full) => {
                        tracing::debug!(tenant = %n.tenant, subscriber = id, "subscriber queue overflowed; disconnecting it");
                        sub.tx.close();
                        dropped.overflows += 1;
                        dropped.undelivered += 1;
                        gone.push(id);
                    }
                    Err(SendError::Closed) => {
                        dropped.undelivered += 1;
                        gone.push(id);
                    }
                }
            }
        }
        gone
    }
}
