//! The guide cannot show a command that does not exist: every `sandbar`
//! command in the README's and `docs/`'s shell blocks is read with the
//! command line's own parser.
//!
//! A concrete command (no `<placeholder>`, `[optional]`, `a|b` or `…`)
//! must parse as it stands. A synopsis line must name subcommands that
//! exist, and every `--flag` it shows must be a flag of that command (or of
//! one of its subcommands, for lines that summarise a family).

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use sandbar::cli::Cli;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The pages whose commands are checked: the README and every `docs/*.md`.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// `(page:line, command)` for each `sandbar` command in a page's shell
/// blocks (fences with no language, `sh` or `bash`), continuation lines
/// joined, trailing comments dropped; `a && b` is two commands.
fn commands(page: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(page).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut shell = None::<bool>;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(lang) = line.strip_prefix("```") {
            shell = match shell {
                Some(_) => None,
                None => Some(matches!(lang.trim(), "" | "sh" | "bash")),
            };
            i += 1;
            continue;
        }
        let at = format!("{}:{}", page.display(), i + 1);
        let mut joined = line.trim().to_string();
        while joined.ends_with('\\') && i + 1 < lines.len() {
            joined.pop();
            i += 1;
            joined.push(' ');
            joined.push_str(lines[i].trim());
        }
        i += 1;
        if shell != Some(true) {
            continue;
        }
        let code = match joined.find(" #") {
            Some(c) => &joined[..c],
            None => &joined,
        };
        for part in code.split("&&") {
            let part = part.trim();
            let rest = part
                .strip_prefix("cargo run -p sandbar -- ")
                .or_else(|| part.strip_prefix("sandbar "));
            if let Some(rest) = rest {
                out.push((at.clone(), rest.to_string()));
            }
        }
    }
    out
}

/// Words as a shell would split them (double and single quotes only).
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

fn synopsis(command: &str) -> bool {
    ['<', '[', '|', '…', '(']
        .iter()
        .any(|c| command.contains(*c))
        || command.contains("...")
}

/// Every long flag of `cmd` and of its subcommands, and the global ones.
fn flags(cmd: &clap::Command, out: &mut Vec<String>) {
    out.extend(
        cmd.get_arguments()
            .filter_map(|a| a.get_long().map(String::from)),
    );
    for sub in cmd.get_subcommands() {
        flags(sub, out);
    }
}

/// The problem with a synopsis line, if any.
fn check_synopsis(command: &str) -> Option<String> {
    let root = Cli::command();
    let mut cmd = &root;
    for word in command.split_whitespace() {
        if word.starts_with(['-', '<', '[', '(', '.', '|', '…']) {
            break;
        }
        if cmd.get_subcommands().next().is_none() {
            break; // a leaf: the rest are its values
        }
        // `pause|resume|flatten`: each must be a subcommand; go on with the first.
        let names: Vec<&str> = word.split('|').collect();
        let found: Vec<&clap::Command> = names
            .iter()
            .filter_map(|n| cmd.find_subcommand(n))
            .collect();
        if found.len() != names.len() {
            return Some(format!(
                "`{word}` is not a subcommand of `{}` (it has: {})",
                cmd.get_name(),
                cmd.get_subcommands()
                    .map(|s| s.get_name().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        cmd = found[0];
    }
    let mut known = Vec::new();
    flags(cmd, &mut known);
    flags(&root, &mut known);
    for w in command.split(|c: char| c.is_whitespace() || "[]()|=".contains(c)) {
        if let Some(flag) = w.strip_prefix("--") {
            let flag = flag.trim_end_matches([',', '.', ';', ':']);
            if !flag.is_empty() && !known.iter().any(|k| k == flag) {
                return Some(format!("`--{flag}` is not a flag of `{}`", cmd.get_name()));
            }
        }
    }
    None
}

#[test]
fn every_command_the_guide_shows_is_one_the_parser_accepts() {
    let mut checked = 0;
    let mut concrete = 0;
    let mut problems = Vec::new();
    for page in pages() {
        for (at, command) in commands(&page) {
            checked += 1;
            if synopsis(&command) {
                if let Some(p) = check_synopsis(&command) {
                    problems.push(format!("{at}: `sandbar {command}`: {p}"));
                }
            } else {
                concrete += 1;
                let argv = std::iter::once("sandbar".to_string()).chain(words(&command));
                if let Err(e) = Cli::try_parse_from(argv) {
                    problems.push(format!("{at}: `sandbar {command}`: {}", e.kind()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The README's quick start alone shows five concrete commands.
    assert!(
        concrete >= 5 && checked >= 30,
        "{concrete} concrete of {checked}"
    );
}

#[test]
fn the_checker_refuses_what_does_not_exist() {
    assert!(check_synopsis("replay --plugin <f> [--no-such-flag]").is_some());
    assert!(check_synopsis("deploy frobnicate <name>").is_some());
    assert!(check_synopsis("deploy pause|frobnicate <name> --reason R").is_some());
    assert!(check_synopsis("deploy pause|resume <name> --reason R").is_none());
    let argv = ["sandbar", "replay", "--no-such-flag"];
    assert!(Cli::try_parse_from(argv).is_err());
}

#[test]
fn the_readme_is_short_and_points_into_the_guide() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.lines().count() < 300,
        "{} lines",
        readme.lines().count()
    );
    for link in readme.split("](").skip(1) {
        let target = link.split(')').next().unwrap();
        if target.starts_with("http") || target.starts_with('#') {
            continue;
        }
        assert!(
            root().join(target).exists(),
            "README links to {target}, which does not exist"
        );
    }
}
