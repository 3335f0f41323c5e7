//! How `fanout` publishes: through Herald's API (single or batch endpoint)
//! or by POSTing the raw stamp to a URL template, so the same run can
//! drive a peer such as Nchan or Pushpin. One keep-alive connection and one
//! request at a time, so sequence order is also commit order.

use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};

use crate::conn::{Conn, ReqBody};
use crate::endpoint::Endpoint;
use crate::setup::unix_micros;

/// Event type of measured notifications in Herald mode.
pub const MEASURED: &str = "bench.fanout";
/// Event type of warm-up notifications in Herald mode.
pub const WARMUP: &str = "bench.warmup";

/// The placeholder a URL template names the channel with.
pub const PLACEHOLDER: &str = "{channel}";

/// Where publishes go.
#[derive(Debug)]
pub enum Api {
    /// Herald: `POST /v1/tenants/{t}/channels/{c}/notifications`, or the
    /// batch endpoint, with a publish key.
    Herald { tenant: String, auth: HeaderValue },
    /// A peer: `POST` the stamp as is to the template's URL per channel.
    Template { uris: Vec<Uri> },
}

/// Splits `http://host:port/path{channel}` into its base URL and the rest.
pub fn split_template(template: &str) -> anyhow::Result<(String, String)> {
    let Some(after) = template.strip_prefix("http://") else {
        anyhow::bail!("`{template}`: a template must start with http://");
    };
    let cut = after.find('/').unwrap_or(after.len());
    let rest = if cut == after.len() { "/".to_owned() } else { after[cut..].to_owned() };
    Ok((format!("http://{}", &after[..cut]), rest))
}

/// A failed publish: its kind (`"503"`, `timeout`, `connect`, `io`) and a detail.
pub type Failed = (String, String);

/// Publishes on one connection.
pub struct Publisher {
    pub endpoint: Endpoint,
    pub api: Api,
    pub channels: Vec<String>,
    pub timeout: Duration,
    conn: Option<Conn>,
}

impl Publisher {
    pub fn new(endpoint: Endpoint, api: Api, channels: Vec<String>, timeout: Duration) -> Self {
        Self { endpoint, api, channels, timeout, conn: None }
    }

    /// Publishes warm-up number `round` to every channel.
    pub async fn warm_up(&mut self, round: u64) -> Result<(), Failed> {
        for c in 0..self.channels.len() {
            let body = match self.api {
                Api::Herald { .. } => format!(r#"{{"type":"{WARMUP}","data":{{"warmup":{round}}}}}"#),
                Api::Template { .. } => format!(r#"{{"warmup":{round}}}"#),
            };
            let uri = self.single_uri(c);
            self.post(uri, body).await?;
        }
        Ok(())
    }

    /// Publishes sequence numbers `first..first + n` to every channel: one
    /// batch request in Herald mode when `n > 1`, else one request each.
    /// Stops at the first failure.
    pub async fn publish(&mut self, first: u64, n: u64) -> Result<(), Failed> {
        if n > 1 && matches!(self.api, Api::Herald { .. }) {
            let sent = unix_micros();
            let mut body = String::with_capacity(96 * n as usize * self.channels.len() + 20);
            body.push_str(r#"{"notifications":["#);
            for seq in first..first + n {
                for ch in &self.channels {
                    if body.len() > 18 {
                        body.push(',');
                    }
                    body.push_str(&format!(r#"{{"channel":"{ch}","type":"{MEASURED}","data":{{"seq":{seq},"sent_us":{sent}}}}}"#));
                }
            }
            body.push_str("]}");
            let Api::Herald { tenant, .. } = &self.api else { unreachable!("matched above") };
            let uri = self.endpoint.uri(&format!("/v1/tenants/{tenant}/notifications:batch")).map_err(|e| ("uri".into(), e.to_string()))?;
            return self.post(uri, body).await;
        }
        for seq in first..first + n {
            for c in 0..self.channels.len() {
                let stamp = format!(r#"{{"seq":{seq},"sent_us":{}}}"#, unix_micros());
                let body = match self.api {
                    Api::Herald { .. } => format!(r#"{{"type":"{MEASURED}","data":{stamp}}}"#),
                    Api::Template { .. } => stamp,
                };
                let uri = self.single_uri(c);
                self.post(uri, body).await?;
            }
        }
        Ok(())
    }

    pub fn single_uri(&self, c: usize) -> Uri {
        match &self.api {
            Api::Herald { tenant, .. } => self
                .endpoint
                .uri(&format!("/v1/tenants/{tenant}/channels/{}/notifications", self.channels[c]))
                .expect("channel names are valid in a path"),
            Api::Template { uris } => uris[c].clone(),
        }
    }

    /// POSTs `body` as JSON; any 2xx answer is success.
    pub async fn post(&mut self, uri: Uri, body: String) -> Result<(), Failed> {
        let mut req: Request<ReqBody> = Request::new(ReqBody::new(Bytes::from(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        headers.insert(HOST, self.endpoint.host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Api::Herald { auth, .. } = &self.api {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        if self.conn.as_ref().is_none_or(Conn::is_closed) {
            self.conn = Some(Conn::open(&self.endpoint, None).await.map_err(|e| ("connect".to_owned(), format!("{e:#}")))?);
        }
        let conn = self.conn.as_mut().expect("opened above");
        match tokio::time::timeout(self.timeout, conn.exchange(req)).await {
            Ok(Ok((status, _))) if status.is_success() => Ok(()),
            Ok(Ok((status, body))) => Err((status.as_str().to_owned(), String::from_utf8_lossy(&body).chars().take(300).collect())),
            Ok(Err(e)) => {
                self.conn = None;
                Err(("io".into(), e.to_string()))
            }
            Err(_) => {
                self.conn = None;
                Err(("timeout".into(), format!("no answer within {:?}", self.timeout)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_base_and_path() {
        let (base, rest) = split_template("http://127.0.0.1:8090/sub/{channel}?x=1").unwrap();
        assert_eq!((base.as_str(), rest.as_str()), ("http://127.0.0.1:8090", "/sub/{channel}?x=1"));
        assert_eq!(split_template("http://h:1").unwrap().1, "/");
        assert!(split_template("https://h/{channel}").is_err());
    }
}
