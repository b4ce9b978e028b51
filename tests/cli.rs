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
            "kept local: calls input() at line",
        ))
        .stdout(predicate::str::contains("which calls input() at line"));
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
        .stderr(predicate::str::contains("1 invocations"));
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
