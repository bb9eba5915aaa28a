//! A finished run's figures as lifecycle evidence.

use crate::engine::RunOutcome;
use crate::lifecycle::PaperEvidence;
use crate::report::Report;

/// What a finished paper run of `plugin` shows: `None` for a run that
/// traded no bar (an empty run is no evidence). Days are the UTC calendar
/// days of the bars traded, not wall time.
pub fn paper_evidence(plugin: String, o: &RunOutcome) -> Option<PaperEvidence> {
    if o.bars == 0 {
        return None;
    }
    let mut days: Vec<i64> = o
        .equity_curve
        .iter()
        .map(|(t, _)| t.div_euclid(86_400_000))
        .collect();
    days.dedup();
    let l = &o.ledger;
    let r = Report::new(o);
    let mut gaps: Vec<i64> = o
        .equity_curve
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|g| *g > 0)
        .collect();
    gaps.sort_unstable();
    Some(PaperEvidence {
        plugin,
        days: days.len() as f64,
        trades: l.trades.len() as u64,
        sharpe: r.sharpe,
        max_drawdown: Some(r.max_drawdown),
        win_rate: (r.trades > 0).then_some(r.win_rate),
        interval_ms: gaps.get(gaps.len() / 2).copied(),
        venue: None,
        slippage_bps: if l.traded_notional > 0.0 {
            l.slippage / l.traded_notional * 1e4
        } else {
            0.0
        },
        faults: u64::from(o.fault.is_some()) + o.faults_continued,
        replay: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(bar_times: &[i64]) -> crate::engine::RunOutcome {
        crate::engine::RunOutcome {
            equity_curve: bar_times.iter().map(|t| (*t, 1000.0)).collect(),
            bars: bar_times.len() as u64,
            ..crate::engine::RunOutcome::empty(1000.0)
        }
    }

    #[test]
    fn paper_days_are_days_traded_and_an_empty_run_is_no_evidence() {
        // Issue 8.9: days counted wall time, and an empty run recorded evidence.
        assert_eq!(paper_evidence("p@1.0.0".into(), &outcome(&[])), None);
        let hour = 3_600_000;
        let two_days = outcome(&[0, hour, 2 * hour, 86_400_000, 86_400_000 + hour]);
        let e = paper_evidence("p@1.0.0".into(), &two_days).unwrap();
        assert_eq!((e.days, e.plugin.as_str()), (2.0, "p@1.0.0"));
        assert_eq!(e.interval_ms, Some(hour), "the median spacing of its bars");
        assert_eq!(e.win_rate, None, "no round trip: no win rate");
    }
}
