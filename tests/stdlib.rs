//! Robustness: every `.py` file of every installed Python standard library goes
//! through the whole pipeline without a panic, and everything generated parses.

mod common;

use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::{CompileError, CompileOptions, parse};

#[test]
fn every_stdlib_file_compiles_or_is_a_syntax_error_and_every_output_parses() {
    let dirs = common::stdlib_dirs();
    assert!(!dirs.is_empty(), "no Python standard library found");
    let options = CompileOptions {
        plan: PlanOptions {
            annotations: false,
            remote_calls: RemoteCalls::All,
            ..PlanOptions::default()
        },
        prefix: String::new(),
        local_modules: false,
        fanout: lambada::package::DEFAULT_FANOUT,
        guide: None,
        exclude: Default::default(),
        provider: lambada::providers::ProviderKind::Aws,
    };
    let (mut compiled, mut rejected, mut moved) = (0, 0, 0);
    let mut failures = Vec::new();
    for dir in &dirs {
        for path in common::python_files(dir) {
            let Ok(source) = parse::read(&path) else {
                continue; // not UTF-8, or marked as generated: covered by the CLI tests
            };
            match lambada::compile(source, &options) {
                Ok(result) => {
                    compiled += 1;
                    moved += result.plan.moved().count();
                    for (name, bytes) in &result.output.files {
                        if name.extension().is_some_and(|e| e == "py") {
                            let text = String::from_utf8_lossy(bytes);
                            if !parse::parses(&text) {
                                failures.push(format!(
                                    "{}: {} does not parse",
                                    path.display(),
                                    name.display()
                                ));
                            }
                        }
                    }
                }
                Err(CompileError::Input(parse::InputError::Syntax(_))) => rejected += 1,
                Err(other) => failures.push(format!("{}: {other}", path.display())),
            }
        }
    }
    eprintln!(
        "{} stdlib dirs: {compiled} files compiled ({moved} units moved), {rejected} rejected as syntax errors",
        dirs.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compiled > 1000);
}
