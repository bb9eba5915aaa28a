//! A replay: one plugin over recorded data, from files to report.
//!
//! This is the composition root used by the CLI, by `sandbar test` and by
//! the benchmarks: it loads and checks the plugin, resolves parameters,
//! loads the data, writes the run metadata, and drives the [`Engine`] with a
//! [`RecordedFeed`] and the [`SimulatedVenue`]. Paper and live deployments
//! will compose the same engine with another feed and venue.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::feed::Feed;
use crate::data::feed::RecordedFeed;
use crate::data::market::{self, LoadOptions, Recording};
use crate::data::stream::Data;
use crate::engine::{Engine, EngineConfig, PlannedSwap, RunOutcome};
use crate::execution::{SimConfig, SimulatedVenue};
use crate::risk::RiskConfig;
use crate::sandbox::params;
use crate::sandbox::runtime::{
    self, CallError, Delivery, InitConfig, Plugin, Runtime, SandboxLimits,
};
use crate::store::journal::{self, Journal, RunMeta};

/// Everything configurable about a run, as read from a TOML file
/// (`--config`); every field and section is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Starting cash (default 100,000).
    pub initial_cash: f64,
    /// Seed handed to the plugin (default 0).
    pub seed: u64,
    /// Bars per call in batched delivery (default 1024).
    pub batch_size: usize,
    /// Risk limits.
    pub risk: RiskConfig,
    /// Simulator cost model.
    pub execution: SimConfig,
    /// Sandbox limits.
    pub sandbox: SandboxLimits,
    /// Hot-swap safety net.
    pub swap: SwapConfig,
    /// The market's sessions (`[session]`: `timezone`, and `calendar` a
    /// file in Alpaca's format or `weekdays` with `hours`): the simulated
    /// venue fills inside them, the risk day is the market's, and bars
    /// outside them only warm the strategy up. None: 24/7, UTC days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<crate::session::SessionSpec>,
}

/// When a swapped-in version is rolled back automatically.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwapConfig {
    /// A fault within this many bars after a swap rolls back (default 100).
    pub rollback_window: u64,
    /// A drawdown since the swap beyond this fraction, within the window,
    /// rolls back (default: none).
    pub rollback_drawdown: Option<f64>,
}

impl Default for SwapConfig {
    fn default() -> Self {
        Self {
            rollback_window: 100,
            rollback_drawdown: None,
        }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            initial_cash: 100_000.0,
            seed: 0,
            batch_size: 1024,
            risk: RiskConfig::default(),
            execution: SimConfig::default(),
            sandbox: SandboxLimits::default(),
            swap: SwapConfig::default(),
            session: None,
        }
    }
}

impl RunConfig {
    /// Read a TOML file and apply `key=value` overrides (dotted keys, TOML
    /// values: `risk.max_position=0.3`). Errors name the file, line and field.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> anyhow::Result<RunConfig> {
        match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config {}", p.display()))?;
                Self::parse(&text, &p.display().to_string(), overrides)
            }
            None => Self::parse("", "command-line overrides", overrides),
        }
    }

    /// Parse TOML text (`origin` names it in errors) and apply overrides.
    pub fn parse(text: &str, origin: &str, overrides: &[String]) -> anyhow::Result<RunConfig> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("config {origin}: {e}"))?;
        for o in overrides {
            let (key, value) = o
                .split_once('=')
                .with_context(|| format!("override `{o}` is not of the form key=value"))?;
            let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
                Ok(mut t) => t.remove("v").expect("parsed"),
                Err(_) => toml::Value::String(value.to_string()),
            };
            let mut slot = &mut table;
            let parts: Vec<&str> = key.trim().split('.').collect();
            for part in &parts[..parts.len() - 1] {
                slot = slot
                    .entry(part.to_string())
                    .or_insert_with(|| toml::Value::Table(Default::default()))
                    .as_table_mut()
                    .with_context(|| format!("override `{o}`: `{part}` is not a section"))?;
            }
            slot.insert(parts[parts.len() - 1].to_string(), value);
        }
        let where_ = origin;
        let cfg: RunConfig = toml::Value::Table(table).try_into().map_err(|e| {
            // toml puts the field on a second line: one line for the user.
            let e = e.to_string().replace('\n', " ");
            anyhow::anyhow!("config {where_}: {}", e.trim())
        })?;
        cfg.risk
            .validate()
            .map_err(|e| anyhow::anyhow!("config {where_}: {e}"))?;
        if !(cfg.initial_cash.is_finite() && cfg.initial_cash > 0.0) {
            bail!(
                "config {where_}: initial_cash = {} must be positive",
                cfg.initial_cash
            );
        }
        let s = &cfg.execution;
        if !(s.max_volume_share > 0.0 && s.max_volume_share <= 1.0) {
            bail!(
                "config {where_}: execution.max_volume_share = {} must be in (0, 1]",
                s.max_volume_share
            );
        }
        for (name, v) in [
            ("slippage_bps", s.slippage_bps),
            ("commission_percent", s.commission_percent),
            ("commission_per_unit", s.commission_per_unit),
            ("commission_minimum", s.commission_minimum),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("config {where_}: execution.{name} = {v} must be a non-negative number");
            }
        }
        if let Some(session) = &cfg.session {
            session
                .check()
                .map_err(|e| anyhow::anyhow!("config {where_}: session: {e}"))?;
            if session.from_venue() {
                bail!(
                    "config {where_}: session.calendar = \"venue\" is for a service deployment; a run on recorded data reads a calendar file (save the venue's) or \"weekdays\""
                );
            }
        }
        Ok(cfg)
    }

    /// The sessions of this run over `data` (none without `[session]`),
    /// for bars of the data's own interval (the least gap between two bars
    /// of its first symbol among its first 10,000 bars).
    pub fn session_over(&self, data: &Data) -> anyhow::Result<Option<crate::session::Session>> {
        let Some(spec) = &self.session else {
            return Ok(None);
        };
        let calendar = spec
            .local_calendar()?
            .context("session.calendar: a run on recorded data needs a file or \"weekdays\"")?;
        let mut bars = Vec::new();
        match data {
            Data::Loaded(r) => bars.extend(r.bars.iter().take(10_000).copied()),
            Data::Streamed(plan) => {
                plan.open()?.next_batch(&mut bars, 10_000);
            }
        }
        let first = bars.first().map(|b| b.symbol);
        let times: Vec<i64> = bars
            .iter()
            .filter(|b| Some(b.symbol) == first)
            .map(|b| b.time_ms)
            .collect();
        let step = times
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|g| *g > 0)
            .min()
            .unwrap_or(86_400_000);
        Ok(Some(crate::session::Session::new(
            &spec.timezone,
            calendar,
            step,
        )?))
    }
}

/// A data file as recorded in the run metadata: (file name, SHA-256, bars).
pub type DataDigest = (String, String, u64);

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplaySpec {
    /// Plugin component file.
    pub plugin: PathBuf,
    /// Data files (CSV or recordings), merged by time.
    pub data: Vec<PathBuf>,
    /// `name=value` parameters.
    pub params: Vec<String>,
    /// Run settings.
    pub config: RunConfig,
    /// How to read CSV.
    pub load: LoadOptions,
    /// Force a delivery mode instead of the plugin's own choice.
    pub delivery: Option<Delivery>,
    /// Versions to swap in during the run.
    pub swaps: Vec<SwapAt>,
    /// `name=value` parameters for the swapped-in versions.
    pub swap_params: Vec<String>,
    /// Bars that only warm the strategy up (see [`EngineConfig::warmup`]).
    pub warmup: u64,
}

/// A scheduled hot-swap: `plugin` receives bar `at_seq` and the ones after.
#[derive(Debug, Clone, PartialEq)]
pub struct SwapAt {
    /// First bar (sequence number) the new version receives.
    pub at_seq: u64,
    /// The new version's component.
    pub plugin: PathBuf,
}

impl std::str::FromStr for SwapAt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (seq, plugin) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not of the form <bar-seq>=<file.wasm>"))?;
        let at_seq = seq
            .trim()
            .parse()
            .map_err(|_| format!("`{seq}` is not a bar sequence number"))?;
        Ok(SwapAt {
            at_seq,
            plugin: PathBuf::from(plugin.trim()),
        })
    }
}

/// A finished (or faulted) replay.
pub struct Replay {
    /// The run's metadata, as journaled.
    pub meta: RunMeta,
    /// The outcome.
    pub outcome: RunOutcome,
}

/// A plugin loaded, instantiated and initialised, ready to receive bars.
pub struct Prepared {
    /// The instance.
    pub instance: runtime::Instance,
    /// The compiled plugin.
    pub plugin: Plugin,
    /// Resolved parameters.
    pub params: Vec<(String, runtime::ParamValue)>,
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Load, check, instantiate and `init` a plugin for a symbol table.
pub fn prepare(rt: &Runtime, spec: &ReplaySpec, symbols: &[String]) -> anyhow::Result<Prepared> {
    prepare_plugin(rt, &spec.plugin, &spec.params, &spec.config, symbols)
}

/// Load, check, instantiate and `init` one plugin file.
pub fn prepare_plugin(
    rt: &Runtime,
    path: &Path,
    given: &[String],
    config: &RunConfig,
    symbols: &[String],
) -> anyhow::Result<Prepared> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading plugin {}", path.display()))?;
    prepare_bytes(rt, path, &bytes, given, config, symbols)
}

/// Like [`prepare_plugin`], from the component's bytes (`path` names it in messages).
pub fn prepare_bytes(
    rt: &Runtime,
    path: &Path,
    bytes: &[u8],
    given: &[String],
    config: &RunConfig,
    symbols: &[String],
) -> anyhow::Result<Prepared> {
    let plugin = rt.load_bytes(path, bytes)?;
    prepare_loaded(rt, plugin, path, given, config, symbols)
}

/// Like [`prepare_plugin`], from a plugin already compiled (a sweep
/// compiles once and instantiates per run).
pub fn prepare_loaded(
    rt: &Runtime,
    plugin: Plugin,
    path: &Path,
    given: &[String],
    config: &RunConfig,
    symbols: &[String],
) -> anyhow::Result<Prepared> {
    let mut instance = rt
        .instantiate(&plugin, config.sandbox, config.seed)
        .map_err(|e| anyhow::anyhow!("plugin {}: instantiating: {e}", file_name(path)))?;
    let desc = instance.description().clone();
    let label = format!("{}@{}", desc.name, desc.version);
    runtime::check_sdk_version(&desc.sdk_version)
        .map_err(|e| anyhow::anyhow!("plugin {label}: {e}"))?;
    let params = params::resolve(&desc, given)?;
    let config = InitConfig {
        params: params.clone(),
        symbols: symbols.to_vec(),
        seed: config.seed,
    };
    match instance.init(&config) {
        Ok(()) => {}
        Err(CallError::Refused(msg)) => bail!("plugin {label} refused its parameters: {msg}"),
        Err(CallError::Fault(f)) => bail!("plugin {label} faulted in init: {f}"),
    }
    Ok(Prepared {
        instance,
        plugin,
        params,
    })
}

/// Open the data of a spec: validated in full, then streamed from the files
/// when they allow it (memory independent of their length), else loaded.
pub fn load_data(spec: &ReplaySpec) -> anyhow::Result<(Data, Vec<DataDigest>)> {
    if spec.data.is_empty() {
        bail!("no data files given (use --data <file>)");
    }
    let (data, log) = Data::open(&spec.data, &spec.load)?;
    if log != market::RepairLog::default() {
        tracing::warn!(
            sorted = log.sorted,
            dropped_duplicates = log.dropped_duplicates,
            clamped = log.clamped,
            "data repaired as requested"
        );
    }
    let digests = match &data {
        Data::Streamed(plan) => plan.digests.clone(),
        Data::Loaded(rec) => {
            let mut digests = Vec::new();
            for p in &spec.data {
                use std::io::Read;
                let mut h = Sha256::new();
                let mut f =
                    std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = f
                        .read(&mut buf)
                        .with_context(|| format!("reading {}", p.display()))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                digests.push((file_name(p), crate::digest::hex(&h.finalize()), 0));
            }
            if let [one] = digests.as_mut_slice() {
                one.2 = rec.bars.len() as u64;
            }
            digests
        }
    };
    Ok((data, digests))
}

/// Where a replay's journal goes.
pub enum Sink<'a> {
    /// Entries kept in memory.
    Memory(&'a mut Vec<journal::Entry>),
    /// A redb journal file, created (or replaced) once the run's metadata is known.
    File(&'a Path),
}

/// Run a replay.
pub fn run(
    rt: &Runtime,
    spec: &ReplaySpec,
    sink: Sink<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<Replay> {
    let (data, digests) = load_data(spec)?;
    run_data(rt, spec, data, digests, sink, progress)
}

fn to_toml<T: Serialize>(v: &T) -> String {
    toml::to_string(v).unwrap_or_default()
}

/// Run a replay over an already loaded recording.
pub fn run_recording(
    rt: &Runtime,
    spec: &ReplaySpec,
    rec: Recording,
    data: Vec<DataDigest>,
    sink: Sink<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<Replay> {
    run_data(rt, spec, Data::Loaded(rec), data, sink, progress)
}

/// Like [`run_recording`] with the plugin already compiled: exactly the
/// replay `sandbar replay` runs, without compiling again.
pub fn run_compiled(
    rt: &Runtime,
    plugin: &Plugin,
    spec: &ReplaySpec,
    rec: Recording,
    data: Vec<DataDigest>,
    sink: Sink<'_>,
) -> anyhow::Result<Replay> {
    let prepared = prepare_loaded(
        rt,
        plugin.clone(),
        &spec.plugin,
        &spec.params,
        &spec.config,
        &rec.symbols,
    )?;
    run_prepared(
        rt,
        spec,
        prepared,
        Data::Loaded(rec),
        data,
        sink,
        &mut |_, _| {},
    )
}

/// Run a replay over opened data.
pub fn run_data(
    rt: &Runtime,
    spec: &ReplaySpec,
    rec: Data,
    data: Vec<DataDigest>,
    sink: Sink<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<Replay> {
    let prepared = prepare(rt, spec, rec.symbols())?;
    run_prepared(rt, spec, prepared, rec, data, sink, progress)
}

fn run_prepared(
    rt: &Runtime,
    spec: &ReplaySpec,
    mut prepared: Prepared,
    rec: Data,
    data: Vec<DataDigest>,
    sink: Sink<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<Replay> {
    // Swapped-in versions are loaded and initialised before the run, off the hot path.
    let mut swaps = Vec::new();
    for s in &spec.swaps {
        let p = prepare_plugin(
            rt,
            &s.plugin,
            &spec.swap_params,
            &spec.config,
            rec.symbols(),
        )?;
        let d = p.instance.description();
        let label = format!("{}@{}", d.name, d.version);
        swaps.push((s.at_seq, label, p));
    }
    let desc = prepared.instance.description().clone();
    let delivery = spec.delivery.unwrap_or(Delivery::default_for(
        desc.delivery,
        prepared.instance.exact(),
    ));
    let cfg = &spec.config;
    let meta = RunMeta {
        format: journal::FORMAT_SIMULATED,
        sandbar_version: env!("CARGO_PKG_VERSION").into(),
        contract: prepared.plugin.contract().into(),
        plugin_name: desc.name.clone(),
        plugin_version: desc.version.clone(),
        sdk_version: desc.sdk_version.clone(),
        plugin_sha256: prepared.plugin.hash.clone(),
        params: prepared
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", params::display(v)))
            .collect(),
        risk: to_toml(&cfg.risk),
        execution: to_toml(&cfg.execution),
        sandbox: to_toml(&cfg.sandbox),
        data,
        symbols: rec.symbols().to_vec(),
        initial_cash: cfg.initial_cash,
        seed: cfg.seed,
        delivery: match delivery {
            Delivery::PerBar | Delivery::Exact => {
                crate::sandbox::runtime::delivery_name(delivery).into()
            }
            Delivery::Batched => format!("batched ({})", cfg.batch_size),
        },
        service: String::new(),
        swaps: swaps
            .iter()
            .map(|(at, label, p)| format!("{at}={label} sha256:{}", p.plugin.hash))
            .collect(),
    };
    let session = cfg.session_over(&rec)?;
    let total = rec.bars();
    let symbols = rec.symbols().to_vec();
    let mut streamed = None;
    let mut loaded = None;
    let feed: &mut dyn Feed = match rec {
        Data::Loaded(r) => loaded.insert(RecordedFeed::new(r)),
        Data::Streamed(plan) => streamed.insert(plan.open()?),
    };
    let engine_cfg = EngineConfig {
        initial_cash: cfg.initial_cash,
        risk: cfg.risk,
        batch_size: cfg.batch_size,
        delivery,
        plugin_label: format!("{}@{}", desc.name, desc.version),
        rollback_window: cfg.swap.rollback_window,
        rollback_drawdown: cfg.swap.rollback_drawdown,
        pause_drawdown: None,
        final_entry: true,
        warmup: spec.warmup,
    };
    let venue = SimulatedVenue::new(cfg.execution);
    let mut file = None;
    let recorder: &mut dyn journal::Recorder = match sink {
        Sink::Memory(entries) => entries,
        Sink::File(path) => file.insert(Journal::create(path, &meta)?),
    };
    let mut engine = Engine::new(
        engine_cfg,
        symbols,
        Box::new(&mut prepared.instance),
        venue,
        recorder,
    );
    if let Some(s) = session {
        engine.set_session(s);
    }
    for (at_seq, label, p) in &mut swaps {
        engine.schedule_swap(PlannedSwap {
            at_seq: *at_seq,
            driver: Box::new(&mut p.instance),
            label: label.clone(),
        });
    }
    let outcome = engine.run(feed, &mut |done| progress(done, total))?;
    if let Some(e) = streamed.as_ref().and_then(|f| f.error()) {
        bail!("{e} (the file changed during the replay)");
    }
    if let Some(journal) = file {
        journal.finish()?;
    }
    Ok(Replay { meta, outcome })
}
