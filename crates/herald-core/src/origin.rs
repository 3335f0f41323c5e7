//! Browser origins a tenant allows to call the subscriber endpoints across
//! origins (CORS): `scheme://host[:port]` exactly as a browser sends it in
//! the `Origin` header, so that allowing one is a plain string comparison.

use std::fmt;

use crate::DomainError;
use crate::limits;

/// A validated origin, e.g. `https://app.example.com` or `http://127.0.0.1:5173`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    pub fn parse(raw: impl Into<String>) -> Result<Self, DomainError> {
        let s: String = raw.into();
        let bad = |why: &str| DomainError::invalid("origin", format!("`{}`: {why}", s.chars().take(80).collect::<String>()));
        if s.len() > limits::MAX_ORIGIN {
            return Err(bad(&format!("longer than {} bytes", limits::MAX_ORIGIN)));
        }
        let Some((scheme, rest)) = s.split_once("://") else { return Err(bad("expected scheme://host[:port]")) };
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) || rest.ends_with(':') {
            return Err(bad("an origin is scheme://host[:port], with no path, query, user or trailing slash"));
        }
        if rest.chars().any(|c| c.is_ascii_uppercase() || !c.is_ascii() || c.is_ascii_control()) {
            return Err(bad("write the host in lowercase ASCII (punycode), as browsers send it"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 literal without a port: `[::1]`.
            Some((h, p)) if !p.contains(']') => (h, Some(p)),
            _ => (rest, None),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if let Some(p) = port
            && p.parse::<u16>().is_err()
        {
            return Err(bad("the port must be a number up to 65535"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validates a whole list: at most [`limits::MAX_ORIGINS`], no duplicates.
pub fn parse_list(raw: Vec<String>) -> Result<Vec<Origin>, DomainError> {
    if raw.len() > limits::MAX_ORIGINS {
        return Err(DomainError::invalid("origins", format!("at most {} origins", limits::MAX_ORIGINS)));
    }
    let mut out: Vec<Origin> = Vec::with_capacity(raw.len());
    for r in raw {
        let o = Origin::parse(r)?;
        if out.contains(&o) {
            return Err(DomainError::invalid("origins", format!("`{o}` is listed twice")));
        }
        out.push(o);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_as_browsers_send_them_are_accepted() {
        for ok in ["https://app.example.com", "http://127.0.0.1:5173", "http://localhost:8080", "https://[::1]:443", "https://[::1]"] {
            assert_eq!(Origin::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for bad in [
            "app.example.com",
            "ftp://example.com",
            "https://example.com/",
            "https://example.com/app",
            "https://Example.com",
            "https://example.com:",
            "https://example.com:99999",
            "https://user@example.com",
            "https://",
            "*",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(parse_list(vec!["https://a.io".into(), "https://a.io".into()]).is_err());
        assert!(parse_list((0..=limits::MAX_ORIGINS).map(|i| format!("https://a{i}.io")).collect()).is_err());
    }
}
