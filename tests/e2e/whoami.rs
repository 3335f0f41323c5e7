//! `GET /v1/whoami`: a key says whose it is.

use serde_json::json;

use crate::harness::*;

e2e! {
    async fn a_key_says_whose_it_is_and_what_it_may_do(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let (st, op) = s.get("/v1/whoami", &s.operator_key).await;
        assert_eq!(st, 200);
        assert_eq!(op, json!({"kind": "operator", "tenant": null, "key_id": null, "scopes": []}));
        let (st, admin) = s.get("/v1/whoami", &t.admin_key).await;
        assert_eq!(st, 200);
        assert_eq!((admin["kind"].as_str(), admin["tenant"].as_str()), (Some("api_key"), Some(t.id.as_str())));
        assert_eq!(admin["scopes"], json!(["admin"]));
        assert!(admin["key_id"].as_str().unwrap().starts_with("key_"));
        let (_, publisher) = s.get("/v1/whoami", &t.publish_key).await;
        assert_eq!(publisher["scopes"], json!(["publish"]));
        assert_ne!(publisher["key_id"], admin["key_id"]);
        let (st, problem) = s.get("/v1/whoami", "hk_not-a-key").await;
        assert_eq!((st.as_u16(), problem["type"].as_str()), (401, Some("urn:herald:problem:unauthorized")));
        // A subscriber token is not an API key.
        assert_eq!(s.get("/v1/whoami", &t.token("1", &["orders"])).await.0, 401);
    }
}
