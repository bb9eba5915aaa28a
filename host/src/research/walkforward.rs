//! Walk-forward analysis: optimise on a training span, trade the choice on
//! the span after it, move on; the out-of-sample spans, stitched, are the
//! evidence a sweep alone cannot give.
//!
//! Choices, and why:
//! - **Spans are calendar spans** (`3y`, `6m`, `2w`, `10d`) from the first
//!   bar's UTC day; `--step` defaults to the test span, so test spans tile
//!   the data without overlap. `--anchored` keeps every training span
//!   starting at the first bar (an expanding window).
//! - **Warm-up without look-ahead.** The test run starts `warmup` bars of
//!   each symbol before the test span; the strategy sees them but nothing
//!   it decides on them is taken ([`crate::engine::EngineConfig::warmup`]),
//!   so indicators are ready at the first test bar and no in-sample trade
//!   leaks into the out-of-sample result. The default warm-up is the
//!   largest integer parameter of the chosen combination (periods and
//!   lookbacks are integer parameters), or `--warmup N`.
//! - **Stitching is additive**: every test span starts from the same
//!   capital, and the stitched curve adds each span's PnL to the ones
//!   before — a fixed-capital walk-forward, so a window's result does not
//!   depend on how well the earlier ones did.
//! - **Walk-forward efficiency** = the stitched out-of-sample annualised
//!   return ÷ the mean in-sample annualised return of the chosen
//!   combinations (Pardo's definition); above ~0.5 is usually read as
//!   "the optimisation found something that carries over".

use anyhow::{Context, bail};

use crate::data::market::{Bar, Recording};
use crate::engine::{RuleCount, RunOutcome};
use crate::portfolio::Ledger;

/// A calendar span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Whole months.
    Months(u32),
    /// Whole days.
    Days(u32),
}

/// Parse `3y`, `6m`, `2w`, `10d` (`m` is months).
pub fn parse_span(text: &str) -> Result<Span, String> {
    let t = text.trim();
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u32 = n
        .parse()
        .map_err(|_| format!("`{text}` is not a span: write 3y, 6m, 2w or 10d"))?;
    if n == 0 {
        return Err(format!("`{text}`: a span must be positive"));
    }
    match unit {
        "y" => Ok(Span::Months(n * 12)),
        "m" => Ok(Span::Months(n)),
        "w" => Ok(Span::Days(n * 7)),
        "d" => Ok(Span::Days(n)),
        _ => Err(format!(
            "`{text}`: the unit is y (years), m (months), w (weeks) or d (days)"
        )),
    }
}

/// `t` (UTC ms) plus `span`, on the calendar (a month after Jan 31 is the
/// end of February).
pub fn add(t: i64, span: Span) -> i64 {
    let Some(dt) = chrono::DateTime::from_timestamp_millis(t) else {
        return t;
    };
    let moved = match span {
        Span::Months(m) => dt.checked_add_months(chrono::Months::new(m)),
        Span::Days(d) => dt.checked_add_days(chrono::Days::new(u64::from(d))),
    };
    moved.map_or(i64::MAX, |d| d.timestamp_millis())
}

/// One window: train on `[train.0, train.1)`, test on `[test.0, test.1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Training span.
    pub train: (i64, i64),
    /// Test span (ends at the data's end for the last one).
    pub test: (i64, i64),
}

/// The windows over bars from `first` to `last` (UTC ms): as many as have
/// a test span starting before the last bar.
pub fn windows(
    first: i64,
    last: i64,
    train: Span,
    test: Span,
    step: Span,
    anchored: bool,
) -> Vec<Window> {
    let origin = first.div_euclid(86_400_000) * 86_400_000;
    let mut out = Vec::new();
    let mut start = origin;
    loop {
        let train_start = if anchored { origin } else { start };
        let train_end = add(start, train);
        if train_end > last {
            break;
        }
        let test_end = add(train_end, test).min(last.saturating_add(1));
        out.push(Window {
            train: (train_start, train_end),
            test: (train_end, test_end),
        });
        let next = add(start, step);
        if next <= start || out.len() >= 10_000 {
            break;
        }
        start = next;
    }
    out
}

/// The bars of `[from, to)`.
pub fn slice(rec: &Recording, from: i64, to: i64) -> Recording {
    Recording {
        symbols: rec.symbols.clone(),
        bars: rec
            .bars
            .iter()
            .filter(|b| b.time_ms >= from && b.time_ms < to)
            .copied()
            .collect(),
    }
}

/// The bars of `[from, to)` preceded by up to `warmup` bars of each symbol
/// from before `from`; and how many bars that prefix has.
pub fn with_warmup(rec: &Recording, from: i64, to: i64, warmup: usize) -> (Recording, u64) {
    let first = rec.bars.partition_point(|b| b.time_ms < from);
    let mut need = vec![warmup; rec.symbols.len()];
    let mut start = first;
    while start > 0 && need.iter().any(|&n| n > 0) {
        let b = &rec.bars[start - 1];
        let left = &mut need[b.symbol as usize];
        if *left == 0 {
            // This symbol is warm; an earlier bar of another one may still be needed.
            if need.iter().all(|&n| n == 0) {
                break;
            }
        } else {
            *left -= 1;
        }
        start -= 1;
    }
    let end = rec.bars.partition_point(|b| b.time_ms < to);
    let bars: Vec<Bar> = rec.bars[start..end].to_vec();
    (
        Recording {
            symbols: rec.symbols.clone(),
            bars,
        },
        (first - start) as u64,
    )
}

/// A test run's outcome without its warm-up: the equity curve from the
/// test span's first bar on, the bars counted from there.
pub fn out_of_sample(mut o: RunOutcome, from: i64, warmup: u64) -> RunOutcome {
    o.equity_curve.retain(|&(t, _)| t >= from);
    o.bars = o.bars.saturating_sub(warmup);
    o
}

/// The test runs, stitched: each span's PnL added to the ones before.
pub fn stitch(initial: f64, runs: &[RunOutcome]) -> RunOutcome {
    let mut ledger = Ledger::new(initial, 0);
    let mut curve = Vec::new();
    let mut offset = 0.0;
    let mut o = RunOutcome::empty(initial);
    for r in runs {
        for &(t, e) in &r.equity_curve {
            curve.push((t, offset + e));
        }
        offset += r
            .equity_curve
            .last()
            .map_or(0.0, |p| p.1 - r.ledger.initial_cash);
        ledger.trades.extend(r.ledger.trades.iter().cloned());
        ledger.commissions += r.ledger.commissions;
        ledger.slippage += r.ledger.slippage;
        ledger.realized += r.ledger.realized;
        o.bars += r.bars;
        o.bars_in_market += r.bars_in_market;
        o.intents += r.intents;
        o.orders += r.orders;
        o.protective_orders += r.protective_orders;
        o.refusals += r.refusals;
        o.approved += r.approved;
        o.lookahead |= r.lookahead;
        for rc in &r.refusals_by_rule {
            match o.refusals_by_rule.iter_mut().find(|x| x.rule == rc.rule) {
                Some(x) => {
                    x.count += rc.count;
                    x.exits += rc.exits;
                }
                None => o.refusals_by_rule.push(RuleCount { ..rc.clone() }),
            }
        }
        o.state_changes.extend(r.state_changes.iter().cloned());
        o.state = r.state;
    }
    ledger.cash = initial + offset;
    o.ledger = ledger;
    o.equity_curve = curve;
    o
}

/// How steady a parameter's chosen values are across windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stability {
    /// Parameter.
    pub name: String,
    /// The value chosen in each window.
    pub values: Vec<String>,
    /// The most chosen value, and the share of windows that chose it.
    pub mode: String,
    /// Share of windows choosing [`Stability::mode`].
    pub mode_share: f64,
    /// Standard deviation ÷ mean of numeric values (None if not numeric).
    pub relative_spread: Option<f64>,
}

/// Stability of every parameter over the chosen combinations (`name=value`).
pub fn stability(chosen: &[Vec<String>]) -> Vec<Stability> {
    let mut names: Vec<String> = Vec::new();
    for c in chosen {
        for kv in c {
            let k = kv.split_once('=').map_or(kv.as_str(), |p| p.0);
            if !names.iter().any(|n| n == k) {
                names.push(k.to_string());
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let values: Vec<String> = chosen
                .iter()
                .map(|c| {
                    c.iter()
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_string))
                        .unwrap_or_default()
                })
                .collect();
            let mut counts: Vec<(String, usize)> = Vec::new();
            for v in &values {
                match counts.iter_mut().find(|(x, _)| x == v) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((v.clone(), 1)),
                }
            }
            // The most chosen; on a tie, the one chosen first.
            let (mode, n) = counts.iter().fold((String::new(), 0), |best, (v, n)| {
                if *n > best.1 { (v.clone(), *n) } else { best }
            });
            let nums: Option<Vec<f64>> = values.iter().map(|v| v.parse().ok()).collect();
            let relative_spread = nums.filter(|x| x.len() > 1).and_then(|x| {
                let mean = x.iter().sum::<f64>() / x.len() as f64;
                let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (x.len() - 1) as f64;
                (mean != 0.0).then(|| var.sqrt() / mean.abs())
            });
            Stability {
                mode_share: n as f64 / values.len().max(1) as f64,
                name,
                values,
                mode,
                relative_spread,
            }
        })
        .collect()
}

/// The warm-up a combination needs by default: its largest integer value.
pub fn default_warmup(params: &[String]) -> usize {
    params
        .iter()
        .filter_map(|kv| kv.split_once('=')?.1.parse::<i64>().ok())
        .filter(|&v| v > 0)
        .max()
        .unwrap_or(0) as usize
}

/// Check a walk-forward has at least one window, naming the spans.
pub fn require(windows: &[Window], first: i64, last: i64, train: &str) -> anyhow::Result<()> {
    if windows.is_empty() {
        bail!(
            "the data runs from {} to {}: no room for a {train} training span and a test span after it",
            crate::data::market::format_time(first),
            crate::data::market::format_time(last)
        );
    }
    Ok(())
}

/// `3y` etc. as the CLI parses them, with the flag named in the error.
pub fn span_arg(flag: &str, text: &str) -> anyhow::Result<Span> {
    parse_span(text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--{flag}"))
}

/// What every run of a walk-forward shares: the plugin compiled once, the
/// run settings and fixed parameters, the bars, the grid.
pub struct Runs<'a> {
    /// The runtime.
    pub rt: &'a crate::sandbox::runtime::Runtime,
    /// The compiled plugin.
    pub plugin: &'a crate::sandbox::runtime::Plugin,
    /// Data files, configuration, fixed parameters.
    pub spec: &'a crate::engine::replay::ReplaySpec,
    /// Every bar.
    pub rec: &'a Recording,
    /// Digests of the data files.
    pub digests: &'a [crate::engine::replay::DataDigest],
    /// The grid.
    pub combos: &'a [super::sweep::Combination],
}

/// How to walk forward.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Training span.
    pub train: Span,
    /// As given (for messages).
    pub train_text: String,
    /// Test span.
    pub test: Span,
    /// Step between windows.
    pub step: Span,
    /// Training spans all start at the first bar.
    pub anchored: bool,
    /// Warm-up bars per symbol (default: the chosen largest integer value).
    pub warmup: Option<usize>,
    /// Choose the best by this metric.
    pub metric: String,
    /// Runs at a time.
    pub jobs: usize,
}

/// One window's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WindowResult {
    /// Training span (RFC 3339 / dates).
    pub train: (String, String),
    /// Test span.
    pub test: (String, String),
    /// The combination chosen.
    pub params: Vec<String>,
    /// Its metric in sample.
    pub in_sample: f64,
    /// Its metric out of sample.
    pub out_of_sample: f64,
    /// Annualised return in sample.
    pub in_sample_cagr: f64,
    /// Annualised return out of sample.
    pub out_of_sample_cagr: f64,
    /// Round trips out of sample.
    pub trades: usize,
    /// Bars of warm-up before the test span.
    pub warmup_bars: u64,
    /// Combinations with a result in sample.
    pub trials: usize,
    /// Deflated Sharpe Ratio of the in-sample best.
    pub deflated_sharpe: Option<f64>,
    /// Probability of Backtest Overfitting of the window's sweep.
    pub pbo: Option<f64>,
}

/// A walk-forward's result.
pub struct WalkForward {
    /// Every window.
    pub windows: Vec<WindowResult>,
    /// The out-of-sample runs stitched.
    pub stitched: RunOutcome,
    /// Its report.
    pub report: crate::report::Report,
    /// Mean in-sample annualised return of the chosen combinations.
    pub mean_in_sample_cagr: f64,
    /// Out-of-sample ÷ mean in-sample annualised return.
    pub efficiency: f64,
    /// How steady each parameter's choice was.
    pub stability: Vec<Stability>,
}

impl Plan {
    /// The windows over `rec`, or an error naming the data's span.
    pub fn windows(&self, rec: &Recording) -> anyhow::Result<Vec<Window>> {
        let (Some(first), Some(last)) = (rec.bars.first(), rec.bars.last()) else {
            bail!("the data has no bars");
        };
        let w = windows(
            first.time_ms,
            last.time_ms,
            self.train,
            self.test,
            self.step,
            self.anchored,
        );
        require(&w, first.time_ms, last.time_ms, &self.train_text)?;
        Ok(w)
    }

    /// Sweep each training span, run its best on the test span after it,
    /// stitch; `each` hears of every window as it is done.
    pub fn run(
        &self,
        r: &Runs<'_>,
        windows: &[Window],
        each: &mut dyn FnMut(&WindowResult),
    ) -> anyhow::Result<WalkForward> {
        use super::sweep;
        use crate::engine::replay;
        use crate::report::Report;
        let fmt = crate::data::market::format_time;
        let last = r.rec.bars.last().map_or(0, |b| b.time_ms);
        let (mut rows, mut oos, mut chosen) = (Vec::new(), Vec::new(), Vec::new());
        for w in windows {
            let train_rec = slice(r.rec, w.train.0, w.train.1);
            if train_rec.bars.is_empty() {
                continue;
            }
            let outcomes = sweep::Sweep {
                rt: r.rt,
                plugin: r.plugin,
                base: r.spec,
                rec: &train_rec,
                digests: r.digests,
            }
            .run(r.combos, self.jobs, &|| {});
            let Some(&best) = sweep::ranked(&outcomes, &self.metric).first() else {
                let why = outcomes
                    .iter()
                    .find_map(|o| o.report.as_ref().err())
                    .cloned()
                    .unwrap_or_default();
                bail!(
                    "training span {} – {}: no combination gave a result (first: {why})",
                    fmt(w.train.0),
                    fmt(w.train.1)
                );
            };
            let best_out = &outcomes[best];
            let Ok(is_report) = &best_out.report else {
                bail!("the best combination has no report");
            };
            let mut all_params = r.spec.params.clone();
            all_params.extend(best_out.params.iter().cloned());
            let warmup = self.warmup.unwrap_or_else(|| default_warmup(&all_params));
            let (test_rec, warm) = with_warmup(r.rec, w.test.0, w.test.1, warmup);
            if test_rec.bars.len() as u64 == warm {
                continue;
            }
            let mut run_spec = r.spec.clone();
            run_spec.params.extend(best_out.params.iter().cloned());
            run_spec.warmup = warm;
            let mut entries = Vec::new();
            let run = replay::run_compiled(
                r.rt,
                r.plugin,
                &run_spec,
                test_rec,
                r.digests.to_vec(),
                replay::Sink::Memory(&mut entries),
            )
            .with_context(|| format!("test span {} – {}", fmt(w.test.0), fmt(w.test.1)))?;
            if let Some(f) = &run.outcome.fault {
                bail!(
                    "test span {} – {}: the plugin faulted at bar {}: {}",
                    fmt(w.test.0),
                    fmt(w.test.1),
                    f.seq,
                    f.fault
                );
            }
            let o = out_of_sample(run.outcome, w.test.0, warm);
            let report = Report::new(&o);
            // Spans are half-open; the last test span ends with the data.
            let test_end = if w.test.1 > last {
                fmt(last)
            } else {
                fmt(w.test.1)
            };
            let row = WindowResult {
                train: (fmt(w.train.0), fmt(w.train.1)),
                test: (fmt(w.test.0), test_end),
                params: best_out.params.clone(),
                in_sample: sweep::metric(is_report, &self.metric).unwrap_or(f64::NAN),
                out_of_sample: sweep::metric(&report, &self.metric).unwrap_or(f64::NAN),
                in_sample_cagr: is_report.cagr,
                out_of_sample_cagr: report.cagr,
                trades: report.trades,
                warmup_bars: warm,
                trials: outcomes.iter().filter(|o| o.report.is_ok()).count(),
                deflated_sharpe: sweep::deflated(&outcomes).map(|d| d.1),
                pbo: sweep::overfitting(&outcomes).ok().map(|p| p.pbo),
            };
            each(&row);
            chosen.push(best_out.params.clone());
            rows.push(row);
            oos.push(o);
        }
        if oos.is_empty() {
            bail!("no test span had bars after its warm-up");
        }
        let stitched = stitch(r.spec.config.initial_cash, &oos);
        let report = Report::new(&stitched);
        let mean_is = rows.iter().map(|r| r.in_sample_cagr).sum::<f64>() / rows.len() as f64;
        let efficiency = if mean_is != 0.0 {
            report.cagr / mean_is
        } else {
            f64::NAN
        };
        Ok(WalkForward {
            windows: rows,
            stitched,
            report,
            mean_in_sample_cagr: mean_is,
            efficiency,
            stability: stability(&chosen),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn date(s: &str) -> i64 {
        crate::data::market::parse_time(s).unwrap()
    }

    #[test]
    fn spans_are_calendar_spans() {
        assert_eq!(parse_span("3y"), Ok(Span::Months(36)));
        assert_eq!(parse_span("2w"), Ok(Span::Days(14)));
        assert!(parse_span("6x").unwrap_err().contains("unit is y"));
        assert!(parse_span("0m").is_err());
        assert_eq!(add(date("2024-01-31"), Span::Months(1)), date("2024-02-29"));
    }

    #[test]
    fn rolling_and_anchored_windows_tile_the_test_spans() {
        let (first, last) = (date("2004-08-19"), date("2013-12-31"));
        let w = windows(
            first,
            last,
            Span::Months(36),
            Span::Months(12),
            Span::Months(12),
            false,
        );
        assert_eq!(w.len(), 7, "{w:?}");
        assert_eq!(w[0].train, (date("2004-08-19"), date("2007-08-19")));
        assert_eq!(w[0].test, (date("2007-08-19"), date("2008-08-19")));
        assert_eq!(w[1].train.0, date("2005-08-19"));
        for p in w.windows(2) {
            assert_eq!(p[0].test.1, p[1].test.0, "test spans tile");
        }
        assert_eq!(w[6].test.1, last + 1, "the last one ends with the data");
        let a = windows(
            first,
            last,
            Span::Months(36),
            Span::Months(12),
            Span::Months(12),
            true,
        );
        assert!(a.iter().all(|x| x.train.0 == first));
        assert_eq!(a[6].train.1, date("2013-08-19"));
    }

    #[test]
    fn the_warm_up_takes_bars_of_every_symbol_from_before_the_span() {
        let bars: Vec<Bar> = (0..20)
            .map(|i| Bar {
                symbol: (i % 2) as u32,
                time_ms: (i / 2) as i64 * DAY,
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close: 1.0,
                volume: 1.0,
            })
            .collect();
        let rec = Recording {
            symbols: vec!["A".into(), "B".into()],
            bars,
        };
        let (r, n) = with_warmup(&rec, 5 * DAY, 8 * DAY, 3);
        assert_eq!(n, 6, "three bars of each symbol");
        assert_eq!(r.bars.first().unwrap().time_ms, 2 * DAY);
        assert_eq!(r.bars.len(), 6 + 6);
        let (_, n) = with_warmup(&rec, DAY, 8 * DAY, 3);
        assert_eq!(n, 2, "only what there is");
    }

    #[test]
    fn stability_names_the_mode_and_the_spread() {
        let chosen = vec![
            vec!["fast=10".to_string(), "slow=50".to_string()],
            vec!["fast=10".to_string(), "slow=60".to_string()],
            vec!["fast=20".to_string(), "slow=50".to_string()],
        ];
        let s = stability(&chosen);
        assert_eq!((s[0].mode.as_str(), s[0].mode_share), ("10", 2.0 / 3.0));
        assert_eq!(s[1].values, vec!["50", "60", "50"]);
        assert!(
            (s[0].relative_spread.unwrap() - (5.773502691896258 / 13.333333333333334)).abs()
                < 1e-12
        );
        assert_eq!(default_warmup(&chosen[1]), 60);
    }
}
