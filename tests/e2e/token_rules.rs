//! Issue 18, finding 9: `nbf` is honoured, a signing key may require `iss`
//! and `aud`, and a tenant may cap how long a token lives. Each refusal is
//! a 401 with its own problem type.

use herald_core::claims::{HeraldClaims, SubscriberClaims};
use herald_core::keys::SigningAlg;
use herald_core::token::{SigningMaterial, mint};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

fn token(kid: &str, secret: &str, exp: i64, extra: Value) -> String {
    let claims = SubscriberClaims {
        sub: "1".into(),
        exp,
        herald: HeraldClaims { subscribe: vec!["orders".into()] },
        extra: extra.as_object().cloned().unwrap_or_default(),
    };
    mint(kid, SigningAlg::HS256, &SigningMaterial::Secret(secret.into()), &claims).unwrap()
}

/// The stream's answer: 200, or the problem type's code.
async fn open(s: &Server, t: &Tenant, token: &str) -> Result<(), String> {
    let res = s.open_stream(t, token, &["orders"], None).await;
    if res.status() == StatusCode::OK {
        return Ok(());
    }
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = res.json().await.unwrap();
    Err(problem["type"].as_str().unwrap().rsplit(':').next().unwrap().to_owned())
}

e2e! {
    async fn nbf_iss_aud_and_the_tenants_maximum_lifetime_are_enforced(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let base = format!("/v1/tenants/{}", t.id);

        // nbf, on any key.
        assert_eq!(open(&s, &t, &token(&t.kid, &t.secret, now() + 600, json!({"nbf": now() + 300}))).await, Err("token-not-yet-valid".into()));
        assert_eq!(open(&s, &t, &token(&t.kid, &t.secret, now() + 600, json!({"nbf": now() - 5}))).await, Ok(()));

        // A key that requires an issuer and an audience.
        let (status, key) = s.post(&format!("{base}/signing-keys"), &t.admin_key, json!({"alg": "HS256", "issuer": "https://app.example", "audience": "herald"})).await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        assert_eq!((key["issuer"].as_str(), key["audience"].as_str()), (Some("https://app.example"), Some("herald")));
        let (kid, secret) = (key["kid"].as_str().unwrap(), key["secret"].as_str().unwrap());
        let exp = now() + 600;
        assert_eq!(open(&s, &t, &token(kid, secret, exp, json!({"iss": "https://app.example", "aud": ["x", "herald"]}))).await, Ok(()));
        assert_eq!(open(&s, &t, &token(kid, secret, exp, json!({"iss": "https://evil.example", "aud": "herald"}))).await, Err("token-wrong-issuer".into()));
        assert_eq!(open(&s, &t, &token(kid, secret, exp, json!({"aud": "herald"}))).await, Err("token-wrong-issuer".into()));
        assert_eq!(open(&s, &t, &token(kid, secret, exp, json!({"iss": "https://app.example", "aud": "other"}))).await, Err("token-wrong-audience".into()));
        // The tenant's other key requires neither.
        assert_eq!(open(&s, &t, &token(&t.kid, &t.secret, exp, json!({}))).await, Ok(()));
        let (_, list) = s.get(&format!("{base}/signing-keys"), &t.admin_key).await;
        assert!(list["items"].as_array().unwrap().iter().any(|k| k["audience"] == "herald"), "{list}");
        for bad in [json!({"alg": "HS256", "issuer": ""}), json!({"alg": "HS256", "audience": "x".repeat(300)})] {
            assert_eq!(s.post(&format!("{base}/signing-keys"), &t.admin_key, bad.clone()).await.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }

        // The tenant's maximum lifetime.
        assert_eq!(s.get(&format!("{base}/token-rules"), &t.admin_key).await.1, json!({"max_lifetime_seconds": null}));
        let long = token(&t.kid, &t.secret, now() + 7200, json!({}));
        assert_eq!(open(&s, &t, &long).await, Ok(()));
        let (status, rules) = s.call(reqwest::Method::PUT, &format!("{base}/token-rules"), &t.admin_key, Some(json!({"max_lifetime_seconds": 3600}))).await;
        assert_eq!(status, StatusCode::OK, "{rules}");
        assert_eq!(s.get(&format!("{base}/token-rules"), &t.admin_key).await.1, json!({"max_lifetime_seconds": 3600}));
        assert_eq!(open(&s, &t, &long).await, Err("token-lifetime-too-long".into()));
        assert_eq!(open(&s, &t, &token(&t.kid, &t.secret, now() + 60, json!({"iat": now() - 86_400}))).await, Err("token-lifetime-too-long".into()));
        assert_eq!(open(&s, &t, &token(&t.kid, &t.secret, now() + 3000, json!({"iat": now() - 60}))).await, Ok(()));
        // Only a tenant admin sets it, within bounds.
        assert_eq!(s.call(reqwest::Method::PUT, &format!("{base}/token-rules"), &t.publish_key, Some(json!({"max_lifetime_seconds": 1}))).await.0, StatusCode::FORBIDDEN);
        assert_eq!(s.call(reqwest::Method::PUT, &format!("{base}/token-rules"), &t.admin_key, Some(json!({"max_lifetime_seconds": 0}))).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        // Tokens Herald mints follow the rules: `iat` set, the key's `iss`
        // and `aud` carried, a lifetime over the maximum refused.
        let minted = |body: Value| {
            let (s, base, key) = (&s, &base, &t.admin_key);
            async move { s.post(&format!("{base}/tokens"), key, body).await }
        };
        let (status, m) = minted(json!({"sub": "1", "subscribe": ["orders"], "ttl_seconds": 600, "kid": kid})).await;
        assert_eq!(status, StatusCode::CREATED, "{m}");
        assert_eq!(open(&s, &t, m["token"].as_str().unwrap()).await, Ok(()));
        let (status, p) = s.call(reqwest::Method::PUT, &format!("{base}/token-rules"), &t.admin_key, Some(json!({"max_lifetime_seconds": 60}))).await;
        assert_eq!(status, StatusCode::OK, "{p}");
        let (status, p) = minted(json!({"sub": "1", "subscribe": ["orders"], "ttl_seconds": 600})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert!(p["detail"].as_str().unwrap().contains("max_lifetime_seconds"), "{p}");
        let (status, _) = s.call(reqwest::Method::PUT, &format!("{base}/token-rules"), &t.admin_key, Some(json!({"max_lifetime_seconds": null}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(open(&s, &t, &long).await, Ok(()));
    }
}
