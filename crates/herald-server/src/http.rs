//! Running the HTTP server on a listener the caller bound.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{HttpServer, web};

use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Worker threads (each runs its own event loop).
    pub workers: usize,
    /// How long open connections get to finish on shutdown.
    pub shutdown_timeout: Duration,
}

/// Serves the API until SIGINT/SIGTERM (graceful) or an I/O error.
pub async fn serve(state: AppState, listener: TcpListener, opts: ServeOptions) -> std::io::Result<()> {
    let data = web::Data::new(state);
    HttpServer::new(move || crate::app::app(data.clone()))
        .workers(opts.workers.max(1))
        // Each event should leave at once: Nagle's algorithm would hold a
        // small write back until the previous one is acknowledged (up to
        // 40 ms with delayed ACKs). Queued events are still coalesced into
        // one write by the dispatcher.
        .tcp_nodelay(true)
        // Reconnect storms (a node restart) arrive as bursts of connects.
        .backlog(4096)
        .shutdown_timeout(opts.shutdown_timeout.as_secs().max(1))
        .listen(listener)?
        .run()
        .await
}
