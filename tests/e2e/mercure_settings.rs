//! Issue 21: a tenant's Mercure hub settings through the admin API. The
//! HS256 secret is sealed at rest and never answered back, each bad field
//! is a 422 that names it, only the tenant's admins (and the operator) read
//! or change them, and they go with the tenant.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

const KEY: &str = "a-secrets-key-of-at-least-32-characters";
const SECRET: &str = "!ChangeThisMercureHubJWTSecretKey!";
const ED_PUBLIC: &str =
    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

fn body() -> Value {
    json!({
        "jwt_alg": "HS256",
        "jwt_key": SECRET,
        "issuer": "https://example.com",
        "audience": "https://hub.example.com/.well-known/mercure",
        "anonymous": true,
        "cors_origins": ["https://app.example.com"],
        "compat_0x": true
    })
}

async fn put(s: &Server, tenant: &str, key: &str, body: Value) -> (StatusCode, Value) {
    s.call(Method::PUT, &format!("/v1/tenants/{tenant}/mercure"), key, Some(body)).await
}

async fn stored_row(url: &str, tenant: &str) -> Option<(Option<String>, Option<String>)> {
    use sea_orm::{ConnectionTrait, Statement, Value as V};
    let db = sea_orm::Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "SELECT jwt_secret, jwt_public_key FROM tenant_mercure_settings WHERE tenant_id = $1",
        _ => "SELECT jwt_secret, jwt_public_key FROM tenant_mercure_settings WHERE tenant_id = ?",
    };
    let row = db.query_one_raw(Statement::from_sql_and_values(backend, sql, [V::from(tenant)])).await.unwrap()?;
    Some((row.try_get("", "jwt_secret").unwrap(), row.try_get("", "jwt_public_key").unwrap()))
}

e2e! {
    async fn a_tenants_hub_settings_are_kept_sealed_and_never_shown(b) {
        let s = Server::start_with(b, |c| c.secrets_key = Some(KEY.into())).await;
        let t = s.tenant("acme").await;
        let path = format!("/v1/tenants/{}/mercure", t.id);

        let (status, problem) = s.get(&path, &t.admin_key).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "expected 404 before any PUT, got {problem}");
        assert_eq!(problem["type"], "urn:herald:problem:not-found");

        let (status, view) = put(&s, &t.id, &t.admin_key, body()).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        let expected = json!({
            "jwt_alg": "HS256",
            "public_key": null,
            "issuer": "https://example.com",
            "audience": "https://hub.example.com/.well-known/mercure",
            "anonymous": true,
            "cors_origins": ["https://app.example.com"],
            "compat_0x": true,
            "hub_path": format!("/v1/tenants/{}/.well-known/mercure", t.id)
        });
        assert_eq!(view, expected);
        assert_eq!(s.get(&path, &t.admin_key).await.1, expected, "GET answers what PUT set");
        assert_eq!(s.get(&path, &s.operator_key).await.0, StatusCode::OK, "the operator reads it too");

        // Sealed at rest: the database holds no copy of the secret.
        let url = s.database_url().unwrap();
        let (secret, public_key) = stored_row(&url, &t.id).await.expect("a row");
        let secret = secret.expect("a sealed secret");
        assert!(secret.starts_with("sealed:v1:") && !secret.contains(SECRET), "stored {secret}");
        assert_eq!(public_key, None);

        // Without `jwt_key`, the key set for the same algorithm is kept.
        let mut keep = body();
        keep.as_object_mut().unwrap().remove("jwt_key");
        keep["anonymous"] = json!(false);
        let (status, view) = put(&s, &t.id, &t.admin_key, keep.clone()).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!((view["jwt_alg"].as_str(), view["anonymous"].as_bool()), (Some("HS256"), Some(false)));
        assert!(stored_row(&url, &t.id).await.unwrap().0.is_some_and(|s| s.starts_with("sealed:v1:")), "the secret is still there, sealed");
        // ...but not for another algorithm, which needs its own key.
        keep["jwt_alg"] = json!("EdDSA");
        let (status, problem) = put(&s, &t.id, &t.admin_key, keep).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("jwt_key"), "{problem}");

        // Replaced whole by a public key: it is shown, the secret is gone.
        let mut ed = body();
        ed["jwt_alg"] = json!("EdDSA");
        ed["jwt_key"] = json!(ED_PUBLIC);
        ed["cors_origins"] = json!([]);
        let (status, view) = put(&s, &t.id, &t.admin_key, ed).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!((view["public_key"].as_str(), view["cors_origins"].clone()), (Some(ED_PUBLIC), json!([])));
        assert_eq!(stored_row(&url, &t.id).await, Some((None, Some(ED_PUBLIC.to_owned()))));
    }
}

e2e! {
    async fn bad_settings_are_refused_field_by_field_and_only_admins_set_them(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let other = s.tenant("globex").await;
        let with = |field: &str, value: Value| {
            let mut b = body();
            b[field] = value;
            b
        };
        for (bad, field) in [
            (with("jwt_alg", json!("none")), "jwt_alg"),
            (with("jwt_alg", json!("HS512")), "jwt_alg"),
            (with("jwt_key", json!("too-short")), "jwt_key"),
            (with("jwt_alg", json!("RS256")), "jwt_key"),
            (with("issuer", json!("")), "issuer"),
            (with("audience", json!("x".repeat(300))), "audience"),
            (with("cors_origins", json!(["https://app.example.com/path"])), "cors_origins"),
        ] {
            let (status, problem) = put(&s, &t.id, &t.admin_key, bad.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "expected 422 for {bad}, got {problem}");
            assert_eq!(problem["type"], "urn:herald:problem:validation");
            assert!(problem["detail"].as_str().unwrap().contains(field), "expected the detail to name {field}, got {problem}");
        }
        let (status, problem) = put(&s, &t.id, &t.admin_key, with("unknown_field", json!(1))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an unknown field: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("unknown_field"), "{problem}");
        let (status, problem) = put(&s, &t.id, &t.admin_key, json!({"jwt_alg": "HS256"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "missing fields: {problem}");
        assert_eq!(s.get(&format!("/v1/tenants/{}/mercure", t.id), &t.admin_key).await.0, StatusCode::NOT_FOUND, "nothing was kept");

        // Only the tenant's admins and the operator.
        assert_eq!(put(&s, &t.id, &t.publish_key, body()).await.0, StatusCode::FORBIDDEN);
        assert_eq!(put(&s, &t.id, &other.admin_key, body()).await.0, StatusCode::FORBIDDEN);
        assert_eq!(put(&s, &t.id, &s.operator_key, body()).await.0, StatusCode::OK);
        assert_eq!(s.get(&format!("/v1/tenants/{}/mercure", t.id), &other.admin_key).await.0, StatusCode::FORBIDDEN);
        assert_eq!(s.get(&format!("/v1/tenants/{}/mercure", other.id), &other.admin_key).await.0, StatusCode::NOT_FOUND, "globex has none");

        // They go with the tenant.
        let url = s.database_url().unwrap();
        assert!(stored_row(&url, &t.id).await.is_some());
        let (status, _) = s.call(Method::DELETE, &format!("/v1/tenants/{}", t.id), &s.operator_key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(stored_row(&url, &t.id).await, None, "deleted with the tenant");
    }
}
