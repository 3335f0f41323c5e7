//! One soak subscriber: connects, reads for a random lifetime, drops the
//! connection, and resumes with `Last-Event-ID` (at once, or after a pause
//! offline so the resume replays history), over and over. Its very first
//! connect resumes after id 0, so it must see its channel from the first
//! notification on. Every event goes through its [`Checker`]; the counts
//! all subscribers share are atomics the run samples.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::check::{Checker, Outcome};
use crate::rawstream::{RawStream, Read};
use crate::sse::Event;

/// What subscribers are told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Drop and resume on their own schedule.
    Churn,
    /// Stay connected (reconnect at once if the server ends the stream), to catch up.
    Hold,
    /// Close and end.
    Stop,
}

/// How long to wait before retrying a failed connect or after the server
/// ended a stream (an `EventSource` would wait `retry:`, 3 s by default).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a connect and its response head may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where and how subscribers connect, shared read-only.
#[derive(Debug)]
pub struct Spec {
    pub addr: SocketAddr,
    pub host: String,
    /// Subscriber `i`'s stream path (its channel and its own token).
    pub paths: Vec<String>,
    /// Connection lifetime range, in milliseconds.
    pub life_ms: (u64, u64),
    /// Share of drops followed by a pause, in percent.
    pub pause_pct: u8,
    /// Pause range, in milliseconds.
    pub pause_ms: (u64, u64),
    pub seed: u64,
}

/// Where one subscriber has got to, for the run to see when it caught up.
#[derive(Debug, Default)]
pub struct Progress {
    pub next_broadcast: AtomicU64,
    pub next_direct: AtomicU64,
}

/// Counters of all subscribers together.
#[derive(Debug, Default)]
pub struct Shared {
    /// Streams open right now.
    pub open: AtomicU64,
    /// Streams opened (the first connect of each subscriber included).
    pub connects: AtomicU64,
    /// Connections the subscribers dropped on purpose.
    pub drops: AtomicU64,
    /// Drops followed by a pause offline.
    pub pauses: AtomicU64,
    /// Streams the server ended or that broke.
    pub server_ended: AtomicU64,
    pub connect_errors: AtomicU64,
    pub counts: Counts,
    pub first_connect_error: Mutex<Option<String>>,
    pub first_server_end: Mutex<Option<String>>,
    pub progress: Vec<Progress>,
}

/// What the checks found, all subscribers together.
#[derive(Debug, Default)]
pub struct Counts {
    pub delivered: AtomicU64,
    /// Numbers skipped (each missing notification counts once).
    pub gaps: AtomicU64,
    pub duplicates: AtomicU64,
    pub misdelivered: AtomicU64,
    pub truncated: AtomicU64,
    pub token_expired: AtomicU64,
    pub unexpected: AtomicU64,
}

/// A copy of [`Counts`] at one moment.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CountsNow {
    pub delivered: u64,
    pub gaps: u64,
    pub duplicates: u64,
    pub misdelivered: u64,
    pub truncated: u64,
    pub token_expired: u64,
    pub unexpected: u64,
}

impl Counts {
    fn add(&self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => self.delivered.fetch_add(1, Relaxed),
            Outcome::Gap(n) => {
                self.delivered.fetch_add(1, Relaxed);
                self.gaps.fetch_add(n, Relaxed)
            }
            Outcome::Duplicate => self.duplicates.fetch_add(1, Relaxed),
            Outcome::Misdelivered => self.misdelivered.fetch_add(1, Relaxed),
            Outcome::Truncated => self.truncated.fetch_add(1, Relaxed),
            Outcome::TokenExpired => self.token_expired.fetch_add(1, Relaxed),
            Outcome::Unexpected => self.unexpected.fetch_add(1, Relaxed),
        };
    }

    pub fn now(&self) -> CountsNow {
        CountsNow {
            delivered: self.delivered.load(Relaxed),
            gaps: self.gaps.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            misdelivered: self.misdelivered.load(Relaxed),
            truncated: self.truncated.load(Relaxed),
            token_expired: self.token_expired.load(Relaxed),
            unexpected: self.unexpected.load(Relaxed),
        }
    }
}

impl Shared {
    pub fn new(subscribers: usize) -> Self {
        Self { progress: (0..subscribers).map(|_| Progress::default()).collect(), ..Self::default() }
    }
}

fn keep_first(slot: &Mutex<Option<String>>, why: impl FnOnce() -> String) {
    let mut slot = slot.lock().expect("error slot poisoned");
    if slot.is_none() {
        *slot = Some(why());
    }
}

/// Why a connection ended.
enum End {
    Stop,
    Dropped,
    Server(String),
}

/// Sleeps for `d` unless the phase becomes `Stop` (returns false then) or
/// leaves `Churn` (a pause is cut short to catch up).
async fn pause(d: Duration, phase: &mut watch::Receiver<Phase>) -> bool {
    let until = Instant::now() + d;
    loop {
        match *phase.borrow_and_update() {
            Phase::Stop => return false,
            Phase::Hold => return true,
            Phase::Churn => {}
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return true,
            changed = phase.changed() => if changed.is_err() { return false },
        }
    }
}

fn absorb(events: &mut VecDeque<Event>, checker: &mut Checker, shared: &Shared, progress: &Progress) {
    if events.is_empty() {
        return;
    }
    for ev in events.drain(..) {
        shared.counts.add(checker.event(&ev));
    }
    progress.next_broadcast.store(checker.next_broadcast, Relaxed);
    progress.next_direct.store(checker.next_direct, Relaxed);
}

/// Runs subscriber `index` until the phase is `Stop`.
pub async fn run(index: u32, spec: Arc<Spec>, shared: Arc<Shared>, slots: Arc<Semaphore>, mut phase: watch::Receiver<Phase>) {
    let mut rng = SmallRng::seed_from_u64(spec.seed ^ u64::from(index).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut checker = Checker::new(index);
    let progress = &shared.progress[index as usize];
    let path = &spec.paths[index as usize];
    let mut events = VecDeque::new();
    loop {
        if *phase.borrow_and_update() == Phase::Stop {
            return;
        }
        let opened = {
            let slot = tokio::select! {
                biased;
                changed = phase.changed() => if changed.is_err() { return } else { continue },
                slot = slots.acquire() => slot,
            };
            let resume = checker.last_id.to_string();
            let open = RawStream::open(spec.addr, None, &spec.host, path, Some(&resume), &mut events);
            let opened = tokio::time::timeout(CONNECT_TIMEOUT, Box::pin(open)).await;
            drop(slot);
            match opened {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
            }
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(e) => {
                shared.connect_errors.fetch_add(1, Relaxed);
                keep_first(&shared.first_connect_error, || format!("subscriber {index}: {e}"));
                if !pause(RETRY_AFTER, &mut phase).await {
                    return;
                }
                continue;
            }
        };
        shared.connects.fetch_add(1, Relaxed);
        shared.open.fetch_add(1, Relaxed);
        let drop_at = Instant::now() + Duration::from_millis(rng.random_range(spec.life_ms.0..=spec.life_ms.1));
        let end = loop {
            absorb(&mut events, &mut checker, &shared, progress);
            let churn = match *phase.borrow_and_update() {
                Phase::Stop => break End::Stop,
                Phase::Hold => false,
                Phase::Churn => true,
            };
            let ready = tokio::select! {
                biased;
                changed = phase.changed() => if changed.is_err() { break End::Stop } else { continue },
                _ = tokio::time::sleep_until(drop_at), if churn => break End::Dropped,
                ready = stream.readable() => ready,
            };
            let read = match ready {
                Ok(()) => stream.read_available(&mut events),
                Err(e) => Err(e.into()),
            };
            match read {
                Ok(Read::Open) => {}
                Ok(Read::Ended) => break End::Server("the server ended the stream".into()),
                Err(e) => break End::Server(format!("{e:#}")),
            }
        };
        // Events read before the end still count.
        absorb(&mut events, &mut checker, &shared, progress);
        drop(stream);
        shared.open.fetch_sub(1, Relaxed);
        match end {
            End::Stop => return,
            End::Dropped => {
                shared.drops.fetch_add(1, Relaxed);
                if rng.random_ratio(u32::from(spec.pause_pct), 100) {
                    shared.pauses.fetch_add(1, Relaxed);
                    let d = Duration::from_millis(rng.random_range(spec.pause_ms.0..=spec.pause_ms.1));
                    if !pause(d, &mut phase).await {
                        return;
                    }
                }
            }
            End::Server(why) => {
                shared.server_ended.fetch_add(1, Relaxed);
                keep_first(&shared.first_server_end, || format!("subscriber {index}: {why}"));
                if !pause(RETRY_AFTER, &mut phase).await {
                    return;
                }
            }
        }
    }
}
