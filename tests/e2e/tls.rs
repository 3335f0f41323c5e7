//! TLS on the listener (`tls.cert_file`, `tls.key_file`): HTTP/2 by ALPN
//! with HTTP/1.1 still served, a stream over HTTP/2, reloading the
//! certificate on SIGHUP and on a change of its files (a bad file keeps
//! the old one), start-up errors that name the file, and Chromium opening
//! twelve streams to one origin over HTTP/2 where HTTP/1.1 stalls the
//! seventh. Certificates are made here, with rcgen, under certificate
//! authorities made here too.

use std::path::PathBuf;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use reqwest::{StatusCode, Version};
use serde_json::json;

use crate::harness::*;
use crate::tools::{repo_path, require_chromium, require_node_project, run};

/// A certificate authority made for one test.
struct Ca {
    name: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// The key a leaf certificate is made for.
#[derive(Clone, Copy, Debug)]
enum KeyKind {
    /// P-256, written as PKCS#8.
    Ecdsa,
    /// RSA 2048, written as PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    Rsa,
}

/// A server certificate and its key, as PEM, with the certificate's DER to
/// recognise it on the wire.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { name: name.to_owned(), issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for 127.0.0.1 and localhost, named `subject`.
    fn leaf(&self, subject: &str, kind: KeyKind) -> Leaf {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, subject);
        let (key, key_pem) = match kind {
            KeyKind::Ecdsa => {
                let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
                let pem = key.serialize_pem();
                (key, pem)
            }
            KeyKind::Rsa => {
                // ring signs with RSA keys but cannot make them.
                use rsa::pkcs1::EncodeRsaPrivateKey;
                use rsa::pkcs8::EncodePrivateKey;
                let rsa = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
                let pkcs8 = rsa.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
                let key = KeyPair::from_pkcs8_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).unwrap();
                (key, rsa.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap().to_string())
            }
        };
        let cert = params.signed_by(&key, &self.issuer).unwrap_or_else(|e| panic!("signing {subject} with {}: {e}", self.name));
        Leaf { cert_pem: cert.pem(), key_pem, der: cert.der().to_vec() }
    }
}

/// Where a server's certificate and key are.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        Files { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem"), _dir: dir }
    }

    /// Writes `leaf` as a renewal would: each file replaced whole by a rename.
    fn write(&self, leaf: &Leaf) {
        for (path, pem) in [(&self.key, &leaf.key_pem), (&self.cert, &leaf.cert_pem)] {
            let tmp = path.with_extension("new");
            std::fs::write(&tmp, pem).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
    }

    fn config(&self, c: &mut herald::Config) {
        c.tls.cert_file = Some(self.cert.clone());
        c.tls.key_file = Some(self.key.clone());
    }

    fn env(&self) -> [(&'static str, String); 2] {
        [("HERALD_TLS__CERT_FILE", self.cert.display().to_string()), ("HERALD_TLS__KEY_FILE", self.key.display().to_string())]
    }
}

/// A client that trusts only `cas`, speaks HTTP/2 when the server offers
/// it, and keeps what the handshake showed (`TlsInfo`).
fn client_for(cas: &[&Ca]) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder().use_rustls_tls().tls_built_in_root_certs(false).tls_info(true);
    for ca in cas {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap());
    }
    builder
}

/// The certificate a new connection to `base` is shown.
async fn served_certificate(base: &str, cas: &[&Ca]) -> Result<Vec<u8>, String> {
    // A new client: a new connection, hence a new handshake.
    let client = client_for(cas).build().unwrap();
    let res = client.get(format!("{base}/healthz")).send().await.map_err(|e| format!("{e:?}"))?;
    let info = res.extensions().get::<reqwest::tls::TlsInfo>().ok_or("no TLS info")?;
    info.peer_certificate().map(<[u8]>::to_vec).ok_or_else(|| "no peer certificate".to_owned())
}

/// Waits until new connections to `base` are shown `leaf` (named `what`).
async fn wait_for_certificate(base: &str, cas: &[&Ca], leaf: &Leaf, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let served = served_certificate(base, cas).await;
        if served.as_deref() == Ok(leaf.der.as_slice()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected new connections to get {what} within {WAIT:?}; got {}",
            describe_cert(&served)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn describe_cert(served: &Result<Vec<u8>, String>) -> String {
    match served {
        Ok(der) => format!("a certificate of {} bytes that is not it", der.len()),
        Err(e) => format!("no certificate: {e}"),
    }
}

fn sighup(node: &Node) {
    let sent = std::process::Command::new("kill").args(["-HUP", &node.pid().to_string()]).status().unwrap();
    assert!(sent.success(), "kill -HUP {} failed", node.pid());
}

/// Waits for a log line holding every one of `parts`.
async fn wait_for_log(node: &Node, parts: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(line) = node.log().into_iter().find(|l| parts.iter().all(|p| l.contains(p))) {
            return line;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected a log line with {parts:?} within {WAIT:?}; got:\n{}",
            node.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

e2e! {
    /// ALPN gives an HTTP/2 client HTTP/2 and an HTTP/1.1-only client
    /// HTTP/1.1; plain HTTP is not served on the TLS port; a stream over
    /// HTTP/2 delivers.
    async fn http2_by_alpn_and_http1_still_served(backend) {
        let ca = Ca::new("Herald test CA");
        let files = Files::new();
        files.write(&ca.leaf("herald-h2", KeyKind::Ecdsa));
        let s = Server::start_tls(backend, |c| files.config(c), client_for(&[&ca]).build().unwrap()).await;
        assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);

        let res = s.client.get(s.url("/healthz")).send().await.unwrap();
        assert_eq!((res.status(), res.version()), (StatusCode::OK, Version::HTTP_2), "expected HTTP/2 negotiated by ALPN");
        let http1 = client_for(&[&ca]).http1_only().build().unwrap();
        let res = http1.get(s.url("/healthz")).send().await.unwrap();
        assert_eq!((res.status(), res.version()), (StatusCode::OK, Version::HTTP_11), "expected HTTP/1.1 for a client that offers only it");
        let plain = reqwest::Client::new().get(s.url("/healthz").replacen("https://", "http://", 1)).send().await;
        assert!(plain.is_err(), "expected plain HTTP to fail on the TLS port, got {plain:?}");

        let t = s.tenant("tls").await;
        let res = s.open_stream(&t, &t.token("alice", &["orders"]), &["orders"], None).await;
        assert_eq!((res.status(), res.version()), (StatusCode::OK, Version::HTTP_2), "expected the stream over HTTP/2");
        let mut stream = Sse::new(res);
        // And over HTTP/1.1 at the same time.
        let res = http1
            .get(s.url(&format!("/v1/tenants/{}/stream", t.id)))
            .query(&[("channel", "orders")])
            .bearer_auth(t.token("bob", &["orders"]))
            .send()
            .await
            .unwrap();
        assert_eq!((res.status(), res.version()), (StatusCode::OK, Version::HTTP_11));
        let mut stream1 = Sse::new(res);
        let id = s.publish(&t, "orders", json!({"type": "order.created", "data": {"n": 1}})).await;
        assert_eq!(ids(&stream.take(1, WAIT).await), [id], "over HTTP/2");
        assert_eq!(ids(&stream1.take(1, WAIT).await), [id], "over HTTP/1.1");
    }
}

e2e! {
    /// SIGHUP reloads the files: a broken certificate is refused (logged,
    /// naming the file) and the old one kept; a new one from another
    /// authority, with an RSA key in PKCS#1, reaches new connections while
    /// a stream opened before keeps going. File watching is off here, so
    /// only the signal can have done it.
    async fn sighup_reloads_the_certificate(backend) {
        let db = TestDb::create(backend).await;
        let (ca1, ca2) = (Ca::new("Herald test CA one"), Ca::new("Herald test CA two"));
        let files = Files::new();
        let first = ca1.leaf("herald-first", KeyKind::Ecdsa);
        files.write(&first);
        let [cert, key] = files.env();
        let node = Node::spawn(&db.url, &[(cert.0, &cert.1), (key.0, &key.1), ("HERALD_TLS__RELOAD_CHECK_SECONDS", "0")]);
        assert!(node.base.starts_with("https://"), "expected the start-up line to give an https:// address, got {}", node.base);
        let s = Server::attach_with(node.base.clone(), client_for(&[&ca1, &ca2]).build().unwrap()).await;
        assert_eq!(served_certificate(&node.base, &[&ca1, &ca2]).await.as_deref(), Ok(first.der.as_slice()));

        let t = s.tenant("reload").await;
        let res = s.open_stream(&t, &t.token("alice", &["orders"]), &["orders"], None).await;
        assert_eq!((res.status(), res.version()), (StatusCode::OK, Version::HTTP_2));
        let mut stream = Sse::new(res);

        std::fs::write(&files.cert, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n").unwrap();
        sighup(&node);
        let cert_path = files.cert.display().to_string();
        wait_for_log(&node, &["TLS certificate not reloaded", "SIGHUP", &cert_path]).await;
        assert_eq!(
            served_certificate(&node.base, &[&ca1, &ca2]).await.as_deref(),
            Ok(first.der.as_slice()),
            "expected the previous certificate after a broken file"
        );

        let second = ca2.leaf("herald-second", KeyKind::Rsa);
        files.write(&second);
        sighup(&node);
        wait_for_certificate(&node.base, &[&ca1, &ca2], &second, "the RSA certificate of the second authority").await;
        let line = wait_for_log(&node, &["reloaded the TLS certificate", "SIGHUP"]).await;
        assert!(line.contains("CN=herald-second") && line.contains("not_after"), "expected the subject and expiry in: {line}");
        // A client that trusts only the new authority gets in now.
        assert_eq!(served_certificate(&node.base, &[&ca2]).await.as_deref(), Ok(second.der.as_slice()));

        let id = s.publish(&t, "orders", json!({"type": "order.created", "data": {}})).await;
        assert_eq!(ids(&stream.take(1, WAIT).await), [id], "expected the stream opened before the reload to keep delivering");
        drop(node);
    }
}

e2e! {
    /// A renewal written over the files is served without a signal.
    async fn a_changed_certificate_file_is_reloaded(backend) {
        let (ca1, ca2) = (Ca::new("Herald test CA one"), Ca::new("Herald test CA two"));
        let files = Files::new();
        let first = ca1.leaf("herald-first", KeyKind::Rsa);
        files.write(&first);
        let s = Server::start_tls(
            backend,
            |c| {
                files.config(c);
                c.tls.reload_check_seconds = 1;
            },
            client_for(&[&ca1, &ca2]).build().unwrap(),
        )
        .await;
        assert_eq!(served_certificate(&s.base, &[&ca1]).await.as_deref(), Ok(first.der.as_slice()));
        let second = ca2.leaf("herald-second", KeyKind::Ecdsa);
        files.write(&second);
        wait_for_certificate(&s.base, &[&ca1, &ca2], &second, "the renewed certificate").await;
    }
}

/// `herald serve` with these TLS variables: whether it failed, and its output.
fn serve_with(env: &[(&str, String)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("h.db").display());
    let mut vars: Vec<(&str, &str)> = vec![("HERALD_OPERATOR_KEY", OPERATOR_KEY)];
    vars.extend(env.iter().map(|(k, v)| (*k, v.as_str())));
    let (ok, output) = run(dir.path(), herald_bin(), &["serve", "--listen", "127.0.0.1:0", "--database-url", &db], &vars, WAIT);
    (!ok, output)
}

#[test]
fn start_up_errors_name_the_setting_or_the_file() {
    let ca = Ca::new("Herald test CA");
    let files = Files::new();
    files.write(&ca.leaf("herald", KeyKind::Ecdsa));
    let [cert, key] = files.env();

    let (failed, output) = serve_with(std::slice::from_ref(&cert));
    assert!(
        failed && output.contains("tls.cert_file is set without tls.key_file"),
        "expected a refusal naming tls.key_file, got:\n{output}"
    );

    let missing = files.cert.with_file_name("missing.pem").display().to_string();
    let (failed, output) = serve_with(&[("HERALD_TLS__CERT_FILE", missing.clone()), key.clone()]);
    assert!(failed && output.contains(&format!("reading {missing}")), "expected a refusal naming {missing}, got:\n{output}");

    std::fs::write(&files.key, "not a key").unwrap();
    let (failed, output) = serve_with(&[cert, key]);
    let key_path = files.key.display().to_string();
    assert!(
        failed && output.contains(&key_path) && output.contains("no private key"),
        "expected a refusal naming {key_path}, got:\n{output}"
    );
}

/// Chromium opens twelve `EventSource`s to one Herald origin. Over HTTPS
/// (HTTP/2, one connection) all twelve open and receive; over plain
/// HTTP/1.1 (six connections per origin) six do and the other six stall
/// until one of the six is closed. The page script is
/// `clients/js/test/connection-limit.mjs`. SQLite only: the browser's
/// connections are what is tested, not the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_opens_twelve_streams_over_http2_and_six_over_http1() {
    require_chromium();
    let dir = require_node_project("clients/js", &["playwright-core"]);
    let ca = Ca::new("Herald test CA");
    let files = Files::new();
    files.write(&ca.leaf("herald-browser", KeyKind::Ecdsa));
    let ca_file = files.cert.with_file_name("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let h2 = Server::start_tls(Backend::Sqlite, |c| files.config(c), client_for(&[&ca]).build().unwrap()).await;
    let h1 = Server::start(Backend::Sqlite).await;

    let mut pages = Vec::new();
    for (s, protocol) in [(&h2, "h2"), (&h1, "http/1.1")] {
        let t = s.tenant("browser").await;
        pages.push(json!({
            "origin": s.base,
            "protocol": protocol,
            "stream": format!("/v1/tenants/{}/stream?channel=orders&events=message&access_token={}", t.id, t.token("alice", &["orders"])),
            "publish": format!("/v1/tenants/{}/channels/orders/notifications", t.id),
            "publishKey": t.publish_key,
        }));
    }
    let env = [
        ("HERALD_PAGES", json!(pages).to_string()),
        ("HERALD_TLS_CERT", files.cert.display().to_string()),
        // Node's own fetch (the publisher) trusts the test's authority.
        ("NODE_EXTRA_CA_CERTS", ca_file.display().to_string()),
    ];
    let script = repo_path("clients/js/test/connection-limit.mjs");
    let (ok, output) = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(&dir, "node", &[script.to_str().unwrap()], &env, Duration::from_secs(300))
    })
    .await
    .unwrap();
    println!("{output}");
    assert!(ok, "clients/js/test/connection-limit.mjs failed:\n{output}");
    drop((h1, h2));
}
