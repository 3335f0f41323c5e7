//! Operator keys as records: the first one is handed over in a file (never
//! the log), and keys are created, listed, rotated and revoked through the
//! API and the `herald operator-key` command.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

/// A server with no configured operator key: it makes its first one and
/// writes it to a file in `dir`. Returns the server and that key.
async fn server_without_configured_key(b: Backend, dir: &std::path::Path) -> (Server, String) {
    let file = dir.join("operator-key");
    let s = Server::start_with(b, |c| {
        c.operator_key = None;
        c.operator_key_file = Some(file.clone());
    })
    .await;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key file is its owner's only");
    let key = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(key.starts_with("hop_"), "{key}");
    (s, key)
}

async fn actions(s: &Server, key: &str) -> Vec<String> {
    let (st, page) = s.get("/v1/audit-log?limit=100", key).await;
    assert_eq!(st, 200, "{page}");
    page["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

e2e! {
    async fn operator_keys_are_created_listed_rotated_and_revoked(b) {
        let dir = tempfile::tempdir().unwrap();
        let (s, first) = server_without_configured_key(b, dir.path()).await;

        let (st, list) = s.get("/v1/operator-keys", &first).await;
        assert_eq!(st, 200, "{list}");
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["name"], "bootstrap");
        assert!(items[0]["last_used_at"].is_string(), "use is noted: {list}");
        assert!(items[0].get("secret").is_none() && !list.to_string().contains(&first), "never a secret: {list}");
        let boot_id = items[0]["id"].as_str().unwrap().to_owned();
        assert!(boot_id.starts_with("op_"), "{boot_id}");

        // The last valid key cannot be revoked: the operator would be locked out.
        let (st, problem) = s.call(Method::DELETE, &format!("/v1/operator-keys/{boot_id}"), &first, None).await;
        assert_eq!(st, 409, "{problem}");
        assert_eq!(problem["type"], "urn:herald:problem:conflict");

        let (st, ci) = s.post("/v1/operator-keys", &first, json!({"name": "ci"})).await;
        assert_eq!(st, 201, "{ci}");
        let (ci_id, ci_secret) = (ci["id"].as_str().unwrap().to_owned(), ci["secret"].as_str().unwrap().to_owned());
        assert!(ci_secret.starts_with("hop_"));
        assert_eq!(s.get("/v1/operator-keys", &ci_secret).await.1["items"].as_array().unwrap().len(), 2);

        // Rotation: the old secret stops working at once on this node.
        let (st, rotated) = s.post(&format!("/v1/operator-keys/{ci_id}/rotate"), &first, json!({})).await;
        assert_eq!(st, 200, "{rotated}");
        assert_eq!(rotated["id"], ci_id.as_str());
        let new_secret = rotated["secret"].as_str().unwrap().to_owned();
        assert_ne!(new_secret, ci_secret);
        assert_eq!(s.get("/v1/operator-keys", &ci_secret).await.0, 401);
        assert_eq!(s.get("/v1/operator-keys", &new_secret).await.0, 200);

        // Revoking the first key now leaves one: allowed, and at once.
        let (st, revoked) = s.call(Method::DELETE, &format!("/v1/operator-keys/{boot_id}"), &new_secret, None).await;
        assert_eq!(st, 200, "{revoked}");
        assert!(revoked["revoked_at"].is_string(), "{revoked}");
        assert_eq!(s.get("/v1/tenants", &first).await.0, 401);
        assert_eq!(s.post(&format!("/v1/operator-keys/{boot_id}/rotate"), &new_secret, json!({})).await.0, 409);
        assert_eq!(s.call(Method::DELETE, &format!("/v1/operator-keys/{boot_id}"), &new_secret, None).await.0, 409, "revoked once");
        assert_eq!(s.call(Method::DELETE, "/v1/operator-keys/op_unknown", &new_secret, None).await.0, 404);

        let logged = actions(&s, &new_secret).await;
        for action in ["create_operator_key", "rotate_operator_key", "revoke_operator_key"] {
            assert!(logged.iter().any(|a| a == action), "{action} is audited: {logged:?}");
        }
        // The audit log and whoami name the operator key that acted.
        let (_, page) = s.get("/v1/audit-log?action=create_operator_key", &new_secret).await;
        assert_eq!(page["items"][0]["actor"], json!({"kind": "operator", "key_id": boot_id}), "{page}");
        let (_, page) = s.get("/v1/audit-log?action=revoke_operator_key", &new_secret).await;
        assert_eq!(page["items"][0]["actor"]["key_id"], ci_id.as_str(), "{page}");
        let (_, me) = s.get("/v1/whoami", &new_secret).await;
        assert_eq!((&me["kind"], &me["key_id"]), (&json!("operator"), &json!(ci_id)), "{me}");

        // A tenant's admin key is not the operator.
        let (st, tenant) = s.post("/v1/tenants", &new_secret, json!({"name": "acme"})).await;
        assert_eq!(st, 201);
        let (_, admin) =
            s.post(&format!("/v1/tenants/{}/keys", tenant["id"].as_str().unwrap()), &new_secret, json!({"name": "a", "scopes": ["admin"]})).await;
        let admin = admin["secret"].as_str().unwrap();
        assert_eq!(s.get("/v1/operator-keys", admin).await.0, 403);
        assert_eq!(s.post("/v1/operator-keys", admin, json!({"name": "sneaky"})).await.0, 403);
    }
}

e2e! {
    async fn with_a_configured_key_the_last_stored_key_can_be_revoked(b) {
        let s = Server::start(b).await;
        let op = s.operator_key.clone();
        let (st, list) = s.get("/v1/operator-keys", &op).await;
        assert_eq!((st.as_u16(), list["items"].as_array().unwrap().len()), (200, 0), "a configured key makes no stored one: {list}");
        let (_, key) = s.post("/v1/operator-keys", &op, json!({"name": "only"})).await;
        let id = key["id"].as_str().unwrap();
        // HERALD_OPERATOR_KEY still lets the operator in, so this is no lock-out.
        assert_eq!(s.call(Method::DELETE, &format!("/v1/operator-keys/{id}"), &op, None).await.0, 200);
        assert_eq!(s.get("/v1/tenants", key["secret"].as_str().unwrap()).await.0, 401);
    }
}

e2e! {
    async fn the_first_key_is_written_to_a_file_and_never_logged(b) {
        let db = TestDb::create(b).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("first-key");
        let mut child = Command::new(herald_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &db.url])
            .env_remove("HERALD_CONFIG")
            .env_remove("HERALD_OPERATOR_KEY")
            .env("HERALD_OPERATOR_KEY_FILE", &file)
            .env("HERALD_WORKERS", "2")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let done = line.contains("listening on http://");
                let _ = tx.send(line);
                if done {
                    break;
                }
            }
        });
        let mut log = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
            let done = line.contains("listening on http://");
            log.push(line);
            if done {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = log.join("\n");
        assert!(log.contains("listening on http://"), "herald did not start: {log}");
        let key = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("no key file ({e}): {log}")).trim().to_owned();
        assert!(key.starts_with("hop_"), "{key}");
        assert!(!log.contains(&key), "the key is in the log: {log}");
        assert!(log.contains(&file.display().to_string()), "the log says where the key is: {log}");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

/// `herald operator-key …` on `url`; returns its standard output.
fn cli(url: &str, args: &[&str]) -> String {
    let out = Command::new(herald_bin())
        .args(["operator-key", "--database-url", url])
        .args(args)
        .env_remove("HERALD_CONFIG")
        .env_remove("HERALD_OPERATOR_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "herald operator-key {args:?} failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The secret on the last line `create` or `rotate` printed.
fn secret_of(output: &str) -> String {
    output.lines().last().unwrap().trim().to_owned()
}

e2e! {
    async fn the_cli_manages_keys_on_the_database(b) {
        // No cache: each change is seen by the server's next request.
        let s = Server::start_with(b, |c| c.key_cache_seconds = 0).await;
        let url = s.database_url().unwrap();

        let created = cli(&url, &["create", "--name", "recovery"]);
        let secret = secret_of(&created);
        assert!(secret.starts_with("hop_"), "{created}");
        let (st, list) = s.get("/v1/operator-keys", &secret).await;
        assert_eq!(st, 200);
        let id = list["items"][0]["id"].as_str().unwrap().to_owned();
        assert!(cli(&url, &["list"]).contains(&id));
        assert!(!cli(&url, &["list"]).contains(&secret), "list shows no secret");

        let rotated = secret_of(&cli(&url, &["rotate", &id]));
        assert_eq!(s.get("/v1/tenants", &secret).await.0, 401);
        assert_eq!(s.get("/v1/tenants", &rotated).await.0, 200);

        // The last stored key: refused without --force.
        let out = Command::new(herald_bin()).args(["operator-key", "--database-url", &url, "revoke", &id]).env_remove("HERALD_CONFIG").output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", String::from_utf8_lossy(&out.stderr));
        cli(&url, &["revoke", "--force", &id]);
        assert_eq!(s.get("/v1/tenants", &rotated).await.0, 401);

        let logged: Vec<Value> = s.get("/v1/audit-log?limit=100", &s.operator_key).await.1["items"].as_array().unwrap().clone();
        let cli_events: Vec<&Value> = logged.iter().filter(|e| e["method"] == "CLI").collect();
        assert_eq!(cli_events.len(), 3, "create, rotate and revoke are audited: {logged:?}");

        let help = Command::new(herald_bin()).args(["operator-key", "--help"]).output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        for word in ["create", "list", "revoke", "rotate", "recovery"] {
            assert!(help.contains(word), "--help names {word}: {help}");
        }
        let (st, list) = s.get("/v1/operator-keys", &s.operator_key).await;
        assert_eq!(st, StatusCode::OK);
        assert!(list["items"][0]["revoked_at"].is_string(), "{list}");
    }
}

e2e! {
    async fn another_node_refuses_a_revoked_key_within_the_key_cache_lifetime(b) {
        let a = Server::start_with(b, |c| c.key_cache_seconds = 1).await;
        let node_b = a.second_node(|c| c.key_cache_seconds = 1).await;
        let (st, key) = a.post("/v1/operator-keys", &a.operator_key, json!({"name": "ops"})).await;
        assert_eq!(st, 201, "{key}");
        let (id, secret) = (key["id"].as_str().unwrap().to_owned(), key["secret"].as_str().unwrap().to_owned());
        // Node B has now cached the key as valid.
        assert_eq!(node_b.get("/v1/tenants", &secret).await.0, 200);

        assert_eq!(a.call(Method::DELETE, &format!("/v1/operator-keys/{id}"), &a.operator_key, None).await.0, 200);
        assert_eq!(a.get("/v1/tenants", &secret).await.0, 401, "at once on the node that revoked it");
        // Within the cache's second, node B refuses it too.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let st = node_b.get("/v1/tenants", &secret).await.0;
            if st == 401 {
                break;
            }
            assert_eq!(st, 200);
            assert!(std::time::Instant::now() < deadline, "node B still accepts the revoked key");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
