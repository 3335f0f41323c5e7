//! End-to-end tests: each starts a real Herald on 127.0.0.1:0 with its own
//! SQLite file and talks HTTP to it, reading streams with a real SSE parser.

/// Defines a test once and runs it on each backend: `name::sqlite` and
/// `name::postgres`. The PostgreSQL variant fails (never skips) when the
/// server is missing.
macro_rules! e2e {
    ($(#[$meta:meta])* async fn $name:ident($b:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($b: crate::harness::Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(crate::harness::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(crate::harness::Backend::Postgres).await
            }
        }
    };
}

mod harness;
mod tools;

mod admin;
mod admin_console;
mod admin_ui;
mod asyncapi;
mod audit;
mod auth;
mod bounds;
mod browser;
mod cli;
mod cluster;
mod crash;
mod docs_page;
mod drain;
mod email;
mod email_cap;
mod errors;
mod generated_clients;
mod health;
mod history;
mod hostile_tenant;
mod idempotency;
mod isolation;
mod limits;
mod logging;
mod mercure_settings;
mod metrics;
mod openapi;
mod operator_keys;
mod origins;
mod plugin_isolation;
mod plugins;
mod polling;
mod proxies;
mod publish;
mod quotas;
mod recent_history;
mod relay_hints;
mod replay;
mod retention;
mod schemathesis;
mod secrets;
mod stats;
mod stream;
mod suspend;
mod tls;
mod token_rules;
mod tokens;
mod whoami;
