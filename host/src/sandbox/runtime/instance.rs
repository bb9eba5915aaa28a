//! A compiled plugin and its instances: init, calls per bar and per window, snapshots and restores, each bounded and each fault classified.

use super::*;

/// A compiled, contract-checked plugin, ready to instantiate many times
/// (cloning it shares the compiled code).
#[derive(Clone)]
pub struct Plugin {
    pub(super) pre: InstancePre<State>,
    pub(super) guest: guest::GuestIndices,
    pub(super) exact: Option<exact::GuestIndices>,
    pub(super) managed: Option<managed::GuestIndices>,
    /// SHA-256 of the component bytes, hex.
    pub hash: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: usize,
}

/// One live strategy instance with its own store.
pub struct Instance {
    pub(super) store: Store<State>,
    pub(super) guest: guest::Guest,
    pub(super) exact: Option<exact::Guest>,
    pub(super) managed: Option<managed::Guest>,
    /// Changes to protection alone from the last call (contract 0.3.0).
    pub(super) amends: Vec<Amendment>,
    pub(super) description: Description,
    pub(super) limits: SandboxLimits,
    pub(super) ticks: u64,
    pub(super) bar_buf: Vec<WitBar>,
    pub(super) clock: BarClock,
    /// SHA-256 of its component, and whether its first bar was recorded
    /// (`trace.rs`).
    pub(super) hash: String,
    pub(super) traced: bool,
    /// How the CPU budget of the next calls is counted (re-execution).
    pub(super) budget: CallBudget,
}

impl Instance {
    /// How the CPU budget of the next calls is counted: the engine sets it
    /// while it re-executes a journal ([`CallBudget`]).
    pub fn set_budget(&mut self, budget: CallBudget) {
        self.budget = budget;
    }

    /// A call the journal says ran out of CPU budget is not made: it ends
    /// as it did then. The budget is lenient again after it.
    fn spent(&mut self) -> Option<CallError> {
        (self.budget == CallBudget::Spent).then(|| {
            self.budget = CallBudget::Lenient;
            Fault::Timeout(self.limits.call_timeout_ms).into()
        })
    }

    /// What the plugin says about itself.
    pub fn description(&self) -> &Description {
        &self.description
    }

    pub(super) fn arm(&mut self) {
        let factor = match self.budget {
            CallBudget::Lenient => RE_EXECUTION_FACTOR,
            CallBudget::Measured | CallBudget::Spent => 1,
        };
        let s = self.store.data_mut();
        s.budget = Duration::from_millis(self.limits.call_timeout_ms) * factor;
        s.bar_started = super::limits::thread_cpu();
        self.store
            .set_epoch_deadline(self.ticks.saturating_mul(u64::from(factor)));
        let s = self.store.data_mut();
        s.log_lines = 0;
        s.log_bytes = 0;
        s.limiter.refused = false;
    }

    /// Call `init`.
    pub fn init(&mut self, config: &InitConfig) -> Result<(), CallError> {
        self.arm();
        self.store.data_mut().log_line_cap = self.limits.max_log_lines_per_bar;
        let r = self.guest.call_init(&mut self.store, config);
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CallError::Refused(error_text(match e.param {
                Some(p) => format!("parameter `{p}`: {}", e.message),
                None => e.message,
            }))),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        }
    }

    /// Call `init` with every parameter at its declared default, on one
    /// symbol: a plugin that refuses its own defaults cannot be run as
    /// shipped, and `plugin add` and `describe` say so up front.
    pub fn init_with_defaults(&mut self) -> Result<(), CallError> {
        let params = self
            .description
            .params
            .iter()
            .map(|p| (p.name.clone(), p.default.clone()))
            .collect();
        self.init(&InitConfig {
            params,
            symbols: vec!["SYMBOL".into()],
            seed: 0,
        })
    }

    /// The account view the `host` import serves; set it before [`Instance::on_bars`].
    pub fn view_mut(&mut self) -> &mut AccountView {
        &mut self.store.data_mut().view
    }

    /// Deliver bars and events; intents are appended to `out`. One bar to
    /// a 0.2.0 strategy goes through `on-window` (with `more` false), so
    /// that what it decides — relative stops included — is the same
    /// whichever way its bars come.
    pub fn on_bars(
        &mut self,
        bars: &[crate::data::market::Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError> {
        self.trace_first_bar();
        if let Some(spent) = self.spent() {
            return Err(spent);
        }
        if bars.len() == 1 && self.exact.is_some() {
            return self.window(bars, events, false, out).1;
        }
        self.arm();
        self.store.data_mut().log_line_cap = self
            .limits
            .max_log_lines_per_bar
            .saturating_mul(bars.len().max(1));
        if let Some(last) = bars.last() {
            self.clock.0.store(last.time_ms, Ordering::Relaxed);
        }
        let wit = wit_bar;
        let guest = &self.guest;
        let r = if let [one] = bars {
            // Per-bar delivery: the bar goes by value, no guest allocation.
            guest.call_on_bar(&mut self.store, wit(one), events)
        } else {
            self.bar_buf.clear();
            self.bar_buf.extend(bars.iter().map(wit));
            guest.call_on_bars(&mut self.store, &self.bar_buf, events)
        };
        match r {
            Ok(Ok(intents)) => {
                let cap = self
                    .limits
                    .max_intents_per_bar
                    .saturating_mul(bars.len().max(1));
                if intents.len() > cap {
                    return Err(Fault::Bound(format!(
                        "returned {} intents for {} bar(s); the cap is {} per bar",
                        intents.len(),
                        bars.len(),
                        self.limits.max_intents_per_bar
                    ))
                    .into());
                }
                out.extend(intents.into_iter().map(Intent::from));
                Ok(())
            }
            Ok(Err(e)) => Err(CallError::Refused(error_text(e.message))),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        }
    }

    /// Whether the instance implements contract 0.2.0's exact batching.
    pub fn exact(&self) -> bool {
        self.exact.is_some()
    }

    /// The contract the instance implements.
    pub fn contract(&self) -> &'static str {
        contract_of(self.exact.is_some(), self.managed.is_some())
    }

    /// Exact batching: deliver `bars[0]` with `events` and let the guest
    /// pull `bars[1..]` one at a time, deciding on each. Returns how many
    /// bars the guest was handed (at least 1): the intents in `out` (and an
    /// error) belong to the last of them. Without contract 0.2.0 this is a
    /// per-bar call of `bars[0]`.
    pub fn on_window(
        &mut self,
        bars: &[crate::data::market::Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> (usize, Result<(), CallError>) {
        self.trace_first_bar();
        if let Some(spent) = self.spent() {
            return (1, Err(spent));
        }
        self.window(bars, events, true, out)
    }

    fn trace_first_bar(&mut self) {
        if !self.traced {
            self.traced = true;
            let label = self.store.data().plugin.clone();
            super::trace::first_bar(&self.hash, &label);
        }
    }

    pub(super) fn window(
        &mut self,
        bars: &[crate::data::market::Bar],
        events: &[Event],
        more: bool,
        out: &mut Vec<Intent>,
    ) -> (usize, Result<(), CallError>) {
        // Without contract 0.2.0 (or without a bar): one per-bar call.
        let (first, exact) = match (bars.first(), self.exact.take()) {
            (Some(first), Some(exact)) => (first, exact),
            (_, exact) => {
                self.exact = exact;
                return (1, self.on_bars(&bars[..1.min(bars.len())], events, out));
            }
        };
        self.arm();
        self.clock.0.store(first.time_ms, Ordering::Relaxed);
        let s = self.store.data_mut();
        s.log_line_cap = self.limits.max_log_lines_per_bar;
        s.window.pulled = 0;
        s.window.ended = false;
        s.window.bars.clear();
        if more {
            s.window.bars.extend(bars.iter().map(wit_bar));
        }
        self.amends.clear();
        let r = match &self.managed {
            // 0.3.0: decisions, then changes to protection alone.
            Some(m) => m
                .call_on_window(&mut self.store, wit_bar(first), events, more)
                .map(|r| {
                    r.map(|changes| {
                        let mut decisions = Vec::new();
                        for c in changes {
                            match c {
                                managed::Change::Decide(d) => decisions.push(d),
                                managed::Change::Protect(a) => {
                                    self.amends.push((0, a.symbol, amend_of(a.change)))
                                }
                            }
                        }
                        decisions
                    })
                }),
            None => exact.call_on_window(&mut self.store, wit_bar(first), events, more),
        };
        self.exact = Some(exact);
        let s = self.store.data_mut();
        let consumed = s.window.pulled + 1;
        let ended = s.window.ended;
        s.window.bars.clear();
        s.window.pulled = 0;
        let r = match r {
            Ok(Ok(decisions)) if ended && decisions.len() + self.amends.len() > 0 => {
                Err(Fault::Bound(format!(
                    "returned {} decision(s) after `next-bar` answered none: pulling a bar says \
                     there is no decision on the bar before it",
                    decisions.len() + self.amends.len()
                ))
                .into())
            }
            // Changes to protection count as intents.
            Ok(Ok(intents))
                if intents.len() + self.amends.len() > self.limits.max_intents_per_bar =>
            {
                Err(Fault::Bound(format!(
                    "returned {} intents for 1 bar(s); the cap is {} per bar",
                    intents.len() + self.amends.len(),
                    self.limits.max_intents_per_bar
                ))
                .into())
            }
            Ok(Ok(decisions)) => {
                // They belong to the bar the guest is on (the engine checks
                // that they say bar 0, as `on-bar`'s must).
                out.extend(decisions.into_iter().map(Intent::from));
                Ok(())
            }
            Ok(Err(e)) => Err(CallError::Refused(error_text(e.message))),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        };
        (consumed, r)
    }

    /// The changes to protection alone of the last call, taken once.
    pub fn take_amends(&mut self) -> Vec<Amendment> {
        std::mem::take(&mut self.amends)
    }

    /// Take the strategy's snapshot.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        self.arm();
        match self.guest.call_snapshot(&mut self.store) {
            Ok(Ok(bytes)) if bytes.len() > self.limits.max_snapshot_bytes => {
                Err(Fault::Bound(format!(
                    "snapshot of {} bytes exceeds the cap of {} bytes",
                    bytes.len(),
                    self.limits.max_snapshot_bytes
                ))
                .into())
            }
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(e)) => Err(CallError::Refused(error_text(e.message))),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        }
    }

    /// Restore a snapshot taken from `from_version`.
    pub fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError> {
        self.arm();
        match self
            .guest
            .call_restore(&mut self.store, from_version, state)
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CallError::Refused(error_text(e.message))),
            Err(e) => Err(classify(&mut self.store, e, &self.limits)),
        }
    }
}

impl Plugin {
    /// The contract the component implements.
    pub fn contract(&self) -> &'static str {
        contract_of(self.exact.is_some(), self.managed.is_some())
    }
}

fn contract_of(exact: bool, managed: bool) -> &'static str {
    match (exact, managed) {
        (_, true) => CONTRACT,
        (true, false) => CONTRACT_0_2,
        (false, _) => CONTRACT_0_1,
    }
}

/// A 0.3.0 change as the engine (and the SDK's harness) handles it.
fn amend_of(a: managed::Amend) -> sandbar_sdk::protection::Amend {
    use sandbar_sdk::protection::{Amend, Trail};
    match a {
        managed::Amend::StopLoss(l) => Amend::StopLoss(Protect::from(l)),
        managed::Amend::TrailingStop(t) => Amend::TrailingStop(match t {
            bindings::sandbar::strategy0_3_0::protection::Trail::Distance(d) => Trail::Distance(d),
            bindings::sandbar::strategy0_3_0::protection::Trail::Fraction(f) => Trail::Fraction(f),
        }),
        managed::Amend::CancelStopLoss => Amend::CancelStopLoss,
        managed::Amend::TakeProfit(l) => Amend::TakeProfit(Protect::from(l)),
        managed::Amend::CancelTakeProfit => Amend::CancelTakeProfit,
    }
}
