//! Liveness and readiness.

use crate::harness::*;

e2e! {
    async fn a_node_is_ready_when_its_database_and_bus_are(b) {
        let s = Server::start(b).await;
        let (st, health) = s.get("/healthz", "").await;
        assert_eq!((st.as_u16(), health["status"].as_str()), (200, Some("ok")));
        // Which build answers: the version and the commit build.rs recorded.
        assert_eq!(health["version"], env!("CARGO_PKG_VERSION"), "{health}");
        assert_eq!(health["commit"], herald::build_info::COMMIT, "{health}");
        // The bus connects in the background: ready within moments.
        let mut answer = s.get("/readyz", "").await;
        for _ in 0..100 {
            if answer.0 == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            answer = s.get("/readyz", "").await;
        }
        let (st, ready) = answer;
        assert_eq!(st, 200, "{ready}");
        assert_eq!(ready["status"], "ready");
        // PostgreSQL nodes listen on it by default; a SQLite node has no bus.
        let bus = if b == Backend::Postgres { "connected" } else { "none" };
        assert_eq!(ready["bus"], bus, "{ready}");
    }
}

e2e! {
    async fn a_node_that_cannot_hear_its_bus_is_alive_but_not_ready(b) {
        // Nothing listens on port 1: the NATS client keeps retrying.
        let s = Server::start_with(b, |c| c.bus = Some("nats://127.0.0.1:1".into())).await;
        assert_eq!(s.get("/healthz", "").await.0, 200);
        let res = s.client.get(s.url("/readyz")).send().await.unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = res.json().await.unwrap();
        assert_eq!(problem["type"], "urn:herald:problem:not-ready");
        assert!(problem["detail"].as_str().unwrap().contains("bus"), "{problem}");
    }
}
