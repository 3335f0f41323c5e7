//! Limits on what one client may hold: streams and waiting long-polls per
//! client address.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

e2e! {
    async fn one_address_holds_at_most_its_streams_and_long_polls(b) {
        // Quick heartbeats: a closed stream is noticed at its next write.
        let s = Server::start_with(b, |c| {
            c.limits.max_connections_per_ip = 2;
            c.stream.heartbeat_seconds = 1;
        })
        .await;
        let t = s.tenant("acme").await;
        let other = s.tenant("globex").await;
        let token = t.token("ada", &["orders"]);

        let first = s.subscribe(&t, &token, &["orders"], None).await;
        // Another tenant's stream from the same address counts too: the
        // limit is the client's, not the tenant's.
        let second = s.subscribe(&other, &other.token("bob", &["orders"]), &["orders"], None).await;
        let refused = s.open_stream(&t, &token, &["orders"], None).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["retry-after"], "5");
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(problem["type"], "urn:herald:problem:too-many-connections");
        assert!(problem["detail"].as_str().unwrap().contains("127.0.0.1"), "{problem}");

        // A long-poll that would wait counts; one that answers at once does not.
        let poll = |wait: u64| {
            s.client.get(s.url(&format!("/v1/tenants/{}/notifications?channel=orders&after=0&wait={wait}", t.id))).bearer_auth(&token)
        };
        assert_eq!(poll(5).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(poll(0).send().await.unwrap().status(), StatusCode::OK);
        // Publishing and admin calls are not connections.
        s.publish(&t, "orders", json!({"type": "x"})).await;

        // A closed stream gives its place back.
        drop(second);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let res = s.open_stream(&t, &token, &["orders"], None).await;
            if res.status() == StatusCode::OK {
                break;
            }
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(tokio::time::Instant::now() < deadline, "the closed stream's place was never given back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(first);
    }
}
