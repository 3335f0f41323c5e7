//! The AsyncAPI 3.0 document of the SSE stream, as `herald asyncapi` prints
//! it and `openapi/asyncapi.yaml` holds it.
//!
//! Nothing in it is written twice. The request side (path, query, headers,
//! security) is read from the OpenAPI operation of the stream route, which
//! is built from the handler's own types. The payload schemas come from the
//! types the stream serialises ([`HistoryTruncated`]) or from mirrors of them
//! that the tests below hold to the encoders ([`StreamNotification`] for
//! `Notification::wire_json`, [`TokenExpired`] for `Frame::token_expired`).
//! Every example is encoded by the stream's own `Frame` functions, then read
//! back.

use chrono::{TimeZone, Utc};
use herald_app::records::{Frame, HEARTBEAT, without_event_line};
use herald_core::ids::TenantId;
use herald_core::limits;
use herald_core::names::{ChannelName, EventType, RESERVED_EVENT_TYPES};
use herald_core::notification::Notification;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use utoipa::{PartialSchema, ToSchema};
use yaml_serde::{Mapping, Value};

use crate::stream::HistoryTruncated;
use crate::subscriber_auth::TOKEN_COOKIE;

/// The route the document describes, as the OpenAPI document names it.
const STREAM_PATH: &str = "/v1/tenants/{tenant}/stream";

/// The HTTP bindings' version used throughout.
const HTTP_BINDING: &str = "0.3.0";

/// The `retry:` of the examples: `stream.retry_ms`'s default.
const EXAMPLE_RETRY_MS: u128 = 3000;

// Mirrors `Notification::wire_json`; the tests hold the two together.
/// A notification as a subscriber receives it: the `data:` of every
/// notification event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "Notification")]
pub(crate) struct StreamNotification {
    /// The notification id: per tenant, strictly increasing in commit
    /// order; the same number as the event's SSE `id:`.
    #[schema(minimum = 1, examples(4))]
    pub id: i64,
    /// The channel it was published to.
    #[schema(examples("orders"))]
    pub channel: String,
    /// Its type, as published: the SSE event name, unless the stream was
    /// opened with `events=message`.
    #[serde(rename = "type")]
    #[schema(examples("order.shipped"))]
    pub event_type: String,
    /// The publisher's JSON, verbatim: any JSON value (`null` when the
    /// publisher gave none).
    #[schema(value_type = Object)]
    pub data: Json,
    /// When it was committed: RFC 3339 in UTC with microseconds.
    #[schema(format = DateTime, examples("2026-11-25T18:29:01.192103Z"))]
    pub created_at: String,
}

// Mirrors `Frame::token_expired`; the tests hold the two together.
/// `token-expired`'s data; the stream ends after it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "TokenExpired")]
pub(crate) struct TokenExpired {
    /// The token's `exp` claim (Unix seconds) that has now passed.
    #[schema(examples(1795634939))]
    pub exp: i64,
}

// Mirrors `Frame::plugin_budget_exhausted`; the tests hold the two together.
/// `plugin-budget-exhausted`'s data; the stream ends after it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "PluginBudgetExhausted")]
pub(crate) struct PluginBudgetExhausted {
    /// Everything up to this id was decided (sent, or kept from this
    /// subscriber by a hook): resume after it.
    #[schema(examples(41))]
    pub last_event_id: i64,
    /// `stream-budget`: this stream's deliver hooks used up its allowance
    /// of hook time (`plugins.hook_budget_ms`); `tenant-busy`: the tenant's
    /// hook jobs are queued to the limit (`plugins.max_queued_per_tenant`).
    #[schema(examples("stream-budget"))]
    pub reason: String,
}

/// The AsyncAPI document, as YAML.
pub fn asyncapi_yaml() -> String {
    let body = yaml_serde::to_string(&document()).expect("the AsyncAPI document serializes");
    let body: String = body.lines().map(|l| quote_timestamp(l) + "\n").collect();
    format!(
        "# Herald's Server-Sent Events stream, as AsyncAPI 3.0.\n\
         # Generated from the code by `herald asyncapi`; do not edit (tests/e2e/asyncapi.rs compares).\n{body}"
    )
}

/// Quotes a plain scalar that looks like a date or time (`key: 2026-11-25T…`
/// or `- 2026-…`). YAML 1.2, which the serializer follows, reads it as a
/// string, but YAML 1.1 readers such as js-yaml (behind `@asyncapi/parser`)
/// turn it into a timestamp. A test checks the document still reads back
/// to the same value.
fn quote_timestamp(line: &str) -> String {
    let (head, value) = match line.trim_start().strip_prefix("- ") {
        Some(v) => (&line[..line.len() - v.len()], v),
        None => match line.split_once(": ") {
            Some((_, v)) => (&line[..line.len() - v.len()], v),
            None => return line.to_owned(),
        },
    };
    let b = value.as_bytes();
    let date_like =
        b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5..7].iter().all(u8::is_ascii_digit) && b[7] == b'-';
    if date_like && !value.contains(['\'', '"', '#']) { format!("{head}'{value}'") } else { line.to_owned() }
}

/// An ordered YAML mapping from `(key, value)` pairs.
macro_rules! map {
    ($($k:expr => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut m = Mapping::new();
        $( m.insert(Value::from($k), to_yaml($v)); )*
        Value::Mapping(m)
    }};
}

fn to_yaml(v: impl Serialize) -> Value {
    yaml_serde::to_value(v).expect("plain data converts to YAML")
}

fn reference(path: &str) -> Value {
    map! { "$ref" => path }
}

/// A schema generated by utoipa, as YAML.
fn schema_of<T: PartialSchema>() -> Value {
    to_yaml(T::schema())
}

/// One SSE event as sent: its fields in order (a comment line is named
/// `""`). `data:` lines are joined with `\n`, as a client joins them.
pub(crate) fn sse_fields(frame: &[u8]) -> Vec<(String, String)> {
    let text = std::str::from_utf8(frame).expect("frames are UTF-8");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match out.last_mut() {
            Some((last, joined)) if name == "data" && last == "data" => {
                joined.push('\n');
                joined.push_str(&value);
            }
            _ => out.push((name.to_owned(), value)),
        }
    }
    out
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The notification all examples show, encoded by the stream's encoder.
fn example_notification() -> Notification {
    Notification {
        tenant: TenantId::parse("ten_019ac1a2b3c47d8e9f0a1b2c3d4e5f60").expect("a valid tenant id"),
        id: 4,
        channel: ChannelName::parse("orders").expect("a valid channel"),
        event_type: EventType::parse("order.shipped").expect("a valid type"),
        data: serde_json::value::to_raw_value(&serde_json::json!({"order": 1234})).expect("JSON"),
        recipients: None,
        created_at: Utc.timestamp_micros(1_795_631_341_192_103).single().expect("a valid time"),
    }
}

/// A message's example from an encoded frame: the SSE fields other than
/// `data` become headers, `data` the payload (read back through `T`, so an
/// example that no longer fits its schema fails to build).
fn example<T: Serialize + for<'de> Deserialize<'de>>(name: &str, summary: &str, frame: &[u8]) -> Value {
    let fields = sse_fields(frame);
    let mut headers = Mapping::new();
    for (k, v) in fields.iter().filter(|(k, _)| k != "data" && !k.is_empty()) {
        let v = if k == "retry" { to_yaml(v.parse::<u64>().expect("retry is a number")) } else { to_yaml(v) };
        headers.insert(Value::from(k.as_str()), v);
    }
    let mut m = Mapping::new();
    m.insert("name".into(), name.into());
    m.insert("summary".into(), summary.into());
    if !headers.is_empty() {
        m.insert("headers".into(), Value::Mapping(headers));
    }
    if let Some(data) = field(&fields, "data") {
        let payload: T = serde_json::from_str(data).expect("an example's data fits its type");
        m.insert("payload".into(), to_yaml(payload));
    }
    Value::Mapping(m)
}

/// A frame shown as it goes over the wire, for descriptions.
fn wire(frame: &[u8]) -> String {
    let text = std::str::from_utf8(frame).expect("frames are UTF-8");
    let lines: Vec<String> = text.trim_end_matches('\n').lines().map(|l| format!("    {l}")).collect();
    format!("On the wire:\n\n{}", lines.join("\n"))
}

/// SSE fields as a headers schema: an object of the named string fields.
fn sse_headers(fields: &[(&str, Value)], required: &[&str]) -> Value {
    let mut props = Mapping::new();
    for (name, schema) in fields {
        props.insert(Value::from(*name), schema.clone());
    }
    map! {
        "type" => "object",
        "description" => "The event's SSE fields other than `data`.",
        "properties" => Value::Mapping(props),
        "required" => required,
    }
}

fn id_field() -> Value {
    map! {
        "type" => "string",
        "pattern" => "^[1-9][0-9]*$",
        "description" => "SSE `id:`: the notification id, in decimal. The client's `EventSource` remembers it and sends it back as `Last-Event-ID` when it reconnects.",
    }
}

fn event_field(name: &str, description: &str) -> Value {
    map! { "type" => "string", "const" => name, "description" => description }
}

/// The stream operation of the OpenAPI document, as JSON.
fn stream_operation() -> Json {
    let (_, spec) = crate::app::routes_and_spec();
    let spec = serde_json::to_value(&spec).expect("the OpenAPI document serializes");
    let op = spec["paths"][STREAM_PATH]["get"].clone();
    assert!(op.is_object(), "the OpenAPI document has GET {STREAM_PATH}");
    let schemes = spec["components"]["securitySchemes"].clone();
    serde_json::json!({ "op": op, "schemes": schemes })
}

/// The OpenAPI parameters of the stream that are `in` the given place.
fn parameters(op: &Json, place: &str) -> Vec<Json> {
    op["parameters"].as_array().expect("the stream has parameters").iter().filter(|p| p["in"] == place).cloned().collect()
}

/// Parameters as one object schema, as the HTTP bindings want them.
fn object_schema(params: &[Json], description: &str) -> Value {
    let mut props = Mapping::new();
    let mut required = Vec::new();
    for p in params {
        let name = p["name"].as_str().expect("parameters have names");
        let mut schema = p["schema"].clone();
        // A header is a string or absent; OpenAPI's `null` says "optional".
        if let Some(types) = schema["type"].as_array()
            && let [t, null] = &types[..]
            && null == "null"
        {
            schema["type"] = t.clone();
        }
        schema["description"] = p["description"].clone();
        props.insert(Value::from(name), to_yaml(schema));
        if p["required"] == true {
            required.push(name.to_owned());
        }
    }
    map! { "type" => "object", "description" => description, "properties" => Value::Mapping(props), "required" => required }
}

fn document() -> Value {
    let openapi = stream_operation();
    let op = &openapi["op"];
    let schemes = &openapi["schemes"];

    let note = example_notification();
    let typed = Frame::notification(&note).bytes;
    let plain = without_event_line(&typed);
    let truncated_json = serde_json::to_string(&HistoryTruncated { last_event_id: 1 }).expect("JSON");
    let truncated = Frame::control("history-truncated", &truncated_json, false).bytes;
    let expired = Frame::token_expired(1_795_634_939).bytes;
    let retry = Frame::retry(EXAMPLE_RETRY_MS).bytes;
    let budget = Frame::plugin_budget_exhausted(41, "stream-budget").bytes;
    let [expired_name, truncated_name, message_name, budget_name] = RESERVED_EVENT_TYPES else {
        panic!("the reserved event types are token-expired, history-truncated, message and plugin-budget-exhausted")
    };
    assert_eq!(field(&sse_fields(&budget), "event"), Some(*budget_name));
    assert_eq!(field(&sse_fields(&expired), "event"), Some(*expired_name));
    assert_eq!(field(&sse_fields(&truncated), "event"), Some(*truncated_name));

    let tenant = parameters(op, "path").into_iter().find(|p| p["name"] == "tenant").expect("the stream's path names the tenant");

    // The payload schemas, with the limits the domain types enforce.
    let mut notification = schema_of::<StreamNotification>();
    {
        let props = &mut notification["properties"];
        props["channel"]["maxLength"] = to_yaml(limits::MAX_CHANNEL_NAME);
        props["type"]["maxLength"] = to_yaml(limits::MAX_EVENT_TYPE);
        props["type"]["not"] = map! { "enum" => RESERVED_EVENT_TYPES };
        // Any JSON value, not only an object.
        props["data"] = map! { "description" => props["data"]["description"].clone() };
    }

    let notification_description = format!(
        "A notification, in id order: first the history after the resume id (`Last-Event-ID`), then live ones. \
         The SSE `event:` is the notification's type, so a browser's `EventSource` hands it to \
         `addEventListener(type, …)`; a type is never one of Herald's own event names ({}).\n\n{}",
        RESERVED_EVENT_TYPES.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
        wire(&typed),
    );

    let messages = map! {
        "notification" => map! {
            "name" => "notification",
            "title" => "A notification (event named by its type)",
            "summary" => "A notification; the SSE event name is its type.",
            "description" => notification_description,
            "contentType" => "application/json",
            "headers" => sse_headers(&[("id", id_field()), ("event", map! {
                "type" => "string",
                "description" => "SSE `event:`: the notification's type (the same as `type` in the data).",
            })], &["id", "event"]),
            "payload" => reference("#/components/schemas/Notification"),
            "examples" => [example::<StreamNotification>("order-shipped", "A notification of type `order.shipped` on `orders`", &typed)],
        },
        "notificationAsMessage" => map! {
            "name" => *message_name,
            "title" => "A notification (events=message)",
            "summary" => "A notification on a stream opened with `events=message`: no `event:` line.",
            "description" => format!(
                "The same notification without its `event:` line, on streams opened with `events=message`: \
                 SSE clients dispatch it as a `message` event (`EventSource.onmessage`), and the type is read from the data.\n\n{}",
                wire(&plain),
            ),
            "contentType" => "application/json",
            "headers" => sse_headers(&[("id", id_field())], &["id"]),
            "payload" => reference("#/components/schemas/Notification"),
            "examples" => [example::<StreamNotification>("order-shipped-as-message", "The same notification with `events=message`", &plain)],
        },
        "historyTruncated" => map! {
            "name" => *truncated_name,
            "title" => "History truncated",
            "summary" => "Retention already removed notifications after the resume id; what remains follows.",
            "description" => format!(
                "Sent first (after `retry:`) when the stream resumes from an id older than the retained history of one of \
                 its channels that the subscriber could have received. The notifications that remain follow. It has no \
                 `id:`, so it does not move the client's `Last-Event-ID`.\n\n{}",
                wire(&truncated),
            ),
            "contentType" => "application/json",
            "headers" => sse_headers(&[("event", event_field(truncated_name, "SSE `event:`."))], &["event"]),
            "payload" => reference("#/components/schemas/HistoryTruncated"),
            "examples" => [example::<HistoryTruncated>("resumed-after-pruning", "A resume after id 1, part of which retention removed", &truncated)],
        },
        "tokenExpired" => map! {
            "name" => *expired_name,
            "title" => "Token expired",
            "summary" => "The subscriber token's `exp` has passed; the stream closes after this event.",
            "description" => format!(
                "Sent when the token's `exp` passes (at most about a second late; nothing is delivered after `exp`); \
                 then the stream ends. Get a new token and reconnect with `Last-Event-ID`. It has no `id:`.\n\n{}",
                wire(&expired),
            ),
            "contentType" => "application/json",
            "headers" => sse_headers(&[("event", event_field(expired_name, "SSE `event:`."))], &["event"]),
            "payload" => reference("#/components/schemas/TokenExpired"),
            "examples" => [example::<TokenExpired>("expired", "A token whose `exp` was 1795634939", &expired)],
        },
        "pluginBudgetExhausted" => map! {
            "name" => *budget_name,
            "title" => "Plugin budget exhausted",
            "summary" => "The stream's deliver hooks used up their time; the stream closes after this event.",
            "description" => format!(
                "Sent when the deliver hooks of the stream's channels have used up the stream's allowance of hook time \
                 (`plugins.hook_budget_ms`, refilled over time), or when the tenant's hook jobs are queued to the limit; \
                 it follows a `retry:` asking the client to wait longer before reconnecting, and the stream ends. \
                 Reconnect with `Last-Event-ID`: nothing is lost or repeated. It has no `id:`.\n\n{}",
                wire(&budget),
            ),
            "contentType" => "application/json",
            "headers" => sse_headers(&[("event", event_field(budget_name, "SSE `event:`."))], &["event"]),
            "payload" => reference("#/components/schemas/PluginBudgetExhausted"),
            "examples" => [example::<PluginBudgetExhausted>("stream-budget", "A stream closed for its hooks after id 41", &budget)],
        },
        "retry" => map! {
            "name" => "retry",
            "title" => "Reconnection delay",
            "summary" => "The `retry:` field that opens every stream.",
            "description" => format!(
                "The first thing on every stream: the reconnection delay in milliseconds (`stream.retry_ms`, 3000 by default). \
                 It carries no data, so SSE clients dispatch no event for it; they only adopt the delay.\n\n{}",
                wire(&retry),
            ),
            "headers" => sse_headers(&[("retry", map! {
                "type" => "integer",
                "minimum" => 0,
                "description" => "SSE `retry:`: milliseconds to wait before reconnecting.",
            })], &["retry"]),
            "examples" => [example::<Json>("default-retry", "The default delay", &retry)],
        },
        "keepAlive" => map! {
            "name" => "keep-alive",
            "title" => "Keep-alive comment",
            "summary" => "An SSE comment sent every `stream.heartbeat_seconds` (15 by default).",
            "description" => format!(
                "A comment line that keeps proxies and NATs from closing an idle stream. SSE clients ignore it: it \
                 dispatches no event and has no fields.\n\n{}",
                wire(HEARTBEAT),
            ),
        },
    };

    let message_refs: Vec<Value> =
        ["notification", "notificationAsMessage", "historyTruncated", "tokenExpired", "pluginBudgetExhausted", "retry", "keepAlive"]
            .iter()
            .map(|m| reference(&format!("#/channels/stream/messages/{m}")))
            .collect();
    let channel_messages = {
        let Value::Mapping(all) = &messages else { unreachable!() };
        let mut m = Mapping::new();
        for key in all.keys() {
            let key = key.as_str().expect("message ids are strings");
            m.insert(key.into(), reference(&format!("#/components/messages/{key}")));
        }
        Value::Mapping(m)
    };

    let scheme = |name: &str| schemes[name]["description"].as_str().expect("the OpenAPI document describes its schemes").to_owned();

    map! {
        "asyncapi" => "3.0.0",
        "info" => map! {
            "title" => "Herald notification stream",
            "version" => env!("CARGO_PKG_VERSION"),
            "description" => "Herald's Server-Sent Events stream: a subscriber's notifications, history after `Last-Event-ID` then live, \
                 with no gap and no duplicate, and Herald's own events. The HTTP API (publishing, keys, channels, polling) is \
                 described by the OpenAPI document at `/openapi.json` (`openapi/openapi.json`).",
            "license" => map! { "name" => "Apache-2.0", "url" => "https://www.apache.org/licenses/LICENSE-2.0" },
        },
        "defaultContentType" => "application/json",
        "servers" => map! {
            "herald" => map! {
                "host" => "{host}",
                "protocol" => "http",
                "protocolVersion" => "1.1",
                "description" => "A Herald server (`herald serve`). Use `https` in production: the token travels with every request.",
                "variables" => map! {
                    "host" => map! { "default" => "127.0.0.1:8080", "description" => "Host and port Herald listens on (`listen`)." },
                },
            },
        },
        "channels" => map! {
            "stream" => map! {
                "address" => STREAM_PATH,
                "title" => "A subscriber's notification stream",
                "description" => op["description"].clone(),
                "servers" => [reference("#/servers/herald")],
                "parameters" => map! {
                    "tenant" => map! {
                        "description" => format!("{} (`{}_…`).", tenant["description"].as_str().unwrap_or("Tenant id"), TenantId::PREFIX),
                        "examples" => [note.tenant.as_str()],
                    },
                },
                "messages" => channel_messages,
            },
        },
        "operations" => map! {
            "receiveNotifications" => map! {
                "action" => "receive",
                "channel" => reference("#/channels/stream"),
                "title" => "Subscribe",
                "summary" => op["summary"].clone(),
                "description" => "Open with `GET` and `Accept: text/event-stream`. The response (`200`, `Content-Type: text/event-stream`, \
                     `Cache-Control: no-cache`, `X-Accel-Buffering: no`) sends `retry:`, then `history-truncated` if the resume point is \
                     older than retained history, then the notifications after the resume id, then live ones, with `: keep-alive` \
                     comments in between, and `token-expired` at the token's `exp`. Refusals are `application/problem+json` \
                     (see the OpenAPI document). Every requested channel or pattern must be covered by the token's \
                     `herald.subscribe`. To resume, send the last id received as `Last-Event-ID` (browsers do so when they \
                     reconnect) or `last_event_id`; `0` replays all retained history. A stream also ends when the subscriber falls \
                     too far behind, when its tenant is deleted, or when the server stops: reconnect with `Last-Event-ID`.",
                "security" => [
                    reference("#/components/securitySchemes/subscriberToken"),
                    reference("#/components/securitySchemes/subscriberTokenQuery"),
                    reference("#/components/securitySchemes/subscriberTokenCookie"),
                ],
                "bindings" => map! {
                    "http" => map! {
                        "method" => "GET",
                        "query" => object_schema(&parameters(op, "query"), "The stream's query string."),
                        "x-headers" => object_schema(&parameters(op, "header"), "Request headers besides the token's `Authorization`."),
                        "bindingVersion" => HTTP_BINDING,
                    },
                },
                "messages" => message_refs,
            },
        },
        "components" => map! {
            "schemas" => map! {
                "Notification" => notification,
                "HistoryTruncated" => schema_of::<HistoryTruncated>(),
                "TokenExpired" => schema_of::<TokenExpired>(),
                "PluginBudgetExhausted" => schema_of::<PluginBudgetExhausted>(),
            },
            "messages" => messages,
            "securitySchemes" => map! {
                "subscriberToken" => map! {
                    "type" => "http",
                    "scheme" => "bearer",
                    "bearerFormat" => "JWT",
                    "description" => format!("{} `Authorization: Bearer <jwt>`; the first of the three that is present is used.", scheme("subscriber_token")),
                },
                "subscriberTokenQuery" => map! {
                    "type" => "httpApiKey",
                    "name" => "access_token",
                    "in" => "query",
                    "description" => scheme("subscriber_token_query"),
                },
                "subscriberTokenCookie" => map! {
                    "type" => "httpApiKey",
                    "name" => TOKEN_COOKIE,
                    "in" => "cookie",
                    "description" => "The subscriber JWT in the cookie set by `POST /v1/tenants/{tenant}/session`; accepted only on same-origin \
                         requests and from the tenant's allowed origins.",
                },
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The property names of a generated schema.
    fn properties(schema: &Value) -> Vec<String> {
        let Value::Mapping(props) = &schema["properties"] else { panic!("no properties in {schema:?}") };
        let mut names: Vec<String> = props.keys().map(|k| k.as_str().unwrap().to_owned()).collect();
        names.sort();
        names
    }

    fn keys(json: &str) -> Vec<String> {
        let v: serde_json::Map<String, Json> = serde_json::from_str(json).unwrap();
        let mut names: Vec<String> = v.keys().cloned().collect();
        names.sort();
        names
    }

    #[test]
    fn notification_schema_matches_the_wire_json() {
        let wire = example_notification().wire_json();
        // Every field the stream writes is known (deny_unknown_fields) …
        let read: StreamNotification = serde_json::from_str(&wire).unwrap();
        assert_eq!(read.data, serde_json::json!({"order": 1234}));
        // … and the schema lists exactly those, all required.
        let schema = schema_of::<StreamNotification>();
        assert_eq!(properties(&schema), keys(&wire));
        let mut required: Vec<String> = yaml_serde::from_value(schema["required"].clone()).unwrap();
        required.sort();
        assert_eq!(required, keys(&wire));
    }

    #[test]
    fn control_schemas_match_their_frames() {
        let expired = Frame::token_expired(12).bytes;
        let data = field(&sse_fields(&expired), "data").unwrap().to_owned();
        let read: TokenExpired = serde_json::from_str(&data).unwrap();
        assert_eq!(read.exp, 12);
        assert_eq!(properties(&schema_of::<TokenExpired>()), keys(&data));
        let truncated = serde_json::to_string(&HistoryTruncated { last_event_id: 3 }).unwrap();
        assert_eq!(properties(&schema_of::<HistoryTruncated>()), keys(&truncated));
        let budget = Frame::plugin_budget_exhausted(9, "tenant-busy").bytes;
        let data = field(&sse_fields(&budget), "data").unwrap().to_owned();
        let read: PluginBudgetExhausted = serde_json::from_str(&data).unwrap();
        assert_eq!((read.last_event_id, read.reason.as_str()), (9, "tenant-busy"));
        assert_eq!(properties(&schema_of::<PluginBudgetExhausted>()), keys(&data));
    }

    #[test]
    fn fields_of_frames() {
        assert_eq!(
            sse_fields(b"id: 7\nevent: x\ndata: {\ndata: }\n\n"),
            [("id", "7"), ("event", "x"), ("data", "{\n}")].map(|(a, b)| (a.into(), b.into()))
        );
        assert_eq!(sse_fields(HEARTBEAT), [(String::new(), "keep-alive".to_owned())]);
    }

    #[test]
    fn timestamps_are_quoted_and_read_back_the_same() {
        assert_eq!(quote_timestamp("    created_at: 2026-11-25T18:29:01.192103Z"), "    created_at: '2026-11-25T18:29:01.192103Z'");
        assert_eq!(quote_timestamp("  - 2026-11-25T18:29:01Z"), "  - '2026-11-25T18:29:01Z'");
        assert_eq!(quote_timestamp("  id: 4"), "  id: 4");
        assert_eq!(quote_timestamp("  version: 2026-1"), "  version: 2026-1");
        let read: Value = yaml_serde::from_str(&asyncapi_yaml()).unwrap();
        assert_eq!(read, document());
        assert!(!asyncapi_yaml().contains(": 2026-"), "a timestamp-like scalar is unquoted");
    }

    #[test]
    fn document_is_valid_yaml_naming_every_message() {
        let doc: Value = yaml_serde::from_str(&asyncapi_yaml()).unwrap();
        assert_eq!(doc["asyncapi"], "3.0.0");
        let names: Vec<&str> =
            ["notification", "notificationAsMessage", "historyTruncated", "tokenExpired", "pluginBudgetExhausted", "retry", "keepAlive"]
                .iter()
                .map(|m| doc["components"]["messages"][*m]["name"].as_str().unwrap())
                .collect();
        assert_eq!(
            names,
            ["notification", "message", "history-truncated", "token-expired", "plugin-budget-exhausted", "retry", "keep-alive"]
        );
        let query = &doc["operations"]["receiveNotifications"]["bindings"]["http"]["query"]["properties"];
        for q in ["channel", "last_event_id", "access_token", "events"] {
            assert!(query.get(q).is_some(), "query parameter {q} is documented");
        }
    }
}
