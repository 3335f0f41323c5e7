//! Records which commit the binary was built from, for `herald --version`,
//! `/healthz` and the start-up log line.
//!
//! Sets `BUILD_INFO_COMMIT` (short hash, or `unknown`),
//! `BUILD_INFO_COMMIT_DATE` (the commit's date, `YYYY-MM-DD`, or empty) and
//! `BUILD_INFO_VERSION_LINE` (`0.1.0 (abc1234 2026-12-07)`) for the crate's
//! code. Not `HERALD_*`: cargo also puts these in the environment of what
//! `cargo run` and `cargo test` start, where the configuration would take
//! them for settings and refuse them.
//!
//! The commit comes from `HERALD_BUILD_COMMIT` (and
//! `HERALD_BUILD_COMMIT_DATE`) when set, for builds from a source archive;
//! else from git, when the crate is inside the repository it came from;
//! else it is `unknown` (a crates.io or `cargo install` build from a copy
//! has no repository). The configuration ignores those two variables.
//!
//! The commit's date, not the build's, so that two builds of one commit are
//! the same binary. There is no `-dirty` mark: edits to the sources do not
//! rerun this script, so such a mark would be stale as often as not.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HERALD_BUILD_COMMIT");
    println!("cargo:rerun-if-env-changed=HERALD_BUILD_COMMIT_DATE");

    let (commit, date) = match std::env::var("HERALD_BUILD_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => {
            (commit.trim().to_owned(), std::env::var("HERALD_BUILD_COMMIT_DATE").unwrap_or_default().trim().to_owned())
        }
        _ => from_git().unwrap_or_else(|| ("unknown".to_owned(), String::new())),
    };
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let line = if date.is_empty() { format!("{version} ({commit})") } else { format!("{version} ({commit} {date})") };
    println!("cargo:rustc-env=BUILD_INFO_COMMIT={commit}");
    println!("cargo:rustc-env=BUILD_INFO_COMMIT_DATE={date}");
    println!("cargo:rustc-env=BUILD_INFO_VERSION_LINE={line}");
}

/// The checked-out commit and its date, and tells cargo which files to
/// watch so that a new commit or checkout reruns this script (and nothing
/// else does).
fn from_git() -> Option<(String, String)> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    // Only the repository this crate belongs to: a source archive unpacked
    // inside some other repository (a packaging repository, a monorepo)
    // would otherwise report that repository's commit.
    // Watched first: were git to fail once (a lock held by a concurrent
    // git command, say), a later commit must still rerun this script
    // rather than leave `unknown` in place until build.rs changes.
    watch_head(&dir);
    git(&dir, &["ls-files", "--error-unmatch", "Cargo.toml"])?;
    let line = git(&dir, &["log", "-1", "--format=%h %cs", "--abbrev=7"])?;
    let (commit, date) = line.split_once(' ')?;
    Some((commit.to_owned(), date.to_owned()))
}

/// Watches HEAD and the branch it names. `--git-path` resolves both in a
/// linked worktree too (HEAD in the worktree's own directory, refs in the
/// common one). Only existing paths are named: cargo reruns a script on
/// every build while a path it watches is missing.
fn watch_head(dir: &Path) {
    let mut paths = Vec::new();
    if let Some(head) = git(dir, &["rev-parse", "--git-path", "HEAD"]) {
        paths.push(dir.join(head));
    }
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        if let Some(loose) = git(dir, &["rev-parse", "--git-path", &branch]) {
            let loose = dir.join(loose);
            if loose.exists() {
                paths.push(loose);
            } else if let Some(refs) = loose.parent() {
                // Packed by `git gc`: the next commit writes the loose file
                // again, into this directory.
                paths.push(refs.to_path_buf());
            }
        }
        if let Some(packed) = git(dir, &["rev-parse", "--git-path", "packed-refs"]) {
            paths.push(dir.join(packed));
        }
    }
    // `canonicalize` also drops the paths that do not exist.
    for path in paths.into_iter().filter_map(|p| p.canonicalize().ok()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Runs git in `dir`; its trimmed output, or `None` when git is missing or
/// fails (not a repository, a file it does not track).
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}
