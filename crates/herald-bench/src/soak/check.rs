//! What one soak subscriber checks on every event, across all of its
//! connections: notification ids only grow (so nothing arrives twice, and
//! nothing arrives out of order), and the publisher's sequence numbers of
//! its channel's broadcasts and of its own direct notifications arrive one
//! after another, with no hole.

use serde::Deserialize;

use crate::sse::Event;

/// Event type of a notification to the whole channel.
pub const BROADCAST: &str = "soak.broadcast";
/// Event type of a notification to one user (`recipients`).
pub const DIRECT: &str = "soak.direct";

/// The part of Herald's envelope a check reads.
#[derive(Deserialize)]
struct Wire {
    id: u64,
    data: Stamp,
}

/// What the publisher put in `data`: the sequence number, and for a direct
/// notification the subscriber it is for.
#[derive(Deserialize)]
struct Stamp {
    s: u64,
    u: Option<u32>,
}

/// What became of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The next notification, as expected.
    Delivered,
    /// Delivered, but this many numbers before it never came.
    Gap(u64),
    /// An id at or below one already received, or a number already received.
    Duplicate,
    /// A direct notification for another user.
    Misdelivered,
    /// Herald's `history-truncated`: retention removed part of what the
    /// resume should have replayed.
    Truncated,
    /// Herald's `token-expired`.
    TokenExpired,
    /// Anything else with data (unknown type, unreadable data).
    Unexpected,
}

/// One subscriber's expectations.
#[derive(Debug)]
pub struct Checker {
    user: u32,
    /// Highest notification id received: the next resume point.
    pub last_id: u64,
    /// Next broadcast number expected on the subscriber's channel.
    pub next_broadcast: u64,
    /// Next direct number expected for the subscriber's user.
    pub next_direct: u64,
}

impl Checker {
    pub fn new(user: u32) -> Self {
        Self { user, last_id: 0, next_broadcast: 0, next_direct: 0 }
    }

    pub fn event(&mut self, ev: &Event) -> Outcome {
        let direct = match ev.event.as_str() {
            BROADCAST => false,
            DIRECT => true,
            "history-truncated" => return Outcome::Truncated,
            "token-expired" => return Outcome::TokenExpired,
            _ => return Outcome::Unexpected,
        };
        let Ok(wire) = serde_json::from_str::<Wire>(&ev.data) else { return Outcome::Unexpected };
        if wire.id <= self.last_id {
            return Outcome::Duplicate;
        }
        self.last_id = wire.id;
        if direct && wire.data.u != Some(self.user) {
            return Outcome::Misdelivered;
        }
        let next = if direct { &mut self.next_direct } else { &mut self.next_broadcast };
        let seq = wire.data.s;
        if seq < *next {
            // A new id for a number already received: published twice.
            return Outcome::Duplicate;
        }
        let skipped = seq - *next;
        *next = seq + 1;
        if skipped == 0 { Outcome::Delivered } else { Outcome::Gap(skipped) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, id: u64, s: u64, u: Option<u32>) -> Event {
        let data = match u {
            Some(u) => format!(r#"{{"id":{id},"channel":"soak.1","type":"{kind}","data":{{"s":{s},"u":{u}}},"created_at":"x"}}"#),
            None => format!(r#"{{"id":{id},"channel":"soak.1","type":"{kind}","data":{{"s":{s}}},"created_at":"x"}}"#),
        };
        Event { id: id.to_string(), event: kind.into(), data }
    }

    #[test]
    fn consecutive_numbers_on_growing_ids_are_delivered() {
        let mut c = Checker::new(7);
        assert_eq!(c.event(&ev(BROADCAST, 3, 0, None)), Outcome::Delivered);
        assert_eq!(c.event(&ev(DIRECT, 4, 0, Some(7))), Outcome::Delivered);
        assert_eq!(c.event(&ev(BROADCAST, 9, 1, None)), Outcome::Delivered);
        assert_eq!(c.event(&ev(DIRECT, 10, 1, Some(7))), Outcome::Delivered);
        assert_eq!((c.last_id, c.next_broadcast, c.next_direct), (10, 2, 2));
    }

    #[test]
    fn holes_repeats_and_strangers_are_caught() {
        let mut c = Checker::new(7);
        assert_eq!(c.event(&ev(BROADCAST, 3, 0, None)), Outcome::Delivered);
        assert_eq!(c.event(&ev(BROADCAST, 5, 3, None)), Outcome::Gap(2));
        // The same id again (a resume that replays what it had).
        assert_eq!(c.event(&ev(BROADCAST, 5, 3, None)), Outcome::Duplicate);
        // A lower id, even with a new number: out of order.
        assert_eq!(c.event(&ev(BROADCAST, 4, 4, None)), Outcome::Duplicate);
        // A new id for a number already received: published twice.
        assert_eq!(c.event(&ev(BROADCAST, 6, 3, None)), Outcome::Duplicate);
        assert_eq!(c.event(&ev(DIRECT, 7, 0, Some(8))), Outcome::Misdelivered);
        assert_eq!(c.event(&ev(DIRECT, 8, 1, Some(7))), Outcome::Gap(1));
        assert_eq!(c.next_broadcast, 4);
    }

    #[test]
    fn herald_events_and_noise_are_told_apart() {
        let mut c = Checker::new(0);
        let control = |event: &str| Event { id: String::new(), event: event.into(), data: r#"{"last_event_id":3}"#.into() };
        assert_eq!(c.event(&control("history-truncated")), Outcome::Truncated);
        assert_eq!(c.event(&control("token-expired")), Outcome::TokenExpired);
        assert_eq!(c.event(&control("message")), Outcome::Unexpected);
        let garbled = Event { id: "1".into(), event: BROADCAST.into(), data: "{".into() };
        assert_eq!(c.event(&garbled), Outcome::Unexpected);
        assert_eq!(c.last_id, 0);
    }
}
