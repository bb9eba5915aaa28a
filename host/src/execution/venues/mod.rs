//! Where orders go, one venue per file. Each implements
//! [`crate::execution::Venue`]; a new venue (a broker, an exchange) is a new
//! file here and nothing above the trait changes.

pub mod alpaca;
pub mod binance;
pub mod live;
pub mod simulated;
