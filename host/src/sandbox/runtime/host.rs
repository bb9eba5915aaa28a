//! The store's state and the imports a plugin may call (logging, its window of bars); the locked-down WASI view.

use super::*;

/// The bars of the current `on-window` call: `bars[0]` was delivered with
/// the call, the guest pulls the rest; `pulled` is the bar it is on.
#[derive(Default)]
pub(super) struct Window {
    pub(super) bars: Vec<WitBar>,
    pub(super) pulled: usize,
    /// `next-bar` answered `none` in this call.
    pub(super) ended: bool,
}

/// Per-store state: the WASI shim, limits and what the host imports need.
pub struct State {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) clock: BarClock,
    pub(super) limiter: Limiter,
    pub(super) plugin: Arc<str>,
    pub(super) view: AccountView,
    pub(super) log_lines: usize,
    pub(super) log_bytes: usize,
    pub(super) log_line_cap: usize,
    pub(super) log_byte_cap: usize,
    pub(super) log_overflow: Option<String>,
    /// The last `panic: …` line the SDK's panic hook logged.
    pub(super) last_panic: Option<String>,
    pub(super) window: Window,
    /// The CPU budget of one bar, and the calling thread's CPU time when the
    /// current bar began (the call, or the last `next-bar`): see
    /// [`super::limits::cpu_used`].
    pub(super) budget: std::time::Duration,
    pub(super) bar_started: std::time::Duration,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::sandbar::strategy0_1_0::types::Host for State {}

impl bindings::sandbar::strategy0_1_0::host::Host for State {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        self.log_bytes += message.len();
        if self.log_lines > self.log_line_cap || self.log_bytes > self.log_byte_cap {
            let why = format!(
                "log output over its bound ({} lines / {} bytes in one call; caps {} lines, {} bytes)",
                self.log_lines, self.log_bytes, self.log_line_cap, self.log_byte_cap
            );
            self.log_overflow = Some(why.clone());
            return Err(wasmtime::Error::msg(why));
        }
        if level == Level::Error && message.starts_with("panic: ") {
            self.last_panic = Some(message.clone());
        }
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
        Ok(())
    }

    fn account(&mut self) -> wasmtime::Result<Portfolio> {
        let v = &self.view;
        Ok(Portfolio {
            cash: v.cash,
            equity: v.equity,
            positions: v
                .positions
                .iter()
                .enumerate()
                .filter(|(_, p)| p.0 != 0.0)
                .map(|(i, &(quantity, average_price, unrealized_pnl))| Position {
                    symbol: i as u32,
                    quantity,
                    average_price,
                    unrealized_pnl,
                })
                .collect(),
        })
    }

    fn position(&mut self, symbol: u32) -> wasmtime::Result<f64> {
        Ok(self
            .view
            .positions
            .get(symbol as usize)
            .map_or(0.0, |p| p.0))
    }
}

impl bindings::sandbar::strategy0_2_0::window::Host for State {
    /// Hand out the next bar of the window: from here on the guest is on
    /// that bar — its account view, clock, log budget and CPU budget.
    fn next_bar(&mut self) -> wasmtime::Result<Option<WitBar>> {
        let next = self.window.pulled + 1;
        let Some(&bar) = self.window.bars.get(next) else {
            self.window.ended = true;
            return Ok(None);
        };
        self.window.pulled = next;
        self.view.mark(bar.symbol, bar.close);
        self.clock.0.store(bar.time_ms, Ordering::Relaxed);
        self.log_lines = 0;
        self.log_bytes = 0;
        self.bar_started = super::limits::thread_cpu();
        Ok(Some(bar))
    }
}

impl bindings::sandbar::strategy0_3_0::protection::Host for State {
    /// What rests for the symbol's position, as of the bar the guest is on
    /// (inside a window nothing protective changes: a bar that would move a
    /// trailing stop ends the window).
    fn get(
        &mut self,
        symbol: u32,
    ) -> wasmtime::Result<bindings::sandbar::strategy0_3_0::protection::Protected> {
        use bindings::sandbar::strategy0_3_0::protection::{Protected, Trail};
        let p = self
            .view
            .protections
            .get(symbol as usize)
            .copied()
            .unwrap_or_default();
        Ok(Protected {
            stop_loss: p.stop_loss,
            trail: p.trail.map(|t| match t {
                sandbar_sdk::protection::Trail::Distance(d) => Trail::Distance(d),
                sandbar_sdk::protection::Trail::Fraction(f) => Trail::Fraction(f),
            }),
            take_profit: p.take_profit,
        })
    }
}
