//! A Herald base URL, resolved once: the socket address to dial, the `Host`
//! header to send and the path prefix to put before every API path.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use hyper::Uri;
use hyper::header::HeaderValue;

/// Where one Herald node listens.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The URL as given, for messages.
    pub url: String,
    pub addr: SocketAddr,
    pub host: HeaderValue,
    /// Path prefix without a trailing slash (usually empty).
    base: String,
}

impl Endpoint {
    /// Parses an `http://host[:port][/prefix]` URL and resolves its host.
    ///
    /// Refuses addresses outside the loopback range unless `allow_remote`:
    /// a load generator pointed at the wrong host by a typo is a nuisance to
    /// someone else.
    pub async fn resolve(url: &str, allow_remote: bool) -> anyhow::Result<Self> {
        let uri: Uri = url.parse().with_context(|| format!("`{url}` is not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => bail!("`{url}`: only http:// is supported, not {other}://"),
            None => bail!("`{url}`: give a full URL such as http://127.0.0.1:8080"),
        }
        let authority = uri.authority().with_context(|| format!("`{url}` has no host"))?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("resolving `{host}`"))?
            .next()
            .with_context(|| format!("`{host}` resolves to no address"))?;
        if !allow_remote && !addr.ip().is_loopback() {
            bail!("`{url}` resolves to {addr}, which is not a loopback address; pass --allow-remote to load it anyway");
        }
        let host_header = HeaderValue::from_str(authority.as_str()).with_context(|| format!("`{url}` has an unusable host"))?;
        let base = uri.path().trim_end_matches('/').to_owned();
        Ok(Self { url: url.to_owned(), addr, host: host_header, base })
    }

    /// The origin-form request target for an API path such as `/v1/tenants`.
    pub fn uri(&self, path_and_query: &str) -> anyhow::Result<Uri> {
        let full = format!("{}{path_and_query}", self.base);
        full.parse().with_context(|| format!("`{full}` is not a valid request path"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parses_loopback_urls_and_prefixes() {
        let ep = Endpoint::resolve("http://127.0.0.1:18080/herald/", false).await.unwrap();
        assert_eq!(ep.addr, "127.0.0.1:18080".parse().unwrap());
        assert_eq!(ep.host, "127.0.0.1:18080");
        assert_eq!(ep.uri("/v1/tenants").unwrap(), "/herald/v1/tenants");
        let v6 = Endpoint::resolve("http://[::1]:9000", false).await.unwrap();
        assert_eq!(v6.addr, "[::1]:9000".parse().unwrap());
        assert_eq!(v6.uri("/healthz").unwrap(), "/healthz");
    }

    #[tokio::test]
    async fn refuses_other_schemes_and_remote_hosts() {
        assert!(Endpoint::resolve("https://127.0.0.1:8080", false).await.is_err());
        assert!(Endpoint::resolve("127.0.0.1:8080", false).await.is_err());
        let err = Endpoint::resolve("http://192.0.2.1:8080", false).await.unwrap_err();
        assert!(err.to_string().contains("--allow-remote"), "{err}");
        assert!(Endpoint::resolve("http://192.0.2.1:8080", true).await.is_ok());
    }
}
