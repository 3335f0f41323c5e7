//! Which database a store talks to, decided once from its URL so that no
//! other code compares URL prefixes or backend names again.

use std::fmt;

/// The database behind a [`crate::Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    /// Every kind, for code (and tests) that must cover each one.
    pub const ALL: [DbKind; 2] = [DbKind::Sqlite, DbKind::Postgres];

    /// The kind a database URL names: `sqlite:…`, `postgres://…` or
    /// `postgresql://…`.
    pub fn from_url(url: &str) -> Result<Self, UnsupportedDatabaseUrl> {
        if url.starts_with("sqlite:") {
            Ok(DbKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbKind::Postgres)
        } else {
            Err(UnsupportedDatabaseUrl { scheme: scheme_of(url) })
        }
    }

    /// `sqlite` or `postgres`: what [`crate::Store::backend_name`] returns,
    /// fit for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgres",
        }
    }

    /// The same as [`DbKind::as_str`].
    pub const fn name(self) -> &'static str {
        self.as_str()
    }

    pub const fn is_postgres(self) -> bool {
        matches!(self, DbKind::Postgres)
    }

    pub const fn is_sqlite(self) -> bool {
        matches!(self, DbKind::Sqlite)
    }

    /// sea-orm's name for it; sea-orm types stay inside this crate.
    pub(crate) const fn backend(self) -> sea_orm::DbBackend {
        match self {
            DbKind::Sqlite => sea_orm::DbBackend::Sqlite,
            DbKind::Postgres => sea_orm::DbBackend::Postgres,
        }
    }
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DbKind {
    type Err = UnsupportedDatabaseUrl;

    /// Parses a URL, like [`DbKind::from_url`].
    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Self::from_url(url)
    }
}

/// A database URL Herald cannot use. Its message never holds the URL, which
/// may carry a password; at most the scheme, which cannot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedDatabaseUrl {
    scheme: Option<String>,
}

impl UnsupportedDatabaseUrl {
    /// The URL's scheme (`mysql` in `mysql://…`), when it has a well-formed one.
    pub fn scheme(&self) -> Option<&str> {
        self.scheme.as_deref()
    }
}

impl fmt::Display for UnsupportedDatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scheme {
            Some(s) => write!(f, "unsupported database URL scheme `{s}`: use sqlite://PATH or postgres://…"),
            None => f.write_str("unsupported database URL: use sqlite://PATH or postgres://…"),
        }
    }
}

impl std::error::Error for UnsupportedDatabaseUrl {}

/// The scheme before `://`, only when it has a scheme's shape (RFC 3986:
/// a letter, then letters, digits, `+`, `-`, `.`): text in other shapes
/// might be a password typed where a URL was expected.
fn scheme_of(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let shaped = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && scheme.len() <= 32;
    shaped.then(|| scheme.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_url_scheme() {
        let cases = [
            ("sqlite://./herald.db", DbKind::Sqlite),
            ("sqlite::memory:", DbKind::Sqlite),
            ("sqlite:/var/lib/herald.db?mode=rwc", DbKind::Sqlite),
            ("postgres://herald:pw@db/herald", DbKind::Postgres),
            ("postgresql://db/herald", DbKind::Postgres),
        ];
        for (url, want) in cases {
            assert_eq!(DbKind::from_url(url), Ok(want), "{url}");
            assert_eq!(url.parse::<DbKind>(), Ok(want), "{url}");
        }
    }

    #[test]
    fn names_match_what_the_store_reports() {
        assert_eq!((DbKind::Sqlite.as_str(), DbKind::Postgres.as_str()), ("sqlite", "postgres"));
        assert_eq!(DbKind::Postgres.name(), DbKind::Postgres.as_str());
        assert_eq!(DbKind::Sqlite.to_string(), "sqlite");
        assert!(DbKind::Postgres.is_postgres() && !DbKind::Postgres.is_sqlite());
        assert!(DbKind::Sqlite.is_sqlite() && !DbKind::Sqlite.is_postgres());
    }

    #[test]
    fn an_unsupported_url_is_refused_without_repeating_it() {
        let cases = [
            ("mysql://root:hunter2@db/herald", Some("mysql")),
            ("Postgres://app:hunter2@db/herald", Some("Postgres")),
            ("postgres:/app:hunter2@db", None),
            ("hunter2@db/herald", None),
            ("app:hunter2@db://x", None),
            ("", None),
        ];
        for (url, scheme) in cases {
            let err = DbKind::from_url(url).unwrap_err();
            assert_eq!(err.scheme(), scheme, "{url}");
            let msg = err.to_string();
            assert!(!msg.contains("hunter2"), "the message repeats the password: {msg}");
            assert!(msg.starts_with("unsupported database URL") && msg.contains("sqlite://PATH or postgres://"), "{msg}");
        }
    }
}
