//! The server's own latency breakdown for a run: `/metrics` read before and
//! after, and the difference of the histograms of each step between a
//! publish and a stream (`herald_delivery_stage_seconds`, and the publish
//! route's request time), summarised as count, mean and quantiles (the
//! quantiles are bucket bounds, interpolated within the bucket).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use hyper::header::{ACCEPT, HOST};
use hyper::{Method, Request};
use serde::Serialize;

use crate::conn::{Conn, ReqBody};
use crate::endpoint::Endpoint;

const STAGE_FAMILY: &str = "herald_delivery_stage_seconds";
const REQUEST_FAMILY: &str = "herald_http_request_duration_seconds";

/// One histogram: cumulative counts per upper bound, their sum and count.
#[derive(Debug, Default, Clone, PartialEq)]
struct Hist {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

/// The histograms of one scrape, by step name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Snapshot(BTreeMap<String, Hist>);

/// One step's figures over the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageSummary {
    pub stage: String,
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// Reads `/metrics` from the node.
pub async fn scrape(endpoint: &Endpoint) -> anyhow::Result<Snapshot> {
    let mut conn = Conn::open(endpoint, None).await?;
    let mut req: Request<ReqBody> = Request::new(ReqBody::new(Default::default()));
    *req.method_mut() = Method::GET;
    *req.uri_mut() = endpoint.uri("/metrics")?;
    req.headers_mut().insert(HOST, endpoint.host.clone());
    req.headers_mut().insert(ACCEPT, "text/plain;version=0.0.4".parse().expect("a valid header"));
    let (status, body) = conn.exchange(req).await.context("reading /metrics")?;
    if !status.is_success() {
        bail!("/metrics answered {status}");
    }
    Ok(parse(&String::from_utf8_lossy(&body)))
}

/// The stage histograms, and the publish routes' (`publish` for single
/// notifications, `publish-batch`), from Prometheus text.
fn parse(text: &str) -> Snapshot {
    let mut out: BTreeMap<String, Hist> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let label = |key: &str| {
            labels.split("\",").find_map(|kv| kv.strip_prefix(&format!("{key}=\"")).map(|v| v.trim_end_matches('"').to_owned()))
        };
        let (family, part) = if let Some(f) = name.strip_suffix("_bucket") {
            (f, "bucket")
        } else if let Some(f) = name.strip_suffix("_sum") {
            (f, "sum")
        } else if let Some(f) = name.strip_suffix("_count") {
            (f, "count")
        } else {
            continue;
        };
        let stage = match family {
            STAGE_FAMILY => label("stage"),
            REQUEST_FAMILY if label("method").as_deref() == Some("POST") => match label("route").as_deref() {
                Some(r) if r.ends_with("/channels/{channel}/notifications") => Some("publish".to_owned()),
                Some(r) if r.ends_with("/notifications:batch") => Some("publish-batch".to_owned()),
                _ => None,
            },
            _ => None,
        };
        let Some(stage) = stage else { continue };
        // Several series (statuses) of one route add up.
        let h = out.entry(stage).or_default();
        match part {
            "bucket" => {
                let le = match label("le").as_deref() {
                    Some("+Inf") => f64::INFINITY,
                    Some(le) => le.parse().unwrap_or(f64::INFINITY),
                    None => continue,
                };
                match h.buckets.iter_mut().find(|(b, _)| *b == le) {
                    Some((_, c)) => *c += value,
                    None => h.buckets.push((le, value)),
                }
            }
            "sum" => h.sum += value,
            _ => h.count += value,
        }
    }
    for h in out.values_mut() {
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Snapshot(out)
}

/// What happened between two scrapes, step by step, in the order a
/// notification goes through them.
pub fn between(before: &Snapshot, after: &Snapshot) -> Vec<StageSummary> {
    const ORDER: [&str; 6] = ["publish", "publish-batch", "commit", "relay", "fanout", "queue"];
    let mut out = Vec::new();
    for stage in ORDER {
        let Some(a) = after.0.get(stage) else { continue };
        let empty = Hist::default();
        let b = before.0.get(stage).unwrap_or(&empty);
        let count = a.count - b.count;
        if count <= 0.0 {
            continue;
        }
        let buckets: Vec<(f64, f64)> =
            a.buckets.iter().map(|&(le, c)| (le, c - b.buckets.iter().find(|(l, _)| *l == le).map_or(0.0, |x| x.1))).collect();
        out.push(StageSummary {
            stage: stage.to_owned(),
            count: count as u64,
            mean_us: (a.sum - b.sum) / count * 1e6,
            p50_us: quantile(&buckets, count, 0.5) * 1e6,
            p99_us: quantile(&buckets, count, 0.99) * 1e6,
        });
    }
    out
}

/// The `q` quantile of cumulative `buckets` holding `count` samples,
/// interpolated linearly within its bucket (the last finite bound when it
/// falls past every bound).
fn quantile(buckets: &[(f64, f64)], count: f64, q: f64) -> f64 {
    let rank = q * count;
    let mut lower = (0.0, 0.0);
    for &(le, c) in buckets {
        if c >= rank {
            if le.is_infinite() {
                return lower.0;
            }
            let within = if c > lower.1 { (rank - lower.1) / (c - lower.1) } else { 1.0 };
            return lower.0 + (le - lower.0) * within;
        }
        lower = (le, c);
    }
    lower.0
}

/// Readable lines for a report.
pub fn lines(stages: &[StageSummary]) -> Vec<String> {
    if stages.is_empty() {
        return vec!["  server steps: none reported (not a Herald node, or nothing published)".to_owned()];
    }
    let mut out = vec!["  server steps (from /metrics; quantiles within histogram buckets):".to_owned()];
    for s in stages {
        out.push(format!(
            "    {:<13} n={:<9} mean {:>9.1} us  p50 {:>9.1} us  p99 {:>9.1} us",
            s.stage, s.count, s.mean_us, s.p50_us, s.p99_us
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE herald_delivery_stage_seconds histogram
herald_delivery_stage_seconds_bucket{stage="fanout",le="0.0001"} 1
herald_delivery_stage_seconds_bucket{stage="fanout",le="0.001"} 1
herald_delivery_stage_seconds_bucket{stage="fanout",le="+Inf"} 1
herald_delivery_stage_seconds_sum{stage="fanout"} 0.00005
herald_delivery_stage_seconds_count{stage="fanout"} 1
herald_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 7
"#;
    const AFTER: &str = r#"herald_delivery_stage_seconds_bucket{stage="fanout",le="0.0001"} 51
herald_delivery_stage_seconds_bucket{stage="fanout",le="0.001"} 101
herald_delivery_stage_seconds_bucket{stage="fanout",le="+Inf"} 101
herald_delivery_stage_seconds_sum{stage="fanout"} 0.03005
herald_delivery_stage_seconds_count{stage="fanout"} 101
herald_http_request_duration_seconds_bucket{method="POST",route="/v1/tenants/{tenant}/channels/{channel}/notifications",status="201",le="0.001"} 3
herald_http_request_duration_seconds_bucket{method="POST",route="/v1/tenants/{tenant}/channels/{channel}/notifications",status="201",le="+Inf"} 4
herald_http_request_duration_seconds_sum{method="POST",route="/v1/tenants/{tenant}/channels/{channel}/notifications",status="201"} 0.004
herald_http_request_duration_seconds_count{method="POST",route="/v1/tenants/{tenant}/channels/{channel}/notifications",status="201"} 4
"#;

    #[test]
    fn the_difference_of_two_scrapes_is_summarised_per_step() {
        let got = between(&parse(BEFORE), &parse(AFTER));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].stage.as_str(), got[0].count), ("publish", 4));
        assert!((got[0].mean_us - 1000.0).abs() < 1e-6, "{got:?}");
        let fanout = &got[1];
        assert_eq!((fanout.stage.as_str(), fanout.count), ("fanout", 100));
        assert!((fanout.mean_us - 300.0).abs() < 1e-6, "{fanout:?}");
        // 50 of 100 at or below 100 us, the other 50 up to 1 ms.
        assert!((fanout.p50_us - 100.0).abs() < 1e-6, "{fanout:?}");
        assert!((fanout.p99_us - 982.0).abs() < 1e-6, "{fanout:?}");
    }
}
