//! The web admin console in `web-admin/`: its strict type check (`tsc
//! --checkJs`), and its browser tests, in which Debian's Chromium signs in
//! to the console and runs a tenant through it against a real Herald on
//! SQLite (create a tenant, a channel, keys; upload and test a plugin; live
//! tail; history and timeline; dashboard; themes; delete), with no CSP
//! violation and no request to another host.
//!
//! These need Node, `/usr/bin/chromium` and `web-admin/node_modules`
//! (`scripts/test --setup` installs them). Without them the tests fail, saying what is
//! missing; they never skip. Screenshots of each screen go to
//! `target/admin-screenshots/` (printed by the test).

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::*;
use crate::tools::{repo_path, require_chromium, require_node_project, run};

/// The console's project, after checking that its tests can run.
fn console_dir() -> PathBuf {
    require_chromium();
    require_node_project("web-admin", &["typescript", "playwright-core"])
}

#[test]
fn admin_ui_type_checks() {
    let dir = console_dir();
    let (ok, output) = run(&dir, "npm", &["run", "check"], &[], Duration::from_secs(120));
    println!("{output}");
    assert!(ok, "`npm run check --prefix web-admin` (tsc --checkJs, strict) failed:\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_ui_in_chromium_against_herald() {
    let dir = console_dir();
    let plugins = tempfile::tempdir().unwrap();
    let redact = plugins.path().join("redact.wasm");
    std::fs::write(&redact, plugin_wasm("redact")).unwrap();
    let shots = repo_path(".").join("target/admin-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    println!("admin console screenshots: {}", shots.display());

    let server = Server::start(Backend::Sqlite).await;
    let (base, key) = (server.base.clone(), server.operator_key.clone());
    let (ok, output) = tokio::task::spawn_blocking(move || {
        let env = [
            ("HERALD_URL", base.as_str()),
            ("HERALD_OPERATOR_KEY", key.as_str()),
            ("REDACT_WASM", redact.to_str().unwrap()),
            ("SCREENSHOT_DIR", shots.to_str().unwrap()),
        ];
        run(&dir, "npm", &["test"], &env, Duration::from_secs(600))
    })
    .await
    .unwrap();
    println!("{output}");
    assert!(ok, "the admin console's browser tests (`npm test --prefix web-admin`) failed:\n{output}");
    drop(plugins);
    drop(server);
}
