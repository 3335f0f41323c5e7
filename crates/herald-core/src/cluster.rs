//! What several Herald nodes sharing one database tell each other, and the
//! two ports the fan-out relay needs: a bus between nodes and a way to read
//! committed notifications back.
//!
//! Nodes announce only "tenant T's log reached id N", never payloads: the
//! database stays the one source of truth, a lost announcement delays
//! delivery but never loses anything (a node reads what it missed from the
//! database), and the same tiny message fits PostgreSQL NOTIFY and NATS.
//! These are plain traits with boxed futures so this crate stays free of any
//! runtime or I/O.

use std::future::Future;
use std::pin::Pin;

use crate::ids::{Seq, TenantId};
use crate::notification::Notification;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// "Tenant `tenant` has committed everything up to and including `seq`."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    pub tenant: TenantId,
    pub seq: Seq,
}

impl Announcement {
    /// Wire form: `<tenant id> <seq>`.
    pub fn encode(&self) -> String {
        format!("{} {}", self.tenant, self.seq)
    }

    /// Parses the wire form; `None` for anything else (ignored by receivers).
    pub fn decode(s: &str) -> Option<Self> {
        let (tenant, seq) = s.trim().split_once(' ')?;
        Some(Self { tenant: TenantId::parse(tenant).ok()?, seq: seq.parse().ok().filter(|s: &Seq| *s > 0)? })
    }
}

/// What a bus listener reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusEvent {
    Announcement(Announcement),
    /// The connection is up (again); announcements may have been missed
    /// while it was down.
    Connected,
    /// The connection was lost; the listener is reconnecting with backoff.
    Disconnected(String),
}

/// The channel between nodes.
pub trait Bus: Send + Sync + 'static {
    /// A short name for logs: `postgres`, `nats`.
    fn name(&self) -> &'static str;
    /// Tells the other nodes (best effort) that logs advanced.
    fn announce<'a>(&'a self, announcements: &'a [Announcement]) -> BoxFuture<'a, Result<(), BoxError>>;
    /// Starts listening to every node's announcements (this node's included).
    fn listen(&self) -> Box<dyn BusListener>;
}

/// A subscription to the bus. Reconnects by itself; never ends.
pub trait BusListener: Send {
    fn next_event(&mut self) -> BoxFuture<'_, BusEvent>;
}

/// Reading committed notifications back, for a node that learns of commits
/// it did not make.
pub trait LogSource: Send + Sync + 'static {
    /// Notifications of `tenant` with `after < id <= upto`, in id order, at
    /// most `limit` of them.
    fn committed_range<'a>(
        &'a self,
        tenant: &'a TenantId,
        after: Seq,
        upto: Seq,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<Notification>, BoxError>>;
    /// Every tenant's last committed id.
    fn heads(&self) -> BoxFuture<'_, Result<Vec<(TenantId, Seq)>, BoxError>>;
    /// The history epoch of every tenant whose epoch is not 0. It goes up
    /// whenever one of the tenant's channels is deleted with its history,
    /// so a node keeping recent history in memory knows to forget it.
    /// The default: a log whose channels are never deleted.
    fn epochs(&self) -> BoxFuture<'_, Result<Vec<(TenantId, i64)>, BoxError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// One tenant's last committed id (0 for a tenant with none, or none at
    /// all). The default reads every head; a store should read just one.
    fn head<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, Result<Seq, BoxError>> {
        Box::pin(async move {
            let heads = self.heads().await?;
            Ok(heads.into_iter().find(|(t, _)| t == tenant).map_or(0, |(_, seq)| seq))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_round_trip_and_garbage_is_ignored() {
        let a = Announcement { tenant: TenantId::generate(), seq: 42 };
        assert_eq!(Announcement::decode(&a.encode()), Some(a));
        for bad in ["", "x", "ten_abc", "ten_abc x", "key_abc 1", "ten_abc -1", "ten_abc 0"] {
            assert_eq!(Announcement::decode(bad), None, "{bad:?}");
        }
    }
}
