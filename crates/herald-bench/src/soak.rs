//! `soak`: an hour (or --duration) of moderate load with subscribers that
//! keep dropping and resuming, to show that the server's memory and open
//! files stay flat and that no resume loses or repeats a notification.
//!
//! Phases: create a tenant, a signing key and one token per subscriber
//! (user `u<i>` on channel `soak.<i mod C>`); sample the idle server; start
//! every subscriber and the publisher and sample every --sample until
//! --duration; stop publishing and let every subscriber reconnect, stay and
//! catch up (at most --drain); sample; close every stream; once the server
//! counts no connection, sample again; then judge ([`verdict`]).

mod check;
mod publisher;
mod sample;
mod subscriber;
mod verdict;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use self::publisher::{Plan, Published};
use self::sample::{Client, Process, Sample, Stage, SystemStats};
use self::subscriber::{Phase, Shared, Spec};
use self::verdict::{Check, Delivery};
use crate::api::{Api as AdminApi, bearer};
use crate::cli::SoakArgs;
use crate::endpoint::Endpoint;
use crate::fanpub::{Api, Publisher};
use crate::procfs;
use crate::setup::{self, unix_micros};
use crate::stats::{Errors, Summary};

/// Longest a single publish may take before it is retried.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// Open files kept free for the publisher and /proc reads.
const FD_RESERVE: u64 = 100;
/// How often the drain looks at the subscribers' progress.
const POLL: Duration = Duration::from_millis(200);
/// How long the publisher may take to commit the notification in hand once told to stop.
const PUBLISH_FINISH: Duration = Duration::from_secs(60);
/// How long closed streams may take to leave the server's count.
const CLOSE_WAIT: Duration = Duration::from_secs(30);
/// Pause after the server counts no connection, before the last sample,
/// so its sockets are surely released.
const SETTLE: Duration = Duration::from_secs(2);
/// Longest default warm-up.
const MAX_DEFAULT_WARMUP_S: u64 = 300;

/// Figures of a `soak` run.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub bench: &'static str,
    pub url: String,
    pub tenant: String,
    pub seed: u64,
    pub duration_s: u64,
    pub subscribers: u32,
    pub channels: u32,
    pub rate: u32,
    pub direct_pct: u8,
    pub life_s: (u64, u64),
    pub pause_pct: u8,
    pub pause_s: (u64, u64),
    pub sample_s: u64,
    pub warmup_s: u64,
    pub server_pid: Option<u32>,
    pub fd_limit: u64,
    pub published: u64,
    pub publish_rate_achieved: f64,
    pub publish_retries: u64,
    pub publish_errors: Errors,
    pub first_publish_error: Option<String>,
    /// First attempt to commit, retries included.
    pub publish_latency: Summary,
    pub max_publish_lag_ms: f64,
    pub connects: u64,
    pub drops: u64,
    pub pauses: u64,
    pub server_ended: u64,
    pub first_server_end: Option<String>,
    pub connect_errors: u64,
    pub first_connect_error: Option<String>,
    /// How long every subscriber took to catch up after publishing stopped.
    pub drain_s: f64,
    pub delivery: Delivery,
    pub samples: Vec<Sample>,
    pub checks: Vec<Check>,
    pub ok: bool,
}

impl SoakReport {
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "soak: {} subscribers on {} channels, {}/s ({}% direct) for {} s against {} (seed {})",
                self.subscribers, self.channels, self.rate, self.direct_pct, self.duration_s, self.url, self.seed
            ),
            format!(
                "  churn:      connections live {}-{} s; {}% of drops pause {}-{} s",
                self.life_s.0, self.life_s.1, self.pause_pct, self.pause_s.0, self.pause_s.1
            ),
            format!(
                "  published:  {} ({:.1}/s), {} retried ({}), publish latency {}, max lag {:.1} ms",
                self.published,
                self.publish_rate_achieved,
                self.publish_retries,
                self.publish_errors.line(),
                self.publish_latency.line(),
                self.max_publish_lag_ms
            ),
            format!(
                "  streams:    {} opened, {} dropped by the client ({} then paused), {} ended by the server, {} connect errors",
                self.connects, self.drops, self.pauses, self.server_ended, self.connect_errors
            ),
        ];
        if let Some(e) = &self.first_connect_error {
            lines.push(format!("  first connect error: {e}"));
        }
        if let Some(e) = &self.first_server_end {
            lines.push(format!("  first stream the server ended: {e}"));
        }
        if let Some(e) = &self.first_publish_error {
            lines.push(format!("  first publish error: {e}"));
        }
        lines.push(format!("  drain:      every subscriber caught up in {:.1} s", self.drain_s));
        lines.push(format!("samples (warm-up {} s):", self.warmup_s));
        lines.extend(sample::table(&self.samples).into_iter().map(|l| format!("  {l}")));
        lines.push("verdict:".into());
        for c in &self.checks {
            lines.push(format!("  {:<16} {}  {}", c.name, if c.ok { "ok    " } else { "FAILED" }, c.detail));
        }
        lines.push(format!("  result:          {}", if self.ok { "ok" } else { "FAILED" }));
        lines
    }
}

/// Reads the server and the client at one moment.
struct Sampler<'a> {
    api: AdminApi,
    operator_key: &'a str,
    pid: Option<u32>,
    stats_error: Option<String>,
}

impl Sampler<'_> {
    async fn take(&mut self, stage: Stage, t_s: f64, client: Client) -> anyhow::Result<Sample> {
        // The connection count first and the open files right after, so the
        // stats call's own connection is open for both.
        let connections = match self.api.get::<SystemStats>("/v1/stats", self.operator_key).await {
            Ok(s) => Some(s.totals.connections.total),
            Err(e) => {
                if self.stats_error.is_none() {
                    eprintln!("soak: GET /v1/stats failed: {e:#}");
                    self.stats_error = Some(format!("{e:#}"));
                }
                None
            }
        };
        let server = self.pid.map(Process::read).transpose().context("reading the server's figures from /proc")?;
        Ok(Sample { stage, t_s, server, server_connections: connections, client })
    }
}

fn client_now(shared: &Shared, published: &Published) -> Client {
    Client {
        open_streams: shared.open.load(Relaxed),
        published: published.total.load(Relaxed),
        publish_retries: published.retries.load(Relaxed),
        publish_lag_ms: published.lag_us.load(Relaxed) as f64 / 1000.0,
        connects: shared.connects.load(Relaxed),
        drops: shared.drops.load(Relaxed),
        pauses: shared.pauses.load(Relaxed),
        server_ended: shared.server_ended.load(Relaxed),
        connect_errors: shared.connect_errors.load(Relaxed),
        counts: shared.counts.now(),
    }
}

/// What each subscriber still lacks of what was committed for it.
fn missing(shared: &Shared, published: &Published, channels: usize) -> u64 {
    shared
        .progress
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let broadcast = published.broadcast[i % channels].load(Relaxed).saturating_sub(p.next_broadcast.load(Relaxed));
            let direct = published.direct[i].load(Relaxed).saturating_sub(p.next_direct.load(Relaxed));
            broadcast + direct
        })
        .sum()
}

fn check_args(args: &SoakArgs) -> anyhow::Result<()> {
    if args.duration == 0 || args.sample == 0 {
        bail!("--duration and --sample must be above zero");
    }
    if args.min_life == 0 || args.min_life > args.max_life {
        bail!("--min-life must be above zero and at most --max-life");
    }
    if args.min_pause > args.max_pause {
        bail!("--min-pause must be at most --max-pause");
    }
    if args.out.as_ref().is_some_and(|p| p.extension().is_some_and(|e| e == "csv")) {
        bail!("--out names the JSON file; the CSV goes beside it");
    }
    if args.subscribers < args.channels {
        bail!("--subscribers must be at least --channels, so every channel has a subscriber");
    }
    Ok(())
}

/// Runs the `soak` benchmark and returns its figures.
pub async fn run(args: &SoakArgs, allow_remote: bool) -> anyhow::Result<SoakReport> {
    check_args(args)?;
    let fd_limit = procfs::raise_fd_limit()?;
    let n = args.subscribers;
    if u64::from(n) + FD_RESERVE > fd_limit {
        bail!("{n} streams need more open files than this process may hold ({fd_limit})");
    }
    let warmup_s = args.warmup.unwrap_or((args.duration / 10).min(MAX_DEFAULT_WARMUP_S));
    let seed = args.seed.unwrap_or_else(unix_micros);
    let op = args.operator.operator_key.as_str();

    // Setup.
    let endpoint = Endpoint::resolve(&args.url, allow_remote).await?;
    let mut api = AdminApi::new(endpoint.clone());
    let tenant = setup::create_tenant(&mut api, op, "soak").await?;
    let signing = setup::create_signing_key(&mut api, op, &tenant.id).await?;
    let channels: Vec<String> = (0..args.channels).map(|c| format!("soak.{c}")).collect();
    let ttl = args.duration + args.drain + 3600;
    let paths = (0..n as usize)
        .map(|i| {
            let channel = &channels[i % channels.len()];
            let token = setup::subscriber_token(&signing, &format!("u{i}"), std::slice::from_ref(channel), ttl)?;
            Ok(endpoint.uri(&format!("/v1/tenants/{}/stream?channel={channel}&access_token={token}", tenant.id))?.to_string())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!("setup: tenant {} ({}) on {}, seed {seed}", tenant.name, tenant.id, endpoint.url);
    let spec = Arc::new(Spec {
        addr: endpoint.addr,
        host: endpoint.host.to_str().unwrap_or_default().to_owned(),
        paths,
        life_ms: (args.min_life * 1000, args.max_life * 1000),
        pause_pct: args.pause_pct,
        pause_ms: (args.min_pause * 1000, args.max_pause * 1000),
        seed,
    });
    let publisher = Publisher::new(
        endpoint.clone(),
        Api::Herald { tenant: tenant.id.clone(), auth: bearer(&tenant.publish_key)? },
        channels.clone(),
        PUBLISH_TIMEOUT,
    );
    let shared = Arc::new(Shared::new(n as usize));
    let published = Arc::new(Published::new(channels.len(), n as usize));
    let mut sampler = Sampler { api, operator_key: op, pid: args.server_pid, stats_error: None };
    let mut samples = vec![sampler.take(Stage::Before, 0.0, Client::default()).await?];
    println!("samples every {} s (warm-up {warmup_s} s):", args.sample);
    let print_last = |samples: &[Sample]| {
        let table = sample::table(samples);
        if samples.len() == 1 {
            println!("  {}", table[0]);
        }
        println!("  {}", table.last().expect("a row per sample"));
    };
    print_last(&samples);

    // Load.
    let (phase_tx, phase) = watch::channel(Phase::Churn);
    let slots = Arc::new(Semaphore::new(args.connect_concurrency as usize));
    let start = Instant::now();
    let tasks: Vec<_> =
        (0..n).map(|i| tokio::spawn(subscriber::run(i, spec.clone(), shared.clone(), slots.clone(), phase.clone()))).collect();
    let (stop_tx, stop) = watch::channel(false);
    let (give_up_tx, give_up) = watch::channel(false);
    let plan = Plan { rate: args.rate, direct_pct: args.direct_pct, users: n, seed: seed.rotate_left(17) };
    let publishing = tokio::spawn(publisher::run(publisher, plan, published.clone(), stop, give_up));
    let end = start + Duration::from_secs(args.duration);
    let every = Duration::from_secs(args.sample);
    let mut next = start + every;
    while next <= end {
        tokio::time::sleep_until(next).await;
        let s = sampler.take(Stage::Load, start.elapsed().as_secs_f64(), client_now(&shared, &published)).await?;
        samples.push(s);
        print_last(&samples);
        next += every;
    }
    tokio::time::sleep_until(end).await;

    // Stop publishing, then let every subscriber catch up.
    let _ = stop_tx.send(true);
    let publish_s = start.elapsed().as_secs_f64();
    let finish = tokio::time::timeout(PUBLISH_FINISH, publishing).await;
    if finish.is_err() {
        let _ = give_up_tx.send(true);
    }
    let _ = phase_tx.send(Phase::Hold);
    let drain_start = Instant::now();
    let drain_until = drain_start + Duration::from_secs(args.drain);
    while missing(&shared, &published, channels.len()) > 0 && Instant::now() < drain_until {
        tokio::time::sleep(POLL).await;
    }
    let drain_s = drain_start.elapsed().as_secs_f64();
    let lacking = missing(&shared, &published, channels.len());
    samples.push(sampler.take(Stage::Drained, start.elapsed().as_secs_f64(), client_now(&shared, &published)).await?);
    print_last(&samples);

    // Close every stream; sample once the server has let them all go.
    let _ = phase_tx.send(Phase::Stop);
    for task in tasks {
        task.await.context("a subscriber panicked")?;
    }
    let close_until = Instant::now() + CLOSE_WAIT;
    loop {
        let s = sampler.take(Stage::After, start.elapsed().as_secs_f64(), client_now(&shared, &published)).await?;
        if s.server_connections == Some(0) || Instant::now() >= close_until {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    tokio::time::sleep(SETTLE).await;
    samples.push(sampler.take(Stage::After, start.elapsed().as_secs_f64(), client_now(&shared, &published)).await?);
    print_last(&samples);

    // Judge.
    let delivery = Delivery { found: shared.counts.now(), missing: lacking };
    let checks = vec![
        verdict::memory(&samples, warmup_s as f64, args.rss_tolerance_pct),
        verdict::open_files(&samples, warmup_s as f64, args.fd_tolerance),
        verdict::delivery(&delivery),
    ];
    let total = published.total.load(Relaxed);
    let ok = checks.iter().all(|c| c.ok) && total > 0;
    let report = SoakReport {
        bench: "soak",
        url: args.url.clone(),
        tenant: tenant.id,
        seed,
        duration_s: args.duration,
        subscribers: n,
        channels: args.channels,
        rate: args.rate,
        direct_pct: args.direct_pct,
        life_s: (args.min_life, args.max_life),
        pause_pct: args.pause_pct,
        pause_s: (args.min_pause, args.max_pause),
        sample_s: args.sample,
        warmup_s,
        server_pid: args.server_pid,
        fd_limit,
        published: total,
        publish_rate_achieved: total as f64 / publish_s,
        publish_retries: published.retries.load(Relaxed),
        publish_errors: published.errors.lock().expect("errors poisoned").clone(),
        first_publish_error: published.first_error.lock().expect("error slot poisoned").clone(),
        publish_latency: published.latency.lock().expect("latency poisoned").summary(),
        max_publish_lag_ms: published.max_lag_us.load(Relaxed) as f64 / 1000.0,
        connects: shared.connects.load(Relaxed),
        drops: shared.drops.load(Relaxed),
        pauses: shared.pauses.load(Relaxed),
        server_ended: shared.server_ended.load(Relaxed),
        first_server_end: shared.first_server_end.lock().expect("error slot poisoned").clone(),
        connect_errors: shared.connect_errors.load(Relaxed),
        first_connect_error: shared.first_connect_error.lock().expect("error slot poisoned").clone(),
        drain_s,
        delivery,
        samples,
        checks,
        ok,
    };
    if let Some(path) = &args.out {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        let csv_path = path.with_extension("csv");
        std::fs::write(&csv_path, sample::csv(&report.samples)).with_context(|| format!("writing {}", csv_path.display()))?;
        println!("samples written to {} and {}", path.display(), csv_path.display());
    }
    Ok(report)
}
