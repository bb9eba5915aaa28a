//! Shadow runs: a candidate version trades on paper beside the serving one,
//! on the same bars, with its own simulated ledger. Its intents are journaled
//! and compared with the serving version's; nothing it asks for reaches a
//! venue. The [`Divergence`] report says where they part ways and what each
//! earned.

use serde::{Deserialize, Serialize};

use crate::engine::RunOutcome;
use crate::store::journal::Entry;

/// How a candidate compares with the serving version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// Serving `name@version`.
    pub serving: String,
    /// Candidate `name@version`.
    pub candidate: String,
    /// Bars both saw.
    pub bars: u64,
    /// Bars on which both asked for the same things.
    pub bars_agreeing: u64,
    /// Bars on which their intents differ.
    pub bars_differing: u64,
    /// The first few differences: (bar, serving's intents, candidate's intents).
    pub first_differences: Vec<(u64, String, String)>,
    /// Intents of each.
    pub intents: (u64, u64),
    /// Net PnL of each (final equity − initial).
    pub pnl: (f64, f64),
    /// Round trips of each.
    pub trades: (usize, usize),
    /// Whether each faulted.
    pub faulted: (bool, bool),
}

/// Per bar, the intents as comparable text (symbol, action, prices), bar order.
fn intents_by_bar(entries: &[Entry]) -> std::collections::BTreeMap<u64, Vec<String>> {
    let mut out: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    for e in entries {
        if let Entry::Intent {
            seq,
            symbol,
            action,
            stop_loss,
            take_profit,
            ..
        } = e
        {
            out.entry(*seq).or_default().push(format!(
                "{symbol} {action:?} sl={stop_loss:?} tp={take_profit:?}"
            ));
        }
    }
    out
}

/// The figures of one side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Bars processed.
    pub bars: u64,
    /// Final equity − initial.
    pub pnl: f64,
    /// Round trips.
    pub trades: usize,
    /// Whether it faulted.
    pub faulted: bool,
}

impl From<&RunOutcome> for Summary {
    fn from(o: &RunOutcome) -> Summary {
        Summary {
            bars: o.bars,
            pnl: o.equity_curve.last().map_or(0.0, |e| e.1) - o.ledger.initial_cash,
            trades: o.ledger.trades.len(),
            faulted: o.fault.is_some(),
        }
    }
}

/// Compare two runs over the same bars.
pub fn compare(
    serving: (&str, &[Entry], Summary),
    candidate: (&str, &[Entry], Summary),
) -> Divergence {
    let (a, b) = (intents_by_bar(serving.1), intents_by_bar(candidate.1));
    let bars = serving.2.bars.min(candidate.2.bars);
    let mut seqs: Vec<u64> = a
        .keys()
        .chain(b.keys())
        .copied()
        .filter(|s| *s < bars)
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let mut differing = 0;
    let mut first = Vec::new();
    for s in seqs {
        let (x, y) = (a.get(&s), b.get(&s));
        if x != y {
            differing += 1;
            if first.len() < 10 {
                let show =
                    |v: Option<&Vec<String>>| v.map_or("nothing".to_string(), |v| v.join("; "));
                first.push((s, show(x), show(y)));
            }
        }
    }
    let count =
        |m: &std::collections::BTreeMap<u64, Vec<String>>| m.values().map(|v| v.len() as u64).sum();
    Divergence {
        serving: serving.0.into(),
        candidate: candidate.0.into(),
        bars,
        bars_agreeing: bars - differing,
        bars_differing: differing,
        first_differences: first,
        intents: (count(&a), count(&b)),
        pnl: (serving.2.pnl, candidate.2.pnl),
        trades: (serving.2.trades, candidate.2.trades),
        faulted: (serving.2.faulted, candidate.2.faulted),
    }
}

impl Divergence {
    /// A report for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "shadow {} beside {} over {} bars:\n  bars agreeing {}, differing {}\n  {:<12} {:>14} {:>14}\n",
            self.candidate,
            self.serving,
            self.bars,
            self.bars_agreeing,
            self.bars_differing,
            "",
            "serving",
            "candidate"
        );
        out.push_str(&format!(
            "  {:<12} {:>14} {:>14}\n",
            "intents", self.intents.0, self.intents.1
        ));
        out.push_str(&format!(
            "  {:<12} {:>14.2} {:>14.2}\n",
            "PnL", self.pnl.0, self.pnl.1
        ));
        out.push_str(&format!(
            "  {:<12} {:>14} {:>14}\n",
            "trades", self.trades.0, self.trades.1
        ));
        out.push_str(&format!(
            "  {:<12} {:>14} {:>14}\n",
            "faulted", self.faulted.0, self.faulted.1
        ));
        for (seq, x, y) in &self.first_differences {
            out.push_str(&format!("  bar {seq}: serving {x} | candidate {y}\n"));
        }
        out
    }
}
