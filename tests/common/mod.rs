//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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
