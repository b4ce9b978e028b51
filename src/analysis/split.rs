//! Stateful splitting (issue 13): where a function that reads stdin can be cut into
//! segments that run in the cloud, with each read done by the driver in between.
//!
//! A *suspension point* is a statement whose one read (`input()`,
//! `sys.stdin.readline()`, `.read()`, `.readlines()`) is the first thing with an
//! effect that the statement evaluates. [`split_shape`] finds the points and everything
//! the rewrite needs to make the function resumable at each of them (the statements to
//! skip when resuming, the tests and loops to re-enter without running them again, the
//! `finally` blocks that must not run on suspension), all as ranges of the original
//! text; or the reason, naming the construct and its line, why the function cannot be
//! split correctly (then it stays local, as before).

use std::collections::BTreeSet;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprCall, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

use super::effects::qualified_name;
use super::scope::Resolver;
use crate::parse::ParsedModule;

/// What a suspension point asks the driver to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    /// `input(prompt)`.
    Input,
    /// `sys.stdin.readline(size)`.
    Readline,
    /// `sys.stdin.read(size)`.
    Read,
    /// `sys.stdin.readlines(hint)`.
    Readlines,
    /// One step of `for line in sys.stdin`.
    Line,
    /// A `yield` of a generator: the driver's generator yields the value.
    Yield,
    /// A call of another function of the program that reads stdin (a caller of a
    /// split function): the driver makes the call, through the callee's own stub.
    Call,
}

impl ReadKind {
    /// The name the runtime knows the read by (`lambada_runtime/split.py`).
    pub fn runtime_name(self) -> &'static str {
        match self {
            ReadKind::Input => "input",
            ReadKind::Readline => "readline",
            ReadKind::Read => "read",
            ReadKind::Readlines => "readlines",
            ReadKind::Line => "line",
            ReadKind::Yield => "yield",
            ReadKind::Call => "call",
        }
    }
}

/// One suspension point.
#[derive(Debug, Clone)]
pub struct Point {
    /// 1, 2, ... in source order (0 means "run from the start").
    pub number: u32,
    pub line: usize,
    pub kind: ReadKind,
    /// The statement holding the read.
    pub stmt: TextRange,
    /// The read call, replaced by the value the driver read.
    pub call: TextRange,
    /// The call's arguments (between the parentheses), evaluated before suspending.
    pub args: TextRange,
    /// The indentation of the statement's line.
    pub indent: String,
    /// For a [`ReadKind::Call`]: the function called (a module-level name).
    pub callee: Option<String>,
}

/// Statements (a run of them, from `start` to `end`) that a resumed call skips: they
/// come before the statement holding the point it resumes at. A run without points
/// (`points` is `None`) runs only when the call is not resuming; a statement with points
/// before another one with points runs when not resuming or resuming at one of its own.
#[derive(Debug, Clone)]
pub struct Guard {
    pub start: TextSize,
    pub end: TextSize,
    pub indent: String,
    pub points: Option<Vec<u32>>,
}

/// The test of an `if`/`elif`/`while` whose branch or body holds points: resuming into
/// it enters without evaluating the test again.
#[derive(Debug, Clone)]
pub struct Test {
    pub range: TextRange,
    pub points: Vec<u32>,
}

/// A `for` loop whose body or `else` holds points: its iterator becomes a local
/// (`_lambada_it_N`) that travels with the others.
#[derive(Debug, Clone)]
pub struct Loop {
    pub number: u32,
    pub iter: TextRange,
    pub target: TextRange,
    pub body: Vec<u32>,
    pub orelse: Vec<u32>,
}

/// `for TARGET in sys.stdin:` (no `else`): the header becomes a `while` and each step
/// a suspension point at the top of the body.
#[derive(Debug, Clone)]
pub struct StdinLoop {
    pub point: u32,
    pub line: usize,
    /// From `for` to the end of `sys.stdin`: replaced by the `while` header.
    pub header: TextRange,
    pub target: TextRange,
    /// Other points in the body.
    pub body: Vec<u32>,
    /// The first statement of the body, where the step goes, and its indentation.
    pub body_at: TextSize,
    pub indent: String,
}

/// A context manager of a `with` whose body holds points, carried across them: it is
/// entered once, when the `with` is first reached, and exited once, when the block is
/// really left, never at a suspension (`lambada_runtime/split.py`, `Held`). Its wrapper
/// (`_lambada_cm_N`) travels with the other locals.
#[derive(Debug, Clone)]
pub struct Held {
    pub number: u32,
    /// The context expression, replaced by the wrapper.
    pub expr: TextRange,
    /// The points inside the block: resuming at one of them re-enters it through the
    /// wrapper that travelled instead of evaluating the expression again.
    pub points: Vec<u32>,
}

/// The context managers carried across a read (qualified names): their `__enter__`
/// and `__exit__` have no effect outside the manager itself, so entering one in one
/// segment and leaving it in another (in another process) is the same as in one.
/// Anything else (an open file, a lock, `redirect_stdout`, `localcontext()`, ...) holds
/// a resource or changes the process, and keeps the function local.
pub const CARRIED_MANAGERS: &[&str] = &["contextlib.suppress", "contextlib.nullcontext"];

/// How to make a function resumable at its reads.
#[derive(Debug, Clone)]
pub struct SplitShape {
    pub points: Vec<Point>,
    /// The function's local variables (parameters included), restored on resume.
    pub locals: Vec<String>,
    /// Where the restoring prelude goes (the first statement after the docstring).
    pub prelude_at: TextSize,
    pub body_indent: String,
    pub guards: Vec<Guard>,
    pub tests: Vec<Test>,
    pub loops: Vec<Loop>,
    pub stdin_loops: Vec<StdinLoop>,
    /// The first statement of each `finally` block around a point, with its indentation.
    pub finals: Vec<(TextSize, String)>,
    /// The context managers of the `with` statements around points.
    pub helds: Vec<Held>,
    /// Multi-line string literals, whose continuation lines must not be re-indented.
    pub strings: Vec<TextRange>,
}

/// Why a function that reads stdin cannot be split: it says which construct, where.
pub type NotSplittable = String;

/// The shape of `def` when split at its reads, if it reads stdin at all.
pub fn split_shape(
    parsed: &ParsedModule,
    def: &ast::StmtFunctionDef,
    resolver: &Resolver<'_>,
    bound: &BTreeSet<String>,
) -> Option<Result<SplitShape, NotSplittable>> {
    split_shape_with_calls(parsed, def, resolver, bound, &BTreeSet::new())
}

/// Like [`split_shape`], with each call of one of `callees` (module-level functions of
/// the program that read stdin, directly or through their own callees) a suspension
/// point too: the driver makes the call, as it does a read.
pub fn split_shape_with_calls(
    parsed: &ParsedModule,
    def: &ast::StmtFunctionDef,
    resolver: &Resolver<'_>,
    bound: &BTreeSet<String>,
    callees: &BTreeSet<String>,
) -> Option<Result<SplitShape, NotSplittable>> {
    let mut finder = ReadFinder::new(resolver);
    finder.callees = callees
        .iter()
        .filter(|c| !bound.contains(*c))
        .cloned()
        .collect();
    finder.visit_body(&def.body);
    if let Some((name, at)) = &finder.other_callee_use {
        return Some(Err(format!(
            "uses {name} at line {} other than by calling it ({name} reads stdin; only a call can suspend for it)",
            parsed.line(*at)
        )));
    }
    if finder.reads.is_empty() && finder.other_stdin.is_none() && finder.yield_from.is_none() {
        return None;
    }
    let only_yields =
        finder.reads.iter().all(|r| r.kind == ReadKind::Yield) && finder.other_stdin.is_none();
    if let Some(at) = finder.yield_from {
        return Some(Err(format!(
            "`yield from` at line {} cannot be split (its sub-iterator would run here)",
            parsed.line(at)
        )));
    }
    let only_calls = finder.reads.iter().all(|r| r.kind == ReadKind::Call);
    let shape = Splitter::new(parsed, resolver, finder).run(def, bound);
    // The same rules hold for a generator's yields and for calls of functions that
    // read as for reads; say which it is.
    Some(shape.map_err(|why| {
        if only_yields {
            why.replace("reads stdin", "yields")
        } else if only_calls {
            why.replace("reads stdin", "calls a function that reads stdin")
        } else {
            why
        }
    }))
}

/// A read found anywhere in some code, with the scopes it sits in.
#[derive(Debug, Clone)]
struct Read {
    kind: ReadKind,
    call: TextRange,
    args: TextRange,
    /// The innermost nested scope around it (comprehension, lambda...), if any.
    nested_in: Option<(&'static str, TextSize)>,
    /// For a [`ReadKind::Call`]: the function called.
    callee: Option<String>,
}

struct ReadFinder<'r> {
    resolver: &'r Resolver<'r>,
    reads: Vec<Read>,
    /// A use of `sys.stdin` that is not one of the reads above (`for line in
    /// sys.stdin`, passing the stream on).
    other_stdin: Option<TextSize>,
    /// Nested functions, classes and lambdas: (what, where).
    nested: Vec<(&'static str, TextSize)>,
    /// A `yield from` in the function's own scope.
    yield_from: Option<TextSize>,
    scopes: Vec<(&'static str, TextSize)>,
    /// Calls that are the read's callee chain (`sys.stdin.readline`), not other uses.
    callee_attrs: BTreeSet<TextSize>,
    /// Module-level functions that read stdin: calling one is a read.
    callees: BTreeSet<String>,
    /// A use of one of `callees` other than calling it (passing it on): (name, where).
    other_callee_use: Option<(String, TextSize)>,
}

impl<'r> ReadFinder<'r> {
    fn new(resolver: &'r Resolver<'r>) -> Self {
        Self {
            resolver,
            reads: Vec::new(),
            other_stdin: None,
            nested: Vec::new(),
            yield_from: None,
            scopes: Vec::new(),
            callee_attrs: BTreeSet::new(),
            callees: BTreeSet::new(),
            other_callee_use: None,
        }
    }

    /// The function a call of one of `callees` calls.
    fn callee_of(&self, call: &ExprCall) -> Option<String> {
        match call.func.as_ref() {
            Expr::Name(name) if self.callees.contains(name.id.as_str()) => {
                Some(name.id.to_string())
            }
            _ => None,
        }
    }

    fn read_kind(&self, call: &ExprCall) -> Option<ReadKind> {
        let name = qualified_name(&call.func, self.resolver)?;
        match name.as_str() {
            "input" => Some(ReadKind::Input),
            "sys.stdin.readline" => Some(ReadKind::Readline),
            "sys.stdin.read" => Some(ReadKind::Read),
            "sys.stdin.readlines" => Some(ReadKind::Readlines),
            _ => None,
        }
    }

    fn is_stdin(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Attribute(attribute) if attribute.attr.as_str() == "stdin"
            && qualified_name(&attribute.value, self.resolver).as_deref() == Some("sys"))
    }

    fn in_scope(&mut self, what: &'static str, at: TextSize, f: impl FnOnce(&mut Self)) {
        self.scopes.push((what, at));
        f(self);
        self.scopes.pop();
    }
}

impl<'a> Visitor<'a> for ReadFinder<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                self.nested.push(("a nested function", def.start()));
                self.in_scope("a nested function", def.start(), |s| {
                    visitor::walk_stmt(s, stmt)
                });
            }
            Stmt::For(for_stmt) if self.is_stdin(&for_stmt.iter) => {
                self.reads.push(Read {
                    kind: ReadKind::Line,
                    call: for_stmt.iter.range(),
                    args: TextRange::empty(for_stmt.iter.end()),
                    nested_in: self.scopes.last().copied(),
                    callee: None,
                });
                self.visit_expr(&for_stmt.target);
                self.visit_body(&for_stmt.body);
                self.visit_body(&for_stmt.orelse);
            }
            Stmt::ClassDef(class) => {
                self.nested.push(("a nested class", class.start()));
                self.in_scope("a nested class", class.start(), |s| {
                    visitor::walk_stmt(s, stmt)
                });
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Call(call) if let Some(callee) = self.callee_of(call) => {
                let args = call.arguments.range();
                self.reads.push(Read {
                    kind: ReadKind::Call,
                    call: call.range(),
                    args: TextRange::new(
                        args.start() + TextSize::from(1),
                        args.end() - TextSize::from(1),
                    ),
                    nested_in: self.scopes.last().copied(),
                    callee: Some(callee),
                });
                // The arguments only: the callee's name is not another use of it.
                self.visit_arguments(&call.arguments);
            }
            Expr::Name(name) if self.callees.contains(name.id.as_str()) => {
                self.other_callee_use
                    .get_or_insert((name.id.to_string(), expr.start()));
            }
            Expr::Call(call) => {
                if let Some(kind) = self.read_kind(call) {
                    let args = call.arguments.range();
                    // Between the parentheses.
                    let inner = TextRange::new(
                        args.start() + TextSize::from(1),
                        args.end() - TextSize::from(1),
                    );
                    self.reads.push(Read {
                        kind,
                        call: call.range(),
                        args: inner,
                        nested_in: self.scopes.last().copied(),
                        callee: None,
                    });
                    if let Expr::Attribute(attribute) = call.func.as_ref() {
                        self.callee_attrs.insert(attribute.value.start());
                    }
                }
                visitor::walk_expr(self, expr);
            }
            Expr::Attribute(attribute)
                if attribute.attr.as_str() == "stdin"
                    && !self.callee_attrs.contains(&expr.start())
                    && qualified_name(&attribute.value, self.resolver).as_deref()
                        == Some("sys") =>
            {
                self.other_stdin.get_or_insert(expr.start());
            }
            Expr::Yield(yield_expr) if self.scopes.is_empty() => {
                let args = yield_expr
                    .value
                    .as_ref()
                    .map_or(TextRange::empty(expr.end()), |v| v.range());
                self.reads.push(Read {
                    kind: ReadKind::Yield,
                    call: expr.range(),
                    args,
                    nested_in: None,
                    callee: None,
                });
                visitor::walk_expr(self, expr);
            }
            Expr::YieldFrom(_) if self.scopes.is_empty() => {
                self.yield_from.get_or_insert(expr.start());
                visitor::walk_expr(self, expr);
            }
            Expr::Lambda(lambda) => {
                self.nested.push(("a lambda", lambda.start()));
                self.in_scope("a lambda", lambda.start(), |s| visitor::walk_expr(s, expr));
            }
            Expr::ListComp(_) | Expr::SetComp(_) | Expr::DictComp(_) => {
                self.in_scope("a comprehension", expr.start(), |s| {
                    visitor::walk_expr(s, expr)
                });
            }
            Expr::Generator(_) => {
                self.in_scope("a generator expression", expr.start(), |s| {
                    visitor::walk_expr(s, expr)
                });
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

struct Splitter<'p, 'r> {
    parsed: &'p ParsedModule,
    resolver: &'r Resolver<'r>,
    all_reads: Vec<Read>,
    other_stdin: Option<TextSize>,
    nested: Vec<(&'static str, TextSize)>,
    shape: SplitShape,
    next_point: u32,
    next_loop: u32,
    next_held: u32,
}

impl<'p, 'r> Splitter<'p, 'r> {
    fn new(parsed: &'p ParsedModule, resolver: &'r Resolver<'r>, finder: ReadFinder<'r>) -> Self {
        Self {
            parsed,
            resolver,
            all_reads: finder.reads,
            other_stdin: finder.other_stdin,
            nested: finder.nested,
            shape: SplitShape {
                points: Vec::new(),
                locals: Vec::new(),
                prelude_at: TextSize::default(),
                body_indent: String::new(),
                guards: Vec::new(),
                tests: Vec::new(),
                loops: Vec::new(),
                stdin_loops: Vec::new(),
                finals: Vec::new(),
                helds: Vec::new(),
                strings: Vec::new(),
            },
            next_point: 1,
            next_loop: 1,
            next_held: 1,
        }
    }

    fn line(&self, at: TextSize) -> usize {
        self.parsed.line(at)
    }

    fn run(
        mut self,
        def: &ast::StmtFunctionDef,
        bound: &BTreeSet<String>,
    ) -> Result<SplitShape, NotSplittable> {
        let first_read = self.line(
            self.all_reads
                .first()
                .map_or(def.start(), |r| r.call.start()),
        );
        if let Some(at) = self.other_stdin {
            return Err(format!(
                "uses sys.stdin at line {} other than through readline(), read() or readlines() (it cannot be split there)",
                self.line(at)
            ));
        }
        if let Some(read) = self.all_reads.iter().find(|r| r.nested_in.is_some()) {
            let (what, _) = read.nested_in.expect("found above");
            return Err(format!(
                "reads stdin inside {what} at line {}, which cannot be split",
                self.line(read.call.start())
            ));
        }
        if let Some((what, at)) = self.nested.first() {
            return Err(format!(
                "reads stdin at line {first_read} and defines {what} at line {}: its closure could not be carried across the read",
                self.line(*at)
            ));
        }
        let text = &self.parsed.source.text[def.range()];
        if text
            .lines()
            .any(|l| l.starts_with('\t') || l.starts_with(" \t"))
        {
            return Err(format!(
                "reads stdin at line {first_read} and is indented with tabs, which the split cannot re-indent"
            ));
        }
        let mut body: &[Stmt] = &def.body;
        // The docstring stays first, outside the guards: the prelude goes after it.
        if let [Stmt::Expr(e), rest @ ..] = body
            && e.value.is_string_literal_expr()
            && !rest.is_empty()
        {
            body = rest;
        }
        let Some(first) = body.first() else {
            return Err("empty body".to_owned());
        };
        self.own_line(first.start(), "the function body")?;
        self.shape.prelude_at = first.start();
        self.shape.body_indent = self.indent_of(first.start());
        let points = self.block(body)?;
        if points.is_empty() {
            return Err("reads stdin where it cannot be split".to_owned());
        }
        let mut strings = StringFinder::default();
        strings.visit_body(&def.body);
        let source = &self.parsed.source.text;
        self.shape.strings = strings
            .ranges
            .into_iter()
            .filter(|r| source[*r].contains('\n'))
            .collect();
        let mut locals: Vec<String> = bound
            .iter()
            .filter(|n| !n.starts_with("_lambada"))
            .cloned()
            .collect();
        locals.extend(
            self.shape
                .loops
                .iter()
                .map(|l| format!("_lambada_it_{}", l.number)),
        );
        locals.extend(
            self.shape
                .helds
                .iter()
                .map(|h| format!("_lambada_cm_{}", h.number)),
        );
        self.shape.locals = locals;
        Ok(self.shape)
    }

    fn indent_of(&self, at: TextSize) -> String {
        let text = &self.parsed.source.text;
        let start = text[..usize::from(at)].rfind('\n').map_or(0, |i| i + 1);
        text[start..usize::from(at)].to_owned()
    }

    /// Code the split inserts lines before must start its own line.
    fn own_line(&self, at: TextSize, what: &str) -> Result<(), NotSplittable> {
        let text = &self.parsed.source.text;
        let start = text[..usize::from(at)].rfind('\n').map_or(0, |i| i + 1);
        if text[start..usize::from(at)].trim().is_empty() {
            Ok(())
        } else {
            Err(format!(
                "reads stdin and {what} at line {} shares its line with other code (`;` or a one-line block), which the split cannot cut",
                self.line(at)
            ))
        }
    }

    fn reads_in(&self, range: TextRange) -> Vec<Read> {
        self.all_reads
            .iter()
            .filter(|r| range.contains_range(r.call))
            .cloned()
            .collect()
    }

    fn no_reads(&self, range: TextRange, what: &str) -> Result<(), NotSplittable> {
        match self.reads_in(range).first() {
            None => Ok(()),
            Some(read) => Err(format!(
                "reads stdin {what} at line {}, which cannot be split",
                self.line(read.call.start())
            )),
        }
    }

    /// The points of a block; statements before the last statement holding a point
    /// become guarded runs.
    fn block(&mut self, body: &[Stmt]) -> Result<Vec<u32>, NotSplittable> {
        let mut per_stmt = Vec::with_capacity(body.len());
        for stmt in body {
            per_stmt.push(self.stmt(stmt)?);
        }
        let Some(last) = per_stmt.iter().rposition(|p| !p.is_empty()) else {
            return Ok(Vec::new());
        };
        let mut run: Option<(TextSize, TextSize)> = None;
        for (stmt, points) in body[..last].iter().zip(&per_stmt) {
            if points.is_empty() {
                run = Some(match run {
                    Some((start, _)) => (start, stmt.end()),
                    None => {
                        self.own_line(stmt.start(), "a statement before it")?;
                        (stmt.start(), stmt.end())
                    }
                });
            } else {
                if let Some((start, end)) = run.take() {
                    self.push_guard(start, end, None);
                }
                self.push_guard(stmt.start(), stmt.end(), Some(points.clone()));
            }
        }
        if let Some((start, end)) = run {
            self.push_guard(start, end, None);
        }
        Ok(per_stmt.into_iter().flatten().collect())
    }

    fn push_guard(&mut self, start: TextSize, end: TextSize, points: Option<Vec<u32>>) {
        let indent = self.indent_of(start);
        self.shape.guards.push(Guard {
            start,
            end,
            indent,
            points,
        });
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<Vec<u32>, NotSplittable> {
        let line = self.line(stmt.start());
        match stmt {
            Stmt::Expr(_)
            | Stmt::Assign(_)
            | Stmt::AnnAssign(_)
            | Stmt::AugAssign(_)
            | Stmt::Return(_) => self.simple(stmt),
            Stmt::If(if_stmt) => {
                self.no_reads(if_stmt.test.range(), "in the condition of `if`")?;
                let mut clauses = vec![(Some(if_stmt.test.range()), self.block(&if_stmt.body)?)];
                for clause in &if_stmt.elif_else_clauses {
                    if let Some(test) = &clause.test {
                        self.no_reads(test.range(), "in the condition of `elif`")?;
                    }
                    clauses.push((
                        clause.test.as_ref().map(Ranged::range),
                        self.block(&clause.body)?,
                    ));
                }
                let all: Vec<u32> = clauses.iter().flat_map(|(_, p)| p.clone()).collect();
                if !all.is_empty() {
                    self.own_line(stmt.start(), "the `if` around it")?;
                    for (test, points) in clauses {
                        if let Some(range) = test {
                            self.shape.tests.push(Test { range, points });
                        }
                    }
                }
                Ok(all)
            }
            Stmt::While(while_stmt) => {
                self.no_reads(while_stmt.test.range(), "in the condition of `while`")?;
                let body = self.block(&while_stmt.body)?;
                let orelse = self.block(&while_stmt.orelse)?;
                if !body.is_empty() || !orelse.is_empty() {
                    self.own_line(stmt.start(), "the `while` around it")?;
                    self.shape.tests.push(Test {
                        range: while_stmt.test.range(),
                        points: body.clone(),
                    });
                }
                Ok(body.into_iter().chain(orelse).collect())
            }
            Stmt::For(for_stmt)
                if self
                    .all_reads
                    .iter()
                    .any(|r| r.call == for_stmt.iter.range() && r.kind == ReadKind::Line) =>
            {
                if !for_stmt.orelse.is_empty() {
                    return Err(format!(
                        "iterates sys.stdin in a `for` loop with an `else` clause (line {line}), which cannot be split"
                    ));
                }
                if !for_stmt.target.is_name_expr() {
                    return Err(format!(
                        "iterates sys.stdin into `{}` (line {line}), which cannot be split (a name can)",
                        self.parsed.text(for_stmt.target.range())
                    ));
                }
                self.own_line(stmt.start(), "the `for` over sys.stdin")?;
                let first = for_stmt.body.first().expect("a for loop has a body");
                self.own_line(first.start(), "the body of the `for` over sys.stdin")?;
                let point = self.next_point;
                self.next_point += 1;
                let body = self.block(&for_stmt.body)?;
                self.shape.stdin_loops.push(StdinLoop {
                    point,
                    line,
                    header: TextRange::new(stmt.start(), for_stmt.iter.end()),
                    target: for_stmt.target.range(),
                    body: body.clone(),
                    body_at: first.start(),
                    indent: self.indent_of(first.start()),
                });
                Ok(std::iter::once(point).chain(body).collect())
            }
            Stmt::For(for_stmt) => {
                self.no_reads(for_stmt.iter.range(), "in the iterable of `for`")?;
                let number = self.next_loop;
                self.next_loop += 1;
                let body = self.block(&for_stmt.body)?;
                let orelse = self.block(&for_stmt.orelse)?;
                if body.is_empty() && orelse.is_empty() {
                    return Ok(Vec::new());
                }
                self.own_line(stmt.start(), "the `for` around it")?;
                if !is_simple_target(&for_stmt.target) {
                    return Err(format!(
                        "reads stdin in a `for` loop (line {line}) whose target is not a name or a tuple of names, which the split cannot rebind"
                    ));
                }
                self.shape.loops.push(Loop {
                    number,
                    iter: for_stmt.iter.range(),
                    target: for_stmt.target.range(),
                    body: body.clone(),
                    orelse: orelse.clone(),
                });
                Ok(body.into_iter().chain(orelse).collect())
            }
            Stmt::Try(try_stmt) => {
                let body = self.block(&try_stmt.body)?;
                let orelse = self.block(&try_stmt.orelse)?;
                for handler in &try_stmt.handlers {
                    self.no_reads(
                        handler.range(),
                        &format!(
                            "in an `except` handler (line {})",
                            self.line(handler.start())
                        ),
                    )?;
                }
                if let Some(first) = try_stmt.finalbody.first() {
                    self.no_reads(
                        TextRange::new(first.start(), stmt.end()),
                        "in a `finally` block",
                    )?;
                }
                let all: Vec<u32> = body.into_iter().chain(orelse).collect();
                if !all.is_empty() {
                    self.own_line(stmt.start(), "the `try` around it")?;
                    if let Some(first) = try_stmt.finalbody.first() {
                        self.own_line(first.start(), "its `finally` block")?;
                        let indent = self.indent_of(first.start());
                        self.shape.finals.push((first.start(), indent));
                    }
                }
                Ok(all)
            }
            Stmt::With(with) => {
                let reads = self.reads_in(stmt.range());
                let Some(read) = reads.first() else {
                    return Ok(Vec::new());
                };
                if !with.is_async
                    && with
                        .items
                        .iter()
                        .all(|item| self.carried_manager(&item.context_expr))
                {
                    for item in &with.items {
                        self.no_reads(item.range(), "in the header of `with`")?;
                    }
                    let body = self.block(&with.body)?;
                    if !body.is_empty() {
                        self.own_line(stmt.start(), "the `with` around it")?;
                        for item in &with.items {
                            let number = self.next_held;
                            self.next_held += 1;
                            self.shape.helds.push(Held {
                                number,
                                expr: item.context_expr.range(),
                                points: body.clone(),
                            });
                        }
                    }
                    return Ok(body);
                }
                let held = with
                    .items
                    .iter()
                    .map(|item| self.parsed.text(item.context_expr.range()))
                    .collect::<Vec<_>>()
                    .join(", ");
                let opens_file = with.items.iter().any(|item| {
                    matches!(&item.context_expr, Expr::Call(call)
                        if qualified_name(&call.func, self.resolver).is_some_and(|n| n == "open" || n.ends_with(".open")))
                });
                let what = if opens_file {
                    "the file opened"
                } else {
                    "the context manager"
                };
                Err(format!(
                    "reads stdin at line {} inside `with {}` (line {line}): {what} there would be held across the read, which cannot travel",
                    self.line(read.call.start()),
                    shorten(&held)
                ))
            }
            _ => {
                let reads = self.reads_in(stmt.range());
                match reads.first() {
                    None => Ok(Vec::new()),
                    Some(read) => Err(format!(
                        "reads stdin at line {} inside a `{}` statement (line {line}), which cannot be split",
                        self.line(read.call.start()),
                        keyword(self.parsed.text(stmt.range()))
                    )),
                }
            }
        }
    }

    /// Whether `expr` makes a context manager the split carries across a read (a call of
    /// one of [`CARRIED_MANAGERS`]).
    fn carried_manager(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Call(call)
            if qualified_name(&call.func, self.resolver)
                .is_some_and(|name| CARRIED_MANAGERS.contains(&name.as_str())))
    }

    /// A simple statement: at most one read, evaluated before anything else with an effect.
    fn simple(&mut self, stmt: &Stmt) -> Result<Vec<u32>, NotSplittable> {
        let reads = self.reads_in(stmt.range());
        let line = self.line(stmt.start());
        let read = match reads.as_slice() {
            [] => return Ok(Vec::new()),
            [read] => read.clone(),
            [_, second, ..] => {
                return Err(format!(
                    "reads stdin twice in one statement (line {}), which cannot be split",
                    self.line(second.call.start())
                ));
            }
        };
        let value: Option<&Expr> = match stmt {
            Stmt::Expr(e) => Some(&e.value),
            Stmt::Assign(a) => Some(&a.value),
            Stmt::AnnAssign(a) => a.value.as_deref(),
            Stmt::AugAssign(a) => {
                if !a.target.is_name_expr() {
                    return Err(format!(
                        "reads stdin in an augmented assignment to `{}` (line {line}), whose target is evaluated first",
                        self.parsed.text(a.target.range())
                    ));
                }
                Some(&a.value)
            }
            Stmt::Return(r) => r.value.as_deref(),
            _ => None,
        };
        let Some(value) = value.filter(|v| v.range().contains_range(read.call)) else {
            return Err(format!(
                "reads stdin in the target of an assignment (line {line}), which cannot be split"
            ));
        };
        let mut before = EvaluatedBefore {
            read: read.call,
            found: None,
        };
        before.visit_expr(value);
        if let Some(at) = before.found {
            return Err(format!(
                "reads stdin at line {line} after `{}` in the same statement, which has run by then and cannot be run again after the read",
                shorten(self.parsed.text(at))
            ));
        }
        self.own_line(stmt.start(), "the statement holding the read")?;
        let rest = &self.parsed.source.text[usize::from(stmt.end())..];
        let rest = rest.split('\n').next().unwrap_or("").trim();
        if !(rest.is_empty() || rest.starts_with('#')) {
            return Err(format!(
                "reads stdin at line {line} in a statement followed by `;` and more code, which the split cannot cut"
            ));
        }
        let number = self.next_point;
        self.next_point += 1;
        self.shape.points.push(Point {
            number,
            line: self.line(read.call.start()),
            kind: read.kind,
            stmt: stmt.range(),
            call: read.call,
            args: read.args,
            indent: self.indent_of(stmt.start()),
            callee: read.callee.clone(),
        });
        Ok(vec![number])
    }
}

/// A call (or await, yield, walrus) evaluated before the read in the statement's value:
/// one that is not the read's ancestor and starts before it.
struct EvaluatedBefore {
    read: TextRange,
    found: Option<TextRange>,
}

impl<'a> Visitor<'a> for EvaluatedBefore {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.found.is_some() || expr.range() == self.read {
            return;
        }
        let ancestor = expr.range().contains_range(self.read);
        let effectful = matches!(
            expr,
            Expr::Call(_) | Expr::Await(_) | Expr::Yield(_) | Expr::YieldFrom(_) | Expr::Named(_)
        );
        if effectful && !ancestor && expr.start() < self.read.start() {
            self.found = Some(expr.range());
            return;
        }
        visitor::walk_expr(self, expr);
    }
}

#[derive(Default)]
struct StringFinder {
    ranges: Vec<TextRange>,
}

impl<'a> Visitor<'a> for StringFinder {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::StringLiteral(_) | Expr::BytesLiteral(_) | Expr::FString(_) => {
                self.ranges.push(expr.range());
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

fn is_simple_target(target: &Expr) -> bool {
    match target {
        Expr::Name(_) => true,
        Expr::Tuple(tuple) => tuple.elts.iter().all(is_simple_target),
        Expr::List(list) => list.elts.iter().all(is_simple_target),
        _ => false,
    }
}

fn keyword(text: &str) -> &str {
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or(text)
}

fn shorten(text: &str) -> String {
    let one_line = text.split('\n').next().unwrap_or(text);
    if one_line.chars().count() > 40 || one_line.len() < text.len() {
        format!("{}…", one_line.chars().take(39).collect::<String>())
    } else {
        one_line.to_owned()
    }
}
