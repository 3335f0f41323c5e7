//! Sends emails over SMTP and says whether a failure is worth a retry.
//!
//! [`Mailer`] wraps lettre's pooled `AsyncSmtpTransport` on Tokio, built from
//! [`SmtpSettings`]: no TLS, STARTTLS (required, never a silent downgrade) or
//! implicit TLS, with webpki's root certificates, and AUTH when credentials
//! are given.
//!
//! **Timeout.** lettre's own timeout bounds only the TCP connect on Tokio,
//! so the mailer bounds each whole send (connect, TLS, AUTH, MAIL, RCPT,
//! DATA) with the settings' timeout itself. A send cut short leaves its
//! pooled connection mid-conversation, and reusing it would pair the next
//! command with a stale reply; so on a timeout the mailer starts a fresh
//! pool and shuts the old one down before letting go of that connection.
//!
//! **Failures** are sorted for the caller ([`SendError`]):
//!
//! | what happened                                         | kind        |
//! |-------------------------------------------------------|-------------|
//! | SMTP 4xx reply                                        | `Transient` |
//! | refused or lost connection, timeout, TLS failure      | `Transient` |
//! | unreadable reply, pool shut down by a timeout         | `Transient` |
//! | SMTP 5xx reply (including 535, bad credentials)       | `Permanent` |
//! | invalid address, message that cannot be built        | `Permanent` |
//! | refused by the client: server without STARTTLS when it is required, no common AUTH mechanism, non-ASCII address to a server without SMTPUTF8 | `Permanent` |
//!
//! `Permanent` means "this email fails the same way until something
//! changes", which for 535 or a missing STARTTLS is the configuration.

use std::error::Error as _;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::error::{SendError, SettingsError};
use crate::message::{OutgoingEmail, build_message};
use crate::settings::{SmtpSettings, TlsMode};

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// How long a timed-out send waits for the old pool's idle connections to
/// say QUIT before they are simply closed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A pooled SMTP client. Share one per server behind an `Arc`; `send` may
/// be called concurrently.
pub struct Mailer {
    builder: AsyncSmtpTransportBuilder,
    transport: Mutex<Arc<Transport>>,
    from: Mailbox,
    host: String,
    port: u16,
    tls: TlsMode,
    timeout: Duration,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Builds the transport. Nothing is connected yet: the first `send`
    /// opens the first connection.
    ///
    /// Must be called inside a Tokio runtime: the pool starts a cleanup task.
    pub fn new(settings: &SmtpSettings) -> Result<Self, SettingsError> {
        let host = settings.host().to_owned();
        let tls_parameters =
            || TlsParameters::new(host.clone()).map_err(|e| SettingsError::Tls { host: host.clone(), reason: e.to_string() });
        let tls = match settings.tls() {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_parameters()?),
            TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = Transport::builder_dangerous(host.clone()).port(settings.port()).tls(tls).timeout(Some(settings.timeout()));
        if let Some(c) = settings.credentials() {
            if settings.tls() == TlsMode::None {
                tracing::warn!(host = %host, "SMTP credentials will be sent without TLS (tls=none)");
            }
            builder = builder.credentials(Credentials::new(c.user().to_owned(), c.password().to_owned()));
        }
        Ok(Mailer {
            transport: Mutex::new(Arc::new(builder.clone().build())),
            builder,
            from: settings.from().clone(),
            host,
            port: settings.port(),
            tls: settings.tls(),
            timeout: settings.timeout(),
        })
    }

    /// The `From` of every email this mailer sends.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Builds the message and hands it to the SMTP server. `Ok` means the
    /// server accepted it for delivery (250 after DATA).
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = build_message(&self.from, email).inspect_err(|e| {
            tracing::warn!(error = %e, "email not built");
        })?;
        let transport = Arc::clone(&self.transport.lock().unwrap_or_else(PoisonError::into_inner));
        // A boxed future (lettre's trait is async-trait): polled through
        // `&mut`, then dropped exactly where we choose.
        let mut send = transport.send(message);
        let result = match tokio::time::timeout(self.timeout, &mut send).await {
            Ok(Ok(response)) => {
                tracing::debug!(host = %self.host, code = %response.code(), "email accepted");
                return Ok(());
            }
            Ok(Err(e)) => classify(&e),
            Err(_elapsed) => {
                // `send` still holds its connection: retire the pool first,
                // so that connection can only be closed, never reused.
                self.replace_pool(&transport).await;
                drop(send);
                SendError::Transient {
                    code: None,
                    message: format!("no complete answer from {}:{} within {:?}", self.host, self.port, self.timeout),
                }
            }
        };
        tracing::warn!(host = %self.host, port = self.port, transient = result.is_transient(), code = result.code(), error = %result, "email not sent");
        Err(result)
    }

    async fn replace_pool(&self, stale: &Arc<Transport>) {
        {
            let mut current = self.transport.lock().unwrap_or_else(PoisonError::into_inner);
            // Another timed-out send may have replaced it already.
            if Arc::ptr_eq(&current, stale) {
                *current = Arc::new(self.builder.clone().build());
            }
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, stale.shutdown()).await;
    }
}

/// Sorts a lettre error into transient or permanent, keeping the server's
/// reply code and text.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
    // lettre keeps the server's text (or the underlying I/O error) as the
    // source; its own Display adds a generic prefix in front of it.
    let message = match e.source() {
        Some(source) if code.is_some() => source.to_string(),
        _ => e.to_string(),
    };
    if e.is_permanent() || e.is_client() {
        SendError::Permanent { code, message }
    } else {
        // 4xx, timeouts, connection, network, TLS, unreadable replies and a
        // shut-down transport: nothing that says this email can never go.
        SendError::Transient { code, message }
    }
}
