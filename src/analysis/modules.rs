//! Local modules: Python files beside the program that it imports (`import helper`
//! with `helper.py` next to `app.py`). Their source travels with the driver and with
//! every package whose slice imports them, along with the local modules they import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use ruff_python_ast::Stmt;
use ruff_text_size::{Ranged, TextSize};

use super::scope::{self, Resolver};

use super::ImportFacts;

#[derive(Debug, Clone)]
pub struct LocalModule {
    /// The top-level module name (`helper`, or `shapes` for a package directory).
    pub name: String,
    /// Files relative to the program's directory, with their bytes.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Other local modules this one imports.
    pub imports: BTreeSet<String>,
    /// Functions of the module that change its module-level state (a `global` write, or
    /// a change to one of its module-level objects), as `file:line: name`.
    pub stateful: Vec<String>,
}

/// Finds the local modules the program imports (marking its imports that refer to
/// them) and, transitively, the local modules those import.
pub fn discover(dir: &Path, imports: &mut [ImportFacts]) -> Vec<LocalModule> {
    let mut found: BTreeMap<String, LocalModule> = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new();
    for import in imports.iter_mut() {
        if import.future || import.module.starts_with('.') {
            continue;
        }
        let top = top_level(&import.module);
        if local_module_path(dir, top).is_some() {
            import.local = Some(top.to_owned());
            pending.push(top.to_owned());
        }
    }
    while let Some(name) = pending.pop() {
        if found.contains_key(&name) {
            continue;
        }
        let Some(module) = load(dir, &name) else {
            continue;
        };
        pending.extend(module.imports.iter().cloned());
        found.insert(name, module);
    }
    found.into_values().collect()
}

fn top_level(module: &str) -> &str {
    module.split('.').next().unwrap_or(module)
}

enum ModulePath {
    File(PathBuf),
    Package(PathBuf),
}

fn local_module_path(dir: &Path, name: &str) -> Option<ModulePath> {
    let file = dir.join(format!("{name}.py"));
    if file.is_file() {
        return Some(ModulePath::File(file));
    }
    let package = dir.join(name);
    package
        .join("__init__.py")
        .is_file()
        .then_some(ModulePath::Package(package))
}

fn load(dir: &Path, name: &str) -> Option<LocalModule> {
    let mut files = Vec::new();
    match local_module_path(dir, name)? {
        ModulePath::File(path) => files.push((PathBuf::from(format!("{name}.py")), path)),
        ModulePath::Package(path) => collect_package(dir, &path, &mut files),
    }
    files.sort();
    let mut loaded = Vec::new();
    let mut imports = BTreeSet::new();
    let mut stateful = Vec::new();
    for (relative, path) in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if let Ok(text) = std::str::from_utf8(&bytes)
            && let Ok(parsed) = ruff_python_parser::parse_module(text)
        {
            let body = &parsed.syntax().body;
            let mut modules = Vec::new();
            collect(body, &mut modules);
            for module in modules {
                let top = top_level(&module);
                if top != name && local_module_path(dir, top).is_some() {
                    imports.insert(top.to_owned());
                }
            }
            let lines = ruff_source_file::LineIndex::from_source_text(text);
            for (function, at) in state_changing_functions(body) {
                stateful.push(format!(
                    "{}:{}: {function}",
                    relative.display(),
                    lines.line_index(at).get()
                ));
            }
        }
        loaded.push((relative, bytes));
    }
    Some(LocalModule {
        name: name.to_owned(),
        files: loaded,
        imports,
        stateful,
    })
}

fn collect_package(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                collect_package(root, &path, files);
            }
        } else if path.extension().is_some_and(|e| e == "py")
            && let Ok(relative) = path.strip_prefix(root)
        {
            files.push((relative.to_owned(), path.clone()));
        }
    }
}

/// Top-level functions that change the module's own state: they assign a global, or
/// change an object bound at module level (`entries.append(x)`, `table[k] = v`).
fn state_changing_functions(body: &[Stmt]) -> Vec<(String, TextSize)> {
    let imports = HashMap::new();
    let resolver = Resolver { imports: &imports };
    let module_names: BTreeSet<String> = body
        .iter()
        .flat_map(|stmt| scope::module_statement(stmt, &resolver).bound)
        .collect();
    body.iter()
        .filter_map(|stmt| match stmt {
            Stmt::FunctionDef(def) => Some(def),
            _ => None,
        })
        .filter(|def| {
            let facts = scope::function_scope(def, &resolver);
            !facts.globals_written.is_empty()
                || facts
                    .attribute_writes
                    .iter()
                    .any(|(root, _)| facts.free.contains_key(root) && module_names.contains(root))
        })
        .map(|def| (def.name.to_string(), def.start()))
        .collect()
}

fn collect(body: &[Stmt], modules: &mut Vec<String>) {
    for stmt in body {
        match stmt {
            Stmt::Import(import) => {
                modules.extend(import.names.iter().map(|a| a.name.to_string()));
            }
            Stmt::ImportFrom(import) if import.level == 0 => {
                if let Some(module) = &import.module {
                    modules.push(module.to_string());
                }
            }
            Stmt::FunctionDef(def) => collect(&def.body, modules),
            Stmt::ClassDef(class) => collect(&class.body, modules),
            Stmt::If(if_stmt) => {
                collect(&if_stmt.body, modules);
                for clause in &if_stmt.elif_else_clauses {
                    collect(&clause.body, modules);
                }
            }
            Stmt::Try(try_stmt) => {
                collect(&try_stmt.body, modules);
                for handler in &try_stmt.handlers {
                    let ruff_python_ast::ExceptHandler::ExceptHandler(h) = handler;
                    collect(&h.body, modules);
                }
                collect(&try_stmt.orelse, modules);
                collect(&try_stmt.finalbody, modules);
            }
            _ => {}
        }
    }
}
