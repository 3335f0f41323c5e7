//! The web admin console in `web-admin/`: its strict type check (`tsc
//! --checkJs`), and its browser tests, in which Debian's Chromium signs in
//! to the console and runs a tenant through it against a real Herald on
//! SQLite (create a tenant, a channel, keys; upload and test a plugin; live
//! tail; history and timeline; dashboard; themes; delete), with no CSP
//! violation and no request to another host.
//!
//! These need Node, `/usr/bin/chromium` and `web-admin/node_modules`
//! (`.ci/run` installs them). Without them the tests fail, saying what is
//! missing; they never skip. Screenshots of each screen go to
//! `target/admin-screenshots/` (printed by the test).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

const CHROMIUM: &str = "/usr/bin/chromium";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root exists")
}

fn console_dir() -> PathBuf {
    repo_root().join("web-admin")
}

/// Panics with the fix when a tool the console's tests need is missing.
fn require_tools(dir: &Path) {
    for tool in ["node", "npm"] {
        match Command::new(tool).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("`{tool} --version` failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => panic!("{tool} is needed by the admin console's tests (Node 20 with npm): {e}"),
        }
    }
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the admin console's tests drive Debian's Chromium (`apt-get install -y --no-install-recommends chromium`)"
    );
    for module in ["typescript", "playwright-core"] {
        assert!(
            dir.join("node_modules").join(module).exists(),
            "web-admin/node_modules/{module} is missing: run `npm ci --prefix web-admin`"
        );
    }
}

/// Runs a command in `dir` with a time limit; returns whether it succeeded
/// and its output (stdout then stderr).
fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)], limit: Duration) -> (bool, String) {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {program}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut output = format!("{}{}", stdout.join().unwrap(), stderr.join().unwrap());
    if status.is_none() {
        output.push_str(&format!("\n[killed after {} s]", limit.as_secs()));
    }
    (status.is_some_and(|s| s.success()), output)
}

#[test]
fn admin_ui_type_checks() {
    let dir = console_dir();
    require_tools(&dir);
    let (ok, output) = run(&dir, "npm", &["run", "check"], &[], Duration::from_secs(120));
    println!("{output}");
    assert!(ok, "`npm run check --prefix web-admin` (tsc --checkJs, strict) failed:\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_ui_in_chromium_against_herald() {
    let dir = console_dir();
    require_tools(&dir);
    let plugins = tempfile::tempdir().unwrap();
    let redact = plugins.path().join("redact.wasm");
    std::fs::write(&redact, plugin_wasm("redact")).unwrap();
    let shots = repo_root().join("target/admin-screenshots");
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
