//! End to end: herald-email renders, signs and sends real emails to a real
//! SMTP server (aiosmtpd, driven by `tests/smtp_server.py`) on 127.0.0.1,
//! then reads what that server received.
//!
//! Each test starts its own server on a port the system picks, so tests run
//! in parallel without sharing anything. The server needs `python3` with the
//! `aiosmtpd` package; without them these tests fail and say how to install
//! it (`scripts/test --setup` does, in .venv). They never skip.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use herald_core::ids::TenantId;
use herald_core::names::{ChannelName, EventType, TenantName, UserId};
use herald_email::{
    CompiledTemplates, EmailTemplates, Mailer, NotificationView, OutgoingEmail, Recipient, RenderContext, SendError, SmtpSettings,
    UnsubscribeScope, UnsubscribeSigner,
};
use serde::Deserialize;
use serde_json::json;

// ---------------------------------------------------------------------------
// The SMTP server process.

/// A running `smtp_server.py`; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    // Held open: the server exits when it closes, even if we are killed.
    _stdin: ChildStdin,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py")
}

const INSTALL_HINT: &str = "these tests run a real SMTP server: they need python3 and the aiosmtpd package \
     (`scripts/test --setup` installs it in the project's .venv)";

/// The project's virtual environment's Python (made by `scripts/test
/// --setup`), or the one on PATH when there is none.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python3");
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

/// Fails the test, loudly, when python3 or aiosmtpd is missing.
fn require_python_and_aiosmtpd() {
    let out = Command::new(python())
        .args(["-c", "import aiosmtpd"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {INSTALL_HINT}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python3 cannot import aiosmtpd ({}): {INSTALL_HINT}", stderr.trim().lines().last().unwrap_or_default());
}

impl SmtpServer {
    fn start(args: &[&str]) -> SmtpServer {
        require_python_and_aiosmtpd();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut child = Command::new(python())
            .arg(script())
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL_HINT}", script().display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");

        // The script prints `LISTENING <port>` once bound; read it on a
        // thread so a stuck interpreter cannot hang the test.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("smtp_server.py did not report its port within 20 s");
            }
        };
        let Some(port) = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse::<u16>().ok()) else {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            panic!("smtp_server.py did not start (exit: {status}, stdout: {line:?}; its stderr is above): {INSTALL_HINT}");
        };

        let server = SmtpServer { child, port, dir, _stdin: stdin };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp_server.py reported port {port} but does not accept connections");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    fn mailer(&self) -> Mailer {
        mailer(&self.url())
    }

    /// Every message the server accepted, in order.
    fn received(&self) -> Vec<Received> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("the message directory")
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("a message file")).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
            .collect()
    }

    fn only_message(&self) -> Received {
        let mut all = self.received();
        assert_eq!(all.len(), 1, "expected exactly one message, got {}", all.len());
        all.remove(0)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as the server received it.
#[derive(Debug, Deserialize)]
struct Received {
    mail_from: String,
    rcpt_tos: Vec<String>,
    auth_login: Option<String>,
    /// The raw message, as sent over the wire.
    data: String,
    /// Python's reading of it.
    parsed: Parsed,
}

#[derive(Debug, Deserialize)]
struct Parsed {
    headers: Vec<(String, String)>,
    content_type: String,
    text: Option<String>,
    html: Option<String>,
}

impl Received {
    /// The single header of that name (case-insensitive).
    #[track_caller]
    fn header(&self, name: &str) -> &str {
        let values: Vec<_> = self.parsed.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
        assert_eq!(values.len(), 1, "header {name}: {values:?} in\n{}", self.data);
        values[0]
    }

    fn text(&self) -> &str {
        self.parsed.text.as_deref().expect("a text/plain part")
    }

    fn html(&self) -> &str {
        self.parsed.html.as_deref().expect("a text/html part")
    }
}

// ---------------------------------------------------------------------------
// Building blocks.

const FROM: &str = "Herald <noreply@herald.example>";
const KEY: [u8; 32] = [42; 32];

fn mailer(url: &str) -> Mailer {
    mailer_with_timeout(url, Duration::from_secs(10))
}

fn mailer_with_timeout(url: &str, timeout: Duration) -> Mailer {
    let settings = SmtpSettings::parse(url, FROM, timeout).expect("valid settings");
    Mailer::new(&settings).expect("a mailer")
}

fn scope() -> UnsubscribeScope {
    UnsubscribeScope {
        tenant: TenantId::parse("ten_0190f1b2c3d4e5f6a7b8c9d0e1f2a3b4").unwrap(),
        user: UserId::parse("ada").unwrap(),
        channel: Some(ChannelName::parse("orders").unwrap()),
    }
}

fn unsubscribe_url() -> String {
    let token = UnsubscribeSigner::new(&KEY).unwrap().sign(&scope());
    format!("https://herald.example/v1/unsubscribe/{token}")
}

fn context(data: &[serde_json::Value]) -> RenderContext {
    let channel = ChannelName::parse("orders").unwrap();
    RenderContext {
        recipient: Recipient { user: UserId::parse("ada").unwrap(), email: "ada@example.com".into(), locale: Some("en".into()) },
        tenant: TenantName::parse("acme").unwrap(),
        channel: channel.clone(),
        notifications: data
            .iter()
            .enumerate()
            .map(|(i, d)| NotificationView {
                id: 1000 + i as i64,
                channel: channel.clone(),
                event_type: EventType::parse(format!("order.step{i}")).unwrap(),
                data: d.clone(),
                published_at: "2026-11-25T10:00:00Z".parse().unwrap(),
            })
            .collect(),
        unsubscribe_url: Some(unsubscribe_url()),
    }
}

fn email(templates: &CompiledTemplates, data: &[serde_json::Value], message_id: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: "Ada Lovelace <ada@example.com>".into(),
        content: templates.render(&context(data)).expect("renders"),
        message_id: Some(message_id.into()),
        unsubscribe_url: Some(unsubscribe_url()),
    }
}

fn one_email() -> OutgoingEmail {
    email(&CompiledTemplates::default(), &[json!({"title": "Shipped"})], "eml_1")
}

// ---------------------------------------------------------------------------
// Delivered emails.

#[tokio::test]
async fn one_notification_arrives_with_headers_both_parts_and_escaped_html() {
    let server = SmtpServer::start(&[]);
    let data = json!({"title": "Order <b>7</b> shipped", "note": "<script>alert('x')</script> & more"});
    let sent = email(&CompiledTemplates::default(), &[data], "eml_0190abc");
    server.mailer().send(&sent).await.expect("accepted");

    let m = server.only_message();
    assert_eq!(m.mail_from, "noreply@herald.example");
    assert_eq!(m.rcpt_tos, ["ada@example.com"]);
    assert_eq!(m.auth_login, None);
    assert_eq!(m.header("From"), "Herald <noreply@herald.example>");
    assert_eq!(m.header("To"), "Ada Lovelace <ada@example.com>");
    // The subject is text: not escaped.
    assert_eq!(m.header("Subject"), "Order <b>7</b> shipped");
    assert_eq!(m.header("Message-ID"), "<eml_0190abc@herald.example>");
    assert_eq!(m.header("List-Unsubscribe"), format!("<{}>", unsubscribe_url()));
    assert_eq!(m.header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    assert_eq!(m.header("Auto-Submitted"), "auto-generated");
    assert!(!m.header("Date").is_empty());
    assert_eq!(m.parsed.content_type, "multipart/alternative");
    // On the wire, exactly as RFC 8058 spells it.
    assert!(m.data.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), "{}", m.data);

    // The link in the header carries a token this server's key verifies.
    let token = m.header("List-Unsubscribe").trim_matches(['<', '>']).rsplit('/').next().unwrap();
    assert_eq!(UnsubscribeSigner::new(&KEY).unwrap().verify(token).unwrap(), scope());

    let text = m.text();
    assert!(text.starts_with("Hello ada,\n"), "{text}");
    assert!(text.contains("note: <script>alert('x')</script> & more\n"), "{text}");
    assert!(text.contains(&format!("To stop these emails, open {}", unsubscribe_url())), "{text}");

    let html = m.html();
    assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; more"), "{html}");
    assert!(html.contains("Order &lt;b&gt;7&lt;&#x2f;b&gt; shipped"), "{html}");
    assert!(html.contains(">Unsubscribe</a>"), "{html}");
}

#[tokio::test]
async fn a_digest_of_three_notifications_is_one_email() {
    let server = SmtpServer::start(&[]);
    let data = [json!({"item": "first <1>"}), json!({"item": "second"}), json!({"item": "third"})];
    // Sent from a spawned task, as the server will: Mailer is shared, its
    // future is Send.
    let mailer = Arc::new(server.mailer());
    let digest = email(&CompiledTemplates::default(), &data, "digest_1");
    tokio::spawn(async move { mailer.send(&digest).await }).await.expect("the task").expect("accepted");

    let m = server.only_message();
    assert_eq!(m.header("Subject"), "3 new notifications in orders");
    let text = m.text();
    assert!(text.contains("You have 3 new notifications in orders (acme)."), "{text}");
    for (i, item) in ["first <1>", "second", "third"].iter().enumerate() {
        assert!(text.contains(&format!("order.step{i} #{}, 2026-11-25T10:00:00Z\n  item: {item}\n", 1000 + i)), "{text}");
    }
    let html = m.html();
    for needle in ["#1000", "#1001", "#1002", "first &lt;1&gt;", "second", "third", "order.step2"] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
}

#[tokio::test]
async fn custom_text_only_templates_and_the_same_message_id_on_retry() {
    let server = SmtpServer::start(&[]);
    let templates = EmailTemplates {
        subject: "[{{ tenant }}] {{ notification.data.title }}{{ notification.data.missing.field }}".into(),
        text:
            "{{ recipient.user }} ({{ recipient.email }}, {{ recipient.locale }}): {{ notification.type }} {{ notification.data.title }}\n\
               {% for n in notifications %}- {{ n.id }}\n{% endfor %}"
                .into(),
        html: None,
    }
    .compile()
    .expect("valid templates");
    let sent = email(&templates, &[json!({"title": "<Hi>"})], "outbox_77");
    let mailer = server.mailer();
    mailer.send(&sent).await.expect("accepted");
    mailer.send(&sent).await.expect("accepted again");

    let all = server.received();
    assert_eq!(all.len(), 2);
    for m in &all {
        assert_eq!(m.header("Subject"), "[acme] <Hi>");
        assert_eq!(m.header("Message-ID"), "<outbox_77@herald.example>");
        assert_eq!(m.parsed.content_type, "text/plain");
        assert_eq!(m.parsed.html, None);
        assert_eq!(m.text().trim_end(), "ada (ada@example.com, en): order.step0 <Hi>\n- 1000");
    }
}

#[tokio::test]
async fn credentials_are_percent_decoded_and_a_wrong_password_is_permanent() {
    let server = SmtpServer::start(&["--auth", "herald@corp:p@ss:w/rd é"]);
    let port = server.port;

    let good = format!("smtp://herald%40corp:p%40ss%3Aw%2Frd%20%C3%A9@127.0.0.1:{port}?tls=none");
    mailer(&good).send(&one_email()).await.expect("accepted");
    assert_eq!(server.only_message().auth_login.as_deref(), Some("herald@corp"));

    let bad = format!("smtp://herald%40corp:wrong@127.0.0.1:{port}?tls=none");
    let err = mailer(&bad).send(&one_email()).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent { code: Some(535), .. }), "{err:?}");
    assert!(err.message().contains("Authentication credentials invalid"), "{err}");
    assert_eq!(server.received().len(), 1);
}

// ---------------------------------------------------------------------------
// Failures, and how they are classified.

#[tokio::test]
async fn smtp_refusals_are_transient_or_permanent_by_reply_code() {
    #[track_caller]
    fn check(err: &SendError, code: u16, transient: bool) {
        assert_eq!(err.is_transient(), transient, "{err:?}");
        assert_eq!(err.code(), Some(code), "{err:?}");
        // The server's own words are kept.
        assert!(
            err.message()
                .contains(&format!("herald test server: {} failure {code} on request", if transient { "temporary" } else { "permanent" })),
            "{err:?}"
        );
    }
    for (stage, code, transient) in
        [("--fail-rcpt", 451, true), ("--fail-rcpt", 550, false), ("--fail-data", 451, true), ("--fail-data", 550, false)]
    {
        let server = SmtpServer::start(&[stage, &code.to_string()]);
        let err = server.mailer().send(&one_email()).await.expect_err(stage);
        check(&err, code, transient);
        assert!(server.received().is_empty(), "{stage} {code}: nothing is delivered");
    }
}

#[tokio::test]
async fn a_closed_port_is_transient() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = mailer(&format!("smtp://127.0.0.1:{port}?tls=none")).send(&one_email()).await.unwrap_err();
    assert!(matches!(err, SendError::Transient { code: None, .. }), "{err:?}");
    assert!(err.message().to_lowercase().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn a_silent_server_times_out_as_transient() {
    // Accepts connections and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let started = Instant::now();
    let err =
        mailer_with_timeout(&format!("smtp://127.0.0.1:{port}?tls=none"), Duration::from_millis(300)).send(&one_email()).await.unwrap_err();
    assert!(matches!(err, SendError::Transient { code: None, .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// A TCP proxy to `upstream` that, on its first connection only, holds
/// back the server's reply to the end of DATA for `stall`.
fn stalling_proxy(upstream: u16, stall: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (i, client) in listener.incoming().flatten().enumerate() {
            let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (mut client_in, mut server_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut server_in, mut client_out) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0; 4096];
                let mut after_354 = false;
                while let Ok(n @ 1..) = server_in.read(&mut buf) {
                    if after_354 && i == 0 {
                        std::thread::sleep(stall);
                    }
                    after_354 = buf[..n].starts_with(b"354");
                    if client_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = client_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

#[tokio::test]
async fn a_send_cut_short_by_the_timeout_never_leaves_its_connection_for_the_next() {
    let server = SmtpServer::start(&[]);
    // The timeout must also cover every answer of the sends that follow,
    // from a Python server on a machine that may be busy: seconds, not
    // milliseconds. The stall only has to outlast it.
    let proxy = stalling_proxy(server.port, Duration::from_secs(8));
    let mailer = mailer_with_timeout(&format!("smtp://127.0.0.1:{proxy}?tls=none"), Duration::from_secs(3));

    // The server accepts the first email, but its 250 arrives too late.
    let err = mailer.send(&one_email()).await.unwrap_err();
    assert!(matches!(err, SendError::Transient { code: None, .. }), "{err:?}");
    assert!(err.message().contains("within 3s"), "{err}");

    // The next sends get fresh connections, not the one still waiting for
    // that 250 (which would answer their first command).
    mailer.send(&one_email()).await.expect("the retry is accepted");
    mailer.send(&one_email()).await.expect("and so is the next one");

    // The first one was delivered after all: a retry is a duplicate with the
    // same Message-ID, which receivers can drop.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.received().len() < 3 {
        assert!(Instant::now() < deadline, "got {} messages", server.received().len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids: Vec<_> = server.received().iter().map(|m| m.header("Message-ID").to_owned()).collect();
    assert_eq!(ids, ["<eml_1@herald.example>"; 3]);
}

#[tokio::test]
async fn a_bad_recipient_is_permanent_before_any_connection() {
    // Nothing listens there: a permanent error proves no connection was tried.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut bad = one_email();
    bad.to = "ada at example dot com".into();
    let err = mailer(&format!("smtp://127.0.0.1:{port}?tls=none")).send(&bad).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent { code: None, .. }), "{err:?}");
    assert!(err.message().contains("is not a valid email address"), "{err}");
}

#[tokio::test]
async fn tls_is_never_silently_dropped() {
    // aiosmtpd here offers no STARTTLS and speaks no TLS.
    let server = SmtpServer::start(&[]);
    let starttls = mailer(&format!("smtp://127.0.0.1:{}?tls=starttls", server.port));
    let err = starttls.send(&one_email()).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent { code: None, .. }), "{err:?}");
    assert!(err.message().contains("STARTTLS is not supported"), "{err}");

    let implicit = mailer_with_timeout(&format!("smtp://127.0.0.1:{}?tls=implicit", server.port), Duration::from_secs(3));
    let err = implicit.send(&one_email()).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(server.received().is_empty());
}
