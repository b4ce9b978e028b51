//! Compiler throughput over the installed CPython standard library (not a test): every
//! `.py` file (site-packages excluded, non-UTF-8 files skipped) is read into memory
//! first, then on one thread, best of 3:
//!
//! - parse only (`ruff_python_parser::parse_module`),
//! - the whole pipeline in memory (`lambada::compile`: parse, analyse, plan, rewrite,
//!   generate, package with deterministic zips; nothing is written),
//! - the pipeline stage by stage, to show where the time goes.
//!
//! ```sh
//! cargo bench --bench compile
//! LAMBADA_BENCH_STDLIB=/usr/lib/python3.12 LAMBADA_BENCH_RUNS=5 cargo bench --bench compile
//! ```
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it compiles a handful of
//! files once and exits.

// The same allocator as the lambada binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::{CompileError, CompileOptions, analysis, package, parse, plan, report, rewrite};

/// Files compiled by the smoke run under `cargo test`.
const SMOKE_FILES: usize = 8;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runs = if full {
        env_or("LAMBADA_BENCH_RUNS", 3).max(1)
    } else {
        1
    };
    let Some(stdlib) = stdlib_dir() else {
        eprintln!("compile benchmark: no Python standard library found; skipped");
        return;
    };
    let mut paths = python_files(&stdlib);
    if !full {
        paths.truncate(SMOKE_FILES);
    }
    let (sources, not_utf8) = read_all(&paths);
    let bytes: usize = sources.iter().map(|s| s.text.len()).sum();
    let options = CompileOptions {
        plan: PlanOptions {
            annotations: false,
            remote_calls: RemoteCalls::Driver,
            ..PlanOptions::default()
        },
        prefix: String::new(),
        local_modules: false,
        fanout: lambada::package::DEFAULT_FANOUT,
        guide: None,
        exclude: Default::default(),
        provider: lambada::providers::ProviderKind::Aws,
    };

    let (parse_time, syntax_errors) = best_of(runs, || parse_all(&sources));
    let (pipeline_time, totals) = best_of(runs, || compile_all(&sources, &options));
    assert_eq!(totals.syntax_errors, syntax_errors.len());
    if !full {
        println!(
            "compile benchmark smoke run: {} files, {} compiled",
            sources.len(),
            totals.compiled
        );
        return;
    }

    println!(
        "corpus: {} ({} files, {:.1} MB; {not_utf8} non-UTF-8 files skipped), one thread, best of {runs}",
        stdlib.display(),
        sources.len(),
        mb(bytes)
    );
    println!(
        "{} syntax errors (rejected by the parser; their bytes count): {}",
        syntax_errors.len(),
        syntax_errors
            .iter()
            .map(|p| p.strip_prefix(&stdlib).unwrap_or(p).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "parse only   {:8.1} ms  {:7.1} MB/s",
        ms(parse_time),
        mb(bytes) / parse_time.as_secs_f64()
    );
    println!(
        "pipeline     {:8.1} ms  {:7.1} MB/s  ({} compiled, {} units moved, {} zips, {:.1} MB of output: {:.1} MB of handler modules, {:.1} MB of zips)",
        ms(pipeline_time),
        mb(bytes) / pipeline_time.as_secs_f64(),
        totals.compiled,
        totals.moved,
        totals.zips,
        mb(totals.output_bytes),
        mb(totals.handler_bytes),
        mb(totals.zip_bytes)
    );

    // Each stage's best over the runs.
    let mut stages = stage_times(&sources, &options);
    for _ in 1..runs {
        for (best, (_, time)) in stages.iter_mut().zip(stage_times(&sources, &options)) {
            best.1 = best.1.min(time);
        }
    }
    let staged: Duration = stages.iter().map(|(_, t)| *t).sum();
    println!("stage by stage (sum {:.1} ms):", ms(staged));
    for (name, time) in &stages {
        println!(
            "  {name:<28} {:8.1} ms  {:5.1} %",
            ms(*time),
            100.0 * time.as_secs_f64() / staged.as_secs_f64()
        );
    }
    let runtime_zip = runtime_zip_time(totals.zips);
    println!(
        "  of which compressing the {:.0} KB runtime module into each of the {} zips: ~{:.1} ms",
        lambada::codegen::RUNTIME_FILES
            .iter()
            .map(|(_, bytes)| bytes.len())
            .sum::<usize>() as f64
            / 1024.0,
        totals.zips,
        ms(runtime_zip)
    );
}

/// Runs `work` `runs` times; the shortest wall time and the result of the last run.
fn best_of<T>(runs: usize, mut work: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..runs {
        let started = Instant::now();
        let value = work();
        best = best.min(started.elapsed());
        result = Some(value);
    }
    (best, result.expect("at least one run"))
}

/// Parses every source; the ones that are syntax errors.
fn parse_all(sources: &[parse::Source]) -> Vec<&Path> {
    sources
        .iter()
        .filter(|s| ruff_python_parser::parse_module(&s.text).is_err())
        .map(|s| s.path.as_path())
        .collect()
}

#[derive(Default)]
struct Totals {
    compiled: usize,
    syntax_errors: usize,
    moved: usize,
    zips: usize,
    output_bytes: usize,
    handler_bytes: usize,
    zip_bytes: usize,
}

fn compile_all(sources: &[parse::Source], options: &CompileOptions) -> Totals {
    let mut totals = Totals::default();
    for source in sources {
        // The clone is the caller's copy of the text; it is part of what `compile` costs.
        match lambada::compile(source.clone(), options) {
            Ok(compiled) => {
                totals.compiled += 1;
                totals.moved += compiled.plan.moved().count();
                for (name, bytes) in &compiled.output.files {
                    totals.output_bytes += bytes.len();
                    if name.ends_with("lambada_handler.py") {
                        totals.handler_bytes += bytes.len();
                    } else if name.extension().is_some_and(|e| e == "zip") {
                        totals.zips += 1;
                        totals.zip_bytes += bytes.len();
                    }
                }
            }
            Err(CompileError::Input(parse::InputError::Syntax(_))) => totals.syntax_errors += 1,
            Err(other) => panic!("{other}"),
        }
    }
    totals
}

/// The pipeline of `lambada::compile`, stage by stage, timed separately.
fn stage_times(
    sources: &[parse::Source],
    options: &CompileOptions,
) -> Vec<(&'static str, Duration)> {
    let mut times = [Duration::ZERO; 7];
    let mut lap = |i: usize, started: &mut Instant| {
        let now = Instant::now();
        times[i] += now - *started;
        *started = now;
    };
    for source in sources {
        let mut t = Instant::now();
        let source = source.clone();
        lap(0, &mut t);
        let Ok(parsed) = parse::parse(source) else {
            lap(1, &mut t);
            continue;
        };
        lap(1, &mut t);
        let facts = analysis::analyse(&parsed, None);
        lap(2, &mut t);
        let plan = plan::plan(&facts, options.plan);
        lap(3, &mut t);
        let driver = rewrite::driver(&parsed, &facts, &plan).expect("edits do not overlap");
        lap(4, &mut t);
        let output = package::build(
            &parsed,
            &facts,
            &plan,
            driver,
            &options.prefix,
            options.provider,
        );
        lap(5, &mut t);
        let report = report::build(&parsed, &facts, &plan, &options.prefix);
        lap(6, &mut t);
        drop((output, report, plan, facts, parsed));
        lap(0, &mut t);
    }
    let names = [
        "copy in, drop out",
        "parse (+ line index)",
        "analyse",
        "plan",
        "rewrite (driver)",
        "package (codegen, zips, sha)",
        "report",
    ];
    names.into_iter().zip(times).collect()
}

/// Time to build `zips` zips holding only the runtime module: the share of packaging
/// that does not depend on the program.
fn runtime_zip_time(zips: usize) -> Duration {
    let sample = zips.clamp(1, 200);
    let files: std::collections::BTreeMap<String, lambada::package::Bytes> =
        lambada::codegen::RUNTIME_FILES
            .iter()
            .map(|&(path, bytes)| (path.to_owned(), std::borrow::Cow::Borrowed(bytes)))
            .collect();
    let started = Instant::now();
    for _ in 0..sample {
        let zip = package::zip_bytes(&files);
        std::hint::black_box(package::code_sha256(&zip));
    }
    started.elapsed() * zips as u32 / sample as u32
}

fn read_all(paths: &[PathBuf]) -> (Vec<parse::Source>, usize) {
    let mut sources = Vec::new();
    let mut not_utf8 = 0;
    for path in paths {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else {
            not_utf8 += 1;
            continue;
        };
        sources.push(parse::Source {
            path: path.clone(),
            module: module_name(path),
            text,
        });
    }
    (sources, not_utf8)
}

/// A valid Python identifier from the file stem: invalid characters become `_`.
fn module_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

fn stdlib_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LAMBADA_BENCH_STDLIB") {
        return Some(PathBuf::from(dir));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && dir.is_dir()).then_some(dir)
}

/// Every `.py` file below `dir`, sorted, without site-packages and __pycache__.
fn python_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "site-packages" && name != "__pycache__" {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "py") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1_000_000.0
}
