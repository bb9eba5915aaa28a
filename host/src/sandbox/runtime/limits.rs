//! What a plugin may use: memory, tables, instances and CPU per call, enforced by wasmtime's resource limiter and fuel/epochs.

use super::*;

/// Longest text a plugin's error or panic keeps (bytes): it is journaled
/// and alerted, so a plugin failing every bar with megabytes of text
/// would otherwise fill the journals' disk (the cut says how long it was).
pub const MAX_ERROR_TEXT: usize = 1024;

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
    text
}

/// A plugin's error text, bounded by [`MAX_ERROR_TEXT`].
pub fn error_text(text: String) -> String {
    let len = text.len();
    if len <= MAX_ERROR_TEXT {
        return text;
    }
    format!("{}… (cut from {len} bytes)", cut(text, MAX_ERROR_TEXT))
}

/// Limits applied to every plugin instance.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxLimits {
    /// Linear memory a plugin may grow to, in bytes (default 64 MiB).
    pub memory_bytes: usize,
    /// CPU time one bar may use before the call is interrupted, in
    /// milliseconds (default 250). Counted on the plugin's thread, so time
    /// the host spends descheduled does not count.
    pub call_timeout_ms: u64,
    /// Intents one call may return per bar delivered (default 64).
    pub max_intents_per_bar: usize,
    /// Log lines one call may write per bar delivered (default 32).
    pub max_log_lines_per_bar: usize,
    /// Bytes of log text one call may write (default 64 KiB).
    pub max_log_bytes_per_call: usize,
    /// Largest snapshot accepted, in bytes (default 16 MiB).
    pub max_snapshot_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_timeout_ms: 250,
            max_intents_per_bar: 64,
            max_log_lines_per_bar: 32,
            max_log_bytes_per_call: 64 << 10,
            max_snapshot_bytes: 16 << 20,
        }
    }
}

/// How the CPU budget of a plugin's next calls is counted.
///
/// Measured in CPU time, whether a call runs out depends on the machine: a
/// bar that used 90% of its budget on one machine uses more on a slower or
/// busier one, and one that ran out under load may not on a quiet restart.
/// A re-execution must give the journal's entries back byte for byte
/// (principle 3), so while a journal is re-executed the *journal* decides
/// whether a bar runs out, not the machine: the engine sets
/// [`CallBudget::Spent`] on the bars it says ran out and
/// [`CallBudget::Lenient`] on every other re-executed bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallBudget {
    /// `call_timeout_ms` of CPU time per bar: every bar run for the first time.
    #[default]
    Measured,
    /// A re-executed bar the journal says did not run out:
    /// [`RE_EXECUTION_FACTOR`] times the budget, so that a slower machine
    /// does not fault where the run did not. A plugin that uses even that
    /// faults, and the journal reports the divergence.
    Lenient,
    /// A re-executed bar the journal says ran out: the next call is not
    /// made and ends as it did then, with a CPU-budget fault (one call;
    /// the budget is lenient again after it).
    Spent,
}

/// How many times its budget a re-executed bar may use ([`CallBudget::Lenient`]).
pub const RE_EXECUTION_FACTOR: u32 = 10;

/// The calling thread's CPU time so far. The per-bar budget counts this,
/// not the wall clock: wasmtime runs a plugin on the thread that calls it,
/// so a host that is descheduled, throttled or sharing its cores with a
/// busy test run never faults a healthy plugin, and a plugin that loops is
/// stopped once it has *used* its budget. (Where the OS cannot tell, the
/// wall clock stands in.)
pub(super) fn thread_cpu() -> std::time::Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    match cpu_time::ThreadTime::try_now() {
        Ok(t) => t.as_duration(),
        Err(_) => START.get_or_init(std::time::Instant::now).elapsed(),
    }
}

/// CPU used by this thread since `since` (a [`thread_cpu`] reading).
pub(super) fn cpu_used(since: std::time::Duration) -> std::time::Duration {
    thread_cpu().saturating_sub(since)
}

/// Linear memories one plugin store may hold (a Rust component has one).
pub const MAX_MEMORIES: usize = 2;

/// Tables one plugin store may hold.
pub const MAX_TABLES: usize = 8;

/// Table elements, summed over every table of a store.
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Core instances one plugin store may hold: a Rust component has a few, a
/// Python one 14 (CPython, its libc and libraries, the WASI adapter and
/// componentize-py's shims, measured on componentize-py 0.25.1).
pub const MAX_INSTANCES: usize = 16;

/// Store limits over the *sum* of every memory and every table (wasmtime's
/// own limits are per memory and per table), remembering whether they
/// refused a growth, so the fault can name the memory cap rather than the
/// trap that follows.
pub(super) struct Limiter {
    pub(super) inner: StoreLimits,
    pub(super) memory_cap: usize,
    pub(super) memory_total: usize,
    pub(super) table_total: usize,
    pub(super) refused: bool,
}

impl Limiter {
    pub(super) fn new(limits: &SandboxLimits) -> Self {
        Self {
            inner: StoreLimitsBuilder::new()
                .instances(MAX_INSTANCES)
                .memories(MAX_MEMORIES)
                .tables(MAX_TABLES)
                .build(),
            memory_cap: limits.memory_bytes,
            memory_total: 0,
            table_total: 0,
            refused: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    /// Also called when a memory is created (`current` 0).
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false); // fails by the memory's own maximum; nothing to count
        }
        let total = (self.memory_total - current).saturating_add(desired);
        if total > self.memory_cap {
            self.refused = true;
            return Ok(false);
        }
        self.memory_total = total;
        Ok(true)
    }
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let total = (self.table_total - current).saturating_add(desired);
        if total > MAX_TABLE_ELEMENTS {
            self.refused = true;
            return Ok(false);
        }
        self.table_total = total;
        Ok(true)
    }
    fn instances(&self) -> usize {
        self.inner.instances()
    }
    fn tables(&self) -> usize {
        self.inner.tables()
    }
    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn a_plugins_error_text_is_cut_on_a_character_boundary_saying_so() {
        let long = "é".repeat(40 << 20);
        let t = error_text(long);
        assert!(t.len() < MAX_ERROR_TEXT + 64, "{}", t.len());
        assert!(
            t.ends_with("(cut from 83886080 bytes)"),
            "{}",
            &t[t.len() - 40..]
        );
        assert_eq!(error_text("short".into()), "short");
    }
}
