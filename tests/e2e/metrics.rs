//! `/metrics` end to end: what a scrape reports after real traffic, the
//! bounded tenant label, the latency histograms, plugin and email
//! outcomes, and the exposition read by the Prometheus organisation's own
//! OpenMetrics parser.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;
use crate::tools::repo_path;

/// One sample: metric name, labels, value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of an OpenMetrics text answer (enough of the format for
/// Herald's own output; the Python parser below checks the format itself).
pub(crate) fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("a sample line without a value: {line}"),
        };
        let mut labels = BTreeMap::new();
        let value_text = if let Some(inner) = rest.strip_prefix('{') {
            let close = inner.rfind('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
            let mut body = &inner[..close];
            while !body.is_empty() {
                let eq = body.find("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
                let key = body[..eq].to_owned();
                let after = &body[eq + 2..];
                let end = after.find('"').unwrap_or_else(|| panic!("unterminated label value in {line}"));
                labels.insert(key, after[..end].to_owned());
                body = after[end + 1..].trim_start_matches(',');
            }
            inner[close + 1..].trim()
        } else {
            rest.trim()
        };
        let value = value_text.split_whitespace().next().unwrap().parse().unwrap_or_else(|e| panic!("value of {line}: {e}"));
        out.push(Sample { name: name.to_owned(), labels, value });
    }
    out
}

/// Asks as Prometheus does, for OpenMetrics.
pub(crate) async fn scrape(s: &Server) -> (String, Vec<Sample>) {
    let res = s
        .client
        .get(s.url("/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text; version=1.0.0"), "{ct}");
    let text = res.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "an OpenMetrics answer ends with # EOF");
    let samples = parse(&text);
    (text, samples)
}

/// The value of the one sample named `name` whose labels include `labels`.
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> =
        samples.iter().filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))).collect();
    assert_eq!(found.len(), 1, "one {name} with {labels:?}, found {found:?}");
    found[0].value
}

/// The sum over every sample named `name` whose labels include `labels`.
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

/// Scrapes until `ok` holds (deliveries are counted as they reach the socket).
pub(crate) async fn wait_for(s: &Server, what: &str, ok: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (text, samples) = scrape(s).await;
        if ok(&samples) {
            return samples;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

e2e! {
    async fn a_scrape_reports_traffic_with_a_bounded_tenant_label(b) {
        let s = Server::start_with(b, |c| {
            c.metrics.tenant_labels = 1;
            // A closed stream is noticed at its next write.
            c.stream.heartbeat_seconds = 1;
        })
        .await;
        let busy = s.tenant("busy").await;
        let quiet = s.tenant("quiet").await;
        let late = s.tenant("late").await;

        // `busy` has two streams: it takes the one labelled place.
        let token = busy.token("ada", &["orders"]);
        let mut a = s.subscribe(&busy, &token, &["orders"], None).await;
        let mut b2 = s.subscribe(&busy, &token, &["orders"], None).await;
        let mut ids_busy = Vec::new();
        for _ in 0..3 {
            ids_busy.push(s.publish(&busy, "orders", json!({"type": "x"})).await);
        }
        s.publish(&quiet, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&a.take(3, WAIT).await), ids_busy);
        assert_eq!(ids(&b2.take(3, WAIT).await), ids_busy);

        let bid = busy.id.as_str();
        let m = wait_for(&s, "six deliveries counted", |m| sum(m, "herald_notifications_delivered_total", &[("tenant", bid)]) == 6.0).await;
        assert_eq!(value(&m, "herald_connections", &[("tenant", bid), ("transport", "sse")]), 2.0);
        assert_eq!(value(&m, "herald_connections", &[("tenant", bid), ("transport", "long_poll")]), 0.0);
        assert_eq!(value(&m, "herald_notifications_published_total", &[("tenant", bid)]), 3.0);
        // Everyone else is summed under `_other`; no other tenant has a series.
        assert_eq!(value(&m, "herald_notifications_published_total", &[("tenant", "_other")]), 1.0);
        assert_eq!(value(&m, "herald_connections", &[("tenant", "_other"), ("transport", "sse")]), 0.0);
        let tenants: std::collections::BTreeSet<&str> = m.iter().filter_map(|s| s.labels.get("tenant").map(String::as_str)).collect();
        assert_eq!(tenants, [bid, "_other"].into_iter().collect());

        // Request latency by method, route pattern (not path) and status.
        let route = "/v1/tenants/{tenant}/channels/{channel}/notifications";
        assert_eq!(
            value(&m, "herald_http_request_duration_seconds_count", &[("method", "POST"), ("route", route), ("status", "201")]),
            4.0
        );
        assert_eq!(
            value(&m, "herald_http_request_duration_seconds_bucket", &[("method", "POST"), ("route", route), ("status", "201"), ("le", "+Inf")]),
            4.0
        );
        assert!(m.iter().all(|s| !s.labels.get("route").is_some_and(|r| r.contains(bid))), "paths never become labels");
        // Every statement is timed: reads (keys, history) and the publishes' inserts.
        assert!(value(&m, "herald_db_query_duration_seconds_count", &[("operation", "select")]) > 0.0);
        assert!(value(&m, "herald_db_query_duration_seconds_count", &[("operation", "insert")]) >= 4.0);
        assert!(value(&m, "herald_process_open_fds", &[]) > 0.0);
        assert!(value(&m, "herald_process_resident_memory_bytes", &[]) > 1e6);
        assert_eq!(value(&m, "herald_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);

        // A stream that resumes gets history: counted as replayed.
        let replayed_before = value(&m, "herald_notifications_replayed_total", &[]);
        let mut resumed = s.subscribe(&busy, &token, &["orders"], Some(ids_busy[0])).await;
        assert_eq!(ids(&resumed.take(2, WAIT).await), ids_busy[1..]);
        let m = wait_for(&s, "two replayed", |m| value(m, "herald_notifications_replayed_total", &[]) == replayed_before + 2.0).await;

        // `late` becomes the busiest, but the place is taken: labels do not churn.
        let lt = late.token("bob", &["x"]);
        let mut streams = Vec::new();
        for _ in 0..4 {
            streams.push(s.subscribe(&late, &lt, &["x"], None).await);
        }
        let m2 = wait_for(&s, "late's streams counted", |m| value(m, "herald_connections", &[("tenant", "_other"), ("transport", "sse")]) == 4.0).await;
        assert!(m2.iter().all(|s| s.labels.get("tenant").map(String::as_str) != Some(late.id.as_str())));
        drop(m);

        // Closed streams leave the gauge.
        drop((a, b2, resumed, streams));
        wait_for(&s, "streams closed", |m| {
            value(m, "herald_connections", &[("tenant", bid), ("transport", "sse")]) == 0.0
                && value(m, "herald_connections", &[("tenant", "_other"), ("transport", "sse")]) == 0.0
        })
        .await;
    }
}

e2e! {
    async fn the_tenant_label_can_be_off_and_metrics_disabled(b) {
        let s = Server::start_with(b, |c| c.metrics.tenant_labels = 0).await;
        let t = s.tenant("acme").await;
        let mut sub = s.subscribe(&t, &t.token("ada", &["orders"]), &["orders"], None).await;
        let id = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![id]);
        let m = wait_for(&s, "one delivery", |m| value(m, "herald_notifications_delivered_total", &[]) == 1.0).await;
        assert!(m.iter().all(|s| !s.labels.contains_key("tenant")), "no tenant label at all");
        assert_eq!(value(&m, "herald_connections", &[("transport", "sse")]), 1.0);
        assert_eq!(value(&m, "herald_notifications_published_total", &[]), 1.0);
        drop(sub);

        let off = Server::start_with(b, |c| c.metrics.enabled = false).await;
        let res = reqwest::get(off.url("/metrics")).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let problem: Value = res.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains("metrics.enabled"), "{problem}");
    }
}

e2e! {
    async fn plugin_calls_drops_and_emails_are_counted(b) {
        let smtp = SmtpServer::start(&[]);
        let s = Server::start_with(b, |c| email_config(c, smtp.url())).await;
        let t = s.tenant("acme").await;
        assert_eq!(s.upload_plugin(&t, "filter", "1.0.0", plugin_wasm("keyword-filter")).await.0, StatusCode::CREATED);
        let (status, ch) = s
            .post(
                &format!("/v1/tenants/{}/channels", t.id),
                &t.admin_key,
                json!({"name": "support", "plugins": [{"plugin": "filter", "config": {"block": ["casino"]}}],
                       "email": {"after_seconds": 1}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ch}");
        let (status, r) = s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/recipients/bob", t.id), &t.admin_key,
            Some(json!({"email": "bob@example.com"}))).await;
        assert!(status.is_success(), "{r}");

        let (status, r) = s.post(&format!("/v1/tenants/{}/channels/support/notifications", t.id), &t.publish_key,
            json!({"type": "msg", "data": {"body": "win at the casino"}})).await;
        assert_eq!(status, StatusCode::OK, "withheld: {r}");
        // bob is offline: after a second he gets an email.
        s.publish(&t, "support", json!({"type": "msg", "data": {"body": "hello"}, "recipients": ["bob"]})).await;
        smtp.wait_for(1, Duration::from_secs(30)).await;

        let m = wait_for(&s, "the email counted", |m| sum(m, "herald_emails_total", &[("outcome", "sent")]) == 1.0).await;
        assert_eq!(value(&m, "herald_plugin_calls_total", &[("outcome", "ok")]), 2.0);
        assert_eq!(sum(&m, "herald_plugin_calls_total", &[]), 2.0);
        assert_eq!(value(&m, "herald_plugin_call_duration_seconds_count", &[]), 2.0);
        assert!(value(&m, "herald_plugin_call_duration_seconds_sum", &[]) > 0.0);
        assert_eq!(value(&m, "herald_notifications_dropped_total", &[("reason", "plugin_filtered")]), 1.0);
        assert_eq!(value(&m, "herald_notifications_dropped_total", &[("reason", "plugin_failed")]), 0.0);
        assert_eq!(sum(&m, "herald_emails_total", &[("outcome", "failed")]), 0.0);
    }
}

e2e! {
    /// Prometheus's own parsers (the `prometheus-client` Python package)
    /// read a live answer in both formats and see each family with its type.
    async fn the_official_parsers_read_both_formats(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        s.publish(&t, "orders", json!({"type": "x"})).await;
        let (openmetrics, _) = scrape(&s).await;
        // Without an `Accept` for OpenMetrics: the classic text format.
        let res = reqwest::get(s.url("/metrics")).await.unwrap();
        assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
        let classic = res.text().await.unwrap();
        assert!(!classic.contains("# EOF"), "{classic}");
        assert!(classic.contains("# TYPE herald_notifications_published_total counter\n"), "{classic}");
        assert_eq!(sum(&parse(&classic), "herald_notifications_published_total", &[]), 1.0);
        assert_eq!(
            sum(&parse(&classic), "herald_notifications_published_total", &[]),
            sum(&parse(&openmetrics), "herald_notifications_published_total", &[])
        );

        let dir = tempfile::tempdir().unwrap();
        let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as classic
parse = openmetrics if sys.argv[2] == "openmetrics" else classic
text = open(sys.argv[1]).read()
print(json.dumps({f.name: [f.type, len(f.samples)] for f in parse(text)}))
"#;
        for (format, text) in [("openmetrics", &openmetrics), ("classic", &classic)] {
            let file = dir.path().join(format);
            std::fs::write(&file, text).unwrap();
            let (ok, out) = crate::tools::run(&repo_path("."), &crate::tools::python_tool("python3"), &["-c", script, file.to_str().unwrap(), format], &[], Duration::from_secs(60));
            assert!(ok, "the {format} parser refused the answer (scripts/test --setup installs it):\n{out}\n{text}");
            let families: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap_or_else(|e| panic!("{e}: {out}"));
            for (name, kind) in [
                ("herald_connections", "gauge"),
                ("herald_notifications_published", "counter"),
                ("herald_notifications_delivered", "counter"),
                ("herald_notifications_replayed", "counter"),
                ("herald_notifications_dropped", "counter"),
                ("herald_subscriber_queue_overflows", "counter"),
                ("herald_plugin_calls", "counter"),
                ("herald_plugin_call_duration_seconds", "histogram"),
                ("herald_emails", "counter"),
                ("herald_http_request_duration_seconds", "histogram"),
                ("herald_db_query_duration_seconds", "histogram"),
                ("herald_bus_announce_duration_seconds", "histogram"),
            ] {
                assert_eq!(families[name][0], kind, "{format}: {name} in {families:#}");
            }
            assert!(families["herald_http_request_duration_seconds"][1].as_u64().unwrap() > 0);
        }
    }
}
