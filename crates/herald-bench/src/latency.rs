//! `latency`: publish on node A at a fixed rate and time each notification's
//! arrival on a subscriber of A and a subscriber of B.
//!
//! Each notification carries its sequence number and its send time (Unix
//! microseconds, taken just before the request is written), so one process
//! and one clock measure both ends. Sequence numbers tell lost and
//! duplicated deliveries apart; SSE ids, which Herald assigns in commit
//! order, must only grow on each stream.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::{Api, bearer};
use crate::cli::LatencyArgs;
use crate::conn::Conn;
use crate::endpoint::Endpoint;
use crate::report::{LatencyReport, SubscriberReport};
use crate::setup::{self, unix_micros};
use crate::sse;
use crate::stages;
use crate::stats::{Errors, Latency};

/// The channel every notification of the run goes to.
const CHANNEL: &str = "bench.latency";
/// Event type of measured notifications.
const MEASURED: &str = "bench.latency";
/// Event type of the notifications that prove a stream is live.
const WARMUP: &str = "bench.warmup";
/// How long to wait for both subscribers to go live.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How often to publish a warm-up notification while waiting.
const WARMUP_EVERY: Duration = Duration::from_millis(250);
/// Longest a single publish may take.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// The part of an event's data the run reads.
#[derive(Deserialize)]
struct Wire {
    id: i64,
    data: Stamp,
}

#[derive(Deserialize)]
struct Stamp {
    seq: u64,
    sent_us: u64,
}

/// What a collector tells the run while it goes.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    warmed: bool,
    received: u64,
}

/// What one subscriber saw.
struct Collected {
    /// Receipts per sequence number.
    seen: Vec<u8>,
    latency: Latency,
    received: u64,
    duplicated: u64,
    out_of_order: u64,
    unexpected: u64,
    closed: Option<String>,
}

impl Collected {
    fn new(count: usize) -> Self {
        Self { seen: vec![0; count], latency: Latency::default(), received: 0, duplicated: 0, out_of_order: 0, unexpected: 0, closed: None }
    }
}

/// Reads one stream until told to stop or until it ends.
async fn collect(mut stream: sse::Stream, count: usize, progress: watch::Sender<Progress>, mut stop: watch::Receiver<bool>) -> Collected {
    let mut c = Collected::new(count);
    let mut last_id = i64::MIN;
    loop {
        let next = tokio::select! {
            biased;
            _ = stop.changed() => break,
            next = stream.next() => next,
        };
        let received_at = unix_micros();
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) => {
                c.closed = Some("the server ended the stream".into());
                break;
            }
            Err(e) => {
                c.closed = Some(format!("{e:#}"));
                break;
            }
        };
        let id = event.id.parse::<i64>().ok();
        let behind = id.is_some_and(|id| id <= last_id);
        last_id = last_id.max(id.unwrap_or(i64::MIN));
        match event.event.as_str() {
            WARMUP => {
                c.out_of_order += u64::from(behind);
                progress.send_if_modified(|p| !std::mem::replace(&mut p.warmed, true));
            }
            MEASURED => match serde_json::from_str::<Wire>(&event.data) {
                Ok(w) if Some(w.id) == id && (w.data.seq as usize) < count => {
                    let slot = &mut c.seen[w.data.seq as usize];
                    if *slot > 0 {
                        c.duplicated += 1;
                    } else {
                        c.out_of_order += u64::from(behind);
                        c.latency.record_micros(received_at.saturating_sub(w.data.sent_us));
                        c.received += 1;
                        progress.send_modify(|p| p.received = c.received);
                    }
                    *slot = slot.saturating_add(1);
                }
                _ => c.unexpected += 1,
            },
            // `token-expired`, `history-truncated` or anything else.
            _ => c.unexpected += 1,
        }
    }
    c
}

/// A subscriber running in the background.
struct Subscriber {
    url: String,
    progress: watch::Receiver<Progress>,
    task: tokio::task::JoinHandle<Collected>,
}

impl Subscriber {
    async fn start(endpoint: &Endpoint, path: &str, count: usize, stop: &watch::Receiver<bool>) -> anyhow::Result<Self> {
        let stream = sse::Stream::open(endpoint, None, path).await?;
        let (tx, progress) = watch::channel(Progress::default());
        let task = tokio::spawn(collect(stream, count, tx, stop.clone()));
        Ok(Self { url: endpoint.url.clone(), progress, task })
    }

    /// Waits for the collector (already told to stop) and sums up.
    async fn finish(self, acked: &[bool]) -> anyhow::Result<SubscriberReport> {
        let c = self.task.await.with_context(|| format!("the subscriber on {} panicked", self.url))?;
        let lost = acked.iter().zip(&c.seen).filter(|(a, s)| **a && **s == 0).count() as u64;
        let unacknowledged = acked.iter().zip(&c.seen).filter(|(a, s)| !**a && **s > 0).count() as u64;
        Ok(SubscriberReport {
            url: self.url,
            received: c.received,
            lost,
            duplicated: c.duplicated,
            out_of_order: c.out_of_order,
            unacknowledged,
            unexpected: c.unexpected,
            closed: c.closed,
            latency: c.latency.summary(),
        })
    }
}

/// How the publishers reach node A.
struct Target {
    endpoint: Endpoint,
    uri: Uri,
    auth: HeaderValue,
}

impl Target {
    fn request(&self, body: String) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        let headers = req.headers_mut();
        headers.insert(HOST, self.endpoint.host.clone());
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        req
    }

    /// Publishes one body on `conn` (opened or reopened as needed).
    async fn publish(&self, conn: &mut Option<Conn>, body: String) -> Result<StatusCode, &'static str> {
        if conn.as_ref().is_none_or(Conn::is_closed) {
            *conn = Some(Conn::open(&self.endpoint, None).await.map_err(|_| "connect")?);
        }
        let c = conn.as_mut().expect("opened above");
        match tokio::time::timeout(PUBLISH_TIMEOUT, c.exchange(self.request(body))).await {
            Ok(Ok((status, _))) => Ok(status),
            Ok(Err(_)) => {
                *conn = None;
                Err("io")
            }
            Err(_) => {
                *conn = None;
                Err("timeout")
            }
        }
    }
}

/// Publishes warm-up notifications until every subscriber has seen one.
async fn warm_up(target: &Target, subscribers: &[&Subscriber], deadline: Instant) -> anyhow::Result<()> {
    let deadline = deadline.min(Instant::now() + WARMUP_TIMEOUT);
    let mut conn = None;
    let body = format!(r#"{{"type":"{WARMUP}","data":null}}"#);
    loop {
        match target.publish(&mut conn, body.clone()).await {
            Ok(StatusCode::CREATED) => {}
            Ok(status) => bail!("the warm-up publish on {} answered {status}", target.endpoint.url),
            Err(kind) => bail!("the warm-up publish on {} failed ({kind})", target.endpoint.url),
        }
        let next = (Instant::now() + WARMUP_EVERY).min(deadline);
        let mut all = true;
        for s in subscribers {
            let mut progress = s.progress.clone();
            let live = tokio::time::timeout_at(next, progress.wait_for(|p| p.warmed)).await;
            all &= matches!(live, Ok(Ok(_)));
        }
        if all {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let late: Vec<_> = subscribers.iter().filter(|s| !s.progress.borrow().warmed).map(|s| s.url.as_str()).collect();
            bail!("no warm-up notification reached the subscriber on {} within {WARMUP_TIMEOUT:?}", late.join(" and "));
        }
    }
}

/// What one publisher did.
#[derive(Default)]
struct Published {
    acked: Vec<u64>,
    errors: Errors,
    latency: Latency,
    max_lag_us: u64,
    last_answer: Option<Instant>,
}

/// Publishes every `stride`th sequence number from `first`, each at its
/// slot on the shared schedule (`t0 + seq / rate`), until `deadline`.
async fn publisher(target: Arc<Target>, first: u64, stride: u64, count: u64, rate: u32, t0: Instant, deadline: Instant) -> Published {
    let mut out = Published::default();
    let mut conn = None;
    for seq in (first..count).step_by(stride as usize) {
        let due = t0 + Duration::from_secs_f64(seq as f64 / f64::from(rate));
        if due >= deadline {
            out.errors.add("deadline");
            continue;
        }
        tokio::time::sleep_until(due).await;
        let started = Instant::now();
        out.max_lag_us = out.max_lag_us.max((started - due).as_micros() as u64);
        let body = format!(r#"{{"type":"{MEASURED}","data":{{"seq":{seq},"sent_us":{}}}}}"#, unix_micros());
        match target.publish(&mut conn, body).await {
            Ok(StatusCode::CREATED) => {
                out.latency.record(started.elapsed());
                out.acked.push(seq);
            }
            Ok(status) => out.errors.add(status.as_str()),
            Err(kind) => out.errors.add(kind),
        }
        out.last_answer = Some(Instant::now());
    }
    out
}

/// Runs the `latency` benchmark and returns its figures.
pub async fn run(args: &LatencyArgs, allow_remote: bool) -> anyhow::Result<LatencyReport> {
    run_with(args, allow_remote, None).await
}

/// The same, with `deliver_hook` (a plugin component) as the channel's
/// deliver hook when given, so every delivery goes through the plugin
/// threads (`noisy-neighbour` measures the tenant that shares them).
pub async fn run_with(args: &LatencyArgs, allow_remote: bool, deliver_hook: Option<&[u8]>) -> anyhow::Result<LatencyReport> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let publish_secs = f64::from(args.count) / f64::from(args.rate);
    if publish_secs + 5.0 > args.timeout as f64 {
        bail!("publishing {} at {}/s takes {publish_secs:.0} s; raise --timeout above {:.0}", args.count, args.rate, publish_secs + 5.0);
    }
    let a = Endpoint::resolve(&args.publish_url, allow_remote).await?;
    let b = Endpoint::resolve(&args.subscribe_url, allow_remote).await?;

    let op = &args.operator.operator_key;
    let mut api = Api::new(a.clone());
    let tenant = setup::create_tenant(&mut api, op, "latency").await?;
    let signing = setup::create_signing_key(&mut api, op, &tenant.id).await?;
    if let Some(wasm) = deliver_hook {
        setup::create_hooked_channel(&mut api, op, &tenant.id, CHANNEL, wasm).await?;
    }
    drop(api);
    let token = setup::subscriber_token(&signing, "herald-bench", &[CHANNEL.to_owned()], args.timeout + 60)?;
    println!("setup: tenant {} ({}) on {}", tenant.name, tenant.id, a.url);

    let count = args.count as usize;
    let path = format!("/v1/tenants/{}/stream?channel={CHANNEL}&access_token={token}", tenant.id);
    let (stop_tx, stop) = watch::channel(false);
    let sub_a = Subscriber::start(&a, &path, count, &stop).await.context("subscribing on the publish node")?;
    let sub_b = Subscriber::start(&b, &path, count, &stop).await.context("subscribing on the subscribe node")?;
    let target = Arc::new(Target {
        uri: a.uri(&format!("/v1/tenants/{}/channels/{CHANNEL}/notifications", tenant.id))?,
        auth: bearer(&tenant.publish_key)?,
        endpoint: a,
    });
    warm_up(&target, &[&sub_a, &sub_b], deadline).await?;
    println!("running: both subscribers live; publishing {} at {}/s on {} connections ...", args.count, args.rate, args.publishers);

    let stages_before = stages::scrape(&target.endpoint).await.context("reading /metrics before publishing")?;
    let t0 = Instant::now() + Duration::from_millis(10);
    let stride = u64::from(args.publishers.min(args.count));
    let loops: Vec<_> =
        (0..stride).map(|k| tokio::spawn(publisher(target.clone(), k, stride, u64::from(args.count), args.rate, t0, deadline))).collect();
    let mut acked = vec![false; count];
    let mut errors = Errors::default();
    let mut publish_latency = Latency::default();
    let mut max_lag_us = 0;
    let mut last_answer = t0;
    for l in loops {
        let p = l.await.context("a publisher loop panicked")?;
        for seq in p.acked {
            acked[seq as usize] = true;
        }
        errors.merge(&p.errors);
        publish_latency.merge(&p.latency);
        max_lag_us = max_lag_us.max(p.max_lag_us);
        last_answer = last_answer.max(p.last_answer.unwrap_or(t0));
    }
    let published = acked.iter().filter(|a| **a).count() as u64;
    let publish_elapsed = last_answer.saturating_duration_since(t0).as_secs_f64();

    // Drain: wait until each subscriber has as many as were acknowledged.
    let drain_until = deadline.min(Instant::now() + Duration::from_secs(args.drain));
    for s in [&sub_a, &sub_b] {
        let mut progress = s.progress.clone();
        let _ = tokio::time::timeout_at(drain_until, progress.wait_for(|p| p.received >= published)).await;
    }
    let _ = stop_tx.send(true);
    let stages_after = stages::scrape(&target.endpoint).await.context("reading /metrics after publishing")?;
    let report_a = sub_a.finish(&acked).await?;
    let report_b = sub_b.finish(&acked).await?;
    let errors_total = errors.total();
    let ok = errors_total == 0 && report_a.is_clean() && report_b.is_clean();
    Ok(LatencyReport {
        bench: "latency",
        publish_url: args.publish_url.clone(),
        subscribe_url: args.subscribe_url.clone(),
        tenant: tenant.id,
        count: args.count,
        rate: args.rate,
        published,
        publish_errors_total: errors_total,
        publish_errors: errors,
        publish_elapsed_s: publish_elapsed,
        publish_rate_achieved: if publish_elapsed > 0.0 { published as f64 / publish_elapsed } else { 0.0 },
        max_schedule_lag_us: max_lag_us,
        publish_latency: publish_latency.summary(),
        a: report_a,
        b: report_b,
        stages: stages::between(&stages_before, &stages_after),
        ok,
    })
}
