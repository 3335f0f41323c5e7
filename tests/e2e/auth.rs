//! Subscriber tokens: signature, pinned algorithm, expiry, scope.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_core::claims::{HeraldClaims, SubscriberClaims};
use herald_core::keys::SigningAlg;
use herald_core::token::{SigningMaterial, mint};
use serde_json::json;

use crate::harness::*;

async fn assert_refused(s: &Server, t: &Tenant, token: &str, status: u16, kind: &str) {
    let res = s.open_stream(t, token, &["orders"], None).await;
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["type"], format!("urn:herald:problem:{kind}"), "{body}");
    assert_eq!(body["status"], status);
}

fn claims(exp: i64) -> SubscriberClaims {
    SubscriberClaims { sub: "1".into(), exp, herald: HeraldClaims { subscribe: vec!["orders".into()] }, extra: Default::default() }
}

e2e! {
    async fn bad_tokens_are_refused_with_401(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;

        // Expired.
        assert_refused(&s, &t, &t.token_exp("1", &["orders"], now() - 5), 401, "invalid-token").await;
        // Signed with another secret.
        let forged = mint(&t.kid, SigningAlg::HS256, &SigningMaterial::Secret("not-the-secret".into()), &claims(now() + 60)).unwrap();
        assert_refused(&s, &t, &forged, 401, "invalid-token").await;
        // Unknown kid.
        let unknown = mint("sk_doesnotexist", SigningAlg::HS256, &SigningMaterial::Secret(t.secret.clone()), &claims(now() + 60)).unwrap();
        assert_refused(&s, &t, &unknown, 401, "invalid-token").await;
        // alg: none.
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": t.kid}).to_string());
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims(now() + 60)).unwrap());
        assert_refused(&s, &t, &format!("{header}.{body}."), 401, "invalid-token").await;
        // Garbage and missing.
        assert_refused(&s, &t, "not.a.jwt", 401, "invalid-token").await;
        let res = s.client.get(s.url(&format!("/v1/tenants/{}/stream?channel=orders", t.id))).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
}

e2e! {
    async fn algorithm_is_pinned_per_key(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let public = fixture("es256-public.pem");
        let private = fixture("es256-private.pem");
        let (st, key) =
            s.post(&format!("/v1/tenants/{}/signing-keys", t.id), &t.admin_key, json!({"alg": "ES256", "public_key": public})).await;
        assert_eq!(st, 201, "{key}");
        assert!(key.get("secret").is_none());
        let kid = key["kid"].as_str().unwrap();

        // A proper ES256 token works.
        let good = mint(kid, SigningAlg::ES256, &SigningMaterial::PrivatePem(private), &claims(now() + 60)).unwrap();
        let mut sub = s.subscribe(&t, &good, &["orders"], None).await;
        let id = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![id]);

        // The classic confusion: HS256 keyed with the public key's text.
        let confused = mint(kid, SigningAlg::HS256, &SigningMaterial::Secret(public.clone()), &claims(now() + 60)).unwrap();
        assert_refused(&s, &t, &confused, 401, "invalid-token").await;
        // An HS256 key refuses an ES256-labelled token too.
        let (_, other) = s.post(&format!("/v1/tenants/{}/signing-keys", t.id), &t.admin_key, json!({"alg": "HS256"})).await;
        let es_on_hs = mint(
            other["kid"].as_str().unwrap(),
            SigningAlg::ES256,
            &SigningMaterial::PrivatePem(fixture("es256-private.pem")),
            &claims(now() + 60),
        )
        .unwrap();
        assert_refused(&s, &t, &es_on_hs, 401, "invalid-token").await;

        // Uploads are checked.
        let (st, _) =
            s.post(&format!("/v1/tenants/{}/signing-keys", t.id), &t.admin_key, json!({"alg": "ES256", "public_key": "garbage"})).await;
        assert_eq!(st, 422);
        let (st, _) = s.post(&format!("/v1/tenants/{}/signing-keys", t.id), &t.admin_key, json!({"alg": "RS256", "public_key": public})).await;
        assert_eq!(st, 422);
        let (st, _) = s.post(&format!("/v1/tenants/{}/signing-keys", t.id), &t.admin_key, json!({"alg": "none"})).await;
        assert_eq!(st, 422);
    }
}

e2e! {
    async fn channels_outside_the_scope_are_refused_with_403(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("42", &["orders", "user.42.*"]);
        for channels in [&["secret"][..], &["orders", "user.43.inbox"], &["user.42.>"], &["user.*.inbox"]] {
            let res = s.open_stream(&t, &token, channels, None).await;
            assert_eq!(res.status(), 403, "{channels:?}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["type"], "urn:herald:problem:scope-denied");
        }
        // No channel at all, or a malformed one, is a 422.
        assert_eq!(s.open_stream(&t, &token, &[], None).await.status(), 422);
        assert_eq!(s.open_stream(&t, &token, &["a..b"], None).await.status(), 422);
        // Allowed ones open.
        assert_eq!(s.open_stream(&t, &token, &["orders", "user.42.inbox", "user.42.*"], None).await.status(), 200);
    }
}

e2e! {
    async fn deleted_signing_key_stops_new_streams(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("1", &["orders"]);
        assert_eq!(s.open_stream(&t, &token, &["orders"], None).await.status(), 200);
        let (st, _) = s.call(reqwest::Method::DELETE, &format!("/v1/tenants/{}/signing-keys/{}", t.id, t.kid), &t.admin_key, None).await;
        assert_eq!(st, 204);
        assert_eq!(s.open_stream(&t, &token, &["orders"], None).await.status(), 401);
    }
}

e2e! {
    async fn herald_token_command_mints_a_working_token(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let out = std::process::Command::new(herald_bin())
            .args([
                "token",
                "--kid",
                &t.kid,
                "--secret",
                &t.secret,
                "--sub",
                "42",
                "--subscribe",
                "orders",
                "--subscribe",
                "user.42.*",
                "--ttl",
                "60",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let mut sub = s.subscribe(&t, &token, &["orders", "user.42.inbox"], None).await;
        let id = s.publish(&t, "user.42.inbox", json!({"type": "x"})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![id]);
    }
}
