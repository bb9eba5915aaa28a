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

pub mod alpaca;
pub mod alpaca_trading;
pub mod binance;
pub mod binance_spot;
