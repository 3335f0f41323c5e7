//! Tenant quotas, end to end: who may read and set them, their bounds, and
//! each quota refusing with a 429 problem (and `Retry-After`) then letting
//! requests through again once there is room.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

const QUOTA_EXCEEDED: &str = "urn:herald:problem:quota-exceeded";

async fn put_quotas(s: &Server, t: &Tenant, key: &str, body: Value) -> (StatusCode, Value) {
    s.call(Method::PUT, &format!("/v1/tenants/{}/quotas", t.id), key, Some(body)).await
}

async fn set_quotas(s: &Server, t: &Tenant, body: Value) {
    let (status, got) = put_quotas(s, t, &s.operator_key.clone(), body).await;
    assert_eq!(status, StatusCode::OK, "{got}");
}

/// A request's status, `Retry-After` and JSON body.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    content_type: String,
    body: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.unwrap();
    let status = res.status();
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().expect("Retry-After is whole seconds"));
    let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = res.text().await.unwrap();
    Answer { status, retry_after, content_type, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

async fn publish(s: &Server, t: &Tenant, channel: &str) -> Answer {
    send(
        s.client
            .post(s.url(&format!("/v1/tenants/{}/channels/{channel}/notifications", t.id)))
            .bearer_auth(&t.publish_key)
            .json(&json!({"type": "x"})),
    )
    .await
}

async fn publish_batch(s: &Server, t: &Tenant, n: usize) -> Answer {
    let items: Vec<Value> = (0..n).map(|_| json!({"channel": "orders", "type": "x"})).collect();
    send(
        s.client
            .post(s.url(&format!("/v1/tenants/{}/notifications:batch", t.id)))
            .bearer_auth(&t.publish_key)
            .json(&json!({"notifications": items})),
    )
    .await
}

/// Asserts a quota-exceeded problem naming `quota` and its `value`; returns `Retry-After`.
#[track_caller]
fn assert_quota_exceeded(a: &Answer, quota: &str, value: &str) -> u64 {
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert_eq!(a.content_type, "application/problem+json");
    assert_eq!(a.body["type"], QUOTA_EXCEEDED, "{}", a.body);
    assert_eq!(a.body["status"], 429);
    let detail = a.body["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("`{quota}`")) && detail.contains(value), "{detail}");
    let retry_after = a.retry_after.expect("a Retry-After header");
    assert!(retry_after >= 1, "{retry_after}");
    retry_after
}

e2e! {
    async fn only_the_operator_sets_quotas_and_tenant_admins_read_them(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let other = s.tenant("other").await;
        let unlimited = json!({"publishes_per_second": null, "max_connections": null, "max_stored_notifications": null, "emails_per_day": null,
                               "max_plugins": null, "max_plugin_versions": null, "max_plugin_bytes": null, "plugin_uploads_per_minute": null});
        let (status, q) = s.get(&format!("/v1/tenants/{}/quotas", t.id), &t.admin_key).await;
        assert_eq!((status, q), (StatusCode::OK, unlimited.clone()));

        let quotas = json!({"publishes_per_second": 100, "max_connections": 10, "max_stored_notifications": 20000000000u64, "emails_per_day": 50});
        // A tenant's admin key may read its quotas, never set them.
        let (status, p) = put_quotas(&s, &t, &t.admin_key, quotas.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
        assert_eq!(p["type"], "urn:herald:problem:forbidden");
        let (status, p) = put_quotas(&s, &t, &t.publish_key, quotas.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
        let (status, p) = put_quotas(&s, &t, "hk_nonsense", quotas.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{p}");

        // 20 billion is above the bound: 422, nothing stored.
        let (status, p) = put_quotas(&s, &t, &s.operator_key.clone(), quotas.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert!(p["detail"].as_str().unwrap().contains("max_stored_notifications"), "{p}");
        let quotas = json!({"publishes_per_second": 100, "max_connections": 10, "max_stored_notifications": 5000000000u64, "emails_per_day": 50,
                            "max_plugins": null, "max_plugin_versions": null, "max_plugin_bytes": null, "plugin_uploads_per_minute": null});
        let (status, q) = put_quotas(&s, &t, &s.operator_key.clone(), quotas.clone()).await;
        assert_eq!((status, q), (StatusCode::OK, quotas.clone()));
        for key in [&t.admin_key, &s.operator_key] {
            let (status, q) = s.get(&format!("/v1/tenants/{}/quotas", t.id), key).await;
            assert_eq!((status, q), (StatusCode::OK, quotas.clone()));
        }
        // Scoped to the tenant: another tenant's keys see nothing of it.
        let (status, _) = s.get(&format!("/v1/tenants/{}/quotas", t.id), &other.admin_key).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, q) = s.get(&format!("/v1/tenants/{}/quotas", other.id), &other.admin_key).await;
        assert_eq!((status, q), (StatusCode::OK, unlimited.clone()));
        let (status, _) = s.get(&format!("/v1/tenants/{}/quotas", t.id), &t.publish_key).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // A PUT replaces all eight: absent fields are unlimited (or the default) again.
        let (status, q) = put_quotas(&s, &t, &s.operator_key.clone(), json!({"max_connections": 3})).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert_eq!(
            q,
            json!({"publishes_per_second": null, "max_connections": 3, "max_stored_notifications": null, "emails_per_day": null,
                   "max_plugins": null, "max_plugin_versions": null, "max_plugin_bytes": null, "plugin_uploads_per_minute": null})
        );

        // Unknown and deleted tenants.
        let missing = "ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b";
        let (status, p) = s.call(Method::PUT, &format!("/v1/tenants/{missing}/quotas"), &s.operator_key, Some(quotas.clone())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
        let (status, _) = s.call(Method::PUT, "/v1/tenants/nonsense/quotas", &s.operator_key, Some(quotas.clone())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s.call(Method::DELETE, &format!("/v1/tenants/{}", t.id), &s.operator_key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = s.get(&format!("/v1/tenants/{}/quotas", t.id), &s.operator_key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

e2e! {
    async fn quota_values_out_of_range_or_unknown_are_422(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let op = s.operator_key.clone();
        for (body, field) in [
            (json!({"publishes_per_second": 0}), "publishes_per_second"),
            (json!({"publishes_per_second": 1000001}), "publishes_per_second"),
            (json!({"publishes_per_second": -1}), "publishes_per_second"),
            (json!({"publishes_per_second": 1.5}), "publishes_per_second"),
            (json!({"max_connections": 0}), "max_connections"),
            (json!({"max_connections": 10000001}), "max_connections"),
            (json!({"max_connections": "10"}), "max_connections"),
            (json!({"max_stored_notifications": 0}), "max_stored_notifications"),
            (json!({"max_stored_notifications": 10000000001u64}), "max_stored_notifications"),
            (json!({"emails_per_day": 0}), "emails_per_day"),
            (json!({"emails_per_day": 4294967296u64}), "emails_per_day"),
            (json!({"emails_per_hour": 5}), "emails_per_hour"),
        ] {
            let (status, p) = put_quotas(&s, &t, &op, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
            assert_eq!(p["type"], "urn:herald:problem:validation", "{body}: {p}");
            assert!(p["detail"].as_str().unwrap().contains(field), "{body}: {p}");
        }
        // Not JSON at all: 400.
        let res = s.client.put(s.url(&format!("/v1/tenants/{}/quotas", t.id))).bearer_auth(&op)
            .header("content-type", "application/json").body("{").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // Nothing was stored; the bounds themselves are accepted.
        let (_, q) = s.get(&format!("/v1/tenants/{}/quotas", t.id), &op).await;
        assert_eq!(q["publishes_per_second"], Value::Null);
        set_quotas(&s, &t, json!({"publishes_per_second": 1000000, "max_connections": 10000000, "max_stored_notifications": 10000000000u64, "emails_per_day": 10000000})).await;
        set_quotas(&s, &t, json!({"publishes_per_second": 1, "max_connections": 1, "max_stored_notifications": 1, "emails_per_day": 1})).await;
    }
}

e2e! {
    async fn the_publish_rate_quota_refuses_with_retry_after_and_recovers(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let other = s.tenant("other").await;
        set_quotas(&s, &t, json!({"publishes_per_second": 3})).await;

        // A burst of one second's worth goes through, then the bucket is
        // empty. (However slow this machine, 40 publishes in a row cannot
        // all find a token at 3 a second.)
        let mut accepted = 0;
        let refused = loop {
            let a = publish(&s, &t, "orders").await;
            if a.status == StatusCode::CREATED {
                accepted += 1;
                assert!(accepted < 40, "never refused");
                continue;
            }
            break a;
        };
        assert!(accepted >= 3, "the burst is one second's worth: {accepted}");
        let retry_after = assert_quota_exceeded(&refused, "publishes_per_second", "3");
        // Another tenant is not affected.
        assert_eq!(publish(&s, &other, "orders").await.status, StatusCode::CREATED);

        // After Retry-After, there is room again.
        tokio::time::sleep(Duration::from_secs(retry_after)).await;
        assert_eq!(publish(&s, &t, "orders").await.status, StatusCode::CREATED);

        // A batch counts its size: more than a second's worth never fits.
        let a = publish_batch(&s, &t, 4).await;
        assert_quota_exceeded(&a, "publishes_per_second", "3");
        assert!(a.body["detail"].as_str().unwrap().contains("batch of 4"), "{}", a.body);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let a = publish_batch(&s, &t, 3).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let a = publish_batch(&s, &t, 3).await;
        assert_quota_exceeded(&a, "publishes_per_second", "3");

        // Lifting the quota applies at once.
        set_quotas(&s, &t, json!({})).await;
        for _ in 0..10 {
            assert_eq!(publish(&s, &t, "orders").await.status, StatusCode::CREATED);
        }
    }
}

e2e! {
    async fn the_connection_quota_refuses_the_next_stream_and_long_poll_until_one_closes(b) {
        // Quick heartbeats: a closed stream is noticed at its next write.
        let s = Server::start_with(b, |c| c.stream.heartbeat_seconds = 1).await;
        let t = s.tenant("acme").await;
        set_quotas(&s, &t, json!({"max_connections": 2})).await;
        let token = t.token("ada", &["orders"]);

        let mut first = s.subscribe(&t, &token, &["orders"], None).await;
        let second = s.subscribe(&t, &token, &["orders"], None).await;
        let refused = send(s.client.get(s.url(&format!("/v1/tenants/{}/stream?channel=orders", t.id))).bearer_auth(&token)).await;
        // Refused before any event: a problem, not a stream.
        assert_quota_exceeded(&refused, "max_connections", "2");
        // A long-poll that would wait counts too; one that answers at once does not.
        let poll = |wait: u64| {
            s.client.get(s.url(&format!("/v1/tenants/{}/notifications?channel=orders&after=0&wait={wait}", t.id))).bearer_auth(&token)
        };
        assert_quota_exceeded(&send(poll(5)).await, "max_connections", "2");
        assert_eq!(send(poll(0)).await.status, StatusCode::OK);

        // The streams still work.
        let id = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&first.take(1, WAIT).await), vec![id]);

        // Once one closes, a new one is accepted.
        drop(second);
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut third = loop {
            let res = s.open_stream(&t, &token, &["orders"], None).await;
            if res.status() == StatusCode::OK {
                break Sse::new(res);
            }
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(tokio::time::Instant::now() < deadline, "the closed stream's place was never given back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let id = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&third.take(1, WAIT).await), vec![id]);
        assert_eq!(ids(&first.take(1, WAIT).await), vec![id]);

        // Raising the quota applies at once on this node.
        set_quotas(&s, &t, json!({"max_connections": 3})).await;
        let _fourth = s.subscribe(&t, &token, &["orders"], None).await;
    }
}

e2e! {
    async fn the_stored_notifications_quota_refuses_publishes_until_retention_frees_space(b) {
        let s = Server::start_with(b, |c| c.retention.interval_seconds = 1).await;
        let t = s.tenant("acme").await;
        let (status, c) = s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "capped", "retention": {"max_count": 1}})).await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        set_quotas(&s, &t, json!({"max_stored_notifications": 3})).await;

        for _ in 0..3 {
            assert_eq!(publish(&s, &t, "orders").await.status, StatusCode::CREATED);
        }
        // At the quota: refused, and a batch that would not fit is refused whole.
        let a = publish(&s, &t, "orders").await;
        assert_quota_exceeded(&a, "max_stored_notifications", "3");
        assert_quota_exceeded(&publish(&s, &t, "capped").await, "max_stored_notifications", "3");

        // Raise it by two: one publish fits, a batch of two does not.
        set_quotas(&s, &t, json!({"max_stored_notifications": 5})).await;
        let a = publish_batch(&s, &t, 3).await;
        assert_quota_exceeded(&a, "max_stored_notifications", "5");
        assert_eq!(publish_batch(&s, &t, 2).await.status, StatusCode::CREATED);
        assert_quota_exceeded(&publish(&s, &t, "capped").await, "max_stored_notifications", "5");

        // Retention frees space: with 4 kept in `orders`, room for one in
        // `capped` (whose count cap of 1 prunes it back each pass).
        set_quotas(&s, &t, json!({"max_stored_notifications": 6})).await;
        assert_eq!(publish(&s, &t, "capped").await.status, StatusCode::CREATED);
        assert_quota_exceeded(&publish(&s, &t, "capped").await, "max_stored_notifications", "6");
        let (status, _) = s.call(Method::DELETE, &format!("/v1/tenants/{}/channels/orders", t.id), &t.admin_key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // The count is refreshed from the database: within a few seconds
        // the deleted channel's notifications no longer count.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let a = publish(&s, &t, "capped").await;
            if a.status == StatusCode::CREATED {
                break;
            }
            assert_quota_exceeded(&a, "max_stored_notifications", "6");
            assert!(tokio::time::Instant::now() < deadline, "the freed space was never seen");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // Retention keeps `capped` at one notification, so it never fills up.
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut published = 0;
        while published < 8 {
            let a = publish(&s, &t, "capped").await;
            if a.status == StatusCode::CREATED {
                published += 1;
            } else {
                assert_quota_exceeded(&a, "max_stored_notifications", "6");
                assert!(tokio::time::Instant::now() < deadline, "retention never made room");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

e2e! {
    async fn the_emails_per_day_quota_fails_emails_past_it_without_retrying(b) {
        let smtp = SmtpServer::start(&[]);
        let s = Server::start_with(b, |c| email_config(c, smtp.url())).await;
        let t = s.tenant("acme").await;
        set_quotas(&s, &t, json!({"emails_per_day": 2})).await;
        let (status, c) = s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "billing", "email": {"after_seconds": 0}})).await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        let (status, r) = s.call(Method::PUT, &format!("/v1/tenants/{}/recipients/ada", t.id), &t.admin_key, Some(json!({"email": "ada@example.com"}))).await;
        assert!(status.is_success(), "{r}");

        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(s.publish(&t, "billing", json!({"type": "invoice.paid", "data": {"title": format!("Invoice {i}")}, "recipients": ["ada"]})).await);
        }
        // Every notification gets one final log entry: two sent, two failed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let entries = loop {
            let (status, page) = s.get(&format!("/v1/tenants/{}/deliveries?user=ada", t.id), &t.admin_key).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let entries = page["items"].as_array().unwrap().clone();
            if entries.len() >= 4 {
                break entries;
            }
            assert!(tokio::time::Instant::now() < deadline, "expected 4 log entries, got {entries:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let status_of = |e: &Value| e["status"].as_str().unwrap().to_owned();
        assert_eq!(entries.iter().filter(|e| status_of(e) == "sent").count(), 2, "{entries:?}");
        let failed: Vec<&Value> = entries.iter().filter(|e| status_of(e) == "failed").collect();
        assert_eq!(failed.len(), 2, "{entries:?}");
        for e in &failed {
            let error = e["error"].as_str().unwrap();
            assert!(error.contains("`emails_per_day`") && error.contains('2'), "{error}");
        }
        let mut logged: Vec<i64> = entries.iter().map(|e| e["notification"].as_i64().unwrap()).collect();
        logged.sort();
        assert_eq!(logged, ids);
        assert_eq!(smtp.wait_for(2, Duration::from_secs(30)).await.len(), 2);

        // Failed for good: no retry, no further email, no further log entry.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(smtp.received().len(), 2);
        let (_, page) = s.get(&format!("/v1/tenants/{}/deliveries?user=ada", t.id), &t.admin_key).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 4, "{page}");
        // The next one within the day is refused too.
        let id = s.publish(&t, "billing", json!({"type": "invoice.paid", "recipients": ["ada"]})).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, page) = s.get(&format!("/v1/tenants/{}/deliveries?notification={id}", t.id), &t.admin_key).await;
            if let Some(e) = page["items"].as_array().unwrap().first() {
                assert_eq!(status_of(e), "failed", "{e}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the fifth email was never processed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(smtp.received().len(), 2);

        // The tenant's stats count the outcomes.
        let (status, stats) = s.get(&format!("/v1/tenants/{}/stats", t.id), &t.admin_key).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(stats["emails_24h"], json!({"sent": 2, "failed": 3, "deferred": 0, "cancelled": 0, "delivered": 0}), "{stats}");
        assert_eq!(stats["quotas"]["emails_per_day"], 2);
    }
}
