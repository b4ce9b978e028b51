//! The binary wheel: built with maturin (`bindings = "bin"`, pyproject.toml) from the
//! debug build, installed with pip into a fresh virtual environment under `target/`, it
//! gives the `lambada` command, `python -m lambada` (which runs the binary and passes
//! its exit status on) and `import lambada; lambada.move(globals())`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The Python test venv (maturin, pip), or a panic saying how to make it.
fn test_venv() -> PathBuf {
    let venv = std::env::var_os("LAMBADA_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::crate_root().join("target").join("test-venv"));
    assert!(
        venv.join("bin").join("maturin").exists(),
        "maturin is missing from the Python test venv {}: run tests/run once (it installs tests/requirements.txt into target/test-venv), or set LAMBADA_TEST_VENV",
        venv.display()
    );
    venv
}

/// Runs a command to its end within `limit`; panics with its output when it fails.
fn run_ok(command: &mut Command, limit: Duration) -> Output {
    let output = run(command, limit);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn run(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Builds the wheel into `dir`; returns its path.
fn build_wheel(dir: &Path) -> PathBuf {
    let maturin = test_venv().join("bin").join("maturin");
    // The dev profile reuses the debug build the tests run (no second compile), and a
    // stored (uncompressed) wheel of its unstripped binary is quick to write and read.
    // `--auditwheel skip`: the manylinux audit is for wheels published to PyPI.
    run_ok(
        maturin_command(&maturin)
            .args([
                "build",
                "--profile",
                "dev",
                "--compression-method",
                "stored",
            ])
            .args(["--auditwheel", "skip", "--quiet", "--out"])
            .arg(dir)
            .current_dir(common::crate_root()),
        Duration::from_secs(600),
    );
    let wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "one wheel expected: {wheels:?}");
    let name = wheels[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        name.starts_with(&format!("lambada_faas-{version}-py3-none-")),
        "the wheel is named for the distribution lambada-faas and this version: {name}"
    );
    wheels[0].clone()
}

/// maturin, with an environment of a plain shell: what `cargo test` sets for a test
/// (`CARGO_*`, `OUT_DIR`, its `LD_LIBRARY_PATH`), seen by the cargo that maturin runs,
/// would make it build dependencies again, and the next `cargo build` after it.
fn maturin_command(maturin: &Path) -> Command {
    const KEPT: &[&str] = &["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_BUILD_JOBS"];
    let mut command = Command::new(maturin);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let injected = name == "CARGO"
            || name.starts_with("CARGO_")
            || name == "OUT_DIR"
            || name == "LD_LIBRARY_PATH";
        if injected && !KEPT.contains(&name.as_ref()) {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// A fresh virtual environment at `dir` with the wheel installed by pip.
fn install(wheel: &Path, dir: &Path) -> PathBuf {
    run_ok(
        Command::new("python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(dir),
        Duration::from_secs(120),
    );
    let python = dir.join("bin").join("python");
    // The test venv's pip installs into it (a venv without pip of its own is made in a
    // moment); --no-index: the wheel needs nothing else.
    run_ok(
        Command::new(test_venv().join("bin").join("python"))
            .args(["-m", "pip", "--python"])
            .arg(&python)
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-index",
            ])
            .arg(wheel),
        Duration::from_secs(300),
    );
    python
}

/// A command that sees only what the wheel installed: no development overrides, and a
/// PATH without the venv (the package must find its binary by itself).
fn isolated(program: &Path, cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(cwd)
        .env_remove("LAMBADA_BIN")
        .env_remove("PYTHONPATH")
        .env_remove("LAMBADA_TRANSPORT")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_wheel_installs_the_command_python_m_lambada_and_move() {
    let started = Instant::now();
    let target = common::crate_root().join("target");
    let scratch = tempfile::Builder::new()
        .prefix("wheel-test.")
        .tempdir_in(&target)
        .unwrap();
    let wheel = build_wheel(&scratch.path().join("wheels"));
    let built = started.elapsed();
    let venv = scratch.path().join("venv");
    let python = install(&wheel, &venv);
    // The wheel holds a copy of the whole binary: free the disk at once.
    std::fs::remove_dir_all(scratch.path().join("wheels")).unwrap();
    let installed = started.elapsed();
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let fixture = common::crate_root().join("fixtures").join("fib_counter.py");
    let expected = run_ok(
        Command::new("python3").arg(&fixture),
        Duration::from_secs(60),
    );
    let limit = Duration::from_secs(120);

    // The console command.
    let lambada = venv.join("bin").join("lambada");
    let version = run_ok(isolated(&lambada, &work).arg("--version"), limit);
    assert_eq!(
        text(&version.stdout).trim(),
        format!("lambada {}", env!("CARGO_PKG_VERSION"))
    );
    run_ok(
        isolated(&lambada, &work)
            .args(["--local", "-q", "-o", "by-command"])
            .arg(&fixture),
        limit,
    );
    assert!(work.join("by-command/fib_counter/lambada.json").is_file());

    // python -m lambada: the same binary, the same output package.
    run_ok(
        isolated(&python, &work)
            .args(["-m", "lambada", "--local", "-o", "by-module"])
            .arg(&fixture),
        limit,
    );
    let out = work.join("by-module/fib_counter");
    for file in ["fib_counter.py", "lambada.json", "functions/fib.zip"] {
        assert!(
            out.join(file).is_file(),
            "{file} missing from {}",
            out.display()
        );
    }
    let faasified = run_ok(
        isolated(&python, &work).arg(out.join("fib_counter.py")),
        limit,
    );
    assert_eq!(text(&faasified.stdout), text(&expected.stdout));
    assert_eq!(
        std::fs::read(out.join("lambada.json")).unwrap(),
        std::fs::read(work.join("by-command/fib_counter/lambada.json")).unwrap(),
        "python -m lambada and the command write the same output"
    );

    // Its exit status passes through: 2 for bad input, with the binary's message.
    let missing = run(
        isolated(&python, &work).args(["-m", "lambada", "--local", "no_such_file.py"]),
        limit,
    );
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    assert!(
        text(&missing.stderr).contains("no_such_file.py"),
        "{}",
        text(&missing.stderr)
    );

    // lambada.move(globals()) finds the installed binary by itself, and the program's
    // function runs in a cloud function of the embedded host it starts.
    let program = work.join("moved.py");
    std::fs::write(
        &program,
        "import os\n\ndef where(x):\n    return (x, os.getpid())\n\nimport lambada\nmoved = lambada.move(globals())\nx, pid = where(7)\nprint(x, moved.moved, moved.transport, pid != os.getpid())\n",
    )
    .unwrap();
    let moved = run_ok(isolated(&python, &work).arg(&program), limit);
    assert_eq!(text(&moved.stdout), "7 ['where'] lambda True\n");
    eprintln!(
        "wheel test: built in {:.1} s, installed by {:.1} s, done in {:.1} s",
        built.as_secs_f64(),
        installed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Without a source file (the interactive interpreter, `python -c`) move() says so.
#[test]
fn move_without_a_source_file_says_what_to_do() {
    let output = run(
        Command::new("python3")
            .args(["-c", "import lambada; lambada.move(globals())"])
            .env("PYTHONPATH", common::crate_root().join("python"))
            .env("LAMBADA_BIN", env!("CARGO_BIN_EXE_lambada")),
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "lambada.MoveError: lambada.move(globals()): module __main__ has no source file"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("put the program in a .py file"), "{stderr}");
}

/// A compile error is the compiler's own message, `file:line:col: error: ...`.
#[test]
fn move_of_a_program_that_does_not_compile_raises_the_compilers_message() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("bad.py");
    std::fs::write(
        &program,
        "def _lambada_x():\n    return 1\n\nimport lambada\nlambada.move(globals())\n",
    )
    .unwrap();
    let output = run(
        Command::new("python3")
            .arg(&program)
            .env("PYTHONPATH", common::crate_root().join("python"))
            .env("LAMBADA_BIN", env!("CARGO_BIN_EXE_lambada")),
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("lambada.MoveError: ") && stderr.contains("bad.py:1: error:"),
        "{stderr}"
    );
}
