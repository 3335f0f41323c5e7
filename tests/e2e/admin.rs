//! The admin surface: tenants, keys, channels, with pagination.

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

e2e! {
    async fn tenant_lifecycle_and_pagination(b) {
        let s = Server::start(b).await;
        let op = s.operator_key.clone();
        let mut created = Vec::new();
        for i in 0..5 {
            let (st, t) = s.post("/v1/tenants", &op, json!({"name": format!("t{i}")})).await;
            assert_eq!(st, 201);
            created.push(t["id"].as_str().unwrap().to_owned());
        }
        // Page through two at a time.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/v1/tenants?limit=2&after={a}"),
                None => "/v1/tenants?limit=2".into(),
            };
            let (st, page) = s.get(&path, &op).await;
            assert_eq!(st, 200);
            seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()));
            match page["next"].as_str() {
                Some(n) => after = Some(n.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, created);

        let id = &created[0];
        let (st, t) = s.call(Method::PATCH, &format!("/v1/tenants/{id}"), &op, Some(json!({"name": "renamed"}))).await;
        assert_eq!((st.as_u16(), t["name"].as_str()), (200, Some("renamed")));
        let (st, _) = s.call(Method::PATCH, &format!("/v1/tenants/{id}"), &op, Some(json!({"name": "t1"}))).await;
        assert_eq!(st, 409);
        assert_eq!(s.get(&format!("/v1/tenants/{id}"), &op).await.1["name"], "renamed");
        assert_eq!(s.call(Method::DELETE, &format!("/v1/tenants/{id}"), &op, None).await.0, 204);
        assert_eq!(s.get(&format!("/v1/tenants/{id}"), &op).await.0, 404);
        assert_eq!(s.call(Method::DELETE, &format!("/v1/tenants/{id}"), &op, None).await.0, 404);
    }
}

e2e! {
    async fn deleting_a_tenant_removes_its_data_and_closes_streams(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let mut sub = s.subscribe(&t, &t.token("1", &["orders"]), &["orders"], None).await;
        s.publish(&t, "orders", json!({"type": "x"})).await;
        sub.take(1, WAIT).await;
        assert_eq!(s.call(Method::DELETE, &format!("/v1/tenants/{}", t.id), &s.operator_key, None).await.0, 204);
        sub.expect_end(&[]).await;
        // Its keys are gone with it.
        let (st, _) = s.post(&format!("/v1/tenants/{}/channels/orders/notifications", t.id), &t.publish_key, json!({"type": "x"})).await;
        assert_eq!(st, 401);
    }
}

e2e! {
    async fn keys_are_listed_without_secrets_and_revocable(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let (st, page) = s.get(&format!("/v1/tenants/{}/keys", t.id), &t.admin_key).await;
        assert_eq!(st, 200);
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|k| k.get("secret").is_none()));
        let publisher = items.iter().find(|k| k["name"] == "backend").unwrap()["id"].as_str().unwrap().to_owned();
        let (_, sks) = s.get(&format!("/v1/tenants/{}/signing-keys", t.id), &t.admin_key).await;
        assert!(sks["items"].as_array().unwrap().iter().all(|k| k.get("secret").is_none() && k["alg"] == "HS256"));

        s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(s.call(Method::DELETE, &format!("/v1/tenants/{}/keys/{publisher}", t.id), &t.admin_key, None).await.0, 204);
        let (st, _) = s.post(&format!("/v1/tenants/{}/channels/orders/notifications", t.id), &t.publish_key, json!({"type": "x"})).await;
        assert_eq!(st, 401, "a revoked key stops working at once");
    }
}

e2e! {
    async fn channels_crud_and_auto_creation(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let base = format!("/v1/tenants/{}/channels", t.id);
        let (st, ch) = s.post(&base, &t.admin_key, json!({"name": "orders", "retention": {"max_count": 10, "max_age_seconds": 60}})).await;
        assert_eq!(st, 201);
        assert_eq!(ch["retention"], json!({"max_count": 10, "max_age_seconds": 60}));
        assert_eq!(s.post(&base, &t.admin_key, json!({"name": "orders"})).await.0, 409);
        // Publishing creates a channel with default retention.
        s.publish(&t, "user.1.inbox", json!({"type": "x"})).await;
        let (_, list) = s.get(&base, &t.admin_key).await;
        let names: Vec<_> = list["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
        assert_eq!(names, vec!["orders", "user.1.inbox"]);
        let (st, ch) = s.call(Method::PATCH, &format!("{base}/orders"), &t.admin_key, Some(json!({"retention": {"max_count": 3}}))).await;
        assert_eq!(st, 200);
        assert_eq!(ch["retention"]["max_count"], 3);
        assert_eq!(s.get(&format!("{base}/orders"), &t.admin_key).await.1["retention"]["max_count"], 3);
        // Deleting a channel deletes its history.
        assert_eq!(s.call(Method::DELETE, &format!("{base}/user.1.inbox"), &t.admin_key, None).await.0, 204);
        assert_eq!(s.get(&format!("{base}/user.1.inbox"), &t.admin_key).await.0, 404);
        let mut sub = s.subscribe(&t, &t.token("1", &["user.1.*"]), &["user.1.*"], Some(0)).await;
        let sentinel = s.publish(&t, "user.1.after", json!({"type": "x"})).await;
        sub.expect_next_is(sentinel).await;
    }
}
