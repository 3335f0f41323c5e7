//! TLS on the listener (`tls.cert_file` and `tls.key_file`): the
//! certificate chain and private key read from PEM files and served by
//! rustls, with HTTP/2 offered by ALPN.
//!
//! Handshakes take the certificate from [`CertResolver`], which holds it in
//! an [`ArcSwap`]: [`Tls::reload`] swaps in a new one without a restart, so
//! a renewed certificate reaches new connections while open ones (streams
//! last hours) keep the session they negotiated. A reload that fails keeps
//! the certificate being served; only the log says so.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use x509_cert::der::Decode;

/// Where the certificate chain and its private key are, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate first, then the intermediates.
    pub cert: PathBuf,
    /// The private key: PKCS#8, SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`); ECDSA P-256/P-384, RSA or Ed25519.
    pub key: PathBuf,
}

/// A certificate or key that cannot be served; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not PEM certificates: {source}", path.display())]
    CertPem { path: PathBuf, source: pem::Error },
    #[error("{}: no certificate in it (expected PEM `BEGIN CERTIFICATE` blocks)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: the certificate cannot be used: {source}", path.display())]
    Cert { path: PathBuf, source: rustls::Error },
    #[error("{}: not a PEM private key: {source}", path.display())]
    KeyPem { path: PathBuf, source: pem::Error },
    #[error("{}: no private key in it (expected PEM PKCS#8, SEC1 or PKCS#1)", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: the private key cannot be used (ECDSA P-256/P-384, RSA or Ed25519): {source}", path.display())]
    Key { path: PathBuf, source: rustls::Error },
    #[error("the private key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS settings: {0}")]
    Config(rustls::Error),
}

/// The certificate every handshake gets, swappable while the server runs.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl CertResolver {
    pub fn new(key: Arc<CertifiedKey>) -> Self {
        Self { current: ArcSwap::new(key) }
    }

    /// New handshakes get `key` from now on; connections already made keep theirs.
    pub fn swap(&self, key: Arc<CertifiedKey>) {
        self.current.store(key);
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for CertResolver {
    // One certificate for every name: Herald serves one origin per listener.
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The two files' bytes, as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// What the log says about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    pub subject: String,
    pub not_after: String,
    pub expired: bool,
}

/// The listener's TLS: its files, the rustls configuration handshakes use,
/// and the resolver a reload swaps the certificate in.
#[derive(Debug)]
pub struct Tls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    resolver: Arc<CertResolver>,
    config: Arc<ServerConfig>,
    /// The files' contents at the last look (`None`: they could not be
    /// read), so that a change is tried, and a failure logged, once.
    seen: Mutex<Option<Contents>>,
}

impl Tls {
    /// Reads and checks the certificate and key; an error names the file.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        // Explicitly ring, not the process default: rustls would refuse to
        // pick when another crate in the build turns on aws-lc-rs too.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let contents = read(&files)?;
        let key = certified_key(&files, &contents, &provider)?;
        let resolver = Arc::new(CertResolver::new(Arc::new(key)));
        let config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // ALPN is left empty: actix-web offers `h2` then `http/1.1` itself.
        Ok(Self { files, provider, resolver, config: Arc::new(config), seen: Mutex::new(Some(contents)) })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The rustls configuration for the listener; its certificate follows reloads.
    pub fn server_config(&self) -> ServerConfig {
        (*self.config).clone()
    }

    /// The certificate being served.
    pub fn summary(&self) -> Option<CertSummary> {
        summary(&self.resolver.current())
    }

    /// Reads the files again and serves what they hold from the next
    /// handshake on. On an error the certificate being served stays.
    pub fn reload(&self) -> Result<Option<CertSummary>, TlsError> {
        let read = read(&self.files);
        *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = read.as_ref().ok().cloned();
        let key = certified_key(&self.files, &read?, &self.provider)?;
        let summary = summary(&key);
        self.resolver.swap(Arc::new(key));
        Ok(summary)
    }

    /// Reloads when the files' contents differ from the last look, and
    /// logs the outcome; does nothing, quietly, when they are the same (a
    /// bad file is reported once, not at every look). Contents rather than
    /// modification times: a certificate renewed by swapping a symbolic
    /// link (certbot's `live/` directory) or within the clock's resolution
    /// is seen all the same, and the files are a few kilobytes.
    pub fn reload_if_changed(&self) {
        let now = read(&self.files);
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match (now, &*seen) {
            (Ok(now), Some(before)) if now == *before => {}
            (Err(_), None) => {}
            (Err(e), Some(_)) => {
                *seen = None;
                tracing::error!(error = %e, "TLS files changed but cannot be read; still serving the previous certificate");
            }
            (Ok(_), _) => {
                drop(seen);
                self.reload_and_log("the files changed");
            }
        }
    }

    /// [`Tls::reload`], with the outcome in the log.
    pub fn reload_and_log(&self, why: &str) {
        match self.reload() {
            Ok(summary) => log_loaded("reloaded the TLS certificate", why, &self.files, summary.as_ref()),
            Err(e) => tracing::error!(
                reason = why,
                cert_file = %self.files.cert.display(),
                key_file = %self.files.key.display(),
                error = %e,
                "TLS certificate not reloaded; still serving the previous one"
            ),
        }
    }
}

/// Logs a certificate taken into service, with a warning when it has expired.
pub fn log_loaded(message: &str, why: &str, files: &TlsFiles, summary: Option<&CertSummary>) {
    let (subject, not_after) = summary.map_or(("?", "?"), |s| (s.subject.as_str(), s.not_after.as_str()));
    tracing::info!(reason = why, cert_file = %files.cert.display(), subject, not_after, "{message}");
    if summary.is_some_and(|s| s.expired) {
        tracing::warn!(cert_file = %files.cert.display(), subject, not_after, "the TLS certificate has expired: clients will refuse it");
    }
}

fn read(files: &TlsFiles) -> Result<Contents, TlsError> {
    let read = |path: &Path| std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source });
    Ok(Contents { cert: read(&files.cert)?, key: read(&files.key)? })
}

/// The chain and key in `contents`, checked to belong together.
fn certified_key(files: &TlsFiles, contents: &Contents, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(&contents.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::CertPem { path: files.cert.clone(), source })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: files.cert.clone() });
    }
    let key = PrivateKeyDer::from_pem_slice(&contents.key).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey { path: files.key.clone() },
        source => TlsError::KeyPem { path: files.key.clone(), source },
    })?;
    let signer = provider.key_provider.load_private_key(key).map_err(|source| TlsError::Key { path: files.key.clone(), source })?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        // `Unknown`: the key cannot tell its public half; the handshake will.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch { cert: files.cert.clone(), key: files.key.clone() })
        }
        Err(source) => Err(TlsError::Cert { path: files.cert.clone(), source }),
    }
}

/// Subject and expiry of the served certificate, when it parses as X.509
/// (rustls has already accepted it; this is only for the log).
fn summary(key: &CertifiedKey) -> Option<CertSummary> {
    let leaf = x509_cert::Certificate::from_der(key.end_entity_cert().ok()?).ok()?;
    let not_after = leaf.tbs_certificate.validity.not_after;
    Some(CertSummary {
        subject: leaf.tbs_certificate.subject.to_string(),
        not_after: not_after.to_string(),
        expired: SystemTime::UNIX_EPOCH + not_after.to_unix_duration() < SystemTime::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    /// A self-signed certificate for `name` with `key`, as PEM.
    fn cert_for(name: &str, key: &KeyPair) -> String {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.self_signed(key).unwrap().pem()
    }

    fn write(dir: &tempfile::TempDir, cert: &str, key: &str) -> TlsFiles {
        let files = TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        files
    }

    fn subject(tls: &Tls) -> String {
        tls.summary().expect("the certificate parses").subject
    }

    /// An RSA key as rcgen signs with it, and its PKCS#1 PEM.
    fn rsa_key() -> (KeyPair, String) {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pkcs8 = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let pair = KeyPair::from_pkcs8_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).unwrap();
        (pair, key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap().to_string())
    }

    #[test]
    fn loads_ecdsa_and_rsa_in_every_key_format() {
        let dir = tempfile::tempdir().unwrap();
        let ec = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let sec1 = {
            use p256::pkcs8::DecodePrivateKey;
            let secret = p256::SecretKey::from_pkcs8_pem(&ec.serialize_pem()).unwrap();
            secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap().to_string()
        };
        assert!(sec1.contains("BEGIN EC PRIVATE KEY"), "{sec1}");
        let (rsa, pkcs1) = rsa_key();
        assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"), "{pkcs1}");
        let cases = [
            ("ECDSA PKCS#8", cert_for("ec8", &ec), ec.serialize_pem()),
            ("ECDSA SEC1", cert_for("ec1", &ec), sec1),
            ("RSA PKCS#8", cert_for("rsa8", &rsa), rsa.serialize_pem()),
            ("RSA PKCS#1", cert_for("rsa1", &rsa), pkcs1),
        ];
        for (what, cert, key) in cases {
            let tls = Tls::load(write(&dir, &cert, &key)).unwrap_or_else(|e| panic!("{what}: {e}"));
            let summary = tls.summary().unwrap();
            assert!(summary.subject.starts_with("CN="), "{what}: {summary:?}");
            assert!(!summary.expired, "{what}: {summary:?}");
        }
    }

    #[test]
    fn errors_name_the_file_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let cert = cert_for("a", &key);
        let check = |files: TlsFiles, expect: &str, file: &Path| {
            let err = Tls::load(files).expect_err(expect).to_string();
            assert!(err.contains(expect) && err.contains(&file.display().to_string()), "expected {expect:?} naming {file:?}, got: {err}");
        };
        let files = write(&dir, &cert, &key.serialize_pem());
        let missing = TlsFiles { cert: dir.path().join("none.pem"), key: files.key.clone() };
        check(missing.clone(), "reading", &missing.cert);
        let files = write(&dir, "not pem at all", &key.serialize_pem());
        check(files.clone(), "no certificate", &files.cert);
        let files = write(&dir, "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", &key.serialize_pem());
        check(files.clone(), "not PEM certificates", &files.cert);
        let files = write(&dir, &cert, &cert);
        check(files.clone(), "no private key", &files.key);
        let files = write(&dir, &cert, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        check(files.clone(), "private key cannot be used", &files.key);
        let files = write(&dir, &cert, &other.serialize_pem());
        check(files.clone(), "does not belong to the certificate", &files.key);
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let files = write(&dir, garbage, &key.serialize_pem());
        check(files.clone(), "certificate cannot be used", &files.cert);
    }

    #[test]
    fn reload_swaps_the_certificate_and_keeps_it_on_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let files = write(&dir, &cert_for("first", &key), &key.serialize_pem());
        let tls = Tls::load(files.clone()).unwrap();
        let config = tls.server_config();
        assert_eq!(subject(&tls), "CN=first");

        let new_key = KeyPair::generate().unwrap();
        write(&dir, &cert_for("second", &new_key), &new_key.serialize_pem());
        assert_eq!(tls.reload().unwrap().unwrap().subject, "CN=second");
        assert_eq!(subject(&tls), "CN=second");
        // The configuration handed to the listener before asks the same
        // resolver, so it sees the swap (the e2e tests do real handshakes).
        assert_eq!(Arc::as_ptr(&config.cert_resolver).cast::<()>(), Arc::as_ptr(&tls.resolver).cast::<()>());

        std::fs::write(&files.cert, "garbage").unwrap();
        let err = tls.reload().unwrap_err().to_string();
        assert!(err.contains(&files.cert.display().to_string()), "{err}");
        assert_eq!(subject(&tls), "CN=second", "a bad file keeps the certificate being served");
    }

    #[test]
    fn reload_if_changed_tries_each_change_once() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let files = write(&dir, &cert_for("first", &key), &key.serialize_pem());
        let tls = Tls::load(files.clone()).unwrap();
        let before = tls.resolver.current();
        tls.reload_if_changed();
        assert!(Arc::ptr_eq(&before, &tls.resolver.current()), "unchanged files are not reloaded");

        // Half a renewal (the certificate written, not yet its key): refused, kept.
        let new_key = KeyPair::generate().unwrap();
        std::fs::write(&files.cert, cert_for("second", &new_key)).unwrap();
        tls.reload_if_changed();
        assert_eq!(subject(&tls), "CN=first");
        // The key arrives: the pair is taken.
        std::fs::write(&files.key, new_key.serialize_pem()).unwrap();
        tls.reload_if_changed();
        assert_eq!(subject(&tls), "CN=second");

        // Files gone for a moment, then back with a third certificate.
        std::fs::remove_file(&files.cert).unwrap();
        tls.reload_if_changed();
        assert_eq!(subject(&tls), "CN=second");
        std::fs::write(&files.cert, cert_for("third", &new_key)).unwrap();
        tls.reload_if_changed();
        assert_eq!(subject(&tls), "CN=third");
    }
}
