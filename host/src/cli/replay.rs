//! `sandbar replay` and `sandbar test`: a plugin over recorded data, with a
//! report, or against a golden file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{DataOpts, Exit, cache_dir, progress_bar};
use crate::data::market;
use crate::engine::replay::{self, ReplaySpec, RunConfig, Sink};
use crate::report::golden::{self, Golden};
use crate::report::{self, Report};
use crate::sandbox::runtime::{Delivery, Runtime};
use crate::store::journal::JournalReader;

#[derive(Debug, Args)]
pub(super) struct RunArgs {
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
    /// Force a delivery mode (default: exact batching for a contract-0.2.0
    /// plugin that declares per-bar, else what the plugin declares).
    #[arg(long, value_parser = ["exact", "per-bar", "batched"])]
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
    pub(super) fn spec(&self) -> anyhow::Result<ReplaySpec> {
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
            delivery: self.delivery.as_deref().and_then(Delivery::parse),
            swaps: self.swap_at.clone(),
            swap_params: self.swap_params.clone(),
            warmup: 0,
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct ReplayArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Journal file (redb) to write; replaced if it exists.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report here (equity, drawdown, trades on
    /// price, monthly returns, statistics; opens offline).
    #[arg(long)]
    html: Option<PathBuf>,
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
pub(super) struct TestArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Golden file (default: <plugin>.golden.jsonl beside the plugin).
    #[arg(long)]
    golden: Option<PathBuf>,
    /// Write the golden file from this run instead of comparing.
    #[arg(long)]
    bless: bool,
}

pub(super) fn replay(a: ReplayArgs) -> anyhow::Result<()> {
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
    if let Some(p) = &a.html {
        let journaled;
        let main = match &a.journal {
            Some(j) => {
                journaled = JournalReader::open(j)?.entries()?;
                &journaled
            }
            None => &entries,
        };
        write_html(&spec, &replay, main, p)?;
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

pub(super) fn test(a: TestArgs) -> anyhow::Result<()> {
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

/// `--html`: the report page, with the closes of the symbols traded read
/// again from the data (thinned) and the fills from the journal.
fn write_html(
    spec: &ReplaySpec,
    replay: &replay::Replay,
    entries: &[crate::store::journal::Entry],
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::data::feed::{Feed, RecordedFeed};
    let (data, _) = replay::load_data(spec)?;
    let mut feed: Box<dyn Feed> = match data {
        crate::data::stream::Data::Loaded(r) => Box::new(RecordedFeed::new(r)),
        crate::data::stream::Data::Streamed(plan) => Box::new(plan.open()?),
    };
    let page = crate::report::html::run_page(
        &replay.meta,
        &replay.outcome,
        entries,
        &mut |each: &mut dyn FnMut(&crate::data::market::Bar)| {
            let mut bars = Vec::with_capacity(4096);
            loop {
                bars.clear();
                if feed.next_batch(&mut bars, 4096) == 0 {
                    return Ok(());
                }
                bars.iter().for_each(&mut *each);
            }
        },
    )?;
    std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
