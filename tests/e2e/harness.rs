//! Starting servers and talking to them.

use std::net::TcpListener;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use herald::Config;
use herald_core::claims::{HeraldClaims, SubscriberClaims};
use herald_core::keys::SigningAlg;
use herald_core::token::{SigningMaterial, mint};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A running server with its own database.
pub struct Server {
    pub base: String,
    pub operator_key: String,
    pub client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

pub const OPERATOR_KEY: &str = "hop_test-operator-key-0123456789";

pub fn test_config(dir: &std::path::Path) -> Config {
    Config {
        database_url: format!("sqlite://{}", dir.join("herald.db").display()),
        operator_key: Some(OPERATOR_KEY.into()),
        workers: 2,
        shutdown_timeout_seconds: 1,
        ..Config::default()
    }
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    /// Starts a server in this process, on its own runtime thread, after
    /// `tweak` has adjusted the configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            if let Err(e) = rt.block_on(herald::run(config, listener)) {
                panic!("server failed: {e:#}");
            }
        });
        let server = Server { base, operator_key: OPERATOR_KEY.into(), client: reqwest::Client::new(), _dir: Some(dir) };
        server.wait_healthy().await;
        server
    }

    /// A server started elsewhere (e.g. as a child process).
    pub async fn attach(base: String) -> Server {
        let server = Server { base, operator_key: OPERATOR_KEY.into(), client: reqwest::Client::new(), _dir: None };
        server.wait_healthy().await;
        server
    }

    pub async fn wait_healthy(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.client.get(format!("{}/healthz", self.base)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server at {} did not become healthy", self.base);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with a bearer key and a JSON body; returns status and JSON.
    pub async fn call(&self, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, json)
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, key, Some(body)).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, key, None).await
    }

    /// Creates a tenant with an admin key, a publish key and an HS256 signing key.
    pub async fn tenant(&self, name: &str) -> Tenant {
        let (s, t) = self.post("/v1/tenants", &self.operator_key, json!({"name": name})).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        let id = t["id"].as_str().unwrap().to_owned();
        let (s, admin) =
            self.post(&format!("/v1/tenants/{id}/keys"), &self.operator_key, json!({"name": "admin", "scopes": ["admin"]})).await;
        assert_eq!(s, StatusCode::CREATED, "{admin}");
        let admin_key = admin["secret"].as_str().unwrap().to_owned();
        let (s, publisher) =
            self.post(&format!("/v1/tenants/{id}/keys"), &admin_key, json!({"name": "backend", "scopes": ["publish"]})).await;
        assert_eq!(s, StatusCode::CREATED, "{publisher}");
        let (s, sk) = self.post(&format!("/v1/tenants/{id}/signing-keys"), &admin_key, json!({"alg": "HS256"})).await;
        assert_eq!(s, StatusCode::CREATED, "{sk}");
        Tenant {
            id,
            admin_key,
            publish_key: publisher["secret"].as_str().unwrap().to_owned(),
            kid: sk["kid"].as_str().unwrap().to_owned(),
            secret: sk["secret"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn publish(&self, t: &Tenant, channel: &str, body: Value) -> i64 {
        let (s, r) = self.post(&format!("/v1/tenants/{}/channels/{channel}/notifications", t.id), &t.publish_key, body).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        r["id"].as_i64().unwrap()
    }

    /// Opens a stream; panics unless it answers 200.
    pub async fn subscribe(&self, t: &Tenant, token: &str, channels: &[&str], last_event_id: Option<i64>) -> Sse {
        let res = self.open_stream(t, token, channels, last_event_id).await;
        assert_eq!(res.status(), StatusCode::OK, "stream refused: {}", res.text().await.unwrap_or_default());
        Sse::new(res)
    }

    pub async fn open_stream(&self, t: &Tenant, token: &str, channels: &[&str], last_event_id: Option<i64>) -> reqwest::Response {
        let query: Vec<(&str, &str)> = channels.iter().map(|c| ("channel", *c)).collect();
        let mut req = self.client.get(self.url(&format!("/v1/tenants/{}/stream", t.id))).query(&query).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        req.send().await.unwrap()
    }
}

/// A tenant and its credentials.
#[derive(Clone)]
pub struct Tenant {
    pub id: String,
    pub admin_key: String,
    pub publish_key: String,
    pub kid: String,
    pub secret: String,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Tenant {
    /// An HS256 subscriber token valid for an hour.
    pub fn token(&self, sub: &str, subscribe: &[&str]) -> String {
        self.token_exp(sub, subscribe, now() + 3600)
    }

    pub fn token_exp(&self, sub: &str, subscribe: &[&str], exp: i64) -> String {
        let claims = SubscriberClaims {
            sub: sub.into(),
            exp,
            herald: HeraldClaims { subscribe: subscribe.iter().map(|s| s.to_string()).collect() },
        };
        mint(&self.kid, SigningAlg::HS256, &SigningMaterial::Secret(self.secret.clone()), &claims).unwrap()
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<Event, String>> + Send>>;

/// A stream read through a real SSE parser.
pub struct Sse {
    events: EventStream,
}

impl Sse {
    pub fn new(res: reqwest::Response) -> Self {
        let events = res.bytes_stream().eventsource().map(|r| r.map_err(|e| e.to_string()));
        Self { events: Box::pin(events) }
    }

    /// The next event, or `None` when the stream ends or `wait` passes.
    pub async fn next(&mut self, wait: Duration) -> Option<Event> {
        match tokio::time::timeout(wait, self.events.next()).await {
            Ok(Some(Ok(e))) => Some(e),
            _ => None,
        }
    }

    /// Reads until `n` notification events arrived (Herald's own events are
    /// returned too, in order). Panics if they do not come within `wait`.
    pub async fn take(&mut self, n: usize, wait: Duration) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        while out.iter().filter(|e: &&Event| !e.id.is_empty()).count() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(e) => out.push(e),
                None => panic!("expected {n} notifications, got {}: {:?}", out.len(), ids(&out)),
            }
        }
        out
    }

    /// Asserts nothing more arrives within `wait`.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        if let Some(e) = self.next(wait).await {
            panic!("unexpected event: {e:?}");
        }
    }
}

/// Notification ids of the events that carry one.
pub fn ids(events: &[Event]) -> Vec<i64> {
    events.iter().filter(|e| !e.id.is_empty()).map(|e| e.id.parse().unwrap()).collect()
}

pub fn data(e: &Event) -> Value {
    serde_json::from_str(&e.data).unwrap()
}

pub const WAIT: Duration = Duration::from_secs(10);

/// The `herald` binary built with these tests.
pub fn herald_bin() -> &'static str {
    env!("CARGO_BIN_EXE_herald")
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/fixtures").join(name)).unwrap()
}
