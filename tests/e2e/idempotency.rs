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
