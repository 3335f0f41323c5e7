//! Issue 19, "say why nothing arrives": a cross-origin stream or poll from
//! an origin the tenant does not allow is refused by the browser, which
//! tells the page only that CORS blocked it. Herald counts the refusal in
//! `/metrics`, shows it to the tenant's admin
//! (`GET …/allowed-origins/refusals`) and logs it, rate-limited, with the
//! way out. These run the real binary, to read its log.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::ACCESS_CONTROL_ALLOW_ORIGIN;
use serde_json::{Value, json};

use crate::harness::*;

/// `herald_app::origin_refusals::MAX_LOGGED`: pairs logged a minute.
const MAX_LOGGED: usize = 256;
/// `herald_app::origin_refusals::RECENT`: origins kept per tenant.
const RECENT: usize = 10;

const REFUSED_LINE: &str = "cross-origin request refused";
const UNLOGGED_LINE: &str = "not logging new pairs";

/// One unlabelled or labelled sample of `/metrics`.
async fn metric(s: &Server, series: &str) -> u64 {
    let text = reqwest::get(s.url("/metrics")).await.unwrap().text().await.unwrap();
    let prefix = format!("{series} ");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no `{series}` in /metrics:\n{text}"));
    line[prefix.len()..].trim().parse().unwrap()
}

async fn refusals(s: &Server, t: &Tenant) -> Value {
    let (status, body) = s.get(&format!("/v1/tenants/{}/allowed-origins/refusals", t.id), &t.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Opens the tenant's stream from a page on `origin` (an `EventSource`'s
/// request: no preflight); returns the `Access-Control-Allow-Origin` answered.
async fn stream_from(s: &Server, t: &Tenant, origin: &str) -> Option<String> {
    let res = s
        .client
        .get(s.url(&format!("/v1/tenants/{}/stream?channel=orders", t.id)))
        .query(&[("access_token", t.token("42", &["orders"]))])
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the stream itself is authorized by its token, whatever the origin");
    res.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.to_str().unwrap().to_owned())
}

async fn preflight(s: &Server, tenant: &str, origin: &str) -> reqwest::Response {
    s.client
        .request(reqwest::Method::OPTIONS, s.url(&format!("/v1/tenants/{tenant}/stream")))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap()
}

/// Waits until the node has logged a line containing every one of
/// `needles`; returns the log so far.
async fn wait_for_line(node: &Node, needles: &[&str]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let log = node.log();
        if log.iter().any(|l| needles.iter().all(|n| l.contains(n))) {
            return log;
        }
        assert!(tokio::time::Instant::now() < deadline, "expected a log line with {needles:?} within {WAIT:?}, got:\n{}", log.join("\n"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

e2e! {
    async fn a_refused_cross_origin_stream_is_counted_shown_and_logged(b) {
        let db = TestDb::create(b).await;
        let node = Node::spawn(&db.url, &[]);
        let s = Server::attach(node.base.clone()).await;
        let t = s.tenant("acme").await;
        let other = s.tenant("globex").await;
        let (allowed, refused) = ("http://app.test", "http://localhost:5173");
        let (status, body) = s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/allowed-origins", t.id), &t.admin_key, Some(json!({"origins": [allowed]}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(metric(&s, "herald_origin_refusals_total").await, 0);
        assert_eq!(refusals(&s, &t).await, json!({"refused": 0, "recent": []}));

        // Allowed, same-origin (the console), and unknown tenants: nothing counted.
        assert_eq!(stream_from(&s, &t, allowed).await.as_deref(), Some(allowed));
        assert_eq!(stream_from(&s, &t, &s.base).await, None, "Herald's own origin needs no CORS");
        let made_up = herald_core::ids::TenantId::generate().to_string();
        assert_eq!(preflight(&s, &made_up, refused).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(metric(&s, "herald_origin_refusals_total").await, 0, "allowed, same-origin and unknown-tenant requests are no refusals");

        // The refused stream: no Allow-Origin, so the browser hides it.
        assert_eq!(stream_from(&s, &t, refused).await, None);
        assert_eq!(metric(&s, "herald_origin_refusals_total").await, 1);
        let r = refusals(&s, &t).await;
        assert_eq!(r["refused"], 1, "{r}");
        let recent = r["recent"].as_array().unwrap();
        assert_eq!(recent.len(), 1, "{r}");
        assert_eq!((&recent[0]["origin"], &recent[0]["count"], &recent[0]["allowable"]), (&json!(refused), &json!(1), &json!(true)), "{r}");
        assert!(recent[0]["last_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
        let log = wait_for_line(&node, &[REFUSED_LINE, &t.id, refused, &format!("PUT /v1/tenants/{}/allowed-origins", t.id)]).await;
        let line = log.iter().find(|l| l.contains(REFUSED_LINE)).unwrap();
        assert!(line.contains(" WARN "), "a refusal is a warning: {line}");

        // A preflight is refused with the same hint in its problem, counted
        // and, within the minute, not logged again.
        let res = preflight(&s, &t.id, refused).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let problem: Value = res.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains(&format!("PUT /v1/tenants/{}/allowed-origins", t.id)), "{problem}");
        assert_eq!(metric(&s, "herald_origin_refusals_total").await, 2);
        let r = refusals(&s, &t).await;
        assert_eq!((&r["refused"], &r["recent"][0]["count"]), (&json!(2), &json!(2)), "{r}");
        // Another tenant's refusals are its own, and its key cannot read these.
        assert_eq!(refusals(&s, &other).await, json!({"refused": 0, "recent": []}));
        let (status, _) = s.get(&format!("/v1/tenants/{}/allowed-origins/refusals", t.id), &other.admin_key).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s.get(&format!("/v1/tenants/{made_up}/allowed-origins/refusals"), &s.operator_key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, r) = s.get(&format!("/v1/tenants/{}/allowed-origins/refusals", t.id), &s.operator_key).await;
        assert_eq!((status, &r["refused"]), (StatusCode::OK, &json!(2)), "the operator reads any tenant's");

        // Allowing it ends the refusals.
        let (status, body) = s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/allowed-origins", t.id), &t.admin_key, Some(json!({"origins": [allowed, refused]}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(stream_from(&s, &t, refused).await.as_deref(), Some(refused));
        assert_eq!(metric(&s, "herald_origin_refusals_total").await, 2);
        let lines = node.log().iter().filter(|l| l.contains(REFUSED_LINE)).count();
        assert_eq!(lines, 1, "one line for the pair within the minute, got {lines}");
    }
}

e2e! {
    async fn a_flood_of_origins_and_tenant_ids_stays_bounded_and_logs_at_a_bounded_rate(b) {
        let db = TestDb::create(b).await;
        let node = Node::spawn(&db.url, &[]);
        let s = Server::attach(node.base.clone()).await;
        let t = s.tenant("acme").await;
        let marker = s.tenant("marker").await;
        let flood = MAX_LOGGED + 100;
        let made_up = 300;
        // Random origins for the tenant, and made-up tenant ids, 8 at a time.
        let requests: Vec<(String, String)> = (0..flood)
            .map(|i| (t.id.clone(), format!("http://x{i}.flood.test")))
            .chain((0..made_up).map(|i| (herald_core::ids::TenantId::generate().to_string(), format!("http://y{i}.flood.test"))))
            .collect();
        let statuses: Vec<StatusCode> =
            futures_util::stream::iter(requests.iter().map(|(tenant, origin)| preflight(&s, tenant, origin))).buffer_unordered(8).map(|r| r.status()).collect().await;
        assert!(statuses.iter().all(|s| *s == StatusCode::FORBIDDEN), "every preflight refused: {statuses:?}");

        assert_eq!(metric(&s, "herald_origin_refusals_total").await, flood as u64, "only the tenant that exists is counted");
        assert_eq!(metric(&s, "herald_origin_refusal_entries{kind=\"tenant\"}").await, 1);
        assert_eq!(metric(&s, "herald_origin_refusal_entries{kind=\"logged\"}").await, MAX_LOGGED as u64, "the logged pairs' table is at its cap");
        let r = refusals(&s, &t).await;
        assert_eq!(r["refused"], flood, "{r}");
        assert_eq!(r["recent"].as_array().unwrap().len(), RECENT, "{r}");

        // Every line of the flood is written before its answer; a deletion's
        // line after them says the log has caught up.
        let (status, _) = s.call(reqwest::Method::DELETE, &format!("/v1/tenants/{}", marker.id), &s.operator_key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let log = wait_for_line(&node, &["tenant deleted", &marker.id]).await;
        let refused = log.iter().filter(|l| l.contains(REFUSED_LINE)).count();
        let unlogged: Vec<_> = log.iter().filter(|l| l.contains(UNLOGGED_LINE)).collect();
        assert_eq!(refused, MAX_LOGGED, "lines for new pairs within the minute: expected {MAX_LOGGED}, got {refused}");
        assert_eq!(unlogged.len(), 1, "one line says the rest went unlogged, got {unlogged:#?}");
        assert!(log.iter().all(|l| !l.contains(".flood.test") || l.contains(&t.id)), "made-up tenants are not logged");
    }
}
