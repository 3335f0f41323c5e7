//! The relay: the one feeder of the hub, keeping each tenant's live order
//! equal to its id order whichever node committed what.
//!
//! It learns of commits three ways: this node's own commits (with their
//! payloads, straight from the writer), announcements from other nodes over
//! the bus, and a periodic look at every tenant's head in the database (which
//! covers announcements lost while the bus was down). It keeps a cursor per
//! tenant, the last id handed to the hub; whatever lies between the cursor
//! and a newly learnt id is read back from the database first. Ids commit in
//! order within a tenant, so when id N is known committed, everything below
//! it is too and the read is complete.
//!
//! An announcement is only a hint: anyone who can publish on the bus can
//! send one, with any id. It makes the relay look at the database now, and
//! the cursor moves only to what the database returned (rows read, or the
//! tenant's head), never to the announced id itself. A forged "tenant T
//! reached id 10^18" therefore costs one read and skips nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::cluster::{Announcement, Bus, BusEvent, BusListener, LogSource};
use herald_core::ids::{Seq, TenantId};
use herald_core::notification::Notification;
use tokio::sync::mpsc;

use crate::Hub;

/// Relay settings.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// How often every tenant's head is compared with the cursors (only
    /// with a bus: a single node learns everything from its own commits).
    pub poll_every: Duration,
    /// Rows per read when catching up.
    pub page: u64,
    /// Told how long each announcement on the bus took and whether it
    /// went out (for metrics).
    pub on_announce: Option<AnnounceObserver>,
    /// Told how long the relay's steps took (for metrics).
    pub on_stage: Option<StageObserver>,
}

/// A step between a commit and the streams, timed for the latency
/// breakdown (`herald_delivery_stage_seconds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// From this node's commit to the relay taking the batch.
    Relay,
    /// The hub's fan-out of one batch to every matching stream's queue.
    Fanout,
}

/// A function told each timed step. It runs on the relay task, so it must
/// be cheap.
#[derive(Clone)]
pub struct StageObserver(pub Arc<dyn Fn(Stage, Duration) + Send + Sync>);

impl std::fmt::Debug for StageObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StageObserver")
    }
}

/// A function told each bus announcement's duration and success. It runs
/// on the announcer task, so it must be cheap.
#[derive(Clone)]
pub struct AnnounceObserver(pub Arc<dyn Fn(Duration, bool) + Send + Sync>);

impl std::fmt::Debug for AnnounceObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnnounceObserver")
    }
}

/// Handle for the writer's commit hook. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    local: mpsc::UnboundedSender<(Instant, Vec<Arc<Notification>>)>,
    bus: BusState,
}

/// Whether this node hears the bus, as the relay last saw it: for the
/// readiness check. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct BusState(Arc<std::sync::atomic::AtomicU8>);

/// What [`BusState`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusStatus {
    /// No bus: a single node.
    None,
    /// Not connected yet.
    Connecting,
    Connected,
    /// The connection was lost; the relay polls the database meanwhile.
    Lost,
}

impl BusState {
    pub fn status(&self) -> BusStatus {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            0 => BusStatus::None,
            1 => BusStatus::Connecting,
            2 => BusStatus::Connected,
            _ => BusStatus::Lost,
        }
    }

    fn set(&self, status: BusStatus) {
        let v = match status {
            BusStatus::None => 0,
            BusStatus::Connecting => 1,
            BusStatus::Connected => 2,
            BusStatus::Lost => 3,
        };
        self.0.store(v, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Relay")
    }
}

impl Relay {
    /// Reads every tenant's head, then starts the relay task. Call before
    /// serving: cursors must predate every subscriber and local commit.
    pub async fn start(
        hub: Hub,
        log: Arc<dyn LogSource>,
        bus: Option<Arc<dyn Bus>>,
        config: RelayConfig,
    ) -> Result<(Relay, tokio::task::JoinHandle<()>), herald_core::cluster::BoxError> {
        let cursors: HashMap<TenantId, Seq> = log.heads().await?.into_iter().collect();
        let epochs: HashMap<TenantId, i64> = log.epochs().await?.into_iter().collect();
        let (local, local_rx) = mpsc::unbounded_channel();
        let announcer = bus.clone().map(|bus| spawn_announcer(bus, config.on_announce.clone()));
        let listener = bus.as_ref().map(|b| b.listen());
        let state = BusState::default();
        state.set(if bus.is_some() { BusStatus::Connecting } else { BusStatus::None });
        let task = Task { hub, log, cursors, epochs, announcer, config, bus: state.clone() };
        let handle = tokio::spawn(task.run(local_rx, listener, bus.is_some()));
        Ok((Relay { local, bus: state }, handle))
    }

    /// Whether this node hears the bus.
    pub fn bus_state(&self) -> BusState {
        self.bus.clone()
    }

    /// Hands this node's newly committed notifications over, in commit order.
    pub fn committed(&self, batch: &[Arc<Notification>]) {
        if !batch.is_empty() {
            let _ = self.local.send((Instant::now(), batch.to_vec()));
        }
    }
}

/// Sends announcements from a task of its own so a slow bus never delays
/// local delivery; bursts are coalesced to one announcement per tenant.
fn spawn_announcer(bus: Arc<dyn Bus>, observe: Option<AnnounceObserver>) -> mpsc::UnboundedSender<Announcement> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Announcement>();
    tokio::spawn(async move {
        let mut failing = false;
        while let Some(first) = rx.recv().await {
            let mut latest: HashMap<TenantId, Seq> = HashMap::new();
            latest.insert(first.tenant, first.seq);
            while let Ok(a) = rx.try_recv() {
                let e = latest.entry(a.tenant).or_default();
                *e = (*e).max(a.seq);
            }
            let batch: Vec<Announcement> = latest.into_iter().map(|(tenant, seq)| Announcement { tenant, seq }).collect();
            let start = std::time::Instant::now();
            let announced = bus.announce(&batch).await;
            if let Some(observe) = &observe {
                (observe.0)(start.elapsed(), announced.is_ok());
            }
            match announced {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(bus = bus.name(), "announcing on the bus works again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(bus = bus.name(), error = %e, "could not announce commits; other nodes catch up by polling the database");
                }
                Err(_) => {}
            }
        }
    });
    tx
}

struct Task {
    hub: Hub,
    log: Arc<dyn LogSource>,
    cursors: HashMap<TenantId, Seq>,
    /// Every tenant's history epoch as last read (absent: 0).
    epochs: HashMap<TenantId, i64>,
    announcer: Option<mpsc::UnboundedSender<Announcement>>,
    config: RelayConfig,
    bus: BusState,
}

impl Task {
    async fn run(
        mut self,
        mut local: mpsc::UnboundedReceiver<(Instant, Vec<Arc<Notification>>)>,
        listener: Option<Box<dyn BusListener>>,
        poll: bool,
    ) {
        // The listener reads in a task of its own. `select!` below drops the
        // futures of its other branches whenever one is ready (every poll
        // tick), and a bus read is not safe to drop midway: sqlx's
        // PgListener, cut off during a read, reconnects silently inside the
        // next one, so the loss was never seen (under load, every time). A
        // channel's receive is safe to drop.
        let (bus_tx, mut bus_rx) = mpsc::channel::<BusEvent>(16);
        let reader = listener.map(|mut l| {
            tokio::spawn(async move {
                loop {
                    let event = l.next_event().await;
                    if bus_tx.send(event).await.is_err() {
                        break;
                    }
                }
            })
        });
        let mut tick = tokio::time::interval(self.config.poll_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                batch = local.recv() => match batch {
                    Some((at, batch)) => {
                        self.observe(Stage::Relay, at.elapsed());
                        self.local(batch).await
                    }
                    None => break,
                },
                Some(event) = bus_rx.recv() => match event {
                    BusEvent::Announcement(a) => self.hint(&a.tenant, a.seq).await,
                    BusEvent::Connected => {
                        self.bus.set(BusStatus::Connected);
                        tracing::info!("bus connected; catching up from the database");
                        self.poll().await;
                    }
                    BusEvent::Disconnected(why) => {
                        self.bus.set(BusStatus::Lost);
                        tracing::warn!(reason = %why, "bus connection lost; reconnecting, and polling the database meanwhile");
                        self.poll().await;
                    }
                },
                _ = tick.tick(), if poll => self.poll().await,
            }
        }
        if let Some(reader) = reader {
            reader.abort();
        }
    }

    fn observe(&self, stage: Stage, took: Duration) {
        if let Some(o) = &self.config.on_stage {
            (o.0)(stage, took);
        }
    }

    /// Hands a batch to the hub, timing its fan-out.
    fn publish(&self, batch: &[Arc<Notification>]) {
        let start = Instant::now();
        self.hub.publish(batch);
        self.observe(Stage::Fanout, start.elapsed());
    }

    fn cursor(&self, tenant: &TenantId) -> Seq {
        self.cursors.get(tenant).copied().unwrap_or(0)
    }

    /// This node's commits: usually contiguous with the cursor, so they go
    /// straight to the hub; a gap means another node committed in between.
    async fn local(&mut self, batch: Vec<Arc<Notification>>) {
        let mut start = 0;
        while start < batch.len() {
            let tenant = batch[start].tenant.clone();
            let end = start + batch[start..].iter().take_while(|n| n.tenant == tenant).count();
            let run = &batch[start..end];
            start = end;
            let first = run[0].id;
            if first > self.cursor(&tenant) + 1 {
                // Our own commit of `first` proves everything below it committed.
                self.fill(&tenant, first - 1, Upto::Committed).await;
            }
            let cursor = self.cursor(&tenant);
            let fresh: Vec<Arc<Notification>> = run.iter().filter(|n| n.id > cursor).cloned().collect();
            let Some(last) = fresh.last().map(|n| n.id) else { continue };
            self.publish(&fresh);
            self.cursors.insert(tenant.clone(), last);
            if let Some(a) = &self.announcer {
                let _ = a.send(Announcement { tenant, seq: last });
            }
        }
    }

    /// Another node's commits, up to `head` as read from the database.
    async fn advance(&mut self, tenant: &TenantId, head: Seq) {
        if head <= self.cursor(tenant) {
            return;
        }
        if self.hub.follows(tenant) {
            self.fill(tenant, head, Upto::Committed).await;
        } else {
            // Nobody here listens: a stream that subscribes later replays
            // everything up to this point from the database itself.
            self.cursors.insert(tenant.clone(), head);
        }
    }

    /// An announcement that `tenant` reached `seq`: a reason to look at the
    /// database now, not a fact. The cursor moves only as far as what the
    /// database shows, so a forged or mistaken id can neither skip live
    /// notifications nor stop them.
    async fn hint(&mut self, tenant: &TenantId, seq: Seq) {
        if seq <= self.cursor(tenant) {
            return;
        }
        if self.hub.follows(tenant) {
            self.fill(tenant, seq, Upto::Hint).await;
            return;
        }
        match self.log.head(tenant).await {
            Ok(head) => {
                let head = head.min(seq);
                if head > self.cursor(tenant) {
                    self.cursors.insert(tenant.clone(), head);
                }
            }
            // The periodic poll catches up once the database answers.
            Err(e) => tracing::warn!(%tenant, error = %e, "could not read a tenant's head after an announcement"),
        }
    }

    async fn poll(&mut self) {
        match self.log.heads().await {
            Ok(heads) => {
                for (tenant, head) in heads {
                    self.advance(&tenant, head).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read tenant heads"),
        }
        // Another node deleted a channel: the hub's recent history of that
        // tenant may hold it. (The deleting node forgot it at once.)
        match self.log.epochs().await {
            Ok(epochs) => {
                for (tenant, epoch) in epochs {
                    if self.epochs.insert(tenant.clone(), epoch).unwrap_or(0) != epoch {
                        self.hub.forget_history(&tenant);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read tenant history epochs"),
        }
    }

    /// Hands `(cursor, upto]` from the database to the hub. Should the
    /// database stay unreachable, the tenant's streams are closed instead:
    /// their clients resume from history, so nothing is skipped silently.
    ///
    /// With [`Upto::Committed`] the cursor ends at `upto` (rows missing from
    /// the range were pruned); with [`Upto::Hint`] it ends at the last row
    /// actually read.
    async fn fill(&mut self, tenant: &TenantId, upto: Seq, kind: Upto) {
        let mut after = self.cursor(tenant);
        let mut failures = 0;
        while after < upto {
            match self.log.committed_range(tenant, after, upto, self.config.page).await {
                Ok(rows) if rows.is_empty() => break, // pruned or deleted meanwhile
                Ok(rows) => {
                    after = rows.last().map_or(upto, |n| n.id);
                    let rows: Vec<Arc<Notification>> = rows.into_iter().map(Arc::new).collect();
                    self.publish(&rows);
                }
                Err(e) if failures < 3 => {
                    failures += 1;
                    tracing::warn!(%tenant, error = %e, "could not read missed notifications; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << failures)).await;
                }
                Err(e) => {
                    tracing::error!(%tenant, error = %e, "could not read missed notifications; closing the tenant's streams so they resume from history");
                    self.hub.close_tenant(tenant);
                    break;
                }
            }
        }
        let cursor = match kind {
            Upto::Committed => upto,
            Upto::Hint => after,
        };
        if cursor > self.cursor(tenant) {
            self.cursors.insert(tenant.clone(), cursor);
        }
    }
}

/// How much is known about the end of a range [`Task::fill`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upto {
    /// The database (or this node's own commit) says it committed.
    Committed,
    /// Only an announcement says so.
    Hint,
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use herald_core::cluster::{BoxError, BoxFuture};
    use herald_core::names::{ChannelName, EventType, UserId};
    use herald_core::pattern::ChannelPattern;
    use serde_json::value::RawValue;

    use super::*;
    use crate::Subscription;

    /// An in-memory log standing in for the database.
    #[derive(Default)]
    struct FakeLog {
        rows: Mutex<Vec<Notification>>,
        reads: AtomicUsize,
        broken: std::sync::atomic::AtomicBool,
        epochs: Mutex<Vec<(TenantId, i64)>>,
    }

    impl FakeLog {
        fn commit(&self, tenant: &TenantId, id: Seq) -> Arc<Notification> {
            let n = Notification {
                tenant: tenant.clone(),
                id,
                channel: ChannelName::parse("c").unwrap(),
                event_type: EventType::parse("t").unwrap(),
                data: RawValue::from_string("{}".into()).unwrap(),
                recipients: None,
                created_at: chrono::Utc::now(),
            };
            self.rows.lock().unwrap().push(n.clone());
            Arc::new(n)
        }
    }

    impl LogSource for FakeLog {
        fn committed_range<'a>(
            &'a self,
            tenant: &'a TenantId,
            after: Seq,
            upto: Seq,
            limit: u64,
        ) -> BoxFuture<'a, Result<Vec<Notification>, BoxError>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let broken = self.broken.load(Ordering::SeqCst);
            let rows: Vec<Notification> = self
                .rows
                .lock()
                .unwrap()
                .iter()
                .filter(|n| &n.tenant == tenant && n.id > after && n.id <= upto)
                .take(limit as usize)
                .cloned()
                .collect();
            Box::pin(async move { if broken { Err("database down".into()) } else { Ok(rows) } })
        }

        fn heads(&self) -> BoxFuture<'_, Result<Vec<(TenantId, Seq)>, BoxError>> {
            let mut heads: HashMap<TenantId, Seq> = HashMap::new();
            for n in self.rows.lock().unwrap().iter() {
                let h = heads.entry(n.tenant.clone()).or_default();
                *h = (*h).max(n.id);
            }
            Box::pin(async move { Ok(heads.into_iter().collect()) })
        }

        fn epochs(&self) -> BoxFuture<'_, Result<Vec<(TenantId, i64)>, BoxError>> {
            let epochs = self.epochs.lock().unwrap().clone();
            Box::pin(async move { Ok(epochs) })
        }
    }

    /// A bus whose announcements the test injects.
    struct FakeBus {
        inbound: Mutex<Option<mpsc::UnboundedReceiver<BusEvent>>>,
    }

    struct FakeListener(mpsc::UnboundedReceiver<BusEvent>);

    impl BusListener for FakeListener {
        fn next_event(&mut self) -> BoxFuture<'_, BusEvent> {
            Box::pin(async move { self.0.recv().await.unwrap_or(BusEvent::Disconnected("closed".into())) })
        }
    }

    impl Bus for FakeBus {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn announce<'a>(&'a self, _: &'a [Announcement]) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn listen(&self) -> Box<dyn BusListener> {
            Box::new(FakeListener(self.inbound.lock().unwrap().take().unwrap()))
        }
    }

    fn config() -> RelayConfig {
        RelayConfig { poll_every: Duration::from_secs(3600), page: 2, on_announce: None, on_stage: None }
    }

    async fn ids(sub: &mut Subscription, n: usize) -> Vec<Seq> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(tokio::time::timeout(Duration::from_secs(5), sub.rx.recv()).await.unwrap().unwrap().id.unwrap());
        }
        out
    }

    fn subscribe(hub: &Hub, t: &TenantId) -> Subscription {
        hub.subscribe(t, UserId::parse("u").unwrap(), Arc::new([ChannelPattern::parse("c").unwrap()]), i64::MAX)
    }

    #[tokio::test]
    async fn local_commits_go_straight_through_and_gaps_are_read_first() {
        let log = Arc::new(FakeLog::default());
        let t = TenantId::generate();
        log.commit(&t, 1); // before start: the cursor begins at 1
        let hub = Hub::new(64);
        let (relay, _task) = Relay::start(hub.clone(), log.clone(), None, config()).await.unwrap();
        let mut sub = subscribe(&hub, &t);
        relay.committed(&[log.commit(&t, 2), log.commit(&t, 3)]);
        assert_eq!(ids(&mut sub, 2).await, vec![2, 3]);
        assert_eq!(log.reads.load(Ordering::SeqCst), 0, "contiguous local commits need no read");
        // Another node committed 4..=6; ours is 7.
        for id in 4..=6 {
            log.commit(&t, id);
        }
        relay.committed(&[log.commit(&t, 7)]);
        assert_eq!(ids(&mut sub, 4).await, vec![4, 5, 6, 7]);
    }

    #[tokio::test]
    async fn announcements_are_filled_only_where_someone_listens() {
        let log = Arc::new(FakeLog::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let bus: Arc<dyn Bus> = Arc::new(FakeBus { inbound: Mutex::new(Some(rx)) });
        let hub = Hub::new(64);
        let (relay, _task) = Relay::start(hub.clone(), log.clone(), Some(bus), config()).await.unwrap();
        let quiet = TenantId::generate();
        let busy = TenantId::generate();
        let mut sub = subscribe(&hub, &busy);
        for id in 1..=3 {
            log.commit(&quiet, id);
            log.commit(&busy, id);
        }
        tx.send(BusEvent::Announcement(Announcement { tenant: quiet.clone(), seq: 3 })).unwrap();
        tx.send(BusEvent::Announcement(Announcement { tenant: busy.clone(), seq: 3 })).unwrap();
        assert_eq!(ids(&mut sub, 3).await, vec![1, 2, 3]);
        // Pages of 2: two reads for `busy`, none for `quiet`.
        assert_eq!(log.reads.load(Ordering::SeqCst), 2);
        // A stale announcement changes nothing; the next local commit follows on.
        tx.send(BusEvent::Announcement(Announcement { tenant: busy.clone(), seq: 2 })).unwrap();
        relay.committed(&[log.commit(&busy, 4)]);
        assert_eq!(ids(&mut sub, 1).await, vec![4]);
    }

    /// Waits (bounded) until the hub's recent history of `tenant` answers a
    /// resume after `after`, and returns the ids it holds.
    async fn remembered(hub: &Hub, tenant: &TenantId, after: Seq) -> Vec<Seq> {
        let pats: Arc<[ChannelPattern]> = Arc::new([ChannelPattern::parse("c").unwrap()]);
        for _ in 0..500 {
            if let Some((_, entries, _)) = hub.resume(tenant, UserId::parse("u").unwrap(), pats.clone(), i64::MAX, after, |_| true) {
                return entries.iter().map(|e| e.note.id).collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected the recent history of {tenant} to reach back to {after}; it never did");
    }

    #[tokio::test]
    async fn a_tenant_whose_streams_left_is_still_filled_and_forgotten_when_its_epoch_changes() {
        let log = Arc::new(FakeLog::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let bus: Arc<dyn Bus> = Arc::new(FakeBus { inbound: Mutex::new(Some(rx)) });
        let hub = Hub::new(64);
        let (_relay, _task) = Relay::start(hub.clone(), log.clone(), Some(bus), config()).await.unwrap();
        let t = TenantId::generate();
        drop(subscribe(&hub, &t));
        // Another node commits while nobody listens here: still read, so
        // the streams that come back find it in memory.
        for id in 1..=3 {
            log.commit(&t, id);
        }
        tx.send(BusEvent::Announcement(Announcement { tenant: t.clone(), seq: 3 })).unwrap();
        assert_eq!(remembered(&hub, &t, 0).await, vec![1, 2, 3]);
        // Another node deleted a channel of the tenant: the next poll forgets.
        log.epochs.lock().unwrap().push((t.clone(), 1));
        tx.send(BusEvent::Connected).unwrap();
        for _ in 0..500 {
            if hub.history_bytes() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(hub.history_bytes(), 0, "expected the tenant's recent history forgotten");
        assert!(
            hub.resume(&t, UserId::parse("u").unwrap(), Arc::new([ChannelPattern::parse("c").unwrap()]), i64::MAX, 0, |_| true).is_none()
        );
    }

    #[tokio::test]
    async fn a_forged_announcement_neither_skips_nor_stops_live_delivery() {
        let log = Arc::new(FakeLog::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let bus: Arc<dyn Bus> = Arc::new(FakeBus { inbound: Mutex::new(Some(rx)) });
        let quiet = TenantId::generate();
        let busy = TenantId::generate();
        log.commit(&quiet, 1);
        log.commit(&busy, 1);
        let hub = Hub::new(64);
        let (relay, _task) = Relay::start(hub.clone(), log.clone(), Some(bus), config()).await.unwrap();
        // Forged ids, for a tenant with a stream here and one without.
        for tenant in [&busy, &quiet] {
            tx.send(BusEvent::Announcement(Announcement { tenant: tenant.clone(), seq: Seq::MAX })).unwrap();
        }
        let mut sub = subscribe(&hub, &busy);
        let mut late = subscribe(&hub, &quiet);
        let before = log.reads.load(Ordering::SeqCst);
        tx.send(BusEvent::Announcement(Announcement { tenant: busy.clone(), seq: 1_000_000 })).unwrap();
        // This node's next commits still go out, in order, for both tenants.
        relay.committed(&[log.commit(&busy, 2), log.commit(&busy, 3)]);
        relay.committed(&[log.commit(&quiet, 2)]);
        assert_eq!(ids(&mut late, 1).await, vec![2]);
        // The last hint may be read before or after the local commit
        // arrives: either way each id is delivered once, in order.
        assert_eq!(ids(&mut sub, 2).await, vec![2, 3]);
        // Another node's commit, announced truthfully, is read and delivered too.
        log.commit(&busy, 4);
        tx.send(BusEvent::Announcement(Announcement { tenant: busy.clone(), seq: 4 })).unwrap();
        assert_eq!(ids(&mut sub, 1).await, vec![4]);
        assert!(log.reads.load(Ordering::SeqCst) > before, "hints are checked against the log");
    }

    #[tokio::test]
    async fn an_unreadable_gap_closes_the_tenants_streams_instead_of_skipping() {
        let log = Arc::new(FakeLog::default());
        let hub = Hub::new(64);
        let (relay, _task) = Relay::start(hub.clone(), log.clone(), None, config()).await.unwrap();
        let t = TenantId::generate();
        let mut sub = subscribe(&hub, &t);
        log.commit(&t, 1);
        log.broken.store(true, Ordering::SeqCst);
        relay.committed(&[log.commit(&t, 2)]);
        let end = tokio::time::timeout(Duration::from_secs(10), sub.rx.recv()).await.unwrap();
        assert!(end.is_none(), "the stream ends rather than receiving 2 without 1");
    }
}
