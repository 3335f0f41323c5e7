//! The committed OpenAPI document matches the code.

use crate::harness::*;

#[test]
fn committed_openapi_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = herald_server::openapi_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale; regenerate it with `cargo run -p herald -- openapi > openapi/openapi.json`"
    );
    let spec: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/v1/tenants", "/v1/tenants/{tenant}/stream", "/v1/tenants/{tenant}/notifications:batch"] {
        assert!(spec["paths"].get(path).is_some(), "{path} is documented");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_spec_is_the_committed_one() {
    let s = Server::start(Backend::Sqlite).await;
    let served: serde_json::Value = s.client.get(s.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let generated: serde_json::Value = serde_json::from_str(&herald_server::openapi_json()).unwrap();
    assert_eq!(served, generated);
}
