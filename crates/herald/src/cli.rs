//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Herald: a self-hosted, multi-tenant notification server.
///
/// SaaS back ends publish notifications over HTTP; browsers and apps
/// subscribe over Server-Sent Events with a JWT the SaaS signed, and resume
/// with Last-Event-ID without gaps or duplicates.
///
/// Settings come from built-in defaults, then the TOML file given with
/// --config (or HERALD_CONFIG), then HERALD_* environment variables (nested
/// keys with `__`, e.g. HERALD_STREAM__HEARTBEAT_SECONDS=30), then flags.
#[derive(Debug, Parser)]
#[command(name = "herald", version = crate::build_info::VERSION_LINE, about, long_about)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, short, global = true, env = "HERALD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies pending migrations first).
    ///
    /// With no configuration it listens on 127.0.0.1:8080 and stores
    /// everything in ./herald.db. On first start it creates an operator key
    /// and writes it, readable by its owner only, to ./operator-key (beside
    /// the SQLite file; `operator_key_file` to choose), never to the log;
    /// `herald operator-key` manages keys. Every setting, with its
    /// environment variable and default: `herald config-reference` (the
    /// same text as docs/configuration.md).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage operator keys directly on the database: create, list, revoke,
    /// rotate.
    ///
    /// For automation and for recovery when no operator key is known; the
    /// API does the same at /v1/operator-keys. Secrets are printed on
    /// standard output once and stored only as hashes. Changes are recorded
    /// in the audit log; a revoked or rotated key is refused at once by
    /// nodes that have not seen it recently, and within key_cache_seconds
    /// by the others.
    ///
    /// Example: herald operator-key --database-url sqlite://./herald.db create --name ci
    OperatorKey(OperatorKeyArgs),
    /// Mint a subscriber token (JWT) for trying things out.
    ///
    /// Example: herald token --kid sk_… --secret hss_… --sub 42 --subscribe orders --subscribe 'user.42.*'
    Token(TokenArgs),
    /// Seal a secret for the configuration with `secrets_key`.
    ///
    /// Reads the secret from standard input (one trailing line end is
    /// dropped) and prints it sealed (`sealed:v1:…`), for
    /// `email.smtp_password`; the server opens it at start with the same
    /// `secrets_key` (HERALD_SECRETS_KEY or the configuration file).
    ///
    /// Example: printf %s "$SMTP_PASSWORD" | HERALD_SECRETS_KEY=… herald seal
    Seal,
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Print the AsyncAPI 3.0 document (YAML) of the Server-Sent Events stream.
    Asyncapi,
    /// Print the configuration reference (Markdown): every setting with its
    /// environment variable, default and meaning, as docs/configuration.md.
    ConfigReference,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080; env HERALD_LISTEN].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Bus between nodes sharing a database: none, postgres or nats://host:port
    /// [default: postgres on PostgreSQL, none on SQLite; env HERALD_BUS].
    #[arg(long, value_name = "BUS")]
    pub bus: Option<String>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// sqlite://PATH or postgres://… [default: sqlite://./herald.db; env HERALD_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct OperatorKeyArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(subcommand)]
    pub command: OperatorKeyCommand,
}

#[derive(Debug, Subcommand)]
pub enum OperatorKeyCommand {
    /// Create an operator key and print its secret (once).
    Create {
        /// What the key is for, e.g. who holds it.
        #[arg(long)]
        name: String,
    },
    /// List every operator key, revoked ones included (never secrets).
    List,
    /// Revoke an operator key; it stops working.
    Revoke {
        /// The key's id (`op_…`), from `list`.
        id: String,
        /// Revoke it even if it is the last valid key (the API then needs
        /// HERALD_OPERATOR_KEY or a key created with `create`).
        #[arg(long)]
        force: bool,
    },
    /// Give an operator key a new secret, printed once; the old one stops working.
    Rotate {
        /// The key's id (`op_…`), from `list`.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The signing key's id (`sk_…`), placed in the token's `kid` header.
    #[arg(long)]
    pub kid: String,
    /// Algorithm of the signing key.
    #[arg(long, default_value = "HS256", value_parser = ["HS256", "RS256", "ES256", "EdDSA"])]
    pub alg: String,
    /// The HS256 secret returned when the signing key was created.
    #[arg(long, required_unless_present = "private_key", conflicts_with = "private_key", env = "HERALD_TOKEN_SECRET")]
    pub secret: Option<String>,
    /// PEM private key file, for RS256, ES256 or EdDSA.
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// The subscriber's user id (`sub`).
    #[arg(long)]
    pub sub: String,
    /// A channel pattern the token allows; repeat for several.
    #[arg(long = "subscribe", value_name = "PATTERN", required = true)]
    pub subscribe: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
}
