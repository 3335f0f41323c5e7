//! `storm`: every subscriber of a node drops at once (a deploy, a network
//! blip, a proxy restart) and comes back with `Last-Event-ID` while
//! notifications keep coming. How long until every one has caught up, what
//! the server spent per delivered event, and whether anything was lost or
//! came twice.
//!
//! Phases, each bounded by the run's deadline: open every stream and warm
//! it up (each remembers the id of the last event it got); drop them all;
//! publish --missed notifications while nobody listens; then reconnect
//! every stream with its id (at most --connect-concurrency connects in
//! flight) while --live more are published at --live-rate. A stream the
//! server ends during the storm comes back with its newest id, as a
//! browser's `EventSource` does.

mod subscriber;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::cli::StormArgs;
use crate::fanout::{server_cpu, server_memory, wait_until};
use crate::plan::{self, Plan, Target};
use crate::procfs;
use crate::report::{StormReport, StormServer};
use crate::setup::unix_micros;
use crate::stats::Errors;
use subscriber::{Phase, Shared};

/// How often to publish a warm-up event while streams are not all live.
const WARMUP_EVERY: Duration = Duration::from_millis(500);
/// Open files kept free for the publisher and /proc reads.
const FD_RESERVE: u64 = 100;
/// Pause after dropping every stream, so the server has seen them go
/// before the missed notifications are published.
const AFTER_DROP: Duration = Duration::from_secs(2);

/// Runs the `storm` benchmark and returns its figures.
pub async fn run(args: &StormArgs, allow_remote: bool, threads: u16) -> anyhow::Result<StormReport> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let fd_limit = procfs::raise_fd_limit()?;
    let n = u64::from(args.subscribers);
    if n + FD_RESERVE > fd_limit {
        bail!(
            "{n} streams need more open files than this process may hold ({fd_limit}); use at most {}",
            fd_limit.saturating_sub(FD_RESERVE)
        );
    }
    let (missed, live) = (u64::from(args.missed), u64::from(args.live));
    let total = missed + live;
    let target = Target {
        url: args.url.clone(),
        operator_key: args.operator_key.clone(),
        subscribe_template: args.subscribe_template.clone(),
        publish_template: args.publish_template.clone(),
        channels: 1,
        source_ips: args.source_ips,
        connect_timeout: args.connect_timeout,
        token_seconds: args.timeout + 60,
        messages: u32::try_from(total).context("--missed plus --live is too large")?,
    };
    let Plan { mode, target, tenant, spec, mut publisher } = plan::plan(&target, allow_remote).await?;
    let pids = &args.server_pid;

    // Connect and warm up: every stream then knows the id to resume from.
    println!("connecting {n} subscribers ({} at a time) ...", args.connect_concurrency);
    let shared = Arc::new(Shared::new(usize::from(threads) * 8, missed, total));
    let spec = Arc::new(spec);
    let slots = Arc::new(Semaphore::new(args.connect_concurrency as usize));
    let (phase_tx, phase) = watch::channel(Phase::Connect);
    let tasks: Vec<_> = (0..args.subscribers as usize)
        .map(|i| tokio::spawn(subscriber::run(i, spec.clone(), shared.clone(), slots.clone(), phase.clone())))
        .collect();
    wait_until(deadline, || shared.connected.load(Relaxed) + shared.connect_failed.load(Relaxed) >= n).await;
    let connected = shared.connected.load(Relaxed);
    println!("warming up {connected} streams ...");
    let mut round = 0;
    loop {
        if let Err((kind, detail)) = publisher.warm_up(round).await {
            let _ = phase_tx.send(Phase::Stop);
            bail!("warm-up publish failed ({kind}): {detail}");
        }
        round += 1;
        let next = (Instant::now() + WARMUP_EVERY).min(deadline);
        if wait_until(next, || shared.warmed.load(Relaxed) >= connected).await || Instant::now() >= deadline {
            break;
        }
    }
    let warmed = shared.warmed.load(Relaxed);
    let rss_connected_kib = server_memory(pids)?.map(|m| m.rss_kib);

    // Drop every stream, then publish what they will have missed.
    println!("dropping {connected} streams, publishing {missed} while they are away ...");
    let _ = phase_tx.send(Phase::Drop);
    wait_until(deadline, || shared.dropped.load(Relaxed) >= connected).await;
    tokio::time::sleep_until((Instant::now() + AFTER_DROP).min(deadline)).await;
    let mut errors = Errors::default();
    let mut first_publish_error = None;
    let mut missed_published = 0u64;
    for seq in 0..missed {
        match publisher.publish(seq, 1).await {
            Ok(()) => missed_published += 1,
            Err((kind, detail)) => {
                first_publish_error.get_or_insert_with(|| format!("seq {seq}: {kind}: {detail}"));
                errors.add(kind);
            }
        }
    }

    // The storm: everyone back at once, with live publishes meanwhile.
    println!("reconnecting {connected} streams with Last-Event-ID, publishing {live} at {}/s meanwhile ...", args.live_rate);
    let cpu0 = server_cpu(pids);
    let t0 = Instant::now();
    let t0_us = unix_micros();
    shared.storm_start_us.store(t0_us, Relaxed);
    let _ = phase_tx.send(Phase::Reconnect);
    let live_rate = f64::from(args.live_rate);
    let live_task = tokio::spawn(async move {
        let (mut ok, mut errors, mut first) = (0u64, Errors::default(), None);
        for k in 0..live {
            let due = t0 + Duration::from_secs_f64(k as f64 / live_rate);
            if due >= deadline {
                errors.add("deadline");
                continue;
            }
            tokio::time::sleep_until(due).await;
            match publisher.publish(missed + k, 1).await {
                Ok(()) => ok += 1,
                Err((kind, detail)) => {
                    first.get_or_insert_with(|| format!("seq {}: {kind}: {detail}", missed + k));
                    errors.add(kind);
                }
            }
        }
        (ok, errors, first)
    });
    // Complete: every stream has every published notification (the live
    // ones cannot arrive before they are published, so this takes at least
    // --live / --live-rate; "caught up", every missed one, is timed by the
    // subscribers themselves).
    wait_until(deadline, || shared.complete.load(Relaxed) >= connected).await;
    let (live_published, live_errors, live_first) = live_task.await.context("the live publisher panicked")?;
    errors.merge(&live_errors);
    if first_publish_error.is_none() {
        first_publish_error = live_first;
    }
    let published = missed_published + live_published;
    let cpu1 = server_cpu(pids);
    let storm_s = t0.elapsed().as_secs_f64();
    let rss_end_kib = server_memory(pids)?.map(|m| m.rss_kib);
    let _ = phase_tx.send(Phase::Stop);

    let (mut lost, mut duplicated, mut out_of_order, mut unexpected) = (0, 0, 0, 0);
    for task in tasks {
        let o = task.await.context("a subscriber panicked")?;
        if !o.connected {
            continue;
        }
        lost += published.saturating_sub(o.seqs.distinct);
        duplicated += o.seqs.duplicated;
        out_of_order += o.seqs.out_of_order;
        unexpected += o.unexpected;
    }
    let received = shared.received.load(Relaxed);
    let since = |us: u64| if us > t0_us { (us - t0_us) as f64 / 1e6 } else { 0.0 };
    let catch_up_s = since(shared.caught_up_us.load(Relaxed));
    let complete_s = since(shared.complete_us.load(Relaxed));
    let server = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(StormServer {
            pids: pids.clone(),
            cpu_s: b - a,
            cpu_us_per_event: if received > 0 { (b - a) * 1e6 / received as f64 } else { 0.0 },
            rss_connected_kib: rss_connected_kib.unwrap_or(0),
            rss_end_kib: rss_end_kib.unwrap_or(0),
        }),
        _ => None,
    };
    let caught_up = shared.caught_up.load(Relaxed);
    let complete = shared.complete.load(Relaxed);
    let first_error = shared.first_error.lock().expect("error slot poisoned").clone();
    let publish_errors_total = errors.total();
    let ok = connected == n
        && warmed == connected
        && publish_errors_total == 0
        && caught_up == connected
        && complete == connected
        && lost == 0
        && duplicated == 0
        && out_of_order == 0
        && unexpected == 0;
    Ok(StormReport {
        bench: "storm",
        mode,
        target,
        tenant,
        subscribers: args.subscribers,
        missed: args.missed,
        live: args.live,
        live_rate: args.live_rate,
        connect_concurrency: args.connect_concurrency,
        threads,
        connected,
        connect_failed: shared.connect_failed.load(Relaxed),
        warmed,
        published,
        publish_errors_total,
        publish_errors: errors,
        first_publish_error,
        reconnect_failures: shared.reconnect_failed.load(Relaxed),
        reopened: shared.reopened.load(Relaxed),
        first_error,
        caught_up,
        complete,
        catch_up_s,
        complete_s,
        storm_s,
        catch_up: shared.catch_up(),
        live_latency: shared.live_latency(),
        expected_events: connected * published,
        received_events: received,
        lost,
        duplicated,
        out_of_order,
        unexpected,
        server,
        generator_rss_peak_kib: procfs::memory("self").map(|m| m.hwm_kib).unwrap_or(0),
        ok,
    })
}
