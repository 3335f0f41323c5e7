//! Running the outside tools some tests drive (Node and npm projects,
//! Chromium, Python generators): finding them, failing with the fix when
//! one is missing (never skipping), and running them with a time limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The browser the Chromium tests drive: Debian's, never a downloaded one.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A path in the repository, made absolute.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative).canonicalize().unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// What to run when a tool is missing: the test command sets them all up.
pub const SETUP_HINT: &str = "`scripts/test --setup` installs every tool the suite needs (scripts/test runs it first)";

/// A Python tool from the project's virtual environment (`.venv`, made by
/// `scripts/test --setup`), or from PATH when there is none.
pub fn python_tool(name: &str) -> String {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin").join(name);
    if venv.exists() { venv.to_string_lossy().into_owned() } else { name.to_owned() }
}

/// Panics with the fix when a program is missing or broken.
pub fn require_program(program: &str, args: &[&str], fix: &str) {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`{program} {}` failed ({fix}): {}", args.join(" "), String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!("{program} is missing ({fix}): {e}"),
    }
}

/// Panics with the fix unless Node, npm and the npm project at `relative`
/// with these installed modules are there.
pub fn require_node_project(relative: &str, modules: &[&str]) -> PathBuf {
    require_program("node", &["--version"], "install Node 20");
    require_program("npm", &["--version"], "install npm with Node 20");
    let dir = repo_path(relative);
    for module in modules {
        assert!(
            dir.join("node_modules").join(module).exists(),
            "{relative}/node_modules/{module} is missing: {SETUP_HINT} (or `npm ci --prefix {relative}`)"
        );
    }
    dir
}

/// Panics with the fix when Debian's Chromium is not installed.
pub fn require_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the browser tests drive Debian's Chromium; {SETUP_HINT} (or `apt-get install -y --no-install-recommends chromium`)"
    );
}

/// Runs a command in `dir` with a time limit; returns whether it succeeded
/// and its output (stdout then stderr).
pub fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)], limit: Duration) -> (bool, String) {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // What a Python tool runs in turn (openapi-python-client runs ruff)
    // comes from the same virtual environment.
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin");
    if venv.exists() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        cmd.env("PATH", std::env::join_paths(std::iter::once(venv).chain(std::env::split_paths(&path))).expect("PATH entries"));
    }
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
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = format!("{}{}", stdout.join().unwrap(), stderr.join().unwrap());
    if status.is_none() {
        output.push_str(&format!("\n[killed after {} s]", limit.as_secs()));
    }
    (status.is_some_and(|s| s.success()), output)
}
