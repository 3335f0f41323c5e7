//! Builds small test plugins from WAT: a component wrapper around a core
//! module written by the test, with the canonical ABI plumbing done here.
//!
//! Layout: a `libc` core module owns the memory, a bump `cabi_realloc` (the
//! host uses it to pass arguments) and a post-return that resets the bump
//! pointer, so reused instances do not leak. The test's module imports that
//! memory and, optionally, the lowered `host.log`, and exports `on-publish`
//! (13 flat i32 params) and/or `on-deliver` (15 flat params, see
//! [`DELIVER_PARAMS`]). Both return a pointer to their decision in memory.
//!
//! Helpers available to the test's code: `$keep`, `$drop (ptr len)` (both
//! hooks), `$replace (ch chlen et etlen data datalen)` (publish) and
//! `$replace_content (et etlen data datalen)` (deliver), each returning the pointer.
#![allow(dead_code)]

/// Which hooks the component exports.
#[derive(Clone, Copy)]
pub enum Exports {
    Publish,
    Deliver,
    Both,
}

/// `body` is inserted into the test's core module; it must define
/// `(func (export "on-publish") ...)` and/or `(func (export "on-deliver") ...)`.
pub fn plugin(exports: Exports, body: &str) -> Vec<u8> {
    plugin_with(exports, body, false)
}

/// Same, importing `herald:plugin/host.log` into the core module as `"host" "log"` `(param i32 i32 i32)`.
pub fn plugin_with_log(exports: Exports, body: &str) -> Vec<u8> {
    plugin_with(exports, body, true)
}

/// The flat parameters of `on-deliver`: the delivery (id, channel,
/// event type, data, direct, published-at), the subscriber (user, claims)
/// and the configuration, named for use in a test's WAT.
pub const DELIVER_PARAMS: &str = "(param $id i64) (param $ch i32) (param $chl i32) (param $et i32) (param $etl i32) \
    (param $data i32) (param $datal i32) (param $direct i32) (param $at i64) \
    (param $user i32) (param $userl i32) (param $claims i32) (param $claimsl i32) (param $cfg i32) (param $cfgl i32)";

/// `(func (export "on-deliver") <DELIVER_PARAMS> (result i32) <body>)`.
pub fn on_deliver(body: &str) -> String {
    format!(r#"(func (export "on-deliver") {DELIVER_PARAMS} (result i32) {body})"#)
}

/// A deliver hook that spins until the host cuts it off. `salt` makes
/// distinct bytes: a distinct plugin for the host to compile.
pub fn spinning_deliver(salt: u32) -> Vec<u8> {
    plugin(Exports::Deliver, &on_deliver(&format!("(drop (i32.const {salt})) (loop $forever (br $forever)) (call $keep)")))
}

/// A publish hook that spins until the host cuts it off.
pub fn spinning_publish() -> Vec<u8> {
    plugin(
        Exports::Publish,
        r#"(func (export "on-publish") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
             (loop $forever (br $forever)) (call $keep))"#,
    )
}

const HELPERS: &str = r#"
  (func $keep (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.const 16))
  (func $drop (param $p i32) (param $l i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 2))
    (i32.store (i32.const 20) (local.get $p))
    (i32.store (i32.const 24) (local.get $l))
    (i32.const 16))
  (func $replace (param $ch i32) (param $chl i32) (param $et i32) (param $etl i32) (param $d i32) (param $dl i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 1))
    (i32.store (i32.const 20) (local.get $ch))
    (i32.store (i32.const 24) (local.get $chl))
    (i32.store (i32.const 28) (local.get $et))
    (i32.store (i32.const 32) (local.get $etl))
    (i32.store (i32.const 36) (local.get $d))
    (i32.store (i32.const 40) (local.get $dl))
    (i32.store8 (i32.const 44) (i32.const 0))
    (i32.store (i32.const 48) (i32.const 0))
    (i32.store (i32.const 52) (i32.const 0))
    (i32.store (i32.const 56) (i32.const 0))
    (i32.store (i32.const 60) (i32.const 0))
    (i32.const 16))
  (func $replace_content (param $et i32) (param $etl i32) (param $d i32) (param $dl i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 1))
    (i32.store (i32.const 20) (local.get $et))
    (i32.store (i32.const 24) (local.get $etl))
    (i32.store (i32.const 28) (local.get $d))
    (i32.store (i32.const 32) (local.get $dl))
    (i32.const 16))
"#;

const LIBC: &str = r#"
  (core module $libc
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 65536))
    (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (global.set $heap (i32.add (local.get $p) (local.get $size)))
      (block $ok
        (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (br_if $ok (i32.ne (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
                                                            (i32.const 16))
                                                 (i32.const 1)))
                           (i32.const -1)))
        unreachable)
      (local.get $p))
    (func (export "post") (param i32) (global.set $heap (i32.const 65536)))
  )
  (core instance $libc (instantiate $libc))
  (alias core export $libc "memory" (core memory $mem))
"#;

const TYPES: &str = r#"
  (type $n' (record
    (field "channel" string)
    (field "event-type" string)
    (field "data" string)
    (field "recipients" (option (list string)))
    (field "metadata" (list (tuple string string)))))
  (export $n "notification" (type $n'))
  (type $d' (variant (case "keep") (case "replace" $n) (case "drop" string)))
  (export $d "decision" (type $d'))
  (type $v' (record
    (field "id" u64)
    (field "channel" string)
    (field "event-type" string)
    (field "data" string)
    (field "direct" bool)
    (field "published-at-ms" u64)))
  (export $v "delivery" (type $v'))
  (type $s' (record (field "user" string) (field "claims" string)))
  (export $s "subscriber" (type $s'))
  (type $c' (record (field "event-type" string) (field "data" string)))
  (export $c "content" (type $c'))
  (type $dd' (variant (case "keep") (case "replace" $c) (case "drop" string)))
  (export $dd "delivery-decision" (type $dd'))
"#;

fn plugin_with(exports: Exports, body: &str, log: bool) -> Vec<u8> {
    let (log_import, log_lower, log_core_import, log_with) = if log {
        (
            r#"(import "herald:plugin/host@0.1.0" (instance $host
                 (type $l' (enum "trace" "debug" "info" "warn" "error"))
                 (export "level" (type $l (eq $l')))
                 (export "log" (func (param "level" $l) (param "message" string)))))"#,
            r#"(core func $log (canon lower (func $host "log") (memory $mem)))"#,
            r#"(import "host" "log" (func $log (param i32 i32 i32)))"#,
            r#"(with "host" (instance (export "log" (func $log))))"#,
        )
    } else {
        ("", "", "", "")
    };
    let publish = matches!(exports, Exports::Publish | Exports::Both);
    let deliver = matches!(exports, Exports::Deliver | Exports::Both);
    let opts = r#"(memory $mem) (realloc (core func $libc "cabi_realloc")) (post-return (core func $libc "post"))"#;
    let mut lifts = String::new();
    if publish {
        lifts.push_str(&format!(
            r#"(func $pub (param "notification" $n) (param "config" string) (result $d)
                 (canon lift (core func $main "on-publish") {opts}))
               (instance $pubi (export "on-publish" (func $pub)))
               (export "herald:plugin/publish-hook@0.1.0" (instance $pubi))"#
        ));
    }
    if deliver {
        lifts.push_str(&format!(
            r#"(func $del (param "delivery" $v) (param "subscriber" $s) (param "config" string) (result $dd)
                 (canon lift (core func $main "on-deliver") {opts}))
               (instance $deli (export "on-deliver" (func $del)))
               (export "herald:plugin/deliver-hook@0.1.0" (instance $deli))"#
        ));
    }
    let text = format!(
        r#"(component
  {log_import}
  {LIBC}
  {log_lower}
  (core module $main
    (import "env" "memory" (memory 1))
    {log_core_import}
    {HELPERS}
    {body}
  )
  (core instance $main (instantiate $main
    (with "env" (instance (export "memory" (memory $mem))))
    {log_with}))
  {TYPES}
  {lifts}
)"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("bad test component: {e}\n{text}"))
}

/// The simplest plugin: both hooks return `keep`.
pub fn keep_plugin() -> Vec<u8> {
    let publish = r#"(func (export "on-publish") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32) (call $keep))"#;
    plugin(Exports::Both, &format!("{publish}\n{}", on_deliver("(call $keep)")))
}
