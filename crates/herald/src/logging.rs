//! Log output: human-readable or JSON lines on stderr, filtered by RUST_LOG.
//!
//! A line written while a request is handled names the request (see
//! herald-server's `request_id`): in text after the time and level, as
//! `request{request_id=… method=… path=…}:`; in JSON in `spans`, the list
//! of the spans the line was written in, outermost first:
//!
//! ```json
//! {"timestamp":"…","level":"INFO","message":"tenant created","tenant":"ten_…","name":"acme","target":"herald_server::routes::tenants",
//!  "spans":[{"method":"POST","path":"/v1/tenants","request_id":"01a2…","name":"request"}]}
//! ```
//!
//! The list rather than the innermost span alone, so that a span opened
//! inside a request (by a library) cannot hide the request's id.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(true).init(),
    }
}
