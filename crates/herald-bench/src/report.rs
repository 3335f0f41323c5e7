//! What a run prints: readable lines, then exactly one line of JSON with
//! every figure, so scripts read the last line and people read the rest.

use serde::Serialize;

use crate::stats::{Errors, Summary, ms};

/// Figures of a `publish` run.
#[derive(Debug, Serialize)]
pub struct PublishReport {
    pub bench: &'static str,
    pub url: String,
    pub tenant: String,
    pub connections: u32,
    pub batch: u32,
    pub channels: u32,
    pub payload_bytes: u32,
    pub duration_s: u64,
    /// Wall time from the first request to the last answer.
    pub elapsed_s: f64,
    /// Requests answered (any status) or failed.
    pub requests: u64,
    /// Requests answered 201.
    pub requests_ok: u64,
    /// Notifications in 201 answers: durably committed.
    pub persisted: u64,
    pub requests_per_s: f64,
    pub persisted_per_s: f64,
    /// Latency of the 201 requests, send to last body byte.
    pub latency: Summary,
    pub errors_total: u64,
    pub errors: Errors,
    /// At least one publish persisted and no request failed.
    pub ok: bool,
}

impl PublishReport {
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "publish: {} connections, batch {}, {} channels, {} B data, {:.2} s against {}",
                self.connections, self.batch, self.channels, self.payload_bytes, self.elapsed_s, self.url
            ),
            format!("  requests:   {} ok of {} ({:.1} req/s ok)", self.requests_ok, self.requests, self.requests_per_s),
            format!("  persisted:  {} notifications ({:.1} /s)", self.persisted, self.persisted_per_s),
            format!("  latency:    {}", self.latency.line()),
            format!("  errors:     {} ({})", self.errors_total, self.errors.line()),
            format!("  result:     {}", if self.ok { "ok" } else { "FAILED" }),
        ]
    }
}

/// What one subscriber saw during a `latency` run.
#[derive(Debug, Serialize)]
pub struct SubscriberReport {
    pub url: String,
    /// Distinct benchmark notifications received.
    pub received: u64,
    /// Acknowledged (201) notifications never received.
    pub lost: u64,
    /// Notifications received more than once (each extra copy counts).
    pub duplicated: u64,
    /// Events whose SSE id was not above the previous one.
    pub out_of_order: u64,
    /// Received but never acknowledged (their publish failed or timed out).
    pub unacknowledged: u64,
    /// Events that were not the benchmark's, or whose data did not parse.
    pub unexpected: u64,
    /// Why the stream ended early, if it did.
    pub closed: Option<String>,
    /// Publish sent to event received.
    pub latency: Summary,
}

impl SubscriberReport {
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.out_of_order == 0 && self.unexpected == 0 && self.closed.is_none()
    }

    fn lines(&self, label: &str) -> Vec<String> {
        let mut out = vec![
            format!("  subscriber {label} ({}): {}", self.url, self.latency.line()),
            format!(
                "    received {}  lost {}  duplicated {}  out-of-order {}  unexpected {}  unacknowledged {}",
                self.received, self.lost, self.duplicated, self.out_of_order, self.unexpected, self.unacknowledged
            ),
        ];
        if let Some(why) = &self.closed {
            out.push(format!("    stream ended early: {why}"));
        }
        out
    }
}

/// Figures of a `latency` run.
#[derive(Debug, Serialize)]
pub struct LatencyReport {
    pub bench: &'static str,
    pub publish_url: String,
    pub subscribe_url: String,
    pub tenant: String,
    pub count: u32,
    pub rate: u32,
    /// Publishes answered 201.
    pub published: u64,
    pub publish_errors_total: u64,
    pub publish_errors: Errors,
    /// Publishing wall time and the rate actually achieved.
    pub publish_elapsed_s: f64,
    pub publish_rate_achieved: f64,
    /// Latest start of a publish behind its schedule (the generator or the
    /// server could not keep up when this is large).
    pub max_schedule_lag_us: u64,
    /// Publish request latency (send to 201).
    pub publish_latency: Summary,
    /// Subscriber on the publish node.
    pub a: SubscriberReport,
    /// Subscriber on the subscribe node.
    pub b: SubscriberReport,
    /// Nothing lost, duplicated, reordered or failed.
    pub ok: bool,
}

impl LatencyReport {
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            format!(
                "latency: {} of {} published at {:.1}/s (asked {}/s) over {:.2} s; publish {}",
                self.published,
                self.count,
                self.publish_rate_achieved,
                self.rate,
                self.publish_elapsed_s,
                self.publish_latency.line()
            ),
            format!(
                "  publish errors: {} ({}); max schedule lag {}",
                self.publish_errors_total,
                self.publish_errors.line(),
                ms(self.max_schedule_lag_us)
            ),
        ];
        out.extend(self.a.lines("A"));
        out.extend(self.b.lines("B"));
        out.push(format!("  result: {}", if self.ok { "ok" } else { "FAILED" }));
        out
    }
}

/// A run that could not finish: still one JSON line, for scripts.
#[derive(Debug, Serialize)]
pub struct Failure {
    pub bench: &'static str,
    pub ok: bool,
    pub error: String,
}

/// Prints `lines`, then `figures` as the final JSON line.
pub fn emit(lines: &[String], figures: &impl Serialize) {
    for line in lines {
        println!("{line}");
    }
    println!("{}", serde_json::to_string(figures).expect("reports serialize"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_one_json_line() {
        let f = Failure { bench: "publish", ok: false, error: "no\nserver".into() };
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains('\n'));
        assert_eq!(json, r#"{"bench":"publish","ok":false,"error":"no\nserver"}"#);
    }
}
