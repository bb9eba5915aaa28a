//! `sandbar venue check`: what an operator runs with testnet (then real)
//! keys before a deployment goes LIVE — the same connection a LIVE run
//! makes (TLS, credentials, the exchange's rules for each symbol), then
//! what the venue says of the account: its clock against ours, whether the
//! key may trade, each symbol's filters, the balances; and, with
//! `--place-test-order`, a limit buy far below the market placed, looked
//! up and cancelled under a client order id of its own (`sb-check-…`), so
//! the signing, the order path and the cancel path are proven before real
//! orders take them. Every line says `ok` or `FAIL`; any `FAIL` exits 1.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::execution::live::{Connector, Finding, Outcome, Report, Status};
use crate::service::config::{ServiceFile, VenueConfig};

/// `sandbar venue …`.
#[derive(Debug, Subcommand)]
pub(super) enum VenueCmd {
    /// Check a configured venue against the account its keys open: server
    /// time and skew, credentials and permissions, the symbols' filters,
    /// balances; `--place-test-order` also places a far-from-market limit
    /// order and cancels it.
    Check(CheckArgs),
    /// Save a venue's market calendar (Alpaca's `/v2/calendar`) to a file
    /// in the same format: a `[session]` of a replay or a deployment reads
    /// it as `calendar = "<file>"`.
    Calendar(CalendarArgs),
}

/// `sandbar venue calendar`.
#[derive(Debug, Args)]
pub(super) struct CalendarArgs {
    /// The venue, by its name in the configuration (`[venues.<name>]`).
    name: String,
    /// Service configuration naming the venue.
    #[arg(long)]
    config: PathBuf,
    /// First day (`YYYY-MM-DD`, inclusive).
    #[arg(long)]
    from: String,
    /// Last day (`YYYY-MM-DD`, inclusive).
    #[arg(long)]
    to: String,
    /// The file to write (replaced whole, never left half-written).
    #[arg(long)]
    out: PathBuf,
}

/// `sandbar venue check`.
#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    /// The venue, by its name in the configuration (`[venues.<name>]`).
    name: String,
    /// Service configuration naming the venue.
    #[arg(long)]
    config: PathBuf,
    /// Symbols to check (the venue's names: `BTCUSDT`, `AAPL`).
    #[arg(long = "symbol", required = true)]
    symbols: Vec<String>,
    /// Also place a limit buy far below the market on the first symbol,
    /// then cancel it.
    #[arg(long)]
    place_test_order: bool,
    /// The test order's limit price (default: the venue's last price less
    /// 20%, where the venue gives one).
    #[arg(long)]
    price: Option<f64>,
}

pub(super) fn run(cmd: VenueCmd) -> anyhow::Result<()> {
    match cmd {
        VenueCmd::Check(a) => check(a),
        VenueCmd::Calendar(a) => calendar(a),
    }
}

/// Venue `name` of the configuration file `config`, or an error naming both.
fn configured(config: &std::path::Path, name: &str) -> anyhow::Result<VenueConfig> {
    let mut file = ServiceFile::load(config)?;
    match file.venues.remove(name) {
        Some(v) => Ok(v),
        None => bail!(
            "{}: no venue named `{name}` (venues: {})",
            config.display(),
            file.venues.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

fn calendar(a: CalendarArgs) -> anyhow::Result<()> {
    for (flag, day) in [("--from", &a.from), ("--to", &a.to)] {
        if day.len() != 10 || crate::data::market::parse_time(day).is_none() {
            bail!("{flag} {day:?}: expected YYYY-MM-DD");
        }
    }
    let venue = configured(&a.config, &a.name)?;
    let cal = venue.adapter().calendar(&a.name, &a.from, &a.to)?;
    let days = cal.to_alpaca_json();
    let dir = a.out.parent().filter(|d| !d.as_os_str().is_empty());
    let mut tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(std::path::Path::new(".")))?;
    std::io::Write::write_all(&mut tmp, days.as_bytes())?;
    tmp.persist(&a.out)
        .map_err(|e| anyhow::anyhow!("writing {}: {}", a.out.display(), e.error))?;
    println!(
        "{}: {} market days from {} to {}",
        a.out.display(),
        cal.len(),
        a.from,
        a.to
    );
    Ok(())
}

fn say(f: &Finding) {
    println!(
        "{:<4}  {:<24}  {}",
        if f.ok { "ok" } else { "FAIL" },
        f.item,
        f.detail
    );
}

fn check(a: CheckArgs) -> anyhow::Result<()> {
    let venue = configured(&a.config, &a.name)?;
    let mut findings = Vec::new();
    let (mut connector, _) = match venue.connect(&a.name, &a.symbols) {
        Ok(c) => c,
        Err(e) => {
            let f = Finding::fail("connect", format!("{e:#}"));
            say(&f);
            bail!("venue {}: the connection failed", a.name);
        }
    };
    let first = Finding::ok(
        "connect",
        format!(
            "credentials accepted, {} known to the venue",
            a.symbols.join(", ")
        ),
    );
    say(&first);
    findings.push(first);
    for f in connector.check(&a.symbols) {
        say(&f);
        findings.push(f);
    }
    if a.place_test_order {
        for f in test_order(connector.as_mut(), &a.symbols[0], a.price) {
            say(&f);
            findings.push(f);
        }
    }
    let failed = findings.iter().filter(|f| !f.ok).count();
    if failed > 0 {
        bail!(
            "venue {}: {failed} of {} checks failed",
            a.name,
            findings.len()
        );
    }
    println!("venue {}: all {} checks passed", a.name, findings.len());
    Ok(())
}

/// Ask until the venue answers (a `Retry` waited out, at most 5 times).
fn answer<T>(mut ask: impl FnMut() -> Outcome<T>) -> Outcome<T> {
    let mut last = ask();
    for _ in 0..5 {
        match &last {
            Outcome::Retry(after, _) => std::thread::sleep((*after).min(Duration::from_secs(10))),
            _ => break,
        }
        last = ask();
    }
    last
}

fn describe(r: &Report) -> String {
    let filled = r.executions.iter().fold(0.0, |a, e| a + e.quantity);
    format!("{:?}, {filled} filled", r.status)
}

/// Place a limit buy far below the market, look it up, cancel it, look
/// again: each step a finding.
fn test_order(c: &mut dyn Connector, symbol: &str, price: Option<f64>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut random = [0u8; 5];
    if let Err(e) = getrandom::fill(&mut random) {
        return vec![Finding::fail("test order", format!("random id: {e}"))];
    }
    // Not a run's prefix (`sb-<run id>-`): reconciliation never takes it
    // for a deployment's order.
    let id = format!("sb-check-{}", crate::digest::hex(&random));
    let p = match c.test_order(symbol, &id, price).and_then(|p| c.prepare(p)) {
        Ok(p) => p,
        Err(e) => return vec![Finding::fail("test order", e)],
    };
    let what = format!(
        "{id}: buy {} {symbol} at {}",
        p.quantity,
        p.limit.map_or("market".into(), |x| x.to_string())
    );
    let placed = match answer(|| c.place(&p)) {
        Outcome::Done(r) if r.status == Status::Open && r.executions.is_empty() => {
            Finding::ok("test order placed", format!("{what}: resting"))
        }
        Outcome::Done(r) => Finding::fail(
            "test order placed",
            format!("{what}: {} — not resting; check the account", describe(&r)),
        ),
        Outcome::Unknown(why) => Finding::fail(
            "test order placed",
            format!("{what}: answer lost ({why}); look it up at the venue"),
        ),
        Outcome::Rejected(why) | Outcome::Retry(_, why) => {
            Finding::fail("test order placed", format!("{what}: refused: {why}"))
        }
    };
    let resting = placed.ok;
    out.push(placed);
    if !resting {
        return out;
    }
    out.push(match answer(|| c.query(symbol, &id)) {
        Outcome::Done(Some(r)) => Finding::ok("test order looked up", describe(&r)),
        Outcome::Done(None) => Finding::fail("test order looked up", "not found".into()),
        other => Finding::fail("test order looked up", text(&other)),
    });
    out.push(match answer(|| c.cancel(symbol, &id)) {
        Outcome::Done(()) => {
            Finding::ok("test order cancelled", "the venue took the cancel".into())
        }
        other => Finding::fail("test order cancelled", text(&other)),
    });
    out.push(match answer(|| c.query(symbol, &id)) {
        Outcome::Done(Some(r)) if r.status == Status::Cancelled => {
            Finding::ok("test order ended", describe(&r))
        }
        Outcome::Done(Some(r)) => Finding::fail(
            "test order ended",
            format!("{} — cancel it at the venue", describe(&r)),
        ),
        other => Finding::fail("test order ended", text(&other)),
    });
    out
}

fn text<T>(o: &Outcome<T>) -> String {
    match o {
        Outcome::Done(_) => "done".into(),
        Outcome::Rejected(w) => format!("refused: {w}"),
        Outcome::Unknown(w) => format!("no answer: {w}"),
        Outcome::Retry(after, w) => format!("{w} (still asked to wait {after:?})"),
    }
}
