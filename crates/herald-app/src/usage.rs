//! Per-tenant usage on this node, and the quotas enforced from it.
//!
//! A [`Usage`] registry keeps, per tenant, a few atomics: open streams and
//! waiting long-polls (gauges, decremented by a [`Connection`] guard when it
//! drops), and notifications published and delivered (counters). A
//! once-a-second sampler turns the counters into rates for the stats
//! routes. The hot paths stay cheap: a delivery is one relaxed atomic add
//! on a guard the stream already holds, and an idle stream holds nothing
//! but that guard (two `Arc`s).
//!
//! **Quotas are enforced per node.** Nodes share nothing but the database
//! and a bus that carries only "tenant T reached id N", so the publish
//! rate and the connection count are this node's: with N nodes behind a
//! balancer a tenant can reach N times its limit. Sharing the counters
//! would put a network round trip (or a database write) on every publish
//! and every connect, which is the cost the quotas exist to protect.
//! The stored-notification count comes from the database (recounted every
//! `stored_refresh`, plus this node's own publishes in between), and the
//! email quota is counted from the delivery log, so those two are close to
//! global.
//!
//! Quotas are read from the database and cached like allowed origins: a
//! change made through this node applies at once, other nodes see it
//! within `quota_ttl`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use herald_core::ids::TenantId;
use herald_core::pattern::ChannelPattern;
use herald_store::quotas::Quotas;
use herald_store::{Store, StoreError};

use crate::error::AppError;

/// How this node's usage is tracked and its quotas enforced.
#[derive(Clone, Copy, Debug)]
pub struct UsageSettings {
    /// How long quotas read from the database are trusted: other nodes'
    /// changes show up within this.
    pub quota_ttl: Duration,
    /// How often a tenant's stored-notification count is recounted from
    /// the database (this node's own publishes are added in between).
    pub stored_refresh: Duration,
    /// How often retention runs: the `Retry-After` of the stored
    /// notifications quota, since only a pruning pass frees space.
    pub retention_interval: Duration,
    /// Streams and waiting long-polls one client address may hold open on
    /// this node (0: no limit).
    pub max_connections_per_ip: u32,
}

/// `Retry-After` when the connection quota is full: a guess at how soon
/// another connection of the tenant ends, long enough not to invite a
/// reconnect storm.
const CONNECTIONS_RETRY_AFTER: u64 = 5;

/// Samples kept for rates: one a second, a little over the longest window.
const SAMPLES: usize = 62;

/// The windows rates are averaged over.
pub(crate) const SHORT_WINDOW: Duration = Duration::from_secs(10);
pub(crate) const LONG_WINDOW: Duration = Duration::from_secs(60);

/// How a subscriber is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Sse,
    LongPoll,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters stay meaningful after a panic elsewhere: keep going.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every tenant's usage on this node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Usage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    settings: UsageSettings,
    started: Instant,
    tenants: RwLock<HashMap<TenantId, Arc<TenantUsage>>>,
    /// Open streams and waiting long-polls per client address, for
    /// `max_connections_per_ip`. Touched on connect and disconnect only.
    per_ip: Mutex<HashMap<IpAddr, u32>>,
}

/// One tenant's figures on this node.
#[derive(Debug)]
pub(crate) struct TenantUsage {
    sse: AtomicU64,
    long_poll: AtomicU64,
    /// `sse + long_poll`, kept in one atomic so that checking the
    /// connection quota and taking a place is one step.
    connections: AtomicU64,
    published: AtomicU64,
    delivered: AtomicU64,
    /// Open connections per subscribed pattern (a connection with several
    /// patterns counts under each). Touched on connect and disconnect only.
    patterns: Mutex<HashMap<String, u64>>,
    /// The quotas and when they were read.
    quotas: Mutex<Option<(Instant, Quotas)>>,
    bucket: Mutex<Bucket>,
    stored: Mutex<StoredCount>,
    samples: Mutex<VecDeque<Sample>>,
    /// When this node took each of the tenant's plugin uploads of the last minute.
    uploads: Mutex<VecDeque<Instant>>,
}

/// The publish rate's token bucket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The cached stored-notification count.
#[derive(Debug, Default)]
struct StoredCount {
    count: u64,
    /// When the database was last asked; `None`: never.
    counted_at: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    published: u64,
    delivered: u64,
}

impl TenantUsage {
    fn new(now: Instant) -> Self {
        Self {
            sse: AtomicU64::new(0),
            long_poll: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            patterns: Mutex::default(),
            quotas: Mutex::default(),
            // Full: the first take clamps it to the burst.
            bucket: Mutex::new(Bucket { tokens: f64::MAX, at: now }),
            stored: Mutex::default(),
            samples: Mutex::new(VecDeque::from([Sample { at: now, published: 0, delivered: 0 }])),
            uploads: Mutex::default(),
        }
    }

    fn gauge(&self, transport: Transport) -> &AtomicU64 {
        match transport {
            Transport::Sse => &self.sse,
            Transport::LongPoll => &self.long_poll,
        }
    }

    /// Takes `n` tokens at `rate` a second (burst: one second's worth), or
    /// says how many seconds until they would be there.
    fn take(&self, rate: u32, n: u64) -> Result<(), f64> {
        let rate = f64::from(rate);
        let mut b = lock(&self.bucket);
        let now = Instant::now();
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        let n = n as f64;
        if b.tokens >= n {
            b.tokens -= n;
            Ok(())
        } else {
            Err((n - b.tokens) / rate)
        }
    }

    fn rates(&self, now: Instant) -> (Rates, Rates) {
        let published = self.published.load(Relaxed);
        let delivered = self.delivered.load(Relaxed);
        let samples = lock(&self.samples);
        let rate = |window: Duration, pick: fn(&Sample) -> u64, current: u64| {
            // The newest sample at least `window` old, else the oldest.
            let base = samples.iter().rev().find(|s| now.saturating_duration_since(s.at) >= window).or_else(|| samples.front());
            match base {
                Some(s) => {
                    let secs = now.saturating_duration_since(s.at).as_secs_f64();
                    if secs < 0.001 { 0.0 } else { current.saturating_sub(pick(s)) as f64 / secs }
                }
                None => 0.0,
            }
        };
        let p = Rates {
            total: published,
            per_second_10s: rate(SHORT_WINDOW, |s| s.published, published),
            per_second_60s: rate(LONG_WINDOW, |s| s.published, published),
        };
        let d = Rates {
            total: delivered,
            per_second_10s: rate(SHORT_WINDOW, |s| s.delivered, delivered),
            per_second_60s: rate(LONG_WINDOW, |s| s.delivered, delivered),
        };
        (p, d)
    }

    fn snapshot(&self, now: Instant, patterns: bool) -> TenantSnapshot {
        let (published, delivered) = self.rates(now);
        let by_pattern = if patterns {
            let mut v: Vec<(String, u64)> = lock(&self.patterns).iter().map(|(p, n)| (p.clone(), *n)).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        } else {
            Vec::new()
        };
        TenantSnapshot { sse: self.sse.load(Relaxed), long_poll: self.long_poll.load(Relaxed), by_pattern, published, delivered }
    }
}

/// A counter's total since this node started, and its recent rates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rates {
    pub total: u64,
    pub per_second_10s: f64,
    pub per_second_60s: f64,
}

/// One tenant's in-memory figures at one moment.
#[derive(Clone, Debug, Default)]
pub struct TenantSnapshot {
    pub sse: u64,
    pub long_poll: u64,
    /// Connections per subscribed pattern, most first (empty when not asked for).
    pub by_pattern: Vec<(String, u64)>,
    pub published: Rates,
    pub delivered: Rates,
}

impl TenantSnapshot {
    pub fn connections(&self) -> u64 {
        self.sse + self.long_poll
    }
}

fn exceeded(detail: String, retry_after: f64) -> AppError {
    AppError::QuotaExceeded { detail, retry_after: (retry_after.ceil() as u64).max(1) }
}

impl Usage {
    pub fn new(store: Store, settings: UsageSettings) -> Self {
        Self { inner: Arc::new(Inner { store, settings, started: Instant::now(), tenants: RwLock::default(), per_ip: Mutex::default() }) }
    }

    /// Samples every tenant's counters once a second, forever: the rates'
    /// history. Spawn once per node.
    pub async fn run_sampler(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let tenants: Vec<Arc<TenantUsage>> =
                self.inner.tenants.read().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
            for t in tenants {
                let sample = Sample { at: now, published: t.published.load(Relaxed), delivered: t.delivered.load(Relaxed) };
                let mut samples = lock(&t.samples);
                if samples.len() >= SAMPLES {
                    samples.pop_front();
                }
                samples.push_back(sample);
            }
        }
    }

    /// How long this node has been counting.
    pub(crate) fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    fn tenant(&self, tenant: &TenantId) -> Arc<TenantUsage> {
        if let Some(t) = self.inner.tenants.read().unwrap_or_else(PoisonError::into_inner).get(tenant) {
            return t.clone();
        }
        let mut tenants = self.inner.tenants.write().unwrap_or_else(PoisonError::into_inner);
        tenants.entry(tenant.clone()).or_insert_with(|| Arc::new(TenantUsage::new(Instant::now()))).clone()
    }

    /// The tenant's quotas, from the cache while it is fresh.
    pub(crate) async fn quotas(&self, tenant: &TenantId) -> Result<Quotas, StoreError> {
        self.quotas_of(tenant, &self.tenant(tenant)).await
    }

    async fn quotas_of(&self, tenant: &TenantId, usage: &TenantUsage) -> Result<Quotas, StoreError> {
        if let Some((at, q)) = *lock(&usage.quotas)
            && at.elapsed() < self.inner.settings.quota_ttl
        {
            return Ok(q);
        }
        let q = self.inner.store.quotas(tenant).await?;
        *lock(&usage.quotas) = Some((Instant::now(), q));
        Ok(q)
    }

    /// Applies quotas just stored through this node at once.
    pub(crate) fn quotas_changed(&self, tenant: &TenantId, quotas: Quotas) {
        let usage = self.tenant(tenant);
        *lock(&usage.quotas) = Some((Instant::now(), quotas));
    }

    /// Admits a plugin upload if the tenant made fewer than `per_minute` on
    /// this node in the last minute (a sliding window: every attempt counts,
    /// accepted or not, since refusing a bad component costs a compile), or
    /// refuses it with a 429 and the seconds until the oldest one leaves the window.
    pub(crate) fn admit_plugin_upload(&self, tenant: &TenantId, per_minute: u32) -> Result<(), AppError> {
        const WINDOW: Duration = Duration::from_secs(60);
        let usage = self.tenant(tenant);
        let mut uploads = lock(&usage.uploads);
        let now = Instant::now();
        while uploads.front().is_some_and(|at| now.saturating_duration_since(*at) >= WINDOW) {
            uploads.pop_front();
        }
        if uploads.len() >= per_minute as usize {
            let wait = uploads.front().map_or(WINDOW, |at| WINDOW.saturating_sub(now.saturating_duration_since(*at)));
            return Err(exceeded(
                format!("the tenant's `plugin_uploads_per_minute` quota of {per_minute} uploads a minute is used up"),
                wait.as_secs_f64(),
            ));
        }
        uploads.push_back(now);
        Ok(())
    }

    /// Admits a publish of `n` notifications under the tenant's publish
    /// rate and stored-notification quotas, or refuses it with a 429.
    pub(crate) async fn admit_publish(&self, tenant: &TenantId, n: usize) -> Result<Publishing, AppError> {
        let usage = self.tenant(tenant);
        let quotas = self.quotas_of(tenant, &usage).await?;
        let n = n as u64;
        if let Some(max) = quotas.max_stored_notifications {
            let stored = self.stored_count(tenant, &usage).await?;
            if stored.saturating_add(n) > max {
                return Err(exceeded(
                    format!(
                        "the tenant stores {stored} notifications and its `max_stored_notifications` quota is {max}; \
                         retention must remove some before more can be published"
                    ),
                    self.inner.settings.retention_interval.as_secs_f64(),
                ));
            }
        }
        if let Some(rate) = quotas.publishes_per_second {
            if n > u64::from(rate) {
                return Err(exceeded(
                    format!(
                        "a batch of {n} is more than the tenant's `publishes_per_second` quota of {rate} allows at once; \
                         send at most {rate} per request"
                    ),
                    1.0,
                ));
            }
            if let Err(wait) = usage.take(rate, n) {
                return Err(exceeded(format!("the tenant's `publishes_per_second` quota of {rate} is used up on this node"), wait));
            }
        }
        Ok(Publishing { usage, counting: quotas.max_stored_notifications.is_some() })
    }

    /// The stored-notification count: this node's estimate, recounted
    /// from the database once it is `stored_refresh` old. One caller
    /// recounts; the others meanwhile use the estimate.
    async fn stored_count(&self, tenant: &TenantId, usage: &TenantUsage) -> Result<u64, StoreError> {
        {
            let mut s = lock(&usage.stored);
            match s.counted_at {
                Some(at) if at.elapsed() < self.inner.settings.stored_refresh => return Ok(s.count),
                // Claim the recount: concurrent publishes keep the estimate.
                Some(_) => s.counted_at = Some(Instant::now()),
                None => {}
            }
        }
        let count = self.inner.store.stored_notification_count(tenant).await?;
        let mut s = lock(&usage.stored);
        s.count = count;
        s.counted_at = Some(Instant::now());
        Ok(count)
    }

    /// Opens a connection of the tenant, refused with a 429 past its
    /// `max_connections` quota. Held for as long as the connection lasts.
    pub(crate) async fn connect(
        &self,
        tenant: &TenantId,
        transport: Transport,
        patterns: Arc<[ChannelPattern]>,
        ip: Option<IpAddr>,
    ) -> Result<Connection, AppError> {
        // The address's place first: a flood from one client is refused
        // before it costs the tenant anything.
        let ip = match ip {
            Some(ip) if self.inner.settings.max_connections_per_ip > 0 => Some(self.take_ip_place(ip)?),
            _ => None,
        };
        let usage = self.tenant(tenant);
        let quotas = self.quotas_of(tenant, &usage).await?;
        let before = usage.connections.fetch_add(1, Relaxed);
        if let Some(max) = quotas.max_connections
            && before >= u64::from(max)
        {
            usage.connections.fetch_sub(1, Relaxed);
            return Err(exceeded(
                format!("the tenant has {before} open streams and long-polls on this node and its `max_connections` quota is {max}"),
                CONNECTIONS_RETRY_AFTER as f64,
            ));
        }
        usage.gauge(transport).fetch_add(1, Relaxed);
        {
            let mut map = lock(&usage.patterns);
            for p in patterns.iter() {
                *map.entry(p.as_str().to_owned()).or_default() += 1;
            }
        }
        Ok(Connection { usage, patterns, transport, _ip: ip })
    }

    /// One place for `ip`, or 429 when it holds its limit.
    fn take_ip_place(&self, ip: IpAddr) -> Result<IpPlace, AppError> {
        let max = self.inner.settings.max_connections_per_ip;
        let mut map = lock(&self.inner.per_ip);
        let n = map.entry(ip).or_default();
        if *n >= max {
            return Err(AppError::TooManyConnections(format!(
                "{ip} holds {n} streams and long-polls on this node, its limit (`limits.max_connections_per_ip`)"
            )));
        }
        *n += 1;
        Ok(IpPlace { inner: self.inner.clone(), ip })
    }

    /// Counts notifications handed out outside a [`Connection`] (a poll
    /// that answers at once).
    pub(crate) fn delivered(&self, tenant: &TenantId, n: usize) {
        if n > 0 {
            self.tenant(tenant).delivered.fetch_add(n as u64, Relaxed);
        }
    }

    /// The tenant's figures now, with connections per pattern.
    pub(crate) fn snapshot(&self, tenant: &TenantId) -> TenantSnapshot {
        let tenants = self.inner.tenants.read().unwrap_or_else(PoisonError::into_inner);
        tenants.get(tenant).map(|t| t.snapshot(Instant::now(), true)).unwrap_or_default()
    }

    /// Every tenant's figures now (without patterns), in no order.
    pub(crate) fn snapshot_all(&self) -> Vec<(TenantId, TenantSnapshot)> {
        let now = Instant::now();
        let tenants: Vec<(TenantId, Arc<TenantUsage>)> =
            self.inner.tenants.read().unwrap_or_else(PoisonError::into_inner).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        tenants.into_iter().map(|(id, t)| (id, t.snapshot(now, false))).collect()
    }
}

/// An admitted publish: say how many notifications it stored.
#[derive(Debug)]
pub(crate) struct Publishing {
    usage: Arc<TenantUsage>,
    /// The tenant has a stored-notification quota, so its estimate is kept.
    counting: bool,
}

impl Publishing {
    pub fn published(self, n: usize) {
        let n = n as u64;
        self.usage.published.fetch_add(n, Relaxed);
        if self.counting {
            let mut s = lock(&self.usage.stored);
            s.count = s.count.saturating_add(n);
        }
    }
}

/// One open stream or waiting long-poll. Dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct Connection {
    usage: Arc<TenantUsage>,
    patterns: Arc<[ChannelPattern]>,
    transport: Transport,
    _ip: Option<IpPlace>,
}

/// A client address's place under `max_connections_per_ip`.
#[derive(Debug)]
struct IpPlace {
    inner: Arc<Inner>,
    ip: IpAddr,
}

impl Drop for IpPlace {
    fn drop(&mut self) {
        let mut map = lock(&self.inner.per_ip);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Connection {
    /// Counts notifications handed to this subscriber: the stream's hot
    /// path, one relaxed add.
    #[inline]
    pub fn delivered(&self, n: u64) {
        self.usage.delivered.fetch_add(n, Relaxed);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.usage.gauge(self.transport).fetch_sub(1, Relaxed);
        self.usage.connections.fetch_sub(1, Relaxed);
        let mut map = lock(&self.usage.patterns);
        for p in self.patterns.iter() {
            if let Some(n) = map.get_mut(p.as_str()) {
                *n -= 1;
                if *n == 0 {
                    map.remove(p.as_str());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_one_seconds_worth_then_refills() {
        let t = TenantUsage::new(Instant::now());
        for _ in 0..5 {
            t.take(5, 1).unwrap();
        }
        let wait = t.take(5, 1).unwrap_err();
        assert!(wait > 0.0 && wait <= 0.2 + 1e-9, "{wait}");
        // A refill, simulated by moving the last take into the past.
        lock(&t.bucket).at -= Duration::from_secs(1);
        t.take(5, 5).unwrap();
        assert!(t.take(5, 1).is_err());
    }

    #[test]
    fn rates_average_over_the_window_since_a_sample() {
        let start = Instant::now();
        let t = TenantUsage::new(start);
        t.published.fetch_add(100, Relaxed);
        let (p, d) = t.rates(start + Duration::from_secs(10));
        assert_eq!(p.total, 100);
        assert!((p.per_second_10s - 10.0).abs() < 1e-9, "{p:?}");
        // Less than a minute of history: averaged over what there is.
        assert!((p.per_second_60s - 10.0).abs() < 1e-9, "{p:?}");
        assert_eq!(d.total, 0);
        assert_eq!(d.per_second_10s, 0.0);
    }
}
