//! The values a plugin works with: plain Rust mirrors of the WIT records in
//! `plugins/wit/herald-plugin.wit`, plus helpers to read and write their
//! JSON parts.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

/// A notification as a plugin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Channel name, e.g. `orders` or `user.42.inbox`.
    pub channel: String,
    /// The event type, e.g. `order.created`.
    pub event_type: String,
    /// The notification's data as JSON text; see [`Notification::data_json`].
    pub data: String,
    /// Users it is addressed to; `None` means every subscriber of the channel.
    pub recipients: Option<Vec<String>>,
    /// Read-only facts from Herald (`tenant`, `id` once stored,
    /// `published_at_unix`); ignored in a replacement.
    pub metadata: Vec<(String, String)>,
}

impl Notification {
    /// A notification with the given data, no recipients and no metadata;
    /// mostly for tests, since the host hands plugins their notifications.
    pub fn new(channel: impl Into<String>, event_type: impl Into<String>, data: &Value) -> Self {
        Self { channel: channel.into(), event_type: event_type.into(), data: data.to_string(), recipients: None, metadata: Vec::new() }
    }

    /// The data parsed as JSON. Herald only stores valid JSON, so an error
    /// here means a broken host or a hand-made test value.
    pub fn data_json(&self) -> Result<Value, Error> {
        serde_json::from_str(&self.data).map_err(|e| Error::new(format!("notification data: {e}")))
    }

    /// The same notification carrying `data` instead.
    #[must_use]
    pub fn with_data(mut self, data: &Value) -> Self {
        self.data = data.to_string();
        self
    }

    /// The metadata value under `key`, if Herald provided one.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The same notification with `key` set to `value` in its metadata; for
    /// tests, since Herald ignores metadata in a replacement.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.metadata.retain(|(k, _)| *k != key);
        self.metadata.push((key, value.into()));
        self
    }

    /// The same notification addressed to `recipients` only.
    #[must_use]
    pub fn with_recipients<S: Into<String>>(mut self, recipients: impl IntoIterator<Item = S>) -> Self {
        self.recipients = Some(recipients.into_iter().map(Into::into).collect());
        self
    }
}

/// A stored notification as the deliver hook sees it, for one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Herald's id of the stored notification (the SSE event id).
    pub id: u64,
    /// Channel name.
    pub channel: String,
    /// The event type.
    pub event_type: String,
    /// The notification's data as JSON text; see [`Delivery::data_json`].
    pub data: String,
    /// True when the notification was addressed to listed recipients (this
    /// subscriber is one of them), false when it went to every subscriber.
    pub direct: bool,
    /// When it was published, in milliseconds since the Unix epoch; plugins
    /// have no clock of their own.
    pub published_at_ms: u64,
}

impl Delivery {
    /// A delivery of the given data, with id 0, published at the epoch, to
    /// every subscriber; mostly for tests, since the host hands plugins their deliveries.
    pub fn new(channel: impl Into<String>, event_type: impl Into<String>, data: &Value) -> Self {
        Self { id: 0, channel: channel.into(), event_type: event_type.into(), data: data.to_string(), direct: false, published_at_ms: 0 }
    }

    /// The same delivery published at `ms` milliseconds since the Unix epoch.
    #[must_use]
    pub fn published_at_ms(mut self, ms: u64) -> Self {
        self.published_at_ms = ms;
        self
    }

    /// The data parsed as JSON; see [`Notification::data_json`].
    pub fn data_json(&self) -> Result<Value, Error> {
        serde_json::from_str(&self.data).map_err(|e| Error::new(format!("notification data: {e}")))
    }

    /// A decision that sends this subscriber `data` under the same event type.
    pub fn replace_data(&self, data: &Value) -> DeliveryDecision {
        DeliveryDecision::Replace { event_type: self.event_type.clone(), data: data.to_string() }
    }
}

/// The subscriber a delivery is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The token's `sub`.
    pub user: String,
    /// The token's claims the plugin may see, as JSON object text; see
    /// [`Subscriber::claims_json`] and [`Subscriber::claim`].
    pub claims: String,
}

impl Subscriber {
    /// A subscriber with the given claims; mostly for tests.
    pub fn new(user: impl Into<String>, claims: &Value) -> Self {
        Self { user: user.into(), claims: claims.to_string() }
    }

    /// The claims parsed as JSON (an object when they come from Herald).
    pub fn claims_json(&self) -> Result<Value, Error> {
        serde_json::from_str(&self.claims).map_err(|e| Error::new(format!("subscriber claims: {e}")))
    }

    /// The claim `name` as a `T`, or `None` when the token does not carry it
    /// (or carries `null`). A claim of the wrong shape is an error naming it,
    /// so a bad token is visible rather than silently ignored.
    pub fn claim<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        let mut claims = self.claims_json()?;
        match claims.get_mut(name).map(Value::take) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value).map(Some).map_err(|e| Error::new(format!("claim `{name}`: {e}"))),
        }
    }
}

/// What the publish hook does with a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Pass it on unchanged.
    Keep,
    /// Pass this one on instead (on the same channel).
    Replace(Notification),
    /// Do not pass it on; Herald records the reason.
    Drop(String),
}

/// What the deliver hook does with one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryDecision {
    /// Send it unchanged.
    Keep,
    /// Send this subscriber this event type and data (JSON text) instead;
    /// see [`Delivery::replace_data`].
    Replace { event_type: String, data: String },
    /// Do not send it to this subscriber; Herald logs the reason.
    Drop(String),
}

/// How severe a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn data_round_trips_through_with_data() {
        let n = Notification::new("orders", "order.created", &json!({"id": 7}));
        assert_eq!(n.data_json().unwrap(), json!({"id": 7}));

        let mut data = n.data_json().unwrap();
        data["title"] = json!("Order 7");
        let n = n.with_data(&data);
        assert_eq!(n.data_json().unwrap(), json!({"id": 7, "title": "Order 7"}));
        assert_eq!(n.channel, "orders");
    }

    #[test]
    fn invalid_data_is_an_error_naming_the_data() {
        let mut n = Notification::new("c", "e", &json!(null));
        n.data = "{not json".into();
        let err = n.data_json().unwrap_err();
        assert!(err.to_string().starts_with("notification data:"), "{err}");
    }

    #[test]
    fn metadata_lookup_and_replacement() {
        let n = Notification::new("c", "e", &json!({})).with_metadata("tenant", "acme").with_metadata("id", "1").with_metadata("id", "2");
        assert_eq!(n.metadata("tenant"), Some("acme"));
        assert_eq!(n.metadata("id"), Some("2"));
        assert_eq!(n.metadata.len(), 2);
        assert_eq!(n.metadata("missing"), None);
    }

    #[test]
    fn a_delivery_replaces_its_data_under_its_event_type() {
        let d = Delivery::new("orders", "order.created", &json!({"id": 7})).published_at_ms(5);
        assert_eq!(d.published_at_ms, 5);
        assert_eq!(d.data_json().unwrap(), json!({"id": 7}));
        assert_eq!(
            d.replace_data(&json!({"title": "Order 7"})),
            DeliveryDecision::Replace { event_type: "order.created".into(), data: r#"{"title":"Order 7"}"#.into() }
        );
    }

    #[test]
    fn claims_are_read_typed() {
        let s = Subscriber::new("u1", &json!({"locale": "fr", "age": 3, "gone": null}));
        assert_eq!(s.claims_json().unwrap()["locale"], "fr");
        assert_eq!(s.claim::<String>("locale").unwrap().as_deref(), Some("fr"));
        assert_eq!(s.claim::<u32>("age").unwrap(), Some(3));
        assert_eq!(s.claim::<String>("missing").unwrap(), None);
        assert_eq!(s.claim::<String>("gone").unwrap(), None);
        let err = s.claim::<String>("age").unwrap_err();
        assert!(err.to_string().contains("claim `age`"), "{err}");
    }
}
