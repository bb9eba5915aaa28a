//! The `sandbar` command line.
//!
//! Every command returns `anyhow::Result`; `main` prints the whole cause
//! chain on one line (`error: a: b: c`) and exits non-zero. Exit codes: 1 for
//! errors, 2 for usage errors (clap), 3 when a plugin faulted, 4 when a
//! golden comparison failed.
//!
//! One file per command family: `demo.rs` (demo), `new.rs` (new),
//! `build.rs` (build), `replay.rs` (replay, test), `data.rs` (journal,
//! convert, generate), `plugin.rs` (plugin, describe), `deploy.rs` (deploy),
//! `serve.rs` (serve). A new command is a new file here and a
//! variant of `Command`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

mod alerts;
mod backup;
mod build;
mod data;
mod demo;
mod deploy;
mod harness;
mod new;
mod plugin;
mod python;
mod record;
mod replay;
mod research;
mod serve;
mod venue;

use crate::store::registry::Registry;
use data::DataOpts;

/// Sandbar: run trading strategies as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "sandbar", version, about)]
pub struct Cli {
    /// Log filter (RUST_LOG syntax), e.g. `info` or `plugin=debug`.
    #[arg(long, global = true, default_value = "warn", env = "SANDBAR_LOG")]
    pub log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the example strategy and replay it on the bundled sample: the
    /// main job in one command.
    Demo(demo::DemoArgs),
    /// Create a strategy crate (builds outside this repository).
    New(new::NewArgs),
    /// Build a strategy (a Rust crate or a Python strategy) to a component and describe it.
    Build(build::BuildArgs),
    /// Serve the SDK's test harness over standard input and output, in JSON
    /// lines: the Python SDK's `sandbar.testing.Harness` runs a strategy
    /// natively against the host's own rules through it.
    Harness,
    /// Replay a plugin over recorded data and print a report.
    Replay(replay::ReplayArgs),
    /// Replay a plugin over recordings and compare with a golden file.
    Test(replay::TestArgs),
    /// Replay a plugin for every combination of a parameter grid (or a
    /// seeded random sample of it), in parallel, and rank the results.
    Sweep(research::SweepArgs),
    /// Merge the shard files of a sweep (`sweep --shard`) into its results,
    /// exactly as one machine would have written them. Also `sweep merge`.
    SweepMerge(research::MergeArgs),
    /// Optimise on a training span, trade the best on the span after it,
    /// move on; the out-of-sample spans stitched into one report.
    WalkForward(research::WalkForwardArgs),
    /// Resample a run's trades or returns: percentiles of final equity and
    /// drawdown, and the chance of a drawdown beyond a threshold.
    MonteCarlo(research::MonteCarloArgs),
    /// Export a journal as JSON lines.
    Journal(data::JournalArgs),
    /// Convert CSV data to the binary recording format.
    Convert(data::ConvertArgs),
    /// Generate seeded synthetic bars (geometric Brownian motion) as CSV or a
    /// recording (by the output's extension: .csv or anything else).
    Generate(data::GenerateArgs),
    /// Manage the plugin registry.
    Plugin {
        #[command(flatten)]
        registry: RegistryOpt,
        #[command(subcommand)]
        cmd: plugin::PluginCmd,
    },
    /// Manage deployments and their lifecycle.
    Deploy {
        #[command(flatten)]
        registry: RegistryOpt,
        #[command(subcommand)]
        cmd: deploy::DeployCmd,
    },
    /// Run deployments as a service, steered through an HTTP control API.
    Serve(serve::ServeArgs),
    /// The kill switch: flatten and pause every running deployment of a
    /// service (every open order cancelled, every position closed at its
    /// next bar), journaled, audited and alerted.
    Kill(serve::KillArgs),
    /// A running service's alert history, newest first.
    Alerts(alerts::AlertsArgs),
    /// Back up the registry and every journal and database: a running
    /// service's through its API (while it trades), else directly.
    Backup {
        #[command(flatten)]
        registry: RegistryOpt,
        #[command(flatten)]
        args: backup::BackupArgs,
    },
    /// Restore a backup into an empty data directory.
    Restore(backup::RestoreArgs),
    /// Capture a configured live feed into a recording.
    Record(record::RecordArgs),
    /// Check a configured live venue before going live.
    Venue {
        #[command(subcommand)]
        cmd: venue::VenueCmd,
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

fn actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"));
    format!("cli:{}", user.unwrap_or_else(|_| "unknown".into()))
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

/// `sandbar sweep merge …` is `sandbar sweep-merge …`: `sweep` itself
/// takes flags only, and clap cannot give one command both required flags
/// and a subcommand that needs none of them.
pub fn spelled(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = args.into_iter().collect();
    if v.get(1).is_some_and(|a| a == "sweep") && v.get(2).is_some_and(|a| a == "merge") {
        v.splice(1..3, ["sweep-merge".into()]);
    }
    v
}

/// Run the CLI.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::New(a) => new::new(a),
        Command::Build(a) => build::run(a),
        Command::Harness => harness::run(),
        Command::Replay(a) => replay::replay(a),
        Command::Test(a) => replay::test(a),
        Command::Sweep(a) => research::sweep(a),
        Command::SweepMerge(a) => research::merge(a),
        Command::WalkForward(a) => research::walk_forward(a),
        Command::MonteCarlo(a) => research::monte_carlo(a),
        Command::Journal(a) => data::journal(a),
        Command::Convert(a) => data::convert(a),
        Command::Generate(a) => data::generate(a),
        Command::Plugin { registry, cmd } => plugin::run(&registry, cmd),
        Command::Deploy { registry, cmd } => deploy::run(&registry, cmd),
        Command::Serve(a) => serve::serve(a),
        Command::Kill(a) => serve::kill(a),
        Command::Alerts(a) => alerts::run(a),
        Command::Backup { registry, args } => backup::backup(&registry, args),
        Command::Restore(a) => backup::restore(a),
        Command::Record(a) => record::record(a),
        Command::Venue { cmd } => venue::run(cmd),
        Command::Describe { plugin } => plugin::describe(plugin),
    }
}
