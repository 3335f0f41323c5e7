//! `Idempotency-Key` on the admin API's creates: a retry gets the first
//! answer and creates nothing new.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

async fn create(s: &Server, path: &str, key: &str, idem: &str, body: Value) -> (StatusCode, Option<String>, Value) {
    let res = s.client.post(s.url(path)).bearer_auth(key).header("Idempotency-Key", idem).json(&body).send().await.unwrap();
    let status = res.status();
    let replayed = res.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, res.json().await.unwrap())
}

e2e! {
    async fn a_retried_create_gets_the_first_answer(b) {
        let s = Server::start(b).await;
        let op = s.operator_key.clone();
        let (st, replayed, first) = create(&s, "/v1/tenants", &op, "k-1", json!({"name": "acme"})).await;
        assert_eq!((st.as_u16(), replayed), (201, None), "{first}");
        let (st, replayed, again) = create(&s, "/v1/tenants", &op, "k-1", json!({"name": "acme"})).await;
        assert_eq!((st.as_u16(), replayed.as_deref()), (201, Some("true")), "{again}");
        assert_eq!(again, first, "the same tenant, not a new one");
        let (_, tenants) = s.get("/v1/tenants", &op).await;
        assert_eq!(tenants["items"].as_array().unwrap().len(), 1);

        // A key's secret is shown once, and again to a retry of that create
        // (the stored answer is sealed under the caller's key and credential).
        let tenant = first["id"].as_str().unwrap();
        let path = format!("/v1/tenants/{tenant}/keys");
        let (st, _, key) = create(&s, &path, &op, "k-2", json!({"name": "backend", "scopes": ["publish"]})).await;
        assert_eq!(st, 201);
        let (st, replayed, key_again) = create(&s, &path, &op, "k-2", json!({"name": "backend", "scopes": ["publish"]})).await;
        assert_eq!((st.as_u16(), replayed.as_deref()), (201, Some("true")));
        assert_eq!(key_again["secret"], key["secret"]);
        let (_, keys) = s.get(&path, &op).await;
        assert_eq!(keys["items"].as_array().unwrap().len(), 1);

        // The same key with another request is refused, and creates nothing.
        let (st, _, problem) = create(&s, &path, &op, "k-2", json!({"name": "other", "scopes": ["publish"]})).await;
        assert_eq!(st, 422, "{problem}");
        assert_eq!(problem["type"], "urn:herald:problem:idempotency-key-reused");
        assert_eq!(s.get(&path, &op).await.1["items"].as_array().unwrap().len(), 1);

        // Keys are the caller's own: another credential with the same key
        // makes its own request.
        let admin = key_with_admin_scope(&s, tenant).await;
        let (st, replayed, by_admin) = create(&s, &path, &admin, "k-2", json!({"name": "backend", "scopes": ["publish"]})).await;
        assert_eq!((st.as_u16(), replayed), (201, None));
        assert_ne!(by_admin["id"], key["id"]);

        // Failures are not kept: a create refused for a taken name runs again
        // once the name is free.
        let chans = format!("/v1/tenants/{tenant}/channels");
        assert_eq!(s.post(&chans, &op, json!({"name": "orders"})).await.0, 201);
        let (st, _, _) = create(&s, &chans, &op, "k-3", json!({"name": "orders"})).await;
        assert_eq!(st, 409);
        assert_eq!(s.call(reqwest::Method::DELETE, &format!("{chans}/orders"), &op, None).await.0, 204);
        let (st, replayed, _) = create(&s, &chans, &op, "k-3", json!({"name": "orders"})).await;
        assert_eq!((st.as_u16(), replayed), (201, None));

        // Nothing in the database holds a secret in the clear.
        if let Some(url) = s.database_url() {
            let secret = key["secret"].as_str().unwrap();
            assert!(!database_contains(&url, secret).await, "a key's secret is stored in the clear");
        }

        // A malformed key is a 400, not a silent non-idempotent create.
        let (st, _, problem) = create(&s, "/v1/tenants", &op, "has space", json!({"name": "globex"})).await;
        assert_eq!(st, 400, "{problem}");
        assert_eq!(s.get("/v1/tenants", &op).await.1["items"].as_array().unwrap().len(), 1);
    }
}

async fn key_with_admin_scope(s: &Server, tenant: &str) -> String {
    let (st, key) = s.post(&format!("/v1/tenants/{tenant}/keys"), &s.operator_key, json!({"name": "admin", "scopes": ["admin"]})).await;
    assert_eq!(st, 201);
    key["secret"].as_str().unwrap().to_owned()
}

/// Whether any text column of the idempotency table holds `needle`.
async fn database_contains(url: &str, needle: &str) -> bool {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT request_hash, response FROM idempotent_requests"))
        .await
        .unwrap();
    assert!(!rows.is_empty(), "answers are kept");
    rows.iter().any(|r| {
        let response: Option<String> = r.try_get("", "response").unwrap();
        response.is_some_and(|t| t.contains(needle))
    })
}

e2e! {
    async fn a_deleted_key_cannot_replay_a_stored_answer(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let path = format!("/v1/tenants/{}/keys", t.id);
        let (st, made) = s.post(&path, &s.operator_key, json!({"name": "doomed", "scopes": ["admin"]})).await;
        assert_eq!(st, 201);
        let (admin, admin_id) = (made["secret"].as_str().unwrap().to_owned(), made["id"].as_str().unwrap().to_owned());
        let body = json!({"name": "backend", "scopes": ["publish"]});
        let (st, _, created) = create(&s, &path, &admin, "k-1", body.clone()).await;
        assert_eq!(st, 201, "{created}");
        let secret = created["secret"].as_str().unwrap().to_owned();

        // The admin key is deleted; its stored answer holds a new key's secret.
        assert_eq!(s.call(reqwest::Method::DELETE, &format!("{path}/{admin_id}"), &s.operator_key, None).await.0, 204);

        let res = s.client.post(s.url(&path)).bearer_auth(&admin).header("Idempotency-Key", "k-1").json(&body).send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers().get("idempotent-replayed").is_none());
        let text = res.text().await.unwrap();
        assert!(!text.contains(&secret), "the stored secret leaked: {text}");
    }
}

e2e! {
    async fn a_refused_request_takes_no_claim(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let body = json!({"name": "acme2"});
        // Unauthenticated, and authenticated but not allowed: refused before
        // any claim, so nothing is kept for the key.
        let res = s.client.post(s.url("/v1/tenants")).header("Idempotency-Key", "k-1").json(&body).send().await.unwrap();
        assert_eq!(res.status(), 401);
        let (st, _, problem) = create(&s, "/v1/tenants", &t.admin_key, "k-1", body.clone()).await;
        assert_eq!(st, 403, "{problem}");
        let chans = format!("/v1/tenants/{}/channels", t.id);
        let (st, _, problem) = create(&s, &chans, &t.publish_key, "k-1", json!({"name": "orders"})).await;
        assert_eq!(st, 403, "{problem}");
        // As without the header, a malformed tenant id is a 404 before the credential.
        let res = s.client.post(s.url("/v1/tenants/nope/channels")).header("Idempotency-Key", "k-1").json(&body).send().await.unwrap();
        assert_eq!(res.status(), 404);
        if let Some(url) = s.database_url() {
            assert_eq!(idempotent_rows(&url).await, 0, "a refused request claimed its key");
        }
        // The real caller's request with the same key runs normally.
        let (st, replayed, created) = create(&s, "/v1/tenants", &s.operator_key, "k-1", body.clone()).await;
        assert_eq!((st.as_u16(), replayed), (201, None), "{created}");
    }
}

async fn idempotent_rows(url: &str) -> usize {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(url).await.unwrap();
    db.query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT request_hash FROM idempotent_requests")).await.unwrap().len()
}
