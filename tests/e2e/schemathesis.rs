//! Schemathesis (a third-party API fuzzer, from PyPI) against a live
//! server with the committed OpenAPI document: thousands of generated
//! requests, valid and invalid, on every operation. The run fails on any
//! 5xx, any status the document does not list, any response that does not
//! match its schema, any invalid request that is accepted, and any
//! undeclared method not answered 405.
//!
//! Left out: `positive_data_acceptance`, which expects every request the
//! schema allows to succeed. Some rules cannot be written in JSON Schema
//! (an email policy's templates must compile; a chain step must name an
//! uploaded plugin), so such requests rightly get a documented 422.

use std::process::Command;

use serde_json::json;

use crate::harness::*;

/// The checks the run enforces (see the module docs for the one left out).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,\
response_schema_conformance,negative_data_rejection,missing_required_header,unsupported_method,ignored_auth,use_after_free,\
ensure_resource_availability";

fn require_schemathesis() {
    match Command::new(crate::tools::python_tool("st")).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => panic!("schemathesis is missing: {}", crate::tools::SETUP_HINT),
    }
}

e2e! {
    async fn schemathesis_finds_nothing(b) {
        require_schemathesis();
        // Long-polls may wait a second at most, so generated `wait`s stay quick.
        let s = Server::start_with(b, |c| c.poll.max_wait_seconds = 1).await;
        let t = s.tenant("acme").await;
        assert_eq!(s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "orders"})).await.0, 201);
        s.publish(&t, "orders", json!({"type": "order.created", "data": {"n": 1}})).await;
        s.publish(&t, "orders", json!({"type": "order.shipped", "data": {"n": 2}, "recipients": ["42"]})).await;
        let (st, _) = s.upload_plugin(&t, "redact", "1.0.0", plugin_wasm("redact")).await;
        assert_eq!(st, 201);
        let (st, _) = s
            .call(reqwest::Method::PUT, &format!("/v1/tenants/{}/recipients/42", t.id), &t.admin_key, Some(json!({"email": "u42@example.com"})))
            .await;
        assert!(st.is_success(), "{st}");

        // Subscriber endpoints take the subscriber's token; the rest the
        // operator key. The stream ends after two events (or the timeout).
        let jwt = t.token_exp("42", &[">"], now() + 3600);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("schemathesis.toml");
        std::fs::write(
            &config,
            format!(
                r#"headers = {{ Authorization = "Bearer {op}" }}
# Conformance is checked here, not speed (that is docs/benchmarks.md): on
# a CI machine with both cores busy, a PostgreSQL commit has taken over 5 s.
request-timeout = 30

[parameters]
"path.tenant" = "{tenant}"
"path.channel" = "orders"
"path.plugin" = "redact"
"path.user" = "42"

[[operations]]
include-path-regex = "/v1/tenants/[^/]+/(stream|notifications|notifications/read|notifications/unread|session)$"
headers = {{ Authorization = "Bearer {jwt}" }}
max-stream-events = 2

# A stream whose patterns match no stored notification ends only at the
# timeout, which is then its normal end: keep it short.
[[operations]]
include-path-regex = "/v1/tenants/[^/]+/stream$"
request-timeout = 5

# Deleting the tenant or the channel early would leave the rest of the run
# nothing to reach but 404s; deletes are covered by the admin tests.
[[operations]]
include-path-regex = "^/v1/tenants/\\{{tenant\\}}(/channels/\\{{channel\\}})?$"
include-method = "DELETE"
enabled = false

# Readiness answers a documented 503 while the bus connects (on a busy
# PostgreSQL server, that can last); its own tests are in health.rs.
[[operations]]
include-path = "/readyz"
enabled = false

# A wasm body cannot be generated; uploads have their own tests.
[[operations]]
include-operation-id = "upload_plugin"
enabled = false
"#,
                op = s.operator_key,
                tenant = t.id,
            ),
        )
        .unwrap();
        let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
        let base = s.base.clone();
        let workdir = dir.path().to_owned();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(crate::tools::python_tool("st"))
                // Schemathesis keeps state in its working directory.
                .current_dir(&workdir)
                .arg("--config-file")
                .arg(&config)
                .args(["run", spec.to_str().unwrap(), "--url", &base, "--checks", CHECKS, "--max-examples", "25", "--workers", "2"])
                .args(["--seed", "1", "--no-color", "--generation-database", "none"])
                .output()
                .expect("running schemathesis")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "schemathesis found problems:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("Tested:"), "schemathesis ran no operation:\n{stdout}");
    }
}
