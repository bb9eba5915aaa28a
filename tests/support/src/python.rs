//! Python strategies for the tests: componentize-py made available once
//! (from `$SANDBAR_COMPONENTIZE_PY`, else a virtual environment under the
//! target directory, installed from PyPI at the pinned version), and each
//! strategy under `plugins/python/` built once per test process by the
//! `sandbar build` under test — so the tests exercise the user's path, with
//! the SDK the binary carries.
//!
//! Outputs go under the target directory, never into `plugins/` (which the
//! Rust plugins' build script watches). Everything is made under a
//! temporary name and renamed, so an interrupted run leaves nothing half
//! made; a content stamp lets a later run reuse a component whose sources
//! (the strategy, the SDK, the contract) did not change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The componentize-py release the SDK is tested with (`sandbar build` names
/// the same one in its error when the tool is missing).
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// The profile directory of this build (`target/debug`), for made tools.
fn profile_dir() -> PathBuf {
    // OUT_DIR is <profile>/build/sandbar-test-support-<hash>/out.
    Path::new(env!("OUT_DIR"))
        .ancestors()
        .nth(3)
        .expect("OUT_DIR has a profile directory")
        .to_path_buf()
}

/// The componentize-py to build with; installs it on first use
/// (`pip install --target`, with a launcher beside it, renamed into place).
pub fn componentize_py() -> PathBuf {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        if let Some(p) = std::env::var_os("SANDBAR_COMPONENTIZE_PY") {
            return PathBuf::from(p);
        }
        let home = profile_dir().join(format!("python-tools/componentize-py-{COMPONENTIZE_PY}"));
        let launcher = home.join("componentize-py");
        if launcher.exists() {
            return launcher;
        }
        let partial = home.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let out = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(partial.join("lib"))
            .arg(format!("componentize-py=={COMPONENTIZE_PY}"))
            .output()
            .expect("running python3 -m pip");
        assert!(
            out.status.success(),
            "pip could not install componentize-py {COMPONENTIZE_PY} from PyPI: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = "#!/bin/sh\n\
             PYTHONPATH=\"$(dirname \"$0\")/lib\" exec python3 -c \
             'import sys; from componentize_py import script; sys.argv[0] = \"componentize-py\"; sys.exit(script())' \"$@\"\n";
        std::fs::write(partial.join("componentize-py"), script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            partial.join("componentize-py"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        if std::fs::rename(&partial, &home).is_err() {
            // Another process made it first: use theirs.
            let _ = std::fs::remove_dir_all(&partial);
        }
        assert!(launcher.exists(), "componentize-py was not installed at {}", home.display());
        launcher
    })
    .clone()
}

/// A stamp of everything a Python component is made from.
fn stamp(dir: &Path) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let root = Path::new(crate::REPO);
    let mut files = Vec::new();
    for d in [
        dir.to_path_buf(),
        root.join("guest-sdk/python/sandbar"),
        root.join("wit"),
        root.join("wit/deps/strategy-0.1.0"),
        root.join("wit/deps/strategy-0.2.0"),
    ] {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_file() {
                files.push(e.path());
            }
        }
    }
    files.sort();
    let mut h = DefaultHasher::new();
    COMPONENTIZE_PY.hash(&mut h);
    for f in files {
        f.hash(&mut h);
        std::fs::read(&f).unwrap().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// `plugins/python/<name>` as a component, built by `sandbar` (the binary
/// under test) once per process.
pub fn python_plugin(sandbar: &str, name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let dir = Path::new(crate::REPO).join("plugins/python").join(name);
    assert!(dir.join("strategy.py").exists(), "no Python plugin {name}");
    let out = profile_dir().join("python-plugins");
    let wasm = out
        .join("python")
        .join(format!("{}.wasm", name.replace('-', "_")));
    let stamp_file = wasm.with_extension("stamp");
    let want = stamp(&dir);
    if !(wasm.exists() && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(&want)) {
        let result = Command::new(sandbar)
            .arg("build")
            .arg(&dir)
            .arg("--target-dir")
            .arg(&out)
            .env("SANDBAR_COMPONENTIZE_PY", componentize_py())
            .output()
            .expect("running sandbar build");
        assert!(
            result.status.success(),
            "sandbar build {name} failed: {}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        std::fs::write(&stamp_file, &want).unwrap();
    }
    built.insert(name.to_string(), wasm.clone());
    wasm
}
