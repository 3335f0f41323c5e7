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
    /// SSE fan-out: many idle subscribers, then notifications to all of them.
    ///
    /// Opens --subscribers event streams (spread over --source-ips local
    /// addresses 127.0.0.1, 127.0.0.2, … so their number can pass the
    /// ephemeral-port limit of one address), waits until every one has
    /// received a warm-up event, then publishes --messages notifications at
    /// --rate per second on one connection, each carrying its sequence
    /// number and send time. Reports the connect rate, delivered events per
    /// second, lost, duplicated and out-of-order events (all must be zero),
    /// publish-to-receive latency and, with --server-pid, the server's
    /// memory per idle connection, its peak and its CPU use.
    ///
    /// Herald mode (--url, operator key) creates its own tenant and keys.
    /// Template mode (--subscribe-template and --publish-template, each URL
    /// naming `{channel}`) drives any server that delivers a POSTed body as
    /// the SSE `data:` line, such as Nchan or Pushpin.
    ///
    /// One process raises its open-file limit to the hard limit and can
    /// hold about that many streams less a hundred; run several processes
    /// side by side for more (their JSON lines add up: the counters sum).
    ///
    /// Example: herald-bench --threads 2 fanout --url http://127.0.0.1:8080 --operator-key hop_… --subscribers 10000 --messages 100 --rate 50 --server-pid 1234
    Fanout(FanoutArgs),
    /// Soak: hours of moderate load with subscribers that drop and resume.
    ///
    /// Keeps --subscribers event streams on --channels channels (each with
    /// its own user, so direct notifications reach exactly one of them).
    /// Every stream drops its connection after a random lifetime and
    /// resumes with `Last-Event-ID`, at once or after a pause offline (so it
    /// resumes from history). One publisher publishes --rate notifications
    /// per second, broadcasts and direct ones, each retried with the same
    /// idempotency key until committed, so every channel's and user's
    /// sequence numbers have no hole. Every subscriber checks that it gets
    /// exactly each of them, in order, across every reconnect.
    ///
    /// Every --sample it records the server's memory, open files and
    /// threads (/proc, needs --server-pid), its open connections (GET
    /// /v1/stats) and the client's totals. At the end every stream catches
    /// up and closes; the verdict needs flat memory, flat open files, no
    /// gap, no duplicate and nothing missing. Exits with status 1 otherwise.
    ///
    /// Example: herald-bench soak --url http://127.0.0.1:8080 --operator-key hop_… --server-pid 1234 --duration 60m --out soak.json
    Soak(SoakArgs),
    /// Noisy neighbour: one tenant's latency alone, then while another attacks.
    ///
    /// Measures tenant B as `latency` does (one node, a deliver hook that
    /// keeps everything, so B's deliveries use the plugin threads), then
    /// starts tenant A's attack on the same node: eight chained deliver
    /// hooks that spin for their one-second deadline over 200 stored
    /// notifications, replayed by --attack-streams streams that reconnect
    /// from id 0 whenever they are closed; publishes through a spinning
    /// publish hook; a flood of plugin uploads; CORS preflights for made-up
    /// tenants. B is measured again meanwhile, and `/healthz` is timed.
    /// Reports both latencies and their ratio (the target: B's p99 attacked
    /// at most twice B's p99 alone). Exits with status 1 when B lost,
    /// duplicated or reordered anything.
    ///
    /// Example: herald-bench noisy-neighbour --url http://127.0.0.1:8080 --operator-key hop_… --count 500 --rate 50
    NoisyNeighbour(NoisyArgs),
    /// Reconnect storm: every subscriber drops at once and resumes with
    /// `Last-Event-ID` while notifications keep coming.
    ///
    /// Opens --subscribers event streams on one channel and warms them up
    /// (each keeps the id of the last event it got), closes them all,
    /// publishes --missed notifications while nobody listens, then opens
    /// every stream again with its `Last-Event-ID` (at most
    /// --connect-concurrency connects in flight) while --live more are
    /// published at --live-rate. Reports how long until every subscriber
    /// had every missed notification (catch-up) and every notification
    /// (complete), each subscriber's catch-up time, the live
    /// notifications' latency, lost, duplicated and out-of-order events
    /// (all must be zero) and, with --server-pid, the server's CPU time
    /// per delivered event during the storm. A stream the server ends
    /// during the storm is opened again from its newest id.
    ///
    /// Herald mode (--url, operator key) creates its own tenant and keys;
    /// template mode drives a peer such as Nchan (the peer must honour
    /// `Last-Event-ID` and keep --missed messages).
    ///
    /// Example: herald-bench storm --url http://127.0.0.1:8080 --operator-key hop_… --subscribers 5000 --missed 200 --live 20 --server-pid 1234
    Storm(StormArgs),
}

#[derive(Debug, Args)]
pub struct NoisyArgs {
    /// Base URL of the Herald node.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub url: String,

    #[command(flatten)]
    pub operator: OperatorArgs,

    /// B's notifications per phase.
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    pub count: u32,

    /// B's publishes per second.
    #[arg(long, default_value_t = 50, value_name = "PER_SECOND", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,

    /// A's replaying streams (each reconnects from id 0 when closed).
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub attack_streams: u32,
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

#[derive(Debug, Args)]
pub struct FanoutArgs {
    /// Base URL of the Herald node to load (Herald mode).
    #[arg(long, value_name = "URL", conflicts_with_all = ["subscribe_template", "publish_template"], required_unless_present = "subscribe_template")]
    pub url: Option<String>,

    /// The operator key (`hop_…`), Herald mode only: creates the run's tenant and keys.
    #[arg(long, env = "HERALD_OPERATOR_KEY", hide_env_values = true, value_name = "KEY")]
    pub operator_key: Option<String>,

    /// Template mode: the stream URL of a channel, e.g. `http://127.0.0.1:8090/sub/{channel}`.
    #[arg(long, value_name = "URL", requires = "publish_template")]
    pub subscribe_template: Option<String>,

    /// Template mode: where to POST a notification for a channel, e.g.
    /// `http://127.0.0.1:8090/pub/{channel}`; any 2xx answer is success.
    #[arg(long, value_name = "URL", requires = "subscribe_template")]
    pub publish_template: Option<String>,

    /// Event streams to open and hold.
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub subscribers: u32,

    /// Notifications to publish; every subscriber should receive each one.
    #[arg(long, default_value_t = 100, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub messages: u32,

    /// Notifications per second, on a fixed schedule.
    #[arg(long, default_value_t = 10, value_name = "PER_SECOND", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate: u32,

    /// Notifications per publish: 1 uses Herald's single endpoint, more its
    /// batch endpoint (with --channels C a batch holds B x C items; the
    /// server's default limit is 1000). In template mode, B sequential POSTs.
    #[arg(long, default_value_t = 1, value_name = "B", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,

    /// Channels the subscribers are spread over, round robin. Each
    /// notification is published to every channel, so every subscriber
    /// still expects all --messages.
    #[arg(long, default_value_t = 1, value_name = "C", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub channels: u32,

    /// Local source addresses 127.0.0.1 ..= 127.0.0.K to bind subscriber
    /// sockets to, round robin (0: let the kernel choose). Only for
    /// loopback targets.
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = clap::value_parser!(u8).range(0..=254))]
    pub source_ips: u8,

    /// Stream connects in flight at once (pushpin copes with about 20).
    #[arg(long, default_value_t = 200, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connect_concurrency: u32,

    /// Give up on one stream's connect and response head after this many seconds.
    #[arg(long, default_value_t = 15, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout: u64,

    /// The server's process ids on this machine, comma separated (for a
    /// peer with several processes, all of them), to read memory and CPU
    /// time from /proc (summed).
    #[arg(long, value_name = "PID,...", value_delimiter = ',')]
    pub server_pid: Vec<u32>,

    /// Pause after every stream is live before measuring idle memory, in seconds.
    #[arg(long, default_value_t = 2, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=600))]
    pub settle: u64,

    /// Stay idle this long after connecting, before publishing, and report
    /// the server's CPU use over that window (needs --server-pid).
    #[arg(long, default_value_t = 0, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub idle: u64,

    /// After the last publish, how long to wait for stragglers before
    /// counting them lost, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub drain: u64,

    /// Upper bound on the whole run, setup included, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct StormArgs {
    /// Base URL of the Herald node to load (Herald mode).
    #[arg(long, value_name = "URL", conflicts_with_all = ["subscribe_template", "publish_template"], required_unless_present = "subscribe_template")]
    pub url: Option<String>,

    /// The operator key (`hop_…`), Herald mode only: creates the run's tenant and keys.
    #[arg(long, env = "HERALD_OPERATOR_KEY", hide_env_values = true, value_name = "KEY")]
    pub operator_key: Option<String>,

    /// Template mode: the stream URL of a channel, e.g. `http://127.0.0.1:18801/sub/{channel}`.
    #[arg(long, value_name = "URL", requires = "publish_template")]
    pub subscribe_template: Option<String>,

    /// Template mode: where to POST a notification for a channel; any 2xx answer is success.
    #[arg(long, value_name = "URL", requires = "subscribe_template")]
    pub publish_template: Option<String>,

    /// Event streams that drop and come back.
    #[arg(long, default_value_t = 5000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub subscribers: u32,

    /// Notifications published while every stream is away.
    #[arg(long, default_value_t = 200, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub missed: u32,

    /// Notifications published during the reconnects.
    #[arg(long, default_value_t = 20, value_name = "L", value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub live: u32,

    /// Live notifications per second, on a fixed schedule from the first reconnect.
    #[arg(long, default_value_t = 10, value_name = "PER_SECOND", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub live_rate: u32,

    /// Local source addresses 127.0.0.1 ..= 127.0.0.K to bind subscriber
    /// sockets to, round robin (0: let the kernel choose).
    #[arg(long, default_value_t = 50, value_name = "K", value_parser = clap::value_parser!(u8).range(0..=254))]
    pub source_ips: u8,

    /// Stream connects in flight at once, on the first connect and in the storm.
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connect_concurrency: u32,

    /// Give up on one connect and its response head after this many seconds (then try again).
    #[arg(long, default_value_t = 15, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout: u64,

    /// The server's process ids on this machine, comma separated (for a
    /// peer with several processes, all of them), to read CPU time and
    /// memory from /proc.
    #[arg(long, value_name = "PID,...", value_delimiter = ',')]
    pub server_pid: Vec<u32>,

    /// Upper bound on the whole run, setup included, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub timeout: u64,
}

/// Parses `90`, `90s`, `15m` or `1h` into seconds.
fn seconds(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num.parse().map_err(|_| format!("`{text}` is not a duration such as 90s, 15m or 1h"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("`{text}`: the unit must be s, m or h")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("`{text}` is too long"))
}

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Base URL of the Herald node to load.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub url: String,

    #[command(flatten)]
    pub operator: OperatorArgs,

    /// The server's process id (on this machine): its memory, open files
    /// and threads are read from /proc. Without it only the client's
    /// figures and the server's connection count are recorded, and the
    /// memory and open-file verdicts fail.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// How long to publish and churn (`90s`, `15m`, `1h`).
    #[arg(long, default_value = "60m", value_name = "DURATION", value_parser = seconds)]
    pub duration: u64,

    /// Subscribers, each one event stream when connected.
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=15_000))]
    pub subscribers: u32,

    /// Channels the subscribers are spread over, round robin.
    #[arg(long, default_value_t = 10, value_name = "C", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub channels: u32,

    /// Notifications published per second, all channels together.
    #[arg(long, default_value_t = 50, value_name = "PER_SECOND", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: u32,

    /// Share of notifications addressed to one subscriber's user
    /// (`recipients`) instead of the whole channel, in percent.
    #[arg(long, default_value_t = 25, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub direct_pct: u8,

    /// Shortest life of one connection before the subscriber drops it.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = seconds)]
    pub min_life: u64,

    /// Longest life of one connection before the subscriber drops it.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = seconds)]
    pub max_life: u64,

    /// Share of drops followed by a pause offline (so the subscriber
    /// resumes from history) instead of reconnecting at once, in percent.
    #[arg(long, default_value_t = 30, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub pause_pct: u8,

    /// Shortest pause offline.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = seconds)]
    pub min_pause: u64,

    /// Longest pause offline.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = seconds)]
    pub max_pause: u64,

    /// Interval between samples.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = seconds)]
    pub sample: u64,

    /// Samples before this are warm-up, kept out of the memory and
    /// open-file comparison (default: a tenth of --duration, at most 5 minutes).
    #[arg(long, value_name = "DURATION", value_parser = seconds)]
    pub warmup: Option<u64>,

    /// How much the server's mean RSS over the last quarter may exceed its
    /// mean over the first quarter after warm-up, in percent.
    #[arg(long, default_value_t = 10.0, value_name = "PERCENT")]
    pub rss_tolerance_pct: f64,

    /// How many more open files the server may hold, beyond its open
    /// connections, at the end than after warm-up (and after every stream
    /// closed than before the first opened).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub fd_tolerance: u64,

    /// After publishing stops, how long every subscriber may take to
    /// reconnect and catch up before what it lacks counts as missing.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = seconds)]
    pub drain: u64,

    /// Stream connects in flight at once.
    #[arg(long, default_value_t = 50, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connect_concurrency: u32,

    /// Seed of the random lifetimes, pauses and direct recipients (default:
    /// from the clock; printed, so a run can be repeated).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Write the samples and the verdict here as JSON, and the samples as
    /// CSV beside it (same name, `.csv`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(seconds("90"), Ok(90));
        assert_eq!(seconds("90s"), Ok(90));
        assert_eq!(seconds("15m"), Ok(900));
        assert_eq!(seconds("1h"), Ok(3600));
        assert!(seconds("1d").is_err());
        assert!(seconds("m").is_err());
        assert!(seconds("-5s").is_err());
    }
}
