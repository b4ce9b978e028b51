//! Python scoping: which names a piece of code binds, and which it loads from the
//! module (its free names), following the language's rules for function, class,
//! lambda and comprehension scopes, `global` and `nonlocal`.
//!
//! Effects (printing, `input()`, `yield`, ...) are collected on the same walk, since
//! they need the same knowledge of what a name refers to.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{
    self as ast, Comprehension, ExceptHandler, Expr, ExprContext, Parameters, Pattern, Stmt,
};
use ruff_text_size::{Ranged, TextRange, TextSize};

use super::effects::{Effect, EffectKind, classify_call, classify_load};

/// What a scope (and everything nested in it) needs from the module.
#[derive(Debug, Default, Clone)]
pub struct ScopeFacts {
    /// Module-level names loaded, with the first place each is loaded.
    pub free: BTreeMap<String, TextSize>,
    /// Names called directly (`f(...)`), a subset of the loaded names' spellings.
    pub calls: BTreeSet<String>,
    /// Names loaded other than as a direct callee (`map(f, xs)`, `key=f`, `x = f`):
    /// values that may travel, wherever they are resolved.
    pub value_refs: BTreeSet<String>,
    /// Names declared `global` and assigned somewhere in the scope or nested scopes.
    pub globals_written: BTreeSet<String>,
    /// Names this scope binds locally (parameters, assignments, imports, defs...).
    pub bound: BTreeSet<String>,
    /// Effects found anywhere inside, nested scopes included.
    pub effects: Vec<Effect>,
    /// The first `yield` directly in this scope (not in nested functions).
    pub first_yield: Option<TextSize>,
    /// Objects whose attributes the code changes, by the name at the root of the
    /// changed expression: `Plugin` for `Plugin.order.append(x)` or `Plugin.n += 1`,
    /// `cls` for `cls.loaded = 0`, `type()` for `type(self).count += 1`.
    pub attribute_writes: Vec<(String, TextSize)>,
    /// Methods called on an attribute, by root and method name: `("Spam", "get_spam")`
    /// for `Spam.manager.get_spam(name)`. Whether such a call changes the object depends
    /// on the method, which the plan looks up among the program's classes.
    pub attribute_calls: Vec<(String, String, TextSize)>,
}

/// The kind of scope being walked, which decides how its bindings resolve names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    /// Module-level code: nothing is local, every load is a module name.
    Module,
    Function,
    Class,
}

/// Context shared by every scope of one analysis: which module names are imports
/// (so `sys.stdout.write` resolves through `import sys as system`).
pub struct Resolver<'a> {
    /// Local alias → qualified name, e.g. `np` → `numpy`, `randint` → `random.randint`.
    pub imports: &'a HashMap<String, String>,
}

struct ScopeWalker<'r> {
    kind: ScopeKind,
    resolver: &'r Resolver<'r>,
    bound: HashSet<String>,
    globals: HashSet<String>,
    nonlocals: HashSet<String>,
    stored: HashSet<String>,
    /// Loads seen directly in this scope (resolved after the walk, once all bindings are known).
    loads: Vec<(String, TextSize)>,
    /// Free names of nested scopes, to be resolved against this scope's bindings.
    nested_free: Vec<(String, TextSize)>,
    /// Names nested scopes declared `global`: always module names.
    nested_explicit_global: Vec<(String, TextSize)>,
    calls: BTreeSet<String>,
    value_refs: BTreeSet<String>,
    globals_written: BTreeSet<String>,
    effects: Vec<Effect>,
    first_yield: Option<TextSize>,
    attribute_writes: Vec<(String, TextSize)>,
    attribute_calls: Vec<(String, String, TextSize)>,
    /// A class body directly in the module: its methods' facts are kept.
    capture_methods: bool,
    /// Facts of the top-level functions and methods walked, by the def's start.
    functions: Vec<(TextSize, ScopeFacts)>,
    /// Names bound by walrus targets inside comprehensions, which bind in this scope.
    walrus_in_comprehension: bool,
}

impl<'r> ScopeWalker<'r> {
    fn new(kind: ScopeKind, resolver: &'r Resolver<'r>) -> Self {
        Self {
            kind,
            resolver,
            bound: HashSet::new(),
            globals: HashSet::new(),
            nonlocals: HashSet::new(),
            stored: HashSet::new(),
            loads: Vec::new(),
            nested_free: Vec::new(),
            nested_explicit_global: Vec::new(),
            calls: BTreeSet::new(),
            value_refs: BTreeSet::new(),
            globals_written: BTreeSet::new(),
            effects: Vec::new(),
            first_yield: None,
            attribute_writes: Vec::new(),
            attribute_calls: Vec::new(),
            capture_methods: false,
            functions: Vec::new(),
            walrus_in_comprehension: false,
        }
    }

    fn bind(&mut self, name: &str) {
        self.stored.insert(name.to_owned());
        if !self.globals.contains(name) && !self.nonlocals.contains(name) {
            self.bound.insert(name.to_owned());
        }
    }

    fn load(&mut self, name: &str, at: TextSize) {
        self.loads.push((name.to_owned(), at));
    }

    fn bind_parameters(&mut self, parameters: &Parameters) {
        for param in parameters.iter() {
            self.bind(param.name().as_str());
        }
    }

    /// Walks a lambda body as its own scope and keeps what escapes it.
    fn nested_lambda(&mut self, parameters: Option<&Parameters>, body: &Expr) {
        let mut inner = ScopeWalker::new(ScopeKind::Function, self.resolver);
        if let Some(parameters) = parameters {
            inner.bind_parameters(parameters);
        }
        inner.visit_expr(body);
        self.absorb(inner.finish_nested());
    }

    fn absorb(&mut self, nested: Escaped) {
        self.nested_free.extend(nested.free);
        self.nested_explicit_global.extend(nested.explicit_global);
        self.calls.extend(nested.calls);
        self.value_refs.extend(nested.value_refs);
        self.globals_written.extend(nested.globals_written);
        self.effects.extend(nested.effects);
        self.attribute_writes.extend(nested.attribute_writes);
        self.attribute_calls.extend(nested.attribute_calls);
    }

    /// What leaves a nested scope: names it did not bind itself.
    fn finish_nested(self) -> Escaped {
        let mut free = Vec::new();
        let mut explicit_global = self.nested_explicit_global;
        // Module-level code binds module names, so nothing it loads is local. A class
        // body resolves its own loads against its bindings, but functions defined in it
        // skip the class scope.
        let own_load_is_local = |name: &str| match self.kind {
            ScopeKind::Module => false,
            ScopeKind::Function | ScopeKind::Class => self.bound.contains(name),
        };
        let nested_load_is_local = |name: &str| match self.kind {
            ScopeKind::Module | ScopeKind::Class => false,
            ScopeKind::Function => self.bound.contains(name),
        };
        let loads = self.loads.into_iter().map(|load| (load, true));
        let nested = self.nested_free.into_iter().map(|load| (load, false));
        for ((name, at), own) in loads.chain(nested) {
            if self.globals.contains(&name) {
                explicit_global.push((name, at));
            } else if self.nonlocals.contains(&name) {
                // Refers to an enclosing function's local.
            } else if !(if own {
                own_load_is_local(&name)
            } else {
                nested_load_is_local(&name)
            }) {
                free.push((name, at));
            }
        }
        let mut globals_written = self.globals_written;
        globals_written.extend(
            self.globals
                .iter()
                .filter(|name| self.stored.contains(*name))
                .cloned(),
        );
        Escaped {
            attribute_writes: self.attribute_writes,
            attribute_calls: self.attribute_calls,
            free,
            explicit_global,
            calls: self.calls,
            value_refs: self.value_refs,
            globals_written,
            effects: self.effects,
        }
    }

    fn finish(self) -> ScopeFacts {
        let kind = self.kind;
        let bound: BTreeSet<String> = self.bound.iter().cloned().collect();
        let first_yield = self.first_yield;
        let escaped = self.finish_nested();
        facts_of(kind, escaped, bound, first_yield)
    }

    /// Finishes a function nested in this scope: what escapes it is absorbed, and when
    /// it is a top-level def or a method of a top-level class its own facts are kept,
    /// so that the function is walked only once.
    fn finish_function(&mut self, inner: ScopeWalker<'_>, def_start: TextSize) {
        let capture = self.kind == ScopeKind::Module || self.capture_methods;
        if !capture {
            self.absorb(inner.finish_nested());
            return;
        }
        let bound: BTreeSet<String> = inner.bound.iter().cloned().collect();
        let first_yield = inner.first_yield;
        let escaped = inner.finish_nested();
        let facts = facts_of(ScopeKind::Function, escaped.clone(), bound, first_yield);
        self.functions.push((def_start, facts));
        self.absorb(escaped);
    }
}

fn facts_of(
    kind: ScopeKind,
    escaped: Escaped,
    bound: BTreeSet<String>,
    first_yield: Option<TextSize>,
) -> ScopeFacts {
    let mut free = BTreeMap::new();
    for (name, at) in escaped.free.into_iter().chain(escaped.explicit_global) {
        let entry = free.entry(name).or_insert(at);
        if at < *entry {
            *entry = at;
        }
    }
    let mut calls = escaped.calls;
    if kind != ScopeKind::Module {
        calls.retain(|name| free.contains_key(name));
    }
    let mut effects = escaped.effects;
    effects.sort_by_key(|effect| effect.at);
    ScopeFacts {
        attribute_writes: escaped.attribute_writes,
        attribute_calls: escaped.attribute_calls,
        free,
        calls,
        value_refs: escaped.value_refs,
        globals_written: escaped.globals_written,
        bound,
        effects,
        first_yield,
    }
}

impl<'r> ScopeWalker<'r> {
    fn comprehension(&mut self, generators: &[Comprehension], elements: &[&Expr]) {
        // The first iterable is evaluated in the enclosing scope; the rest in the
        // comprehension's own scope.
        let Some((first, rest)) = generators.split_first() else {
            return;
        };
        self.visit_expr(&first.iter);
        let mut inner = ScopeWalker::new(ScopeKind::Function, self.resolver);
        inner.walrus_in_comprehension = true;
        inner.visit_expr(&first.target);
        for cond in &first.ifs {
            inner.visit_expr(cond);
        }
        for generator in rest {
            inner.visit_expr(&generator.iter);
            inner.visit_expr(&generator.target);
            for cond in &generator.ifs {
                inner.visit_expr(cond);
            }
        }
        for element in elements {
            inner.visit_expr(element);
        }
        let walrus_targets: Vec<String> = inner.walrus_targets();
        self.absorb(inner.finish_nested());
        for name in walrus_targets {
            self.bind(&name);
        }
    }

    fn walrus_targets(&self) -> Vec<String> {
        // Recorded as stores named with a marker so they are not local to the comprehension.
        self.stored
            .iter()
            .filter_map(|name| name.strip_prefix('\u{0}').map(str::to_owned))
            .collect()
    }

    fn record_attribute_write(&mut self, target: &Expr) {
        if let Some(root) = attribute_root(target) {
            self.attribute_writes.push((root, target.start()));
        }
    }

    /// `self.__dict__ = shared` (the Borg pattern): objects then share one attribute
    /// dict, an identity no call can carry. A fresh dict (`{...}`, `dict(...)`, a
    /// comprehension) shares nothing and is an ordinary change.
    fn record_dict_replacement(&mut self, target: &Expr, value: &Expr) {
        let Expr::Attribute(attribute) = target else {
            return;
        };
        if attribute.attr.as_str() != "__dict__" {
            return;
        }
        let fresh = match value {
            Expr::Dict(_) | Expr::DictComp(_) => true,
            Expr::Call(call) => {
                matches!(call.func.as_ref(), Expr::Name(name) if name.id.as_str() == "dict")
            }
            _ => false,
        };
        if !fresh {
            self.record_effect(EffectKind::SharesAttributeDict, target.range());
        }
    }

    fn record_effect(&mut self, kind: EffectKind, range: TextRange) {
        self.effects.push(Effect {
            kind,
            at: range.start(),
        });
    }
}

#[derive(Clone)]
struct Escaped {
    attribute_writes: Vec<(String, TextSize)>,
    attribute_calls: Vec<(String, String, TextSize)>,
    free: Vec<(String, TextSize)>,
    explicit_global: Vec<(String, TextSize)>,
    calls: BTreeSet<String>,
    value_refs: BTreeSet<String>,
    globals_written: BTreeSet<String>,
    effects: Vec<Effect>,
}

impl<'a> Visitor<'a> for ScopeWalker<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                // Defaults and annotations are evaluated where the def runs.
                for default in def
                    .parameters
                    .iter_non_variadic_params()
                    .filter_map(|p| p.default.as_deref())
                {
                    self.visit_expr(default);
                }
                for param in def.parameters.iter() {
                    if let Some(annotation) = param.annotation() {
                        self.visit_annotation(annotation);
                    }
                }
                if let Some(returns) = &def.returns {
                    self.visit_annotation(returns);
                }
                let mut inner = ScopeWalker::new(ScopeKind::Function, self.resolver);
                if let Some(type_params) = &def.type_params {
                    for param in &type_params.type_params {
                        inner.bind(param.name().as_str());
                    }
                }
                inner.bind_parameters(&def.parameters);
                inner.visit_body(&def.body);
                self.finish_function(inner, def.start());
                self.bind(def.name.as_str());
            }
            Stmt::ClassDef(class) => {
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                let mut inner = ScopeWalker::new(ScopeKind::Class, self.resolver);
                inner.capture_methods = self.kind == ScopeKind::Module;
                if let Some(type_params) = &class.type_params {
                    for param in &type_params.type_params {
                        inner.bind(param.name().as_str());
                    }
                }
                inner.visit_body(&class.body);
                self.functions.append(&mut inner.functions);
                self.absorb(inner.finish_nested());
                self.bind(class.name.as_str());
            }
            Stmt::Global(global) => {
                for name in &global.names {
                    self.globals.insert(name.to_string());
                    self.bound.remove(name.as_str());
                }
            }
            Stmt::Nonlocal(nonlocal) => {
                for name in &nonlocal.names {
                    self.nonlocals.insert(name.to_string());
                    self.bound.remove(name.as_str());
                }
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let bound = match &alias.asname {
                        Some(asname) => asname.as_str(),
                        None => alias.name.split('.').next().unwrap_or_default(),
                    };
                    self.bind(bound);
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    if alias.name.as_str() != "*" {
                        let bound = alias.asname.as_ref().unwrap_or(&alias.name);
                        self.bind(bound.as_str());
                    }
                }
            }
            Stmt::AugAssign(aug) => {
                // `x += 1` loads x before storing it.
                if let Expr::Name(name) = aug.target.as_ref() {
                    self.load(name.id.as_str(), name.range.start());
                }
                self.record_attribute_write(&aug.target);
                visitor::walk_stmt(self, stmt);
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.record_attribute_write(target);
                    self.record_dict_replacement(target, &assign.value);
                }
                visitor::walk_stmt(self, stmt);
            }
            Stmt::AnnAssign(assign) => {
                self.record_attribute_write(&assign.target);
                visitor::walk_stmt(self, stmt);
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    self.record_attribute_write(target);
                }
                visitor::walk_stmt(self, stmt);
            }
            Stmt::TypeAlias(alias) => {
                self.visit_expr(&alias.name);
                let mut inner = ScopeWalker::new(ScopeKind::Function, self.resolver);
                if let Some(type_params) = &alias.type_params {
                    for param in &type_params.type_params {
                        inner.bind(param.name().as_str());
                    }
                }
                inner.visit_expr(&alias.value);
                self.absorb(inner.finish_nested());
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_except_handler(&mut self, handler: &'a ExceptHandler) {
        let ExceptHandler::ExceptHandler(inner) = handler;
        if let Some(name) = &inner.name {
            self.bind(name.as_str());
        }
        visitor::walk_except_handler(self, handler);
    }

    fn visit_pattern(&mut self, pattern: &'a Pattern) {
        match pattern {
            Pattern::MatchAs(ast::PatternMatchAs { name: Some(n), .. })
            | Pattern::MatchStar(ast::PatternMatchStar { name: Some(n), .. }) => {
                self.bind(n.as_str());
            }
            Pattern::MatchMapping(ast::PatternMatchMapping { rest: Some(n), .. }) => {
                self.bind(n.as_str());
            }
            _ => {}
        }
        visitor::walk_pattern(self, pattern);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) => match name.ctx {
                ExprContext::Load => {
                    self.load(name.id.as_str(), name.range.start());
                    self.value_refs.insert(name.id.to_string());
                }
                ExprContext::Store | ExprContext::Del => self.bind(name.id.as_str()),
                ExprContext::Invalid => {}
            },
            Expr::Named(named) => {
                self.visit_expr(&named.value);
                if let Expr::Name(target) = named.target.as_ref() {
                    if self.walrus_in_comprehension {
                        // PEP 572: the target binds in the scope containing the comprehension.
                        self.stored.insert(format!("\u{0}{}", target.id));
                    } else {
                        self.bind(target.id.as_str());
                    }
                }
            }
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    for default in parameters
                        .iter_non_variadic_params()
                        .filter_map(|p| p.default.as_deref())
                    {
                        self.visit_expr(default);
                    }
                }
                self.nested_lambda(lambda.parameters.as_deref(), &lambda.body);
            }
            Expr::ListComp(comp) => self.comprehension(&comp.generators, &[&comp.elt]),
            Expr::SetComp(comp) => self.comprehension(&comp.generators, &[&comp.elt]),
            Expr::Generator(comp) => self.comprehension(&comp.generators, &[&comp.elt]),
            Expr::DictComp(comp) => match &comp.key {
                Some(key) => self.comprehension(&comp.generators, &[key, &comp.value]),
                None => self.comprehension(&comp.generators, &[&comp.value]),
            },
            Expr::Yield(_) | Expr::YieldFrom(_) => {
                if self.first_yield.is_none() && !self.walrus_in_comprehension {
                    self.first_yield = Some(expr.start());
                }
                visitor::walk_expr(self, expr);
            }
            Expr::Call(call) => {
                if let Some(kind) = classify_call(call, self.resolver) {
                    self.record_effect(kind, call.range());
                }
                if let Expr::Attribute(method) = call.func.as_ref()
                    && !MUTATING_METHODS.contains(&method.attr.as_str())
                    && matches!(
                        method.value.as_ref(),
                        Expr::Attribute(_) | Expr::Subscript(_)
                    )
                    && let Some(root) = attribute_root(&method.value)
                {
                    self.attribute_calls.push((
                        root,
                        method.attr.to_string(),
                        method.value.start(),
                    ));
                }
                if let Expr::Attribute(method) = call.func.as_ref()
                    && MUTATING_METHODS.contains(&method.attr.as_str())
                {
                    match method.value.as_ref() {
                        Expr::Attribute(_) | Expr::Subscript(_) => {
                            self.record_attribute_write(&method.value);
                        }
                        // `entries.append(x)`: a change to whatever `entries` names.
                        Expr::Name(name) => self
                            .attribute_writes
                            .push((name.id.to_string(), name.range.start())),
                        _ => {}
                    }
                }
                // `setattr(Plugin, "x", v)` changes Plugin as `Plugin.x = v` would.
                if let Expr::Name(callee) = call.func.as_ref()
                    && matches!(callee.id.as_str(), "setattr" | "delattr")
                    && let Some(Expr::Name(target)) = call.arguments.args.first()
                {
                    self.attribute_writes
                        .push((target.id.to_string(), target.range.start()));
                }
                if let Expr::Name(name) = call.func.as_ref() {
                    self.calls.insert(name.id.to_string());
                    self.load(name.id.as_str(), name.range.start());
                    self.visit_arguments(&call.arguments);
                } else {
                    visitor::walk_expr(self, expr);
                }
            }
            Expr::Attribute(attribute) => {
                if let Some(kind) = classify_load(attribute, self.resolver) {
                    self.record_effect(kind, attribute.range());
                }
                visitor::walk_expr(self, expr);
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

/// Methods of the builtin containers that change them in place.
const MUTATING_METHODS: &[&str] = &[
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "sort",
    "reverse",
    "add",
    "discard",
    "update",
    "setdefault",
    "popitem",
    "appendleft",
    "extendleft",
    "popleft",
    "difference_update",
    "intersection_update",
    "symmetric_difference_update",
];

/// The root of a changed attribute or item: `Plugin` for `Plugin.registry[k]`, `type()`
/// for `type(self).count`; none for a plain name (that is a binding, not a change).
fn attribute_root(target: &Expr) -> Option<String> {
    let mut expr = target;
    let mut through_attribute = false;
    loop {
        match expr {
            Expr::Attribute(attribute) => {
                through_attribute = true;
                expr = &attribute.value;
            }
            Expr::Subscript(subscript) => {
                through_attribute = true; // `table[k] = v` changes `table`
                expr = &subscript.value;
            }
            Expr::Name(name) if through_attribute => return Some(name.id.to_string()),
            Expr::Call(call) if through_attribute => {
                return matches!(call.func.as_ref(), Expr::Name(n) if n.id.as_str() == "type")
                    .then(|| "type()".to_owned());
            }
            _ => return None,
        }
    }
}

/// Analyses a top-level function: its parameters and body, as Python would scope them.
/// Decorators, defaults and annotations are not part of it (they run in the module).
pub fn function_scope(def: &ast::StmtFunctionDef, resolver: &Resolver<'_>) -> ScopeFacts {
    let mut walker = ScopeWalker::new(ScopeKind::Function, resolver);
    if let Some(type_params) = &def.type_params {
        for param in &type_params.type_params {
            walker.bind(param.name().as_str());
        }
    }
    walker.bind_parameters(&def.parameters);
    walker.visit_body(&def.body);
    walker.finish()
}

/// Analyses one module-level statement: every name it loads is a module name (or a
/// builtin), every name it binds is a module binding.
pub fn module_statement(stmt: &Stmt, resolver: &Resolver<'_>) -> ScopeFacts {
    module_statement_with_functions(stmt, resolver).0
}

/// [`module_statement`], plus the facts of the top-level def or the methods of the
/// top-level class it is (each as [`function_scope`] would give them), by def start.
pub fn module_statement_with_functions(
    stmt: &Stmt,
    resolver: &Resolver<'_>,
) -> (ScopeFacts, Vec<(TextSize, ScopeFacts)>) {
    let mut walker = ScopeWalker::new(ScopeKind::Module, resolver);
    walker.visit_stmt(stmt);
    let functions = std::mem::take(&mut walker.functions);
    let stored: BTreeSet<String> = walker
        .stored
        .iter()
        .filter(|name| !name.starts_with('\u{0}'))
        .cloned()
        .collect();
    let mut facts = walker.finish();
    // At module level a load of a name the same statement binds (a loop variable,
    // `x = x + 1`) still refers to the module binding.
    facts.bound = stored;
    (facts, functions)
}

/// Names Python provides without an import.
pub fn is_builtin(name: &str) -> bool {
    BUILTINS.binary_search(&name).is_ok()
}

// Sorted: `is_builtin` searches it.
const BUILTINS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "False",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "None",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "PythonFinalizationError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "True",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    "__build_class__",
    "__debug__",
    "__doc__",
    "__file__",
    "__import__",
    "__loader__",
    "__name__",
    "__package__",
    "__spec__",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn facts_of(source: &str) -> ScopeFacts {
        let module = ruff_python_parser::parse_module(source)
            .unwrap()
            .into_syntax();
        let imports = HashMap::new();
        let resolver = Resolver { imports: &imports };
        let Stmt::FunctionDef(def) = &module.body[0] else {
            panic!("first statement must be a def")
        };
        function_scope(def, &resolver)
    }

    fn free(source: &str) -> Vec<String> {
        facts_of(source).free.into_keys().collect()
    }

    #[test]
    fn builtins_are_sorted() {
        assert!(BUILTINS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn parameters_and_locals_are_not_free() {
        assert_eq!(
            free("def f(a, *b, c=K, **d):\n    x = a + c\n    return x + g(b, d, y)\n"),
            ["g", "y"]
        );
    }

    #[test]
    fn global_declarations_make_stores_module_writes() {
        let facts = facts_of("def f():\n    global counter\n    counter += 1\n");
        assert_eq!(facts.free.keys().collect::<Vec<_>>(), ["counter"]);
        assert_eq!(
            facts.globals_written.iter().collect::<Vec<_>>(),
            ["counter"]
        );
    }

    #[test]
    fn closures_resolve_against_the_enclosing_function() {
        assert_eq!(
            free(
                "def f(n):\n    def g():\n        nonlocal n\n        n += 1\n        return h(n)\n    return g\n"
            ),
            ["h"]
        );
    }

    #[test]
    fn comprehension_variables_are_local_but_walrus_escapes() {
        assert_eq!(
            free("def f(xs):\n    ys = [y for x in xs if (y := x * 2) > K]\n    return y, ys\n"),
            ["K"]
        );
    }

    #[test]
    fn lambda_parameters_are_local() {
        assert_eq!(
            free("def f(xs):\n    return sorted(xs, key=lambda x: x[KEY])\n"),
            ["KEY", "sorted"]
        );
    }

    #[test]
    fn class_bindings_do_not_enclose_methods() {
        assert_eq!(
            free(
                "def f():\n    class C:\n        y = 1\n        z = y\n        def m(self):\n            return y\n    return C\n"
            ),
            ["y"]
        );
    }

    #[test]
    fn yield_in_nested_function_does_not_make_a_generator() {
        assert!(
            facts_of("def f():\n    def g():\n        yield 1\n    return g\n")
                .first_yield
                .is_none()
        );
        assert!(facts_of("def f():\n    yield 1\n").first_yield.is_some());
    }

    #[test]
    fn calls_are_recorded_including_callbacks_as_loads() {
        let facts = facts_of("def f(xs):\n    return list(map(g, xs)) + h(xs)\n");
        assert!(facts.calls.contains("h"));
        assert!(facts.free.contains_key("g"));
    }
}
