//! Server-Sent Events: opening a stream and parsing it.
//!
//! The parser follows the WHATWG event-stream rules (CRLF, LF or CR line
//! ends, `:` comments, one optional space after the colon, multi-line
//! `data`, a persistent last event id) and works on bytes as they arrive,
//! touching each byte once however the body is split into chunks. Only an
//! unfinished line is buffered, so it stays cheap with many streams.

use std::collections::VecDeque;
use std::net::IpAddr;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, CACHE_CONTROL, HOST};
use hyper::{Method, Request, StatusCode};

use crate::conn::Conn;
use crate::endpoint::Endpoint;

/// Longest line accepted, so a broken server cannot grow the buffer forever.
const MAX_LINE: usize = 1 << 20;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The last event id seen on the stream (ids persist across events).
    pub id: String,
    /// The `event:` field, or `message`.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// An incremental event-stream parser.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// The previous chunk ended in CR: a leading LF belongs to that line end.
    skip_lf: bool,
    started: bool,
    last_id: String,
    event: String,
    data: String,
    has_data: bool,
}

impl Parser {
    /// Parses one chunk, appending every event it completes to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut VecDeque<Event>) -> anyhow::Result<()> {
        if !self.started {
            // Hold the first bytes back until they cannot be a split BOM.
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            self.partial.extend_from_slice(chunk);
            if self.partial.len() < BOM.len() && BOM.starts_with(&self.partial) {
                return Ok(());
            }
            self.started = true;
            let head = std::mem::take(&mut self.partial);
            return self.feed(head.strip_prefix(BOM).unwrap_or(&head), out);
        }
        while !chunk.is_empty() {
            if std::mem::take(&mut self.skip_lf) && chunk[0] == b'\n' {
                chunk = &chunk[1..];
                continue;
            }
            let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') else {
                if self.partial.len() + chunk.len() > MAX_LINE {
                    bail!("an event-stream line is longer than {MAX_LINE} bytes");
                }
                self.partial.extend_from_slice(chunk);
                return Ok(());
            };
            if self.partial.is_empty() {
                self.line(&chunk[..end], out);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[..end]);
                self.line(&line, out);
                line.clear();
                self.partial = line;
            }
            let mut next = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            chunk = &chunk[next..];
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], out: &mut VecDeque<Event>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => self.last_id = String::from_utf8_lossy(value).into_owned(),
            // `retry` and unknown fields change nothing a benchmark needs.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut VecDeque<Event>) {
        let event = std::mem::take(&mut self.event);
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        out.push_back(Event {
            id: self.last_id.clone(),
            event: if event.is_empty() { "message".into() } else { event },
            data: std::mem::take(&mut self.data),
        });
    }
}

/// An open event stream.
pub struct Stream {
    _conn: Conn,
    body: Incoming,
    parser: Parser,
    ready: VecDeque<Event>,
}

impl Stream {
    /// GETs `path_and_query` from `endpoint` and checks that the answer is a
    /// 200 event stream. The stream is open from then on, but the server
    /// may not have subscribed yet: callers that need it live must wait
    /// for an event published after this returns.
    pub async fn open(endpoint: &Endpoint, source: Option<IpAddr>, path_and_query: &str) -> anyhow::Result<Self> {
        let mut conn = Conn::open(endpoint, source).await?;
        let req = Request::builder()
            .method(Method::GET)
            .uri(endpoint.uri(path_and_query)?)
            .header(HOST, endpoint.host.clone())
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache")
            .body(Full::new(Bytes::new()))?;
        let res = tokio::time::timeout(crate::conn::CONNECT_TIMEOUT, conn.send(req))
            .await
            .with_context(|| format!("{} did not answer the stream request", endpoint.url))?
            .with_context(|| format!("opening a stream on {}", endpoint.url))?;
        let status = res.status();
        if status != StatusCode::OK {
            let body = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            bail!("stream request to {} answered {status}: {}", endpoint.url, String::from_utf8_lossy(&body));
        }
        Ok(Self { _conn: conn, body: res.into_body(), parser: Parser::default(), ready: VecDeque::new() })
    }

    /// The next event; `None` when the server ends the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(Some(e));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame.context("reading the event stream")?.into_data() {
                        self.parser.feed(&data, &mut self.ready)?;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::default();
        let mut out = VecDeque::new();
        for c in chunks {
            p.feed(c, &mut out).unwrap();
        }
        out.into()
    }

    fn ev(id: &str, event: &str, data: &str) -> Event {
        Event { id: id.into(), event: event.into(), data: data.into() }
    }

    #[test]
    fn parses_herald_style_events() {
        let text = b"retry: 3000\n\n: keep-alive\n\nid: 1\nevent: order.created\ndata: {\"id\":1}\n\nid: 2\nevent: x\ndata: {\"id\":2}\n\n";
        assert_eq!(parse_chunks(&[text]), vec![ev("1", "order.created", "{\"id\":1}"), ev("2", "x", "{\"id\":2}")]);
    }

    #[test]
    fn any_chunking_gives_the_same_events() {
        let text: &[u8] = b"\xEF\xBB\xBFid: 7\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\ndata: three\r\rid\ndata\n\n:c\n";
        let whole = parse_chunks(&[text]);
        assert_eq!(whole, vec![ev("7", "a", "one\ntwo"), ev("7", "message", "three"), ev("", "message", "")]);
        for split in 1..text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(parse_chunks(&[a, b]), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes), whole);
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_unfinished_events_wait() {
        assert_eq!(parse_chunks(&[b"event: x\n\nid: 3\n\n"]), vec![]);
        assert_eq!(parse_chunks(&[b"data: a\n"]), vec![]);
        assert_eq!(parse_chunks(&[b"event: x\n\ndata: a\n\n"]), vec![ev("", "message", "a")]);
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut p = Parser::default();
        let mut out = VecDeque::new();
        let big = vec![b'x'; MAX_LINE];
        p.feed(&big, &mut out).unwrap();
        assert!(p.feed(b"x", &mut out).is_err());
    }
}
