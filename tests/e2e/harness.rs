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
    /// Declared before the database: the server stops (and lets go of its
    /// connections) before its database is dropped.
    _running: Option<InProcess>,
    _db: Option<TestDb>,
}

/// A Herald running in this process on its own runtime thread. Dropping it
/// stops it: the shutdown token is cancelled and the thread joined, so a
/// finished test serves nothing and holds no database connection.
pub struct InProcess {
    shutdown: herald::CancellationToken,
    /// In a mutex: a `Server` is shared between a test's tasks.
    done: std::sync::Mutex<std::sync::mpsc::Receiver<Result<(), String>>>,
}

/// Longest a test waits for its server to stop before going on without it.
const STOP_WAIT: Duration = Duration::from_secs(30);

impl InProcess {
    /// Runs `herald::run` with `config` on `listener` on a runtime thread.
    pub fn start(config: Config, listener: TcpListener) -> InProcess {
        let shutdown = herald::CancellationToken::new();
        let token = shutdown.clone();
        let (tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let result = rt.block_on(herald::run(config, listener, token)).map_err(|e| format!("{e:#}"));
            // The runtime's remaining tasks (connections being closed) go
            // with it, before the test learns that the server stopped.
            drop(rt);
            let _ = tx.send(result);
        });
        InProcess { shutdown, done: std::sync::Mutex::new(done) }
    }

    /// Stops the server and waits until every task has stopped; panics
    /// if it failed (unless the thread is already panicking).
    pub fn stop(&mut self) {
        self.shutdown.cancel();
        let done = self.done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match done.recv_timeout(STOP_WAIT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) if !std::thread::panicking() => panic!("server failed: {e}"),
            Ok(Err(_)) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) if !std::thread::panicking() => panic!("the server's thread panicked"),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !std::thread::panicking() => {
                panic!("the server did not stop within {STOP_WAIT:?} of its shutdown")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

pub const OPERATOR_KEY: &str = "hop_test-operator-key-0123456789";

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("HERALD_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database of one test: a SQLite file in a temporary directory, or a
/// PostgreSQL database created for the test and dropped after it.
pub struct TestDb {
    pub url: String,
    _dir: tempfile::TempDir,
    pub pg_name: Option<String>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => TestDb { url: format!("sqlite://{}", dir.path().join("herald.db").display()), _dir: dir, pg_name: None },
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("herald_test_{}", uuid_like());
                let conn = sea_orm::Database::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL tests need a server at {admin} (set HERALD_TEST_POSTGRES to another URL): {e}"));
                use sea_orm::ConnectionTrait;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
                conn.close().await.unwrap();
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
                TestDb { url: format!("{base}/{name}"), _dir: dir, pg_name: Some(name) }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop runs outside async context guarantees: use a private runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sea_orm::ConnectionTrait;
                if let Ok(conn) = sea_orm::Database::connect(postgres_admin_url()).await {
                    let _ = conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}_{}_{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed))
}

pub fn test_config(database_url: &str) -> Config {
    Config {
        database_url: database_url.to_owned().into(),
        operator_key: Some(OPERATOR_KEY.into()),
        workers: 2,
        shutdown_timeout_seconds: 1,
        drain_window_ms: 500,
        // Deadlines are wall-clock time, and tests run many servers at once
        // on two cores: a thread can wait longer than 5 ms for a core. The
        // hostile tests still see loops cut off; the host's own tests cover
        // the default deadlines.
        plugins: herald::config::PluginsConfig { max_instances: 16, deadline_ms: 50, warmup_ms: 300, ..Default::default() },
        ..Config::default()
    }
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server in this process, on its own runtime thread, after
    /// `tweak` has adjusted the configuration.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Server {
        let db = TestDb::create(backend).await;
        let mut config = test_config(&db.url);
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let running = InProcess::start(config, listener);
        let server =
            Server { base, operator_key: OPERATOR_KEY.into(), client: reqwest::Client::new(), _running: Some(running), _db: Some(db) };
        server.wait_healthy().await;
        server
    }

    /// Another node in this process, on the database of this server,
    /// after `tweak` has adjusted its configuration; stopped when dropped.
    pub async fn second_node(&self, tweak: impl FnOnce(&mut Config)) -> Server {
        let mut config = test_config(&self.database_url().expect("a server this test started"));
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let running = InProcess::start(config, listener);
        let server = Server { base, operator_key: OPERATOR_KEY.into(), client: reqwest::Client::new(), _running: Some(running), _db: None };
        server.wait_healthy().await;
        server
    }

    /// A server started elsewhere (e.g. as a child process).
    pub async fn attach(base: String) -> Server {
        Self::attach_with(base, reqwest::Client::new()).await
    }

    /// A server started elsewhere, reached with `client` (one that trusts
    /// the test's certificate authority, for a server with TLS).
    pub async fn attach_with(base: String, client: reqwest::Client) -> Server {
        let server = Server { base, operator_key: OPERATOR_KEY.into(), client, _running: None, _db: None };
        server.wait_healthy().await;
        server
    }

    /// Starts a server in this process with TLS on, reached with `client`.
    pub async fn start_tls(backend: Backend, tweak: impl FnOnce(&mut Config), client: reqwest::Client) -> Server {
        let db = TestDb::create(backend).await;
        let mut config = test_config(&db.url);
        tweak(&mut config);
        assert!(config.tls.cert_file.is_some(), "start_tls without tls.cert_file");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let running = InProcess::start(config, listener);
        let server = Server { base, operator_key: OPERATOR_KEY.into(), client, _running: Some(running), _db: Some(db) };
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

    /// The database of a server this test started (not of an attached one).
    pub fn database_url(&self) -> Option<String> {
        self._db.as_ref().map(|d| d.url.clone())
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

    /// A token with the tenant's own claims besides Herald's.
    pub fn token_with(&self, sub: &str, subscribe: &[&str], extra: Value) -> String {
        let claims = SubscriberClaims {
            sub: sub.into(),
            exp: now() + 3600,
            herald: HeraldClaims { subscribe: subscribe.iter().map(|s| s.to_string()).collect() },
            extra: extra.as_object().cloned().unwrap_or_default(),
        };
        mint(&self.kid, SigningAlg::HS256, &SigningMaterial::Secret(self.secret.clone()), &claims).unwrap()
    }

    pub fn token_exp(&self, sub: &str, subscribe: &[&str], exp: i64) -> String {
        let claims = SubscriberClaims {
            sub: sub.into(),
            exp,
            herald: HeraldClaims { subscribe: subscribe.iter().map(|s| s.to_string()).collect() },
            extra: Default::default(),
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
                None => panic!(
                    "expected {n} notifications within {wait:?}, got {} before the stream ended or the time ran out: {}",
                    ids(&out).len(),
                    describe(&out)
                ),
            }
        }
        out
    }

    /// Asserts that the next notification is `sentinel`, which the test
    /// published after everything this stream must not receive. A stream
    /// delivers in commit order, so anything unwanted would come first:
    /// unlike waiting a while for silence, this proves it however slow the
    /// machine is.
    pub async fn expect_next_is(&mut self, sentinel: i64) {
        let got = self.take(1, WAIT).await;
        assert_eq!(ids(&got), vec![sentinel], "expected the sentinel {sentinel} next, got {}", describe(&got));
    }

    /// Asserts that the server ends the stream (within `WAIT`), after
    /// nothing but the events in `allowed` (by name).
    pub async fn expect_end(&mut self, allowed: &[&str]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.events.next()).await {
                Err(_) => panic!("expected the stream to end within {WAIT:?}; it is still open"),
                Ok(None) | Ok(Some(Err(_))) => return,
                Ok(Some(Ok(e))) => {
                    assert!(allowed.contains(&e.event.as_str()), "expected the stream to end, got {}", describe(std::slice::from_ref(&e)))
                }
            }
        }
    }
}

/// Events as `type#id` (or just `type` for Herald's own), for messages.
pub fn describe(events: &[Event]) -> String {
    let all: Vec<String> = events.iter().map(|e| if e.id.is_empty() { e.event.clone() } else { format!("{}#{}", e.event, e.id) }).collect();
    format!("[{}]", all.join(", "))
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

/// A `herald serve` child process. Killed (SIGKILL) when dropped.
pub struct Node {
    pub base: String,
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Node {
    /// Starts the real binary on a free port with extra `HERALD_*`
    /// variables; returns once it printed its address.
    pub fn spawn(database_url: &str, env: &[(&str, &str)]) -> Node {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(herald_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", database_url])
            .env_remove("HERALD_CONFIG")
            .env("HERALD_OPERATOR_KEY", OPERATOR_KEY)
            .env("HERALD_WORKERS", "2")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // `http://` or, with TLS, `https://`.
                if let Some(i) = line.find("listening on http") {
                    let url: String = line[i + "listening on ".len()..].split_whitespace().next().unwrap().to_owned();
                    let _ = tx.send(url);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("herald did not start: {:?}", log.lock().unwrap());
            }
        };
        Node { base, child, log }
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the process to exit; returns its status.
    /// Panics, with the log, if it has not exited within `wait`.
    pub async fn terminate(&mut self, wait: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(tokio::time::Instant::now() < deadline, "herald did not exit within {wait:?} of SIGTERM: {:#?}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An example plugin component from `plugins/`, built on first use with
/// `plugins/build.sh` (once per test process) so that `cargo test` alone
/// runs the plugin tests. Fails loudly when the build fails.
pub fn plugin_wasm(name: &str) -> Vec<u8> {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    BUILT.get_or_init(|| {
        let out = std::process::Command::new("bash").arg(root.join("plugins/build.sh")).output().expect("running plugins/build.sh");
        assert!(
            out.status.success(),
            "plugins/build.sh failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let path = root.join("plugins/dist").join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

impl Server {
    /// Uploads a plugin component; returns status and JSON.
    pub async fn upload_plugin(&self, t: &Tenant, name: &str, version: &str, wasm: Vec<u8>) -> (StatusCode, Value) {
        let res = self
            .client
            .post(self.url(&format!("/v1/tenants/{}/plugins?name={name}&version={version}", t.id)))
            .bearer_auth(&t.admin_key)
            .header("content-type", "application/wasm")
            .body(wasm)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

/// A real SMTP server for the email tests: `smtp_server.py` from
/// herald-email's tests (aiosmtpd), on a port the system picks, writing
/// each message it accepts as JSON into its own directory. Killed when
/// dropped. Fails the test, saying how to install it, when python3 or
/// aiosmtpd is missing.
pub struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
    // Held open: the script exits when its stdin closes, even if we are killed.
    _stdin: std::process::ChildStdin,
}

const SMTP_INSTALL_HINT: &str = "the email tests run a real SMTP server: they need python3 and the aiosmtpd package \
     (`scripts/test --setup` installs it in .venv)";

impl SmtpServer {
    /// Starts the server; `args` are the script's options, e.g.
    /// `["--fail-rcpt", "451"]`.
    pub fn start(args: &[&str]) -> SmtpServer {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let python = crate::tools::python_tool("python3");
        let check = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {SMTP_INSTALL_HINT}"));
        assert!(check.status.success(), "python3 cannot import aiosmtpd: {SMTP_INSTALL_HINT}");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../herald-email/tests/smtp_server.py");
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {SMTP_INSTALL_HINT}", script.display()));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Some(port) = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse().ok()) else {
            let _ = child.kill();
            panic!("smtp_server.py did not start (stdout: {line:?}; its stderr is above): {SMTP_INSTALL_HINT}");
        };
        SmtpServer { child, port, dir, _stdin: stdin }
    }

    /// The URL for `email.smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<ReceivedEmail> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    /// Waits until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, wait: Duration) -> Vec<ReceivedEmail> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "expected {n} emails within {wait:?}, got {}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as the SMTP server received it (and Python's email parser
/// read it).
#[derive(Debug, serde::Deserialize)]
pub struct ReceivedEmail {
    pub rcpt_tos: Vec<String>,
    /// The user that authenticated (SMTP AUTH), if any.
    pub auth_login: Option<String>,
    /// The raw message.
    pub data: String,
    pub parsed: ParsedEmail,
}

#[derive(Debug, serde::Deserialize)]
pub struct ParsedEmail {
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

impl ReceivedEmail {
    /// The one header of that name (case-insensitive).
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        let values: Vec<_> = self.parsed.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
        assert_eq!(values.len(), 1, "header {name}: {values:?} in\n{}", self.data);
        values[0]
    }

    pub fn text(&self) -> &str {
        self.parsed.text.as_deref().expect("a text/plain part")
    }

    /// The local part of the `Message-ID`: the outbox id.
    pub fn message_id(&self) -> &str {
        let id = self.header("Message-ID");
        id.trim_start_matches('<').split('@').next().unwrap()
    }

    /// The token of the `List-Unsubscribe` link.
    pub fn unsubscribe_token(&self) -> String {
        let link = self.header("List-Unsubscribe").trim_start_matches('<').trim_end_matches('>');
        link.rsplit_once("/v1/unsubscribe/").expect("a Herald unsubscribe link").1.to_owned()
    }
}

/// Sets the email section of a test server's configuration: this SMTP
/// server, fast polling, and quick retries.
pub fn email_config(c: &mut Config, smtp_url: String) {
    c.email.smtp_url = Some(smtp_url.into());
    c.email.from = Some("Herald <noreply@herald.example>".into());
    c.email.public_url = Some("https://herald.example".into());
    c.email.poll_interval_ms = 100;
    c.email.retry_base_ms = 200;
    c.email.retry_max_ms = 400;
    c.email.max_attempts = 3;
    c.email.timeout_seconds = 10;
}
