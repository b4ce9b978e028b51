//! Classes: their methods (with the kind and read-only parameters of each), what
//! their bodies use, and anything that stops the class from moving.

use std::collections::{BTreeMap, BTreeSet};

use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;

use super::body::returned_lazy_iterator;
use super::scope::{self, Resolver, ScopeFacts};
use super::{Analyser, ClassFacts, MethodFacts, MethodKind, readonly};

impl Analyser<'_> {
    pub(super) fn class(&mut self, index: usize, class: &ast::StmtClassDef) {
        self.note_decorators(&class.decorator_list);
        for stmt in &class.body {
            if let Stmt::FunctionDef(def) = stmt {
                self.note_decorators(&def.decorator_list);
            }
        }
        let mut blockers = Vec::new();
        let mut methods = Vec::new();
        let mut free = BTreeMap::new();
        let mut calls = BTreeSet::new();
        let mut globals_written = BTreeSet::new();
        let mut effects = Vec::new();
        let mut attribute_writes = Vec::new();
        let mut attribute_calls = Vec::new();
        let mut uses_module_namespace = None;
        let line = self.line(class.name.start());

        for decorator in &class.decorator_list {
            let text = self.parsed.text(decorator.expression.range());
            if !matches!(text, "dataclass" | "dataclasses.dataclass") {
                blockers.push((
                    format!("decorated with @{text}, which a proxy class cannot reproduce"),
                    self.line(decorator.start()),
                ));
            }
        }
        let mut bases = Vec::new();
        if let Some(arguments) = &class.arguments {
            if !arguments.keywords.is_empty() {
                blockers.push((
                    "has class keywords (a metaclass)".to_owned(),
                    self.line(arguments.start()),
                ));
            }
            for base in arguments.args.iter() {
                match base {
                    Expr::Name(_) | Expr::Attribute(_) => {
                        bases.push(self.parsed.text(base.range()).to_owned());
                    }
                    _ => blockers.push((
                        format!(
                            "has a computed base class `{}`",
                            self.parsed.text(base.range())
                        ),
                        self.line(base.start()),
                    )),
                }
            }
        }
        for stmt in &class.body {
            match stmt {
                Stmt::FunctionDef(def) => {
                    let scope = self.scope_of(def);
                    for (name, at) in &scope.free {
                        free.entry(name.clone()).or_insert(self.line(*at));
                    }
                    calls.extend(scope.calls.iter().cloned());
                    globals_written.extend(scope.globals_written.iter().cloned());
                    effects.extend(self.lines_of_effects(&scope));
                    attribute_writes.extend(self.lines_of_writes(&scope));
                    attribute_calls.extend(self.lines_of_calls(&scope));
                    uses_module_namespace =
                        uses_module_namespace.or(self.module_namespace_use(&scope));
                    match self.method(def, &scope) {
                        Ok(method) => methods.push(method),
                        Err(blocker) => blockers.push(blocker),
                    }
                }
                Stmt::ClassDef(nested) => blockers.push((
                    format!("defines a nested class `{}`", nested.name),
                    self.line(nested.start()),
                )),
                other => {
                    // Class attributes: what they load counts as the class's needs.
                    let resolver = Resolver {
                        imports: &self.import_map,
                    };
                    let scope = scope::module_statement(other, &resolver);
                    if scope.bound.contains("__slots__") {
                        blockers.push((
                            "defines __slots__, so its state is not in __dict__".to_owned(),
                            self.line(other.start()),
                        ));
                    }
                    for (name, at) in &scope.free {
                        free.entry(name.clone()).or_insert(self.line(*at));
                    }
                }
            }
        }
        if methods.is_empty() && blockers.is_empty() {
            blockers.push(("has no methods to run remotely".to_owned(), line));
        }
        self.facts.classes.push(ClassFacts {
            name: class.name.to_string(),
            stmt: index,
            line,
            bases,
            twin: self.twin_site(class.start(), class.decorator_list.last().map(Ranged::end)),
            methods,
            free,
            calls,
            globals_written,
            effects,
            attribute_writes,
            attribute_calls,
            uses_module_namespace,
            blockers,
        });
    }

    fn method(
        &self,
        def: &ast::StmtFunctionDef,
        scope: &ScopeFacts,
    ) -> Result<MethodFacts, (String, usize)> {
        let name = def.name.to_string();
        let line = self.line(def.name.start());
        if FORBIDDEN_DUNDERS.contains(&name.as_str()) {
            return Err((
                format!("defines {name}, which changes how attributes or instances work"),
                line,
            ));
        }
        if def.is_async {
            return Err((format!("method {name} is async"), line));
        }
        if let Some(at) = scope.first_yield
            && name != "__iter__"
        {
            return Err((
                format!(
                    "method {name} is a generator (yield at line {})",
                    self.line(at)
                ),
                line,
            ));
        }
        let mut kind = MethodKind::Instance;
        for decorator in &def.decorator_list {
            let text = self.parsed.text(decorator.expression.range());
            kind = match text {
                "staticmethod" => MethodKind::Static,
                "classmethod" => MethodKind::Class,
                "property" | "functools.cached_property" | "cached_property" => {
                    MethodKind::PropertyGet
                }
                _ if text.ends_with(".setter") => MethodKind::PropertySet,
                _ if text.ends_with(".deleter") => MethodKind::PropertyDelete,
                _ if text.ends_with(".getter") => MethodKind::PropertyGet,
                _ => {
                    return Err((
                        format!("method {name} is decorated with @{text}"),
                        self.line(decorator.start()),
                    ));
                }
            };
        }
        let has_receiver = def
            .parameters
            .posonlyargs
            .iter()
            .chain(&def.parameters.args)
            .next()
            .is_some();
        if kind != MethodKind::Static && !has_receiver {
            return Err((format!("method {name} takes no self parameter"), line));
        }
        Ok(MethodFacts {
            name,
            line,
            kind,
            readonly: readonly::readonly_params(def, &self.import_map),
            returns_lazy_iterator: returned_lazy_iterator(&def.body, &self.import_map)
                .map(|(what, at)| (what, self.line(at))),
        })
    }
}

/// Dunder methods that change how attributes or instances work: a proxy holding the
/// state in its `__dict__` cannot stand in for a class defining them.
const FORBIDDEN_DUNDERS: &[&str] = &[
    "__getattr__",
    "__getattribute__",
    "__setattr__",
    "__delattr__",
    "__new__",
    "__del__",
    "__init_subclass__",
    "__class_getitem__",
    "__set_name__",
    "__get__",
    "__set__",
    "__delete__",
    "__enter__",
    "__exit__",
    "__aenter__",
    "__aexit__",
    "__await__",
    "__aiter__",
    "__anext__",
    "__next__",
    "__reduce__",
    "__reduce_ex__",
    "__getstate__",
    "__setstate__",
    "__copy__",
    "__deepcopy__",
];
