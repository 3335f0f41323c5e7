//! Retention prunes by count and by age; a resume from pruned history is
//! told so, then gets what remains.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

async fn history(s: &Server, t: &Tenant, channel: &str) -> Vec<eventsource_stream::Event> {
    let mut sub = s.subscribe(t, &t.token("1", &[channel]), &[channel], Some(0)).await;
    let mut out = Vec::new();
    while let Some(e) = sub.next(Duration::from_millis(500)).await {
        out.push(e);
    }
    out
}

e2e! {
    async fn retention_by_count(b) {
        let s = Server::start_with(b, |c| c.retention.interval_seconds = 1).await;
        let t = s.tenant("acme").await;
        let (st, _) =
            s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "capped", "retention": {"max_count": 5}})).await;
        assert_eq!(st, 201);
        let mut published = Vec::new();
        for i in 0..12 {
            published.push(s.publish(&t, "capped", json!({"type": "x", "data": i})).await);
        }
        let other = s.publish(&t, "uncapped", json!({"type": "x"})).await;

        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let events = history(&s, &t, "capped").await;
            if ids(&events) == published[7..] {
                assert_eq!(events[0].event, "history-truncated");
                assert_eq!(data(&events[0])["last_event_id"], 0);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "not pruned to 5: {:?}", ids(&events));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Other channels keep their history and are not reported truncated.
        let events = history(&s, &t, "uncapped").await;
        assert_eq!(ids(&events), vec![other]);
        assert_eq!(events[0].event, "x");
        // A resume after the pruned range is not told about a gap.
        let mut sub = s.subscribe(&t, &t.token("1", &["capped"]), &["capped"], Some(published[8])).await;
        let first = sub.next(WAIT).await.unwrap();
        assert_eq!(first.id, published[9].to_string());
    }
}

e2e! {
    async fn retention_by_age(b) {
        let s = Server::start_with(b, |c| c.retention.interval_seconds = 1).await;
        let t = s.tenant("acme").await;
        let (st, _) = s
            .post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "brief", "retention": {"max_age_seconds": 2}}))
            .await;
        assert_eq!(st, 201);
        for i in 0..3 {
            s.publish(&t, "brief", json!({"type": "old", "data": i})).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let fresh = s.publish(&t, "brief", json!({"type": "new"})).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let events = history(&s, &t, "brief").await;
            if ids(&events) == vec![fresh] {
                assert_eq!(events[0].event, "history-truncated");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "old notifications not pruned: {:?}", ids(&events));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
