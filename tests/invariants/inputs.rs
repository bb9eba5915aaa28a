//! Issue 25: what an operator types, checked as properties beside the
//! fuzz targets (`host/fuzz/`): the command line and the service's config
//! file take any input and answer with a value or an error that names where
//! — never a panic.

use clap::{CommandFactory, Parser};
use proptest::prelude::*;
use sandbar::cli::Cli;
use sandbar::service::config::ServiceFile;

#[test]
fn the_command_line_definition_is_well_formed() {
    // clap's own consistency checks (conflicting names, bad defaults…),
    // which otherwise only fire on the first parse that reaches them.
    Cli::command().debug_assert();
}

/// Every word the parser knows — subcommands and flags, at every depth —
/// so generated command lines reach deep into the tree.
fn vocabulary() -> Vec<String> {
    fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
        out.push(cmd.get_name().to_string());
        for a in cmd.get_arguments() {
            if let Some(l) = a.get_long() {
                out.push(format!("--{l}"));
            }
            if let Some(s) = a.get_short() {
                out.push(format!("-{s}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &mut out);
    out.extend(
        [
            "--", "-", "=", "nan", "inf", "-1", "1e400", "0", "a=b", "../x", "x@1.0.0", "", " ",
            "\u{7f}", "é",
        ]
        .map(str::to_string),
    );
    out
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vocabulary()),
        1 => "\\PC{0,12}",
        1 => (prop::sample::select(vocabulary()), "[a-z0-9.=-]{0,8}").prop_map(|(a, b)| format!("{a}={b}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_command_line_parses_or_is_refused_without_a_panic(words in prop::collection::vec(word(), 0..8)) {
        let argv = std::iter::once("sandbar".to_string()).chain(words);
        match Cli::try_parse_from(argv) {
            Ok(_) => {}
            Err(e) => {
                // The message is rendered (clap formats lazily): it must not panic either.
                let _ = e.render().to_string();
            }
        }
    }
}

const EXAMPLE: &str = include_str!("../../host/sandbar.example.toml");

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1e308".to_string()),
        Just("18446744073709551616".to_string()),
        Just("true".to_string()),
        Just("\"\"".to_string()),
        Just("\"../../etc/passwd\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[a-z]{0,8}".prop_map(|s| format!("\"{s}\"")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    /// The example config with one `key = value` line's value replaced,
    /// a line dropped, or a line doubled: a config or an error that starts
    /// with the file's name — never a panic, and never a config whose
    /// numbers are not numbers.
    #[test]
    fn any_edit_of_the_example_config_is_read_or_refused_naming_the_file(
        line in any::<prop::sample::Index>(),
        edit in 0..3u8,
        new in value(),
    ) {
        let lines: Vec<&str> = EXAMPLE.lines().collect();
        let assignments: Vec<usize> = (0..lines.len())
            .filter(|&i| !lines[i].trim_start().starts_with('#') && lines[i].contains(" = "))
            .collect();
        let at = assignments[line.index(assignments.len())];
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        match edit {
            0 => {
                let key = out[at].split(" = ").next().unwrap().to_string();
                out[at] = format!("{key} = {new}");
            }
            1 => { out.remove(at); }
            _ => { let l = out[at].clone(); out.insert(at, l); }
        }
        let text = out.join("\n");
        match ServiceFile::parse(&text, "edited.toml") {
            Ok(file) => {
                // No number in the file may be NaN or infinite: a key that
                // took one would carry it into risk limits and schedules.
                prop_assert!(
                    !(edit == 0 && ["nan", "inf", "-inf"].contains(&new.as_str())),
                    "{} was accepted",
                    out[at]
                );
                prop_assert!(file.snapshot_minutes.is_finite() && file.snapshot_minutes > 0.0);
            }
            Err(e) => prop_assert!(e.to_string().starts_with("edited.toml"), "{e}"),
        }
    }
}

/// Exhaustively, not by sampling: every `key = value` of the example set to
/// NaN or an infinity is refused, naming the key.
#[test]
fn no_key_of_the_example_config_takes_a_nan_or_an_infinity() {
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    let mut accepted = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with('#') || !line.contains(" = ") {
            continue;
        }
        let (key, value) = line.split_once(" = ").unwrap();
        let value = value.split('#').next().unwrap().trim();
        // A whole value replaced, and each element of an array of numbers.
        let mut edits: Vec<String> = ["nan", "inf", "-inf"]
            .iter()
            .map(|b| b.to_string())
            .collect();
        if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let items: Vec<&str> = inner.split(',').map(str::trim).collect();
            if items.iter().all(|x| x.parse::<f64>().is_ok()) {
                for i in 0..items.len() {
                    for bad in ["nan", "inf"] {
                        let mut v: Vec<&str> = items.clone();
                        v[i] = bad;
                        edits.push(format!("[{}]", v.join(", ")));
                    }
                }
            }
        }
        for bad in edits {
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            out[at] = format!("{key} = {bad}");
            match ServiceFile::parse(&out.join("\n"), "edited.toml") {
                Ok(_) => accepted.push(format!("line {}: {key} = {bad}", at + 1)),
                Err(e) => assert!(e.to_string().starts_with("edited.toml"), "{e}"),
            }
        }
    }
    assert!(accepted.is_empty(), "accepted:\n{}", accepted.join("\n"));
}
