//! Snapshot tests: for every fixture, the rewritten driver, each handler module and the
//! analysis report, pinned with insta. A change in what lambada generates shows up as
//! a readable snapshot diff in review (`cargo insta review`). Every generated Python
//! file must also parse, with the project's parser and with CPython's compiler.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::{CompileOptions, codegen, package, parse};

fn fixture_files() -> Vec<PathBuf> {
    common::fixtures().into_iter().map(|f| f.file).collect()
}

/// `fixtures/x.py` as the tests name it: relative, so snapshots do not depend on
/// where the repository is.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(common::crate_root())
        .unwrap_or(path)
        .to_path_buf()
}

fn snapshot_name(path: &Path) -> String {
    let rel = relative(path);
    let stem = rel.with_extension("");
    stem.components()
        .skip(1)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("__")
}

fn compile(path: &Path, remote_calls: RemoteCalls) -> lambada::Compiled {
    let source = parse::read(&relative(path)).expect("fixture reads");
    let options = CompileOptions {
        plan: PlanOptions {
            annotations: false,
            remote_calls,
            ..PlanOptions::default()
        },
        prefix: String::new(),
        local_modules: true,
        fanout: lambada::package::DEFAULT_FANOUT,
        guide: None,
        exclude: Default::default(),
        provider: lambada::providers::ProviderKind::Aws,
    };
    lambada::compile(source, &options).expect("fixture compiles")
}

/// The generated Python of one output: the driver, then every handler module.
fn generated_python(compiled: &lambada::Compiled) -> String {
    let mut text = String::new();
    for (path, bytes) in &compiled.output.files {
        let name = path.to_string_lossy();
        let is_driver = name == format!("{}.py", compiled.output.name);
        let is_handler = path.file_name().is_some_and(|n| n == codegen::HANDLER_FILE);
        if is_driver || is_handler {
            text.push_str(&format!("===== {name}\n"));
            text.push_str(&String::from_utf8_lossy(bytes));
        }
    }
    text
}

#[test]
fn generated_code_and_analysis_of_every_fixture() {
    // The working directory of integration tests is the crate root.
    std::env::set_current_dir(common::crate_root()).unwrap();
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for path in fixture_files() {
            let name = snapshot_name(&path);
            let compiled = compile(&path, RemoteCalls::Driver);
            insta::assert_snapshot!(format!("{name}__generated"), generated_python(&compiled));
            insta::assert_snapshot!(format!("{name}__analysis"), compiled.report.to_text());
        }
    });
}

#[test]
fn remote_calls_all_rebinds_moved_functions_inside_packages() {
    std::env::set_current_dir(common::crate_root()).unwrap();
    let compiled = compile(
        &common::crate_root().join("fixtures/fib_counter.py"),
        RemoteCalls::All,
    );
    let handler = String::from_utf8(
        compiled.output.files[Path::new("functions/fib/lambada_handler.py")].to_vec(),
    )
    .unwrap();
    insta::assert_snapshot!("fib_counter__remote_calls_all_handler", handler);
}

#[test]
fn every_generated_python_file_parses_with_ruff_and_cpython() {
    std::env::set_current_dir(common::crate_root()).unwrap();
    let out = tempfile::tempdir().unwrap();
    for path in fixture_files() {
        for mode in [RemoteCalls::Driver, RemoteCalls::All] {
            let compiled = compile(&path, mode);
            for (name, bytes) in &compiled.output.files {
                let is_runtime = codegen::is_runtime_file(&name.to_string_lossy());
                if name.extension().is_some_and(|e| e == "py") && !is_runtime {
                    let text = String::from_utf8_lossy(bytes);
                    assert!(
                        parse::parses(&text),
                        "{}: {} does not parse",
                        path.display(),
                        name.display()
                    );
                }
            }
            let root = out
                .path()
                .join(format!("{}-{mode:?}", snapshot_name(&path)));
            package::write(&compiled.output, &root).unwrap();
        }
    }
    for (path, bytes) in codegen::RUNTIME_FILES {
        if path.ends_with(".py") {
            let text = std::str::from_utf8(bytes).expect("the runtime package is UTF-8");
            assert!(parse::parses(text), "{path} does not parse");
        }
    }
    // One CPython run compiles everything (syntax fixtures need 3.12+: use the newest).
    let python = common::pythons()
        .into_iter()
        .rev()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import sys; sys.exit(sys.version_info < (3, 12))"])
                .status()
                .is_ok_and(|s| s.success())
        })
        .unwrap_or_else(|| PathBuf::from("python3"));
    let modern = python != Path::new("python3");
    let result = Command::new(&python)
        .args(["-m", "compileall", "-q", "-f", "-x"])
        // The runtime package is the same everywhere: its own tests compile it.
        .arg(if modern {
            "/lambada_runtime/"
        } else {
            "/lambada_runtime/|syntax_"
        })
        .arg(out.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONPYCACHEPREFIX", out.path().join("pycache"))
        .output()
        .expect("python runs");
    assert!(
        result.status.success(),
        "py_compile failed:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

#[test]
fn output_is_byte_identical_across_runs() {
    std::env::set_current_dir(common::crate_root()).unwrap();
    for path in fixture_files() {
        let first = compile(&path, RemoteCalls::Driver).output.files;
        let second = compile(&path, RemoteCalls::Driver).output.files;
        assert_eq!(first, second, "{}", path.display());
    }
}

/// The driver is the original program plus the header comment, the runtime import and
/// one decorator line per moved function or class: the definitions stay as they are
/// (they are the local twins). The only other changes are a fan-out site, on its own
/// line, and after each moved generator a copy of its resumable version, and nowhere
/// else.
#[test]
fn the_driver_only_adds_the_header_the_import_twin_decorators_and_fanouts() {
    std::env::set_current_dir(common::crate_root()).unwrap();
    for path in fixture_files() {
        for mode in [RemoteCalls::Driver, RemoteCalls::All] {
            let compiled = compile(&path, mode);
            let driver = &compiled.output.files[Path::new(&format!("{}.py", compiled.output.name))];
            let driver = String::from_utf8_lossy(driver);
            let (driver, copies) = without_generator_copies(&driver);
            let generators = compiled
                .plan
                .moved()
                .filter(|(unit, _)| {
                    compiled
                        .facts
                        .functions
                        .iter()
                        .any(|f| f.name == unit.name && f.yield_line.is_some())
                })
                .count();
            assert_eq!(copies, generators, "{}", path.display());
            let moved = compiled.plan.moved().count();
            let mut decorators = 0;
            let kept: Vec<&str> = driver
                .split_inclusive('\n')
                .enumerate()
                .filter(|(index, line)| {
                    let trimmed = line.trim();
                    let added = trimmed.starts_with("# Generated by lambada from") && *index < 3
                        || trimmed == "import lambada_runtime as _lambada";
                    let decorator = trimmed.starts_with("@_lambada.cloud(\"")
                        || trimmed.starts_with("@_lambada.cloud_class(\"")
                        || trimmed.starts_with("@_lambada.cloud_split(\"")
                        || trimmed.starts_with("@_lambada.cloud_coroutine(\"");
                    decorators += usize::from(decorator);
                    !(added || decorator)
                })
                .map(|(_, line)| line)
                .collect();
            let original = std::fs::read_to_string(&path).unwrap();
            let fanout_lines: Vec<usize> = compiled
                .report
                .fanouts
                .iter()
                .filter(|site| site.sequential.is_none())
                .map(|site| site.line)
                .collect();
            let kept: Vec<&str> = kept.concat().leak().split_inclusive('\n').collect();
            let lines: Vec<&str> = original.split_inclusive('\n').collect();
            assert_eq!(kept.len(), lines.len(), "{}", path.display());
            for (index, (got, want)) in kept.iter().zip(&lines).enumerate() {
                if fanout_lines.contains(&(index + 1)) {
                    assert!(
                        got.contains("_lambada.fanout("),
                        "{}:{}: {got}",
                        path.display(),
                        index + 1
                    );
                } else {
                    assert_eq!(got, want, "{}:{}", path.display(), index + 1);
                }
            }
            assert_eq!(decorators, moved, "{}", path.display());
        }
    }
}

/// The driver without the copies of its moved generators' resumable versions (each:
/// two blank lines, the comment, the decorator, the `def` and its indented lines), and
/// how many there were.
fn without_generator_copies(driver: &str) -> (String, usize) {
    const MARK: &str =
        "# The resumable version, for a segment whose state cannot travel (lambada).\n";
    let lines: Vec<&str> = driver.split_inclusive('\n').collect();
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    let mut copies = 0;
    let mut i = 0;
    while i < lines.len() {
        if lines[i] != MARK {
            kept.push(lines[i]);
            i += 1;
            continue;
        }
        copies += 1;
        assert!(kept.len() >= 2 && kept[kept.len() - 2..] == ["\n", "\n"]);
        kept.truncate(kept.len() - 2);
        assert!(lines[i + 1].starts_with("@_lambada.split.resumable_here(\""));
        assert!(lines[i + 2].starts_with("def "));
        i += 3;
        loop {
            // Indented lines belong to the copy; blank lines too when more of it follows.
            let next = lines[i..].iter().position(|l| !l.trim().is_empty());
            match next {
                Some(skip) if lines[i + skip].starts_with([' ', '\t']) => i += skip + 1,
                _ => break,
            }
        }
    }
    (kept.concat(), copies)
}

/// With every call remote, a package rebinds a moved coroutine it calls to an
/// `async def` stub that awaits the invocation.
#[test]
fn a_moved_coroutine_called_inside_a_package_gets_an_async_stub() {
    std::env::set_current_dir(common::crate_root()).unwrap();
    let compiled = compile(Path::new("fixtures/async_gather.py"), RemoteCalls::All);
    let handler = &compiled.output.files[Path::new("functions/survey/lambada_handler.py")];
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::assert_snapshot!(
            "async_gather__survey_remote_calls_all",
            String::from_utf8_lossy(handler)
        );
    });
}
