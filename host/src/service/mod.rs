//! The service: deployments trading on live feeds, steered while they run,
//! surviving crashes.
//!
//! Each running deployment is an [`Engine`] on the worker pool, fed by a
//! [`LiveFeed`](crate::data::live::LiveFeed) from its feed's hub and trading
//! on the simulated venue (PAPER) or on the live venue its configuration
//! names (LIVE; [`live`] connects and reconciles it). Operators reach it through the HTTP
//! control API ([`api`]); every command becomes an engine [`Command`]
//! applied at the next bar boundary, so a swap or rollback never splits a
//! bar. New versions are loaded and initialised on the request's thread, off
//! the engine's hot path. Lifecycle changes the engine makes by itself (a
//! pause on drawdown, a fault, an automatic rollback) are written back to
//! the registry with actor `engine`.
//!
//! Durability (see [`crate::store::journal`]): a deployment's journal is
//! write-ahead — its inputs (bars, commands) are kept, and it is committed
//! durably before an order reaches the venue and before the strategy hears
//! of a fill. Starting a deployment that has a journal *recovers* it: the
//! journaled inputs are re-executed through a fresh engine from the run's
//! first version (swaps and pauses applied again at their bars), every
//! regenerated entry is verified against the file, and the feed then
//! delivers from the bar after the last journaled one. Positions, cash, open
//! orders, risk state and the strategy's own state come back exactly, and
//! nothing is written twice.

pub mod account;

pub mod api;
pub mod config;
pub mod dashboard;
pub mod metrics;
pub mod monitor;
pub mod reconcile;
pub mod runner;
pub mod shadow;

mod after_fault;
mod backup;
mod commands;
mod connect;
mod controller;
mod journaled;
mod plan;
mod read;
mod recorder;
mod run;
mod shadow_runs;
mod start;
mod summary;
mod types;
mod venue_health;

use run::*;
pub use types::{CreateRequest, DeploymentStatus, FeedSpec, FeedState, ServiceConfig, VenueState};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::data::live::Hub;
use crate::sandbox::runtime::Runtime;
use crate::store::registry::Registry;

/// The running service.
pub struct Service {
    pool: runner::Pool,
    alerter: Option<Arc<monitor::Alerter>>,
    metrics: Arc<metrics::Metrics>,
    registry: Arc<Registry>,
    runtime: Arc<Runtime>,
    config: ServiceConfig,
    hubs: BTreeMap<String, Arc<Hub>>,
    runs: Mutex<HashMap<String, Run>>,
    /// Deployments being started (a second `start` is refused meanwhile).
    starting: Mutex<HashSet<String>>,
    /// Each live venue's order pace, shared by its deployments.
    venue_paces: Mutex<HashMap<String, Arc<crate::execution::live::Pace>>>,
    /// Shared accounts, by name.
    accounts: BTreeMap<String, Arc<account::Account>>,
    /// Configured deployments that could not start or recover, and why
    /// (the others run; a later successful start clears it).
    failed: Mutex<BTreeMap<String, String>>,
}

/// Removes a name from `starting` however a start ends.
struct Starting<'a>(&'a Mutex<HashSet<String>>, String);

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        self.0.lock().expect("starting lock").remove(&self.1);
    }
}

impl Service {
    /// A service over a registry; feed connections run on `rt`.
    pub fn new(
        registry: Registry,
        runtime: Runtime,
        config: ServiceConfig,
        rt: &tokio::runtime::Handle,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.journals)
            .with_context(|| format!("creating journal directory {}", config.journals.display()))?;
        let mut hubs = BTreeMap::new();
        for (name, f) in &config.feeds {
            let hub = f.hub(name, rt)?;
            hubs.insert(name.clone(), Arc::new(hub));
        }
        for d in &config.deployments {
            registry
                .deployment(&d.name)
                .with_context(|| format!("deployment `{}` in the configuration", d.name))?;
        }
        let mut accounts = BTreeMap::new();
        for (name, a) in &config.accounts {
            let members: Vec<String> = config
                .deployments
                .iter()
                .filter(|d| d.account.as_deref() == Some(name))
                .map(|d| d.name.clone())
                .collect();
            let path = config.journals.join(format!("account-{name}.redb"));
            let account = account::Account::open(name, a.clone(), &members, &path)?;
            accounts.insert(name.clone(), Arc::new(account));
        }
        let alerter = match &config.alerts {
            Some(a) => Some(monitor::Alerter::start(&config.journals, a.clone())?),
            None => None,
        };
        Ok(Self {
            alerter,
            pool: runner::Pool::new(config.workers),
            metrics: Arc::new(metrics::Metrics::new()),
            registry: Arc::new(registry),
            runtime: Arc::new(runtime),
            config,
            hubs,
            runs: Mutex::new(HashMap::new()),
            starting: Mutex::new(HashSet::new()),
            venue_paces: Mutex::default(),
            accounts,
            failed: Mutex::default(),
        })
    }

    /// The registry it serves.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The account a configured deployment trades the capital of.
    fn account_of(&self, name: &str) -> Option<Arc<account::Account>> {
        let c = self.config.deployments.iter().find(|c| c.name == name)?;
        self.accounts.get(c.account.as_deref()?).cloned()
    }
}
