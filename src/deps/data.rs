//! Data files: files beside the program that a cloud function reads travel in its
//! package, at the same relative path, so `open("data.csv")` and
//! `Path(__file__).parent / "data.csv"` find them in the cloud as they did here.
//!
//! A path is taken from reads the analysis recognises (`open`, `Path.read_text`,
//! `os.listdir`...), and from any call argument that is a relative string literal
//! naming a file beside the program (`pandas.read_csv("data.csv")`). Reads it cannot
//! follow (computed or absolute paths, files that do not exist yet, writes) keep the
//! function local; the analysis says so with the line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ruff_python_ast::Expr;
use ruff_python_ast::visitor::{self, Visitor};

use crate::Compiled;
use crate::analysis::paths;
use crate::analysis::scope::Resolver;

/// Data files a function may carry in all, by default.
pub const DEFAULT_LIMIT: u64 = 20 * 1024 * 1024;

/// One file that travels: its path relative to the program's directory, `/`-separated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DataFile {
    pub relative: String,
    pub path: PathBuf,
    pub size: u64,
}

/// The data files of every moved unit that has some.
pub fn collect(
    compiled: &Compiled,
    dir: &Path,
    limit: u64,
) -> Result<BTreeMap<String, Vec<DataFile>>, String> {
    let resolver = Resolver {
        imports: &compiled.facts.import_map,
    };
    let mut all = BTreeMap::new();
    let mut errors = Vec::new();
    for (unit, movement) in compiled.plan.moved() {
        let stmts: Vec<_> = movement
            .slice
            .iter()
            .map(|&i| compiled.parsed.ast.body[i].clone())
            .collect();
        let mut names: BTreeSet<String> = paths::relative_reads(&stmts, &resolver)
            .into_iter()
            .map(|(_, path)| path)
            .collect();
        names.extend(literal_file_arguments(&stmts, dir));
        let mut files = Vec::new();
        for name in names {
            gather(dir, &name, &mut files)
                .map_err(|e| format!("{}: {e}", dir.join(&name).display()))?;
        }
        files.sort();
        files.dedup();
        let total: u64 = files.iter().map(|f| f.size).sum();
        if total > limit {
            let mut largest = files.clone();
            largest.sort_by_key(|f| std::cmp::Reverse(f.size));
            errors.push(format!(
                "{}: error: the data files cloud function `{}` reads total {:.1} MB, over the {:.1} MB limit ({}); raise it with --data-limit MB, or keep the function local",
                compiled.parsed.source.path.display(),
                unit.name,
                total as f64 / 1048576.0,
                limit as f64 / 1048576.0,
                largest.iter().take(3).map(|f| format!("{} {:.1} MB", f.relative, f.size as f64 / 1048576.0)).collect::<Vec<_>>().join(", ")
            ));
        }
        if !files.is_empty() {
            all.insert(unit.name.clone(), files);
        }
    }
    if errors.is_empty() {
        Ok(all)
    } else {
        Err(errors.join("\n"))
    }
}

/// Relative string literals passed to calls that name a file beside the program.
fn literal_file_arguments(stmts: &[ruff_python_ast::Stmt], dir: &Path) -> Vec<String> {
    struct Literals<'d> {
        dir: &'d Path,
        found: Vec<String>,
    }
    impl<'x> Visitor<'x> for Literals<'_> {
        fn visit_expr(&mut self, expr: &'x Expr) {
            if let Expr::Call(call) = expr {
                let args = call
                    .arguments
                    .args
                    .iter()
                    .chain(call.arguments.keywords.iter().map(|k| &k.value));
                for arg in args {
                    if let Expr::StringLiteral(text) = arg {
                        let text = text.value.to_str();
                        if is_plain_relative(text) && self.dir.join(text).is_file() {
                            self.found.push(text.trim_start_matches("./").to_owned());
                        }
                    }
                }
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut literals = Literals {
        dir,
        found: Vec::new(),
    };
    literals.visit_body(stmts);
    literals.found
}

fn is_plain_relative(text: &str) -> bool {
    !text.is_empty()
        && text.len() < 256
        && !text.starts_with(['/', '~'])
        && !text.contains('\n')
        && !text.split('/').any(|part| part == "..")
}

/// The file, or every file under the directory (without `__pycache__` and hidden
/// entries).
fn gather(dir: &Path, name: &str, files: &mut Vec<DataFile>) -> std::io::Result<()> {
    let path = dir.join(name);
    let meta = std::fs::metadata(&path)?;
    if meta.is_file() {
        files.push(DataFile {
            relative: name.to_owned(),
            path,
            size: meta.len(),
        });
        return Ok(());
    }
    for entry in std::fs::read_dir(&path)? {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with('.') || file == "__pycache__" {
            continue;
        }
        gather(dir, &format!("{name}/{file}"), files)?;
    }
    Ok(())
}
