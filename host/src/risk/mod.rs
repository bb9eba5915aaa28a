//! The risk engine: the host's last word on every order a strategy asks for.
//!
//! The rules themselves live in the SDK crate (`guest-sdk/src/risk.rs`,
//! re-exported here whole), so that a strategy's native unit tests run the
//! same code a replay runs (`sandbar_sdk::testing::Harness::with_risk`):
//! one implementation, no second copy to drift. Nothing of the guest
//! reaches the host through it — it is plain arithmetic on the figures the
//! engine hands it, compiled into the host natively.
//!
//! Where the host enforces them: [`crate::engine`] builds a [`Proposal`]
//! for every strategy order with committed exposure (positions plus open
//! orders as if they filled), refuses before anything is journaled as an
//! order, and acts on state changes (REDUCING cancels orders that add risk,
//! HALTED cancels everything and flattens).

pub use sandbar_sdk::risk::*;

/// The limits a deployment runs with: the defaults with its stored
/// `key=value` overrides (as `deploy create --risk` took them), each value
/// read as TOML (`none` where a limit may be off). Errors name the override.
pub fn with_overrides(overrides: &[String]) -> Result<RiskConfig, String> {
    let mut table = toml::Table::new();
    for o in overrides {
        let (key, value) = o
            .split_once('=')
            .ok_or_else(|| format!("risk override `{o}` is not of the form key=value"))?;
        let value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(mut t) => t.remove("v").expect("parsed"),
            Err(_) => toml::Value::String(value.to_string()),
        };
        table.insert(key.trim().to_string(), value);
    }
    let risk: RiskConfig = toml::Value::Table(table).try_into().map_err(|e| {
        format!(
            "risk overrides: {}",
            e.to_string().replace('\n', " ").trim()
        )
    })?;
    risk.validate()
        .map_err(|e| format!("risk overrides: {e}"))?;
    Ok(risk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_change_only_what_they_name_and_a_bad_one_is_named() {
        let r =
            with_overrides(&["max_position=0.5".into(), "max_order_notional=1000".into()]).unwrap();
        assert_eq!(r.max_position, 0.5);
        assert_eq!(r.max_order_notional, Some(1000.0));
        assert_eq!(r.max_drawdown, RiskConfig::default().max_drawdown);
        let e = with_overrides(&["max_positon=0.5".into()]).unwrap_err();
        assert!(e.contains("max_positon"), "{e}");
    }
}
