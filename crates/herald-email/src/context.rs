//! What a template sees when it renders one email.
//!
//! ```text
//! recipient        { user, email, locale }
//! tenant           the tenant's name
//! channel          the channel the email is about
//! notifications    [{ id, channel, type, data, published_at }, …]  (1 or more)
//! notification     the first of `notifications`: the common, non-digest case
//! unsubscribe_url  the one-click link, or absent
//! ```
//!
//! A digest is the same email with several notifications: templates test
//! `notifications|length > 1` to tell them apart. `published_at` is RFC 3339
//! in UTC to the second, `data` is the publisher's JSON as is.

use chrono::{DateTime, SecondsFormat, Utc};
use herald_core::ids::Seq;
use herald_core::names::{ChannelName, EventType, TenantName, UserId};
use herald_core::notification::Notification;
use serde::Serialize;

/// Who the email is for.
#[derive(Clone, Debug, Serialize)]
pub struct Recipient {
    pub user: UserId,
    /// The address the email goes to.
    pub email: String,
    /// A BCP 47 tag such as `fr-CA`, when the server knows one.
    pub locale: Option<String>,
}

/// One notification, as a template sees it.
#[derive(Clone, Debug, Serialize)]
pub struct NotificationView {
    pub id: Seq,
    pub channel: ChannelName,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub data: serde_json::Value,
    /// Seen by templates as RFC 3339 to the second: `2026-11-25T10:00:00Z`.
    #[serde(serialize_with = "rfc3339_seconds")]
    pub published_at: DateTime<Utc>,
}

fn rfc3339_seconds<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

impl From<&Notification> for NotificationView {
    fn from(n: &Notification) -> Self {
        // Stored data is valid JSON; only nesting beyond serde_json's
        // recursion limit fails to parse, and then the template gets the
        // text rather than nothing.
        let data = serde_json::from_str(n.data.get()).unwrap_or_else(|_| serde_json::Value::String(n.data.get().to_owned()));
        NotificationView { id: n.id, channel: n.channel.clone(), event_type: n.event_type.clone(), data, published_at: n.created_at }
    }
}

/// Everything one email is rendered from.
#[derive(Clone, Debug, Serialize)]
pub struct RenderContext {
    pub recipient: Recipient,
    pub tenant: TenantName,
    pub channel: ChannelName,
    /// Oldest first. An empty list renders, but says nothing useful.
    pub notifications: Vec<NotificationView>,
    pub unsubscribe_url: Option<String>,
}

/// The context plus `notification`, as handed to the engine.
#[derive(Serialize)]
pub(crate) struct TemplateRoot<'a> {
    #[serde(flatten)]
    pub context: &'a RenderContext,
    pub notification: Option<&'a NotificationView>,
}

impl<'a> From<&'a RenderContext> for TemplateRoot<'a> {
    fn from(context: &'a RenderContext) -> Self {
        TemplateRoot { context, notification: context.notifications.first() }
    }
}
