//! A Mercure publish request's form ("Publication"): its topics, data and
//! SSE fields, checked before any token is looked at, since these rules
//! refuse the request whoever sends it.

use url::Url;

use super::matcher::{WILDCARD, check_value};

/// Limits on one publish request ("Publication": 413 past them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishLimits {
    /// `topic` fields in one request (the canonical one and alternates).
    pub max_topics: usize,
    /// Bytes of one topic.
    pub max_topic_bytes: usize,
    /// Bytes of `data`.
    pub max_data_bytes: usize,
    /// Bytes of `id` and of `type`.
    pub max_field_bytes: usize,
}

impl Default for PublishLimits {
    fn default() -> Self {
        Self { max_topics: 32, max_topic_bytes: 1024, max_data_bytes: 64 * 1024, max_field_bytes: 256 }
    }
}

/// Why a publish request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// 400.
    #[error("{0}")]
    Invalid(String),
    /// 413.
    #[error("{0}")]
    TooLarge(String),
}

/// A checked update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The canonical topic first, then the alternates, without repeats.
    pub topics: Vec<String>,
    pub data: Option<String>,
    pub private: bool,
    /// The publisher's id for the update, if it gave one.
    pub id: Option<String>,
    /// The SSE `event` field.
    pub event_type: Option<String>,
    /// The SSE `retry` field, in milliseconds.
    pub retry: Option<u64>,
}

impl Update {
    /// Reads decoded form fields. `hub_urls` are the URLs the tenant's hub
    /// answers at (its own, and `/.well-known/mercure` for the root
    /// tenant): no topic may address the namespace below any of them.
    pub fn parse<'a>(
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
        hub_urls: &[Url],
        limits: &PublishLimits,
    ) -> Result<Self, PublishError> {
        let mut update = Update { topics: Vec::new(), data: None, private: false, id: None, event_type: None, retry: None };
        for (name, value) in fields {
            match name {
                "topic" => {
                    if update.topics.iter().any(|t| t == value) {
                        continue;
                    }
                    if update.topics.len() == limits.max_topics {
                        return Err(PublishError::TooLarge(format!("at most {} `topic` fields", limits.max_topics)));
                    }
                    if value.len() > limits.max_topic_bytes {
                        return Err(PublishError::TooLarge(format!("a topic is at most {} bytes", limits.max_topic_bytes)));
                    }
                    check_topic(value, hub_urls)?;
                    update.topics.push(value.to_owned());
                }
                "data" => {
                    if value.len() > limits.max_data_bytes {
                        return Err(PublishError::TooLarge(format!("`data` is at most {} bytes", limits.max_data_bytes)));
                    }
                    update.data = Some(value.to_owned());
                }
                // Present means private, whatever the value.
                "private" => update.private = true,
                "id" => {
                    check_field("id", value, limits)?;
                    if value.starts_with('#') || value == "earliest" {
                        return Err(invalid("`id` must not start with `#` or be `earliest` (both are the hub's)"));
                    }
                    update.id = Some(value.to_owned());
                }
                "type" => {
                    check_field("type", value, limits)?;
                    if value == "mercure" {
                        return Err(invalid("`type` `mercure` is reserved for the hub's own events"));
                    }
                    update.event_type = Some(value.to_owned());
                }
                "retry" => {
                    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(invalid("`retry` must be ASCII digits"));
                    }
                    update.retry = Some(value.parse().map_err(|_| invalid("`retry` is too large"))?);
                }
                // Ignored, to allow future extensions.
                _ => {}
            }
        }
        if update.topics.is_empty() {
            return Err(invalid("at least one `topic` field is required"));
        }
        Ok(update)
    }
}

fn check_field(name: &str, value: &str, limits: &PublishLimits) -> Result<(), PublishError> {
    if value.len() > limits.max_field_bytes {
        return Err(PublishError::TooLarge(format!("`{name}` is at most {} bytes", limits.max_field_bytes)));
    }
    check_value(value).map_err(|e| invalid(&format!("`{name}`: {e}")))
}

fn check_topic(topic: &str, hub_urls: &[Url]) -> Result<(), PublishError> {
    check_value(topic).map_err(|e| invalid(&format!("a topic: {e}")))?;
    if topic == WILDCARD {
        return Err(invalid("`*` is the wildcard, not a topic"));
    }
    for hub in hub_urls {
        if addresses_hub_namespace(topic, hub) {
            return Err(invalid(&format!("`{topic}` is in the hub's reserved namespace ({})", hub.path())));
        }
    }
    Ok(())
}

/// Whether `topic`, resolved against `hub`, names the hub's path or one
/// below it, whatever its scheme and host. The URL parser removes dot
/// segments (also percent-encoded ones); percent-encoded unreserved
/// characters are decoded before comparing, so `%6Dercure` is `mercure`.
fn addresses_hub_namespace(topic: &str, hub: &Url) -> bool {
    let Ok(resolved) = hub.join(topic) else { return false };
    let path = decode_unreserved(resolved.path());
    let base = decode_unreserved(hub.path());
    let base = base.trim_end_matches('/');
    path == base || path.strip_prefix(base).is_some_and(|rest| rest.starts_with('/'))
}

/// Decodes `%XX` where XX is an unreserved character (RFC 3986 6.2.2.2).
fn decode_unreserved(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let hex = rest.get(at + 1..at + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => {
                out.push(char::from(b));
                rest = &rest[at + 3..];
            }
            _ => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn invalid(why: &str) -> PublishError {
    PublishError::Invalid(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hubs() -> Vec<Url> {
        vec![
            Url::parse("https://hub.example.com/v1/tenants/ten_1/.well-known/mercure").unwrap(),
            Url::parse("https://hub.example.com/.well-known/mercure").unwrap(),
        ]
    }

    fn parse(fields: &[(&str, &str)]) -> Result<Update, PublishError> {
        Update::parse(fields.iter().copied(), &hubs(), &PublishLimits::default())
    }

    #[test]
    fn a_full_update_is_read() {
        let u = parse(&[
            ("topic", "https://example.com/books/1"),
            ("topic", "https://example.com/users/42/books/1"),
            ("topic", "https://example.com/books/1"),
            ("data", "line 1\nline 2"),
            ("private", ""),
            ("id", "urn:uuid:1"),
            ("type", "book-updated"),
            ("retry", "5000"),
            ("future-field", "ignored"),
        ])
        .unwrap();
        assert_eq!(u.topics, ["https://example.com/books/1", "https://example.com/users/42/books/1"], "canonical first, repeats once");
        assert_eq!(u.data.as_deref(), Some("line 1\nline 2"));
        assert!(u.private, "present, even empty, means private");
        assert_eq!((u.id.as_deref(), u.event_type.as_deref(), u.retry), (Some("urn:uuid:1"), Some("book-updated"), Some(5000)));
        let minimal = parse(&[("topic", "relative/topic")]).unwrap();
        assert_eq!((minimal.data, minimal.private, minimal.id, minimal.retry), (None, false, None, None));
    }

    #[test]
    fn the_hubs_namespace_cannot_be_published_to() {
        for topic in [
            "https://hub.example.com/.well-known/mercure/subscriptions/exact/a/b",
            "https://evil.example.org/.well-known/mercure",
            "/.well-known/mercure/subscriptions",
            "/.well-known/%6Dercure/subscriptions/x",
            "/.well-known/mercure/../mercure/subscriptions",
            "/.well-known/foo/%2e%2e/mercure/x",
            "https://hub.example.com/v1/tenants/ten_1/.well-known/mercure/subscriptions/x",
            "subscriptions/x/../../mercure/y",
            // Relative, it resolves to the hub's own URL.
            "mercure",
        ] {
            assert!(
                matches!(parse(&[("topic", "https://example.com/ok"), ("topic", topic)]), Err(PublishError::Invalid(_))),
                "expected {topic} to be refused"
            );
        }
        for topic in ["https://example.com/.well-known/mercurex", "/.well-known/mercure-like", "urn:x:/.well-known/mercure", "books/1"] {
            assert!(parse(&[("topic", topic)]).is_ok(), "expected {topic} to be accepted");
        }
    }

    #[test]
    fn bad_fields_are_400_and_big_ones_413() {
        for fields in [
            vec![("data", "no topic")],
            vec![("topic", "*")],
            vec![("topic", "a\u{202e}b")],
            vec![("topic", "a"), ("id", "#1")],
            vec![("topic", "a"), ("id", "earliest")],
            vec![("topic", "a"), ("id", "a\nb")],
            vec![("topic", "a"), ("type", "mercure")],
            vec![("topic", "a"), ("type", "a\u{0}")],
            vec![("topic", "a"), ("retry", "-1")],
            vec![("topic", "a"), ("retry", "1.5")],
            vec![("topic", "a"), ("retry", "")],
            vec![("topic", "a"), ("retry", "99999999999999999999999")],
        ] {
            assert!(matches!(parse(&fields), Err(PublishError::Invalid(_))), "expected {fields:?} to be a 400");
        }
        let limits = PublishLimits { max_topics: 2, max_topic_bytes: 8, max_data_bytes: 4, max_field_bytes: 3 };
        let parse = |f: &[(&str, &str)]| Update::parse(f.iter().copied(), &hubs(), &limits);
        assert!(parse(&[("topic", "a"), ("topic", "b")]).is_ok());
        for fields in [
            vec![("topic", "a"), ("topic", "b"), ("topic", "c")],
            vec![("topic", "123456789")],
            vec![("topic", "a"), ("data", "12345")],
            vec![("topic", "a"), ("id", "1234")],
            vec![("topic", "a"), ("type", "abcd")],
        ] {
            assert!(matches!(parse(&fields), Err(PublishError::TooLarge(_))), "expected {fields:?} to be a 413");
        }
    }
}
