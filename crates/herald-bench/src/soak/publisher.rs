//! The soak's publisher: one keep-alive connection publishing on a fixed
//! schedule, one notification at a time, so each channel's commits are in
//! publish order.
//!
//! Publish `k` goes to channel `k mod C`, either to the whole channel or
//! (with --direct-pct) to one user subscribed to it. Each carries the next
//! number of its channel's broadcasts or of that user's direct
//! notifications, and an `idempotency_key` naming that number. A failed
//! publish is retried with the same key until it is committed, so a
//! notification whose first attempt committed unseen is not stored twice
//! and the numbers have no hole: a subscriber that misses one has lost it.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::time::Instant;

use super::check::{BROADCAST, DIRECT};
use crate::fanpub::Publisher;
use crate::stats::{Errors, Latency};

/// How long to wait before retrying a failed publish.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// What has been committed, for the subscribers' final count.
#[derive(Debug)]
pub struct Published {
    /// Broadcasts committed per channel (the next number to publish).
    pub broadcast: Vec<AtomicU64>,
    /// Direct notifications committed per user.
    pub direct: Vec<AtomicU64>,
    pub total: AtomicU64,
    /// Attempts that failed and were retried.
    pub retries: AtomicU64,
    /// How late the latest publish started against its schedule, in µs.
    pub lag_us: AtomicU64,
    pub max_lag_us: AtomicU64,
    pub errors: Mutex<Errors>,
    pub first_error: Mutex<Option<String>>,
    /// Time to commit, first attempt to success.
    pub latency: Mutex<Latency>,
}

impl Published {
    pub fn new(channels: usize, users: usize) -> Self {
        Self {
            broadcast: (0..channels).map(|_| AtomicU64::new(0)).collect(),
            direct: (0..users).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            lag_us: AtomicU64::new(0),
            max_lag_us: AtomicU64::new(0),
            errors: Mutex::new(Errors::default()),
            first_error: Mutex::new(None),
            latency: Mutex::new(Latency::default()),
        }
    }
}

/// The schedule and mix.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub rate: u32,
    pub direct_pct: u8,
    pub users: u32,
    pub seed: u64,
}

/// The body of one publish.
fn body(direct: Option<u32>, channel: usize, seq: u64) -> String {
    match direct {
        Some(u) => format!(r#"{{"type":"{DIRECT}","data":{{"s":{seq},"u":{u}}},"recipients":["u{u}"],"idempotency_key":"d{u}-{seq}"}}"#),
        None => format!(r#"{{"type":"{BROADCAST}","data":{{"s":{seq}}},"idempotency_key":"b{channel}-{seq}"}}"#),
    }
}

/// Publishes until `stop` turns true; the notification in hand when it does
/// is still retried until committed, unless `give_up` turns true first.
pub async fn run(
    mut publisher: Publisher,
    plan: Plan,
    published: Arc<Published>,
    stop: watch::Receiver<bool>,
    give_up: watch::Receiver<bool>,
) {
    let channels = publisher.channels.len();
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    let start = Instant::now();
    let mut k: u64 = 0;
    while !*stop.borrow() {
        let due = start + Duration::from_secs_f64(k as f64 / f64::from(plan.rate));
        let mut stop_wait = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = stop_wait.wait_for(|s| *s) => break,
        }
        let lag = due.elapsed().as_micros() as u64;
        published.lag_us.store(lag, Relaxed);
        published.max_lag_us.fetch_max(lag, Relaxed);
        let c = (k % channels as u64) as usize;
        // Users of channel c are c, c + C, c + 2C, … below the user count.
        let on_channel = (plan.users as usize).saturating_sub(c).div_ceil(channels) as u32;
        let direct = (on_channel > 0 && rng.random_ratio(u32::from(plan.direct_pct), 100))
            .then(|| c as u32 + rng.random_range(0..on_channel) * channels as u32);
        let counter = match direct {
            Some(u) => &published.direct[u as usize],
            None => &published.broadcast[c],
        };
        let seq = counter.load(Relaxed);
        let text = body(direct, c, seq);
        let uri = publisher.single_uri(c);
        let first = Instant::now();
        loop {
            match publisher.post(uri.clone(), text.clone()).await {
                Ok(()) => break,
                Err((kind, detail)) => {
                    published.retries.fetch_add(1, Relaxed);
                    published.errors.lock().expect("errors poisoned").add(kind.clone());
                    let mut slot = published.first_error.lock().expect("error slot poisoned");
                    slot.get_or_insert_with(|| format!("{kind}: {detail}"));
                }
            }
            if *give_up.borrow() {
                return;
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
        published.latency.lock().expect("latency poisoned").record(first.elapsed());
        counter.store(seq + 1, Relaxed);
        published.total.fetch_add(1, Relaxed);
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_their_number_and_user() {
        let b: serde_json::Value = serde_json::from_str(&body(None, 3, 41)).unwrap();
        assert_eq!(b, serde_json::json!({"type": BROADCAST, "data": {"s": 41}, "idempotency_key": "b3-41"}));
        let d: serde_json::Value = serde_json::from_str(&body(Some(13), 3, 0)).unwrap();
        assert_eq!(d, serde_json::json!({"type": DIRECT, "data": {"s": 0, "u": 13}, "recipients": ["u13"], "idempotency_key": "d13-0"}));
    }
}
