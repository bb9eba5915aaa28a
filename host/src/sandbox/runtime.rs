//! The sandbox: loading strategy components and calling them safely.
//!
//! This is the only module that knows about wasmtime. It holds the crate's
//! one `bindgen!`, links a WASI shim that grants nothing (no files, network,
//! environment, stdio; clocks at bar time; randomness seeded from the run), and
//! bounds every call in CPU (epoch deadline) and memory (store limits).
//!
//! Time is virtual all the way down: the clocks read bar time, and timers
//! (`subscribe-duration`, `subscribe-instant`, hence `sleep` and `poll` with a
//! timeout) are due at once. A host call cannot be interrupted by the epoch
//! deadline, so a real sleep would hold the engine for as long as the plugin
//! asked; a virtual one returns immediately.
//!
//! Memory is bounded for the whole store, not per memory: the total of every
//! linear memory, at most [`MAX_MEMORIES`] of them (multi-memory is off), at
//! most [`MAX_TABLES`] tables holding [`MAX_TABLE_ELEMENTS`] elements in all,
//! and at most [`MAX_INSTANCES`] core instances.
//!
//! The line between a *strategy error* and a *fault* is kept in the types: a
//! WIT `strategy-error` or `init-error` means the strategy refused something
//! and is still sound ([`CallError::Refused`]); a trap, an exhausted budget or
//! a broken bound means the instance is no longer trustworthy and is dropped
//! ([`CallError::Fault`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Generated bindings for `wit/` (world `strategy` of contract 0.2.0, which
/// includes 0.1.0's); everything else imports from here through the aliases
/// below. A 0.1.0 component is served by the same bindings: its exports are
/// looked up one interface at a time (`guest` always, `exact` when present).
mod bindings {
    wasmtime::component::bindgen!({
        world: "sandbar:strategy/strategy@0.2.0",
        path: "../wit",
        imports: { default: trappable },
        additional_derives: [PartialEq],
    });
}

use bindings::exports::sandbar::strategy0_1_0::guest;
use bindings::exports::sandbar::strategy0_2_0::exact;
pub use bindings::sandbar::strategy0_1_0::types::{
    Action, Bar as WitBar, Delivery as DeclaredDelivery, Description, Event, Fill, InitConfig,
    Intent as WitIntent, Level, LimitOrder, MarketOrder, ParamSpec, ParamType, ParamValue,
    Portfolio, Position, Rejection, Side,
};

/// Where a protective order sits: contract 0.2.0's `level` (0.1.0 knows
/// prices only). The SDK's type, so the host and the SDK's harness resolve a
/// level by the same rule ([`Protect::resolve`]).
pub use sandbar_sdk::Protect;

/// A strategy's request as the engine handles it, from either contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Index of the bar it was decided on, within the bars of the call.
    pub bar_index: u32,
    /// Symbol.
    pub symbol: u32,
    /// What to do.
    pub action: Action,
    /// Protective stop for the position it opens or changes.
    pub stop_loss: Option<Protect>,
    /// Profit target for the position it opens or changes.
    pub take_profit: Option<Protect>,
    /// Free text, kept in the journal (truncated to 256 bytes).
    pub reason: String,
}

impl From<WitIntent> for Intent {
    fn from(i: WitIntent) -> Self {
        Self {
            bar_index: i.bar_index,
            symbol: i.symbol,
            action: i.action,
            stop_loss: i.stop_loss.map(Protect::Price),
            take_profit: i.take_profit.map(Protect::Price),
            reason: i.reason,
        }
    }
}

impl From<exact::Level> for Protect {
    fn from(l: exact::Level) -> Self {
        match l {
            exact::Level::Price(p) => Protect::Price(p),
            exact::Level::FromEntry(d) => Protect::FromEntry(d),
        }
    }
}

impl From<exact::Decision> for Intent {
    fn from(d: exact::Decision) -> Self {
        Self {
            stop_loss: d.stop_loss.map(Protect::from),
            take_profit: d.take_profit.map(Protect::from),
            ..Intent::from(d.intent)
        }
    }
}

/// How the engine hands bars to a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// One call per bar; every fill and refusal is heard before the next bar.
    PerBar,
    /// Many bars per call with exactly the outcome of [`Delivery::PerBar`]
    /// (contract 0.2.0's `on-window`; see `wit/strategy.wit`). The default
    /// for a plugin that declares `per-bar` and implements 0.2.0; a 0.1.0
    /// plugin given this mode gets one bar per call.
    Exact,
    /// Many bars per call, decided before any of them is processed: lossy
    /// (the strategy sees a portfolio up to a batch late) and open to
    /// look-ahead. Only on the plugin's own request or `--delivery batched`.
    Batched,
}

impl Delivery {
    /// The mode a plugin gets unless told otherwise: `batched` if it asks
    /// for it, else exact batching when it implements contract 0.2.0, else
    /// per-bar.
    pub fn default_for(declared: DeclaredDelivery, exact: bool) -> Self {
        match declared {
            DeclaredDelivery::Batched => Delivery::Batched,
            DeclaredDelivery::PerBar if exact => Delivery::Exact,
            DeclaredDelivery::PerBar => Delivery::PerBar,
        }
    }

    /// Parse `per-bar`, `exact` or `batched`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "per-bar" => Some(Delivery::PerBar),
            "exact" => Some(Delivery::Exact),
            "batched" => Some(Delivery::Batched),
            _ => None,
        }
    }
}

/// `per-bar`, `exact` or `batched`, as shown and stored.
pub fn delivery_name(d: Delivery) -> &'static str {
    match d {
        Delivery::PerBar => "per-bar",
        Delivery::Exact => "exact",
        Delivery::Batched => "batched",
    }
}

/// `per-bar` or `batched`: what a plugin declares.
pub fn declared_name(d: DeclaredDelivery) -> &'static str {
    match d {
        DeclaredDelivery::PerBar => "per-bar",
        DeclaredDelivery::Batched => "batched",
    }
}

/// Whether a plugin built with sandbar-sdk `sdk_version` speaks this host's
/// contract (SDK 0.1.x); the error says what to do about it.
pub fn check_sdk_version(sdk_version: &str) -> Result<(), String> {
    match semver::Version::parse(sdk_version) {
        Ok(v) if (v.major, v.minor) == (0, 1) => Ok(()),
        Ok(v) => Err(format!(
            "built with sandbar-sdk {v}, but this host speaks {CONTRACT} (sdk 0.1.x); rebuild it with sandbar-sdk 0.1"
        )),
        Err(e) => Err(format!(
            "sdk version {sdk_version:?} is not semantic versioning: {e}"
        )),
    }
}

/// The newest contract this host speaks, for messages.
pub const CONTRACT: &str = "sandbar:strategy@0.2.0";
/// The first released contract, still served (per-bar delivery).
pub const CONTRACT_0_1: &str = "sandbar:strategy@0.1.0";

/// Limits applied to every plugin instance.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxLimits {
    /// Linear memory a plugin may grow to, in bytes (default 64 MiB).
    pub memory_bytes: usize,
    /// Wall time one call may take before it is interrupted, in milliseconds (default 250).
    pub call_timeout_ms: u64,
    /// Intents one call may return per bar delivered (default 64).
    pub max_intents_per_bar: usize,
    /// Log lines one call may write per bar delivered (default 32).
    pub max_log_lines_per_bar: usize,
    /// Bytes of log text one call may write (default 64 KiB).
    pub max_log_bytes_per_call: usize,
    /// Largest snapshot accepted, in bytes (default 16 MiB).
    pub max_snapshot_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_timeout_ms: 250,
            max_intents_per_bar: 64,
            max_log_lines_per_bar: 32,
            max_log_bytes_per_call: 64 << 10,
            max_snapshot_bytes: 16 << 20,
        }
    }
}

/// Why a plugin file was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Reading the file failed.
    #[error("cannot read plugin {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not WebAssembly at all, or truncated.
    #[error("plugin {path} is not a WebAssembly component: {found}")]
    NotWasm {
        /// File.
        path: PathBuf,
        /// What was found instead.
        found: String,
    },
    /// A core module, not a component.
    #[error(
        "plugin {path} is a core WebAssembly module, but a component is expected; build it for the wasm32-wasip2 target with the sandbar-sdk"
    )]
    CoreModule {
        /// File.
        path: PathBuf,
    },
    /// wasmtime refused to compile it.
    #[error("plugin {path} does not compile: {message}")]
    Compile {
        /// File.
        path: PathBuf,
        /// wasmtime's diagnosis.
        message: String,
    },
    /// It does not implement this host's contract.
    #[error(
        "plugin {path} does not implement world `strategy` of {CONTRACT} or {CONTRACT_0_1}: {message}"
    )]
    Contract {
        /// File.
        path: PathBuf,
        /// What is missing or mismatched.
        message: String,
    },
}

/// A fault: the instance is broken and must be discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// The call ran past its wall-time budget.
    #[error("CPU budget exceeded: call ran longer than {0} ms")]
    Timeout(u64),
    /// The plugin tried to grow memory past its cap.
    #[error("memory cap exceeded: tried to grow linear memory beyond {0} bytes")]
    Memory(usize),
    /// The guest trapped.
    #[error("trap: {kind}{}", user_frame(frames).map(|f| format!(" (in {f})")).unwrap_or_default())]
    Trap {
        /// Trap description (`wasm unreachable`, stack overflow, …).
        kind: String,
        /// Guest backtrace, innermost first, at most 16 frames.
        frames: Vec<String>,
    },
    /// An output bound was broken.
    #[error("bound exceeded: {0}")]
    Bound(String),
}

impl Fault {
    /// A short name of the kind (`timeout`, `memory`, `trap`, `bound`).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Timeout(_) => "timeout",
            Fault::Memory(_) => "memory",
            Fault::Trap { .. } => "trap",
            Fault::Bound(_) => "bound",
        }
    }
}

/// The result of a call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The strategy refused (typed WIT error); the instance remains usable.
    #[error("strategy refused: {0}")]
    Refused(String),
    /// The instance is broken.
    #[error("{0}")]
    Fault(#[from] Fault),
}

/// Account view the host exposes through the `host` import, updated by the
/// engine before each call.
#[derive(Debug, Clone, Default)]
pub struct AccountView {
    /// Cash.
    pub cash: f64,
    /// Equity.
    pub equity: f64,
    /// Indexed by symbol id: (quantity, average price, unrealised PnL).
    pub positions: Vec<(f64, f64, f64)>,
    /// Indexed by symbol id: the last close the books were marked at.
    pub marks: Vec<f64>,
}

impl AccountView {
    /// Mark `symbol` at `close` as the books would after a bar that changed
    /// nothing else (a bar inside an exact-batching window): the same
    /// arithmetic as the ledger's, so the strategy reads the same bits it
    /// would read in per-bar delivery.
    pub fn mark(&mut self, symbol: u32, close: f64) {
        let i = symbol as usize;
        let (Some(m), Some(p)) = (self.marks.get_mut(i), self.positions.get_mut(i)) else {
            return;
        };
        *m = close;
        if p.0 != 0.0 {
            // `Holding::unrealized` and `Ledger::equity`.
            p.2 = p.0 * (close - p.1);
            self.equity = self.cash
                + self
                    .positions
                    .iter()
                    .zip(&self.marks)
                    .map(|(p, m)| p.0 * m)
                    .sum::<f64>();
        }
    }
}

/// The bars of the current `on-window` call: `bars[0]` was delivered with
/// the call, the guest pulls the rest; `pulled` is the bar it is on.
#[derive(Default)]
struct Window {
    bars: Vec<WitBar>,
    pulled: usize,
    /// `next-bar` answered `none` in this call.
    ended: bool,
}

/// Linear memories one plugin store may hold (a Rust component has one).
pub const MAX_MEMORIES: usize = 2;
/// Tables one plugin store may hold.
pub const MAX_TABLES: usize = 8;
/// Table elements, summed over every table of a store.
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Core instances one plugin store may hold.
pub const MAX_INSTANCES: usize = 8;

/// Per-store state: the WASI shim, limits and what the host imports need.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    clock: BarClock,
    limiter: Limiter,
    plugin: Arc<str>,
    view: AccountView,
    log_lines: usize,
    log_bytes: usize,
    log_line_cap: usize,
    log_byte_cap: usize,
    log_overflow: Option<String>,
    /// The last `panic: …` line the SDK's panic hook logged.
    last_panic: Option<String>,
    window: Window,
    /// The CPU budget of one bar, in epoch ticks, and the tick at which the
    /// current bar began (the call, or the last `next-bar`).
    ticks: u64,
    bar_started: u64,
    epoch: Arc<AtomicU64>,
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
        self.bar_started = self.epoch.load(Ordering::Relaxed);
        Ok(Some(bar))
    }
}

/// The wasmtime engine, linker and compilation cache shared by all plugins.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    stop_ticker: Arc<AtomicBool>,
    /// Ticks of the epoch, counted beside the engine's (which cannot be read).
    epoch: Arc<AtomicU64>,
}

/// Epoch tick period: the resolution of the CPU budget.
const TICK: Duration = Duration::from_millis(5);

impl Runtime {
    /// A runtime; `cache_dir` enables wasmtime's on-disk compilation cache
    /// (keyed by module content and engine configuration).
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<Self> {
        Self::with_cpu_budget(cache_dir, true)
    }

    /// Like [`Runtime::new`]; `cpu_budget: false` turns the per-call CPU
    /// budget off. Only for measuring what the budget costs: without it a
    /// plugin that loops forever hangs its caller.
    pub fn with_cpu_budget(cache_dir: Option<&Path>, cpu_budget: bool) -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(cpu_budget);
        config.wasm_multi_memory(false);
        config.max_wasm_stack(1 << 20);
        if let Some(dir) = cache_dir {
            let mut cc = wasmtime::CacheConfig::new();
            cc.with_directory(dir);
            config.cache(Some(wasmtime::Cache::new(cc)?));
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // Replace wasi:clocks/monotonic-clock with the virtual one (timers due at once).
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<State, VirtualTime>(
            &mut linker,
            |s| VirtualClock {
                clock: &s.clock,
                table: &mut s.table,
            },
        )?;
        linker.allow_shadowing(false);
        bindings::Strategy::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;

        let stop_ticker = Arc::new(AtomicBool::new(!cpu_budget));
        let epoch = Arc::new(AtomicU64::new(0));
        let (weak, stop, ticks) = (engine.weak(), stop_ticker.clone(), epoch.clone());
        std::thread::Builder::new()
            .name("sandbar-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => {
                            ticks.fetch_add(1, Ordering::Relaxed);
                            engine.increment_epoch()
                        }
                        None => break,
                    }
                }
            })?;
        Ok(Self {
            engine,
            linker,
            stop_ticker,
            epoch,
        })
    }

    /// Load, compile and check a plugin file against the contract.
    pub fn load(&self, path: &Path) -> Result<Plugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.into(),
            source,
        })?;
        self.load_bytes(path, &bytes)
    }

    /// Like [`Runtime::load`], from bytes (`path` is for messages).
    pub fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let path = path.to_path_buf();
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => return Err(LoadError::CoreModule { path }),
            Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => {}
            Some([0, b'a', b's', b'm', v0, v1, l0, l1]) => {
                return Err(LoadError::NotWasm {
                    path,
                    found: format!(
                        "WebAssembly binary of an unsupported version/layer ({v0:#x} {v1:#x} {l0:#x} {l1:#x})"
                    ),
                });
            }
            _ if bytes.starts_with(b"\x7fELF")
                || bytes.starts_with(b"MZ")
                || bytes.starts_with(&[0xcf, 0xfa, 0xed, 0xfe])
                || bytes.starts_with(&[0xca, 0xfe, 0xba, 0xbe]) =>
            {
                return Err(LoadError::NotWasm {
                    path,
                    found: "a native library or executable; build the strategy with `sandbar build` (or `cargo build --target wasm32-wasip2`)".into(),
                });
            }
            _ => {
                let found = if bytes.len() < 8 {
                    format!("{} bytes, too short to be WebAssembly", bytes.len())
                } else {
                    "no WebAssembly magic number (\\0asm) at the start".to_string()
                };
                return Err(LoadError::NotWasm { path, found });
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile {
            path: path.clone(),
            message: format!("{e:#}"),
        })?;
        // What the component offers, to say what was found when it does not fit.
        let found = || {
            let ty = component.component_type();
            let exports: Vec<&str> = ty.exports(&self.engine).map(|(name, _)| name).collect();
            format!(
                "it exports {}",
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            )
        };
        let contract = |e: wasmtime::Error| {
            let exports = component.component_type().exports(&self.engine).count();
            let hint = if exports == 0 {
                "; did you call `sandbar_sdk::export_strategy!(YourType)` in the crate?"
            } else {
                ""
            };
            LoadError::Contract {
                path: path.clone(),
                message: format!("{e:#}; {}{hint}", found()),
            }
        };
        let pre = self.linker.instantiate_pre(&component).map_err(contract)?;
        let guest = guest::GuestIndices::new(&pre).map_err(contract)?;
        // 0.2.0 adds `exact`; without it the component is a 0.1.0 strategy.
        let exact = exact::GuestIndices::new(&pre).ok();
        let hash = crate::digest::hex(&Sha256::digest(bytes));
        Ok(Plugin {
            pre,
            guest,
            exact,
            hash,
            path,
            size: bytes.len(),
        })
    }

    /// Instantiate a loaded plugin in a fresh store and read its description.
    pub fn instantiate(
        &self,
        plugin: &Plugin,
        limits: SandboxLimits,
        seed: u64,
    ) -> Result<Instance, CallError> {
        let mut seed_bytes = Sha256::digest(seed.to_le_bytes()).to_vec();
        seed_bytes.extend_from_slice(&Sha256::digest(seed_bytes.clone()));
        let clock = BarClock::default();
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .secure_random(wasmtime_wasi::Deterministic::new(seed_bytes.clone()))
            .insecure_random(wasmtime_wasi::Deterministic::new(seed_bytes))
            .insecure_random_seed(u128::from(seed))
            .build();
        let state = State {
            wasi,
            table: ResourceTable::new(),
            clock: clock.clone(),
            limiter: Limiter::new(&limits),
            plugin: Arc::from(
                plugin
                    .path
                    .file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default()
                    .as_ref(),
            ),
            view: AccountView::default(),
            log_lines: 0,
            log_bytes: 0,
            log_line_cap: limits.max_log_lines_per_bar,
            log_byte_cap: limits.max_log_bytes_per_call,
            log_overflow: None,
            last_panic: None,
            window: Window::default(),
            ticks: 0,
            bar_started: 0,
            epoch: self.epoch.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let ticks = limits
            .call_timeout_ms
            .div_ceil(TICK.as_millis() as u64)
            .max(1);
        store.data_mut().ticks = ticks;
        // The budget is per bar, not per call: an exact-batching window of
        // many bars gets each bar's budget as it pulls the bar, so a plugin
        // faults on the same bar whichever way its bars are delivered.
        store.epoch_deadline_callback(|ctx| {
            let s = ctx.data();
            let used = s
                .epoch
                .load(Ordering::Relaxed)
                .saturating_sub(s.bar_started);
            if used >= s.ticks {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Continue(s.ticks - used))
            }
        });
        store.data_mut().bar_started = self.epoch.load(Ordering::Relaxed);
        store.set_epoch_deadline(ticks);
        let instance = plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(&mut store, e, &limits))?;
        let contract = |e: wasmtime::Error| {
            CallError::Fault(Fault::Trap {
                kind: format!("does not implement the contract: {e:#}"),
                frames: Vec::new(),
            })
        };
        let guest = plugin.guest.load(&mut store, &instance).map_err(contract)?;
        let exact = match &plugin.exact {
            Some(indices) => Some(indices.load(&mut store, &instance).map_err(contract)?),
            None => None,
        };
        store.data_mut().bar_started = self.epoch.load(Ordering::Relaxed);
        store.set_epoch_deadline(ticks);
        let description = guest
            .call_describe(&mut store)
            .map_err(|e| classify(&mut store, e, &limits))?;
        store.data_mut().plugin =
            Arc::from(format!("{}@{}", description.name, description.version).as_str());
        Ok(Instance {
            store,
            guest,
            exact,
            description,
            limits,
            ticks,
            bar_buf: Vec::new(),
            clock,
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// Store limits over the *sum* of every memory and every table (wasmtime's
/// own limits are per memory and per table), remembering whether they
/// refused a growth, so the fault can name the memory cap rather than the
/// trap that follows.
struct Limiter {
    inner: StoreLimits,
    memory_cap: usize,
    memory_total: usize,
    table_total: usize,
    refused: bool,
}

impl Limiter {
    fn new(limits: &SandboxLimits) -> Self {
        Self {
            inner: StoreLimitsBuilder::new()
                .instances(MAX_INSTANCES)
                .memories(MAX_MEMORIES)
                .tables(MAX_TABLES)
                .build(),
            memory_cap: limits.memory_bytes,
            memory_total: 0,
            table_total: 0,
            refused: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    /// Also called when a memory is created (`current` 0).
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false); // fails by the memory's own maximum; nothing to count
        }
        let total = (self.memory_total - current).saturating_add(desired);
        if total > self.memory_cap {
            self.refused = true;
            return Ok(false);
        }
        self.memory_total = total;
        Ok(true)
    }
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let total = (self.table_total - current).saturating_add(desired);
        if total > MAX_TABLE_ELEMENTS {
            self.refused = true;
            return Ok(false);
        }
        self.table_total = total;
        Ok(true)
    }
    fn instances(&self) -> usize {
        self.inner.instances()
    }
    fn tables(&self) -> usize {
        self.inner.tables()
    }
    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The clocks a plugin sees: bar time, never the host's. The wall clock
/// reads the open time of the last bar delivered (0 before the first); the
/// monotonic clock the same instant in nanoseconds. Replays stay
/// deterministic and a strategy cannot tell a replay from live trading.
#[derive(Clone, Default)]
struct BarClock(Arc<AtomicI64>);

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
struct VirtualTime;

impl wasmtime::component::HasData for VirtualTime {
    type Data<'a> = VirtualClock<'a>;
}

struct VirtualClock<'a> {
    clock: &'a BarClock,
    table: &'a mut ResourceTable,
}

/// A pollable that is always ready.
struct Due;

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for Due {
    async fn ready(&mut self) {}
}

impl VirtualClock<'_> {
    fn due_now(
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

/// A compiled, contract-checked plugin, ready to instantiate many times
/// (cloning it shares the compiled code).
#[derive(Clone)]
pub struct Plugin {
    pre: InstancePre<State>,
    guest: guest::GuestIndices,
    exact: Option<exact::GuestIndices>,
    /// SHA-256 of the component bytes, hex.
    pub hash: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: usize,
}

/// One live strategy instance with its own store.
pub struct Instance {
    store: Store<State>,
    guest: guest::Guest,
    exact: Option<exact::Guest>,
    description: Description,
    limits: SandboxLimits,
    ticks: u64,
    bar_buf: Vec<WitBar>,
    clock: BarClock,
}

/// The innermost frame of the strategy's own code, skipping the standard
/// library, the allocator and the panic machinery.
fn user_frame(frames: &[String]) -> Option<&str> {
    const RUNTIME: &[&str] = &[
        "std::",
        "core::",
        "alloc::",
        "__rust",
        "rust_",
        "abort",
        "dlmalloc",
        "<unnamed>",
    ];
    frames
        .iter()
        .find(|f| !RUNTIME.iter().any(|p| f.starts_with(p)))
        .or(frames.first())
        .map(String::as_str)
}

/// Turn a wasmtime error into a fault, naming what happened.
fn classify(store: &mut Store<State>, e: wasmtime::Error, limits: &SandboxLimits) -> CallError {
    let state = store.data_mut();
    if let Some(why) = state.log_overflow.take() {
        return Fault::Bound(why).into();
    }
    let trap = e.downcast_ref::<Trap>().copied();
    if trap == Some(Trap::Interrupt) {
        return Fault::Timeout(limits.call_timeout_ms).into();
    }
    if state.limiter.refused {
        // The cap refused a growth during this call; whatever trap followed
        // (Rust guests abort with `unreachable` on allocation failure) is its consequence.
        return Fault::Memory(limits.memory_bytes).into();
    }
    let frames = e
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| {
            bt.frames()
                .iter()
                .take(16)
                .map(|f| match f.func_name() {
                    Some(name) => format!("{:#}", rustc_demangle::demangle(name)),
                    None => "<unnamed>".to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut kind = match trap {
        Some(t) => t.to_string(),
        None => format!("{e:#}"),
    };
    if let Some(panic) = state.last_panic.take() {
        kind = format!("{kind} after the plugin's {}", panic.replace('\n', " "));
    }
    Fault::Trap { kind, frames }.into()
}

impl Instance {
    /// What the plugin says about itself.
    pub fn description(&self) -> &Description {
        &self.description
    }

    fn arm(&mut self) {
        let s = self.store.data_mut();
        s.bar_started = s.epoch.load(Ordering::Relaxed);
        self.store.set_epoch_deadline(self.ticks);
        let s = self.store.data_mut();
        s.log_lines = 0;
        s.log_bytes = 0;
        s.limiter.refused = false;
    }

    /// Call `init`.
    pub fn init(&mut self, config: &InitConfig) -> Result<(), CallError> {
        self.arm();
        self.store.data_mut().log_line_cap = self.limits.max_log_lines_per_bar;
        let r = self.guest.call_init(&mut self.store, config);
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CallError::Refused(match e.param {
                Some(p) => format!("parameter `{p}`: {}", e.message),
                None => e.message,
            })),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        }
    }

    /// Call `init` with every parameter at its declared default, on one
    /// symbol: a plugin that refuses its own defaults cannot be run as
    /// shipped, and `plugin add` and `describe` say so up front.
    pub fn init_with_defaults(&mut self) -> Result<(), CallError> {
        let params = self
            .description
            .params
            .iter()
            .map(|p| (p.name.clone(), p.default.clone()))
            .collect();
        self.init(&InitConfig {
            params,
            symbols: vec!["SYMBOL".into()],
            seed: 0,
        })
    }

    /// The account view the `host` import serves; set it before [`Instance::on_bars`].
    pub fn view_mut(&mut self) -> &mut AccountView {
        &mut self.store.data_mut().view
    }

    /// Deliver bars and events; intents are appended to `out`. One bar to
    /// a 0.2.0 strategy goes through `on-window` (with `more` false), so
    /// that what it decides — relative stops included — is the same
    /// whichever way its bars come.
    pub fn on_bars(
        &mut self,
        bars: &[crate::data::market::Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError> {
        if bars.len() == 1 && self.exact.is_some() {
            return self.window(bars, events, false, out).1;
        }
        self.arm();
        self.store.data_mut().log_line_cap = self
            .limits
            .max_log_lines_per_bar
            .saturating_mul(bars.len().max(1));
        if let Some(last) = bars.last() {
            self.clock.0.store(last.time_ms, Ordering::Relaxed);
        }
        let wit = wit_bar;
        let guest = &self.guest;
        let r = if let [one] = bars {
            // Per-bar delivery: the bar goes by value, no guest allocation.
            guest.call_on_bar(&mut self.store, wit(one), events)
        } else {
            self.bar_buf.clear();
            self.bar_buf.extend(bars.iter().map(wit));
            guest.call_on_bars(&mut self.store, &self.bar_buf, events)
        };
        match r {
            Ok(Ok(intents)) => {
                let cap = self
                    .limits
                    .max_intents_per_bar
                    .saturating_mul(bars.len().max(1));
                if intents.len() > cap {
                    return Err(Fault::Bound(format!(
                        "returned {} intents for {} bar(s); the cap is {} per bar",
                        intents.len(),
                        bars.len(),
                        self.limits.max_intents_per_bar
                    ))
                    .into());
                }
                out.extend(intents.into_iter().map(Intent::from));
                Ok(())
            }
            Ok(Err(e)) => Err(CallError::Refused(e.message)),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        }
    }

    /// Whether the instance implements contract 0.2.0's exact batching.
    pub fn exact(&self) -> bool {
        self.exact.is_some()
    }

    /// The contract the instance implements.
    pub fn contract(&self) -> &'static str {
        if self.exact.is_some() {
            CONTRACT
        } else {
            CONTRACT_0_1
        }
    }

    /// Exact batching: deliver `bars[0]` with `events` and let the guest
    /// pull `bars[1..]` one at a time, deciding on each. Returns how many
    /// bars the guest was handed (at least 1): the intents in `out` (and an
    /// error) belong to the last of them. Without contract 0.2.0 this is a
    /// per-bar call of `bars[0]`.
    pub fn on_window(
        &mut self,
        bars: &[crate::data::market::Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> (usize, Result<(), CallError>) {
        self.window(bars, events, true, out)
    }

    fn window(
        &mut self,
        bars: &[crate::data::market::Bar],
        events: &[Event],
        more: bool,
        out: &mut Vec<Intent>,
    ) -> (usize, Result<(), CallError>) {
        // Without contract 0.2.0 (or without a bar): one per-bar call.
        let (first, exact) = match (bars.first(), self.exact.take()) {
            (Some(first), Some(exact)) => (first, exact),
            (_, exact) => {
                self.exact = exact;
                return (1, self.on_bars(&bars[..1.min(bars.len())], events, out));
            }
        };
        self.arm();
        self.clock.0.store(first.time_ms, Ordering::Relaxed);
        let s = self.store.data_mut();
        s.log_line_cap = self.limits.max_log_lines_per_bar;
        s.window.pulled = 0;
        s.window.ended = false;
        s.window.bars.clear();
        if more {
            s.window.bars.extend(bars.iter().map(wit_bar));
        }
        let r = exact.call_on_window(&mut self.store, wit_bar(first), events, more);
        self.exact = Some(exact);
        let s = self.store.data_mut();
        let consumed = s.window.pulled + 1;
        let ended = s.window.ended;
        s.window.bars.clear();
        s.window.pulled = 0;
        let r = match r {
            Ok(Ok(decisions)) if ended && !decisions.is_empty() => Err(Fault::Bound(format!(
                "returned {} decision(s) after `next-bar` answered none: pulling a bar says \
                 there is no decision on the bar before it",
                decisions.len()
            ))
            .into()),
            Ok(Ok(intents)) if intents.len() > self.limits.max_intents_per_bar => {
                Err(Fault::Bound(format!(
                    "returned {} intents for 1 bar(s); the cap is {} per bar",
                    intents.len(),
                    self.limits.max_intents_per_bar
                ))
                .into())
            }
            Ok(Ok(decisions)) => {
                // They belong to the bar the guest is on (the engine checks
                // that they say bar 0, as `on-bar`'s must).
                out.extend(decisions.into_iter().map(Intent::from));
                Ok(())
            }
            Ok(Err(e)) => Err(CallError::Refused(e.message)),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        };
        (consumed, r)
    }

    /// Take the strategy's snapshot.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        self.arm();
        match self.guest.call_snapshot(&mut self.store) {
            Ok(Ok(bytes)) if bytes.len() > self.limits.max_snapshot_bytes => {
                Err(Fault::Bound(format!(
                    "snapshot of {} bytes exceeds the cap of {} bytes",
                    bytes.len(),
                    self.limits.max_snapshot_bytes
                ))
                .into())
            }
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(e)) => Err(CallError::Refused(e.message)),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        }
    }

    /// Restore a snapshot taken from `from_version`.
    pub fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError> {
        self.arm();
        match self
            .guest
            .call_restore(&mut self.store, from_version, state)
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CallError::Refused(e.message)),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        }
    }
}

fn wit_bar(b: &crate::data::market::Bar) -> WitBar {
    WitBar {
        symbol: b.symbol,
        time_ms: b.time_ms,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
    }
}

impl Plugin {
    /// The contract the component implements.
    pub fn contract(&self) -> &'static str {
        if self.exact.is_some() {
            CONTRACT
        } else {
            CONTRACT_0_1
        }
    }
}

/// The contract's action as the SDK spells it: the host reads intents with
/// the SDK's rules (`sandbar_sdk::intents`), as its harness does.
impl From<&Action> for sandbar_sdk::Action {
    fn from(a: &Action) -> sandbar_sdk::Action {
        let side = |s: Side| match s {
            Side::Buy => sandbar_sdk::Side::Buy,
            Side::Sell => sandbar_sdk::Side::Sell,
        };
        match *a {
            Action::TargetWeight(w) => sandbar_sdk::Action::TargetWeight(w),
            Action::TargetQuantity(q) => sandbar_sdk::Action::TargetQuantity(q),
            Action::Market(m) => sandbar_sdk::Action::Market {
                side: side(m.side),
                quantity: m.quantity,
            },
            Action::Limit(l) => sandbar_sdk::Action::Limit {
                side: side(l.side),
                quantity: l.quantity,
                price: l.price,
            },
            Action::Close => sandbar_sdk::Action::Close,
        }
    }
}

/// The contract's direction is the host's (`crate::execution::Side`, the
/// journal's spelling) at the sandbox's edge.
impl From<Side> for crate::execution::Side {
    fn from(s: Side) -> crate::execution::Side {
        match s {
            Side::Buy => crate::execution::Side::Buy,
            Side::Sell => crate::execution::Side::Sell,
        }
    }
}

impl From<crate::execution::Side> for Side {
    fn from(s: crate::execution::Side) -> Side {
        match s {
            crate::execution::Side::Buy => Side::Buy,
            crate::execution::Side::Sell => Side::Sell,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The store limits against hand-written components (issue 8.5): each
    //! would pass a per-memory or per-table cap.
    use super::*;

    fn instantiate(wat: &str) -> (wasmtime::Result<()>, bool) {
        let rt = Runtime::with_cpu_budget(None, false).unwrap();
        let bytes = wat::parse_str(wat).unwrap();
        let component = match Component::new(&rt.engine, &bytes) {
            Ok(c) => c,
            Err(e) => return (Err(e), false),
        };
        let mut store = Store::new(&rt.engine, Limiter::new(&SandboxLimits::default()));
        store.limiter(|l| l);
        let linker = Linker::<Limiter>::new(&rt.engine);
        let r = linker.instantiate(&mut store, &component).map(|_| ());
        (r, store.data().refused)
    }

    #[test]
    fn memories_are_capped_in_total_not_one_by_one() {
        // Two 40 MiB memories: each under the 64 MiB cap, together over it.
        let (r, refused) = instantiate(
            "(component (core module $m (memory 640)) (core instance (instantiate $m)) (core instance (instantiate $m)))",
        );
        assert!(r.is_err() && refused, "{r:?}");
        let (r, _) = instantiate(
            "(component (core module $m (memory 16)) (core instance (instantiate $m)))",
        );
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn a_store_holds_at_most_two_memories() {
        let (r, _) = instantiate(
            "(component (core module $m (memory 1)) (core instance (instantiate $m)) (core instance (instantiate $m)) (core instance (instantiate $m)))",
        );
        let e = format!("{:#}", r.unwrap_err());
        assert!(e.contains("memory"), "{e}");
    }

    #[test]
    fn multi_memory_modules_do_not_compile() {
        let (r, _) = instantiate("(component (core module (memory 1) (memory 1)))");
        assert!(r.is_err());
    }

    #[test]
    fn table_elements_are_capped_in_total_at_creation_and_on_grow() {
        let (r, refused) = instantiate(
            "(component (core module $t (table 600000 funcref)) (core instance (instantiate $t)) (core instance (instantiate $t)))",
        );
        assert!(r.is_err() && refused, "{r:?}");
        // A start function growing its table far: the growth is refused
        // (table.grow returns -1, the trap-free failure).
        let (r, refused) = instantiate(
            "(component (core module $t (table 1 funcref) (func $s (drop (table.grow 0 (ref.null func) (i32.const 50000000)))) (start $s)) (core instance (instantiate $t)))",
        );
        assert!(r.is_ok() && refused, "{r:?}");
    }

    #[test]
    fn a_store_holds_at_most_eight_core_instances() {
        let many = "(core instance (instantiate $m))".repeat(MAX_INSTANCES + 1);
        let (r, _) = instantiate(&format!("(component (core module $m) {many})"));
        assert!(r.is_err());
    }
}
