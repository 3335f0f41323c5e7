//! Live delivery over SSE: fan-out, targeting, wire format, expiry, slow readers.

use futures_util::StreamExt;
use serde_json::json;

use crate::harness::*;

e2e! {
    async fn publish_reaches_two_subscribers(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let mut a = s.subscribe(&t, &t.token("1", &["orders"]), &["orders"], None).await;
        let mut b = s.subscribe(&t, &t.token("2", &["orders", "user.2.*"]), &["orders"], None).await;
        let id = s.publish(&t, "orders", json!({"type": "order.created", "data": {"order": 7, "note": "é"}})).await;

        for sub in [&mut a, &mut b] {
            let events = sub.take(1, WAIT).await;
            let e = &events[0];
            assert_eq!(e.id, id.to_string());
            assert_eq!(e.event, "order.created");
            let d = data(e);
            assert_eq!(d["id"], id);
            assert_eq!(d["channel"], "orders");
            assert_eq!(d["type"], "order.created");
            assert_eq!(d["data"], json!({"order": 7, "note": "é"}));
            assert!(d["created_at"].as_str().unwrap().ends_with('Z'));
        }
    }
}

e2e! {
    async fn recipients_limit_delivery_to_listed_users(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let mut alice = s.subscribe(&t, &t.token("alice", &["team"]), &["team"], None).await;
        let mut bob = s.subscribe(&t, &t.token("bob", &["team"]), &["team"], None).await;
        let private = s.publish(&t, "team", json!({"type": "dm", "data": 1, "recipients": ["bob"]})).await;
        let public = s.publish(&t, "team", json!({"type": "all", "data": 2})).await;
        assert_eq!(ids(&bob.take(2, WAIT).await), vec![private, public]);
        assert_eq!(ids(&alice.take(1, WAIT).await), vec![public]);
        let sentinel = s.publish(&t, "team", json!({"type": "all", "data": 3})).await;
        alice.expect_next_is(sentinel).await;
        // Replay honours recipients too.
        let mut alice_again = s.subscribe(&t, &t.token("alice", &["team"]), &["team"], Some(0)).await;
        assert_eq!(ids(&alice_again.take(1, WAIT).await), vec![public]);
        alice_again.expect_next_is(sentinel).await;
    }
}

e2e! {
    async fn wildcard_patterns_select_channels(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("42", &["user.42.>"]);
        let mut one = s.subscribe(&t, &token, &["user.42.*"], None).await;
        let mut tail = s.subscribe(&t, &token, &["user.42.>"], None).await;
        let inbox = s.publish(&t, "user.42.inbox", json!({"type": "a"})).await;
        let deep = s.publish(&t, "user.42.inbox.urgent", json!({"type": "b"})).await;
        let _other = s.publish(&t, "user.43.inbox", json!({"type": "c"})).await;
        let last = s.publish(&t, "user.42.alerts", json!({"type": "d"})).await;
        assert_eq!(ids(&one.take(2, WAIT).await), vec![inbox, last]);
        assert_eq!(ids(&tail.take(3, WAIT).await), vec![inbox, deep, last]);
    }
}

e2e! {
    async fn stream_headers_retry_and_heartbeat(b) {
        let s = Server::start_with(b, |c| {
            c.stream.heartbeat_seconds = 1;
            c.stream.retry_ms = 1234;
        })
        .await;
        let t = s.tenant("acme").await;
        let res = s.open_stream(&t, &t.token("1", &["orders"]), &["orders"], None).await;
        assert_eq!(res.status(), 200);
        let h = res.headers();
        assert_eq!(h["content-type"], "text/event-stream");
        assert_eq!(h["cache-control"], "no-cache");
        assert_eq!(h["x-accel-buffering"], "no");
        // Read the raw bytes: comments are invisible to SSE parsers by design.
        let mut body = res.bytes_stream();
        let mut seen = String::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while seen.matches(": keep-alive").count() < 2 {
            let chunk = tokio::time::timeout_at(deadline, body.next()).await.expect("heartbeats within the deadline").unwrap().unwrap();
            seen.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        assert!(seen.starts_with("retry: 1234\n\n"), "{seen:?}");
    }
}

e2e! {
    async fn token_expiry_ends_the_stream_with_an_event(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        // Long enough for the publish to arrive first on a loaded machine
        // (a wall-clock expiry cannot be waited for any other way).
        let exp = now() + 6;
        let mut sub = s.subscribe(&t, &t.token_exp("1", &["orders"], exp), &["orders"], None).await;
        let id = s.publish(&t, "orders", json!({"type": "x"})).await;
        let events = sub.take(1, WAIT).await;
        assert_eq!(ids(&events), vec![id]);
        let e = sub.next(WAIT).await.expect("token-expired event");
        assert_eq!(e.event, "token-expired");
        assert_eq!(data(&e)["exp"], exp);
        sub.expect_end(&[]).await;
    }
}

e2e! {
    async fn token_from_query_and_cookie(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("1", &["orders"]);
        let url = s.url(&format!("/v1/tenants/{}/stream?channel=orders", t.id));
        let by_query = s.client.get(format!("{url}&access_token={token}")).send().await.unwrap();
        assert_eq!(by_query.status(), 200);
        // A cookie is ambient authority: only a same-origin request (or one
        // from an allowed origin, see polling.rs) may use it.
        let cross_site = s.client.get(&url).header("Cookie", format!("herald_token={token}")).send().await.unwrap();
        assert_eq!(cross_site.status(), 401);
        let by_cookie = s
            .client
            .get(&url)
            .header("Cookie", format!("herald_token={token}"))
            .header("Sec-Fetch-Site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(by_cookie.status(), 200);
        let id = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&Sse::new(by_query).take(1, WAIT).await), vec![id]);
        assert_eq!(ids(&Sse::new(by_cookie).take(1, WAIT).await), vec![id]);
    }
}

e2e! {
    /// A subscriber that stops reading is cut off when its queue overflows; the
    /// others get everything on time, and the slow one resumes from history
    /// with nothing lost or doubled.
    async fn slow_subscriber_is_disconnected_without_slowing_others(b) {
        let s = Server::start_with(b, |c| {
            c.stream.subscriber_queue = 100;
            c.limits.max_batch = 50;
        })
        .await;
        let t = s.tenant("acme").await;
        let token = t.token("1", &["bulk"]);
        let mut slow = s.subscribe(&t, &token, &["bulk"], None).await;
        let mut fast = s.subscribe(&t, &token, &["bulk"], None).await;

        // Enough bytes to fill the kernel's socket buffers of the idle reader.
        let blob = "x".repeat(60_000);
        let total = 300;
        let mut published = Vec::new();
        for chunk in 0..(total / 50) {
            let batch: Vec<_> =
                (0..50).map(|i| json!({"channel": "bulk", "type": "blob", "data": {"n": chunk * 50 + i, "blob": blob}})).collect();
            let (st, r) = s.post(&format!("/v1/tenants/{}/notifications:batch", t.id), &t.publish_key, json!({"notifications": batch})).await;
            assert_eq!(st, 201, "{r}");
            published.extend(r["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()));
            // The fast reader keeps up while publishing goes on.
            assert_eq!(ids(&fast.take(50, WAIT).await), published[published.len() - 50..]);
        }

        // The slow reader now drains what it had; its stream then ends early.
        let mut got = Vec::new();
        while let Some(e) = slow.next(WAIT).await {
            got.push(e.id.parse::<i64>().unwrap());
        }
        assert!(got.len() < total, "the slow subscriber should have been cut off, got all {}", got.len());
        assert_eq!(got, published[..got.len()], "what it got before the cut is a gapless prefix");
        let cut_at = got.len();
        let mut resumed = s.subscribe(&t, &token, &["bulk"], got.last().copied().or(Some(0))).await;
        let rest = ids(&resumed.take(total - got.len(), WAIT).await);
        got.extend(rest);
        assert_eq!(got, published);

        // `/metrics` tells the operator: one overflow, what was not queued
        // live, and the resumed stream's replay of it.
        let metrics = reqwest::get(s.url("/metrics")).await.unwrap().text().await.unwrap();
        let sample = |prefix: &str| -> f64 {
            let line = metrics.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert_eq!(sample("herald_subscriber_queue_overflows_total "), 1.0, "{metrics}");
        assert!(sample("herald_notifications_dropped_total{reason=\"slow_subscriber\"} ") >= 1.0, "{metrics}");
        assert_eq!(sample("herald_notifications_replayed_total "), (total - cut_at) as f64, "{metrics}");
    }
}

e2e! {
    async fn multi_line_data_arrives_intact_live_and_replayed(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("1", &["orders"]);
        let mut live = s.subscribe(&t, &token, &["orders"], None).await;
        // Pretty-printed JSON keeps its newlines (and a CR LF) in the stored
        // text; each line must become its own `data:` field on the wire.
        let body = "{\n  \"type\": \"order.created\",\r\n  \"data\": {\n    \"order\": 7,\n    \"lines\": [1, 2]\n  }\n}";
        let res = reqwest::Client::new()
            .post(s.url(&format!("/v1/tenants/{}/channels/orders/notifications", t.id)))
            .bearer_auth(&t.publish_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
        let before = s.publish(&t, "orders", json!({"type": "marker"})).await;
        let live_events = live.take(2, WAIT).await;
        assert_eq!(ids(&live_events), vec![id, before]);
        assert_eq!(data(&live_events[0])["data"], json!({"order": 7, "lines": [1, 2]}));
        // The replayed event is the same bytes as the live one.
        let mut replay = s.subscribe(&t, &token, &["orders"], Some(id - 1)).await;
        let replayed = replay.take(2, WAIT).await;
        assert_eq!(ids(&replayed), vec![id, before]);
        assert_eq!(replayed[0].data, live_events[0].data);
    }
}
