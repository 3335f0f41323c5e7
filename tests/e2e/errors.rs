//! Bad input gets a clear problem+json 4xx, never a 500.

use serde_json::{Value, json};

use crate::harness::*;

/// method, path, key, content type, body, expected status, expected problem code
type Case<'a> = (reqwest::Method, String, Option<&'a str>, Option<&'a str>, String, u16, &'static str);

async fn raw(s: &Server, method: reqwest::Method, path: &str, key: Option<&str>, content_type: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = s.client.request(method, s.url(path)).body(body.to_owned());
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    assert_eq!(res.headers()["content-type"], "application/problem+json", "{path}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string());
    (status, body)
}

e2e! {
    async fn problems_for_bad_requests(b) {
        let s = Server::start_with(b, |c| c.limits.max_body_bytes = 2048).await;
        let t = s.tenant("acme").await;
        let publish = format!("/v1/tenants/{}/channels/orders/notifications", t.id);
        let op = Some(s.operator_key.as_str());
        let json_ct = Some("application/json");
        let long_key = "hk_".repeat(1000);
        use reqwest::Method as M;
        let cases: Vec<Case> = vec![
            (M::POST, publish.clone(), Some(&t.publish_key), json_ct, "{\"type\":".into(), 400, "bad-request"),
            (M::POST, publish.clone(), Some(&t.publish_key), Some("text/plain"), "{\"type\":\"x\"}".into(), 415, "unsupported-media-type"),
            (
                M::POST,
                publish.clone(),
                Some(&t.publish_key),
                json_ct,
                format!("{{\"type\":\"x\",\"data\":\"{}\"}}", "y".repeat(4000)),
                413,
                "payload-too-large",
            ),
            (M::POST, publish.clone(), Some(&t.publish_key), json_ct, "{\"type\":5}".into(), 422, "validation"),
            (M::POST, publish.clone(), None, json_ct, "{\"type\":\"x\"}".into(), 401, "unauthorized"),
            (M::POST, publish.clone(), Some("hk_wrong"), json_ct, "{\"type\":\"x\"}".into(), 401, "unauthorized"),
            (M::POST, publish.clone(), Some(&long_key), json_ct, "{\"type\":\"x\"}".into(), 401, "unauthorized"),
            (M::POST, "/v1/tenants/ten_nope/channels/orders/notifications".into(), op, json_ct, "{\"type\":\"x\"}".into(), 404, "not-found"),
            (M::POST, "/v1/tenants/not-an-id/channels/orders/notifications".into(), op, json_ct, "{\"type\":\"x\"}".into(), 404, "not-found"),
            (M::GET, "/v1/nothing-here".into(), None, None, String::new(), 404, "not-found"),
            (M::POST, "/v1/tenants".into(), op, json_ct, "{\"name\":\"acme\"}".into(), 409, "conflict"),
            (M::POST, "/v1/tenants".into(), op, json_ct, "{\"name\":\"\"}".into(), 422, "validation"),
            (M::POST, "/v1/tenants".into(), op, json_ct, "[]".into(), 422, "validation"),
            (M::GET, "/v1/tenants?limit=abc".into(), op, None, String::new(), 400, "bad-request"),
            (M::GET, format!("/v1/tenants/{}/channels/a..b", t.id), op, None, String::new(), 404, "not-found"),
            (
                M::POST,
                format!("/v1/tenants/{}/channels", t.id),
                op,
                json_ct,
                "{\"name\":\"c\",\"retention\":{\"max_count\":0}}".into(),
                422,
                "validation",
            ),
            (M::POST, format!("/v1/tenants/{}/keys", t.id), op, json_ct, "{\"name\":\"k\",\"scopes\":[\"root\"]}".into(), 422, "validation"),
            (M::POST, format!("/v1/tenants/{}/keys", t.id), op, json_ct, "{\"name\":\"k\",\"scopes\":[]}".into(), 422, "validation"),
        ];
        for (method, path, key, ct, body, status, kind) in cases {
            let (got, problem) = raw(&s, method.clone(), &path, key, ct, &body).await;
            assert_eq!(got, status, "{method} {path} {body:.60}: {problem}");
            assert_eq!(problem["type"], format!("urn:herald:problem:{kind}"), "{method} {path}");
        }
        // And the data is intact afterwards.
        assert_eq!(s.publish(&t, "orders", json!({"type": "x"})).await, 1);
    }
}
