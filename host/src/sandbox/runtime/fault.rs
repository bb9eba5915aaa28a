//! How a plugin fails: a load error, a fault (trap, limit, panic) with the plugin's own frame named, and a call's error.

use super::*;

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
        "plugin {path} does not implement world `strategy` of {CONTRACT}, {CONTRACT_0_2} or {CONTRACT_0_1}: {message}"
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
    #[error("CPU budget exceeded: call used more than {0} ms of CPU on one bar")]
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

/// The innermost frame of the strategy's own code, skipping the standard
/// library, the allocator and the panic machinery.
pub(super) fn user_frame(frames: &[String]) -> Option<&str> {
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
pub(super) fn classify(
    store: &mut Store<State>,
    e: wasmtime::Error,
    limits: &SandboxLimits,
) -> CallError {
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
        let panic = error_text(panic.replace('\n', " "));
        kind = format!("{kind} after the plugin's {panic}");
    }
    Fault::Trap { kind, frames }.into()
}
