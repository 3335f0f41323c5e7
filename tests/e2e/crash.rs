//! Durability: every publish that got a 201 survives SIGKILL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

e2e! {
    async fn acknowledged_publishes_survive_sigkill(b) {
        let db = TestDb::create(b).await;
        let mut node = Node::spawn(&db.url, &[]);
        let s = Server::attach(node.base.clone()).await;
        let client = s.client.clone();
        let t = s.tenant("acme").await;

        // Publish concurrently and kill the process while requests are in flight.
        let progress = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for p in 0..4 {
            let progress = progress.clone();
            let client = client.clone();
            let url = s.url(&format!("/v1/tenants/{}/channels/orders/notifications", t.id));
            let key = t.publish_key.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..1000 {
                    match client.post(&url).bearer_auth(&key).json(&json!({"type": "x", "data": [p, i]})).send().await {
                        Ok(r) if r.status() == 201 => match r.json::<serde_json::Value>().await {
                            Ok(v) => {
                                acked.push(v["id"].as_i64().unwrap());
                                progress.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => break,
                        },
                        _ => break,
                    }
                }
                acked
            }));
        }
        // Kill once enough were acknowledged, however slow the machine is.
        let deadline = tokio::time::Instant::now() + WAIT;
        while progress.load(Ordering::Relaxed) < 40 {
            assert!(tokio::time::Instant::now() < deadline, "expected 40 acknowledged publishes within {WAIT:?}, got {}", progress.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        node.kill(); // SIGKILL
        let mut acked = Vec::new();
        for t in tasks {
            acked.extend(t.await.unwrap());
        }
        acked.sort();
        assert!(acked.len() > 10, "some publishes were acknowledged before the kill ({})", acked.len());

        let node = Node::spawn(&db.url, &[]);
        let s2 = Server::attach(node.base.clone()).await;
        let mut sub = s2.subscribe(&t, &t.token("1", &["orders"]), &["orders"], Some(0)).await;
        // Everything stored before the restart comes before this one.
        let sentinel = s2.publish(&t, "orders", json!({"type": "sentinel"})).await;
        let mut stored = ids(&sub.take(sentinel as usize, WAIT).await);
        assert_eq!(stored.pop(), Some(sentinel), "the sentinel comes last");
        drop(node);
        let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
        assert!(missing.is_empty(), "acknowledged but lost after SIGKILL: {missing:?}");
        // Ids have no holes: a transaction cut off by the kill left nothing behind.
        assert_eq!(stored, (1..=stored.len() as i64).collect::<Vec<_>>());
    }
}
