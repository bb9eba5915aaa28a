//! Any bytes, any repair flags: the CSV loader returns bars or an error, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sandbar::market::{Repair, parse_csv};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let repair = Repair {
        sort: flags & 1 != 0,
        dedupe: flags & 2 != 0,
        clamp: flags & 4 != 0,
    };
    if let Ok((rec, _)) = parse_csv(text, "X", repair) {
        // What loads is valid: sorted, finite, bracketed.
        for w in rec.bars.windows(2) {
            assert!((w[0].time_ms, w[0].symbol) < (w[1].time_ms, w[1].symbol));
        }
        for b in &rec.bars {
            assert!(b.high >= b.low && b.open.is_finite() && b.volume >= 0.0);
        }
    }
});
