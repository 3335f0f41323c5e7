//! Runs the plugin kit's and the example plugins' own tests (the separate
//! Cargo workspace in `plugins/`, built for the host) as part of the root
//! workspace's `cargo test`, so one command tests everything. Fails with
//! the nested run's output when any of them fails.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn plugin_kit_and_example_plugins_pass_their_tests() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--workspace", "--locked", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("running cargo test for plugins/");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "plugins/ tests failed:\n{stdout}\n{stderr}");
    let passed: u64 =
        stdout.lines().filter_map(|l| l.strip_prefix("test result: ok. ")).filter_map(|l| l.split(' ').next()?.parse::<u64>().ok()).sum();
    // The kit and the four examples have dozens of tests; none running
    // would mean the nested run tested nothing.
    assert!(passed >= 20, "only {passed} plugin tests ran:\n{stdout}");
    println!("plugins/: {passed} tests passed");
}
