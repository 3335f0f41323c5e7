//! A small JSON client for the few management calls a run makes before the
//! load starts. Not used in measured loops.

use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::Full;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use serde::de::DeserializeOwned;

use crate::conn::Conn;
use crate::endpoint::Endpoint;

/// How long one management call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds an `Authorization: Bearer …` value, kept out of debug output.
pub fn bearer(secret: &str) -> anyhow::Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {secret}")).context("the key is not valid in an HTTP header")?;
    value.set_sensitive(true);
    Ok(value)
}

/// Management calls against one node, over one reused connection.
pub struct Api {
    endpoint: Endpoint,
    conn: Option<Conn>,
}

impl Api {
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, conn: None }
    }

    /// POSTs `body` as JSON with `Authorization: Bearer <secret>` and decodes
    /// a 2xx answer; anything else is an error quoting the server's answer.
    pub async fn post<T: DeserializeOwned>(&mut self, path: &str, secret: &str, body: &serde_json::Value) -> anyhow::Result<T> {
        self.call(Method::POST, path, secret, Some(body)).await
    }

    /// POSTs raw `bytes` (a plugin component) as `application/wasm` and
    /// decodes a 2xx answer.
    pub async fn upload<T: DeserializeOwned>(&mut self, path: &str, secret: &str, bytes: Vec<u8>) -> anyhow::Result<T> {
        self.send(Method::POST, path, secret, Some(("application/wasm", bytes))).await
    }

    /// GETs `path` with `Authorization: Bearer <secret>` and decodes a 2xx answer.
    pub async fn get<T: DeserializeOwned>(&mut self, path: &str, secret: &str) -> anyhow::Result<T> {
        self.call(Method::GET, path, secret, None).await
    }

    async fn call<T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        secret: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<T> {
        let body = body.map(|b| serde_json::to_vec(b).map(|bytes| ("application/json", bytes))).transpose()?;
        self.send(method, path, secret, body).await
    }

    async fn send<T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        secret: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> anyhow::Result<T> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(self.endpoint.uri(path)?)
            .header(HOST, self.endpoint.host.clone())
            .header(AUTHORIZATION, bearer(secret)?)
            .header(ACCEPT, "application/json");
        let bytes = match body {
            Some((content_type, bytes)) => {
                req = req.header(CONTENT_TYPE, content_type);
                bytes
            }
            None => Vec::new(),
        };
        let req = req.body(Full::new(bytes.into()))?;
        if self.conn.as_ref().is_none_or(Conn::is_closed) {
            self.conn = Some(Conn::open(&self.endpoint, None).await?);
        }
        let conn = self.conn.as_mut().expect("opened above");
        let answer = tokio::time::timeout(CALL_TIMEOUT, conn.exchange(req)).await;
        let (status, bytes) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                self.conn = None;
                return Err(e).with_context(|| format!("{method} {path} on {}", self.endpoint.url));
            }
            Err(_) => {
                self.conn = None;
                bail!("{method} {path} on {} got no answer within {CALL_TIMEOUT:?}", self.endpoint.url);
            }
        };
        if !status.is_success() {
            bail!("{method} {path} on {} answered {status}: {}", self.endpoint.url, String::from_utf8_lossy(&bytes));
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{method} {path}: unexpected answer {}", String::from_utf8_lossy(&bytes)))
    }
}
