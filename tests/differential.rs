//! Differential tests: every fixture program, run as it is and as its FaaSified copy
//! (in-process transport), must print the same stdout, the same stderr (tracebacks
//! compared by their final `Type: message` line) and exit with the same status — in
//! both call modes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::{CompileOptions, package, parse};

#[derive(Debug, PartialEq, Eq)]
struct Run {
    stdout: String,
    stderr: String,
    status: Option<i32>,
}

fn run_python(python: &Path, dir: &Path, script: &str, stdin: Option<&Path>) -> Run {
    let stdin = match stdin {
        Some(path) => Stdio::from(std::fs::File::open(path).expect("stdin file opens")),
        None => Stdio::null(),
    };
    let mut child = Command::new(python)
        .arg(script)
        .current_dir(dir)
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .env_remove("LAMBADA_TRANSPORT")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait works").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("output collected");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: normalize_stderr(&String::from_utf8_lossy(&out.stderr)),
        status: out.status.code(),
    }
}

/// Compares stderr up to the first traceback, then only its last line: the final
/// `Type: message` (the frames point at other files in the FaaSified copy, and the
/// remote traceback is attached as a note that ends with that same line).
fn normalize_stderr(stderr: &str) -> String {
    match stderr.find("Traceback (most recent call last):") {
        None => stderr.to_owned(),
        Some(start) => {
            let last = stderr.trim_end().lines().last().unwrap_or_default();
            format!("{}{last}", &stderr[..start])
        }
    }
}

struct Fixture {
    name: String,
    file: PathBuf,
    stdin: Option<PathBuf>,
}

fn fixtures() -> Vec<Fixture> {
    let root = common::crate_root().join("fixtures");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&root)
        .expect("fixtures/ exists")
        .flatten()
    {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "py") {
            let stdin = root.join(format!("{name}.stdin"));
            found.push(Fixture {
                name,
                stdin: stdin.is_file().then_some(stdin),
                file: path,
            });
        } else if path.join("main.py").is_file() {
            let stdin = path.join("stdin.txt");
            found.push(Fixture {
                name,
                stdin: stdin.is_file().then_some(stdin),
                file: path.join("main.py"),
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Fixtures whose syntax needs Python 3.12 or later.
fn needs_modern_python(fixture: &Fixture) -> bool {
    fixture.name.starts_with("syntax_") && fixture.name != "syntax_walrus"
}

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

fn python_is_modern(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)",
        ])
        .status()
        .is_ok_and(|s| s.success())
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
