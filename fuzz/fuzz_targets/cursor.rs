//! What clients hand back to resume or page: the stream's `Last-Event-ID`
//! (`cursor::resume_id`), a history page's `after` (`cursor::history_after`),
//! a poll's `after` (`cursor::poll_after`) and the `after` of the other lists, which are prefixed ids, channel names
//! or user ids.
//!
//! Every parser is total (no panic), and whatever it accepts, Herald's own
//! text for the value parses back to the same value.

#![no_main]

use std::fmt::Debug;

use herald_core::cursor::{self, NotAnId};
use herald_core::ids::{ApiKeyId, DeadLetterId, DeliveryId, PluginId, Seq, SigningKeyId, TenantId};
use herald_core::names::{ChannelName, UserId};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let raw = text.as_ref();

    let resume = cursor::resume_id(raw);
    match &resume {
        Ok(None) => assert!(raw.trim().is_empty(), "{raw:?} read as no resume id"),
        Ok(Some(id)) => {
            assert!(*id >= 0, "{raw:?} resumes at {id}");
            assert_eq!(Some(*id), decimal(raw.trim()), "{raw:?}");
            assert_eq!(cursor::resume_id(&cursor::format(*id)), Ok(Some(*id)));
        }
        Err(NotAnId(shown)) => {
            assert_eq!(shown, raw.trim(), "the error shows what was read");
            assert_eq!(decimal(shown), None, "{raw:?} is a valid id but was refused");
        }
    }

    if let Some(id) = cursor::history_after(raw) {
        assert!(id > 0, "{raw:?} pages after {id}");
        assert_eq!(cursor::history_after(&cursor::format(id)), Some(id));
        assert_eq!(resume, Ok(Some(id)), "a history cursor the stream would refuse");
    }

    let poll = cursor::poll_after(raw);
    assert_eq!(poll, decimal(raw), "{raw:?}: a poll takes exactly the plain-digit ids");
    if let Some(id) = poll {
        assert_eq!(cursor::poll_after(&cursor::format(id)), Some(id));
    }

    round_trip(raw, TenantId::parse, TenantId::as_str, TenantId::PREFIX);
    round_trip(raw, ApiKeyId::parse, ApiKeyId::as_str, ApiKeyId::PREFIX);
    round_trip(raw, SigningKeyId::parse, SigningKeyId::as_str, SigningKeyId::PREFIX);
    round_trip(raw, PluginId::parse, PluginId::as_str, PluginId::PREFIX);
    round_trip(raw, DeadLetterId::parse, DeadLetterId::as_str, DeadLetterId::PREFIX);
    round_trip(raw, DeliveryId::parse, DeliveryId::as_str, DeliveryId::PREFIX);
    round_trip(raw, |s| ChannelName::parse(s), ChannelName::as_str, "");
    round_trip(raw, |s| UserId::parse(s), UserId::as_str, "");
});

/// An independent reading of a resume id: ASCII digits only (no sign),
/// with a value from 0 to `Seq::MAX`.
fn decimal(s: &str) -> Option<Seq> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: Seq = 0;
    for b in s.bytes() {
        value = value.checked_mul(10)?.checked_add(Seq::from(b - b'0'))?;
    }
    Some(value)
}

/// A list cursor is the listed item's id or name, kept verbatim: what parses
/// is the text itself, and it parses (and goes through JSON) to the same value.
fn round_trip<T, E>(raw: &str, parse: impl Fn(&str) -> Result<T, E>, as_str: impl Fn(&T) -> &str, prefix: &str)
where
    T: PartialEq + Debug + Serialize + DeserializeOwned,
{
    let Ok(value) = parse(raw) else { return };
    assert_eq!(as_str(&value), raw);
    let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}_") };
    assert!(raw.starts_with(&prefix), "{raw:?} lacks the prefix {prefix:?}");
    assert!(parse(as_str(&value)).ok().as_ref() == Some(&value), "{raw:?} does not parse back");
    let json = serde_json::to_string(&value).unwrap();
    assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value);
}
