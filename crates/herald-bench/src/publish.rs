//! `publish`: closed-loop publishers, one per keep-alive connection, for a
//! fixed time. Every request body is serialized before the clock starts;
//! a loop iteration only clones reference-counted buffers and headers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use tokio::time::Instant;

use crate::api::{Api, bearer};
use crate::cli::PublishArgs;
use crate::conn::Conn;
use crate::endpoint::Endpoint;
use crate::report::PublishReport;
use crate::setup;
use crate::stats::{Errors, Latency};

/// Memory the prepared request bodies may take together.
const PREPARED_BUDGET: usize = 64 << 20;

/// One ready-to-send request.
struct Prepared {
    uri: Uri,
    body: Bytes,
}

/// Everything the loops send, shared read-only.
struct Workload {
    endpoint: Endpoint,
    host: HeaderValue,
    auth: HeaderValue,
    requests: Vec<Prepared>,
    /// Notifications in each request.
    per_request: u64,
    request_timeout: Duration,
}

/// The `data` JSON of every notification: `{"pad":"xxx…"}`, exactly `bytes`
/// long (at least the 10 bytes of `{"pad":""}`).
pub fn payload(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes.max(10));
    s.push_str(r#"{"pad":""#);
    s.extend(std::iter::repeat_n('x', bytes.saturating_sub(10)));
    s.push_str(r#""}"#);
    s
}

/// The channel of the `i`th notification in rotation.
fn channel(i: u64, channels: u32) -> String {
    format!("bench.{}", i % u64::from(channels))
}

/// Prepares the rotation of request bodies. With batch 1 there is one per
/// channel; with larger batches each body holds `batch` consecutive
/// channels, and consecutive bodies continue where the previous ended.
fn prepare(endpoint: &Endpoint, tenant: &str, args: &PublishArgs) -> anyhow::Result<Vec<Prepared>> {
    let data = payload(args.payload_bytes as usize);
    let batch = u64::from(args.batch);
    let channels = u64::from(args.channels);
    if batch == 1 {
        let body = Bytes::from(format!(r#"{{"type":"bench","data":{data}}}"#));
        let count = channels.min((PREPARED_BUDGET / body.len()).max(1) as u64);
        return (0..count)
            .map(|c| {
                let uri = endpoint.uri(&format!("/v1/tenants/{tenant}/channels/{}/notifications", channel(c, args.channels)))?;
                Ok(Prepared { uri, body: body.clone() })
            })
            .collect();
    }
    let uri = endpoint.uri(&format!("/v1/tenants/{tenant}/notifications:batch"))?;
    let item_len = data.len() + 48;
    let variants = channels.div_ceil(batch).min((PREPARED_BUDGET / (item_len * args.batch as usize)).max(1) as u64);
    Ok((0..variants)
        .map(|v| {
            let mut body = String::with_capacity(item_len * args.batch as usize + 20);
            body.push_str(r#"{"notifications":["#);
            for i in 0..batch {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(&format!(r#"{{"channel":"{}","type":"bench","data":{data}}}"#, channel(v * batch + i, args.channels)));
            }
            body.push_str("]}");
            Prepared { uri: uri.clone(), body: Bytes::from(body) }
        })
        .collect())
}

/// What one loop counted.
#[derive(Default)]
struct Tally {
    requests: u64,
    requests_ok: u64,
    latency: Latency,
    errors: Errors,
    /// The first refusal's body, to explain a run full of errors.
    first_refusal: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.requests_ok += other.requests_ok;
        self.latency.merge(&other.latency);
        self.errors.merge(&other.errors);
        self.first_refusal = self.first_refusal.take().or(other.first_refusal);
    }
}

/// Pause after `failures` consecutive failures, growing to one second.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(50u64 << failures.min(5)).min(Duration::from_secs(1))
}

/// One publisher: send, await the answer, repeat until `deadline`.
async fn publisher(work: Arc<Workload>, first: usize, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<Conn> = None;
    let mut next = first;
    let mut failures = 0u32;
    while Instant::now() < deadline {
        if failures > 0 {
            tokio::time::sleep_until((Instant::now() + backoff(failures)).min(deadline)).await;
            if Instant::now() >= deadline {
                break;
            }
        }
        if conn.as_ref().is_none_or(Conn::is_closed) {
            match Conn::open(&work.endpoint, None).await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    tally.errors.add("connect");
                    failures += 1;
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("opened above");
        let p = &work.requests[next % work.requests.len()];
        next = next.wrapping_add(1);
        let mut req = Request::new(Full::new(p.body.clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = p.uri.clone();
        let headers = req.headers_mut();
        headers.insert(HOST, work.host.clone());
        headers.insert(AUTHORIZATION, work.auth.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));

        let started = Instant::now();
        let answer = tokio::time::timeout(work.request_timeout, c.exchange(req)).await;
        tally.requests += 1;
        match answer {
            Ok(Ok((StatusCode::CREATED, _))) => {
                tally.latency.record(started.elapsed());
                tally.requests_ok += 1;
                failures = 0;
            }
            Ok(Ok((status, body))) => {
                tally.errors.add(status.as_str());
                if tally.first_refusal.is_none() {
                    let text = String::from_utf8_lossy(&body);
                    tally.first_refusal = Some(format!("{status}: {}", text.chars().take(300).collect::<String>()));
                }
                // Refusals repeat (a full queue, a bad setting): back off
                // rather than spin on them.
                failures += 1;
            }
            Ok(Err(_)) => {
                tally.errors.add("io");
                conn = None;
                failures += 1;
            }
            Err(_) => {
                tally.errors.add("timeout");
                conn = None;
                failures += 1;
            }
        }
    }
    tally
}

/// Runs the `publish` benchmark and returns its figures.
pub async fn run(args: &PublishArgs, allow_remote: bool) -> anyhow::Result<PublishReport> {
    let endpoint = Endpoint::resolve(&args.url, allow_remote).await?;
    let mut api = Api::new(endpoint.clone());
    let tenant = setup::create_tenant(&mut api, &args.operator.operator_key, "publish").await?;
    drop(api);
    println!("setup: tenant {} ({}) on {}", tenant.name, tenant.id, endpoint.url);

    let requests = prepare(&endpoint, &tenant.id, args)?;
    let work = Arc::new(Workload {
        host: endpoint.host.clone(),
        endpoint,
        auth: bearer(&tenant.publish_key)?,
        requests,
        per_request: u64::from(args.batch),
        request_timeout: Duration::from_secs(args.request_timeout),
    });
    println!("running: {} connections for {} s ...", args.connections, args.duration);

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let loops: Vec<_> = (0..args.connections as usize).map(|i| tokio::spawn(publisher(work.clone(), i, deadline))).collect();
    let mut total = Tally::default();
    for l in loops {
        total.merge(l.await.context("a publisher loop panicked")?);
    }
    let elapsed = started.elapsed().as_secs_f64();

    if let Some(refusal) = &total.first_refusal {
        println!("first refusal: {refusal}");
    }
    let persisted = total.requests_ok * work.per_request;
    let errors_total = total.errors.total();
    Ok(PublishReport {
        bench: "publish",
        url: args.url.clone(),
        tenant: tenant.id,
        connections: args.connections,
        batch: args.batch,
        channels: args.channels,
        payload_bytes: args.payload_bytes,
        duration_s: args.duration,
        elapsed_s: elapsed,
        requests: total.requests,
        requests_ok: total.requests_ok,
        persisted,
        requests_per_s: total.requests_ok as f64 / elapsed,
        persisted_per_s: persisted as f64 / elapsed,
        latency: total.latency.summary(),
        errors_total,
        errors: total.errors,
        ok: total.requests_ok > 0 && errors_total == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(batch: u32, channels: u32) -> PublishArgs {
        PublishArgs {
            url: "http://127.0.0.1:1".into(),
            operator: crate::cli::OperatorArgs { operator_key: "k".into() },
            connections: 1,
            duration: 1,
            batch,
            channels,
            payload_bytes: 64,
            request_timeout: 1,
        }
    }

    #[test]
    fn payloads_have_the_asked_size_and_are_json() {
        for n in [10, 11, 64, 1000] {
            let p = payload(n);
            assert_eq!(p.len(), n);
            serde_json::from_str::<serde_json::Value>(&p).unwrap();
        }
    }

    #[tokio::test]
    async fn single_publishes_rotate_over_channels() {
        let ep = Endpoint::resolve("http://127.0.0.1:1", false).await.unwrap();
        let reqs = prepare(&ep, "ten_x", &args(1, 3)).unwrap();
        let paths: Vec<_> = reqs.iter().map(|p| p.uri.to_string()).collect();
        assert_eq!(
            paths,
            [
                "/v1/tenants/ten_x/channels/bench.0/notifications",
                "/v1/tenants/ten_x/channels/bench.1/notifications",
                "/v1/tenants/ten_x/channels/bench.2/notifications"
            ]
        );
        let body: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
        assert_eq!(body["type"], "bench");
        assert_eq!(body["data"].to_string().len(), 64);
    }

    #[tokio::test]
    async fn batches_cover_every_channel() {
        let ep = Endpoint::resolve("http://127.0.0.1:1", false).await.unwrap();
        let reqs = prepare(&ep, "ten_x", &args(3, 10)).unwrap();
        assert_eq!(reqs.len(), 4);
        let mut seen = std::collections::BTreeSet::new();
        for r in &reqs {
            assert_eq!(r.uri, "/v1/tenants/ten_x/notifications:batch");
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let items = body["notifications"].as_array().unwrap();
            assert_eq!(items.len(), 3);
            seen.extend(items.iter().map(|i| i["channel"].as_str().unwrap().to_owned()));
        }
        assert_eq!(seen.len(), 10);
    }
}
