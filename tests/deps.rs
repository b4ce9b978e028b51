//! Third-party packages and data files travel with the functions that need them.
//!
//! Everything runs offline against a wheelhouse built here from `fixtures/deps` (a pure
//! package, one with a C extension compiled for this machine's python3, one published
//! only as an sdist, one too large for Lambda), except the numpy test, which runs only
//! when the package index is reachable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;
#[path = "host_support/mod.rs"]
mod host_support;

fn lambada() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lambada"));
    // pip, not uv, so every machine takes the same path; no environment leaks in.
    command
        .env("LAMBADA_INSTALLER", "pip")
        .env("LAMBADA_PYTHON", "python3")
        .env_remove("LAMBADA_CACHE_DIR")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_FIND_LINKS");
    command
}

/// `python3.X` of the python3 on PATH: the runtime the wheelhouse's extension fits.
fn python3_runtime() -> &'static str {
    static RUNTIME: OnceLock<String> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sys; print('python%d.%d' % sys.version_info[:2])",
            ])
            .output()
            .expect("python3 runs");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
}

/// The offline wheelhouse, built once per test run.
fn wheelhouse() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("deps-wheelhouse-{}", python3_runtime()));
        let marker = dir.join(".complete");
        if !marker.exists() {
            let _ = std::fs::remove_dir_all(&dir);
            let status = Command::new("python3")
                .arg(common::crate_root().join("fixtures/deps/make_wheelhouse.py"))
                .arg(&dir)
                .status()
                .expect("python3 runs");
            assert!(status.success(), "building the test wheelhouse failed");
            std::fs::write(&marker, "").unwrap();
        }
        dir
    })
}

struct Program {
    dir: tempfile::TempDir,
    cache: PathBuf,
}

impl Program {
    fn new(source: &str, requirements: &str) -> Program {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.py"), source).unwrap();
        if !requirements.is_empty() {
            std::fs::write(dir.path().join("requirements.txt"), requirements).unwrap();
        }
        let cache = dir.path().join("cache");
        Program { dir, cache }
    }

    fn app(&self) -> PathBuf {
        self.dir.path().join("app.py")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// `lambada --local` with the offline wheelhouse, for `runtime`.
    fn compile(&self, runtime: &str, extra: &[&str]) -> Output {
        lambada()
            .args([
                "--local",
                "--runtime",
                runtime,
                "--no-index",
                "--find-links",
            ])
            .arg(wheelhouse())
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("-o")
            .arg(self.out())
            .args(extra)
            .arg(self.app())
            .output()
            .unwrap()
    }

    fn report(&self, runtime: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        let out = self.compile(runtime, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        reports[0].clone()
    }

    /// Runs the rewritten program (in-process transport) with python3 from `cwd`.
    fn run_rewritten(&self, cwd: &Path) -> Output {
        Command::new("python3")
            .arg(self.out().join("app/app.py"))
            .current_dir(cwd)
            .output()
            .unwrap()
    }

    fn manifest(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.out().join("app/lambada.json")).unwrap())
            .unwrap()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const THREE_PACKAGES: &str = "\
def work(x):
    import tinypure
    from tinyc import add
    import tinysdist
    return tinypure.shout(tinysdist.greet(x)) + str(add(2, 3))

def plain(x):
    return x * 2

print(work('bob'), plain(4))
";

#[test]
fn requirements_are_built_for_the_target_once_and_shared_as_a_layer() {
    let program = Program::new(
        THREE_PACKAGES,
        "tinypure==1.0\ntinyc==1.0\ntinysdist==1.0  # sdist only\n",
    );
    let runtime = python3_runtime();
    let first = program.report(runtime, &[]);
    let layers = first["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{first:#}");
    assert_eq!(layers[0]["cached"], false);
    assert_eq!(
        layers[0]["requirements"],
        serde_json::json!(["tinyc==1.0", "tinypure==1.0", "tinysdist==1.0"])
    );
    let work = first["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "work")
        .unwrap();
    assert_eq!(work["package"]["layer"], layers[0]["hash"]);
    assert!(
        work["package"]["requirements"][0]
            .as_str()
            .unwrap()
            .contains("requirements.txt:2"),
        "{work:#}"
    );
    // The function without imports gets no layer.
    let plain = first["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "plain")
        .unwrap();
    assert!(plain["package"].get("layer").is_none(), "{plain:#}");

    // The second build finds the set in the cache: no installer runs.
    let second = program.report(runtime, &[]);
    assert_eq!(second["layers"][0]["cached"], true);
    assert_eq!(second["layers"][0]["hash"], layers[0]["hash"]);

    // The layer zip holds the packages under python/, with no byte code.
    let hash = layers[0]["hash"].as_str().unwrap();
    let zip_path = program.out().join(format!("app/layers/{hash}.zip"));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    assert!(
        names.contains(&"python/tinypure/__init__.py".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"python/tinysdist/__init__.py".to_owned()),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".pyc") && !n.contains("__pycache__"))
    );
    assert!(archive.by_name("python/tinyc/__init__.py").is_ok());
    let manifest = program.manifest();
    assert_eq!(
        manifest["functions"]["work"]["layers"],
        serde_json::json!([hash])
    );
    assert!(manifest["functions"]["plain"].get("layers").is_none());

    // The rewritten program runs its functions with the layer (package view).
    let out = program.run_rewritten(program.dir.path());
    assert_eq!(stdout(&out), "HELLO, BOB!5 8\n", "{}", stderr(&out));
}

#[test]
fn the_same_set_gives_the_same_layer_bytes() {
    let program = Program::new(
        THREE_PACKAGES,
        "tinypure==1.0\ntinyc==1.0\ntinysdist==1.0\n",
    );
    let runtime = python3_runtime();
    let first = program.report(runtime, &[]);
    let hash = first["layers"][0]["hash"].as_str().unwrap().to_owned();
    let zip = std::fs::read(program.out().join(format!("app/layers/{hash}.zip"))).unwrap();
    // A fresh cache installs again, and gets the same bytes.
    std::fs::remove_dir_all(&program.cache).unwrap();
    let second = program.report(runtime, &[]);
    assert_eq!(second["layers"][0]["cached"], false);
    let again = std::fs::read(program.out().join(format!("app/layers/{hash}.zip"))).unwrap();
    assert!(zip == again, "the layer zip differs between two installs");
}

#[test]
fn no_layers_vendors_the_packages_into_each_zip() {
    let program = Program::new(
        THREE_PACKAGES,
        "tinypure==1.0\ntinyc==1.0\ntinysdist==1.0\n",
    );
    let report = program.report(python3_runtime(), &["--no-layers"]);
    let work = report["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "work")
        .unwrap();
    assert_eq!(work["package"]["layer"], "vendored");
    let manifest = program.manifest();
    assert!(manifest.get("layers").is_none(), "{manifest:#}");
    let zip = program.out().join("app/functions/work.zip");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    assert!(archive.by_name("tinypure/__init__.py").is_ok());
    assert!(archive.by_name("lambada_handler.py").is_ok());
    let out = program.run_rewritten(program.dir.path());
    assert_eq!(stdout(&out), "HELLO, BOB!5 8\n", "{}", stderr(&out));
}

#[test]
fn an_import_nothing_provides_is_a_compile_error_with_its_place() {
    let program = Program::new(
        "def work(x):\n    import tinypure, nosuchthing_zz\n    return x\n\nprint(work(1))\n",
        "tinypure==1.0\n",
    );
    let out = program.compile(python3_runtime(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("app.py:2:22: error: `nosuchthing_zz` (imported by cloud function `work`)"),
        "{err}"
    );
    assert!(
        err.contains("add its distribution to requirements.txt"),
        "{err}"
    );
    assert!(!program.out().exists(), "nothing is written on an error");
}

#[test]
fn a_standard_module_the_runtime_lacks_is_an_error() {
    let program = Program::new(
        "def work(x):\n    import imp\n    return x\n\nprint(work(1))\n",
        "",
    );
    let out = program.compile("python3.12", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`imp` (imported by cloud function `work`) was removed from the standard library after Python 3.11"),
        "{}",
        stderr(&out)
    );
    // The same program for python3.11 compiles: imp is still there.
    let out = program.compile("python3.11", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_guarded_import_that_nothing_provides_is_a_warning() {
    let source = "def work(x):\n    try:\n        import nosuchthing_zz as fast\n    except ImportError:\n        fast = None\n    return fast is None\n\nprint(work(1))\n";
    let program = Program::new(source, "");
    let out = program.compile(python3_runtime(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("app.py:3:16: warning: `nosuchthing_zz` is not available to cloud function `work`; its import is guarded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&program.run_rewritten(program.dir.path())), "True\n");
}

#[test]
fn a_package_without_a_wheel_for_the_target_is_named() {
    // tinyc's only wheel is for python3's own version: another version has none.
    let other = if python3_runtime() == "python3.12" {
        "python3.13"
    } else {
        "python3.12"
    };
    let program = Program::new(
        "def work(x):\n    import tinyc\n    return x\n\nprint(work(1))\n",
        "tinyc==1.0\n",
    );
    let out = program.compile(other, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no wheel of `tinyc`"), "{err}");
    assert!(
        err.contains(&format!("CPython {}", &other["python".len()..])),
        "{err}"
    );
}

#[test]
fn lambdas_size_limits_are_checked_before_upload() {
    let program = Program::new(
        "def work(x):\n    import tinybig\n    return x\n\nprint(work(1))\n",
        "tinybig==1.0\n",
    );
    let out = program.compile(python3_runtime(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cloud function `work` is too large"), "{err}");
    assert!(err.contains("over Lambda's 250.0 MB limit"), "{err}");
    assert!(err.contains("Largest packages: tinybig 260.0 MB"), "{err}");
}

#[test]
fn the_package_view_fails_locally_what_would_fail_deployed() {
    // A module found only through this environment's site-packages, imported in a way
    // the analysis cannot see: deployed, it would be missing.
    let source = "import importlib\n\ndef work(name):\n    return importlib.import_module(name).__name__\n\ntry:\n    print(work('pip'))\nexcept ImportError as e:\n    print('ImportError', e.name)\n";
    let program = Program::new(source, "");
    let out = program.compile(python3_runtime(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = program.run_rewritten(program.dir.path());
    assert_eq!(stdout(&out), "ImportError pip\n", "{}", stderr(&out));
    // --host-env keeps this environment's packages.
    let out = program.compile(python3_runtime(), &["--host-env"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = program.run_rewritten(program.dir.path());
    assert_eq!(stdout(&out), "pip\n", "{}", stderr(&out));
}

const DATA_PROGRAM: &str = "\
import os
from pathlib import Path

def total():
    with open('data.csv') as f:
        rows = [line.strip().split(',') for line in f][1:]
    return sum(int(a) + int(b) for a, b in rows)

def word():
    return (Path(__file__).parent / 'words' / 'w.txt').read_text().strip()

def beside():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data.csv')) as f:
        return len(f.read())

def dynamic(name):
    with open(name) as f:
        return f.read()[:3]

def write_it(x):
    with open('out.txt', 'w') as f:
        f.write(str(x))

print(total(), word(), beside(), dynamic('data.csv'))
write_it(5)
";

fn data_program() -> Program {
    let program = Program::new(DATA_PROGRAM, "");
    std::fs::write(program.dir.path().join("data.csv"), "a,b\n1,2\n3,4\n").unwrap();
    std::fs::create_dir(program.dir.path().join("words")).unwrap();
    std::fs::write(program.dir.path().join("words/w.txt"), "hello\n").unwrap();
    program
}

#[test]
fn data_files_travel_and_unknown_paths_stay_local() {
    let program = data_program();
    let report = program.report(python3_runtime(), &["-v"]);
    let unit = |name: &str| {
        report["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        unit("total")["package"]["data_files"],
        serde_json::json!(["data.csv"])
    );
    assert_eq!(
        unit("word")["package"]["data_files"],
        serde_json::json!(["words/w.txt"])
    );
    assert_eq!(
        unit("beside")["package"]["data_files"],
        serde_json::json!(["data.csv"])
    );
    assert_eq!(
        unit("dynamic")["reason"],
        "opens a file whose path is absolute or computed at run time (it could not travel with the function) at line 17"
    );
    assert_eq!(
        unit("write_it")["reason"],
        "writes, creates or removes a file of this machine at line 21"
    );
    let warned = program.compile(python3_runtime(), &[]);
    assert!(
        stderr(&warned).contains("app.py:17: warning: `dynamic` opens a path computed at run time (or absolute), which cannot travel with a cloud function, so it stays local"),
        "{}",
        stderr(&warned)
    );
    let zip = program.out().join("app/functions/total.zip");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    assert!(archive.by_name("data.csv").is_ok());
    // Same output as the original, which is run from its own directory.
    let original = Command::new("python3")
        .arg("app.py")
        .current_dir(program.dir.path())
        .output()
        .unwrap();
    assert_eq!(stdout(&original), "10 hello 12 a,b\n");
    let out = program.run_rewritten(program.dir.path());
    assert_eq!(stdout(&out), stdout(&original), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(program.dir.path().join("out.txt")).unwrap(),
        "5"
    );
}

#[test]
fn a_file_missing_at_compile_time_keeps_its_reader_local() {
    let source = "def make():\n    pass\n\ndef read():\n    with open('later.txt') as f:\n        return f.read()\n\nwith open('later.txt', 'w') as f:\n    f.write('made at run time')\nprint(read())\n";
    let program = Program::new(source, "");
    let report = program.report(python3_runtime(), &["-v"]);
    let read = report["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "read")
        .unwrap();
    assert_eq!(
        read["reason"],
        "opens a file that does not exist beside the program at compile time (it could not travel with the function) at line 5"
    );
    let out = program.run_rewritten(program.dir.path());
    assert_eq!(stdout(&out), "made at run time\n", "{}", stderr(&out));
}

/// `lambada run`: the embedded host runs the functions with their packages.
fn run(program: &Program, extra: &[&str]) -> Output {
    lambada()
        .args(["run", "-q", "--no-index", "--find-links"])
        .arg(wheelhouse())
        .arg("--cache-dir")
        .arg(&program.cache)
        .args(extra)
        .arg(program.app())
        .current_dir(program.dir.path())
        .output()
        .unwrap()
}

#[test]
fn run_deploys_layers_vendored_packages_and_data_files_to_the_embedded_host() {
    let program = Program::new(
        THREE_PACKAGES,
        "tinypure==1.0\ntinyc==1.0\ntinysdist==1.0\n",
    );
    // One layer, published to the host and named by the function.
    let out = run(&program, &[]);
    assert_eq!(stdout(&out), "HELLO, BOB!5 8\n", "{}", stderr(&out));
    let out = run(&program, &["--no-layers"]);
    assert_eq!(stdout(&out), "HELLO, BOB!5 8\n", "{}", stderr(&out));
    let program = data_program();
    let out = run(&program, &[]);
    assert_eq!(stdout(&out), "10 hello 12 a,b\n", "{}", stderr(&out));
}

/// Opt-in: a real package from the index, when it is reachable.
#[test]
fn numpy_from_the_package_index_runs_on_the_embedded_host() {
    let reachable = Command::new("python3")
        .args([
            "-c",
            "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/numpy/', timeout=5)",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !reachable {
        eprintln!("skipped: https://pypi.org is not reachable");
        return;
    }
    let source = "def norm(xs):\n    import numpy as np\n    return float(np.linalg.norm(np.array(xs)))\n\nprint(norm([3.0, 4.0]))\n";
    let program = Program::new(source, "numpy==2.2.6\n");
    let out = lambada()
        .args(["run", "-q", "--no-layers", "--cache-dir"])
        .arg(&program.cache)
        .arg(program.app())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "5.0\n", "{}", stderr(&out));
}

/// uv, when it is on PATH, builds the same layer (the test venv has it).
#[test]
fn uv_builds_the_set_when_it_is_on_path() {
    let Some(venv) = std::env::var_os("LAMBADA_TEST_VENV") else {
        eprintln!("skipped: no test venv (run tests/run)");
        return;
    };
    let bin = PathBuf::from(venv).join("bin");
    assert!(bin.join("uv").is_file(), "uv is in tests/requirements.txt");
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let program = Program::new(
        THREE_PACKAGES,
        "tinypure==1.0\ntinyc==1.0\ntinysdist==1.0\n",
    );
    let out = lambada()
        .env_remove("LAMBADA_INSTALLER")
        .env("PATH", path)
        .args([
            "--local",
            "--format",
            "json",
            "--runtime",
            python3_runtime(),
        ])
        .args(["--no-index", "--find-links"])
        .arg(wheelhouse())
        .arg("--cache-dir")
        .arg(&program.cache)
        .arg("-o")
        .arg(program.out())
        .arg(program.app())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["layers"][0]["installer"], "uv pip", "{report:#}");
    assert_eq!(report[0]["layers"][0]["cached"], false);
    let out = program.run_rewritten(program.dir.path());
    assert_eq!(stdout(&out), "HELLO, BOB!5 8\n", "{}", stderr(&out));
}

/// Deploying again publishes no second layer version: the layer is found by its content
/// and the function is unchanged. A second program with the same set shares the layer.
#[test]
fn a_deployed_layer_is_reused_by_its_content() {
    let state = tempfile::tempdir().unwrap();
    let server = host_support::Server::start(&state.path().join("state"), &[]);
    let program = Program::new(
        THREE_PACKAGES,
        "tinypure==1.0\ntinyc==1.0\ntinysdist==1.0\n",
    );
    let deploy = |program: &Program| {
        let out = lambada()
            .args(["--format", "json", "--runtime", python3_runtime()])
            .args(["--endpoint", &server.endpoint, "--no-index", "--find-links"])
            .arg(wheelhouse())
            .arg("--cache-dir")
            .arg(&program.cache)
            .arg("-o")
            .arg(program.out())
            .arg(program.app())
            .env("AWS_ACCESS_KEY_ID", "AKIDLAMBADATEST")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let summaries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        summaries[0].clone()
    };
    let first = deploy(&program);
    assert_eq!(first["created"], 2, "{first:#}");
    let again = deploy(&program);
    assert_eq!(again["unchanged"], 2, "{again:#}");
    // One layer with one version, named by the set's hash, on the function.
    let mut http = server.http();
    let layers = http.get("/2018-10-31/layers").json();
    let layers = layers["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{layers:?}");
    let name = layers[0]["LayerName"].as_str().unwrap();
    assert!(name.starts_with("lambada-deps-"), "{name}");
    let versions = http
        .get(&format!("/2018-10-31/layers/{name}/versions"))
        .json();
    assert_eq!(
        versions["LayerVersions"].as_array().unwrap().len(),
        1,
        "{versions:#}"
    );
    let conf = http
        .get("/2015-03-31/functions/app-work/configuration")
        .json();
    assert_eq!(
        conf["Layers"][0]["Arn"], versions["LayerVersions"][0]["LayerVersionArn"],
        "{conf:#}"
    );
    // The deployed program runs against the host.
    let out = Command::new("python3")
        .arg(program.out().join("app/app.py"))
        .env("AWS_ACCESS_KEY_ID", "AKIDLAMBADATEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "HELLO, BOB!5 8\n", "{}", stderr(&out));
}

/// gcf and azure install what a function's requirements.txt names when they build it:
/// the function's third-party requirements join the platform's framework line there
/// (and the zip holds the same file). Fission runs its deploy archive as it is: the
/// packages are vendored into each zip.
#[test]
fn provider_packages_name_or_carry_their_functions_requirements() {
    let program = Program::new(
        THREE_PACKAGES,
        "tinypure==1.0\ntinyc==1.0\ntinysdist==1.0  # sdist only\n",
    );
    let runtime = python3_runtime();
    for provider in ["gcf", "azure"] {
        let out = program.compile(runtime, &["--provider", provider]);
        assert!(out.status.success(), "{}", stderr(&out));
        let work = program.out().join("app/functions/work");
        let requirements = std::fs::read_to_string(work.join("requirements.txt")).unwrap();
        insta::assert_snapshot!(format!("requirements_{provider}"), requirements);
        let zip = program.out().join("app/functions/work.zip");
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
        let mut zipped = String::new();
        std::io::Read::read_to_string(
            &mut archive.by_name("requirements.txt").unwrap(),
            &mut zipped,
        )
        .unwrap();
        assert_eq!(
            zipped, requirements,
            "{provider}: the zip holds the same file"
        );
        // A function without imports keeps the framework line alone.
        let plain =
            std::fs::read_to_string(program.out().join("app/functions/plain/requirements.txt"))
                .unwrap();
        assert!(!plain.contains("tinypure"), "{provider}: {plain}");
    }
    let out = program.compile(runtime, &["--provider", "fission"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = program.manifest();
    assert!(manifest.get("layers").is_none(), "{manifest:#}");
    let zip = program.out().join("app/functions/work.zip");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    assert!(archive.by_name("tinypure/__init__.py").is_ok());
    assert!(archive.by_name("main.py").is_ok());
}
