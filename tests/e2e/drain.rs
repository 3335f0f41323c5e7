//! Stopping a node under load loses nothing: SIGTERM drains it (no new
//! connections, in-flight publishes answered, every stream told to
//! reconnect and closed, spread over the drain window), it exits 0, and
//! every subscriber resumes on the next node with no gap and no duplicate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::json;

use crate::harness::*;

const SUBSCRIBERS: usize = 20;
const MESSAGES: usize = 300;

/// Where clients currently find Herald (a load balancer, in production).
type Base = Arc<Mutex<String>>;

fn base(b: &Base) -> String {
    b.lock().unwrap().clone()
}

/// A subscriber that resumes from its last id whenever its stream ends or
/// cannot connect, until it has `want()` ids.
async fn subscriber(client: reqwest::Client, at: Base, tenant: String, token: String, want: Arc<Mutex<Option<i64>>>) -> (Vec<i64>, usize) {
    let mut got: Vec<i64> = Vec::new();
    let mut connections = 0;
    loop {
        if let Some(last) = *want.lock().unwrap()
            && got.last().is_some_and(|l| *l >= last)
        {
            return (got, connections);
        }
        let mut req = client.get(format!("{}/v1/tenants/{tenant}/stream", base(&at))).query(&[("channel", "orders")]).bearer_auth(&token);
        req = req.header("Last-Event-ID", got.last().copied().unwrap_or(0).to_string());
        let res = match req.send().await {
            Ok(r) if r.status() == 200 => r,
            _ => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        connections += 1;
        let mut events = res.bytes_stream().eventsource();
        loop {
            match tokio::time::timeout(Duration::from_secs(2), events.next()).await {
                Ok(Some(Ok(e))) if !e.id.is_empty() => got.push(e.id.parse().unwrap()),
                Ok(Some(Ok(_))) => {}
                // The stream ended (drained), broke, or went quiet: resume.
                _ => break,
            }
            if let Some(last) = *want.lock().unwrap()
                && got.last().is_some_and(|l| *l >= last)
            {
                return (got, connections);
            }
        }
    }
}

e2e! {
    async fn sigterm_drains_and_subscribers_resume_with_nothing_lost_or_doubled(b) {
        let db = TestDb::create(b).await;
        // A shutdown timeout far beyond the drain window: a node that waited
        // for it instead of draining would stand out even on a loaded machine.
        let env = [("HERALD_DRAIN_WINDOW_MS", "1500"), ("HERALD_SHUTDOWN_TIMEOUT_SECONDS", "60")];
        let mut first = Node::spawn(&db.url, &env);
        let s = Server::attach(first.base.clone()).await;
        let t = s.tenant("acme").await;
        let at: Base = Arc::new(Mutex::new(first.base.clone()));
        let want: Arc<Mutex<Option<i64>>> = Arc::new(Mutex::new(None));

        let subs: Vec<_> = (0..SUBSCRIBERS)
            .map(|i| {
                let token = t.token(&format!("u{i}"), &["orders"]);
                tokio::spawn(subscriber(s.client.clone(), at.clone(), t.id.clone(), token, want.clone()))
            })
            .collect();

        // One publisher, retrying each message with its idempotency key
        // until it is acknowledged: a retry of a message that did commit
        // gets its first id, so every message has exactly one id.
        let progress = Arc::new(AtomicUsize::new(0));
        let publisher = {
            let (client, at, tenant, key) = (s.client.clone(), at.clone(), t.id.clone(), t.publish_key.clone());
            let progress = progress.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..MESSAGES {
                    loop {
                        let url = format!("{}/v1/tenants/{tenant}/channels/orders/notifications", base(&at));
                        let body = json!({"type": "tick", "data": {"i": i}, "idempotency_key": format!("m-{i}")});
                        match client.post(&url).bearer_auth(&key).json(&body).send().await {
                            Ok(r) if r.status() == 201 => {
                                ids.push(r.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap());
                                progress.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            _ => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                ids
            })
        };

        // Let traffic flow (a fifth of the messages), then stop the node under load.
        let deadline = tokio::time::Instant::now() + WAIT * 3;
        while progress.load(Ordering::Relaxed) < MESSAGES / 5 {
            assert!(tokio::time::Instant::now() < deadline, "expected {} publishes to go through, got {}", MESSAGES / 5, progress.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stopping = tokio::time::Instant::now();
        let status = first.terminate(Duration::from_secs(90)).await;
        let took = stopping.elapsed();
        assert!(status.success(), "herald exited with {status} after SIGTERM: {:#?}", first.log());
        // The drain closed the streams itself: the node did not sit out its
        // 60 s shutdown timeout waiting for open streams to be cut.
        assert!(took < Duration::from_secs(45), "stopping took {took:?}: the streams were not drained");
        let log = first.log().join("\n");
        assert!(log.contains("every stream was told to reconnect and closed"), "the streams were drained, not cut:\n{log}");
        assert!(log.contains("herald stopped"), "{log}");

        // The next node on the same database; clients find it there.
        let second = Node::spawn(&db.url, &env);
        *at.lock().unwrap() = second.base.clone();

        let mut acked = tokio::time::timeout(Duration::from_secs(60), publisher).await.expect("publishing finished").unwrap();
        assert_eq!(acked.len(), MESSAGES);
        acked.sort();
        acked.dedup();
        assert_eq!(acked.len(), MESSAGES, "each message has its own id");
        *want.lock().unwrap() = acked.last().copied();

        for sub in subs {
            let (got, connections) = tokio::time::timeout(Duration::from_secs(60), sub).await.expect("every subscriber caught up").unwrap();
            assert!(connections >= 2, "the subscriber was moved to the next node ({connections} connections)");
            let mut sorted = got.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), got.len(), "no notification twice");
            assert_eq!(got, sorted, "in order");
            assert_eq!(got, acked, "every acknowledged notification, and nothing else");
        }
    }
}
