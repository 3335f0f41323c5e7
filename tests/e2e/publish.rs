//! Publishing: idempotency, batches, validation that stores nothing.

use serde_json::json;

use crate::harness::*;

e2e! {
    async fn idempotency_key_returns_the_same_id_and_stores_once(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let body = json!({"type": "x", "data": 1, "idempotency_key": "order-7-created"});
        let first = s.publish(&t, "orders", body.clone()).await;
        let again = s.publish(&t, "orders", body).await;
        assert_eq!(first, again);

        // The header form, and concurrent retries.
        let path = format!("/v1/tenants/{}/channels/orders/notifications", t.id);
        let send = || async {
            let r = s
                .client
                .post(s.url(&path))
                .bearer_auth(&t.publish_key)
                .header("Idempotency-Key", "hdr-1")
                .json(&json!({"type": "y"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap()
        };
        let (a, b, c) = tokio::join!(send(), send(), send());
        assert!(a == b && b == c, "{a} {b} {c}");
        // A key repeated inside one batch maps to one notification.
        let (st, r) = s
            .post(
                &format!("/v1/tenants/{}/notifications:batch", t.id),
                &t.publish_key,
                json!({"notifications": [
                    {"channel": "orders", "type": "z", "idempotency_key": "b-1"},
                    {"channel": "orders", "type": "z", "idempotency_key": "b-1"},
                    {"channel": "orders", "type": "z", "idempotency_key": "order-7-created"}
                ]}),
            )
            .await;
        assert_eq!(st, 201);
        let batch: Vec<i64> = r["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(batch[0], batch[1]);
        assert_eq!(batch[2], first);

        let mut sub = s.subscribe(&t, &t.token("1", &["orders"]), &["orders"], Some(0)).await;
        let stored = ids(&sub.take(3, WAIT).await);
        assert_eq!(stored, vec![first, a, batch[0]]);
        let sentinel = s.publish(&t, "orders", json!({"type": "sentinel"})).await;
        sub.expect_next_is(sentinel).await;
    }
}

e2e! {
    async fn batch_publishes_in_order_across_channels(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let mut sub = s.subscribe(&t, &t.token("1", &["a", "b"]), &["a", "b"], None).await;
        let items: Vec<_> = (0..10).map(|i| json!({"channel": if i % 2 == 0 { "a" } else { "b" }, "type": "n", "data": i})).collect();
        let (st, r) = s.post(&format!("/v1/tenants/{}/notifications:batch", t.id), &t.publish_key, json!({"notifications": items})).await;
        assert_eq!(st, 201, "{r}");
        let batch: Vec<i64> = r["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(batch, (1..=10).collect::<Vec<_>>());
        let events = sub.take(10, WAIT).await;
        assert_eq!(ids(&events), batch);
        assert_eq!(events.iter().map(|e| data(e)["data"].as_i64().unwrap()).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    }
}

e2e! {
    async fn invalid_batches_store_nothing(b) {
        let s = Server::start_with(b, |c| c.limits.max_batch = 5).await;
        let t = s.tenant("acme").await;
        let path = format!("/v1/tenants/{}/notifications:batch", t.id);
        let (st, r) = s
            .post(&path, &t.publish_key, json!({"notifications": [{"channel": "a", "type": "ok"}, {"channel": "bad channel", "type": "x"}]}))
            .await;
        assert_eq!(st, 422);
        assert!(r["detail"].as_str().unwrap().contains("notifications[1]"), "{r}");
        let six: Vec<_> = (0..6).map(|_| json!({"channel": "a", "type": "x"})).collect();
        assert_eq!(s.post(&path, &t.publish_key, json!({"notifications": six})).await.0, 413);
        assert_eq!(s.post(&path, &t.publish_key, json!({"notifications": []})).await.0, 422);

        // Nothing was stored: the next id is 1.
        assert_eq!(s.publish(&t, "a", json!({"type": "x"})).await, 1);
    }
}

e2e! {
    async fn publish_validation_and_size_limits(b) {
        let s = Server::start_with(b, |c| {
            c.limits.max_data_bytes = 1000;
            c.limits.max_body_bytes = 4096;
        })
        .await;
        let t = s.tenant("acme").await;
        let path = format!("/v1/tenants/{}/channels/orders/notifications", t.id);
        let cases = [
            (json!({"data": 1}), 422),
            (json!({"type": "a b"}), 422),
            (json!({"type": "token-expired"}), 422),
            (json!({"type": "x", "recipients": [""]}), 422),
            (json!({"type": "x", "idempotency_key": "k".repeat(200)}), 422),
            (json!({"type": "x", "unknown": 1}), 422),
            (json!({"type": "x", "data": "y".repeat(1500)}), 413),
            (json!({"type": "x", "data": "y".repeat(5000)}), 413),
        ];
        for (body, status) in cases {
            let (st, r) = s.post(&path, &t.publish_key, body.clone()).await;
            assert_eq!(st, status, "{body}: {r}");
            assert!(r["type"].as_str().unwrap().starts_with("urn:herald:problem:"));
        }
        let (st, _) = s.post(&format!("/v1/tenants/{}/channels/a..b/notifications", t.id), &t.publish_key, json!({"type": "x"})).await;
        assert_eq!(st, 422);
        let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
        let (st, _) = s.post(&path, &t.publish_key, json!({"type": "x", "recipients": many})).await;
        assert!(st == 422 || st == 413, "{st}");
        // Nothing above was stored.
        assert_eq!(s.publish(&t, "orders", json!({"type": "x"})).await, 1);
    }
}
