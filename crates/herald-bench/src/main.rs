//! herald-bench: load generator for Herald. Parses the command line, runs
//! one benchmark on a small runtime of its own and prints its report.
//!
//! - `publish`: publish throughput and request latency ([`publish`]).
//! - `latency`: publish-to-receive latency through one or two nodes ([`latency`]).
//! - `fanout`: many SSE subscribers, connect rate, delivery and memory ([`fanout`]).
//! - `noisy-neighbour`: one tenant's latency alone and while another
//!   attacks the same node ([`noisy`]).
//! - `storm`: every subscriber drops and resumes with `Last-Event-ID` at
//!   once; catch-up time, CPU per event, nothing lost or doubled ([`storm`]).
//! - `soak`: long moderate load with churning subscribers; memory and open
//!   files must stay flat, delivery exact ([`soak`]).

#![forbid(unsafe_code)]

mod api;
mod chunked;
mod cli;
mod conn;
mod endpoint;
mod fanout;
mod fanpub;
mod latency;
mod noisy;
mod plan;
mod procfs;
mod publish;
mod rawstream;
mod report;
mod seqs;
mod setup;
mod soak;
mod sse;
mod stages;
mod stats;
mod storm;
mod subscriber;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command};
use crate::report::{Failure, emit};

/// Slack past a run's own bounds before the whole process gives up.
const GRACE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bench = match &cli.command {
        Command::Publish(_) => "publish",
        Command::Latency(_) => "latency",
        Command::Fanout(_) => "fanout",
        Command::Soak(_) => "soak",
        Command::NoisyNeighbour(_) => "noisy-neighbour",
        Command::Storm(_) => "storm",
    };
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("herald-bench {bench}: {e:#}");
            emit(&[], &Failure { bench, ok: false, error: format!("{e:#}") });
            ExitCode::FAILURE
        }
    }
}

/// Runs the chosen benchmark, prints its report and tells whether it passed.
fn run(cli: &Cli) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.into())
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let ok = runtime.block_on(async {
        match &cli.command {
            Command::Publish(args) => {
                // Setup, the run itself, then every request's own timeout.
                let bound = Duration::from_secs(args.duration + args.request_timeout) + GRACE;
                let report = tokio::time::timeout(bound, publish::run(args, cli.allow_remote))
                    .await
                    .with_context(|| format!("gave up after {bound:?}"))??;
                emit(&report.lines(), &report);
                anyhow::Ok(report.ok)
            }
            Command::Latency(args) => {
                let bound = Duration::from_secs(args.timeout) + GRACE;
                let report = tokio::time::timeout(bound, latency::run(args, cli.allow_remote))
                    .await
                    .with_context(|| format!("gave up after {bound:?}"))??;
                emit(&report.lines(), &report);
                anyhow::Ok(report.ok)
            }
            Command::Fanout(args) => {
                let bound = Duration::from_secs(args.timeout) + GRACE;
                let report = tokio::time::timeout(bound, fanout::run(args, cli.allow_remote, cli.threads))
                    .await
                    .with_context(|| format!("gave up after {bound:?}"))??;
                emit(&report.lines(), &report);
                anyhow::Ok(report.ok)
            }
            Command::Storm(args) => {
                let bound = Duration::from_secs(args.timeout) + GRACE;
                let report = tokio::time::timeout(bound, storm::run(args, cli.allow_remote, cli.threads))
                    .await
                    .with_context(|| format!("gave up after {bound:?}"))??;
                emit(&report.lines(), &report);
                anyhow::Ok(report.ok)
            }
            Command::NoisyNeighbour(args) => {
                // Two latency phases (each bounded at 120 s) and the attack's set-up.
                let bound = Duration::from_secs(2 * 120 + 120) + GRACE;
                let report = tokio::time::timeout(bound, noisy::run(args, cli.allow_remote))
                    .await
                    .with_context(|| format!("gave up after {bound:?}"))??;
                emit(&report.lines(), &report);
                anyhow::Ok(report.ok)
            }
            Command::Soak(args) => {
                // The load, the drain, then setup and closing every stream.
                let bound = Duration::from_secs(args.duration + args.drain + 300) + GRACE;
                let report = tokio::time::timeout(bound, soak::run(args, cli.allow_remote))
                    .await
                    .with_context(|| format!("gave up after {bound:?}"))??;
                emit(&report.lines(), &report);
                anyhow::Ok(report.ok)
            }
        }
    })?;
    // Open streams and stray connections are not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(ok)
}
