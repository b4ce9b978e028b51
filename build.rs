//! Embeds the runtime package: every file under `templates/lambada_runtime/` (except
//! bytecode caches) becomes an entry of `RUNTIME_FILES` in `codegen`, so a file added
//! to the runtime is never forgotten by the compiler.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const RUNTIME_DIR: &str = "templates/lambada_runtime";

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = root.join(RUNTIME_DIR);
    // Cargo scans a directory given here for changes to any file below it.
    println!("cargo:rerun-if-changed={RUNTIME_DIR}");
    let mut files = Vec::new();
    if dir.is_dir() {
        collect(&dir, &mut files);
    } else {
        println!("cargo:warning={RUNTIME_DIR}/ is missing: the runtime package is empty");
    }
    files.sort();
    let mut code = String::from(
        "/// The runtime package, `(path in the output, contents)`, sorted by path.\n\
         pub const RUNTIME_FILES: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        let relative = file
            .strip_prefix(&dir)
            .expect("collected below the directory")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let _ = writeln!(
            code,
            "    ({:?}, include_bytes!({:?})),",
            format!("lambada_runtime/{relative}"),
            file.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("runtime_files.rs"), code).expect("OUT_DIR is writable");
}

fn collect(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        if path.is_dir() {
            collect(&path, into);
        } else if !name.ends_with(".pyc") {
            into.push(path);
        }
    }
}
