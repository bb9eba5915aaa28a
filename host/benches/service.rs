//! The service's figures: `cargo bench -p sandbar --bench service`.
//!
//! - `journal`: durable orders per second through a write-ahead journal (an
//!   fsync'd redb commit per order, as the service does before the venue
//!   sees it), beside the same entries buffered as a replay writes them;
//! - `latency`: bar in at a loopback hub → order handed to the venue, inside
//!   the host: hub fan-out, worker wake-up, feed, engine, the `scripted`
//!   component deciding, risk, the durable journal commit (p50/p99/p99.9);
//! - `fleet`: the real `sandbar serve` with 100 deployments of sma-cross on
//!   100 symbols at one bar per second each: resident memory and CPU; then
//!   SIGKILL and the time until all 100 have re-executed their journals
//!   (the state they had when killed, ready for the next bar).
//!
//! `-- --scenario NAME` runs one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

use sandbar::data::live::{Hub, RawBar};
use sandbar::data::market::Bar;
use sandbar::engine::{Engine, EngineConfig};
use sandbar::execution::{Order, OrderKind, Origin, Side, SimConfig, SimulatedVenue};
use sandbar::journal::{Entry, Journal, JournalError, Recorder, RunMeta};
use sandbar::risk::RiskConfig;
use sandbar::runtime::{Delivery, InitConfig, ParamValue, Runtime};
use sandbar::service::runner::{PollFeed, Pool, Work};
use sandbar_test_support as plugins;

const SCENARIOS: &[&str] = &["journal", "latency", "metrics", "fleet"];

fn meta() -> RunMeta {
    RunMeta {
        format: sandbar::journal::FORMAT,
        sandbar_version: "bench".into(),
        contract: sandbar::runtime::CONTRACT.into(),
        plugin_name: "scripted".into(),
        plugin_version: "0.1.0".into(),
        sdk_version: "0.1.0".into(),
        plugin_sha256: String::new(),
        params: vec![],
        risk: String::new(),
        execution: String::new(),
        sandbox: String::new(),
        data: vec![],
        symbols: vec!["X".into()],
        initial_cash: 100_000.0,
        seed: 0,
        delivery: "per-bar".into(),
        swaps: vec![],
        service: String::new(),
    }
}

fn order(id: u64) -> Entry {
    Entry::Order {
        order: Order {
            id,
            symbol: 0,
            side: Side::Buy,
            quantity: 1.0,
            kind: OrderKind::Market,
            origin: Origin::Strategy,
            decided_seq: id,
            decided_ms: id as i64,
            reduce_only: false,
        },
        plugin: "scripted@0.1.0".into(),
    }
}

fn journal(dir: &Path) -> String {
    let window = Duration::from_secs(3);
    let (mut j, _) = Journal::resume(&dir.join("durable.redb"), &meta()).unwrap();
    let t = Instant::now();
    let mut durable = 0u64;
    while t.elapsed() < window {
        durable += 1;
        j.record(order(durable)).unwrap();
        j.barrier().unwrap();
    }
    let durable_rate = durable as f64 / t.elapsed().as_secs_f64();
    let mut b = Journal::create(&dir.join("buffered.redb"), &meta()).unwrap();
    let t = Instant::now();
    let n = 1_000_000u64;
    for i in 0..n {
        b.record(order(i)).unwrap();
    }
    b.finish().unwrap();
    let buffered_rate = n as f64 / t.elapsed().as_secs_f64();
    format!(
        r#"{{"scenario":"journal","durable_orders_per_s":{durable_rate:.0},"buffered_entries_per_s":{buffered_rate:.0},"durable_vs_buffered":{:.5}}}"#,
        durable_rate / buffered_rate
    )
}

/// A write-ahead journal that reports when an order's commit is done: the
/// next thing the engine does is hand the order to the venue.
struct Timing {
    inner: Journal,
    order_pending: bool,
    tx: Sender<Instant>,
}

impl Recorder for Timing {
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        self.order_pending |= matches!(entry, Entry::Order { .. });
        self.inner.record(entry)
    }
    fn keeps_inputs(&self) -> bool {
        true
    }
    fn input_bar(&mut self, seq: u64, bar: &Bar) -> Result<(), JournalError> {
        self.inner.input_bar(seq, bar)
    }
    fn barrier(&mut self) -> Result<(), JournalError> {
        self.inner.barrier()?;
        if std::mem::take(&mut self.order_pending) {
            let _ = self.tx.send(Instant::now());
        }
        Ok(())
    }
}

struct Live(sandbar::data::live::LiveFeed, Vec<Bar>);

impl PollFeed for Live {
    fn poll(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
        if !self.1.is_empty() {
            let n = max.min(self.1.len());
            out.extend(self.1.drain(..n));
            return n;
        }
        self.0.poll(out, max)
    }
    fn unpoll(&mut self, bars: &[Bar]) {
        let rest = std::mem::take(&mut self.1);
        self.1 = bars.iter().copied().chain(rest).collect();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn latency(dir: &Path) -> String {
    const N: usize = 2000;
    let rt = Runtime::new(None).unwrap();
    let plugin = rt.load(Path::new(plugins::SCRIPTED)).unwrap();
    let mut inst = rt.instantiate(&plugin, Default::default(), 0).unwrap();
    // Buy on even bars, sell on odd ones: an order on every bar.
    let script: Vec<String> = (0..N + 10)
        .map(|i| format!("{i} qty 0 {}", if i % 2 == 0 { 10 } else { 0 }))
        .collect();
    inst.init(&InitConfig {
        params: vec![("script".into(), ParamValue::Text(script.join(";")))],
        symbols: vec!["X".into()],
        seed: 0,
    })
    .unwrap();
    let (tx, rx) = channel();
    let (j, _) = Journal::resume(&dir.join("latency.redb"), &meta()).unwrap();
    let recorder = Timing {
        inner: j,
        order_pending: false,
        tx,
    };
    let risk = RiskConfig {
        max_orders_per_day: u32::MAX,
        ..RiskConfig::default()
    };
    let cfg = EngineConfig {
        initial_cash: 100_000.0,
        risk,
        batch_size: 1,
        delivery: Delivery::PerBar,
        plugin_label: "scripted@0.1.0".into(),
        rollback_window: 100,
        rollback_drawdown: None,
        pause_drawdown: None,
        final_entry: false,
        warmup: 0,
    };
    let engine = Engine::owning(
        cfg,
        vec!["X".into()],
        Box::new(inst),
        Box::new(SimulatedVenue::new(SimConfig::default()))
            as Box<dyn sandbar::execution::Venue + Send>,
        Box::new(recorder),
    );
    let pool = Pool::new(2);
    let stop = Arc::new(AtomicBool::new(false));
    let slot = pool.slot(stop.clone());
    let (hub, loopback) = Hub::loopback("loopback");
    let feed = hub
        .subscribe_waking(
            &["X".into()],
            "1m",
            vec![None],
            stop.clone(),
            Arc::default(),
            Some(slot.waker()),
        )
        .unwrap();
    slot.start(Work {
        engine,
        feed: Box::new(Live(feed, Vec::new())),
        seq: 0,
        on_end: Box::new(|_| {}),
        gate: None,
    });
    let mut samples = Vec::with_capacity(N);
    for i in 0..N + 1 {
        let bar = RawBar {
            time_ms: 1_704_067_200_000 + i as i64 * 60_000,
            open: 100.0,
            high: 101.0,
            low: 99.0,
            close: 100.0 + (i % 7) as f64 * 0.1,
            volume: 1e6,
        };
        let t0 = Instant::now();
        loopback.push("X", "1m", bar);
        // Bar 0 warms the caches; every later bar leads to one order.
        if let Ok(t1) = rx.recv_timeout(Duration::from_secs(5))
            && i > 0
        {
            samples.push(t1.duration_since(t0).as_secs_f64() * 1e6);
        }
    }
    slot.stop_and_wait(Duration::from_secs(5));
    samples.sort_by(f64::total_cmp);
    format!(
        r#"{{"scenario":"latency","bars":{},"p50_us":{:.0},"p99_us":{:.0},"p999_us":{:.0},"max_us":{:.0}}}"#,
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 0.999),
        samples.last().copied().unwrap_or(f64::NAN)
    )
}

const TOKEN: &str = "bench-token-0123456789abcdef";

fn sandbar(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_sandbar"))
        .args(args)
        .arg("--registry")
        .arg(dir.join("registry.redb"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn serve(dir: &Path, config: &Path) -> (Child, String) {
    let addr = dir.join("addr");
    let _ = std::fs::remove_file(&addr);
    let child = Command::new(env!("CARGO_BIN_EXE_sandbar"))
        .args(["serve", "--config"])
        .arg(config)
        .arg("--addr-file")
        .arg(&addr)
        .env("SANDBAR_TOKEN", TOKEN)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while std::fs::read_to_string(&addr)
        .unwrap_or_default()
        .is_empty()
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, std::fs::read_to_string(&addr).unwrap())
}

fn deployments(url: &str) -> Vec<serde_json::Value> {
    sandbar::net::tls::Tls::webpki()
        .http()
        .build()
        .unwrap()
        .get(format!("{url}/deployments"))
        .bearer_auth(TOKEN)
        .send()
        .and_then(|r| r.json())
        .unwrap_or_default()
}

fn proc_field(pid: u32, file: &str, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f[11] + f[12]) / 100.0
}

fn fleet(dir: &Path) -> String {
    const N: usize = 100;
    let symbols: Vec<String> = (0..N).map(|i| format!("SYN{i:03}")).collect();
    let data = dir.join("fleet.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_sandbar"))
        .args([
            "generate",
            "--bars",
            "4000",
            "--symbols",
            &N.to_string(),
            "--seed",
            "9",
            "--out",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sandbar(dir, &["plugin", "add", plugins::SMA_CROSS]);
    let mut config = format!(
        "data_dir = {dir:?}\n[api]\nlisten = \"127.0.0.1:0\"\n[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = {N}\n"
    );
    for (i, s) in symbols.iter().enumerate() {
        let name = format!("d{i:03}");
        sandbar(
            dir,
            &[
                "deploy",
                "create",
                &name,
                "--plugin",
                "sma-cross@0.1.0",
                "--symbol",
                s,
            ],
        );
        sandbar(dir, &["deploy", "promote", &name]);
        sandbar(
            dir,
            &["deploy", "promote", &name, "--force", "--reason", "bench"],
        );
        config.push_str(&format!(
            "[[deployments]]\nname = \"{name}\"\nfeed = \"rec\"\ninterval = \"1m\"\nstart = \"2024-01-01\"\n"
        ));
    }
    let config_path = dir.join("sandbar.toml");
    std::fs::write(&config_path, config).unwrap();
    let t = Instant::now();
    let (mut child, url) = serve(dir, &config_path);
    let started = t.elapsed().as_secs_f64();
    let pid = child.id();
    // Warm up, then measure CPU over a 20 s window at one bar/s per deployment.
    std::thread::sleep(Duration::from_secs(5));
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(20));
    let cpu = (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64();
    let rss = proc_field(pid, "status", "VmRSS:") / 1024.0;
    let threads = proc_field(pid, "status", "Threads:");
    let before: Vec<u64> = deployments(&url)
        .iter()
        .map(|d| d["status"]["seq"].as_u64().unwrap_or(0))
        .collect();
    let min_seq = before.iter().min().copied().unwrap_or(0);
    // /metrics with 100 deployments: median of 21 renders, over HTTP.
    let mut renders: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let text = sandbar::net::tls::Tls::webpki()
                .http()
                .build()
                .unwrap()
                .get(format!("{url}/metrics"))
                .bearer_auth(TOKEN)
                .send()
                .and_then(|r| r.text())
                .unwrap();
            assert!(text.contains("sandbar_equity"));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    renders.sort_by(f64::total_cmp);
    let metrics_ms = renders[10];
    // kill -9, start again: every deployment re-executes its journal.
    let _ = child.kill();
    let _ = child.wait();
    let t = Instant::now();
    let (mut child, url) = serve(dir, &config_path);
    let recovered = loop {
        let ds = deployments(&url);
        if ds.len() == N
            && ds.iter().all(|d| {
                // Its journal re-executed: the state it had when killed.
                d["status"]["recovering"] == false && d["status"]["seq"].as_u64() > Some(0)
            })
        {
            break t.elapsed().as_secs_f64();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    format!(
        r#"{{"scenario":"fleet","deployments":{N},"start_s":{started:.2},"rss_mb":{rss:.0},"threads":{threads},"cpu_cores":{cpu:.3},"bars_per_deployment_before_kill":{min_seq},"metrics_render_ms":{metrics_ms:.2},"recover_after_kill_s":{recovered:.2}}}"#
    )
}

/// What the service's metrics add to each bar: the bar counter, the
/// status gauges and the bar histogram (what the recorder and the
/// controller do per bar), without anything else.
fn metrics_cost() -> String {
    use sandbar::service::metrics::{Metrics, labels};
    let m = Metrics::new();
    let d = m.deployment(&labels("d000"));
    let status = sandbar::engine::Status {
        seq: 1,
        serving: "sma-cross@0.1.0".into(),
        equity: 100_000.0,
        cash: 50_000.0,
        peak_equity: 101_000.0,
        positions: vec![("SYN000".into(), 10.0, 100.0)],
        gross_exposure: 50_000.0,
        risk_state: "ACTIVE".into(),
        ..Default::default()
    };
    let n = 1_000_000;
    let t = Instant::now();
    for i in 0..n {
        d.bars.inc();
        d.status(&status, 99_000.0 + i as f64 * 1e-6);
        d.bar_seconds.observe(1e-5);
    }
    let ns = t.elapsed().as_secs_f64() * 1e9 / n as f64;
    format!(r#"{{"scenario":"metrics","ns_per_bar":{ns:.0}}}"#)
}

fn run(name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p: PathBuf = dir.path().to_path_buf();
    match name {
        "journal" => journal(&p),
        "latency" => latency(&p),
        "metrics" => metrics_cost(),
        "fleet" => fleet(&p),
        other => panic!("unknown scenario {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--scenario") {
        println!("RESULT {}", run(&args[i + 1]));
        return;
    }
    let exe = std::env::current_exe().unwrap();
    println!("scenario, result (each in its own process)");
    for s in SCENARIOS {
        let out = Command::new(&exe).args(["--scenario", s]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        match text.lines().find_map(|l| l.strip_prefix("RESULT ")) {
            Some(r) => println!("{r}"),
            None => println!("{s}: failed: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
}
