//! The crate's errors, one enum per concern: settings, templates, message
//! building, sending and unsubscribe tokens.
//!
//! None of them carries a secret: the SMTP password and the unsubscribe key
//! never appear in a message.

use std::fmt;

use thiserror::Error;

/// A wrong SMTP URL, `from` mailbox or timeout, found when the settings are
/// parsed (or when the mailer builds its TLS configuration from them).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("SMTP URL: {0}")]
    InvalidUrl(url::ParseError),
    #[error("SMTP URL: scheme `{0}` is not supported; use `smtp://` or `smtps://`")]
    UnsupportedScheme(String),
    #[error("SMTP URL: a host is required, as in `smtp://mail.example.com`")]
    MissingHost,
    #[error("SMTP URL: host `{0}` is not a valid domain name or IP address")]
    InvalidHost(String),
    #[error("SMTP URL: port 0 is not valid")]
    InvalidPort,
    #[error("SMTP URL: unexpected path `{0}`; the URL names a server, not a resource")]
    UnexpectedPath(String),
    #[error("SMTP URL: unexpected fragment; remove the `#…` part")]
    UnexpectedFragment,
    #[error("SMTP URL: unknown parameter `{0}`; the only parameter is `tls`")]
    UnknownParameter(String),
    #[error("SMTP URL: parameter `{0}` is given more than once")]
    DuplicateParameter(String),
    #[error("SMTP URL: `tls={0}` is not one of `none`, `starttls`, `implicit`")]
    InvalidTlsMode(String),
    #[error("SMTP URL: `smtps://` means implicit TLS, but the URL asks for `tls={0}`; use `smtp://…?tls={0}`")]
    ConflictingTlsMode(String),
    #[error("SMTP URL: a password is given without a user name")]
    PasswordWithoutUser,
    #[error("SMTP URL: user `{0}` is given without a password")]
    UserWithoutPassword(String),
    #[error("SMTP URL: the {0} is not valid UTF-8 once percent-decoded")]
    NotUtf8(&'static str),
    #[error("from address `{value}`: {reason}")]
    InvalidFrom { value: String, reason: String },
    #[error("the send timeout must be greater than zero")]
    ZeroTimeout,
    #[error("TLS configuration for `{host}`: {reason}")]
    Tls { host: String, reason: String },
}

/// Which of the three templates of an email an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplatePart {
    Subject,
    Text,
    Html,
}

impl TemplatePart {
    pub const ALL: [TemplatePart; 3] = [TemplatePart::Subject, TemplatePart::Text, TemplatePart::Html];

    /// The part's name, also its template name inside the engine.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplatePart::Subject => "subject",
            TemplatePart::Text => "text",
            TemplatePart::Html => "html",
        }
    }
}

impl fmt::Display for TemplatePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A template that cannot be used, or a render that failed.
///
/// `line` is 1-based and refers to the template's own source.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("{part} template is {size} bytes; the limit is {limit} bytes")]
    TooLarge { part: TemplatePart, size: usize, limit: usize },
    #[error("{part} template{}: {message}", at_line(*.line))]
    Invalid { part: TemplatePart, line: Option<usize>, message: String },
    #[error("rendering the {part} template{}: {message}", at_line(*.line))]
    Render { part: TemplatePart, line: Option<usize>, message: String },
    #[error("rendering the {part} template produced more than {limit} bytes")]
    OutputTooLarge { part: TemplatePart, limit: usize },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

/// An email that cannot be built from its parts. Retrying the same parts
/// fails the same way, so the mailer reports these as permanent.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MessageError {
    #[error("recipient `{value}` is not a valid email address: {reason}")]
    InvalidRecipient { value: String, reason: String },
    #[error("message id `{0}` must be 1 to 128 letters, digits, `-`, `_` or single `.` (not first or last)")]
    InvalidMessageId(String),
    #[error("unsubscribe URL `{0}` must be an absolute http(s) URL of printable ASCII, at most 2048 bytes")]
    InvalidUnsubscribeUrl(String),
    #[error("building the message: {0}")]
    Build(String),
}

/// Why an email was not accepted by the SMTP server.
///
/// `Transient` failures (no connection, a timeout, an SMTP 4xx reply, a TLS
/// failure) may succeed later: retry them with backoff. `Permanent` ones (an
/// SMTP 5xx reply, an invalid address, a message that cannot be built) fail
/// the same way every time: give up. `code` is the SMTP reply code when the
/// server sent one, and `message` keeps the server's text.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SendError {
    #[error("transient email failure{}: {message}", code_suffix(*.code))]
    Transient { code: Option<u16>, message: String },
    #[error("permanent email failure{}: {message}", code_suffix(*.code))]
    Permanent { code: Option<u16>, message: String },
}

fn code_suffix(code: Option<u16>) -> String {
    code.map(|c| format!(" (SMTP {c})")).unwrap_or_default()
}

impl SendError {
    /// Is a later retry worth it?
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }

    /// The SMTP reply code, when the server answered with an error.
    pub fn code(&self) -> Option<u16> {
        match self {
            SendError::Transient { code, .. } | SendError::Permanent { code, .. } => *code,
        }
    }

    /// The server's text, or a description of the local failure.
    pub fn message(&self) -> &str {
        match self {
            SendError::Transient { message, .. } | SendError::Permanent { message, .. } => message,
        }
    }
}

impl From<MessageError> for SendError {
    fn from(e: MessageError) -> Self {
        SendError::Permanent { code: None, message: e.to_string() }
    }
}

/// A key that is too short, or a token that is not one we signed.
///
/// The verify errors deliberately say little: a caller answers all of them
/// with the same "invalid or expired link".
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UnsubscribeError {
    #[error("the unsubscribe key must be at least {min} bytes, got {got}")]
    KeyTooShort { min: usize, got: usize },
    #[error("malformed unsubscribe token")]
    Malformed,
    #[error("unsubscribe token signature does not match")]
    BadSignature,
}
