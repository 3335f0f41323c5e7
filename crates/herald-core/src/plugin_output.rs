//! What a plugin may put in place of a notification. The plugin host has
//! already bounded the output's size and checked that its data is JSON; here
//! a replacement is checked like a publisher's input, into domain types,
//! before it is stored or sent.

use serde_json::value::RawValue;
use thiserror::Error;

use crate::names::{EventType, UserId};
use crate::notification::{NewNotification, Notification};
use crate::{DomainError, limits};

/// Why a plugin's replacement was refused. The server records the message as
/// the step's failure (in the log, and in a dead letter when fail-closed).
#[derive(Debug, Error)]
pub enum PluginOutputError {
    /// The chain belongs to the channel: moving a notification elsewhere
    /// would skip that channel's own chain.
    #[error("a publish hook cannot move a notification to another channel (`{0}`)")]
    OtherChannel(String),
    #[error("data is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("at most {} recipients", limits::MAX_RECIPIENTS)]
    TooManyRecipients,
    /// A type or a recipient that a publisher could not have sent.
    #[error(transparent)]
    Invalid(#[from] DomainError),
}

/// A publish hook's replacement for `current`: the same channel, a valid
/// type, JSON data and at most [`limits::MAX_RECIPIENTS`] valid recipients.
/// Tenant and idempotency key stay `current`'s.
pub fn publish_replacement(
    current: &NewNotification,
    channel: &str,
    event_type: String,
    data: String,
    recipients: Option<Vec<String>>,
) -> Result<NewNotification, PluginOutputError> {
    if channel != current.channel.as_str() {
        return Err(PluginOutputError::OtherChannel(channel.to_owned()));
    }
    let event_type = EventType::parse(event_type)?;
    let data = RawValue::from_string(data).map_err(PluginOutputError::NotJson)?;
    let recipients = match recipients {
        None => None,
        Some(r) if r.len() > limits::MAX_RECIPIENTS => return Err(PluginOutputError::TooManyRecipients),
        Some(r) => Some(r.into_iter().map(UserId::parse).collect::<Result<Vec<_>, _>>()?),
    };
    Ok(NewNotification {
        tenant: current.tenant.clone(),
        channel: current.channel.clone(),
        event_type,
        data,
        recipients,
        idempotency_key: current.idempotency_key.clone(),
    })
}

/// `n` as one subscriber receives it after a deliver hook replaced its type
/// and data; everything else (id, channel, recipients, time) stays `n`'s.
pub fn deliver_replacement(n: &Notification, event_type: String, data: String) -> Result<Notification, PluginOutputError> {
    let event_type = EventType::parse(event_type)?;
    let data = RawValue::from_string(data).map_err(PluginOutputError::NotJson)?;
    Ok(Notification { event_type, data, ..n.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::names::{ChannelName, IdempotencyKey};

    fn current() -> NewNotification {
        NewNotification {
            tenant: TenantId::generate(),
            channel: ChannelName::parse("orders").unwrap(),
            event_type: EventType::parse("order.created").unwrap(),
            data: RawValue::from_string("{}".into()).unwrap(),
            recipients: None,
            idempotency_key: Some(IdempotencyKey::parse("k1").unwrap()),
        }
    }

    fn replace(channel: &str, event_type: &str, data: &str, recipients: Option<Vec<String>>) -> Result<NewNotification, String> {
        publish_replacement(&current(), channel, event_type.into(), data.into(), recipients).map_err(|e| e.to_string())
    }

    #[test]
    fn a_valid_replacement_keeps_tenant_channel_and_idempotency_key() {
        let cur = current();
        let out = publish_replacement(&cur, "orders", "order.paid".into(), r#"{"a":1}"#.into(), Some(vec!["7".into()])).unwrap();
        assert_eq!((out.tenant, out.channel, out.idempotency_key), (cur.tenant, cur.channel, cur.idempotency_key));
        assert_eq!(out.event_type.as_str(), "order.paid");
        assert_eq!(out.data.get(), r#"{"a":1}"#);
        assert_eq!(out.recipients, Some(vec![UserId::parse("7").unwrap()]));
    }

    #[test]
    fn invalid_replacements_are_refused_with_the_reason() {
        assert_eq!(
            replace("billing", "e", "1", None).unwrap_err(),
            "a publish hook cannot move a notification to another channel (`billing`)"
        );
        assert_eq!(replace("orders", "message", "1", None).unwrap_err(), "invalid type: `message` is reserved for Herald's own events");
        assert!(replace("orders", "e", "{", None).unwrap_err().starts_with("data is not JSON: "));
        let many = vec!["u".to_owned(); limits::MAX_RECIPIENTS + 1];
        assert_eq!(replace("orders", "e", "1", Some(many)).unwrap_err(), "at most 1000 recipients");
        assert_eq!(replace("orders", "e", "1", Some(vec![String::new()])).unwrap_err(), "invalid user id: must not be empty");
        assert!(replace("orders", "e", "1", Some(vec!["u".to_owned(); limits::MAX_RECIPIENTS])).is_ok());
    }

    #[test]
    fn a_delivered_replacement_changes_type_and_data_only() {
        let cur = current();
        let n = Notification {
            tenant: cur.tenant,
            id: 9,
            channel: cur.channel,
            event_type: cur.event_type,
            data: cur.data,
            recipients: Some(vec![UserId::parse("7").unwrap()]),
            created_at: chrono::Utc::now(),
        };
        let out = deliver_replacement(&n, "order.seen".into(), "[1]".into()).unwrap();
        assert_eq!((out.id, &out.channel, &out.recipients, out.created_at), (n.id, &n.channel, &n.recipients, n.created_at));
        assert_eq!((out.event_type.as_str(), out.data.get()), ("order.seen", "[1]"));
        assert!(deliver_replacement(&n, String::new(), "1".into()).is_err());
        assert!(deliver_replacement(&n, "e".into(), "nope".into()).is_err());
    }
}
