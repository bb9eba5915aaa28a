//! `[venues.<name>.reconcile]`: how a live venue's account is compared with
//! the journals (the comparison itself runs in the service,
//! `crate::service::reconcile`, which sees every deployment on the venue).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[venues.<name>.reconcile]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    /// Compare every this many seconds (default 30; 0: only at start).
    #[serde(default = "default_every")]
    pub every_secs: f64,
    /// A difference in a holding smaller than this is none (default 1e-8).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Compare holdings (default true). A fee the venue keeps out of the
    /// asset bought (Binance without BNB) is booked as the account holds
    /// it; a fee paid in a third asset (BNB) is not valued, so with BNB
    /// fees turn `cash` off, not this.
    #[serde(default = "default_true")]
    pub holdings: bool,
    /// Compare the cash (each quote asset's balance) too (default true; off
    /// when fees are paid in BNB, which the books do not hold).
    #[serde(default = "default_true")]
    pub cash: bool,
    /// A difference in cash smaller than this is none (default 0.01).
    #[serde(default = "default_cash_tolerance")]
    pub cash_tolerance: f64,
    /// What someone else holds of each symbol on the account (the venue's
    /// symbol → quantity); a symbol not named is measured at the first
    /// comparison.
    #[serde(default)]
    pub foreign: BTreeMap<String, f64>,
}

fn default_every() -> f64 {
    30.0
}
fn default_tolerance() -> f64 {
    1e-8
}
fn default_true() -> bool {
    true
}
fn default_cash_tolerance() -> f64 {
    0.01
}

/// Longest interval between two comparisons: a day.
pub const MAX_EVERY_SECS: f64 = 86_400.0;

impl ReconcileConfig {
    /// The numbers make sense. A NaN tolerance would make every difference
    /// "none" (a comparison with NaN is false), a NaN interval would turn
    /// the comparison off, an infinite one would end the comparing thread.
    /// The error starts with the key.
    pub fn check(&self) -> Result<(), String> {
        if !(self.every_secs.is_finite() && (0.0..=MAX_EVERY_SECS).contains(&self.every_secs)) {
            return Err(format!(
                "every_secs: {} must be 0 (only at start) to {MAX_EVERY_SECS} seconds",
                self.every_secs
            ));
        }
        for (key, x) in [
            ("tolerance", self.tolerance),
            ("cash_tolerance", self.cash_tolerance),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                return Err(format!("{key}: {x} must be a finite number, 0 or more"));
            }
        }
        if let Some((symbol, q)) = self.foreign.iter().find(|(_, q)| !q.is_finite()) {
            return Err(format!("foreign.{symbol}: {q} must be a finite quantity"));
        }
        Ok(())
    }
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            every_secs: default_every(),
            tolerance: default_tolerance(),
            holdings: true,
            cash: true,
            cash_tolerance: default_cash_tolerance(),
            foreign: BTreeMap::new(),
        }
    }
}
