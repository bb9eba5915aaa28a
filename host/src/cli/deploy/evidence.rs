//! `deploy backtest` and `deploy compare`: the evidence the gates read — a replay with walk-forward and Monte Carlo, and a paper run against the replay of its own bars.

use super::*;

/// The backtest's round trips resampled (`trades`, seed 0): the 95th
/// percentile of the maximum drawdown, or why there is none.
pub(super) fn backtest_monte_carlo(
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
pub(super) fn backtest_walk_forward(
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
    let rec = super::super::research::into_recording(data)?;
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
        min_window_trades: w.windows.iter().map(|x| x.trades as u64).min(),
    })
}

/// `deploy compare`: the journal's bars replayed with its version,
/// parameters and configuration; the paper books rebuilt from its fills.
pub(super) fn compare(
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

pub(super) fn print_comparison(c: &crate::research::compare::Comparison) {
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

/// `deploy backtest`: replay the deployment's version on the data (exact
/// batching, never look-ahead), with walk-forward and Monte Carlo when
/// asked, and keep the figures as its backtest evidence.
pub(super) fn backtest(reg: &Registry, who: &str, cmd: DeployCmd) -> anyhow::Result<()> {
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
        win_rate: (r.trades > 0).then_some(r.win_rate),
        faulted: replay.outcome.fault.is_some(),
        walk_forward,
        monte_carlo,
    };
    reg.record_backtest(&name, evidence, who)?;
    println!("kept as {name}'s backtest evidence");
    Ok(())
}
