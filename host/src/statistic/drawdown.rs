//! Drawdown: how far an equity curve stands below its running peak.

/// The deepest drawdown of a curve and the longest time spent below a peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaxDrawdown {
    /// Deepest fall from a running peak, as a positive fraction.
    pub depth: f64,
    /// Longest time from a peak to a point still below it (milliseconds).
    pub longest_ms: i64,
}

/// The maximum drawdown of `curve` (time, equity), the running peak starting
/// at `initial` at `start_ms`. A new high (or an equal one) is a new peak.
pub fn max_drawdown(initial: f64, start_ms: i64, curve: &[(i64, f64)]) -> MaxDrawdown {
    let (mut peak, mut peak_t, mut depth, mut longest_ms) = (initial, start_ms, 0.0f64, 0i64);
    for &(t, e) in curve {
        if e >= peak {
            peak = e;
            peak_t = t;
        } else {
            depth = depth.max(1.0 - e / peak);
            longest_ms = longest_ms.max(t - peak_t);
        }
    }
    MaxDrawdown { depth, longest_ms }
}

/// Drawdown from the running peak, as a negative fraction, per point.
pub fn series(equity: &[(i64, f64)]) -> Vec<f64> {
    let mut peak = f64::MIN;
    equity
        .iter()
        .map(|&(_, e)| {
            peak = peak.max(e);
            if peak > 0.0 { e / peak - 1.0 } else { 0.0 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deepest_fall_and_the_longest_time_under_water() {
        let curve = [(1, 110.0), (2, 99.0), (3, 105.0), (4, 111.0), (5, 100.0)];
        let d = max_drawdown(100.0, 0, &curve);
        assert!((d.depth - (1.0 - 99.0 / 110.0)).abs() < 1e-15);
        assert_eq!(d.longest_ms, 2); // from the peak at 1 to the point at 3
        assert_eq!(series(&curve)[1], 99.0 / 110.0 - 1.0);
    }
}
