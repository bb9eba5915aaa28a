//! A journal re-executes identically on a machine of another speed (issue
//! 25): whether a re-executed bar runs out of CPU budget is the journal's
//! to say, not the machine's.
//!
//! The strategy here is a [`Machine`]: bar `i` costs `cost[i]` budgets of
//! CPU on a machine of speed 1, and `cost[i] × slowness` on one `slowness`
//! times slower, and it runs out exactly as the sandbox's budget would
//! count it ([`CallBudget`]). The runs go through the real engine and a real
//! write-ahead journal file, as the service's do.

use sandbar::engine::{Engine, EngineConfig, RunResult, StrategyDriver};
use sandbar::execution::{SimConfig, SimulatedVenue};
use sandbar::feed::RecordedFeed;
use sandbar::journal::{Entry, FORMAT, Journal, JournalReader, Recorder, RunMeta};
use sandbar::market::{Bar, Recording};
use sandbar::risk::RiskConfig;
use sandbar::runtime::{
    AccountView, CallBudget, CallError, Delivery, Event, Fault, Intent, RE_EXECUTION_FACTOR,
};

use crate::script::{buy, flat, sell};

/// The budget in milliseconds the faults name.
const BUDGET_MS: u64 = 250;

struct Machine {
    view: AccountView,
    cost: Vec<f64>,
    slowness: f64,
    budget: CallBudget,
    seq: usize,
}

impl StrategyDriver for Machine {
    fn version(&self) -> String {
        "1.0.0".into()
    }
    fn view_mut(&mut self) -> &mut AccountView {
        &mut self.view
    }
    fn on_bars(&mut self, _: &[Bar], _: &[Event], out: &mut Vec<Intent>) -> Result<(), CallError> {
        let seq = self.seq;
        self.seq += 1;
        let allowed = match self.budget {
            CallBudget::Measured => 1.0,
            CallBudget::Lenient => f64::from(RE_EXECUTION_FACTOR),
            CallBudget::Spent => {
                self.budget = CallBudget::Lenient;
                return Err(Fault::Timeout(BUDGET_MS).into());
            }
        };
        if self.cost[seq] * self.slowness > allowed {
            return Err(Fault::Timeout(BUDGET_MS).into());
        }
        // Something to journal besides the bars: in and out every 3 bars.
        match seq % 6 {
            1 => out.push(buy(0, 1.0)),
            4 => out.push(sell(0, 1.0)),
            _ => {}
        }
        Ok(())
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _: &str, _: &[u8]) -> Result<(), CallError> {
        Ok(())
    }
    fn set_budget(&mut self, budget: CallBudget) {
        self.budget = budget;
    }
}

fn meta() -> RunMeta {
    RunMeta {
        format: FORMAT,
        sandbar_version: "0".into(),
        contract: "c".into(),
        plugin_name: "machine".into(),
        plugin_version: "1.0.0".into(),
        sdk_version: "0".into(),
        plugin_sha256: "00".into(),
        params: vec![],
        risk: String::new(),
        execution: String::new(),
        sandbox: String::new(),
        data: vec![],
        symbols: vec!["S0".into()],
        initial_cash: 100_000.0,
        seed: 0,
        delivery: "per-bar".into(),
        swaps: vec![],
        service: String::new(),
    }
}

/// Run (or re-execute, when the file holds a journal) `bars` on a machine
/// `slowness` times slower than the reference, as the service starts a
/// deployment: the journal's bars first, then the new ones.
fn run_on(path: &std::path::Path, rec: &Recording, cost: &[f64], slowness: f64) -> RunResult {
    let (mut journal, resumed) = Journal::resume(path, &meta()).expect("journal");
    let cfg = EngineConfig {
        initial_cash: 100_000.0,
        risk: RiskConfig::default(),
        batch_size: 1,
        delivery: Delivery::PerBar,
        plugin_label: "machine@1.0.0".into(),
        rollback_window: 100,
        rollback_drawdown: None,
        pause_drawdown: None,
        final_entry: false,
        warmup: 0,
    };
    let machine = Machine {
        view: AccountView::default(),
        cost: cost.to_vec(),
        slowness,
        budget: CallBudget::Measured,
        seq: 0,
    };
    let mut engine = Engine::new(
        cfg,
        rec.symbols.clone(),
        Box::new(machine),
        SimulatedVenue::new(SimConfig::default()),
        &mut journal,
    );
    engine.re_execute(resumed.bars.len() as u64, resumed.fault_causes);
    let out = engine.run(&mut RecordedFeed::new(rec.clone()), &mut |_| {});
    journal.barrier().expect("commit");
    out
}

fn entries(path: &std::path::Path) -> Vec<Entry> {
    JournalReader::open(path).unwrap().entries().unwrap()
}

fn bars(n: usize) -> Recording {
    flat(1, n, 100.0, 1e6)
}

#[test]
fn a_bar_that_ran_out_of_budget_runs_out_again_on_a_faster_machine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow-then-fast.redb");
    // Bar 7 costs 0.8 budgets: on a machine 1.5× slower it ran out.
    let mut cost = vec![0.1; 12];
    cost[7] = 0.8;
    let first = run_on(&path, &bars(8), &cost, 1.5).expect("journal");
    let fault = first.fault.expect("bar 7 ran out of budget");
    assert_eq!((fault.seq, fault.fault), (7, Fault::Timeout(BUDGET_MS)));
    let journaled = entries(&path);
    // Re-executed on the reference machine, where bar 7 fits its budget.
    let again = run_on(&path, &bars(8), &cost, 1.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.fault.map(|f| f.seq), Some(7), "it ends as it did");
    assert_eq!(entries(&path), journaled, "the journal is what it was");
}

#[test]
fn a_bar_that_fit_its_budget_fits_it_again_on_a_slower_machine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fast-then-slow.redb");
    // Bar 5 costs 0.9 budgets: it fit on the reference machine.
    let mut cost = vec![0.1; 12];
    cost[5] = 0.9;
    let first = run_on(&path, &bars(8), &cost, 1.0).expect("journal");
    assert!(first.fault.is_none());
    let journaled = entries(&path);
    // The restart runs on a machine twice as slow, and goes on to new bars.
    let again = run_on(&path, &bars(12), &cost, 2.0).unwrap_or_else(|e| panic!("{e}"));
    assert!(again.fault.is_none(), "{:?}", again.fault);
    let now = entries(&path);
    assert_eq!(
        now[..journaled.len()],
        journaled[..],
        "verified, not rewritten"
    );
    assert!(now.len() > journaled.len(), "and went on past the journal");
}

#[test]
fn past_the_journal_the_budget_is_measured_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("measured.redb");
    // Bar 10 is new to the restart: on the slow machine it runs out.
    let mut cost = vec![0.1; 12];
    cost[10] = 0.9;
    run_on(&path, &bars(8), &cost, 1.0).expect("journal");
    let again = run_on(&path, &bars(12), &cost, 2.0).expect("journal");
    let fault = again.fault.expect("a new bar's budget is not lenient");
    assert_eq!((fault.seq, fault.fault), (10, Fault::Timeout(BUDGET_MS)));
}
