//! The email fallback, end to end: real Herald servers, a real SMTP server
//! process (aiosmtpd), and assertions on the messages as it received them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

/// Long enough for a loaded two-core machine.
const MAIL_WAIT: Duration = Duration::from_secs(30);

async fn put(s: &Server, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
    s.call(Method::PUT, path, key, Some(body)).await
}

async fn create_channel(s: &Server, t: &Tenant, name: &str, email: Value) {
    let (status, body) = s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": name, "email": email})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["email"]["after_seconds"], email.get("after_seconds").cloned().unwrap_or(json!(60)), "{body}");
}

async fn recipient(s: &Server, t: &Tenant, user: &str, body: Value) -> Value {
    let (status, r) = put(s, &format!("/v1/tenants/{}/recipients/{user}", t.id), &t.admin_key, body).await;
    assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{status} {r}");
    r
}

/// The delivery log entries matching `query`, as (notification, path, status, attempt).
async fn log(s: &Server, t: &Tenant, query: &str) -> Vec<Value> {
    let (status, page) = s.get(&format!("/v1/tenants/{}/deliveries?{query}", t.id), &t.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn summary(entries: &[Value]) -> Vec<(i64, String, String, Option<i64>)> {
    entries
        .iter()
        .map(|e| {
            (
                e["notification"].as_i64().unwrap(),
                e["path"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
                e["attempt"].as_i64(),
            )
        })
        .collect()
}

/// Waits until the log for `query` has `n` entries.
async fn wait_for_log(s: &Server, t: &Tenant, query: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + MAIL_WAIT;
    loop {
        let entries = log(s, t, query).await;
        if entries.len() >= n {
            return entries;
        }
        assert!(tokio::time::Instant::now() < deadline, "expected {n} log entries for {query}, got {entries:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

e2e! {
    async fn a_digest_email_with_headers_templates_and_an_unsubscribe_link(b) {
        let smtp = SmtpServer::start(&[]);
        let s = Server::start_with(b, |c| email_config(c, smtp.url())).await;
        let t = s.tenant("acme").await;
        create_channel(&s, &t, "orders", json!({
            "after_seconds": 1,
            "digest_seconds": 2,
            "subject": "{{ notifications|length }} updates in {{ channel }}",
            "text": "Hi {{ recipient.user }} ({{ recipient.locale }})\n{% for n in notifications %}\n- {{ n.data.title }}\n{% endfor %}\nStop: {{ unsubscribe_url }}",
            "html": "<ul>{% for n in notifications %}<li>{{ n.data.title }}</li>{% endfor %}</ul>",
        })).await;
        create_channel(&s, &t, "billing", json!({"after_seconds": 0})).await;
        let r = recipient(&s, &t, "ada", json!({"email": "ada@example.com", "locale": "en-GB"})).await;
        assert_eq!(r["preferences"], json!({"email": {"channels": "all", "unsubscribed": []}}));
        recipient(&s, &t, "bob", json!({"email": "bob@example.com", "preferences": {"email": {"channels": ["billing"]}}})).await;

        let mut ids = Vec::new();
        for title in ["one", "two", "<three>"] {
            ids.push(s.publish(&t, "orders", json!({"type": "order.shipped", "data": {"title": title}, "recipients": ["ada", "bob", "carol"]})).await);
        }
        // Broadcasts, and channels without a policy, never email.
        s.publish(&t, "orders", json!({"type": "order.shipped", "data": {"title": "broadcast"}})).await;
        s.publish(&t, "news", json!({"type": "x", "recipients": ["ada"]})).await;

        let mail = smtp.wait_for(1, MAIL_WAIT).await;
        // The window closes once: everything in it went in that one email.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mail = if smtp.received().len() == mail.len() { mail } else { panic!("more than one email: {:?}", smtp.received()) };
        let m = &mail[0];
        assert_eq!(m.rcpt_tos, vec!["ada@example.com"]);
        assert_eq!(m.header("To"), "ada@example.com");
        assert_eq!(m.header("From"), "Herald <noreply@herald.example>");
        assert_eq!(m.header("Subject"), "3 updates in orders");
        assert_eq!(m.header("Auto-Submitted"), "auto-generated");
        assert_eq!(m.header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
        let link = m.header("List-Unsubscribe");
        assert!(link.starts_with("<https://herald.example/v1/unsubscribe/") && link.ends_with('>'), "{link}");
        assert!(m.message_id().starts_with("eml_"), "{}", m.header("Message-ID"));
        assert!(m.header("Message-ID").ends_with("@herald.example>"));
        assert_eq!(m.parsed.content_type, "multipart/alternative");
        let text = m.text();
        assert!(text.starts_with("Hi ada (en-GB)\n- one\n- two\n- <three>\nStop: https://herald.example/v1/unsubscribe/"), "{text}");
        let html = m.parsed.html.as_deref().unwrap();
        assert!(html.contains("<li>one</li><li>two</li><li>&lt;three&gt;</li>"), "{html}");

        // The log: each notification sent once, in that one email, first try.
        let entries = log(&s, &t, "user=ada").await;
        assert_eq!(summary(&entries), ids.iter().map(|id| (*id, "email".into(), "sent".into(), Some(1))).collect::<Vec<_>>());
        assert!(entries.iter().all(|e| e["email"] == m.message_id()), "{entries:?}");
        assert_eq!(log(&s, &t, &format!("notification={}", ids[1])).await.len(), 1);
        // bob allows only billing; carol has no recipient record.
        assert!(log(&s, &t, "user=bob").await.is_empty());
        assert!(log(&s, &t, "user=carol").await.is_empty());

        // Without a digest, and with Herald's default templates: one email
        // per notification.
        let n1 = s.publish(&t, "billing", json!({"type": "invoice.paid", "data": {"title": "Invoice paid", "amount": 12}, "recipients": ["bob"]})).await;
        let mail = smtp.wait_for(2, MAIL_WAIT).await;
        let m = &mail[1];
        assert_eq!(m.rcpt_tos, vec!["bob@example.com"]);
        assert_eq!(m.header("Subject"), "Invoice paid");
        assert!(m.text().contains(&format!("invoice.paid #{n1}")) && m.text().contains("amount: 12"), "{}", m.text());
    }
}

e2e! {
    async fn a_notification_received_over_sse_in_time_is_not_emailed(b) {
        let smtp = SmtpServer::start(&[]);
        let s = Server::start_with(b, |c| email_config(c, smtp.url())).await;
        let t = s.tenant("acme").await;
        create_channel(&s, &t, "orders", json!({"after_seconds": 2})).await;
        recipient(&s, &t, "ada", json!({"email": "ada@example.com"})).await;
        recipient(&s, &t, "bob", json!({"email": "bob@example.com"})).await;

        let mut sse = s.subscribe(&t, &t.token("ada", &["orders"]), &["orders"], None).await;
        // Let the stream go live before publishing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let id = s.publish(&t, "orders", json!({"type": "order.shipped", "recipients": ["ada", "bob"]})).await;
        let events = sse.take(1, WAIT).await;
        assert_eq!(ids(&events), vec![id]);

        // bob was not connected: his email comes after two seconds; ada's never.
        let mail = smtp.wait_for(1, MAIL_WAIT).await;
        assert_eq!(mail[0].rcpt_tos, vec!["bob@example.com"]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(smtp.received().len(), 1, "ada received it live and got no email");
        assert_eq!(summary(&log(&s, &t, "user=ada").await), vec![(id, "stream".into(), "delivered".into(), None)]);
        assert_eq!(summary(&log(&s, &t, "user=bob").await), vec![(id, "email".into(), "sent".into(), Some(1))]);

        // Replayed history counts as a live delivery too.
        drop(sse);
        let id2 = s.publish(&t, "orders", json!({"type": "order.shipped", "recipients": ["ada"]})).await;
        let mut sse = s.subscribe(&t, &t.token("ada", &["orders"]), &["orders"], Some(id)).await;
        assert_eq!(ids(&sse.take(1, WAIT).await), vec![id2]);
        wait_for_log(&s, &t, &format!("notification={id2}"), 1).await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(smtp.received().len(), 1, "no email for a notification replayed in time");

        // So does a poll that hands it out.
        let id3 = s.publish(&t, "orders", json!({"type": "order.shipped", "recipients": ["bob"]})).await;
        let (status, page) =
            s.get(&format!("/v1/tenants/{}/notifications?channel=orders&after={id2}", t.id), &t.token("bob", &["orders"])).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["items"][0]["id"], json!(id3));
        assert_eq!(summary(&wait_for_log(&s, &t, &format!("notification={id3}"), 1).await), vec![(id3, "poll".into(), "delivered".into(), None)]);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(smtp.received().len(), 1, "no email for a notification polled in time");
    }
}

e2e! {
    async fn a_refusing_smtp_server_is_retried_then_the_email_is_failed(b) {
        let smtp = SmtpServer::start(&["--fail-rcpt", "451"]);
        let s = Server::start_with(b, |c| email_config(c, smtp.url())).await;
        let t = s.tenant("acme").await;
        create_channel(&s, &t, "orders", json!({"after_seconds": 0})).await;
        recipient(&s, &t, "ada", json!({"email": "ada@example.com"})).await;
        let id = s.publish(&t, "orders", json!({"type": "order.shipped", "recipients": ["ada"]})).await;

        let entries = wait_for_log(&s, &t, "user=ada", 3).await;
        assert_eq!(
            summary(&entries),
            vec![
                (id, "email".into(), "deferred".into(), Some(1)),
                (id, "email".into(), "deferred".into(), Some(2)),
                (id, "email".into(), "failed".into(), Some(3)),
            ]
        );
        for e in &entries {
            let error = e["error"].as_str().unwrap();
            assert!(error.contains("451"), "{error}");
        }
        assert!(entries[2]["error"].as_str().unwrap().starts_with("gave up after 3 attempts"), "{}", entries[2]);
        // The same email every time.
        assert!(entries.iter().all(|e| e["email"] == entries[0]["email"]));
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(log(&s, &t, "user=ada").await.len(), 3, "no attempt after giving up");
        assert!(smtp.received().is_empty());
    }
}

e2e! {
    async fn a_permanent_smtp_failure_fails_at_once(b) {
        let smtp = SmtpServer::start(&["--fail-rcpt", "550"]);
        let s = Server::start_with(b, |c| email_config(c, smtp.url())).await;
        let t = s.tenant("acme").await;
        create_channel(&s, &t, "orders", json!({"after_seconds": 0})).await;
        recipient(&s, &t, "ada", json!({"email": "ada@example.com"})).await;
        let id = s.publish(&t, "orders", json!({"type": "order.shipped", "recipients": ["ada"]})).await;
        let entries = wait_for_log(&s, &t, "user=ada", 1).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let entries = if log(&s, &t, "user=ada").await.len() == 1 { entries } else { panic!("retried a permanent failure") };
        assert_eq!(summary(&entries), vec![(id, "email".into(), "failed".into(), Some(1))]);
        assert!(entries[0]["error"].as_str().unwrap().contains("550"), "{}", entries[0]);
    }
}

e2e! {
    async fn the_unsubscribe_link_turns_the_channels_email_off(b) {
        let smtp = SmtpServer::start(&[]);
        let s = Server::start_with(b, |c| email_config(c, smtp.url())).await;
        let t = s.tenant("acme").await;
        create_channel(&s, &t, "orders", json!({"after_seconds": 0})).await;
        create_channel(&s, &t, "billing", json!({"after_seconds": 0})).await;
        recipient(&s, &t, "ada", json!({"email": "ada@example.com"})).await;
        s.publish(&t, "orders", json!({"type": "order.shipped", "recipients": ["ada"]})).await;
        let token = smtp.wait_for(1, MAIL_WAIT).await[0].unsubscribe_token();
        let url = s.url(&format!("/v1/unsubscribe/{token}"));

        // Opening the link shows a page and changes nothing.
        let page = s.client.get(&url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = page.text().await.unwrap();
        assert!(html.contains("<strong>orders</strong>") && html.contains("<form method=\"post\">"), "{html}");
        let (_, r) = s.get(&format!("/v1/tenants/{}/recipients/ada", t.id), &t.admin_key).await;
        assert_eq!(r["preferences"]["email"]["unsubscribed"], json!([]));

        // One click (RFC 8058), twice: the second changes nothing.
        for _ in 0..2 {
            let res = s
                .client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
        let (_, r) = s.get(&format!("/v1/tenants/{}/recipients/ada", t.id), &t.admin_key).await;
        assert_eq!(r["preferences"]["email"], json!({"channels": "all", "unsubscribed": ["orders"]}));
        // Re-syncing the address without preferences keeps the unsubscribe.
        let r = recipient(&s, &t, "ada", json!({"email": "ada@example.org"})).await;
        assert_eq!(r["preferences"]["email"]["unsubscribed"], json!(["orders"]));

        let orders = s.publish(&t, "orders", json!({"type": "order.shipped", "recipients": ["ada"]})).await;
        s.publish(&t, "billing", json!({"type": "invoice.paid", "recipients": ["ada"]})).await;
        let mail = smtp.wait_for(2, MAIL_WAIT).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(smtp.received().len(), 2, "orders no longer emails ada");
        assert_eq!(mail[1].rcpt_tos, vec!["ada@example.org"]);
        assert_ne!(mail[1].unsubscribe_token(), token, "each channel has its own link");
        assert!(log(&s, &t, &format!("notification={orders}")).await.is_empty());

        // Invalid or tampered tokens.
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        for bad in ["nope".to_owned(), String::from_utf8(tampered).unwrap()] {
            for method in [Method::GET, Method::POST] {
                let res = s.client.request(method.clone(), s.url(&format!("/v1/unsubscribe/{bad}"))).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {bad}");
                assert_eq!(res.headers()["content-type"], "application/problem+json");
            }
        }
    }
}

e2e! {
    async fn a_pending_email_survives_a_restart_and_is_sent_exactly_once(b) {
        let smtp = SmtpServer::start(&[]);
        let db = TestDb::create(b).await;
        // The aliases the issue names, and the nested names.
        let smtp_url = smtp.url();
        let env = [
            ("HERALD_SMTP_URL", smtp_url.as_str()),
            ("HERALD_SMTP_FROM", "Herald <noreply@herald.example>"),
            ("HERALD_EMAIL__PUBLIC_URL", "https://herald.example"),
            ("HERALD_EMAIL__POLL_INTERVAL_MS", "100"),
        ];
        let mut node = Node::spawn(&db.url, &env);
        let s = Server::attach(node.base.clone()).await;
        let t = s.tenant("acme").await;
        create_channel(&s, &t, "orders", json!({"after_seconds": 3})).await;
        recipient(&s, &t, "ada", json!({"email": "ada@example.com"})).await;
        let id = s.publish(&t, "orders", json!({"type": "order.shipped", "recipients": ["ada"]})).await;
        node.kill(); // SIGKILL, two seconds or more before the email is due
        assert!(smtp.received().is_empty());

        let node = Node::spawn(&db.url, &env);
        let s = Server::attach(node.base.clone()).await;
        let mail = smtp.wait_for(1, MAIL_WAIT).await;
        tokio::time::sleep(Duration::from_millis(2000)).await;
        assert_eq!(smtp.received().len(), 1, "sent exactly once");
        let entries = log(&s, &t, "user=ada").await;
        assert_eq!(summary(&entries), vec![(id, "email".into(), "sent".into(), Some(1))]);
        assert_eq!(entries[0]["email"], mail[0].message_id());
        // The unsubscribe key is kept in the database: the link still works.
        let res = s.client.post(s.url(&format!("/v1/unsubscribe/{}", mail[0].unsubscribe_token()))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        drop(node);
    }
}

e2e! {
    async fn recipients_and_email_policies_are_validated(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let path = |user: &str| format!("/v1/tenants/{}/recipients/{user}", t.id);

        let (status, r) = put(&s, &path("ada"), &t.admin_key, json!({"email": "ada@example.com", "locale": "fr-CA"})).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!(r["user"], "ada");
        assert_eq!(r["locale"], "fr-CA");
        let (status, _) = put(&s, &path("ada"), &t.admin_key, json!({"email": "ada@example.com"})).await;
        assert_eq!(status, StatusCode::OK);
        let (_, r) = s.get(&path("ada"), &t.admin_key).await;
        assert_eq!(r["locale"], Value::Null);

        // A user id with a space and non-ASCII, percent-encoded in the path.
        let (status, r) = put(&s, &path("user%2042%20%C3%A9"), &t.admin_key, json!({"email": "u@example.com"})).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!(r["user"], "user 42 é");

        for (body, needle) in [
            (json!({"email": "not-an-address"}), "email"),
            (json!({"email": "Ada <ada@example.com>"}), "email"),
            (json!({"email": "ada@exa mple.com"}), "email"),
            (json!({"email": format!("{}@example.com", "a".repeat(250))}), "email"),
            (json!({"email": "ada@example.com", "locale": "en_US"}), "locale"),
            (json!({"email": "ada@example.com", "preferences": {"email": {"channels": "some"}}}), "channels"),
            (json!({"email": "ada@example.com", "preferences": {"email": {"channels": ["a..b"]}}}), "channel"),
            (json!({"email": "ada@example.com", "preferences": {"email": {"unsubscribed": ["a.*"]}}}), "channel"),
            (json!({"email": "ada@example.com", "preferences": {"sms": {}}}), "sms"),
            (json!({"email": "ada@example.com", "extra": 1}), "extra"),
            (json!({"locale": "en"}), "email"),
            (json!({"email": 42}), "body"),
        ] {
            let (status, p) = put(&s, &path("bob"), &t.admin_key, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
            assert_eq!(p["type"], "urn:herald:problem:validation");
            assert!(p["detail"].as_str().unwrap().contains(needle), "{body}: {p}");
        }
        let res = s.client.put(s.url(&path("bob"))).bearer_auth(&t.admin_key).header("content-type", "application/json").body("{").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let (status, _) = put(&s, &path("bob"), &t.publish_key, json!({"email": "bob@example.com"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = put(&s, &path("bob"), "hk_nope", json!({"email": "bob@example.com"})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Pagination in user id order.
        recipient(&s, &t, "carol", json!({"email": "carol@example.com"})).await;
        let (_, p1) = s.get(&format!("/v1/tenants/{}/recipients?limit=2", t.id), &t.admin_key).await;
        let users: Vec<_> = p1["items"].as_array().unwrap().iter().map(|r| r["user"].as_str().unwrap().to_owned()).collect();
        assert_eq!(users, ["ada", "carol"]);
        assert_eq!(p1["next"], "carol");
        let (_, p2) = s.get(&format!("/v1/tenants/{}/recipients?limit=2&after=carol", t.id), &t.admin_key).await;
        assert_eq!(p2["items"].as_array().unwrap().len(), 1);
        assert_eq!(p2["next"], Value::Null);

        // Delete, then it is gone.
        let (status, _) = s.call(Method::DELETE, &path("carol"), &t.admin_key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        for method in [Method::GET, Method::DELETE] {
            let (status, p) = s.call(method, &path("carol"), &t.admin_key, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
        }

        // The delivery log's query.
        let (status, _) = s.get(&format!("/v1/tenants/{}/deliveries?after=garbage", t.id), &t.admin_key).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = s.get(&format!("/v1/tenants/{}/deliveries?notification=x", t.id), &t.admin_key).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // This server sends no email: a channel cannot ask for it.
        let (status, p) = s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "orders", "email": {}})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert!(p["detail"].as_str().unwrap().contains("smtp_url"), "{p}");

        // A server that does (no SMTP server is contacted here).
        let s = Server::start_with(b, |c| email_config(c, "smtp://127.0.0.1:9?tls=none".into())).await;
        let t = s.tenant("acme").await;
        let channels = format!("/v1/tenants/{}/channels", t.id);
        for (email, needle) in [
            (json!({"subject": "{{ notification.type ", "text": "t"}), "subject template, line 1"),
            (json!({"subject": "s", "text": "line one\n{{ x|nosuchfilter }}"}), "text template, line 2"),
            (json!({"subject": "s", "text": "t", "html": "{% for %}"}), "html template"),
            (json!({"subject": "s"}), "together"),
            (json!({"after_seconds": 604801}), "after_seconds"),
            (json!({"digest_seconds": -1}), "`-1`"),
            (json!({"after": 3}), "after"),
            (json!({"subject": "s", "text": "x".repeat(16 * 1024 + 1)}), "email.text"),
        ] {
            let (status, p) = s.post(&channels, &t.admin_key, json!({"name": "orders", "email": email.clone()})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{email}: {p}");
            assert!(p["detail"].as_str().unwrap().contains(needle), "{email}: {p}");
        }
        let (status, c) = s.post(&channels, &t.admin_key, json!({"name": "orders"})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(c["email"], Value::Null);
        let (status, c) = s
            .call(Method::PATCH, &format!("{channels}/orders"), &t.admin_key, Some(json!({"email": {"after_seconds": 5, "subject": "S", "text": "T"}})))
            .await;
        assert_eq!(status, StatusCode::OK, "{c}");
        assert_eq!(c["email"], json!({"after_seconds": 5, "digest_seconds": 0, "subject": "S", "text": "T", "html": null}));
        // Another field leaves the policy alone; null removes it.
        let (_, c) = s.call(Method::PATCH, &format!("{channels}/orders"), &t.admin_key, Some(json!({"retention": {}}))).await;
        assert_eq!(c["email"]["after_seconds"], 5);
        let (status, c) = s.call(Method::PATCH, &format!("{channels}/orders"), &t.admin_key, Some(json!({"email": null}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(c["email"], Value::Null);
    }
}

/// Two nodes on one PostgreSQL database share the outbox: every
/// (recipient, notification) is emailed exactly once, digests included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_send_each_email_exactly_once() {
    let smtp = SmtpServer::start(&[]);
    let db = TestDb::create(Backend::Postgres).await;
    let smtp_url = smtp.url();
    let env = [
        ("HERALD_EMAIL__SMTP_URL", smtp_url.as_str()),
        ("HERALD_EMAIL__FROM", "noreply@herald.example"),
        ("HERALD_EMAIL__PUBLIC_URL", "https://herald.example"),
        ("HERALD_EMAIL__POLL_INTERVAL_MS", "20"),
        // Small claims, so that the nodes interleave.
        ("HERALD_EMAIL__BATCH", "3"),
    ];
    let node_a = Node::spawn(&db.url, &env);
    let node_b = Node::spawn(&db.url, &env);
    let a = Server::attach(node_a.base.clone()).await;
    let b = Server::attach(node_b.base.clone()).await;
    let t = a.tenant("acme").await;
    let ids_template = json!({"after_seconds": 1, "subject": "s", "text": "ids:{% for n in notifications %} {{ n.id }}{% endfor %}"});
    create_channel(&a, &t, "orders", ids_template.clone()).await;
    let mut digest = ids_template;
    digest["digest_seconds"] = json!(1);
    create_channel(&a, &t, "news", digest).await;
    let users: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    for u in &users {
        recipient(&a, &t, u, json!({"email": format!("{u}@example.com")})).await;
    }
    let order = a.publish(&t, "orders", json!({"type": "x", "recipients": users})).await;
    let mut news = Vec::new();
    for i in 0..3 {
        let node = if i % 2 == 0 { &a } else { &b };
        news.push(node.publish(&t, "news", json!({"type": "x", "recipients": users[..10]})).await);
    }

    // 20 order emails, and 10 users × 3 news notifications in one or more digests.
    let deadline = tokio::time::Instant::now() + MAIL_WAIT;
    let mut got: Vec<(String, i64)> = Vec::new();
    let expected = 20 + 30;
    while got.len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        got = smtp
            .received()
            .iter()
            .flat_map(|m| {
                let to = m.rcpt_tos[0].clone();
                let ids: Vec<i64> = m.text().trim().trim_start_matches("ids:").split_whitespace().map(|i| i.parse().unwrap()).collect();
                ids.into_iter().map(move |id| (to.clone(), id))
            })
            .collect();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.received().iter().map(|m| m.text().split_whitespace().count() - 1).sum::<usize>(), expected, "nothing sent twice");
    got.sort();
    let mut want: Vec<(String, i64)> = users.iter().map(|u| (format!("{u}@example.com"), order)).collect();
    for u in &users[..10] {
        want.extend(news.iter().map(|n| (format!("{u}@example.com"), *n)));
    }
    want.sort();
    assert_eq!(got, want);
    let message_ids: std::collections::HashSet<_> = smtp.received().iter().map(|m| m.header("Message-ID").to_owned()).collect();
    assert_eq!(message_ids.len(), smtp.received().len());
    drop((node_a, node_b));
}
