//! `noisy-neighbour`: tenant B's publish-to-receive latency alone, then
//! while tenant A attacks the same node, in one run.
//!
//! B is the `latency` benchmark with a deliver hook that keeps every
//! notification, so B's deliveries go through the plugin threads A attacks.
//! A's attack (issue 18): eight chained deliver hooks that spin for their
//! whole one-second deadline, `fail-open`, over 200 stored notifications,
//! replayed by `--attack-streams` streams that reconnect from id 0 as soon
//! as they are closed; publishers through a spinning publish hook; a flood
//! of plugin uploads (a thousand, a hundred a second); CORS preflights for
//! made-up tenants (a thousand a second); and `/healthz` timed throughout.
//! The attack runs on a thread of its own in this process. The figure to watch is B's p99 attacked over alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::api::{Api, bearer};
use crate::cli::{LatencyArgs, NoisyArgs, OperatorArgs};
use crate::conn::Conn;
use crate::endpoint::Endpoint;
use crate::latency;
use crate::setup;
use crate::sse;
use crate::stats::{Latency, Summary};

#[path = "../../herald-plugins/tests/common/wat.rs"]
mod wat_plugin;
use wat_plugin::Exports;

const FEED: &str = "attack.feed";
/// Distinct plugins A tries to upload (its quota and upload rate refuse most).
const UPLOADS: u32 = 1000;
const INBOX: &str = "attack.inbox";

/// What A's attack did while B was measured.
#[derive(Debug, Default, Serialize)]
pub struct AttackFigures {
    pub streams_opened: u64,
    pub streams_refused: u64,
    /// Streams Herald closed with `plugin-budget-exhausted`.
    pub streams_closed_for_hooks: u64,
    pub publishes_accepted: u64,
    pub publishes_refused: u64,
    pub uploads_accepted: u64,
    pub uploads_refused: u64,
    pub preflights: u64,
    /// `/healthz` answers during the attack, and their latency.
    pub healthz: Summary,
    pub healthz_failed: u64,
}

#[derive(Debug, Serialize)]
pub struct NoisyReport {
    pub bench: &'static str,
    pub url: String,
    /// B alone, then B while A attacks (the subscriber on the node).
    pub alone: Summary,
    pub attacked: Summary,
    /// attacked p99 / alone p99 (the issue's target: at most 2).
    pub p99_ratio: f64,
    pub p50_ratio: f64,
    pub alone_lost: u64,
    pub attacked_lost: u64,
    pub attacked_duplicated: u64,
    pub attack: AttackFigures,
    /// B lost, duplicated or reordered nothing in either phase.
    pub ok: bool,
}

impl NoisyReport {
    pub fn lines(&self) -> Vec<String> {
        let a = &self.attack;
        vec![
            format!("B alone:     {}", self.alone.line()),
            format!("B attacked:  {}", self.attacked.line()),
            format!("ratio:       p50 {:.2}x  p99 {:.2}x (attacked / alone)", self.p50_ratio, self.p99_ratio),
            format!("B lost:      {} alone, {} attacked ({} duplicated)", self.alone_lost, self.attacked_lost, self.attacked_duplicated),
            format!(
                "A's attack:  {} streams opened ({} refused, {} closed with plugin-budget-exhausted), publishes {} accepted / {} refused, uploads {} accepted / {} refused, {} preflights",
                a.streams_opened,
                a.streams_refused,
                a.streams_closed_for_hooks,
                a.publishes_accepted,
                a.publishes_refused,
                a.uploads_accepted,
                a.uploads_refused,
                a.preflights
            ),
            format!("/healthz:    {} during the attack ({} failed)", a.healthz.line(), a.healthz_failed),
        ]
    }
}

fn keep_plugin() -> Vec<u8> {
    wat_plugin::plugin(Exports::Deliver, &wat_plugin::on_deliver("(call $keep)"))
}

#[derive(Default)]
struct Counters {
    streams_opened: AtomicU64,
    streams_refused: AtomicU64,
    closed_for_hooks: AtomicU64,
    publishes_accepted: AtomicU64,
    publishes_refused: AtomicU64,
    uploads_accepted: AtomicU64,
    uploads_refused: AtomicU64,
    preflights: AtomicU64,
    healthz_failed: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Runs the benchmark.
pub async fn run(args: &NoisyArgs, allow_remote: bool) -> anyhow::Result<NoisyReport> {
    let endpoint = Endpoint::resolve(&args.url, allow_remote).await?;
    let latency_args = LatencyArgs {
        publish_url: args.url.clone(),
        subscribe_url: args.url.clone(),
        operator: OperatorArgs { operator_key: args.operator.operator_key.clone() },
        count: args.count,
        rate: args.rate,
        publishers: 4,
        timeout: 120,
        drain: 20,
    };
    let keep = keep_plugin();
    println!("phase 1: tenant B alone ({} notifications at {}/s through a deliver hook)", args.count, args.rate);
    let alone = latency::run_with(&latency_args, allow_remote, Some(&keep)).await.context("measuring B alone")?;

    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    // The attack runs on a runtime and thread of its own, so that its
    // loops do not delay the reading of B's stream in this process.
    let attacker = tokio::runtime::Builder::new_current_thread().enable_all().build().context("the attacker's runtime")?;
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let attack_thread = {
        let (endpoint, op, streams, stop, counters) =
            (endpoint.clone(), args.operator.operator_key.clone(), args.attack_streams, stop.clone(), counters.clone());
        std::thread::spawn(move || {
            attacker.block_on(async move {
                let tasks = match start_attack(&endpoint, &op, streams, stop.clone(), counters.clone()).await {
                    Ok(tasks) => tasks,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Latency::default();
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let healthz = time_healthz(endpoint, stop, counters).await;
                for t in tasks {
                    t.abort();
                }
                healthz
            })
        })
    };
    ready.await.context("the attacker stopped")??;
    // Let the attack take hold: every stream replaying, the queues full.
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("phase 2: tenant B again while tenant A attacks");
    let attacked = latency::run_with(&latency_args, allow_remote, Some(&keep)).await.context("measuring B under attack");
    stop.store(true, Ordering::Relaxed);
    let healthz = tokio::task::spawn_blocking(move || attack_thread.join())
        .await
        .context("joining the attacker")?
        .map_err(|_| anyhow::anyhow!("the attacker panicked"))?;
    let attacked = attacked?;

    let c = &counters;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let attack = AttackFigures {
        streams_opened: load(&c.streams_opened),
        streams_refused: load(&c.streams_refused),
        streams_closed_for_hooks: load(&c.closed_for_hooks),
        publishes_accepted: load(&c.publishes_accepted),
        publishes_refused: load(&c.publishes_refused),
        uploads_accepted: load(&c.uploads_accepted),
        uploads_refused: load(&c.uploads_refused),
        preflights: load(&c.preflights),
        healthz: healthz.summary(),
        healthz_failed: load(&c.healthz_failed),
    };
    let ratio = |x: u64, y: u64| if y == 0 { 0.0 } else { x as f64 / y as f64 };
    let (alone_b, attacked_b) = (&alone.a, &attacked.a);
    Ok(NoisyReport {
        bench: "noisy-neighbour",
        url: args.url.clone(),
        p99_ratio: ratio(attacked_b.latency.p99_us, alone_b.latency.p99_us),
        p50_ratio: ratio(attacked_b.latency.p50_us, alone_b.latency.p50_us),
        alone: alone_b.latency,
        attacked: attacked_b.latency,
        alone_lost: alone_b.lost,
        attacked_lost: attacked_b.lost,
        attacked_duplicated: attacked_b.duplicated,
        attack,
        ok: alone.ok && attacked.ok,
    })
}

/// Sets tenant A up and starts its attack loops.
async fn start_attack(
    endpoint: &Endpoint,
    operator_key: &str,
    streams: u32,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut api = Api::new(endpoint.clone());
    let tenant = setup::create_tenant(&mut api, operator_key, "attacker").await?;
    let signing = setup::create_signing_key(&mut api, operator_key, &tenant.id).await?;
    let id = tenant.id.clone();
    let spin = wat_plugin::spinning_deliver(0);
    for i in 0..8 {
        let _: serde_json::Value =
            api.upload(&format!("/v1/tenants/{id}/plugins?name=spin-{i}&version=1"), operator_key, spin.clone()).await?;
    }
    let _: serde_json::Value =
        api.upload(&format!("/v1/tenants/{id}/plugins?name=spin-pub&version=1"), operator_key, wat_plugin::spinning_publish()).await?;
    let steps: Vec<_> = (0..8).map(|i| json!({"plugin": format!("spin-{i}"), "deadline_ms": 1000})).collect();
    let _: serde_json::Value = api
        .post(&format!("/v1/tenants/{id}/channels"), operator_key, &json!({"name": FEED, "plugins": steps, "failure_policy": "fail-open"}))
        .await?;
    let _: serde_json::Value = api
        .post(
            &format!("/v1/tenants/{id}/channels"),
            operator_key,
            &json!({"name": INBOX, "plugins": [{"plugin": "spin-pub", "deadline_ms": 1000}], "failure_policy": "fail-open"}),
        )
        .await?;
    for chunk in 0..2 {
        let items: Vec<_> = (0..100).map(|i| json!({"channel": FEED, "type": "x", "data": {"n": chunk * 100 + i}})).collect();
        let _: serde_json::Value =
            api.post(&format!("/v1/tenants/{id}/notifications:batch"), &tenant.publish_key, &json!({"notifications": items})).await?;
    }
    let token = setup::subscriber_token(&signing, "mallory", &[FEED.to_owned()], 3600)?;
    println!("attack: tenant {} with 8 spinning deliver hooks over 200 notifications, {streams} replaying streams", tenant.id);

    let mut tasks = Vec::new();
    let stream_path = format!("/v1/tenants/{id}/stream?channel={FEED}&last_event_id=0&access_token={token}");
    for _ in 0..streams {
        let (endpoint, path, stop, c) = (endpoint.clone(), stream_path.clone(), stop.clone(), counters.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match sse::Stream::open(&endpoint, None, &path).await {
                    Ok(mut s) => {
                        bump(&c.streams_opened);
                        while let Ok(Some(e)) = s.next().await {
                            if e.event == "plugin-budget-exhausted" {
                                bump(&c.closed_for_hooks);
                            }
                        }
                    }
                    Err(_) => {
                        bump(&c.streams_refused);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    let publish_auth = bearer(&tenant.publish_key)?;
    for _ in 0..4 {
        let (endpoint, stop, c, auth) = (endpoint.clone(), stop.clone(), counters.clone(), publish_auth.clone());
        let uri = endpoint.uri(&format!("/v1/tenants/{id}/channels/{INBOX}/notifications"))?;
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let req = Request::post(uri.clone())
                    .header(HOST, endpoint.host.clone())
                    .header(AUTHORIZATION, auth.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from_static(br#"{"type":"x","data":{}}"#)))
                    .expect("a valid request");
                match one_request(&endpoint, req).await {
                    Some(s) if s.is_success() => bump(&c.publishes_accepted),
                    _ => bump(&c.publishes_refused),
                }
            }
        }));
    }
    {
        let (endpoint, stop, c, op) = (endpoint.clone(), stop.clone(), counters.clone(), bearer(operator_key)?);
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            // A thousand distinct uploads, a hundred a second.
            let mut every = tokio::time::interval(Duration::from_millis(10));
            let mut i = 1u32;
            while !stop.load(Ordering::Relaxed) && i <= UPLOADS {
                every.tick().await;
                let Ok(uri) = endpoint.uri(&format!("/v1/tenants/{id}/plugins?name=u{i}&version=1")) else { return };
                let req = Request::post(uri)
                    .header(HOST, endpoint.host.clone())
                    .header(AUTHORIZATION, op.clone())
                    .header(CONTENT_TYPE, "application/wasm")
                    .body(Full::new(Bytes::from(wat_plugin::spinning_deliver(i))))
                    .expect("a valid request");
                match one_request(&endpoint, req).await {
                    Some(s) if s.is_success() => bump(&c.uploads_accepted),
                    _ => bump(&c.uploads_refused),
                }
                i += 1;
            }
        }));
    }
    {
        let (endpoint, stop, c) = (endpoint.clone(), stop.clone(), counters.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn: Option<Conn> = None;
            let mut i = 0u64;
            // A thousand preflights a second, each for another made-up tenant.
            let mut every = tokio::time::interval(Duration::from_millis(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while !stop.load(Ordering::Relaxed) {
                every.tick().await;
                i += 1;
                let Ok(uri) = endpoint.uri(&format!("/v1/tenants/ten_{:0>12}/stream", i % 1_000_000)) else { return };
                let req = Request::builder()
                    .method(Method::OPTIONS)
                    .uri(uri)
                    .header(HOST, endpoint.host.clone())
                    .header(ORIGIN, "https://evil.test")
                    .header("access-control-request-method", "GET")
                    .body(Full::new(Bytes::new()))
                    .expect("a valid request");
                if conn.as_ref().is_none_or(Conn::is_closed) {
                    conn = Conn::open(&endpoint, None).await.ok();
                }
                let Some(c2) = conn.as_mut() else { continue };
                if c2.exchange(req).await.is_err() {
                    conn = None;
                }
                bump(&c.preflights);
            }
        }));
    }
    Ok(tasks)
}

/// One request on its own connection; `None` if it failed or took over 30 s.
async fn one_request(endpoint: &Endpoint, req: Request<Full<Bytes>>) -> Option<StatusCode> {
    let mut conn = Conn::open(endpoint, None).await.ok()?;
    match tokio::time::timeout(Duration::from_secs(30), conn.exchange(req)).await {
        Ok(Ok((status, _))) => Some(status),
        _ => None,
    }
}

/// Times `GET /healthz` every 100 ms until `stop`.
async fn time_healthz(endpoint: Endpoint, stop: Arc<AtomicBool>, counters: Arc<Counters>) -> Latency {
    let mut latency = Latency::default();
    while !stop.load(Ordering::Relaxed) {
        let Ok(uri) = endpoint.uri("/healthz") else { break };
        let req = Request::get(uri).header(HOST, endpoint.host.clone()).body(Full::new(Bytes::new())).expect("a valid request");
        let started = Instant::now();
        match one_request(&endpoint, req).await {
            Some(StatusCode::OK) => latency.record(started.elapsed()),
            _ => bump(&counters.healthz_failed),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    latency
}
