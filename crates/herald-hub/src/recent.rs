//! A tenant's recent history, as the encoded frames the hub already made,
//! so that streams resuming with `Last-Event-ID` (a reconnect storm after a
//! deploy or a network blip: every client of a node at once) read it from
//! memory, shared, instead of each querying the database.
//!
//! The hub fills it from what it is fed, which is commit order per tenant.
//! It holds a *run*: every notification with an id in `(from, to]`, with no
//! hole, so "everything after N" is here exactly when `from <= N <= to`.
//! Notification ids are consecutive within a tenant, so a hole shows as an
//! id other than `to + 1` (another node's commits skipped because nobody
//! listened here, a range read that met pruned rows) and starts the run
//! over. Retention, which it cannot see, the reader checks against the
//! database (one small query per resume instead of the history); a deleted
//! channel is forgotten here at once on the node that deleted it, and on
//! the others when their relay sees the tenant's history epoch change.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use herald_core::ids::Seq;
use herald_core::names::ChannelName;
use herald_core::notification::Notification;

/// Bytes counted for an entry on top of its frame and its data: the
/// notification's other fields and the bookkeeping.
const ENTRY_OVERHEAD: usize = 256;

/// One notification and its frame, as the live stream sends it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub note: Arc<Notification>,
    pub frame: Bytes,
}

impl Entry {
    fn cost(&self) -> usize {
        self.frame.len() + self.note.data.get().len() + ENTRY_OVERHEAD
    }
}

/// One tenant's run of recent notifications.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    entries: VecDeque<Entry>,
    /// The run is complete after `from` up to `to`; `None` until the first
    /// notification arrives (nothing is known yet).
    run: Option<(Seq, Seq)>,
    bytes: usize,
}

/// What one append did to the memory held, for the hub's total.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    pub added: usize,
    pub freed: usize,
}

impl Recent {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends a notification fed to the hub. `room` is the most this
    /// tenant may hold; the oldest entries go first.
    pub fn push(&mut self, entry: Entry, room: usize) -> Change {
        let id = entry.note.id;
        let mut change = Change::default();
        match self.run {
            Some((_, to)) if id <= to => return change,
            Some((from, to)) if id == to + 1 => self.run = Some((from, id)),
            _ => {
                change.freed += self.clear();
                self.run = Some((id - 1, id));
            }
        }
        let cost = entry.cost();
        self.entries.push_back(entry);
        self.bytes += cost;
        change.added = cost;
        change.freed += self.shrink_to(room);
        change
    }

    /// Drops the oldest entries until at most `room` bytes are held;
    /// returns the bytes freed.
    pub fn shrink_to(&mut self, room: usize) -> usize {
        let mut freed = 0;
        while self.bytes > room {
            let Some(old) = self.entries.pop_front() else { break };
            let cost = old.cost();
            self.bytes -= cost;
            freed += cost;
            if let Some((_, to)) = self.run {
                self.run = Some((old.note.id, to));
            }
        }
        freed
    }

    /// Forgets everything (the run starts again with the next
    /// notification); returns the bytes freed.
    pub fn clear(&mut self) -> usize {
        let freed = self.bytes;
        self.entries.clear();
        self.bytes = 0;
        self.run = None;
        freed
    }

    /// Forgets one channel's notifications (the channel was deleted). The
    /// run stays complete: they no longer exist.
    pub fn forget_channel(&mut self, channel: &ChannelName) -> usize {
        let before = self.bytes;
        self.entries.retain(|e| &e.note.channel != channel);
        self.bytes = self.entries.iter().map(Entry::cost).sum();
        before - self.bytes
    }

    /// The newest id of the run, if everything after `after` is in it.
    pub fn covers(&self, after: Seq) -> Option<Seq> {
        let (from, to) = self.run?;
        (from <= after && after <= to).then_some(to)
    }

    /// Entries after `after` that `keep` accepts, in id order.
    pub fn after(&self, after: Seq, mut keep: impl FnMut(&Notification) -> bool) -> Vec<Entry> {
        let start = self.entries.partition_point(|e| e.note.id <= after);
        self.entries.range(start..).filter(|e| keep(&e.note)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::ids::TenantId;

    fn entry(id: Seq, channel: &str) -> Entry {
        let note = crate::tests::note(&TenantId::generate(), id, channel, None);
        Entry { frame: Bytes::from(format!("id: {id}\n\n")), note }
    }

    fn ids(r: &Recent, after: Seq) -> Vec<Seq> {
        r.after(after, |_| true).iter().map(|e| e.note.id).collect()
    }

    #[test]
    fn a_run_covers_what_follows_its_first_entry() {
        let mut r = Recent::default();
        assert_eq!(r.covers(0), None, "nothing is known before the first notification");
        for id in 5..=7 {
            r.push(entry(id, "a"), usize::MAX);
        }
        assert_eq!(r.covers(3), None, "4 was never seen");
        assert_eq!(r.covers(4), Some(7));
        assert_eq!(ids(&r, 4), [5, 6, 7]);
        assert_eq!(ids(&r, 6), [7]);
        assert_eq!(r.covers(7), Some(7));
        assert_eq!(ids(&r, 7), Vec::<Seq>::new());
        assert_eq!(r.covers(8), None, "an id from the future is not vouched for");
    }

    #[test]
    fn a_hole_starts_the_run_over_and_repeats_are_ignored() {
        let mut r = Recent::default();
        r.push(entry(1, "a"), usize::MAX);
        r.push(entry(2, "a"), usize::MAX);
        assert_eq!(r.push(entry(2, "a"), usize::MAX), Change::default());
        r.push(entry(5, "a"), usize::MAX);
        assert_eq!(r.covers(1), None, "3 and 4 are missing");
        assert_eq!(r.covers(4), Some(5));
        assert_eq!(ids(&r, 0), [5]);
    }

    #[test]
    fn the_oldest_go_first_and_the_run_shrinks_with_them() {
        let mut r = Recent::default();
        // Ids of one length, so entries cost the same.
        let one = entry(11, "a").cost();
        let mut held = 0isize;
        for id in 11..=20 {
            let c = r.push(entry(id, "a"), 3 * one);
            held += c.added as isize - c.freed as isize;
        }
        assert_eq!(held as usize, r.bytes());
        assert_eq!(r.bytes(), 3 * one);
        assert_eq!(ids(&r, 0), [18, 19, 20]);
        assert_eq!(r.covers(16), None);
        assert_eq!(r.covers(17), Some(20));
    }

    #[test]
    fn a_deleted_channel_is_forgotten_and_the_run_stays_complete() {
        let mut r = Recent::default();
        for (id, ch) in [(1, "a"), (2, "b"), (3, "a")] {
            r.push(entry(id, ch), usize::MAX);
        }
        r.forget_channel(&ChannelName::parse("a").unwrap());
        assert_eq!(ids(&r, 0), [2]);
        assert_eq!(r.covers(0), Some(3), "the rest of the run is still complete");
        assert!(r.clear() > 0);
        assert_eq!(r.covers(0), None);
    }
}
