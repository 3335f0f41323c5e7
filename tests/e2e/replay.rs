//! Resuming with Last-Event-ID: exactly what was missed, in order, also
//! while publishes run concurrently.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

e2e! {
    async fn reconnect_gets_exactly_what_was_missed(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("1", &["orders", "user.1.*"]);
        let mut sub = s.subscribe(&t, &token, &["orders", "user.1.*"], None).await;
        let first = s.publish(&t, "orders", json!({"type": "x", "data": 0})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![first]);
        drop(sub);

        let mut missed = Vec::new();
        for i in 0..100 {
            let channel = if i % 2 == 0 { "orders" } else { "user.1.inbox" };
            missed.push(s.publish(&t, channel, json!({"type": "x", "data": i})).await);
            // Noise the subscriber must not see.
            s.publish(&t, "user.2.inbox", json!({"type": "x"})).await;
        }

        let mut sub = s.subscribe(&t, &token, &["orders", "user.1.*"], Some(first)).await;
        let events = sub.take(100, WAIT).await;
        assert_eq!(ids(&events), missed);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(data(e)["data"], i);
        }
        // And then live, with no duplicate.
        let live = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![live]);
        let sentinel = s.publish(&t, "orders", json!({"type": "sentinel"})).await;
        sub.expect_next_is(sentinel).await;
    }
}

e2e! {
    async fn last_event_id_query_parameter_and_bad_values(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let a = s.publish(&t, "orders", json!({"type": "x"})).await;
        let b = s.publish(&t, "orders", json!({"type": "x"})).await;
        let token = t.token("1", &["orders"]);
        let url = s.url(&format!("/v1/tenants/{}/stream?channel=orders&last_event_id={a}", t.id));
        let res = s.client.get(url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(ids(&Sse::new(res).take(1, WAIT).await), vec![b]);
        for bad in ["abc", "-1", "1.5"] {
            let res = s
                .client
                .get(s.url(&format!("/v1/tenants/{}/stream?channel=orders", t.id)))
                .bearer_auth(&token)
                .header("Last-Event-ID", bad)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{bad}");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
        }
    }
}

e2e! {
    /// 4 publishers x 500 while one subscriber disconnects and resumes 20
    /// times: every notification arrives exactly once, in order.
    async fn resume_races_concurrent_publishers(b) {
        let s = Arc::new(Server::start(b).await);
        let t = s.tenant("acme").await;
        let token = t.token("1", &["race.*"]);
        let mut sub = s.subscribe(&t, &token, &["race.*"], None).await;

        let mut publishers = Vec::new();
        for p in 0..4 {
            let s = s.clone();
            let t = t.clone();
            publishers.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..500 {
                    ids.push(s.publish(&t, &format!("race.p{p}"), json!({"type": "x", "data": i})).await);
                }
                ids
            }));
        }

        let mut received: Vec<i64> = Vec::new();
        for _ in 0..20 {
            // Read a little, then drop the connection mid-flow and resume.
            let target = received.len() + 40;
            while received.len() < target {
                match sub.next(Duration::from_secs(2)).await {
                    Some(e) => received.push(e.id.parse().unwrap()),
                    None => break,
                }
            }
            drop(sub);
            sub = s.subscribe(&t, &token, &["race.*"], received.last().copied().or(Some(0))).await;
        }
        let mut expected: Vec<i64> = Vec::new();
        for p in publishers {
            expected.extend(p.await.unwrap());
        }
        expected.sort();
        let remaining = expected.len() - received.len();
        received.extend(ids(&sub.take(remaining, WAIT).await));
        let sentinel = s.publish(&t, "race.sentinel", json!({"type": "sentinel"})).await;
        sub.expect_next_is(sentinel).await;

        assert_eq!(received.len(), 2000);
        assert!(received.windows(2).all(|w| w[0] < w[1]), "in order, no duplicate");
        assert_eq!(received.iter().copied().collect::<HashSet<_>>().len(), 2000);
        assert_eq!(received, expected);
    }
}
