//! `sandbar new <name>`: a strategy crate that builds on its own, outside
//! this repository, with a native unit test and the profile `sandbar build`
//! uses.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

/// What the new strategy starts from.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Template {
    /// The SMA crossover of the README, with its unit test.
    SmaCross,
    /// A channel breakout with an ATR stop that becomes a trailing stop the
    /// host owns (contract 0.3.0), with its unit test.
    TrailingBreakout,
    /// A strategy that does nothing yet.
    Empty,
}

/// The language of the new strategy.
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub(super) enum Lang {
    /// A crate built with the Rust SDK.
    Rust,
    /// A module built with the Python SDK (componentize-py).
    Python,
}

/// `sandbar new`.
#[derive(Debug, Args)]
pub(super) struct NewArgs {
    /// Directory to create; its last component is the crate's name.
    path: PathBuf,
    /// What to start from.
    #[arg(long, value_enum, default_value = "sma-cross")]
    template: Template,
    /// The language: `rust` (a crate) or `python` (a module, with a pytest
    /// test; every template).
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// The `sandbar-sdk` crate to depend on (default: the SDK of the source
    /// tree this `sandbar` was built from); for Python, the directory whose
    /// `python/` holds the `sandbar` package the tests import.
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// The SDK this binary was built beside.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk")
}

/// `my-strategy` → `MyStrategy`.
fn type_name(crate_name: &str) -> String {
    crate_name
        .split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A crate name cargo accepts and a Rust type can be made of.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "`{name}` is not a strategy name: use lower-case letters, digits, `-` and `_`, starting with a letter"
        );
    }
    Ok(())
}

/// The files of a new crate, as (relative path, contents).
pub(super) fn files(name: &str, template: Template, sdk: &Path) -> Vec<(&'static str, String)> {
    let ty = type_name(name);
    let source = match template {
        Template::SmaCross => include_str!("templates/sma_cross.rs.txt"),
        Template::TrailingBreakout => include_str!("templates/trailing_breakout.rs.txt"),
        Template::Empty => include_str!("templates/empty.rs.txt"),
    }
    .replace("{{Type}}", &ty)
    .replace("{{name}}", name);
    let sdk = sdk.display().to_string().replace('\\', "/");
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
publish = false

[lib]
# cdylib: the WebAssembly component; rlib: native unit tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
sandbar-sdk = {{ path = "{sdk}" }}

# `sandbar build` builds with this profile.
[profile.plugin]
inherits = "release"
opt-level = 3
debug = false
strip = "debuginfo"
codegen-units = 1
lto = true
panic = "abort"

# A strategy crate stands alone, even inside another workspace's tree.
[workspace]
"#
    );
    let toolchain = r#"[toolchain]
channel = "1.95.0"
targets = ["wasm32-wasip2"]
"#
    .to_string();
    let readme = format!(
        "# {name}\n\nA Sandbar strategy: `cargo test` runs its unit tests natively, `sandbar build` makes the component,\n`sandbar replay --plugin <the .wasm it prints> --data <bars.csv>` replays it.\n"
    );
    vec![
        ("Cargo.toml", manifest),
        ("rust-toolchain.toml", toolchain),
        ("README.md", readme),
        (".gitignore", "/target\n".to_string()),
        ("src/lib.rs", source),
    ]
}

pub(super) fn new(a: NewArgs) -> anyhow::Result<()> {
    let name = a
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} names no directory", a.path.display()))?;
    check_name(&name)?;
    if a.path.exists()
        && std::fs::read_dir(&a.path)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!("{} already exists and is not empty", a.path.display());
    }
    let sdk = a.sdk.unwrap_or_else(default_sdk);
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the sandbar-sdk crate is not at {}; name it with --sdk <path to guest-sdk>",
            sdk.display()
        )
    })?;
    let files = match a.lang {
        Lang::Rust => {
            if !sdk.join("Cargo.toml").exists() {
                bail!(
                    "{} is not a crate (no Cargo.toml); name the SDK with --sdk",
                    sdk.display()
                );
            }
            files(&name, a.template, &sdk)
        }
        Lang::Python => python_files(&name, a.template, &sdk)?,
    };
    for (rel, text) in files {
        let path = a.path.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "created strategy `{name}` in {} (template {:?}, sandbar-sdk at {})",
        a.path.display(),
        a.template,
        sdk.display()
    );
    println!(
        "next: `{}` in it, then `sandbar build {}`",
        match a.lang {
            Lang::Rust => "cargo test",
            Lang::Python => "pytest",
        },
        a.path.display()
    );
    Ok(())
}

/// The files of a new Python strategy: the module `sandbar build` packages,
/// its pytest tests, and a `conftest.py` that puts the SDK on the tests'
/// path (the component carries its own copy).
fn python_files(
    name: &str,
    template: Template,
    sdk: &Path,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let (strategy, tests) = match template {
        Template::SmaCross => (
            include_str!("templates/sma_cross.py.txt"),
            include_str!("templates/test_sma_cross.py.txt"),
        ),
        Template::TrailingBreakout => (
            include_str!("templates/trailing_breakout.py.txt"),
            include_str!("templates/test_trailing_breakout.py.txt"),
        ),
        Template::Empty => (
            include_str!("templates/empty.py.txt"),
            include_str!("templates/test_empty.py.txt"),
        ),
    };
    let package = sdk.join("python/sandbar/__init__.py");
    if !package.exists() {
        bail!(
            "{} does not hold the Python SDK (no python/sandbar/__init__.py); name the SDK with --sdk <path to guest-sdk>",
            sdk.display()
        );
    }
    let ty = type_name(name);
    let fill = |t: &str| t.replace("{{Type}}", &ty).replace("{{name}}", name);
    let python = sdk.join("python").display().to_string();
    // The harness executes through `sandbar harness`: this binary, unless
    // the environment names another.
    let program = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "sandbar".into());
    let conftest = format!(
        "# Puts the Sandbar Python SDK on the tests' import path (the component\n\
         # `sandbar build` makes carries its own copy of it), and names the\n\
         # `sandbar` whose harness executes the strategy's intents.\n\
         import os\nimport sys\n\nsys.path.insert(0, {python:?})\n\
         os.environ.setdefault(\"SANDBAR\", {program:?})\n"
    );
    let readme = format!(
        "# {name}\n\nA Sandbar strategy in Python: `pytest` (or `python3 test_strategy.py`) runs its unit tests natively,\n\
         `sandbar build` makes the component (it needs componentize-py: `pip install componentize-py`),\n\
         `sandbar replay --plugin <the .wasm it prints> --data <bars.csv>` replays it.\n"
    );
    Ok(vec![
        ("strategy.py", fill(strategy)),
        ("test_strategy.py", fill(tests)),
        ("conftest.py", conftest),
        ("README.md", readme),
        (".gitignore", "/target\n__pycache__/\n".to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_types_and_bad_names_are_refused() {
        assert_eq!(type_name("my-strategy_2"), "MyStrategy2");
        assert!(check_name("my-strategy").is_ok());
        for bad in ["My", "1st", "a b", "", "é"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
