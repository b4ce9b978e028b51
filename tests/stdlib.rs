//! Robustness: every `.py` file of every installed Python standard library goes
//! through the whole pipeline without a panic, and everything generated parses.

mod common;

use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::{CompileError, CompileOptions, parse};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    let files: Vec<_> = dirs
        .iter()
        .flat_map(|dir| common::python_files(dir))
        .collect();
    // Some 6,000 files over three interpreters: spread them over the cores (one test,
    // so the test harness would otherwise run them on one).
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut tally = Tally::default();
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        tally.add(path, &options);
                    }
                    tally
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let (mut compiled, mut rejected, mut moved) = (0, 0, 0);
    let mut failures = Vec::new();
    for tally in tallies {
        compiled += tally.compiled;
        rejected += tally.rejected;
        moved += tally.moved;
        failures.extend(tally.failures);
    }
    failures.sort();
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

/// What one worker thread saw.
#[derive(Default)]
struct Tally {
    compiled: usize,
    rejected: usize,
    moved: usize,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, path: &Path, options: &CompileOptions) {
        let Ok(source) = parse::read(path) else {
            return; // not UTF-8, or marked as generated: covered by the CLI tests
        };
        match lambada::compile(source, options) {
            Ok(result) => {
                self.compiled += 1;
                self.moved += result.plan.moved().count();
                for (name, bytes) in &result.output.files {
                    // The runtime is the same template text in every output: parsing
                    // it for each of the 8,000 files was most of this test's time.
                    let runtime = name
                        .components()
                        .any(|c| c.as_os_str() == "lambada_runtime");
                    if name.extension().is_some_and(|e| e == "py")
                        && (!runtime || self.compiled == 1)
                    {
                        let text = String::from_utf8_lossy(bytes);
                        if !parse::parses(&text) {
                            self.failures.push(format!(
                                "{}: {} does not parse",
                                path.display(),
                                name.display()
                            ));
                        }
                    }
                }
            }
            Err(CompileError::Input(parse::InputError::Syntax(_))) => self.rejected += 1,
            Err(other) => self.failures.push(format!("{}: {other}", path.display())),
        }
    }
}
