//! The AsyncAPI document of the stream (`openapi/asyncapi.yaml`): it matches
//! the code, the official parser (`@asyncapi/parser`, from
//! `tests/clients/node_modules`) accepts it, and a live stream sends only
//! the events it documents, each with the documented fields.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::*;
use crate::tools::{require_node_project, run};

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/asyncapi.yaml")
}

/// The generated document, as JSON values for easy lookups.
fn generated() -> Value {
    yaml_serde::from_str(&herald_server::asyncapi_yaml()).expect("the generated document is YAML")
}

#[test]
fn committed_asyncapi_matches_the_code() {
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == herald_server::asyncapi_yaml(),
        "openapi/asyncapi.yaml is stale; regenerate it with `cargo run -q -p herald -- asyncapi > openapi/asyncapi.yaml`"
    );
    let doc = generated();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["channels"]["stream"]["address"], "/v1/tenants/{tenant}/stream");
}

#[test]
fn the_cli_prints_the_document() {
    let out = std::process::Command::new(herald_bin()).arg("asyncapi").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), herald_server::asyncapi_yaml());
}

#[test]
fn official_parser_accepts_the_committed_document() {
    let clients = require_node_project("tests/clients", &["@asyncapi/parser"]);
    let path = committed_path().canonicalize().expect("openapi/asyncapi.yaml exists");
    let (ok, output) = run(&clients, "node", &["validate_asyncapi.mjs", path.to_str().unwrap()], &[], Duration::from_secs(120));
    assert!(ok, "@asyncapi/parser rejected openapi/asyncapi.yaml:\n{output}");
    // What the parser understood: every message, with its fields.
    let summary: Value = output
        .lines()
        .find_map(|l| serde_json::from_str(l).ok().filter(|v: &Value| v.is_object()))
        .unwrap_or_else(|| panic!("no summary from the validator:\n{output}"));
    let doc = generated();
    let names: Vec<&str> = summary["messages"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["notification", "message", "history-truncated", "token-expired", "plugin-budget-exhausted", "retry", "keep-alive"]);
    for m in summary["messages"].as_array().unwrap() {
        let documented = &doc["components"]["messages"][m["id"].as_str().unwrap()];
        let mut payload: Vec<&str> = m["payload"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        payload.sort();
        let mut expected: Vec<&str> = match documented["payload"]["$ref"].as_str() {
            Some(r) => resolve(&doc, r)["properties"].as_object().unwrap().keys().map(String::as_str).collect(),
            None => Vec::new(),
        };
        expected.sort();
        assert_eq!(payload, expected, "payload fields of {}", m["id"]);
    }
    let op = &summary["operations"][0];
    assert_eq!(op["action"], "receive");
    assert_eq!(op["security"], json!(["http bearer", "httpApiKey query access_token", "httpApiKey cookie herald_token"]));
    assert_eq!(op["query"], json!(["channel", "last_event_id", "access_token", "events"]));
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference.strip_prefix('#').expect("local references");
    doc.pointer(pointer).unwrap_or_else(|| panic!("dangling reference {reference}"))
}

/// One SSE frame as sent: its fields in order; a comment is named `""`.
fn fields(frame: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in frame.lines() {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match out.last_mut() {
            Some((last, joined)) if name == "data" && last == "data" => {
                joined.push('\n');
                joined.push_str(&value);
            }
            _ => out.push((name.to_owned(), value)),
        }
    }
    out
}

/// Reads a stream's raw frames until it ends or `wait` passes.
async fn frames(res: reqwest::Response, wait: Duration) -> Vec<String> {
    let mut body = res.bytes_stream();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, body.next()).await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    buf.split("\n\n").filter(|f| !f.is_empty()).map(str::to_owned).collect()
}

/// Which documented message a frame is, by the rules the document states.
fn classify(f: &[(String, String)]) -> &'static str {
    let has = |n: &str| f.iter().any(|(k, _)| k == n);
    let event = f.iter().find(|(k, _)| k == "event").map(|(_, v)| v.as_str());
    match event {
        _ if f.iter().all(|(k, _)| k.is_empty()) => "keepAlive",
        _ if has("retry") => "retry",
        Some("history-truncated") => "historyTruncated",
        Some("token-expired") => "tokenExpired",
        Some("plugin-budget-exhausted") => "pluginBudgetExhausted",
        Some(_) if has("id") => "notification",
        None if has("id") => "notificationAsMessage",
        _ => panic!("a frame no message of the document describes: {f:?}"),
    }
}

/// Checks a value against the subset of JSON Schema the document uses.
fn check_schema(doc: &Value, schema: &Value, v: &Value, at: &str) {
    if let Some(r) = schema["$ref"].as_str() {
        return check_schema(doc, resolve(doc, r), v, at);
    }
    let type_ok = match schema["type"].as_str() {
        None => true,
        Some("object") => v.is_object(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64(),
        Some("array") => v.is_array(),
        Some(t) => panic!("{at}: schema type {t} not handled by this check"),
    };
    assert!(type_ok, "{at}: {v} is not of type {}", schema["type"]);
    if let Some(c) = schema.get("const") {
        assert_eq!(v, c, "{at}");
    }
    if let Some(min) = schema["minimum"].as_i64() {
        assert!(v.as_i64().unwrap() >= min, "{at}: {v} < {min}");
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        assert!(v.as_str().unwrap().len() as u64 <= max, "{at}: longer than {max}");
    }
    if let Some(forbidden) = schema["not"]["enum"].as_array() {
        assert!(!forbidden.contains(v), "{at}: {v} is reserved");
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        assert_eq!(pattern, "^[1-9][0-9]*$", "{at}: a pattern this check does not know");
        let s = v.as_str().unwrap();
        assert!(!s.starts_with('0') && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()), "{at}: {s} is not an id");
    }
    if schema["format"] == "date-time" {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap_or_else(|e| panic!("{at}: {v}: {e}"));
    }
    if let Some(props) = schema["properties"].as_object() {
        let obj = v.as_object().unwrap();
        for r in schema["required"].as_array().into_iter().flatten() {
            assert!(obj.contains_key(r.as_str().unwrap()), "{at}: required {r} missing from {v}");
        }
        for (k, field) in obj {
            let sub = props.get(k).unwrap_or_else(|| panic!("{at}: undocumented field {k} in {v}"));
            check_schema(doc, sub, field, &format!("{at}.{k}"));
        }
    }
}

/// Checks one frame against its documented message: SSE fields as
/// headers, data as payload. Returns the message id and the payload.
fn check_frame(doc: &Value, frame: &str) -> (&'static str, Value) {
    let f = fields(frame);
    let id = classify(&f);
    let message = &doc["components"]["messages"][id];
    let mut headers = serde_json::Map::new();
    for (k, v) in f.iter().filter(|(k, _)| k != "data" && !k.is_empty()) {
        let v = if k == "retry" { json!(v.parse::<i64>().unwrap()) } else { json!(v) };
        headers.insert(k.clone(), v);
    }
    if message.get("headers").is_some() {
        check_schema(doc, &message["headers"], &Value::Object(headers), &format!("{id} headers"));
    } else {
        assert!(headers.is_empty(), "{id} has no documented fields: {frame:?}");
    }
    let data = f.iter().find(|(k, _)| k == "data").map(|(_, v)| serde_json::from_str::<Value>(v).unwrap());
    match (&message.get("payload"), data) {
        (Some(schema), Some(data)) => {
            check_schema(doc, schema, &data, &format!("{id} payload"));
            (id, data)
        }
        (None, None) => (id, Value::Null),
        (schema, data) => panic!("{id}: documented payload {schema:?}, sent {data:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_sends_only_documented_events() {
    let doc = generated();
    let s = Server::start_with(Backend::Sqlite, |c| {
        c.retention.interval_seconds = 1;
        c.stream.heartbeat_seconds = 1;
    })
    .await;
    let t = s.tenant("asyncapi").await;
    let (st, body) =
        s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "capped", "retention": {"max_count": 2}})).await;
    assert_eq!(st, 201, "{body}");
    for i in 0..4 {
        s.publish(&t, "capped", json!({"type": "order.shipped", "data": {"order": i}})).await;
    }
    s.publish(&t, "capped", json!({"type": "note"})).await;
    // Wait for retention to prune, so that a resume from 0 is truncated.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut sub = s.subscribe(&t, &t.token("1", &["capped"]), &["capped"], Some(0)).await;
        if sub.next(Duration::from_secs(2)).await.is_some_and(|e| e.event == "history-truncated") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "retention did not prune");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Two streams whose tokens expire in a few seconds: one by type, one
    // with events=message; one more notification goes out live.
    // Long enough for the live publish to go out before `exp` on a busy
    // machine, short enough to see `token-expired`.
    let token = t.token_exp("1", &["capped"], now() + 8);
    let url = s.url(&format!("/v1/tenants/{}/stream", t.id));
    let typed = s.client.get(&url).query(&[("channel", "capped")]).header("Last-Event-ID", "0").bearer_auth(&token).send().await.unwrap();
    let plain = s
        .client
        .get(&url)
        .query(&[("channel", "capped"), ("events", "message"), ("access_token", token.as_str())])
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    assert_eq!((typed.status().as_u16(), plain.status().as_u16()), (200, 200));
    assert_eq!(typed.headers()["content-type"], "text/event-stream");
    let live = s.publish(&t, "capped", json!({"type": "order.paid", "data": [1, "two", null]})).await;
    let (typed, plain) = tokio::join!(frames(typed, Duration::from_secs(15)), frames(plain, Duration::from_secs(15)));

    for (frames, notification_kind) in [(typed, "notification"), (plain, "notificationAsMessage")] {
        let checked: Vec<(&str, Value)> = frames.iter().map(|f| check_frame(&doc, f)).collect();
        let kinds: Vec<&str> = checked.iter().map(|(k, _)| *k).collect();
        // The order the document states: retry, history-truncated, the
        // notifications (history, then live), keep-alives, token-expired last.
        assert_eq!(kinds[..2], ["retry", "historyTruncated"], "{frames:?}");
        assert_eq!(kinds.last(), Some(&"tokenExpired"), "{frames:?}");
        assert!(kinds.contains(&"keepAlive"), "no keep-alive in {frames:?}");
        let notes: Vec<&Value> = checked.iter().filter(|(k, _)| *k == notification_kind).map(|(_, v)| v).collect();
        assert_eq!(notes.len(), 3, "2 retained and 1 live notification: {frames:?}");
        assert_eq!(notes.last().unwrap()["id"], live);
        assert_eq!(notes.last().unwrap()["data"], json!([1, "two", null]));
        assert!(
            checked
                .iter()
                .all(|(k, _)| matches!(*k, "retry" | "historyTruncated" | "tokenExpired" | "keepAlive") || *k == notification_kind)
        );
        // A notification's SSE id and event name agree with its data.
        for f in frames.iter().map(|f| fields(f)) {
            if let Some((_, id)) = f.iter().find(|(k, _)| k == "id") {
                let data: Value = serde_json::from_str(&f.iter().find(|(k, _)| k == "data").unwrap().1).unwrap();
                assert_eq!(id.parse::<i64>().unwrap(), data["id"]);
                if let Some((_, event)) = f.iter().find(|(k, _)| k == "event") {
                    assert_eq!(event, data["type"].as_str().unwrap());
                }
            }
        }
    }
}
