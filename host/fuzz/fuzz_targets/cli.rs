//! Any command line (arguments split at NUL bytes): `sandbar`'s argument
//! parser returns a command or a usage error, never panics.
#![no_main]
use clap::Parser;
use libfuzzer_sys::fuzz_target;
use sandbar::cli::Cli;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let args = std::iter::once("sandbar".into()).chain(text.split('\0').map(Into::into));
    let args = sandbar::cli::spelled(args);
    if let Err(e) = Cli::try_parse_from(args) {
        // Rendering the error (what a user reads) must not panic either.
        let _ = e.render().to_string();
    }
});
