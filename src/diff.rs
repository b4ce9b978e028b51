//! Review: unified diffs of what lambada generated against what it came from.

use std::path::Path;

use similar::TextDiff;

use crate::{Compiled, codegen, providers};

/// What `--diff` shows: the driver and every handler module, each diffed against the
/// original program.
pub fn review(item: &Compiled) -> String {
    let original = &item.parsed.source.text;
    let source_name = item.parsed.source.path.display().to_string();
    let mut out = String::new();
    for (path, bytes) in &item.output.files {
        let is_driver = path == Path::new(&format!("{}.py", item.output.name));
        let is_handler = path.file_name().is_some_and(|n| n == codegen::HANDLER_FILE);
        if is_entry_file(item, path) {
            // The provider's entry point is new: shown whole, against nothing.
            let new_name = format!("{}/{}", item.output.name, path.display());
            out.push_str(&unified(
                "/dev/null",
                &new_name,
                "",
                &String::from_utf8_lossy(bytes),
            ));
            continue;
        }
        if !(is_driver || is_handler) {
            continue;
        }
        let generated = String::from_utf8_lossy(bytes);
        let new_name = format!("{}/{}", item.output.name, path.display());
        out.push_str(&unified(&source_name, &new_name, original, &generated));
    }
    out
}

/// Whether `path` (in the output) is an entry file of the provider's: one it adds to a
/// function's package directory, such as `functions/fib/main.py`.
fn is_entry_file(item: &Compiled, path: &Path) -> bool {
    let provider = providers::provider(item.output.manifest.provider);
    let mut parts = path.iter();
    let (Some(functions), Some(key), Some(name), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some(entry) = item.output.manifest.functions.get(&*key.to_string_lossy()) else {
        return false;
    };
    let header = codegen::header(&codegen::file_name(&item.parsed));
    functions == "functions"
        && provider
            .entry_files(&providers::EntryPoint {
                key: &key.to_string_lossy(),
                function_name: &entry.function_name,
                module: &item.output.manifest.module,
                header: &header,
                memory: entry.memory,
                timeout: entry.timeout,
            })
            .iter()
            .any(|(file, _)| std::ffi::OsStr::new(file) == name)
}

/// A unified diff of `old` (at path `old_name`) against `new`, with three lines of
/// context; empty when the texts are equal.
pub fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .missing_newline_hint(true)
        .to_string()
}

/// Colours a unified diff for a terminal: additions green, removals red, hunk headers cyan.
pub fn colorize(diff: &str) -> String {
    const GREEN: &str = "\x1b[32m";
    const RED: &str = "\x1b[31m";
    const CYAN: &str = "\x1b[36m";
    const BOLD: &str = "\x1b[1m";
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    for line in diff.split_inclusive('\n') {
        let colour = if line.starts_with("+++") || line.starts_with("---") {
            Some(BOLD)
        } else if line.starts_with('+') {
            Some(GREEN)
        } else if line.starts_with('-') {
            Some(RED)
        } else if line.starts_with("@@") {
            Some(CYAN)
        } else {
            None
        };
        match colour {
            Some(colour) => {
                let body = line.trim_end_matches('\n');
                out.push_str(colour);
                out.push_str(body);
                out.push_str(RESET);
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_only_changed_lines_with_context() {
        let diff = unified("a.py", "b.py", "x = 1\ny = 2\n", "x = 1\ny = 3\n");
        assert!(diff.starts_with("--- a.py\n+++ b.py\n"), "{diff}");
        assert!(diff.contains("-y = 2\n+y = 3\n"), "{diff}");
        assert!(diff.contains(" x = 1\n"), "{diff}");
    }

    #[test]
    fn colour_wraps_each_changed_line() {
        let coloured = colorize("-a\n+b\n c\n");
        assert_eq!(coloured, "\x1b[31m-a\x1b[0m\n\x1b[32m+b\x1b[0m\n c\n");
    }
}
