//! The sandbox: loading strategy components and calling them safely.
//!
//! This is the only module that knows about wasmtime. It holds the crate's
//! one `bindgen!`, links a WASI shim that grants nothing (no files, network,
//! environment, stdio; clocks at bar time; randomness seeded from the run), and
//! bounds every bar in CPU time (checked at each epoch tick) and memory (store
//! limits).
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

//!
//! Files: `contract.rs` the contract's types as the engine handles them;
//! `host.rs` the store's state and the imports a plugin may call;
//! `clock.rs` virtual time; `limits.rs` memory, tables and CPU;
//! `fault.rs` how a plugin fails; `instance.rs` a plugin and its calls;
//! this file the one `bindgen!` and the [`Runtime`].

use bindings::exports::sandbar::strategy0_1_0::guest;
use bindings::exports::sandbar::strategy0_2_0::exact;
use bindings::exports::sandbar::strategy0_3_0::managed;
pub use bindings::sandbar::strategy0_1_0::types::{
    Action, Bar as WitBar, Delivery as DeclaredDelivery, Description, Event, Fill, InitConfig,
    Intent as WitIntent, Level, LimitOrder, MarketOrder, ParamSpec, ParamType, ParamValue,
    Portfolio, Position, Rejection, Side,
};
/// Where a protective order sits: contract 0.2.0's `level` (0.1.0 knows
/// prices only). The SDK's type, so the host and the SDK's harness resolve a
/// level by the same rule ([`Protect::resolve`]).
pub use sandbar_sdk::Protect;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod clock;
mod contract;
mod fault;
mod host;
mod instance;
mod limits;
mod trace;
use clock::*;
pub use contract::*;
pub use fault::*;
pub use host::*;
pub use instance::*;
pub use limits::*;

/// Generated bindings for `wit/` (world `strategy` of contract 0.3.0, which
/// includes 0.2.0's and 0.1.0's); everything else imports from here through
/// the aliases below. Components of 0.1.0 and 0.2.0 are served by the same
/// bindings: their exports are looked up one interface at a time (`guest`
/// always, `exact` and `managed` when present).
mod bindings {
    wasmtime::component::bindgen!({
        world: "sandbar:strategy/strategy@0.3.0",
        path: "../wit",
        imports: { default: trappable },
        additional_derives: [PartialEq],
    });
}

/// The engine's settings. Two make execution the same on every CPU
/// (principle 3): a NaN's bits are otherwise whatever the machine's
/// instruction gives (x86 and Arm differ), and a relaxed SIMD instruction
/// may give a different (allowed) answer per CPU; canonical NaNs and
/// deterministic relaxed SIMD make a journal re-execute identically
/// anywhere (`runtime::tests::nan_bits_are_canonical_on_every_machine`).
fn engine_config(cpu_budget: bool) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(cpu_budget);
    config.wasm_multi_memory(false);
    config.max_wasm_stack(1 << 20);
    config.cranelift_nan_canonicalization(true);
    config.relaxed_simd_deterministic(true);
    config
}

/// The wasmtime engine, linker and compilation cache shared by all plugins.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    stop_ticker: Arc<AtomicBool>,
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
        let mut config = engine_config(cpu_budget);
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
        let (weak, stop) = (engine.weak(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("sandbar-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Self {
            engine,
            linker,
            stop_ticker,
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
        trace::loading(bytes, &path);
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
        // 0.3.0 adds `managed` (with `exact`).
        let managed = exact
            .as_ref()
            .and_then(|_| managed::GuestIndices::new(&pre).ok());
        let hash = crate::digest::hex(&Sha256::digest(bytes));
        Ok(Plugin {
            pre,
            guest,
            exact,
            managed,
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
            budget: Duration::from_millis(limits.call_timeout_ms),
            bar_started: limits::thread_cpu(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let ticks = limits
            .call_timeout_ms
            .div_ceil(TICK.as_millis() as u64)
            .max(1);
        // The budget is per bar, not per call: an exact-batching window of
        // many bars gets each bar's budget as it pulls the bar, so a plugin
        // faults on the same bar whichever way its bars are delivered.
        store.epoch_deadline_callback(|ctx| {
            let s = ctx.data();
            let used = limits::cpu_used(s.bar_started);
            if used >= s.budget {
                Err(Trap::Interrupt.into())
            } else {
                // The thread cannot use CPU faster than the wall clock runs:
                // look again once the rest of the budget could be spent.
                let rest = (s.budget - used).as_millis() as u64;
                Ok(UpdateDeadline::Continue(
                    rest.div_ceil(TICK.as_millis() as u64).max(1),
                ))
            }
        });
        store.data_mut().bar_started = limits::thread_cpu();
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
        let managed = match &plugin.managed {
            Some(indices) => Some(indices.load(&mut store, &instance).map_err(contract)?),
            None => None,
        };
        store.data_mut().bar_started = limits::thread_cpu();
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
            managed,
            amends: Vec::new(),
            description,
            limits,
            ticks,
            bar_buf: Vec::new(),
            clock,
            hash: plugin.hash.clone(),
            traced: false,
            budget: CallBudget::default(),
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
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

    /// The bits of a NaN made from a NaN with a payload: x86 keeps the
    /// payload (quieted, 0x7fe00001), Arm gives its default NaN; with the
    /// engine's settings every machine gives the canonical 0x7fc00000.
    #[test]
    fn nan_bits_are_canonical_on_every_machine() {
        let engine = Engine::new(&engine_config(false)).unwrap();
        let wasm = wat::parse_str(
            r#"(module (func (export "nan") (result i32)
                (i32.reinterpret_f32 (f32.add
                    (f32.reinterpret_i32 (i32.const 0x7fa00001)) (f32.const 1)))))"#,
        )
        .unwrap();
        let module = wasmtime::Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let nan = instance
            .get_typed_func::<(), i32>(&mut store, "nan")
            .unwrap()
            .call(&mut store, ())
            .unwrap();
        assert_eq!(nan as u32, 0x7fc0_0000, "{:#x}", nan as u32);
    }

    #[test]
    fn a_store_holds_at_most_eight_core_instances() {
        let many = "(core instance (instantiate $m))".repeat(MAX_INSTANCES + 1);
        let (r, _) = instantiate(&format!("(component (core module $m) {many})"));
        assert!(r.is_err());
    }
}
