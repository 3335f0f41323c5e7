//! Plugins end to end: upload and validation, a publish chain that redacts
//! and filters, failure policies and dead letters, the test endpoint, chain
//! changes without a restart, and tenant isolation. The components are the
//! example plugins of `plugins/`, built by `plugins/build.sh`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// Hostile plugins in WAT, built with the plugin host's own test helper
/// (other test modules use it from here: a file included twice is a clippy error).
#[path = "../../crates/herald-plugins/tests/common/wat.rs"]
pub(crate) mod wat_plugin;
use wat_plugin::Exports;

fn trapping_deliver_plugin() -> Vec<u8> {
    wat_plugin::plugin(Exports::Deliver, &wat_plugin::on_deliver("unreachable"))
}

async fn set_chain(s: &Server, t: &Tenant, channel: &str, body: Value) -> Value {
    let (status, ch) = s.call(reqwest::Method::PATCH, &format!("/v1/tenants/{}/channels/{channel}", t.id), &t.admin_key, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{ch}");
    ch
}

async fn publish_raw(s: &Server, t: &Tenant, channel: &str, body: Value) -> (StatusCode, Value) {
    s.post(&format!("/v1/tenants/{}/channels/{channel}/notifications", t.id), &t.publish_key, body).await
}

async fn dead_letters(s: &Server, t: &Tenant) -> Vec<Value> {
    let (status, page) = s.get(&format!("/v1/tenants/{}/dead-letters", t.id), &t.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

e2e! {
    async fn upload_is_validated_listed_and_deleted(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let (status, p) = s.upload_plugin(&t, "filter", "1.0.0", plugin_wasm("keyword-filter")).await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        assert_eq!(p["name"], "filter");
        assert_eq!(p["hooks"], json!({"publish": true, "deliver": false}));
        assert_eq!(p["sha256"].as_str().unwrap().len(), 64);
        let (status, p2) = s.upload_plugin(&t, "tpl", "1.0.0", plugin_wasm("template")).await;
        assert_eq!(status, StatusCode::CREATED, "{p2}");
        assert_eq!(p2["hooks"], json!({"publish": false, "deliver": true}));

        // Versions are immutable; bad uploads are refused before storing.
        let (status, e) = s.upload_plugin(&t, "filter", "1.0.0", plugin_wasm("keyword-filter")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{e}");
        let (status, e) = s.upload_plugin(&t, "junk", "1", b"\0asm not really".to_vec()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(e["type"], "urn:herald:problem:validation");
        let (status, _) = s.upload_plugin(&t, "bad name!", "1", plugin_wasm("keyword-filter")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let res = s
            .client
            .post(s.url(&format!("/v1/tenants/{}/plugins?name=x&version=1", t.id)))
            .bearer_auth(&t.admin_key)
            .header("content-type", "application/octet-stream")
            .body(plugin_wasm("keyword-filter"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let (_, list) = s.get(&format!("/v1/tenants/{}/plugins", t.id), &t.admin_key).await;
        let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["filter", "tpl"]);
        let (status, _) = s.upload_plugin(&t, "filter", "1.1.0", plugin_wasm("keyword-filter")).await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, versions) = s.get(&format!("/v1/tenants/{}/plugins/filter", t.id), &t.admin_key).await;
        let v: Vec<&str> = versions["versions"].as_array().unwrap().iter().map(|p| p["version"].as_str().unwrap()).collect();
        assert_eq!(v, vec!["1.1.0", "1.0.0"], "newest first");

        // Another tenant neither sees nor reaches it.
        let other = s.tenant("other").await;
        let (status, _) = s.get(&format!("/v1/tenants/{}/plugins/filter", t.id), &other.admin_key).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, theirs) = s.get(&format!("/v1/tenants/{}/plugins", other.id), &other.admin_key).await;
        assert_eq!(theirs["items"], json!([]));
        let (status, _) = s.get(&format!("/v1/tenants/{}/plugins/filter", other.id), &other.admin_key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, _) = s.call(reqwest::Method::DELETE, &format!("/v1/tenants/{}/plugins/filter?version=1.0.0", t.id), &t.admin_key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, versions) = s.get(&format!("/v1/tenants/{}/plugins/filter", t.id), &t.admin_key).await;
        assert_eq!(versions["versions"].as_array().unwrap().len(), 1);
        let (status, _) = s.call(reqwest::Method::DELETE, &format!("/v1/tenants/{}/plugins/filter", t.id), &t.admin_key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = s.get(&format!("/v1/tenants/{}/plugins/filter", t.id), &t.admin_key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

e2e! {
    async fn a_publish_chain_redacts_and_filters_with_a_record(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        assert_eq!(s.upload_plugin(&t, "redact", "1.0.0", plugin_wasm("redact")).await.0, StatusCode::CREATED);
        assert_eq!(s.upload_plugin(&t, "filter", "1.0.0", plugin_wasm("keyword-filter")).await.0, StatusCode::CREATED);
        let (status, ch) = s
            .post(
                &format!("/v1/tenants/{}/channels", t.id),
                &t.admin_key,
                json!({"name": "support", "plugins": [
                    {"plugin": "redact", "config": {"fields": ["body"], "mask": "[hidden]"}},
                    {"plugin": "filter", "config": {"block": ["casino"]}}
                ]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ch}");
        assert_eq!(ch["failure_policy"], "fail-open");

        let mut sub = s.subscribe(&t, &t.token("1", &["support"]), &["support"], None).await;
        let (status, r) = publish_raw(&s, &t, "support", json!({"type": "msg", "data": {"body": "mail me at jo@example.com", "n": 1}})).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        let kept = r["id"].as_i64().unwrap();

        let (status, r) = publish_raw(&s, &t, "support", json!({"type": "msg", "data": {"body": "Win at the CASINO now"}})).await;
        assert_eq!(status, StatusCode::OK, "withheld: {r}");
        assert!(r["id"].is_null());
        assert_eq!(r["withheld"]["plugin"], "filter");
        assert!(r["withheld"]["reason"].as_str().unwrap().contains("casino"), "{r}");
        let marker = s.publish(&t, "support", json!({"type": "msg", "data": {"body": "plain"}})).await;

        let events = sub.take(2, WAIT).await;
        assert_eq!(ids(&events), vec![kept, marker], "the filtered one never reaches a stream");
        assert_eq!(data(&events[0])["data"], json!({"body": "mail me at [hidden]", "n": 1}));
        // Stored as transformed: a replay gets the same.
        let mut replay = s.subscribe(&t, &t.token("1", &["support"]), &["support"], Some(kept - 1)).await;
        assert_eq!(data(&replay.take(1, WAIT).await[0])["data"]["body"], "mail me at [hidden]");

        let dl = dead_letters(&s, &t).await;
        assert_eq!(dl.len(), 1, "{dl:?}");
        assert_eq!(dl[0]["plugin"], "filter");
        assert_eq!(dl[0]["outcome"], "dropped");
        assert_eq!(dl[0]["hook"], "publish");
        assert_eq!(dl[0]["notification"]["data"]["body"], "Win at the CASINO now");

        // Removing the chain takes effect at once, without a restart.
        set_chain(&s, &t, "support", json!({"plugins": []})).await;
        let (status, r) = publish_raw(&s, &t, "support", json!({"type": "msg", "data": {"body": "casino jo@example.com"}})).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!(data(&sub.take(1, WAIT).await[0])["data"]["body"], "casino jo@example.com");
    }
}

e2e! {
    async fn failure_policy_decides_when_a_plugin_cannot_run(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        // A chain naming a plugin that is not uploaded fails on every call.
        s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "open", "plugins": [{"plugin": "ghost"}]})).await;
        s.post(
            &format!("/v1/tenants/{}/channels", t.id),
            &t.admin_key,
            json!({"name": "closed", "plugins": [{"plugin": "ghost"}], "failure_policy": "fail-closed"}),
        )
        .await;
        let mut sub = s.subscribe(&t, &t.token("1", &["open", "closed"]), &["open", "closed"], None).await;

        let (status, r) = publish_raw(&s, &t, "open", json!({"type": "a", "data": {"x": 1}})).await;
        assert_eq!(status, StatusCode::CREATED, "fail-open passes it on: {r}");
        let open_id = r["id"].as_i64().unwrap();
        let (status, r) = publish_raw(&s, &t, "closed", json!({"type": "b", "data": {"x": 2}})).await;
        assert_eq!(status, StatusCode::OK, "fail-closed withholds it: {r}");
        assert_eq!(r["withheld"]["plugin"], "ghost");
        let marker = s.publish(&t, "open", json!({"type": "c"})).await;
        assert_eq!(ids(&sub.take(2, WAIT).await), vec![open_id, marker]);

        let dl = dead_letters(&s, &t).await;
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0]["channel"], "closed");
        assert_eq!(dl[0]["outcome"], "failed");
        assert_eq!(dl[0]["notification"]["data"], json!({"x": 2}));
        let (_, only_open) = s.get(&format!("/v1/tenants/{}/dead-letters?channel=open", t.id), &t.admin_key).await;
        assert_eq!(only_open["items"], json!([]));

        // Uploading the plugin later heals the chain without a restart.
        assert_eq!(s.upload_plugin(&t, "ghost", "1", plugin_wasm("redact")).await.0, StatusCode::CREATED);
        let (status, r) = publish_raw(&s, &t, "closed", json!({"type": "b", "data": {"body": "call 555-123-4567"}})).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!(data(&sub.take(1, WAIT).await[0])["data"]["body"], "call [redacted]");
    }
}

e2e! {
    async fn the_test_endpoint_runs_a_plugin_on_a_sample(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        assert_eq!(s.upload_plugin(&t, "redact", "1.0.0", plugin_wasm("redact")).await.0, StatusCode::CREATED);
        assert_eq!(s.upload_plugin(&t, "tpl", "2.0.0", plugin_wasm("template")).await.0, StatusCode::CREATED);
        let path = |p: &str| format!("/v1/tenants/{}/plugins/{p}/test", t.id);

        let (status, r) = s
            .post(&path("redact"), &t.admin_key, json!({"hook": "publish", "notification": {"channel": "x", "type": "t", "data": {"body": "a@b.co"}}}))
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["decision"], "replace");
        assert_eq!(r["notification"]["data"]["body"], "[redacted]");
        assert_eq!(r["version"], "1.0.0");
        assert!(r["duration_us"].as_u64().is_some());

        let config = json!({"default_locale": "en", "templates": {"en": {"title": "Order {order}"}, "fr": {"title": "Commande {order}"}}});
        let (status, r) = s
            .post(
                &path("tpl"),
                &t.admin_key,
                json!({"hook": "deliver", "config": config, "notification": {"channel": "x", "type": "t", "data": {"order": 7}},
                       "subscriber": {"user": "u1", "claims": {"locale": "fr-CA"}}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["decision"], "replace");
        assert_eq!(r["notification"]["data"]["title"], "Commande 7");

        // A publish test of a deliver-only plugin reports the error, not a 500.
        let (status, r) = s
            .post(&path("tpl"), &t.admin_key, json!({"hook": "publish", "notification": {"channel": "x", "type": "t", "data": {}}}))
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["decision"], "error");
        assert_eq!(r["error"]["kind"], "no_such_hook");

        let (status, r) = s.post(&path("tpl"), &t.admin_key, json!({"hook": "deliver", "notification": {"channel": "x", "type": "t"}})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a deliver test needs a subscriber: {r}");
        let (status, _) = s.post(&path("nope"), &t.admin_key, json!({"hook": "publish", "notification": {"channel": "x", "type": "t"}})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

e2e! {
    async fn chains_are_validated(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let (status, e) = s
            .post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "c", "plugins": [{"plugin": "a"}, {"plugin": "a"}]}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let (status, e) = s
            .post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "c", "failure_policy": "sometimes"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        s.post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": "c"})).await;
        let (status, e) = s.call(reqwest::Method::PATCH, &format!("/v1/tenants/{}/channels/c", t.id), &t.admin_key, Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let ch = set_chain(&s, &t, "c", json!({"plugins": [{"plugin": "a", "deadline_ms": 20, "config": {"k": 1}}], "failure_policy": "fail-closed"})).await;
        assert_eq!(ch["plugins"], json!([{"plugin": "a", "deadline_ms": 20, "config": {"k": 1}}]));
        assert_eq!(ch["failure_policy"], "fail-closed");
    }
}

e2e! {
    async fn deliver_hooks_shape_each_subscribers_copy_live_and_replayed(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        assert_eq!(s.upload_plugin(&t, "quiet", "1", plugin_wasm("quiet-hours")).await.0, StatusCode::CREATED);
        assert_eq!(s.upload_plugin(&t, "tpl", "1", plugin_wasm("template")).await.0, StatusCode::CREATED);
        let templates = json!({"default_locale": "en", "templates": {"en": {"title": "Order {order} shipped"}, "fr": {"title": "Commande {order} expédiée"}}});
        let (status, ch) = s
            .post(
                &format!("/v1/tenants/{}/channels", t.id),
                &t.admin_key,
                json!({"name": "orders", "plugins": [{"plugin": "quiet", "config": {}}, {"plugin": "tpl", "config": templates}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ch}");

        let fr = t.token_with("anne", &["orders"], json!({"locale": "fr-FR"}));
        let en_muting = t.token_with("bob", &["orders"], json!({"locale": "en", "muted_types": ["order.promo"]}));
        let mut anne = s.subscribe(&t, &fr, &["orders"], None).await;
        let mut bob = s.subscribe(&t, &en_muting, &["orders"], None).await;

        let shipped = s.publish(&t, "orders", json!({"type": "order.shipped", "data": {"order": 7}})).await;
        let promo = s.publish(&t, "orders", json!({"type": "order.promo", "data": {"order": 8}})).await;
        let last = s.publish(&t, "orders", json!({"type": "order.shipped", "data": {"order": 9}})).await;

        let a = anne.take(3, WAIT).await;
        assert_eq!(ids(&a), vec![shipped, promo, last]);
        assert_eq!(data(&a[0])["data"], json!({"order": 7, "title": "Commande 7 expédiée"}));
        let b = bob.take(2, WAIT).await;
        assert_eq!(ids(&b), vec![shipped, last], "bob muted order.promo");
        assert_eq!(data(&b[0])["data"]["title"], "Order 7 shipped");
        let sentinel = s.publish(&t, "orders", json!({"type": "order.shipped", "data": {"order": 0}})).await;
        bob.expect_next_is(sentinel).await;

        // What is stored is the original; a replay runs the hooks again.
        let mut again = s.subscribe(&t, &fr, &["orders"], Some(0)).await;
        let r = again.take(3, WAIT).await;
        assert_eq!(ids(&r), vec![shipped, promo, last]);
        assert_eq!(data(&r[2])["data"]["title"], "Commande 9 expédiée");
        let mut bob_again = s.subscribe(&t, &en_muting, &["orders"], Some(0)).await;
        assert_eq!(ids(&bob_again.take(2, WAIT).await), vec![shipped, last]);

        // Dropping the chain applies to open streams at once.
        set_chain(&s, &t, "orders", json!({"plugins": []})).await;
        let plain = s.publish(&t, "orders", json!({"type": "order.promo", "data": {"order": 10}})).await;
        let got = bob.take(1, WAIT).await;
        assert_eq!(ids(&got), vec![plain]);
        assert_eq!(data(&got[0])["data"], json!({"order": 10}));
    }
}

e2e! {
    async fn hostile_plugins_are_cut_off_and_the_policy_decides(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        assert_eq!(s.upload_plugin(&t, "spin", "1", wat_plugin::spinning_publish()).await.0, StatusCode::CREATED);
        assert_eq!(s.upload_plugin(&t, "crash", "1", trapping_deliver_plugin()).await.0, StatusCode::CREATED);
        for (name, chain, policy) in [
            ("spin-open", "spin", "fail-open"),
            ("spin-closed", "spin", "fail-closed"),
            ("crash-open", "crash", "fail-open"),
            ("crash-closed", "crash", "fail-closed"),
        ] {
            let (status, ch) = s
                .post(&format!("/v1/tenants/{}/channels", t.id), &t.admin_key, json!({"name": name, "plugins": [{"plugin": chain}], "failure_policy": policy}))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{ch}");
        }
        let all = ["spin-open", "spin-closed", "crash-open", "crash-closed"];
        let mut sub = s.subscribe(&t, &t.token("1", &all), &all, None).await;

        // An endless publish hook is cut off (at 1.5 warm-up deadlines of CPU,
        // or the 1 s wall cap on a busy machine) rather than hold the publish.
        let started = std::time::Instant::now();
        let (status, r) = publish_raw(&s, &t, "spin-closed", json!({"type": "x", "data": {"n": 1}})).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert!(r["withheld"]["reason"].as_str().unwrap().contains("timed out"), "{r}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the loop was not cut off");
        let (status, r) = publish_raw(&s, &t, "spin-open", json!({"type": "x", "data": {"n": 2}})).await;
        assert_eq!(status, StatusCode::CREATED, "fail-open publishes it unchanged: {r}");
        let spun = r["id"].as_i64().unwrap();

        // A trapping deliver hook: fail-open delivers, fail-closed withholds.
        let open = s.publish(&t, "crash-open", json!({"type": "x", "data": {"n": 3}})).await;
        let closed = s.publish(&t, "crash-closed", json!({"type": "x", "data": {"n": 4}})).await;
        let marker = s.publish(&t, "spin-open", json!({"type": "x", "data": {"n": 5}})).await;
        let got = sub.take(3, WAIT).await;
        assert_eq!(ids(&got), vec![spun, open, marker], "{closed} withheld from the stream");
        assert_eq!(data(&got[0])["data"], json!({"n": 2}));

        // Both withheld notifications are on record, and the server is fine.
        let mut dl = Vec::new();
        for _ in 0..50 {
            dl = dead_letters(&s, &t).await;
            if dl.len() >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut kinds: Vec<(String, String)> = dl.iter().map(|d| (d["channel"].as_str().unwrap().to_owned(), d["hook"].as_str().unwrap().to_owned())).collect();
        kinds.sort();
        assert_eq!(kinds, vec![("crash-closed".to_owned(), "deliver".to_owned()), ("spin-closed".to_owned(), "publish".to_owned())]);
        let (status, _) = s.get("/healthz", &t.admin_key).await;
        assert_eq!(status, StatusCode::OK);

        // Errors are counted per plugin.
        let (_, spin) = s.get(&format!("/v1/tenants/{}/plugins/spin", t.id), &t.admin_key).await;
        let stats = &spin["versions"][0]["stats"];
        assert_eq!(stats["timeouts"], 3, "two publishes and the marker: {spin}");
        assert_eq!(stats["ok"], 0);
        let (_, crash) = s.get(&format!("/v1/tenants/{}/plugins/crash", t.id), &t.admin_key).await;
        assert_eq!(crash["versions"][0]["stats"]["traps"], 2, "{crash}");
    }
}
