//! Differential tests: every fixture program, run as it is and as its FaaSified copy
//! (in-process transport), must print the same stdout, the same stderr (tracebacks
//! compared by their final `Type: message` line) and exit with the same status — in
//! both call modes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::{Fixture, fixtures, needs_modern_python, python_is_modern, run_python};

use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::{CompileOptions, package, parse};

fn compare(
    fixture: &Fixture,
    remote_calls: RemoteCalls,
    python: &Path,
    out_root: &Path,
) -> Result<(), String> {
    let source = parse::read(&fixture.file).map_err(|e| e.to_string())?;
    let options = CompileOptions {
        plan: PlanOptions {
            annotations: false,
            remote_calls,
        },
        prefix: String::new(),
        local_modules: true,
        fanout: lambada::package::DEFAULT_FANOUT,
        guide: None,
        provider: lambada::providers::ProviderKind::Aws,
    };
    let compiled = lambada::compile(source, &options).map_err(|e| e.to_string())?;
    let out_dir = package::write(&compiled.output, out_root).map_err(|e| e.to_string())?;
    let script = fixture
        .file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let original = run_python(
        python,
        fixture.file.parent().unwrap(),
        &script,
        fixture.stdin.as_deref(),
    );
    let faasified = run_python(python, &out_dir, &script, fixture.stdin.as_deref());
    if original == faasified {
        return Ok(());
    }
    let mut why = String::new();
    if original.status != faasified.status {
        why += &format!(
            "exit status {:?} != {:?}\n",
            original.status, faasified.status
        );
    }
    if original.stdout != faasified.stdout {
        why += &lambada::diff::unified(
            "original stdout",
            "faasified stdout",
            &original.stdout,
            &faasified.stdout,
        );
    }
    if original.stderr != faasified.stderr {
        why += &lambada::diff::unified(
            "original stderr",
            "faasified stderr",
            &original.stderr,
            &faasified.stderr,
        );
    }
    Err(why)
}

fn check_all(remote_calls: RemoteCalls) {
    // The syntax fixtures need 3.12+ (PEP 695, PEP 701): run them on one if there is one.
    let modern = common::pythons().into_iter().find(|p| python_is_modern(p));
    check_all_on(remote_calls, &PathBuf::from("python3"), modern.as_deref());
}

fn check_all_on(remote_calls: RemoteCalls, python: &Path, modern: Option<&Path>) {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 40, "only {} fixtures", fixtures.len());
    let out_root = tempfile::tempdir().unwrap();
    let failures = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut next = next.lock().unwrap();
                        *next += 1;
                        *next - 1
                    };
                    let Some(fixture) = fixtures.get(index) else {
                        break;
                    };
                    let python = match (needs_modern_python(fixture), modern) {
                        (false, _) => python,
                        (true, Some(modern)) => modern,
                        (true, None) => continue,
                    };
                    let out = out_root.path().join(format!("{index}"));
                    if let Err(why) = compare(fixture, remote_calls, python, &out) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("== {}\n{why}", fixture.name));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures behave differently when FaaSified (--remote-calls {remote_calls:?}, {}):\n{}",
        failures.len(),
        fixtures.len(),
        python.display(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_behaves_the_same_when_faasified() {
    check_all(RemoteCalls::Driver);
}

#[test]
fn every_fixture_behaves_the_same_with_every_call_remote() {
    check_all(RemoteCalls::All);
}

/// The FaaSified copies run on every Python from 3.9 to 3.13 installed here (the
/// generated code and the runtime module promise 3.9+).
#[test]
fn every_fixture_behaves_the_same_on_every_installed_python() {
    let version = |python: &Path| {
        Command::new(python)
            .args(["-c", "import sys; print(sys.version)"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let default = version(Path::new("python3"));
    // python3 itself ran in the other tests.
    let pythons: Vec<PathBuf> = common::pythons()
        .into_iter()
        .skip(1)
        .filter(|p| version(p) != default)
        .collect();
    if pythons.is_empty() {
        eprintln!("no other Python 3.9-3.13 installed: covered by python3 alone");
        return;
    }
    for python in &pythons {
        let modern = python_is_modern(python).then_some(python.as_path());
        check_all_on(RemoteCalls::Driver, python, modern);
    }
}

/// The runtime prints the remote traceback after the local one; the comparison keeps
/// only what precedes the first traceback and the local traceback's last line.
#[test]
fn stderr_comparison_drops_the_remote_traceback_block() {
    let original = "warming up\nTraceback (most recent call last):\n  File \"app.py\", line 3, in <module>\nValueError: negative\n";
    let faasified = "warming up\nTraceback (most recent call last):\n  File \"app/app.py\", line 5, in <module>\n  File \"lambada_runtime/caller.py\", line 40, in invoke\nValueError: negative\nThe exception above was raised in cloud function check; its traceback there:\nTraceback (most recent call last):\n  File \"lambada_handler.py\", line 9, in check\nValueError: negative\n";
    assert_eq!(
        common::normalize_stderr(original),
        common::normalize_stderr(faasified)
    );
    assert_eq!(
        common::normalize_stderr(faasified),
        "warming up\nValueError: negative"
    );
    // A local traceback that ends differently is not rescued by the remote block.
    let different = faasified.replacen("ValueError: negative\nThe", "TypeError: other\nThe", 1);
    assert_ne!(
        common::normalize_stderr(original),
        common::normalize_stderr(&different)
    );
    // Without a traceback, stderr is compared as it is.
    assert_eq!(common::normalize_stderr("just text\n"), "just text\n");
}
