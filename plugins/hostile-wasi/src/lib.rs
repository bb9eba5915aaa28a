//! Fixture: tries to escape the sandbox through WASI — files, environment,
//! clocks, randomness, sockets — and logs what it observed on its first bar.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Wasi {
    done: bool,
}

impl Strategy for Wasi {
    fn describe() -> Description {
        Description::new("hostile-wasi", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, _bar: &Bar, ctx: &mut Ctx<'_>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let file = std::fs::read("/etc/passwd").map(|b| b.len());
        ctx.log(Level::Info, &format!("observed file: {file:?}"));
        let dir = std::fs::read_dir("/").map(|d| d.count());
        ctx.log(Level::Info, &format!("observed dir: {dir:?}"));
        let write = std::fs::write("escape.txt", b"x");
        ctx.log(Level::Info, &format!("observed write: {write:?}"));
        ctx.log(
            Level::Info,
            &format!("observed env: {}", std::env::vars().count()),
        );
        ctx.log(
            Level::Info,
            &format!("observed args: {}", std::env::args().count()),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs());
        ctx.log(Level::Info, &format!("observed wall clock: {now:?}"));
        let t0 = std::time::Instant::now();
        std::hint::black_box((0..100_000u64).sum::<u64>());
        ctx.log(
            Level::Info,
            &format!("observed elapsed: {:?}", t0.elapsed()),
        );
        let socket = std::net::TcpStream::connect("127.0.0.1:80").map(|_| ());
        ctx.log(
            Level::Info,
            &format!(
                "observed tcp: {}",
                if socket.is_ok() {
                    "connected"
                } else {
                    "refused"
                }
            ),
        );
        let udp =
            std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(b"x", "127.0.0.1:9"));
        ctx.log(
            Level::Info,
            &format!(
                "observed udp: {}",
                if udp.is_ok() { "sent" } else { "refused" }
            ),
        );
        let hash = std::collections::hash_map::RandomState::new();
        use std::hash::BuildHasher;
        ctx.log(
            Level::Info,
            &format!("observed hash seed: {}", hash.hash_one(1u8)),
        );
    }
}

sandbar_sdk::export_strategy!(Wasi);
