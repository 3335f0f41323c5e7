//! One `fanout` subscriber: a small task that opens its stream (waiting its
//! turn for a connect slot), then counts what arrives until told to stop.
//! What every subscriber shares is updated through atomics and a few
//! sharded histograms, so the run can watch progress without asking each.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{Semaphore, watch};

use crate::rawstream::{RawStream, Read};
use crate::seqs::{Seen, SeqTracker};
use crate::setup::unix_micros;
use crate::sse::Event;
use crate::stats::Latency;

/// Where and how every subscriber connects, shared read-only.
#[derive(Debug)]
pub struct Spec {
    pub addr: SocketAddr,
    pub host: String,
    /// The stream path of each channel; subscriber `i` takes `paths[i % len]`.
    pub paths: Vec<String>,
    /// Source addresses, taken round robin (empty: let the kernel choose).
    pub sources: Vec<IpAddr>,
    pub connect_timeout: Duration,
    /// Measured sequence numbers run `0..messages`.
    pub messages: u64,
}

/// Progress of all subscribers together.
#[derive(Debug)]
pub struct Shared {
    pub connected: AtomicU64,
    pub connect_failed: AtomicU64,
    /// Unix microseconds when the last connect attempt finished.
    pub connects_done_us: AtomicU64,
    /// Subscribers that received a warm-up event.
    pub warmed: AtomicU64,
    /// Streams that ended or broke after opening.
    pub ended: AtomicU64,
    /// Measured events received, copies included.
    pub received: AtomicU64,
    /// Distinct measured events received.
    pub distinct: AtomicU64,
    /// Unix microseconds of the latest measured event.
    pub last_event_us: AtomicU64,
    pub first_connect_error: Mutex<Option<String>>,
    pub first_end: Mutex<Option<String>>,
    /// Publish-to-receive latency, sharded to keep threads apart.
    pub latency: Vec<Mutex<Latency>>,
}

impl Shared {
    pub fn new(shards: usize) -> Self {
        Self {
            connected: AtomicU64::new(0),
            connect_failed: AtomicU64::new(0),
            connects_done_us: AtomicU64::new(0),
            warmed: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            received: AtomicU64::new(0),
            distinct: AtomicU64::new(0),
            last_event_us: AtomicU64::new(0),
            first_connect_error: Mutex::new(None),
            first_end: Mutex::new(None),
            latency: (0..shards.max(1)).map(|_| Mutex::new(Latency::default())).collect(),
        }
    }

    /// All latency shards merged.
    pub fn latency(&self) -> Latency {
        let mut all = Latency::default();
        for shard in &self.latency {
            all.merge(&shard.lock().expect("latency shard poisoned"));
        }
        all
    }
}

fn keep_first(slot: &Mutex<Option<String>>, why: impl FnOnce() -> String) {
    let mut slot = slot.lock().expect("error slot poisoned");
    if slot.is_none() {
        *slot = Some(why());
    }
}

/// What one subscriber saw, handed back when it stops.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The stream opened.
    pub connected: bool,
    pub seqs: SeqTracker,
    /// Events that were neither measured nor warm-up.
    pub unexpected: u64,
}

/// The fields a payload may carry, at the top (a peer delivers the
/// published body as is) or under `data` (Herald's envelope).
#[derive(Deserialize)]
struct Stamp {
    seq: Option<u64>,
    sent_us: Option<u64>,
    warmup: Option<u64>,
}

#[derive(Deserialize)]
struct Payload {
    seq: Option<u64>,
    sent_us: Option<u64>,
    warmup: Option<u64>,
    data: Option<Stamp>,
}

/// Measured `(seq, sent_us)`, `Some(None)` for a warm-up, `None` otherwise.
pub(crate) fn classify(data: &str) -> Option<Option<(u64, u64)>> {
    let p: Payload = serde_json::from_str(data).ok()?;
    let (seq, sent, warm) = match (p.sent_us, p.warmup, p.data) {
        (None, None, Some(d)) => (d.seq, d.sent_us, d.warmup),
        _ => (p.seq, p.sent_us, p.warmup),
    };
    match (seq, sent, warm) {
        (Some(seq), Some(sent), _) => Some(Some((seq, sent))),
        (_, _, Some(_)) => Some(None),
        _ => None,
    }
}

/// Counts the parsed events waiting in `events`.
fn absorb(events: &mut VecDeque<Event>, out: &mut Outcome, warmed: &mut bool, shared: &Shared, shard: &Mutex<Latency>, messages: u64) {
    if events.is_empty() {
        return;
    }
    let at = unix_micros();
    let mut measured = false;
    for event in events.drain(..) {
        match classify(&event.data) {
            Some(Some((seq, sent))) if seq < messages => {
                measured = true;
                shared.received.fetch_add(1, Relaxed);
                if out.seqs.record(seq) != Seen::Again {
                    shared.distinct.fetch_add(1, Relaxed);
                    shard.lock().expect("latency shard poisoned").record_micros(at.saturating_sub(sent));
                }
            }
            Some(None) => {
                if !std::mem::replace(warmed, true) {
                    shared.warmed.fetch_add(1, Relaxed);
                }
            }
            _ => out.unexpected += 1,
        }
    }
    if measured {
        shared.last_event_us.fetch_max(at, Relaxed);
    }
}

/// Runs subscriber `index` until `stop` (or until its stream ends).
pub async fn run(index: usize, spec: Arc<Spec>, shared: Arc<Shared>, slots: Arc<Semaphore>, mut stop: watch::Receiver<bool>) -> Outcome {
    let mut out = Outcome::default();
    let mut events = VecDeque::new();
    let source = (!spec.sources.is_empty()).then(|| spec.sources[index % spec.sources.len()]);
    let path = &spec.paths[index % spec.paths.len()];
    let opened = {
        let slot = tokio::select! {
            biased;
            _ = stop.changed() => return out,
            slot = slots.acquire() => slot,
        };
        // Boxed so the larger connect future does not size the whole task.
        let open =
            Box::pin(tokio::time::timeout(spec.connect_timeout, RawStream::open(spec.addr, source, &spec.host, path, None, &mut events)));
        let opened = match open.await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(_) => Err(format!("no answer within {:?}", spec.connect_timeout)),
        };
        drop(slot);
        opened
    };
    let mut stream = match opened {
        Ok(stream) => {
            shared.connected.fetch_add(1, Relaxed);
            stream
        }
        Err(e) => {
            shared.connect_failed.fetch_add(1, Relaxed);
            keep_first(&shared.first_connect_error, || format!("subscriber {index}: {e}"));
            shared.connects_done_us.fetch_max(unix_micros(), Relaxed);
            return out;
        }
    };
    shared.connects_done_us.fetch_max(unix_micros(), Relaxed);
    out.connected = true;
    let mut warmed = false;
    let shard = &shared.latency[index % shared.latency.len()];
    // Ends at the stop signal, which the run sends by its deadline at the latest.
    loop {
        absorb(&mut events, &mut out, &mut warmed, &shared, shard, spec.messages);
        let ready = tokio::select! {
            biased;
            _ = stop.changed() => break,
            ready = stream.readable() => ready,
        };
        let read = match ready {
            Ok(()) => stream.read_available(&mut events),
            Err(e) => Err(e.into()),
        };
        let why = match read {
            Ok(Read::Open) => continue,
            Ok(Read::Ended) => "the server ended the stream".to_owned(),
            Err(e) => format!("{e:#}"),
        };
        // Events read before the end still count; none will follow.
        absorb(&mut events, &mut out, &mut warmed, &shared, shard, spec.messages);
        shared.ended.fetch_add(1, Relaxed);
        keep_first(&shared.first_end, || format!("subscriber {index}: {why}"));
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_of_herald_and_of_peers_are_read() {
        let herald = r#"{"id":7,"channel":"c","type":"bench.fanout","data":{"seq":3,"sent_us":1000},"created_at":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(classify(herald), Some(Some((3, 1000))));
        assert_eq!(classify(r#"{"seq":4,"sent_us":9}"#), Some(Some((4, 9))));
        assert_eq!(classify(r#"{"id":1,"data":{"warmup":2}}"#), Some(None));
        assert_eq!(classify(r#"{"warmup":0}"#), Some(None));
        assert_eq!(classify(r#"{"exp":12}"#), None);
        assert_eq!(classify("not json"), None);
    }
}
