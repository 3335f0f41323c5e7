//! `trusted_proxies`: behind a reverse proxy the client is the address the
//! proxy forwards, and only a trusted proxy is believed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// A stream of `t` as if sent for `client` (in `X-Forwarded-For`).
async fn stream_for(s: &Server, t: &Tenant, token: &str, client: &str) -> reqwest::Response {
    s.client
        .get(s.url(&format!("/v1/tenants/{}/stream?channel=orders", t.id)))
        .bearer_auth(token)
        .header("X-Forwarded-For", client)
        .send()
        .await
        .unwrap()
}

/// The address the audit log recorded for the newest event of `t`.
async fn audited_addr(s: &Server, t: &Tenant) -> Value {
    let (st, page) = s.get(&format!("/v1/tenants/{}/audit-log?limit=100", t.id), &s.operator_key).await;
    assert_eq!(st, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    items.iter().max_by_key(|e| e["id"].as_str().unwrap().to_owned()).unwrap()["remote_addr"].clone()
}

e2e! {
    async fn behind_a_trusted_proxy_each_client_has_its_own_allowance(b) {
        let s = Server::start_with(b, |c| {
            c.trusted_proxies = vec!["127.0.0.1/32".into()];
            c.limits.max_connections_per_ip = 1;
        })
        .await;
        let t = s.tenant("acme").await;
        let token = t.token("ada", &["orders"]);

        let first = stream_for(&s, &t, &token, "198.51.100.1").await;
        assert_eq!(first.status(), StatusCode::OK);
        // Another client behind the same proxy has its own allowance.
        let second = stream_for(&s, &t, &token, "198.51.100.2").await;
        assert_eq!(second.status(), StatusCode::OK);
        // The first client's is used up: the limit counts the forwarded address.
        let refused = stream_for(&s, &t, &token, "198.51.100.1").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let problem: Value = refused.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains("198.51.100.1"), "{problem}");
        // A client cannot pose as another by prepending to the header: the
        // rightmost untrusted address is the one that counts.
        let prepended = stream_for(&s, &t, &token, "198.51.100.9, 198.51.100.1").await;
        assert_eq!(prepended.status(), StatusCode::TOO_MANY_REQUESTS);
        // RFC 7239 `Forwarded` works the same way.
        let forwarded = s
            .client
            .get(s.url(&format!("/v1/tenants/{}/stream?channel=orders", t.id)))
            .bearer_auth(&token)
            .header("Forwarded", "for=\"[2001:db8::7]:4711\";proto=https")
            .send()
            .await
            .unwrap();
        assert_eq!(forwarded.status(), StatusCode::OK);

        // The audit log records the client, not the proxy.
        let res = s
            .client
            .post(s.url(&format!("/v1/tenants/{}/channels", t.id)))
            .bearer_auth(&t.admin_key)
            .header("X-Forwarded-For", "203.0.113.50")
            .json(&json!({"name": "orders"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(audited_addr(&s, &t).await, "203.0.113.50");
        drop((first, second, forwarded));
    }
}

e2e! {
    async fn without_trusted_proxies_a_forged_forwarding_header_changes_nothing(b) {
        let s = Server::start_with(b, |c| c.limits.max_connections_per_ip = 1).await;
        let t = s.tenant("acme").await;
        let token = t.token("ada", &["orders"]);

        let first = stream_for(&s, &t, &token, "198.51.100.1").await;
        assert_eq!(first.status(), StatusCode::OK);
        // Claiming to be someone else does not buy another allowance.
        let refused = stream_for(&s, &t, &token, "198.51.100.2").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let problem: Value = refused.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains("127.0.0.1"), "{problem}");

        // The audit log records the TCP peer.
        let res = s
            .client
            .post(s.url(&format!("/v1/tenants/{}/channels", t.id)))
            .bearer_auth(&t.admin_key)
            .header("X-Forwarded-For", "203.0.113.50")
            .header("Forwarded", "for=203.0.113.51")
            .json(&json!({"name": "orders"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(audited_addr(&s, &t).await, "127.0.0.1");
        drop(first);
    }
}

/// Sends `GET /v1/whoami` with `X-Forwarded-For: client` and `request_id`
/// to `node`; returns its access log line once written.
async fn access_line(node: &Node, client: &str, request_id: &str) -> String {
    let res = reqwest::Client::new()
        .get(format!("{}/v1/whoami", node.base))
        .header("X-Forwarded-For", client)
        .header("X-Request-Id", request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(line) = node.log().into_iter().find(|l| l.contains(request_id) && l.contains("answered")) {
            return line;
        }
        assert!(std::time::Instant::now() < deadline, "no access line for {request_id}: {:#?}", node.log());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

e2e! {
    async fn the_access_log_names_the_forwarded_client_only_from_a_trusted_proxy(b) {
        // The real binary, configured through the environment (comma-separated).
        let db = TestDb::create(b).await;
        let trusting = Node::spawn(&db.url, &[("HERALD_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1/32")]);
        let line = access_line(&trusting, "198.51.100.7", "e2e-proxied-1").await;
        assert!(line.contains("peer=198.51.100.7"), "{line}");
        drop(trusting);

        let db = TestDb::create(b).await;
        let plain = Node::spawn(&db.url, &[]);
        let line = access_line(&plain, "198.51.100.7", "e2e-proxied-2").await;
        assert!(line.contains("peer=127.0.0.1") && !line.contains("198.51.100.7"), "{line}");
    }
}
