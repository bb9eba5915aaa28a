//! How the engine talks to a strategy: a sandboxed [`Instance`], a native
//! SDK strategy (benchmarks), or a test script. A new way to run a strategy
//! is a new implementation of [`StrategyDriver`].

use crate::data::market::Bar;
pub use crate::sandbox::runtime::Amendment;
use crate::sandbox::runtime::{AccountView, CallBudget, CallError, Event, Instance, Intent};

/// How the engine talks to a strategy: a sandboxed instance, or (for
/// benchmarks and tests) a native one. `Send`, so that an engine can move
/// between the service's worker threads.
pub trait StrategyDriver: Send {
    /// The strategy's own version (what `restore` is told it came from).
    fn version(&self) -> String;
    /// The account view the strategy may read during the next call.
    fn view_mut(&mut self) -> &mut AccountView;
    /// Deliver bars and events; append intents to `out`.
    fn on_bars(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError>;
    /// Whether [`StrategyDriver::on_window`] delivers more than one bar.
    fn exact(&self) -> bool {
        false
    }
    /// Exact batching: deliver `bars[0]` with `events`; the strategy may go
    /// on to the following bars one at a time and stops at the first bar it
    /// has intents for. Returns how many bars it was handed; the intents in
    /// `out` (and an error) belong to the last of them. The default delivers
    /// one bar.
    fn on_window(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> (usize, Result<(), CallError>) {
        (1, self.on_bars(&bars[..1], events, out))
    }
    /// The changes to protection alone the last call returned (contract
    /// 0.3.0), in order, beside its intents; taken once.
    fn take_amends(&mut self) -> Vec<Amendment> {
        Vec::new()
    }
    /// The strategy's state, for a hot-swap.
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError>;
    /// Continue from another version's state.
    fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError>;
    /// How the CPU budget of the next calls is counted (set while a journal
    /// is re-executed; a strategy without a budget ignores it).
    fn set_budget(&mut self, _budget: CallBudget) {}
}

impl StrategyDriver for Instance {
    fn version(&self) -> String {
        self.description().version.clone()
    }
    fn view_mut(&mut self) -> &mut AccountView {
        Instance::view_mut(self)
    }
    fn on_bars(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError> {
        Instance::on_bars(self, bars, events, out)
    }
    fn exact(&self) -> bool {
        Instance::exact(self)
    }
    fn on_window(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> (usize, Result<(), CallError>) {
        Instance::on_window(self, bars, events, out)
    }
    fn take_amends(&mut self) -> Vec<Amendment> {
        Instance::take_amends(self)
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        Instance::snapshot(self)
    }
    fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError> {
        Instance::restore(self, from_version, state)
    }
    fn set_budget(&mut self, budget: CallBudget) {
        Instance::set_budget(self, budget)
    }
}

impl<T: StrategyDriver + ?Sized> StrategyDriver for &mut T {
    fn version(&self) -> String {
        (**self).version()
    }
    fn view_mut(&mut self) -> &mut AccountView {
        (**self).view_mut()
    }
    fn on_bars(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError> {
        (**self).on_bars(bars, events, out)
    }
    fn exact(&self) -> bool {
        (**self).exact()
    }
    fn on_window(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> (usize, Result<(), CallError>) {
        (**self).on_window(bars, events, out)
    }
    fn take_amends(&mut self) -> Vec<Amendment> {
        (**self).take_amends()
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        (**self).snapshot()
    }
    fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError> {
        (**self).restore(from_version, state)
    }
    fn set_budget(&mut self, budget: CallBudget) {
        (**self).set_budget(budget)
    }
}
