//! Stage 2: what the compiler must know about a module.
//!
//! [`analyse`] walks the parsed module once and returns [`ModuleFacts`]: its top-level
//! statements and what each binds and needs, its imports (and the local modules among
//! them), every top-level function and class with its free names, calls, global
//! writes and effects, and where generated code can be inserted. It decides nothing:
//! deciding what moves is the plan's job.

mod body;
mod classes;
mod coroutines;
mod effects;
mod modules;
pub mod paths;
mod readonly;
pub mod scope;
pub mod split;
mod values;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use ruff_python_ast::{self as ast, Decorator, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

pub use effects::{Effect, EffectKind};
pub use modules::LocalModule;
pub use scope::is_builtin;

use crate::parse::ParsedModule;
use body::{returned_closure, returned_lazy_iterator};
use scope::{Resolver, ScopeFacts};
use values::{is_constant_assignment, is_definitions_only, is_immutable_constant, is_main_guard};

/// Everything later stages need to know about one module.
#[derive(Debug)]
pub struct ModuleFacts {
    pub module: String,
    pub statements: Vec<Statement>,
    pub functions: Vec<FunctionFacts>,
    pub classes: Vec<ClassFacts>,
    pub imports: Vec<ImportFacts>,
    /// Module-level import aliases: `np` → `numpy`, `Path` → `pathlib.Path`.
    pub import_map: HashMap<String, String>,
    /// Every name bound at module level.
    pub names: BTreeMap<String, NameFacts>,
    /// Modules beside the file that the program imports, with their sources.
    pub local_modules: Vec<LocalModule>,
    /// Module functions used as values somewhere (`map(f, xs)`, `handlers = {"a": f}`):
    /// they may travel as arguments, so every package carries them.
    pub escaping_functions: BTreeSet<String>,
    /// The program's classes it uses outside their own definition, and their bases:
    /// only instances of these can exist to be passed to a cloud function.
    pub instantiated_classes: BTreeSet<String>,
    /// Module functions used as decorators, with the line of the first use.
    pub decorators: BTreeMap<String, usize>,
    /// Where the driver's header comment goes (after a shebang or coding line).
    pub header_at: TextSize,
    /// Where the runtime import goes (after the docstring and `__future__` imports).
    pub runtime_import: InsertPoint,
    pub warnings: Vec<Warning>,
    /// `@cloudfunction` settings no function can be deployed with (`memory=100`): the
    /// program is refused at compile time, where the position is known.
    pub setting_errors: Vec<SettingError>,
}

/// A setting the platform would refuse, at its keyword in the source.
#[derive(Debug, Clone)]
pub struct SettingError {
    pub at: TextSize,
    pub message: String,
}

/// The range Lambda accepts for a function's memory, in MB.
pub const MEMORY_RANGE_MB: std::ops::RangeInclusive<u32> = 128..=10240;
/// The range Lambda accepts for a function's timeout, in seconds.
pub const TIMEOUT_RANGE_S: std::ops::RangeInclusive<u32> = 1..=900;

#[derive(Debug, Clone, Copy)]
pub struct InsertPoint {
    pub at: TextSize,
    /// The insertion starts mid-line (after a statement followed by `;`), so it needs a
    /// line break before it rather than after it.
    pub mid_line: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// A top-level statement of the module.
#[derive(Debug)]
pub struct Statement {
    pub range: TextRange,
    pub line: usize,
    pub kind: StatementKind,
    /// Module names the statement binds.
    pub binds: BTreeSet<String>,
    /// Module names (or builtins) the statement needs when it runs, including, for a
    /// def or class, everything its body loads.
    pub needs: BTreeSet<String>,
    /// Names it uses as values rather than calling them.
    pub value_refs: BTreeSet<String>,
    /// The statement can be copied into a package: running it has no effect beyond
    /// binding names (imports, defs, classes, constant assignments).
    pub copyable: bool,
    /// Module names whose objects the statement changes (`Point.ZERO = ...`,
    /// `REGISTRY.append(f)`, `setattr(X, ...)`, `del X.attr`): a package that holds
    /// one of them runs the statement too. Empty for defs, classes, imports and the
    /// `__main__` block.
    pub mutates: BTreeSet<String>,
    /// What running the statement does besides (printing, reading stdin...), with lines.
    pub effects: Vec<(EffectKind, usize)>,
    /// The first line of its source, for messages.
    pub first_line: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    Docstring,
    FutureImport,
    Import,
    Function,
    Class,
    Assignment,
    /// `if __name__ == "__main__":` — never travels.
    MainGuard,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameKind {
    Import,
    Function,
    Class,
    /// Bound once to a value built only from literals and other constants, never
    /// rebound: its statement is copied into packages, its value never sent.
    Constant,
    /// Bound by several definitions (defs, classes, imports, a function rebound to
    /// another by name), none in the `__main__` block or through `global`: every one
    /// is copied into packages in source order, so each use sees the right one.
    Redefined,
    /// Anything else bound at module level: its current value travels with each call.
    Variable,
    /// Bound only inside the `__main__` block.
    MainOnly,
}

#[derive(Debug)]
pub struct NameFacts {
    pub kind: NameKind,
    /// Indices into `statements` of every top-level statement binding the name.
    pub statements: Vec<usize>,
    /// The one statement that gives a variable its initial value, when copying it into a
    /// package is harmless (a literal, possibly mutable).
    pub initial: Option<usize>,
    /// Functions and classes that assign it through `global`.
    pub written_by: BTreeSet<String>,
}

#[derive(Debug)]
pub struct ImportFacts {
    pub stmt: usize,
    pub line: usize,
    /// The imported module, dotted, with leading dots for relative imports.
    pub module: String,
    pub names: Vec<String>,
    pub star: bool,
    pub future: bool,
    /// The name of the local module (a file beside the program) this imports, if any.
    pub local: Option<String>,
}

/// Where the driver puts the decorator that makes a definition a cloud function's
/// local twin: the start of the line of its `def` or `class` keyword, below its own
/// decorators, with that line's indentation.
#[derive(Debug, Clone)]
pub struct TwinSite {
    pub at: TextSize,
    pub indent: String,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CloudAnnotation {
    pub memory: Option<u32>,
    pub duration: Option<u32>,
}

#[derive(Debug)]
pub struct FunctionFacts {
    pub name: String,
    pub stmt: usize,
    pub line: usize,
    pub is_async: bool,
    /// Line of the first `yield` directly in the body: the function is a generator.
    pub yield_line: Option<usize>,
    /// For an `async def`: what ties it to the caller's event loop, and the line
    /// (see `coroutines`).
    pub loop_tie: Option<(String, usize)>,
    /// Line of a `return` of a nested function or lambda: a closure cannot travel.
    pub returns_function: Option<usize>,
    pub twin: TwinSite,
    /// Parameters the function provably only reads (see `readonly`), in order.
    pub readonly: Vec<String>,
    /// A `return` of a lazy iterator (`map(...)`, `itertools.count()`, a generator
    /// expression): what returns it, and the line.
    pub returns_lazy_iterator: Option<(String, usize)>,
    /// Set when decorated with `@cloudfunction` (bare or with arguments).
    pub cloudfunction: Option<CloudAnnotation>,
    pub decorators: Vec<String>,
    /// The docstring's source text, when the body starts with one.
    pub docstring: Option<String>,
    /// Module-level names the body loads (not decorators or defaults), with their line.
    pub free: BTreeMap<String, usize>,
    pub calls: BTreeSet<String>,
    pub globals_written: BTreeSet<String>,
    pub effects: Vec<(EffectKind, usize)>,
    /// Roots of changed attributes (see `ScopeFacts::attribute_writes`), with lines.
    pub attribute_writes: Vec<(String, usize)>,
    /// Methods called on attributes (see `ScopeFacts::attribute_calls`), with lines.
    pub attribute_calls: Vec<(String, String, usize)>,
    /// Calls `globals()`: reads and writes the whole module by name.
    pub uses_module_namespace: Option<usize>,
    /// Reads stdin: how to split it at its reads, or why it cannot be (issue 13).
    pub split: Option<Result<split::SplitShape, split::NotSplittable>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Instance,
    Class,
    Static,
    PropertyGet,
    PropertySet,
    PropertyDelete,
}

#[derive(Debug)]
pub struct MethodFacts {
    pub name: String,
    pub line: usize,
    pub kind: MethodKind,
    /// Parameters the method provably only reads, the receiver included.
    pub readonly: Vec<String>,
    /// A `return` of a lazy iterator, as for functions.
    pub returns_lazy_iterator: Option<(String, usize)>,
}

#[derive(Debug)]
pub struct ClassFacts {
    pub name: String,
    pub stmt: usize,
    pub line: usize,
    /// The base classes as written (`Account`, `abc.ABC`).
    pub bases: Vec<String>,
    pub twin: TwinSite,
    pub methods: Vec<MethodFacts>,
    pub free: BTreeMap<String, usize>,
    pub calls: BTreeSet<String>,
    pub globals_written: BTreeSet<String>,
    pub effects: Vec<(EffectKind, usize)>,
    pub attribute_writes: Vec<(String, usize)>,
    pub attribute_calls: Vec<(String, String, usize)>,
    pub uses_module_namespace: Option<usize>,
    /// Why a proxy could not stand in for this class, if anything prevents it.
    pub blockers: Vec<(String, usize)>,
}

/// The name under which generated code imports the runtime module.
pub const RUNTIME_ALIAS: &str = "_lambada";

/// Analyses a parsed module. `dir` is the directory of the file, where local modules
/// live; without it no local modules are looked for.
pub fn analyse(parsed: &ParsedModule, dir: Option<&Path>) -> ModuleFacts {
    Analyser::new(parsed).run(dir)
}

struct Analyser<'p> {
    parsed: &'p ParsedModule,
    import_map: HashMap<String, String>,
    /// Facts of the top-level functions and methods, found while walking their
    /// statements, by the def's start: each body is walked once.
    walked: HashMap<TextSize, ScopeFacts>,
    facts: ModuleFacts,
}

impl<'p> Analyser<'p> {
    fn new(parsed: &'p ParsedModule) -> Self {
        Self {
            parsed,
            import_map: HashMap::new(),
            walked: HashMap::new(),
            facts: ModuleFacts {
                module: parsed.source.module.clone(),
                statements: Vec::new(),
                functions: Vec::new(),
                classes: Vec::new(),
                imports: Vec::new(),
                import_map: HashMap::new(),
                names: BTreeMap::new(),
                local_modules: Vec::new(),
                escaping_functions: BTreeSet::new(),
                instantiated_classes: BTreeSet::new(),
                decorators: BTreeMap::new(),
                header_at: TextSize::default(),
                runtime_import: InsertPoint {
                    at: TextSize::default(),
                    mid_line: false,
                },
                warnings: Vec::new(),
                setting_errors: Vec::new(),
            },
        }
    }

    fn line(&self, offset: TextSize) -> usize {
        self.parsed.line(offset)
    }

    fn run(mut self, dir: Option<&Path>) -> ModuleFacts {
        let body = &self.parsed.ast.body;
        // Imports first: resolving `sys.stdout` or `rnd.random` in any function needs them.
        for stmt in body {
            collect_import_aliases(stmt, &mut self.import_map);
        }
        for (index, stmt) in body.iter().enumerate() {
            self.statement(index, stmt);
        }
        self.split_callers_of_readers();
        if let Some(dir) = dir {
            self.facts.local_modules = modules::discover(dir, &mut self.facts.imports);
            self.mark_missing_files(dir);
        }
        self.classify_names();
        self.facts.escaping_functions = self
            .facts
            .statements
            .iter()
            .flat_map(|s| s.value_refs.iter())
            .filter(|name| {
                self.facts
                    .names
                    .get(*name)
                    .is_some_and(|n| n.kind == NameKind::Function)
            })
            .cloned()
            .collect();
        self.facts.instantiated_classes = self.instantiated_classes();
        self.facts.header_at = header_position(&self.parsed.source.text);
        self.facts.runtime_import = self.runtime_import_position();
        self.facts.import_map = self.import_map;
        self.facts
    }

    /// Functions that call a function that reads stdin (directly, or through a callee
    /// of its own) split at those calls as at reads: the driver makes the call (issue
    /// 13). Works out, to a fixed point, which functions read and each one's shape with
    /// its calls of readers as points. Only plain calls of module-level functions count
    /// (`ask(...)`, not a method, not a name bound locally); a shape that cannot be cut
    /// at such a call says why, and the planner keeps the caller local with it.
    fn split_callers_of_readers(&mut self) {
        let resolver = Resolver {
            imports: &self.import_map,
        };
        let splittable = |f: &FunctionFacts| !f.is_async && f.yield_line.is_none();
        let mut readers: BTreeSet<String> = self
            .facts
            .functions
            .iter()
            .filter(|f| splittable(f) && matches!(f.split, Some(Ok(_))))
            .map(|f| f.name.clone())
            .collect();
        let mut computed: Vec<BTreeSet<String>> = vec![BTreeSet::new(); self.facts.functions.len()];
        // Each round adds readers or drops some whose calls cannot be cut; bounded
        // all the same.
        for _ in 0..=self.facts.functions.len() + 1 {
            let mut changed = false;
            for (i, function) in self.facts.functions.iter_mut().enumerate() {
                if !splittable(function) {
                    continue;
                }
                // Any use, not only calls: one that is not a call says why it cannot split.
                let callees: BTreeSet<String> = function
                    .free
                    .keys()
                    .filter(|c| readers.contains(*c))
                    .cloned()
                    .collect();
                if callees == computed[i] {
                    continue;
                }
                let Some(Stmt::FunctionDef(def)) = self.parsed.ast.body.get(function.stmt) else {
                    continue;
                };
                let bound = scope::function_scope(def, &resolver).bound;
                function.split =
                    split::split_shape_with_calls(self.parsed, def, &resolver, &bound, &callees);
                computed[i] = callees;
                if matches!(function.split, Some(Ok(_))) {
                    readers.insert(function.name.clone());
                } else {
                    readers.remove(&function.name);
                }
                changed = true;
            }
            if !changed {
                break;
            }
        }
    }

    /// A relative path read that names nothing beside the program cannot travel as a
    /// data file: its readers stay local (`OpensMissingFile`).
    fn mark_missing_files(&mut self, dir: &Path) {
        let resolver = Resolver {
            imports: &self.import_map,
        };
        let missing: BTreeSet<usize> = paths::relative_reads(&self.parsed.ast.body, &resolver)
            .into_iter()
            .filter(|(_, path)| !dir.join(path).exists())
            .map(|(at, _)| self.parsed.line(at))
            .collect();
        if missing.is_empty() {
            return;
        }
        let mark = |effects: &mut Vec<(EffectKind, usize)>| {
            for (kind, line) in effects.iter_mut() {
                if *kind == EffectKind::OpensLocalFile && missing.contains(line) {
                    *kind = EffectKind::OpensMissingFile;
                }
            }
        };
        for function in &mut self.facts.functions {
            mark(&mut function.effects);
        }
        for class in &mut self.facts.classes {
            mark(&mut class.effects);
        }
        for statement in &mut self.facts.statements {
            mark(&mut statement.effects);
        }
    }

    fn instantiated_classes(&self) -> BTreeSet<String> {
        let class_names: BTreeSet<&str> =
            self.facts.classes.iter().map(|c| c.name.as_str()).collect();
        // Used anywhere but in its own definition: called, or reached through a
        // classmethod or factory (`Vector3.from_pair(...)`), or passed around.
        let mut found: BTreeSet<String> = BTreeSet::new();
        for class in &self.facts.classes {
            let used = self
                .facts
                .statements
                .iter()
                .enumerate()
                .any(|(i, s)| i != class.stmt && s.needs.contains(&class.name));
            if used {
                found.insert(class.name.clone());
            }
        }
        // An instance of a subclass carries its bases' methods and state.
        let mut pending: Vec<String> = found.iter().cloned().collect();
        while let Some(name) = pending.pop() {
            if let Some(class) = self.facts.classes.iter().find(|c| c.name == name) {
                for base in &class.bases {
                    if class_names.contains(base.as_str()) && found.insert(base.clone()) {
                        pending.push(base.clone());
                    }
                }
            }
        }
        found
    }

    fn statement(&mut self, index: usize, stmt: &Stmt) {
        let resolver = Resolver {
            imports: &self.import_map,
        };
        let (scope, functions) = scope::module_statement_with_functions(stmt, &resolver);
        self.walked.extend(functions);
        let kind = self.statement_kind(index, stmt);
        let line = self.line(stmt.start());
        let copyable = match kind {
            StatementKind::Import
            | StatementKind::FutureImport
            | StatementKind::Function
            | StatementKind::Class => true,
            StatementKind::Assignment => is_constant_assignment(stmt, &self.import_map),
            StatementKind::MainGuard | StatementKind::Docstring => false,
            StatementKind::Other => is_definitions_only(stmt, &self.import_map),
        };
        match stmt {
            Stmt::FunctionDef(def) => self.function(index, def),
            Stmt::ClassDef(class) => self.class(index, class),
            Stmt::Import(_) | Stmt::ImportFrom(_) => self.import(index, stmt),
            _ => {}
        }
        if let Stmt::ImportFrom(import) = stmt
            && import.names.iter().any(|alias| alias.name.as_str() == "*")
        {
            self.facts.warnings.push(Warning {
                line,
                message: format!(
                    "`from {} import *` hides which names it brings; every package that uses an unknown name gets this import",
                    import.module.as_ref().map(|m| m.as_str()).unwrap_or(".")
                ),
            });
        }
        let mutates = match kind {
            StatementKind::Assignment | StatementKind::Other => mutated_roots(stmt, &scope),
            _ => BTreeSet::new(),
        };
        let effects = self.lines_of_effects(&scope);
        self.facts.statements.push(Statement {
            range: stmt.range(),
            line,
            kind,
            binds: scope.bound,
            needs: scope.free.into_keys().collect(),
            value_refs: scope.value_refs,
            copyable,
            mutates,
            effects,
            first_line: self
                .parsed
                .text(stmt.range())
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_owned(),
        });
    }

    fn statement_kind(&self, index: usize, stmt: &Stmt) -> StatementKind {
        match stmt {
            Stmt::Expr(expr) if index == 0 && expr.value.is_string_literal_expr() => {
                StatementKind::Docstring
            }
            Stmt::ImportFrom(import)
                if import
                    .module
                    .as_ref()
                    .is_some_and(|m| m.as_str() == "__future__") =>
            {
                StatementKind::FutureImport
            }
            Stmt::Import(_) | Stmt::ImportFrom(_) => StatementKind::Import,
            Stmt::FunctionDef(_) => StatementKind::Function,
            Stmt::ClassDef(_) => StatementKind::Class,
            Stmt::Assign(_) | Stmt::AnnAssign(_) | Stmt::AugAssign(_) | Stmt::TypeAlias(_) => {
                StatementKind::Assignment
            }
            Stmt::If(if_stmt) if is_main_guard(&if_stmt.test) => StatementKind::MainGuard,
            _ => StatementKind::Other,
        }
    }

    fn import(&mut self, index: usize, stmt: &Stmt) {
        let line = self.line(stmt.start());
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    self.facts.imports.push(ImportFacts {
                        stmt: index,
                        line,
                        module: alias.name.to_string(),
                        names: Vec::new(),
                        star: false,
                        future: false,
                        local: None,
                    });
                }
            }
            Stmt::ImportFrom(import) => {
                let module = format!(
                    "{}{}",
                    ".".repeat(import.level as usize),
                    import.module.as_ref().map(|m| m.as_str()).unwrap_or("")
                );
                self.facts.imports.push(ImportFacts {
                    stmt: index,
                    line,
                    future: module == "__future__",
                    star: import.names.iter().any(|a| a.name.as_str() == "*"),
                    names: import.names.iter().map(|a| a.name.to_string()).collect(),
                    module,
                    local: None,
                });
            }
            _ => {}
        }
    }

    fn scope_of(&mut self, def: &ast::StmtFunctionDef) -> ScopeFacts {
        if let Some(facts) = self.walked.remove(&def.start()) {
            return facts;
        }
        let resolver = Resolver {
            imports: &self.import_map,
        };
        scope::function_scope(def, &resolver)
    }

    fn lines_of_free(&self, scope: &ScopeFacts) -> BTreeMap<String, usize> {
        scope
            .free
            .iter()
            .map(|(name, at)| (name.clone(), self.line(*at)))
            .collect()
    }

    fn lines_of_writes(&self, scope: &ScopeFacts) -> Vec<(String, usize)> {
        scope
            .attribute_writes
            .iter()
            .map(|(root, at)| (root.clone(), self.line(*at)))
            .collect()
    }

    fn lines_of_calls(&self, scope: &ScopeFacts) -> Vec<(String, String, usize)> {
        scope
            .attribute_calls
            .iter()
            .map(|(root, method, at)| (root.clone(), method.clone(), self.line(*at)))
            .collect()
    }

    fn module_namespace_use(&self, scope: &ScopeFacts) -> Option<usize> {
        scope
            .calls
            .contains("globals")
            .then(|| scope.free.get("globals"))
            .flatten()
            .map(|at| self.line(*at))
    }

    fn lines_of_effects(&self, scope: &ScopeFacts) -> Vec<(EffectKind, usize)> {
        scope
            .effects
            .iter()
            .map(|effect| (effect.kind, self.line(effect.at)))
            .collect()
    }

    fn note_decorators(&mut self, decorators: &[Decorator]) {
        for decorator in decorators {
            let callee = match &decorator.expression {
                Expr::Call(call) => call.func.as_ref(),
                other => other,
            };
            if let Expr::Name(name) = callee {
                let line = self.line(decorator.start());
                self.facts
                    .decorators
                    .entry(name.id.to_string())
                    .or_insert(line);
            }
        }
    }

    fn function(&mut self, index: usize, def: &ast::StmtFunctionDef) {
        self.note_decorators(&def.decorator_list);
        let scope = self.scope_of(def);
        let decorators = def
            .decorator_list
            .iter()
            .map(|d| self.parsed.text(d.expression.range()).to_owned())
            .collect();
        let cloudfunction = def
            .decorator_list
            .iter()
            .find_map(|d| self.cloud_annotation(d));
        let returns_function = returned_closure(&def.body).map(|at| self.line(at));
        let returns_lazy_iterator = returned_lazy_iterator(&def.body, &self.import_map)
            .map(|(what, at)| (what, self.line(at)));
        let docstring = match def.body.first() {
            Some(Stmt::Expr(e)) if e.value.is_string_literal_expr() => {
                Some(self.parsed.text(e.range()).to_owned())
            }
            _ => None,
        };
        let split = if def.is_async {
            None
        } else {
            let resolver = Resolver {
                imports: &self.import_map,
            };
            split::split_shape(self.parsed, def, &resolver, &scope.bound)
        };
        let facts = FunctionFacts {
            split,
            docstring,
            returns_function,
            name: def.name.to_string(),
            stmt: index,
            line: self.line(def.name.start()),
            is_async: def.is_async,
            yield_line: scope.first_yield.map(|at| self.line(at)),
            loop_tie: self.loop_tie(def),
            twin: self.twin_site(def.start(), def.decorator_list.last().map(Ranged::end)),
            readonly: readonly::readonly_params(def, &self.import_map),
            returns_lazy_iterator,
            cloudfunction,
            decorators,
            free: self.lines_of_free(&scope),
            calls: scope.calls.clone(),
            globals_written: scope.globals_written.clone(),
            effects: self.lines_of_effects(&scope),
            attribute_writes: self.lines_of_writes(&scope),
            attribute_calls: self.lines_of_calls(&scope),
            uses_module_namespace: self.module_namespace_use(&scope),
        };
        self.facts.functions.push(facts);
    }

    fn loop_tie(&self, def: &ast::StmtFunctionDef) -> Option<(String, usize)> {
        if !def.is_async {
            return None;
        }
        let module_defs = self
            .parsed
            .ast
            .body
            .iter()
            .filter_map(|stmt| match stmt {
                Stmt::FunctionDef(f) => Some(f.name.as_str()),
                Stmt::ClassDef(c) => Some(c.name.as_str()),
                _ => None,
            })
            .collect();
        coroutines::loop_tie(def, &self.import_map, &module_defs)
            .map(|(reason, at)| (reason, self.line(at)))
    }

    fn cloud_annotation(&mut self, decorator: &Decorator) -> Option<CloudAnnotation> {
        let (callee, arguments) = match &decorator.expression {
            Expr::Call(call) => (call.func.as_ref(), Some(&call.arguments)),
            other => (other, None),
        };
        let named = match callee {
            Expr::Name(name) => name.id.as_str() == "cloudfunction",
            Expr::Attribute(attribute) => attribute.attr.as_str() == "cloudfunction",
            _ => false,
        };
        if !named {
            return None;
        }
        let mut annotation = CloudAnnotation {
            memory: None,
            duration: None,
        };
        for keyword in arguments.map(|a| &a.keywords[..]).unwrap_or_default() {
            let Some(arg) = &keyword.arg else { continue };
            let value = match &keyword.value {
                Expr::NumberLiteral(number) => number
                    .value
                    .as_int()
                    .and_then(|i| i.as_u64())
                    .and_then(|i| u32::try_from(i).ok()),
                _ => None,
            };
            let line = self.line(keyword.start());
            // `timeout=` is what Lambda calls it; the original Lambada said `duration=`.
            let setting = match arg.as_str() {
                "timeout" => "duration",
                other => other,
            };
            match (setting, value) {
                ("memory", Some(mb)) => {
                    self.check_range(keyword.start(), arg, mb, MEMORY_RANGE_MB, "MB");
                    annotation.memory = Some(mb);
                }
                ("duration", Some(seconds)) => {
                    self.check_range(keyword.start(), arg, seconds, TIMEOUT_RANGE_S, "seconds");
                    annotation.duration = Some(seconds);
                }
                ("memory" | "duration", None) => self.facts.warnings.push(Warning {
                    line,
                    message: format!(
                        "@cloudfunction({arg}=...) must be a whole number written as a literal; using the default"
                    ),
                }),
                _ => self.facts.warnings.push(Warning {
                    line,
                    message: format!(
                        "@cloudfunction does not know `{arg}`; it takes memory= (MB) and duration= (seconds; timeout= is the same)"
                    ),
                }),
            }
        }
        Some(annotation)
    }

    /// Records a setting outside what Lambda accepts, so that it fails here and not at
    /// deploy time.
    fn check_range(
        &mut self,
        at: TextSize,
        arg: &str,
        value: u32,
        range: std::ops::RangeInclusive<u32>,
        unit: &str,
    ) {
        if !range.contains(&value) {
            self.facts.setting_errors.push(SettingError {
                at,
                message: format!(
                    "@cloudfunction({arg}={value}): Lambda accepts {}..={} {unit}; pick a value in that range",
                    range.start(),
                    range.end()
                ),
            });
        }
    }

    /// Where the twin decorator of a definition goes: the line of its `def`/`class`
    /// keyword, found after its last decorator (comments may sit in between).
    pub(super) fn twin_site(
        &self,
        start: TextSize,
        after_decorators: Option<TextSize>,
    ) -> TwinSite {
        let text = self.parsed.source.text.as_str();
        let mut at = usize::from(after_decorators.unwrap_or(start));
        loop {
            let rest = &text[at..];
            let trimmed = rest.trim_start_matches([' ', '\t', '\x0c', '\r', '\n', '\\']);
            at += rest.len() - trimmed.len();
            if trimmed.starts_with('#') {
                at += trimmed.find('\n').unwrap_or(trimmed.len());
            } else {
                break;
            }
        }
        let keyword = TextSize::try_from(at).unwrap_or(start);
        let line_start = self
            .parsed
            .lines
            .line_start(self.parsed.lines.line_index(keyword), text);
        TwinSite {
            at: line_start,
            indent: self.indent_of(keyword).to_owned(),
        }
    }

    fn indent_of(&self, offset: TextSize) -> &str {
        let text = &self.parsed.source.text;
        let start = self
            .parsed
            .lines
            .line_start(self.parsed.lines.line_index(offset), text.as_str());
        let line = &text[TextRange::new(start, offset)];
        &line[..line.len() - line.trim_start().len()]
    }

    /// Decides for every module name what kind of binding it is.
    fn classify_names(&mut self) {
        let mut writers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for function in &self.facts.functions {
            for name in &function.globals_written {
                writers
                    .entry(name.clone())
                    .or_default()
                    .insert(function.name.clone());
            }
        }
        for class in &self.facts.classes {
            for name in &class.globals_written {
                writers
                    .entry(name.clone())
                    .or_default()
                    .insert(class.name.clone());
            }
        }
        let mut names: BTreeMap<String, NameFacts> = BTreeMap::new();
        for (index, stmt) in self.facts.statements.iter().enumerate() {
            for name in &stmt.binds {
                let entry = names.entry(name.clone()).or_insert_with(|| NameFacts {
                    kind: NameKind::Variable,
                    statements: Vec::new(),
                    initial: None,
                    written_by: BTreeSet::new(),
                });
                entry.statements.push(index);
            }
        }
        for (name, facts) in names.iter_mut() {
            facts.written_by = writers.remove(name).unwrap_or_default();
            let statements: Vec<&Statement> = facts
                .statements
                .iter()
                .map(|&i| &self.facts.statements[i])
                .collect();
            let only = match statements.as_slice() {
                [only] => Some(*only),
                _ => None,
            };
            facts.kind = if statements
                .iter()
                .all(|s| s.kind == StatementKind::MainGuard)
            {
                NameKind::MainOnly
            } else if statements.iter().all(|s| {
                s.kind == StatementKind::Import || (s.kind == StatementKind::Other && s.copyable)
            }) {
                // Imports, and `try`/`if` blocks that only import or define (an import
                // with a fallback): copied into packages as they are.
                NameKind::Import
            } else {
                match only.map(|s| s.kind) {
                    None if facts.written_by.is_empty()
                        && is_redefinition(
                            &facts.statements,
                            |i| self.is_immutable_value(i) || self.is_lambda_assignment(i),
                            &self.facts.statements,
                        ) =>
                    {
                        NameKind::Redefined
                    }
                    Some(StatementKind::Function) if facts.written_by.is_empty() => {
                        NameKind::Function
                    }
                    Some(StatementKind::Assignment)
                        if facts.written_by.is_empty()
                            && self.is_lambda_assignment(facts.statements[0]) =>
                    {
                        NameKind::Function
                    }
                    Some(StatementKind::Class) if facts.written_by.is_empty() => NameKind::Class,
                    Some(StatementKind::Assignment)
                        if facts.written_by.is_empty()
                            && only.is_some_and(|s| s.copyable)
                            && self.is_immutable_value(facts.statements[0]) =>
                    {
                        NameKind::Constant
                    }
                    _ => NameKind::Variable,
                }
            };
            if facts.kind == NameKind::Variable {
                // The value travels with every call; copying a literal first binding
                // also gives definitions (defaults, annotations) a value at import.
                facts.initial = statements
                    .first()
                    .filter(|s| s.kind == StatementKind::Assignment && s.copyable)
                    .map(|_| facts.statements[0]);
            }
        }
        demote_constants_with_variable_needs(&mut names, &self.facts.statements);
        // Names written through `global` but never bound at module level are variables too.
        for (name, written_by) in writers {
            names.insert(
                name,
                NameFacts {
                    kind: NameKind::Variable,
                    statements: Vec::new(),
                    initial: None,
                    written_by,
                },
            );
        }
        self.facts.names = names;
    }

    /// `square = lambda x: x * x`: a function definition by another name.
    fn is_lambda_assignment(&self, stmt_index: usize) -> bool {
        matches!(
            &self.parsed.ast.body[stmt_index],
            Stmt::Assign(assign) if assign.targets.len() == 1
                && assign.targets[0].is_name_expr()
                && assign.value.is_lambda_expr()
        )
    }

    fn is_immutable_value(&self, stmt_index: usize) -> bool {
        let stmt = &self.parsed.ast.body[stmt_index];
        match stmt {
            Stmt::Assign(assign) => is_immutable_constant(&assign.value, &self.import_map),
            Stmt::AnnAssign(assign) => assign
                .value
                .as_deref()
                .is_some_and(|v| is_immutable_constant(v, &self.import_map)),
            Stmt::TypeAlias(_) => true,
            _ => false,
        }
    }

    fn runtime_import_position(&self) -> InsertPoint {
        let text = &self.parsed.source.text;
        let leading = self
            .facts
            .statements
            .iter()
            .take_while(|s| {
                matches!(
                    s.kind,
                    StatementKind::Docstring | StatementKind::FutureImport
                )
            })
            .last();
        let Some(last) = leading else {
            return InsertPoint {
                at: self.facts.header_at,
                mid_line: false,
            };
        };
        let end = last.range.end();
        let rest_of_line = text[usize::from(end)..].split('\n').next().unwrap_or("");
        let rest = rest_of_line.trim();
        if rest.is_empty() || rest.starts_with('#') {
            let next_line = usize::from(end) + rest_of_line.len();
            if next_line < text.len() {
                return InsertPoint {
                    at: TextSize::try_from(next_line + 1).unwrap_or(end),
                    mid_line: false,
                };
            }
        }
        InsertPoint {
            at: end,
            mid_line: true,
        }
    }
}

/// Bindings that are all definitions (at least one def or class; the others imports,
/// defs, classes or assignments of a name or a lambda), so copying all of them in
/// source order reproduces the module's own sequence of values.
fn is_redefinition(
    indices: &[usize],
    is_plain_value: impl Fn(usize) -> bool,
    statements: &[Statement],
) -> bool {
    let defines = indices.iter().any(|&i| {
        matches!(
            statements[i].kind,
            StatementKind::Function | StatementKind::Class
        )
    });
    defines
        && indices.iter().all(|&i| match statements[i].kind {
            StatementKind::Function | StatementKind::Class | StatementKind::Import => true,
            StatementKind::Assignment => statements[i].copyable && is_plain_value(i),
            StatementKind::Other => statements[i].copyable,
            _ => false,
        })
}

/// The module names whose objects a module-level statement changes: the roots of its
/// attribute and item stores and of mutating method calls, the object given to
/// `setattr`/`delattr`, and the receiver of a method called as a statement
/// (`Registry.register(f)`).
fn mutated_roots(stmt: &Stmt, scope: &ScopeFacts) -> BTreeSet<String> {
    let mut roots: BTreeSet<String> = scope
        .attribute_writes
        .iter()
        .map(|(root, _)| root.clone())
        .filter(|root| root != "type()")
        .collect();
    if let Stmt::Expr(expr) = stmt
        && let Expr::Call(call) = expr.value.as_ref()
        && let Expr::Attribute(method) = call.func.as_ref()
        && let Expr::Name(receiver) = method.value.as_ref()
    {
        roots.insert(receiver.id.to_string());
    }
    roots
}

/// A constant, or a variable's copied initial value, may only need imports, builtins and
/// other constants: anything else is not in the package when its statement runs there.
fn demote_constants_with_variable_needs(
    names: &mut BTreeMap<String, NameFacts>,
    statements: &[Statement],
) {
    loop {
        let settled = |name: &str, names: &BTreeMap<String, NameFacts>| match names.get(name) {
            Some(facts) => matches!(facts.kind, NameKind::Constant | NameKind::Import),
            None => is_builtin(name),
        };
        let mut changed = false;
        let keys: Vec<String> = names.keys().cloned().collect();
        for key in keys {
            let facts = &names[&key];
            let copied = match facts.kind {
                NameKind::Constant => Some(facts.statements[0]),
                NameKind::Variable => facts.initial,
                _ => None,
            };
            let Some(index) = copied else { continue };
            let ok = statements[index]
                .needs
                .iter()
                .all(|need| need == &key || settled(need, names));
            if !ok {
                let facts = names.get_mut(&key).expect("key from the map");
                if facts.kind == NameKind::Constant {
                    facts.kind = NameKind::Variable;
                    facts.initial = None;
                } else {
                    facts.initial = None;
                }
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

fn collect_import_aliases(stmt: &Stmt, map: &mut HashMap<String, String>) {
    match stmt {
        Stmt::Import(import) => {
            for alias in &import.names {
                match &alias.asname {
                    Some(asname) => {
                        map.insert(asname.to_string(), alias.name.to_string());
                    }
                    None => {
                        let first = alias.name.split('.').next().unwrap_or_default();
                        map.insert(first.to_owned(), first.to_owned());
                    }
                }
            }
        }
        Stmt::ImportFrom(import) if import.level == 0 => {
            let module = import.module.as_ref().map(|m| m.as_str()).unwrap_or("");
            for alias in &import.names {
                if alias.name.as_str() != "*" {
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name);
                    map.insert(bound.to_string(), format!("{module}.{}", alias.name));
                }
            }
        }
        Stmt::Try(try_stmt) => {
            for stmt in &try_stmt.body {
                collect_import_aliases(stmt, map);
            }
        }
        _ => {}
    }
}

/// After a byte-order mark, a shebang and a coding declaration, which must stay first.
fn header_position(text: &str) -> TextSize {
    let bom = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let mut offset = bom;
    for (index, line) in text[bom..].split_inclusive('\n').take(2).enumerate() {
        let is_shebang = index == 0 && line.starts_with("#!");
        let is_coding = line.starts_with('#')
            && line.contains("coding")
            && (line.contains("coding:") || line.contains("coding="));
        if is_shebang || is_coding {
            offset += line.len();
        } else {
            break;
        }
    }
    TextSize::try_from(offset).unwrap_or_default()
}
