//! `sandbar build [<dir>]`: a strategy crate to a component, with no manual
//! step — the `wasm32-wasip2` target is added through rustup when the
//! toolchain lacks it (rustup does not add the targets `rust-toolchain.toml`
//! names to a toolchain that is already installed).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use clap::Args;

/// The target strategies are built for.
pub(super) const TARGET: &str = "wasm32-wasip2";

/// `sandbar build`.
#[derive(Debug, Args)]
pub(super) struct BuildArgs {
    /// The strategy: a crate (a directory with a Cargo.toml) or a Python
    /// strategy (a directory with a strategy.py).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Cargo's target directory (default: cargo's own choice); for a Python
    /// strategy, where `python/<name>.wasm` goes (default: `<dir>/target`).
    #[arg(long)]
    target_dir: Option<PathBuf>,
}

/// What a missing tool means for the user.
fn missing(tool: &str, e: std::io::Error) -> anyhow::Error {
    if e.kind() == ErrorKind::NotFound {
        anyhow::anyhow!(
            "`{tool}` was not found on PATH: install Rust with rustup, which provides cargo, rustc and rustup"
        )
    } else {
        anyhow::anyhow!("running `{tool}`: {e}")
    }
}

/// Whether the toolchain used in `dir` has the target's standard library.
/// rustup is asked when it is there (it knows the toolchain `dir` selects);
/// otherwise rustc's sysroot is looked at.
fn target_installed(dir: &Path) -> anyhow::Result<bool> {
    match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(out) if out.status.success() => {
            return Ok(String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == TARGET));
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(missing("rustup", e)),
    }
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .map_err(|e| missing("rustc", e))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(sysroot.join("lib/rustlib").join(TARGET).exists())
}

/// Add the target through rustup if the toolchain lacks it.
pub(super) fn ensure_target(dir: &Path) -> anyhow::Result<()> {
    if target_installed(dir)? {
        return Ok(());
    }
    eprintln!("the toolchain lacks the {TARGET} target: rustup target add {TARGET}");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .current_dir(dir)
        .status()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => anyhow::anyhow!(
                "the {TARGET} target is not installed and rustup was not found: install the target with the tool that installed Rust"
            ),
            _ => missing("rustup", e),
        })?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed ({status})");
    }
    Ok(())
}

/// The profile to build with: `plugin` where the crate or its workspace
/// defines it (crates made by `sandbar new`, this repository), else `release`.
fn profile(dir: &Path) -> String {
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Ok(text) = std::fs::read_to_string(d.join("Cargo.toml")) {
            if text.contains("[profile.plugin]") {
                return "plugin".into();
            }
            if text.contains("[workspace]") {
                break;
            }
        }
        at = d.parent();
    }
    "release".into()
}

/// Build the strategy in `dir` (a Rust crate, or a Python strategy: see
/// [`super::python`]); the component's path.
pub(super) fn build(dir: &Path, target_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    if super::python::is_python(dir) {
        return super::python::build(dir, target_dir);
    }
    let manifest = dir.join("Cargo.toml");
    if !manifest.exists() {
        bail!(
            "{} has neither a Cargo.toml nor a strategy.py: `sandbar build` takes a strategy crate or a Python strategy (make one with `sandbar new`)",
            dir.display()
        );
    }
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    ensure_target(&dir)?;
    let profile = profile(&dir);
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&dir)
        .args(["build", "--target", TARGET, "--profile", &profile])
        .args(["--message-format", "json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(t) = target_dir {
        cmd.arg("--target-dir").arg(t);
    }
    let out = cmd.output().map_err(|e| missing("cargo", e))?;
    if !out.status.success() {
        bail!("cargo could not build {} (see above)", dir.display());
    }
    // The cdylib artifact of the package in `dir`.
    let manifest = dir.join("Cargo.toml");
    let mut wasm = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact"
            || msg["manifest_path"].as_str().map(Path::new) != Some(manifest.as_path())
        {
            continue;
        }
        if let Some(files) = msg["filenames"].as_array() {
            wasm = files
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from)
                .or(wasm);
        }
    }
    wasm.with_context(|| {
        format!(
            "cargo built {} but no .wasm came out: is it a `cdylib` (crate-type = [\"cdylib\", \"rlib\"])?",
            dir.display()
        )
    })
}

pub(super) fn run(a: BuildArgs) -> anyhow::Result<()> {
    let wasm = build(&a.dir, a.target_dir.as_deref())?;
    let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    println!("built {} ({size} bytes)", wasm.display());
    super::plugin::describe(wasm)
}
