//! The command line: help, migrate, openapi, and refusing bad configuration.

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
