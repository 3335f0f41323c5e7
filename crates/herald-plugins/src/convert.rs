//! Moving values across the sandbox boundary: the public input types are
//! copied into binding values that each warm instance keeps (so a warm call
//! reuses their capacity instead of allocating), and decisions coming back
//! are checked before the host trusts them.

use crate::bindings::{self, Delivery, Notification, Subscriber};
use crate::output_rules;
use crate::{Decision, DeliveryDecision, PluginError, PluginNotification, SubscriberContext};

pub(crate) fn empty_notification() -> Notification {
    Notification { channel: String::new(), event_type: String::new(), data: String::new(), recipients: None, metadata: Vec::new() }
}

pub(crate) fn empty_delivery() -> Delivery {
    Delivery { id: 0, channel: String::new(), event_type: String::new(), data: String::new(), direct: false, published_at_ms: 0 }
}

pub(crate) fn empty_subscriber() -> Subscriber {
    Subscriber { user: String::new(), claims: String::new() }
}

pub(crate) fn fill_notification(dst: &mut Notification, src: &PluginNotification) {
    set(&mut dst.channel, &src.channel);
    set(&mut dst.event_type, &src.event_type);
    set(&mut dst.data, &src.data);
    match &src.recipients {
        None => dst.recipients = None,
        Some(users) => fill_strings(dst.recipients.get_or_insert_with(Vec::new), users),
    }
    dst.metadata.truncate(src.metadata.len());
    for (i, (k, v)) in src.metadata.iter().enumerate() {
        match dst.metadata.get_mut(i) {
            Some((dk, dv)) => {
                set(dk, k);
                set(dv, v);
            }
            None => dst.metadata.push((k.clone(), v.clone())),
        }
    }
}

pub(crate) fn fill_delivery(dst: &mut Delivery, src: &crate::Delivery<'_>) {
    dst.id = src.id;
    set(&mut dst.channel, src.channel);
    set(&mut dst.event_type, src.event_type);
    set(&mut dst.data, src.data);
    dst.direct = src.direct;
    dst.published_at_ms = src.published_at_ms;
}

pub(crate) fn fill_subscriber(dst: &mut Subscriber, src: &SubscriberContext<'_>) {
    set(&mut dst.user, src.user);
    set(&mut dst.claims, src.claims);
}

fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

fn fill_strings(dst: &mut Vec<String>, src: &[String]) {
    dst.truncate(src.len());
    for (i, s) in src.iter().enumerate() {
        match dst.get_mut(i) {
            Some(d) => set(d, s),
            None => dst.push(s.clone()),
        }
    }
}

/// Checks a publish hook's decision and turns it into the public type.
/// Metadata is Herald's: it is taken from `input`, whatever the plugin returned.
pub(crate) fn decision(out: bindings::Decision, input: &PluginNotification, max_bytes: usize) -> Result<Decision, PluginError> {
    match out {
        bindings::Decision::Keep => Ok(Decision::Keep),
        bindings::Decision::Drop(reason) => {
            output_rules::drop_reason(&reason, max_bytes).map_err(PluginError::InvalidOutput)?;
            Ok(Decision::Drop(reason))
        }
        bindings::Decision::Replace(n) => {
            output_rules::publish_replacement(&n.channel, &n.event_type, &n.data, n.recipients.as_deref(), max_bytes)
                .map_err(PluginError::InvalidOutput)?;
            Ok(Decision::Replace(PluginNotification {
                channel: n.channel,
                event_type: n.event_type,
                data: n.data,
                recipients: n.recipients,
                metadata: input.metadata.clone(),
            }))
        }
    }
}

/// Checks a deliver hook's decision and turns it into the public type.
pub(crate) fn delivery_decision(out: bindings::DeliveryDecision, max_bytes: usize) -> Result<DeliveryDecision, PluginError> {
    match out {
        bindings::DeliveryDecision::Keep => Ok(DeliveryDecision::Keep),
        bindings::DeliveryDecision::Drop(reason) => {
            output_rules::drop_reason(&reason, max_bytes).map_err(PluginError::InvalidOutput)?;
            Ok(DeliveryDecision::Drop(reason))
        }
        bindings::DeliveryDecision::Replace(c) => {
            output_rules::deliver_replacement(&c.event_type, &c.data, max_bytes).map_err(PluginError::InvalidOutput)?;
            Ok(DeliveryDecision::Replace { event_type: c.event_type, data: c.data })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PluginNotification {
        PluginNotification {
            channel: "orders".into(),
            event_type: "a".into(),
            data: "{}".into(),
            recipients: Some(vec!["bob".into()]),
            metadata: vec![("id".into(), "7".into())],
        }
    }

    fn replacement(channel: &str, event_type: &str, data: &str) -> bindings::Decision {
        bindings::Decision::Replace(Notification {
            channel: channel.into(),
            event_type: event_type.into(),
            data: data.into(),
            recipients: None,
            metadata: vec![("id".into(), "forged".into())],
        })
    }

    #[test]
    fn buffers_are_refilled_not_appended() {
        let mut dst = empty_notification();
        fill_notification(&mut dst, &input());
        let shorter = PluginNotification { recipients: Some(vec![]), metadata: vec![], ..input() };
        fill_notification(&mut dst, &shorter);
        assert_eq!(dst.channel, "orders");
        assert_eq!(dst.recipients, Some(vec![]));
        assert!(dst.metadata.is_empty());
        fill_notification(&mut dst, &PluginNotification { recipients: None, ..input() });
        assert_eq!(dst.recipients, None);
    }

    fn content(event_type: &str, data: &str) -> bindings::DeliveryDecision {
        bindings::DeliveryDecision::Replace(bindings::Content { event_type: event_type.into(), data: data.into() })
    }

    #[test]
    fn metadata_is_never_the_plugins() {
        let out = decision(replacement("c", "e", "1"), &input(), 100).unwrap();
        let Decision::Replace(n) = out else { panic!() };
        assert_eq!(n.metadata, input().metadata);
    }

    #[test]
    fn invalid_replacements_are_refused() {
        let bad = |d| matches!(decision(d, &input(), 10), Err(PluginError::InvalidOutput(_)));
        assert!(bad(replacement("", "e", "1")), "empty channel");
        assert!(bad(replacement("c", "", "1")), "empty event type");
        assert!(bad(replacement("c", "e", "{")), "not JSON");
        assert!(bad(replacement("c", "e", "12345678901")), "too big");
        assert!(bad(bindings::Decision::Drop("x".repeat(11))), "reason too long");
        assert!(decision(replacement("c", "e", "1"), &input(), 10).is_ok());

        let bad = |d| matches!(delivery_decision(d, 10), Err(PluginError::InvalidOutput(_)));
        assert!(bad(content("", "1")), "empty event type on deliver");
        assert!(bad(content("e", "{")), "not JSON on deliver");
        assert!(bad(content("e", "12345678901")), "too big on deliver");
        assert!(bad(bindings::DeliveryDecision::Drop("x".repeat(11))), "reason too long on deliver");
        assert_eq!(
            delivery_decision(content("e", "[1]"), 10).unwrap(),
            DeliveryDecision::Replace { event_type: "e".into(), data: "[1]".into() }
        );
    }
}
