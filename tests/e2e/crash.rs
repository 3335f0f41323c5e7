//! Durability: every publish that got a 201 survives SIGKILL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

/// Starts the real binary on a free port; returns it and its base URL,
/// read from the startup log.
fn spawn_herald(db: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(herald_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &format!("sqlite://{}", db.display())])
        .env("HERALD_OPERATOR_KEY", OPERATOR_KEY)
        .env("HERALD_WORKERS", "2")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(i) = line.find("listening on http://") {
                let url: String = line[i + "listening on ".len()..].split_whitespace().next().unwrap().to_owned();
                let _ = tx.send(url);
                sent = true;
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(30)).expect("herald printed its address");
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_publishes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("herald.db");
    let (mut child, base) = spawn_herald(&db);
    let s = Server::attach(base).await;
    let client = s.client.clone();
    let t = s.tenant("acme").await;

    // Publish concurrently and kill the process while requests are in flight.
    let mut tasks = Vec::new();
    for p in 0..4 {
        let client = client.clone();
        let url = s.url(&format!("/v1/tenants/{}/channels/orders/notifications", t.id));
        let key = t.publish_key.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..1000 {
                match client.post(&url).bearer_auth(&key).json(&json!({"type": "x", "data": [p, i]})).send().await {
                    Ok(r) if r.status() == 201 => match r.json::<serde_json::Value>().await {
                        Ok(v) => acked.push(v["id"].as_i64().unwrap()),
                        Err(_) => break,
                    },
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked.sort();
    assert!(acked.len() > 10, "some publishes were acknowledged before the kill ({})", acked.len());

    let (mut child, base) = spawn_herald(&db);
    let s2 = Server::attach(base).await;
    let mut sub = s2.subscribe(&t, &t.token("1", &["orders"]), &["orders"], Some(0)).await;
    let mut stored = Vec::new();
    while let Some(e) = sub.next(Duration::from_secs(2)).await {
        stored.push(e.id.parse::<i64>().unwrap());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(missing.is_empty(), "acknowledged but lost after SIGKILL: {missing:?}");
    // Ids have no holes: a transaction cut off by the kill left nothing behind.
    assert_eq!(stored, (1..=stored.len() as i64).collect::<Vec<_>>());
}
