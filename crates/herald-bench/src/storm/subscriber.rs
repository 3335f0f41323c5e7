//! One `storm` subscriber: opens its stream, keeps the id of the last event
//! it got, drops the connection when told, comes back with that id as
//! `Last-Event-ID` when told, and counts what arrives until told to stop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use crate::rawstream::{RawStream, Read};
use crate::seqs::{Seen, SeqTracker};
use crate::setup::unix_micros;
use crate::sse::Event;
use crate::stats::{Latency, Summary};
use crate::subscriber::{Spec, classify};

/// Pause before another attempt after a failed reconnect.
const RETRY: Duration = Duration::from_millis(250);

/// Where the run is; subscribers follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Connect,
    Drop,
    Reconnect,
    Stop,
}

/// Progress of all subscribers together.
#[derive(Debug)]
pub struct Shared {
    /// Measured numbers `0..missed` are published while every stream is away.
    missed: u64,
    /// Every measured number: `0..total`.
    total: u64,
    pub connected: AtomicU64,
    pub connect_failed: AtomicU64,
    pub warmed: AtomicU64,
    pub dropped: AtomicU64,
    /// Failed reconnect attempts (each retried until the run stops).
    pub reconnect_failed: AtomicU64,
    /// Streams the server ended during the storm, opened again.
    pub reopened: AtomicU64,
    /// Subscribers that have every missed notification.
    pub caught_up: AtomicU64,
    /// Subscribers that have every notification.
    pub complete: AtomicU64,
    /// Unix microseconds: the reconnects began, the last subscriber caught
    /// up, the last one became complete.
    pub storm_start_us: AtomicU64,
    pub caught_up_us: AtomicU64,
    pub complete_us: AtomicU64,
    /// Measured events received, copies included.
    pub received: AtomicU64,
    pub first_error: Mutex<Option<String>>,
    /// From the start of the storm to each subscriber's catch-up.
    catch_up: Vec<Mutex<Latency>>,
    /// Publish to receipt of the live notifications.
    live_latency: Vec<Mutex<Latency>>,
}

impl Shared {
    pub fn new(shards: usize, missed: u64, total: u64) -> Self {
        let shards = || (0..shards.max(1)).map(|_| Mutex::new(Latency::default())).collect();
        Self {
            missed,
            total,
            connected: AtomicU64::new(0),
            connect_failed: AtomicU64::new(0),
            warmed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnect_failed: AtomicU64::new(0),
            reopened: AtomicU64::new(0),
            caught_up: AtomicU64::new(0),
            complete: AtomicU64::new(0),
            storm_start_us: AtomicU64::new(0),
            caught_up_us: AtomicU64::new(0),
            complete_us: AtomicU64::new(0),
            received: AtomicU64::new(0),
            first_error: Mutex::new(None),
            catch_up: shards(),
            live_latency: shards(),
        }
    }

    pub fn catch_up(&self) -> Summary {
        merged(&self.catch_up)
    }

    pub fn live_latency(&self) -> Summary {
        merged(&self.live_latency)
    }

    fn error(&self, why: impl FnOnce() -> String) {
        let mut slot = self.first_error.lock().expect("error slot poisoned");
        if slot.is_none() {
            *slot = Some(why());
        }
    }
}

fn merged(shards: &[Mutex<Latency>]) -> Summary {
    let mut all = Latency::default();
    for shard in shards {
        all.merge(&shard.lock().expect("latency shard poisoned"));
    }
    all.summary()
}

/// What one subscriber saw, handed back when it stops.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The first stream opened.
    pub connected: bool,
    pub seqs: SeqTracker,
    /// Events that were neither measured nor warm-up (or unreadable).
    pub unexpected: u64,
}

/// One subscriber's own state between reads.
struct Me {
    index: usize,
    shard: usize,
    /// The id to resume from: the last one any event carried.
    last_id: String,
    warmed: bool,
    /// Distinct missed notifications received.
    missed_got: u64,
    out: Outcome,
}

impl Me {
    /// Counts the parsed events waiting in `events`.
    fn absorb(&mut self, events: &mut VecDeque<Event>, shared: &Shared) {
        if events.is_empty() {
            return;
        }
        let at = unix_micros();
        for event in events.drain(..) {
            if !event.id.is_empty() && event.id != self.last_id {
                self.last_id = event.id;
            }
            match classify(&event.data) {
                Some(Some((seq, sent))) if seq < shared.total => {
                    shared.received.fetch_add(1, Relaxed);
                    if self.out.seqs.record(seq) == Seen::Again {
                        continue;
                    }
                    if seq < shared.missed {
                        self.missed_got += 1;
                        if self.missed_got == shared.missed {
                            let start = shared.storm_start_us.load(Relaxed);
                            shared.catch_up[self.shard].lock().expect("shard poisoned").record_micros(at.saturating_sub(start));
                            shared.caught_up.fetch_add(1, Relaxed);
                            shared.caught_up_us.fetch_max(at, Relaxed);
                        }
                    } else {
                        shared.live_latency[self.shard].lock().expect("shard poisoned").record_micros(at.saturating_sub(sent));
                    }
                    if self.out.seqs.distinct == shared.total {
                        shared.complete.fetch_add(1, Relaxed);
                        shared.complete_us.fetch_max(at, Relaxed);
                    }
                }
                Some(None) => {
                    if !std::mem::replace(&mut self.warmed, true) {
                        shared.warmed.fetch_add(1, Relaxed);
                    }
                }
                _ => self.out.unexpected += 1,
            }
        }
    }
}

/// Opens the stream, resuming after `resume` if given, holding a connect slot meanwhile.
async fn open(
    spec: &Spec,
    index: usize,
    slots: &Semaphore,
    resume: Option<&str>,
    events: &mut VecDeque<Event>,
) -> Result<RawStream, String> {
    let source = (!spec.sources.is_empty()).then(|| spec.sources[index % spec.sources.len()]);
    let path = &spec.paths[index % spec.paths.len()];
    let _slot = slots.acquire().await.map_err(|_| "the run stopped".to_owned())?;
    // Boxed so the larger connect future does not size the whole task.
    let open = Box::pin(tokio::time::timeout(spec.connect_timeout, RawStream::open(spec.addr, source, &spec.host, path, resume, events)));
    match open.await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("no answer within {:?}", spec.connect_timeout)),
    }
}

/// Reads until the phase moves past `until` (`Ok`) or the stream ends (`Err`, why).
async fn read(
    stream: &mut RawStream,
    me: &mut Me,
    events: &mut VecDeque<Event>,
    shared: &Shared,
    phase: &mut watch::Receiver<Phase>,
    until: Phase,
) -> Result<(), String> {
    loop {
        me.absorb(events, shared);
        if *phase.borrow_and_update() > until {
            return Ok(());
        }
        let ready = tokio::select! {
            biased;
            _ = phase.changed() => continue,
            ready = stream.readable() => ready,
        };
        let read = match ready {
            Ok(()) => stream.read_available(events),
            Err(e) => Err(e.into()),
        };
        let why = match read {
            Ok(Read::Open) => continue,
            Ok(Read::Ended) => "the server ended the stream".to_owned(),
            Err(e) => format!("{e:#}"),
        };
        // Events read before the end still count.
        me.absorb(events, shared);
        return Err(why);
    }
}

/// Runs subscriber `index` through the phases until [`Phase::Stop`].
pub async fn run(index: usize, spec: Arc<Spec>, shared: Arc<Shared>, slots: Arc<Semaphore>, mut phase: watch::Receiver<Phase>) -> Outcome {
    let mut me =
        Me { index, shard: index % shared.catch_up.len(), last_id: String::new(), warmed: false, missed_got: 0, out: Outcome::default() };
    let mut events = VecDeque::new();
    let mut stream = match open(&spec, index, &slots, None, &mut events).await {
        Ok(stream) => stream,
        Err(e) => {
            shared.connect_failed.fetch_add(1, Relaxed);
            shared.error(|| format!("subscriber {index}: connect: {e}"));
            return me.out;
        }
    };
    shared.connected.fetch_add(1, Relaxed);
    me.out.connected = true;
    if let Err(why) = read(&mut stream, &mut me, &mut events, &shared, &mut phase, Phase::Connect).await {
        shared.error(|| format!("subscriber {index}: before the drop: {why}"));
    }
    drop(stream);
    shared.dropped.fetch_add(1, Relaxed);
    if phase.wait_for(|p| *p >= Phase::Reconnect).await.is_err() {
        return me.out;
    }
    let mut reopening = false;
    while *phase.borrow() < Phase::Stop {
        let resume = (!me.last_id.is_empty()).then_some(me.last_id.as_str());
        let mut stream = match open(&spec, me.index, &slots, resume, &mut events).await {
            Ok(stream) => stream,
            Err(e) => {
                shared.reconnect_failed.fetch_add(1, Relaxed);
                shared.error(|| format!("subscriber {index}: reconnect: {e}"));
                // As an EventSource waits its `retry` before trying again.
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if std::mem::replace(&mut reopening, true) {
            shared.reopened.fetch_add(1, Relaxed);
        }
        match read(&mut stream, &mut me, &mut events, &shared, &mut phase, Phase::Reconnect).await {
            Ok(()) => break,
            Err(why) => shared.error(|| format!("subscriber {index}: during the storm: {why}")),
        }
    }
    me.out
}
