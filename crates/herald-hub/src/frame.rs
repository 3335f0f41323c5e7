//! Server-Sent Events frames, encoded once and shared.
//!
//! A notification becomes one immutable `Bytes` holding its whole SSE frame
//! (`id`, `event`, `data` lines and the blank line); every stream that
//! receives it writes those same bytes, so fan-out costs a reference count,
//! not a formatting pass per subscriber. History replay uses the same
//! encoder, so a replayed event is byte-for-byte the live one.

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use herald_core::ids::Seq;
use herald_core::notification::Notification;

/// One unit of a stream: a notification (with its id, for de-duplication
/// at the live hand-over) or a control frame (heartbeat, expiry).
#[derive(Debug, Clone)]
pub struct Frame {
    /// The notification id; `None` for control frames.
    pub id: Option<Seq>,
    pub bytes: Bytes,
    /// The stream ends after this frame.
    pub last: bool,
    /// The notification itself, for streams that transform it per
    /// subscriber (deliver plugins); `None` for control frames.
    pub note: Option<Arc<Notification>>,
    /// When the hub began fanning out the batch it came in, for the
    /// delivery stage timings; `None` for frames not from a publish.
    pub fed: Option<Instant>,
}

/// The heartbeat comment; invisible to SSE parsers, keeps proxies and NATs
/// from closing an idle stream.
pub const HEARTBEAT: &[u8] = b": keep-alive\n\n";

impl Frame {
    /// A notification's frame: `id`, `event` (its type) and its JSON.
    pub fn notification(n: &Notification) -> Frame {
        let id = n.id.to_string();
        Frame { id: Some(n.id), bytes: encode(Some(&id), Some(n.event_type.as_str()), &n.wire_json()), last: false, note: None, fed: None }
    }

    /// A live notification's frame, carrying the notification along.
    pub fn live(n: &Arc<Notification>) -> Frame {
        Frame { note: Some(n.clone()), ..Frame::notification(n) }
    }

    /// A Herald event without an id (`history-truncated`, `token-expired`).
    pub fn control(event: &str, json: &str, last: bool) -> Frame {
        Frame { id: None, bytes: encode(None, Some(event), json), last, note: None, fed: None }
    }

    pub fn heartbeat() -> Frame {
        Frame { id: None, bytes: Bytes::from_static(HEARTBEAT), last: false, note: None, fed: None }
    }

    /// The `retry:` line that opens a stream.
    pub fn retry(millis: u128) -> Frame {
        Frame { id: None, bytes: Bytes::from(format!("retry: {millis}\n\n")), last: false, note: None, fed: None }
    }

    /// The `plugin-budget-exhausted` event, after which the stream closes:
    /// its deliver hooks used up their time (`reason` `stream-budget`) or
    /// the tenant's hook queue is full (`tenant-busy`); everything up to
    /// `last_event_id` was decided.
    pub fn plugin_budget_exhausted(last_event_id: Seq, reason: &'static str) -> Frame {
        debug_assert!(reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "a reason is a plain word");
        Frame::control("plugin-budget-exhausted", &format!(r#"{{"last_event_id":{last_event_id},"reason":"{reason}"}}"#), true)
    }

    /// The `token-expired` event, after which the stream closes.
    pub fn token_expired(exp: i64) -> Frame {
        Frame::control("token-expired", &format!(r#"{{"exp":{exp}}}"#), true)
    }
}

/// Encodes one event. `data` may span lines (a publisher's JSON keeps its
/// whitespace); each line becomes its own `data:` field, as the SSE format
/// requires, and a client joins them back with `\n`.
pub fn encode(id: Option<&str>, event: Option<&str>, data: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 32 + id.map_or(0, str::len) + event.map_or(0, str::len));
    if let Some(id) = id {
        field(&mut out, b"id: ", id);
    }
    if let Some(event) = event {
        field(&mut out, b"event: ", event);
    }
    // `\r\n`, `\r` and `\n` all end a line in SSE; a bare `\r` inside JSON
    // can only be whitespace, so splitting on every kind is lossless.
    let mut rest = data;
    loop {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                field(&mut out, b"data: ", &rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                field(&mut out, b"data: ", rest);
                break;
            }
        }
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// The same event without its `event:` line, for clients that want every
/// notification as a `message` event (a browser's `EventSource` only hands
/// named events to listeners registered for that exact name). A copy, made
/// only for such streams: the shared frame stays as it is.
pub fn without_event_line(frame: &Bytes) -> Bytes {
    let mut start = 0;
    while let Some(len) = frame[start..].iter().position(|&b| b == b'\n') {
        let line = &frame[start..start + len];
        if line.is_empty() || line.starts_with(b"data:") {
            break;
        }
        if line.starts_with(b"event:") {
            let mut out = BytesMut::with_capacity(frame.len() - len - 1);
            out.put_slice(&frame[..start]);
            out.put_slice(&frame[start + len + 1..]);
            return out.freeze();
        }
        start += len + 1;
    }
    frame.clone()
}

fn field(out: &mut BytesMut, name: &[u8], value: &str) {
    out.put_slice(name);
    out.put_slice(value.as_bytes());
    out.put_u8(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_event() {
        assert_eq!(&encode(Some("7"), Some("order.paid"), r#"{"a":1}"#)[..], b"id: 7\nevent: order.paid\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn multi_line_data_becomes_several_data_fields() {
        assert_eq!(&encode(None, Some("x"), "{\n \"a\": 1\r\n}\r")[..], b"event: x\ndata: {\ndata:  \"a\": 1\ndata: }\ndata: \n\n");
    }

    #[test]
    fn the_event_line_can_be_left_out() {
        let f = encode(Some("7"), Some("order.paid"), "{\"event: x\":1}");
        assert_eq!(&without_event_line(&f)[..], b"id: 7\ndata: {\"event: x\":1}\n\n");
        let plain = encode(Some("8"), None, "1");
        assert_eq!(without_event_line(&plain), plain);
    }

    #[test]
    fn control_frames_have_no_id() {
        let f = Frame::token_expired(12);
        assert!(f.id.is_none() && f.last);
        assert_eq!(&f.bytes[..], b"event: token-expired\ndata: {\"exp\":12}\n\n");
    }
}
