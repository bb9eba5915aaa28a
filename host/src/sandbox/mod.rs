//! Where strategies run: the wasmtime runtime with the crate's one
//! `bindgen!`, the locked-down WASI shim, virtual time and the store limits
//! ([`runtime`]); typed strategy parameters ([`params`]). (The same SDK
//! strategies driven natively, without a sandbox, as the benchmark baseline
//! are a strategy driver: `crate::engine::native`, feature `native`.)
//!
//! Nothing outside this folder knows about wasmtime.

pub mod params;
pub mod runtime;
