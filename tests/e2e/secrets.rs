//! Secrets at rest under `secrets_key`: HS256 signing secrets sealed in
//! the database, still verifying tokens, and the SMTP password sealed in
//! the configuration (`herald seal`), still sending email; a start with a
//! missing or wrong key is refused rather than failing every subscriber
//! or every email.

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
    refused_start_with(url, key, &[]).await
}

/// As [`refused_start`], with more `HERALD_*` variables.
async fn refused_start_with(url: &str, key: Option<&str>, env: &[(&str, &str)]) -> String {
    use std::io::Read;
    let mut cmd = std::process::Command::new(herald_bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
        .env_remove("HERALD_CONFIG")
        .env("HERALD_OPERATOR_KEY", OPERATOR_KEY)
        .envs(env.iter().copied())
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

/// `herald seal` as an operator runs it: the secret on standard input, the
/// key in the environment.
fn seal_with_cli(secrets_key: &str, secret: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(herald_bin())
        .arg("seal")
        .env_remove("HERALD_CONFIG")
        .env("HERALD_SECRETS_KEY", secrets_key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{secret}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "herald seal failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

e2e! {
    async fn a_sealed_smtp_password_sends_email_and_another_key_refuses_the_start(b) {
        // Characters a URL would read otherwise, `%` included.
        const PASSWORD: &str = "smtp-p@ss:w/rd %41";
        let smtp = SmtpServer::start(&["--auth", &format!("herald:{PASSWORD}")]);
        let sealed = seal_with_cli(KEY, PASSWORD);
        assert!(sealed.starts_with("sealed:v1:") && !sealed.contains(PASSWORD), "{sealed}");
        let smtp_url = format!("smtp://herald@127.0.0.1:{}?tls=none", smtp.port);

        let s = Server::start_with(b, |c| {
            email_config(c, smtp_url.clone());
            c.email.smtp_password = Some(sealed.as_str().into());
            c.secrets_key = Some(KEY.into());
        })
        .await;
        let t = s.tenant("acme").await;
        let channel = json!({"name": "billing", "email": {"after_seconds": 0}});
        let (status, body) = s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, channel).await;
        assert_eq!(status, 201, "{body}");
        let ada = Some(json!({"email": "ada@example.com"}));
        let (status, body) = s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/recipients/ada", t.id), &t.admin_key, ada).await;
        assert_eq!(status, 201, "{body}");
        s.publish(&t, "billing", json!({"type": "invoice", "recipients": ["ada"]})).await;
        let mail = smtp.wait_for(1, Duration::from_secs(30)).await;
        assert_eq!(mail[0].rcpt_tos, ["ada@example.com"]);
        assert_eq!(mail[0].auth_login.as_deref(), Some("herald"), "sent after AUTH with the opened password");

        // Under another key, or none, the sealed password does not open: no start.
        let url = s.database_url().unwrap();
        let env = [
            ("HERALD_EMAIL__SMTP_URL", smtp_url.as_str()),
            ("HERALD_EMAIL__SMTP_PASSWORD", sealed.as_str()),
            ("HERALD_EMAIL__FROM", "noreply@herald.example"),
            ("HERALD_EMAIL__PUBLIC_URL", "https://herald.example"),
        ];
        let log = refused_start_with(&url, Some("another-secrets-key-of-32-characters!"), &env).await;
        assert!(log.contains("email.smtp_password does not open with this secrets_key"), "{log}");
        let log = refused_start_with(&url, None, &env).await;
        assert!(log.contains("email.smtp_password is sealed"), "{log}");
        assert!(!log.contains(PASSWORD), "{log}");
    }
}
