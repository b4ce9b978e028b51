//! The imports of a piece of code at any depth (module level, inside functions, classes,
//! loops, `with` blocks), with where they are and whether the code copes without them.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{ExceptHandler, Expr, Stmt};
use ruff_source_file::LineIndex;
use ruff_text_size::{Ranged, TextSize};

/// One absolute import of a top-level module.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Import {
    /// The top-level module (`numpy` for `import numpy.linalg`).
    pub top: String,
    pub line: usize,
    pub column: usize,
    /// Inside `try:` with a handler for ImportError (or broader), or under
    /// `if TYPE_CHECKING:`: the program runs without it, so a missing distribution is
    /// a warning, not an error.
    pub optional: bool,
}

/// Every absolute, non-`__future__` import in `stmts`.
pub fn imports<'a>(stmts: impl IntoIterator<Item = &'a Stmt>, source: &str) -> Vec<Import> {
    let mut scanner = Scanner {
        lines: LineIndex::from_source_text(source),
        source,
        optional_depth: 0,
        found: Vec::new(),
    };
    for stmt in stmts {
        scanner.visit_stmt(stmt);
    }
    scanner.found.sort();
    scanner.found.dedup();
    scanner.found
}

struct Scanner<'s> {
    lines: LineIndex,
    source: &'s str,
    optional_depth: usize,
    found: Vec<Import>,
}

impl Scanner<'_> {
    fn record(&mut self, module: &str, at: TextSize) {
        let top = module.split('.').next().unwrap_or(module);
        if top.is_empty() || top == "__future__" {
            return;
        }
        let location = self.lines.line_column(at, self.source);
        self.found.push(Import {
            top: top.to_owned(),
            line: location.line.get(),
            column: location.column.get(),
            optional: self.optional_depth > 0,
        });
    }

    fn optional(&mut self, body: &[Stmt]) {
        self.optional_depth += 1;
        self.visit_body(body);
        self.optional_depth -= 1;
    }
}

impl<'a> Visitor<'a> for Scanner<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    self.record(alias.name.as_str(), alias.start());
                }
            }
            Stmt::ImportFrom(import) if import.level == 0 => {
                if let Some(module) = &import.module {
                    self.record(module.as_str(), import.start());
                }
            }
            Stmt::Try(try_stmt) if try_stmt.handlers.iter().any(catches_import_error) => {
                self.optional(&try_stmt.body);
                for handler in &try_stmt.handlers {
                    self.visit_except_handler(handler);
                }
                self.visit_body(&try_stmt.orelse);
                self.visit_body(&try_stmt.finalbody);
            }
            Stmt::If(if_stmt) if is_type_checking(&if_stmt.test) => {
                self.optional(&if_stmt.body);
                for clause in &if_stmt.elif_else_clauses {
                    self.visit_body(&clause.body);
                }
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    // Imports only appear in statements; expressions hold no statements except through
    // lambdas, which cannot import.
    fn visit_expr(&mut self, _: &'a Expr) {}
}

/// `except ImportError`, `except ModuleNotFoundError`, a tuple holding one, `except
/// Exception`, `except BaseException` or a bare `except:`.
fn catches_import_error(handler: &ExceptHandler) -> bool {
    let ExceptHandler::ExceptHandler(handler) = handler;
    let Some(kind) = &handler.type_ else {
        return true;
    };
    let names: Vec<&Expr> = match kind.as_ref() {
        Expr::Tuple(tuple) => tuple.elts.iter().collect(),
        other => vec![other],
    };
    names.into_iter().any(|name| {
        let id = match name {
            Expr::Name(name) => name.id.as_str(),
            Expr::Attribute(attribute) => attribute.attr.as_str(),
            _ => return false,
        };
        matches!(
            id,
            "ImportError" | "ModuleNotFoundError" | "Exception" | "BaseException"
        )
    })
}

fn is_type_checking(test: &Expr) -> bool {
    match test {
        Expr::Name(name) => name.id.as_str() == "TYPE_CHECKING",
        Expr::Attribute(attribute) => attribute.attr.as_str() == "TYPE_CHECKING",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(source: &str) -> Vec<(String, usize, bool)> {
        let parsed = ruff_python_parser::parse_module(source).unwrap();
        imports(&parsed.syntax().body, source)
            .into_iter()
            .map(|i| (i.top, i.line, i.optional))
            .collect()
    }

    #[test]
    fn imports_at_any_depth_with_their_lines() {
        let source = "import numpy.linalg as la\nfrom __future__ import annotations\n\
                      from . import sibling\nclass A:\n    def f(self):\n        with x:\n            \
                      from requests import get\n";
        assert_eq!(
            scan(source),
            [("numpy".into(), 1, false), ("requests".into(), 7, false)]
        );
    }

    #[test]
    fn guarded_imports_are_optional() {
        let source = "try:\n    import ujson as json\nexcept ImportError:\n    import json\n\
                      if TYPE_CHECKING:\n    import pandas\ntry:\n    import yaml\nfinally:\n    pass\n";
        assert_eq!(
            scan(source),
            [
                ("json".into(), 4, false),
                ("pandas".into(), 6, true),
                ("ujson".into(), 2, true),
                ("yaml".into(), 8, false),
            ]
        );
    }
}
