//! Issue 18, finding 5: caches and tables fed by unauthenticated or
//! subscriber requests stay bounded.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// The allowed-origins cache's bound on tenant ids found not to exist
/// (`herald_app::allowed_origins::MAX_UNKNOWN`).
const MAX_UNKNOWN: usize = 1_000;

async fn cache_entries(s: &Server, kind: &str) -> u64 {
    let text = reqwest::get(s.url("/metrics")).await.unwrap().text().await.unwrap();
    let prefix = format!("herald_allowed_origins_cache_entries{{kind=\"{kind}\"}} ");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {prefix} in:\n{text}"));
    line[prefix.len()..].trim().parse().unwrap()
}

e2e! {
    async fn preflights_for_made_up_tenants_leave_the_origins_cache_at_its_cap(b) {
        // Entries outlive the flood however slow the machine is, so the cap
        // (not their expiry) is what bounds the table.
        let s = Server::start_with(b, |c| c.key_cache_seconds = 600).await;
        let t = s.tenant("acme").await;
        let app = "http://app.test";
        let (status, body) = s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/allowed-origins", t.id), &t.admin_key, Some(json!({"origins": [app]}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let preflight = |tenant: String| {
            let s = &s;
            async move {
                s.client
                    .request(reqwest::Method::OPTIONS, s.url(&format!("/v1/tenants/{tenant}/stream")))
                    .header("Origin", app)
                    .header("Access-Control-Request-Method", "GET")
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(preflight(t.id.clone()).await, StatusCode::NO_CONTENT);
        for _ in 0..MAX_UNKNOWN + 200 {
            let made_up = herald_core::ids::TenantId::generate().to_string();
            assert_eq!(preflight(made_up).await, StatusCode::FORBIDDEN);
        }
        assert_eq!(cache_entries(&s, "unknown").await, MAX_UNKNOWN as u64);
        assert_eq!(cache_entries(&s, "tenant").await, 1);
        // The real tenant is still answered.
        assert_eq!(preflight(t.id.clone()).await, StatusCode::NO_CONTENT);
    }
}

e2e! {
    async fn read_receipts_refuse_unknown_ids_and_stop_at_the_per_user_cap(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("alice", &["orders"]);
        let read = |body: Value| {
            let (s, t, token) = (&s, &t, &token);
            async move { s.post(&format!("/v1/tenants/{}/notifications/read", t.id), token, body).await }
        };
        // 10,000 notifications, the per-user cap, plus one.
        let mut last = 0;
        for _ in 0..11 {
            let items: Vec<Value> = (0..1000).map(|_| json!({"channel": "orders", "type": "x"})).collect();
            let (status, body) = s.post(&format!("/v1/tenants/{}/notifications:batch", t.id), &t.publish_key, json!({"notifications": items})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            last = body["ids"].as_array().unwrap().last().unwrap().as_i64().unwrap();
        }
        let (status, problem) = read(json!({"ids": [last + 1]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem["type"].as_str().unwrap().ends_with("unknown-notification"), "{problem}");
        for chunk in 0..10 {
            let ids: Vec<i64> = (1..=1000).map(|i| chunk * 1000 + i).collect();
            assert_eq!(read(json!({ "ids": ids })).await.0, StatusCode::NO_CONTENT);
        }
        let (status, problem) = read(json!({"ids": [10_001]})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        assert!(problem["type"].as_str().unwrap().ends_with("too-many-read-receipts"), "{problem}");
        // Moving the watermark frees the receipts below it.
        assert_eq!(read(json!({"up_to": 5000})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(read(json!({"ids": [10_001]})).await.0, StatusCode::NO_CONTENT);
        // Another user is not affected by alice's receipts.
        let bob = t.token("bob", &["orders"]);
        let (status, _) = s.post(&format!("/v1/tenants/{}/notifications/read", t.id), &bob, json!({"ids": [1]})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
}
