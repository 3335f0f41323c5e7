//! The browser client in `clients/js`: its strict type check (`tsc`), and
//! its browser tests, in which Debian's Chromium loads a page from another
//! origin and receives notifications from a real Herald on SQLite.
//!
//! These need Node, `/usr/bin/chromium` and `clients/js/node_modules`
//! (`scripts/test --setup` installs them). Without them the tests fail, saying what is
//! missing; they never skip.

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::*;
use crate::tools::{require_chromium, require_node_project, run};

/// The client's project, after checking that its tests can run.
fn client_dir() -> PathBuf {
    require_chromium();
    require_node_project("clients/js", &["typescript", "playwright-core"])
}

#[test]
fn client_type_checks() {
    let dir = client_dir();
    let (ok, output) = run(&dir, "npm", &["run", "check"], &[], Duration::from_secs(120));
    println!("{output}");
    assert!(ok, "`npm run check` (tsc --checkJs, strict) failed:\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_in_chromium_against_herald() {
    let dir = client_dir();
    let server = Server::start(Backend::Sqlite).await;
    let (base, key) = (server.base.clone(), server.operator_key.clone());
    let (ok, output) = tokio::task::spawn_blocking(move || {
        run(&dir, "npm", &["test"], &[("HERALD_URL", base.as_str()), ("HERALD_OPERATOR_KEY", key.as_str())], Duration::from_secs(600))
    })
    .await
    .unwrap();
    println!("{output}");
    assert!(ok, "the browser client's tests (`npm test --prefix clients/js`) failed:\n{output}");
    drop(server);
}
