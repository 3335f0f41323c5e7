//! The command line: help, version, migrate, openapi, refusing bad
//! configuration, and the configuration file the Debian package installs.

use std::process::Command;

use crate::harness::*;

fn herald(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(herald_bin());
    cmd.args(args).env_remove("HERALD_CONFIG").env_remove("HERALD_DATABASE_URL").env_remove("HERALD_LISTEN");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn help_lists_the_commands() {
    let out = herald(&["--help"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in ["serve", "migrate", "token", "openapi", "HERALD_"] {
        assert!(text.contains(cmd), "--help mentions {cmd}");
    }
}

#[test]
fn migrate_creates_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let out = herald(&["migrate", "--database-url", &format!("sqlite://{}", db.display())], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(db.exists());
    // Twice is fine.
    assert!(herald(&["migrate"], &[("HERALD_DATABASE_URL", &format!("sqlite://{}", db.display()))]).status.success());
}

#[test]
fn openapi_command_prints_the_spec() {
    let out = herald(&["openapi"], &[]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), herald_server::openapi_json());
}

#[test]
fn bad_configuration_fails_fast_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    for (env, value, says) in [
        ("HERALD_DATABASE_URL", "mysql://nope", "database_url"),
        ("HERALD_OPERATOR_KEY", "short", "operator_key"),
        ("HERALD_STREAM__HEARTBEAT_SECONDS", "0", "heartbeat"),
        ("HERALD_NOT_A_SETTING", "1", "not_a_setting"),
    ] {
        let out = herald(&["serve", "--listen", "127.0.0.1:0"], &[("HERALD_DATABASE_URL", &url), (env, value)]);
        assert!(!out.status.success(), "{env}={value} must be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{env}: {err}");
    }
}

#[test]
fn version_names_the_commit() {
    let out = herald(&["--version"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, format!("herald {}\n", herald::build_info::VERSION_LINE));
    // `herald 0.1.0 (abc1234 2026-12-07)`: a short hash (or `unknown` for a
    // build outside the repository) and the commit's date.
    let commit = herald::build_info::COMMIT;
    assert!(commit == "unknown" || (7..=40).contains(&commit.len()) && commit.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
    let date = herald::build_info::COMMIT_DATE;
    assert!(text.starts_with(&format!("herald {} ({commit}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(date.is_empty() && commit == "unknown" || date.len() == 10 && text.contains(date), "{text}");
}

#[test]
fn the_build_variables_are_not_settings() {
    // Given to the build (build.rs), perhaps left in the shell that then
    // runs the server: the configuration, which refuses unknown HERALD_*
    // variables, lets them be.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let out = herald(
        &["migrate"],
        &[("HERALD_DATABASE_URL", &url), ("HERALD_BUILD_COMMIT", "abc1234"), ("HERALD_BUILD_COMMIT_DATE", "2026-12-07")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The packaged /etc/herald/herald.toml, read as `--config` reads a file
/// (without the test process's HERALD_* variables).
fn packaged_config(text: &str) -> Result<herald::Config, String> {
    use figment::providers::{Format, Serialized, Toml};
    figment::Figment::from(Serialized::defaults(herald::Config::default())).merge(Toml::string(text)).extract().map_err(|e| e.to_string())
}

#[test]
fn the_packaged_configuration_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/deb/herald.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = packaged_config(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    config.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.database_url.expose(), "sqlite:///var/lib/herald/herald.db");
    assert_eq!(config.operator_key_path(), std::path::Path::new("/var/lib/herald/operator-key"));

    // Its commented TLS block is valid too once uncommented: an operator
    // who follows it gets a configuration Herald accepts.
    let tls: String = text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.starts_with("[tls]") || rest.starts_with("cert_file") || rest.starts_with("key_file") => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = packaged_config(&tls).unwrap_or_else(|e| panic!("with [tls] uncommented: {e}"));
    config.validate().unwrap_or_else(|e| panic!("with [tls] uncommented: {e}"));
    let tls = &serde_json::to_value(&config).unwrap()["tls"];
    assert_eq!((tls["cert_file"].as_str(), tls["key_file"].as_str()), (Some("/etc/herald/tls/cert.pem"), Some("/etc/herald/tls/key.pem")));
}
