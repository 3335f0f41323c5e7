//! Cost of a warm hook call: the trivial WAT `keep` plugin always, and each
//! example plugin from `plugins/dist` when `plugins/build.sh` has built it.
//!
//! Run with `cargo bench -p herald-plugins --bench calls`.

#[path = "../tests/common/wat.rs"]
mod wat;

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use herald_plugins::{CallContext, Delivery, HostConfig, LoadedPlugin, PluginHost, PluginNotification, SubscriberContext};

fn inputs() -> (CallContext<'static>, PluginNotification, Delivery<'static>, SubscriberContext<'static>) {
    let ctx = CallContext { tenant: "acme", plugin_name: "bench", deadline: None };
    let n = PluginNotification {
        channel: "orders".into(),
        event_type: "order.shipped".into(),
        data: r#"{"order":"A-17","customer":{"name":"Ada","email":"ada@example.com"},"text":"your order shipped"}"#.into(),
        recipients: Some(vec!["alice".into()]),
        metadata: vec![("tenant".into(), "acme".into())],
    };
    let delivery = Delivery {
        id: 42,
        channel: "orders",
        event_type: "order.shipped",
        data: r#"{"order":"A-17","customer":{"name":"Ada","email":"ada@example.com"},"text":"your order shipped"}"#,
        direct: true,
        published_at_ms: 1_764_000_000_000,
    };
    let who = SubscriberContext { user: "alice", claims: r#"{"locale":"fr"}"# };
    (ctx, n, delivery, who)
}

/// A configuration that makes the example do real work; `{}` where the example accepts it.
fn example_config(name: &str) -> &'static str {
    match name {
        "template" => {
            r#"{"default_locale":"en","templates":{"en":{"title":"Order {order} shipped","body":"Hi {customer.name}"},"fr":{"title":"Commande {order} expédiée","body":"Bonjour {customer.name}"}}}"#
        }
        _ => "{}",
    }
}

fn bench_plugin(c: &mut Criterion, host: &PluginHost, name: &str, plugin: &LoadedPlugin, config: &str) {
    let (ctx, n, delivery, who) = inputs();
    if plugin.hooks.publish {
        println!("{name} on-publish -> {:?}", host.on_publish(plugin, &ctx, &n, config));
        c.bench_function(&format!("{name}/on-publish"), |b| b.iter(|| host.on_publish(plugin, &ctx, &n, config)));
    }
    if plugin.hooks.deliver {
        println!("{name} on-deliver -> {:?}", host.on_deliver(plugin, &ctx, &delivery, &who, config));
        c.bench_function(&format!("{name}/on-deliver"), |b| b.iter(|| host.on_deliver(plugin, &ctx, &delivery, &who, config)));
    }
}

fn calls(c: &mut Criterion) {
    let host = PluginHost::new(HostConfig { max_instances: 32, ..HostConfig::default() }).expect("host");
    let keep = host.load("acme", &wat::keep_plugin()).expect("keep plugin");
    bench_plugin(c, &host, "wat-keep", &keep, "{}");

    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/dist");
    let Ok(entries) = std::fs::read_dir(&dist) else {
        println!("note: {} missing; run plugins/build.sh to bench the example plugins", dist.display());
        return;
    };
    let mut paths: Vec<_> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "wasm")).collect();
    paths.sort();
    for path in paths {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = std::fs::read(&path).expect("read plugin");
        let start = std::time::Instant::now();
        let loaded = host.load("acme", &bytes);
        println!("{name}: load (validate + compile + first instance) of {} bytes took {:?}", bytes.len(), start.elapsed());
        match loaded {
            Ok(plugin) => bench_plugin(c, &host, &name, &plugin, example_config(&name)),
            Err(e) => println!("note: skipping {}: {e}", path.display()),
        }
    }
}

criterion_group!(benches, calls);
criterion_main!(benches);
