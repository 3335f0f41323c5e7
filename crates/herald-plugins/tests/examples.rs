//! Loads the example plugins built by `plugins/build.sh` (Rust components for
//! wasm32-wasip2), if they are there: proves the WASI subset we link is
//! enough for real Rust std components and that their hooks run.

use std::path::Path;

use herald_plugins::{CallContext, Delivery, HostConfig, PluginError, PluginHost, PluginNotification, SubscriberContext};

/// Whatever the decision (or a config error reported as output), a plugin
/// must not trap, time out or blow its memory on a plain call.
fn healthy<T>(r: &Result<T, PluginError>) -> bool {
    !matches!(r, Err(PluginError::Trap(_) | PluginError::Timeout | PluginError::MemoryExceeded))
}

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
    let delivery = Delivery {
        id: 1,
        channel: "orders",
        event_type: "order.created",
        data: r#"{"id":1,"text":"hello"}"#,
        direct: false,
        published_at_ms: 1_764_000_000_000,
    };
    let who = SubscriberContext { user: "alice", claims: "{}" };
    let mut loaded = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wasm") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let plugin = host.load("acme", &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.display().to_string();
        let ctx = CallContext { tenant: "acme", plugin_name: &name, deadline: None };
        if plugin.hooks.publish {
            let r = host.on_publish(&plugin, &ctx, &n, "{}");
            eprintln!("{}: publish -> {r:?}", path.display());
            assert!(healthy(&r));
        }
        if plugin.hooks.deliver {
            let r = host.on_deliver(&plugin, &ctx, &delivery, &who, "{}");
            eprintln!("{}: deliver -> {r:?}", path.display());
            assert!(healthy(&r));
        }
        loaded += 1;
    }
    eprintln!("loaded {loaded} example plugins");
}
