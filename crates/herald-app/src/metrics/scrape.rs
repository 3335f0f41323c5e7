//! The figures read at scrape time: connections and notification counts
//! per tenant (from [`crate::usage::Usage`]), the hub's overflow counts,
//! the plugin host's call counters, the bus's state, and the process's
//! memory and file descriptors.

use std::collections::HashSet;

use herald_core::ids::TenantId;
use herald_hub::HubCounters;
use herald_hub::relay::BusStatus;
use herald_plugins::PluginStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::tenant_labels::{OTHER, TenantLabels};
use crate::App;

/// One tenant's (or `_other`'s) figures.
#[derive(Debug, Default, Clone, Copy)]
struct TenantFigures {
    sse: u64,
    long_poll: u64,
    published: u64,
    delivered: u64,
}

impl TenantFigures {
    fn add(&mut self, o: &TenantFigures) {
        self.sse += o.sse;
        self.long_poll += o.long_poll;
        self.published += o.published;
        self.delivered += o.delivered;
    }
}

/// Everything read from the node's state for one scrape.
#[derive(Debug)]
pub(super) struct Snapshot {
    /// `None` when tenants are not labelled: one series for all.
    tenants: Vec<(Option<String>, TenantFigures)>,
    hub: HubCounters,
    plugin_dropped: (u64, u64),
    plugins: PluginStats,
    /// Hook jobs waiting for a plugin worker.
    plugin_queue: usize,
    bus: BusStatus,
    origins: crate::allowed_origins::CacheSize,
    /// Cross-origin refusals so far, and the refusal tables' sizes.
    origin_refusals: (u64, crate::origin_refusals::RefusalsSize),
    process: Option<Process>,
}

/// The process's own figures (Linux `/proc`).
#[derive(Debug, Clone, Copy)]
struct Process {
    resident_bytes: u64,
    open_fds: u64,
    threads: u64,
}

impl Snapshot {
    pub fn take(state: &App, labels: &mut TenantLabels) -> Self {
        let usage = state.inner.usage.snapshot_all();
        let figures: Vec<(TenantId, TenantFigures)> = usage
            .into_iter()
            .map(|(t, s)| {
                (t, TenantFigures { sse: s.sse, long_poll: s.long_poll, published: s.published.total, delivered: s.delivered.total })
            })
            .collect();
        let tenants = if labels.enabled() {
            let busy: Vec<(TenantId, u64)> =
                figures.iter().map(|(t, f)| (t.clone(), (f.sse + f.long_poll) * 1000 + f.published + f.delivered)).collect();
            let chosen: &HashSet<TenantId> = labels.choose(&busy);
            let mut other = TenantFigures::default();
            let mut out = Vec::with_capacity(chosen.len() + 1);
            for (t, f) in &figures {
                if chosen.contains(t) {
                    out.push((Some(t.as_str().to_owned()), *f));
                } else {
                    other.add(f);
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out.push((Some(OTHER.to_owned()), other));
            out
        } else {
            let mut all = TenantFigures::default();
            figures.iter().for_each(|(_, f)| all.add(f));
            vec![(None, all)]
        };
        let metrics = &state.inner.metrics;
        Self {
            tenants,
            hub: state.inner.hub.counters(),
            plugin_dropped: metrics.plugin_dropped_counts(),
            plugins: state.inner.chains.host().totals(),
            plugin_queue: state.inner.chains.workers().queued(),
            bus: state.inner.bus.status(),
            origins: state.inner.origins.size(),
            origin_refusals: (state.inner.origins.refusals().total(), state.inner.origins.refusals().size()),
            process: Process::read(),
        }
    }
}

impl Process {
    #[cfg(target_os = "linux")]
    fn read() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            line[name.len()..].split_whitespace().next()?.parse().ok()
        };
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Some(Self { resident_bytes: field("VmRSS:")? * 1024, open_fds, threads: field("Threads:")? })
    }

    #[cfg(not(target_os = "linux"))]
    fn read() -> Option<Self> {
        None
    }
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, series: &[(Vec<(&str, String)>, u64)]) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    if let [(labels, v)] = series
        && labels.is_empty()
    {
        // `name_total 1`, not `name_total{} 1`.
        return ConstCounter::new(*v).encode(family);
    }
    for (labels, v) in series {
        ConstCounter::new(*v).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, series: &[(Vec<(&str, String)>, i64)]) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    if let [(labels, v)] = series
        && labels.is_empty()
    {
        return ConstGauge::new(*v).encode(family);
    }
    for (labels, v) in series {
        ConstGauge::new(*v).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn label(key: &'static str, value: impl Into<String>) -> (&'static str, String) {
    (key, value.into())
}

fn as_gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let tenant = |t: &Option<String>| t.iter().map(|t| label("tenant", t.as_str())).collect::<Vec<_>>();
        let with = |t: &Option<String>, extra: (&'static str, String)| {
            let mut l = tenant(t);
            l.push(extra);
            l
        };
        let mut connections = Vec::new();
        for (t, f) in &self.tenants {
            connections.push((with(t, label("transport", "sse")), as_gauge(f.sse)));
            connections.push((with(t, label("transport", "long_poll")), as_gauge(f.long_poll)));
        }
        gauge(&mut encoder, "connections", "Open SSE streams and waiting long-polls on this node, by transport", &connections)?;
        let published: Vec<_> = self.tenants.iter().map(|(t, f)| (tenant(t), f.published)).collect();
        counter(&mut encoder, "notifications_published", "Notifications published through this node", &published)?;
        let delivered: Vec<_> = self.tenants.iter().map(|(t, f)| (tenant(t), f.delivered)).collect();
        counter(
            &mut encoder,
            "notifications_delivered",
            "Notifications handed to subscribers on this node (streams, live and replayed, and polls)",
            &delivered,
        )?;

        gauge(
            &mut encoder,
            "recent_history_bytes",
            "Bytes of recent history this node keeps in memory for streams that resume",
            &[(vec![], i64::try_from(self.hub.history_bytes).unwrap_or(i64::MAX))],
        )?;
        counter(
            &mut encoder,
            "subscriber_queue_overflows",
            "Streams closed because their queue was full (too slow a reader); they resume from history",
            &[(vec![], self.hub.queue_overflows)],
        )?;
        let (filtered, failed) = self.plugin_dropped;
        counter(
            &mut encoder,
            "notifications_dropped",
            "Notifications not delivered to a subscriber, by reason: slow_subscriber (not queued live; replayed when it resumes), \
             plugin_filtered, plugin_failed",
            &[
                (vec![label("reason", "slow_subscriber")], self.hub.undelivered),
                (vec![label("reason", "plugin_filtered")], filtered),
                (vec![label("reason", "plugin_failed")], failed),
            ],
        )?;

        let p = &self.plugins;
        let outcomes = [
            ("ok", p.ok),
            ("trap", p.traps),
            ("timeout", p.timeouts),
            ("out_of_fuel", p.out_of_fuel),
            ("memory_exceeded", p.memory_exceeded),
            ("invalid_output", p.invalid_output),
            ("other_error", p.other_errors),
        ];
        let calls: Vec<_> = outcomes.iter().map(|(o, v)| (vec![label("outcome", *o)], *v)).collect();
        counter(&mut encoder, "plugin_calls", "Plugin calls, by outcome (errors: every outcome but ok)", &calls)?;

        gauge(
            &mut encoder,
            "plugin_jobs_queued",
            "Plugin hook jobs waiting for a plugin worker, across tenants",
            &[(vec![], as_gauge(self.plugin_queue as u64))],
        )?;

        if self.bus != BusStatus::None {
            let up = i64::from(self.bus == BusStatus::Connected);
            gauge(&mut encoder, "bus_connected", "1 when this node hears the bus between nodes", &[(vec![], up)])?;
        }
        gauge(
            &mut encoder,
            "allowed_origins_cache_entries",
            "Entries in this node's allowed-origins cache (bounded), by kind: tenant (exists) or unknown (found not to exist)",
            &[
                (vec![label("kind", "tenant")], as_gauge(self.origins.tenants as u64)),
                (vec![label("kind", "unknown")], as_gauge(self.origins.unknown as u64)),
            ],
        )?;
        let (refused, refusals) = self.origin_refusals;
        counter(
            &mut encoder,
            "origin_refusals",
            "Cross-origin requests to subscriber endpoints (stream, polls, read state, session; preflights included) from an Origin \
             not in the tenant's allowed origins, for tenants that exist; the browser hides the answer. Per tenant: \
             GET /v1/tenants/{tenant}/allowed-origins/refusals",
            &[(vec![], refused)],
        )?;
        gauge(
            &mut encoder,
            "origin_refusal_entries",
            "Entries in this node's tables of cross-origin refusals (bounded), by kind: tenant (counts and recent origins per tenant) \
             or logged (tenant and origin pairs logged in the last minute)",
            &[
                (vec![label("kind", "tenant")], as_gauge(refusals.tenants as u64)),
                (vec![label("kind", "logged")], as_gauge(refusals.logged as u64)),
            ],
        )?;
        gauge(&mut encoder, "build_info", "Herald's version", &[(vec![label("version", env!("CARGO_PKG_VERSION"))], 1)])?;

        if let Some(p) = self.process {
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory of the process",
                &[(vec![], as_gauge(p.resident_bytes))],
            )?;
            gauge(&mut encoder, "process_open_fds", "Open file descriptors (sockets included)", &[(vec![], as_gauge(p.open_fds))])?;
            gauge(&mut encoder, "process_threads", "Threads of the process", &[(vec![], as_gauge(p.threads))])?;
        }
        Ok(())
    }
}
