//! Testing a plugin against recorded data with golden files.
//!
//! `sandbar test` (and [`check`] from Rust) replays a plugin over each
//! recording separately and renders what it did — every intent, refusal,
//! fill and fault, as JSON lines — then compares that with a golden file.
//! `--bless` writes the golden file instead. A mismatch prints a unified
//! diff. The plugin's content hash is deliberately *not* part of the golden
//! text, so rebuilding a plugin that behaves the same still passes.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::engine::replay::{self, ReplaySpec, Sink};
use crate::sandbox::runtime::Runtime;
use crate::store::journal::Entry;

/// The result of a golden comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Golden {
    /// Output equals the golden file (with its line count).
    Matched(usize),
    /// The golden file was (re)written (with its line count).
    Blessed(usize),
    /// Output differs: a unified diff, golden → actual.
    Mismatch(String),
}

/// Render a replay of each recording as golden text.
pub fn render(rt: &Runtime, spec: &ReplaySpec) -> anyhow::Result<String> {
    let mut text = String::new();
    for data in &spec.data {
        let one = ReplaySpec {
            data: vec![data.clone()],
            ..spec.clone()
        };
        let mut entries = Vec::new();
        let replay = replay::run(rt, &one, Sink::Memory(&mut entries), &mut |_, _| {})?;
        let header = serde_json::json!({
            "recording": data.file_name().map(|f| f.to_string_lossy().into_owned()),
            "plugin": format!("{}@{}", replay.meta.plugin_name, replay.meta.plugin_version),
            "params": replay.meta.params,
        });
        text.push_str(&header.to_string());
        text.push('\n');
        for e in entries {
            if matches!(
                e,
                Entry::Intent { .. }
                    | Entry::Refusal { .. }
                    | Entry::Fill { .. }
                    | Entry::Fault { .. }
            ) {
                text.push_str(&serde_json::to_string(&e)?);
                text.push('\n');
            }
        }
    }
    Ok(text)
}

/// Compare a replay with the golden file, or write it when `bless`.
pub fn check(
    rt: &Runtime,
    spec: &ReplaySpec,
    golden: &Path,
    bless: bool,
) -> anyhow::Result<Golden> {
    let actual = render(rt, spec)?;
    let lines = actual.lines().count();
    if bless {
        if let Some(dir) = golden.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(golden, &actual)
            .with_context(|| format!("writing golden file {}", golden.display()))?;
        return Ok(Golden::Blessed(lines));
    }
    let expected = std::fs::read_to_string(golden).with_context(|| {
        format!(
            "reading golden file {} (create it with --bless)",
            golden.display()
        )
    })?;
    if expected == actual {
        return Ok(Golden::Matched(lines));
    }
    let diff = similar::TextDiff::from_lines(&expected, &actual)
        .unified_diff()
        .context_radius(2)
        .header(&golden.display().to_string(), "actual")
        .to_string();
    Ok(Golden::Mismatch(diff))
}

/// Default golden path for a plugin: `<plugin stem>.golden.jsonl` beside it.
pub fn default_path(plugin: &Path) -> PathBuf {
    let stem = plugin
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    plugin.with_file_name(format!("{stem}.golden.jsonl"))
}
