//! The email fallback as the domain sees it: who may get email (a
//! recipient's address, locale and preferences), when a channel sends it
//! (its email policy), and what the delivery log records.
//!
//! The rules, stated once:
//!
//! - Only a notification with explicit `recipients`, on a channel with an
//!   email policy, can become an email, and only for a listed recipient who
//!   has a recipient record whose preferences allow that channel.
//! - It is sent `after_seconds` after it was published unless the recipient
//!   received it on a live path (stream or poll) first.
//! - With `digest_seconds > 0`, a recipient's notifications of one channel
//!   that come due within that many seconds of the first go out as one email
//!   when the window closes.
//! - A transient SMTP failure is retried with exponential backoff
//!   ([`retry_delay`]) up to a configured number of attempts; a permanent one
//!   fails at once.
//!
//! Template syntax is checked by `herald-email`; this module checks only
//! shapes and sizes.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::DomainError;
use crate::ids::{DeliveryId, EmailId, Seq, TenantId};
use crate::limits;
use crate::names::{ChannelName, UserId};
use crate::pattern::ChannelPattern;

/// A recipient's email address: one `local@domain` mailbox, without a
/// display name. The server also parses it with the mailer's own parser
/// before accepting it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into();
        let bad = |why: &str| DomainError::invalid("email", why.to_owned());
        if s.is_empty() {
            return Err(bad("must not be empty"));
        }
        if s.len() > limits::MAX_EMAIL_ADDRESS {
            return Err(bad(&format!("must be at most {} bytes", limits::MAX_EMAIL_ADDRESS)));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"' | '\\')) {
            return Err(bad("give a bare address such as ada@example.com, without spaces, a display name or a list"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else { return Err(bad("an address has the form local@domain")) };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(bad("the part before `@` must be 1 to 64 bytes, with no other `@`"));
        }
        if domain.is_empty() || domain.split('.').any(|label| label.is_empty() || label.len() > 63) {
            return Err(bad("the domain after `@` must be dot-separated labels of 1 to 63 bytes"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl From<EmailAddress> for String {
    fn from(v: EmailAddress) -> String {
        v.0
    }
}

/// A BCP 47 language tag such as `en`, `fr-CA` or `zh-Hant-TW`, handed to
/// templates as `recipient.locale`. Checked for shape, not against a registry.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into();
        let mut parts = s.split('-');
        let primary = parts.next().unwrap_or_default();
        let well_formed = s.len() <= limits::MAX_LOCALE
            && (2..=8).contains(&primary.len())
            && primary.bytes().all(|b| b.is_ascii_alphabetic())
            && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !well_formed {
            return Err(DomainError::invalid(
                "locale",
                format!("use a language tag such as `en` or `fr-CA` (letters, digits and `-`, at most {} bytes)", limits::MAX_LOCALE),
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl TryFrom<String> for Locale {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl From<Locale> for String {
    fn from(v: Locale) -> String {
        v.0
    }
}

/// Which channels may email a recipient: `"all"`, `"none"`, or a list of
/// channel names and patterns (`["orders", "user.42.*"]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawChannels", into = "RawChannels")]
pub enum EmailChannels {
    #[default]
    All,
    None,
    Only(Vec<ChannelPattern>),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawChannels {
    Word(String),
    List(Vec<String>),
}

impl TryFrom<RawChannels> for EmailChannels {
    type Error = DomainError;
    fn try_from(raw: RawChannels) -> Result<Self, DomainError> {
        const FIELD: &str = "preferences.email.channels";
        match raw {
            RawChannels::Word(w) if w == "all" => Ok(EmailChannels::All),
            RawChannels::Word(w) if w == "none" => Ok(EmailChannels::None),
            RawChannels::Word(w) => {
                Err(DomainError::invalid(FIELD, format!("`{w}`: use \"all\", \"none\" or a list of channels and patterns")))
            }
            RawChannels::List(l) if l.len() > limits::MAX_EMAIL_CHANNELS => {
                Err(DomainError::invalid(FIELD, format!("at most {} channels and patterns", limits::MAX_EMAIL_CHANNELS)))
            }
            RawChannels::List(l) => Ok(EmailChannels::Only(
                l.into_iter()
                    .map(|p| ChannelPattern::parse(p).map_err(|e| DomainError::invalid(FIELD, e.to_string())))
                    .collect::<Result<_, _>>()?,
            )),
        }
    }
}

impl From<EmailChannels> for RawChannels {
    fn from(c: EmailChannels) -> Self {
        match c {
            EmailChannels::All => RawChannels::Word("all".into()),
            EmailChannels::None => RawChannels::Word("none".into()),
            EmailChannels::Only(l) => RawChannels::List(l.into_iter().map(Into::into).collect()),
        }
    }
}

/// Schemas for the OpenAPI document only: what the hand-written serde
/// forms above look like on the wire.
mod schema {
    #![allow(dead_code)]

    use serde::Serialize;
    use utoipa::ToSchema;

    /// `"all"` (the default), `"none"`, or channel names and patterns.
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum EmailChannels {
        Word(EmailChannelsWord),
        #[schema(example = json!(["orders", "user.42.*"]))]
        Patterns(Vec<String>),
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum EmailChannelsWord {
        All,
        None,
    }
}

/// A recipient's email preferences.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailPreferences {
    /// Channels that may email: `"all"` (default), `"none"`, or a list of
    /// channel names and patterns.
    #[serde(default)]
    #[schema(value_type = schema::EmailChannels)]
    pub channels: EmailChannels,
    /// Channels turned off one by one, by an unsubscribe link or by you;
    /// they win over `channels`.
    #[serde(default)]
    #[schema(value_type = Vec<String>, example = json!(["orders"]))]
    pub unsubscribed: Vec<ChannelName>,
}

impl EmailPreferences {
    /// May this channel email the recipient?
    pub fn allows(&self, channel: &ChannelName) -> bool {
        let listed = match &self.channels {
            EmailChannels::All => true,
            EmailChannels::None => false,
            EmailChannels::Only(patterns) => patterns.iter().any(|p| p.matches(channel)),
        };
        listed && !self.unsubscribed.contains(channel)
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        if self.unsubscribed.len() > limits::MAX_EMAIL_UNSUBSCRIBED {
            return Err(DomainError::invalid(
                "preferences.email.unsubscribed",
                format!("at most {} channels", limits::MAX_EMAIL_UNSUBSCRIBED),
            ));
        }
        Ok(())
    }

    /// Turns email off for one channel, or for all (`None`). Returns whether
    /// anything changed. When the list of channels turned off one by one is
    /// full, all email is turned off: an unsubscribe is never refused.
    pub fn unsubscribe(&mut self, channel: Option<&ChannelName>) -> bool {
        match channel {
            Some(c) if !self.allows(c) => false,
            Some(c) if self.unsubscribed.len() < limits::MAX_EMAIL_UNSUBSCRIBED => {
                self.unsubscribed.push(c.clone());
                true
            }
            _ if self.channels == EmailChannels::None => false,
            _ => {
                self.channels = EmailChannels::None;
                true
            }
        }
    }

    /// Drops repeated entries of `unsubscribed`, keeping the first.
    pub fn normalize(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.unsubscribed.retain(|c| seen.insert(c.clone()));
    }
}

/// Everything a recipient prefers; only email so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    #[serde(default)]
    pub email: EmailPreferences,
}

/// Someone a tenant may email: a user id with an address.
#[derive(Clone, Debug)]
pub struct Recipient {
    pub tenant: TenantId,
    pub user: UserId,
    pub email: EmailAddress,
    pub locale: Option<Locale>,
    pub preferences: Preferences,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn default_after_seconds() -> u32 {
    60
}

/// A channel's email policy: when a direct notification that was not
/// received live becomes an email, and how it looks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailPolicy {
    /// Seconds to wait for a live delivery before emailing (default 60, at
    /// most 7 days).
    #[serde(default = "default_after_seconds")]
    #[schema(example = 30, maximum = 604800)]
    pub after_seconds: u32,
    /// `0`: one email per notification. Otherwise a recipient's
    /// notifications of this channel that come due within this many seconds
    /// of the first are sent together, as one email, when the window closes
    /// (at most 1 day).
    #[serde(default)]
    #[schema(example = 0, maximum = 86400)]
    pub digest_seconds: u32,
    /// Subject template (minijinja). Give it with `text`, or give no
    /// template at all for Herald's defaults.
    #[schema(example = "{{ notification.data.title }}")]
    pub subject: Option<String>,
    /// Plain-text body template.
    pub text: Option<String>,
    /// HTML body template (autoescaped); without it, custom emails are plain text.
    pub html: Option<String>,
}

impl EmailPolicy {
    /// Checks bounds and sizes; the template syntax is checked by the mailer's
    /// template engine before the policy is saved.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.after_seconds > limits::MAX_EMAIL_AFTER_SECONDS {
            return Err(DomainError::invalid("email.after_seconds", format!("must be at most {}", limits::MAX_EMAIL_AFTER_SECONDS)));
        }
        if self.digest_seconds > limits::MAX_EMAIL_DIGEST_SECONDS {
            return Err(DomainError::invalid("email.digest_seconds", format!("must be at most {}", limits::MAX_EMAIL_DIGEST_SECONDS)));
        }
        let custom = self.subject.is_some() || self.text.is_some() || self.html.is_some();
        if custom && (self.subject.is_none() || self.text.is_none()) {
            return Err(DomainError::invalid(
                "email",
                "give `subject` and `text` together (and `html` if you like), or no template for Herald's defaults",
            ));
        }
        for (part, t) in [("email.subject", &self.subject), ("email.text", &self.text), ("email.html", &self.html)] {
            if let Some(t) = t
                && t.len() > limits::MAX_EMAIL_TEMPLATE
            {
                return Err(DomainError::invalid(part, format!("must be at most {} bytes", limits::MAX_EMAIL_TEMPLATE)));
            }
        }
        Ok(())
    }

    /// Whether the policy uses Herald's default templates.
    pub fn uses_default_templates(&self) -> bool {
        self.subject.is_none() && self.text.is_none() && self.html.is_none()
    }
}

/// How a notification reached (or was meant to reach) a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryPath {
    /// Handed to the user's Server-Sent Events stream (live or replayed).
    Stream,
    /// Returned by a poll.
    Poll,
    Email,
}

impl DeliveryPath {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryPath::Stream => "stream",
            DeliveryPath::Poll => "poll",
            DeliveryPath::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "stream" => Ok(DeliveryPath::Stream),
            "poll" => Ok(DeliveryPath::Poll),
            "email" => Ok(DeliveryPath::Email),
            _ => Err(DomainError::invalid("path", "use `stream`, `poll` or `email`")),
        }
    }
}

/// What happened on one delivery path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Handed to the user on a live stream or a poll before the email
    /// went out, which cancelled it.
    Delivered,
    /// Accepted by the SMTP server.
    Sent,
    /// A transient SMTP failure; another attempt is scheduled.
    Deferred,
    /// A permanent SMTP failure, or the last attempt failed.
    Failed,
    /// Not sent, and never will be: the recipient, their preferences, the
    /// channel's policy or the notification changed before it was due.
    Cancelled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Deferred => "deferred",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "delivered" => Ok(DeliveryStatus::Delivered),
            "sent" => Ok(DeliveryStatus::Sent),
            "deferred" => Ok(DeliveryStatus::Deferred),
            "failed" => Ok(DeliveryStatus::Failed),
            "cancelled" => Ok(DeliveryStatus::Cancelled),
            _ => Err(DomainError::invalid("status", "unknown delivery status")),
        }
    }
}

/// One entry of the delivery log.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant: TenantId,
    pub user: UserId,
    pub notification: Seq,
    pub channel: ChannelName,
    pub path: DeliveryPath,
    pub status: DeliveryStatus,
    /// The SMTP server's answer or the reason, for `deferred`, `failed`
    /// and `cancelled`.
    pub error: Option<String>,
    /// The email (its `Message-ID` local part) that carried or would have
    /// carried the notification.
    pub email: Option<EmailId>,
    /// The attempt this entry records (1 for the first), for emails.
    pub attempt: Option<u32>,
    pub at: DateTime<Utc>,
}

/// How long to wait before the next attempt after `attempts` failed ones:
/// `base`, doubled per further failure, at most `max`.
pub fn retry_delay(attempts: u32, base: Duration, max: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    base.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in ["ada@example.com", "a.b+tag@sub.example.co", "x@localhost", "ünï@exämple.com"] {
            EmailAddress::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("a@{}.com", "b.".repeat(130));
        for bad in
            ["", "ada", "@example.com", "ada@", "ada@@example.com", "Ada <ada@example.com>", "a b@example.com", "a@b..c", "a@b.c,d@e.f"]
        {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(EmailAddress::parse(long_local).is_err());
        assert!(EmailAddress::parse(too_long).is_err());
    }

    #[test]
    fn locales() {
        for ok in ["en", "fr-CA", "zh-Hant-TW", "es-419"] {
            Locale::parse(ok).unwrap();
        }
        for bad in ["", "e", "en_US", "en-", "-en", "123", "en-toolongsubtag", &format!("en-{}", "a-".repeat(20))] {
            assert!(Locale::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    fn channel(s: &str) -> ChannelName {
        ChannelName::parse(s).unwrap()
    }

    #[test]
    fn preferences_allow_and_unsubscribe() {
        let p: Preferences = serde_json::from_str("{}").unwrap();
        assert!(p.email.allows(&channel("orders")));

        let mut e: EmailPreferences = serde_json::from_value(serde_json::json!({"channels": ["orders", "user.42.*"]})).unwrap();
        assert!(e.allows(&channel("orders")) && e.allows(&channel("user.42.inbox")));
        assert!(!e.allows(&channel("billing")) && !e.allows(&channel("user.43.inbox")));
        assert!(e.unsubscribe(Some(&channel("orders"))));
        assert!(!e.unsubscribe(Some(&channel("orders"))), "already off");
        assert!(!e.allows(&channel("orders")) && e.allows(&channel("user.42.inbox")));
        assert!(e.unsubscribe(None));
        assert!(!e.allows(&channel("user.42.inbox")));
        assert!(!e.unsubscribe(None));

        let none: EmailPreferences = serde_json::from_value(serde_json::json!({"channels": "none"})).unwrap();
        assert!(!none.allows(&channel("orders")));
        // Round trip through the stored form.
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(text, r#"{"channels":"none","unsubscribed":["orders"]}"#);
        assert_eq!(serde_json::from_str::<EmailPreferences>(&text).unwrap(), e);
    }

    #[test]
    fn a_full_unsubscribe_list_turns_everything_off() {
        let mut e = EmailPreferences {
            channels: EmailChannels::All,
            unsubscribed: (0..limits::MAX_EMAIL_UNSUBSCRIBED).map(|i| channel(&format!("c{i}"))).collect(),
        };
        assert!(e.unsubscribe(Some(&channel("orders"))));
        assert_eq!(e.channels, EmailChannels::None);
    }

    #[test]
    fn bad_preferences_are_refused() {
        for bad in [
            serde_json::json!({"channels": "some"}),
            serde_json::json!({"channels": ["a..b"]}),
            serde_json::json!({"channels": 3}),
            serde_json::json!({"unsubscribed": ["a.*"]}),
            serde_json::json!({"other": 1}),
        ] {
            assert!(serde_json::from_value::<EmailPreferences>(bad.clone()).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..=limits::MAX_EMAIL_CHANNELS).map(|i| format!("c{i}")).collect();
        assert!(serde_json::from_value::<EmailPreferences>(serde_json::json!({"channels": many})).is_err());
    }

    #[test]
    fn policies() {
        let p: EmailPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!((p.after_seconds, p.digest_seconds), (60, 0));
        p.validate().unwrap();
        assert!(p.uses_default_templates());
        let check = |v: serde_json::Value| serde_json::from_value::<EmailPolicy>(v).unwrap().validate();
        check(serde_json::json!({"after_seconds": 0, "subject": "s", "text": "t"})).unwrap();
        check(serde_json::json!({"subject": "s", "text": "t", "html": "<p>h</p>"})).unwrap();
        assert!(check(serde_json::json!({"after_seconds": 604801})).is_err());
        assert!(check(serde_json::json!({"digest_seconds": 86401})).is_err());
        assert!(check(serde_json::json!({"subject": "s"})).is_err());
        assert!(check(serde_json::json!({"html": "h"})).is_err());
        assert!(check(serde_json::json!({"subject": "s", "text": "x".repeat(limits::MAX_EMAIL_TEMPLATE + 1)})).is_err());
        assert!(serde_json::from_value::<EmailPolicy>(serde_json::json!({"after": 3})).is_err());
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(30), Duration::from_secs(600));
        let delays: Vec<u64> = (1..=7).map(|a| retry_delay(a, base, max).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(retry_delay(u32::MAX, base, max), max);
        assert_eq!(retry_delay(0, base, max), base);
    }

    #[test]
    fn paths_and_statuses_round_trip() {
        for p in [DeliveryPath::Stream, DeliveryPath::Poll, DeliveryPath::Email] {
            assert_eq!(DeliveryPath::parse(p.as_str()).unwrap(), p);
        }
        for s in
            [DeliveryStatus::Delivered, DeliveryStatus::Sent, DeliveryStatus::Deferred, DeliveryStatus::Failed, DeliveryStatus::Cancelled]
        {
            assert_eq!(DeliveryStatus::parse(s.as_str()).unwrap(), s);
        }
    }
}
