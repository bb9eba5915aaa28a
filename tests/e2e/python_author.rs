//! The Python author's loop (issue 27): `sandbar new --lang python` makes a
//! project whose tests pass natively, `sandbar build` packages it with the
//! SDK the binary carries (or says what is missing, leaving no file), and
//! the component replays.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::util::*;

/// `sandbar new <dir>/<name> --lang python --template <template>`.
fn new_project(dir: &Path, name: &str, template: &str) -> PathBuf {
    let project = dir.join(name);
    ok(&sandbar([
        "new".as_ref(),
        project.as_os_str(),
        "--lang".as_ref(),
        "python".as_ref(),
        "--template".as_ref(),
        template.as_ref(),
    ]));
    project
}

/// The project's tests, natively (pytest runs the same functions); what
/// they printed.
#[track_caller]
fn native_tests(project: &Path) -> String {
    let tests = std::process::Command::new("python3")
        .arg("test_strategy.py")
        .current_dir(project)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&tests.stdout).to_string();
    assert!(
        tests.status.success() && said.contains("ok test_"),
        "{said}{}",
        String::from_utf8_lossy(&tests.stderr)
    );
    said
}

/// `sandbar build <project>` with the given componentize-py.
fn build(project: &Path, tool: &Path) -> Output {
    std::process::Command::new(SANDBAR)
        .arg("build")
        .arg(project)
        .env("SANDBAR_COMPONENTIZE_PY", tool)
        .output()
        .unwrap()
}

fn replay(wasm: &Path, extra: &[&std::ffi::OsStr]) -> Output {
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "replay".as_ref(),
        "--plugin".as_ref(),
        wasm.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
    ];
    args.extend_from_slice(extra);
    let out = sandbar(&args);
    ok(&out);
    out
}

#[test]
fn sandbar_new_lang_python_makes_a_project_whose_tests_pass_and_which_builds_and_replays() {
    let dir = scratch();
    let project = new_project(dir.path(), "my-strat", "sma-cross");
    assert_eq!(native_tests(&project).matches("ok test_").count(), 3);
    // The author's loop: build, then replay the component it printed.
    let built = build(&project, &plugins::python::componentize_py());
    ok(&built);
    let wasm = project.join("target/python/my_strat.wasm");
    assert!(
        stdout(&built).contains(&format!("built {}", wasm.display())),
        "{}",
        stdout(&built)
    );
    let run = stdout(&replay(&wasm, &[]));
    assert!(
        run.starts_with("my-strat@0.1.0 on goog-daily-2004-2013"),
        "{run}"
    );
    assert!(run.contains("Orders / refusals      65 / 0"), "{run}");
}

#[test]
fn a_build_without_componentize_py_names_the_package_and_leaves_no_file() {
    let dir = scratch();
    let project = new_project(dir.path(), "p", "sma-cross");
    let out = build(&project, &dir.path().join("no-such-tool"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("pip install componentize-py==0.25.1"),
        "{}",
        stderr(&out)
    );
    let made: Vec<_> = std::fs::read_dir(project.join("target/python"))
        .unwrap()
        .flatten()
        .collect();
    assert!(made.is_empty(), "nothing half made: {made:?}");
}

#[test]
fn the_binary_carries_every_file_of_the_python_sdk() {
    let carried = include_str!("../../host/src/cli/python.rs");
    let sdk = Path::new(plugins::REPO).join("guest-sdk/python/sandbar");
    for f in std::fs::read_dir(sdk).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.ends_with(".py") {
            assert!(
                carried.contains(&format!("sdk_file!(\"{name}\")")),
                "{name} is not carried by sandbar build"
            );
        }
    }
}

#[test]
fn the_python_trailing_breakout_template_tests_its_trailing_stop_and_trails_in_a_replay() {
    let dir = scratch();
    let project = new_project(dir.path(), "trail-x", "trailing-breakout");
    assert!(
        native_tests(&project).contains("ok test_breaks_out_trails_its_stop_up_and_exits_on_it")
    );
    ok(&build(&project, &plugins::python::componentize_py()));
    let journal = dir.path().join("j.redb");
    replay(
        &project.join("target/python/trail_x.wasm"),
        &["--journal".as_ref(), journal.as_os_str()],
    );
    let entries = journal_entries(&journal);
    let trails = of_kind(&entries, "amend")
        .iter()
        .filter(|a| a["change"].get("trailing-stop").is_some())
        .count();
    assert!(trails > 3, "the stop was made to trail {trails} times");
    let stopped = entries
        .iter()
        .filter_map(|e| e.get("fill"))
        .filter(|f| f["fill"]["origin"] == "stop-loss")
        .count();
    assert!(stopped > 3, "{stopped} exits on the (trailed) stop");
}

#[test]
fn every_python_template_passes_its_own_tests_natively() {
    for template in ["sma-cross", "trailing-breakout", "empty"] {
        let dir = scratch();
        native_tests(&new_project(dir.path(), "t-x", template));
    }
}
