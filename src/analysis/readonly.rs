//! Read-only parameters: which parameters of a function (or method, the receiver
//! included) it provably only reads. The runtime skips the write-back comparison of
//! those arguments, so the answer must be sound: when in doubt, a parameter is not
//! read-only.
//!
//! The elements of a container argument are the caller's objects too, so the rule is
//! deliberately simple. A parameter is read-only when
//! - it is never rebound;
//! - the function changes no attribute or item (store, delete, augmented assignment)
//!   and calls no method outside a known non-mutating set, on anything but names bound
//!   to fresh local containers (`seen = set()`; `out = []`) — otherwise no parameter is;
//! - nothing it may reach (`x = arr[0]`, `for row in grid`, `pairs = [(a, b)]`) is
//!   passed to a call other than known pure builtins and functions, or to the function
//!   itself in the same position (recursion), is the target of an augmented assignment
//!   (`x += [1]` extends a list in place), or is used by a nested function or a lambda
//!   that may outlive the call.

use std::collections::{HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprContext, Stmt};

use super::effects::qualified_name;
use super::scope::Resolver;

/// The parameters of `def` (in order) that the function provably only reads.
pub(super) fn readonly_params(
    def: &ast::StmtFunctionDef,
    imports: &HashMap<String, String>,
) -> Vec<String> {
    let params: Vec<String> = def
        .parameters
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    let positional: Vec<String> = def
        .parameters
        .posonlyargs
        .iter()
        .chain(&def.parameters.args)
        .map(|p| p.name().to_string())
        .collect();
    let mut collector = Collector::new(imports);
    collector.visit_body(&def.body);
    let analysis = Analysis::new(&params, &collector);
    let Some(not_readonly) = analysis.not_readonly(def.name.as_str(), &positional) else {
        return Vec::new();
    };
    params
        .into_iter()
        .filter(|p| !not_readonly.contains(p) && !collector.bound.contains(p))
        .collect()
}

/// Methods of builtin types (and common library types) that never change their receiver.
const NON_MUTATING_METHODS: &[&str] = &[
    "__contains__",
    "__getitem__",
    "__len__",
    "as_integer_ratio",
    "bit_count",
    "bit_length",
    "capitalize",
    "casefold",
    "center",
    "conjugate",
    "copy",
    "count",
    "decode",
    "difference",
    "encode",
    "endswith",
    "expandtabs",
    "find",
    "format",
    "format_map",
    "get",
    "hex",
    "index",
    "intersection",
    "is_integer",
    "isalnum",
    "isalpha",
    "isascii",
    "isdecimal",
    "isdigit",
    "isdisjoint",
    "isidentifier",
    "islower",
    "isnumeric",
    "isoformat",
    "isprintable",
    "isspace",
    "issubset",
    "issuperset",
    "istitle",
    "isupper",
    "items",
    "join",
    "keys",
    "ljust",
    "lower",
    "lstrip",
    "most_common",
    "partition",
    "removeprefix",
    "removesuffix",
    "replace",
    "rfind",
    "rindex",
    "rjust",
    "rpartition",
    "rsplit",
    "rstrip",
    "split",
    "splitlines",
    "startswith",
    "strftime",
    "strip",
    "swapcase",
    "symmetric_difference",
    "title",
    "tolist",
    "translate",
    "union",
    "upper",
    "values",
    "zfill",
];

/// Builtins that change none of their arguments (with the caveats on `key=` and
/// `file=` handled below).
const PURE_BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "bin",
    "bool",
    "callable",
    "chr",
    "complex",
    "dict",
    "divmod",
    "enumerate",
    "float",
    "format",
    "frozenset",
    "getattr",
    "hasattr",
    "hash",
    "hex",
    "id",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "max",
    "min",
    "oct",
    "ord",
    "pow",
    "print",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "sorted",
    "str",
    "sum",
    "tuple",
    "type",
    "zip",
];

/// Builtins whose result holds nothing of their arguments (numbers, strings, bools).
const SCALAR_BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "bin",
    "bool",
    "callable",
    "chr",
    "divmod",
    "float",
    "format",
    "hasattr",
    "hash",
    "hex",
    "id",
    "int",
    "isinstance",
    "issubclass",
    "len",
    "oct",
    "ord",
    "pow",
    "range",
    "repr",
    "round",
    "str",
];

/// Module functions that change none of their arguments and call none of them.
fn is_pure_module_function(name: &str) -> bool {
    let module = name.rsplit_once('.').map_or("", |(m, _)| m);
    matches!(module, "math" | "cmath" | "statistics" | "string")
        || matches!(
            name,
            "bisect.bisect"
                | "bisect.bisect_left"
                | "bisect.bisect_right"
                | "copy.copy"
                | "copy.deepcopy"
                | "json.dumps"
                | "heapq.nlargest"
                | "heapq.nsmallest"
                | "itertools.islice"
                | "itertools.chain"
                | "itertools.product"
                | "itertools.permutations"
                | "itertools.combinations"
                | "itertools.combinations_with_replacement"
                | "itertools.zip_longest"
                | "itertools.pairwise"
                | "itertools.repeat"
                | "itertools.count"
                | "operator.add"
                | "operator.mul"
                | "operator.itemgetter"
                | "operator.attrgetter"
        )
}

/// Calls that build a new container (whose items may still be the caller's objects).
fn is_fresh_constructor(name: &str) -> bool {
    matches!(
        name,
        "list"
            | "dict"
            | "set"
            | "bytearray"
            | "sorted"
            | "collections.deque"
            | "collections.defaultdict"
            | "collections.Counter"
            | "collections.OrderedDict"
            | "array.array"
            | "copy.copy"
            | "copy.deepcopy"
    )
}

/// How a name is bound once.
enum Binding<'a> {
    /// `name = value` (or `name: T = value`).
    Assign(&'a Expr),
    /// `name += value`: the same object changed in place, or a new one.
    Augmented(&'a Expr),
    /// A loop or comprehension target over `iterable`: an element of it.
    Element(&'a Expr),
    /// `with value as name`, tuple unpacking, walrus...: may be anything `value` reaches.
    Reaching(&'a Expr),
    /// An import, a def, an `except ... as`: nothing of the parameters.
    Unrelated,
}

struct Collector<'a> {
    imports: &'a HashMap<String, String>,
    /// Every name the body binds, in any scope.
    bound: HashSet<String>,
    bindings: Vec<(String, Binding<'a>)>,
    /// Targets of attribute and item stores, deletes and augmented assignments.
    stores: Vec<&'a Expr>,
    /// Augmented assignments to plain names.
    augmented_names: Vec<String>,
    calls: Vec<&'a ast::ExprCall>,
    /// Lambdas that may outlive the call, and nested definitions' bodies.
    escaping_lambdas: Vec<&'a Expr>,
    nested_bodies: Vec<&'a [Stmt]>,
    /// `exec`, `eval`, `locals()`...: anything can happen.
    opaque: bool,
    /// Lambdas passed as `key=` to a pure builtin: they run during the call.
    contained_lambdas: HashSet<*const Expr>,
}

impl<'a> Collector<'a> {
    fn new(imports: &'a HashMap<String, String>) -> Self {
        Self {
            imports,
            bound: HashSet::new(),
            bindings: Vec::new(),
            stores: Vec::new(),
            augmented_names: Vec::new(),
            calls: Vec::new(),
            escaping_lambdas: Vec::new(),
            nested_bodies: Vec::new(),
            opaque: false,
            contained_lambdas: HashSet::new(),
        }
    }

    fn bind_target(
        &mut self,
        target: &'a Expr,
        binding: impl Fn(&'a Expr) -> Binding<'a>,
        value: &'a Expr,
    ) {
        match target {
            Expr::Name(name) => {
                self.bound.insert(name.id.to_string());
                self.bindings.push((name.id.to_string(), binding(value)));
            }
            Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
                for element in elts {
                    self.bind_target(element, Binding::Reaching, value);
                }
            }
            Expr::Starred(starred) => self.bind_target(&starred.value, Binding::Reaching, value),
            Expr::Attribute(_) | Expr::Subscript(_) => self.stores.push(target),
            _ => {}
        }
    }
}

impl<'a> Visitor<'a> for Collector<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.bind_target(target, Binding::Assign, &assign.value);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.bind_target(&assign.target, Binding::Assign, value);
                }
            }
            Stmt::AugAssign(aug) => match aug.target.as_ref() {
                Expr::Name(name) => {
                    self.bound.insert(name.id.to_string());
                    self.augmented_names.push(name.id.to_string());
                    self.bindings
                        .push((name.id.to_string(), Binding::Augmented(&aug.value)));
                }
                other => self.stores.push(other),
            },
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    match target {
                        Expr::Name(name) => {
                            self.bound.insert(name.id.to_string());
                        }
                        other => self.stores.push(other),
                    }
                }
            }
            Stmt::For(for_stmt) => {
                self.bind_target(&for_stmt.target, Binding::Element, &for_stmt.iter)
            }
            Stmt::With(with) => {
                for item in &with.items {
                    if let Some(target) = &item.optional_vars {
                        self.bind_target(target, Binding::Reaching, &item.context_expr);
                    }
                }
            }
            Stmt::FunctionDef(def) => {
                self.bound.insert(def.name.to_string());
                self.bindings
                    .push((def.name.to_string(), Binding::Unrelated));
                self.nested_bodies.push(&def.body);
            }
            Stmt::ClassDef(class) => {
                self.bound.insert(class.name.to_string());
                self.bindings
                    .push((class.name.to_string(), Binding::Unrelated));
                self.nested_bodies.push(&class.body);
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let name = alias.asname.as_ref().map_or_else(
                        || alias.name.split('.').next().unwrap_or_default().to_owned(),
                        ToString::to_string,
                    );
                    self.bound.insert(name.clone());
                    self.bindings.push((name, Binding::Unrelated));
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    let name = alias.asname.as_ref().unwrap_or(&alias.name).to_string();
                    self.bound.insert(name.clone());
                    self.bindings.push((name, Binding::Unrelated));
                }
            }
            Stmt::Global(_) | Stmt::Nonlocal(_) => {}
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_except_handler(&mut self, handler: &'a ast::ExceptHandler) {
        let ast::ExceptHandler::ExceptHandler(inner) = handler;
        if let Some(name) = &inner.name {
            self.bound.insert(name.to_string());
            self.bindings.push((name.to_string(), Binding::Unrelated));
        }
        visitor::walk_except_handler(self, handler);
    }

    fn visit_pattern(&mut self, pattern: &'a ast::Pattern) {
        match pattern {
            ast::Pattern::MatchAs(ast::PatternMatchAs { name: Some(n), .. })
            | ast::Pattern::MatchStar(ast::PatternMatchStar { name: Some(n), .. })
            | ast::Pattern::MatchMapping(ast::PatternMatchMapping { rest: Some(n), .. }) => {
                // Captures reach into the subject; treat them as rebinding anything.
                self.bound.insert(n.to_string());
                self.opaque = true;
            }
            _ => {}
        }
        visitor::walk_pattern(self, pattern);
    }

    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        self.bind_target(&comprehension.target, Binding::Element, &comprehension.iter);
        visitor::walk_comprehension(self, comprehension);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Named(named) => {
                self.bind_target(&named.target, Binding::Reaching, &named.value);
            }
            Expr::Call(call) => {
                if let Expr::Name(name) = call.func.as_ref()
                    && matches!(
                        name.id.as_str(),
                        "exec"
                            | "eval"
                            | "locals"
                            | "vars"
                            | "globals"
                            | "breakpoint"
                            | "__import__"
                    )
                {
                    self.opaque = true;
                }
                if let Expr::Name(name) = call.func.as_ref()
                    && PURE_BUILTINS.contains(&name.id.as_str())
                {
                    for keyword in &call.arguments.keywords {
                        if keyword.arg.as_ref().is_some_and(|a| a.as_str() == "key")
                            && let Expr::Lambda(lambda) = &keyword.value
                        {
                            self.contained_lambdas.insert(&raw const keyword.value);
                            // The key function's parameters are the items of the arguments.
                            for param in lambda.parameters.iter().flat_map(|p| p.iter()) {
                                for arg in call.arguments.args.iter() {
                                    self.bindings
                                        .push((param.name().to_string(), Binding::Element(arg)));
                                }
                            }
                        }
                    }
                }
                self.calls.push(call);
            }
            Expr::Lambda(lambda) if !self.contained_lambdas.contains(&(expr as *const Expr)) => {
                self.escaping_lambdas.push(&lambda.body);
            }
            Expr::Name(name) if name.ctx != ExprContext::Load => {
                self.bound.insert(name.id.to_string());
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

/// Which parameters each local name may reach.
struct Analysis<'c, 'a> {
    params: HashSet<&'c str>,
    collector: &'c Collector<'a>,
    /// Names bound only to fresh containers: changing them changes no argument.
    fresh: HashSet<&'c str>,
    /// Parameters whose objects (or objects inside them) a name may be.
    alias: HashMap<&'c str, HashSet<String>>,
    /// Parameters whose objects a name's value may be or contain.
    contents: HashMap<&'c str, HashSet<String>>,
}

impl<'c, 'a> Analysis<'c, 'a> {
    fn new(params: &'c [String], collector: &'c Collector<'a>) -> Self {
        let params: HashSet<&str> = params.iter().map(String::as_str).collect();
        let mut fresh: HashSet<&str> = HashSet::new();
        let mut spoiled: HashSet<&str> = HashSet::new();
        for (name, binding) in &collector.bindings {
            let is_fresh = match binding {
                Binding::Assign(value) => is_fresh_value(value, collector.imports),
                Binding::Augmented(_) => true,
                _ => false,
            };
            if is_fresh {
                fresh.insert(name);
            } else {
                spoiled.insert(name);
            }
        }
        fresh.retain(|n| !spoiled.contains(n) && !params.contains(n));
        let mut analysis = Analysis {
            params,
            collector,
            fresh,
            alias: HashMap::new(),
            contents: HashMap::new(),
        };
        analysis.propagate();
        analysis
    }

    /// Flows what each binding reaches into its name, until nothing changes.
    fn propagate(&mut self) {
        loop {
            let mut changed = false;
            for (name, binding) in &self.collector.bindings {
                let (alias, contents) = match binding {
                    Binding::Assign(value) => (self.alias_of(value), self.contents_of(value)),
                    Binding::Augmented(value) => (HashSet::new(), self.contents_of(value)),
                    Binding::Element(iterable) | Binding::Reaching(iterable) => {
                        let reached = self.contents_of(iterable);
                        (reached.clone(), reached)
                    }
                    Binding::Unrelated => continue,
                };
                changed |= extend(self.alias.entry(name).or_default(), &alias);
                changed |= extend(self.contents.entry(name).or_default(), &alias);
                changed |= extend(self.contents.entry(name).or_default(), &contents);
            }
            // What goes into a fresh container (`out.append(row)`) is in it.
            for call in &self.collector.calls {
                if let Expr::Attribute(method) = call.func.as_ref()
                    && let Expr::Name(receiver) = method.value.as_ref()
                    && let Some(&name) = self.fresh.get(receiver.id.as_str())
                {
                    let mut put = HashSet::new();
                    for arg in call.arguments.args.iter() {
                        put.extend(self.contents_of(arg));
                    }
                    for keyword in call.arguments.keywords.iter() {
                        put.extend(self.contents_of(&keyword.value));
                    }
                    changed |= extend(self.contents.entry(name).or_default(), &put);
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn name(&self, name: &str) -> HashSet<String> {
        let mut reached = self.contents.get(name).cloned().unwrap_or_default();
        if self.params.contains(name) {
            reached.insert(name.to_owned());
        }
        reached
    }

    /// The parameters whose objects `expr` itself may be.
    fn alias_of(&self, expr: &Expr) -> HashSet<String> {
        match expr {
            Expr::Name(name) => {
                let mut reached = self
                    .alias
                    .get(name.id.as_str())
                    .cloned()
                    .unwrap_or_default();
                if self.params.contains(name.id.as_str()) {
                    reached.insert(name.id.to_string());
                }
                reached
            }
            Expr::Attribute(a) => self.contents_of(&a.value),
            Expr::Subscript(s) => self.contents_of(&s.value),
            Expr::Starred(s) => self.contents_of(&s.value),
            Expr::Named(n) => self.alias_of(&n.value),
            Expr::BoolOp(b) => b.values.iter().flat_map(|v| self.alias_of(v)).collect(),
            Expr::If(i) => {
                let mut reached = self.alias_of(&i.body);
                reached.extend(self.alias_of(&i.orelse));
                reached
            }
            Expr::Call(call) => {
                let callee = qualified_name(&call.func, &self.resolver());
                match callee.as_deref() {
                    Some(name) if SCALAR_BUILTINS.contains(&name) => HashSet::new(),
                    Some(name) if is_fresh_constructor(name) => HashSet::new(),
                    _ => self.contents_of(expr),
                }
            }
            Expr::Await(_) | Expr::Yield(_) | Expr::YieldFrom(_) => self.contents_of(expr),
            _ => HashSet::new(),
        }
    }

    /// The parameters whose objects `expr` may be or contain.
    fn contents_of(&self, expr: &Expr) -> HashSet<String> {
        let mut names = NameLoads::default();
        names.visit_expr(expr);
        names
            .names
            .iter()
            .flat_map(|name| self.name(name))
            .collect()
    }

    fn resolver(&self) -> Resolver<'a> {
        Resolver {
            imports: self.collector.imports,
        }
    }

    fn is_fresh_name(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Name(name) if self.fresh.contains(name.id.as_str()))
    }

    fn is_import(&self, expr: &Expr) -> bool {
        let mut root = expr;
        while let Expr::Attribute(a) = root {
            root = &a.value;
        }
        matches!(root, Expr::Name(name)
            if self.collector.imports.contains_key(name.id.as_str())
                && !self.collector.bound.contains(name.id.as_str()))
    }

    /// The parameters that are not read-only, or `None` when none is.
    fn not_readonly(&self, function: &str, positional: &[String]) -> Option<HashSet<String>> {
        let collector = self.collector;
        if collector.opaque {
            return None;
        }
        // Stores: only into fresh local containers, directly.
        for target in &collector.stores {
            let base = match target {
                Expr::Attribute(a) => &a.value,
                Expr::Subscript(s) => &s.value,
                _ => return None,
            };
            if !self.is_fresh_name(base) {
                return None;
            }
        }
        let mut not_readonly: HashSet<String> = HashSet::new();
        for name in &collector.augmented_names {
            if !self.fresh.contains(name.as_str()) {
                not_readonly.extend(self.alias.get(name.as_str()).cloned().unwrap_or_default());
            }
        }
        for call in &collector.calls {
            let every_argument = |this: &Self, into: &mut HashSet<String>| {
                for arg in call.arguments.args.iter() {
                    into.extend(this.contents_of(arg));
                }
                for keyword in call.arguments.keywords.iter() {
                    into.extend(this.contents_of(&keyword.value));
                }
            };
            match call.func.as_ref() {
                Expr::Attribute(method) if !self.is_import(&method.value) => {
                    let harmless = NON_MUTATING_METHODS.contains(&method.attr.as_str())
                        || self.is_fresh_name(&method.value);
                    if !harmless {
                        return None;
                    }
                }
                Expr::Name(name) if name.id.as_str() == function => {
                    // Recursion: the same parameter in the same place stays read-only.
                    for (index, arg) in call.arguments.args.iter().enumerate() {
                        let same = matches!(arg, Expr::Name(n)
                            if positional.get(index).is_some_and(|p| p == n.id.as_str()));
                        if !same {
                            not_readonly.extend(self.contents_of(arg));
                        }
                    }
                    for keyword in call.arguments.keywords.iter() {
                        let same = matches!((&keyword.arg, &keyword.value), (Some(arg), Expr::Name(n))
                            if arg.as_str() == n.id.as_str());
                        if !same {
                            not_readonly.extend(self.contents_of(&keyword.value));
                        }
                    }
                }
                Expr::Name(name)
                    if PURE_BUILTINS.contains(&name.id.as_str())
                        && !collector.bound.contains(name.id.as_str()) =>
                {
                    for keyword in call.arguments.keywords.iter() {
                        match keyword.arg.as_ref().map(|a| a.as_str()) {
                            // print(..., file=out) writes to `out`.
                            Some("file") => not_readonly.extend(self.contents_of(&keyword.value)),
                            // A key function of the program's may change the items.
                            Some("key") => {
                                let harmless = match &keyword.value {
                                    Expr::Lambda(_) => true,
                                    Expr::Name(n) => PURE_BUILTINS.contains(&n.id.as_str()),
                                    _ => false,
                                };
                                if !harmless {
                                    every_argument(self, &mut not_readonly);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                func => {
                    let pure = self.is_import(func)
                        && qualified_name(func, &self.resolver())
                            .is_some_and(|name| is_pure_module_function(&name));
                    if !pure {
                        every_argument(self, &mut not_readonly);
                        not_readonly.extend(self.contents_of(func));
                    }
                }
            }
        }
        for lambda in &collector.escaping_lambdas {
            not_readonly.extend(self.contents_of(lambda));
        }
        for body in &collector.nested_bodies {
            let mut names = NameLoads::default();
            names.visit_body(body);
            for name in &names.names {
                not_readonly.extend(self.name(name));
            }
        }
        Some(not_readonly)
    }
}

fn extend(into: &mut HashSet<String>, from: &HashSet<String>) -> bool {
    let before = into.len();
    into.extend(from.iter().cloned());
    into.len() != before
}

/// A value that is a new container: a display, a comprehension, a copy.
fn is_fresh_value(value: &Expr, imports: &HashMap<String, String>) -> bool {
    match value {
        Expr::List(_)
        | Expr::Dict(_)
        | Expr::Set(_)
        | Expr::ListComp(_)
        | Expr::SetComp(_)
        | Expr::DictComp(_) => true,
        Expr::BinOp(op) => {
            matches!(op.left.as_ref(), Expr::List(_)) || matches!(op.right.as_ref(), Expr::List(_))
        }
        Expr::Call(call) => match call.func.as_ref() {
            Expr::Attribute(method)
                if method.attr.as_str() == "copy" && call.arguments.is_empty() =>
            {
                true
            }
            func => qualified_name(func, &Resolver { imports })
                .is_some_and(|name| is_fresh_constructor(&name)),
        },
        _ => false,
    }
}

/// Every name an expression or body loads, nested scopes included, except inside
/// calls of builtins whose result holds nothing of their arguments.
#[derive(Default)]
struct NameLoads {
    names: Vec<String>,
}

impl<'a> Visitor<'a> for NameLoads {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) if name.ctx == ExprContext::Load => {
                self.names.push(name.id.to_string());
            }
            Expr::Compare(_) => {}
            Expr::Call(call) if matches!(call.func.as_ref(), Expr::Name(n) if SCALAR_BUILTINS.contains(&n.id.as_str())) =>
                {}
            _ => visitor::walk_expr(self, expr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readonly(source: &str) -> Vec<String> {
        let module = ruff_python_parser::parse_module(source)
            .unwrap()
            .into_syntax();
        let imports: HashMap<String, String> = [
            ("math".to_owned(), "math".to_owned()),
            ("heapq".to_owned(), "heapq".to_owned()),
        ]
        .into();
        let def = module
            .body
            .iter()
            .find_map(|s| match s {
                Stmt::FunctionDef(def) => Some(def),
                Stmt::ClassDef(class) => class.body.iter().find_map(|s| match s {
                    Stmt::FunctionDef(def) => Some(def),
                    _ => None,
                }),
                _ => None,
            })
            .expect("a def");
        readonly_params(def, &imports)
    }

    #[test]
    fn binary_search_only_reads_its_array() {
        let ro = readonly(
            "def search(arr, x, lo, hi):\n    if hi < lo:\n        return -1\n    mid = (lo + hi) // 2\n    if arr[mid] == x:\n        return mid\n    if arr[mid] < x:\n        return search(arr, x, mid + 1, hi)\n    return search(arr, x, lo, mid - 1)\n",
        );
        assert!(ro.contains(&"arr".to_owned()), "{ro:?}");
        assert!(ro.contains(&"x".to_owned()), "{ro:?}");
    }

    #[test]
    fn filling_a_buffer_changes_it() {
        assert!(
            readonly("def fill(buf):\n    for i in range(len(buf)):\n        buf[i] = i * i\n")
                .is_empty()
        );
    }

    #[test]
    fn changing_an_element_changes_every_container_holding_it() {
        assert!(
            readonly(
                "def step(points, pairs):\n    for p, q in pairs:\n        p[1] += 1\n    for p in points:\n        p[0] += p[1] + 1\n"
            )
            .is_empty()
        );
    }

    #[test]
    fn sums_and_fresh_locals_stay_read_only() {
        assert_eq!(
            readonly(
                "def stats(xs, scale):\n    total = 0\n    seen = set()\n    out = []\n    for x in xs:\n        total += x * scale\n        seen.add(x)\n        out.append(math.sqrt(x))\n    return total, sorted(seen), out, max(xs, key=lambda v: -v)\n"
            ),
            ["xs", "scale"]
        );
    }

    #[test]
    fn a_key_function_passes_the_items_on() {
        assert_eq!(
            readonly(
                "def closest(origin, points):\n    return sorted(points, key=lambda p: dist2(origin, p))[0]\n"
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            readonly("def top(rows):\n    return max(rows, key=lambda r: r[1])\n"),
            ["rows"]
        );
    }

    #[test]
    fn passing_to_an_unknown_function_is_not_reading() {
        assert_eq!(
            readonly("def f(a, b):\n    first = a[0]\n    helper(first)\n    return len(b)\n"),
            ["b"]
        );
        assert_eq!(
            readonly("def f(h, x):\n    heapq.heappush(h, x)\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn mutating_methods_rebinding_and_escaping_lambdas_are_not_reading() {
        assert!(readonly("def f(xs):\n    xs.append(1)\n").is_empty());
        assert_eq!(
            readonly("def f(xs, ys):\n    xs = xs + [1]\n    return ys\n"),
            ["ys"]
        );
        assert_eq!(
            readonly("def f(xs, n):\n    return lambda: xs[n]\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            readonly("def f(row, out):\n    print(row, file=out)\n"),
            ["row"]
        );
        assert_eq!(
            readonly("def f(xs):\n    x = xs[0]\n    x += [1]\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn methods_that_only_read_self_keep_it_read_only() {
        assert_eq!(
            readonly(
                "class P:\n    def dist(self, other):\n        return abs(self.x - other.x)\n"
            ),
            ["self", "other"]
        );
        assert!(readonly("class P:\n    def move(self, d):\n        self.x += d\n").is_empty());
    }
}
