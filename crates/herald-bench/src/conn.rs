//! One keep-alive HTTP/1.1 connection, driven by hyper's low-level client:
//! no pool, no redirects, no TLS, so a request costs little more than its
//! bytes. Each load loop owns its connection and reopens it when it breaks.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;

use crate::endpoint::Endpoint;

/// Request bodies are whole buffers, usually cloned from a prepared `Bytes`.
pub type ReqBody = Full<Bytes>;

/// How long opening a TCP connection and the HTTP handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An open connection. Dropping it closes the socket.
pub struct Conn {
    sender: SendRequest<ReqBody>,
    driver: JoinHandle<()>,
}

impl Conn {
    /// Connects to `endpoint`, from `source` if given (a local address to
    /// bind, so many connections can be spread over several source IPs).
    pub async fn open(endpoint: &Endpoint, source: Option<IpAddr>) -> anyhow::Result<Self> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::connect(endpoint.addr, source))
            .await
            .with_context(|| format!("connecting to {} timed out", endpoint.url))?
            .with_context(|| format!("connecting to {}", endpoint.url))
    }

    async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> anyhow::Result<Self> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("binding source address {ip}"))?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        // The connection future ends when the socket closes; its error, if
        // any, also surfaces on the request that was in flight.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender, driver })
    }

    /// Whether the server has closed the connection (it must be reopened).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request and returns the response with its body unread.
    pub async fn send(&mut self, req: Request<ReqBody>) -> Result<Response<Incoming>, hyper::Error> {
        self.sender.ready().await?;
        self.sender.send_request(req).await
    }

    /// Sends one request and reads the whole response body.
    pub async fn exchange(&mut self, req: Request<ReqBody>) -> Result<(StatusCode, Bytes), hyper::Error> {
        let res = self.send(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
