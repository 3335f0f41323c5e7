//! Issue 18, finding 9: a deployment-wide daily email cap for tenants
//! without an `emails_per_day` quota.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

e2e! {
    async fn the_default_daily_cap_applies_to_a_tenant_without_a_quota(b) {
        let smtp = SmtpServer::start(&[]);
        let s = Server::start_with(b, |c| {
            email_config(c, smtp.url());
            c.email.default_daily_cap = 2;
        })
        .await;
        let t = s.tenant("acme").await;
        let (status, c) = s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "billing", "email": {"after_seconds": 0}})).await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        let (status, r) = s.call(Method::PUT, &format!("/v1/tenants/{}/recipients/ada", t.id), &t.admin_key, Some(json!({"email": "ada@example.com"}))).await;
        assert!(status.is_success(), "{r}");
        for i in 0..3 {
            s.publish(&t, "billing", json!({"type": "invoice.paid", "data": {"title": format!("Invoice {i}")}, "recipients": ["ada"]})).await;
        }
        // Every notification gets one final log entry: two sent, one failed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let entries = loop {
            let (status, page) = s.get(&format!("/v1/tenants/{}/deliveries?user=ada", t.id), &t.admin_key).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let entries = page["items"].as_array().unwrap().clone();
            if entries.len() >= 3 {
                break entries;
            }
            assert!(tokio::time::Instant::now() < deadline, "expected 3 log entries, got {entries:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let status_of = |e: &Value| e["status"].as_str().unwrap().to_owned();
        assert_eq!(entries.iter().filter(|e| status_of(e) == "sent").count(), 2, "{entries:?}");
        let failed: Vec<&Value> = entries.iter().filter(|e| status_of(e) == "failed").collect();
        assert_eq!(failed.len(), 1, "{entries:?}");
        let error = failed[0]["error"].as_str().unwrap();
        assert!(error.contains("default_daily_cap") && error.contains(" 2 "), "{error}");
        assert_eq!(smtp.wait_for(2, Duration::from_secs(30)).await.len(), 2);
    }
}
