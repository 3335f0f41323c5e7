//! The Herald binary's library half: configuration, the CLI, and `run`,
//! which wires the store, the publisher, the hub and the HTTP server.
//! `main.rs` only parses arguments and calls into here.

#![forbid(unsafe_code)]

pub mod build_info;
pub mod cli;
pub mod config;
pub mod config_reference;
pub mod logging;
pub mod operator_key_cmd;
pub mod redact;
pub mod seal;
pub mod token_cmd;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald_app::delivery::HookBudget;
use herald_app::plugin_workers::{PluginWorkers, WorkerSettings};
use herald_app::tasks::{Supervisor, until_cancelled};
use herald_app::{
    AllowedOrigins, App, AppParts, Chains, DeliveryStage, EmailOutbox, Limits, Metrics, MetricsSettings, OutboxSettings, PollSettings,
    Settings, StreamSettings, Tracker, Usage, UsageSettings,
};
use herald_core::cluster::Bus;
use herald_core::retention::Retention;
use herald_core::secret;
use herald_email::{Mailer, UnsubscribeSigner};
use herald_hub::Hub;
use herald_hub::relay::{AnnounceObserver, Relay, RelayConfig, Stage, StageObserver};
use herald_plugins::{CallObserver, HostConfig, PluginHost};
use herald_server::ServeOptions;
use herald_server::tls::{self, Tls};
use herald_store::Store;
use herald_store::publish::Publisher;

pub use config::{BusChoice, Config};
pub use herald_app::tasks::CancellationToken;

/// Connects the configured bus between nodes.
async fn connect_bus(config: &Config, store: &Store) -> anyhow::Result<Option<Arc<dyn Bus>>> {
    Ok(match config.bus_choice()? {
        BusChoice::None => None,
        BusChoice::Postgres => Some(Arc::new(herald_store::pg_bus::PgBus::new(store.clone())?)),
        BusChoice::Nats(url) => Some(Arc::new(
            herald_bus_nats::NatsBus::connect(&url, &config.nats_subject)
                .await
                .map_err(|e| anyhow::anyhow!("connecting to NATS at {}: {e}", redact::url(&url)))?,
        )),
    })
}

/// Connects to the database and applies pending migrations.
pub async fn open_store(database_url: &str, key_cache: Duration, pool: &herald_store::PoolSettings) -> anyhow::Result<Store> {
    let shown = redact::url(database_url);
    // Refused here, where the URL is shown without its password.
    if !["sqlite:", "postgres://", "postgresql://"].iter().any(|p| database_url.starts_with(p)) {
        anyhow::bail!("unsupported database URL `{shown}`: use sqlite://PATH or postgres://…");
    }
    let store = Store::connect_pooled(database_url, key_cache, pool).await.with_context(|| format!("opening the database {shown}"))?;
    store.migrate().await.context("applying database migrations")?;
    Ok(store)
}

/// How often a node reloads which channels have an email policy (changes
/// made through the node itself apply at once).
const EMAIL_CHANNELS_REFRESH: Duration = Duration::from_secs(2);

/// The email fallback, as the application layer sees it.
struct Email {
    tracker: Tracker,
    unsubscribe: UnsubscribeSigner,
    sending: bool,
}

/// The email fallback: the unsubscribe key (from the configuration, or
/// generated once and kept in the database so that all nodes agree), the
/// delivery tracker, and, when SMTP is configured, the outbox worker; both
/// tasks supervised.
async fn start_email(config: &Config, store: &Store, tasks: &mut Supervisor, metrics: &Metrics) -> anyhow::Result<Email> {
    let key = match &config.email.unsubscribe_secret {
        Some(key) => key.expose().to_owned(),
        None => store.server_secret("unsubscribe", || secret::generate("hus")).await.context("reading the unsubscribe key")?,
    };
    let unsubscribe = UnsubscribeSigner::new(key.as_bytes()).map_err(|e| anyhow::anyhow!("email.unsubscribe_secret: {e}"))?;
    let (tracker, tracker_task) =
        Tracker::start(store.clone(), EMAIL_CHANNELS_REFRESH).await.context("loading the channels with an email policy")?;
    tasks.restartable("delivery tracker", move |stop| tracker_task.clone().run(stop));
    let sending = config.email.sending(config.secrets_key.as_ref())?;
    if let Some(sending) = &sending {
        let mailer = Mailer::new(&sending.smtp).map_err(|e| anyhow::anyhow!("email: {e}"))?;
        let e = &config.email;
        let settings = OutboxSettings {
            public_url: sending.public_url.clone(),
            max_attempts: e.max_attempts,
            poll_interval: Duration::from_millis(e.poll_interval_ms),
            retry_base: Duration::from_millis(e.retry_base_ms),
            retry_max: Duration::from_millis(e.retry_max_ms),
            batch: e.batch,
            concurrency: e.concurrency,
            // Longer than any send: another node takes over only a claim
            // whose worker is gone.
            lease: 2 * sending.smtp.timeout() + Duration::from_secs(30),
            keep_records: Duration::from_secs(e.keep_records_seconds),
            default_daily_cap: (e.default_daily_cap > 0).then_some(e.default_daily_cap),
        };
        tracing::info!(smtp_host = sending.smtp.host(), smtp_port = sending.smtp.port(), tls = %sending.smtp.tls(), "email fallback on");
        let outbox = Arc::new(EmailOutbox::new(store.clone(), mailer, unsubscribe.clone(), settings, metrics.clone()));
        // It finishes the pass in progress when told to stop: what it
        // claimed is sent and recorded; the rest stays in the outbox.
        tasks.restartable("email worker", move |stop| outbox.clone().run(stop));
    }
    Ok(Email { tracker, unsubscribe, sending: sending.is_some() })
}

/// How often a node recounts a tenant's stored notifications for the
/// `max_stored_notifications` quota (its own publishes are added in
/// between; other nodes' publishes and retention show up at the recount).
const STORED_COUNT_REFRESH: Duration = Duration::from_secs(2);

/// This node's usage registry and quota checks, with its rate sampler.
fn start_usage(config: &Config, store: &Store, tasks: &mut Supervisor) -> Usage {
    let usage = Usage::new(
        store.clone(),
        UsageSettings {
            // Like allowed origins: other nodes see a change within this.
            quota_ttl: Duration::from_secs(config.key_cache_seconds),
            stored_refresh: STORED_COUNT_REFRESH,
            retention_interval: Duration::from_secs(config.retention.interval_seconds),
            max_connections_per_ip: config.limits.max_connections_per_ip,
        },
    );
    let sampler = usage.clone();
    tasks.restartable("usage sampler", move |stop| until_cancelled(stop, sampler.clone().run_sampler()));
    usage
}

/// The listener's TLS, loaded and checked before anything else starts: a
/// certificate that does not load stops the start, naming its file.
fn load_tls(config: &Config) -> anyhow::Result<Option<Arc<Tls>>> {
    let Some(files) = config.tls.files()? else { return Ok(None) };
    let tls = Tls::load(files).context("loading the TLS certificate (tls.cert_file, tls.key_file)")?;
    tls::log_loaded("serving TLS, HTTP/2 and HTTP/1.1", "start", tls.files(), tls.summary().as_ref());
    Ok(Some(Arc::new(tls)))
}

/// Reloads the TLS certificate on SIGHUP (`systemctl reload`, a certbot
/// deploy hook) and when its files change. Without TLS a SIGHUP is only
/// logged, so that a reload or a hangup never stops the server.
/// Files are looked at every `check` (`None`: never).
async fn reload_tls(tls: Option<Arc<Tls>>, check: Option<Duration>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())
        .inspect_err(|e| tracing::error!(error = %e, "cannot listen for SIGHUP; the TLS certificate reloads only when its files change"))
        .ok();
    let mut check = tls.clone().zip(check).map(|(tls, every)| {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        (tls, interval)
    });
    loop {
        // `None` only when the runtime is going away.
        let signalled = async {
            match &mut hangup {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        let look = async {
            match &mut check {
                Some((tls, interval)) => {
                    interval.tick().await;
                    tls.clone()
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            signal = signalled => match (signal, &tls) {
                (None, _) => return,
                (Some(()), Some(tls)) => {
                    let tls = tls.clone();
                    // File reads and key parsing: off the runtime's threads.
                    let _ = tokio::task::spawn_blocking(move || tls.reload_and_log("SIGHUP")).await;
                }
                (Some(()), None) => tracing::info!("SIGHUP: nothing to reload (TLS is off)"),
            },
            tls = look => {
                let _ = tokio::task::spawn_blocking(move || tls.reload_if_changed()).await;
            }
        }
    }
}

/// Runs Herald on `listener` until `shutdown` is cancelled (or a critical
/// task fails), then stops every task: HTTP first (requests finish, streams
/// are drained), then the background tasks (the email worker finishes its
/// pass). Returns once every task has stopped.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    let grace = Duration::from_secs(config.shutdown_timeout_seconds);
    // Background tasks stop after HTTP: a request being finished may
    // still need the writer.
    let mut tasks = Supervisor::new(CancellationToken::new(), grace).stopping_with(shutdown.clone());
    let tasks_stop = tasks.token();
    let result = start(config, listener, shutdown.clone(), &mut tasks).await;
    let served = match result {
        Ok(server) => {
            let waiting = tasks.wait();
            tokio::pin!(waiting);
            tokio::select! {
                served = server => {
                    tasks_stop.cancel();
                    let stopped = waiting.await;
                    served.context("serving HTTP").and(stopped.map_err(anyhow::Error::from))
                }
                failed = &mut waiting => {
                    // A critical task died (the token is cancelled): stop
                    // serving too, rather than run on half-broken.
                    shutdown.cancel();
                    Err(failed.err().map_or_else(|| anyhow::anyhow!("every background task stopped"), anyhow::Error::from))
                }
            }
        }
        Err(e) => {
            tasks_stop.cancel();
            let _ = tasks.wait().await;
            Err(e)
        }
    };
    tracing::info!("herald stopped");
    served
}

/// Opens the store, starts every task under `tasks`, and returns the HTTP
/// server's future.
async fn start(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    tasks: &mut Supervisor,
) -> anyhow::Result<impl std::future::Future<Output = std::io::Result<()>> + use<>> {
    let tls = load_tls(&config)?;
    let reloading = tls.clone();
    let check = (config.tls.reload_check_seconds > 0).then(|| Duration::from_secs(config.tls.reload_check_seconds));
    tasks.restartable("TLS reload", move |stop| until_cancelled(stop, reload_tls(reloading.clone(), check)));
    let metrics = Metrics::new(MetricsSettings { enabled: config.metrics.enabled, tenant_labels: config.metrics.tenant_labels });
    let database_url = config.database_url.expose();
    let mut store =
        open_store(database_url, Duration::from_secs(config.key_cache_seconds), &config.database_pool.settings(database_url)).await?;
    // Before the store is cloned: clones keep the connection they were made with.
    store = store.with_query_observer({
        let metrics = metrics.clone();
        move |q| metrics.query(q.operation.as_str(), q.elapsed, q.failed)
    });
    if let Some(master) = &config.secrets_key {
        store = store.with_secrets_key(master.expose());
    }
    let sealed = store.seal_stored_secrets().await.context("checking the stored secrets against secrets_key")?;
    if sealed > 0 {
        tracing::info!(secrets = sealed, "sealed signing secrets and server secrets that were stored in the clear");
    }

    let operator_key_hash = config.operator_key.as_ref().map(|k| secret::hash(k.expose()));
    if operator_key_hash.is_none()
        && let Some(key) = store.bootstrap_operator_key().await?
    {
        hand_over_first_key(&config.operator_key_path(), &key)?;
    }

    let hub = Hub::with_history(config.stream.subscriber_queue, config.recent_history());
    // Heartbeats and token expiry for every live stream, from one timer.
    let (clock_hub, heartbeat) = (hub.clone(), config.heartbeat());
    tasks.restartable("hub clock", move |stop| until_cancelled(stop, clock_hub.clone().run_clock(heartbeat)));
    let bus = connect_bus(&config, &store).await?;
    let bus_name = bus.as_ref().map_or("none", |b| b.name());
    let relay_config = RelayConfig {
        poll_every: Duration::from_millis(config.poll_interval_ms),
        page: config.stream.replay_page,
        on_announce: Some(AnnounceObserver(Arc::new({
            let metrics = metrics.clone();
            move |elapsed, ok| metrics.bus_announce(elapsed, ok)
        }))),
        on_stage: Some(StageObserver(Arc::new({
            let metrics = metrics.clone();
            move |stage, took| {
                metrics.delivery_stage(
                    match stage {
                        Stage::Relay => DeliveryStage::Relay,
                        Stage::Fanout => DeliveryStage::Fanout,
                    },
                    took,
                )
            }
        }))),
    };
    let (relay, relay_task) = Relay::start(hub.clone(), Arc::new(store.clone()), bus, relay_config)
        .await
        .map_err(|e| anyhow::anyhow!("starting the relay: {e}"))?;
    tasks.critical("fan-out relay", |stop| watch(relay_task, stop));
    let relay_bus = relay.bus_state();
    // A commit hands all its notifications to a subscriber at once; half the
    // queue leaves a reader that is a little behind room for the next one.
    let max_group = config.stream.subscriber_queue / 2;
    let commit_timing = metrics.clone();
    let (publisher, writer_task) = Publisher::start_observed(
        store.clone(),
        Arc::new(move |batch| relay.committed(batch)),
        Some(Arc::new(move |took| commit_timing.delivery_stage(DeliveryStage::Commit, took))),
        config.limits.publish_queue,
        max_group,
    );
    tasks.critical("publish writer", |stop| watch(writer_task, stop));

    let defaults = Retention { max_count: config.retention.default_max_count, max_age_seconds: config.retention.default_max_age_seconds };
    let (retention_store, retention_every) = (store.clone(), Duration::from_secs(config.retention.interval_seconds));
    tasks.restartable("retention", move |stop| {
        until_cancelled(stop, herald_store::retention::run(retention_store.clone(), defaults, retention_every))
    });

    let host = PluginHost::new(HostConfig {
        max_component_bytes: config.plugins.max_component_bytes,
        memory_limit_bytes: config.plugins.memory_limit_mib * 1024 * 1024,
        default_deadline: Duration::from_millis(config.plugins.deadline_ms),
        warmup_deadline: Duration::from_millis(config.plugins.warmup_ms),
        max_wall_time: Duration::from_millis(config.plugins.max_wall_ms),
        fuel: (config.plugins.fuel > 0).then_some(config.plugins.fuel),
        max_instances: config.plugins.max_instances,
        max_cached_plugins: config.plugins.max_cached_plugins,
        // Half the pool at most: the rest is for calls in flight and uploads.
        max_idle_instances: config.plugins.max_idle_instances.min(config.plugins.max_instances as usize / 2),
        max_idle_instances_per_tenant: config.plugins.max_idle_instances_per_tenant,
        compile_timeout: Duration::from_millis(config.plugins.compile_timeout_ms),
        max_functions: config.plugins.max_functions,
        max_function_bytes: config.plugins.max_function_bytes,
        call_observer: Some(CallObserver(Arc::new({
            let metrics = metrics.clone();
            move |elapsed| metrics.plugin_call(elapsed)
        }))),
        ..HostConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("starting the plugin host: {e}"))?;
    let workers = PluginWorkers::start(plugin_worker_settings(&config.plugins), tokio::runtime::Handle::current())
        .context("starting the plugin threads")?;
    let stopper = workers.clone();
    tasks.restartable("plugin threads", move |stop| {
        let workers = stopper.clone();
        async move {
            stop.cancelled().await;
            // Hook jobs still queued (a hostile tenant's thousands) are
            // dropped rather than run through the grace period.
            workers.stop();
        }
    });
    let chains = Chains::new(host, workers, store.clone(), Duration::from_millis(config.plugins.cache_ms), metrics.clone());

    let email = start_email(&config, &store, tasks, &metrics).await?;
    // Suspended tenants' streams on this node, closed within the key-cache
    // lifetime of a suspension made through another node.
    let (sweep_store, sweep_hub, sweep_every) = (store.clone(), hub.clone(), Duration::from_secs(config.key_cache_seconds));
    tasks.restartable("suspension sweep", move |stop| {
        until_cancelled(stop, herald_app::close_suspended_streams(sweep_store.clone(), sweep_hub.clone(), sweep_every))
    });

    let app = App::new(AppParts {
        metrics,
        bus: relay_bus,
        store: store.clone(),
        hub,
        publisher,
        chains,
        origins: AllowedOrigins::new(store.clone(), Duration::from_secs(config.key_cache_seconds)),
        tracker: email.tracker,
        unsubscribe: email.unsubscribe,
        usage: start_usage(&config, &store, tasks),
        operator_key_hash,
        settings: Settings {
            stream: StreamSettings { retry: Duration::from_millis(config.stream.retry_ms), replay_page: config.stream.replay_page },
            poll: PollSettings { max_wait: Duration::from_secs(config.poll.max_wait_seconds), max_limit: config.poll.max_limit },
            limits: Limits {
                max_body_bytes: config.limits.max_body_bytes,
                max_data_bytes: config.limits.max_data_bytes,
                max_batch: config.limits.max_batch,
            },
            hook_budget: HookBudget {
                burst: Duration::from_millis(config.plugins.hook_budget_ms),
                per_second: Duration::from_millis(config.plugins.hook_budget_refill_ms_per_second),
            },
            email_sending: email.sending,
            build: build_info::BUILD,
        },
    });
    let workers = if config.workers == 0 { std::thread::available_parallelism().map_or(2, |n| n.get()) } else { config.workers };
    let addr = listener.local_addr().context("reading the listener's address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        database = store.backend_name(),
        bus = bus_name,
        workers,
        commit = build_info::COMMIT,
        "herald {} listening on {scheme}://{addr} (API {scheme}://{addr}/v1, admin console {scheme}://{addr}/admin/, docs {scheme}://{addr}/docs, health {scheme}://{addr}/healthz, OpenAPI {scheme}://{addr}/openapi.json)",
        env!("CARGO_PKG_VERSION"),
    );
    Ok(herald_server::serve(
        app,
        listener,
        ServeOptions {
            workers,
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout_seconds),
            drain_window: Duration::from_millis(config.drain_window_ms),
            trusted_proxies: config.trusted_proxies()?,
            tls,
        },
        shutdown,
    ))
}

/// Hands the operator key created at first start to the operator without
/// logging it (logs are shipped and kept): written once to `path`, readable
/// by its owner only, and shown on the terminal when standard error is one.
/// The log says where the file is.
fn hand_over_first_key(path: &std::path::Path, key: &str) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
        // `mode` applies only to a new file: an old one is narrowed too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(format!("{key}\n").as_bytes())?;
        file.sync_all()
    })();
    let stderr = std::io::stderr();
    if stderr.is_terminal() {
        let _ = writeln!(
            stderr.lock(),
            "\nHerald created the first operator key (shown only now, and kept in {}):\n\n    {key}\n",
            path.display()
        );
    }
    match written {
        Ok(()) => {
            tracing::warn!(
                file = %path.display(),
                "created the first operator key and wrote it to {} (mode 0600); it is not logged. Move it somewhere safe and delete the file; manage keys with `herald operator-key` or /v1/operator-keys",
                path.display()
            );
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(
            "created the first operator key but could not write it to {}: {e}; set operator_key_file (HERALD_OPERATOR_KEY_FILE) to a writable path, or create a key with `herald operator-key create`",
            path.display()
        )),
    }
}

/// A task spawned by a lower crate, as a supervised task: it ends when the
/// task does (a panic is passed on, so the supervisor reports it), and the
/// task is aborted when `stop` is cancelled.
async fn watch(task: tokio::task::JoinHandle<()>, stop: CancellationToken) {
    let abort = task.abort_handle();
    tokio::select! {
        ended = task => {
            if let Err(e) = ended
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        () = stop.cancelled() => abort.abort(),
    }
}

/// The plugin threads' sizes: `0` means one per core (at least two), and
/// half of them per tenant.
fn plugin_worker_settings(plugins: &config::PluginsConfig) -> WorkerSettings {
    let auto = WorkerSettings::for_this_machine();
    let workers = if plugins.workers == 0 { auto.workers } else { plugins.workers };
    let max_per_tenant = if plugins.max_workers_per_tenant == 0 { (workers / 2).max(1) } else { plugins.max_workers_per_tenant };
    WorkerSettings { workers, max_per_tenant, max_queued_per_tenant: plugins.max_queued_per_tenant, nice: plugins.thread_nice }
}
