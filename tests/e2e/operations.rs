//! What an operator installs around the service (issue 26, item 7): the
//! systemd unit shipped in `host/dist/` is one systemd accepts as it is —
//! no unknown key, no typo in a hardening option, a command that exists —
//! and its command line is one `sandbar` accepts.

use crate::util::*;

const UNIT: &str = include_str!("../../host/dist/sandbar.service");

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify_without_a_warning() {
    ensure_debian("systemd-analyze", "systemd");
    let dir = scratch();
    // The unit names the installed binary; here, the one under test.
    let unit = dir.path().join("sandbar.service");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/sandbar", SANDBAR)).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    // systemd only warns about an unknown key (a misspelt hardening option
    // would be silently ignored): any word from it fails the test.
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "systemd-analyze had something to say");
    for must in [
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/sandbar",
    ] {
        assert!(UNIT.lines().any(|l| l == must), "the unit lacks {must}");
    }
    assert!(
        !UNIT
            .lines()
            .any(|l| l.starts_with("MemoryDenyWriteExecute=yes")),
        "wasmtime maps compiled plugins executable"
    );
}

#[test]
fn the_units_command_line_is_one_sandbar_accepts() {
    use clap::Parser;
    let exec = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(argv[0], "/usr/local/bin/sandbar");
    let parsed = sandbar::cli::Cli::try_parse_from(argv);
    assert!(parsed.is_ok(), "{}", parsed.unwrap_err());
}
