//! Secrets in the configuration, redacted in one place, so that neither a
//! log line nor an error message can show one: [`SecretString`] for
//! settings that are secrets through and through (keys, passwords),
//! [`SecretUrl`] for URLs whose user info may hold a password (the
//! database, the bus, the SMTP server), and [`url`] for any URL text that
//! is about to be shown.

use std::borrow::Cow;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a redacted secret shows instead of itself.
pub const REDACTED: &str = "<redacted>";

/// What a URL shows instead of its password (characters a URL's user info
/// takes as they are).
pub const REDACTED_PASSWORD: &str = "***";

/// A secret setting: `Debug` and `Display` show [`REDACTED`]; the value is
/// read with [`SecretString::expose`] only where it is used. It serializes
/// to its value, which is how the configuration's layers are merged;
/// nothing serializes a configuration to show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A URL that may carry a password: `Debug` and `Display` show it with the
/// password replaced (see [`url`]); [`SecretUrl::expose`] gives it whole.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretUrl {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SecretUrl {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", url(&self.0))
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&url(&self.0))
    }
}

/// `text` with the password of its user info replaced by
/// [`REDACTED_PASSWORD`]: `postgres://app:***@db/herald`. Text that does
/// not parse as a URL but looks like one with user info (`scheme://…@`)
/// loses all of it, user included, since where the password ends cannot
/// be told.
pub fn url(text: &str) -> Cow<'_, str> {
    match ::url::Url::parse(text) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Cannot fail: the URL has a host, since it has a password.
            let _ = parsed.set_password(Some(REDACTED_PASSWORD));
            Cow::Owned(parsed.to_string())
        }
        Ok(_) => Cow::Borrowed(text),
        Err(_) => {
            let Some((scheme, rest)) = text.split_once("://") else { return Cow::Borrowed(text) };
            match rest.rfind('@') {
                Some(at) => Cow::Owned(format!("{scheme}://{REDACTED_PASSWORD}@{}", &rest[at + 1..])),
                None => Cow::Borrowed(text),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_and_nothing_else() {
        for (text, shown) in [
            ("postgres://app:hunter2@db.example:5432/herald", "postgres://app:***@db.example:5432/herald"),
            ("smtp://bob:p%40ss@mail.example.com:587?tls=starttls", "smtp://bob:***@mail.example.com:587?tls=starttls"),
            ("nats://u:pw@127.0.0.1:4222", "nats://u:***@127.0.0.1:4222"),
            ("postgres://app@db/herald", "postgres://app@db/herald"),
            ("sqlite://./herald.db", "sqlite://./herald.db"),
            ("sqlite:///var/lib/a@b.db", "sqlite:///var/lib/a@b.db"),
            ("postgres", "postgres"),
            ("none", "none"),
            // Unparseable (a bad port), with user info: all of it goes.
            ("postgres://app:hunter2@db:99999/herald", "postgres://***@db:99999/herald"),
        ] {
            assert_eq!(url(text), shown, "{text}");
        }
    }

    #[test]
    fn secrets_show_only_the_marker() {
        let s = SecretString::from("hop_the-operator-key");
        assert_eq!((format!("{s}"), format!("{s:?}")), (REDACTED.to_owned(), REDACTED.to_owned()));
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert_eq!(s.expose(), "hop_the-operator-key");
        let u = SecretUrl::from("postgres://app:hunter2@db/herald");
        assert!(!format!("{u} {u:?}").contains("hunter2"));
        assert_eq!(u.expose(), "postgres://app:hunter2@db/herald");
        // Serialized, the value itself: the configuration's layers are merged this way.
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"hop_the-operator-key\"");
    }
}
