//! SMTP settings: which server to talk to, how, as whom, and from which
//! address, parsed once from a URL and checked before anything is sent.
//!
//! The URL form is `smtp://user:password@host:port?tls=MODE`:
//!
//! | `tls=`     | meaning                                   | default port |
//! |------------|-------------------------------------------|--------------|
//! | `starttls` | plain connect, then STARTTLS (required)   | 587          |
//! | `implicit` | TLS from the first byte (SMTPS)           | 465          |
//! | `none`     | no TLS at all: local relays and tests     | 25           |
//!
//! Without `tls=`, `smtp://` means `starttls`: plain text must be asked for.
//! `smtps://` means `implicit` and may not name another mode. User and
//! password are percent-decoded (`p%40ss` is `p@ss`); both or neither must be
//! given. `Debug` never shows the password.

use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;
use percent_encoding::percent_decode_str;
use url::{Host, Url};

use crate::error::SettingsError;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS. Credentials, if any, cross the network in clear.
    None,
    /// Connect in plain text, then upgrade with STARTTLS; a server that does
    /// not offer it is an error, never a silent downgrade.
    StartTls,
    /// TLS from the first byte (often called SMTPS).
    Implicit,
}

impl TlsMode {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::None => 25,
            TlsMode::StartTls => 587,
            TlsMode::Implicit => 465,
        }
    }

    fn parse(s: &str) -> Result<Self, SettingsError> {
        match s {
            "none" => Ok(TlsMode::None),
            "starttls" => Ok(TlsMode::StartTls),
            "implicit" => Ok(TlsMode::Implicit),
            other => Err(SettingsError::InvalidTlsMode(other.to_owned())),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::StartTls => "starttls",
            TlsMode::Implicit => "implicit",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user name and password for SMTP AUTH, already percent-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    user: String,
    password: String,
}

impl SmtpCredentials {
    pub fn user(&self) -> &str {
        &self.user
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials").field("user", &self.user).field("password", &"<redacted>").finish()
    }
}

/// Everything the mailer needs, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpSettings {
    host: String,
    port: u16,
    tls: TlsMode,
    credentials: Option<SmtpCredentials>,
    from: Mailbox,
    timeout: Duration,
}

impl SmtpSettings {
    /// A sensible send timeout: it bounds the connection and each SMTP
    /// command, not the whole exchange.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Parses the server URL and the `from` mailbox (`Herald
    /// <noreply@example.com>` or a bare address).
    pub fn parse(url: &str, from: &str, timeout: Duration) -> Result<Self, SettingsError> {
        let url = Url::parse(url).map_err(|e| match e {
            url::ParseError::EmptyHost => SettingsError::MissingHost,
            e => SettingsError::InvalidUrl(e),
        })?;
        let tls = tls_mode(&url)?;
        let host = host(&url)?;
        let port = match url.port() {
            Some(0) => return Err(SettingsError::InvalidPort),
            Some(p) => p,
            None => tls.default_port(),
        };
        if !matches!(url.path(), "" | "/") {
            return Err(SettingsError::UnexpectedPath(url.path().to_owned()));
        }
        if url.fragment().is_some() {
            return Err(SettingsError::UnexpectedFragment);
        }
        let credentials = credentials(&url)?;
        let from =
            from.trim().parse::<Mailbox>().map_err(|e| SettingsError::InvalidFrom { value: from.to_owned(), reason: e.to_string() })?;
        if timeout.is_zero() {
            return Err(SettingsError::ZeroTimeout);
        }
        Ok(SmtpSettings { host, port, tls, credentials, from, timeout })
    }

    /// The server's host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn tls(&self) -> TlsMode {
        self.tls
    }

    pub fn credentials(&self) -> Option<&SmtpCredentials> {
        self.credentials.as_ref()
    }

    /// The `From` of every email, and the envelope sender.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

fn tls_mode(url: &Url) -> Result<TlsMode, SettingsError> {
    let mut asked = None;
    for (key, value) in url.query_pairs() {
        if key != "tls" {
            return Err(SettingsError::UnknownParameter(key.into_owned()));
        }
        if asked.is_some() {
            return Err(SettingsError::DuplicateParameter(key.into_owned()));
        }
        asked = Some(TlsMode::parse(&value)?);
    }
    match (url.scheme(), asked) {
        ("smtp", asked) => Ok(asked.unwrap_or(TlsMode::StartTls)),
        ("smtps", None | Some(TlsMode::Implicit)) => Ok(TlsMode::Implicit),
        ("smtps", Some(other)) => Err(SettingsError::ConflictingTlsMode(other.to_string())),
        (scheme, _) => Err(SettingsError::UnsupportedScheme(scheme.to_owned())),
    }
}

fn host(url: &Url) -> Result<String, SettingsError> {
    match url.host() {
        None => Err(SettingsError::MissingHost),
        Some(Host::Domain("")) => Err(SettingsError::MissingHost),
        Some(Host::Domain(d)) => {
            let valid = d
                .split('.')
                .all(|label| !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            if valid && d.len() <= 253 { Ok(d.to_ascii_lowercase()) } else { Err(SettingsError::InvalidHost(d.to_owned())) }
        }
        Some(Host::Ipv4(ip)) => Ok(ip.to_string()),
        Some(Host::Ipv6(ip)) => Ok(ip.to_string()),
    }
}

fn credentials(url: &Url) -> Result<Option<SmtpCredentials>, SettingsError> {
    let decode = |raw: &str, what: &'static str| {
        percent_decode_str(raw).decode_utf8().map(|s| s.into_owned()).map_err(|_| SettingsError::NotUtf8(what))
    };
    let user = decode(url.username(), "user name")?;
    match url.password() {
        None if user.is_empty() => Ok(None),
        None => Err(SettingsError::UserWithoutPassword(user)),
        Some(_) if user.is_empty() => Err(SettingsError::PasswordWithoutUser),
        Some(password) => Ok(Some(SmtpCredentials { user, password: decode(password, "password")? })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: &str = "Herald <noreply@example.com>";

    fn parse(url: &str) -> Result<SmtpSettings, SettingsError> {
        SmtpSettings::parse(url, FROM, SmtpSettings::DEFAULT_TIMEOUT)
    }

    /// One line per accepted URL: what it parses to.
    #[track_caller]
    fn check_ok(url: &str, host: &str, port: u16, tls: TlsMode, creds: Option<(&str, &str)>) {
        let s = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(s.host(), host, "{url}");
        assert_eq!(s.port(), port, "{url}");
        assert_eq!(s.tls(), tls, "{url}");
        let got = s.credentials().map(|c| (c.user(), c.password()));
        assert_eq!(got, creds, "{url}");
    }

    #[test]
    fn accepted_urls() {
        check_ok("smtp://mail.example.com", "mail.example.com", 587, TlsMode::StartTls, None);
        check_ok("smtp://Mail.Example.COM/", "mail.example.com", 587, TlsMode::StartTls, None);
        check_ok("smtp://mail.example.com?tls=starttls", "mail.example.com", 587, TlsMode::StartTls, None);
        check_ok("smtp://mail.example.com?tls=none", "mail.example.com", 25, TlsMode::None, None);
        check_ok("smtp://mail.example.com?tls=implicit", "mail.example.com", 465, TlsMode::Implicit, None);
        check_ok("smtps://mail.example.com", "mail.example.com", 465, TlsMode::Implicit, None);
        check_ok("smtps://mail.example.com?tls=implicit", "mail.example.com", 465, TlsMode::Implicit, None);
        check_ok("smtp://127.0.0.1:2525?tls=none", "127.0.0.1", 2525, TlsMode::None, None);
        check_ok("smtp://[::1]:2525?tls=none", "::1", 2525, TlsMode::None, None);
        check_ok("smtp://bob:secret@mail.example.com:2587", "mail.example.com", 2587, TlsMode::StartTls, Some(("bob", "secret")));
        check_ok(
            "smtps://apikey%40corp:p%40ss%3Aw%2Frd%20%C3%A9@mail.example.com",
            "mail.example.com",
            465,
            TlsMode::Implicit,
            Some(("apikey@corp", "p@ss:w/rd é")),
        );
    }

    #[track_caller]
    fn check_err(url: &str, expected: SettingsError) {
        assert_eq!(parse(url).unwrap_err(), expected, "{url}");
    }

    #[test]
    fn refused_urls() {
        check_err("mail.example.com", SettingsError::InvalidUrl(url::ParseError::RelativeUrlWithoutBase));
        check_err("http://mail.example.com", SettingsError::UnsupportedScheme("http".into()));
        check_err("smtp://", SettingsError::MissingHost);
        check_err("smtp://:25", SettingsError::MissingHost);
        check_err("smtp://mail_server.example", SettingsError::InvalidHost("mail_server.example".into()));
        check_err("smtp://mail.example.com:0", SettingsError::InvalidPort);
        check_err("smtp://mail.example.com:99999", SettingsError::InvalidUrl(url::ParseError::InvalidPort));
        check_err("smtp://mail.example.com/inbox", SettingsError::UnexpectedPath("/inbox".into()));
        check_err("smtp://mail.example.com#x", SettingsError::UnexpectedFragment);
        check_err("smtp://mail.example.com?tls=ssl", SettingsError::InvalidTlsMode("ssl".into()));
        check_err("smtp://mail.example.com?tls=", SettingsError::InvalidTlsMode("".into()));
        check_err("smtp://mail.example.com?tls=none&tls=none", SettingsError::DuplicateParameter("tls".into()));
        check_err("smtp://mail.example.com?timeout=5", SettingsError::UnknownParameter("timeout".into()));
        check_err("smtps://mail.example.com?tls=starttls", SettingsError::ConflictingTlsMode("starttls".into()));
        check_err("smtps://mail.example.com?tls=none", SettingsError::ConflictingTlsMode("none".into()));
        check_err("smtp://:secret@mail.example.com", SettingsError::PasswordWithoutUser);
        check_err("smtp://bob@mail.example.com", SettingsError::UserWithoutPassword("bob".into()));
        check_err("smtp://bob:%FF%FE@mail.example.com", SettingsError::NotUtf8("password"));
    }

    #[test]
    fn from_timeout_and_messages() {
        let s = SmtpSettings::parse("smtp://h.example", "noreply@example.com", Duration::from_secs(5)).unwrap();
        assert_eq!(s.from().email.to_string(), "noreply@example.com");
        assert_eq!(s.timeout(), Duration::from_secs(5));
        let s = parse("smtp://h.example").unwrap();
        assert_eq!(s.from().name.as_deref(), Some("Herald"));

        let err = SmtpSettings::parse("smtp://h.example", "not an address", Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, SettingsError::InvalidFrom { .. }), "{err:?}");
        assert!(err.to_string().starts_with("from address `not an address`"), "{err}");
        let err = SmtpSettings::parse("smtp://h.example", FROM, Duration::ZERO).unwrap_err();
        assert_eq!(err, SettingsError::ZeroTimeout);

        // Messages name the fault and never echo the password.
        let err = parse("smtps://bob:hunter2@mail.example.com?tls=none").unwrap_err();
        assert_eq!(err.to_string(), "SMTP URL: `smtps://` means implicit TLS, but the URL asks for `tls=none`; use `smtp://…?tls=none`");
        let err = parse("smtp://bob:hunter2@mail.example.com?tls=nope").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn debug_redacts_the_password() {
        let s = parse("smtp://bob:hunter2@mail.example.com").unwrap();
        let debug = format!("{s:?}");
        assert!(debug.contains("bob"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
