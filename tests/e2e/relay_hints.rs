//! Issue 18, finding 7: an announcement on the bus is only a hint. Anyone
//! who can publish on the NATS subject can send "tenant T reached id N"
//! with any N; the relay must neither skip nor stop live delivery for it.

use std::sync::Arc;

use herald_bus_nats::NatsBus;
use herald_core::cluster::{Announcement, Bus};
use herald_core::ids::TenantId;
use serde_json::json;

use crate::harness::*;

pub(crate) fn nats_url() -> String {
    std::env::var("HERALD_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

e2e! {
    async fn a_forged_announcement_on_nats_neither_stops_nor_skips_live_delivery(b) {
        // Each test its own subject: the NATS server is shared.
        let subject = format!("herald.test.hints.{}", uuid_like());
        let s = Server::start_with(b, |c| {
            c.bus = Some(nats_url().into());
            c.nats_subject = subject.clone();
        })
        .await;
        let t = s.tenant("acme").await;
        let quiet = s.tenant("quiet").await;
        let token = t.token("1", &["orders"]);
        let mut stream = s.subscribe(&t, &token, &["orders"], None).await;
        let first = s.publish(&t, "orders", json!({"type": "x", "data": 0})).await;
        assert_eq!(ids(&stream.take(1, WAIT).await), vec![first]);

        let forger: Arc<dyn Bus> = Arc::new(NatsBus::connect(&nats_url(), &subject).await.unwrap());
        let forged = |tenant: &str, seq: i64| Announcement { tenant: TenantId::parse(tenant).unwrap(), seq };
        // Forgeries interleaved with publishes: whichever the relay sees
        // first, every publish must still reach the stream, in order.
        let mut published = Vec::new();
        for i in 1..=20 {
            forger.announce(&[forged(&t.id, i64::MAX / 2 + i), forged(&quiet.id, 1_000_000_000)]).await.unwrap();
            published.push(s.publish(&t, "orders", json!({"type": "x", "data": i})).await);
        }
        assert_eq!(ids(&stream.take(20, WAIT).await), published);
        // The tenant with no stream when its forgery arrived is not stuck either.
        let quiet_token = quiet.token("1", &["orders"]);
        let mut quiet_stream = s.subscribe(&quiet, &quiet_token, &["orders"], None).await;
        let next = s.publish(&quiet, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&quiet_stream.take(1, WAIT).await), vec![next]);
        let sentinel = s.publish(&t, "orders", json!({"type": "sentinel"})).await;
        stream.expect_next_is(sentinel).await;
    }
}

/// A unique enough suffix for a NATS subject.
pub(crate) fn uuid_like() -> String {
    format!("{}{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}
