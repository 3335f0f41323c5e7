//! Running the HTTP server on a listener the caller bound: plain HTTP/1.1,
//! or TLS with HTTP/2 and HTTP/1.1 when [`ServeOptions::tls`] is set.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use actix_web::{HttpServer, web};

use herald_app::tasks::CancellationToken;

use crate::state::AppState;
use crate::tls::Tls;

/// Pending connections the kernel queues before Herald accepts them.
/// Reconnect storms (a node restart with thousands of streams) arrive as
/// bursts of connects; the standard library's `bind` queues only 128, and
/// the kernel drops connects beyond the queue (clients then retry after a
/// second or more). The kernel caps this at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds the API's listening socket with a backlog for connect storms.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // A restarted node can take its port back while old connections linger.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Worker threads (each runs its own event loop).
    pub workers: usize,
    /// How long open connections get to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// Streams are told to reconnect and closed over this window.
    pub drain_window: Duration,
    /// Reverse proxies whose forwarding headers name the client.
    pub trusted_proxies: crate::TrustedProxies,
    /// Serve TLS (HTTP/2 and HTTP/1.1 by ALPN) with this certificate,
    /// which [`Tls::reload`] may swap; `None`: plain HTTP/1.1.
    pub tls: Option<Arc<Tls>>,
}

/// Serves the API until `shutdown` is cancelled or an I/O error.
///
/// On shutdown: stop accepting connections, let in-flight requests finish,
/// and close the streams spread over the drain window, each told when to
/// come back (`retry:`), so that clients move to another node, or return
/// to this one restarted, without a thundering herd and (resuming with
/// `Last-Event-ID`) without losing anything. Returns once every connection
/// has closed or `shutdown_timeout` has passed.
pub async fn serve(state: AppState, listener: TcpListener, opts: ServeOptions, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = state.clone();
    let data = web::Data::new(state);
    let proxies = web::Data::new(opts.trusted_proxies.clone());
    let server = HttpServer::new(move || crate::app::app(data.clone()).app_data(proxies.clone()))
        .workers(opts.workers.max(1))
        // Each event should leave at once: Nagle's algorithm would hold a
        // small write back until the previous one is acknowledged (up to
        // 40 ms with delayed ACKs). Queued events are still coalesced into
        // one write by the dispatcher.
        .tcp_nodelay(true)
        // Only used for sockets actix binds itself; ours come from `bind`.
        .backlog(LISTEN_BACKLOG as u32)
        .shutdown_timeout(opts.shutdown_timeout.as_secs().max(1))
        // Shutdown is ours: the streams must be drained, not just cut.
        .disable_signals();
    let server = match &opts.tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls.server_config())?,
        None => server.listen(listener)?,
    }
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tracing::info!(
            streams = app.subscriber_count(),
            drain_window_ms = opts.drain_window.as_millis() as u64,
            "shutting down: accepting no new connections, finishing requests, closing streams"
        );
        // Sent at once; its future only reports the end.
        let stopped = handle.stop(true);
        let closed = app.drain_streams(opts.drain_window).await;
        tracing::info!(streams = closed, "every stream was told to reconnect and closed");
        stopped.await;
    });
    server.await
}

/// Waits for SIGTERM or SIGINT; returns its name. `herald serve` cancels
/// its shutdown token on either.
pub async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            tracing::error!("cannot listen for SIGTERM/SIGINT; stop Herald with SIGKILL");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;

    /// Connects beyond the standard library's backlog of 128 complete while
    /// nobody accepts (as during a reconnect storm); with a 128 queue the
    /// kernel would drop the rest and they would time out.
    #[test]
    fn bind_queues_a_connect_storm() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Vec<TcpStream> = (0..600)
            .map(|i| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap_or_else(|e| panic!("connect {i}: {e}")))
            .collect();
        assert_eq!(clients.len(), 600);
        // Every one of them is really queued for accept.
        listener.set_nonblocking(true).unwrap();
        let accepted = std::iter::from_fn(|| listener.accept().ok()).take(600).count();
        assert_eq!(accepted, 600);
    }
}
