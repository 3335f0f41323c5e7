//! Herald's email fallback for offline users, as a library: no HTTP, no SQL.
//!
//! The server decides who gets an email and when; this crate makes and
//! sends it:
//!
//! 1. [`SmtpSettings::parse`] checks the SMTP URL and `from` mailbox once,
//!    at start; [`Mailer::new`] builds the pooled client from them.
//! 2. [`EmailTemplates::compile`] checks a channel's templates when they are
//!    set ([`CompiledTemplates::default`] when it sets none);
//!    [`CompiledTemplates::render`] renders one email from a
//!    [`RenderContext`]: one notification, or a digest of several.
//! 3. [`UnsubscribeSigner`] makes the token for the one-click unsubscribe
//!    link and later checks it.
//! 4. [`Mailer::send`] sends an [`OutgoingEmail`]; a [`SendError`] says
//!    whether to retry (`Transient`) or give up (`Permanent`).
//!
//! Module map: `settings` (SMTP URL), `mailer` (transport, failure
//! classification), `templates` (engine, limits, defaults), `context` (what
//! templates see), `message` (RFC 5322 message), `headers` (custom header
//! types), `unsubscribe` (signed tokens), `error` (one enum per concern).

#![forbid(unsafe_code)]

pub mod context;
pub mod error;
pub mod headers;
pub mod mailer;
pub mod message;
pub mod settings;
pub mod templates;
pub mod unsubscribe;

pub use context::{NotificationView, Recipient, RenderContext};
pub use error::{MessageError, SendError, SettingsError, TemplateError, TemplatePart, UnsubscribeError};
pub use mailer::Mailer;
pub use message::{OutgoingEmail, build_message};
pub use settings::{SmtpCredentials, SmtpSettings, TlsMode};
pub use templates::{CompiledTemplates, EmailTemplates, RenderedEmail};
pub use unsubscribe::{UnsubscribeScope, UnsubscribeSigner};

// The server shares these across tasks and threads; keep it that way.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Mailer>();
    shared::<CompiledTemplates>();
    shared::<UnsubscribeSigner>();
    shared::<SmtpSettings>();
};
