//! `sandbar deploy …`: deployments and their lifecycle in the registry, and
//! the commands that steer a running service (`--server`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{DataOpts, RegistryOpt, actor, cache_dir};
use crate::engine::replay::{self, ReplaySpec, RunConfig, Sink};
use crate::report::Report;
use crate::sandbox::runtime::Runtime;
use crate::store::registry::Registry;

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
        /// First bar to trade (RFC 3339 or YYYY-MM-DD); default: the next one.
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

/// Commands that go to a running service.
fn remote(cmd: &DeployCmd) -> Option<(&str, &str)> {
    use DeployCmd::*;
    match cmd {
        Pause {
            name,
            server: Some(s),
            ..
        }
        | Resume {
            name,
            server: Some(s),
            ..
        }
        | Show {
            name,
            server: Some(s),
        } => Some((name, s)),
        List { server: Some(s) } => Some(("", s)),
        Start { name, server, .. }
        | Flatten { name, server, .. }
        | Swap { name, server, .. }
        | Rollback { name, server, .. }
        | Shadow { name, server, .. }
        | ShadowReport { name, server }
        | PromoteShadow { name, server, .. }
        | Status { name, server }
        | Stop { name, server } => Some((name, server)),
        _ => None,
    }
}

fn remote_cmd(cmd: DeployCmd) -> anyhow::Result<()> {
    use crate::service::api::{Client, Reason, VersionBody};
    let (name, server) = remote(&cmd)
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .expect("remote command");
    // The service records the token's holder as the actor.
    let c = Client::new(&server)?;
    let why = |reason: String| Reason { reason };
    let version = |plugin: Option<String>, reason: String| VersionBody { plugin, reason };
    let v = match cmd {
        DeployCmd::Pause { reason, .. } => {
            c.post(&name, "pause", &why(reason.unwrap_or_default()))?
        }
        DeployCmd::Resume { reason, .. } => {
            c.post(&name, "resume", &why(reason.unwrap_or_default()))?
        }
        DeployCmd::Flatten { reason, .. } => c.post(&name, "flatten", &why(reason))?,
        DeployCmd::Start {
            feed,
            symbols,
            interval,
            start,
            ..
        } => match (feed, interval) {
            (Some(feed), Some(interval)) => c.post(
                &name,
                "start",
                &crate::service::FeedSpec {
                    feed,
                    symbols,
                    interval,
                    start,
                },
            )?,
            (None, None) => c.post(&name, "start", &serde_json::Value::Null)?,
            _ => anyhow::bail!(
                "give both --feed and --interval, or neither (to use the service's configuration)"
            ),
        },
        DeployCmd::Swap { plugin, reason, .. } => {
            c.post(&name, "swap", &version(Some(plugin), reason))?
        }
        DeployCmd::Rollback { to, reason, .. } => {
            c.post(&name, "rollback", &version(to, reason))?
        }
        DeployCmd::Shadow { plugin, .. } => {
            c.post(&name, "shadow", &version(Some(plugin), String::new()))?
        }
        DeployCmd::ShadowReport { .. } => {
            let d: crate::service::shadow::Divergence =
                serde_json::from_value(c.get(&name, "/shadow")?)?;
            print!("{}", d.table());
            return Ok(());
        }
        DeployCmd::PromoteShadow { reason, .. } => c.post(&name, "promote-shadow", &why(reason))?,
        DeployCmd::Status { .. } => c.get(&name, "")?,
        DeployCmd::List { .. } => {
            let v = c.get_path("/deployments")?;
            let ds: Vec<crate::store::registry::Deployment> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| serde_json::from_value(d["deployment"].clone()).ok())
                .collect();
            print_list(&ds);
            return Ok(());
        }
        DeployCmd::Show { .. } => {
            let v = c.get(&name, "/history")?;
            print_show(
                &serde_json::from_value(v["deployment"].clone())?,
                serde_json::from_value(v["audit"].clone())?,
            );
            return Ok(());
        }
        DeployCmd::Stop { .. } => c.post(&name, "stop", &serde_json::Value::Null)?,
        _ => unreachable!("not a remote command"),
    };
    println!("{}", serde_json::to_string_pretty(&v)?);
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
            let done = crate::service::live::reconcile(
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

/// The backtest's round trips resampled (`trades`, seed 0): the 95th
/// percentile of the maximum drawdown, or why there is none.
fn backtest_monte_carlo(
    o: &crate::engine::RunOutcome,
    runs: usize,
) -> Option<crate::lifecycle::MonteCarloEvidence> {
    use crate::research::montecarlo::{Method, Sample, simulate};
    if runs == 0 {
        return None;
    }
    let sample = Sample {
        initial: o.ledger.initial_cash,
        trades: o.ledger.trades.iter().map(|t| t.pnl).collect(),
        returns: Vec::new(),
    };
    match simulate(&sample, Method::Trades, runs, 0, 0.10) {
        Ok(m) => {
            println!(
                "Monte Carlo ({runs} paths of the {} round trips): 95th-percentile drawdown {:.2}%",
                sample.trades.len(),
                m.max_drawdown.p95 * 100.0
            );
            Some(crate::lifecycle::MonteCarloEvidence {
                runs,
                method: "trades".into(),
                seed: 0,
                p95_drawdown: m.max_drawdown.p95,
            })
        }
        Err(e) => {
            println!("Monte Carlo: not run ({e})");
            None
        }
    }
}

/// A walk-forward of the deployment's version on the backtest's data.
fn backtest_walk_forward(
    rt: &Runtime,
    spec: &ReplaySpec,
    grid: &[String],
    train: &str,
    test: &str,
    anchored: bool,
) -> anyhow::Result<crate::lifecycle::WalkForwardEvidence> {
    use crate::research::{sweep, walkforward as wf};
    let bytes = std::fs::read(&spec.plugin)?;
    let plugin = rt.load_bytes(&spec.plugin, &bytes)?;
    let desc = rt
        .instantiate(&plugin, spec.config.sandbox, spec.config.seed)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .description()
        .clone();
    let axes = grid
        .iter()
        .map(|g| sweep::parse_axis(g, &desc))
        .collect::<Result<Vec<_>, String>>()
        .map_err(anyhow::Error::msg)?;
    let combos = sweep::grid(&axes);
    let (data, digests) = replay::load_data(spec)?;
    let rec = super::research::into_recording(data)?;
    let test_span = wf::span_arg("test", test)?;
    let plan = wf::Plan {
        train: wf::span_arg("train", train)?,
        train_text: train.into(),
        test: test_span,
        step: test_span,
        anchored,
        warmup: None,
        metric: "sharpe".into(),
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let windows = plan.windows(&rec)?;
    let w = plan.run(
        &wf::Runs {
            rt,
            plugin: &plugin,
            spec,
            rec: &rec,
            digests: &digests,
            combos: &combos,
        },
        &windows,
        &mut |_| {},
    )?;
    println!(
        "walk-forward ({train}/{test}{}, {} windows of {} combinations): out-of-sample Sharpe {:.2}, efficiency {:.3}",
        if anchored { ", anchored" } else { "" },
        w.windows.len(),
        combos.len(),
        w.report.sharpe,
        w.efficiency
    );
    Ok(crate::lifecycle::WalkForwardEvidence {
        spans: format!("{train}/{test}{}", if anchored { " anchored" } else { "" }),
        windows: w.windows.len(),
        grid: grid.to_vec(),
        sharpe: w.report.sharpe,
        efficiency: w.efficiency,
    })
}

/// `deploy compare`: the journal's bars replayed with its version,
/// parameters and configuration; the paper books rebuilt from its fills.
fn compare(
    reg: &Registry,
    name: &str,
    journal: &std::path::Path,
) -> anyhow::Result<crate::research::compare::Comparison> {
    use crate::research::compare as cmp;
    use crate::store::journal::JournalReader;
    let d = reg.deployment(name)?;
    let reader = JournalReader::open(journal)?;
    let meta = reader.meta()?;
    let label = format!("{}@{}", meta.plugin_name, meta.plugin_version);
    let deployed = d.plugin.split('@').next().unwrap_or_default();
    if meta.plugin_name != deployed || meta.service.is_empty() {
        anyhow::bail!(
            "{} is not a paper journal of deployment `{name}` (it runs {label}{})",
            journal.display(),
            if meta.service.is_empty() {
                ", and is a replay's"
            } else {
                ""
            }
        );
    }
    let record = reg.plugin(&label)?;
    if record.sha256 != meta.plugin_sha256 {
        anyhow::bail!(
            "the registry's {label} (sha256 {}) is not the component the journal ran ({})",
            record.sha256,
            meta.plugin_sha256
        );
    }
    // The run's configuration, as fixed when its journal started.
    let fixed: toml::Table = toml::from_str(&meta.service)
        .with_context(|| format!("{}: the run's configuration", journal.display()))?;
    let config: RunConfig = fixed
        .get("run")
        .cloned()
        .map(toml::Value::try_into)
        .transpose()
        .with_context(|| format!("{}: the run's [run] configuration", journal.display()))?
        .unwrap_or_default();
    let entries = reader.entries()?;
    let bars = reader.bars()?;
    let processed = bars.len() as u64;
    let (cut, why) = cmp::cut(&entries, processed);
    if cut == 0 {
        anyhow::bail!(
            "{}: nothing to compare before the first command ({})",
            journal.display(),
            why.unwrap_or_default()
        );
    }
    let paper_entries = cmp::before(&entries, cut);
    let paper =
        crate::report::rebuild::outcome(&meta, &paper_entries, &bars[..cut as usize], true)?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join(format!("{}.wasm", record.sha256));
    std::fs::write(&file, reg.plugin_bytes(&record)?)?;
    let spec = ReplaySpec {
        plugin: file,
        data: vec![],
        params: meta.params.clone(),
        config,
        load: Default::default(),
        // The service steps bar by bar; exact windows write the same journal.
        delivery: Some(crate::sandbox::runtime::Delivery::PerBar),
        swaps: vec![],
        swap_params: vec![],
        warmup: 0,
    };
    let rt = Runtime::new(cache_dir().as_deref())?;
    let rec = crate::data::market::Recording {
        symbols: meta.symbols.clone(),
        bars: bars[..cut as usize].to_vec(),
    };
    let mut replayed = Vec::new();
    let bytes = std::fs::read(&spec.plugin)?;
    let plugin = rt.load_bytes(&spec.plugin, &bytes)?;
    let run = replay::run_compiled(
        &rt,
        &plugin,
        &spec,
        rec,
        vec![],
        Sink::Memory(&mut replayed),
    )?;
    Ok(cmp::compare(
        &label,
        cut,
        why.map(|w| format!("bar {cut}: {w}")),
        (&paper, &cmp::fills(&paper_entries)),
        (&run.outcome, &cmp::fills(&replayed)),
    ))
}

fn print_comparison(c: &crate::research::compare::Comparison) {
    println!(
        "{}: the paper run's {} bars replayed through the backtest engine{}",
        c.plugin,
        c.bars,
        c.stopped_at
            .as_ref()
            .map_or(String::new(), |w| format!(" (compared up to {w})"))
    );
    println!(
        "fills: paper {}, replay {}, the same {}",
        c.paper_fills, c.replay_fills, c.matching_fills
    );
    if let Some((p, r)) = &c.first_difference {
        let show = |f: &Option<crate::research::compare::FillRow>| {
            f.as_ref().map_or("none".to_string(), |f| {
                format!("bar {} {} {} @ {}", f.seq, f.side, f.quantity, f.price)
            })
        };
        println!("first difference: paper {}, replay {}", show(p), show(r));
    }
    println!(
        "prices: largest difference {:.2} bps; slippage paid: paper {:.2}, replay {:.2}",
        c.max_price_difference_bps, c.slippage.0, c.slippage.1
    );
    println!(
        "PnL: paper {:.2}, replay {:.2}; Sharpe: paper {:.2}, replay {:.2} (deviation {:.2}%)",
        c.pnl.0,
        c.pnl.1,
        c.sharpe.0,
        c.sharpe.1,
        c.sharpe_deviation * 100.0
    );
}

/// Gate thresholds from a TOML file, else the defaults.
fn load_gates(path: Option<&std::path::Path>) -> anyhow::Result<crate::lifecycle::GateConfig> {
    Ok(match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("gates {}: {e}", p.display()))?
        }
        None => crate::lifecycle::GateConfig::default(),
    })
}

/// `deploy show`: the deployment, its evidence and its history.
fn print_show(
    d: &crate::store::registry::Deployment,
    trail: Vec<crate::store::registry::AuditEntry>,
) {
    println!(
        "{} ({}) since {}
  plugin {}
  params {}
  symbols {}
  capital {}",
        d.name,
        d.stage,
        d.stage_since,
        d.plugin,
        d.params.join(" "),
        d.symbols.join(" "),
        d.capital
    );
    if let Some(b) = &d.backtest {
        println!(
            "  backtest: {} bars, {:.2} years, Sharpe {:.2}, max drawdown {:.2}%, {} trades",
            b.bars,
            b.years,
            b.sharpe,
            b.max_drawdown * 100.0,
            b.trades
        );
        if let Some(w) = &b.walk_forward {
            println!(
                "  walk-forward {} over {} windows ({}): out-of-sample Sharpe {:.2}, efficiency {:.3}",
                w.spans,
                w.windows,
                w.grid.join(" "),
                w.sharpe,
                w.efficiency
            );
        }
        if let Some(m) = &b.monte_carlo {
            println!(
                "  Monte Carlo: {} paths ({}, seed {}), 95th-percentile drawdown {:.2}%",
                m.runs,
                m.method,
                m.seed,
                m.p95_drawdown * 100.0
            );
        }
    }
    if let Some(p) = &d.paper {
        println!(
            "  paper: {:.2} days, {} trades, Sharpe {:.2}, slippage {:.2} bps, {} faults",
            p.days, p.trades, p.sharpe, p.slippage_bps, p.faults
        );
    }
    println!("history:");
    for e in trail {
        println!(
            "  {} {} {} → {} by {}{}{}",
            e.time,
            e.action,
            e.from.unwrap_or_default(),
            e.to.unwrap_or_default(),
            e.actor,
            if e.forced { " FORCED" } else { "" },
            e.reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
    }
}

/// `deploy list`.
fn print_list(ds: &[crate::store::registry::Deployment]) {
    for d in ds {
        println!(
            "{:<24} {:<10} {:<28} since {}",
            d.name,
            d.stage.to_string(),
            d.plugin,
            d.stage_since
        );
    }
}

/// `deploy backtest`: replay the deployment's version on the data (exact
/// batching, never look-ahead), with walk-forward and Monte Carlo when
/// asked, and keep the figures as its backtest evidence.
fn backtest(reg: &Registry, who: &str, cmd: DeployCmd) -> anyhow::Result<()> {
    let DeployCmd::Backtest {
        name,
        data,
        journal,
        data_opts,
        grid,
        train,
        test,
        anchored,
        monte_carlo_runs,
    } = cmd
    else {
        unreachable!("backtest is given `deploy backtest`")
    };
    let d = reg.deployment(&name)?;
    let record = reg.plugin(&d.plugin)?;
    let bytes = reg.plugin_bytes(&record)?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join(format!("{}.wasm", record.sha256));
    std::fs::write(&file, bytes)?;
    let mut set: Vec<String> = d.risk.iter().map(|r| format!("risk.{r}")).collect();
    set.push(format!("initial_cash={}", d.capital));
    let spec = ReplaySpec {
        plugin: file,
        data: data.clone(),
        params: d.params.clone(),
        config: RunConfig::load(None, &set)?,
        load: data_opts.load_options(),
        // Gate evidence comes only from runs without look-ahead:
        // exact batching (one bar per call for a 0.1.0 plugin),
        // never batched, whatever the plugin prefers.
        delivery: Some(crate::sandbox::runtime::Delivery::Exact),
        swaps: vec![],
        swap_params: vec![],
        warmup: 0,
    };
    let rt = Runtime::new(cache_dir().as_deref())?;
    let mut entries = Vec::new();
    let sink = match &journal {
        Some(p) => Sink::File(p),
        None => Sink::Memory(&mut entries),
    };
    let replay = replay::run(&rt, &spec, sink, &mut |_, _| {})?;
    let r = Report::new(&replay.outcome);
    print!("{}", r.table());
    let curve = &replay.outcome.equity_curve;
    let years = match (curve.first(), curve.last()) {
        (Some(a), Some(b)) => (b.0 - a.0) as f64 / (365.25 * 86_400_000.0),
        _ => 0.0,
    };
    let monte_carlo = backtest_monte_carlo(&replay.outcome, monte_carlo_runs);
    let walk_forward = match (&train, &test) {
        (Some(train), Some(test)) if !grid.is_empty() => Some(backtest_walk_forward(
            &rt, &spec, &grid, train, test, anchored,
        )?),
        _ => None,
    };
    let evidence = crate::lifecycle::BacktestEvidence {
        plugin: d.plugin.clone(),
        lookahead: replay.outcome.lookahead,
        data: data.iter().map(|p| p.display().to_string()).collect(),
        bars: r.bars,
        years,
        sharpe: r.sharpe,
        max_drawdown: r.max_drawdown,
        trades: r.trades as u64,
        faulted: replay.outcome.fault.is_some(),
        walk_forward,
        monte_carlo,
    };
    reg.record_backtest(&name, evidence, who)?;
    println!("kept as {name}'s backtest evidence");
    Ok(())
}

/// `deploy checklist`: confirm an item a person confirms, then print every
/// item of the pre-live checklist; open items make the command fail.
fn checklist_cmd(reg: &Registry, who: &str, cmd: DeployCmd) -> anyhow::Result<()> {
    let DeployCmd::Checklist {
        name,
        confirm,
        reason,
        gates,
    } = cmd
    else {
        unreachable!("checklist_cmd is given `deploy checklist`")
    };
    use crate::lifecycle::{MANUAL_ITEMS, checklist};
    let d = reg.deployment(&name)?;
    if let Some(item) = &confirm {
        if !MANUAL_ITEMS.iter().any(|(id, _)| id == item) {
            let ids: Vec<&str> = MANUAL_ITEMS.iter().map(|(id, _)| *id).collect();
            anyhow::bail!(
                "`{item}` is not an item a person confirms (those are: {}); the others are measured",
                ids.join(", ")
            );
        }
        reg.confirm_item(
            &name,
            who,
            item,
            &d.plugin,
            reason.as_deref().unwrap_or_default(),
        )?;
    }
    let g = load_gates(gates.as_deref())?;
    let set: Vec<String> = d.risk.iter().map(|r| format!("risk.{r}")).collect();
    let risk = RunConfig::load(None, &set)?.risk;
    let items = checklist(
        &d.plugin,
        d.backtest.as_ref(),
        d.paper.as_ref(),
        &risk,
        &g,
        &reg.confirmations(&name)?,
    );
    println!("pre-live checklist of {name} ({}, {}):", d.plugin, d.stage);
    for i in &items {
        println!(
            "  [{}] {:<24} {}\n  {:>6} {:<24} {}",
            match (i.done, i.manual) {
                (true, _) => "done",
                (false, true) => "todo",
                (false, false) => "FAIL",
            },
            i.id,
            i.what,
            "",
            if i.manual {
                "(a person confirms)"
            } else {
                "(measured)"
            },
            i.value
        );
    }
    let open: Vec<&str> = items.iter().filter(|i| !i.done).map(|i| i.id).collect();
    if !open.is_empty() {
        return Err(super::Exit {
            code: 1,
            message: format!(
                "{} of {} items done; open: {}",
                items.len() - open.len(),
                items.len(),
                open.join(", ")
            ),
        }
        .into());
    }
    println!("every item done ({})", items.len());
    Ok(())
}
