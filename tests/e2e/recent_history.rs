//! Streams that resume from the node's recent history in memory, the path
//! of a reconnect storm: exactly what was missed, in order, also across the
//! boundary with the database and while publishes go on; never what
//! retention removed or a deleted channel held, on any node.

use std::sync::Arc;

use serde_json::json;

use crate::harness::*;
use crate::metrics::{scrape, value, wait_for};

/// How many resumes this node served from memory and from the database.
async fn resumes(s: &Server) -> (f64, f64) {
    let (_, samples) = scrape(s).await;
    let from = |source| value(&samples, "herald_stream_resumes_total", &[("source", source)]);
    (from("memory"), from("database"))
}

/// What a stream resuming after `after` on `channels` replays: every event
/// up to a sentinel published on `end` (one of the channels) once it
/// opened, earlier calls' sentinels left out.
async fn replay(s: &Server, t: &Tenant, channels: &[&str], end: &str, after: i64) -> Vec<eventsource_stream::Event> {
    let mut sub = s.subscribe(t, &t.token("1", channels), channels, Some(after)).await;
    let sentinel = s.publish(t, end, json!({"type": "end"})).await.to_string();
    let mut out = Vec::new();
    loop {
        let e = sub.next(WAIT).await.unwrap_or_else(|| panic!("expected the sentinel {sentinel}, got {}", describe(&out)));
        if e.id == sentinel {
            return out;
        }
        if data(&e)["type"] != "end" {
            out.push(e);
        }
    }
}

e2e! {
    async fn a_resume_within_recent_history_comes_from_memory(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let channels = ["orders", "user.1.*"];
        let token = t.token("1", &channels);
        let mut sub = s.subscribe(&t, &token, &channels, None).await;
        let first = s.publish(&t, "orders", json!({"type": "x", "data": 0})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![first]);
        drop(sub);

        // Published while the subscriber is away, with noise it must not see:
        // another user's channel and direct notifications to someone else.
        let mut missed = Vec::new();
        for i in 0..60 {
            let channel = if i % 2 == 0 { "orders" } else { "user.1.inbox" };
            missed.push(s.publish(&t, channel, json!({"type": "x", "data": i})).await);
            s.publish(&t, "user.2.inbox", json!({"type": "x"})).await;
            s.publish(&t, "orders", json!({"type": "x", "recipients": ["2"]})).await;
        }
        let mut sub = s.subscribe(&t, &token, &channels, Some(first)).await;
        let events = sub.take(60, WAIT).await;
        assert_eq!(ids(&events), missed, "expected exactly the missed notifications, got {}", describe(&events));
        for (i, e) in events.iter().enumerate() {
            assert_eq!(data(e)["data"], i);
        }
        let live = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![live], "then live, with no duplicate");
        let sentinel = s.publish(&t, "orders", json!({"type": "sentinel"})).await;
        sub.expect_next_is(sentinel).await;
        assert_eq!(resumes(&s).await, (1.0, 0.0), "expected (memory, database) resumes");
    }
}

e2e! {
    /// Recent history holds a few notifications only: a resume from far back
    /// pages through the database, then takes the rest from memory, while
    /// four publishers keep publishing. Every notification arrives exactly
    /// once, in order.
    async fn a_resume_from_before_recent_history_crosses_from_the_database_to_memory(b) {
        let s = Arc::new(
            Server::start_with(b, |c| {
                c.stream.recent_history_kib_per_tenant = 2;
                c.stream.replay_page = 7;
            })
            .await,
        );
        let t = s.tenant("acme").await;
        let token = t.token("1", &["race.*"]);
        let keep_followed = s.subscribe(&t, &token, &["race.*"], None).await;
        let mut before = Vec::new();
        for i in 0..40 {
            before.push(s.publish(&t, "race.a", json!({"type": "x", "data": i})).await);
        }
        let mut publishers = Vec::new();
        for p in 0..4 {
            let (s, t) = (s.clone(), t.clone());
            publishers.push(tokio::spawn(async move {
                for i in 0..50 {
                    s.publish(&t, &format!("race.p{p}"), json!({"type": "x", "data": i})).await;
                }
            }));
        }
        let mut sub = s.subscribe(&t, &token, &["race.*"], Some(0)).await;
        for p in publishers {
            p.await.unwrap();
        }
        let events = sub.take(240, WAIT).await;
        let got = ids(&events);
        assert_eq!(got[..40], before[..], "the history first, got {}", describe(&events));
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order, no duplicate: {got:?}");
        for p in 0..4 {
            let mine: Vec<i64> = events.iter().filter(|e| data(e)["channel"] == format!("race.p{p}")).map(|e| data(e)["data"].as_i64().unwrap()).collect();
            assert_eq!(mine, (0..50).collect::<Vec<_>>(), "publisher {p}");
        }
        let sentinel = s.publish(&t, "race.end", json!({"type": "sentinel"})).await;
        sub.expect_next_is(sentinel).await;
        assert_eq!(resumes(&s).await.1, 1.0, "a resume from before recent history reads the database");
        drop(keep_followed);
    }
}

e2e! {
    async fn notifications_pruned_by_retention_are_not_replayed_from_memory(b) {
        let s = Server::start_with(b, |c| c.retention.interval_seconds = 1).await;
        let t = s.tenant("acme").await;
        let (st, _) =
            s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "capped", "retention": {"max_count": 5}})).await;
        assert_eq!(st, 201);
        // A stream before the first publish: the node remembers from id 1 on.
        let _followed = s.subscribe(&t, &t.token("1", &["capped"]), &["capped"], None).await;
        let mut published = Vec::new();
        for i in 0..12 {
            published.push(s.publish(&t, "capped", json!({"type": "x", "data": i})).await);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let events = replay(&s, &t, &["capped", "end"], "end", 0).await;
            if events.first().is_some_and(|e| e.event == "history-truncated") {
                assert_eq!(ids(&events[1..]), published[7..], "expected what retention kept, got {}", describe(&events));
                break;
            }
            assert_eq!(ids(&events), published, "before pruning, everything");
            assert!(tokio::time::Instant::now() < deadline, "retention never pruned to 5: {}", describe(&events));
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(resumes(&s).await.0 >= 1.0, "these resumes came from memory");
    }
}

e2e! {
    async fn a_deleted_channel_is_not_replayed_from_memory(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let channels = ["a", "b"];
        let sub = s.subscribe(&t, &t.token("1", &channels), &channels, None).await;
        s.publish(&t, "a", json!({"type": "x"})).await;
        let kept = s.publish(&t, "b", json!({"type": "x"})).await;
        s.publish(&t, "a", json!({"type": "x"})).await;
        drop(sub);
        let (st, _) = s.call(reqwest::Method::DELETE, &format!("/v1/tenants/{}/channels/a", t.id), &t.admin_key, None).await;
        assert_eq!(st, 204);
        let events = replay(&s, &t, &channels, "b", 0).await;
        assert_eq!(ids(&events), vec![kept], "expected only channel b, got {}", describe(&events));
        assert_eq!(resumes(&s).await, (1.0, 0.0), "expected (memory, database) resumes");
    }
}

/// Two nodes: node B keeps following a tenant whose streams left, so they
/// resume from memory there; a channel deleted through node A is forgotten
/// on B once B's relay polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_commits_and_deletions_reach_recent_history() {
    let a = Server::start_with(Backend::Postgres, |c| c.poll_interval_ms = 200).await;
    let b = a.second_node(|c| c.poll_interval_ms = 200).await;
    let t = a.tenant("acme").await;
    let channels = ["a", "b"];
    let token = t.token("1", &channels);
    let mut sub = b.subscribe(&t, &token, &channels, None).await;
    let first = a.publish(&t, "a", json!({"type": "x"})).await;
    assert_eq!(ids(&sub.take(1, WAIT).await), vec![first]);
    drop(sub);
    // B's streams are gone; what A commits meanwhile still reaches B's memory.
    let mut missed = Vec::new();
    for i in 0..20 {
        missed.push(a.publish(&t, if i % 2 == 0 { "a" } else { "b" }, json!({"type": "x", "data": i})).await);
    }
    let last = *missed.last().unwrap();
    wait_for(&b, "node B to hold A's commits in memory", |s| value(s, "herald_recent_history_bytes", &[]) > 0.0).await;
    let mut sub = b.subscribe(&t, &token, &channels, Some(first)).await;
    assert_eq!(ids(&sub.take(20, WAIT).await), missed);
    drop(sub);
    assert_eq!(resumes(&b).await.0, 1.0, "expected the resume on B from memory");

    let (st, _) = a.call(reqwest::Method::DELETE, &format!("/v1/tenants/{}/channels/a", t.id), &t.admin_key, None).await;
    assert_eq!(st, 204);
    wait_for(&b, "node B to forget the tenant's recent history", |s| value(s, "herald_recent_history_bytes", &[]) == 0.0).await;
    let events = replay(&b, &t, &channels, "b", first).await;
    let expected: Vec<i64> = missed.iter().copied().skip(1).step_by(2).collect();
    assert_eq!(ids(&events), expected, "expected only channel b up to {last}, got {}", describe(&events));
}
