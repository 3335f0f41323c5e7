//! Plugins and tenants (issue 18, findings 2 and 3): the same bytes
//! uploaded by two tenants share compiled code but not call statistics; one
//! tenant uploading many plugins cannot exhaust the instance pool for the
//! others (their fail-open redactor still runs); and the plugin quotas and
//! upload rate refuse with their problem types.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

use crate::plugins::wat_plugin::{self, Exports};

/// A publish hook that keeps the notification; `n` makes the bytes differ,
/// so each `n` is a different plugin to the host's cache.
fn numbered_plugin(n: usize) -> Vec<u8> {
    wat_plugin::plugin(
        Exports::Publish,
        &format!(
            r#"(data (i32.const 2048) "plugin {n}")
               (func (export "on-publish") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32) (call $keep))"#
        ),
    )
}

async fn plugin_stats(s: &Server, t: &Tenant, name: &str) -> Value {
    let (status, p) = s.get(&format!("/v1/tenants/{}/plugins/{name}", t.id), &t.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    p["versions"][0]["stats"].clone()
}

async fn create_channel(s: &Server, t: &Tenant, body: Value) {
    let (status, ch) = s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{ch}");
}

async fn publish_raw(s: &Server, t: &Tenant, channel: &str, body: Value) -> (StatusCode, Value) {
    s.post(&format!("/v1/tenants/{}/channels/{channel}/notifications", t.id), &t.publish_key, body).await
}

async fn set_quotas(s: &Server, t: &Tenant, body: Value) {
    let (status, q) = s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/quotas", t.id), &s.operator_key, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{q}");
}

e2e! {
    async fn same_bytes_in_two_tenants_keep_separate_call_stats(b) {
        let s = Server::start(b).await;
        let (a, other) = (s.tenant("acme").await, s.tenant("globex").await);
        let wasm = plugin_wasm("redact");
        let (status, pa) = s.upload_plugin(&a, "redact", "1.0.0", wasm.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{pa}");
        let (status, pb) = s.upload_plugin(&other, "redact", "1.0.0", wasm).await;
        assert_eq!(status, StatusCode::CREATED, "{pb}");
        assert_eq!(pa["sha256"], pb["sha256"], "the same bytes");

        create_channel(&s, &a, json!({"name": "support", "plugins": [{"plugin": "redact", "config": {"fields": ["body"]}}]})).await;
        for _ in 0..3 {
            let (status, r) = publish_raw(&s, &a, "support", json!({"type": "msg", "data": {"body": "jo@example.com"}})).await;
            assert_eq!(status, StatusCode::CREATED, "{r}");
        }
        // The publish hook ran before each 201: the counts are final.
        let mine = plugin_stats(&s, &a, "redact").await;
        assert_eq!((mine["calls"].as_u64(), mine["ok"].as_u64()), (Some(3), Some(3)), "{mine}");
        let theirs = plugin_stats(&s, &other, "redact").await;
        assert_eq!(theirs["calls"], 0, "globex never called it: {theirs}");
    }
}

e2e! {
    async fn many_uploads_by_one_tenant_leave_others_plugins_running(b) {
        // A pool of 4 instances (2 of them ever idle) and 2 cached plugins;
        // before eviction, each upload kept its instance for good.
        let s = Server::start_with(b, |c| {
            c.plugins.max_instances = 4;
            c.plugins.max_cached_plugins = 2;
            c.plugins.max_idle_instances = 2;
            c.plugins.max_idle_instances_per_tenant = 1;
        })
        .await;
        let (mallory, victim) = (s.tenant("mallory").await, s.tenant("victim").await);
        for n in 0..10 {
            let (status, p) = s.upload_plugin(&mallory, &format!("p{n}"), "1", numbered_plugin(n)).await;
            assert_eq!(status, StatusCode::CREATED, "upload {n}: {p}");
        }
        // And runs eight of them on every publish.
        let chain: Vec<Value> = (0..8).map(|n| json!({"plugin": format!("p{n}")})).collect();
        create_channel(&s, &mallory, json!({"name": "spam", "plugins": chain})).await;
        for _ in 0..3 {
            let (status, r) = publish_raw(&s, &mallory, "spam", json!({"type": "t", "data": {}})).await;
            assert_eq!(status, StatusCode::CREATED, "{r}");
        }

        // The other tenant's upload still compiles and starts, and its
        // fail-open redactor really runs (were it skipped, the address would go out).
        let (status, p) = s.upload_plugin(&victim, "redact", "1.0.0", plugin_wasm("redact")).await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        create_channel(
            &s,
            &victim,
            json!({"name": "support", "failure_policy": "fail-open",
                   "plugins": [{"plugin": "redact", "config": {"fields": ["body"], "mask": "[hidden]"}}]}),
        )
        .await;
        let mut sub = s.subscribe(&victim, &victim.token("1", &["support"]), &["support"], None).await;
        let (status, r) = publish_raw(&s, &victim, "support", json!({"type": "msg", "data": {"body": "mail jo@example.com"}})).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!(data(&sub.take(1, WAIT).await[0])["data"]["body"], "mail [hidden]");
        let stats = plugin_stats(&s, &victim, "redact").await;
        assert_eq!(stats["ok"], 1, "{stats}");

        // And mallory's plugins still run too (evicted ones start afresh).
        let (status, r) = publish_raw(&s, &mallory, "spam", json!({"type": "t", "data": {}})).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
    }
}

e2e! {
    async fn plugin_quotas_refuse_uploads_with_their_problem_type(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let size = numbered_plugin(0).len() as u64;
        set_quotas(&s, &t, json!({"max_plugins": 2, "max_plugin_versions": 2, "max_plugin_bytes": size * 4})).await;
        let (status, q) = s.get(&format!("/v1/tenants/{}/quotas", t.id), &t.admin_key).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((q["max_plugins"].as_u64(), q["plugin_uploads_per_minute"].as_u64()), (Some(2), None), "{q}");

        let upload = |name: &'static str, version: &'static str, n: usize| {
            let (s, t) = (&s, &t);
            async move { s.upload_plugin(t, name, version, numbered_plugin(n)).await }
        };
        assert_eq!(upload("a", "1", 1).await.0, StatusCode::CREATED);
        assert_eq!(upload("a", "2", 2).await.0, StatusCode::CREATED);
        let (status, p) = upload("a", "3", 3).await;
        assert_eq!(status, StatusCode::CONFLICT, "{p}");
        assert_eq!(p["type"], "urn:herald:problem:plugin-quota-exceeded");
        assert!(p["detail"].as_str().unwrap().contains("max_plugin_versions"), "{p}");

        assert_eq!(upload("b", "1", 4).await.0, StatusCode::CREATED);
        let (status, p) = upload("c", "1", 5).await;
        assert_eq!(status, StatusCode::CONFLICT, "{p}");
        assert_eq!(p["type"], "urn:herald:problem:plugin-quota-exceeded");
        assert!(p["detail"].as_str().unwrap().contains("max_plugins"), "{p}");

        // Three components stored; a fourth fits, a fifth would not.
        assert_eq!(upload("b", "2", 6).await.0, StatusCode::CREATED);
        set_quotas(&s, &t, json!({"max_plugin_versions": 5, "max_plugin_bytes": size * 4})).await;
        let (status, p) = upload("b", "3", 7).await;
        assert_eq!(status, StatusCode::CONFLICT, "{p}");
        assert!(p["detail"].as_str().unwrap().contains("max_plugin_bytes"), "{p}");

        // Deleting frees room.
        let (status, _) = s.call(reqwest::Method::DELETE, &format!("/v1/tenants/{}/plugins/a", t.id), &t.admin_key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(upload("b", "3", 7).await.0, StatusCode::CREATED);

        // Bounds are checked when set.
        let (status, p) =
            s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/quotas", t.id), &s.operator_key, Some(json!({"max_plugins": 0}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    }
}

e2e! {
    async fn plugin_uploads_are_rate_limited_per_tenant(b) {
        let s = Server::start(b).await;
        let (t, other) = (s.tenant("acme").await, s.tenant("globex").await);
        set_quotas(&s, &t, json!({"plugin_uploads_per_minute": 2})).await;
        assert_eq!(s.upload_plugin(&t, "a", "1", numbered_plugin(1)).await.0, StatusCode::CREATED);
        // A refused upload counts too: refusing it cost a look at the bytes.
        assert_eq!(s.upload_plugin(&t, "junk", "1", b"not wasm".to_vec()).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let res = s
            .client
            .post(s.url(&format!("/v1/tenants/{}/plugins?name=b&version=1", t.id)))
            .bearer_auth(&t.admin_key)
            .header("content-type", "application/wasm")
            .body(numbered_plugin(2))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["type"], "urn:herald:problem:quota-exceeded");
        assert!(p["detail"].as_str().unwrap().contains("plugin_uploads_per_minute"), "{p}");
        // Another tenant is not affected.
        assert_eq!(s.upload_plugin(&other, "b", "1", numbered_plugin(2)).await.0, StatusCode::CREATED);
    }
}
