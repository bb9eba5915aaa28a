//! Research commands: `sandbar sweep` (a parameter grid replayed in
//! parallel, ranked), `sandbar walk-forward` (optimised in sample, traded
//! out of sample, stitched) and `sandbar monte-carlo` (a run resampled).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use super::cache_dir;
use super::replay::RunArgs;
use crate::data::feed::Feed;
use crate::data::market::Recording;
use crate::data::stream::Data;
use crate::engine::replay;
use crate::research::sweep::{self, Outcome};
use crate::sandbox::runtime::Runtime;

#[derive(Debug, Args)]
pub(super) struct SweepArgs {
    #[command(flatten)]
    run: RunArgs,
    /// An axis: `name=start..end:step`, `name=a,b,c`, or `name` for the
    /// plugin's declared range. Repeatable; every combination is run.
    #[arg(long = "grid", required = true)]
    grid: Vec<String>,
    /// Run this many combinations drawn at random from the grid instead.
    #[arg(long)]
    random: Option<usize>,
    /// Seed of the random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Runs at a time (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Write every run's statistics here: `.csv` or `.json`.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    rank: Ranking,
    /// Run one shard of the sweep: `I/N`, or `N` with the index from
    /// `JOB_COMPLETION_INDEX` (Kubernetes) or `SLURM_ARRAY_TASK_ID` (Slurm).
    /// `--out` names the shard file (`{shard}` is replaced by the index);
    /// `sandbar sweep merge` combines them.
    #[arg(long, requires = "out")]
    shard: Option<String>,
}

/// `sandbar sweep merge FILES…` (parsed as `sweep-merge`: see `main.rs`).
#[derive(Debug, Args)]
pub(super) struct MergeArgs {
    /// Every shard file of the sweep.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write every run's statistics here: `.csv` or `.json`.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    rank: Ranking,
}

/// How a sweep's results are ranked and how many are printed.
#[derive(Debug, Args)]
pub(super) struct Ranking {
    /// Rank by this metric.
    #[arg(long, default_value = "sharpe", value_parser = ["sharpe", "sortino", "total_return", "cagr", "profit_factor", "win_rate", "max_drawdown", "trades"])]
    metric: String,
    /// How many of the best to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

pub(super) fn merge(m: MergeArgs) -> anyhow::Result<()> {
    use crate::research::shard::{self, ShardFile};
    let files = m
        .files
        .iter()
        .map(|p| Ok((p.clone(), ShardFile::read(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (identity, outcomes) = shard::merge(&files)?;
    println!(
        "{}: {} runs merged from {} shards",
        identity.plugin,
        outcomes.len(),
        files.len()
    );
    summarize(&outcomes, &m.rank.metric, m.rank.top);
    if let Some(p) = &m.out {
        let axes: Vec<sweep::Axis> = identity
            .axes
            .iter()
            .map(|(name, values)| sweep::Axis {
                name: name.clone(),
                values: values.clone(),
            })
            .collect();
        write_out(p, &axes, &outcomes)?;
    }
    Ok(())
}

/// What a sweep or a walk-forward runs: the plugin compiled once, its
/// description, the axes and combinations, the bars.
struct Setup {
    spec: replay::ReplaySpec,
    rt: Runtime,
    plugin: crate::sandbox::runtime::Plugin,
    desc: crate::sandbox::runtime::Description,
    axes: Vec<sweep::Axis>,
    combos: Vec<sweep::Combination>,
    rec: Recording,
    digests: Vec<replay::DataDigest>,
    jobs: usize,
}

fn setup(
    run: &RunArgs,
    grid: &[String],
    random: Option<usize>,
    seed: u64,
    jobs: Option<usize>,
) -> anyhow::Result<Setup> {
    let spec = run.spec()?;
    let rt = Runtime::new(cache_dir().as_deref())?;
    let bytes = std::fs::read(&spec.plugin)
        .with_context(|| format!("reading plugin {}", spec.plugin.display()))?;
    // Compiled once; every run instantiates it afresh.
    let plugin = rt.load_bytes(&spec.plugin, &bytes)?;
    let desc = rt
        .instantiate(&plugin, spec.config.sandbox, spec.config.seed)
        .map_err(|e| anyhow::anyhow!("plugin {}: {e}", spec.plugin.display()))?
        .description()
        .clone();
    let axes = grid
        .iter()
        .map(|g| sweep::parse_axis(g, &desc))
        .collect::<Result<Vec<_>, String>>()
        .map_err(anyhow::Error::msg)?;
    let combos = match random {
        Some(n) => sweep::random(&axes, n, seed),
        None => {
            let n = sweep::grid_size(&axes);
            if n > 1_000_000 {
                bail!("the grid has {n} combinations; narrow it or sample it with --random N");
            }
            sweep::grid(&axes)
        }
    };
    let (data, digests) = replay::load_data(&spec)?;
    let rec = into_recording(data)?;
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    Ok(Setup {
        spec,
        rt,
        plugin,
        desc,
        axes,
        combos,
        rec,
        digests,
        jobs,
    })
}

pub(super) fn sweep(a: SweepArgs) -> anyhow::Result<()> {
    let Setup {
        spec,
        rt,
        plugin,
        desc,
        axes,
        combos,
        rec,
        digests,
        jobs,
    } = setup(&a.run, &a.grid, a.random, a.seed, a.jobs)?;
    let shard = a
        .shard
        .as_deref()
        .map(|t| crate::research::shard::parse(t, |v| std::env::var(v).ok()))
        .transpose()?;
    let picked: Vec<usize> = match shard {
        Some(s) => s.indices(combos.len()),
        None => (0..combos.len()).collect(),
    };
    let run: Vec<sweep::Combination> = picked.iter().map(|&i| combos[i].clone()).collect();
    let pb = super::progress_bar(true).inspect(|pb| {
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bar:40} {pos}/{len} runs ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_length(run.len() as u64);
    });
    let t = Instant::now();
    let done = || {
        if let Some(pb) = &pb {
            pb.inc(1);
        }
    };
    let outcomes = sweep::Sweep {
        rt: &rt,
        plugin: &plugin,
        base: &spec,
        rec: &rec,
        digests: &digests,
    }
    .run(&run, jobs, &done);
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let secs = t.elapsed().as_secs_f64();
    let refused = outcomes.iter().filter(|o| o.report.is_err()).count();
    let label = format!("{}@{}", desc.name, desc.version);
    println!(
        "{label}{}: {} runs of {} bars in {secs:.2} s ({:.1} runs/s, {jobs} jobs){}",
        shard.map_or(String::new(), |s| format!(" shard {}/{}", s.index, s.of)),
        outcomes.len(),
        rec.bars.len(),
        outcomes.len() as f64 / secs.max(1e-9),
        if refused > 0 {
            format!("; {refused} without a result (see --out)")
        } else {
            String::new()
        }
    );
    if let (Some(s), Some(out)) = (shard, &a.out) {
        let identity = crate::research::shard::Identity {
            plugin: label,
            plugin_sha256: plugin.hash.clone(),
            data: digests.clone(),
            fixed: spec.params.clone(),
            config: format!("{:?} {:?}", spec.config, spec.delivery),
            axes: axes
                .iter()
                .map(|x| (x.name.clone(), x.values.clone()))
                .collect(),
            combinations: combos.clone(),
        };
        let path = s.path(out);
        crate::research::shard::ShardFile::new(
            s,
            identity,
            picked.into_iter().zip(outcomes).collect(),
        )
        .write(&path)?;
        println!(
            "shard file: {} (merge with `sandbar sweep merge`)",
            path.display()
        );
        return Ok(());
    }
    if let Some(p) = &a.out {
        write_out(p, &axes, &outcomes)?;
    }
    if refused == outcomes.len()
        && let Some((o, why)) = first_without_result(&outcomes)
    {
        anyhow::bail!(
            "every run was without a result; the first ({}): {why}",
            o.params.join(" ")
        );
    }
    summarize(&outcomes, &a.rank.metric, a.rank.top);
    Ok(())
}

/// The first run that has no report, and why.
fn first_without_result(outcomes: &[Outcome]) -> Option<(&Outcome, &str)> {
    outcomes
        .iter()
        .find_map(|o| o.report.as_ref().err().map(|why| (o, why.as_str())))
}

/// The best runs, the Deflated Sharpe Ratio of the best and the PBO.
fn summarize(outcomes: &[Outcome], metric: &str, top: usize) {
    let best = sweep::ranked(outcomes, metric);
    // The ranking metric has its own column; the fixed ones follow (the
    // Sharpe column is left out when it is the metric: one header, once).
    let sharpe = metric != "sharpe";
    println!(
        "{:>4}  {:<40} {:>12} {:>8} {:>9} {:>8} {:>7}",
        "rank",
        "parameters",
        metric,
        if sharpe { "sharpe" } else { "" },
        "return",
        "max dd",
        "trades"
    );
    for (rank, &i) in best.iter().take(top).enumerate() {
        let o = &outcomes[i];
        let Ok(r) = &o.report else { continue };
        println!(
            "{:>4}  {:<40} {:>12.4} {:>8} {:>8.2}% {:>7.2}% {:>7}",
            rank + 1,
            o.params.join(" "),
            sweep::metric(r, metric).unwrap_or(f64::NAN),
            if sharpe {
                format!("{:.2}", r.sharpe)
            } else {
                String::new()
            },
            r.total_return * 100.0,
            r.max_drawdown * 100.0,
            r.trades
        );
    }
    if let Some((i, dsr, sr0)) = sweep::deflated(outcomes) {
        let m = outcomes[i]
            .moments
            .unwrap_or(crate::research::overfit::Moments::of(&[]));
        println!(
            "Deflated Sharpe Ratio of the best of {} trials ({}): {dsr:.4} \
             (Sharpe {:.4} per period over {} returns, against {sr0:.4} expected of the best of as many \
             trials without skill; skewness {:.2}, kurtosis {:.2})",
            outcomes.iter().filter(|o| o.moments.is_some()).count(),
            outcomes[i].params.join(" "),
            m.sharpe,
            m.n,
            m.skew,
            m.kurtosis
        );
    }
    match sweep::overfitting(outcomes) {
        Ok(p) => println!(
            "Probability of Backtest Overfitting (CSCV, {} blocks, {} splits): {:.4}",
            p.blocks, p.combinations, p.pbo
        ),
        Err(e) => println!("Probability of Backtest Overfitting: not computed ({e})"),
    }
    if let Some((o, why)) = first_without_result(outcomes) {
        println!("first run without a result ({}): {why}", o.params.join(" "));
    }
}

/// The data in memory: each run replays it from the start.
pub(super) fn into_recording(data: Data) -> anyhow::Result<Recording> {
    match data {
        Data::Loaded(r) => Ok(r),
        Data::Streamed(plan) => {
            let symbols = plan.symbols.clone();
            let mut feed = plan.open()?;
            let mut bars = Vec::new();
            while feed.next_batch(&mut bars, 65_536) > 0 {}
            Ok(Recording { symbols, bars })
        }
    }
}

const COLUMNS: &[&str] = &[
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_days",
    "trades",
    "win_rate",
    "profit_factor",
    "average_win",
    "average_loss",
    "time_in_market",
    "commission",
    "slippage",
    "orders",
    "refusals",
    "intents",
    "final_equity",
];

fn write_out(path: &Path, axes: &[sweep::Axis], outcomes: &[Outcome]) -> anyhow::Result<()> {
    let json = path.extension().is_some_and(|e| e == "json");
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = outcomes
        .iter()
        .map(|o| {
            let mut row = serde_json::Map::new();
            for kv in &o.params {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                row.insert(k.into(), v.into());
            }
            match &o.report {
                Ok(r) => {
                    let all = serde_json::to_value(r).unwrap_or_default();
                    for c in COLUMNS {
                        row.insert((*c).into(), all.get(*c).cloned().unwrap_or_default());
                    }
                    row.insert("error".into(), "".into());
                }
                Err(e) => {
                    for c in COLUMNS {
                        row.insert((*c).into(), serde_json::Value::Null);
                    }
                    row.insert("error".into(), e.clone().into());
                }
            }
            row
        })
        .collect();
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    if json {
        serde_json::to_writer_pretty(&mut f, &rows)?;
    } else {
        let mut w = csv::Writer::from_writer(&mut f);
        let header: Vec<&str> = axes
            .iter()
            .map(|a| a.name.as_str())
            .chain(COLUMNS.iter().copied())
            .chain(["error"])
            .collect();
        w.write_record(&header)?;
        for row in &rows {
            w.write_record(header.iter().map(|h| match row.get(*h) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            }))?;
        }
        w.flush()?;
    }
    f.flush()?;
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct WalkForwardArgs {
    #[command(flatten)]
    run: RunArgs,
    /// An axis, as for `sweep`. Repeatable.
    #[arg(long = "grid", required = true)]
    grid: Vec<String>,
    /// Training span: `3y`, `18m`, `8w`, `30d` (m is months).
    #[arg(long)]
    train: String,
    /// Test span after each training span.
    #[arg(long)]
    test: String,
    /// How far each window moves on (default: the test span).
    #[arg(long)]
    step: Option<String>,
    /// Every training span starts at the first bar (expanding windows).
    #[arg(long)]
    anchored: bool,
    /// Bars of each symbol the strategy sees before a test span, without
    /// trading (default: the chosen combination's largest integer value).
    #[arg(long)]
    warmup: Option<usize>,
    /// Choose the best by this metric.
    #[arg(long, default_value = "sharpe", value_parser = ["sharpe", "sortino", "total_return", "cagr", "profit_factor", "win_rate", "max_drawdown", "trades"])]
    metric: String,
    /// Runs at a time (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Write every window and the overall result here (JSON).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the stitched out-of-sample equity curve here (CSV).
    #[arg(long)]
    equity: Option<PathBuf>,
}

pub(super) fn walk_forward(a: WalkForwardArgs) -> anyhow::Result<()> {
    use crate::research::walkforward as wf;
    let train = wf::span_arg("train", &a.train)?;
    let test = wf::span_arg("test", &a.test)?;
    let step = match &a.step {
        Some(s) => wf::span_arg("step", s)?,
        None => test,
    };
    let Setup {
        spec,
        rt,
        plugin,
        desc,
        combos,
        rec,
        digests,
        jobs,
        ..
    } = setup(&a.run, &a.grid, None, 0, a.jobs)?;
    let plan = wf::Plan {
        train,
        train_text: a.train.clone(),
        test,
        step,
        anchored: a.anchored,
        warmup: a.warmup,
        metric: a.metric.clone(),
        jobs,
    };
    let windows = plan.windows(&rec)?;
    println!(
        "{}@{}: {} windows, {} combinations each, chosen by {} ({})",
        desc.name,
        desc.version,
        windows.len(),
        combos.len(),
        a.metric,
        if a.anchored { "anchored" } else { "rolling" }
    );
    println!(
        "{:<23} {:<23} {:<28} {:>10} {:>10} {:>7} {:>6}",
        "train", "test", "chosen", "in-sample", "out", "trades", "DSR"
    );
    let t = Instant::now();
    let day = |s: &str| s[..10.min(s.len())].to_string();
    let result = plan.run(
        &wf::Runs {
            rt: &rt,
            plugin: &plugin,
            spec: &spec,
            rec: &rec,
            digests: &digests,
            combos: &combos,
        },
        &windows,
        &mut |row| {
            println!(
                "{:<23} {:<23} {:<28} {:>10.4} {:>10.4} {:>7} {:>6}",
                format!("{} – {}", day(&row.train.0), day(&row.train.1)),
                format!("{} – {}", day(&row.test.0), day(&row.test.1)),
                row.params.join(" "),
                row.in_sample,
                row.out_of_sample,
                row.trades,
                row.deflated_sharpe
                    .map_or("–".into(), |d| format!("{d:.2}")),
            );
        },
    )?;
    let rows = &result.windows;
    println!(
        "\nout of sample, {} windows stitched ({} to {}), {:.2} s:",
        rows.len(),
        rows[0].test.0,
        rows[rows.len() - 1].test.1,
        t.elapsed().as_secs_f64()
    );
    print!("{}", result.report.table());
    println!(
        "walk-forward efficiency: {:.3} (out-of-sample annualised return {:.2}% ÷ mean in-sample {:.2}%)",
        result.efficiency,
        result.report.cagr * 100.0,
        result.mean_in_sample_cagr * 100.0
    );
    for s in &result.stability {
        println!(
            "parameter {}: {} in {:.0}% of windows; chosen {}{}",
            s.name,
            s.mode,
            s.mode_share * 100.0,
            s.values.join(", "),
            s.relative_spread.map_or(String::new(), |x| format!(
                "; spread {:.0}% of the mean",
                x * 100.0
            ))
        );
    }
    if let Some(p) = &a.equity {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        );
        crate::report::write_equity_csv(&result.stitched, &mut f)?;
        f.flush()?;
    }
    if let Some(p) = &a.out {
        let v = serde_json::json!({
            "plugin": format!("{}@{}", desc.name, desc.version),
            "metric": a.metric,
            "anchored": a.anchored,
            "windows": result.windows,
            "out_of_sample": result.report,
            "walk_forward_efficiency": result.efficiency,
            "stability": result.stability,
        });
        std::fs::write(p, serde_json::to_string_pretty(&v)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct MonteCarloArgs {
    /// A run's journal (trades resampled from its fills). Or give
    /// --plugin and --data to replay a run here.
    journal: Option<PathBuf>,
    /// The plugin to replay (instead of a journal).
    #[arg(long, requires = "data")]
    plugin: Option<PathBuf>,
    /// Data to replay it on. Repeat for several files.
    #[arg(long)]
    data: Vec<PathBuf>,
    /// Parameter `name=value` of the replay. Repeatable.
    #[arg(long = "param", short = 'p')]
    params: Vec<String>,
    /// Run configuration file of the replay (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override a configuration value of the replay. Repeatable.
    #[arg(long = "set")]
    set: Vec<String>,
    /// Paths to simulate.
    #[arg(long, default_value_t = 10_000)]
    runs: usize,
    /// What to resample.
    #[arg(long, default_value = "trades", value_parser = ["trades", "returns", "block"])]
    method: String,
    /// Block length for `--method block`, in periods.
    #[arg(long, default_value_t = 20)]
    block: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Drawdown whose probability to report (default: the run's risk
    /// `max_drawdown`, or 10% when that is off).
    #[arg(long)]
    threshold: Option<f64>,
    /// Write the summary as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub(super) fn monte_carlo(a: MonteCarloArgs) -> anyhow::Result<()> {
    use crate::portfolio::{Execution, Ledger};
    use crate::research::montecarlo::{self, Method, Sample};
    use crate::store::journal::{Entry, JournalReader};

    let method = match a.method.as_str() {
        "returns" => Method::Returns,
        "block" => Method::Block(a.block),
        _ => Method::Trades,
    };
    // A limit switched off is stored as a value no drawdown reaches.
    let usable = |dd: f64| (dd > 0.0 && dd < 1.0).then_some(dd);
    let (what, sample, limit) = match (&a.journal, &a.plugin) {
        (Some(path), None) => {
            let j = JournalReader::open(path)?;
            let meta = j.meta()?;
            if method != Method::Trades {
                bail!(
                    "{}: a journal keeps fills, not the equity curve: --method {} needs --plugin and --data",
                    path.display(),
                    a.method
                );
            }
            let mut ledger = Ledger::new(meta.initial_cash, meta.symbols.len());
            let mut trades = Vec::new();
            for e in j.entries()? {
                if let Entry::Fill { fill: f, .. } = e
                    && (f.symbol as usize) < meta.symbols.len()
                {
                    let done = ledger.apply(&Execution::from(&f));
                    trades.extend(done.map(|t| t.pnl));
                }
            }
            let limit = toml::from_str::<toml::Table>(&meta.risk)
                .ok()
                .and_then(|t| t.get("max_drawdown")?.as_float());
            let sample = Sample {
                initial: meta.initial_cash,
                trades,
                returns: Vec::new(),
            };
            let what = format!(
                "{}@{} ({})",
                meta.plugin_name,
                meta.plugin_version,
                path.display()
            );
            (what, sample, limit.and_then(usable))
        }
        (None, Some(plugin)) => {
            let spec = crate::engine::replay::ReplaySpec {
                plugin: plugin.clone(),
                data: a.data.clone(),
                params: a.params.clone(),
                config: crate::engine::replay::RunConfig::load(a.config.as_deref(), &a.set)?,
                load: Default::default(),
                delivery: None,
                swaps: vec![],
                swap_params: vec![],
                warmup: 0,
            };
            let rt = Runtime::new(cache_dir().as_deref())?;
            let mut entries = Vec::new();
            let r = replay::run(
                &rt,
                &spec,
                replay::Sink::Memory(&mut entries),
                &mut |_, _| {},
            )?;
            let o = &r.outcome;
            let trades = o.ledger.trades.iter().map(|t| t.pnl).collect();
            let what = format!("{}@{}", r.meta.plugin_name, r.meta.plugin_version);
            (
                what,
                Sample::new(spec.config.initial_cash, &o.equity_curve, trades),
                usable(spec.config.risk.max_drawdown),
            )
        }
        _ => bail!("give a journal, or --plugin and --data (not both)"),
    };
    let threshold = a.threshold.or(limit).unwrap_or(0.10);
    let s = montecarlo::simulate(&sample, method, a.runs, a.seed, threshold)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let how = match method {
        Method::Trades => format!("{} trades", s.length),
        Method::Returns => format!("{} returns", s.length),
        Method::Block(b) => format!("{} returns in blocks of {b}", s.length),
    };
    println!("{what}: {} paths of {how}, seed {}", s.runs, a.seed);
    println!("{:<16} {:>14} {:>14} {:>14}", "", "5%", "50%", "95%");
    let f = s.final_equity;
    println!(
        "{:<16} {:>14.2} {:>14.2} {:>14.2}",
        "final equity", f.p5, f.p50, f.p95
    );
    let d = s.max_drawdown;
    println!(
        "{:<16} {:>13.2}% {:>13.2}% {:>13.2}%",
        "max drawdown",
        d.p5 * 100.0,
        d.p50 * 100.0,
        d.p95 * 100.0
    );
    println!(
        "P(max drawdown ≥ {:.2}%) = {:.4}",
        threshold * 100.0,
        s.p_drawdown_beyond
    );
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&s)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
