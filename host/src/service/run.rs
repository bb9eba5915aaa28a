//! What the service keeps of a running deployment (its handles, its venue,
//! its shadow) and what a deployment's run is fixed to when its journal
//! starts.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::recorder::*;
use super::types::*;
use super::{account, runner};
use crate::data::live::{LiveFeed, Notes};
use crate::data::market::Bar;
use crate::engine::replay::{self, RunConfig};
use crate::engine::{Command, Status};
use crate::sandbox::runtime::{Instance, Runtime};
use crate::store::journal::CommandAction;
use crate::store::registry::Registry;

/// The journaled bars first (re-executed), then the live feed; bars a
/// worker's turn had no time for come first next time.
pub(super) struct RecoveryFeed<F> {
    pub(super) journaled: Vec<Bar>,
    pub(super) pos: usize,
    pub(super) live: F,
    pub(super) returned: std::collections::VecDeque<Bar>,
}

impl runner::PollFeed for RecoveryFeed<LiveFeed> {
    fn poll(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
        if !self.returned.is_empty() {
            let n = max.min(self.returned.len());
            out.extend(self.returned.drain(..n));
            return n;
        }
        if self.pos < self.journaled.len() {
            let end = (self.pos + max).min(self.journaled.len());
            out.extend_from_slice(&self.journaled[self.pos..end]);
            let n = end - self.pos;
            self.pos = end;
            return n;
        }
        self.live.poll(out, max)
    }

    fn unpoll(&mut self, bars: &[Bar]) {
        let mut back: std::collections::VecDeque<Bar> = bars.iter().copied().collect();
        back.extend(self.returned.drain(..));
        self.returned = back;
    }
}

pub(super) struct Run {
    pub(super) tx: Sender<Command<'static>>,
    pub(super) status: Arc<Mutex<Status>>,
    pub(super) ended: Arc<Mutex<Option<String>>>,
    pub(super) trouble: Arc<Mutex<Option<String>>>,
    pub(super) intents: Intents,
    pub(super) journal: PathBuf,
    pub(super) shadow: Option<ShadowRun>,
    pub(super) capital: f64,
    pub(super) symbols: Vec<String>,
    pub(super) spec: FeedSpec,
    pub(super) recovered: u64,
    pub(super) stale: Arc<AtomicBool>,
    pub(super) slot: Arc<runner::Slot>,
    /// The open journal, while this service holds it.
    pub(super) journal_handle: Option<SharedJournal>,
    pub(super) board: Board,
    /// A LIVE deployment's venue: its name and courier.
    pub(super) venue: Option<VenueHandle>,
}

/// What status shows of a live venue.
#[derive(Clone)]
pub(super) struct VenueHandle {
    pub(super) name: String,
    pub(super) kill: crate::execution::live::KillHandle,
    pub(super) waker: crate::execution::live::Waker,
    pub(super) counts: Arc<Mutex<crate::execution::live::CourierCounts>>,
    pub(super) problems: crate::execution::live::Problems,
    /// The run's kill switch (flattens between bars).
    pub(super) switch: crate::engine::KillSwitch,
    /// Its client order ids.
    pub(super) naming: crate::execution::live::Naming,
    /// Set once reconciliation compared the venue clean (new bars wait).
    pub(super) cleared: Option<Arc<AtomicBool>>,
    /// Set at shutdown: the run's orders stay at the venue for the next
    /// start; unset, they are cancelled when the run ends.
    pub(super) keep_orders: Arc<AtomicBool>,
}

pub(super) struct ShadowRun {
    pub(super) label: String,
    pub(super) from_seq: u64,
    pub(super) tx: Sender<Command<'static>>,
    pub(super) status: Arc<Mutex<Status>>,
    pub(super) ended: Arc<Mutex<Option<String>>>,
    pub(super) intents: Intents,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) slot: Arc<runner::Slot>,
}

/// What a deployment's run is fixed to when its journal starts: a restart
/// takes it from the journal, not from today's configuration, so that
/// re-execution is exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Fixed {
    pub(super) run: RunConfig,
    pub(super) pause_drawdown: f64,
    pub(super) feed: FeedSpec,
    pub(super) symbols: Vec<String>,
    /// A LIVE run's venue (a `[venues]` name).
    #[serde(default)]
    pub(super) venue: Option<String>,
    /// A LIVE run's id: the prefix of its client order ids.
    #[serde(default)]
    pub(super) run_id: Option<String>,
    /// A LIVE run's ramp-up: (days from its first bar, fraction of capital).
    #[serde(default)]
    pub(super) ramp_up: Option<Vec<(f64, f64)>>,
    /// The account whose capital it trades.
    #[serde(default)]
    pub(super) account: Option<String>,
    /// The market's sessions it trades in (none: 24/7).
    #[serde(default)]
    pub(super) session: Option<crate::session::SessionSpec>,
}

/// Everything a deployment thread needs, built off the hot path.
pub(super) struct Launch {
    /// A live venue (LIVE deployments); else the simulated venue.
    pub(super) venue: Option<Box<dyn crate::execution::Venue + Send>>,
    /// A LIVE run's ramp-up schedule.
    pub(super) ramp_up: Option<Vec<(f64, f64)>>,
    pub(super) name: String,
    pub(super) instance: Instance,
    pub(super) label: String,
    pub(super) config: RunConfig,
    pub(super) pause_drawdown: Option<f64>,
    /// A deployment's own run (not a shadow): its figures become paper evidence.
    pub(super) evidence: bool,
    pub(super) journal: SharedJournal,
    pub(super) notes: Notes,
    pub(super) replay: VecDeque<(u64, CommandAction, String, String)>,
    pub(super) recovered: u64,
    pub(super) params: Vec<String>,
    /// The account whose capital it trades (a deployment's own run only).
    pub(super) account: Option<Arc<account::Account>>,
    /// A LIVE run's kill switch and the kills its journal holds.
    pub(super) kill_switch: Option<(crate::engine::KillSwitch, Vec<crate::engine::JournaledKill>)>,
    /// The feed's live edge and maximum bar age, and the feed's name
    /// (`None`: a recording, whose bars are never old).
    pub(super) freshness: Option<(crate::data::live::Freshness, String)>,
    /// Operators' decisions on the journal's faults (`after_fault.rs`).
    pub(super) after_fault: Vec<crate::engine::AfterFault<'static>>,
    /// The journal's fault diagnoses, for the re-execution's CPU budget
    /// ([`crate::engine::Engine::re_execute`]).
    pub(super) fault_causes: Vec<(u64, String)>,
    /// The market's sessions it trades in (none: 24/7).
    pub(super) session: Option<crate::session::Session>,
    /// A PAPER run on a broker's paper account: that venue's name.
    pub(super) broker: Option<String>,
}

/// Load and initialise a registered version: (instance, label, sha256).
pub(super) fn prepare_on(
    registry: &Registry,
    runtime: &Runtime,
    label: &str,
    params: &[String],
    config: &RunConfig,
    symbols: &[String],
) -> anyhow::Result<(Instance, String, String)> {
    let record = registry.plugin(label)?;
    let bytes = registry.plugin_bytes(&record)?;
    let p = replay::prepare_bytes(
        runtime,
        Path::new(&record.label()),
        &bytes,
        params,
        config,
        symbols,
    )?;
    Ok((p.instance, record.label(), record.sha256.clone()))
}
