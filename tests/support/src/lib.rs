//! Test support: the plugins built for `wasm32-wasip2` (see `build.rs`) and
//! the locations of shared data.

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// Root of the repository.
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A file in `../shared/data/` beside the repository (real market data).
pub fn shared_data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(REPO).join("../shared/data").join(name)
}

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(REPO).join("tests/fixtures").join(name)
}

/// What a test server's order-update stream counts and is told to do wrong.
pub(crate) struct StreamTurn<'a> {
    /// Events sent on every connection.
    pub counter: &'a std::sync::atomic::AtomicU64,
    /// Close each connection after this many events (0: never).
    pub drop_after: &'a std::sync::atomic::AtomicU64,
    /// Send each event this many times.
    pub copies: usize,
}

impl StreamTurn<'_> {
    /// One turn of an update stream: send `events` (counted in `sent`, this
    /// connection's count), then wait 20 ms for the next look. `false`: the
    /// connection ends (the peer went, or `drop_after` was reached).
    pub(crate) async fn run(
        &self,
        socket: &mut axum::extract::ws::WebSocket,
        events: Vec<axum::extract::ws::Message>,
        sent: &mut u64,
    ) -> bool {
        use axum::extract::ws::Message;
        use std::sync::atomic::Ordering;
        for e in events {
            for _ in 0..self.copies {
                if socket.send(e.clone()).await.is_err() {
                    return false;
                }
            }
            self.counter.fetch_add(1, Ordering::SeqCst);
            *sent += 1;
            let drop_after = self.drop_after.load(Ordering::SeqCst);
            if drop_after > 0 && *sent >= drop_after {
                // The connection drops in the middle of trading.
                return false;
            }
        }
        tokio::select! {
            m = socket.recv() => !matches!(m, Some(Ok(Message::Close(_))) | None | Some(Err(_))),
            _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => true,
        }
    }
}

pub mod alpaca;
pub mod alpaca_calendar;
pub mod alpaca_trading;
pub mod binance;
pub mod binance_spot;
pub mod python;
pub mod tls;
