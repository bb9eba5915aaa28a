//! `sandbar record`: capture a configured live feed into the recording
//! format, so that today's market is tomorrow's test. The bars are the ones
//! a deployment on the feed would see (closed bars only, gaps filled over
//! REST, duplicates dropped), written when the count or time is reached or
//! on Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::data::feed::Feed;
use crate::data::live::{Notes, interval_ms};
use crate::data::market::{self, Recording};
use crate::service::config::{FeedConfig, ServiceFile};

/// `sandbar record`.
#[derive(Debug, Args)]
pub(super) struct RecordArgs {
    /// Service configuration naming the feed.
    #[arg(long)]
    config: PathBuf,
    /// The feed, by its name in the configuration.
    #[arg(long)]
    feed: String,
    /// Symbols to record.
    #[arg(long = "symbol", required = true)]
    symbols: Vec<String>,
    /// Bar interval (`1m`).
    #[arg(long)]
    interval: String,
    /// First bar (RFC 3339 or YYYY-MM-DD), fetched over REST; default: the next bar that closes.
    #[arg(long)]
    start: Option<String>,
    /// Stop after this many bars.
    #[arg(long)]
    bars: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// Output recording file.
    #[arg(long, short)]
    out: PathBuf,
}

pub(super) fn record(a: RecordArgs) -> anyhow::Result<()> {
    let file = ServiceFile::load(&a.config)?;
    let Some(feed) = file.feeds.get(&a.feed) else {
        bail!(
            "{}: no feed named `{}` (feeds: {})",
            a.config.display(),
            a.feed,
            file.feeds.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    };
    if a.bars.is_none() && a.seconds.is_none() {
        bail!("say when to stop: --bars N or --seconds S (Ctrl-C also stops and writes)");
    }
    let step = interval_ms(&a.interval)?;
    let start = a
        .start
        .as_deref()
        .map(|s| {
            market::parse_time(s)
                .with_context(|| format!("--start {s:?}: expected RFC 3339 or YYYY-MM-DD"))
        })
        .transpose()?;
    let rt = tokio::runtime::Runtime::new()?;
    if matches!(feed, FeedConfig::Recorded { .. }) {
        bail!("feed `{}` is itself a recording", a.feed);
    }
    let hub = feed.hub(&a.feed, rt.handle())?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        rt.spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.store(true, Ordering::SeqCst);
        });
    }
    let notes: Notes = Arc::default();
    let symbols: Vec<String> = a.symbols.iter().map(|s| s.to_uppercase()).collect();
    let mut live = hub.subscribe(
        &symbols,
        &a.interval,
        vec![start.map(|s| s - step); symbols.len()],
        stop.clone(),
        notes.clone(),
    )?;
    let began = Instant::now();
    if let Some(secs) = a.seconds {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(secs));
            stop.store(true, Ordering::SeqCst);
        });
    }
    let mut rec = Recording {
        symbols: symbols.clone(),
        ..Recording::default()
    };
    let want = a.bars.unwrap_or(u64::MAX);
    while (rec.bars.len() as u64) < want {
        let room = (want - rec.bars.len() as u64).min(4096) as usize;
        if live.next_batch(&mut rec.bars, room) == 0 {
            break;
        }
    }
    market::write_recording(&a.out, &rec)?;
    let notes = notes.lock().expect("notes").clone();
    let count = |k: &str| notes.iter().filter(|n| n["kind"] == k).count();
    eprintln!(
        "recorded {} bars of {} in {:.1?} to {} ({} gaps filled, {} duplicates and {} out-of-order bars dropped)",
        rec.bars.len(),
        symbols.join(","),
        began.elapsed(),
        a.out.display(),
        count("gap-filled"),
        count("duplicate"),
        count("out-of-order"),
    );
    Ok(())
}
