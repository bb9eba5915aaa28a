//! Testing a plugin against recorded data with golden files.
//!
//! `sandbar test` (and [`check`] from Rust) replays a plugin over each
//! recording separately and renders what it did — every intent, refusal,
//! fill and fault, as JSON lines — then compares that with a golden file.
//! `--bless` writes the golden file instead. Each recording's header line
//! holds the plugin version, its parameters and the risk and execution
//! config. A mismatch prints, in order: what changed in those headers (a
//! config difference explains everything after it), the unified diff, and a
//! one-line summary of the first differing line. The plugin's content hash
//! is deliberately *not* part of the golden text, so rebuilding a plugin
//! that behaves the same still passes.

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
            "risk": spec.config.risk,
            "execution": spec.config.execution,
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
    let mut report = String::new();
    for change in header_changes(&expected, &actual) {
        report.push_str(&format!("config: {change}\n"));
    }
    report.push_str(&diff);
    report.push_str(&first_difference(&expected, &actual));
    report.push('\n');
    Ok(Golden::Mismatch(report))
}

/// The header lines (one per recording), by recording name, flattened to
/// `key` / `section.key` → value.
fn headers(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) else {
            continue;
        };
        let Some(recording) = map.get("recording").and_then(|r| r.as_str()) else {
            continue;
        };
        let mut flat = Vec::new();
        for (k, v) in &map {
            match v {
                serde_json::Value::Object(section) => {
                    for (k2, v2) in section {
                        flat.push((format!("{k}.{k2}"), v2.to_string()));
                    }
                }
                _ if k != "recording" => flat.push((k.clone(), v.to_string())),
                _ => {}
            }
        }
        out.push((recording.to_string(), flat));
    }
    out
}

/// What changed in the recordings' headers, golden → actual.
fn header_changes(expected: &str, actual: &str) -> Vec<String> {
    let (was, now) = (headers(expected), headers(actual));
    let mut changes = Vec::new();
    for (recording, old) in &was {
        let Some((_, new)) = now.iter().find(|(r, _)| r == recording) else {
            changes.push(format!("{recording}: no longer replayed"));
            continue;
        };
        let value = |list: &[(String, String)], key: &str| {
            list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        };
        let mut keys: Vec<&String> = old.iter().chain(new.iter()).map(|(k, _)| k).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (a, b) = (value(old, key), value(new, key));
            if a != b {
                changes.push(format!(
                    "{recording}: `{key}` was {}, now {}",
                    a.as_deref().unwrap_or("absent"),
                    b.as_deref().unwrap_or("absent")
                ));
            }
        }
    }
    for (recording, _) in &now {
        if !was.iter().any(|(r, _)| r == recording) {
            changes.push(format!("{recording}: newly replayed"));
        }
    }
    changes
}

/// One line: where golden and actual first differ, and how.
fn first_difference(expected: &str, actual: &str) -> String {
    let clip = |s: Option<&str>| match s {
        None => "(end of file)".to_string(),
        Some(s) if s.chars().count() > 160 => {
            format!("{}…", s.chars().take(160).collect::<String>())
        }
        Some(s) => s.to_string(),
    };
    let (mut e, mut a) = (expected.lines(), actual.lines());
    let mut n = 1;
    loop {
        match (e.next(), a.next()) {
            (None, None) => return "no line differs (line endings or a final newline do)".into(),
            (x, y) if x == y => n += 1,
            (x, y) => {
                return format!(
                    "first difference at line {n}: expected {}, found {}",
                    clip(x),
                    clip(y)
                );
            }
        }
    }
}

/// Default golden path for a plugin: `<plugin stem>.golden.jsonl` beside
/// the strategy crate when the component sits in a cargo `target/`
/// directory (`my-strategy/target/wasm32-wasip2/plugin/my_strategy.wasm` →
/// `my-strategy/my_strategy.golden.jsonl`, so it is kept with the sources and
/// not wiped by `cargo clean`), else beside the component.
pub fn default_path(plugin: &Path) -> PathBuf {
    let stem = plugin
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = format!("{stem}.golden.jsonl");
    let crate_dir = plugin
        .ancestors()
        .skip(1)
        .find(|a| a.file_name().is_some_and(|n| n == "target"))
        .and_then(Path::parent);
    match crate_dir {
        Some(dir) => dir.join(name),
        None => plugin.with_file_name(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_files_live_beside_the_crate_not_in_target() {
        assert_eq!(
            default_path(Path::new("s/target/wasm32-wasip2/plugin/my_s.wasm")),
            Path::new("s/my_s.golden.jsonl")
        );
        assert_eq!(
            default_path(Path::new("dist/my_s.wasm")),
            Path::new("dist/my_s.golden.jsonl")
        );
    }

    #[test]
    fn a_mismatch_names_config_changes_first_and_the_first_differing_line_last() {
        let golden = "{\"recording\":\"a.csv\",\"risk\":{\"max_position\":0.2},\"params\":[]}\n{\"fill\":1}\n";
        let actual = "{\"recording\":\"a.csv\",\"risk\":{\"max_position\":0.5},\"params\":[]}\n{\"fill\":2}\n";
        assert_eq!(
            header_changes(golden, actual),
            vec!["a.csv: `risk.max_position` was 0.2, now 0.5"]
        );
        assert_eq!(
            first_difference(golden, actual),
            "first difference at line 1: expected {\"recording\":\"a.csv\",\"risk\":{\"max_position\":0.2},\"params\":[]}, found {\"recording\":\"a.csv\",\"risk\":{\"max_position\":0.5},\"params\":[]}"
        );
        assert_eq!(
            first_difference("x\ny\n", "x\n"),
            "first difference at line 2: expected y, found (end of file)"
        );
    }
}
