//! Any file contents: opening and exporting a journal returns an error, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sandbar::journal::JournalReader;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.redb");
    std::fs::write(&path, data).unwrap();
    if let Ok(r) = JournalReader::open(&path) {
        let _ = r.meta();
        let _ = r.entries();
        let _ = r.export_jsonl(&mut std::io::sink());
    }
});
