//! `sandbar build` for a Python strategy: a directory with `strategy.py`
//! (and no `Cargo.toml`) becomes a component with CPython inside, packaged
//! by componentize-py against the contract this host speaks.
//!
//! Everything the component needs besides the user's directory is carried
//! by this binary — the WIT contract and the Python SDK — so a build
//! outside this repository uses exactly the contract the host checks at
//! load. The one outside tool is componentize-py (PyPI), found as
//! `$SANDBAR_COMPONENTIZE_PY` or `componentize-py` on `PATH`; its absence is
//! an error naming the package. The component is written under a temporary
//! name and renamed, so a failed build never leaves half a file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The componentize-py release the SDK is built and tested with.
pub(super) const COMPONENTIZE_PY: &str = "0.25.1";

/// The world a Python strategy implements (every export of 0.3.0).
const WORLD: &str = "sandbar:strategy/strategy@0.3.0";

/// The contract, as the host was built with it.
const WIT: [(&str, &str); 3] = [
    ("strategy.wit", include_str!("../../../wit/strategy.wit")),
    (
        "deps/strategy-0.2.0/strategy.wit",
        include_str!("../../../wit/deps/strategy-0.2.0/strategy.wit"),
    ),
    (
        "deps/strategy-0.1.0/strategy.wit",
        include_str!("../../../wit/deps/strategy-0.1.0/strategy.wit"),
    ),
];

/// The Python SDK (`guest-sdk/python/sandbar`), as this host ships it.
const SDK: [(&str, &str); 9] = [
    sdk_file!("__init__.py"),
    sdk_file!("_component.py"),
    sdk_file!("context.py"),
    sdk_file!("indicators.py"),
    sdk_file!("params.py"),
    sdk_file!("state.py"),
    sdk_file!("strategy.py"),
    sdk_file!("testing.py"),
    sdk_file!("types.py"),
];

macro_rules! sdk_file {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../guest-sdk/python/sandbar/", $name)),
        )
    };
}
use sdk_file;

/// The entry module componentize-py wraps: the user's module registers its
/// strategy with `sandbar.export`, the SDK's bridge implements the exports.
const ENTRY: &str = "import strategy  # noqa: F401 - registers the strategy\n\
                     from sandbar._component import Guest, Exact, Managed  # noqa: F401\n";

/// Whether `dir` holds a Python strategy.
pub(super) fn is_python(dir: &Path) -> bool {
    dir.join("strategy.py").is_file() && !dir.join("Cargo.toml").exists()
}

/// The componentize-py to run.
fn tool() -> PathBuf {
    std::env::var_os("SANDBAR_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| "componentize-py".into())
}

fn write_all(root: &Path, files: &[(&str, &str)]) -> anyhow::Result<()> {
    for (name, text) in files {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Build the Python strategy in `dir`; the component's path,
/// `<target>/python/<dir name>.wasm` where `<target>` is `target_dir` or
/// `<dir>/target`.
pub(super) fn build(dir: &Path, target_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("strategy")
        .replace('-', "_");
    let out_dir = target_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("target"))
        .join("python");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let stage = out_dir.join(format!(".stage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    write_all(&stage.join("wit"), &WIT)?;
    let sdk: Vec<(String, &str)> = SDK
        .iter()
        .map(|(n, t)| (format!("sandbar/{n}"), *t))
        .collect();
    let sdk: Vec<(&str, &str)> = sdk.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    write_all(&stage.join("py"), &sdk)?;
    write_all(&stage.join("py"), &[("sandbar_app.py", ENTRY)])?;
    let wasm = out_dir.join(format!("{name}.wasm"));
    let partial = out_dir.join(format!(".{name}.wasm.{}", std::process::id()));
    let tool = tool();
    let status = Command::new(&tool)
        .arg("-d")
        .arg(stage.join("wit"))
        .args(["-w", WORLD, "componentize"])
        // The SDK first: a user's file named like an SDK module cannot replace it.
        .arg("-p")
        .arg(stage.join("py"))
        .arg("-p")
        .arg(&dir)
        .arg("sandbar_app")
        .arg("-o")
        .arg(&partial)
        .current_dir(&dir)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status();
    let _ = std::fs::remove_dir_all(&stage);
    let status = status.map_err(|e| match e.kind() {
        ErrorKind::NotFound => anyhow::anyhow!(
            "`{}` was not found: Python strategies are packaged by componentize-py (PyPI): \
             `pip install componentize-py=={COMPONENTIZE_PY}`, or name the program in \
             SANDBAR_COMPONENTIZE_PY",
            tool.display()
        ),
        _ => anyhow::anyhow!("running `{}`: {e}", tool.display()),
    })?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "componentize-py could not build {} ({status}; see above): \
             an error in strategy.py shows here, as the module is imported at build time",
            dir.display()
        );
    }
    std::fs::rename(&partial, &wasm)
        .with_context(|| format!("moving the component to {}", wasm.display()))?;
    Ok(wasm)
}
