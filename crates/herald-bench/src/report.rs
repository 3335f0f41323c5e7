//! What a run prints: readable lines, then exactly one line of JSON with
//! every figure, so scripts read the last line and people read the rest.

use serde::Serialize;

use crate::stages::{self, StageSummary};
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
    /// The publish node's own breakdown of where the time went.
    pub stages: Vec<StageSummary>,
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
        out.extend(stages::lines(&self.stages));
        out.push(format!("  result: {}", if self.ok { "ok" } else { "FAILED" }));
        out
    }
}

/// The server's resources during a `fanout` run (with `--server-pid`).
#[derive(Debug, Serialize)]
pub struct ServerUsage {
    pub pids: Vec<u32>,
    /// VmRSS before the first stream opened.
    pub rss_before_kib: u64,
    /// VmRSS once every stream was live, after the settle pause.
    pub rss_connected_kib: u64,
    /// VmRSS after the drain.
    pub rss_end_kib: u64,
    /// VmHWM (peak VmRSS) at the end.
    pub rss_peak_kib: u64,
    /// (rss_connected - rss_before) / connected streams.
    pub kib_per_idle_connection: f64,
    /// CPU use during the --idle window, in % of one core (null without it).
    pub idle_cpu_pct: Option<f64>,
    /// CPU use from the first publish to the end of the drain, in % of one core.
    pub publish_cpu_pct: f64,
    /// CPU time over that window per measured event received.
    pub cpu_us_per_event: f64,
    /// Of that, the time in the server's own code (`utime`).
    pub user_us_per_event: f64,
    /// Of that, the time the kernel spent for the server (`stime`): system
    /// calls, and on loopback the receiver's TCP processing of each send.
    pub system_us_per_event: f64,
}

/// Figures of a `fanout` run. Counters add up across processes.
#[derive(Debug, Serialize)]
pub struct FanoutReport {
    pub bench: &'static str,
    /// `herald` or `template`.
    pub mode: &'static str,
    /// The Herald URL or the subscribe template.
    pub target: String,
    pub tenant: Option<String>,
    pub subscribers: u32,
    pub channels: u32,
    pub messages: u32,
    pub rate: u32,
    pub batch: u32,
    pub source_ips: u8,
    pub threads: u16,
    /// The open-file limit in force.
    pub fd_limit: u64,
    pub connected: u64,
    pub connect_failed: u64,
    pub first_connect_error: Option<String>,
    /// From the first connect to the last answered one.
    pub connect_s: f64,
    pub connects_per_s: f64,
    /// Streams that received a warm-up event before publishing began.
    pub live: u64,
    pub warmup_s: f64,
    /// Notifications acknowledged (2xx) on every channel.
    pub published: u64,
    pub publish_errors_total: u64,
    pub publish_errors: Errors,
    pub first_publish_error: Option<String>,
    pub publish_s: f64,
    pub publish_rate_achieved: f64,
    /// Latest start of a publish behind its schedule.
    pub max_schedule_lag_us: u64,
    /// One publish step (a request, or B x C requests), send to last answer.
    pub publish_latency: Summary,
    /// connected x published.
    pub expected_events: u64,
    /// Measured events received, copies included.
    pub received_events: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Received although their publish was not acknowledged.
    pub unacknowledged: u64,
    /// Events neither measured nor warm-up (or unreadable).
    pub unexpected: u64,
    /// Streams that ended or broke after opening (never reconnected).
    pub streams_ended: u64,
    pub first_stream_end: Option<String>,
    /// From the first publish to the last measured event received.
    pub delivery_s: f64,
    pub delivered_per_s: f64,
    /// Publish (send time in the payload) to receipt, first copies only.
    pub latency: Summary,
    /// Herald's own breakdown of where the time went (Herald mode).
    pub stages: Vec<StageSummary>,
    pub server: Option<ServerUsage>,
    /// This generator's peak VmRSS.
    pub generator_rss_peak_kib: u64,
    /// This generator's own CPU time (every thread, user + kernel) from the
    /// first publish to the end of the drain, per measured event received:
    /// on a machine it shares with the server, time the server cannot use.
    pub generator_us_per_event: f64,
    /// Of that, the kernel's share (its reads and socket wake-ups).
    pub generator_kernel_us_per_event: f64,
    /// Every stream connected and stayed open, every publish was
    /// acknowledged, nothing lost, duplicated, reordered or unexpected.
    pub ok: bool,
}

impl FanoutReport {
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            format!(
                "fanout ({}): {} subscribers on {} channel(s) from {} source IP(s), {} messages at {}/s, batch {} against {}",
                self.mode, self.subscribers, self.channels, self.source_ips, self.messages, self.rate, self.batch, self.target
            ),
            format!(
                "  connect:    {} connected, {} failed in {:.2} s ({:.0} /s); {} live after warm-up ({:.2} s); fd limit {}",
                self.connected, self.connect_failed, self.connect_s, self.connects_per_s, self.live, self.warmup_s, self.fd_limit
            ),
        ];
        if let Some(e) = &self.first_connect_error {
            out.push(format!("    first connect error: {e}"));
        }
        out.push(format!(
            "  publish:    {} of {} acknowledged in {:.2} s ({:.1} /s); errors {} ({}); max schedule lag {}",
            self.published,
            self.messages,
            self.publish_s,
            self.publish_rate_achieved,
            self.publish_errors_total,
            self.publish_errors.line(),
            ms(self.max_schedule_lag_us)
        ));
        out.push(format!("    publish step: {}", self.publish_latency.line()));
        if let Some(e) = &self.first_publish_error {
            out.push(format!("    first publish error: {e}"));
        }
        out.push(format!(
            "  delivered:  {} of {} events in {:.2} s ({:.0} events/s)",
            self.received_events, self.expected_events, self.delivery_s, self.delivered_per_s
        ));
        out.push(format!(
            "  accounting: lost {}  duplicated {}  out-of-order {}  unacknowledged {}  unexpected {}  streams ended {}",
            self.lost, self.duplicated, self.out_of_order, self.unacknowledged, self.unexpected, self.streams_ended
        ));
        if let Some(e) = &self.first_stream_end {
            out.push(format!("    first stream end: {e}"));
        }
        out.push(format!("  latency:    {}", self.latency.line()));
        if self.mode == "herald" {
            out.extend(stages::lines(&self.stages));
        }
        if let Some(s) = &self.server {
            out.push(format!(
                "  server:     pids {:?} RSS {} KiB before, {} KiB connected ({:.2} KiB per idle connection), {} KiB at end, peak {} KiB",
                s.pids, s.rss_before_kib, s.rss_connected_kib, s.kib_per_idle_connection, s.rss_end_kib, s.rss_peak_kib
            ));
            let idle = s.idle_cpu_pct.map_or_else(|| "not measured".to_owned(), |p| format!("{p:.1}%"));
            out.push(format!(
                "  server cpu: idle {idle} of one core; publishing {:.1}%, {:.2} us per delivered event ({:.2} user, {:.2} kernel)",
                s.publish_cpu_pct, s.cpu_us_per_event, s.user_us_per_event, s.system_us_per_event
            ));
        }
        out.push(format!(
            "  generator:  peak RSS {} KiB, {} thread(s), {:.2} us cpu per event ({:.2} kernel)",
            self.generator_rss_peak_kib, self.threads, self.generator_us_per_event, self.generator_kernel_us_per_event
        ));
        out.push(format!("  result:     {}", if self.ok { "ok" } else { "FAILED" }));
        out
    }
}

/// What the server spent during a `storm`.
#[derive(Debug, Serialize)]
pub struct StormServer {
    pub pids: Vec<u32>,
    /// CPU seconds (user + system, all pids) from the first reconnect until
    /// every subscriber was complete.
    pub cpu_s: f64,
    /// `cpu_s` over the events delivered in that time.
    pub cpu_us_per_event: f64,
    /// Resident memory of all pids with every stream connected, and at the end.
    pub rss_connected_kib: u64,
    pub rss_end_kib: u64,
}

/// Figures of a `storm` run.
#[derive(Debug, Serialize)]
pub struct StormReport {
    pub bench: &'static str,
    /// `herald` or `template`.
    pub mode: &'static str,
    pub target: String,
    pub tenant: Option<String>,
    pub subscribers: u32,
    pub missed: u32,
    pub live: u32,
    pub live_rate: u32,
    pub connect_concurrency: u32,
    pub threads: u16,
    pub connected: u64,
    pub connect_failed: u64,
    /// Streams that received a warm-up event (and so have an id to resume from).
    pub warmed: u64,
    /// Notifications acknowledged (2xx), missed and live.
    pub published: u64,
    pub publish_errors_total: u64,
    pub publish_errors: Errors,
    pub first_publish_error: Option<String>,
    /// Failed reconnect attempts, each tried again.
    pub reconnect_failures: u64,
    /// Streams the server ended during the storm, opened again.
    pub reopened: u64,
    pub first_error: Option<String>,
    /// Subscribers that got every missed notification, and every one.
    pub caught_up: u64,
    pub complete: u64,
    /// From the first reconnect until the last subscriber had every missed
    /// notification.
    pub catch_up_s: f64,
    /// ... until the last one had every notification, live ones included.
    pub complete_s: f64,
    /// From the first reconnect until the run stopped waiting.
    pub storm_s: f64,
    /// Each subscriber's catch-up time, from the first reconnect.
    pub catch_up: Summary,
    /// Publish to receipt of the live notifications, first copies only.
    pub live_latency: Summary,
    /// connected x published.
    pub expected_events: u64,
    /// Measured events received, copies included.
    pub received_events: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub unexpected: u64,
    pub server: Option<StormServer>,
    pub generator_rss_peak_kib: u64,
    /// Every stream connected and came back, every publish was
    /// acknowledged, every subscriber got everything once and in order.
    pub ok: bool,
}

impl StormReport {
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            format!(
                "storm ({}): {} subscribers, {} missed, {} live at {}/s, {} connects in flight, against {}",
                self.mode, self.subscribers, self.missed, self.live, self.live_rate, self.connect_concurrency, self.target
            ),
            format!("  connect:    {} connected, {} failed, {} warmed up", self.connected, self.connect_failed, self.warmed),
            format!("  publish:    {} acknowledged; errors {} ({})", self.published, self.publish_errors_total, self.publish_errors.line()),
        ];
        if let Some(e) = &self.first_publish_error {
            out.push(format!("    first publish error: {e}"));
        }
        out.push(format!(
            "  storm:      caught up {} of {} in {:.2} s; complete {} in {:.2} s; reconnect failures {}, streams reopened {}",
            self.caught_up, self.connected, self.catch_up_s, self.complete, self.complete_s, self.reconnect_failures, self.reopened
        ));
        out.push(format!("    per-subscriber catch-up: {}", self.catch_up.line()));
        out.push(format!("    live latency:            {}", self.live_latency.line()));
        if let Some(e) = &self.first_error {
            out.push(format!("    first stream error: {e}"));
        }
        out.push(format!(
            "  accounting: {} of {} events; lost {}  duplicated {}  out-of-order {}  unexpected {}",
            self.received_events, self.expected_events, self.lost, self.duplicated, self.out_of_order, self.unexpected
        ));
        if let Some(s) = &self.server {
            out.push(format!(
                "  server:     pids {:?}: {:.2} CPU s in the storm, {:.2} us per delivered event; RSS {} KiB connected, {} KiB at end",
                s.pids, s.cpu_s, s.cpu_us_per_event, s.rss_connected_kib, s.rss_end_kib
            ));
        }
        out.push(format!("  generator:  peak RSS {} KiB, {} thread(s)", self.generator_rss_peak_kib, self.threads));
        out.push(format!("  result:     {}", if self.ok { "ok" } else { "FAILED" }));
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
