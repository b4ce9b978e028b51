//! Questions about a function's body that need more than its scope: whether it
//! returns a function it defines (a closure cannot travel), or a lazy iterator (which
//! must not be materialised, and may be infinite).

use std::collections::HashMap;

use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextSize};

use super::effects::qualified_name;
use super::scope::Resolver;

/// Where a function returns a function it defines (a closure factory or decorator).
pub(super) fn returned_closure(body: &[Stmt]) -> Option<TextSize> {
    let mut nested: Vec<&str> = Vec::new();
    collect_nested_defs(body, &mut nested);
    find_return(body, &|value: &Expr| match value {
        Expr::Lambda(_) => Some(()),
        Expr::Name(name) if nested.contains(&name.id.as_str()) => Some(()),
        _ => None,
    })
    .map(|((), at)| at)
}

/// Builtins that return lazy iterators over their arguments.
const LAZY_BUILTINS: &[&str] = &["map", "filter", "zip", "enumerate", "reversed", "iter"];

/// Where a function returns a lazy iterator, and what makes it: `map`,
/// `itertools.count`, `a generator expression`.
pub(super) fn returned_lazy_iterator(
    body: &[Stmt],
    imports: &HashMap<String, String>,
) -> Option<(String, TextSize)> {
    let resolver = Resolver { imports };
    find_return(body, &|value: &Expr| lazy_iterator(value, &resolver))
}

fn lazy_iterator(value: &Expr, resolver: &Resolver<'_>) -> Option<String> {
    match value {
        Expr::Generator(_) => Some("a generator expression".to_owned()),
        Expr::Call(call) => {
            let name = qualified_name(&call.func, resolver)?;
            let lazy = LAZY_BUILTINS.contains(&name.as_str())
                || name
                    .strip_prefix("itertools.")
                    .is_some_and(|f| !f.is_empty());
            lazy.then_some(name)
        }
        _ => None,
    }
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

/// The first `return` (outside nested definitions) whose value `matches` says
/// something about, with what it says.
fn find_return<T>(body: &[Stmt], matches: &dyn Fn(&Expr) -> Option<T>) -> Option<(T, TextSize)> {
    for stmt in body {
        let found = match stmt {
            Stmt::Return(ret) => ret
                .value
                .as_deref()
                .and_then(matches)
                .map(|found| (found, ret.start())),
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => None,
            other => {
                let mut found = None;
                for_each_block(other, &mut |block| {
                    if found.is_none() {
                        found = find_return(block, matches);
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lazy(source: &str) -> Option<String> {
        let module = ruff_python_parser::parse_module(source)
            .unwrap()
            .into_syntax();
        let imports: HashMap<String, String> = [
            ("itertools".to_owned(), "itertools".to_owned()),
            ("count".to_owned(), "itertools.count".to_owned()),
        ]
        .into();
        let Stmt::FunctionDef(def) = &module.body[0] else {
            panic!("first statement must be a def")
        };
        returned_lazy_iterator(&def.body, &imports).map(|(what, _)| what)
    }

    #[test]
    fn lazy_iterators_returned_are_found() {
        assert_eq!(
            lazy("def f(xs):\n    return map(str, xs)\n").as_deref(),
            Some("map")
        );
        assert_eq!(
            lazy("def f():\n    if x:\n        return count(1)\n    return []\n").as_deref(),
            Some("itertools.count")
        );
        assert_eq!(
            lazy("def f(xs):\n    return (x for x in xs)\n").as_deref(),
            Some("a generator expression")
        );
    }

    #[test]
    fn materialised_results_are_not_lazy() {
        assert_eq!(lazy("def f(xs):\n    return list(map(str, xs))\n"), None);
        assert_eq!(
            lazy("def f(xs):\n    def g():\n        return iter(xs)\n    return g\n"),
            None
        );
    }
}
