//! Any text as `sandbar.toml`: the service configuration parser returns a
//! configuration or an error naming the file, never panics; and what it
//! accepts resolves against a base directory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sandbar::service::config::ServiceFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ServiceFile::parse(text, "fuzz.toml") {
        Ok(mut file) => file.resolve(std::path::Path::new("/srv/sandbar")),
        Err(e) => assert!(format!("{e:#}").contains("fuzz.toml"), "{e:#}"),
    }
});
