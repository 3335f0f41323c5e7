//! Limits on what one client may hold: streams and waiting long-polls per
//! client address.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

e2e! {
    async fn one_address_holds_at_most_its_streams_and_long_polls(b) {
        // Quick heartbeats: a closed stream is noticed at its next write.
        let s = Server::start_with(b, |c| {
            c.limits.max_connections_per_ip = 2;
            c.stream.heartbeat_seconds = 1;
        })
        .await;
        let t = s.tenant("acme").await;
        let other = s.tenant("globex").await;
        let token = t.token("ada", &["orders"]);

        let first = s.subscribe(&t, &token, &["orders"], None).await;
        // Another tenant's stream from the same address counts too: the
        // limit is the client's, not the tenant's.
        let second = s.subscribe(&other, &other.token("bob", &["orders"]), &["orders"], None).await;
        let refused = s.open_stream(&t, &token, &["orders"], None).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["retry-after"], "5");
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(problem["type"], "urn:herald:problem:too-many-connections");
        assert!(problem["detail"].as_str().unwrap().contains("127.0.0.1"), "{problem}");

        // A long-poll that would wait counts; one that answers at once does not.
        let poll = |wait: u64| {
            s.client.get(s.url(&format!("/v1/tenants/{}/notifications?channel=orders&after=0&wait={wait}", t.id))).bearer_auth(&token)
        };
        assert_eq!(poll(5).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(poll(0).send().await.unwrap().status(), StatusCode::OK);
        // Publishing and admin calls are not connections.
        s.publish(&t, "orders", json!({"type": "x"})).await;

        // A closed stream gives its place back.
        drop(second);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let res = s.open_stream(&t, &token, &["orders"], None).await;
            if res.status() == StatusCode::OK {
                break;
            }
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(tokio::time::Instant::now() < deadline, "the closed stream's place was never given back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(first);
    }
}

/// Asserts a problem+json answer of `status` and `code`; returns its detail.
async fn problem(res: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(res.status().as_u16(), status, "{code}");
    assert_eq!(res.headers()["content-type"], "application/problem+json", "{code}");
    let request_id = res.headers().get("x-request-id").expect("answered through the middleware").to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["request_id"], request_id.as_str(), "{code}: the body names its request: {body}");
    assert_eq!(body["type"], format!("urn:herald:problem:{code}"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    body["detail"].as_str().unwrap().to_owned()
}

/// A request with `n` headers of `size` bytes each (besides reqwest's own).
fn with_headers(s: &Server, n: usize, size: usize) -> reqwest::RequestBuilder {
    (0..n).fold(s.client.get(s.url("/healthz")), |req, i| req.header(format!("x-h{i}"), "v".repeat(size)))
}

e2e! {
    async fn request_lines_and_headers_past_their_limits_get_414_and_431_problems(b) {
        use herald_server::request_limits::{MAX_HEADER_BYTES, MAX_HEADERS, MAX_HEADERS_BYTES, MAX_URI_BYTES};
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let op = s.operator_key.clone();

        // The longest stream request a client can need fits: 64 patterns of
        // 128 bytes, percent-encoded (`@` takes 3 bytes), and a token of
        // nearly 8 KiB in the query string.
        let token = t.token_with("ada", &[">"], json!({"pad": "x".repeat(5800)}));
        assert!((7 * 1024..herald_core::limits::MAX_TOKEN).contains(&token.len()), "{}", token.len());
        let patterns: Vec<String> = (0..64).map(|i| format!("{i:02}{}", "@".repeat(126))).collect();
        let mut query: Vec<(&str, &str)> = patterns.iter().map(|p| ("channel", p.as_str())).collect();
        query.push(("access_token", &token));
        let req = s.client.get(s.url(&format!("/v1/tenants/{}/stream", t.id))).query(&query).build().unwrap();
        let target = req.url().path().len() + 1 + req.url().query().unwrap().len();
        assert!((32 * 1024..MAX_URI_BYTES).contains(&target), "{target}");
        assert_eq!(s.client.execute(req).await.unwrap().status(), StatusCode::OK);

        // One byte past the request line's limit.
        let path = format!("/v1/tenants/{}/channels?x=", t.id);
        let long = s.url(&format!("{path}{}", "a".repeat(MAX_URI_BYTES + 1 - path.len())));
        let res = s.client.get(long).bearer_auth(&op).send().await.unwrap();
        let detail = problem(res, 414, "uri-too-long").await;
        assert!(detail.contains(&format!("at most {MAX_URI_BYTES}")), "{detail}");
        let res = s.client.get(s.url(&format!("/healthz?x={}", "a".repeat(MAX_URI_BYTES - "/healthz?x=".len())))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "exactly at the limit");

        // Headers: how many (reqwest adds `accept` and `host`), one's size, all of them.
        assert_eq!(with_headers(&s, MAX_HEADERS - 2, 10).send().await.unwrap().status(), StatusCode::OK);
        let detail = problem(with_headers(&s, MAX_HEADERS - 1, 10).send().await.unwrap(), 431, "headers-too-large").await;
        assert!(detail.contains(&format!("{} headers", MAX_HEADERS + 1)), "{detail}");
        // `x-h0` and its value.
        assert_eq!(with_headers(&s, 1, MAX_HEADER_BYTES - 4).send().await.unwrap().status(), StatusCode::OK);
        let detail = problem(with_headers(&s, 1, MAX_HEADER_BYTES - 3).send().await.unwrap(), 431, "headers-too-large").await;
        assert!(detail.contains("`x-h0`"), "{detail}");
        let n = MAX_HEADERS_BYTES / (MAX_HEADER_BYTES - 4) + 1;
        let detail = problem(with_headers(&s, n, MAX_HEADER_BYTES - 4).send().await.unwrap(), 431, "headers-too-large").await;
        assert!(detail.contains("in all"), "{detail}");

        // Counted in the request metrics like any other answer.
        let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let count = |status: &str| {
            metrics
                .lines()
                .filter(|l| l.starts_with("herald_http_request_duration_seconds_count{") && l.contains(&format!("status=\"{status}\"")))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
                .sum::<f64>()
        };
        assert_eq!((count("414"), count("431")), (1.0, 3.0), "{metrics}");

        // Past actix-http's own limit of 96 headers the HTTP parser answers
        // before Herald: a bare 431, as docs/limits.md says.
        // Its own client: actix closes that connection, which must not go
        // back to the shared pool for the next request to find reset.
        let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let res = (0..97).fold(fresh.get(s.url("/healthz")), |req, i| req.header(format!("x-h{i}"), "v")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert!(!res.headers().contains_key("x-request-id"));
        // And the server is fine.
        assert_eq!(s.publish(&t, "orders", json!({"type": "x"})).await, 1);
    }
}

e2e! {
    async fn bodies_data_batches_and_components_past_their_limits_get_413_problems(b) {
        let s = Server::start_with(b, |c| {
            c.limits.max_body_bytes = 2048;
            c.limits.max_data_bytes = 512;
            c.limits.max_batch = 5;
            c.plugins.max_component_bytes = 4096;
        })
        .await;
        let t = s.tenant("acme").await;
        let publish = s.url(&format!("/v1/tenants/{}/channels/orders/notifications", t.id));
        let body = |data: usize| json!({"type": "x", "data": "y".repeat(data)}).to_string();

        // A body over `limits.max_body_bytes`, announced or streamed (chunked, no length).
        let post = |body: reqwest::Body| {
            s.client.post(&publish).bearer_auth(&t.publish_key).header("content-type", "application/json").body(body)
        };
        let detail = problem(post(body(3000).into()).send().await.unwrap(), 413, "payload-too-large").await;
        assert!(detail.contains("2048"), "{detail}");
        let chunks: Vec<Result<String, std::io::Error>> = (0..6).map(|_| Ok(" ".repeat(500))).collect();
        let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let detail = problem(post(streamed).send().await.unwrap(), 413, "payload-too-large").await;
        assert!(detail.contains("2048"), "{detail}");
        // Read whole by the Idempotency-Key middleware: the same answer.
        let res = s
            .client
            .post(s.url("/v1/tenants"))
            .bearer_auth(&s.operator_key)
            .header("Idempotency-Key", "create-1")
            .header("content-type", "application/json")
            .body(json!({"name": "x".repeat(5000)}).to_string())
            .send()
            .await
            .unwrap();
        problem(res, 413, "payload-too-large").await;

        // `data` over `limits.max_data_bytes`, in a body the server takes.
        let detail = problem(post(body(600).into()).send().await.unwrap(), 413, "payload-too-large").await;
        assert!(detail.contains("512"), "{detail}");
        assert_eq!(post(body(400).into()).send().await.unwrap().status(), StatusCode::CREATED);

        // A batch over `limits.max_batch`.
        let batch = |n: usize| {
            let items: Vec<_> = (0..n).map(|_| json!({"channel": "orders", "type": "x"})).collect();
            let url = s.url(&format!("/v1/tenants/{}/notifications:batch", t.id));
            s.client.post(url).bearer_auth(&t.publish_key).json(&json!({"notifications": items}))
        };
        let detail = problem(batch(6).send().await.unwrap(), 413, "payload-too-large").await;
        assert!(detail.contains('5'), "{detail}");
        assert_eq!(batch(5).send().await.unwrap().status(), StatusCode::CREATED);

        // A plugin component over `plugins.max_component_bytes`.
        let (status, p) = s.upload_plugin(&t, "big", "1", vec![0; 4097]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
        assert_eq!(p["type"], "urn:herald:problem:payload-too-large");

        // Nothing over a limit was stored: one publish and one batch of five.
        assert_eq!(s.publish(&t, "orders", json!({"type": "x"})).await, 7);
    }
}

e2e! {
    async fn channels_recipients_tokens_polls_and_keys_past_their_limits_are_refused(b) {
        use herald_core::limits::{MAX_PATTERNS, MAX_RECIPIENTS, MAX_TOKEN};
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let stream = |token: &str, n: usize| {
            let query: Vec<(String, String)> = (0..n).map(|i| ("channel".to_owned(), format!("c{i}"))).collect();
            s.client.get(s.url(&format!("/v1/tenants/{}/stream", t.id))).query(&query).bearer_auth(token.to_owned())
        };

        // Channels per stream.
        let all = t.token("ada", &[">"]);
        let detail = problem(stream(&all, MAX_PATTERNS + 1).send().await.unwrap(), 422, "validation").await;
        assert!(detail.contains(&format!("at most {MAX_PATTERNS} channels")), "{detail}");
        assert_eq!(stream(&all, MAX_PATTERNS).send().await.unwrap().status(), StatusCode::OK);

        // Patterns per token, and the token's size.
        let patterns: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("c{i}")).collect();
        let many = t.token("ada", &patterns.iter().map(String::as_str).collect::<Vec<_>>());
        problem(stream(&many, 1).send().await.unwrap(), 401, "invalid-token").await;
        let big = t.token_with("ada", &[">"], json!({"pad": "x".repeat(MAX_TOKEN)}));
        problem(stream(&big, 1).send().await.unwrap(), 401, "invalid-token").await;
        let mint = json!({"sub": "ada", "subscribe": patterns, "ttl_seconds": 60});
        let (status, body) = s.post(&format!("/v1/tenants/{}/tokens", t.id), &t.admin_key, mint).await;
        assert_eq!((status, body["type"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("urn:herald:problem:validation")), "{body}");

        // Recipients per notification.
        let recipients = |n: usize| (0..n).map(|i| format!("u{i}")).collect::<Vec<_>>();
        let publish = s.url(&format!("/v1/tenants/{}/channels/orders/notifications", t.id));
        let to = |n: usize| s.client.post(&publish).bearer_auth(&t.publish_key).json(&json!({"type": "x", "recipients": recipients(n)}));
        let detail = problem(to(MAX_RECIPIENTS + 1).send().await.unwrap(), 422, "validation").await;
        assert!(detail.contains(&format!("at most {MAX_RECIPIENTS} recipients")), "{detail}");
        assert_eq!(to(MAX_RECIPIENTS).send().await.unwrap().status(), StatusCode::CREATED);

        // A poll's page (`poll.max_limit`) and wait (`poll.max_wait_seconds`).
        let poll = |query: &str| {
            s.client.get(s.url(&format!("/v1/tenants/{}/notifications?channel=orders&{query}", t.id))).bearer_auth(&all)
        };
        assert!(problem(poll("limit=501").send().await.unwrap(), 422, "validation").await.contains("1 to 500"));
        assert!(problem(poll("wait=31").send().await.unwrap(), 422, "validation").await.contains("at most 30 seconds"));
        assert_eq!(poll("limit=500").send().await.unwrap().status(), StatusCode::OK);

        // An `Idempotency-Key` over 255 characters.
        let create = |key: String| {
            s.client.post(s.url("/v1/tenants")).bearer_auth(&s.operator_key).header("Idempotency-Key", key).json(&json!({"name": "globex"}))
        };
        let detail = problem(create("k".repeat(256)).send().await.unwrap(), 400, "bad-request").await;
        assert!(detail.contains("1 to 255"), "{detail}");
        assert_eq!(create("k".repeat(255)).send().await.unwrap().status(), StatusCode::CREATED);
    }
}
