//! Subscribers without a stream: polling and long-polling, read state and
//! unread counts, CORS for the tenant's allowed origins, the session
//! cookie, and `events=message` streams for browsers.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// `GET …/notifications` with the subscriber token; returns status and JSON.
async fn poll(s: &Server, t: &Tenant, token: &str, query: &str) -> (StatusCode, Value) {
    s.get(&format!("/v1/tenants/{}/notifications?{query}", t.id), token).await
}

fn item_ids(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|n| n["id"].as_i64().unwrap()).collect()
}

async fn set_origins(s: &Server, t: &Tenant, origins: Value) -> (StatusCode, Value) {
    s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/allowed-origins", t.id), &t.admin_key, Some(json!({"origins": origins}))).await
}

e2e! {
    async fn polls_page_through_history_and_start_from_now(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("alice", &["orders"]);
        let a = s.publish(&t, "orders", json!({"type": "order.created", "data": {"n": 1}})).await;
        let b2 = s.publish(&t, "orders", json!({"type": "order.created", "data": {"n": 2}})).await;
        let c = s.publish(&t, "orders", json!({"type": "order.paid", "data": {"n": 3}})).await;

        // Without `after`: from now, nothing yet, and the position to go on from.
        let (status, now_page) = poll(&s, &t, &token, "channel=orders").await;
        assert_eq!(status, StatusCode::OK, "{now_page}");
        assert_eq!(item_ids(&now_page), Vec::<i64>::new());
        assert_eq!(now_page["next"], json!(c));

        // All history, two at a time, in order, with the stream's fields.
        let (_, p1) = poll(&s, &t, &token, "channel=orders&after=0&limit=2").await;
        assert_eq!(item_ids(&p1), vec![a, b2]);
        assert_eq!(p1["more"], json!(true));
        let first = &p1["items"][0];
        assert_eq!((first["channel"].as_str(), first["type"].as_str(), &first["data"]), (Some("orders"), Some("order.created"), &json!({"n": 1})));
        assert_eq!(first["read"], json!(false));
        assert!(first["created_at"].as_str().unwrap().ends_with('Z'));
        let (_, p2) = poll(&s, &t, &token, &format!("channel=orders&after={}&limit=2", p1["next"])).await;
        assert_eq!(item_ids(&p2), vec![c]);
        assert_eq!(p2["more"], json!(false));
        let (_, p3) = poll(&s, &t, &token, &format!("channel=orders&after={}", p2["next"])).await;
        assert_eq!(item_ids(&p3), Vec::<i64>::new());
        assert_eq!(p3["next"], json!(c));

        // The stream's rules: scopes, token, and clear errors for bad input.
        assert_eq!(poll(&s, &t, &token, "channel=billing").await.0, StatusCode::FORBIDDEN);
        assert_eq!(poll(&s, &t, "not-a-token", "channel=orders").await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(poll(&s, &t, &token, "").await.0, StatusCode::UNPROCESSABLE_ENTITY);
        for bad in ["limit=0", "limit=100000", "wait=100000", "after=-1", "after=%2B3", "after=-0", "after=x"] {
            let (status, p) = poll(&s, &t, &token, &format!("channel=orders&{bad}")).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {p}");
        }
        assert_eq!(poll(&s, &t, &token, "channel=orders&limit=x").await.0, StatusCode::BAD_REQUEST);
    }
}

e2e! {
    async fn a_long_poll_answers_when_a_notification_arrives(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("alice", &["orders"]);
        let (_, start) = poll(&s, &t, &token, "channel=orders").await;

        // Nothing comes: an empty page once `wait` has passed.
        let began = Instant::now();
        let (status, empty) = poll(&s, &t, &token, &format!("channel=orders&after={}&wait=1", start["next"])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(item_ids(&empty), Vec::<i64>::new());
        assert!(began.elapsed() >= Duration::from_secs(1), "answered before `wait` ran out");

        // A notification on another channel does not end the wait; one that matches does.
        let waiting = {
            let (s2, t2, token2, after) = (Server::attach(s.base.clone()).await, t.clone(), token.clone(), start["next"].clone());
            tokio::spawn(async move { poll(&s2, &t2, &token2, &format!("channel=orders&after={after}&wait=20")).await })
        };
        // Publish only once the long-poll is waiting (the node counts it).
        crate::metrics::wait_for(&s, "the long-poll is waiting", |m| {
            crate::metrics::value(m, "herald_connections", &[("tenant", &t.id), ("transport", "long_poll")]) == 1.0
        })
        .await;
        s.publish(&t, "billing", json!({"type": "x"})).await;
        let id = s.publish(&t, "orders", json!({"type": "order.created"})).await;
        let (status, page) = tokio::time::timeout(WAIT, waiting).await.expect("the long-poll answers").unwrap();
        assert_eq!(status, StatusCode::OK, "{page}");
        // Had the billing notification ended the wait, the page would be empty.
        assert_eq!(item_ids(&page), vec![id], "the long-poll answered with the orders notification, not before it");
        assert_eq!(page["next"], json!(id));
    }
}

e2e! {
    async fn polls_see_only_what_the_user_may(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let for_bob = s.publish(&t, "orders", json!({"type": "x", "recipients": ["bob"]})).await;
        let for_all = s.publish(&t, "orders", json!({"type": "x"})).await;
        let (_, alice) = poll(&s, &t, &t.token("alice", &["orders"]), "channel=orders&after=0").await;
        assert_eq!(item_ids(&alice), vec![for_all]);
        let (_, bob) = poll(&s, &t, &t.token("bob", &["orders"]), "channel=orders&after=0").await;
        assert_eq!(item_ids(&bob), vec![for_bob, for_all]);
        // Another tenant's token (another signing key) is refused.
        let other = s.tenant("globex").await;
        assert_eq!(poll(&s, &t, &other.token("bob", &["orders"]), "channel=orders&after=0").await.0, StatusCode::UNAUTHORIZED);
    }
}

e2e! {
    async fn read_state_and_unread_counts(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("alice", &["orders", "user.alice.*"]);
        let read = |body: Value| {
            let (s, t, token) = (&s, &t, &token);
            async move { s.post(&format!("/v1/tenants/{}/notifications/read", t.id), token, body).await }
        };
        let unread = |query: &'static str| {
            let (s, t, token) = (&s, &t, &token);
            async move {
                let (status, body) = s.get(&format!("/v1/tenants/{}/notifications/unread?{query}", t.id), token).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                (body["count"].as_u64().unwrap(), body["capped"].as_bool().unwrap())
            }
        };
        let a = s.publish(&t, "orders", json!({"type": "x"})).await;
        let b2 = s.publish(&t, "orders", json!({"type": "x"})).await;
        let c = s.publish(&t, "user.alice.inbox", json!({"type": "x"})).await;
        s.publish(&t, "orders", json!({"type": "x", "recipients": ["bob"]})).await;
        assert_eq!(unread("channel=orders&channel=user.alice.*").await, (3, false));
        assert_eq!(unread("channel=orders").await, (2, false));

        assert_eq!(read(json!({"ids": [b2]})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(unread("channel=orders&channel=user.alice.*").await, (2, false));
        let (_, page) = poll(&s, &t, &token, "channel=orders&channel=user.alice.*&after=0").await;
        let flags: Vec<(i64, bool)> = page["items"].as_array().unwrap().iter().map(|n| (n["id"].as_i64().unwrap(), n["read"].as_bool().unwrap())).collect();
        assert_eq!(flags, vec![(a, false), (b2, true), (c, false)]);

        assert_eq!(read(json!({"up_to": c})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(unread("channel=orders&channel=user.alice.*").await, (0, false));
        // A watermark never moves back.
        assert_eq!(read(json!({"up_to": a})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(unread("channel=orders&channel=user.alice.*").await, (0, false));
        s.publish(&t, "user.alice.inbox", json!({"type": "x"})).await;
        assert_eq!(unread("channel=orders&channel=user.alice.*").await, (1, false));
        // Another user's read state is their own.
        let (_, bob) = s.get(&format!("/v1/tenants/{}/notifications/unread?channel=orders", t.id), &t.token("bob", &["orders"])).await;
        assert_eq!(bob["count"], json!(3));

        for bad in [json!({}), json!({"ids": [1], "up_to": 2}), json!({"ids": [-1]}), json!({"up_to": -5}), json!({"ids": (0..1001).collect::<Vec<_>>()})] {
            let (status, p) = read(bad.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {p}");
        }
        // Well-formed JSON of the wrong shape is invalid input (422), as elsewhere.
        assert_eq!(read(json!({"ids": "x"})).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

e2e! {
    async fn cors_answers_the_tenants_allowed_origins_only(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let app = "http://app.test:5173";
        for bad in [json!(["app.test"]), json!(["http://app.test/"]), json!([app, app]), json!(["*"])] {
            assert_eq!(set_origins(&s, &t, bad.clone()).await.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        let (status, body) = set_origins(&s, &t, json!([app])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(s.get(&format!("/v1/tenants/{}/allowed-origins", t.id), &t.admin_key).await.1, json!({"origins": [app]}));
        // A publish key may not change them.
        assert_eq!(set_origins_with(&s, &t, &t.publish_key).await, StatusCode::FORBIDDEN);

        let preflight = |origin: &'static str, path: String| {
            let s = &s;
            async move {
                s.client
                    .request(reqwest::Method::OPTIONS, s.url(&path))
                    .header("Origin", origin)
                    .header("Access-Control-Request-Method", "POST")
                    .header("Access-Control-Request-Headers", "authorization,content-type")
                    .send()
                    .await
                    .unwrap()
            }
        };
        let ok = preflight(app, format!("/v1/tenants/{}/notifications/read", t.id)).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        assert_eq!(ok.headers()["access-control-allow-origin"], app);
        assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
        assert!(ok.headers()["access-control-allow-headers"].to_str().unwrap().contains("Authorization"));
        let denied = preflight("http://evil.test", format!("/v1/tenants/{}/stream", t.id)).await;
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        assert!(denied.headers().get("access-control-allow-origin").is_none());
        // The admin API is not for browsers on other origins.
        let admin = preflight(app, format!("/v1/tenants/{}/channels", t.id)).await;
        assert!(admin.headers().get("access-control-allow-origin").is_none());

        let token = t.token("alice", &["orders"]);
        let get = |origin: &'static str| {
            let (s, t, token) = (&s, &t, &token);
            async move {
                s.client.get(s.url(&format!("/v1/tenants/{}/notifications?channel=orders", t.id))).bearer_auth(token).header("Origin", origin).send().await.unwrap()
            }
        };
        let allowed = get(app).await;
        assert_eq!(allowed.status(), StatusCode::OK);
        assert_eq!(allowed.headers()["access-control-allow-origin"], app);
        assert_eq!(allowed.headers()["vary"], "Origin");
        let other = get("http://evil.test").await;
        assert!(other.headers().get("access-control-allow-origin").is_none(), "no CORS grant for an origin not listed");
        // Another tenant's list does not count.
        let globex = s.tenant("globex").await;
        let cross = s.client.get(s.url(&format!("/v1/tenants/{}/notifications?channel=orders", globex.id))).bearer_auth(globex.token("a", &["orders"])).header("Origin", app).send().await.unwrap();
        assert!(cross.headers().get("access-control-allow-origin").is_none());
    }
}

async fn set_origins_with(s: &Server, t: &Tenant, key: &str) -> StatusCode {
    s.call(reqwest::Method::PUT, &format!("/v1/tenants/{}/allowed-origins", t.id), key, Some(json!({"origins": []}))).await.0
}

e2e! {
    async fn the_session_cookie_works_from_allowed_origins(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let app = "http://app.test:5173";
        set_origins(&s, &t, json!([app])).await;
        let token = t.token("alice", &["orders"]);
        let res = s.client.post(s.url(&format!("/v1/tenants/{}/session", t.id))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let set_cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        for part in ["herald_token=", "HttpOnly", "Secure", "SameSite=None", &format!("Path=/v1/tenants/{}", t.id), "Max-Age="] {
            assert!(set_cookie.contains(part), "{part} missing from {set_cookie}");
        }
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        assert_eq!(cookie, format!("herald_token={token}"));
        // A bad token sets nothing.
        let res = s.client.post(s.url(&format!("/v1/tenants/{}/session", t.id))).bearer_auth("nope").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().get("set-cookie").is_none());

        let id = s.publish(&t, "orders", json!({"type": "x"})).await;
        let url = s.url(&format!("/v1/tenants/{}/notifications?channel=orders&after=0", t.id));
        let with = |origin: Option<&'static str>| {
            let (s, url, cookie) = (&s, &url, &cookie);
            async move {
                let mut req = s.client.get(url).header("Cookie", cookie);
                if let Some(o) = origin {
                    req = req.header("Origin", o);
                }
                req.send().await.unwrap()
            }
        };
        let ok = with(Some(app)).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(item_ids(&ok.json::<Value>().await.unwrap()), vec![id]);
        // The cookie is ambient: a request another site's page could make
        // (no Origin, or one not allowed) may not use it.
        assert_eq!(with(None).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(with(Some("http://evil.test")).await.status(), StatusCode::UNAUTHORIZED);

        let res = s.client.delete(s.url(&format!("/v1/tenants/{}/session", t.id))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(res.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
        // A path that is no tenant id never reaches a header (it did: a 500).
        let res = s.client.delete(s.url("/v1/tenants/%C3%9A%13%F2/session")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}

e2e! {
    async fn a_stream_can_send_every_notification_as_a_message_event(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let token = t.token("alice", &["orders"]);
        let res = s.client.get(s.url(&format!("/v1/tenants/{}/stream?channel=orders&events=message", t.id))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let mut sse = Sse::new(res);
        let id = s.publish(&t, "orders", json!({"type": "order.created", "data": {"n": 1}})).await;
        let events = sse.take(1, WAIT).await;
        assert_eq!(ids(&events), vec![id]);
        assert_eq!(events[0].event, "message");
        assert_eq!(data(&events[0])["type"], "order.created");
        // Replayed ones too.
        let res = s.client.get(s.url(&format!("/v1/tenants/{}/stream?channel=orders&events=message&last_event_id=0", t.id))).bearer_auth(&token).send().await.unwrap();
        let events = Sse::new(res).take(1, WAIT).await;
        assert_eq!(events[0].event, "message");
        let res = s.client.get(s.url(&format!("/v1/tenants/{}/stream?channel=orders&events=nope", t.id))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}
