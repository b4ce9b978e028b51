//! The third-party differential corpus (see `tests/corpus/README.md`): programs nobody
//! on the project wrote, extracted from pinned public repositories by
//! `tests/corpus/build.py`, run as they are and as FaaSified by the lambada binary in
//! both call modes by `tests/corpus/run.py`. Fails if a program outside
//! `tests/corpus/known_failures.txt` fails, or a listed failure now passes.
//!
//! The sources are git mirrors under `$LAMBADA_CORPUS_MIRRORS` (default
//! `/work/.mirror`); without them the test says so and passes. `LAMBADA_CORPUS=0`
//! skips it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python that runs the scripts and the programs: the test venv's (set by
/// `tests/run`), else `python3`.
fn python() -> PathBuf {
    std::env::var_os("LAMBADA_TEST_VENV")
        .map(|v| PathBuf::from(v).join("bin").join("python"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

fn mirrors() -> PathBuf {
    std::env::var_os("LAMBADA_CORPUS_MIRRORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/.mirror"))
}

#[test]
fn third_party_corpus_behaves_the_same() {
    if std::env::var("LAMBADA_CORPUS").is_ok_and(|v| v == "0") {
        eprintln!("corpus: skipped (LAMBADA_CORPUS=0)");
        return;
    }
    let mirrors = mirrors();
    if !mirrors.is_dir() {
        eprintln!(
            "corpus: skipped: no source mirrors at {} (set LAMBADA_CORPUS_MIRRORS; see tests/corpus/README.md)",
            mirrors.display()
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scripts = root.join("tests").join("corpus");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .to_path_buf();
    let out = target.join("corpus");
    let python = python();

    let build = Command::new(&python)
        .arg(scripts.join("build.py"))
        .arg("--out")
        .arg(&out)
        .arg("--mirrors")
        .arg(&mirrors)
        .output()
        .expect("run tests/corpus/build.py");
    print!("{}", String::from_utf8_lossy(&build.stdout));
    eprint!("{}", String::from_utf8_lossy(&build.stderr));
    if build.status.code() == Some(3) {
        eprintln!(
            "corpus: skipped: none of the sources is mirrored under {}",
            mirrors.display()
        );
        return;
    }
    assert!(
        build.status.success(),
        "tests/corpus/build.py failed ({})",
        build.status
    );

    let run = Command::new(&python)
        .arg(scripts.join("run.py"))
        .arg("--lambada")
        .arg(env!("CARGO_BIN_EXE_lambada"))
        .arg("--manifest")
        .arg(out.join("manifest.json"))
        .arg("--known")
        .arg(scripts.join("known_failures.txt"))
        .arg("--check")
        .output()
        .expect("run tests/corpus/run.py");
    let stdout = String::from_utf8_lossy(&run.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(
        run.status.success(),
        "the corpus differs from its known failures ({}): see the UNEXPECTED and NOW PASSING lines above and {}",
        run.status,
        out.join("report.json").display()
    );
}
