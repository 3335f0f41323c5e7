//! Herald's configuration: one typed struct, layered from built-in
//! defaults, an optional TOML file, `HERALD_*` environment variables
//! (nested keys with `__`, e.g. `HERALD_STREAM__HEARTBEAT_SECONDS`) and
//! command-line flags, then validated before anything starts.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Uncased, UncasedStr};
use herald_hub::HistoryLimits;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::redact::{SecretString, SecretUrl};

/// Shortest `secrets_key` accepted.
pub const MIN_SECRETS_KEY_LEN: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    pub tls: TlsConfig,
    /// `sqlite://PATH` (created when missing; `sqlite:///abs/path` for an
    /// absolute path) or `postgres://…`. Logged and shown in errors with
    /// its password replaced by `***`.
    pub database_url: SecretUrl,
    pub database_pool: DatabasePoolConfig,
    /// An extra operator key to accept, at least 16 characters, besides
    /// the operator keys in the database (`herald operator-key`,
    /// `/v1/operator-keys`). With neither this nor a stored key, one is
    /// generated at first start and written to `operator_key_file`, never
    /// to the log.
    pub operator_key: Option<SecretString>,
    /// Where the operator key generated at first start is written, once,
    /// readable by its owner only (mode 0600); it is shown on the terminal
    /// too when standard error is one. Unset: `operator-key` next to the
    /// SQLite file, or `./operator-key` on PostgreSQL.
    pub operator_key_file: Option<std::path::PathBuf>,
    /// Master key for secrets Herald keeps readable (HS256 signing
    /// secrets), at least 32 characters: set, they are stored sealed
    /// (ChaCha20-Poly1305) and those stored before are sealed at start.
    /// Every node needs the same value; a start with a wrong or missing key
    /// while sealed secrets exist is refused. Keep it outside the database.
    /// It also opens `email.smtp_password` when that is sealed (`herald
    /// seal`).
    pub secrets_key: Option<SecretString>,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// `text` or `json` log lines (on stderr). `RUST_LOG` filters them
    /// (default `info,sqlx=warn,sea_orm=warn`).
    pub log_format: LogFormat,
    /// Seconds open connections get to finish on shutdown (SIGTERM or
    /// SIGINT): in-flight requests complete, streams are closed over
    /// `drain_window_ms`, then whatever is left is cut.
    pub shutdown_timeout_seconds: u64,
    /// On shutdown, open streams are told to reconnect (each with its own
    /// `retry:` within this window) and closed, spread evenly over this
    /// many milliseconds, so that a restart does not bring every client
    /// back at once. Less than `shutdown_timeout_seconds`.
    pub drain_window_ms: u64,
    /// Seconds an API key lookup is cached. Revoking a key takes effect at
    /// once on the node that revoked it, and within this time on others;
    /// `0` disables the cache.
    pub key_cache_seconds: u64,
    /// Reverse proxies (CIDRs like `10.0.0.0/8`, or single addresses) whose
    /// `Forwarded` (`for=`) or `X-Forwarded-For` header names the client.
    /// The client is then the rightmost address in that header that is not
    /// itself a trusted proxy; requests from any other peer are taken to
    /// come from the peer, whatever their headers say. Used by the
    /// per-address connection limit, the audit log and the access log.
    /// In the environment, comma-separated:
    /// `HERALD_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1`. Empty: the TCP peer is
    /// the client.
    #[serde(deserialize_with = "comma_list")]
    #[schemars(with = "Vec<String>")]
    pub trusted_proxies: Vec<String>,
    /// How nodes sharing a database tell each other about commits: `none`,
    /// `postgres` (LISTEN/NOTIFY) or `nats://host:port`. Unset: `postgres`
    /// on a PostgreSQL database, `none` on SQLite (single node).
    pub bus: Option<SecretUrl>,
    /// NATS subject for announcements (with a `nats://` bus).
    pub nats_subject: String,
    /// Milliseconds between checks of every tenant's head in the database,
    /// which catch up whatever the bus missed (with a bus only).
    pub poll_interval_ms: u64,
    pub stream: StreamConfig,
    pub poll: PollConfig,
    pub limits: LimitsConfig,
    pub retention: RetentionConfig,
    pub plugins: PluginsConfig,
    pub email: EmailConfig,
    pub metrics: MetricsConfig,
}

/// TLS on the listener. With both files set, Herald serves HTTPS only,
/// offering HTTP/2 and HTTP/1.1 by ALPN (browsers then carry many streams
/// to one origin over one connection, where HTTP/1.1 gives them six
/// connections); without them, plain HTTP/1.1. The files are read again
/// on SIGHUP and when their contents change: new connections get the new
/// certificate, open ones keep theirs, and files that do not load are
/// logged and the previous certificate kept. See docs/deploy.md.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file with the server's certificate, then its intermediates.
    pub cert_file: Option<std::path::PathBuf>,
    /// PEM file with the certificate's private key: ECDSA (P-256, P-384),
    /// RSA or Ed25519, as PKCS#8 (`BEGIN PRIVATE KEY`), SEC1 (`BEGIN EC
    /// PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub key_file: Option<std::path::PathBuf>,
    /// Seconds between looks at the two files for a renewed certificate
    /// (their contents are compared, so a symbolic link swapped to new
    /// files counts); `0`: only SIGHUP reloads them.
    pub reload_check_seconds: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self { cert_file: None, key_file: None, reload_check_seconds: 5 }
    }
}

impl TlsConfig {
    /// The files when TLS is on; an error when only one is set.
    pub fn files(&self) -> Result<Option<herald_server::tls::TlsFiles>, ConfigError> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Ok(Some(herald_server::tls::TlsFiles { cert: cert.clone(), key: key.clone() })),
            (None, None) => Ok(None),
            (Some(_), None) => {
                Err(ConfigError::Invalid("tls.cert_file is set without tls.key_file (HERALD_TLS__KEY_FILE): TLS needs both".into()))
            }
            (None, Some(_)) => {
                Err(ConfigError::Invalid("tls.key_file is set without tls.cert_file (HERALD_TLS__CERT_FILE): TLS needs both".into()))
            }
        }
    }
}

/// The database connection pool this node's requests and background
/// tasks share.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DatabasePoolConfig {
    /// Connections at most; `0`: 8 on SQLite (it has one writer at a time
    /// anyway), 16 on PostgreSQL. Several nodes on one PostgreSQL server
    /// open up to this many each, plus one for LISTEN with the `postgres`
    /// bus.
    pub max_connections: u32,
    /// Connections kept open even when idle (at most `max_connections`).
    pub min_connections: u32,
    /// Seconds after which a connection is closed and replaced; `0` never.
    /// Unset: never on SQLite, where a replacement frees nothing the
    /// database holds but costs a thread and a cold page cache (an
    /// hour-long soak settled 8 MiB higher after the 30-minute
    /// replacement); 1800 on PostgreSQL, so that server memory is returned
    /// and a failover is followed.
    pub max_lifetime_seconds: Option<u64>,
    /// Seconds an idle connection beyond `min_connections` stays open; `0`
    /// never closes it.
    pub idle_timeout_seconds: u64,
    /// Seconds a query waits for a free connection before it fails (the
    /// request then answers 503).
    pub acquire_timeout_seconds: u64,
}

impl Default for DatabasePoolConfig {
    fn default() -> Self {
        Self { max_connections: 0, min_connections: 1, max_lifetime_seconds: None, idle_timeout_seconds: 600, acquire_timeout_seconds: 30 }
    }
}

impl DatabasePoolConfig {
    /// The pool for `database_url`, with the unset lifetime defaulted by backend.
    pub fn settings(&self, database_url: &str) -> herald_store::PoolSettings {
        let seconds = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        let sqlite = database_url.starts_with("sqlite:");
        herald_store::PoolSettings {
            max_connections: (self.max_connections > 0).then_some(self.max_connections),
            min_connections: self.min_connections,
            max_lifetime: match self.max_lifetime_seconds {
                Some(s) => seconds(s),
                None if sqlite => None,
                None => seconds(1800),
            },
            idle_timeout: seconds(self.idle_timeout_seconds),
            acquire_timeout: Duration::from_secs(self.acquire_timeout_seconds),
        }
    }
}

/// `GET /metrics` (Prometheus, OpenMetrics text; see docs/metrics.md).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics`; off, it answers 404.
    pub enabled: bool,
    /// Tenants that get series of their own (`tenant` label); the others
    /// are summed under `tenant="_other"`. The busiest take the places as
    /// they appear and keep them until restart, so series do not churn.
    /// `0` leaves the label out: one series for all tenants.
    pub tenant_labels: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, tenant_labels: 20 }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Seconds between `: keep-alive` comments on idle streams.
    pub heartbeat_seconds: u64,
    /// Reconnection delay sent to clients as `retry:`, in milliseconds.
    pub retry_ms: u64,
    /// Notifications queued per subscriber before it is disconnected as too
    /// slow (it then resumes from history). At least twice `limits.max_batch`,
    /// since one commit is handed over at once.
    pub subscriber_queue: usize,
    /// Rows per history query during replay.
    pub replay_page: u64,
    /// Recent history kept in memory per tenant, in KiB, so that streams
    /// resuming with `Last-Event-ID` (a reconnect storm) read it from
    /// memory instead of each querying the database. 0 turns it off.
    pub recent_history_kib_per_tenant: usize,
    /// The most recent history all tenants together may keep, in KiB.
    pub recent_history_kib_total: usize,
    /// How long a tenant's recent history is kept after its last stream on
    /// this node closed, in seconds: clients that all drop at once (a
    /// deploy, a proxy restart) find it when they come back.
    pub recent_history_keep_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PollConfig {
    /// Longest `wait` of a long-poll, in seconds (1–300).
    pub max_wait_seconds: u64,
    /// Largest page a poll may ask for (`limit`, 1–1000).
    pub max_limit: u64,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self { max_wait_seconds: 30, max_limit: 500 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest `data` of one notification (JSON text), in bytes.
    pub max_data_bytes: usize,
    /// Most notifications in one batch publish.
    pub max_batch: usize,
    /// Publish requests waiting for the writer before publishers wait.
    pub publish_queue: usize,
    /// Streams and waiting long-polls one client IP address may hold open
    /// on a node (`0`: no limit); past it, `429 too-many-connections`.
    /// Behind a proxy every client has the proxy's address: raise it or
    /// set `0`, and limit at the proxy instead.
    pub max_connections_per_ip: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Seconds between retention passes.
    pub interval_seconds: u64,
    /// Per-channel count kept when a channel sets none.
    pub default_max_count: Option<i64>,
    /// Per-channel age kept when a channel sets none, in seconds.
    pub default_max_age_seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// A plugin call's deadline when its chain step sets none, in
    /// milliseconds. A call still running then is cut off as soon as it has
    /// used half its deadline again in CPU time; a call that was only
    /// waiting for a CPU (a busy machine) goes on, up to `max_wall_ms`.
    pub deadline_ms: u64,
    /// The deadline of a cold call, in milliseconds: an instance's start-up
    /// and its first call with a chain step's configuration, when a plugin
    /// builds its state (parses its configuration, compiles patterns). A
    /// plugin whose cold call runs out of even this loses the allowance
    /// until one of its cold calls succeeds.
    pub warmup_ms: u64,
    /// The longest a plugin call may take on the clock, in milliseconds,
    /// however little CPU it used (a longer deadline wins).
    pub max_wall_ms: u64,
    /// Linear memory a plugin instance may grow to, in MiB.
    pub memory_limit_mib: usize,
    /// Fuel (roughly, WebAssembly instructions) per call; 0 turns fuel
    /// metering off and leaves the deadline as the only CPU bound.
    pub fuel: u64,
    /// Largest component accepted on upload, in bytes.
    pub max_component_bytes: usize,
    /// Plugin instances alive at once, across all plugins and tenants (the
    /// pooling allocator's size, reserved at start).
    pub max_instances: u32,
    /// Compiled plugins kept in memory, across tenants (tenants uploading the
    /// same bytes share one); past it the least recently used is forgotten,
    /// with its warm instances and call statistics, and compiled again when
    /// next needed.
    pub max_cached_plugins: usize,
    /// Warm plugin instances kept between calls, across all plugins and
    /// tenants; past it the least recently used goes. At most half of
    /// `max_instances` is ever kept idle, so calls in flight and uploads
    /// always find a free instance slot.
    pub max_idle_instances: usize,
    /// Warm plugin instances one tenant may keep between calls, across its
    /// plugins; past it the tenant's least recently used goes.
    pub max_idle_instances_per_tenant: usize,
    /// Longest a plugin upload's compile may run, in milliseconds; past it
    /// the upload is refused. One compile runs at a time per node, on its
    /// own thread and one core; a compile refused for running too long
    /// still runs to its end (the compiler cannot be stopped) and holds the
    /// node's compile permit until then, so other uploads wait for it (up to
    /// this same limit) rather than taking the second core.
    pub compile_timeout_ms: u64,
    /// Most functions a plugin component may define, counted before
    /// compiling (compile time and memory grow with them).
    pub max_functions: usize,
    /// Largest function body a plugin component may contain, in bytes,
    /// checked before compiling (compile time and memory grow with it).
    pub max_function_bytes: usize,
    /// How long a node caches channels' chains and which version of a
    /// plugin is newest, in milliseconds: changes reach every node within it.
    pub cache_ms: u64,
    /// Threads that run plugin hooks (`0`: one per core, at least two).
    /// Hooks never run on the HTTP workers, so a slow plugin cannot stall
    /// `/healthz` or another tenant's requests.
    pub workers: usize,
    /// Plugin threads one tenant's hooks may occupy at once (`0`: half of
    /// `workers`, at least one): the rest stay free for other tenants.
    pub max_workers_per_tenant: usize,
    /// Hook jobs one tenant may have waiting for a plugin thread; past it a
    /// publish through publish hooks is answered `503 plugins-busy` and a
    /// stream is closed with `plugin-budget-exhausted` (`tenant-busy`).
    pub max_queued_per_tenant: usize,
    /// Deliver-hook time one stream (or one poll) may use at once, in
    /// milliseconds; refilled at `hook_budget_refill_ms_per_second`. A
    /// stream that has used it up is closed with `plugin-budget-exhausted`
    /// (`stream-budget`) and resumes from its last id.
    pub hook_budget_ms: u64,
    /// Deliver-hook time given back to a stream per second it is open, in
    /// milliseconds (the default 100: a stream may keep a tenth of a plugin
    /// thread busy).
    pub hook_budget_refill_ms_per_second: u64,
    /// The plugin threads' nice value, 0 to 19 (Linux): how much lower
    /// their CPU priority is than the HTTP workers' and the hub's. 0 (the
    /// default) runs them at the process's priority; a higher value gives
    /// spinning hooks only the CPU that deliveries leave over, but slows
    /// every tenant's hooks alike (measured in docs/benchmarks.md: no gain
    /// for the tenant next to an attacker on two cores).
    pub thread_nice: i32,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            deadline_ms: 5,
            warmup_ms: 100,
            max_wall_ms: 1000,
            memory_limit_mib: 16,
            fuel: 0,
            max_component_bytes: 8 * 1024 * 1024,
            max_instances: 1000,
            max_cached_plugins: 256,
            max_idle_instances: 256,
            max_idle_instances_per_tenant: 32,
            compile_timeout_ms: 20_000,
            max_functions: 50_000,
            max_function_bytes: 1024 * 1024,
            cache_ms: 2000,
            workers: 0,
            max_workers_per_tenant: 0,
            max_queued_per_tenant: 1024,
            hook_budget_ms: 2000,
            hook_budget_refill_ms_per_second: 100,
            thread_nice: 0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: TlsConfig::default(),
            database_url: "sqlite://./herald.db".into(),
            database_pool: DatabasePoolConfig::default(),
            operator_key: None,
            operator_key_file: None,
            secrets_key: None,
            workers: 0,
            log_format: LogFormat::Text,
            shutdown_timeout_seconds: 10,
            drain_window_ms: 5000,
            key_cache_seconds: 5,
            trusted_proxies: Vec::new(),
            bus: None,
            nats_subject: "herald.commits".into(),
            poll_interval_ms: 1000,
            stream: StreamConfig::default(),
            poll: PollConfig::default(),
            limits: LimitsConfig::default(),
            retention: RetentionConfig::default(),
            plugins: PluginsConfig::default(),
            email: EmailConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

/// The email fallback for direct notifications not received live. Without
/// `smtp_url`, Herald sends no email and channels cannot have an email
/// policy. `HERALD_SMTP_URL` and `HERALD_SMTP_FROM` are accepted as
/// aliases of `HERALD_EMAIL__SMTP_URL` and `HERALD_EMAIL__FROM`, which win
/// when both are set.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `smtp://user:password@host:port?tls=starttls|implicit|none` or
    /// `smtps://…`; see `herald_email::SmtpSettings`. To keep the password
    /// out of the URL, name only the user (`smtp://user@host…`) and set
    /// `smtp_password`.
    pub smtp_url: Option<SecretUrl>,
    /// The SMTP password of the user in `smtp_url`, when the URL holds
    /// none: in the clear, or sealed with `secrets_key` as `herald seal`
    /// prints it (`sealed:v1:…`; `printf %s "$PASSWORD" | herald seal`),
    /// so that the configuration holds nothing usable without the key. A
    /// sealed password that `secrets_key` does not open stops the start.
    pub smtp_password: Option<SecretString>,
    /// The `From` of every email: `Herald <noreply@example.com>` or a bare
    /// address. Required with `smtp_url`.
    pub from: Option<String>,
    /// This server's address as recipients reach it, for unsubscribe links
    /// (`{public_url}/v1/unsubscribe/{token}`). Required with `smtp_url`.
    pub public_url: Option<String>,
    /// Key of unsubscribe links, at least 32 bytes. Unset: one is generated
    /// on first start and stored in the database, so every node agrees.
    /// Changing it invalidates the links in emails already sent.
    pub unsubscribe_secret: Option<SecretString>,
    /// Attempts per email before it is given up as failed.
    pub max_attempts: u32,
    /// Milliseconds between looks at the outbox for due emails.
    pub poll_interval_ms: u64,
    /// Milliseconds before retrying after a first transient failure;
    /// doubled after each further one.
    pub retry_base_ms: u64,
    /// Longest wait between attempts, in milliseconds.
    pub retry_max_ms: u64,
    /// Bound of one SMTP send (connection and each command), in seconds.
    pub timeout_seconds: u64,
    /// Emails claimed per look at the outbox.
    pub batch: u64,
    /// Emails sent at once by this node.
    pub concurrency: usize,
    /// How long delivery log entries and finished outbox rows are kept, in seconds.
    pub keep_records_seconds: u64,
    /// Emails a tenant may be sent in 24 hours when the operator set no
    /// `emails_per_day` quota for it; emails over it are not sent and are
    /// logged as failed. 0: no cap.
    pub default_daily_cap: u32,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_password: None,
            from: None,
            public_url: None,
            unsubscribe_secret: None,
            max_attempts: 5,
            poll_interval_ms: 1000,
            retry_base_ms: 60_000,
            retry_max_ms: 3_600_000,
            timeout_seconds: 30,
            batch: 100,
            concurrency: 4,
            keep_records_seconds: 7 * 24 * 3600,
            default_daily_cap: 10_000,
        }
    }
}

/// A list given as a list (TOML) or as one comma-separated string (an
/// environment variable: `HERALD_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1`).
fn comma_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    Ok(match List::deserialize(d)? {
        List::One(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        List::Many(v) => v,
    })
}

/// Maps the alias `HERALD_SMTP_URL` to `email.smtp_url` and
/// `HERALD_SMTP_FROM` to `email.from`.
fn smtp_alias(key: &UncasedStr) -> Uncased<'_> {
    if key == "HERALD_SMTP_URL" { Uncased::from("email.smtp_url") } else { Uncased::from("email.from") }
}

/// What the email settings amount to, checked.
#[derive(Debug, Clone)]
pub struct EmailSending {
    pub smtp: herald_email::SmtpSettings,
    /// Without a trailing slash.
    pub public_url: String,
}

impl EmailConfig {
    /// The SMTP settings and public URL when email is on, `None` when
    /// `smtp_url` is unset; an error names the setting at fault.
    /// `secrets_key` opens a sealed `smtp_password`.
    pub fn sending(&self, secrets_key: Option<&SecretString>) -> Result<Option<EmailSending>, ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let Some(url) = &self.smtp_url else {
            if self.smtp_password.is_some() {
                return bad("email.smtp_password is set without email.smtp_url".into());
            }
            return Ok(None);
        };
        let url = match &self.smtp_password {
            None => url.clone(),
            Some(password) => with_password(url, &crate::seal::open(password, secrets_key, "email.smtp_password")?)?,
        };
        let Some(from) = &self.from else {
            return bad("email.from (HERALD_EMAIL__FROM or HERALD_SMTP_FROM) is required with email.smtp_url".into());
        };
        let Some(public_url) = &self.public_url else {
            return bad(
                "email.public_url (HERALD_EMAIL__PUBLIC_URL) is required with email.smtp_url: emails carry unsubscribe links to it".into(),
            );
        };
        let public_url = public_url.trim_end_matches('/');
        let parsed = url::Url::parse(public_url).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.query().is_none()
                && u.fragment().is_none()
                && u.password().is_none()
        });
        if parsed.is_none() || public_url.bytes().any(|b| !b.is_ascii_graphic()) {
            return bad(format!("email.public_url `{public_url}` must be an absolute http(s) URL without query or fragment"));
        }
        let smtp = herald_email::SmtpSettings::parse(url.expose(), from, Duration::from_secs(self.timeout_seconds.max(1)))
            .map_err(|e| ConfigError::Invalid(format!("email: {e}")))?;
        Ok(Some(EmailSending { smtp, public_url: public_url.to_owned() }))
    }

    fn validate(&self, secrets_key: Option<&SecretString>) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.max_attempts == 0
            || self.poll_interval_ms == 0
            || self.retry_base_ms == 0
            || self.timeout_seconds == 0
            || self.batch == 0
            || self.concurrency == 0
            || self.keep_records_seconds == 0
        {
            return bad(
                "email: max_attempts, poll_interval_ms, retry_base_ms, timeout_seconds, batch, concurrency and keep_records_seconds must be at least 1",
            );
        }
        if self.retry_max_ms < self.retry_base_ms {
            return bad("email.retry_max_ms must be at least email.retry_base_ms");
        }
        if self.unsubscribe_secret.as_ref().is_some_and(|s| s.expose().len() < herald_email::UnsubscribeSigner::MIN_KEY_LEN) {
            return bad("email.unsubscribe_secret must be at least 32 bytes");
        }
        self.sending(secrets_key)?;
        Ok(())
    }
}

/// `url` with `password` in its user info, for `email.smtp_password`: the
/// URL must name a user and hold no password of its own.
fn with_password(url: &SecretUrl, password: &SecretString) -> Result<SecretUrl, ConfigError> {
    let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
    let Ok(mut parsed) = url::Url::parse(url.expose()) else {
        return bad("email.smtp_url is not a URL");
    };
    if parsed.password().is_some() {
        return bad("email.smtp_url holds a password and email.smtp_password is set: keep the password in one of them");
    }
    if parsed.username().is_empty() {
        return bad("email.smtp_password needs a user name in email.smtp_url (smtp://user@host…)");
    }
    // Encoded whole: the SMTP settings decode user info, and `%` would
    // otherwise be read as an escape.
    let encoded = percent_encoding::utf8_percent_encode(password.expose(), percent_encoding::NON_ALPHANUMERIC).to_string();
    if parsed.set_password(Some(&encoded)).is_err() {
        return bad("email.smtp_url cannot take a password");
    }
    Ok(SecretUrl::from(String::from(parsed)))
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            heartbeat_seconds: 15,
            retry_ms: 3000,
            subscriber_queue: 4096,
            replay_page: 500,
            recent_history_kib_per_tenant: 4096,
            recent_history_kib_total: 262_144,
            recent_history_keep_seconds: 120,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            max_data_bytes: 64 * 1024,
            max_batch: 1000,
            publish_queue: 16 * 1024,
            max_connections_per_ip: 10_000,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { interval_seconds: 60, default_max_count: Some(100_000), default_max_age_seconds: Some(7 * 24 * 3600) }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The bus a configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusChoice {
    None,
    Postgres,
    Nats(String),
}

impl Config {
    fn is_postgres(&self) -> bool {
        let url = self.database_url.expose();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// The bus to use, after defaulting by database.
    /// `trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<herald_server::TrustedProxies, ConfigError> {
        herald_server::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| ConfigError::Invalid(format!("trusted_proxies (HERALD_TRUSTED_PROXIES): {e}")))
    }

    /// Where a generated operator key is written: `operator_key_file`, or
    /// `operator-key` beside the SQLite file (`./operator-key` otherwise).
    pub fn operator_key_path(&self) -> std::path::PathBuf {
        if let Some(path) = &self.operator_key_file {
            return path.clone();
        }
        let url = self.database_url.expose();
        let file = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).map(|rest| rest.split('?').next().unwrap_or(rest));
        match file.map(Path::new).and_then(Path::parent) {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join("operator-key"),
            _ => std::path::PathBuf::from("operator-key"),
        }
    }

    pub fn bus_choice(&self) -> Result<BusChoice, ConfigError> {
        match self.bus.as_ref().map(SecretUrl::expose) {
            None if self.is_postgres() => Ok(BusChoice::Postgres),
            None | Some("none") => Ok(BusChoice::None),
            Some("postgres") if self.is_postgres() => Ok(BusChoice::Postgres),
            Some("postgres") => Err(ConfigError::Invalid("bus `postgres` needs a PostgreSQL database_url".into())),
            Some(url) if url.starts_with("nats://") => Ok(BusChoice::Nats(url.to_owned())),
            Some(other) => {
                Err(ConfigError::Invalid(format!("bus `{}`: use none, postgres or nats://host:port", crate::redact::url(other))))
            }
        }
    }

    /// Defaults, then `file` (if given), then `HERALD_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!("config file {} does not exist", file.display())));
            }
            fig = fig.merge(Toml::file(file));
        }
        // HERALD_CONFIG names the file, HERALD_TOKEN_SECRET feeds `herald
        // token` and HERALD_BUILD_COMMIT(_DATE) the build (build.rs); none
        // is a server setting.
        // HERALD_SMTP_URL and HERALD_SMTP_FROM are aliases of the email
        // settings; the nested names below win over them.
        fig = fig.merge(Env::raw().only(&["HERALD_SMTP_URL", "HERALD_SMTP_FROM"]).map(smtp_alias));
        fig = fig.merge(
            Env::prefixed("HERALD_")
                .ignore(&["config", "token_secret", "smtp_url", "smtp_from", "build_commit", "build_commit_date"])
                .split("__"),
        );
        fig.extract().map_err(|e| ConfigError::Load(Box::new(e)))
    }

    /// Fails fast, naming the setting, on values Herald cannot run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let database_url = self.database_url.expose();
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return bad("database_url must start with sqlite: or postgres://");
        }
        if self.operator_key.as_ref().is_some_and(|k| k.expose().len() < 16) {
            return bad("operator_key (HERALD_OPERATOR_KEY) must be at least 16 characters");
        }
        if self.secrets_key.as_ref().is_some_and(|k| k.expose().len() < MIN_SECRETS_KEY_LEN) {
            return bad("secrets_key (HERALD_SECRETS_KEY) must be at least 32 characters");
        }
        if self.stream.heartbeat_seconds == 0 {
            return bad("stream.heartbeat_seconds must be at least 1");
        }
        if self.stream.subscriber_queue == 0 || self.stream.replay_page == 0 {
            return bad("stream.subscriber_queue and stream.replay_page must be at least 1");
        }
        if self.limits.max_body_bytes < 1024
            || self.limits.max_data_bytes == 0
            || self.limits.max_batch == 0
            || self.limits.publish_queue == 0
        {
            return bad("limits: max_body_bytes must be at least 1024; max_data_bytes, max_batch and publish_queue at least 1");
        }
        if self.stream.subscriber_queue < 2 * self.limits.max_batch {
            return bad("stream.subscriber_queue must be at least twice limits.max_batch (one commit is queued at once)");
        }
        if self.drain_window_ms >= self.shutdown_timeout_seconds.saturating_mul(1000) {
            return bad("drain_window_ms must be less than shutdown_timeout_seconds (streams are closed within the shutdown's time)");
        }
        self.bus_choice()?;
        self.trusted_proxies()?;
        self.tls.files()?;
        if self.poll_interval_ms == 0 || self.nats_subject.is_empty() {
            return bad("poll_interval_ms must be at least 1 and nats_subject not empty");
        }
        if self.retention.interval_seconds == 0 {
            return bad("retention.interval_seconds must be at least 1");
        }
        let defaults = herald_core::retention::Retention {
            max_count: self.retention.default_max_count,
            max_age_seconds: self.retention.default_max_age_seconds,
        };
        defaults.validate().map_err(|e| ConfigError::Invalid(format!("retention defaults: {e}")))?;
        if !(1..=300).contains(&self.poll.max_wait_seconds) || !(1..=1000).contains(&self.poll.max_limit) {
            return bad("poll: max_wait_seconds must be 1 to 300 and max_limit 1 to 1000");
        }
        let pool = &self.database_pool;
        if pool.acquire_timeout_seconds == 0 || (pool.max_connections > 0 && pool.min_connections > pool.max_connections) {
            return bad("database_pool: acquire_timeout_seconds must be at least 1 and min_connections at most max_connections");
        }
        let p = &self.plugins;
        if !(1..=herald_core::limits::MAX_PLUGIN_DEADLINE_MS).contains(&p.deadline_ms)
            || !(1..=herald_core::limits::MAX_PLUGIN_DEADLINE_MS).contains(&p.warmup_ms)
            || !(1..=60_000).contains(&p.max_wall_ms)
            || p.memory_limit_mib == 0
            || p.max_component_bytes == 0
            || p.max_instances == 0
        {
            return bad(
                "plugins: deadline_ms and warmup_ms must be 1 to 1000, max_wall_ms 1 to 60000; memory_limit_mib, max_component_bytes and max_instances at least 1",
            );
        }
        if p.max_cached_plugins == 0 || !(1..=600_000).contains(&p.compile_timeout_ms) || p.max_functions == 0 || p.max_function_bytes == 0
        {
            return bad(
                "plugins: max_cached_plugins, max_functions and max_function_bytes must be at least 1, compile_timeout_ms 1 to 600000",
            );
        }
        if p.max_queued_per_tenant == 0
            || p.hook_budget_ms == 0
            || !(0..=19).contains(&p.thread_nice)
            || (p.workers > 0 && p.max_workers_per_tenant > p.workers)
        {
            return bad(
                "plugins: max_queued_per_tenant and hook_budget_ms must be at least 1, thread_nice 0 to 19, max_workers_per_tenant at most workers",
            );
        }
        self.email.validate(self.secrets_key.as_ref())?;
        Ok(())
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.stream.heartbeat_seconds)
    }

    /// What the hub keeps of recent history.
    pub fn recent_history(&self) -> HistoryLimits {
        HistoryLimits {
            tenant_bytes: self.stream.recent_history_kib_per_tenant.saturating_mul(1024),
            total_bytes: self.stream.recent_history_kib_total.saturating_mul(1024),
            keep: Duration::from_secs(self.stream.recent_history_keep_seconds),
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_ones() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url.expose(), "sqlite://./herald.db");
    }

    #[test]
    fn file_then_env_layering() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("h.toml", "listen = \"127.0.0.1:9000\"\n[stream]\nheartbeat_seconds = 5\n")?;
            jail.set_env("HERALD_DATABASE_URL", "sqlite://./x.db");
            jail.set_env("HERALD_STREAM__RETRY_MS", "100");
            let c = Config::load(Some(Path::new("h.toml"))).unwrap();
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.stream.heartbeat_seconds, 5);
            assert_eq!(c.stream.retry_ms, 100);
            assert_eq!(c.database_url.expose(), "sqlite://./x.db");
            Ok(())
        });
    }

    #[test]
    fn tls_files_from_the_environment_both_or_neither() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(Config::load(None).unwrap().tls.files().unwrap(), None);
            jail.set_env("HERALD_TLS__CERT_FILE", "/etc/herald/cert.pem");
            let err = Config::load(None).unwrap().validate().unwrap_err().to_string();
            assert!(err.contains("tls.cert_file is set without tls.key_file"), "{err}");
            jail.set_env("HERALD_TLS__KEY_FILE", "/etc/herald/key.pem");
            let c = Config::load(None).unwrap();
            c.validate().unwrap();
            let files = c.tls.files().unwrap().unwrap();
            assert_eq!((files.cert.to_str(), files.key.to_str()), (Some("/etc/herald/cert.pem"), Some("/etc/herald/key.pem")));
            jail.create_file("h.toml", "[tls]\nkey_file = \"k.pem\"\n")?;
            jail.clear_env();
            let err = Config::load(Some(Path::new("h.toml"))).unwrap().validate().unwrap_err().to_string();
            assert!(err.contains("tls.key_file is set without tls.cert_file"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_from_a_list_or_a_comma_separated_variable() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("h.toml", "trusted_proxies = [\"10.0.0.0/8\"]\n")?;
            assert_eq!(Config::load(Some(Path::new("h.toml"))).unwrap().trusted_proxies, ["10.0.0.0/8"]);
            jail.set_env("HERALD_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,fd00::/8");
            let c = Config::load(None).unwrap();
            assert_eq!(c.trusted_proxies, ["10.0.0.0/8", "127.0.0.1", "fd00::/8"]);
            c.validate().unwrap();
            jail.set_env("HERALD_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local");
            let err = Config::load(None).unwrap().validate().unwrap_err().to_string();
            assert!(err.contains("trusted_proxies") && err.contains("proxy.local"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_generated_operator_key_goes_beside_the_sqlite_file() {
        let mut c = Config { database_url: "sqlite:///var/lib/herald/herald.db?mode=rwc".into(), ..Config::default() };
        assert_eq!(c.operator_key_path(), Path::new("/var/lib/herald/operator-key"));
        c.database_url = "sqlite://./herald.db".into();
        assert_eq!(c.operator_key_path(), Path::new("./operator-key"));
        c.database_url = "postgres://db/herald".into();
        assert_eq!(c.operator_key_path(), Path::new("operator-key"));
        c.operator_key_file = Some("/run/secrets/herald-operator-key".into());
        assert_eq!(c.operator_key_path(), Path::new("/run/secrets/herald-operator-key"));
    }

    #[test]
    fn pool_lifetime_defaults_by_backend_and_zero_means_never() {
        let mut c = Config::default();
        let sqlite = c.database_pool.settings("sqlite://./h.db");
        assert_eq!(sqlite.max_lifetime, None);
        assert_eq!(sqlite.max_connections, None);
        assert_eq!(sqlite.idle_timeout, Some(Duration::from_secs(600)));
        let pg = c.database_pool.settings("postgres://db/h");
        assert_eq!(pg.max_lifetime, Some(Duration::from_secs(1800)));
        c.database_pool.max_lifetime_seconds = Some(0);
        c.database_pool.idle_timeout_seconds = 0;
        c.database_pool.max_connections = 4;
        let never = c.database_pool.settings("postgres://db/h");
        assert_eq!((never.max_lifetime, never.idle_timeout, never.max_connections), (None, None, Some(4)));
        c.database_pool.max_lifetime_seconds = Some(120);
        assert_eq!(c.database_pool.settings("sqlite://./h.db").max_lifetime, Some(Duration::from_secs(120)));
        c.validate().unwrap();
        c.database_pool.min_connections = 5;
        assert!(c.validate().is_err(), "min above max");
        c.database_pool.min_connections = 1;
        c.database_pool.acquire_timeout_seconds = 0;
        assert!(c.validate().is_err(), "no wait at all");
    }

    #[test]
    fn plugin_limits_are_range_checked() {
        let mut c = Config::default();
        assert_eq!((c.plugins.deadline_ms, c.plugins.max_wall_ms), (5, 1000));
        c.plugins.max_wall_ms = 60_000;
        c.validate().unwrap();
        c.plugins.max_wall_ms = 0;
        assert!(c.validate().is_err(), "no wall time at all");
        c.plugins.max_wall_ms = 60_001;
        assert!(c.validate().is_err(), "a minute at most");
        c.plugins.max_wall_ms = 1000;
        c.plugins.deadline_ms = 1001;
        assert!(c.validate().is_err(), "deadline over a second");
    }

    #[test]
    fn pool_settings_from_env() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HERALD_DATABASE_POOL__MAX_LIFETIME_SECONDS", "90");
            jail.set_env("HERALD_DATABASE_POOL__MAX_CONNECTIONS", "3");
            let c = Config::load(None).unwrap();
            assert_eq!(c.database_pool.max_lifetime_seconds, Some(90));
            assert_eq!(c.database_pool.max_connections, 3);
            Ok(())
        });
    }

    #[test]
    fn email_settings_and_the_smtp_aliases() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HERALD_SMTP_URL", "smtp://127.0.0.1:2525?tls=none");
            jail.set_env("HERALD_SMTP_FROM", "Herald <noreply@example.com>");
            jail.set_env("HERALD_EMAIL__PUBLIC_URL", "https://herald.example.com/");
            let c = Config::load(None).unwrap();
            c.validate().unwrap();
            assert_eq!(c.email.smtp_url.as_ref().map(SecretUrl::expose), Some("smtp://127.0.0.1:2525?tls=none"));
            let sending = c.email.sending(None).unwrap().unwrap();
            assert_eq!((sending.smtp.port(), sending.public_url.as_str()), (2525, "https://herald.example.com"));
            // The nested name wins over the alias.
            jail.set_env("HERALD_EMAIL__FROM", "other@example.com");
            assert_eq!(Config::load(None).unwrap().email.from.as_deref(), Some("other@example.com"));
            Ok(())
        });
        assert!(Config::default().email.sending(None).unwrap().is_none(), "no SMTP URL, no email");

        let check = |change: fn(&mut EmailConfig)| {
            let mut c = Config::default();
            c.email.smtp_url = Some("smtp://127.0.0.1:2525?tls=none".into());
            c.email.from = Some("noreply@example.com".into());
            c.email.public_url = Some("https://herald.example.com".into());
            change(&mut c.email);
            c.validate().err().map(|e| e.to_string())
        };
        assert_eq!(check(|_| {}), None);
        for (change, needle) in [
            ((|e| e.from = None) as fn(&mut EmailConfig), "email.from"),
            (|e| e.public_url = None, "email.public_url"),
            (|e| e.public_url = Some("herald.example.com".into()), "email.public_url"),
            (|e| e.public_url = Some("https://h.example/?a=1".into()), "email.public_url"),
            (|e| e.smtp_url = Some("http://mail.example.com".into()), "scheme `http`"),
            (|e| e.from = Some("not an address".into()), "from address"),
            (|e| e.unsubscribe_secret = Some("short".into()), "unsubscribe_secret"),
            (|e| e.max_attempts = 0, "max_attempts"),
            (|e| e.retry_max_ms = 1, "retry_max_ms"),
        ] {
            let err = check(change).expect("refused");
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
        // Debug output never shows the SMTP password.
        let e = EmailConfig { smtp_url: Some("smtp://bob:hunter2@mail.example.com".into()), ..EmailConfig::default() };
        assert!(!format!("{e:?}").contains("hunter2"));
    }

    /// The configuration as the server would print it, with every secret set.
    #[test]
    fn debug_output_shows_no_secret() {
        let c = Config {
            database_url: "postgres://herald:db-password-1@db.example/herald".into(),
            operator_key: Some("hop_operator-key-value".into()),
            secrets_key: Some("secrets-key-value-of-32-characters!!".into()),
            bus: Some("nats://nats-user:nats-password-1@nats.example:4222".into()),
            email: EmailConfig {
                smtp_url: Some("smtp://bob:smtp-password-1@mail.example.com".into()),
                smtp_password: Some("smtp-password-2".into()),
                unsubscribe_secret: Some("unsubscribe-secret-value".into()),
                ..EmailConfig::default()
            },
            ..Config::default()
        };
        let shown = format!("{c:?} {c:#?}");
        for secret in [
            "db-password-1",
            "hop_operator-key-value",
            "secrets-key-value",
            "nats-password-1",
            "smtp-password-1",
            "smtp-password-2",
            "unsubscribe-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        // What is not secret still shows.
        assert!(shown.contains("postgres://herald:***@db.example/herald"), "{shown}");
        assert!(shown.contains("nats-user") && shown.contains("mail.example.com"), "{shown}");
        // And a bad bus is named without its password.
        let err = Config { bus: Some("tls://u:nats-password-1@h".into()), ..Config::default() }.validate().unwrap_err().to_string();
        assert!(err.contains("tls://u:***@h") && !err.contains("nats-password-1"), "{err}");
    }

    fn smtp_with_password(url: &str, password: Option<&str>, secrets_key: Option<&str>) -> Result<Option<EmailSending>, ConfigError> {
        let mut c = Config::default();
        c.email.smtp_url = Some(url.into());
        c.email.smtp_password = password.map(Into::into);
        c.email.from = Some("noreply@example.com".into());
        c.email.public_url = Some("https://herald.example.com".into());
        c.secrets_key = secrets_key.map(Into::into);
        c.validate()?;
        c.email.sending(c.secrets_key.as_ref())
    }

    #[test]
    fn the_smtp_password_set_apart_in_the_clear_or_sealed() {
        const KEY: &str = "a-secrets-key-of-at-least-32-characters";
        let creds = |r: Result<Option<EmailSending>, ConfigError>| {
            let s = r.unwrap().unwrap();
            format!("{:?}", s.smtp.credentials()).replace("<redacted>", "")
        };
        // In the clear, with characters a URL would read otherwise: the
        // settings get it exactly (they show the user only).
        let plain = smtp_with_password("smtp://bob@127.0.0.1:2525?tls=none", Some("p%41ss:w/rd@ é"), None);
        assert!(creds(plain).contains("\"bob\""));
        let with = |password: &str| {
            let mut e = EmailConfig { smtp_url: Some("smtp://bob@h.example".into()), ..EmailConfig::default() };
            e.smtp_password = Some(password.into());
            with_password(e.smtp_url.as_ref().unwrap(), e.smtp_password.as_ref().unwrap()).unwrap()
        };
        let url = with("p%41ss:w/rd@ é");
        let parsed = url::Url::parse(url.expose()).unwrap();
        let decoded = percent_encoding::percent_decode_str(parsed.password().unwrap()).decode_utf8().unwrap();
        assert_eq!(decoded, "p%41ss:w/rd@ é");

        // Sealed, opened with the key it was sealed with.
        let sealed = crate::seal::seal(&KEY.into(), "hunter2");
        assert!(creds(smtp_with_password("smtp://bob@127.0.0.1:2525?tls=none", Some(&sealed), Some(KEY))).contains("bob"));

        // Refusals name the setting and never show the password.
        for (url, password, key, needle) in [
            ("smtp://bob@h.example", Some(sealed.as_str()), None, "set secrets_key"),
            (
                "smtp://bob@h.example",
                Some(sealed.as_str()),
                Some("another-secrets-key-of-32-characters"),
                "does not open with this secrets_key",
            ),
            ("smtp://bob:hunter2@h.example", Some("hunter2"), None, "keep the password in one of them"),
            ("smtp://h.example", Some("hunter2"), None, "needs a user name"),
        ] {
            let err = smtp_with_password(url, password, key).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should say {needle}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let mut c = Config::default();
        c.email.smtp_password = Some("hunter2".into());
        assert!(c.validate().unwrap_err().to_string().contains("without email.smtp_url"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("h.toml", "listn = \"127.0.0.1:9000\"\n")?;
            assert!(Config::load(Some(Path::new("h.toml"))).is_err());
            Ok(())
        });
        let c = Config { operator_key: Some("short".into()), ..Config::default() };
        assert!(c.validate().is_err());
    }
}
