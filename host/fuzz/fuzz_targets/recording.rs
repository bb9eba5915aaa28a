//! Any bytes: the recording decoder returns a valid recording or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sandbar::market::{RECORDING_MAGIC, decode_recording};

fuzz_target!(|data: &[u8]| {
    let _ = decode_recording(data);
    // Most inputs fail the magic check; also try them behind a valid header.
    let mut framed = RECORDING_MAGIC.to_vec();
    framed.extend_from_slice(data);
    if let Ok(rec) = decode_recording(&framed) {
        assert!(
            rec.bars
                .iter()
                .all(|b| (b.symbol as usize) < rec.symbols.len())
        );
    }
});
