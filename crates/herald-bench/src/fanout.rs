//! `fanout`: many idle event streams, then notifications to all of them.
//!
//! Phases, each bounded by the run's deadline: open every stream (at most
//! --connect-concurrency connects in flight), publish warm-up events until
//! every open stream has one (so the server has surely subscribed it),
//! settle and read the server's memory, optionally stay idle, publish the
//! measured notifications on a fixed schedule, drain, then stop every
//! subscriber and add up what each saw.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::cli::FanoutArgs;
use crate::plan::{self, Plan, Target};
use crate::procfs::{self, CpuTimes, Memory};
use crate::report::{FanoutReport, ServerUsage};
use crate::setup::unix_micros;
use crate::stages;
use crate::stats::{Errors, Latency};
use crate::subscriber::{self, Shared};

/// How often to publish a warm-up event while streams are not all live.
const WARMUP_EVERY: Duration = Duration::from_millis(500);
/// How long warm-up may take.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the run looks at the subscribers' progress.
const POLL: Duration = Duration::from_millis(20);
/// Open files kept free for the publisher and /proc reads.
const FD_RESERVE: u64 = 100;
/// Failed sequence numbers kept to tell unacknowledged deliveries apart.
const MAX_FAILED_KEPT: usize = 10_000;

/// Polls `done` every [`POLL`] until it holds or `until` passes; tells which.
pub(crate) async fn wait_until(until: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep_until((Instant::now() + POLL).min(until)).await;
    }
}

/// The memory of all of `pids` together (`None` without any).
pub(crate) fn server_memory(pids: &[u32]) -> anyhow::Result<Option<Memory>> {
    if pids.is_empty() {
        return Ok(None);
    }
    let mut all = Memory::default();
    for p in pids {
        let m = procfs::memory(&p.to_string()).with_context(|| format!("reading the memory of server pid {p}"))?;
        all.rss_kib += m.rss_kib;
        all.hwm_kib += m.hwm_kib;
    }
    Ok(Some(all))
}

/// CPU seconds used so far by all of `pids` together (`None` without any).
pub(crate) fn server_cpu(pids: &[u32]) -> Option<f64> {
    server_cpu_times(pids).map(CpuTimes::total)
}

/// Like [`server_cpu`], user and system time apart.
pub(crate) fn server_cpu_times(pids: &[u32]) -> Option<CpuTimes> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold(CpuTimes::default(), |sum, p| procfs::cpu_times(&p.to_string()).ok().map(|t| sum + t))
}

/// `seconds` spread over `events`, in microseconds (0 without events).
fn per_event_us(seconds: f64, events: u64) -> f64 {
    if events > 0 { seconds * 1e6 / events as f64 } else { 0.0 }
}

/// Runs the `fanout` benchmark and returns its figures.
pub async fn run(args: &FanoutArgs, allow_remote: bool, threads: u16) -> anyhow::Result<FanoutReport> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.timeout);
    let publish_secs = f64::from(args.messages) / f64::from(args.rate);
    let needed = publish_secs + (args.idle + args.settle + args.drain) as f64 + 10.0;
    if needed > args.timeout as f64 {
        bail!(
            "publishing {} at {}/s plus --idle, --settle and --drain takes about {needed:.0} s; raise --timeout",
            args.messages,
            args.rate
        );
    }
    let fd_limit = procfs::raise_fd_limit()?;
    let n = u64::from(args.subscribers);
    if n + FD_RESERVE > fd_limit {
        bail!(
            "{n} streams need more open files than this process may hold ({fd_limit}); use at most {} per process and run several",
            fd_limit.saturating_sub(FD_RESERVE)
        );
    }
    let target = Target {
        url: args.url.clone(),
        operator_key: args.operator_key.clone(),
        subscribe_template: args.subscribe_template.clone(),
        publish_template: args.publish_template.clone(),
        channels: args.channels,
        source_ips: args.source_ips,
        connect_timeout: args.connect_timeout,
        token_seconds: args.timeout + 60,
        messages: args.messages,
    };
    let Plan { mode, target, tenant, spec, mut publisher } = plan::plan(&target, allow_remote).await?;
    let pid = args.server_pid.as_slice();
    let mem_before = server_memory(pid)?;

    // Connect.
    println!("connecting {n} subscribers ({} at a time) ...", args.connect_concurrency);
    let shared = Arc::new(Shared::new(usize::from(threads) * 8));
    let spec = Arc::new(spec);
    let slots = Arc::new(Semaphore::new(args.connect_concurrency as usize));
    let (stop_tx, stop) = watch::channel(false);
    let connect_start_us = unix_micros();
    let tasks: Vec<_> = (0..args.subscribers as usize)
        .map(|i| tokio::spawn(subscriber::run(i, spec.clone(), shared.clone(), slots.clone(), stop.clone())))
        .collect();
    wait_until(deadline, || shared.connected.load(Relaxed) + shared.connect_failed.load(Relaxed) >= n).await;
    let connected = shared.connected.load(Relaxed);
    let connect_s = shared.connects_done_us.load(Relaxed).saturating_sub(connect_start_us) as f64 / 1e6;

    // Warm up: every open stream must have received something.
    println!("warming up {connected} streams ...");
    let warm_start = Instant::now();
    let warm_until = deadline.min(warm_start + WARMUP_TIMEOUT);
    let mut round = 0;
    let mut warm_error = None;
    while Instant::now() < warm_until {
        if let Err((kind, detail)) = publisher.warm_up(round).await {
            warm_error = Some(format!("warm-up publish failed ({kind}): {detail}"));
            break;
        }
        round += 1;
        let next = (Instant::now() + WARMUP_EVERY).min(warm_until);
        if wait_until(next, || shared.warmed.load(Relaxed) + shared.ended.load(Relaxed) >= connected).await {
            break;
        }
    }
    if let Some(e) = warm_error {
        let _ = stop_tx.send(true);
        bail!(e);
    }
    let live = shared.warmed.load(Relaxed);
    let warmup_s = warm_start.elapsed().as_secs_f64();

    // Idle: memory once settled, then CPU over the idle window.
    tokio::time::sleep_until((Instant::now() + Duration::from_secs(args.settle)).min(deadline)).await;
    let mem_connected = server_memory(pid)?;
    let mut idle_cpu_pct = None;
    if args.idle > 0 {
        println!("idle for {} s ...", args.idle);
        let (cpu0, t0) = (server_cpu(pid), Instant::now());
        tokio::time::sleep_until((t0 + Duration::from_secs(args.idle)).min(deadline)).await;
        if let (Some(a), Some(b)) = (cpu0, server_cpu(pid)) {
            idle_cpu_pct = Some(100.0 * (b - a) / t0.elapsed().as_secs_f64());
        }
    }

    // Publish on the schedule: group g (sequence numbers g*B ..) is due at g*B / rate.
    println!("publishing {} messages at {}/s (batch {}) to {live} live streams ...", args.messages, args.rate, args.batch);
    let messages = u64::from(args.messages);
    let batch = u64::from(args.batch);
    // Herald's own step timings, read around the measured publishes.
    let stages_before = if mode == "herald" { Some(stages::scrape(&publisher.endpoint).await?) } else { None };
    let cpu_publish0 = server_cpu_times(pid);
    let generator_cpu0 = procfs::cpu_times("self").ok();
    let publish_start = Instant::now() + Duration::from_millis(10);
    let first_publish_us = unix_micros() + 10_000;
    let mut published = 0u64;
    let mut failed_seqs = Vec::new();
    let mut errors = Errors::default();
    let mut first_publish_error = None;
    let mut max_lag_us = 0u64;
    let mut publish_latency = Latency::default();
    for first in (0..messages).step_by(batch as usize) {
        let count = batch.min(messages - first);
        let due = publish_start + Duration::from_secs_f64(first as f64 / f64::from(args.rate));
        if due >= deadline {
            errors.add("deadline");
            failed_seqs.extend((first..first + count).take(MAX_FAILED_KEPT.saturating_sub(failed_seqs.len())));
            continue;
        }
        tokio::time::sleep_until(due).await;
        max_lag_us = max_lag_us.max(due.elapsed().as_micros() as u64);
        let sent = Instant::now();
        match publisher.publish(first, count).await {
            Ok(()) => {
                publish_latency.record(sent.elapsed());
                published += count;
            }
            Err((kind, detail)) => {
                first_publish_error.get_or_insert_with(|| format!("seq {first}: {kind}: {detail}"));
                errors.add(kind);
                failed_seqs.extend((first..first + count).take(MAX_FAILED_KEPT.saturating_sub(failed_seqs.len())));
            }
        }
    }
    let publish_s = publish_start.elapsed().as_secs_f64();

    // Drain: until every open stream has every acknowledged event.
    let drain_until = deadline.min(Instant::now() + Duration::from_secs(args.drain));
    wait_until(drain_until, || shared.distinct.load(Relaxed) >= (connected - shared.ended.load(Relaxed)) * published).await;
    let publish_cpu = match (cpu_publish0, server_cpu_times(pid)) {
        (Some(a), Some(b)) => b - a,
        _ => CpuTimes::default(),
    };
    let publish_cpu_s = publish_cpu.total();
    let generator_cpu = match (generator_cpu0, procfs::cpu_times("self").ok()) {
        (Some(a), Some(b)) => b - a,
        _ => CpuTimes::default(),
    };
    let publish_cpu_pct = 100.0 * publish_cpu_s / publish_start.elapsed().as_secs_f64().max(1e-3);
    let mem_end = server_memory(pid)?;
    let stages = match &stages_before {
        Some(before) => stages::between(before, &stages::scrape(&publisher.endpoint).await?),
        None => Vec::new(),
    };
    let _ = stop_tx.send(true);

    // Sum up every subscriber.
    let (mut lost, mut duplicated, mut out_of_order, mut unacknowledged, mut unexpected) = (0, 0, 0, 0, 0);
    for task in tasks {
        let o = task.await.context("a subscriber panicked")?;
        if !o.connected {
            continue;
        }
        let unacked = failed_seqs.iter().filter(|&&s| o.seqs.contains(s)).count() as u64;
        unacknowledged += unacked;
        lost += published.saturating_sub(o.seqs.distinct - unacked);
        duplicated += o.seqs.duplicated;
        out_of_order += o.seqs.out_of_order;
        unexpected += o.unexpected;
    }
    let received = shared.received.load(Relaxed);
    let last_event_us = shared.last_event_us.load(Relaxed);
    let delivery_s = last_event_us.saturating_sub(first_publish_us) as f64 / 1e6;
    let connect_failed = shared.connect_failed.load(Relaxed);
    let streams_ended = shared.ended.load(Relaxed);
    let publish_errors_total = errors.total();
    let server = match (mem_before, mem_connected, mem_end) {
        (Some(before), Some(conn), Some(end)) => Some(ServerUsage {
            pids: pid.to_vec(),
            rss_before_kib: before.rss_kib,
            rss_connected_kib: conn.rss_kib,
            rss_end_kib: end.rss_kib,
            rss_peak_kib: end.hwm_kib,
            kib_per_idle_connection: if connected > 0 { (conn.rss_kib as f64 - before.rss_kib as f64) / connected as f64 } else { 0.0 },
            idle_cpu_pct,
            publish_cpu_pct,
            cpu_us_per_event: per_event_us(publish_cpu_s, received),
            user_us_per_event: per_event_us(publish_cpu.user, received),
            system_us_per_event: per_event_us(publish_cpu.system, received),
        }),
        _ => None,
    };
    let ok = connect_failed == 0
        && connected == n
        && live == connected
        && streams_ended == 0
        && publish_errors_total == 0
        && published == messages
        && lost == 0
        && duplicated == 0
        && out_of_order == 0
        && unacknowledged == 0
        && unexpected == 0;
    let first_connect_error = shared.first_connect_error.lock().expect("error slot poisoned").clone();
    let first_stream_end = shared.first_end.lock().expect("error slot poisoned").clone();
    Ok(FanoutReport {
        bench: "fanout",
        mode,
        target,
        tenant,
        subscribers: args.subscribers,
        channels: args.channels,
        messages: args.messages,
        rate: args.rate,
        batch: args.batch,
        source_ips: args.source_ips,
        threads,
        fd_limit,
        connected,
        connect_failed,
        first_connect_error,
        connect_s,
        connects_per_s: if connect_s > 0.0 { connected as f64 / connect_s } else { 0.0 },
        live,
        warmup_s,
        published,
        publish_errors_total,
        publish_errors: errors,
        first_publish_error,
        publish_s,
        publish_rate_achieved: if publish_s > 0.0 { published as f64 / publish_s } else { 0.0 },
        max_schedule_lag_us: max_lag_us,
        publish_latency: publish_latency.summary(),
        expected_events: connected * published,
        received_events: received,
        lost,
        duplicated,
        out_of_order,
        unacknowledged,
        unexpected,
        streams_ended,
        first_stream_end,
        delivery_s,
        delivered_per_s: if delivery_s > 0.0 { received as f64 / delivery_s } else { 0.0 },
        latency: shared.latency().summary(),
        stages,
        server,
        generator_rss_peak_kib: procfs::memory("self").map(|m| m.hwm_kib).unwrap_or(0),
        generator_us_per_event: per_event_us(generator_cpu.total(), received),
        generator_kernel_us_per_event: per_event_us(generator_cpu.system, received),
        ok,
    })
}
