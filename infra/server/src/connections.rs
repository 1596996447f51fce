//! The connection side of `accepted serve`: HTTP/1.1 on hyper, with the bounds a server that
//! others can reach needs and `axum::serve` does not set.
//!
//! - At most `max_connections` at once. At the limit the server stops accepting, so new
//!   connections wait in the kernel's backlog instead of costing memory or file descriptors.
//! - `header_timeout` to send a request's head, counted from the connection's start or from
//!   the previous response: a slowloris client and an idle keep-alive connection are both
//!   closed after it. (The body has its own timeout, in [`crate::http`], answered with a
//!   problem document.)
//! - A request head of at most [`MAX_HEAD_BYTES`] and a read buffer of at most
//!   [`MAX_BUFFER_BYTES`], so the memory a connection can hold is fixed.
//!
//! - Requests hyper cannot parse get a problem document too ([`crate::parse_error_problems`]).
//!
//! On stop, idle connections close, a request in flight finishes, and [`serve`] returns when
//! the last connection is gone.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, error, warn};

use crate::parse_error_problems::ProblemOnParseError;

/// API Gateway's own quota for the request line and headers is 10,240 bytes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// A connection's read buffer; a body is read through it in pieces of at most this size.
pub const MAX_BUFFER_BYTES: usize = 64 * 1024;

/// The bounds `accepted serve --max-connections`, `--header-timeout-secs` set.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: u32,
    pub header_timeout: Duration,
}

/// Serves `app` on `listener` until `stop` turns true, then lets open connections finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_BUFFER_BYTES);
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let mut at_limit = false;
    loop {
        // Said once each time the limit is reached, not once per waiting connection.
        match (slots.available_permits() == 0, at_limit) {
            (true, false) => warn!(
                max_connections = limits.max_connections,
                "connection limit reached: new connections wait until one closes"
            ),
            (false, true) => debug!("below the connection limit again"),
            _ => {}
        }
        at_limit = slots.available_permits() == 0;
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            _ = stop.changed() => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Most likely out of file descriptors: wait for some to close.
                error!(error = %e, "accept failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(ProblemOnParseError::new(stream)),
            TowerToHyperService::new(app.clone()),
        );
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    // Every connection holds a slot until it ends.
    let _all = slots.acquire_many(limits.max_connections).await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
