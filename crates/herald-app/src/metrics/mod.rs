//! Prometheus metrics: what `GET /metrics` reports, in the OpenMetrics
//! text format.
//!
//! Two kinds of figures. Latencies (HTTP requests by route, SQL statements,
//! bus announcements, plugin calls) are histograms, recorded as they happen
//! through observers that the lower crates call without knowing Prometheus.
//! Everything else is read at scrape time from counters the hot paths keep
//! anyway (per-tenant usage, the hub's overflow counts, the plugin host's
//! totals; see [`scrape`]), so a delivery costs nothing more for being
//! measured.
//!
//! Tenant labels are bounded by `tenant_labels` ([`tenant_labels`]): at
//! most that many tenants get a series of their own, the rest are summed
//! under `tenant="_other"`, and `0` drops the label altogether.

mod classic_text;
mod scrape;
mod tenant_labels;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use tenant_labels::TenantLabels;

use crate::App;

/// What `/metrics` exposes.
#[derive(Clone, Copy, Debug)]
pub struct MetricsSettings {
    /// Serve `/metrics` at all (404 when off).
    pub enabled: bool,
    /// Tenants that get series of their own; `0`: no tenant label.
    pub tenant_labels: usize,
}

/// Seconds: from 100 µs to 10 s, for requests, statements and the bus.
const LATENCY_BUCKETS: [f64; 14] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0];
/// Seconds: plugin calls have millisecond deadlines, so finer steps.
const PLUGIN_BUCKETS: [f64; 12] = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    /// The matched route's pattern (`/v1/tenants/{tenant}`), `unmatched`
    /// otherwise: bounded, unlike paths.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

/// Seconds: the steps between a commit and a stream take microseconds
/// when all is well.
const STAGE_BUCKETS: [f64; 16] =
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// The `stage` label of each [`DeliveryStage`], in its order.
const STAGE_NAMES: [&str; 4] = ["relay", "fanout", "queue", "commit"];

fn stage_histogram() -> Histogram {
    Histogram::new(STAGE_BUCKETS)
}

/// A step from a commit to a subscriber's stream, for the latency breakdown.
#[derive(Clone, Copy, Debug)]
pub enum DeliveryStage {
    /// From this node's commit to the relay taking the batch.
    Relay = 0,
    /// The hub's loop handing one batch to every matching stream's queue.
    Fanout,
    /// From the start of that loop to the stream taking the notification
    /// from its queue (the loop before it, the wake-up, the wait for a thread).
    Queue,
    /// A publish group's transaction, `BEGIN` to the end of `COMMIT` (the
    /// statements and the fsync); before the others, listed last to keep
    /// their order.
    Commit,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// This node's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    settings: MetricsSettings,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    queries: Family<OperationLabels, Histogram, fn() -> Histogram>,
    query_failures: Family<OperationLabels, Counter>,
    bus_announce: Histogram,
    bus_announce_failures: Counter,
    plugin_call: Histogram,
    replayed: Counter,
    /// Streams that resumed, by where their history came from.
    resumes: Family<SourceLabels, Counter>,
    /// Time spent in each step from commit to a stream.
    stages: Family<StageLabels, Histogram, fn() -> Histogram>,
    /// `stages`' series, one per [`DeliveryStage`], looked up once: a stream observes one per
    /// wake-up, and the family's lookup (a lock and a hash) cost more than
    /// the observation.
    stage_series: [Histogram; 4],
    /// Notifications plugins kept from subscribers (exported with the
    /// hub's at scrape time, in one family).
    plugin_filtered: Counter,
    plugin_failed: Counter,
    emails: Family<OutcomeLabels, Counter>,
    /// Streams closed with `plugin-budget-exhausted`, by reason.
    hook_closes: Family<ReasonLabels, Counter>,
    tenant_labels: Mutex<TenantLabels>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("settings", &self.inner.settings).finish()
    }
}

/// Why a plugin kept a notification from a subscriber (or from everyone).
#[derive(Clone, Copy, Debug)]
pub(crate) enum PluginDrop {
    /// The plugin chose to: a publish hook withheld it, or a deliver hook
    /// filtered it out for one subscriber.
    Filtered,
    /// The plugin failed and the step's failure policy withheld or skipped it.
    Failed,
}

/// An email's recorded outcome.
#[derive(Clone, Copy, Debug)]
pub(crate) enum EmailOutcome {
    Sent,
    /// A transient failure: tried again later.
    Deferred,
    Failed,
    /// Not sent: received live meanwhile, or the recipient is gone.
    Cancelled,
}

impl Metrics {
    pub fn new(settings: MetricsSettings) -> Self {
        let emails = Family::<OutcomeLabels, Counter>::default();
        // Every outcome from the start, at zero: a dashboard's rate() needs
        // the series before the first event.
        for outcome in ["sent", "deferred", "failed", "cancelled"] {
            let _ = emails.get_or_create(&OutcomeLabels { outcome });
        }
        let resumes = Family::<SourceLabels, Counter>::default();
        let stages: Family<StageLabels, Histogram, fn() -> Histogram> = Family::new_with_constructor(stage_histogram);
        for source in ["memory", "database"] {
            let _ = resumes.get_or_create(&SourceLabels { source });
        }
        let hook_closes = Family::<ReasonLabels, Counter>::default();
        for reason in ["stream-budget", "tenant-busy"] {
            let _ = hook_closes.get_or_create(&ReasonLabels { reason });
        }
        Self {
            inner: Arc::new(Inner {
                settings,
                hook_closes,
                requests: Family::new_with_constructor(latency_histogram),
                queries: Family::new_with_constructor(latency_histogram),
                query_failures: Family::default(),
                bus_announce: latency_histogram(),
                bus_announce_failures: Counter::default(),
                plugin_call: Histogram::new(PLUGIN_BUCKETS),
                replayed: Counter::default(),
                resumes,
                stage_series: STAGE_NAMES.map(|stage| stages.get_or_create(&StageLabels { stage }).clone()),
                stages,
                plugin_filtered: Counter::default(),
                plugin_failed: Counter::default(),
                emails,
                tenant_labels: Mutex::new(TenantLabels::new(settings.tenant_labels)),
            }),
        }
    }

    pub fn settings(&self) -> MetricsSettings {
        self.inner.settings
    }

    /// One SQL statement (the store's query observer).
    pub fn query(&self, operation: &'static str, elapsed: Duration, failed: bool) {
        let labels = OperationLabels { operation };
        self.inner.queries.get_or_create(&labels).observe(elapsed.as_secs_f64());
        if failed {
            self.inner.query_failures.get_or_create(&labels).inc();
        }
    }

    /// One announcement on the bus between nodes (the relay's observer).
    pub fn bus_announce(&self, elapsed: Duration, ok: bool) {
        self.inner.bus_announce.observe(elapsed.as_secs_f64());
        if !ok {
            self.inner.bus_announce_failures.inc();
        }
    }

    /// One plugin call (the plugin host's observer).
    pub fn plugin_call(&self, elapsed: Duration) {
        self.inner.plugin_call.observe(elapsed.as_secs_f64());
    }

    /// The counter of notifications sent from history to resuming streams,
    /// for a stream to keep.
    pub(crate) fn replayed(&self) -> Counter {
        self.inner.replayed.clone()
    }

    /// A stream resumed with `Last-Event-ID`, its history from the node's
    /// recent history in memory or from the database.
    pub(crate) fn resumed(&self, from_memory: bool) {
        let source = if from_memory { "memory" } else { "database" };
        self.inner.resumes.get_or_create(&SourceLabels { source }).inc();
    }

    /// One timed step between a commit and a stream.
    pub fn delivery_stage(&self, stage: DeliveryStage, took: Duration) {
        self.inner.stage_series[stage as usize].observe(took.as_secs_f64());
    }

    /// A stream closed with `plugin-budget-exhausted`.
    pub(crate) fn stream_closed_for_hooks(&self, reason: &'static str) {
        self.inner.hook_closes.get_or_create(&ReasonLabels { reason }).inc();
    }

    pub(crate) fn plugin_dropped(&self, why: PluginDrop) {
        match why {
            PluginDrop::Filtered => self.inner.plugin_filtered.inc(),
            PluginDrop::Failed => self.inner.plugin_failed.inc(),
        };
    }

    /// (filtered, failed) so far.
    fn plugin_dropped_counts(&self) -> (u64, u64) {
        (self.inner.plugin_filtered.get(), self.inner.plugin_failed.get())
    }

    pub(crate) fn email(&self, outcome: EmailOutcome) {
        let outcome = match outcome {
            EmailOutcome::Sent => "sent",
            EmailOutcome::Deferred => "deferred",
            EmailOutcome::Failed => "failed",
            EmailOutcome::Cancelled => "cancelled",
        };
        self.inner.emails.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn request(&self, method: &'static str, route: Option<&str>, status: u16, elapsed: Duration) {
        let labels = RequestLabels { method, route: route.unwrap_or("unmatched").to_owned(), status };
        self.inner.requests.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// The exposition in the Prometheus text format 0.0.4.
    pub fn render_text(&self, state: &App) -> String {
        classic_text::from_openmetrics(&self.render(state))
    }

    /// The exposition in OpenMetrics: the recorded families, then what is
    /// read now from the node's state.
    pub fn render(&self, state: &App) -> String {
        let i = &self.inner;
        let mut registry = Registry::with_prefix("herald");
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to the response head, for streams), by method, matched route and status",
            i.requests.clone(),
        );
        registry.register("db_query_duration_seconds", "Time of SQL statements, by kind", i.queries.clone());
        registry.register("db_query_failures", "SQL statements that failed, by kind", i.query_failures.clone());
        registry.register("bus_announce_duration_seconds", "Time to announce commits on the bus between nodes", i.bus_announce.clone());
        registry.register(
            "bus_announce_failures",
            "Announcements the bus did not take (other nodes catch up by polling)",
            i.bus_announce_failures.clone(),
        );
        registry.register("plugin_call_duration_seconds", "Wall time of plugin calls, whatever their outcome", i.plugin_call.clone());
        registry.register(
            "notifications_replayed",
            "Notifications sent from history to streams that resumed with Last-Event-ID",
            i.replayed.clone(),
        );
        registry.register(
            "delivery_stage_seconds",
            "Time notifications spend in each step from commit to a stream: commit (a publish group's transaction, BEGIN to the \
             end of COMMIT, fsync included), relay (this node's commit to the relay taking the \
             batch), fanout (the hub's loop over one batch's streams), queue (from the start of that loop to a stream taking the \
             notification from its queue; sampled: the first of each wake-up)",
            i.stages.clone(),
        );
        registry.register(
            "stream_resumes",
            "Streams that resumed with Last-Event-ID, by where the history they missed came from: memory (this node's recent \
             history, stream.recent_history_*) or database",
            i.resumes.clone(),
        );
        registry.register(
            "streams_closed_for_hooks",
            "Streams closed with plugin-budget-exhausted: stream-budget (their deliver hooks used up the allowance), tenant-busy (the tenant's hook queue was full)",
            i.hook_closes.clone(),
        );
        registry.register("emails", "Email outcomes recorded by this node's outbox worker", i.emails.clone());
        let snapshot = {
            let mut labels = i.tenant_labels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            scrape::Snapshot::take(state, &mut labels)
        };
        registry.register_collector(Box::new(snapshot));
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}
