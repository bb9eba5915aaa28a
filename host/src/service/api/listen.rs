//! Accepting connections with bounds a client cannot lift.
//!
//! `axum::serve` accepts every connection and waits for headers forever: a
//! client opening connections and sending nothing (or a byte a minute)
//! holds file descriptors until the process has none left — and then the
//! venue requests of every LIVE deployment fail too. So the API serves
//! through its own accept loop on hyper:
//! - at most [`MAX_CONNECTIONS`] at once; the next waits in the kernel's
//!   backlog until one closes;
//! - a request's headers must arrive within [`HEADER_TIMEOUT`] (hyper's
//!   `header_read_timeout`, for the first request and each kept-alive
//!   one), else the connection is closed;
//! - a body is read only up to its route's limit (see [`super::table`]),
//!   and only after the caller was authenticated (the guard runs first).
//!
//! The peer's address travels with each request ([`Peer`]): failed
//! authentication is counted per address ([`super::auth`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Longest wait for a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The address a request came from.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Serve `router` on `listener` until `shutdown` resolves; `closing` is
/// set then, and open connections finish what they are answering.
pub async fn serve(
    router: Router,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    closing: tokio::sync::watch::Sender<bool>,
) -> anyhow::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p?,
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, a connection reset before it was
                    // taken: the listener stays up.
                    tracing::warn!(error = %e, "accepting an API connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(
            router.clone().layer(axum::Extension(Peer(addr))),
        );
        let mut closed = closing.subscribe();
        tasks.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let closing = async move {
                // (The guard `wait_for` returns is not held across the
                // connection's await.)
                let _ = closed.wait_for(|c| *c).await.map(|_| ());
            };
            let shut = tokio::select! {
                r = conn.as_mut() => { drop(r); false }
                () = closing => true,
            };
            if shut {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
            drop(permit);
        });
        // Reap the finished ones (the set would otherwise keep them).
        while tasks.try_join_next().is_some() {}
    }
    let _ = closing.send(true);
    // Connections finish their answers (event streams end on `closing`).
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}
