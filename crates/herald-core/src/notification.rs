//! Notifications: what a publisher sends and what is stored and streamed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::ids::{Seq, TenantId};
use crate::names::{ChannelName, EventType, IdempotencyKey, UserId};

/// A validated notification on its way to storage.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub tenant: TenantId,
    pub channel: ChannelName,
    pub event_type: EventType,
    /// The publisher's JSON exactly as sent.
    pub data: Box<RawValue>,
    /// When set, only these users' streams receive it.
    pub recipients: Option<Vec<UserId>>,
    pub idempotency_key: Option<IdempotencyKey>,
}

/// A committed notification.
#[derive(Clone, Debug)]
pub struct Notification {
    pub tenant: TenantId,
    pub id: Seq,
    pub channel: ChannelName,
    pub event_type: EventType,
    pub data: Box<RawValue>,
    pub recipients: Option<Vec<UserId>>,
    pub created_at: DateTime<Utc>,
}

impl Notification {
    /// May this user receive it?
    pub fn is_for(&self, user: &UserId) -> bool {
        self.recipients.as_ref().is_none_or(|r| r.contains(user))
    }

    /// The JSON a subscriber sees, serialized once per notification.
    pub fn wire_json(&self) -> String {
        #[derive(Serialize)]
        struct Wire<'a> {
            id: Seq,
            channel: &'a str,
            #[serde(rename = "type")]
            event_type: &'a str,
            data: &'a RawValue,
            created_at: String,
        }
        serde_json::to_string(&Wire {
            id: self.id,
            channel: self.channel.as_str(),
            event_type: self.event_type.as_str(),
            data: &self.data,
            created_at: self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        })
        .expect("serializing validated fields cannot fail")
    }
}
