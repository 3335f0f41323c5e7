//! Retention prunes by count and by age; a resume from pruned history is
//! told so, then gets what remains.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

/// The channel's whole history as a stream resuming from 0 replays it,
/// Herald's own events included. A live sentinel on another channel marks
/// the end of the replay (a stream replays before it goes live), so a slow
/// replay is never cut short.
async fn history(s: &Server, t: &Tenant, channel: &str) -> Vec<eventsource_stream::Event> {
    const END: &str = "history.end";
    let mut sub = s.subscribe(t, &t.token("1", &[channel, END]), &[channel, END], Some(0)).await;
    let sentinel = s.publish(t, END, json!({"type": "end"})).await.to_string();
    let mut out = Vec::new();
    loop {
        let e = sub.next(WAIT).await.unwrap_or_else(|| panic!("expected the end sentinel {sentinel}, got {}", describe(&out)));
        if e.id == sentinel {
            return out;
        }
        // Earlier calls' sentinels.
        if e.id.is_empty() || data(&e)["channel"] != END {
            out.push(e);
        }
    }
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

/// How old `retention_by_age`'s notifications may get.
const MAX_AGE: u64 = 3;

e2e! {
    async fn retention_by_age(b) {
        let s = Server::start_with(b, |c| c.retention.interval_seconds = 1).await;
        let t = s.tenant("acme").await;
        let (st, _) = s
            .post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "brief", "retention": {"max_age_seconds": MAX_AGE}}))
            .await;
        assert_eq!(st, 201);
        let mut old = Vec::new();
        for i in 0..3 {
            old.push(s.publish(&t, "brief", json!({"type": "old", "data": i})).await);
        }
        let aged = tokio::time::Instant::now() + Duration::from_secs(MAX_AGE + 1);
        tokio::time::sleep_until(aged).await;
        let published = tokio::time::Instant::now();
        let fresh = s.publish(&t, "brief", json!({"type": "new"})).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let events = history(&s, &t, "brief").await;
            let left = ids(&events);
            if !left.iter().any(|id| old.contains(id)) {
                assert_eq!(events[0].event, "history-truncated", "a pruned channel says so");
                // On a slow machine the pruning may come after `fresh` aged
                // too: it may only be gone once it is older than MAX_AGE.
                if left != vec![fresh] {
                    let age = published.elapsed();
                    assert!(left.is_empty() && age >= Duration::from_secs(MAX_AGE), "expected [{fresh}] left (or nothing once {fresh} aged, {age:?} after its publish), got {left:?}");
                }
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "expected {old:?} pruned within {WAIT:?} after they aged, got {left:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
