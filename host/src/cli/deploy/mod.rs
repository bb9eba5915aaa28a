//! `sandbar deploy …`: deployments and their lifecycle in the registry, and
//! the commands that steer a running service (`--server`).

use super::{DataOpts, RegistryOpt, actor, cache_dir};
use crate::engine::replay::{self, ReplaySpec, RunConfig, Sink};
use crate::report::Report;
use crate::sandbox::runtime::Runtime;
use crate::store::registry::Registry;
use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;

mod evidence;
mod remote;
mod show;
use evidence::*;
use remote::*;
use show::*;

#[derive(Debug, Subcommand)]
pub(super) enum DeployCmd {
    /// Create a deployment (DRAFT) of a registered version.
    Create {
        /// Deployment name.
        name: String,
        /// `name@version` (or `name` for the newest).
        #[arg(long)]
        plugin: String,
        /// Strategy parameter `name=value`. Repeatable.
        #[arg(long = "param", short = 'p')]
        params: Vec<String>,
        /// Symbol traded. Repeatable.
        #[arg(long = "symbol")]
        symbols: Vec<String>,
        /// Capital allocated.
        #[arg(long, default_value_t = 100_000.0)]
        capital: f64,
        /// Risk override `key=value` (as in `--set risk.key=value`). Repeatable.
        #[arg(long = "risk")]
        risk: Vec<String>,
    },
    /// Replay the deployment's version over recorded data and keep the
    /// figures as evidence for the TESTING → PAPER gate.
    Backtest {
        /// Deployment name.
        name: String,
        /// Data files.
        #[arg(long, required = true)]
        data: Vec<PathBuf>,
        /// Journal file to write.
        #[arg(long)]
        journal: Option<PathBuf>,
        #[command(flatten)]
        data_opts: DataOpts,
        /// Also walk forward on the same data (kept with the evidence): a
        /// grid axis as for `sweep`. Repeatable; needs --train and --test.
        #[arg(long = "grid", requires_all = ["train", "test"])]
        grid: Vec<String>,
        /// Walk-forward training span (`3y`, `18m`, …).
        #[arg(long)]
        train: Option<String>,
        /// Walk-forward test span.
        #[arg(long)]
        test: Option<String>,
        /// Walk-forward with every training span from the first bar.
        #[arg(long)]
        anchored: bool,
        /// Monte Carlo paths resampling the backtest's round trips (0: none).
        #[arg(long, default_value_t = 10_000)]
        monte_carlo_runs: usize,
    },
    /// Promote to the next stage if its gate passes; else print the readiness report.
    Promote {
        /// Deployment name.
        name: String,
        /// Promote even though the gate fails (journaled as forced; needs --reason).
        #[arg(long)]
        force: bool,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Gate thresholds (TOML); defaults documented in the README.
        #[arg(long)]
        gates: Option<PathBuf>,
    },
    /// PAPER or LIVE → PAUSED (a running deployment stops calling its strategy).
    Pause {
        /// Deployment name.
        name: String,
        /// Why (required).
        #[arg(long)]
        reason: Option<String>,
        /// The service running it (`http://127.0.0.1:7878`).
        #[arg(long)]
        server: Option<String>,
    },
    /// PAUSED → the stage it was paused from.
    Resume {
        /// Deployment name.
        name: String,
        /// Why (required).
        #[arg(long)]
        reason: Option<String>,
        /// The service running it.
        #[arg(long)]
        server: Option<String>,
    },
    /// Start (or recover and continue) a PAPER deployment on the service.
    /// Without --feed, the service's configuration says what it trades on.
    Start {
        /// Deployment name.
        name: String,
        /// A feed named in the service's configuration.
        #[arg(long)]
        feed: Option<String>,
        /// Symbols (default: the deployment's own).
        #[arg(long = "symbol")]
        symbols: Vec<String>,
        /// Bar interval (`1m`, `1d`).
        #[arg(long)]
        interval: Option<String>,
        /// First bar the strategy sees (RFC 3339 or YYYY-MM-DD; bars older than the feed's max_bar_age_secs only warm it up); default: the next one.
        #[arg(long)]
        start: Option<String>,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// Cancel every order, close every position, and pause.
    Flatten {
        /// Deployment name.
        name: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// Replace the running version at the next bar boundary.
    Swap {
        /// Deployment name.
        name: String,
        /// `name@version` to put in service.
        plugin: String,
        /// Why (recorded in the journal and the audit trail).
        #[arg(long)]
        reason: String,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// Go back to the previous version (or `--to` a given one).
    Rollback {
        /// Deployment name.
        name: String,
        /// `name@version` to go back to.
        #[arg(long)]
        to: Option<String>,
        /// Why (recorded in the journal and the audit trail).
        #[arg(long)]
        reason: String,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// Start a deployment whose run ended on a strategy fault, going on past
    /// the fault: the faulting version skips the faulting call, or
    /// `--plugin` (the same plugin, another version) takes the faulting bar,
    /// restored from the state before it. Journaled; see docs/operating.md.
    Continue {
        /// Deployment name.
        name: String,
        /// `name@version` to go on with (default: the version that faulted,
        /// skipping the faulting call).
        #[arg(long)]
        plugin: Option<String>,
        /// Why (recorded in the journal and the audit trail).
        #[arg(long)]
        reason: String,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// Run a candidate beside the running version, on the same bars, on paper only.
    Shadow {
        /// Deployment name.
        name: String,
        /// Candidate `name@version`.
        plugin: String,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// How the shadow candidate diverges from the running version.
    ShadowReport {
        /// Deployment name.
        name: String,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// Swap the shadow candidate in.
    PromoteShadow {
        /// Deployment name.
        name: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// A running deployment's status.
    Status {
        /// Deployment name.
        name: String,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// Stop a running deployment.
    Stop {
        /// Deployment name.
        name: String,
        /// The service.
        #[arg(long)]
        server: String,
    },
    /// Replay the bars a paper deployment received (from its journal)
    /// through the backtest engine with the same version, parameters and
    /// configuration, and report where they differ. `--record` keeps the
    /// result with its paper evidence for the PAPER → LIVE gate.
    Compare {
        /// Deployment name.
        name: String,
        /// The deployment's journal (the service's `journals/<name>.redb`;
        /// stop the deployment first: a running service holds it).
        #[arg(long)]
        journal: PathBuf,
        /// Keep the comparison as evidence.
        #[arg(long)]
        record: bool,
        /// Also write it as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The pre-live checklist: every item measured from the evidence where
    /// it can be, the others confirmed by a person (`--confirm ITEM --reason
    /// R`, audited, for the version in service). Exits 1 until every item
    /// is done.
    Checklist {
        /// Deployment name.
        name: String,
        /// Confirm a manual item (alert-channels, kill-switch, credentials).
        #[arg(long, requires = "reason")]
        confirm: Option<String>,
        /// Why (what was checked, how).
        #[arg(long)]
        reason: Option<String>,
        /// Gate thresholds (TOML), as for `promote`.
        #[arg(long)]
        gates: Option<PathBuf>,
    },
    /// Resolve a reconciliation mismatch of a LIVE deployment (orders at
    /// the venue in its name that its journal does not know): `--flatten`
    /// cancels them at the venue, `--adopt` leaves them there as someone
    /// else's from now on. Run with the service stopped, on its
    /// configuration file (the venue and credentials come from it);
    /// audited, with the reason.
    Reconcile {
        /// Deployment name.
        name: String,
        /// The service's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Leave the unknown orders at the venue, as not this deployment's.
        #[arg(long, conflicts_with = "flatten", required_unless_present = "flatten")]
        adopt: bool,
        /// Cancel the unknown orders at the venue.
        #[arg(long)]
        flatten: bool,
        /// Why (what was found, what was checked).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Retire a deployment.
    Deprecate {
        /// Deployment name.
        name: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// List deployments.
    List {
        /// Ask a running service (it holds the registry while it runs).
        #[arg(long)]
        server: Option<String>,
    },
    /// A deployment with its evidence and history.
    Show {
        /// Deployment name.
        name: String,
        /// Ask a running service (it holds the registry while it runs).
        #[arg(long)]
        server: Option<String>,
    },
}

/// A lifecycle move without a gate (pause, resume, deprecate).
fn move_to(
    reg: &Registry,
    name: &str,
    mv: crate::lifecycle::Move,
    reason: Option<String>,
    who: &str,
) -> anyhow::Result<()> {
    let (to, _) = reg.transition(name, mv, reason, false, &Default::default(), who)?;
    println!("{name} is now {to}");
    Ok(())
}

pub(super) fn run(registry: &RegistryOpt, cmd: DeployCmd) -> anyhow::Result<()> {
    use crate::lifecycle::Move;
    if remote(&cmd).is_some() {
        return remote_cmd(cmd);
    }
    let reg = registry.open()?;
    let who = actor();
    match cmd {
        DeployCmd::Create {
            name,
            plugin,
            params,
            symbols,
            capital,
            risk,
        } => {
            let d = reg.create_deployment(&name, &plugin, &params, symbols, capital, risk, &who)?;
            println!(
                "created {} ({}) running {} with {}",
                d.name,
                d.stage,
                d.plugin,
                d.params.join(" ")
            );
        }
        cmd @ DeployCmd::Backtest { .. } => backtest(&reg, &who, cmd)?,
        DeployCmd::Promote {
            name,
            force,
            reason,
            gates,
        } => {
            let gates = load_gates(gates.as_deref())?;
            let (to, readiness) =
                reg.transition(&name, Move::Promote, reason, force, &gates, &who)?;
            if let Some(r) = readiness {
                print!("{}", r.table());
            }
            println!("{name} is now {to}{}", if force { " (forced)" } else { "" });
        }
        DeployCmd::Pause { name, reason, .. } => move_to(&reg, &name, Move::Pause, reason, &who)?,
        DeployCmd::Resume { name, reason, .. } => move_to(&reg, &name, Move::Resume, reason, &who)?,
        DeployCmd::Compare {
            name,
            journal,
            record,
            json,
        } => {
            let c = compare(&reg, &name, &journal)?;
            print_comparison(&c);
            if let Some(p) = json {
                std::fs::write(&p, serde_json::to_string_pretty(&c)?)
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            if record {
                reg.record_comparison(&name, c, &who)?;
                println!("kept with {name}'s paper evidence");
            }
        }
        DeployCmd::Reconcile {
            name,
            config,
            adopt,
            flatten: _,
            reason,
        } => {
            let file = crate::service::config::ServiceFile::load(&config)?;
            let done = crate::service::reconcile::resolve(
                &reg,
                &file,
                &name,
                adopt,
                &who,
                reason.as_deref().unwrap_or_default(),
            )?;
            if done.is_empty() {
                println!("{name}: no unknown order at the venue; the mismatch is resolved");
            }
            for id in done {
                println!(
                    "{name}: {} {id}",
                    if adopt {
                        "adopted (left alone)"
                    } else {
                        "cancelled"
                    }
                );
            }
        }
        cmd @ DeployCmd::Checklist { .. } => checklist_cmd(&reg, &who, cmd)?,
        DeployCmd::Deprecate { name, reason } => {
            move_to(&reg, &name, Move::Deprecate, reason, &who)?
        }
        DeployCmd::Start { .. }
        | DeployCmd::Flatten { .. }
        | DeployCmd::Swap { .. }
        | DeployCmd::Rollback { .. }
        | DeployCmd::Continue { .. }
        | DeployCmd::Shadow { .. }
        | DeployCmd::ShadowReport { .. }
        | DeployCmd::PromoteShadow { .. }
        | DeployCmd::Status { .. }
        | DeployCmd::Stop { .. } => unreachable!("handled by remote_cmd"),
        DeployCmd::List { .. } => print_list(&reg.deployments()?),
        DeployCmd::Show { name, .. } => {
            print_show(&reg.deployment(&name)?, reg.audit_trail(Some(&name))?);
        }
    }
    Ok(())
}
