//! The command line as a user meets it: what `lambada --local` writes, and how bad
//! input is refused (one clear message, exit status 2, nothing written).

mod common;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn lambada() -> Command {
    let mut cmd = Command::cargo_bin("lambada").unwrap();
    cmd.env_remove("NO_COLOR");
    cmd
}

fn fixture(name: &str) -> std::path::PathBuf {
    common::crate_root().join("fixtures").join(name)
}

fn write(dir: &Path, name: &str, text: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn is_empty_dir(dir: &Path) -> bool {
    !dir.exists() || std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn local_mode_writes_driver_runtime_packages_zips_and_manifest() {
    let out = tempfile::tempdir().unwrap();
    lambada()
        .args(["--local", "-q", "-o"])
        .arg(out.path())
        .arg(fixture("fib_counter.py"))
        .assert()
        .success();
    let dir = out.path().join("fib_counter");
    for file in [
        "fib_counter.py",
        "lambada_runtime/__init__.py",
        "lambada.json",
        "functions/fib/lambada_handler.py",
        "functions/fib/lambada_runtime/__init__.py",
        "functions/fib/lambada.json",
        "functions/fib.zip",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    assert!(!dir.join("lambada_runtime.py").exists());
    // Every file of the runtime package, beside the driver, in the package and its zip.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(
        std::fs::read(dir.join("functions/fib.zip")).unwrap(),
    ))
    .unwrap();
    for (path, bytes) in lambada::codegen::RUNTIME_FILES {
        assert_eq!(&std::fs::read(dir.join(path)).unwrap(), bytes, "{path}");
        assert_eq!(
            &std::fs::read(dir.join("functions/fib").join(path)).unwrap(),
            bytes,
            "{path}"
        );
        assert!(archive.by_name(path).is_ok(), "{path} not in the zip");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("lambada.json")).unwrap()).unwrap();
    let fib = &manifest["functions"]["fib"];
    assert_eq!(fib["function_name"], "fib_counter-fib");
    assert_eq!(fib["memory"], 128);
    assert_eq!(fib["timeout"], 30);
    assert_eq!(fib["globals_written"], serde_json::json!(["counter"]));
    // fib writes a global: no argument is provably left alone.
    assert_eq!(fib["readonly"], serde_json::json!([]));
    let zip = std::fs::read(dir.join("functions/fib.zip")).unwrap();
    assert_eq!(fib["code_sha256"], lambada::package::code_sha256(&zip));
}

#[test]
fn running_twice_gives_byte_identical_output() {
    let out = tempfile::tempdir().unwrap();
    let run = |root: &Path| {
        lambada()
            .args(["--local", "-q", "-o"])
            .arg(root)
            .arg(fixture("bank_system.py"))
            .assert()
            .success();
    };
    run(&out.path().join("a"));
    run(&out.path().join("b"));
    let files = |root: &Path| {
        let mut all = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                if entry.path().is_dir() {
                    pending.push(entry.path());
                } else {
                    let rel = entry.path().strip_prefix(root).unwrap().to_path_buf();
                    all.push((rel, std::fs::read(entry.path()).unwrap()));
                }
            }
        }
        all.sort();
        all
    };
    assert_eq!(files(&out.path().join("a")), files(&out.path().join("b")));
}

#[test]
fn the_input_file_is_never_modified() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(fixture("formatting_odd.py")).unwrap();
    let input = write(dir.path(), "app.py", &original);
    lambada()
        .current_dir(dir.path())
        .args(["--local", "-q", "app.py"])
        .assert()
        .success();
    assert_eq!(std::fs::read(input).unwrap(), original);
}

#[test]
fn a_syntax_error_names_file_line_column_with_a_caret_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "broken.py", b"x = 1\ndef f(:\n    return x\n");
    lambada()
        .current_dir(dir.path())
        .args(["--local", "-o", "out", "broken.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("broken.py:2:7: error: "))
        .stderr(predicate::str::contains("2 | def f(:\n"))
        .stderr(predicate::str::contains("^"));
    assert!(is_empty_dir(&dir.path().join("out")));
}

#[test]
fn a_missing_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["--local", "nope.py"])
        .assert()
        .code(2)
        .stderr("nope.py: error: no such file\n");
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pkg")).unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["--local", "pkg"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pkg: error: is a directory"));
}

#[test]
fn a_file_that_is_not_utf8_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "latin.py", b"name = '\xe9t\xe9'\n");
    lambada()
        .current_dir(dir.path())
        .args(["--local", "latin.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "latin.py: error: not valid UTF-8 (byte 8)",
        ));
}

#[test]
fn generated_files_are_refused_as_input() {
    let dir = tempfile::tempdir().unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["--local", "-q"])
        .arg(fixture("fib_counter.py"))
        .assert()
        .success();
    lambada()
        .current_dir(dir.path())
        .args(["--local", "lambada-out/fib_counter/fib_counter.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "this file was generated by lambada; run lambada on the original program instead",
        ));
}

#[test]
fn bad_input_in_any_file_leaves_no_output_at_all() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.py", b"def f():\n    return 1\n");
    write(dir.path(), "bad.py", b"def g(\n");
    lambada()
        .current_dir(dir.path())
        .args(["--local", "-o", "out", "good.py", "bad.py"])
        .assert()
        .code(2);
    assert!(is_empty_dir(&dir.path().join("out")));
}

#[test]
fn names_reserved_for_generated_code_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.py", b"import os\n_lambada = 1\n");
    lambada()
        .current_dir(dir.path())
        .args(["--local", "app.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "app.py:2: error: `_lambada` is a name lambada reserves",
        ));
}

#[test]
fn diff_is_plain_in_a_pipe_and_shows_the_twin_decorator() {
    let out = tempfile::tempdir().unwrap();
    lambada()
        .args(["--local", "--diff", "-q", "-o"])
        .arg(out.path())
        .arg(fixture("fib_counter.py"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "+@_lambada.cloud(\"fib\", globals())\n def fib(x):",
        ))
        .stdout(predicate::str::contains(
            "+import lambada_runtime as _lambada",
        ))
        .stdout(predicate::str::contains("\x1b[").not());
}

#[test]
fn debug_report_says_why_functions_stay_local() {
    let out = tempfile::tempdir().unwrap();
    lambada()
        .args(["--local", "-v", "-o"])
        .arg(out.path())
        .arg(fixture("input_direct_indirect.py"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "kept local: calls ask_number() at line 20, which calls ask() at line 15, which reads stdin at line 11",
        ))
        .stdout(predicate::str::contains(
            "the call cannot be split: calls a function that reads stdin inside a comprehension at line 20",
        ))
        .stdout(predicate::str::contains(
            "split:           2 segments in the cloud, the reads and yields in the driver: point 1 at line 15 (call of ask(), made by the driver)",
        ))
        .stdout(predicate::str::contains(
            "split:           2 segments in the cloud, the reads and yields in the driver: point 1 at line 24 (input())",
        ));
}

#[test]
fn manifest_and_report_list_read_only_parameters_and_the_local_twin() {
    let dir = tempfile::tempdir().unwrap();
    let app = write(
        dir.path(),
        "app.py",
        b"def search(arr, x, lo, hi):\n    if hi < lo:\n        return -1\n    mid = (lo + hi) // 2\n    if arr[mid] == x:\n        return mid\n    if arr[mid] < x:\n        return search(arr, x, mid + 1, hi)\n    return search(arr, x, lo, mid - 1)\n\n\ndef fill(buf):\n    for i in range(len(buf)):\n        buf[i] = i * i\n\n\nclass Point:\n    def __init__(self, x):\n        self.x = x\n\n    def dist(self, other):\n        return abs(self.x - other.x)\n\n\nif __name__ == \"__main__\":\n    print(search([1, 2, 3], 2, 0, 2), fill([0]), Point(1).dist(Point(3)))\n",
    );
    let out = dir.path().join("out");
    lambada()
        .args(["--local", "-v", "-o"])
        .arg(&out)
        .arg(&app)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "local twin:      kept in the program; runs the call when an argument or global cannot travel",
        ))
        .stdout(predicate::str::contains("read-only:       arr, x\n"))
        .stdout(predicate::str::contains(
            "read-only:       __init__(); dist(self, other)\n",
        ));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("app/lambada.json")).unwrap()).unwrap();
    let functions = &manifest["functions"];
    assert_eq!(
        functions["search"]["readonly"],
        serde_json::json!(["arr", "x"])
    );
    assert_eq!(functions["fill"]["readonly"], serde_json::json!([]));
    assert_eq!(
        functions["Point"]["readonly"],
        serde_json::json!({"__init__": [], "dist": ["self", "other"]})
    );
    let package: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("app/functions/search/lambada.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        package["functions"]["search"]["readonly"],
        serde_json::json!(["arr", "x"])
    );
    let output = lambada()
        .args(["--local", "--format", "json", "-o"])
        .arg(&out)
        .arg(&app)
        .output()
        .unwrap();
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let search = &reports[0]["units"][0];
    assert_eq!(search["readonly"], serde_json::json!(["arr", "x"]));
    assert!(search["local_twin"].as_str().unwrap().contains("StringIO"));
}

#[test]
fn json_report_is_valid_json() {
    let out = tempfile::tempdir().unwrap();
    let output = lambada()
        .args(["--local", "--format", "json", "-o"])
        .arg(out.path())
        .arg(fixture("fib_counter.py"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reports[0]["units"][0]["name"], "fib");
    assert_eq!(reports[0]["units"][0]["moved"], true);
}

/// `--format json` says which coroutines moved, and why the others stay.
#[test]
fn json_report_shows_which_coroutines_moved() {
    let out = tempfile::tempdir().unwrap();
    let output = lambada()
        .args(["--local", "--format", "json", "-o"])
        .arg(out.path())
        .arg(fixture("async_gather.py"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let units = reports[0]["units"].as_array().unwrap();
    let unit = |name: &str| units.iter().find(|u| u["name"] == name).unwrap();
    let moved: Vec<&str> = units
        .iter()
        .filter(|u| u["coroutine"] == true && u["moved"] == true)
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(moved, ["measure", "refuse", "record", "survey"]);
    assert!(unit("checksum").get("coroutine").is_none());
    assert_eq!(unit("drain")["coroutine"], true);
    assert_eq!(
        unit("drain")["reason"],
        "async def: awaits `queue`, which comes from the caller and belongs to its event loop (line 65)"
    );
    assert!(
        unit("main")["reason"]
            .as_str()
            .unwrap()
            .contains("asyncio.create_task()")
    );
}

#[test]
fn annotations_move_only_cloudfunction_functions_with_their_settings() {
    let out = tempfile::tempdir().unwrap();
    lambada()
        .args(["--local", "--annotations", "-q", "-o"])
        .arg(out.path())
        .arg(fixture("annotations_cloudfunction.py"))
        .assert()
        .success();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("annotations_cloudfunction/lambada.json")).unwrap(),
    )
    .unwrap();
    let functions = manifest["functions"].as_object().unwrap();
    assert!(!functions.is_empty());
    assert!(
        functions
            .values()
            .any(|f| f["memory"] == 256 && f["timeout"] == 10),
        "{manifest:#}"
    );
    let kept = manifest["kept_local"].as_object().unwrap();
    assert!(
        kept.values()
            .any(|k| k["reason"] == "not decorated with @cloudfunction (--annotations)")
    );
}

#[test]
fn two_files_with_the_same_module_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    write(&dir.path().join("a"), "app.py", b"x = 1\n");
    write(&dir.path().join("b"), "app.py", b"y = 2\n");
    lambada()
        .current_dir(dir.path())
        .args(["--local", "a/app.py", "b/app.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("also has module name `app`"));
}

#[test]
fn an_unreachable_endpoint_fails_quickly_and_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    lambada()
        .current_dir(dir.path())
        .args(["-q", "--endpoint", "http://127.0.0.1:9"])
        .arg(fixture("fib_counter.py"))
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot reach the Lambda endpoint http://127.0.0.1:9",
        ));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn run_deploys_to_the_embedded_host_and_passes_the_exit_status_through() {
    let dir = tempfile::tempdir().unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["run", "-q", "--stats"])
        .arg(fixture("fib_counter.py"))
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success()
        .stdout("144\n287\n")
        .stderr(predicate::str::contains("1 function deployed"))
        .stderr(predicate::str::contains("ms, 1 invocation,"));
    lambada()
        .current_dir(dir.path())
        .args(["run", "-q"])
        .arg(fixture("exit_code.py"))
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(3);
}

#[test]
fn run_tells_the_program_to_verify_and_where_to_write_its_stats() {
    let dir = tempfile::tempdir().unwrap();
    let app = write(
        dir.path(),
        "app.py",
        b"import os\nprint(os.environ.get('LAMBADA_VERIFY'), bool(os.environ.get('LAMBADA_STATS_FILE')))\n",
    );
    lambada()
        .current_dir(dir.path())
        .args(["run", "-q", "--verify", "--stats"])
        .arg(&app)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success()
        .stdout("1 True\n");
    lambada()
        .current_dir(dir.path())
        .args(["run", "-q"])
        .arg(&app)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success()
        .stdout("None False\n");
}

#[test]
fn run_stats_count_the_calls_that_ran_through_the_local_twin() {
    let dir = tempfile::tempdir().unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["run", "-q", "--stats"])
        .arg(fixture("state_stringio_argument.py"))
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success()
        .stdout("row 1\nrow 2\n")
        .stderr(predicate::str::contains(
            "lambada run: write_row: 2 calls ran locally through the twin (",
        ))
        .stderr(predicate::str::contains("StringIO"));
}

/// `lambada serve` in a child process, stopped when dropped.
struct Served {
    child: std::process::Child,
    endpoint: String,
}

impl Served {
    fn start(state: &Path, extra: &[&str]) -> Served {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lambada"))
            .args(["serve", "--port", "0", "--print-endpoint", "--state-dir"])
            .arg(state)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Served {
            child,
            endpoint: line.trim().to_owned(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn deploying_with_wrong_credentials_to_a_host_that_checks_them_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(
        &dir.path().join("state"),
        &[
            "--access-key",
            "AKIDLAMBADATEST",
            "--secret-key",
            "right-secret",
        ],
    );
    let deploy = |secret: &str| {
        let mut cmd = lambada();
        cmd.current_dir(dir.path())
            .args(["-q", "--endpoint", &served.endpoint])
            .arg(fixture("fib_counter.py"))
            .env("AWS_ACCESS_KEY_ID", "AKIDLAMBADATEST")
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .timeout(std::time::Duration::from_secs(60));
        cmd
    };
    deploy("wrong-secret")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("rejected the request signature"));
    // The right secret deploys, and the rewritten program then runs against the host.
    deploy("right-secret").assert().success();
    std::process::Command::new("python3")
        .arg(dir.path().join("lambada-out/fib_counter/fib_counter.py"))
        .env("AWS_ACCESS_KEY_ID", "AKIDLAMBADATEST")
        .env("AWS_SECRET_ACCESS_KEY", "right-secret")
        .env("AWS_REGION", "us-east-1")
        .output()
        .map(|out| assert_eq!(String::from_utf8_lossy(&out.stdout), "144\n287\n"))
        .unwrap();
}

// Defects found by trying lambada as a new user would (issue 11 §8).

#[test]
fn json_into_a_pipe_closed_early_stops_quietly_without_a_panic() {
    // `lambada --local --format json app.py | head -0`: the reader is gone before
    // anything is written.
    let out = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lambada"))
        .args(["--local", "--format", "json", "-o"])
        .arg(out.path())
        .arg(fixture("bank_system.py"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(141), "{stderr}");
}

#[test]
fn a_run_report_into_a_closed_stderr_stops_quietly_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lambada"))
        .current_dir(dir.path())
        .args(["run", "-v", "--format", "json"])
        .arg(fixture("fib_counter.py"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141));
}

#[test]
fn the_deploy_summary_ends_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir.path().join("state"), &[]);
    lambada()
        .current_dir(dir.path())
        .args(["--endpoint", &served.endpoint])
        .arg(fixture("fib_counter.py"))
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stderr(predicate::str::is_match(r"deployed 1 function to \S+ in [0-9.]+ s: 1 created, 0 updated, 0 unchanged, 0 failed\n  run it: ").unwrap());
}

#[test]
fn run_writes_its_compiled_copy_to_out_shows_the_diff_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let output = lambada()
        .current_dir(dir.path())
        .args(["run", "-q", "--diff", "--format", "json", "-o", "kept"])
        .arg(fixture("fib_counter.py"))
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(output.status.success());
    // stdout stays the program's; the diff and the report go to stderr.
    assert_eq!(String::from_utf8_lossy(&output.stdout), "144\n287\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("+import lambada_runtime as _lambada\n"),
        "{stderr}"
    );
    let json_at = stderr.find("\n{\n").expect("a JSON report") + 1;
    let report: serde_json::Value = serde_json::from_str(&stderr[json_at..]).unwrap();
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["invocations"], 1);
    assert_eq!(report["deploy"]["created"], 1);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("kept/fib_counter/lambada.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["transport"], "lambda");
}

#[test]
fn cloudfunction_settings_lambda_refuses_are_refused_at_compile_time() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.py",
        b"def cloudfunction(**kw):\n    return lambda f: f\n\n@cloudfunction(memory=100)\ndef f(x):\n    return x\n\nprint(f(1))\n",
    );
    lambada()
        .current_dir(dir.path())
        .args(["--local", "--annotations", "-o", "out", "app.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "app.py:4:16: error: @cloudfunction(memory=100): Lambda accepts 128..=10240 MB",
        ))
        .stderr(predicate::str::contains("4 | @cloudfunction(memory=100)\n"));
    assert!(is_empty_dir(&dir.path().join("out")));
    write(
        dir.path(),
        "app.py",
        b"def cloudfunction(**kw):\n    return lambda f: f\n\n@cloudfunction(timeout=901)\ndef f(x):\n    return x\n\nprint(f(1))\n",
    );
    lambada()
        .current_dir(dir.path())
        .args(["--local", "--annotations", "app.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "app.py:4:16: error: @cloudfunction(timeout=901): Lambda accepts 1..=900 seconds",
        ));
}

#[test]
fn timeout_is_an_alias_of_duration() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.py",
        b"def cloudfunction(**kw):\n    return lambda f: f\n\n@cloudfunction(memory=512, timeout=60)\ndef f(x):\n    return x\n\nprint(f(1))\n",
    );
    lambada()
        .current_dir(dir.path())
        .args(["--local", "--annotations", "app.py"])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning").not());
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("lambada-out/app/lambada.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["functions"]["f"]["memory"], 512);
    assert_eq!(manifest["functions"]["f"]["timeout"], 60);
}

#[test]
fn a_keep_local_reason_names_what_was_found_at_that_line() {
    // csv.reader(sys.stdin) is a read of stdin that cannot be split (issue 13): the reason
    // names sys.stdin and its line, not input().
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.py",
        b"import csv\nimport sys\n\n\ndef rows():\n    total = 0\n    for row in csv.reader(sys.stdin):\n        total += len(row)\n    return total\n\n\nprint(rows())\n",
    );
    lambada()
        .current_dir(dir.path())
        .args(["--local", "-v", "app.py"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "rows (function, line 5): kept local: uses sys.stdin at line 7",
        ))
        .stdout(predicate::str::contains("input()").not());
}

#[test]
fn the_aws_profile_deployed_with_is_the_one_the_program_signs_with() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(
        &dir.path().join("state"),
        &[
            "--access-key",
            "AKIDPROFILEONE",
            "--secret-key",
            "p1-secret",
        ],
    );
    let credentials = write(
        dir.path(),
        "credentials",
        b"[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other\n\n[p1]\naws_access_key_id = AKIDPROFILEONE\naws_secret_access_key = p1-secret\n",
    );
    let config = write(dir.path(), "config", b"[profile p1]\nregion = us-east-1\n");
    let aws_env = |cmd: &mut std::process::Command| {
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_LAMBDA",
        ] {
            cmd.env_remove(name);
        }
        cmd.env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_CONFIG_FILE", &config);
    };
    let mut deploy = std::process::Command::new(env!("CARGO_BIN_EXE_lambada"));
    deploy
        .current_dir(dir.path())
        .args(["-q", "--aws-profile", "p1", "--endpoint", &served.endpoint])
        .arg(fixture("fib_counter.py"));
    aws_env(&mut deploy);
    let deployed = deploy.output().unwrap();
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    // No AWS_PROFILE: the program finds p1 in its manifest, as the deploy used it.
    let mut program = std::process::Command::new("python3");
    program.arg(dir.path().join("lambada-out/fib_counter/fib_counter.py"));
    aws_env(&mut program);
    let ran = program.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "144\n287\n",
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
}

#[test]
fn an_unknown_command_is_named_with_the_closest_one() {
    let dir = tempfile::tempdir().unwrap();
    lambada()
        .current_dir(dir.path())
        .arg("serv")
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "lambada: error: unknown command 'serv'\n  tip: a similar command exists: 'serve'\n",
        ));
    lambada()
        .current_dir(dir.path())
        .arg("zzzz")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown command 'zzzz'"))
        .stderr(predicate::str::contains("commands: serve, run, profile"));
    // A file of that name is a program, whatever it is called.
    write(dir.path(), "serv", b"print(1)\n");
    lambada()
        .current_dir(dir.path())
        .args(["--local", "-q", "serv"])
        .assert()
        .success();
}

#[test]
fn a_hyphenated_file_name_becomes_a_valid_module_name() {
    let dir = tempfile::tempdir().unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["run", "-q"])
        .arg(fixture("cli/my-app.py"))
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success()
        .stdout("144\n");
    lambada()
        .current_dir(dir.path())
        .args(["--local", "-q", "-o", "out"])
        .arg(fixture("cli/my-app.py"))
        .assert()
        .success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/my_app/lambada.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["functions"]["square"]["function_name"],
        "my_app-square"
    );
}

#[test]
fn program_arguments_without_the_separator_get_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prog.py", b"import sys\nprint(sys.argv[1:])\n");
    lambada()
        .current_dir(dir.path())
        .args(["run", "prog.py", "12", "3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "arguments for the program go after `--`: lambada run prog.py -- 12 3",
        ));
    lambada()
        .current_dir(dir.path())
        .args(["run", "-q", "prog.py", "--", "12", "3"])
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success()
        .stdout("['12', '3']\n");
}

#[test]
fn missing_credentials_name_the_cloud_function() {
    let dir = tempfile::tempdir().unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["--local", "-q"])
        .arg(fixture("fib_counter.py"))
        .assert()
        .success();
    let ran = std::process::Command::new("python3")
        .arg(dir.path().join("lambada-out/fib_counter/fib_counter.py"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("LAMBADA_TRANSPORT", "lambda")
        // Not loopback: no placeholder credentials; nothing is ever sent there.
        .env("AWS_ENDPOINT_URL_LAMBDA", "http://192.0.2.1:9")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(
        stderr.contains("cloud function fib_counter-fib failed: Lambada.NoCredentials"),
        "{stderr}"
    );
}

#[test]
fn a_remote_traceback_names_the_programs_file_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    lambada()
        .current_dir(dir.path())
        .args(["run", "-q"])
        .arg(fixture("exception_uncaught.py"))
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "its traceback there:\nTraceback (most recent call last):\n  File \"exception_uncaught.py\", line 15, in verify\n    raise ValueError(\"bad checksum %d\" % got)\n",
        ))
        .stderr(predicate::str::contains("lambada_handler.py").not());
}

// Configuration (issue 11 §6).

#[test]
fn tool_lambada_in_pyproject_sets_what_flags_do_not_and_v_says_where_from() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pyproject.toml",
        b"[project]\nname = \"shop\"\n\n[tool.lambada]\nmemory = 512\ntimeout = 60\nprefix = \"shop-\"\nexclude = [\"helper\"]\n",
    );
    std::fs::create_dir(dir.path().join("src")).unwrap();
    write(
        &dir.path().join("src"),
        "app.py",
        b"def helper(x):\n    return x + 1\n\n\ndef work(x):\n    return x * 2\n\n\nprint(helper(1), work(2))\n",
    );
    lambada()
        .current_dir(dir.path())
        .args(["--local", "-v", "--timeout", "90", "src/app.py"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "  memory = 512 (src/../pyproject.toml:5)\n",
        ))
        .stderr(predicate::str::contains("  timeout = 90 (--timeout)\n"))
        .stderr(predicate::str::contains("  fanout = 64 (default)\n"))
        .stdout(predicate::str::contains(
            "kept local: excluded by the configuration (exclude)",
        ));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("lambada-out/app/lambada.json")).unwrap(),
    )
    .unwrap();
    let work = &manifest["functions"]["work"];
    assert_eq!(work["memory"], 512);
    assert_eq!(work["timeout"], 90);
    assert_eq!(work["function_name"], "shop-app-work");
    assert!(manifest["functions"].get("helper").is_none());
    // A bad value in the file is the user's: file, line and column, exit 2.
    write(
        dir.path(),
        "pyproject.toml",
        b"[tool.lambada]\nmemory = 100\n",
    );
    lambada()
        .current_dir(dir.path())
        .args(["--local", "src/app.py"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "src/../pyproject.toml:2:10: error: memory = 100: Lambda accepts 128..=10240 MB",
        ));
}
