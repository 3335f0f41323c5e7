//! The browser client in `clients/js`: its strict type check (`tsc`), and
//! its browser tests, in which Debian's Chromium loads a page from another
//! origin and receives notifications from a real Herald on SQLite.
//!
//! These need Node, `/usr/bin/chromium` and `clients/js/node_modules`
//! (`.ci/run` installs them). Without them the tests fail, saying what is
//! missing; they never skip.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

const CHROMIUM: &str = "/usr/bin/chromium";

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/js").canonicalize().expect("clients/js exists")
}

/// Panics with the fix when a tool the client's tests need is missing.
fn require_tools(dir: &Path) {
    for (tool, args) in [("node", ["--version"]), ("npm", ["--version"])] {
        match Command::new(tool).args(args).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("`{tool} --version` failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => panic!("{tool} is needed by the browser client's tests (Node 20 with npm): {e}"),
        }
    }
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the browser tests drive Debian's Chromium (`apt-get install -y --no-install-recommends chromium`)"
    );
    for module in ["typescript", "playwright-core"] {
        assert!(
            dir.join("node_modules").join(module).exists(),
            "clients/js/node_modules/{module} is missing: run `npm ci --prefix clients/js`"
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
fn client_type_checks() {
    let dir = client_dir();
    require_tools(&dir);
    let (ok, output) = run(&dir, "npm", &["run", "check"], &[], Duration::from_secs(120));
    println!("{output}");
    assert!(ok, "`npm run check` (tsc --checkJs, strict) failed:\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_in_chromium_against_herald() {
    let dir = client_dir();
    require_tools(&dir);
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
