//! Profile-guided planning (issue 9, dynamic analysis and the cost model):
//! - the planner's decisions for each program under `fixtures/profile/` with the
//!   profile checked in beside it, as insta snapshots of the analysis report;
//! - `lambada profile` counting calls exactly, on the sys.setprofile path (before 3.12)
//!   and the sys.monitoring path (3.12+), with the program's streams and exit status;
//! - profile-guided programs giving the original's output, in-process and over HTTP.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use predicates::prelude::*;

use lambada::plan::cost::Guide;
use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::profile::{self, Profile};
use lambada::{CompileOptions, package, parse};

fn lambada() -> Command {
    let mut cmd = Command::cargo_bin("lambada").unwrap();
    cmd.env_remove("NO_COLOR");
    cmd
}

/// Each program of `fixtures/profile/` with its checked-in profile, by name.
fn profile_fixtures() -> Vec<(String, PathBuf, PathBuf)> {
    let dir = common::crate_root().join("fixtures/profile");
    let mut found: Vec<(String, PathBuf, PathBuf)> = std::fs::read_dir(&dir)
        .expect("fixtures/profile/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let profile = dir.join(format!("{name}.profile.json"));
            assert!(profile.is_file(), "{} has no profile", p.display());
            (name, p, profile)
        })
        .collect();
    found.sort();
    assert!(found.len() >= 5, "only {} profile fixtures", found.len());
    found
}

fn compile_guided(program: &Path, profile_file: &Path) -> lambada::Compiled {
    let relative = program
        .strip_prefix(common::crate_root())
        .unwrap_or(program);
    let source = parse::read(relative).expect("fixture reads");
    let options = CompileOptions {
        plan: PlanOptions {
            annotations: false,
            remote_calls: RemoteCalls::Driver,
            ..PlanOptions::default()
        },
        prefix: String::new(),
        local_modules: true,
        fanout: lambada::package::DEFAULT_FANOUT,
        exclude: Default::default(),
        guide: Some(Guide::new(
            profile::load(profile_file).expect("profile loads"),
        )),
        provider: lambada::providers::ProviderKind::Aws,
    };
    lambada::compile(source, &options).expect("fixture compiles")
}

#[test]
fn planner_decisions_with_each_fixtures_profile() {
    std::env::set_current_dir(common::crate_root()).unwrap();
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (name, program, profile_file) in profile_fixtures() {
            let compiled = compile_guided(&program, &profile_file);
            insta::assert_snapshot!(
                format!("profile__{name}__analysis"),
                compiled.report.to_text()
            );
        }
    });
}

#[test]
fn the_json_report_carries_the_figures_behind_each_decision() {
    std::env::set_current_dir(common::crate_root()).unwrap();
    let dir = common::crate_root().join("fixtures/profile");
    let compiled = compile_guided(
        &dir.join("hot_vector.py"),
        &dir.join("hot_vector.profile.json"),
    );
    let json = serde_json::to_value(&compiled.report).unwrap();
    let units = json["units"].as_array().unwrap();
    let vec = units.iter().find(|u| u["name"] == "Vec").unwrap();
    assert_eq!(vec["moved"], false);
    assert_eq!(vec["profile"]["calls"], 4003);
    assert_eq!(vec["profile"]["factor"], 10.0);
    assert!(
        vec["reason"]
            .as_str()
            .unwrap()
            .starts_with("4,003 calls averaging")
    );
    let energy = units.iter().find(|u| u["name"] == "energy").unwrap();
    assert_eq!(energy["moved"], true);
    assert!(
        energy["profile"]["verdict"]
            .as_str()
            .unwrap()
            .starts_with("moves: 2 calls averaging")
    );
    // Without a profile nothing changes: no figures at all.
    let plain = lambada::compile(
        parse::read(Path::new("fixtures/profile/hot_vector.py")).unwrap(),
        &CompileOptions {
            plan: PlanOptions {
                annotations: false,
                remote_calls: RemoteCalls::Driver,
                ..PlanOptions::default()
            },
            prefix: String::new(),
            local_modules: true,
            guide: None,
            provider: lambada::providers::ProviderKind::Aws,
            fanout: lambada::package::DEFAULT_FANOUT,
            exclude: Default::default(),
        },
    )
    .unwrap();
    let plain = serde_json::to_value(&plain.report).unwrap();
    assert!(
        plain["units"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u.get("profile").is_none() && u["moved"] == true)
    );
}

/// A program whose calls are known exactly.
const COUNTED: &str = r#"import sys


class Point:
    def __init__(self, x):
        self.x = x

    def moved(self, d):
        return Point(self.x + d)

    def double(self):
        return self.moved(self.x)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fails():
    raise ValueError("no")


def main():
    p = Point(1)
    for _ in range(10):
        p = p.moved(1)
    p = p.double()
    try:
        fails()
    except ValueError:
        pass
    return fib(10) + p.x


line = sys.stdin.readline().strip()
print(line, main(), sys.argv[1:])
sys.exit(4)
"#;

fn check_counted(profile: &Profile, mechanism: &str) {
    assert_eq!(profile.mechanism, mechanism);
    assert_eq!(profile.exit_code, 4);
    let point = &profile.units["Point"];
    assert_eq!(point.kind, "class");
    // Point(1), ten p.moved(1), p.double(): the objects built inside methods and the
    // call from double to moved stay inside the class.
    assert_eq!(point.calls, 12);
    let frames_and_calls = |m: &str| (point.methods[m].frames, point.methods[m].calls);
    assert_eq!(frames_and_calls("__init__"), (12, 1));
    assert_eq!(frames_and_calls("moved"), (11, 10));
    assert_eq!(frames_and_calls("double"), (1, 1));
    let double = &point.methods["double"];
    assert!(double.inclusive_ns >= double.self_ns);
    assert_eq!(point.frames, 24);
    let fib = &profile.units["fib"];
    assert_eq!((fib.calls, fib.frames), (1, 177));
    assert_eq!(profile.units["fails"].calls, 1);
    assert_eq!(profile.units["main"].calls, 1);
    assert!(fib.inclusive_ns >= fib.self_ns && fib.self_ns > 0);
    let main = &profile.units["main"];
    assert!(
        main.inclusive_ns > main.self_ns,
        "main's callees are not its own time"
    );
    assert_eq!(fib.arg_bytes.samples, 1);
    assert!(fib.result_bytes.mean > 0);
    let edges: Vec<(&str, &str, u64)> = profile
        .edges
        .iter()
        .map(|e| (e.caller.as_str(), e.callee.as_str(), e.calls))
        .collect();
    assert_eq!(
        edges,
        [
            ("<module>", "main", 1),
            ("main", "Point", 12),
            ("main", "fails", 1),
            ("main", "fib", 1),
        ]
    );
}

fn interpreters() -> Vec<(PathBuf, &'static str)> {
    let minor = |python: &Path| {
        StdCommand::new(python)
            .args(["-c", "import sys; print(sys.version_info[1])"])
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u32>()
                    .ok()
            })
    };
    let pythons = common::pythons();
    let old = pythons.iter().find(|p| minor(p).is_some_and(|m| m < 12));
    let new = pythons.iter().find(|p| minor(p).is_some_and(|m| m >= 12));
    old.map(|p| (p.clone(), "sys.setprofile"))
        .into_iter()
        .chain(new.map(|p| (p.clone(), "sys.monitoring")))
        .collect()
}

#[test]
fn profile_counts_calls_on_the_setprofile_and_monitoring_paths() {
    let found = interpreters();
    assert!(!found.is_empty(), "no Python 3.9+ found");
    for (python, mechanism) in found {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("counted.py");
        std::fs::write(&program, COUNTED).unwrap();
        lambada()
            .current_dir(dir.path())
            .args(["profile", "-q", "--python"])
            .arg(&python)
            .args(["counted.py", "--", "a", "b"])
            .write_stdin("hello\n")
            .assert()
            .code(4)
            .stdout("hello 77 ['a', 'b']\n");
        let written = dir.path().join("lambada-out/counted.profile.json");
        let profile = profile::load(&written).expect("a well-formed profile");
        check_counted(&profile, mechanism);
        // Written atomically: nothing else is left beside it.
        let entries: Vec<_> = std::fs::read_dir(dir.path().join("lambada-out"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
    }
}

#[test]
fn bad_input_to_profile_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["profile", "missing.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.py: error: no such file"));
    std::fs::write(dir.path().join("bad.py"), "def f(:\n").unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["profile", "bad.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.py:1"));
    std::fs::write(dir.path().join("ok.py"), "print(1)\n").unwrap();
    std::fs::write(dir.path().join("p.json"), "{\"version\": 1}").unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["--local", "--profile", "p.json", "ok.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "p.json: error: not a lambada profile",
        ));
    lambada()
        .current_dir(dir.path())
        .args(["--local", "--profile", "none.json", "ok.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("make one with `lambada profile"));
    assert!(!dir.path().join("lambada-out").exists());
}

#[test]
fn profile_guided_programs_print_what_the_originals_print() {
    std::env::set_current_dir(common::crate_root()).unwrap();
    let python = PathBuf::from("python3");
    let out = tempfile::tempdir().unwrap();
    for (name, program, profile_file) in profile_fixtures() {
        let compiled = compile_guided(&program, &profile_file);
        let dir = package::write(&compiled.output, out.path()).unwrap();
        let script = format!("{name}.py");
        let original = common::run_python(&python, program.parent().unwrap(), &script, None);
        let faasified = common::run_python(&python, &dir, &script, None);
        assert_eq!(original, faasified, "{name}: in-process");
        // Over HTTP, on the embedded host, with the same profile.
        let run = lambada()
            .args(["run", "-q"])
            .arg(format!("--profile={}", profile_file.display()))
            .arg(&program)
            .env("PYTHONHASHSEED", "0")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            original.stdout,
            "{name}: lambada run\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(run.status.code(), original.status, "{name}: lambada run");
    }
}

#[test]
fn run_profile_profiles_first_and_gives_the_program_its_input_once_more() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("echo.py"),
        "import sys\n\ndef shout(s):\n    return s.upper()\n\nfor line in sys.stdin:\n    print(shout(line.strip()))\n",
    )
    .unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["run", "--profile", "echo.py"])
        .write_stdin("a\nb\n")
        .assert()
        .success()
        .stdout("A\nB\n")
        .stderr(predicate::str::contains("profiled 1 unit ->"));
    let profile = profile::load(&dir.path().join("lambada-out/echo.profile.json")).unwrap();
    assert_eq!(profile.units["shout"].calls, 2);
    // -v shows the decision and its figures on stderr; stdout stays the program's.
    lambada()
        .current_dir(dir.path())
        .args(["run", "-v", "--profile", "echo.py"])
        .write_stdin("x\n")
        .assert()
        .success()
        .stdout("X\n")
        .stderr(predicate::str::contains(
            "shout (function, line 3): kept local: 2 calls averaging",
        ))
        .stderr(predicate::str::contains("cost model:      kept local"));
    // The same source: the profile is reused and the program runs once.
    lambada()
        .current_dir(dir.path())
        .args(["run", "--profile", "echo.py"])
        .write_stdin("c\n")
        .assert()
        .success()
        .stdout("C\n")
        .stderr(predicate::str::contains("made from this source"));
    // A changed source is profiled again.
    std::fs::write(
        dir.path().join("echo.py"),
        "import sys\n\ndef shout(s):\n    return s.upper() + '!'\n\nfor line in sys.stdin:\n    print(shout(line.strip()))\n",
    )
    .unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["run", "--profile", "echo.py"])
        .write_stdin("d\n")
        .assert()
        .success()
        .stdout("D!\n")
        .stderr(predicate::str::contains("profiled 1 unit ->"));
}

#[test]
fn a_program_holding_the_profiler_monitoring_id_still_runs_and_is_profiled() {
    let Some((python, _)) = interpreters()
        .into_iter()
        .find(|(_, mechanism)| *mechanism == "sys.monitoring")
    else {
        eprintln!("no Python 3.12+ installed: sys.monitoring not exercised");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("own.py"),
        "import sys\nsys.monitoring.use_tool_id(sys.monitoring.PROFILER_ID, 'mine')\n\ndef f(x):\n    return x + 1\n\nprint(f(1))\n",
    )
    .unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["profile", "-q", "--python"])
        .arg(&python)
        .arg("own.py")
        .assert()
        .success()
        .stdout("2\n");
    let profile = profile::load(&dir.path().join("lambada-out/own.profile.json")).unwrap();
    assert_eq!(profile.mechanism, "sys.monitoring");
    assert_eq!(profile.units["f"].calls, 1);
}
