//! Subscriber tokens minted by Herald (`POST /v1/tenants/{tenant}/tokens`):
//! ordinary tokens that open streams, signed with the tenant's HS256 key.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

fn tokens_path(t: &Tenant) -> String {
    format!("/v1/tenants/{}/tokens", t.id)
}

async fn mint(s: &Server, t: &Tenant, key: &str, body: Value) -> (u16, Value) {
    let (st, v) = s.post(&tokens_path(t), key, body).await;
    (st.as_u16(), v)
}

e2e! {
    async fn a_minted_token_opens_a_stream_that_receives_notifications(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let res = s
            .client
            .post(s.url(&tokens_path(&t)))
            .bearer_auth(&t.admin_key)
            .json(&json!({"sub": "console", "subscribe": ["orders", "user.>"], "ttl_seconds": 600}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["cache-control"], "no-store", "the answer is a credential");
        let minted: Value = res.json().await.unwrap();
        assert_eq!(minted["kid"], t.kid.as_str(), "{minted}");
        let expires_at = chrono::DateTime::parse_from_rfc3339(minted["expires_at"].as_str().unwrap()).unwrap().timestamp();
        assert!((now() + 598..=now() + 601).contains(&expires_at), "expires_at {expires_at}, now {}", now());
        let token = minted["token"].as_str().unwrap();

        let mut sub = s.subscribe(&t, token, &["orders", "user.42.inbox"], None).await;
        let a = s.publish(&t, "orders", json!({"type": "order.created", "data": {"n": 1}})).await;
        let b2 = s.publish(&t, "user.42.inbox", json!({"type": "chat.message"})).await;
        s.publish(&t, "billing", json!({"type": "invoice"})).await;
        let events = sub.take(2, WAIT).await;
        assert_eq!(ids(&events), vec![a, b2]);
        assert_eq!(data(&events[0])["data"], json!({"n": 1}));
        // Its scope is what was asked for, no more.
        let res = s.open_stream(&t, token, &["billing"], None).await;
        assert_eq!(res.status(), 403);
        // A direct notification reaches it as user `console`.
        let direct = s.publish(&t, "orders", json!({"type": "x", "recipients": ["console"]})).await;
        s.publish(&t, "orders", json!({"type": "x", "recipients": ["someone-else"]})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![direct]);

        // The operator may mint too; deleting the signing key revokes its tokens.
        let (st, minted) = mint(&s, &t, &s.operator_key, json!({"sub": "ops", "subscribe": ["orders"], "ttl_seconds": 60})).await;
        assert_eq!(st, 201, "{minted}");
        let (st, _) = s.call(Method::DELETE, &format!("/v1/tenants/{}/signing-keys/{}", t.id, t.kid), &t.admin_key, None).await;
        assert_eq!(st, 204);
        assert_eq!(s.open_stream(&t, minted["token"].as_str().unwrap(), &["orders"], None).await.status(), 401);
    }
}

e2e! {
    async fn minting_needs_the_admin_scope_and_valid_input(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let other = s.tenant("globex").await;
        let ok = json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": 600});

        let (st, p) = mint(&s, &t, &t.publish_key, ok.clone()).await;
        assert_eq!((st, p["type"].as_str()), (403, Some("urn:herald:problem:forbidden")), "{p}");
        let (st, _) = mint(&s, &t, &other.admin_key, ok.clone()).await;
        assert_eq!(st, 403);
        let (st, _) = mint(&s, &t, "hk_nope", ok.clone()).await;
        assert_eq!(st, 401);

        let too_many: Vec<String> = (0..65).map(|i| format!("c{i}")).collect();
        let cases = [
            (json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": 0}), "ttl_seconds"),
            (json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": 3601}), "ttl_seconds"),
            (json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": -5}), ""),
            (json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": 1.5}), ""),
            (json!({"sub": "console", "subscribe": ["orders"]}), "ttl_seconds"),
            (json!({"sub": "", "subscribe": ["orders"], "ttl_seconds": 60}), "invalid sub"),
            (json!({"sub": "a\u{0}b", "subscribe": ["orders"], "ttl_seconds": 60}), "invalid sub"),
            (json!({"sub": "x".repeat(129), "subscribe": ["orders"], "ttl_seconds": 60}), "invalid sub"),
            (json!({"sub": "console", "subscribe": [], "ttl_seconds": 60}), "subscribe"),
            (json!({"sub": "console", "subscribe": too_many, "ttl_seconds": 60}), "subscribe"),
            (json!({"sub": "console", "subscribe": ["orders.>.x"], "ttl_seconds": 60}), "subscribe[0]"),
            (json!({"sub": "console", "subscribe": ["orders", "bad channel"], "ttl_seconds": 60}), "subscribe[1]"),
            (json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": 60, "kid": "nope"}), "kid"),
            (json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": 60, "kid": "sk_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b"}), "kid"),
            (json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": 60, "exp": 1}), "exp"),
            (json!([{"sub": "console", "subscribe": ["orders"], "ttl_seconds": 60}]), ""),
        ];
        for (body, field) in cases {
            let (st, p) = mint(&s, &t, &t.admin_key, body.clone()).await;
            assert_eq!((st, p["type"].as_str()), (422, Some("urn:herald:problem:validation")), "{body} → {p}");
            assert!(p["detail"].as_str().unwrap().contains(field), "{body} → {p}");
        }
        // The limits themselves are accepted.
        for ttl in [1, 3600] {
            let (st, p) = mint(&s, &t, &t.admin_key, json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": ttl})).await;
            assert_eq!(st, 201, "{p}");
        }
        let patterns: Vec<String> = (0..64).map(|i| format!("c{i}.>")).collect();
        let (st, p) = mint(&s, &t, &t.admin_key, json!({"sub": "console", "subscribe": patterns, "ttl_seconds": 60})).await;
        assert_eq!(st, 201, "{p}");
    }
}

e2e! {
    async fn minting_needs_an_hs256_key_herald_holds(b) {
        let s = Server::start(b).await;
        let op = s.operator_key.clone();
        let (_, tenant) = s.post("/v1/tenants", &op, json!({"name": "keyless"})).await;
        let id = tenant["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/tenants/{id}/tokens");
        let body = json!({"sub": "console", "subscribe": ["orders"], "ttl_seconds": 60});
        let (st, p) = s.post(&path, &op, body.clone()).await;
        assert_eq!((st.as_u16(), p["type"].as_str()), (409, Some("urn:herald:problem:no-signing-key")), "{p}");
        assert!(p["detail"].as_str().unwrap().contains("create an HS256 signing key first"), "{p}");

        // A public key is no help: Herald cannot sign with it.
        let (st, es) =
            s.post(&format!("/v1/tenants/{id}/signing-keys"), &op, json!({"alg": "ES256", "public_key": fixture("es256-public.pem")})).await;
        assert_eq!(st, 201, "{es}");
        let (st, p) = s.post(&path, &op, body.clone()).await;
        assert_eq!(st, 409, "{p}");
        let mut named = body.clone();
        named["kid"] = es["kid"].clone();
        let (st, p) = s.post(&path, &op, named).await;
        assert_eq!((st.as_u16(), p["type"].as_str()), (409, Some("urn:herald:problem:no-signing-key")), "{p}");
        assert!(p["detail"].as_str().unwrap().contains("ES256"), "{p}");

        // With two HS256 keys: the newest by default, or the one named.
        let (_, older) = s.post(&format!("/v1/tenants/{id}/signing-keys"), &op, json!({"alg": "HS256"})).await;
        let (_, newer) = s.post(&format!("/v1/tenants/{id}/signing-keys"), &op, json!({"alg": "HS256"})).await;
        let (st, minted) = s.post(&path, &op, body.clone()).await;
        assert_eq!((st.as_u16(), &minted["kid"]), (201, &newer["kid"]), "{minted}");
        let mut named = body.clone();
        named["kid"] = older["kid"].clone();
        let (st, minted) = s.post(&path, &op, named).await;
        assert_eq!((st.as_u16(), &minted["kid"]), (201, &older["kid"]), "{minted}");
        // The token verifies against the key it names.
        let t = Tenant {
            id: id.clone(),
            admin_key: op.clone(),
            publish_key: op.clone(),
            kid: older["kid"].as_str().unwrap().to_owned(),
            secret: older["secret"].as_str().unwrap().to_owned(),
        };
        let mut sub = s.subscribe(&t, minted["token"].as_str().unwrap(), &["orders"], None).await;
        let n = s.publish(&t, "orders", json!({"type": "x"})).await;
        assert_eq!(ids(&sub.take(1, WAIT).await), vec![n]);
    }
}
