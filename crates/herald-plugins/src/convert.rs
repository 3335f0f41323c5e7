//! Moving values across the sandbox boundary: the public input types are
//! copied into binding values that each warm instance keeps (so a warm call
//! reuses their capacity instead of allocating), and decisions coming back
//! are checked before the host trusts them.

use serde::de::IgnoredAny;

use crate::bindings::{self, Notification, Subscriber};
use crate::{Decision, PluginError, PluginNotification, SubscriberContext};

/// Which hook produced a decision: they may change different fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    Publish,
    Deliver,
}

pub(crate) fn empty_notification() -> Notification {
    Notification { channel: String::new(), event_type: String::new(), data: String::new(), recipients: None, metadata: Vec::new() }
}

pub(crate) fn empty_subscriber() -> Subscriber {
    Subscriber { user: String::new(), channel: String::new(), claims: String::new() }
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

pub(crate) fn fill_subscriber(dst: &mut Subscriber, src: &SubscriberContext) {
    set(&mut dst.user, &src.user);
    set(&mut dst.channel, &src.channel);
    set(&mut dst.claims, &src.claims);
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

/// Checks a plugin's decision and turns it into the public type. Fields the
/// hook may not change are taken from `input`, whatever the plugin returned.
pub(crate) fn decision(out: bindings::Decision, input: &PluginNotification, hook: Hook, max_bytes: usize) -> Result<Decision, PluginError> {
    match out {
        bindings::Decision::Keep => Ok(Decision::Keep),
        bindings::Decision::Drop(reason) => {
            check_size("drop reason", reason.len(), max_bytes)?;
            Ok(Decision::Drop(reason))
        }
        bindings::Decision::Replace(n) => {
            if n.event_type.is_empty() {
                return Err(PluginError::InvalidOutput("replacement has an empty event type".into()));
            }
            let replacement = match hook {
                Hook::Publish => {
                    if n.channel.is_empty() {
                        return Err(PluginError::InvalidOutput("replacement has an empty channel".into()));
                    }
                    let recipients_len: usize = n.recipients.iter().flatten().map(String::len).sum();
                    check_size("replacement", n.channel.len() + n.event_type.len() + n.data.len() + recipients_len, max_bytes)?;
                    PluginNotification {
                        channel: n.channel,
                        event_type: n.event_type,
                        data: n.data,
                        recipients: n.recipients,
                        metadata: input.metadata.clone(),
                    }
                }
                // A delivery is for one subscriber of one channel: only the
                // event type and data may change.
                Hook::Deliver => {
                    check_size("replacement", n.event_type.len() + n.data.len(), max_bytes)?;
                    PluginNotification {
                        channel: input.channel.clone(),
                        event_type: n.event_type,
                        data: n.data,
                        recipients: input.recipients.clone(),
                        metadata: input.metadata.clone(),
                    }
                }
            };
            if let Err(e) = serde_json::from_str::<IgnoredAny>(&replacement.data) {
                return Err(PluginError::InvalidOutput(format!("replacement data is not JSON: {e}")));
            }
            Ok(Decision::Replace(replacement))
        }
    }
}

fn check_size(what: &str, len: usize, max: usize) -> Result<(), PluginError> {
    if len > max {
        return Err(PluginError::InvalidOutput(format!("{what} is {len} bytes, over the limit of {max}")));
    }
    Ok(())
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

    #[test]
    fn metadata_is_never_the_plugins() {
        let out = decision(replacement("c", "e", "1"), &input(), Hook::Publish, 100).unwrap();
        let Decision::Replace(n) = out else { panic!() };
        assert_eq!(n.metadata, input().metadata);
    }

    #[test]
    fn invalid_replacements_are_refused() {
        let bad = |d, hook| matches!(decision(d, &input(), hook, 10), Err(PluginError::InvalidOutput(_)));
        assert!(bad(replacement("", "e", "1"), Hook::Publish), "empty channel on publish");
        assert!(bad(replacement("c", "", "1"), Hook::Deliver), "empty event type");
        assert!(bad(replacement("c", "e", "{"), Hook::Deliver), "not JSON");
        assert!(bad(replacement("c", "e", "12345678901"), Hook::Deliver), "too big");
        assert!(bad(bindings::Decision::Drop("x".repeat(11)), Hook::Publish), "reason too long");
        // On deliver the channel is not the plugin's to set, so an empty one is ignored.
        assert!(decision(replacement("", "e", "1"), &input(), Hook::Deliver, 10).is_ok());
    }
}
