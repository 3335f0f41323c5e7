//! HS256 signing secrets at rest: sealed under `secrets_key` when one is
//! set, still verifying tokens, and a start with a missing or wrong key is
//! refused rather than failing every subscriber.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

const KEY: &str = "a-secrets-key-of-at-least-32-characters";

async fn stored_secrets(url: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT secret FROM signing_keys WHERE secret IS NOT NULL"))
        .await
        .unwrap();
    rows.iter().map(|r| r.try_get::<String>("", "secret").unwrap()).collect()
}

/// Runs `herald serve` expecting it to refuse to start; returns its log.
async fn refused_start(url: &str, key: Option<&str>) -> String {
    use std::io::Read;
    let mut cmd = std::process::Command::new(herald_bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
        .env_remove("HERALD_CONFIG")
        .env("HERALD_OPERATOR_KEY", OPERATOR_KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    match key {
        Some(k) => cmd.env("HERALD_SECRETS_KEY", k),
        None => cmd.env_remove("HERALD_SECRETS_KEY"),
    };
    let mut child = cmd.spawn().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("herald should refuse to start, but it runs");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(!status.success(), "herald started: {log}");
    log
}

async fn stream_works(s: &Server, t: &Tenant) {
    let mut sub = s.subscribe(t, &t.token("1", &["orders"]), &["orders"], None).await;
    let id = s.publish(t, "orders", json!({"type": "x"})).await;
    assert_eq!(ids(&sub.take(1, WAIT).await), vec![id]);
}

e2e! {
    async fn signing_secrets_are_sealed_at_rest_under_the_secrets_key(b) {
        let db = TestDb::create(b).await;

        // Stored in the clear without a key...
        let mut node = Node::spawn(&db.url, &[]);
        let s = Server::attach(node.base.clone()).await;
        let t = s.tenant("acme").await;
        assert_eq!(stored_secrets(&db.url).await, vec![t.secret.clone()]);
        node.kill();

        // ...sealed at the next start with one, and tokens still verify.
        let mut node = Node::spawn(&db.url, &[("HERALD_SECRETS_KEY", KEY)]);
        assert!(node.log().iter().any(|l| l.contains("sealed signing secrets")), "{:#?}", node.log());
        let s = Server::attach(node.base.clone()).await;
        stream_works(&s, &t).await;
        let (_, sk) = s.post(&format!("/v1/tenants/{}/signing-keys", t.id), &t.admin_key, json!({"alg": "HS256"})).await;
        let new_secret = sk["secret"].as_str().unwrap().to_owned();
        let stored = stored_secrets(&db.url).await;
        assert_eq!(stored.len(), 2);
        for value in &stored {
            assert!(value.starts_with("sealed:v1:"), "{value}");
            assert!(!value.contains(&t.secret) && !value.contains(&new_secret), "a secret is stored in the clear");
        }
        // Tokens signed with the key created under the seal verify too.
        let t2 = Tenant { kid: sk["kid"].as_str().unwrap().to_owned(), secret: new_secret, ..t.clone() };
        stream_works(&s, &t2).await;
        node.kill();

        // Without the key, or with another, the start is refused.
        let log = refused_start(&db.url, None).await;
        assert!(log.contains("set secrets_key"), "{log}");
        let log = refused_start(&db.url, Some("another-secrets-key-of-32-characters!")).await;
        assert!(log.contains("secrets_key does not open"), "{log}");
    }
}
