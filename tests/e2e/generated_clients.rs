//! The committed OpenAPI document, proven through clients that third-party
//! generators make from it: openapi-python-client (Python) and
//! openapi-typescript with openapi-fetch (TypeScript, type-checked strictly
//! with tsc). Each test generates its client into a temporary directory,
//! then runs a script (`tests/clients/*_smoke.*`) that uses it against a
//! real Herald on SQLite: tenant, keys, channel, publishes, history pages,
//! and a problem+json error through the client's typed responses.
//!
//! They need `openapi-python-client` (with its httpx and attrs), Node 20 and
//! `tests/clients/node_modules` (`scripts/test --setup` installs them). Without them the
//! tests fail, saying what is missing; they never skip.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::*;
use crate::tools::{SETUP_HINT, python_tool, repo_path, require_node_project, require_program, run};

/// The npm project of the client tools (`tests/clients`).
fn clients_dir() -> PathBuf {
    repo_path("tests/clients")
}

fn committed_spec() -> PathBuf {
    repo_path("openapi/openapi.json")
}

/// Runs a step and panics with its output unless it succeeds.
fn step(what: &str, dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)], limit: Duration) -> String {
    let (ok, output) = run(dir, program, args, env, limit);
    assert!(ok, "{what} failed: `{program} {}`\n{output}", args.join(" "));
    output
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("paths are UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_generated_by_openapi_python_client() {
    let python = python_tool("python3");
    let generator = python_tool("openapi-python-client");
    require_program(&python, &["--version"], SETUP_HINT);
    require_program(&generator, &["--version"], SETUP_HINT);
    require_program(&python, &["-c", "import httpx, attrs, dateutil"], SETUP_HINT);
    let clients = clients_dir();
    let spec = committed_spec();
    let tmp = tempfile::tempdir().unwrap();
    let package = tmp.path().join("herald_client");
    let config = clients.join("openapi-python-client.yaml");
    let out = step(
        "generating the Python client",
        &clients,
        &generator,
        &["generate", "--path", path_str(&spec), "--meta", "none", "--output-path", path_str(&package), "--config", path_str(&config)],
        &[],
        Duration::from_secs(120),
    );
    // A warning means part of the API was left out of the client.
    assert!(!out.to_lowercase().contains("warning"), "openapi-python-client could not generate all of the API:\n{out}");

    let server = Server::start(Backend::Sqlite).await;
    let env = [
        ("HERALD_URL", server.base.clone()),
        ("HERALD_OPERATOR_KEY", server.operator_key.clone()),
        ("PYTHONPATH", path_str(tmp.path()).to_owned()),
    ];
    let output = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        step(
            "the Python client's script (tests/clients/python_smoke.py)",
            &clients,
            &python,
            &["python_smoke.py"],
            &env,
            Duration::from_secs(120),
        )
    })
    .await
    .unwrap();
    println!("{output}");
    assert!(output.contains("python client: ok"), "{output}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_client_generated_by_openapi_typescript() {
    let clients = require_node_project("tests/clients", &["openapi-typescript", "openapi-fetch", "typescript", "@types/node"]);
    let spec = committed_spec();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let types = dir.join("herald-api.d.ts");
    let out = step(
        "generating the TypeScript types",
        &clients,
        "node",
        &["node_modules/openapi-typescript/bin/cli.js", path_str(&spec), "--output", path_str(&types)],
        &[],
        Duration::from_secs(120),
    );
    assert!(!out.to_lowercase().contains("warn"), "openapi-typescript warned about the spec:\n{out}");
    // The script imports the generated types as "herald-api"; its output
    // runs from here as an ES module, with the dependencies of tests/clients.
    let tsconfig = serde_json::json!({
        "extends": clients.join("tsconfig.json"),
        "compilerOptions": {
            "rootDir": clients,
            "outDir": dir.join("out"),
            "paths": { "herald-api": [types] },
        },
        "files": [clients.join("typescript_smoke.ts")],
    });
    std::fs::write(dir.join("tsconfig.json"), tsconfig.to_string()).unwrap();
    std::fs::write(dir.join("package.json"), r#"{"type": "module", "private": true}"#).unwrap();
    std::os::unix::fs::symlink(clients.join("node_modules"), dir.join("node_modules")).unwrap();
    step(
        "type-checking the TypeScript client's script (tsc, strict)",
        &clients,
        "node",
        &["node_modules/typescript/bin/tsc", "-p", path_str(&dir.join("tsconfig.json"))],
        &[],
        Duration::from_secs(180),
    );

    let server = Server::start(Backend::Sqlite).await;
    let script = dir.join("out/typescript_smoke.js");
    let env = [("HERALD_URL", server.base.clone()), ("HERALD_OPERATOR_KEY", server.operator_key.clone())];
    let output = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        step("the TypeScript client's script", &clients, "node", &[path_str(&script)], &env, Duration::from_secs(120))
    })
    .await
    .unwrap();
    println!("{output}");
    assert!(output.contains("typescript client: ok"), "{output}");
    drop(server);
    drop(tmp);
}
