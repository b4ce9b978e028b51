//! The interpreters behind `Runtime: python3.X`, found once at host start-up.
//!
//! The default interpreter (`--python`, `python3`) is asked for its version, executable
//! and installation prefix; other `python3.X` are found in pyenv's versions
//! (`$PYENV_ROOT`, else `~/.pyenv`) and then on the host's `PATH` (pyenv's shims, which
//! are scripts, are skipped). A worker runs its interpreter by absolute path, so the
//! function's own `PATH` plays no part.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::HostError;

/// Minor versions of Python 3 looked for.
const MINORS: std::ops::RangeInclusive<u32> = 6..=14;

/// One installed interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The executable, absolute and without symbolic links.
    pub path: PathBuf,
    /// Its installation (`sys.base_prefix`), which a sandbox mounts read-only.
    pub prefix: PathBuf,
}

/// The interpreters by runtime name (`python3.12`).
#[derive(Debug, Clone)]
pub struct Runtimes {
    by_runtime: BTreeMap<String, Interpreter>,
    default: Interpreter,
    /// Every runtime runs on the default interpreter.
    every_runtime: bool,
}

impl Runtimes {
    /// Every runtime on `python`, as given (looked up on PATH when it starts a worker):
    /// for workers that are not isolated, nothing needs to be known about it.
    pub fn just(python: &Path) -> Runtimes {
        let default = Interpreter {
            path: python.to_path_buf(),
            prefix: PathBuf::new(),
        };
        Runtimes {
            by_runtime: BTreeMap::new(),
            default,
            every_runtime: true,
        }
    }

    /// Asks `python` for its version and finds the other installed `python3.X`.
    pub fn discover(python: &Path, every_runtime: bool) -> Result<Runtimes, HostError> {
        let (runtime, default) = ask(python).ok_or_else(|| {
            HostError::Config(format!(
                "cannot run {} to find its version; pass --python with a Python 3 interpreter",
                python.display()
            ))
        })?;
        let mut by_runtime = BTreeMap::new();
        for minor in MINORS.filter(|_| !every_runtime) {
            let name = format!("python3.{minor}");
            if let Some(found) = find_installed(&name) {
                by_runtime.insert(name, found);
            }
        }
        by_runtime.insert(runtime, default.clone());
        Ok(Runtimes {
            by_runtime,
            default,
            every_runtime,
        })
    }

    /// The interpreter of `runtime`, if it can run here.
    pub fn get(&self, runtime: &str) -> Option<&Interpreter> {
        if self.every_runtime {
            return runtime.starts_with("python3.").then_some(&self.default);
        }
        self.by_runtime.get(runtime)
    }

    /// The interpreter of `runtime`, else the default one (functions stored before an
    /// interpreter was uninstalled still start).
    pub fn get_or_default(&self, runtime: &str) -> &Interpreter {
        self.get(runtime).unwrap_or(&self.default)
    }

    pub fn default_interpreter(&self) -> &Interpreter {
        &self.default
    }

    /// The runtimes available, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.by_runtime.keys().map(String::as_str).collect()
    }
}

/// (`python3.X`, the interpreter) of whatever `python` names, by running it once.
fn ask(python: &Path) -> Option<(String, Interpreter)> {
    let output = Command::new(python)
        .args([
            "-I",
            "-c",
            "import sys; print('python%d.%d' % sys.version_info[:2]); print(sys.executable); print(sys.base_prefix)",
        ])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let mut lines = text.lines();
    let runtime = lines.next()?.to_string();
    let path = std::fs::canonicalize(lines.next()?).ok()?;
    let prefix = std::fs::canonicalize(lines.next()?).ok()?;
    Some((runtime, Interpreter { path, prefix }))
}

fn find_installed(name: &str) -> Option<Interpreter> {
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    let mut candidates = Vec::new();
    if let Some(root) = pyenv_root
        && let Ok(entries) = std::fs::read_dir(root.join("versions"))
    {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        // The newest patch release first (3.12.10 after 3.12.9).
        versions.sort_by_key(|v| {
            v.file_name()
                .and_then(|n| n.to_str())
                .map(|n| {
                    n.split('.')
                        .map(|p| p.parse::<u32>().unwrap_or(0))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        });
        candidates.extend(versions.iter().rev().map(|v| v.join("bin").join(name)));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(
            std::env::split_paths(&path)
                .filter(|dir| !dir.ends_with("shims"))
                .map(|dir| dir.join(name)),
        );
    }
    candidates.into_iter().find_map(|candidate| {
        let path = std::fs::canonicalize(&candidate).ok()?;
        if !path.is_file() {
            return None;
        }
        // bin/python3.X lives in the installation's prefix.
        let prefix = path.parent()?.parent()?.to_path_buf();
        Some(Interpreter { path, prefix })
    })
}
