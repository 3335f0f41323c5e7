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
        let req = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.uri(path)?)
            .header(HOST, self.endpoint.host.clone())
            .header(AUTHORIZATION, bearer(secret)?)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(Full::new(serde_json::to_vec(body)?.into()))?;
        if self.conn.as_ref().is_none_or(Conn::is_closed) {
            self.conn = Some(Conn::open(&self.endpoint, None).await?);
        }
        let conn = self.conn.as_mut().expect("opened above");
        let answer = tokio::time::timeout(CALL_TIMEOUT, conn.exchange(req)).await;
        let (status, bytes) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                self.conn = None;
                return Err(e).with_context(|| format!("POST {path} on {}", self.endpoint.url));
            }
            Err(_) => {
                self.conn = None;
                bail!("POST {path} on {} got no answer within {CALL_TIMEOUT:?}", self.endpoint.url);
            }
        };
        if !status.is_success() {
            bail!("POST {path} on {} answered {status}: {}", self.endpoint.url, String::from_utf8_lossy(&bytes));
        }
        serde_json::from_slice(&bytes).with_context(|| format!("POST {path}: unexpected answer {}", String::from_utf8_lossy(&bytes)))
    }
}
