//! `sandbar demo`: the main job on a default, in one command — build the
//! example strategy (adding the wasm target if the toolchain lacks it) and
//! replay it on the sample recording shipped inside this binary.

use std::path::Path;

use anyhow::Context;

use crate::engine::replay::{self, ReplaySpec, RunConfig, Sink};
use crate::report::Report;
use crate::sandbox::runtime::Runtime;

/// The synthetic daily recording of `tests/fixtures/sample-daily.csv`.
const SAMPLE: &str = include_str!("../../../tests/fixtures/sample-daily.csv");

pub(super) fn run() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap_or(root);
    let example = root.join("plugins/sma-cross");
    if !example.join("Cargo.toml").exists() {
        anyhow::bail!(
            "the example strategy is not at {}: run `sandbar demo` from a Sandbar source tree (`cargo run -p sandbar -- demo`)",
            example.display()
        );
    }
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
        "\nnext: `sandbar new my-strategy`, then `sandbar build my-strategy` and\n`sandbar replay --plugin <its .wasm> --data <your bars.csv>`"
    );
    Ok(())
}
