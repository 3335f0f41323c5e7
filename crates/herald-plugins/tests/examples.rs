//! Loads the example plugins built by `plugins/build.sh` (Rust components for
//! wasm32-wasip2), if they are there: proves the WASI subset we link is
//! enough for real Rust std components and that their hooks run.

use std::path::Path;

use herald_plugins::{CallContext, HostConfig, PluginError, PluginHost, PluginNotification, SubscriberContext};

#[test]
fn built_examples_load_and_run() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/dist");
    let Ok(entries) = std::fs::read_dir(&dist) else {
        eprintln!("note: {} missing; run plugins/build.sh to test the examples", dist.display());
        return;
    };
    let host =
        PluginHost::new(HostConfig { max_instances: 16, default_deadline: std::time::Duration::from_millis(200), ..HostConfig::default() })
            .unwrap();
    let n = PluginNotification {
        channel: "orders".into(),
        event_type: "order.created".into(),
        data: r#"{"id":1,"text":"hello"}"#.into(),
        recipients: None,
        metadata: vec![("tenant".into(), "acme".into())],
    };
    let who = SubscriberContext { user: "alice".into(), channel: "orders".into(), claims: "{}".into() };
    let mut loaded = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wasm") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let plugin = host.load(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ctx = CallContext { tenant: "acme".into(), plugin_name: path.display().to_string(), deadline: None };
        // Whatever the decision (or a config error reported as output), the
        // plugin must not trap, time out or blow its memory on a plain call.
        let healthy =
            |r: Result<_, PluginError>| !matches!(r, Err(PluginError::Trap(_) | PluginError::Timeout | PluginError::MemoryExceeded));
        if plugin.hooks.publish {
            let r = host.on_publish(&plugin, &ctx, &n, "{}");
            eprintln!("{}: publish -> {r:?}", path.display());
            assert!(healthy(r));
        }
        if plugin.hooks.deliver {
            let r = host.on_deliver(&plugin, &ctx, &n, &who, "{}");
            eprintln!("{}: deliver -> {r:?}", path.display());
            assert!(healthy(r));
        }
        loaded += 1;
    }
    eprintln!("loaded {loaded} example plugins");
}
