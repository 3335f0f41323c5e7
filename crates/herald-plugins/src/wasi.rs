//! WASI for plugins, with no capabilities.
//!
//! Components built by Rust for `wasm32-wasip2` import WASI interfaces even
//! when the plugin never uses them (std's start-up, stdio, env), so they must
//! be linked for the component to instantiate. The example plugins import
//! `wasi:io/{poll,error,streams}`, `wasi:cli/{environment,exit,stdin,stdout,
//! stderr,terminal-*}` and `wasi:random/insecure-seed`. We link those, the
//! rest of `wasi:random`, and `wasi:clocks` (so a plugin touching std's time
//! APIs still loads), and give them nothing to work with: no args, no env,
//! stdin closed, stdout/stderr discarded, clocks frozen at zero. Filesystem
//! and sockets are not linked at all, so a component importing them fails to
//! load with `PluginError::Invalid`.
//!
//! Sleeping would block the host thread beyond the epoch deadline (host calls
//! are not interruptible), so the monotonic clock's `subscribe-*` functions
//! are replaced by ones that trap.

use std::time::Duration;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiView};

/// The wall clock a plugin sees: always the Unix epoch, so it learns nothing
/// about real time (and cannot time side channels with it).
struct FrozenWallClock;

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// The monotonic clock a plugin sees: always zero.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// A fresh capability-free WASI context for one store.
pub(crate) fn context() -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    // The defaults already mean: no args, no env, no preopens, stdin closed,
    // stdout/stderr discarded. Sockets are unlinked anyway; deny them too in
    // case a future version links them by default.
    builder.wall_clock(FrozenWallClock).monotonic_clock(FrozenMonotonicClock).allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    builder.build()
}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// The WASI version whose monotonic clock we override; the linker matches
/// any 0.2.x import against it (semver-compatible lookup).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Adds the WASI interfaces Rust std components import (see the module doc).
pub(crate) fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let l = linker;
    sync::io::error::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    sync::io::poll::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    sync::io::streams::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;

    // Replace the sleeping primitives: waiting on them would block the host
    // thread for as long as the plugin asks, and the epoch deadline cannot
    // interrupt host code.
    l.allow_shadowing(true);
    let mut clock = l.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |_cx, (_nanos,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
        Err(wasmtime::format_err!("plugins may not sleep"))
    })?;
    clock.func_wrap("subscribe-instant", |_cx, (_when,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
        Err(wasmtime::format_err!("plugins may not sleep"))
    })?;
    l.allow_shadowing(false);
    Ok(())
}
