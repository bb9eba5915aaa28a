//! Where strategies run: the wasmtime runtime with the crate's one
//! `bindgen!`, the locked-down WASI shim, virtual time and the store limits
//! ([`runtime`]); typed strategy parameters ([`params`]); and the same SDK
//! strategies driven natively, without a sandbox, as the benchmark baseline
//! (`native`, feature `native`).
//!
//! Nothing outside this folder knows about wasmtime.

#[cfg(feature = "native")]
pub mod native;
pub mod params;
pub mod runtime;
