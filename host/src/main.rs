//! The `sandbar` binary: parse arguments, run, print errors on one line.

use std::io::IsTerminal;

use clap::Parser;

fn main() {
    // Rust ignores SIGPIPE, so a closed pipe (`sandbar sweep … | head -1`)
    // makes `println!` panic. A command-line tool should end quietly, as
    // every Unix tool does: restore the default action.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: called first thing, before any thread exists; only resets a
    // signal disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    sandbar::net::tls::install_provider();
    let cli = sandbar::cli::Cli::parse_from(sandbar::cli::spelled(std::env::args_os()));
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Err(e) = sandbar::cli::run(cli) {
        let code = e.downcast_ref::<sandbar::cli::Exit>().map_or(1, |x| x.code);
        eprintln!("error: {e:#}");
        std::process::exit(code);
    }
}
