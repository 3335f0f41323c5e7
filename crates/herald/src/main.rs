//! Parses the command line and hands over to the library.

#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use herald::cli::{Cli, Command};
use herald::{Config, logging, seal, token_cmd};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            print!("{}", herald_server::openapi_json());
            Ok(())
        }
        Command::Asyncapi => {
            print!("{}", herald_server::asyncapi_yaml());
            Ok(())
        }
        Command::ConfigReference => {
            print!("{}", herald::config_reference::markdown());
            Ok(())
        }
        Command::Token(args) => {
            println!("{}", token_cmd::run(args)?);
            Ok(())
        }
        Command::Seal => {
            let config = Config::load(cli.config.as_deref())?;
            println!("{}", seal::run(&config, std::io::stdin().lock())?);
            Ok(())
        }
        Command::Migrate(db) => {
            let mut config = Config::load(cli.config.as_deref())?;
            config.database_url = db.database_url.map(Into::into).unwrap_or(config.database_url);
            logging::init(config.log_format);
            runtime()?.block_on(async {
                let url = config.database_url.expose();
                herald::open_store(url, std::time::Duration::ZERO, &config.database_pool.settings(url)).await?;
                tracing::info!(database = %config.database_url, "migrations applied");
                anyhow::Ok(())
            })
        }
        Command::OperatorKey(args) => {
            let mut config = Config::load(cli.config.as_deref())?;
            config.database_url = args.db.database_url.map(Into::into).unwrap_or(config.database_url);
            logging::init(config.log_format);
            runtime()?.block_on(async {
                let url = config.database_url.expose();
                let store = herald::open_store(url, std::time::Duration::ZERO, &config.database_pool.settings(url)).await?;
                herald::operator_key_cmd::run(&store, args.command, &mut std::io::stdout().lock()).await
            })
        }
        Command::Serve(args) => {
            let mut config = Config::load(cli.config.as_deref())?;
            config.listen = args.listen.unwrap_or(config.listen);
            config.database_url = args.db.database_url.map(Into::into).unwrap_or(config.database_url);
            config.bus = args.bus.map(Into::into).or(config.bus);
            config.validate()?;
            logging::init(config.log_format);
            let listener = herald_server::bind(config.listen).with_context(|| format!("binding {}", config.listen))?;
            runtime()?.block_on(async {
                let shutdown = herald::CancellationToken::new();
                let on_signal = shutdown.clone();
                tokio::spawn(async move {
                    let signal = herald_server::shutdown_signal().await;
                    tracing::info!(signal, "shutdown requested");
                    on_signal.cancel();
                });
                herald::run(config, listener, shutdown).await
            })
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}
