//! `sandbar journal`, `convert` and `generate`: data in and out.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::data::market::{self, LoadOptions, Repair};
use crate::store::journal::JournalReader;

/// How data files are read (shared by every command that reads data).
#[derive(Debug, Args)]
pub(super) struct DataOpts {
    /// Symbol name for files without a symbol column (default: file name).
    #[arg(long)]
    symbol: Option<String>,
    /// Repair bad data instead of failing: comma-separated sort, dedupe, clamp.
    #[arg(long, default_value = "")]
    repair: Repair,
}

impl DataOpts {
    pub(super) fn load_options(&self) -> LoadOptions {
        LoadOptions {
            symbol: self.symbol.clone(),
            repair: self.repair,
        }
    }
}

/// `sandbar journal`.
#[derive(Debug, Args)]
pub(super) struct JournalArgs {
    /// The journal file (.redb).
    pub(super) file: PathBuf,
    /// Write here instead of standard output.
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
    /// Print what a service deployment's journal keeps besides its entries:
    /// the input bars, the feed's notes and the last strategy snapshot.
    #[arg(long)]
    pub(super) inputs: bool,
    /// Write the run's HTML report (as `replay --html` does) here. A
    /// service deployment's journal holds its bars; a replay's needs the
    /// data it read (`--data`, checked against the journal's SHA-256).
    #[arg(long, value_name = "FILE")]
    pub(super) html: Option<PathBuf>,
    /// The data files the run read (for `--html` of a replay's journal).
    #[arg(long, num_args = 1..)]
    pub(super) data: Vec<PathBuf>,
    #[command(flatten)]
    pub(super) load: DataOpts,
}

/// `sandbar convert`.
#[derive(Debug, Args)]
pub(super) struct ConvertArgs {
    /// CSV files (several are merged by time).
    #[arg(required = true)]
    pub(super) input: Vec<PathBuf>,
    /// Output recording file.
    #[arg(long, short)]
    pub(super) out: PathBuf,
    #[command(flatten)]
    pub(super) data: DataOpts,
}

/// `sandbar generate`.
#[derive(Debug, Args)]
pub(super) struct GenerateArgs {
    /// Bars per symbol.
    #[arg(long, default_value_t = 1000)]
    pub(super) bars: usize,
    /// Number of symbols.
    #[arg(long, default_value_t = 1)]
    pub(super) symbols: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Bar interval: `1m`, `1h` or `1d`.
    #[arg(long, default_value = "1m", value_parser = ["1m", "1h", "1d"])]
    pub(super) interval: String,
    /// Volatility per bar (standard deviation of log returns).
    #[arg(long, default_value_t = 0.001)]
    pub(super) sigma: f64,
    /// Output file.
    #[arg(long, short)]
    pub(super) out: PathBuf,
}

pub(super) fn journal(a: JournalArgs) -> anyhow::Result<()> {
    let JournalArgs {
        file,
        out,
        inputs,
        html,
        data,
        load,
    } = a;
    let reader = JournalReader::open(&file)?;
    if let Some(page) = html {
        return journal_html(&file, &reader, &page, &data, &load);
    }
    if inputs {
        let bars = reader.bars()?;
        let snapshot = reader.snapshot()?.map(|s| {
            use sha2::Digest;
            serde_json::json!({
                "seq": s.seq,
                "version": s.version,
                "bytes": s.state.len(),
                "sha256": crate::digest::hex(&sha2::Sha256::digest(&s.state)),
            })
        });
        let v = serde_json::json!({
            "bars": bars.len(),
            "first_bar": bars.first().map(|b| market::format_time(b.time_ms)),
            "last_bar": bars.last().map(|b| market::format_time(b.time_ms)),
            "notes": reader.notes()?,
            "snapshot": snapshot,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    match out {
        Some(p) => {
            let f =
                std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?;
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

/// `journal --html`: the books rebuilt from the fills and the bars.
fn journal_html(
    file: &std::path::Path,
    reader: &JournalReader,
    page: &std::path::Path,
    data: &[PathBuf],
    load: &DataOpts,
) -> anyhow::Result<()> {
    let meta = reader.meta()?;
    let entries = reader.entries()?;
    let kept = reader.bars()?;
    let from_journal = !kept.is_empty();
    let bars = if from_journal {
        if !data.is_empty() {
            anyhow::bail!(
                "{} keeps the bars its deployment processed; --data is not needed",
                file.display()
            );
        }
        kept
    } else if data.is_empty() {
        anyhow::bail!(
            "{} is a replay's journal and keeps no bars: pass the data it read with --data ({})",
            file.display(),
            meta.data
                .iter()
                .map(|d| d.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else {
        crate::report::rebuild::check_data(&meta, data)?;
        market::load(data, &load.load_options())?.0.bars
    };
    let outcome = crate::report::rebuild::outcome(&meta, &entries, &bars, from_journal)
        .with_context(|| format!("rebuilding the run of {}", file.display()))?;
    let html = crate::report::html::run_page(&meta, &outcome, &entries, &mut |each| {
        bars.iter().for_each(&mut *each);
        Ok(())
    })?;
    std::fs::write(page, html).with_context(|| format!("writing {}", page.display()))?;
    eprintln!(
        "wrote {} ({} bars, {} fills)",
        page.display(),
        outcome.bars,
        entries
            .iter()
            .filter(|e| matches!(e, crate::store::journal::Entry::Fill { .. }))
            .count()
    );
    Ok(())
}

pub(super) fn convert(a: ConvertArgs) -> anyhow::Result<()> {
    let ConvertArgs { input, out, data } = a;
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

pub(super) fn generate(a: GenerateArgs) -> anyhow::Result<()> {
    let GenerateArgs {
        bars,
        symbols,
        seed,
        interval,
        sigma,
        out,
    } = a;
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
        let f =
            std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
        crate::data::synth::write_csv(&rec, std::io::BufWriter::new(f))
            .with_context(|| format!("writing {}", out.display()))?;
    } else {
        market::write_recording(&out, &rec)?;
    }
    Ok(())
}
