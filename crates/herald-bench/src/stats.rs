//! Counters every load loop keeps for itself and merges at the end, so the
//! loops share nothing while they run: a latency histogram and error counts.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms hold, in microseconds (larger values are
/// clamped to it): ten minutes, longer than any run.
const MAX_MICROS: u64 = 600_000_000;

/// A latency distribution in microseconds, to three significant digits.
#[derive(Clone, Debug)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid"))
    }
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        self.record_micros(d.as_micros().try_into().unwrap_or(u64::MAX));
    }

    pub fn record_micros(&mut self, us: u64) {
        self.0.saturating_record(us.max(1));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        self.0.add(&other.0).expect("histograms share their bounds");
    }

    pub fn summary(&self) -> Summary {
        let h = &self.0;
        let q = |q: f64| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
        Summary {
            count: h.len(),
            mean_us: if h.is_empty() { 0 } else { h.mean().round() as u64 },
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            max_us: if h.is_empty() { 0 } else { h.max() },
        }
    }
}

/// The figures reported for one latency distribution.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub count: u64,
    pub mean_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Summary {
    /// `p50 1.234 ms  p90 …  p99 …  max …  (n=…)`.
    pub fn line(&self) -> String {
        format!(
            "p50 {}  p90 {}  p99 {}  max {}  mean {}  (n={})",
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.max_us),
            ms(self.mean_us),
            self.count
        )
    }
}

/// Microseconds as milliseconds for people: `12.345 ms`.
pub fn ms(us: u64) -> String {
    format!("{}.{:03} ms", us / 1000, us % 1000)
}

/// Failed requests by kind: an HTTP status (`"503"`) or `timeout`,
/// `connect`, `io`.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Errors(BTreeMap<String, u64>);

impl Errors {
    pub fn add(&mut self, kind: impl Into<String>) {
        *self.0.entry(kind.into()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Errors) {
        for (kind, n) in &other.0 {
            *self.0.entry(kind.clone()).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `none`, or `503: 12, timeout: 1`.
    pub fn line(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.0.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_merge_and_clamp() {
        let mut a = Latency::default();
        for us in 1..=100 {
            a.record_micros(us * 1000);
        }
        let mut b = Latency::default();
        b.record(Duration::from_secs(3600));
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.count, 101);
        assert!((50_900..=51_100).contains(&s.p50_us), "{s:?}");
        assert!((99_900..=100_100).contains(&s.p99_us), "{s:?}");
        assert!(s.max_us >= MAX_MICROS && s.max_us < MAX_MICROS + MAX_MICROS / 500, "{s:?}");
        assert_eq!(Latency::default().summary(), Summary::default());
    }

    #[test]
    fn errors_count_by_kind() {
        let mut e = Errors::default();
        assert_eq!(e.line(), "none");
        e.add("503");
        e.add("timeout");
        let mut f = Errors::default();
        f.add("503");
        e.merge(&f);
        assert_eq!(e.total(), 3);
        assert_eq!(e.line(), "503: 2, timeout: 1");
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"503":2,"timeout":1}"#);
    }

    #[test]
    fn milliseconds_are_printed_with_three_decimals() {
        assert_eq!(ms(1_234), "1.234 ms");
        assert_eq!(ms(7), "0.007 ms");
    }
}
