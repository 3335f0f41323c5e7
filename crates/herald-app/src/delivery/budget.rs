//! A subscriber's allowance of deliver-hook time.
//!
//! Deliver hooks run once per delivery, so a stream replaying history
//! through a slow chain costs its tenant's plugin workers for as long as
//! the replay lasts. Each stream (and each poll) gets an allowance instead:
//! `burst` of hook time up front, refilled at `per_second` for every second
//! the stream is open. A stream that has used it up is closed with
//! `plugin-budget-exhausted` (a poll answers what it has) rather than
//! holding a worker; the client resumes from its last id like after any
//! other close.

use std::time::{Duration, Instant};

/// How much deliver-hook time one stream or poll may use.
#[derive(Clone, Copy, Debug)]
pub struct HookBudget {
    /// Hook time available at once (default 2 s).
    pub burst: Duration,
    /// Hook time added back per second, up to `burst` (default 100 ms: a
    /// stream may keep a tenth of a worker busy).
    pub per_second: Duration,
}

impl Default for HookBudget {
    fn default() -> Self {
        Self { burst: Duration::from_secs(2), per_second: Duration::from_millis(100) }
    }
}

/// One subscriber's bucket.
#[derive(Debug)]
pub(crate) struct Allowance {
    rule: HookBudget,
    available: Duration,
    at: Instant,
}

impl Allowance {
    pub(crate) fn new(rule: HookBudget, now: Instant) -> Self {
        Self { rule, available: rule.burst, at: now }
    }

    /// Hook time available now.
    pub(crate) fn available(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.at);
        self.at = now;
        let refill = self.rule.per_second.mul_f64(elapsed.as_secs_f64());
        self.available = (self.available + refill).min(self.rule.burst);
        self.available
    }

    /// Takes `spent` off (never below zero).
    pub(crate) fn charge(&mut self, spent: Duration) {
        self.available = self.available.saturating_sub(spent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn spending_takes_off_and_time_gives_back_up_to_the_burst() {
        let t0 = Instant::now();
        let mut a = Allowance::new(HookBudget { burst: 100 * MS, per_second: 10 * MS }, t0);
        assert_eq!(a.available(t0), 100 * MS);
        a.charge(150 * MS);
        assert_eq!(a.available(t0), Duration::ZERO, "never below zero");
        assert_eq!(a.available(t0 + Duration::from_secs(2)), 20 * MS);
        assert_eq!(a.available(t0 + Duration::from_secs(60)), 100 * MS, "capped at the burst");
    }
}
