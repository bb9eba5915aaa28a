//! What a deployment is made of, checked once where it enters the
//! registry — the CLI and the API both create through
//! [`Registry::create_deployment`](super::Registry::create_deployment), so
//! they share these rules. A record that could not be read back (a NaN
//! capital serializes as `null` and fails every later listing) or a name
//! that leaves `journals/` when it becomes a file name is refused before
//! anything is written, naming the field.

use super::RegistryError;

/// Longest deployment name (it is a file name and repeats in every audit
/// entry and client order id prefix).
pub const MAX_NAME: usize = 64;
/// Most parameters a plugin declares.
pub const MAX_PARAMS: usize = 64;
/// Most symbols a deployment trades.
pub const MAX_SYMBOLS: usize = 256;
/// Longest symbol.
pub const MAX_SYMBOL: usize = 32;

fn bad(field: &str, value: impl std::fmt::Debug, why: &str) -> RegistryError {
    RegistryError::BadValue {
        field: field.to_string(),
        value: format!("{value:?}"),
        why: why.to_string(),
    }
}

/// A deployment name: 1–64 ASCII letters, digits, `-`, `_` or `.`, not
/// starting with `.` (so never `.`, `..` or a hidden file).
pub fn name(field: &str, s: &str) -> Result<(), RegistryError> {
    if s.is_empty() || s.len() > MAX_NAME {
        return Err(bad(
            field,
            s,
            &format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    if s.starts_with('.') {
        return Err(bad(field, s, "must not start with `.`"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(bad(field, s, "use letters, digits, `-`, `_` and `.`"));
    }
    Ok(())
}

/// An amount of money: finite and above zero.
pub fn positive(field: &str, x: f64) -> Result<(), RegistryError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(bad(field, x, "must be a finite number above 0"))
    }
}

/// The symbols a deployment trades: at most 256 distinct, each 1–32
/// printable ASCII characters without spaces.
pub fn symbols(field: &str, list: &[String]) -> Result<(), RegistryError> {
    if list.len() > MAX_SYMBOLS {
        return Err(bad(
            field,
            list.len(),
            &format!("at most {MAX_SYMBOLS} symbols"),
        ));
    }
    for s in list {
        if s.is_empty() || s.len() > MAX_SYMBOL || !s.chars().all(|c| c.is_ascii_graphic()) {
            return Err(bad(
                field,
                s,
                &format!("a symbol is 1 to {MAX_SYMBOL} printable characters without spaces"),
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(d) = list.iter().find(|s| !seen.insert(*s)) {
        return Err(bad(field, d, "named twice"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_journals_folder_are_refused() {
        for bad in [
            "", ".", "..", "../evil", "a/b", "a\\b", ".hidden", "x y", "é",
        ] {
            let e = name("name", bad).unwrap_err().to_string();
            assert!(e.starts_with("name "), "{bad:?}: {e}");
        }
        assert!(name("name", &"a".repeat(65)).is_err());
        for good in ["d", "sma-cross_2.v1", &"a".repeat(64)] {
            name("name", good).unwrap();
        }
    }

    #[test]
    fn money_is_finite_and_positive() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -1.0] {
            let e = positive("capital", bad).unwrap_err().to_string();
            assert!(e.contains("capital") && e.contains("finite"), "{e}");
        }
        positive("capital", 1e-6).unwrap();
    }

    #[test]
    fn symbols_are_bounded_printable_and_distinct() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(symbols("symbols", &s(&["BTCUSDT", "BTCUSDT"])).is_err());
        assert!(symbols("symbols", &s(&["BTC USDT"])).is_err());
        assert!(symbols("symbols", &s(&[""])).is_err());
        assert!(symbols("symbols", &vec!["A".to_string(); 300]).is_err());
        symbols("symbols", &s(&["BTCUSDT", "ETH/USD"])).unwrap();
    }
}
