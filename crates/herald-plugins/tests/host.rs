//! Behaviour of the plugin host against small WAT plugins, friendly and
//! hostile: hook detection, caching, instance reuse, limits and output checks.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::wat::{Exports, keep_plugin, on_deliver, plugin, plugin_with_log};
use herald_plugins::{
    CallContext, Decision, Delivery, DeliveryDecision, Hooks, HostConfig, PluginError, PluginHost, PluginNotification, SubscriberContext,
};
use sha2::{Digest, Sha256};

const PUBLISH_SIG: &str = "(param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)";

/// Small pools: tests run in parallel and each host reserves address space per slot.
fn host() -> PluginHost {
    host_with(HostConfig { max_instances: 8, ..HostConfig::default() })
}

fn host_with(config: HostConfig) -> PluginHost {
    PluginHost::new(config).expect("host")
}

fn ctx() -> CallContext<'static> {
    CallContext { tenant: "acme", plugin_name: "test-plugin", deadline: None }
}

fn notification() -> PluginNotification {
    PluginNotification {
        channel: "orders".into(),
        event_type: "order.created".into(),
        data: r#"{"id":1}"#.into(),
        recipients: Some(vec!["alice".into()]),
        metadata: vec![("tenant".into(), "acme".into())],
    }
}

fn delivery() -> Delivery<'static> {
    Delivery {
        id: 42,
        channel: "orders",
        event_type: "order.created",
        data: r#"{"id":1}"#,
        direct: true,
        published_at_ms: 1_764_000_000_123,
    }
}

fn subscriber() -> SubscriberContext<'static> {
    SubscriberContext { user: "alice", claims: r#"{"locale":"fr"}"# }
}

#[test]
fn host_is_send_and_sync() {
    fn assert<T: Send + Sync + Clone + 'static>() {}
    assert::<PluginHost>();
    assert::<herald_plugins::LoadedPlugin>();
}

#[test]
fn keep_plugin_keeps_on_both_hooks() {
    let host = host();
    let p = host.load("acme", &keep_plugin()).unwrap();
    assert_eq!(p.hooks, Hooks { publish: true, deliver: true });
    assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}").unwrap(), Decision::Keep);
    assert_eq!(host.on_deliver(&p, &ctx(), &delivery(), &subscriber(), "{}").unwrap(), DeliveryDecision::Keep);
    let stats = host.stats("acme", &p.hash);
    assert_eq!((stats.calls, stats.ok, stats.errors()), (2, 2, 0));
    assert!(stats.total_ns > 0);
}

#[test]
fn hooks_are_detected_and_missing_ones_never_called() {
    let host = host();
    let publish_only =
        host.load("acme", &plugin(Exports::Publish, &format!(r#"(func (export "on-publish") {PUBLISH_SIG} (call $keep))"#))).unwrap();
    assert_eq!(publish_only.hooks, Hooks { publish: true, deliver: false });
    assert_eq!(host.on_deliver(&publish_only, &ctx(), &delivery(), &subscriber(), "{}"), Err(PluginError::NoSuchHook));

    let deliver_only = host.load("acme", &plugin(Exports::Deliver, &on_deliver("(call $keep)"))).unwrap();
    assert_eq!(deliver_only.hooks, Hooks { publish: false, deliver: true });
    assert_eq!(host.on_publish(&deliver_only, &ctx(), &notification(), "{}"), Err(PluginError::NoSuchHook));
    assert_eq!(host.on_deliver(&deliver_only, &ctx(), &delivery(), &subscriber(), "{}"), Ok(DeliveryDecision::Keep));
}

#[test]
fn same_bytes_compile_once() {
    let host = host();
    let bytes = keep_plugin();
    let a = host.load("acme", &bytes).unwrap();
    let b = host.load("acme", &bytes).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.hash, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(a.size, bytes.len());
    assert_eq!(host.compiled_count(), 1);
    // Different bytes are a different plugin.
    let other =
        host.load("acme", &plugin(Exports::Publish, &format!(r#"(func (export "on-publish") {PUBLISH_SIG} (call $keep))"#))).unwrap();
    assert_ne!(other.hash, a.hash);
    assert_eq!(host.compiled_count(), 2);
}

#[test]
fn uploads_that_are_not_plugins_are_invalid() {
    let host = host();
    let invalid = |r: Result<_, PluginError>| matches!(r, Err(PluginError::Invalid(_)));
    assert!(invalid(host.load("acme", b"hello, I am not wasm")));
    assert!(invalid(host.load("acme", &wat::parse_str("(module)").unwrap())), "a core module is not a component");
    assert!(invalid(host.load("acme", &wat::parse_str("(component)").unwrap())), "a component with no hook");
    // A component exporting an unrelated interface.
    let unrelated = wat::parse_str(
        r#"(component
             (core module $m (func (export "f")))
             (core instance $i (instantiate $m))
             (func $f (canon lift (core func $i "f")))
             (instance $x (export "f" (func $f)))
             (export "example:other/thing@0.1.0" (instance $x)))"#,
    )
    .unwrap();
    match host.load("acme", &unrelated) {
        Err(PluginError::Invalid(msg)) => assert!(msg.contains("exports neither"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
    // A hook export with the wrong signature.
    let wrong = wat::parse_str(
        r#"(component
             (core module $m (func (export "f")))
             (core instance $i (instantiate $m))
             (func $f (canon lift (core func $i "f")))
             (instance $x (export "on-publish" (func $f)))
             (export "herald:plugin/publish-hook@0.1.0" (instance $x)))"#,
    )
    .unwrap();
    assert!(invalid(host.load("acme", &wrong)), "a hook with the wrong type");
    // Corrupt component: right header, garbage after.
    let mut corrupt = keep_plugin();
    corrupt.truncate(corrupt.len() / 2);
    assert!(invalid(host.load("acme", &corrupt)));
    // Refused uploads are not cached: the same bytes are refused again.
    assert!(invalid(host.load("acme", &wat::parse_str("(component)").unwrap())));
}

#[test]
fn oversize_upload_is_invalid() {
    let bytes = keep_plugin();
    let host = host_with(HostConfig { max_instances: 4, max_component_bytes: bytes.len() - 1, ..HostConfig::default() });
    match host.load("acme", &bytes) {
        Err(PluginError::Invalid(msg)) => assert!(msg.contains("over the limit"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn importing_sockets_is_refused() {
    let host = host();
    let bytes = wat::parse_str(
        r#"(component
             (import "wasi:sockets/instance-network@0.2.0" (instance $net (export "f" (func))))
             (core module $m (func (export "on-publish") (param i32) (result i32) (i32.const 0)))
           )"#,
    )
    .unwrap();
    match host.load("acme", &bytes) {
        Err(PluginError::Invalid(msg)) => assert!(msg.contains("cannot link"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn infinite_loop_times_out_and_host_stays_usable() {
    let host = host();
    let looping = host
        .load("acme", &plugin(Exports::Publish, &format!(r#"(func (export "on-publish") {PUBLISH_SIG} (loop $l (br $l)) (call $keep))"#)))
        .unwrap();
    let start = Instant::now();
    assert_eq!(host.on_publish(&looping, &ctx(), &notification(), "{}"), Err(PluginError::Timeout));
    // The first call on an instance is cold: it gets the 100 ms warm-up deadline.
    assert!(start.elapsed() >= Duration::from_millis(100));
    // A per-call deadline is honoured too (and, the warm-up having been
    // used up in vain, this cold call gets no more than its own deadline).
    let long = CallContext { deadline: Some(Duration::from_millis(40)), ..ctx() };
    let start = Instant::now();
    assert_eq!(host.on_publish(&looping, &long, &notification(), "{}"), Err(PluginError::Timeout));
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert_eq!(host.stats("acme", &looping.hash).timeouts, 2);

    let keep = host.load("acme", &keep_plugin()).unwrap();
    assert_eq!(host.on_publish(&keep, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
}

#[test]
fn fuel_budget_stops_a_loop() {
    let host =
        host_with(HostConfig { max_instances: 4, fuel: Some(100_000), default_deadline: Duration::from_secs(10), ..HostConfig::default() });
    let looping = host
        .load("acme", &plugin(Exports::Publish, &format!(r#"(func (export "on-publish") {PUBLISH_SIG} (loop $l (br $l)) (call $keep))"#)))
        .unwrap();
    assert_eq!(host.on_publish(&looping, &ctx(), &notification(), "{}"), Err(PluginError::OutOfFuel));
    // The budget is per call: a cheap plugin keeps working call after call.
    let keep = host.load("acme", &keep_plugin()).unwrap();
    for _ in 0..100 {
        assert_eq!(host.on_publish(&keep, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    }
}

#[test]
fn growing_memory_past_the_cap_fails_the_call() {
    let host = host();
    // Grows one page at a time until refused; a refused grow returning -1 would end in `unreachable`.
    let greedy = host
        .load(
            "acme",
            &plugin(
                Exports::Publish,
                &format!(
                    r#"(func (export "on-publish") {PUBLISH_SIG}
                     (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
                     unreachable)"#
                ),
            ),
        )
        .unwrap();
    assert_eq!(host.on_publish(&greedy, &ctx(), &notification(), "{}"), Err(PluginError::MemoryExceeded));
    assert_eq!(host.stats("acme", &greedy.hash).memory_exceeded, 1);
    // Growing within the cap (to 8 MiB) is fine.
    let modest = host
        .load(
            "acme",
            &plugin(
                Exports::Publish,
                &format!(
                    r#"(func (export "on-publish") {PUBLISH_SIG}
                     (if (i32.lt_u (memory.size) (i32.const 128)) (then (drop (memory.grow (i32.const 127)))))
                     (if (i32.lt_u (memory.size) (i32.const 128)) (then unreachable))
                     (call $keep))"#
                ),
            ),
        )
        .unwrap();
    assert_eq!(host.on_publish(&modest, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    let keep = host.load("acme", &keep_plugin()).unwrap();
    assert_eq!(host.on_publish(&keep, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
}

/// A plugin with state: every call bumps a counter and drops with the
/// counter as a digit; config `"trap"` bumps it and then traps.
fn counter_plugin() -> Vec<u8> {
    plugin(
        Exports::Publish,
        r#"
        (global $calls (mut i32) (i32.const 0))
        (func (export "on-publish") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)
                                    (param $cfg i32) (param $cfg_len i32) (result i32)
          (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
          (if (i32.and (i32.eq (local.get $cfg_len) (i32.const 6))
                       (i32.eq (i32.load8_u offset=1 (local.get $cfg)) (i32.const 116))) ;; "\"trap\""
            (then unreachable))
          (i32.store8 (i32.const 1024) (i32.add (i32.const 48) (global.get $calls)))
          (call $drop (i32.const 1024) (i32.const 1)))
        "#,
    )
}

#[test]
fn instances_are_reused_but_never_after_a_trap() {
    let host = host();
    let p = host.load("acme", &counter_plugin()).unwrap();
    let call = |cfg: &str| host.on_publish(&p, &ctx(), &notification(), cfg);
    // Same warm instance: state carries over.
    assert_eq!(call("{}"), Ok(Decision::Drop("1".into())));
    assert_eq!(call("{}"), Ok(Decision::Drop("2".into())));
    match call("\"trap\"") {
        Err(PluginError::Trap(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(host.idle_instances(&p), 0, "the trapped instance was thrown away");
    // A fresh instance: its counter starts again.
    assert_eq!(call("{}"), Ok(Decision::Drop("1".into())));
    assert_eq!(host.idle_instances(&p), 1);
    let stats = host.stats("acme", &p.hash);
    assert_eq!((stats.calls, stats.ok, stats.traps), (4, 3, 1));
}

#[test]
fn concurrent_calls_use_separate_instances() {
    let host = host();
    let p = host.load("acme", &keep_plugin()).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..200 {
                    assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
                }
            });
        }
    });
    assert_eq!(host.stats("acme", &p.hash).ok, 800);
    assert!(host.idle_instances(&p) <= host.config().pool_per_plugin);
}

/// Replaces on both hooks; the config's first character after the quote
/// picks the replacement: ok, bad JSON, too big, empty event type.
fn replacing_plugin() -> Vec<u8> {
    let choose = r#"
        (data (i32.const 1024) "other")           ;; channel, 5
        (data (i32.const 1040) "order.changed")   ;; event type, 13
        (data (i32.const 1056) "{\"ok\":true}")   ;; 11
        (data (i32.const 1088) "not json")        ;; 8
        (data (i32.const 1104) "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"") ;; 42
        (func $choose (param $c i32) (result i32)
          (if (i32.eq (local.get $c) (i32.const 106)) ;; j: not JSON
            (then (return (call $replace (i32.const 1024) (i32.const 5) (i32.const 1040) (i32.const 13) (i32.const 1088) (i32.const 8)))))
          (if (i32.eq (local.get $c) (i32.const 98)) ;; b: big
            (then (return (call $replace (i32.const 1024) (i32.const 5) (i32.const 1040) (i32.const 13) (i32.const 1104) (i32.const 42)))))
          (if (i32.eq (local.get $c) (i32.const 101)) ;; e: empty event type
            (then (return (call $replace (i32.const 1024) (i32.const 5) (i32.const 1040) (i32.const 0) (i32.const 1056) (i32.const 11)))))
          (call $replace (i32.const 1024) (i32.const 5) (i32.const 1040) (i32.const 13) (i32.const 1056) (i32.const 11)))
        (func (export "on-publish") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (param $cfg i32) (param i32) (result i32)
          (call $choose (i32.load8_u offset=1 (local.get $cfg))))
    "#;
    // On deliver the replacement is only an event type and data.
    let deliver = on_deliver(
        r#"(local $c i32)
           (local.set $c (i32.load8_u offset=1 (local.get $cfg)))
           (if (i32.eq (local.get $c) (i32.const 106))
             (then (return (call $replace_content (i32.const 1040) (i32.const 13) (i32.const 1088) (i32.const 8)))))
           (call $replace_content (i32.const 1040) (i32.const 13) (i32.const 1056) (i32.const 11))"#,
    );
    plugin(Exports::Both, &format!("{choose}\n{deliver}"))
}

#[test]
fn publish_replace_is_validated() {
    // "other" + "order.changed" + 42 bytes of data = 60 bytes: over 48; the good one is 29.
    let host = host_with(HostConfig { max_instances: 4, max_output_bytes: 48, ..HostConfig::default() });
    let p = host.load("acme", &replacing_plugin()).unwrap();
    let n = notification();
    match host.on_publish(&p, &ctx(), &n, "\"ok\"").unwrap() {
        Decision::Replace(r) => {
            assert_eq!(r.channel, "other");
            assert_eq!(r.event_type, "order.changed");
            assert_eq!(r.data, r#"{"ok":true}"#);
            assert_eq!(r.recipients, None, "publish may change recipients");
            assert_eq!(r.metadata, n.metadata, "metadata is Herald's, not the plugin's");
        }
        other => panic!("unexpected {other:?}"),
    }
    let bad = |cfg: &str| match host.on_publish(&p, &ctx(), &n, cfg) {
        Err(PluginError::InvalidOutput(msg)) => msg,
        other => panic!("{cfg}: unexpected {other:?}"),
    };
    assert!(bad("\"json\"").contains("not JSON"));
    assert!(bad("\"big\"").contains("over the limit"));
    assert!(bad("\"empty\"").contains("empty event type"));
    assert_eq!(host.stats("acme", &p.hash).invalid_output, 3);
    // Refused output is not the instance's fault: it stays warm.
    assert_eq!(host.idle_instances(&p), 1);
}

#[test]
fn deliver_replace_is_validated() {
    let host = host_with(HostConfig { max_instances: 4, max_output_bytes: 64, ..HostConfig::default() });
    let p = host.load("acme", &replacing_plugin()).unwrap();
    assert_eq!(
        host.on_deliver(&p, &ctx(), &delivery(), &subscriber(), "\"ok\""),
        Ok(DeliveryDecision::Replace { event_type: "order.changed".into(), data: r#"{"ok":true}"#.into() })
    );
    assert!(matches!(host.on_deliver(&p, &ctx(), &delivery(), &subscriber(), "\"json\""), Err(PluginError::InvalidOutput(_))));
}

#[test]
fn deliver_sees_its_arguments() {
    // Drops with the subscriber's user name when the delivery's fields are
    // as given (id 42, direct, published at ...123 ms), else with its claims.
    let host = host();
    let p = host
        .load(
            "acme",
            &plugin(
                Exports::Deliver,
                &on_deliver(
                    r#"(if (i32.and (i32.and (i64.eq (local.get $id) (i64.const 42)) (local.get $direct))
                                (i64.eq (local.get $at) (i64.const 1764000000123)))
                     (then (return (call $drop (local.get $user) (local.get $userl)))))
                   (call $drop (local.get $claims) (local.get $claimsl))"#,
                ),
            ),
        )
        .unwrap();
    assert_eq!(host.on_deliver(&p, &ctx(), &delivery(), &subscriber(), "{}"), Ok(DeliveryDecision::Drop("alice".into())));
    let broadcast = Delivery { direct: false, ..delivery() };
    assert_eq!(host.on_deliver(&p, &ctx(), &broadcast, &subscriber(), "{}"), Ok(DeliveryDecision::Drop(r#"{"locale":"fr"}"#.into())));
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn log_lines_reach_tracing_with_plugin_and_tenant() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).with_max_level(tracing::Level::TRACE).finish();
    let host = host();
    let p = host
        .load(
            "acme",
            &plugin_with_log(
                Exports::Publish,
                &format!(
                    r#"(data (i32.const 1024) "hello from wat")
                   (func (export "on-publish") {PUBLISH_SIG}
                     (call $log (i32.const 3) (i32.const 1024) (i32.const 14)) ;; warn
                     (call $keep))"#
                ),
            ),
        )
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    });
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(out.contains("WARN"), "{out}");
    assert!(out.contains("hello from wat"), "{out}");
    assert!(out.contains("plugin=\"test-plugin\"") || out.contains("plugin=test-plugin"), "{out}");
    assert!(out.contains("tenant=\"acme\"") || out.contains("tenant=acme"), "{out}");
}

#[test]
fn log_lines_per_call_are_capped() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let host = host_with(HostConfig { max_instances: 4, max_log_lines_per_call: 3, ..HostConfig::default() });
    let p = host
        .load(
            "acme",
            &plugin_with_log(
                Exports::Publish,
                &format!(
                    r#"(data (i32.const 1024) "spam")
                   (func (export "on-publish") {PUBLISH_SIG} (local $i i32)
                     (loop $l
                       (call $log (i32.const 2) (i32.const 1024) (i32.const 4))
                       (local.set $i (i32.add (local.get $i) (i32.const 1)))
                       (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
                     (call $keep))"#
                ),
            ),
        )
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    });
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(out.matches("spam").count(), 3, "{out}");
    assert!(out.contains("dropped=97"), "{out}");
}

#[test]
fn wasi_clocks_are_frozen() {
    // Imports wasi:clocks now() functions and drops with "moving" unless both read zero.
    let host = host();
    let bytes = wat::parse_str(
        r#"(component
  (type $dt' (record (field "seconds" u64) (field "nanoseconds" u32)))
  (import "wasi:clocks/wall-clock@0.2.0" (instance $wall
    (export "datetime" (type $dt (eq $dt')))
    (export "now" (func (result $dt)))))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $mono
    (export "now" (func (result u64)))))
  (core module $libc
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 4096)))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "memory" (core memory $mem))
  (core func $wall_now (canon lower (func $wall "now") (memory $mem)))
  (core func $mono_now (canon lower (func $mono "now")))
  (core module $main
    (import "env" "memory" (memory 1))
    (import "wall" "now" (func $wall_now (param i32)))
    (import "mono" "now" (func $mono_now (result i64)))
    (data (i32.const 1024) "moving")
    (func (export "on-publish") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (call $wall_now (i32.const 512))
      (i32.store8 (i32.const 16) (i32.const 0))
      (if (i32.or (i32.or (i64.ne (i64.load (i32.const 512)) (i64.const 0)) (i32.ne (i32.load (i32.const 520)) (i32.const 0)))
                  (i64.ne (call $mono_now) (i64.const 0)))
        (then
          (i32.store8 (i32.const 16) (i32.const 2))
          (i32.store (i32.const 20) (i32.const 1024))
          (i32.store (i32.const 24) (i32.const 6))))
      (i32.const 16)))
  (core instance $main (instantiate $main
    (with "env" (instance (export "memory" (memory $mem))))
    (with "wall" (instance (export "now" (func $wall_now))))
    (with "mono" (instance (export "now" (func $mono_now))))))
  (type $n' (record (field "channel" string) (field "event-type" string) (field "data" string)
    (field "recipients" (option (list string))) (field "metadata" (list (tuple string string)))))
  (export $n "notification" (type $n'))
  (type $d' (variant (case "keep") (case "replace" $n) (case "drop" string)))
  (export $d "decision" (type $d'))
  (func $pub (param "notification" $n) (param "config" string) (result $d)
    (canon lift (core func $main "on-publish") (memory $mem) (realloc (core func $libc "cabi_realloc"))))
  (instance $pubi (export "on-publish" (func $pub)))
  (export "herald:plugin/publish-hook@0.1.0" (instance $pubi)))"#,
    )
    .unwrap();
    let p = host.load("acme", &bytes).unwrap();
    assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
}

#[test]
fn sleeping_traps_instead_of_blocking_the_host() {
    // monotonic-clock.subscribe-duration would block the host thread beyond
    // the epoch deadline when polled; the host replaces it with a trap.
    let host = host();
    let bytes = wat::parse_str(
        r#"(component $C
  (import "wasi:io/poll@0.2.0" (instance $poll (export "pollable" (type (sub resource)))))
  (alias export $poll "pollable" (type $pollable))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $mono
    (alias outer $C $pollable (type $p))
    (export "subscribe-duration" (func (param "when" u64) (result (own $p))))))
  (core module $libc
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 4096)))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "memory" (core memory $mem))
  (core func $sleep (canon lower (func $mono "subscribe-duration")))
  (core module $main
    (import "env" "memory" (memory 1))
    (import "mono" "subscribe-duration" (func $sleep (param i64) (result i32)))
    (func (export "on-publish") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (drop (call $sleep (i64.const 10000000000)))
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.const 16)))
  (core instance $main (instantiate $main
    (with "env" (instance (export "memory" (memory $mem))))
    (with "mono" (instance (export "subscribe-duration" (func $sleep))))))
  (type $n' (record (field "channel" string) (field "event-type" string) (field "data" string)
    (field "recipients" (option (list string))) (field "metadata" (list (tuple string string)))))
  (export $n "notification" (type $n'))
  (type $d' (variant (case "keep") (case "replace" $n) (case "drop" string)))
  (export $d "decision" (type $d'))
  (func $pub (param "notification" $n) (param "config" string) (result $d)
    (canon lift (core func $main "on-publish") (memory $mem) (realloc (core func $libc "cabi_realloc"))))
  (instance $pubi (export "on-publish" (func $pub)))
  (export "herald:plugin/publish-hook@0.1.0" (instance $pubi)))"#,
    )
    .unwrap();
    let p = host.load("acme", &bytes).unwrap();
    let start = Instant::now();
    match host.on_publish(&p, &ctx(), &notification(), "{}") {
        Err(PluginError::Trap(msg)) => assert!(msg.contains("may not sleep"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
    // Refused at once, not after a sleep (generous for a loaded machine).
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

/// Spends a long time (100 million loop turns, tens of milliseconds) on the
/// first call with each configuration, as a real plugin does when it parses
/// its configuration and compiles patterns; later calls keep at once.
fn slow_to_warm_plugin() -> Vec<u8> {
    let body = format!(
        r#"(global $seen (mut i32) (i32.const -1))
        (func $warm_then_keep (param $c i32) (result i32)
          (local $i i32)
          (if (i32.ne (local.get $c) (global.get $seen))
            (then
              (local.set $i (i32.const 100000000))
              (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))
              (global.set $seen (local.get $c))))
          (call $keep))
        (func (export "on-publish") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (param $cfg i32) (param i32) (result i32)
          (call $warm_then_keep (i32.load8_u (local.get $cfg))))
        {}"#,
        on_deliver("(call $warm_then_keep (i32.load8_u (local.get $cfg)))")
    );
    plugin(Exports::Both, &body)
}

#[test]
fn a_cold_call_gets_the_warmup_deadline() {
    let config = HostConfig {
        max_instances: 4,
        default_deadline: Duration::from_millis(2),
        warmup_deadline: Duration::from_secs(5),
        ..HostConfig::default()
    };
    let host = host_with(config.clone());
    let p = host.load("acme", &slow_to_warm_plugin()).unwrap();
    // First call with `{}` on the instance: slow, within the warm-up deadline.
    assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    // Warm now: the 2 ms deadline applies, and the call is quick.
    assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    assert_eq!(host.on_deliver(&p, &ctx(), &delivery(), &subscriber(), "{}"), Ok(DeliveryDecision::Keep));
    // A configuration the instance has not run with is cold again.
    assert_eq!(host.on_deliver(&p, &ctx(), &delivery(), &subscriber(), "[]"), Ok(DeliveryDecision::Keep));
    assert_eq!(host.stats("acme", &p.hash).errors(), 0);

    // Without the warm-up allowance the same first call runs out of time.
    let strict = host_with(HostConfig { warmup_deadline: Duration::from_millis(2), ..config });
    let p = strict.load("acme", &slow_to_warm_plugin()).unwrap();
    assert_eq!(strict.on_publish(&p, &ctx(), &notification(), "{}"), Err(PluginError::Timeout));
}

#[test]
fn a_plugin_that_loops_loses_the_warmup_allowance() {
    let host = host_with(HostConfig {
        max_instances: 4,
        default_deadline: Duration::from_millis(2),
        warmup_deadline: Duration::from_secs(1),
        ..HostConfig::default()
    });
    let looping = host
        .load("acme", &plugin(Exports::Publish, &format!(r#"(func (export "on-publish") {PUBLISH_SIG} (loop $l (br $l)) (call $keep))"#)))
        .unwrap();
    let start = Instant::now();
    assert_eq!(host.on_publish(&looping, &ctx(), &notification(), "{}"), Err(PluginError::Timeout));
    assert!(start.elapsed() >= Duration::from_secs(1), "the first cold call had the warm-up deadline");
    // Every call now starts on a fresh (cold) instance, the failed one being
    // discarded; without this rule each would get a whole second. Time on
    // the clock depends on the machine's load, so count CPU: a call cut off
    // at its own 2 ms deadline (plus half again) uses far less than the
    // 1 s warm-up allowance.
    for _ in 0..3 {
        let cpu = thread_cpu_time();
        assert_eq!(host.on_publish(&looping, &ctx(), &notification(), "{}"), Err(PluginError::Timeout));
        let used = thread_cpu_time() - cpu;
        assert!(used < Duration::from_millis(500), "used {used:?} of CPU: the warm-up allowance was given again");
    }
}

/// The calling thread's CPU time (the host counts the same clock).
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A tracing writer that holds the calling thread for `pause` on every
/// write: as if the machine were so busy that the thread lost its CPU while
/// the plugin was running. Sleeping uses no CPU time.
#[derive(Clone)]
struct Stall(Duration);

impl Write for Stall {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(self.0);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs `lines` times, then spins a little (a loop of epoch checks) and keeps.
fn stalling_plugin(lines: u32) -> Vec<u8> {
    plugin_with_log(
        Exports::Publish,
        &format!(
            r#"(data (i32.const 1024) "stalled")
               (func (export "on-publish") {PUBLISH_SIG} (local $i i32) (local $n i32)
                 (loop $logs
                   (call $log (i32.const 2) (i32.const 1024) (i32.const 7))
                   (local.set $n (i32.add (local.get $n) (i32.const 1)))
                   (br_if $logs (i32.lt_u (local.get $n) (i32.const {lines}))))
                 (local.set $i (i32.const 10000))
                 (loop $spin (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $spin (local.get $i)))
                 (call $keep))"#
        ),
    )
}

#[test]
fn a_call_that_lost_its_cpu_past_the_deadline_is_not_cut_off() {
    let host = host();
    let p = host.load("acme", &stalling_plugin(1)).unwrap();
    // Warm the instance first: a cold call would have the warm-up deadline.
    assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    let stall = Stall(Duration::from_millis(30));
    let subscriber = tracing_subscriber::fmt().with_writer(move || stall.clone()).finish();
    let start = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        // 30 ms on the clock against a 5 ms deadline, but a few µs of CPU.
        assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    });
    assert!(start.elapsed() >= Duration::from_millis(30), "the call did outlive its deadline on the clock");
    assert_eq!(host.stats("acme", &p.hash).timeouts, 0);
}

#[test]
fn the_wall_cap_cuts_off_a_call_however_little_cpu_it_used() {
    let stall = Stall(Duration::from_millis(30));
    let subscriber = tracing_subscriber::fmt().with_writer(move || stall.clone()).finish();
    let capped = host_with(HostConfig { max_instances: 4, max_wall_time: Duration::from_millis(50), ..HostConfig::default() });
    let uncapped = host();
    let (p, q) = (capped.load("acme", &stalling_plugin(5)).unwrap(), uncapped.load("acme", &stalling_plugin(5)).unwrap());
    // Warm both instances first: a cold call has the 100 ms warm-up
    // deadline, which would stand in for the 50 ms cap.
    assert_eq!(capped.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    assert_eq!(uncapped.on_publish(&q, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    tracing::subscriber::with_default(subscriber, || {
        // 150 ms on the clock: three times the 50 ms cap, under the default 1 s.
        assert_eq!(capped.on_publish(&p, &ctx(), &notification(), "{}"), Err(PluginError::Timeout));
        assert_eq!(uncapped.on_publish(&q, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    });
    assert_eq!(capped.stats("acme", &p.hash).timeouts, 1);
}

fn ctx_for(tenant: &str) -> CallContext<'_> {
    CallContext { tenant, plugin_name: "test-plugin", deadline: None }
}

/// A keep plugin whose bytes differ with `n` (a data segment), so each `n`
/// is a different plugin to the cache.
fn numbered_plugin(n: usize) -> Vec<u8> {
    plugin(Exports::Publish, &format!(r#"(data (i32.const 2048) "plugin {n}") (func (export "on-publish") {PUBLISH_SIG} (call $keep))"#))
}

#[test]
fn tenants_with_the_same_bytes_share_code_but_not_instances_or_stats() {
    let host = host();
    let bytes = counter_plugin();
    let a = host.load("acme", &bytes).unwrap();
    let b = host.load("globex", &bytes).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_eq!((a.tenant(), b.tenant()), ("acme", "globex"));
    assert_eq!(host.compiled_count(), 1, "the code is compiled once");
    let call = |p, t| host.on_publish(p, &ctx_for(t), &notification(), "{}");
    assert_eq!(call(&a, "acme"), Ok(Decision::Drop("1".into())));
    assert_eq!(call(&a, "acme"), Ok(Decision::Drop("2".into())));
    // Globex's first call starts its own instance: acme's counter is not visible.
    assert_eq!(call(&b, "globex"), Ok(Decision::Drop("1".into())));
    assert_eq!(call(&a, "acme"), Ok(Decision::Drop("3".into())));
    assert_eq!(host.stats("acme", &a.hash).calls, 3);
    assert_eq!(host.stats("globex", &b.hash).calls, 1);
    assert_eq!(host.stats("initech", &a.hash), herald_plugins::PluginStats::default());
    assert_eq!((host.idle_instances(&a), host.idle_instances(&b)), (1, 1));
    // A handle is bound to its tenant: called for another, it refuses and runs nothing.
    assert!(matches!(call(&a, "globex"), Err(PluginError::Unavailable(_))));
    assert_eq!(call(&b, "globex"), Ok(Decision::Drop("2".into())));
}

#[test]
fn caches_are_evicted_by_use_and_other_tenants_keep_working() {
    let host = host_with(HostConfig {
        max_instances: 8,
        max_cached_plugins: 3,
        max_idle_instances: 4,
        max_idle_instances_per_tenant: 2,
        pool_per_plugin: 2,
        ..HostConfig::default()
    });
    let acme = host.load("acme", &keep_plugin()).unwrap();
    assert_eq!(host.on_publish(&acme, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    // Mallory uploads far more distinct plugins than the caches hold, and calls each.
    let mallory: Vec<_> = (0..12).map(|n| host.load("mallory", &numbered_plugin(n)).unwrap()).collect();
    for p in &mallory {
        assert_eq!(host.on_publish(p, &ctx_for("mallory"), &notification(), "{}"), Ok(Decision::Keep));
        assert!(host.cached_plugins() <= 3);
        assert!(host.total_idle_instances() <= 4);
        assert!(host.tenant_idle_instances("mallory") <= 2);
    }
    assert!(host.evicted_count() >= 10, "evicted {}", host.evicted_count());
    // Other tenants still upload and run.
    let globex = host.load("globex", &numbered_plugin(100)).unwrap();
    assert_eq!(host.on_publish(&globex, &ctx_for("globex"), &notification(), "{}"), Ok(Decision::Keep));
    // A handle to an evicted plugin keeps working: it starts a new instance.
    assert_eq!(host.on_publish(&acme, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    assert_eq!(host.on_publish(&mallory[0], &ctx_for("mallory"), &notification(), "{}"), Ok(Decision::Keep));
    assert!(host.total_idle_instances() <= 4);
}

#[test]
fn a_full_instance_pool_evicts_idle_instances_and_retries() {
    // Deliberately no headroom: idle instances may fill the whole pool.
    let host = host_with(HostConfig { max_instances: 2, max_idle_instances: 2, max_idle_instances_per_tenant: 2, ..HostConfig::default() });
    let (p0, p1) = (host.load("mallory", &numbered_plugin(0)).unwrap(), host.load("mallory", &numbered_plugin(1)).unwrap());
    assert_eq!(host.total_idle_instances(), 2, "both pool slots are held by idle instances");
    // A third plugin needs a slot for its start-up: the oldest idle instance makes room.
    let other = host.load("acme", &numbered_plugin(2)).unwrap();
    assert_eq!(host.on_publish(&other, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    assert_eq!(host.idle_instances(&p0), 0, "the least recently used went");
    assert_eq!(host.on_publish(&p1, &ctx_for("mallory"), &notification(), "{}"), Ok(Decision::Keep));
}

#[test]
fn unload_forgets_a_tenants_instances_and_stats() {
    let host = host();
    let bytes = keep_plugin();
    let (a, b) = (host.load("acme", &bytes).unwrap(), host.load("globex", &bytes).unwrap());
    assert_eq!(host.on_publish(&a, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    host.unload("acme", &a.hash);
    assert_eq!((host.stats("acme", &a.hash).calls, host.idle_instances(&a)), (0, 0));
    assert_eq!(host.cached_plugins(), 1, "globex still has the code");
    host.unload("globex", &b.hash);
    assert_eq!(host.cached_plugins(), 0);
    // Handles already given out keep working.
    assert_eq!(host.on_publish(&a, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    host.load("acme", &bytes).unwrap();
    assert_eq!(host.compiled_count(), 2, "loading again compiles again");
}

#[test]
fn structural_caps_refuse_before_compiling() {
    let invalid = |r: Result<_, PluginError>, what: &str| match r {
        Err(PluginError::Invalid(m)) => assert!(m.contains(what), "{m}"),
        other => panic!("unexpected {other:?}"),
    };
    let few_functions = host_with(HostConfig { max_instances: 4, max_functions: 3, ..HostConfig::default() });
    invalid(few_functions.load("acme", &keep_plugin()), "more than 3 functions");
    let small_functions = host_with(HostConfig { max_instances: 4, max_function_bytes: 8, ..HostConfig::default() });
    invalid(small_functions.load("acme", &keep_plugin()), "over the limit of 8");
    assert_eq!(few_functions.compiled_count() + small_functions.compiled_count(), 0);
    // Within the caps, the same bytes load.
    host().load("acme", &keep_plugin()).unwrap();
}

#[test]
fn a_compile_past_its_time_cap_is_refused() {
    let host = host_with(HostConfig { max_instances: 4, compile_timeout: Duration::ZERO, ..HostConfig::default() });
    match host.load("acme", &keep_plugin()) {
        // Refused: the compile ran past the cap (or a previous one still holds the permit).
        Err(PluginError::Invalid(m)) => assert!(m.contains("compiling took longer than the limit of 0 ms"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(host.compiled_count(), 0);
    assert_eq!(host.cached_plugins(), 0);
}

#[test]
fn concurrent_uploads_all_compile() {
    // One compile at a time per host: the others wait for the permit.
    let host = host_with(HostConfig { max_instances: 16, ..HostConfig::default() });
    std::thread::scope(|s| {
        for t in 0..4 {
            let host = &host;
            s.spawn(move || {
                let p = host.load("acme", &numbered_plugin(t)).unwrap();
                assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
            });
        }
    });
    assert_eq!(host.compiled_count(), 4);
}

#[test]
fn plugin_log_lines_cannot_forge_log_lines() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let host = host();
    let p = host
        .load(
            "acme",
            &plugin_with_log(
                Exports::Publish,
                &format!(
                    r#"(data (i32.const 1024) "first\0aINFO herald: forged\0d\1b[2J")
                   (func (export "on-publish") {PUBLISH_SIG}
                     (call $log (i32.const 2) (i32.const 1024) (i32.const 30))
                     (call $keep))"#
                ),
            ),
        )
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(host.on_publish(&p, &ctx(), &notification(), "{}"), Ok(Decision::Keep));
    });
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(r"first\nINFO herald: forged\r\u{1b}[2J"), "{out}");
}
