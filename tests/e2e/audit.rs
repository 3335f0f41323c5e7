//! The audit log: one event per successful admin change, with its actor,
//! action, path and address; nothing for publishing, subscribers, reads or
//! failures; tenant isolation; pagination and filters; no secrets.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

/// Every event of a log, newest first, paging `limit` at a time.
async fn all_events(s: &Server, path: &str, key: &str, limit: u32) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let url = match &after {
            Some(a) => format!("{path}{sep}limit={limit}&after={a}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let (st, page) = s.get(&url, key).await;
        assert_eq!(st, 200, "{url}: {page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        out.extend(items.iter().cloned());
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
        assert!(out.len() < 10_000, "pagination does not end");
    }
    out
}

async fn tenant_log(s: &Server, tenant: &str, key: &str) -> Vec<Value> {
    all_events(s, &format!("/v1/tenants/{tenant}/audit-log"), key, 1000).await
}

fn actions(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["action"].as_str().unwrap()).collect()
}

/// The id of the tenant's key named `name`.
async fn key_id(s: &Server, t: &Tenant, name: &str) -> String {
    let (st, keys) = s.get(&format!("/v1/tenants/{}/keys", t.id), &t.admin_key).await;
    assert_eq!(st, 200, "{keys}");
    let key = keys["items"].as_array().unwrap().iter().find(|k| k["name"] == name).unwrap_or_else(|| panic!("no key {name}: {keys}"));
    key["id"].as_str().unwrap().to_owned()
}

/// Who is expected to have made a change.
fn operator() -> Value {
    json!({"kind": "operator", "key_id": null})
}

fn api_key(id: &str) -> Value {
    json!({"kind": "api_key", "key_id": id})
}

/// Asserts that `event` records this change, made from this machine.
fn check(event: &Value, tenant: &str, actor: &Value, action: &str, method: &str, path: &str, status: u16) {
    let want = json!({
        "tenant": tenant, "actor": actor, "action": action, "method": method, "path": path, "status": status, "remote_addr": "127.0.0.1",
    });
    for (field, value) in want.as_object().unwrap() {
        assert_eq!(&event[field], value, "{field} of {event}");
    }
    assert!(event["id"].as_str().unwrap().starts_with("aud_"), "{event}");
    let at = chrono::DateTime::parse_from_rfc3339(event["at"].as_str().unwrap()).unwrap();
    let age = chrono::Utc::now().signed_duration_since(at);
    assert!(age >= chrono::Duration::zero() && age < chrono::Duration::minutes(5), "{event}");
    assert_eq!(event.as_object().unwrap().len(), 9, "no other fields: {event}");
}

/// Makes a change and asserts that it, and only it, was added to the
/// tenant's log (read as the operator), as the newest event.
#[allow(clippy::too_many_arguments)]
async fn change(
    s: &Server,
    tenant: &str,
    key: &str,
    actor: &Value,
    method: Method,
    path: &str,
    body: Option<Value>,
    action: &str,
) -> Value {
    let before = tenant_log(s, tenant, &s.operator_key).await;
    let (st, res) = s.call(method.clone(), path, key, body).await;
    assert!(st.is_success(), "{method} {path}: {st} {res}");
    let after = tenant_log(s, tenant, &s.operator_key).await;
    assert_eq!(after.len(), before.len() + 1, "{method} {path} leaves exactly one event: {:?}", actions(&after));
    assert_eq!(after[1..], before[..], "older events are unchanged");
    check(&after[0], tenant, actor, action, method.as_str(), path, st.as_u16());
    res
}

e2e! {
    async fn every_admin_change_leaves_one_event_with_who_what_and_where(b) {
        let s = Server::start(b).await;
        let op = s.operator_key.clone();
        // The harness's tenant: the operator creates it and its admin key,
        // the admin key creates a publish key and a signing key.
        let t = s.tenant("acme").await;
        let admin = api_key(&key_id(&s, &t, "admin").await);
        let base = format!("/v1/tenants/{}", t.id);
        let log = tenant_log(&s, &t.id, &t.admin_key).await;
        assert_eq!(actions(&log), ["create_signing_key", "create_key", "create_key", "create_tenant"]);
        check(&log[0], &t.id, &admin, "create_signing_key", "POST", &format!("{base}/signing-keys"), 201);
        check(&log[1], &t.id, &admin, "create_key", "POST", &format!("{base}/keys"), 201);
        check(&log[2], &t.id, &operator(), "create_key", "POST", &format!("{base}/keys"), 201);
        check(&log[3], &t.id, &operator(), "create_tenant", "POST", "/v1/tenants", 201);

        // Channels: create, update, delete.
        let channels = format!("{base}/channels");
        change(&s, &t.id, &t.admin_key, &admin, Method::POST, &channels, Some(json!({"name": "orders"})), "create_channel").await;
        let orders = format!("{channels}/orders");
        let patch = Some(json!({"retention": {"max_count": 3}}));
        change(&s, &t.id, &t.admin_key, &admin, Method::PATCH, &orders, patch, "update_channel").await;
        change(&s, &t.id, &op, &operator(), Method::DELETE, &orders, None, "delete_channel").await;

        // Keys: create, delete.
        let keys = format!("{base}/keys");
        let created = change(&s, &t.id, &t.admin_key, &admin, Method::POST, &keys, Some(json!({"name": "ci", "scopes": ["publish"]})), "create_key").await;
        let ci = created["id"].as_str().unwrap();
        change(&s, &t.id, &t.admin_key, &admin, Method::DELETE, &format!("{keys}/{ci}"), None, "delete_key").await;

        // Signing keys and allowed origins (a PUT).
        let sk = change(&s, &t.id, &t.admin_key, &admin, Method::POST, &format!("{base}/signing-keys"), Some(json!({"alg": "HS256"})), "create_signing_key").await;
        let kid = sk["kid"].as_str().unwrap();
        change(&s, &t.id, &t.admin_key, &admin, Method::DELETE, &format!("{base}/signing-keys/{kid}"), None, "delete_signing_key").await;
        let origins = Some(json!({"origins": ["https://app.example.com"]}));
        change(&s, &t.id, &t.admin_key, &admin, Method::PUT, &format!("{base}/allowed-origins"), origins, "put_allowed_origins").await;

        // The tenant: renamed, then deleted, by the operator.
        change(&s, &t.id, &op, &operator(), Method::PATCH, &base, Some(json!({"name": "acme-eu"})), "update_tenant").await;
        let before = all_events(&s, &format!("/v1/audit-log?tenant={}", t.id), &op, 1000).await;
        assert_eq!(s.call(Method::DELETE, &base, &op, None).await.0, 204);

        // Its events outlive it, in the operator's log.
        let after = all_events(&s, &format!("/v1/audit-log?tenant={}", t.id), &op, 1000).await;
        assert_eq!(after.len(), before.len() + 1);
        check(&after[0], &t.id, &operator(), "delete_tenant", "DELETE", &base, 204);
        assert_eq!(after[1..], before[..]);
        assert_eq!(
            actions(&after),
            [
                "delete_tenant", "update_tenant", "put_allowed_origins", "delete_signing_key", "create_signing_key", "delete_key",
                "create_key", "delete_channel", "update_channel", "create_channel", "create_signing_key", "create_key", "create_key",
                "create_tenant",
            ]
        );
        let everything = all_events(&s, "/v1/audit-log", &op, 1000).await;
        assert_eq!(everything, after, "this server's only tenant");
        // The tenant's own route is gone with the tenant (and its keys).
        assert_eq!(s.get(&format!("{base}/audit-log"), &op).await.0, 404);
        assert_eq!(s.get(&format!("{base}/audit-log"), &t.admin_key).await.0, 401);
    }
}

e2e! {
    async fn the_address_is_the_tcp_peer_not_a_forwarding_header(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let res = s
            .client
            .post(s.url(&format!("/v1/tenants/{}/channels", t.id)))
            .bearer_auth(&t.admin_key)
            .header("X-Forwarded-For", "203.0.113.9")
            .header("Forwarded", "for=203.0.113.9")
            .header("X-Real-IP", "203.0.113.9")
            .json(&json!({"name": "orders"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let log = tenant_log(&s, &t.id, &t.admin_key).await;
        assert_eq!(log[0]["action"], "create_channel");
        assert_eq!(log[0]["remote_addr"], "127.0.0.1");
    }
}

e2e! {
    async fn publishing_subscribers_reads_and_failures_leave_no_event(b) {
        let s = Server::start(b).await;
        let op = s.operator_key.clone();
        let t = s.tenant("acme").await;
        let base = format!("/v1/tenants/{}", t.id);
        let (st, _) = s.post(&format!("{base}/channels"), &t.admin_key, json!({"name": "orders"})).await;
        assert_eq!(st, 201);
        let before = all_events(&s, "/v1/audit-log", &op, 1000).await;
        assert_eq!(before.len(), 5, "{:?}", actions(&before));

        // Publishing, with a publish key and with an admin key (which may
        // publish too): not admin changes.
        let id = s.publish(&t, "orders", json!({"type": "x"})).await;
        let (st, r) = s.post(&format!("{base}/channels/orders/notifications"), &t.admin_key, json!({"type": "y"})).await;
        assert_eq!(st, 201, "{r}");
        let (st, r) = s.post(&format!("{base}/notifications:batch"), &t.publish_key, json!({"notifications": [{"channel": "orders", "type": "z"}]})).await;
        assert_eq!(st, 201, "{r}");
        // A subscriber's POST, and reads of every kind.
        let token = t.token("42", &["orders"]);
        let (st, r) = s.post(&format!("{base}/notifications/read"), &token, json!({"up_to": id})).await;
        assert!(st.is_success(), "{st} {r}");
        for path in [format!("{base}/channels"), format!("{base}/keys"), format!("{base}/channels/orders"), base.clone()] {
            let (st, r) = s.get(&path, &op).await;
            assert_eq!(st, 200, "{path}: {r}");
        }

        // Failed admin requests: they changed nothing.
        let channels = format!("{base}/channels");
        for (key, method, path, body, want) in [
            (&t.admin_key, Method::POST, channels.clone(), Some(json!({"name": "orders"})), 409),
            (&t.admin_key, Method::POST, channels.clone(), Some(json!({"name": ""})), 422),
            (&t.admin_key, Method::POST, channels.clone(), Some(json!({"nom": "x"})), 422),
            (&t.publish_key, Method::POST, channels.clone(), Some(json!({"name": "other"})), 403),
            (&"hk_not-a-key".to_owned(), Method::POST, channels.clone(), Some(json!({"name": "other"})), 401),
            (&t.admin_key, Method::DELETE, format!("{base}/keys/key_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b"), None, 404),
            (&t.admin_key, Method::DELETE, format!("{channels}/nope"), None, 404),
            (&t.admin_key, Method::PATCH, base.clone(), Some(json!({"name": "x"})), 403),
            (&op, Method::PATCH, base.clone(), Some(json!({"name": "bad name!"})), 422),
            (&op, Method::POST, "/v1/tenants".to_owned(), Some(json!({"name": "acme"})), 409),
            (&op, Method::DELETE, "/v1/tenants/ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b".to_owned(), None, 404),
        ] {
            let (st, r) = s.call(method.clone(), &path, key, body).await;
            assert_eq!(st.as_u16(), want, "{method} {path}: {r}");
        }

        let after = all_events(&s, "/v1/audit-log", &op, 1000).await;
        assert_eq!(after, before, "nothing was recorded: {:?}", actions(&after));
    }
}

e2e! {
    async fn a_tenants_admin_sees_only_its_own_log(b) {
        let s = Server::start(b).await;
        let op = s.operator_key.clone();
        let a = s.tenant("a").await;
        let bt = s.tenant("b").await;
        for t in [&a, &bt] {
            let (st, _) = s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "orders"})).await;
            assert_eq!(st, 201);
        }

        let of_a = tenant_log(&s, &a.id, &a.admin_key).await;
        assert_eq!(of_a.len(), 5);
        assert!(of_a.iter().all(|e| e["tenant"] == a.id.as_str()), "{of_a:?}");
        let a_keys: Vec<String> = {
            let (_, keys) = s.get(&format!("/v1/tenants/{}/keys", a.id), &a.admin_key).await;
            keys["items"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect()
        };
        for e in &of_a {
            if let Some(k) = e["actor"]["key_id"].as_str() {
                assert!(a_keys.iter().any(|own| own == k), "a key of A: {e}");
            }
        }
        // The operator sees the same through either route.
        assert_eq!(tenant_log(&s, &a.id, &op).await, of_a);
        assert_eq!(all_events(&s, &format!("/v1/audit-log?tenant={}", a.id), &op, 1000).await, of_a);
        assert_eq!(all_events(&s, "/v1/audit-log", &op, 1000).await.len(), 10);

        // A's keys cannot read B's log, nor everyone's; a publish key cannot
        // read its own tenant's.
        let (st, r) = s.get(&format!("/v1/tenants/{}/audit-log", bt.id), &a.admin_key).await;
        assert_eq!(st, 403, "{r}");
        assert_eq!(r["type"], "urn:herald:problem:forbidden");
        let (st, _) = s.get("/v1/audit-log", &a.admin_key).await;
        assert_eq!(st, 403);
        let (st, _) = s.get(&format!("/v1/audit-log?tenant={}", a.id), &a.admin_key).await;
        assert_eq!(st, 403);
        let (st, _) = s.get(&format!("/v1/tenants/{}/audit-log", a.id), &a.publish_key).await;
        assert_eq!(st, 403);
        let (st, _) = s.get(&format!("/v1/tenants/{}/audit-log", a.id), "hk_nothing").await;
        assert_eq!(st, 401);
        // A tenant query parameter on the tenant route changes nothing.
        let (st, page) = s.get(&format!("/v1/tenants/{}/audit-log?tenant={}", a.id, bt.id), &a.admin_key).await;
        assert_eq!(st, 200, "{page}");
        assert_eq!(page["items"], Value::Array(of_a.clone()));
    }
}

e2e! {
    async fn the_log_pages_newest_first_and_filters(b) {
        let s = Server::start(b).await;
        let op = s.operator_key.clone();
        let t = s.tenant("acme").await;
        let base = format!("/v1/tenants/{}", t.id);
        for i in 0..7 {
            let (st, _) = s.post(&format!("{base}/channels"), &t.admin_key, json!({"name": format!("c{i}")})).await;
            assert_eq!(st, 201);
        }
        let (st, _) = s.call(Method::DELETE, &format!("{base}/channels/c0"), &t.admin_key, None).await;
        assert_eq!(st, 204);

        let full = tenant_log(&s, &t.id, &t.admin_key).await;
        assert_eq!(full.len(), 12);
        assert_eq!(full[0]["action"], "delete_channel");
        assert_eq!(full[11]["action"], "create_tenant");
        let ats: Vec<&str> = full.iter().map(|e| e["at"].as_str().unwrap()).collect();
        let parsed: Vec<_> = ats.iter().map(|a| chrono::DateTime::parse_from_rfc3339(a).unwrap()).collect();
        assert!(parsed.windows(2).all(|w| w[0] >= w[1]), "newest first: {ats:?}");

        // Pages of 5 and of 1 give the same events, each once.
        for limit in [5, 1] {
            let paged = all_events(&s, &format!("{base}/audit-log"), &t.admin_key, limit).await;
            assert_eq!(paged, full, "limit {limit}");
        }
        let (_, first) = s.get(&format!("{base}/audit-log?limit=5"), &t.admin_key).await;
        assert_eq!(first["items"].as_array().unwrap().len(), 5);
        assert_eq!(first["next"], full[4]["id"]);

        // action
        let creates = all_events(&s, &format!("{base}/audit-log?action=create_channel"), &t.admin_key, 3).await;
        assert_eq!(creates.len(), 7);
        assert!(creates.iter().all(|e| e["action"] == "create_channel"));
        assert_eq!(creates[..], full[1..8]);
        let none = all_events(&s, &format!("{base}/audit-log?action=no_such_route"), &t.admin_key, 100).await;
        assert!(none.is_empty());

        // since (inclusive) and until (exclusive), to the microsecond.
        let enc = |t: &str| t.replace('+', "%2B");
        let since = all_events(&s, &format!("{base}/audit-log?since={}", enc(ats[5])), &t.admin_key, 100).await;
        assert_eq!(since[..], full[..since.len()]);
        assert!(since.len() >= 6, "at least the six newest: {}", since.len());
        assert!(since.iter().all(|e| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap() >= parsed[5]));
        let until = all_events(&s, &format!("{base}/audit-log?until={}", enc(ats[5])), &t.admin_key, 100).await;
        assert_eq!(since.len() + until.len(), full.len(), "since and until split the log");
        assert_eq!(until[..], full[since.len()..]);
        let window = format!("{base}/audit-log?since={}&until={}&action=create_channel", enc(ats[7]), enc(ats[0]));
        let window = all_events(&s, &window, &t.admin_key, 100).await;
        assert!(!window.is_empty() && window.iter().all(|e| e["action"] == "create_channel"));
        assert!(!window.contains(&full[0]) && window.contains(&full[7]));
        // An offset other than Z, with its `+` encoded or (forgiven) not.
        let (st, p) = s.get(&format!("{base}/audit-log?since=2000-01-01T01:00:00%2B01:00"), &t.admin_key).await;
        assert_eq!((st.as_u16(), p["items"].as_array().unwrap().len()), (200, 12));
        let (st, p) = s.get(&format!("{base}/audit-log?until=2000-01-01T01:00:00+01:00"), &t.admin_key).await;
        assert_eq!((st.as_u16(), p["items"].as_array().unwrap().len()), (200, 0));

        // The operator's log filters by tenant too, a tenant that never
        // existed included.
        let other = s.tenant("other").await;
        assert_eq!(all_events(&s, &format!("/v1/audit-log?tenant={}", t.id), &op, 4).await, full);
        assert_eq!(all_events(&s, &format!("/v1/audit-log?tenant={}", other.id), &op, 4).await.len(), 4);
        assert!(all_events(&s, "/v1/audit-log?tenant=ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b", &op, 4).await.is_empty());
        let other_creates = all_events(&s, "/v1/audit-log?action=create_tenant", &op, 100).await;
        assert_eq!(other_creates.len(), 2);
        assert_eq!(other_creates[0]["tenant"], other.id.as_str());

        // Bad input: clear 4xx problems, never a 500.
        for (path, want) in [
            (format!("{base}/audit-log?since=yesterday"), 400),
            (format!("{base}/audit-log?until=2026-13-01T00:00:00Z"), 400),
            (format!("{base}/audit-log?since=1764316800"), 400),
            (format!("{base}/audit-log?limit=0"), 400),
            (format!("{base}/audit-log?limit=1001"), 400),
            (format!("{base}/audit-log?limit=ten"), 400),
            (format!("{base}/audit-log?after=garbage"), 422),
            (format!("{base}/audit-log?after=ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b"), 422),
            (format!("{base}/audit-log?action=Create%20Channel"), 422),
            (format!("{base}/audit-log?action="), 422),
            (format!("{base}/audit-log?since=2026-11-28T10:00:00Z&until=2026-11-28T09:00:00Z"), 422),
            ("/v1/audit-log?tenant=acme".to_owned(), 422),
            ("/v1/tenants/not-a-tenant/audit-log".to_owned(), 404),
        ] {
            let (st, r) = s.get(&path, &op).await;
            assert_eq!(st.as_u16(), want, "{path}: {r}");
            assert!(r["type"].as_str().unwrap().starts_with("urn:herald:problem:"), "{path}: {r}");
            assert!(!r["detail"].as_str().unwrap().is_empty(), "{path}: {r}");
        }
    }
}

e2e! {
    async fn no_secret_reaches_the_log(b) {
        let s = Server::start(b).await;
        let op = s.operator_key.clone();
        let t = s.tenant("acme").await;
        let base = format!("/v1/tenants/{}", t.id);
        let (st, key) = s.post(&format!("{base}/keys"), &t.admin_key, json!({"name": "ops", "scopes": ["admin"]})).await;
        assert_eq!(st, 201);
        let (st, sk) = s.post(&format!("{base}/signing-keys"), key["secret"].as_str().unwrap(), json!({"alg": "HS256"})).await;
        assert_eq!(st, 201);
        // A secret in the query string of a change is not kept either.
        let (st, _) = s
            .call(Method::POST, &format!("{base}/channels?access_token={}", t.secret), &t.admin_key, Some(json!({"name": "orders"})))
            .await;
        assert_eq!(st, 201);

        let secrets = [
            op.clone(),
            t.admin_key.clone(),
            t.publish_key.clone(),
            t.secret.clone(),
            key["secret"].as_str().unwrap().to_owned(),
            sk["secret"].as_str().unwrap().to_owned(),
        ];
        let mut texts = Vec::new();
        for (path, k) in [("/v1/audit-log".to_owned(), &op), (format!("{base}/audit-log"), &t.admin_key)] {
            let res = s.client.get(s.url(&path)).bearer_auth(k).send().await.unwrap();
            assert_eq!(res.status(), 200);
            texts.push(res.text().await.unwrap());
        }
        for text in &texts {
            let log: Value = serde_json::from_str(text).unwrap();
            let items = log["items"].as_array().unwrap();
            assert_eq!(
                actions(items),
                ["create_channel", "create_signing_key", "create_key", "create_signing_key", "create_key", "create_key", "create_tenant"]
            );
            assert_eq!(items[0]["path"], format!("{base}/channels"));
            assert_eq!(items[1]["actor"]["key_id"], key["id"]);
            for secret in &secrets {
                assert!(secret.len() >= 16, "a real secret");
                assert!(!text.contains(secret.as_str()), "the log holds a secret: {text}");
            }
        }
    }
}

e2e! {
    async fn a_create_replayed_by_idempotency_key_is_recorded_once(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let before = tenant_log(&s, &t.id, &t.admin_key).await;
        let mut answers = Vec::new();
        for _ in 0..2 {
            let res = s
                .client
                .post(s.url(&format!("/v1/tenants/{}/channels", t.id)))
                .bearer_auth(&t.admin_key)
                .header("Idempotency-Key", "create-orders-1")
                .json(&json!({"name": "orders"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            answers.push(res.json::<Value>().await.unwrap());
        }
        assert_eq!(answers[0], answers[1], "the second is a replay");
        let after = tenant_log(&s, &t.id, &t.admin_key).await;
        assert_eq!(after.len(), before.len() + 1, "{:?}", actions(&after));
        assert_eq!(after[0]["action"], "create_channel");
    }
}
