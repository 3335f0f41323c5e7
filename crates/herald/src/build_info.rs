//! Which build this binary is: its version and the commit it was built
//! from (recorded by `build.rs`), for `herald --version`, `/healthz` and
//! the start-up log line.

/// The package version, `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit's short hash, or `unknown` for a build from a copy of the
/// sources outside the repository without `HERALD_BUILD_COMMIT`.
pub const COMMIT: &str = env!("BUILD_INFO_COMMIT");

/// The commit's date, `YYYY-MM-DD`, or empty when unknown.
pub const COMMIT_DATE: &str = env!("BUILD_INFO_COMMIT_DATE");

/// What `herald --version` prints after the name:
/// `0.1.0 (abc1234 2026-12-07)`.
pub const VERSION_LINE: &str = env!("BUILD_INFO_VERSION_LINE");

/// The same, for the application layer (`/healthz`).
pub const BUILD: herald_app::BuildInfo = herald_app::BuildInfo { version: VERSION, commit: COMMIT };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_names_version_and_commit() {
        assert!(VERSION_LINE.starts_with(&format!("{VERSION} ({COMMIT}")), "{VERSION_LINE}");
        assert!(!COMMIT.is_empty() && !COMMIT.contains(char::is_whitespace), "{COMMIT:?}");
        assert!(COMMIT_DATE.is_empty() || COMMIT_DATE.len() == 10, "{COMMIT_DATE:?}");
    }
}
