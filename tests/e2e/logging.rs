//! The process log, end to end: the real binary logging JSON at `debug`,
//! every line written while a request is handled naming that request's id
//! (the one in its `X-Request-Id` answer), and no secret anywhere in the
//! log: not the configuration's keys and passwords, not the keys, secrets
//! and tokens that requests carry or create.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

const SECRETS_KEY: &str = "e2e-secrets-key-0123456789-abcdefghij";
const SMTP_USER: &str = "herald";
const SMTP_PASSWORD: &str = "smtp-pw-4f9c2a7e1b";
const DB_PASSWORD: &str = "db-pw-hunter2-8d3e";
const UNSUBSCRIBE_SECRET: &str = "unsubscribe-secret-0123456789-abcdefghij";

/// The database URL with a password in it (PostgreSQL's trust
/// authentication ignores it), and that password; SQLite URLs have none.
fn with_password(url: &str) -> (String, Option<String>) {
    let mut parsed = url::Url::parse(url).unwrap();
    if parsed.scheme() != "postgres" && parsed.scheme() != "postgresql" {
        return (url.to_owned(), None);
    }
    if parsed.password().is_none() {
        parsed.set_password(Some(DB_PASSWORD)).unwrap();
    }
    let password = parsed.password().unwrap().to_owned();
    (parsed.into(), Some(password))
}

/// The id a request was answered with.
fn answered_id(res: &reqwest::Response) -> String {
    res.headers().get("x-request-id").expect("every answer has an X-Request-Id").to_str().unwrap().to_owned()
}

/// The `request_id` of the request a log line was written for, if any.
fn request_id(line: &Value) -> Option<&str> {
    line["spans"].as_array()?.iter().find(|s| s["name"] == "request").and_then(|s| s["request_id"].as_str())
}

/// The lines written for one request.
fn lines_of<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| request_id(l) == Some(id)).collect()
}

/// The access line of one request: (path, status).
fn access(lines: &[Value], id: &str) -> (String, u16) {
    let found: Vec<_> = lines_of(lines, id).into_iter().filter(|l| l["target"] == "herald::access").collect();
    assert_eq!(found.len(), 1, "one access line for request {id}: {found:#?}");
    let span = found[0]["spans"].as_array().unwrap().iter().find(|s| s["name"] == "request").unwrap();
    (span["path"].as_str().unwrap().to_owned(), found[0]["status"].as_u64().unwrap() as u16)
}

e2e! {
    async fn every_line_of_a_request_names_it_and_no_secret_is_logged(b) {
        let db = TestDb::create(b).await;
        let (database_url, db_password) = with_password(&db.url);
        let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]);
        let smtp_url = format!("smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{}?tls=none", smtp.port);
        let env = [
            ("HERALD_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
            ("HERALD_SECRETS_KEY", SECRETS_KEY),
            ("HERALD_EMAIL__SMTP_URL", smtp_url.as_str()),
            ("HERALD_EMAIL__FROM", "noreply@herald.example"),
            ("HERALD_EMAIL__PUBLIC_URL", "https://herald.example"),
            ("HERALD_EMAIL__POLL_INTERVAL_MS", "100"),
            ("HERALD_EMAIL__UNSUBSCRIBE_SECRET", UNSUBSCRIBE_SECRET),
        ];
        let node = Node::spawn(&database_url, &env);
        let s = Server::attach(node.base.clone()).await;

        // A valid client id is taken and echoed; the handler's own line names it.
        let res = s
            .client
            .post(s.url("/v1/tenants"))
            .bearer_auth(&s.operator_key)
            .header("X-Request-Id", "e2e-create-tenant-1")
            .json(&json!({"name": "globex"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(answered_id(&res), "e2e-create-tenant-1");

        let t = s.tenant("acme").await;
        let publish = format!("/v1/tenants/{}/channels/orders/notifications", t.id);

        // Ids that are not 1-128 visible ASCII characters are replaced.
        let too_long = "x".repeat(129);
        let mut replaced = Vec::new();
        for bad in ["has space", too_long.as_str()] {
            let res = s
                .client
                .post(s.url(&publish))
                .bearer_auth(&t.publish_key)
                .header("X-Request-Id", bad)
                .json(&json!({"type": "x"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            let id = answered_id(&res);
            assert_ne!(id, bad);
            assert!(id.len() == 36 && id.matches('-').count() == 4, "a UUID: {id}");
            replaced.push(id);
        }
        assert_ne!(replaced[0], replaced[1], "each request its own id");

        // A failing authentication.
        let res = s
            .client
            .post(s.url(&publish))
            .bearer_auth("hk_not-a-key-of-this-server-0123456789")
            .header("X-Request-Id", "e2e-bad-auth")
            .json(&json!({"type": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(answered_id(&res), "e2e-bad-auth");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["request_id"], "e2e-bad-auth", "the problem names its request: {problem}");

        // A stream, with its token in the query string.
        let token = t.token("bob", &["orders"]);
        let res = s
            .client
            .get(s.url(&format!("/v1/tenants/{}/stream?channel=orders&access_token={token}", t.id)))
            .header("X-Request-Id", "e2e-stream-1")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(answered_id(&res), "e2e-stream-1");
        let mut sub = Sse::new(res);
        let id = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![id]);

        // A token minted by Herald, and an email sent with SMTP AUTH.
        let mint = json!({"sub": "carol", "subscribe": ["orders"], "ttl_seconds": 60});
        let (status, minted) = s.post(&format!("/v1/tenants/{}/tokens", t.id), &t.admin_key, mint).await;
        assert_eq!(status, StatusCode::CREATED, "{minted}");
        let minted = minted["token"].as_str().unwrap().to_owned();
        let channel = json!({"name": "billing", "email": {"after_seconds": 0}});
        let (status, body) = s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, channel).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let ada = Some(json!({"email": "ada@example.com"}));
        let (status, body) = s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/recipients/ada", t.id), &t.admin_key, ada).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        s.publish(&t, "billing", json!({"type": "invoice", "recipients": ["ada"]})).await;
        let mail = smtp.wait_for(1, Duration::from_secs(30)).await;
        assert_eq!(mail[0].rcpt_tos, ["ada@example.com"]);
        drop(sub);

        // The log, once the last request's access line is in it.
        let deadline = tokio::time::Instant::now() + WAIT;
        let lines: Vec<Value> = loop {
            let raw = node.log();
            let parse = |l: &String| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
            let lines: Vec<Value> = raw.iter().map(parse).collect();
            let minted_line = lines.iter().any(|l| l["message"] == "subscriber token minted");
            // Fourteen requests above, besides health checks.
            let answered = lines.iter().filter(|l| l["target"] == "herald::access" && l["spans"][0]["path"] != "/healthz").count();
            let last_access = answered >= 14;
            if minted_line && last_access {
                break lines;
            }
            assert!(tokio::time::Instant::now() < deadline, "the log lacks the requests' lines: {raw:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };

        // Each request's lines carry its id: the handler's, and the access line.
        let created = lines_of(&lines, "e2e-create-tenant-1");
        assert!(created.iter().any(|l| l["message"] == "tenant created" && l["name"] == "globex"), "{created:#?}");
        assert_eq!(access(&lines, "e2e-create-tenant-1"), ("/v1/tenants".to_owned(), 201));
        for id in &replaced {
            assert_eq!(access(&lines, id), (publish.clone(), 201));
        }
        assert_eq!(access(&lines, "e2e-bad-auth"), (publish.clone(), 401));
        assert_eq!(access(&lines, "e2e-stream-1"), (format!("/v1/tenants/{}/stream", t.id), 200));
        // Every line a handler wrote names a request: the key, signing key
        // and tenant creations of `tenant()`, the mint.
        let handler_lines: Vec<_> =
            lines.iter().filter(|l| l["target"].as_str().unwrap_or("").starts_with("herald_server::routes")).collect();
        assert!(handler_lines.len() >= 6, "{handler_lines:#?}");
        for line in handler_lines {
            assert!(request_id(line).is_some_and(|id| !id.is_empty()), "a handler's line without its request: {line}");
        }
        // Every access line names its own request: no two share an id.
        let mut access_ids: Vec<_> = lines
            .iter()
            .filter(|l| l["target"] == "herald::access")
            .map(|l| request_id(l).expect("an access line names its request"))
            .collect();
        let n = access_ids.len();
        access_ids.sort();
        access_ids.dedup();
        assert_eq!(access_ids.len(), n, "request ids repeat: {access_ids:?}");

        // No secret, anywhere in the log (the replaced ids are not in it either).
        let text = node.log().join("\n");
        let smtp_auth = base64::engine::general_purpose::STANDARD.encode(format!("\0{SMTP_USER}\0{SMTP_PASSWORD}"));
        let mut secrets = vec![
            OPERATOR_KEY.to_owned(),
            SECRETS_KEY.to_owned(),
            SMTP_PASSWORD.to_owned(),
            smtp_auth,
            UNSUBSCRIBE_SECRET.to_owned(),
            t.admin_key.clone(),
            t.publish_key.clone(),
            t.secret.clone(),
            token.clone(),
            minted,
            "has space".to_owned(),
            too_long.clone(),
        ];
        secrets.extend(db_password);
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "the log holds `{secret}`:\n{text}");
        }
        // And it is the real log: it names the tenant.
        assert!(text.contains(&t.id));
    }
}
