//! Questions about a function's body that need more than its scope: whether it
//! returns a function it defines (a closure cannot travel).

use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextSize};

/// Where a function returns a function it defines (a closure factory or decorator).
pub(super) fn returned_closure(body: &[Stmt]) -> Option<TextSize> {
    let mut nested: Vec<&str> = Vec::new();
    collect_nested_defs(body, &mut nested);
    find_return(body, &|value: &Expr| match value {
        Expr::Lambda(_) => true,
        Expr::Name(name) => nested.contains(&name.id.as_str()),
        _ => false,
    })
}

fn collect_nested_defs<'a>(body: &'a [Stmt], into: &mut Vec<&'a str>) {
    for stmt in body {
        match stmt {
            Stmt::FunctionDef(def) => into.push(def.name.as_str()),
            Stmt::ClassDef(_) => {}
            other => for_each_block(other, &mut |block| collect_nested_defs(block, into)),
        }
    }
}

fn find_return(body: &[Stmt], returns_function: &dyn Fn(&Expr) -> bool) -> Option<TextSize> {
    for stmt in body {
        let found = match stmt {
            Stmt::Return(ret) => ret
                .value
                .as_deref()
                .filter(|v| returns_function(v))
                .map(|_| ret.start()),
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => None,
            other => {
                let mut found = None;
                for_each_block(other, &mut |block| {
                    found = found.or_else(|| find_return(block, returns_function));
                });
                found
            }
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Calls `f` on every statement block directly inside a compound statement.
fn for_each_block<'a>(stmt: &'a Stmt, f: &mut dyn FnMut(&'a [Stmt])) {
    match stmt {
        Stmt::If(s) => {
            f(&s.body);
            for clause in &s.elif_else_clauses {
                f(&clause.body);
            }
        }
        Stmt::For(s) => {
            f(&s.body);
            f(&s.orelse);
        }
        Stmt::While(s) => {
            f(&s.body);
            f(&s.orelse);
        }
        Stmt::With(s) => f(&s.body),
        Stmt::Try(s) => {
            f(&s.body);
            for handler in &s.handlers {
                let ast::ExceptHandler::ExceptHandler(h) = handler;
                f(&h.body);
            }
            f(&s.orelse);
            f(&s.finalbody);
        }
        Stmt::Match(s) => {
            for case in &s.cases {
                f(&case.body);
            }
        }
        _ => {}
    }
}
