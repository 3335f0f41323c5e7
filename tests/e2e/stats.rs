//! Live stats, end to end: a tenant's own (connections by transport and
//! pattern, publish and delivery counts) and the operator's view of the
//! node. Email outcomes are checked with the emails-per-day quota in
//! `quotas.rs`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

async fn tenant_stats(s: &Server, t: &Tenant) -> Value {
    let (status, stats) = s.get(&format!("/v1/tenants/{}/stats", t.id), &t.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    stats
}

/// Polls the tenant's stats until `ok` holds; panics with the last ones otherwise.
async fn wait_for_stats(s: &Server, t: &Tenant, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stats = tenant_stats(s, t).await;
        if ok(&stats) {
            return stats;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {stats:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

e2e! {
    async fn tenant_stats_show_live_connections_publishes_and_deliveries(b) {
        let s = Server::start_with(b, |c| c.stream.heartbeat_seconds = 1).await;
        let t = s.tenant("acme").await;
        let other = s.tenant("other").await;

        let stats = tenant_stats(&s, &t).await;
        assert_eq!(stats["scope"], "node");
        assert_eq!(stats["tenant"], t.id.as_str());
        assert_eq!(stats["connections"], json!({"total": 0, "sse": 0, "long_poll": 0}));
        assert_eq!(stats["connections_by_pattern"], json!([]));
        assert_eq!(stats["published"]["total"], 0);
        assert_eq!(stats["delivered"]["total"], 0);
        assert_eq!(stats["emails_24h"], json!({"sent": 0, "failed": 0, "deferred": 0, "cancelled": 0, "delivered": 0}));
        assert_eq!(stats["plugins"], json!({"call_errors_on_node": 0, "dead_letters_24h": {}}));

        // Two streams: one on two patterns, one on one of them.
        let token = t.token("ada", &["orders", "user.ada.>"]);
        let mut a = s.subscribe(&t, &token, &["orders", "user.ada.>"], None).await;
        let mut b2 = s.subscribe(&t, &token, &["orders"], None).await;
        // The place is taken before the response starts.
        let stats = tenant_stats(&s, &t).await;
        assert_eq!(stats["connections"], json!({"total": 2, "sse": 2, "long_poll": 0}), "{stats:#}");
        assert_eq!(
            stats["connections_by_pattern"],
            json!([{"pattern": "orders", "connections": 2}, {"pattern": "user.ada.>", "connections": 1}])
        );

        let mut orders = Vec::new();
        for _ in 0..3 {
            orders.push(s.publish(&t, "orders", json!({"type": "x"})).await);
        }
        let batch = s.post(&format!("/v1/tenants/{}/notifications:batch", t.id), &t.publish_key,
            json!({"notifications": [{"channel": "user.ada.inbox", "type": "x"}, {"channel": "elsewhere", "type": "x"}]})).await;
        assert_eq!(batch.0, StatusCode::CREATED, "{}", batch.1);
        assert_eq!(ids(&a.take(4, WAIT).await).len(), 4);
        assert_eq!(ids(&b2.take(3, WAIT).await), orders);
        // Another tenant's traffic is not counted here.
        s.publish(&other, "orders", json!({"type": "x"})).await;

        // 5 published; 4 + 3 handed out (counted as they are handed to the socket).
        let stats = wait_for_stats(&s, &t, "deliveries counted", |s| s["delivered"]["total"] == 7).await;
        assert_eq!(stats["published"]["total"], 5, "{stats:#}");
        assert!(stats["published"]["per_second_10s"].as_f64().unwrap() > 0.0, "{stats:#}");
        assert!(stats["published"]["per_second_60s"].as_f64().unwrap() > 0.0, "{stats:#}");
        assert!(stats["delivered"]["per_second_10s"].as_f64().unwrap() > 0.0, "{stats:#}");

        // A waiting long-poll counts as a connection, and its answer as a delivery.
        let poll = {
            let (client, url, token) = (s.client.clone(), s.url(&format!("/v1/tenants/{}/notifications", t.id)), token.clone());
            let query = [("channel", "user.ada.>"), ("wait", "20")];
            tokio::spawn(async move { client.get(url).query(&query).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap() })
        };
        let stats = wait_for_stats(&s, &t, "the long-poll waiting", |s| s["connections"]["long_poll"] == 1).await;
        assert_eq!(stats["connections"], json!({"total": 3, "sse": 2, "long_poll": 1}), "{stats:#}");
        assert_eq!(stats["connections_by_pattern"][1], json!({"pattern": "user.ada.>", "connections": 2}), "{stats:#}");
        let id = s.publish(&t, "user.ada.inbox", json!({"type": "x"})).await;
        let page = poll.await.unwrap();
        assert_eq!(page["items"][0]["id"], id, "{page}");
        assert_eq!(ids(&a.take(1, WAIT).await), vec![id]);
        let stats = wait_for_stats(&s, &t, "the long-poll gone", |s| s["connections"]["long_poll"] == 0 && s["delivered"]["total"] == 9).await;
        assert_eq!(stats["published"]["total"], 6, "{stats:#}");

        // Closed streams give their places back.
        drop(a);
        drop(b2);
        let stats = wait_for_stats(&s, &t, "the streams gone", |s| s["connections"]["total"] == 0).await;
        assert_eq!(stats["connections_by_pattern"], json!([]), "{stats:#}");
        assert_eq!(tenant_stats(&s, &other).await["published"]["total"], 1);
    }
}

e2e! {
    async fn the_operator_sees_node_totals_and_the_busiest_tenants(b) {
        let s = Server::start(b).await;
        let quiet = s.tenant("quiet").await;
        let busy = s.tenant("busy").await;
        s.publish(&quiet, "orders", json!({"type": "x"})).await;
        s.publish(&busy, "orders", json!({"type": "x"})).await;
        let token = busy.token("ada", &["orders"]);
        let _a = s.subscribe(&busy, &token, &["orders"], None).await;
        let _b = s.subscribe(&busy, &token, &["orders"], None).await;

        let (status, stats) = s.get("/v1/stats", &s.operator_key).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(stats["scope"], "node");
        assert_eq!(stats["totals"]["tenants"], 2, "{stats:#}");
        assert_eq!(stats["totals"]["connections"], json!({"total": 2, "sse": 2, "long_poll": 0}));
        assert_eq!(stats["totals"]["published"]["total"], 2);
        let rows = stats["tenants"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        // Most connections first.
        assert_eq!(rows[0]["tenant"], busy.id.as_str());
        assert_eq!(rows[0]["connections"]["sse"], 2);
        assert_eq!(rows[1]["tenant"], quiet.id.as_str());
        assert_eq!(rows[1]["published"]["total"], 1);

        let (status, stats) = s.get("/v1/stats?top=1", &s.operator_key).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(stats["tenants"].as_array().unwrap().len(), 1);
        assert_eq!(stats["tenants"][0]["tenant"], busy.id.as_str());
        assert_eq!(stats["totals"]["tenants"], 2);

        for bad in ["top=0", "top=1001"] {
            let (status, p) = s.get(&format!("/v1/stats?{bad}"), &s.operator_key).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {p}");
            assert_eq!(p["type"], "urn:herald:problem:validation");
        }
        let (status, _) = s.get("/v1/stats?top=many", &s.operator_key).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Only the operator sees every tenant; a tenant's admin sees its own.
        let (status, p) = s.get("/v1/stats", &busy.admin_key).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
        let (status, _) = s.get(&format!("/v1/tenants/{}/stats", busy.id), &quiet.admin_key).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s.get(&format!("/v1/tenants/{}/stats", busy.id), &busy.publish_key).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s.get(&format!("/v1/tenants/{}/stats", busy.id), &s.operator_key).await;
        assert_eq!(status, StatusCode::OK);
    }
}
