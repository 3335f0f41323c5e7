//! Several `herald serve` processes on one PostgreSQL database, with the
//! PostgreSQL and the NATS bus.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

fn bus_env(bus: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![("HERALD_BUS", bus.to_owned()), ("HERALD_POLL_INTERVAL_MS", "500".to_owned())];
    if bus.starts_with("nats://") {
        // Each test its own subject: the NATS server is shared.
        env.push(("HERALD_NATS_SUBJECT", format!("herald.test.{}", std::process::id() as u128 * 1_000_000 + now() as u128)));
    }
    env
}

fn spawn(db: &TestDb, env: &[(&'static str, String)]) -> Node {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Node::spawn(&db.url, &env)
}

fn nats_url() -> String {
    std::env::var("HERALD_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn cross_node_delivery(bus: &str) {
    let db = TestDb::create(Backend::Postgres).await;
    let env = bus_env(bus);
    let node_a = spawn(&db, &env);
    let node_b = spawn(&db, &env);
    let a = Server::attach(node_a.base.clone()).await;
    let b = Server::attach(node_b.base.clone()).await;
    let t = a.tenant("acme").await;
    let token = t.token("1", &["orders"]);
    let mut on_a = a.subscribe(&t, &token, &["orders"], None).await;
    let mut on_b = b.subscribe(&t, &token, &["orders"], None).await;

    // Publishes alternate between the nodes; both streams see all, in order.
    let mut published = Vec::new();
    for i in 0..40 {
        let node = if i % 2 == 0 { &a } else { &b };
        published.push(node.publish(&t, "orders", json!({"type": "x", "data": i})).await);
    }
    assert_eq!(ids(&on_a.take(40, WAIT).await), published);
    assert_eq!(ids(&on_b.take(40, WAIT).await), published);
    let sentinel = a.publish(&t, "orders", json!({"type": "sentinel"})).await;
    on_b.expect_next_is(sentinel).await;
    assert!(node_a.log().iter().any(|l| l.contains(&format!("bus=\"{}\"", if bus == "postgres" { "postgres" } else { "nats" }))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_on_one_node_reaches_another_over_postgres_notify() {
    cross_node_delivery("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_on_one_node_reaches_another_over_nats() {
    cross_node_delivery(&nats_url()).await;
}

/// A subscriber of a node that dies resumes on another with nothing lost,
/// while publishing goes on there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_death_loses_nothing() {
    let db = TestDb::create(Backend::Postgres).await;
    let env = bus_env("postgres");
    let mut node_a = spawn(&db, &env);
    let node_b = spawn(&db, &env);
    let a = Server::attach(node_a.base.clone()).await;
    let b = std::sync::Arc::new(Server::attach(node_b.base.clone()).await);
    let t = a.tenant("acme").await;
    let token = t.token("1", &["orders"]);
    let mut sub = a.subscribe(&t, &token, &["orders"], None).await;

    let publisher = {
        let b = b.clone();
        let t = t.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..300 {
                ids.push(b.publish(&t, "orders", json!({"type": "x", "data": i})).await);
            }
            ids
        })
    };
    let mut received = Vec::new();
    while received.len() < 50 {
        let e = sub.next(WAIT).await.expect("events before the kill");
        received.push(e.id.parse::<i64>().unwrap());
    }
    node_a.kill(); // SIGKILL, mid-stream
    while let Some(e) = sub.next(Duration::from_millis(500)).await {
        received.push(e.id.parse::<i64>().unwrap());
    }
    let mut resumed = b.subscribe(&t, &token, &["orders"], received.last().copied()).await;
    let published = publisher.await.unwrap();
    let rest = ids(&resumed.take(published.len() - received.len(), WAIT).await);
    received.extend(rest);
    assert_eq!(received, published);
    let sentinel = b.publish(&t, "orders", json!({"type": "sentinel"})).await;
    resumed.expect_next_is(sentinel).await;
}

/// When the bus connection drops, the node says so, reconnects, and its
/// subscribers are caught up from the database meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_bus_connection_is_logged_retried_and_caught_up() {
    let db = TestDb::create(Backend::Postgres).await;
    let env = bus_env("postgres");
    let node_a = spawn(&db, &env);
    let node_b = spawn(&db, &env);
    let a = Server::attach(node_a.base.clone()).await;
    let b = Server::attach(node_b.base.clone()).await;
    let t = a.tenant("acme").await;
    let mut on_b = b.subscribe(&t, &t.token("1", &["orders"]), &["orders"], None).await;
    let first = a.publish(&t, "orders", json!({"type": "x"})).await;
    assert_eq!(ids(&on_b.take(1, WAIT).await), vec![first]);

    // Cut every LISTEN connection of this test's database, once both nodes
    // have theirs.
    let admin = sea_orm::Database::connect(postgres_admin_url()).await.unwrap();
    use sea_orm::ConnectionTrait;
    let name = db.pg_name.clone().unwrap();
    let listeners = format!("FROM pg_stat_activity WHERE datname = '{name}' AND query LIKE 'LISTEN%'");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = admin
            .query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, format!("SELECT pid {listeners}")))
            .await
            .unwrap();
        if rows.len() == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "expected one LISTEN connection per node, found {}", rows.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let killed = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT pg_terminate_backend(pid) {listeners}"),
        ))
        .await
        .unwrap();
    assert_eq!(killed.len(), 2);

    let mut published = Vec::new();
    for i in 0..20 {
        published.push(a.publish(&t, "orders", json!({"type": "x", "data": i})).await);
    }
    assert_eq!(ids(&on_b.take(20, WAIT).await), published);
    // Generous: under a load average of 10 on 2 cores, node B once took
    // longer than WAIT to notice its LISTEN connection was gone.
    let deadline = tokio::time::Instant::now() + WAIT * 4;
    loop {
        let log = node_b.log();
        let lost = log.iter().position(|l| l.contains("bus connection lost"));
        let back = log.iter().rposition(|l| l.contains("bus connected"));
        if let (Some(lost), Some(back)) = (lost, back)
            && back > lost
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "expected loss and reconnection in the log: {log:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the bus carries announcements again.
    let after = a.publish(&t, "orders", json!({"type": "x"})).await;
    assert_eq!(ids(&on_b.take(1, WAIT).await), vec![after]);
}

/// The replay invariant on PostgreSQL with real concurrency: three nodes
/// (three writers, three connection pools) publish at once while
/// subscribers hop between nodes, resuming with Last-Event-ID each time.
/// Every subscriber ends with every notification exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_invariant_holds_with_concurrent_writers_on_several_nodes() {
    let db = TestDb::create(Backend::Postgres).await;
    let env = bus_env("postgres");
    let nodes: Vec<Node> = (0..3).map(|_| spawn(&db, &env)).collect();
    let mut servers = Vec::new();
    for n in &nodes {
        servers.push(std::sync::Arc::new(Server::attach(n.base.clone()).await));
    }
    let t = servers[0].tenant("acme").await;
    let token = t.token("1", &["load.>"]);

    let mut publishers = Vec::new();
    for p in 0..6 {
        let s = servers[p % 3].clone();
        let t = t.clone();
        publishers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..200 {
                ids.push(s.publish(&t, &format!("load.p{p}"), json!({"type": "x", "data": i})).await);
            }
            ids
        }));
    }

    let mut subscribers = Vec::new();
    for k in 0..3 {
        let servers = servers.clone();
        let t = t.clone();
        let token = token.clone();
        subscribers.push(tokio::spawn(async move {
            let mut received: Vec<i64> = Vec::new();
            for hop in 0..12 {
                let s = &servers[(k + hop) % 3];
                let mut sub = s.subscribe(&t, &token, &["load.>"], Some(received.last().copied().unwrap_or(0))).await;
                let target = received.len() + 60;
                while received.len() < target {
                    match sub.next(Duration::from_secs(2)).await {
                        Some(e) => received.push(e.id.parse().unwrap()),
                        None => break,
                    }
                }
            }
            received
        }));
    }

    let mut all: Vec<i64> = Vec::new();
    for p in publishers {
        all.extend(p.await.unwrap());
    }
    all.sort();
    assert_eq!(all, (1..=1200).collect::<Vec<_>>(), "ids are dense per tenant");
    // Published after everything: each resumed stream must reach it next.
    let sentinel = servers[0].publish(&t, "load.sentinel", json!({"type": "sentinel"})).await;
    for (k, sub) in subscribers.into_iter().enumerate() {
        let mut received = sub.await.unwrap();
        // Finish on yet another node.
        let s = &servers[k];
        let mut last = s.subscribe(&t, &token, &["load.>"], Some(received.last().copied().unwrap_or(0))).await;
        let missing = all.len() - received.len();
        received.extend(ids(&last.take(missing, WAIT).await));
        last.expect_next_is(sentinel).await;
        assert_eq!(received, all, "subscriber {k}: complete, in order, no duplicate");
    }
}
