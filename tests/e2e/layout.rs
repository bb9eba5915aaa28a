//! The house stays one a newcomer can find their way in (issue 22): no file
//! under `host/src` over 800 lines, no function over 150 (unit tests
//! aside), and no top-level module reaching into one above it in the
//! documented layers (docs/architecture.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top-level modules, lowest layer first; a module may use its own
/// layer and those before it.
const LAYERS: &[&[&str]] = &[
    &["digest", "net", "risk", "lifecycle", "statistic", "session"],
    &["data"],
    &["execution"],
    &["portfolio"],
    &["sandbox"],
    &["store"],
    &["engine"],
    &["report"],
    &["research"],
    &["adapters"],
    &["service"],
    &["cli"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    all.sort();
    all.into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The top-level module a file belongs to (`None`: the crate root, main).
fn top(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Functions longer than `max` lines: (file:line, name, lines). A function
/// is a line whose code starts with `fn` (after visibility and qualifiers)
/// and runs to its matching brace.
fn long_functions(path: &Path, text: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let is_fn = [
            "pub ",
            "pub(crate) ",
            "pub(super) ",
            "async ",
            "const ",
            "unsafe ",
        ]
        .iter()
        .fold(t, |t, p| t.strip_prefix(p).unwrap_or(t))
        .starts_with("fn ");
        if !is_fn || t.starts_with("//") {
            i += 1;
            continue;
        }
        let (mut depth, mut started, mut j) = (0i64, false, i);
        while j < lines.len() {
            let code = lines[j].split("//").next().unwrap_or("");
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        started = true
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (started && depth <= 0) || (!started && code.trim_end().ends_with(';')) {
                break;
            }
            j += 1;
        }
        let n = j - i + 1;
        if started && n > max {
            out.push((format!("{}:{}", path.display(), i + 1), n));
        }
        i = j.max(i) + 1;
    }
    out
}

#[test]
fn no_file_over_800_lines_and_no_function_over_150() {
    let mut big = Vec::new();
    let mut long = Vec::new();
    for (path, text) in sources() {
        let n = text.lines().count();
        if n > 800 {
            big.push(format!("{} ({n} lines)", path.display()));
        }
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        long.extend(long_functions(&path, code, 150));
    }
    assert!(big.is_empty(), "files over 800 lines: {big:#?}");
    assert!(long.is_empty(), "functions over 150 lines: {long:#?}");
}

#[test]
fn no_module_uses_one_above_it() {
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = 0;
    for (path, text) in sources() {
        let Some(from) = top(&path) else { continue };
        let own = layer(&from).unwrap_or_else(|| {
            panic!("`{from}` is in no layer: add it to LAYERS and docs/architecture.md")
        });
        // Unit tests may reach anywhere.
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for (i, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            for used in line.split("crate::").skip(1) {
                let name: String = used
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                seen += 1;
                if let Some(l) = layer(&name)
                    && l > own
                {
                    wrong
                        .entry(format!("{from} -> {name}"))
                        .or_default()
                        .push(format!("{}:{}", path.display(), i + 1));
                }
            }
        }
    }
    assert!(seen > 300, "only {seen} crate:: paths read");
    assert!(wrong.is_empty(), "a module uses one above it: {wrong:#?}");
}

#[test]
fn the_checks_see_what_they_should() {
    // A long function and an upward import are found where they exist.
    let text = format!("pub fn long() {{\n{}}}\n", "    x();\n".repeat(160));
    assert_eq!(long_functions(Path::new("x.rs"), &text, 150).len(), 1);
    assert!(long_functions(Path::new("x.rs"), "fn short() {}\n", 150).is_empty());
    assert!(layer("service") > layer("engine") && layer("digest") == Some(0));
}
