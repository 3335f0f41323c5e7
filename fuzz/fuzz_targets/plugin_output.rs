//! What a plugin returns, through both checks it passes before it takes a
//! notification's place: the plugin host's rules (herald-plugins'
//! `output_rules.rs`: names, size, JSON), compiled here from its source file
//! so that the fuzz build needs no wasmtime, then the domain's
//! (`herald_core::plugin_output`: valid type, same channel, recipients).
//!
//! Input, as text: a mode byte (`'0'` publish replacement, `'1'` deliver
//! replacement, `'2'` drop reason), a byte giving the host's size cap (its
//! value times 8), then lines:
//! - publish: channel, type, recipients (`-` for none, else comma-separated), data;
//! - deliver: type, data;
//! - drop: the reason.
//!
//! The data is the rest of the input, newlines included.

#![no_main]

#[path = "../../crates/herald-plugins/src/output_rules.rs"]
mod output_rules;

use std::collections::HashMap;

use chrono::DateTime;
use herald_core::ids::TenantId;
use herald_core::limits;
use herald_core::names::{ChannelName, EventType, UserId};
use herald_core::notification::{NewNotification, Notification};
use herald_core::plugin_output::{deliver_replacement, publish_replacement};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let [mode, cap, rest @ ..] = data else { return };
    let max_bytes = usize::from(*cap) * 8;
    let text = String::from_utf8_lossy(rest);
    match mode % 3 {
        0 => {
            let mut lines = text.splitn(4, '\n');
            let (channel, event_type, recipients, data) =
                (lines.next().unwrap_or(""), lines.next().unwrap_or(""), lines.next().unwrap_or("-"), lines.next().unwrap_or(""));
            let recipients = match recipients {
                "-" => None,
                "" => Some(Vec::new()),
                list => Some(list.split(',').map(str::to_owned).collect()),
            };
            publish(channel, event_type, recipients, data, max_bytes);
        }
        1 => {
            let (event_type, data) = text.split_once('\n').unwrap_or((&text, ""));
            deliver(event_type, data, max_bytes);
        }
        _ => {
            let host = output_rules::drop_reason(&text, max_bytes);
            assert_eq!(host.is_ok(), text.len() <= max_bytes, "{host:?}");
        }
    }
});

fn publish(channel: &str, event_type: &str, recipients: Option<Vec<String>>, data: &str, max_bytes: usize) {
    let host = output_rules::publish_replacement(channel, event_type, data, recipients.as_deref(), max_bytes);
    let size = channel.len() + event_type.len() + data.len() + recipients.iter().flatten().map(String::len).sum::<usize>();
    let want = !event_type.is_empty() && !channel.is_empty() && size <= max_bytes && is_json(data);
    assert_eq!(host.is_ok(), want, "host rules: {host:?}");
    same_json_rule(data);

    // The chain belongs to a channel: a replacement naming that channel may
    // pass, any other must not.
    let current = NewNotification {
        tenant: TenantId::parse("ten_fuzz").unwrap(),
        channel: ChannelName::parse(channel).unwrap_or_else(|_| ChannelName::parse("orders").unwrap()),
        event_type: EventType::parse("original").unwrap(),
        data: RawValue::from_string("{}".into()).unwrap(),
        recipients: None,
        idempotency_key: None,
    };
    let Ok(n) = publish_replacement(&current, channel, event_type.into(), data.into(), recipients.clone()) else { return };
    assert_eq!(n.channel.as_str(), channel);
    assert_eq!((&n.tenant, &n.idempotency_key), (&current.tenant, &current.idempotency_key));
    assert_eq!(n.event_type.as_str(), event_type);
    assert!(is_json(data), "domain accepted data that is not JSON");
    assert_eq!(n.data.get(), trim_json_whitespace(data), "the data is kept as sent, but for surrounding whitespace");
    let kept: Option<Vec<&str>> = n.recipients.as_ref().map(|r| r.iter().map(UserId::as_str).collect());
    assert_eq!(kept, recipients.as_ref().map(|r| r.iter().map(String::as_str).collect()));
    assert!(recipients.is_none_or(|r| r.len() <= limits::MAX_RECIPIENTS));
    let stored = Notification {
        tenant: n.tenant,
        id: 1,
        channel: n.channel,
        event_type: n.event_type,
        data: n.data,
        recipients: n.recipients,
        created_at: DateTime::from_timestamp(0, 0).unwrap(),
    };
    on_the_wire(&stored);
}

fn deliver(event_type: &str, data: &str, max_bytes: usize) {
    let host = output_rules::deliver_replacement(event_type, data, max_bytes);
    let want = !event_type.is_empty() && event_type.len() + data.len() <= max_bytes && is_json(data);
    assert_eq!(host.is_ok(), want, "host rules: {host:?}");
    same_json_rule(data);

    let original = Notification {
        tenant: TenantId::parse("ten_fuzz").unwrap(),
        id: 7,
        channel: ChannelName::parse("user.42.inbox").unwrap(),
        event_type: EventType::parse("original").unwrap(),
        data: RawValue::from_string("{}".into()).unwrap(),
        recipients: Some(vec![UserId::parse("42").unwrap()]),
        created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    };
    let Ok(n) = deliver_replacement(&original, event_type.into(), data.into()) else { return };
    assert_eq!(
        (n.id, &n.channel, &n.recipients, n.created_at),
        (original.id, &original.channel, &original.recipients, original.created_at)
    );
    assert_eq!(n.event_type.as_str(), event_type);
    assert_eq!(n.data.get(), trim_json_whitespace(data), "the data is kept as sent, but for surrounding whitespace");
    on_the_wire(&n);
}

/// The JSON a subscriber gets embeds the data as it is; it must still be
/// one JSON object, holding exactly that data. (Read as raw values: JSON
/// allows numbers such as `1e400` that `serde_json::Value` cannot hold.)
fn on_the_wire(n: &Notification) {
    let text = n.wire_json();
    let wire: HashMap<String, Box<RawValue>> = serde_json::from_str(&text).expect("wire JSON parses");
    assert_eq!(wire.len(), 5, "{text}");
    assert_eq!(wire["data"].get(), n.data.get());
    assert_eq!(serde_json::from_str::<i64>(wire["id"].get()).unwrap(), n.id);
    assert_eq!(serde_json::from_str::<String>(wire["channel"].get()).unwrap(), n.channel.as_str());
    assert_eq!(serde_json::from_str::<String>(wire["type"].get()).unwrap(), n.event_type.as_str());
}

/// `RawValue` keeps the value's text without the whitespace around it.
fn trim_json_whitespace(data: &str) -> &str {
    data.trim_matches([' ', '\t', '\n', '\r'])
}

/// JSON as the domain reads it (the grammar, with no limit on numbers);
/// `same_json_rule` holds the host to the same reading.
fn is_json(data: &str) -> bool {
    RawValue::from_string(data.to_owned()).is_ok()
}

/// The host (serde's `IgnoredAny`) and the domain (`RawValue`) must agree on
/// what is JSON, or one would pass what the other refuses.
fn same_json_rule(data: &str) {
    let host = output_rules::deliver_replacement("e", data, usize::MAX).is_ok();
    let domain = RawValue::from_string(data.to_owned()).is_ok();
    assert_eq!(host, domain, "host and domain disagree on whether {data:?} is JSON");
}
