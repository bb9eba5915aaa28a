//! Any text: the run configuration parser returns a config or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sandbar::replay::RunConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = RunConfig::parse(text, "fuzz", &[]) {
        assert!(cfg.risk.validate().is_ok());
    }
});
