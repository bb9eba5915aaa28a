//! `sandbar demo`: the main job on a default, in one command — build the
//! example strategy (adding the wasm target if the toolchain lacks it) and
//! replay it on the sample recording shipped inside this binary.
//!
//! `sandbar demo --serve`: the first service in one command, with no
//! configuration — two versions of the example strategy built and
//! registered, a PAPER deployment of the first trading the bundled sample
//! paced as if live, and the dashboard's address and a one-time token
//! printed, so a hot swap to the second version and a rollback can be tried
//! from the page.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::engine::replay::{self, ReplaySpec, RunConfig, Sink};
use crate::report::Report;
use crate::sandbox::runtime::Runtime;
use crate::store::registry::Registry;

/// The synthetic daily recording of `tests/fixtures/sample-daily.csv`.
const SAMPLE: &str = include_str!("../../../tests/fixtures/sample-daily.csv");

/// `sandbar demo`.
#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Run the first service instead: a PAPER deployment on the sample
    /// paced as if live, its dashboard, and a second version to swap to.
    #[arg(long)]
    serve: bool,
    /// With --serve: the address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:7878", requires = "serve")]
    listen: String,
    /// With --serve: sample bars delivered per second.
    #[arg(long, default_value_t = 5.0, requires = "serve")]
    bars_per_second: f64,
    /// With --serve: write the bound address to this file once listening.
    #[arg(long, requires = "serve")]
    addr_file: Option<PathBuf>,
}

/// The source tree this binary was built from (the example strategy and
/// the SDK are there).
fn source_root() -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap_or(root);
    if !root.join("plugins/sma-cross/Cargo.toml").exists() {
        anyhow::bail!(
            "the example strategy is not at {}: run `sandbar demo` from a Sandbar source tree (`cargo run -p sandbar -- demo`)",
            root.join("plugins/sma-cross").display()
        );
    }
    Ok(root)
}

pub(super) fn run(a: DemoArgs) -> anyhow::Result<()> {
    if a.serve {
        return serve(a);
    }
    let root = source_root()?;
    let example = root.join("plugins/sma-cross");
    eprintln!("building the example strategy {}", example.display());
    let wasm = super::build::build(&example, Some(&root.join("target/plugins")))?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("sample-daily.csv");
    std::fs::write(&data, SAMPLE).with_context(|| format!("writing {}", data.display()))?;
    eprintln!(
        "replaying {} on the bundled sample (1,500 synthetic daily bars)",
        wasm.display()
    );
    let spec = ReplaySpec {
        plugin: wasm.clone(),
        data: vec![data],
        params: vec![],
        config: RunConfig::default(),
        load: Default::default(),
        delivery: None,
        swaps: vec![],
        swap_params: vec![],
        warmup: 0,
    };
    let rt = Runtime::new(super::cache_dir().as_deref())?;
    let mut entries = Vec::new();
    let replay = replay::run(&rt, &spec, Sink::Memory(&mut entries), &mut |_, _| {})?;
    print!("{}", Report::new(&replay.outcome).table());
    println!(
        "\nnext: `sandbar new my-strategy`, then `sandbar build my-strategy` and\n`sandbar replay --plugin <its .wasm> --data <your bars.csv>`\nor the first service: `sandbar demo --serve`"
    );
    Ok(())
}

/// Build the sma-cross template as `demo-sma` 0.1.0, and again as 0.2.0
/// (the same strategy: a version to swap to and roll back from): both
/// `.wasm`.
fn two_versions(root: &Path, dir: &Path) -> anyhow::Result<[PathBuf; 2]> {
    let krate = dir.join("demo-sma");
    std::fs::create_dir_all(krate.join("src"))?;
    for (file, text) in super::new::files(
        "demo-sma",
        super::new::Template::SmaCross,
        &root.join("guest-sdk"),
    ) {
        std::fs::write(krate.join(file), text)?;
    }
    // The workspace's versions, pinned: nothing to resolve, nothing new to fetch.
    let lock = root.join("Cargo.lock");
    if lock.exists() {
        std::fs::copy(&lock, krate.join("Cargo.lock"))?;
    }
    let target = root.join("target/plugins");
    let mut out = Vec::new();
    for version in ["0.1.0", "0.2.0"] {
        let manifest = krate.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)?.replacen(
            "version = \"0.1.0\"",
            &format!("version = \"{version}\""),
            1,
        );
        std::fs::write(&manifest, text)?;
        eprintln!("building demo-sma {version} (the sma-cross template)");
        let wasm = super::build::build(&krate, Some(&target))?;
        let kept = dir.join(format!("demo-sma-{version}.wasm"));
        std::fs::copy(&wasm, &kept).with_context(|| format!("copying {}", wasm.display()))?;
        out.push(kept);
    }
    Ok([out[0].clone(), out[1].clone()])
}

fn serve(a: DemoArgs) -> anyhow::Result<()> {
    let root = source_root()?;
    let dir = tempfile::Builder::new().prefix("sandbar-demo-").tempdir()?;
    let path = dir.path();
    let [v1, v2] = two_versions(&root, path)?;
    let registry = Registry::open(&path.join("registry.redb"))?;
    let rt = Runtime::new(super::cache_dir().as_deref())?;
    let who = "demo";
    for wasm in [&v1, &v2] {
        registry.add_plugin(&rt, wasm, Some("sandbar demo --serve".into()), who)?;
    }
    registry.create_deployment(
        "demo",
        "demo-sma@0.1.0",
        &[],
        vec!["SAMPLE".into()],
        100_000.0,
        vec![],
        who,
    )?;
    let gates = crate::lifecycle::GateConfig::default();
    while registry.deployment("demo")?.stage != crate::lifecycle::Stage::Paper {
        let why = Some("sandbar demo --serve: a demonstration on synthetic bars".to_string());
        registry.transition(
            "demo",
            crate::lifecycle::Move::Promote,
            why,
            true,
            &gates,
            who,
        )?;
    }
    drop(registry);
    let data = path.join("SAMPLE.csv");
    std::fs::write(&data, SAMPLE)?;
    let mut token = [0u8; 16];
    getrandom::fill(&mut token).map_err(|e| anyhow::anyhow!("a random token: {e}"))?;
    let token = crate::digest::hex(&token);
    let token_file = path.join("token");
    std::fs::write(&token_file, &token)?;
    let config = path.join("sandbar.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {path:?}\n\
             [api]\nlisten = {listen:?}\n\
             [[api.tokens]]\nname = \"demo\"\nfile = {token_file:?}\nrole = \"admin\"\n\
             [feeds.sample]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1d\"\nbars_per_second = {bps}\n\
             [[deployments]]\nname = \"demo\"\nfeed = \"sample\"\ninterval = \"1d\"\n",
            listen = a.listen,
            bps = a.bars_per_second,
        ),
    )?;
    let addr_file = a.addr_file.clone().unwrap_or_else(|| path.join("addr"));
    let server = std::thread::spawn({
        let (config, addr_file) = (config.clone(), addr_file.clone());
        move || {
            super::serve::serve(super::serve::ServeArgs {
                config: Some(config),
                registry: super::RegistryOpt { registry: None },
                listen: None,
                insecure_listen: false,
                addr_file: Some(addr_file),
                journals: None,
                pause_drawdown: None,
            })
        }
    });
    let url = loop {
        if let Ok(url) = std::fs::read_to_string(&addr_file) {
            break url;
        }
        if server.is_finished() {
            return server
                .join()
                .map_err(|_| anyhow::anyhow!("the service panicked"))?
                .context("the demo service did not start");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    println!(
        "Sandbar demo: deployment `demo` (demo-sma@0.1.0, PAPER) trades the bundled sample at {bps} bars a second.\n\
         \n  dashboard  {url}/dashboard\n  token      {token}   (sign in with it; valid while this runs)\n\
         \nTry, from the page or a terminal (SANDBAR_TOKEN={token}):\n\
         \n  sandbar deploy swap demo demo-sma@0.2.0 --reason \"put 0.2.0 in service\" --server {url}\
         \n  sandbar deploy rollback demo --reason \"back to 0.1.0\" --server {url}\
         \n  sandbar deploy status demo --server {url}\n\
         \nData in {} (removed when this stops). Ctrl-C stops it.",
        path.display(),
        bps = a.bars_per_second,
    );
    let r = server
        .join()
        .map_err(|_| anyhow::anyhow!("the service panicked"))?;
    drop(dir);
    r
}
