//! Suspending a tenant: publishes, new streams and polls are refused with
//! `tenant-suspended`, open streams close (at once on the node that took the
//! request, within the key-cache lifetime on another), the admin API keeps
//! working, and resuming restores everything.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

const SUSPENDED: &str = "urn:herald:problem:tenant-suspended";

async fn set_suspended(s: &Server, t: &Tenant, suspended: bool) -> Value {
    let (st, view) = s.call(Method::PATCH, &format!("/v1/tenants/{}", t.id), &s.operator_key, Some(json!({"suspended": suspended}))).await;
    assert_eq!(st, 200, "{view}");
    assert_eq!(view["suspended"], suspended, "{view}");
    view
}

async fn try_publish(s: &Server, t: &Tenant) -> (StatusCode, Value) {
    s.post(&format!("/v1/tenants/{}/channels/orders/notifications", t.id), &t.publish_key, json!({"type": "order.created"})).await
}

/// Reads until the stream ends; panics if it is still open after `within`.
async fn expect_closed(sub: &mut Sse, within: Duration) {
    let started = Instant::now();
    while sub.next(within.saturating_sub(started.elapsed())).await.is_some() {}
    assert!(started.elapsed() < within, "the stream was still open after {within:?}");
}

e2e! {
    async fn a_suspended_tenant_cannot_publish_stream_or_poll_until_resumed(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let other = s.tenant("globex").await;
        let token = t.token("1", &["orders"]);
        let mut sub = s.subscribe(&t, &token, &["orders"], None).await;
        let mut bystander = s.subscribe(&other, &other.token("1", &["orders"]), &["orders"], None).await;
        let first = s.publish(&t, "orders", json!({"type": "order.created"})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![first]);

        let (st, view) = s.get(&format!("/v1/tenants/{}", t.id), &s.operator_key).await;
        assert_eq!((st.as_u16(), &view["suspended"]), (200, &json!(false)));
        set_suspended(&s, &t, true).await;
        assert_eq!(s.get(&format!("/v1/tenants/{}", t.id), &s.operator_key).await.1["suspended"], true);
        let (_, page) = s.get("/v1/tenants", &s.operator_key).await;
        let listed: Vec<_> = page["items"].as_array().unwrap().iter().map(|t| (t["name"].clone(), t["suspended"].clone())).collect();
        assert_eq!(listed, vec![(json!("acme"), json!(true)), (json!("globex"), json!(false))]);

        // The open stream closes at once (well before any heartbeat).
        expect_closed(&mut sub, Duration::from_secs(5)).await;

        // Publishing, single and batch, is refused with its own problem type.
        let (st, p) = try_publish(&s, &t).await;
        assert_eq!((st.as_u16(), p["type"].as_str()), (403, Some(SUSPENDED)), "{p}");
        assert!(p["detail"].as_str().unwrap().contains("suspended"), "{p}");
        let (st, p) = s
            .post(&format!("/v1/tenants/{}/notifications:batch", t.id), &t.publish_key, json!({"notifications": [{"channel": "orders", "type": "x"}]}))
            .await;
        assert_eq!((st.as_u16(), p["type"].as_str()), (403, Some(SUSPENDED)), "{p}");
        // The operator key is refused too: suspension is about the tenant, not the caller.
        let (st, p) = s.post(&format!("/v1/tenants/{}/channels/orders/notifications", t.id), &s.operator_key, json!({"type": "x"})).await;
        assert_eq!((st.as_u16(), p["type"].as_str()), (403, Some(SUSPENDED)), "{p}");

        // New streams and polls too, with a valid token.
        let res = s.open_stream(&t, &token, &["orders"], None).await;
        assert_eq!(res.status(), 403);
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["type"], SUSPENDED);
        let (st, p) = s.get(&format!("/v1/tenants/{}/notifications?channel=orders", t.id), &token).await;
        assert_eq!((st.as_u16(), p["type"].as_str()), (403, Some(SUSPENDED)), "{p}");
        // A bad token still gets 401, not a hint that the tenant exists and is suspended.
        let (st, _) = s.get(&format!("/v1/tenants/{}/notifications?channel=orders", t.id), "not-a-token").await;
        assert_eq!(st, 401);

        // The admin API keeps working, so the tenant can be inspected.
        let (st, page) = s.get(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key).await;
        assert_eq!((st.as_u16(), page["items"][0]["name"].as_str()), (200, Some("orders")), "{page}");
        let (st, _) = s.get(&format!("/v1/tenants/{}/keys", t.id), &t.admin_key).await;
        assert_eq!(st, 200);
        // Only the operator suspends and resumes.
        let (st, p) = s.call(Method::PATCH, &format!("/v1/tenants/{}", t.id), &t.admin_key, Some(json!({"suspended": false}))).await;
        assert_eq!(st, 403, "{p}");

        // Another tenant is untouched.
        let other_id = s.publish(&other, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&bystander.take(1, WAIT).await), vec![other_id]);

        // Resumed: publishing works and a stream resumes where it stopped.
        set_suspended(&s, &t, false).await;
        let (st, p) = try_publish(&s, &t).await;
        assert_eq!(st, 201, "{p}");
        let second = p["id"].as_i64().unwrap();
        let mut sub = s.subscribe(&t, &token, &["orders"], Some(first)).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![second]);
        let third = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![third]);
        let (st, page) = s.get(&format!("/v1/tenants/{}/notifications?channel=orders&after=0", t.id), &token).await;
        assert_eq!((st.as_u16(), page["items"].as_array().map(Vec::len)), (200, Some(3)), "{page}");
    }
}

e2e! {
    async fn suspension_is_validated_and_combines_with_a_rename(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let path = format!("/v1/tenants/{}", t.id);
        let op = s.operator_key.clone();
        for bad in [json!({"suspended": "yes"}), json!({"suspended": 1}), json!([true]), json!({"suspend": true})] {
            let (st, p) = s.call(Method::PATCH, &path, &op, Some(bad.clone())).await;
            assert_eq!(st, 422, "{bad} → {p}");
        }
        let (st, view) = s.call(Method::PATCH, &path, &op, Some(json!({"name": "acme-eu", "suspended": true}))).await;
        assert_eq!((st.as_u16(), &view["name"], &view["suspended"]), (200, &json!("acme-eu"), &json!(true)), "{view}");
        // A refused rename changes nothing, suspension included.
        s.tenant("globex").await;
        let (st, _) = s.call(Method::PATCH, &path, &op, Some(json!({"name": "globex", "suspended": false}))).await;
        assert_eq!(st, 409);
        let view = s.get(&path, &op).await.1;
        assert_eq!((&view["name"], &view["suspended"]), (&json!("acme-eu"), &json!(true)));
        // An empty patch changes nothing either.
        let (st, view) = s.call(Method::PATCH, &path, &op, Some(json!({}))).await;
        assert_eq!((st.as_u16(), &view["suspended"]), (200, &json!(true)));
        // Unknown tenants.
        let (st, _) = s.call(Method::PATCH, "/v1/tenants/ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b", &op, Some(json!({"suspended": true}))).await;
        assert_eq!(st, 404);
    }
}

/// Starts a second Herald on the database of `first`, caching keys (and
/// suspensions) for one second.
async fn second_node(first: &Server) -> Server {
    first.second_node(|c| c.key_cache_seconds = 1).await
}

e2e! {
    async fn another_node_follows_a_suspension_within_the_key_cache_lifetime(b) {
        let a = Server::start(b).await;
        let t = a.tenant("acme").await;
        let node_b = second_node(&a).await;
        let token = t.token("1", &["orders"]);
        let mut sub = node_b.subscribe(&t, &token, &["orders"], None).await;
        // Node B has now cached the tenant as active.
        assert_eq!(try_publish(&node_b, &t).await.0, 201);
        sub.take(1, WAIT).await;

        set_suspended(&a, &t, true).await;
        // Within a sweep (a second here) the stream closes, and within the
        // cache's second node B refuses publishes and streams.
        expect_closed(&mut sub, Duration::from_secs(5)).await;
        publish_until(&node_b, &t, 403, Duration::from_secs(5)).await;
        let res = node_b.open_stream(&t, &token, &["orders"], None).await;
        assert_eq!(res.status(), 403);

        set_suspended(&a, &t, false).await;
        publish_until(&node_b, &t, 201, Duration::from_secs(5)).await;
        assert_eq!(node_b.open_stream(&t, &token, &["orders"], None).await.status(), 200);
    }
}

/// Publishes through `s` until the answer is `want`; panics after `within`.
async fn publish_until(s: &Server, t: &Tenant, want: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (st, p) = try_publish(s, t).await;
        if st.as_u16() == want {
            if want == 403 {
                assert_eq!(p["type"], SUSPENDED, "{p}");
            }
            return;
        }
        assert!(Instant::now() < deadline, "still {st} after {within:?}, not {want}: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
