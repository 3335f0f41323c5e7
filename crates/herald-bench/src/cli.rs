//! The command line.

use clap::{Args, Parser, Subcommand};

/// herald-bench: load generator for Herald.
///
/// Each run creates a fresh tenant with the operator key, loads one or more
/// running Herald nodes over plain HTTP/1.1, and prints readable lines
/// followed by exactly one line of JSON with every figure (latencies in
/// microseconds). Every loop is bounded in time and count.
///
/// By default only loopback addresses are accepted as targets.
#[derive(Debug, Parser)]
#[command(name = "herald-bench", version, about, long_about)]
pub struct Cli {
    /// Worker threads of the load generator. Keep this low when the server
    /// runs on the same machine: every core the generator uses is one the
    /// server does not get.
    #[arg(long, global = true, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,

    /// Accept targets that resolve to non-loopback addresses.
    #[arg(long, global = true)]
    pub allow_remote: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish throughput: concurrent publishers on keep-alive connections.
    ///
    /// Each connection runs one publisher loop that sends a request, waits
    /// for the answer and sends the next, for --duration seconds. Only 201
    /// answers count as persisted; request latency is measured on those.
    ///
    /// Example: herald-bench publish --url http://127.0.0.1:8080 --operator-key hop_… --connections 64 --batch 10
    Publish(PublishArgs),
    /// Publish-to-receive latency through one or two nodes.
    ///
    /// Opens one SSE subscriber on the publish node and one on the subscribe
    /// node (they may be the same), waits until both receive a warm-up
    /// notification, then publishes --count notifications at --rate per
    /// second on the publish node, each carrying its send time, and reports
    /// each subscriber's latency and any lost, duplicated or out-of-order
    /// notification. Exits with status 1 when any of those is not zero.
    ///
    /// Example: herald-bench latency --publish-url http://127.0.0.1:8080 --subscribe-url http://127.0.0.1:8081 --operator-key hop_…
    Latency(LatencyArgs),
}

#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// The operator key (`hop_…`), used only to create the run's tenant and keys.
    #[arg(long, env = "HERALD_OPERATOR_KEY", hide_env_values = true, value_name = "KEY")]
    pub operator_key: String,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Base URL of the Herald node to load.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub url: String,

    #[command(flatten)]
    pub operator: OperatorArgs,

    /// Concurrent publishers, each on its own keep-alive connection.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,

    /// How long to publish, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,

    /// Notifications per request: 1 uses the single publish endpoint, more
    /// the batch endpoint (the server's default limit is 1000).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,

    /// Distinct channels to publish to, in rotation (`bench.0`, `bench.1`, …).
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub channels: u32,

    /// Size of each notification's `data` JSON, in bytes (at least 10).
    #[arg(long, default_value_t = 100, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(10..=16 * 1024 * 1024))]
    pub payload_bytes: u32,

    /// Give up on a request after this many seconds (counted as `timeout`;
    /// the connection is then reopened).
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_timeout: u64,
}

#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Base URL of the node that receives the publishes (and the first subscriber).
    #[arg(long, value_name = "URL")]
    pub publish_url: String,

    /// Base URL of the node that holds the second subscriber; may equal --publish-url.
    #[arg(long, value_name = "URL")]
    pub subscribe_url: String,

    #[command(flatten)]
    pub operator: OperatorArgs,

    /// Notifications to publish and measure.
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub count: u32,

    /// Publishes per second, paced on a fixed schedule.
    #[arg(long, default_value_t = 200, value_name = "PER_SECOND", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate: u32,

    /// Concurrent publish connections sharing the schedule, so one slow
    /// publish does not delay the next.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub publishers: u32,

    /// Upper bound on the whole run, setup included, in seconds. Must leave
    /// room for count / rate seconds of publishing.
    #[arg(long, default_value_t = 120, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub timeout: u64,

    /// After the last publish, how long to wait for stragglers before
    /// counting them lost, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub drain: u64,
}
