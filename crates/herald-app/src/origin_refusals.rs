//! Cross-origin requests refused because the tenant does not allow their
//! origin: counted, kept per tenant for the console, and logged at a
//! bounded rate. A browser that is refused says only "blocked by CORS
//! policy", so without this nobody learns which origin to allow.
//!
//! Anyone can send any `Origin` to any tenant id, so every table here is
//! bounded. Only tenants that exist are recorded (the caller checks); at
//! most [`MAX_TENANTS`] of them, the least recently refused dropped first;
//! each keeps its [`RECENT`] most recent distinct origins. A refusal is
//! logged at most once a minute per tenant and origin, through a table of
//! at most [`MAX_LOGGED`] pairs; past it, new pairs are not logged and one
//! line a minute says how many were not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use herald_core::ids::TenantId;
use herald_core::limits;

/// Tenants whose refusals are kept.
pub(crate) const MAX_TENANTS: usize = 2_000;
/// Distinct origins kept per tenant, most recent first.
pub const RECENT: usize = 10;
/// (tenant, origin) pairs logged within the last [`LOG_EVERY`].
pub(crate) const MAX_LOGGED: usize = 256;
/// One line per tenant and origin at most this often.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(60);

/// One refused origin of a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedOrigin {
    /// As the browser sent it, cut to [`limits::MAX_ORIGIN`] bytes.
    pub origin: String,
    /// Refusals of this origin since it entered the tenant's recent list.
    pub count: u64,
    pub last_at: DateTime<Utc>,
}

/// A tenant's refusals on this node since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantRefusals {
    pub total: u64,
    /// Most recent first, at most [`RECENT`].
    pub recent: Vec<RefusedOrigin>,
}

/// What the caller should log for one refusal.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LogDecision {
    /// Log it; `repeats` more refusals of the pair came since its last line.
    Line { repeats: u64 },
    /// Already logged within the minute.
    Quiet,
    /// The pair table is full: say (once a minute) how many pairs went unlogged.
    Suppressed { unlogged: u64 },
    /// The pair table is full and that was said within the minute.
    SuppressedQuiet,
}

/// How many entries the tables hold, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefusalsSize {
    pub(crate) tenants: usize,
    pub(crate) logged: usize,
}

#[derive(Debug)]
struct Entry {
    refusals: TenantRefusals,
    last: Instant,
}

#[derive(Debug, Default)]
struct Tables {
    total: u64,
    tenants: HashMap<TenantId, Entry>,
    /// When each pair was last logged, and its refusals since.
    logged: HashMap<(TenantId, String), (Instant, u64)>,
    unlogged: u64,
    said_unlogged_at: Option<Instant>,
}

/// This node's refusals. Cheap to clone; clones share the tables.
#[derive(Clone, Debug, Default)]
pub struct OriginRefusals {
    tables: Arc<Mutex<Tables>>,
}

impl OriginRefusals {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a refusal of `origin` by `tenant` (which exists) at `now`,
    /// and says what to log.
    pub(crate) fn record(&self, tenant: &TenantId, origin: &str, now: Instant, wall: DateTime<Utc>) -> LogDecision {
        let origin = &origin[..origin.floor_char_boundary(limits::MAX_ORIGIN)];
        let mut t = self.lock();
        t.total += 1;
        if !t.tenants.contains_key(tenant) && t.tenants.len() >= MAX_TENANTS {
            let oldest = t.tenants.iter().min_by_key(|(_, e)| e.last).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                t.tenants.remove(&k);
            }
        }
        let entry = t.tenants.entry(tenant.clone()).or_insert_with(|| Entry { refusals: TenantRefusals::default(), last: now });
        entry.last = now;
        entry.refusals.total += 1;
        let recent = &mut entry.refusals.recent;
        let mut item = match recent.iter().position(|r| r.origin == origin) {
            Some(i) => recent.remove(i),
            None => RefusedOrigin { origin: origin.to_owned(), count: 0, last_at: wall },
        };
        item.count += 1;
        item.last_at = wall;
        recent.insert(0, item);
        recent.truncate(RECENT);
        Self::log_decision(&mut t, tenant, origin, now)
    }

    fn log_decision(t: &mut Tables, tenant: &TenantId, origin: &str, now: Instant) -> LogDecision {
        let key = (tenant.clone(), origin.to_owned());
        if let Some((at, repeats)) = t.logged.get_mut(&key) {
            if now.duration_since(*at) < LOG_EVERY {
                *repeats += 1;
                return LogDecision::Quiet;
            }
            let repeats = std::mem::take(repeats);
            *at = now;
            return LogDecision::Line { repeats };
        }
        if t.logged.len() >= MAX_LOGGED {
            t.logged.retain(|_, (at, _)| now.duration_since(*at) < LOG_EVERY);
        }
        if t.logged.len() < MAX_LOGGED {
            t.logged.insert(key, (now, 0));
            return LogDecision::Line { repeats: 0 };
        }
        t.unlogged += 1;
        if t.said_unlogged_at.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
            return LogDecision::SuppressedQuiet;
        }
        t.said_unlogged_at = Some(now);
        LogDecision::Suppressed { unlogged: std::mem::take(&mut t.unlogged) }
    }

    /// The tenant's refusals since this node started (or since it was
    /// last among the [`MAX_TENANTS`] most recently refused).
    pub fn of(&self, tenant: &TenantId) -> TenantRefusals {
        self.lock().tenants.get(tenant).map(|e| e.refusals.clone()).unwrap_or_default()
    }

    /// Forgets a deleted tenant.
    pub(crate) fn forget(&self, tenant: &TenantId) {
        let mut t = self.lock();
        t.tenants.remove(tenant);
        t.logged.retain(|(k, _), _| k != tenant);
    }

    /// Refusals of tenants that exist, on this node since it started.
    pub(crate) fn total(&self) -> u64 {
        self.lock().total
    }

    pub(crate) fn size(&self) -> RefusalsSize {
        let t = self.lock();
        RefusalsSize { tenants: t.tenants.len(), logged: t.logged.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall() -> DateTime<Utc> {
        Utc::now()
    }

    #[test]
    fn a_pair_is_logged_once_a_minute_with_its_repeats() {
        let r = OriginRefusals::default();
        let t = TenantId::generate();
        let start = Instant::now();
        assert_eq!(r.record(&t, "http://a.test", start, wall()), LogDecision::Line { repeats: 0 });
        for s in 1..60 {
            assert_eq!(r.record(&t, "http://a.test", start + Duration::from_secs(s), wall()), LogDecision::Quiet, "at {s} s");
        }
        // Another origin of the same tenant has its own minute.
        assert_eq!(r.record(&t, "http://b.test", start + Duration::from_secs(1), wall()), LogDecision::Line { repeats: 0 });
        assert_eq!(r.record(&t, "http://a.test", start + LOG_EVERY, wall()), LogDecision::Line { repeats: 59 });
        let got = r.of(&t);
        assert_eq!(got.total, 62);
        let origins: Vec<_> = got.recent.iter().map(|o| (o.origin.as_str(), o.count)).collect();
        assert_eq!(origins, [("http://a.test", 61), ("http://b.test", 1)], "most recent first, with counts");
        assert_eq!(r.total(), 62);
    }

    #[test]
    fn a_flood_of_origins_and_tenants_stays_within_the_bounds() {
        let r = OriginRefusals::default();
        let now = Instant::now();
        let t = TenantId::generate();
        let mut lines = 0;
        let mut summaries = Vec::new();
        for i in 0..MAX_LOGGED + 500 {
            match r.record(&t, &format!("http://{i}.test"), now, wall()) {
                LogDecision::Line { .. } => lines += 1,
                LogDecision::Suppressed { unlogged } => summaries.push(unlogged),
                LogDecision::SuppressedQuiet => {}
                LogDecision::Quiet => panic!("no pair repeats here"),
            }
        }
        assert_eq!(lines, MAX_LOGGED, "lines within a minute");
        assert_eq!(summaries, [1], "one summary line a minute");
        assert_eq!(r.of(&t).recent.len(), RECENT);
        assert_eq!(r.of(&t).recent[0].origin, format!("http://{}.test", MAX_LOGGED + 499));
        // A minute later the pairs expire: new ones are logged again, and the
        // next summary counts what went unlogged meanwhile.
        let later = now + LOG_EVERY;
        assert_eq!(r.record(&t, "http://new.test", later, wall()), LogDecision::Line { repeats: 0 });
        let mut summaries = Vec::new();
        for i in 0..MAX_TENANTS + 100 {
            if let LogDecision::Suppressed { unlogged } = r.record(&TenantId::generate(), &format!("http://{i}.test"), later, wall()) {
                summaries.push(unlogged);
            }
        }
        assert_eq!(summaries, [500], "one summary, counting the 499 unlogged of the first minute and this one");
        assert_eq!(r.size(), RefusalsSize { tenants: MAX_TENANTS, logged: MAX_LOGGED });
        assert_eq!(r.record(&t, "http://x.test", later, wall()), LogDecision::SuppressedQuiet);
    }

    #[test]
    fn a_full_tenant_table_drops_the_least_recently_refused() {
        let r = OriginRefusals::default();
        let start = Instant::now();
        let first = TenantId::generate();
        let second = TenantId::generate();
        r.record(&first, "http://a.test", start, wall());
        r.record(&second, "http://a.test", start + Duration::from_millis(1), wall());
        for i in 0..MAX_TENANTS - 2 {
            r.record(&TenantId::generate(), "http://a.test", start + Duration::from_millis(2 + i as u64), wall());
        }
        // `first` refuses again: now `second` is the oldest.
        r.record(&first, "http://a.test", start + Duration::from_secs(10), wall());
        r.record(&TenantId::generate(), "http://a.test", start + Duration::from_secs(11), wall());
        assert_eq!(r.of(&first).total, 2);
        assert_eq!(r.of(&second), TenantRefusals::default());
    }

    #[test]
    fn long_origins_are_cut_on_a_character_boundary() {
        let r = OriginRefusals::default();
        let t = TenantId::generate();
        let long = format!("http://{}", "é".repeat(300));
        r.record(&t, &long, Instant::now(), wall());
        let kept = &r.of(&t).recent[0].origin;
        assert!(kept.len() <= limits::MAX_ORIGIN && long.starts_with(kept.as_str()), "{} bytes", kept.len());
    }

    #[test]
    fn forgetting_a_tenant_drops_its_entries() {
        let r = OriginRefusals::default();
        let t = TenantId::generate();
        r.record(&t, "http://a.test", Instant::now(), wall());
        r.forget(&t);
        assert_eq!(r.size(), RefusalsSize { tenants: 0, logged: 0 });
        assert_eq!(r.total(), 1, "the node's total stays a counter");
    }
}
