//! Test instrumentation, off unless asked for: with `SANDBAR_PLUGIN_LOG`
//! naming a file, every plugin file the runtime is asked to load appends
//! `<sha256 of the file> loaded <path>`, and every plugin instance that is
//! handed its first bar appends `<sha256 of the component> ran
//! <name@version>`. The test
//! suite sets it so that CI can check every plugin under `plugins/` was
//! actually run by some test (see docs/testing.md), not merely named in a
//! test's source. One `write` per line on a file opened for appending, so
//! lines from concurrent processes do not interleave.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

fn log_file() -> Option<&'static PathBuf> {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FILE.get_or_init(|| std::env::var_os("SANDBAR_PLUGIN_LOG").map(PathBuf::from))
        .as_ref()
}

/// A plugin instance ran its first bar.
pub(super) fn first_bar(hash: &str, label: &str) {
    line(&format!("{hash} ran {label}\n"));
}

/// A plugin file is being loaded (whether or not it is then accepted).
pub(super) fn loading(bytes: &[u8], path: &std::path::Path) {
    if log_file().is_some() {
        let hash = crate::digest::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes));
        line(&format!("{hash} loaded {}\n", path.display()));
    }
}

/// Failures to write are ignored: this is a test's record, never a reason
/// to stop trading.
fn line(text: &str) {
    let Some(path) = log_file() else { return };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}
