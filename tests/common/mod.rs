//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The standard library directories of every Python installed on this machine
/// (python3 on PATH, and 3.9–3.13 under pyenv when present), without duplicates.
pub fn stdlib_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for python in pythons() {
        let out = Command::new(&python)
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
            ])
            .output();
        if let Ok(out) = out
            && out.status.success()
        {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            let dir = dir.canonicalize().unwrap_or(dir);
            if dir.is_dir() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// Every Python interpreter from 3.9 to 3.13 found on the machine, python3 first.
pub fn pythons() -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("python3")];
    if let Some(home) = std::env::var_os("HOME") {
        let versions = Path::new(&home).join(".pyenv/versions");
        if let Ok(entries) = std::fs::read_dir(&versions) {
            let mut candidates: Vec<PathBuf> = entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    ["3.9.", "3.10.", "3.11.", "3.12.", "3.13."]
                        .iter()
                        .any(|v| name.starts_with(v))
                })
                .map(|e| e.path().join("bin/python"))
                .filter(|p| p.is_file())
                .collect();
            candidates.sort();
            found.extend(candidates);
        }
    }
    found
}

/// Every `.py` file below `dir` (site-packages excluded: it is not the standard library).
pub fn python_files(dir: &Path) -> Vec<PathBuf> {
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

#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub status: Option<i32>,
}

pub fn run_python(python: &Path, dir: &Path, script: &str, stdin: Option<&Path>) -> Run {
    run_python_with(python, dir, script, stdin, &[])
}

/// `run_python` with more environment variables.
pub fn run_python_with(
    python: &Path,
    dir: &Path,
    script: &str,
    stdin: Option<&Path>,
    env: &[(&str, &std::ffi::OsStr)],
) -> Run {
    let stdin = match stdin {
        Some(path) => Stdio::from(std::fs::File::open(path).expect("stdin file opens")),
        None => Stdio::null(),
    };
    let mut child = Command::new(python)
        .arg(script)
        .current_dir(dir)
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .env_remove("LAMBADA_TRANSPORT")
        .envs(env.iter().copied())
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait works").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("output collected");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: normalize_stderr(&String::from_utf8_lossy(&out.stderr)),
        status: out.status.code(),
    }
}

/// The first line of the block the runtime prints on stderr after the local traceback
/// of an exception raised in a cloud function that escaped the program.
pub const REMOTE_TRACEBACK_HEADER: &str = "The exception above was raised in cloud function ";

/// Compares stderr up to the first traceback, then only its last line: the final
/// `Type: message` (the frames point at other files in the FaaSified copy). The block
/// with the remote traceback that the runtime adds after the local one is dropped
/// first, so its own last line cannot stand in for a missing or different local one.
pub fn normalize_stderr(stderr: &str) -> String {
    let stderr = match stderr
        .match_indices(REMOTE_TRACEBACK_HEADER)
        .find(|(at, _)| *at == 0 || stderr[..*at].ends_with('\n'))
    {
        Some((at, _)) => &stderr[..at],
        None => stderr,
    };
    match stderr.find("Traceback (most recent call last):") {
        None => stderr.to_owned(),
        Some(start) => {
            let last = stderr.trim_end().lines().last().unwrap_or_default();
            format!("{}{last}", &stderr[..start])
        }
    }
}

pub struct Fixture {
    pub name: String,
    pub file: PathBuf,
    pub stdin: Option<PathBuf>,
}

pub fn fixtures() -> Vec<Fixture> {
    let root = crate_root().join("fixtures");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&root)
        .expect("fixtures/ exists")
        .flatten()
    {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "py") {
            let stdin = root.join(format!("{name}.stdin"));
            found.push(Fixture {
                name,
                stdin: stdin.is_file().then_some(stdin),
                file: path,
            });
        } else if path.join("main.py").is_file() {
            let stdin = path.join("stdin.txt");
            found.push(Fixture {
                name,
                stdin: stdin.is_file().then_some(stdin),
                file: path.join("main.py"),
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Fixtures whose syntax needs Python 3.12 or later.
pub fn needs_modern_python(fixture: &Fixture) -> bool {
    fixture.name.starts_with("syntax_") && fixture.name != "syntax_walrus"
}

/// Whether this interpreter is Python 3.12 or later.
pub fn python_is_modern(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)",
        ])
        .status()
        .is_ok_and(|s| s.success())
}
