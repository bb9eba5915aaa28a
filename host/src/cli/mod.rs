//! The `sandbar` command line.
//!
//! Every command returns `anyhow::Result`; `main` prints the whole cause
//! chain on one line (`error: a: b: c`) and exits non-zero. Exit codes: 1 for
//! errors, 2 for usage errors (clap), 3 when a plugin faulted, 4 when a
//! golden comparison failed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::data::market::{self, LoadOptions, Repair};
use crate::engine::replay::{self, ReplaySpec, RunConfig, Sink};
use crate::report::golden::{self, Golden};
use crate::report::{self, Report};
use crate::sandbox::runtime::{Delivery, Runtime};
use crate::store::journal::JournalReader;
use crate::store::registry::Registry;

/// Sandbar: run trading strategies as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "sandbar", version, about)]
pub struct Cli {
    /// Log filter (RUST_LOG syntax), e.g. `info` or `plugin=debug`.
    #[arg(long, global = true, default_value = "warn")]
    pub log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a plugin over recorded data and print a report.
    Replay(ReplayArgs),
    /// Replay a plugin over recordings and compare with a golden file.
    Test(TestArgs),
    /// Export a journal as JSON lines.
    Journal {
        /// The journal file (.redb).
        file: PathBuf,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Convert CSV data to the binary recording format.
    Convert {
        /// CSV files (several are merged by time).
        #[arg(required = true)]
        input: Vec<PathBuf>,
        /// Output recording file.
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        data: DataOpts,
    },
    /// Generate seeded synthetic bars (geometric Brownian motion) as CSV or a
    /// recording (by the output's extension: .csv or anything else).
    Generate {
        /// Bars per symbol.
        #[arg(long, default_value_t = 1000)]
        bars: usize,
        /// Number of symbols.
        #[arg(long, default_value_t = 1)]
        symbols: usize,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Bar interval: `1m`, `1h` or `1d`.
        #[arg(long, default_value = "1m", value_parser = ["1m", "1h", "1d"])]
        interval: String,
        /// Volatility per bar (standard deviation of log returns).
        #[arg(long, default_value_t = 0.001)]
        sigma: f64,
        /// Output file.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Manage the plugin registry.
    Plugin {
        #[command(flatten)]
        registry: RegistryOpt,
        #[command(subcommand)]
        cmd: PluginCmd,
    },
    /// Manage deployments and their lifecycle.
    Deploy {
        #[command(flatten)]
        registry: RegistryOpt,
        #[command(subcommand)]
        cmd: DeployCmd,
    },
    /// Run deployments as a service, steered through an HTTP control API.
    Serve {
        #[command(flatten)]
        registry: RegistryOpt,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: String,
        /// Write the bound address to this file once listening.
        #[arg(long)]
        addr_file: Option<PathBuf>,
        /// Directory for the deployments' journals (default: `journals/` beside the registry).
        #[arg(long)]
        journals: Option<PathBuf>,
        /// Drawdown from the peak at which a running deployment pauses itself.
        #[arg(long, default_value_t = 0.10)]
        pause_drawdown: f64,
    },
    /// Show a plugin's description: name, version, SDK, parameters.
    Describe {
        /// The plugin component (.wasm).
        plugin: PathBuf,
    },
}

#[derive(Debug, Args)]
struct RegistryOpt {
    /// Registry file (default: $SANDBAR_REGISTRY, else
    /// $XDG_DATA_HOME/sandbar/registry.redb, else ~/.local/share/sandbar/registry.redb).
    #[arg(long, global = true)]
    registry: Option<PathBuf>,
}

impl RegistryOpt {
    fn open(&self) -> anyhow::Result<Registry> {
        Ok(Registry::open(&self.path())?)
    }

    fn path(&self) -> PathBuf {
        if let Some(p) = &self.registry {
            return p.clone();
        }
        if let Some(p) = std::env::var_os("SANDBAR_REGISTRY") {
            return PathBuf::from(p);
        }
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("sandbar/registry.redb")
    }
}

#[derive(Debug, Subcommand)]
enum PluginCmd {
    /// Validate a component and add it (content-addressed by SHA-256).
    Add {
        /// The component (.wasm).
        file: PathBuf,
        /// A note kept with the version.
        #[arg(long)]
        note: Option<String>,
    },
    /// List every registered version.
    List,
    /// Metadata, parameters, deployments and history of `name[@version]`.
    Show {
        /// `name` (newest version) or `name@version`.
        spec: String,
    },
    /// Remove a version no deployment uses.
    Remove {
        /// `name@version`.
        label: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeployCmd {
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
    /// Start a PAPER deployment on the service, fed by recorded bars at a pace.
    Start {
        /// Deployment name.
        name: String,
        /// Data files for the feed.
        #[arg(long, required = true)]
        data: Vec<PathBuf>,
        /// Bars per second.
        #[arg(long, default_value_t = 1000.0)]
        bars_per_second: f64,
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
        /// The feed's data files (the same as the deployment's).
        #[arg(long, required = true)]
        data: Vec<PathBuf>,
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
    /// Retire a deployment.
    Deprecate {
        /// Deployment name.
        name: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// List deployments.
    List,
    /// A deployment with its evidence and history.
    Show {
        /// Deployment name.
        name: String,
    },
}

fn actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"));
    format!("cli:{}", user.unwrap_or_else(|_| "unknown".into()))
}

fn plugin_cmd(registry: &RegistryOpt, cmd: PluginCmd) -> anyhow::Result<()> {
    let reg = registry.open()?;
    match cmd {
        PluginCmd::Add { file, note } => {
            let rt = Runtime::new(cache_dir().as_deref())?;
            let t = std::time::Instant::now();
            let (r, already) = reg.add_plugin(&rt, &file, note, &actor())?;
            if already {
                println!(
                    "{} is already registered with these bytes (sha256 {}); nothing to do",
                    r.label(),
                    r.sha256
                );
            } else {
                println!(
                    "added {} (sha256 {}, {} bytes) in {:.0?}",
                    r.label(),
                    r.sha256,
                    r.size,
                    t.elapsed()
                );
            }
        }
        PluginCmd::List => {
            for r in reg.plugins()? {
                println!(
                    "{:<32} sha256:{}  {:>8} bytes  sdk {}  added {}",
                    r.label(),
                    &r.sha256[..12],
                    r.size,
                    r.sdk_version,
                    r.added_at
                );
            }
        }
        PluginCmd::Show { spec } => {
            let r = reg.plugin(&spec)?;
            println!(
                "{}
  sha256 {}
  {} bytes, sdk {}, {} delivery, {}",
                r.label(),
                r.sha256,
                r.size,
                r.sdk_version,
                r.delivery,
                r.contract
            );
            println!(
                "  added {} by {}{}",
                r.added_at,
                r.added_by,
                r.note
                    .as_ref()
                    .map(|n| format!(" — {n}"))
                    .unwrap_or_default()
            );
            println!("parameters:");
            for p in &r.params {
                let range = match (p.min, p.max) {
                    (Some(a), Some(b)) => format!(" in [{a}, {b}]"),
                    _ => String::new(),
                };
                println!(
                    "  {} ({}, default {}{range}) {}",
                    p.name, p.ty, p.default, p.doc
                );
            }
            println!("deployments:");
            for d in reg.deployments()?.iter().filter(|d| d.plugin == r.label()) {
                println!("  {} ({})", d.name, d.stage);
            }
            println!("history:");
            for e in reg.audit_trail(Some(&r.label()))? {
                println!(
                    "  {} {} {} by {}",
                    e.time,
                    e.action,
                    e.to.unwrap_or_default(),
                    e.actor
                );
            }
        }
        PluginCmd::Remove { label } => {
            reg.remove_plugin(&label, &actor())?;
            println!("removed {label}");
        }
    }
    Ok(())
}

/// A lifecycle move without a gate (pause, resume, deprecate).
fn move_to(
    reg: &Registry,
    name: &str,
    mv: crate::store::lifecycle::Move,
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
        } => Some((name, s)),
        Start { name, server, .. }
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
    use crate::service::api::{Act, Client, VersionAct};
    let (name, server) = remote(&cmd)
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .expect("remote command");
    let c = Client::new(&server);
    let who = actor();
    let act = |reason: String| Act {
        actor: who.clone(),
        reason,
    };
    let v = match cmd {
        DeployCmd::Pause { reason, .. } => {
            c.post(&name, "pause", &act(reason.unwrap_or_default()))?
        }
        DeployCmd::Resume { reason, .. } => {
            c.post(&name, "resume", &act(reason.unwrap_or_default()))?
        }
        DeployCmd::Start {
            data,
            bars_per_second,
            ..
        } => {
            let req = crate::service::StartRequest {
                data,
                bars_per_second,
            };
            c.post(&name, "start", &(req, act(String::new())))?
        }
        DeployCmd::Swap { plugin, reason, .. } => c.post(
            &name,
            "swap",
            &VersionAct {
                plugin: Some(plugin),
                data: vec![],
                actor: who.clone(),
                reason,
            },
        )?,
        DeployCmd::Rollback { to, reason, .. } => c.post(
            &name,
            "rollback",
            &VersionAct {
                plugin: to,
                data: vec![],
                actor: who.clone(),
                reason,
            },
        )?,
        DeployCmd::Shadow { plugin, data, .. } => c.post(
            &name,
            "shadow",
            &VersionAct {
                plugin: Some(plugin),
                data,
                actor: who.clone(),
                reason: String::new(),
            },
        )?,
        DeployCmd::ShadowReport { .. } => {
            let d: crate::service::shadow::Divergence =
                serde_json::from_value(c.get(&name, "/shadow")?)?;
            print!("{}", d.table());
            return Ok(());
        }
        DeployCmd::PromoteShadow { reason, .. } => c.post(&name, "promote-shadow", &act(reason))?,
        DeployCmd::Status { .. } => c.get(&name, "")?,
        DeployCmd::Stop { .. } => c.post(&name, "stop", &act(String::new()))?,
        _ => unreachable!("not a remote command"),
    };
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn deploy_cmd(registry: &RegistryOpt, cmd: DeployCmd) -> anyhow::Result<()> {
    use crate::store::lifecycle::{GateConfig, Move};
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
        DeployCmd::Backtest {
            name,
            data,
            journal,
            data_opts,
        } => {
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
                // Gate evidence comes only from runs without look-ahead: one
                // bar per call, whatever the plugin prefers.
                delivery: Some(crate::sandbox::runtime::Delivery::PerBar),
                swaps: vec![],
                swap_params: vec![],
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
            let evidence = crate::store::lifecycle::BacktestEvidence {
                plugin: d.plugin.clone(),
                lookahead: replay.outcome.lookahead,
                data: data.iter().map(|p| p.display().to_string()).collect(),
                bars: r.bars,
                years,
                sharpe: r.sharpe,
                max_drawdown: r.max_drawdown,
                trades: r.trades as u64,
                faulted: replay.outcome.fault.is_some(),
            };
            reg.record_backtest(&name, evidence, &who)?;
            println!("kept as {name}'s backtest evidence");
        }
        DeployCmd::Promote {
            name,
            force,
            reason,
            gates,
        } => {
            let gates: GateConfig = match gates {
                Some(p) => {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    toml::from_str(&text)
                        .map_err(|e| anyhow::anyhow!("gates {}: {e}", p.display()))?
                }
                None => GateConfig::default(),
            };
            let (to, readiness) =
                reg.transition(&name, Move::Promote, reason, force, &gates, &who)?;
            if let Some(r) = readiness {
                print!("{}", r.table());
            }
            println!("{name} is now {to}{}", if force { " (forced)" } else { "" });
        }
        DeployCmd::Pause { name, reason, .. } => move_to(&reg, &name, Move::Pause, reason, &who)?,
        DeployCmd::Resume { name, reason, .. } => move_to(&reg, &name, Move::Resume, reason, &who)?,
        DeployCmd::Deprecate { name, reason } => {
            move_to(&reg, &name, Move::Deprecate, reason, &who)?
        }
        DeployCmd::Start { .. }
        | DeployCmd::Swap { .. }
        | DeployCmd::Rollback { .. }
        | DeployCmd::Shadow { .. }
        | DeployCmd::ShadowReport { .. }
        | DeployCmd::PromoteShadow { .. }
        | DeployCmd::Status { .. }
        | DeployCmd::Stop { .. } => unreachable!("handled by remote_cmd"),
        DeployCmd::List => {
            for d in reg.deployments()? {
                println!(
                    "{:<24} {:<10} {:<28} since {}",
                    d.name,
                    d.stage.to_string(),
                    d.plugin,
                    d.stage_since
                );
            }
        }
        DeployCmd::Show { name } => {
            let d = reg.deployment(&name)?;
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
            }
            if let Some(p) = &d.paper {
                println!(
                    "  paper: {:.2} days, {} trades, Sharpe {:.2}, slippage {:.2} bps, {} faults",
                    p.days, p.trades, p.sharpe, p.slippage_bps, p.faults
                );
            }
            println!("history:");
            for e in reg.audit_trail(Some(&name))? {
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
    }
    Ok(())
}

#[derive(Debug, Args)]
struct DataOpts {
    /// Symbol name for files without a symbol column (default: file name).
    #[arg(long)]
    symbol: Option<String>,
    /// Repair bad data instead of failing: comma-separated sort, dedupe, clamp.
    #[arg(long, default_value = "")]
    repair: Repair,
}

impl DataOpts {
    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            symbol: self.symbol.clone(),
            repair: self.repair,
        }
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The plugin component (.wasm).
    #[arg(long)]
    plugin: PathBuf,
    /// Data file: CSV or recording. Repeat for several symbols.
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    /// Strategy parameter `name=value`. Repeatable.
    #[arg(long = "param", short = 'p')]
    params: Vec<String>,
    /// Run configuration (TOML): initial_cash, seed, [risk], [execution], [sandbox].
    #[arg(long = "config", alias = "risk")]
    config: Option<PathBuf>,
    /// Override a configuration value, e.g. `risk.max_position=0.3`. Repeatable.
    #[arg(long = "set")]
    set: Vec<String>,
    /// Starting cash (overrides the config file).
    #[arg(long)]
    cash: Option<f64>,
    /// Force per-bar or batched delivery (default: what the plugin declares).
    #[arg(long, value_parser = ["per-bar", "batched"])]
    delivery: Option<String>,
    /// Swap in another version at a bar: `<bar-seq>=<file.wasm>`. Repeatable.
    /// Goes through the same snapshot/restore/rollback code as a live swap.
    #[arg(long = "swap-at")]
    swap_at: Vec<crate::engine::replay::SwapAt>,
    /// Parameter `name=value` for the swapped-in versions. Repeatable.
    #[arg(long = "swap-param")]
    swap_params: Vec<String>,
    #[command(flatten)]
    data_opts: DataOpts,
}

impl RunArgs {
    fn spec(&self) -> anyhow::Result<ReplaySpec> {
        let mut set = self.set.clone();
        if let Some(c) = self.cash {
            set.push(format!("initial_cash={c}"));
        }
        Ok(ReplaySpec {
            plugin: self.plugin.clone(),
            data: self.data.clone(),
            params: self.params.clone(),
            config: RunConfig::load(self.config.as_deref(), &set)?,
            load: self.data_opts.load_options(),
            delivery: match self.delivery.as_deref() {
                Some("batched") => Some(Delivery::Batched),
                Some(_) => Some(Delivery::PerBar),
                None => None,
            },
            swaps: self.swap_at.clone(),
            swap_params: self.swap_params.clone(),
        })
    }
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Journal file (redb) to write; replaced if it exists.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the equity curve as CSV here.
    #[arg(long)]
    equity: Option<PathBuf>,
    /// Shadow-run a candidate version on the same bars with its own ledger
    /// and report where its intents diverge.
    #[arg(long)]
    shadow: Option<PathBuf>,
    /// Parameter `name=value` for the shadow candidate. Repeatable.
    #[arg(long = "shadow-param")]
    shadow_params: Vec<String>,
    /// Journal file for the shadow candidate.
    #[arg(long)]
    shadow_journal: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct TestArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Golden file (default: <plugin>.golden.jsonl beside the plugin).
    #[arg(long)]
    golden: Option<PathBuf>,
    /// Write the golden file from this run instead of comparing.
    #[arg(long)]
    bless: bool,
}

/// A failure with a specific exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    /// Process exit code.
    pub code: i32,
    /// What to print.
    pub message: String,
}

fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("SANDBAR_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
                .map(|d| d.join("sandbar"))
        })?;
    std::fs::create_dir_all(&base).ok()?;
    Some(base)
}

fn progress_bar(total_hint: bool) -> Option<indicatif::ProgressBar> {
    if !total_hint || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bar:40} {pos}/{len} bars ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(pb)
}

/// Run the CLI.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Replay(a) => replay_cmd(a),
        Command::Test(a) => test_cmd(a),
        Command::Journal { file, out } => {
            let reader = JournalReader::open(&file)?;
            match out {
                Some(p) => {
                    let f = std::fs::File::create(&p)
                        .with_context(|| format!("creating {}", p.display()))?;
                    let mut w = std::io::BufWriter::new(f);
                    reader.export_jsonl(&mut w)?;
                    w.flush()?;
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::new(stdout.lock());
                    reader.export_jsonl(&mut w)?;
                    w.flush()?;
                }
            }
            Ok(())
        }
        Command::Convert { input, out, data } => {
            let t = std::time::Instant::now();
            let (rec, _) = market::load(&input, &data.load_options())?;
            market::write_recording(&out, &rec)?;
            eprintln!(
                "wrote {} bars of {} symbol(s) to {} in {:.2?}",
                rec.bars.len(),
                rec.symbols.len(),
                out.display(),
                t.elapsed()
            );
            Ok(())
        }
        Command::Generate {
            bars,
            symbols,
            seed,
            interval,
            sigma,
            out,
        } => {
            let interval_ms = match interval.as_str() {
                "1h" => 3_600_000,
                "1d" => 86_400_000,
                _ => 60_000,
            };
            let spec = crate::data::synth::SynthSpec {
                bars,
                symbols,
                seed,
                interval_ms,
                sigma,
                ..Default::default()
            };
            let rec = crate::data::synth::generate(&spec);
            if out.extension().is_some_and(|e| e == "csv") {
                let f = std::fs::File::create(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
                crate::data::synth::write_csv(&rec, std::io::BufWriter::new(f))
                    .with_context(|| format!("writing {}", out.display()))?;
            } else {
                market::write_recording(&out, &rec)?;
            }
            Ok(())
        }
        Command::Plugin { registry, cmd } => plugin_cmd(&registry, cmd),
        Command::Serve {
            registry,
            listen,
            addr_file,
            journals,
            pause_drawdown,
        } => {
            let path = registry.path();
            let journals = journals.unwrap_or_else(|| path.with_file_name("journals"));
            let service = crate::service::Service::new(
                Registry::open(&path)?,
                Runtime::new(cache_dir().as_deref())?,
                crate::service::ServiceConfig {
                    journals,
                    pause_drawdown,
                },
            )?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                let addr = listener.local_addr()?;
                eprintln!("sandbar serving {} on http://{addr}", path.display());
                if let Some(f) = addr_file {
                    std::fs::write(&f, format!("http://{addr}"))
                        .with_context(|| format!("writing {}", f.display()))?;
                }
                crate::service::api::serve(std::sync::Arc::new(service), listener).await
            })
        }
        Command::Deploy { registry, cmd } => deploy_cmd(&registry, cmd),
        Command::Describe { plugin } => {
            let rt = Runtime::new(cache_dir().as_deref())?;
            let p = rt.load(&plugin)?;
            let inst = rt
                .instantiate(&p, Default::default(), 0)
                .map_err(|e| anyhow::anyhow!("plugin {}: {e}", plugin.display()))?;
            let d = inst.description();
            println!(
                "{}@{} (sdk {}, {} delivery)",
                d.name,
                d.version,
                d.sdk_version,
                crate::sandbox::runtime::delivery_name(d.delivery)
            );
            println!("sha256 {}  size {} bytes", p.hash, p.size);
            for s in &d.params {
                let range = match (s.min, s.max) {
                    (Some(a), Some(b)) => format!(" in [{a}, {b}]"),
                    _ => String::new(),
                };
                let ty = crate::sandbox::params::type_name(s.type_);
                println!(
                    "  {} ({ty}, default {}{range}) {}",
                    s.name,
                    crate::sandbox::params::display(&s.default),
                    s.doc
                );
            }
            Ok(())
        }
    }
}

fn replay_cmd(a: ReplayArgs) -> anyhow::Result<()> {
    let spec = a.run.spec()?;
    let rt = Runtime::new(cache_dir().as_deref())?;
    let pb = progress_bar(true);
    let mut progress = |done: u64, total: u64| {
        if let Some(pb) = &pb {
            pb.set_length(total);
            pb.set_position(done);
        }
    };
    let mut entries = Vec::new();
    let sink = match &a.journal {
        Some(p) => Sink::File(p),
        None => Sink::Memory(&mut entries),
    };
    let replay = replay::run(&rt, &spec, sink, &mut progress)?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let o = &replay.outcome;
    let r = Report::new(o);
    println!(
        "{}@{} on {} ({} bars, {:?} final state)",
        replay.meta.plugin_name,
        replay.meta.plugin_version,
        replay.meta.symbols.join(", "),
        o.bars,
        o.state
    );
    print!("{}", r.table());
    if let Some(p) = &a.json {
        std::fs::write(p, r.to_json()).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.equity {
        let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
        let mut w = std::io::BufWriter::new(f);
        report::write_equity_csv(o, &mut w)?;
        w.flush()?;
    }
    if let Some(candidate) = &a.shadow {
        let main_entries = match &a.journal {
            Some(p) => JournalReader::open(p)?.entries()?,
            None => std::mem::take(&mut entries),
        };
        let spec = ReplaySpec {
            plugin: candidate.clone(),
            params: a.shadow_params.clone(),
            swaps: vec![],
            ..spec.clone()
        };
        let mut shadow_entries = Vec::new();
        let shadow = match &a.shadow_journal {
            Some(p) => {
                let r = replay::run(&rt, &spec, Sink::File(p), &mut |_, _| {})?;
                shadow_entries = JournalReader::open(p)?.entries()?;
                r
            }
            None => replay::run(
                &rt,
                &spec,
                Sink::Memory(&mut shadow_entries),
                &mut |_, _| {},
            )?,
        };
        let label = |m: &crate::store::journal::RunMeta| {
            format!(
                "{}@{} ({})",
                m.plugin_name,
                m.plugin_version,
                &m.plugin_sha256[..12]
            )
        };
        let d = crate::service::shadow::compare(
            (&label(&replay.meta), &main_entries, o.into()),
            (
                &label(&shadow.meta),
                &shadow_entries,
                (&shadow.outcome).into(),
            ),
        );
        print!("{}", d.table());
    }
    if let Some(f) = &o.fault {
        if let crate::sandbox::runtime::Fault::Trap { frames, .. } = &f.fault {
            eprintln!("guest backtrace (innermost first):");
            for (i, frame) in frames.iter().enumerate() {
                eprintln!("  {i}: {frame}");
            }
        }
        let journal = a
            .journal
            .as_ref()
            .map(|p| format!("; journal {} is complete up to the fault", p.display()));
        return Err(Exit {
            code: 3,
            message: format!(
                "plugin {}@{} (sha256 {}) faulted at bar {} ({} {}): {}{}",
                replay.meta.plugin_name,
                replay.meta.plugin_version,
                &replay.meta.plugin_sha256[..12],
                f.seq,
                replay
                    .meta
                    .symbols
                    .get(f.bar.symbol as usize)
                    .map_or("?", String::as_str),
                market::format_time(f.bar.time_ms),
                f.fault,
                journal.unwrap_or_default()
            ),
        }
        .into());
    }
    Ok(())
}

fn test_cmd(a: TestArgs) -> anyhow::Result<()> {
    let spec = a.run.spec()?;
    let rt = Runtime::new(cache_dir().as_deref())?;
    let path = a
        .golden
        .clone()
        .unwrap_or_else(|| golden::default_path(&spec.plugin));
    match golden::check(&rt, &spec, &path, a.bless)? {
        Golden::Matched(n) => {
            println!(
                "ok: {} matches {} ({n} lines)",
                spec.plugin.display(),
                path.display()
            );
            Ok(())
        }
        Golden::Blessed(n) => {
            println!("blessed: wrote {} ({n} lines)", path.display());
            Ok(())
        }
        Golden::Mismatch(diff) => {
            print!("{diff}");
            Err(Exit {
                code: 4,
                message: format!(
                    "{} differs from golden file {}",
                    spec.plugin.display(),
                    path.display()
                ),
            }
            .into())
        }
    }
}
