//! The providers other than AWS (gcf, azure, fission): their generated entry points run
//! under each platform's local runner (`lambada::providers::local`, the one `lambada
//! run --provider` starts: Google's functions-framework, azure-functions' HttpRequest
//! objects, a Flask server following Fission's environment contract), one runner per
//! provider for the whole test, and the rewritten programs of a representative subset
//! of the differential fixtures run against them through the provider's transport.
//! Also: the error shape of each platform's answers, Azure's functions called with
//! `azure.functions.HttpRequest` objects directly, `lambada run --provider`, `--diff`
//! showing a provider's handler, and the printed deploy commands.
//!
//! `LAMBADA_PROVIDERS_FULL=1` (or `LAMBADA_PROVIDERS_ALL=1`) runs every fixture instead
//! of the subset, `LAMBADA_PROVIDERS_ONLY=name,name` the ones named:
//! `LAMBADA_PROVIDERS_FULL=1 cargo test --test providers behave_the_same -- --nocapture`
//! prints `PROVIDER: n of N fixtures behave the same` per provider. The fixtures that
//! need Python 3.12 run too when `LAMBADA_PROVIDERS_MODERN_VENV` names a 3.12+ venv
//! with the platforms' packages.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::{Fixture, crate_root, fixtures, needs_modern_python, run_python};

use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::providers::local::{self, LocalRunner};
use lambada::providers::{self, ProviderKind};
use lambada::{CompileOptions, package, parse};

/// The differential fixtures run against every provider (each function is a process of
/// its own, so the subset is small): calls between functions, exceptions crossing,
/// globals written back, recursion, a class with state, and a function parsing
/// sys.argv (the platform server's own options must not reach it).
const SUBSET: &[&str] = &[
    "calls_between_functions",
    "exceptions_hierarchy",
    "fib_counter",
    "globals_write",
    "local_sys_argv",
    "stateful_class",
];

/// The test venv's Python (tests/run makes it), which has the platforms' packages.
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("LAMBADA_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_root().join("target/test-venv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run tests/run, which installs tests/requirements.txt",
        python.display()
    );
    python
}

/// The provider's local runner on 127.0.0.1 (the one `lambada run --provider` starts),
/// with the test venv's Python; it stops with every function's process when dropped.
fn start_runner(provider: ProviderKind, scratch: &Path) -> LocalRunner {
    LocalRunner::start(&venv_python().to_string_lossy(), provider, scratch, None)
        .expect("the local runner starts")
}

/// A POST to the runner: (status, JSON body, or null).
fn post(endpoint: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let (status, body) = local::post(endpoint, path, body).expect("the runner answers");
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn compile_for(
    provider: ProviderKind,
    file: &Path,
    prefix: &str,
    out_root: &Path,
) -> Result<(lambada::Compiled, PathBuf), String> {
    let source = parse::read(file).map_err(|e| e.to_string())?;
    let options = CompileOptions {
        plan: PlanOptions {
            annotations: false,
            remote_calls: RemoteCalls::Driver,
            ..PlanOptions::default()
        },
        prefix: prefix.to_owned(),
        local_modules: true,
        fanout: package::DEFAULT_FANOUT,
        guide: None,
        exclude: Default::default(),
        provider,
    };
    let compiled = lambada::compile(source, &options).map_err(|e| e.to_string())?;
    let dir = package::write(&compiled.output, out_root).map_err(|e| e.to_string())?;
    Ok((compiled, dir))
}

/// Compiles `fixture` for `provider`, registers its functions with the runner, points
/// the program at it, and compares the program's behaviour with the original's.
fn compare(
    provider: ProviderKind,
    runner: &LocalRunner,
    python: &Path,
    fixture: &Fixture,
    index: usize,
    out_root: &Path,
) -> Result<(), String> {
    // The prefix keeps the names of different fixtures (`main-...`) apart.
    let (compiled, dir) = compile_for(provider, &fixture.file, &format!("f{index}-"), out_root)?;
    for (key, entry) in &compiled.output.manifest.functions {
        runner
            .register(&entry.function_name, &dir.join("functions").join(key))
            .map_err(|e| e.to_string())?;
    }
    providers::mark_deployed(
        &dir,
        providers::provider(provider).transport(),
        runner.endpoint(),
    )
    .map_err(|e| e.to_string())?;
    let script = fixture.file.file_name().unwrap().to_string_lossy();
    let original = run_python(
        python,
        fixture.file.parent().unwrap(),
        &script,
        fixture.stdin.as_deref(),
    );
    let faasified = run_python(python, &dir, &script, fixture.stdin.as_deref());
    for entry in compiled.output.manifest.functions.values() {
        runner
            .unregister(&entry.function_name)
            .map_err(|e| e.to_string())?;
    }
    if original == faasified {
        return Ok(());
    }
    Err(format!(
        "original:\n{original:#?}\nthrough {provider}:\n{faasified:#?}"
    ))
}

/// Runs the chosen fixtures against one runner of `provider` (the programs on
/// `python`), two at a time; returns what failed.
fn run_fixtures(
    provider: ProviderKind,
    runner: &LocalRunner,
    python: &Path,
    chosen: &[(usize, Fixture)],
    scratch: &Path,
) -> Vec<String> {
    let failures = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let item = {
                        let mut next = next.lock().unwrap();
                        *next += 1;
                        chosen.get(*next - 1)
                    };
                    let Some((index, fixture)) = item else { break };
                    let out = scratch.join(format!("{index}"));
                    if let Err(why) = compare(provider, runner, python, fixture, *index, &out) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("== {}\n{why}", fixture.name));
                    }
                }
            });
        }
    });
    failures.into_inner().unwrap()
}

/// Fixtures with their index among all of them (it names their output directory).
type Numbered = Vec<(usize, Fixture)>;

/// The differential fixtures through `provider`'s local runner (the subset, or all of
/// them with `LAMBADA_PROVIDERS_FULL`), then the platform's error shape. The fixtures
/// whose syntax needs Python 3.12 run in the full run only, and only when
/// `LAMBADA_PROVIDERS_MODERN_VENV` names a 3.12+ venv with the platforms' packages
/// (their programs and their runner on its Python).
fn differential(provider: ProviderKind) {
    // LAMBADA_PROVIDERS_ONLY=a,b: those fixtures only (as in the full run), e.g. to
    // measure fixtures added since the last full run.
    let only: Option<Vec<String>> = std::env::var("LAMBADA_PROVIDERS_ONLY")
        .ok()
        .map(|names| names.split(',').map(|n| n.trim().to_owned()).collect());
    let all = only.is_some()
        || ["LAMBADA_PROVIDERS_FULL", "LAMBADA_PROVIDERS_ALL"]
            .iter()
            .any(|name| std::env::var_os(name).is_some());
    let chosen = |f: &Fixture| match &only {
        Some(names) => names.contains(&f.name),
        None => all || SUBSET.contains(&f.name.as_str()),
    };
    let (classic, modern): (Numbered, Numbered) = fixtures()
        .into_iter()
        .enumerate()
        .filter(|(_, f)| chosen(f))
        .partition(|(_, f)| !needs_modern_python(f));
    if !all {
        assert_eq!(
            classic.len(),
            SUBSET.len(),
            "every fixture of the subset exists"
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    let runner = start_runner(provider, scratch.path());
    let mut failures = run_fixtures(
        provider,
        &runner,
        Path::new("python3"),
        &classic,
        scratch.path(),
    );
    let mut ran = classic.len();
    let modern_venv = std::env::var_os("LAMBADA_PROVIDERS_MODERN_VENV").map(PathBuf::from);
    if let (true, Some(venv)) = (all, modern_venv) {
        let python = venv.join("bin/python");
        let modern_scratch = scratch.path().join("modern");
        std::fs::create_dir_all(&modern_scratch).unwrap();
        let modern_runner =
            LocalRunner::start(&python.to_string_lossy(), provider, &modern_scratch, None)
                .expect("the local runner starts on the modern Python");
        failures.extend(run_fixtures(
            provider,
            &modern_runner,
            &python,
            &modern,
            &modern_scratch,
        ));
        ran += modern.len();
    }
    eprintln!(
        "{provider}: {} of {ran} fixtures behave the same",
        ran - failures.len(),
    );
    error_shape(provider, &runner, scratch.path());
    assert!(
        failures.is_empty(),
        "{} of {ran} fixtures behave differently through {provider}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The platform's answers to a request that is not JSON (400) and to one the handler
/// raises on (500), both `{"errorType", "errorMessage"}`; and a good one (200).
fn error_shape(provider: ProviderKind, runner: &LocalRunner, scratch: &Path) {
    let file = crate_root().join("fixtures/fib_counter.py");
    let (compiled, dir) = compile_for(provider, &file, "shape-", &scratch.join("shape")).unwrap();
    let name = &compiled.output.manifest.functions["fib"].function_name;
    runner.register(name, &dir.join("functions/fib")).unwrap();
    let path = format!("/{name}");
    let (status, body) = post(runner.endpoint(), &path, b"not json");
    assert_eq!(status, 400, "{provider}: {body}");
    assert_eq!(body["errorType"], "Lambada.InvalidRequest", "{provider}");
    let (status, body) = post(runner.endpoint(), &path, b"[1, 2]");
    assert_eq!(status, 500, "{provider}: {body}");
    assert_eq!(body["errorType"], "TypeError", "{provider}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("JSON object")),
        "{provider}: {body}"
    );
    let request = br#"{"args": [5], "kwargs": {}, "globals": {"counter": 0}}"#;
    let (status, body) = post(runner.endpoint(), &path, request);
    assert_eq!(status, 200, "{provider}: {body}");
    assert_eq!(body["ret"], 5, "{provider}: {body}");
}

#[test]
fn gcf_functions_under_functions_framework_behave_the_same() {
    differential(ProviderKind::Gcf);
}

#[test]
fn azure_functions_behind_http_requests_behave_the_same() {
    differential(ProviderKind::Azure);
}

#[test]
fn fission_functions_in_the_environment_server_behave_the_same() {
    differential(ProviderKind::Fission);
}

/// Azure's generated function, called with `azure.functions.HttpRequest` objects.
#[test]
fn azure_functions_answer_http_request_objects() {
    let scratch = tempfile::tempdir().unwrap();
    let file = crate_root().join("fixtures/exceptions_builtin.py");
    let (compiled, dir) = compile_for(ProviderKind::Azure, &file, "", scratch.path()).unwrap();
    let key = compiled
        .output
        .manifest
        .functions
        .keys()
        .next()
        .expect("a moved function")
        .clone();
    let harness = r#"
import json, sys
# Read before the import: a function behind an HTTP platform gets no command line
# (the generated module keeps only sys.argv[0]).
here, request = sys.argv[1:3]
sys.path.insert(0, here)
import azure.functions as func
import function_app
(function,) = function_app.app.get_functions()
trigger = function.get_trigger()
call = function.get_user_function()
def ask(body):
    r = call(func.HttpRequest("POST", "http://localhost/api/" + trigger.route, body=body))
    assert isinstance(r, func.HttpResponse), r
    return [r.status_code, r.mimetype, json.loads(r.get_body())]
print(json.dumps({
    "route": trigger.route,
    "methods": [getattr(m, "value", m) for m in trigger.methods],
    "auth": str(getattr(trigger.auth_level, "value", trigger.auth_level)),
    "bad_json": ask(b"{"),
    "not_object": ask(b"7"),
    "ok": ask(request.encode()),
}))
"#;
    let request = r#"{"args": ["1"], "kwargs": {}}"#;
    let out = Command::new(venv_python())
        .args(["-c", harness])
        .arg(dir.join("functions").join(&key))
        .arg(request)
        .current_dir(dir.join("functions").join(&key))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = &compiled.output.manifest.functions[&key].function_name;
    assert_eq!(answer["route"], name.as_str());
    assert_eq!(answer["methods"], serde_json::json!(["POST"]));
    assert_eq!(answer["auth"], "function");
    assert_eq!(answer["bad_json"][0], 400);
    assert_eq!(answer["bad_json"][1], "application/json");
    assert_eq!(answer["bad_json"][2]["errorType"], "Lambada.InvalidRequest");
    assert_eq!(answer["not_object"][0], 500);
    assert_eq!(answer["not_object"][2]["errorType"], "TypeError");
    // A call that reaches the function answers 200 with a lambada answer: its result,
    // or the exception it raised (an error of the program, not of the platform).
    assert_eq!(answer["ok"][0], 200, "{answer}");
    let ok = &answer["ok"][2];
    assert!(
        ok.get("ret").is_some() || ok.get("error").is_some(),
        "{answer}"
    );
    assert!(ok.get("stdout").is_some(), "{answer}");
}

/// `--diff` shows the provider's handler files whole, beside the driver's and the
/// handler modules' diffs.
#[test]
fn diff_shows_the_providers_handler() {
    for provider in ["gcf", "azure", "fission"] {
        let scratch = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_lambada"))
            .args(["--local", "--diff", "-q", "--provider", provider, "-o"])
            .arg(scratch.path())
            .arg("fixtures/fib_counter.py")
            .current_dir(crate_root())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let diff = String::from_utf8(out.stdout).unwrap();
        insta::assert_snapshot!(format!("diff_{provider}"), diff);
    }
}

/// Deployment prints the platform CLI's commands; `--deploy` runs them only when the
/// CLI is installed, and says so when it is not.
#[test]
fn deployment_prints_the_platform_commands() {
    for provider in ["gcf", "azure", "fission"] {
        let scratch = tempfile::tempdir().unwrap();
        let lambada = || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_lambada"));
            command
                .args([
                    "-q",
                    "--provider",
                    provider,
                    "--region",
                    "europe-west1",
                    "-o",
                ])
                .arg(scratch.path())
                .arg("fixtures/fib_counter.py")
                .current_dir(crate_root())
                .env("PATH", "/nonexistent");
            command
        };
        let out = lambada().output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8(out.stdout)
            .unwrap()
            .replace(&scratch.path().display().to_string(), "OUT");
        insta::assert_snapshot!(format!("deploy_{provider}"), printed);
        let out = lambada().arg("--deploy").output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is not installed"), "{stderr}");
    }
}

/// A program with a print inside a moved function, a global it writes, and exceptions
/// crossing back (one caught, one ending the program).
const RUN_PROGRAM: &str = r#"counter = 0


def bump(n):
    global counter
    counter += n
    print("bumping by", n)
    return counter * 2


def fail(x):
    raise ValueError("bad value %r" % x)


if __name__ == "__main__":
    print(bump(3), bump(4), counter)
    try:
        fail(7)
    except ValueError as e:
        print("caught", e)
    fail(8)
"#;

/// `lambada run --provider X` starts the platform's local runner with the venv's Python
/// (LAMBADA_PYTHON), serves every function there, and the program behaves as under
/// python3; afterwards nothing of the runner is left.
#[test]
fn lambada_run_serves_the_functions_with_the_providers_local_runner() {
    let scratch = tempfile::tempdir().unwrap();
    let program = scratch.path().join("app.py");
    std::fs::write(&program, RUN_PROGRAM).unwrap();
    let python = venv_python();
    let original = run_python(&python, scratch.path(), "app.py", None);
    assert_eq!(original.status, Some(1), "{original:?}");
    for provider in ["gcf", "azure", "fission"] {
        let out = scratch.path().join(format!("out-{provider}"));
        let run = Command::new(env!("CARGO_BIN_EXE_lambada"))
            .args(["run", "-q", "--provider", provider, "-o"])
            .arg(&out)
            .arg("app.py")
            .current_dir(scratch.path())
            .env("LAMBADA_PYTHON", &python)
            .env("PYTHONHASHSEED", "0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            original.stdout,
            "{provider}: {stderr}"
        );
        assert_eq!(run.status.code(), original.status, "{provider}: {stderr}");
        assert_eq!(
            common::normalize_stderr(&stderr),
            original.stderr,
            "{provider}"
        );
        // The functions really ran there: the manifest points at the runner.
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("app/lambada.json")).unwrap()).unwrap();
        assert_eq!(manifest["transport"], provider);
        let endpoint = manifest["endpoint"].as_str().unwrap();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{manifest}");
        // ...and the runner is gone with its functions' processes.
        let address = endpoint.trim_start_matches("http://");
        assert!(
            std::net::TcpStream::connect(address).is_err(),
            "{provider}: the runner still listens at {endpoint}"
        );
    }
}

/// Without the platform's packages, `lambada run --provider X` says what to install.
#[test]
fn lambada_run_names_the_runners_missing_packages() {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("app.py"), RUN_PROGRAM).unwrap();
    // A venv of its own, without the platforms' packages (and without pip: quick).
    let bare = scratch.path().join("bare");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&bare)
        .status()
        .unwrap();
    assert!(made.success());
    for (provider, pin) in [
        ("gcf", "functions-framework==3.10.2"),
        ("azure", "azure-functions==1.26.0"),
        ("fission", "flask==3.1.3"),
    ] {
        let run = Command::new(env!("CARGO_BIN_EXE_lambada"))
            .args(["run", "-q", "--provider", provider, "--python"])
            .arg(bare.join("bin/python"))
            .arg("app.py")
            .current_dir(scratch.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{provider}: {stderr}");
        assert!(
            stderr.contains(&format!("-m pip install {pin}")),
            "{provider}: {stderr}"
        );
        assert!(run.stdout.is_empty(), "{provider}: the program ran");
    }
}
