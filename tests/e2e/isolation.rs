//! Tenant isolation: one tenant's keys and tokens reach nothing of another's.

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

e2e! {
    async fn tenants_cannot_touch_each_other(b) {
        let s = Server::start(b).await;
        let a = s.tenant("alpha").await;
        let b = s.tenant("beta").await;
        let b_id = &b.id;

        // A's keys on B's resources: 403, whatever the scope.
        for key in [&a.admin_key, &a.publish_key] {
            for (method, path, body) in [
                (Method::GET, format!("/v1/tenants/{b_id}/keys"), None),
                (Method::POST, format!("/v1/tenants/{b_id}/keys"), Some(json!({"name": "x", "scopes": ["admin"]}))),
                (Method::GET, format!("/v1/tenants/{b_id}/signing-keys"), None),
                (Method::POST, format!("/v1/tenants/{b_id}/signing-keys"), Some(json!({"alg": "HS256"}))),
                (Method::GET, format!("/v1/tenants/{b_id}/channels"), None),
                (Method::POST, format!("/v1/tenants/{b_id}/channels"), Some(json!({"name": "x"}))),
                (Method::DELETE, format!("/v1/tenants/{b_id}/signing-keys/{}", b.kid), None),
                (Method::POST, format!("/v1/tenants/{b_id}/channels/orders/notifications"), Some(json!({"type": "x"}))),
                (
                    Method::POST,
                    format!("/v1/tenants/{b_id}/notifications:batch"),
                    Some(json!({"notifications": [{"channel": "orders", "type": "x"}]})),
                ),
            ] {
                let (st, body) = s.call(method.clone(), &path, key, body).await;
                assert_eq!(st, 403, "{method} {path}: {body}");
                assert_eq!(body["type"], "urn:herald:problem:forbidden");
            }
        }

        // A's tokens cannot open B's streams: B has no such signing key.
        let res = s.open_stream(&b, &a.token("1", &["orders"]), &["orders"], None).await;
        assert_eq!(res.status(), 401);

        // Tenant keys cannot manage tenants.
        for key in [&a.admin_key, &a.publish_key] {
            assert_eq!(s.get("/v1/tenants", key).await.0, 403);
            assert_eq!(s.post("/v1/tenants", key, json!({"name": "evil"})).await.0, 403);
            assert_eq!(s.get(&format!("/v1/tenants/{b_id}"), key).await.0, 403);
            assert_eq!(s.call(Method::DELETE, &format!("/v1/tenants/{b_id}"), key, None).await.0, 403);
        }

        // A publish key cannot administer its own tenant.
        let (st, _) = s.post(&format!("/v1/tenants/{}/keys", a.id), &a.publish_key, json!({"name": "x", "scopes": ["admin"]})).await;
        assert_eq!(st, 403);

        // Nothing of A leaked into B: B's history is empty, and A's stays A's.
        s.publish(&a, "orders", json!({"type": "x"})).await;
        let mut b_sub = s.subscribe(&b, &b.token("1", &["orders"]), &["orders"], Some(0)).await;
        let (_, channels) = s.get(&format!("/v1/tenants/{}/channels", b.id), &b.admin_key).await;
        assert_eq!(channels["items"], json!([]));
        let sentinel = s.publish(&b, "orders", json!({"type": "sentinel"})).await;
        b_sub.expect_next_is(sentinel).await;
    }
}

e2e! {
    async fn ids_are_per_tenant_and_streams_do_not_cross(b) {
        let s = Server::start(b).await;
        let a = s.tenant("alpha").await;
        let b = s.tenant("beta").await;
        let mut a_sub = s.subscribe(&a, &a.token("1", &["orders"]), &["orders"], None).await;
        let mut b_sub = s.subscribe(&b, &b.token("1", &["orders"]), &["orders"], None).await;
        assert_eq!(s.publish(&a, "orders", json!({"type": "x", "data": "a"})).await, 1);
        assert_eq!(s.publish(&b, "orders", json!({"type": "x", "data": "b"})).await, 1);
        assert_eq!(data(&a_sub.take(1, WAIT).await[0])["data"], "a");
        assert_eq!(data(&b_sub.take(1, WAIT).await[0])["data"], "b");
        let sentinel = s.publish(&a, "orders", json!({"type": "sentinel"})).await;
        a_sub.expect_next_is(sentinel).await;
    }
}
