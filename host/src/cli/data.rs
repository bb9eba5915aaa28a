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
    let JournalArgs { file, out, inputs } = a;
    let reader = JournalReader::open(&file)?;
    if inputs {
        let bars = reader.bars()?;
        let snapshot = reader.snapshot()?.map(|s| {
            use sha2::Digest;
            serde_json::json!({
                "seq": s.seq,
                "version": s.version,
                "bytes": s.state.len(),
                "sha256": crate::sandbox::runtime::hex(&sha2::Sha256::digest(&s.state)),
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
