//! Parallel fan-out sites: calls of a moved function over the items of an iterable
//! that become concurrent invocations (`lambada_runtime/fanout.py` keeps results,
//! output and the first exception in program order).
//!
//! The forms: `map(f, xs)` (lazy), `list|tuple|set|frozenset|sorted|sum(map(f, xs))`,
//! `[f(x) for x in xs]` and `list|...|sum(f(x) for x in xs)` (consumed at once). `f`
//! must be a moved function whose calls are independent: it writes no global and no
//! module object, does not call `globals()`, and only reads its parameters (so calls
//! sharing an argument cannot see each other's changes). A site whose `f` is not
//! independent stays as it is, and the report says why.

use std::collections::BTreeSet;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, ExprCall, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

use super::Edit;
use crate::analysis::{ModuleFacts, RUNTIME_ALIAS};
use crate::parse::ParsedModule;
use crate::plan::{Decision, Plan, UnitKind};

/// Builtins that consume an iterable at once.
const EAGER: &[&str] = &["list", "tuple", "set", "frozenset", "sorted", "sum"];

#[derive(Debug, Clone, serde::Serialize)]
pub struct Site {
    pub line: usize,
    /// `map`, `list(map)`, `list comprehension`, `sum(generator)`...
    pub form: String,
    pub function: String,
    /// Why the calls stay sequential, when they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequential: Option<String>,
    #[serde(skip)]
    pub edits: Vec<Edit>,
}

/// Every fan-out site of the driver (outside the moved definitions, which stay as
/// they are: they are the local twins).
pub fn sites(parsed: &ParsedModule, facts: &ModuleFacts, plan: &Plan) -> Vec<Site> {
    let moved: BTreeSet<&str> = plan.moved().map(|(u, _)| u.name.as_str()).collect();
    let mut finder = Finder {
        parsed,
        facts,
        plan,
        scopes: vec![facts.names.keys().map(String::as_str).collect()],
        sites: Vec::new(),
    };
    for stmt in &parsed.ast.body {
        let is_moved_definition = match stmt {
            Stmt::FunctionDef(def) => moved.contains(def.name.as_str()),
            Stmt::ClassDef(class) => moved.contains(class.name.as_str()),
            _ => false,
        };
        if !is_moved_definition {
            finder.visit_stmt(stmt);
        }
    }
    finder.sites
}

struct Finder<'a> {
    parsed: &'a ParsedModule,
    facts: &'a ModuleFacts,
    plan: &'a Plan,
    /// Names bound in each enclosing scope, the module's first: a builtin or a moved
    /// function is only itself where no scope rebinds its name.
    scopes: Vec<BTreeSet<&'a str>>,
    sites: Vec<Site>,
}

impl<'a> Finder<'a> {
    fn is_builtin(&self, expr: &Expr, names: &[&'static str]) -> Option<&'static str> {
        let Expr::Name(name) = expr else { return None };
        let id = name.id.as_str();
        let found = names.iter().find(|n| **n == id)?;
        (!self.scopes.iter().any(|s| s.contains(id))).then_some(*found)
    }

    /// The moved function `expr` names, where no enclosing function rebinds it.
    fn moved_function(&self, expr: &Expr) -> Option<String> {
        let Expr::Name(name) = expr else { return None };
        let id = name.id.as_str();
        if self.scopes[1..].iter().any(|s| s.contains(id)) {
            return None;
        }
        // Calls of a coroutine function only make coroutines: the program awaits them
        // (asyncio.gather runs their invocations concurrently).
        self.plan
            .moved()
            .find(|(u, m)| u.name == id && u.kind == UnitKind::Function && !m.coroutine)
            .map(|(u, _)| u.name.clone())
    }

    fn push(&mut self, at: TextSize, form: String, function: String, edits: Vec<Edit>) {
        let sequential = independence(self.parsed, self.facts, self.plan, &function).err();
        self.sites.push(Site {
            line: self.parsed.line(at),
            form,
            function,
            edits: if sequential.is_some() {
                Vec::new()
            } else {
                edits
            },
            sequential,
        });
    }

    /// `map(f, xs)` with `f` moved: the function and the iterable.
    fn map_call<'e>(&self, expr: &'e Expr) -> Option<(String, &'e ExprCall)> {
        let Expr::Call(call) = expr else { return None };
        self.is_builtin(&call.func, &["map"])?;
        let args = &call.arguments;
        if args.args.len() != 2
            || !args.keywords.is_empty()
            || args.args.iter().any(Expr::is_starred_expr)
        {
            return None;
        }
        Some((self.moved_function(&args.args[0])?, call))
    }

    /// `f(x) for x in xs` (one clause, no condition) with `f` moved: the function and
    /// the iterable.
    fn comprehension<'e>(
        &self,
        elt: &'e Expr,
        generators: &'e [ruff_python_ast::Comprehension],
    ) -> Option<(String, &'e Expr)> {
        let [clause] = generators else { return None };
        if clause.is_async || !clause.ifs.is_empty() {
            return None;
        }
        let Expr::Name(target) = &clause.target else {
            return None;
        };
        let Expr::Call(call) = elt else { return None };
        let [Expr::Name(arg)] = &call.arguments.args[..] else {
            return None;
        };
        if !call.arguments.keywords.is_empty() || arg.id != target.id {
            return None;
        }
        Some((self.moved_function(&call.func)?, &clause.iter))
    }

    /// Edits turning `map(f, xs)` into `_lambada.fanout(f, xs[, True])`: the name, and
    /// the flag after the last argument. The arguments stay as they are, so sites
    /// inside them are rewritten too.
    fn map_edits(&self, call: &ExprCall, eager: bool) -> Vec<Edit> {
        let mut edits = vec![Edit::replace(
            call.func.range(),
            format!("{RUNTIME_ALIAS}.fanout"),
        )];
        if eager {
            edits.push(Edit::insert(call.arguments.args[1].end(), ", True"));
        }
        edits
    }

    /// Edits turning `f(x) for x in xs` (bracketed or not, spanning `whole`) into
    /// `<open>_lambada.fanout(f, xs, True)<close>`.
    fn comprehension_edits(
        &self,
        whole: TextRange,
        function: &str,
        iterable: &Expr,
        open: &str,
        close: &str,
    ) -> Vec<Edit> {
        vec![
            Edit::replace(
                TextRange::new(whole.start(), iterable.start()),
                format!("{open}{RUNTIME_ALIAS}.fanout({function}, "),
            ),
            Edit::replace(
                TextRange::new(iterable.end(), whole.end()),
                format!(", True){close}"),
            ),
        ]
    }
}

impl<'a> Visitor<'a> for Finder<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                self.scopes.push(bound_names(def));
                self.visit_body(&def.body);
                self.scopes.pop();
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            // list(map(f, xs)), sum(f(x) for x in xs): consumed at once.
            Expr::Call(call)
                if !call.arguments.args.is_empty()
                    && self.is_builtin(&call.func, EAGER).is_some() =>
            {
                let wrapper = self.is_builtin(&call.func, EAGER).unwrap_or_default();
                let first = &call.arguments.args[0];
                if let Some((function, inner)) = self.map_call(first) {
                    let iterable = &inner.arguments.args[1];
                    let edits = self.map_edits(inner, true);
                    self.push(inner.start(), format!("{wrapper}(map)"), function, edits);
                    self.visit_expr(iterable);
                    for rest in call.arguments.args.iter().skip(1) {
                        self.visit_expr(rest);
                    }
                    for keyword in &call.arguments.keywords {
                        self.visit_expr(&keyword.value);
                    }
                    return;
                }
                if let Expr::Generator(generator) = first
                    && let Some((function, iterable)) =
                        self.comprehension(&generator.elt, &generator.generators)
                {
                    let edits =
                        self.comprehension_edits(generator.range(), &function, iterable, "", "");
                    self.push(
                        generator.start(),
                        format!("{wrapper}(generator)"),
                        function,
                        edits,
                    );
                    self.visit_expr(iterable);
                    for rest in call.arguments.args.iter().skip(1) {
                        self.visit_expr(rest);
                    }
                    return;
                }
                visitor::walk_expr(self, expr);
            }
            Expr::Call(_) => {
                if let Some((function, call)) = self.map_call(expr) {
                    let iterable = &call.arguments.args[1];
                    let edits = self.map_edits(call, false);
                    self.push(call.start(), "map".into(), function, edits);
                    self.visit_expr(iterable);
                    return;
                }
                visitor::walk_expr(self, expr);
            }
            Expr::ListComp(comp) => {
                if let Some((function, iterable)) = self.comprehension(&comp.elt, &comp.generators)
                {
                    let edits =
                        self.comprehension_edits(comp.range(), &function, iterable, "list(", ")");
                    self.push(comp.start(), "list comprehension".into(), function, edits);
                    self.visit_expr(iterable);
                    return;
                }
                visitor::walk_expr(self, expr);
            }
            // Lambdas bind their parameters: a name inside may not be the module's.
            Expr::Lambda(_) => {}
            _ => visitor::walk_expr(self, expr),
        }
    }
}

/// Names a function binds (parameters, assignment targets, imports, nested
/// definitions), over-approximated: a name bound anywhere in its body counts, so a
/// site is only rewritten where the name surely is the module's.
fn bound_names(def: &ruff_python_ast::StmtFunctionDef) -> BTreeSet<&str> {
    struct Bound<'b> {
        names: BTreeSet<&'b str>,
    }
    impl<'b> Visitor<'b> for Bound<'b> {
        fn visit_stmt(&mut self, stmt: &'b Stmt) {
            match stmt {
                Stmt::FunctionDef(def) => {
                    self.names.insert(def.name.as_str());
                }
                Stmt::ClassDef(class) => {
                    self.names.insert(class.name.as_str());
                }
                Stmt::Import(import) => {
                    for alias in &import.names {
                        let name = alias.asname.as_ref().unwrap_or(&alias.name);
                        self.names
                            .insert(name.as_str().split('.').next().unwrap_or_default());
                    }
                }
                Stmt::ImportFrom(import) => {
                    for alias in &import.names {
                        self.names
                            .insert(alias.asname.as_ref().unwrap_or(&alias.name).as_str());
                    }
                }
                _ => {}
            }
            visitor::walk_stmt(self, stmt);
        }
        fn visit_expr(&mut self, expr: &'b Expr) {
            if let Expr::Name(name) = expr
                && name.ctx.is_store()
            {
                self.names.insert(name.id.as_str());
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut bound = Bound {
        names: def.parameters.iter().map(|p| p.name().as_str()).collect(),
    };
    bound.visit_body(&def.body);
    bound.names
}

/// Whether calls of moved function `name` are independent of each other; the reason
/// when not.
pub fn independence(
    parsed: &ParsedModule,
    facts: &ModuleFacts,
    plan: &Plan,
    name: &str,
) -> Result<(), String> {
    let Some(movement) = plan.units.iter().find_map(|u| match &u.decision {
        Decision::Moved(m) if u.name == name => Some(m),
        _ => None,
    }) else {
        return Err(format!("{name} is not a cloud function"));
    };
    let function = facts
        .functions
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| format!("{name} is not a function"))?;
    if let Some(global) = movement
        .globals_written
        .iter()
        .chain(&function.globals_written)
        .next()
    {
        return Err(format!(
            "{name} writes the global `{global}`: its calls depend on each other"
        ));
    }
    if let Some((root, line)) = function
        .attribute_writes
        .iter()
        .find(|(root, _)| facts.names.contains_key(root))
    {
        return Err(format!(
            "{name} changes the module object `{root}` at line {line}: its calls depend on each other"
        ));
    }
    if let Some(line) = function.uses_module_namespace {
        return Err(format!("{name} calls globals() at line {line}"));
    }
    let Stmt::FunctionDef(def) = &parsed.ast.body[function.stmt] else {
        return Err(format!("{name} is not a plain function"));
    };
    if let Some(parameter) = def
        .parameters
        .iter()
        .map(|p| p.name().as_str())
        .find(|p| !function.readonly.iter().any(|r| r == p))
    {
        return Err(format!(
            "{name} may change its argument `{parameter}`, which calls could share"
        ));
    }
    Ok(())
}
