//! A lean event-stream subscriber straight on a TCP socket, for runs with
//! tens of thousands of streams: one GET written by hand, the response head
//! parsed with `httparse`, then the body (chunked, sized or read to close)
//! decoded as it arrives. Each stream keeps only its socket and parser
//! state; bytes are read into one buffer per worker thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::chunked::Dechunker;
use crate::sse::{Event, Parser};

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Reads per wake-up before yielding to other streams.
const READS_PER_WAKE: usize = 8;
/// The per-thread read buffer.
const READ_BUF: usize = 16 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF]);
}

/// How the response body is delimited.
#[derive(Debug)]
enum Body {
    Chunked(Dechunker),
    Length(u64),
    /// Until the server closes the connection.
    Close,
}

/// An open event stream.
#[derive(Debug)]
pub struct RawStream {
    tcp: TcpStream,
    body: Body,
    parser: Parser,
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// The stream is still open.
    Open,
    /// The body ended or the server closed the connection.
    Ended,
}

impl RawStream {
    /// Connects to `addr` (from `source` if given), GETs `path` and checks
    /// for a `200` answer. Events that came with the head go to `out`.
    /// `last_event_id`, if given, is sent as the `Last-Event-ID` header.
    pub async fn open(
        addr: SocketAddr,
        source: Option<IpAddr>,
        host: &str,
        path: &str,
        last_event_id: Option<&str>,
        out: &mut VecDeque<Event>,
    ) -> anyhow::Result<Self> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("binding source address {ip}"))?;
        }
        let mut tcp = socket.connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let resume = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: herald-bench\r\n{resume}\r\n"
        );
        tcp.write_all(req.as_bytes()).await.context("sending the stream request")?;

        let mut head = Vec::with_capacity(1024);
        let (status, body, head_len) = loop {
            if head.len() >= MAX_HEAD {
                bail!("the response head is larger than {MAX_HEAD} bytes");
            }
            let start = head.len();
            head.resize(start + 1024.min(MAX_HEAD - start), 0);
            let n = tcp.read(&mut head[start..]).await.context("reading the response head")?;
            head.truncate(start + n);
            if n == 0 {
                bail!("the server closed the connection before answering");
            }
            let mut headers = [httparse::EMPTY_HEADER; 48];
            let mut res = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = res.parse(&head).context("parsing the response head")? {
                break (res.code.unwrap_or(0), framing(res.headers)?, len);
            }
        };
        if status != 200 {
            let rest = &head[head_len..head.len().min(head_len + 300)];
            bail!("the stream request answered {status}: {}", String::from_utf8_lossy(rest).trim());
        }
        let mut stream = Self { tcp, body, parser: Parser::default() };
        stream.feed(&head[head_len..], out)?;
        Ok(stream)
    }

    /// Waits until the socket may have bytes to read.
    pub async fn readable(&self) -> std::io::Result<()> {
        self.tcp.readable().await
    }

    /// Reads what has arrived without waiting, parsing events into `out`.
    pub fn read_available(&mut self, out: &mut VecDeque<Event>) -> anyhow::Result<Read> {
        BUF.with_borrow_mut(|buf| {
            for _ in 0..READS_PER_WAKE {
                match self.tcp.try_read(buf) {
                    Ok(0) => return Ok(Read::Ended),
                    Ok(n) => {
                        if self.feed(&buf[..n], out)? == Read::Ended {
                            return Ok(Read::Ended);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e).context("reading the event stream"),
                }
            }
            Ok(Read::Open)
        })
    }

    /// Passes body bytes through the transfer coding into the parser.
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<Event>) -> anyhow::Result<Read> {
        let parser = &mut self.parser;
        match &mut self.body {
            Body::Chunked(d) => {
                d.feed(bytes, |b| parser.feed(b, out))?;
                Ok(if d.is_done() { Read::Ended } else { Read::Open })
            }
            Body::Length(left) => {
                let n = (*left).min(bytes.len() as u64);
                parser.feed(&bytes[..n as usize], out)?;
                *left -= n;
                Ok(if *left == 0 { Read::Ended } else { Read::Open })
            }
            Body::Close => {
                parser.feed(bytes, out)?;
                Ok(Read::Open)
            }
        }
    }
}

/// The body framing named by the response headers.
fn framing(headers: &[httparse::Header<'_>]) -> anyhow::Result<Body> {
    let value = |name: &str| headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| String::from_utf8_lossy(h.value));
    if let Some(te) = value("transfer-encoding") {
        if te.trim().to_ascii_lowercase().ends_with("chunked") {
            return Ok(Body::Chunked(Dechunker::default()));
        }
        bail!("unsupported Transfer-Encoding `{te}`");
    }
    match value("content-length") {
        Some(len) => Ok(Body::Length(len.trim().parse().with_context(|| format!("bad Content-Length `{len}`"))?)),
        None => Ok(Body::Close),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn reads_a_chunked_stream_until_it_ends() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = vec![0; 1024];
            let n = s.read(&mut req).await.unwrap();
            let head = String::from_utf8_lossy(&req[..n]).into_owned();
            assert!(head.starts_with("GET /s?c=1 HTTP/1.1\r\nHost: h\r\n"), "{head}");
            assert!(head.ends_with("\r\nLast-Event-ID: 41\r\n\r\n"), "{head}");
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: a\n\n\r\n")
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            s.write_all(b"9\r\ndata: b\n\n\r\n0\r\n\r\n").await.unwrap();
        });
        let mut out = VecDeque::new();
        let mut stream = RawStream::open(addr, Some("127.0.0.2".parse().unwrap()), "h", "/s?c=1", Some("41"), &mut out).await.unwrap();
        let mut ended = false;
        for _ in 0..100 {
            stream.readable().await.unwrap();
            if stream.read_available(&mut out).unwrap() == Read::Ended {
                ended = true;
                break;
            }
        }
        assert!(ended);
        let data: Vec<_> = out.into_iter().map(|e| e.data).collect();
        assert_eq!(data, ["a", "b"]);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn refusals_quote_the_status() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = vec![0; 1024];
            let _ = s.read(&mut req).await.unwrap();
            s.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 7\r\n\r\nno way\n").await.unwrap();
        });
        let err = RawStream::open(addr, None, "h", "/", None, &mut VecDeque::new()).await.unwrap_err();
        assert!(format!("{err:#}").contains("401: no way"), "{err:#}");
    }
}
