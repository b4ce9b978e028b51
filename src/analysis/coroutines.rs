//! What keeps an `async def` in the program: a moved coroutine runs to completion in
//! the cloud function's own event loop (`asyncio.run`), so it must not wait on, or
//! depend on the identity of, anything that belongs to the caller's event loop.
//!
//! Found from the source alone (never guessed from names):
//! - `await E`, `async with E`, `async for _ in E` where `E` comes from outside the
//!   coroutine: a parameter, a module variable, or a local assigned from one (a task,
//!   a future, a queue, a session or stream the caller made). `E` is followed through
//!   attributes, subscripts and the callee of a call (`await queue.get()`), and into
//!   the awaitables given to asyncio's combinators (`asyncio.gather(*tasks)`).
//!   Awaiting a call of a module function, an import or a builtin is fine: the
//!   awaitable is made inside the coroutine.
//! - calls that reach the running loop or its tasks: `asyncio.current_task()`,
//!   `all_tasks()`, `get_running_loop()`, `get_event_loop()`, and `create_task()`,
//!   `ensure_future()` (a task started there could outlive the call, as it does in the
//!   program, where `asyncio.run` in the cloud function would cancel it).

use std::collections::{BTreeSet, HashMap};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, Stmt, StmtFunctionDef};
use ruff_text_size::{Ranged, TextSize};

use super::effects::qualified_name;
use super::scope::{Resolver, is_builtin};

/// asyncio functions that wait on awaitables they are given: `gather` on all its
/// positional arguments, the others on their first (`wait_for(aw, timeout)`).
const COMBINATORS: &[(&str, bool)] = &[
    ("asyncio.gather", true),
    ("asyncio.wait", false),
    ("asyncio.wait_for", false),
    ("asyncio.shield", false),
    ("asyncio.as_completed", false),
];

/// Calls that reach the caller's running loop or its tasks, with why that matters.
const LOOP_CALLS: &[(&str, &str)] = &[
    ("asyncio.current_task", "it needs the caller's task"),
    ("asyncio.all_tasks", "it needs the caller's tasks"),
    (
        "asyncio.get_running_loop",
        "it needs the caller's event loop",
    ),
    ("asyncio.get_event_loop", "it needs the caller's event loop"),
    (
        "asyncio.create_task",
        "a task it starts could outlive the call, and asyncio.run in the cloud function would cancel it",
    ),
    (
        "asyncio.ensure_future",
        "a task it starts could outlive the call, and asyncio.run in the cloud function would cancel it",
    ),
    (
        "asyncio.run_coroutine_threadsafe",
        "it needs another thread's event loop",
    ),
];

/// Why coroutine `def` cannot run in a cloud function's event loop, with the offset
/// of the construct; `None` when nothing ties it to the caller's loop. `module_defs`
/// are the names of the module's functions and classes.
pub fn loop_tie(
    def: &StmtFunctionDef,
    imports: &HashMap<String, String>,
    module_defs: &BTreeSet<&str>,
) -> Option<(String, TextSize)> {
    let resolver = Resolver { imports };
    let mut finder = Finder {
        resolver,
        module_defs,
        parameters: def.parameters.iter().map(|p| p.name().as_str()).collect(),
        assigned: BTreeSet::new(),
        outside: BTreeSet::new(),
        found: None,
    };
    // Locals first: which are assigned at all, then which carry an outside object
    // (to a fixed point: `a = param; b = a.child`).
    finder.collect_assigned(&def.body);
    loop {
        let before = finder.outside.len();
        finder.taint(&def.body);
        if finder.outside.len() == before {
            break;
        }
    }
    finder.visit_body(&def.body);
    finder.found
}

struct Finder<'a> {
    resolver: Resolver<'a>,
    module_defs: &'a BTreeSet<&'a str>,
    parameters: BTreeSet<&'a str>,
    /// Names the coroutine binds itself (assignments, loop and `with` targets).
    assigned: BTreeSet<&'a str>,
    /// Locals assigned from something outside the coroutine.
    outside: BTreeSet<&'a str>,
    found: Option<(String, TextSize)>,
}

impl<'a> Finder<'a> {
    fn collect_assigned(&mut self, body: &'a [Stmt]) {
        struct Stores<'b>(BTreeSet<&'b str>);
        impl<'b> Visitor<'b> for Stores<'b> {
            fn visit_expr(&mut self, expr: &'b Expr) {
                if let Expr::Name(name) = expr
                    && name.ctx.is_store()
                {
                    self.0.insert(name.id.as_str());
                }
                visitor::walk_expr(self, expr);
            }
        }
        impl<'b> Stores<'b> {
            fn parameters(&mut self, parameters: &'b ruff_python_ast::Parameters) {
                self.0.extend(parameters.iter().map(|p| p.name().as_str()));
            }
        }
        let mut stores = Stores(BTreeSet::new());
        stores.visit_body(body);
        // Parameters of nested functions and lambdas are theirs: whoever calls them
        // runs inside the coroutine.
        struct Nested<'s, 'b>(&'s mut Stores<'b>);
        impl<'b> Visitor<'b> for Nested<'_, 'b> {
            fn visit_stmt(&mut self, stmt: &'b Stmt) {
                if let Stmt::FunctionDef(def) = stmt {
                    self.0.parameters(&def.parameters);
                }
                visitor::walk_stmt(self, stmt);
            }
            fn visit_expr(&mut self, expr: &'b Expr) {
                if let Expr::Lambda(lambda) = expr
                    && let Some(parameters) = &lambda.parameters
                {
                    self.0.parameters(parameters);
                }
                visitor::walk_expr(self, expr);
            }
        }
        Nested(&mut stores).visit_body(body);
        self.assigned = stores.0;
    }

    /// Marks the targets of assignments and loops whose value comes from outside.
    fn taint(&mut self, body: &'a [Stmt]) {
        struct Taint<'f, 'a> {
            finder: &'f mut Finder<'a>,
        }
        impl<'a> Visitor<'a> for Taint<'_, 'a> {
            fn visit_stmt(&mut self, stmt: &'a Stmt) {
                let (targets, value): (Vec<&'a Expr>, Option<&'a Expr>) = match stmt {
                    Stmt::Assign(assign) => (assign.targets.iter().collect(), Some(&assign.value)),
                    Stmt::AnnAssign(assign) => (vec![&assign.target], assign.value.as_deref()),
                    Stmt::For(for_stmt) => (vec![&for_stmt.target], Some(&for_stmt.iter)),
                    Stmt::With(with) => (
                        with.items
                            .iter()
                            .filter_map(|i| i.optional_vars.as_deref())
                            .collect(),
                        with.items.first().map(|i| &i.context_expr),
                    ),
                    _ => (Vec::new(), None),
                };
                if let Some(value) = value
                    && self.finder.origin(value).is_some()
                {
                    for target in targets {
                        mark_names(target, &mut self.finder.outside);
                    }
                }
                visitor::walk_stmt(self, stmt);
            }
            fn visit_expr(&mut self, expr: &'a Expr) {
                if let Expr::Named(named) = expr
                    && self.finder.origin(&named.value).is_some()
                {
                    mark_names(&named.target, &mut self.finder.outside);
                }
                visitor::walk_expr(self, expr);
            }
        }
        Taint { finder: self }.visit_body(body);
    }

    /// The outside name `expr` is reached from (a parameter, a module variable, a local
    /// assigned from one), following attributes, subscripts and callees.
    fn origin(&self, expr: &'a Expr) -> Option<&'a str> {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str();
                let outside = if self.parameters.contains(id) || self.outside.contains(id) {
                    true
                } else if self.assigned.contains(id) {
                    false
                } else {
                    // Free: a module variable, unless it is an import, a module
                    // function or class, or a builtin.
                    !self.resolver.imports.contains_key(id)
                        && !self.module_defs.contains(id)
                        && !is_builtin(id)
                };
                outside.then_some(id)
            }
            Expr::Attribute(attribute) => self.origin(&attribute.value),
            Expr::Subscript(subscript) => self.origin(&subscript.value),
            Expr::Call(call) => match self.combinator(&call.func) {
                Some(all) => {
                    let waited = if all { call.arguments.args.len() } else { 1 };
                    call.arguments
                        .args
                        .iter()
                        .take(waited)
                        .find_map(|arg| self.awaitable_origin(arg))
                }
                None => self.origin(&call.func),
            },
            Expr::Await(inner) => self.origin(&inner.value),
            _ => None,
        }
    }

    /// Like `origin`, for an argument of a combinator: into `*xs`, lists, tuples and
    /// comprehensions (whose elements may be their loop variables).
    fn awaitable_origin(&self, expr: &'a Expr) -> Option<&'a str> {
        match expr {
            Expr::Starred(starred) => self.awaitable_origin(&starred.value),
            Expr::List(list) => list.elts.iter().find_map(|e| self.awaitable_origin(e)),
            Expr::Tuple(tuple) => tuple.elts.iter().find_map(|e| self.awaitable_origin(e)),
            Expr::ListComp(comp) => self.element_origin(&comp.elt, &comp.generators),
            Expr::Generator(comp) => self.element_origin(&comp.elt, &comp.generators),
            Expr::SetComp(comp) => self.element_origin(&comp.elt, &comp.generators),
            _ => self.origin(expr),
        }
    }

    fn element_origin(
        &self,
        elt: &'a Expr,
        generators: &'a [ruff_python_ast::Comprehension],
    ) -> Option<&'a str> {
        let root = root_name(elt);
        for generator in generators {
            let mut bound = BTreeSet::new();
            mark_names(&generator.target, &mut bound);
            if root.is_some_and(|r| bound.contains(r)) {
                return self.origin(&generator.iter);
            }
        }
        self.awaitable_origin(elt)
    }

    /// For a combinator: whether it waits on all its positional arguments.
    fn combinator(&self, func: &Expr) -> Option<bool> {
        let qualified = qualified_name(func, &self.resolver)?;
        COMBINATORS
            .iter()
            .find(|(name, _)| *name == qualified)
            .map(|(_, all)| *all)
    }

    fn note(&mut self, reason: String, at: TextSize) {
        if self.found.is_none() {
            self.found = Some((reason, at));
        }
    }
}

impl<'a> Visitor<'a> for Finder<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::With(with) if with.is_async => {
                for item in &with.items {
                    if let Some(name) = self.origin(&item.context_expr) {
                        self.note(
                            format!(
                                "`async with` over `{name}`, which comes from the caller and belongs to its event loop"
                            ),
                            item.context_expr.start(),
                        );
                    }
                }
            }
            Stmt::For(for_stmt) if for_stmt.is_async => {
                if let Some(name) = self.origin(&for_stmt.iter) {
                    self.note(
                        format!(
                            "`async for` over `{name}`, which comes from the caller and belongs to its event loop"
                        ),
                        for_stmt.iter.start(),
                    );
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Await(awaited) => {
                if let Some(name) = self.origin(&awaited.value) {
                    self.note(
                        format!(
                            "awaits `{name}`, which comes from the caller and belongs to its event loop"
                        ),
                        awaited.start(),
                    );
                }
            }
            Expr::Call(call) => {
                if let Some(qualified) = qualified_name(&call.func, &self.resolver)
                    && let Some((_, what)) = LOOP_CALLS.iter().find(|(q, _)| *q == qualified)
                {
                    self.note(format!("calls {qualified}(): {what}"), call.start());
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

fn root_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attribute) => root_name(&attribute.value),
        Expr::Subscript(subscript) => root_name(&subscript.value),
        Expr::Call(call) => root_name(&call.func),
        _ => None,
    }
}

fn mark_names<'a>(target: &'a Expr, into: &mut BTreeSet<&'a str>) {
    match target {
        Expr::Name(name) => {
            into.insert(name.id.as_str());
        }
        Expr::Tuple(tuple) => tuple.elts.iter().for_each(|e| mark_names(e, into)),
        Expr::List(list) => list.elts.iter().for_each(|e| mark_names(e, into)),
        Expr::Starred(starred) => mark_names(&starred.value, into),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tie(source: &str) -> Option<String> {
        let parsed = ruff_python_parser::parse_module(source).expect("parses");
        let body = &parsed.syntax().body;
        let mut imports = HashMap::new();
        let mut defs = BTreeSet::new();
        for stmt in body {
            match stmt {
                Stmt::Import(import) => {
                    for alias in &import.names {
                        imports.insert(alias.name.to_string(), alias.name.to_string());
                    }
                }
                Stmt::FunctionDef(def) => {
                    defs.insert(def.name.as_str());
                }
                _ => {}
            }
        }
        let def = body
            .iter()
            .rev()
            .find_map(|s| match s {
                Stmt::FunctionDef(def) => Some(def),
                _ => None,
            })
            .expect("a def");
        loop_tie(def, &imports, &defs).map(|(reason, _)| reason)
    }

    #[test]
    fn awaiting_calls_made_inside_the_coroutine_moves() {
        let source = "import asyncio\nasync def work(n, log):\n    await asyncio.sleep(0)\n    return n\nasync def all(names, log):\n    xs = await asyncio.gather(*(work(n, log) for n in names))\n    async with asyncio.timeout(1):\n        await work(1, log)\n    return xs\n";
        assert_eq!(tie(source), None);
    }

    #[test]
    fn awaiting_what_the_caller_gave_stays_local() {
        let reason = tie("async def f(fut):\n    return await fut\n").expect("tied");
        assert!(reason.starts_with("awaits `fut`"), "{reason}");
        let reason = tie("async def f(q):\n    item = await q.get()\n").expect("tied");
        assert!(reason.contains("`q`"), "{reason}");
        let reason = tie("import asyncio\nasync def f(tasks):\n    return await asyncio.gather(*[t for t in tasks])\n")
            .expect("tied");
        assert!(reason.contains("`tasks`"), "{reason}");
        let reason = tie(
            "async def f(conn):\n    s = conn.stream\n    async for line in s:\n        pass\n",
        )
        .expect("tied");
        assert!(reason.starts_with("`async for` over `s`"), "{reason}");
        let reason = tie("queue = None\nasync def f():\n    async with lock:\n        pass\n")
            .expect("tied");
        assert!(reason.starts_with("`async with` over `lock`"), "{reason}");
    }

    #[test]
    fn timeouts_and_nested_handlers_are_not_the_callers() {
        let source = "import asyncio\nasync def meet(port, bound):\n    reader, writer = await asyncio.open_connection('h', port)\n    word = await asyncio.wait_for(reader.readline(), bound)\n    async def arrive(r, w):\n        await r.readline()\n    server = await asyncio.start_server(arrive, 'h', 0)\n    return word\n";
        assert_eq!(tie(source), None);
        let reason = tie(
            "import asyncio\nasync def f(fut, bound):\n    await asyncio.wait_for(fut, bound)\n",
        )
        .expect("tied");
        assert!(reason.contains("`fut`"), "{reason}");
    }

    #[test]
    fn loop_identity_and_stray_tasks_stay_local() {
        let reason =
            tie("import asyncio\nasync def f():\n    return asyncio.current_task().get_name()\n")
                .expect("tied");
        assert!(reason.contains("asyncio.current_task()"), "{reason}");
        let reason =
            tie("import asyncio\nasync def g():\n    pass\nasync def f():\n    asyncio.create_task(g())\n")
                .expect("tied");
        assert!(reason.contains("outlive the call"), "{reason}");
    }
}
