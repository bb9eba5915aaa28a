//! Virtual time: a plugin's clocks read the bar's time, never the machine's, and sleeping is instant.

use super::*;

/// The clocks a plugin sees: bar time, never the host's. The wall clock
/// reads the open time of the last bar delivered (0 before the first); the
/// monotonic clock the same instant in nanoseconds. Replays stay
/// deterministic and a strategy cannot tell a replay from live trading.
#[derive(Clone, Default)]
pub(super) struct BarClock(pub(super) Arc<AtomicI64>);

impl wasmtime_wasi::HostWallClock for BarClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed).max(0) as u64)
    }
}

impl wasmtime_wasi::HostMonotonicClock for BarClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        (self.0.load(Ordering::Relaxed).max(0) as u64).saturating_mul(1_000_000)
    }
}

/// `wasi:clocks/monotonic-clock` as plugins see it: bar time, and timers
/// that are due at once (see the module docs).
pub(super) struct VirtualTime;

impl wasmtime::component::HasData for VirtualTime {
    type Data<'a> = VirtualClock<'a>;
}

pub(super) struct VirtualClock<'a> {
    pub(super) clock: &'a BarClock,
    pub(super) table: &'a mut ResourceTable,
}

/// A pollable that is always ready.
pub(super) struct Due;

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for Due {
    async fn ready(&mut self) {}
}

impl VirtualClock<'_> {
    pub(super) fn due_now(
        &mut self,
    ) -> wasmtime::Result<wasmtime::component::Resource<wasmtime_wasi::p2::DynPollable>> {
        let due = self.table.push(Due)?;
        wasmtime_wasi::p2::subscribe(self.table, due)
    }
}

impl wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host for VirtualClock<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(wasmtime_wasi::HostMonotonicClock::now(self.clock))
    }
    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(wasmtime_wasi::HostMonotonicClock::resolution(self.clock))
    }
    fn subscribe_instant(
        &mut self,
        _when: u64,
    ) -> wasmtime::Result<wasmtime::component::Resource<wasmtime_wasi::p2::DynPollable>> {
        self.due_now()
    }
    fn subscribe_duration(
        &mut self,
        _duration: u64,
    ) -> wasmtime::Result<wasmtime::component::Resource<wasmtime_wasi::p2::DynPollable>> {
        self.due_now()
    }
}
