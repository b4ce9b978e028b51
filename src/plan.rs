//! Stage 3: decide, for every top-level function and class, whether it moves to the
//! cloud or stays in the program, always with a reason that points at a line; and for
//! what moves, which slice of the program its package holds and which globals travel
//! with each call.

pub mod cost;

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::split::SplitShape;
use crate::analysis::{
    ClassFacts, EffectKind, FunctionFacts, MethodFacts, MethodKind, ModuleFacts, NameKind,
    StatementKind, is_builtin,
};

/// Lambda's defaults are 128 MB and 3 s; a FaaSified function is usually real work,
/// so it gets 30 s unless `@cloudfunction(duration=...)` says otherwise.
pub const DEFAULT_MEMORY_MB: u32 = 128;
pub const DEFAULT_TIMEOUT_S: u32 = 30;

/// Why a unit named in `exclude` stays local.
const EXCLUDED: &str = "excluded by the configuration (exclude)";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum RemoteCalls {
    /// Only the rewritten program's calls are invocations; calls inside a cloud
    /// function run in the same cloud function.
    Driver,
    /// Every call to a moved function is an invocation, recursion included.
    All,
}

#[derive(Debug, Clone, Copy)]
pub struct PlanOptions {
    /// Move only functions decorated with `@cloudfunction`.
    pub annotations: bool,
    pub remote_calls: RemoteCalls,
    /// Memory (MB) of a cloud function whose `@cloudfunction` does not say
    /// (`--memory`, `[tool.lambada] memory`).
    pub memory: u32,
    /// Timeout (seconds) of a cloud function whose `@cloudfunction` does not say.
    pub timeout: u32,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            annotations: false,
            remote_calls: RemoteCalls::Driver,
            memory: DEFAULT_MEMORY_MB,
            timeout: DEFAULT_TIMEOUT_S,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    Function,
    Class,
}

/// A top-level function or class and what happens to it.
#[derive(Debug, Clone)]
pub struct Unit {
    pub name: String,
    pub kind: UnitKind,
    pub line: usize,
    pub decision: Decision,
    /// With a profile: the cost model's figures and verdict.
    pub cost: Option<cost::Figures>,
}

#[derive(Debug, Clone)]
pub enum Decision {
    Moved(Move),
    KeptLocal { reason: String },
}

#[derive(Debug, Clone, Default)]
pub struct Move {
    pub memory: u32,
    pub timeout: u32,
    /// Module variables the package's code reads: sent with every call.
    pub globals_read: BTreeSet<String>,
    /// Module variables the package's code assigns through `global`: sent back.
    pub globals_written: BTreeSet<String>,
    /// Top-level statements copied into the package, in source order.
    pub slice: Vec<usize>,
    /// Local modules the package carries.
    pub local_modules: BTreeSet<String>,
    /// Module variables the slice's definitions need when the handler module is
    /// imported (a default, an annotation) but whose value only arrives with a call:
    /// bound to `None` until then.
    pub placeholders: BTreeSet<String>,
    /// With `--remote-calls all`: moved functions the slice calls, which the package
    /// rebinds to invocation stubs.
    pub invokes: BTreeSet<String>,
    /// Parameters the function only reads (for a class: per method, the receiver
    /// included): the runtime skips their write-back comparison.
    pub readonly: Readonly,
    /// A function that reads stdin, split at its reads into segments (issue 13).
    pub split: Option<Box<SplitShape>>,
    /// An `async def`: its stub is a coroutine function that awaits the invocation
    /// without blocking the program's event loop.
    pub coroutine: bool,
}

/// Read-only parameters of a moved function, or of each method of a moved class.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Readonly {
    Function(Vec<String>),
    Class(BTreeMap<String, Vec<String>>),
}

impl Default for Readonly {
    fn default() -> Self {
        Readonly::Function(Vec::new())
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub options: PlanOptions,
    /// In source order.
    pub units: Vec<Unit>,
}

impl Plan {
    pub fn moved(&self) -> impl Iterator<Item = (&Unit, &Move)> {
        self.units.iter().filter_map(|unit| match &unit.decision {
            Decision::Moved(m) => Some((unit, m)),
            Decision::KeptLocal { .. } => None,
        })
    }
}

pub fn plan(facts: &ModuleFacts, options: PlanOptions) -> Plan {
    plan_guided(facts, options, None)
}

/// The plan, with a profile's cost model deciding among the units the static analysis
/// would move (`--profile`).
pub fn plan_guided(facts: &ModuleFacts, options: PlanOptions, guide: Option<&cost::Guide>) -> Plan {
    plan_excluding(facts, options, guide, &BTreeSet::new())
}

/// [`plan_guided`], with units the user keeps local by name (`[tool.lambada] exclude`).
pub fn plan_excluding(
    facts: &ModuleFacts,
    options: PlanOptions,
    guide: Option<&cost::Guide>,
    exclude: &BTreeSet<String>,
) -> Plan {
    let mut planner = Planner {
        facts,
        options,
        guide,
        exclude,
        figures: BTreeMap::new(),
        reasons: BTreeMap::new(),
        tied: BTreeSet::new(),
        splits: BTreeMap::new(),
        slices: BTreeMap::new(),
    };
    planner.decide();
    let mut units: Vec<Unit> = facts
        .functions
        .iter()
        .filter(|f| is_definition(facts, &f.name, f.stmt))
        .map(|f| planner.unit(&f.name, UnitKind::Function, f.line))
        .chain(
            facts
                .classes
                .iter()
                .filter(|c| is_definition(facts, &c.name, c.stmt))
                .map(|c| planner.unit(&c.name, UnitKind::Class, c.line)),
        )
        .collect();
    units.sort_by_key(|u| u.line);
    let mut plan = Plan { options, units };
    if options.remote_calls == RemoteCalls::All {
        add_invocations(&mut plan, facts);
    }
    plan
}

/// A def or class whose name is bound only by itself: one that is redefined or
/// assigned elsewhere is left alone (its name does not reliably mean it).
fn is_definition(facts: &ModuleFacts, name: &str, stmt: usize) -> bool {
    facts
        .names
        .get(name)
        .is_some_and(|n| n.statements == [stmt])
}

struct Planner<'f> {
    facts: &'f ModuleFacts,
    options: PlanOptions,
    guide: Option<&'f cost::Guide>,
    /// Units the user keeps local by name.
    exclude: &'f BTreeSet<String>,
    /// The cost model's figures for every unit it judged.
    figures: BTreeMap<String, cost::Figures>,
    /// Units kept local, with the reason.
    reasons: BTreeMap<String, String>,
    /// Units among them that must run in this process (stdin, argv, global random
    /// state), which ties whatever uses them to this process too.
    tied: BTreeSet<String>,
    /// Functions that read stdin and move split at their reads, with how a caller's
    /// reason describes them: a caller in the cloud could not suspend for the read, so
    /// callers stay tied to this process (tainting stays the fallback).
    splits: BTreeMap<String, String>,
    /// The slice of every function and class, by its statement.
    slices: BTreeMap<usize, Move>,
}

impl Planner<'_> {
    fn function(&self, name: &str) -> Option<&FunctionFacts> {
        self.facts.functions.iter().find(|f| f.name == name)
    }

    fn class(&self, name: &str) -> Option<&ClassFacts> {
        self.facts.classes.iter().find(|c| c.name == name)
    }

    fn decide(&mut self) {
        let class_names: BTreeSet<&str> =
            self.facts.classes.iter().map(|c| c.name.as_str()).collect();
        let stateful = self.stateful_local_names();
        let changing = self.changing_methods();
        // Classes whose attributes other code changes: (class, changer, line).
        let mut changed_classes: Vec<(String, String, usize)> = Vec::new();
        for function in &self.facts.functions {
            let writes = with_changing_calls(
                &function.attribute_writes,
                &function.attribute_calls,
                &changing,
            );
            changed_classes.extend(
                writes
                    .iter()
                    .filter(|(root, _)| class_names.contains(root.as_str()))
                    .map(|(root, line)| (root.clone(), function.name.clone(), *line)),
            );
            let reason = self
                .stdin_or_local_effect(function)
                .or_else(|| uses_stateful_module(&function.free, &stateful))
                .or_else(|| stateful_decorator(&function.decorators, &stateful))
                .or_else(|| class_state_write(&writes, &class_names, &[]))
                .or_else(|| module_namespace(function.uses_module_namespace));
            if let Some(reason) = reason {
                self.reasons.insert(function.name.clone(), reason);
                self.tied.insert(function.name.clone());
            }
        }
        for class in &self.facts.classes {
            let reason = local_effect(&class.effects)
                .or_else(|| uses_stateful_module(&class.free, &stateful))
                .or_else(|| {
                    let writes = with_changing_calls(
                        &class.attribute_writes,
                        &class.attribute_calls,
                        &changing,
                    );
                    changed_classes.extend(
                        writes
                            .iter()
                            .filter(|(root, _)| {
                                root != &class.name && class_names.contains(root.as_str())
                            })
                            .map(|(root, line)| (root.clone(), class.name.clone(), *line)),
                    );
                    class_state_write(&writes, &class_names, &["cls", "type()"])
                })
                .or_else(|| module_namespace(class.uses_module_namespace));
            if let Some(reason) = reason {
                self.reasons.insert(class.name.clone(), reason);
                self.tied.insert(class.name.clone());
            }
        }
        // A class whose attributes change in this process holds state that lives here:
        // a copy in a package would start from its initial attributes (code that reads
        // `Spam.manager` there sees a fresh manager), so it and its users stay here.
        for (class, changer, line) in changed_classes {
            self.reasons.entry(class.clone()).or_insert_with(|| {
                format!(
                    "holds state that changes in this process ({changer} changes it at line {line})"
                )
            });
            self.tied.insert(class);
        }
        for function in &self.facts.functions {
            if let Some(reason) = self.function_reason(function) {
                self.reasons.entry(function.name.clone()).or_insert(reason);
            }
        }
        for class in &self.facts.classes {
            if let Some(reason) = self.class_reason(class) {
                self.reasons.entry(class.name.clone()).or_insert(reason);
            }
        }
        let units: Vec<(String, usize)> = self
            .facts
            .functions
            .iter()
            .map(|f| (f.name.clone(), f.stmt))
            .chain(self.facts.classes.iter().map(|c| (c.name.clone(), c.stmt)))
            .collect();
        let mutators = mutators(self.facts);
        for (name, stmt) in units {
            if self.reasons.contains_key(&name) {
                continue;
            }
            let movement = slice_with(self.facts, stmt, &mutators);
            if let Some(reason) = self.effectful_statement(&movement) {
                self.reasons.entry(name).or_insert(reason);
            }
            self.slices.insert(stmt, movement);
        }
        for (name, stmt) in self
            .facts
            .functions
            .iter()
            .map(|f| (&f.name, f.stmt))
            .chain(self.facts.classes.iter().map(|c| (&c.name, c.stmt)))
        {
            if !is_definition(self.facts, name, stmt) {
                let lines: Vec<String> = self.facts.names[name]
                    .statements
                    .iter()
                    .map(|&i| self.facts.statements[i].line.to_string())
                    .collect();
                self.reasons.entry(name.clone()).or_insert(format!(
                    "`{name}` is bound more than once at module level (lines {})",
                    lines.join(", ")
                ));
            }
        }
        self.propagate_process_ties();
        self.apply_cost_model();
        self.settle_class_hierarchies();
    }

    /// With a profile, units the static analysis would move keep moving only when
    /// their calls are worth an invocation. It runs before class hierarchies settle: a
    /// base class kept local for its cost keeps its subclasses local too.
    fn apply_cost_model(&mut self) {
        let Some(guide) = self.guide else { return };
        let candidates: BTreeSet<String> = self
            .facts
            .functions
            .iter()
            .map(|f| (&f.name, f.stmt))
            .chain(self.facts.classes.iter().map(|c| (&c.name, c.stmt)))
            .filter(|(name, stmt)| {
                is_definition(self.facts, name, *stmt) && !self.reasons.contains_key(*name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for (name, (figures, reason)) in cost::decide(guide, &candidates, self.options.remote_calls)
        {
            if let Some(reason) = reason {
                self.reasons.insert(name.clone(), reason);
            }
            self.figures.insert(name, figures);
        }
    }

    /// The reason an effect keeps `function` here. Reading stdin does not when the
    /// function can be split at its reads (it is noted in `splits`); when it cannot,
    /// the reason names the construct that prevents it.
    fn stdin_or_local_effect(&mut self, function: &FunctionFacts) -> Option<String> {
        let stdin = |(kind, _): &&(EffectKind, usize)| {
            matches!(kind, EffectKind::ReadsStdin | EffectKind::CallsInput)
        };
        let first_local = function
            .effects
            .iter()
            .find(|(kind, _)| kind.needs_local_process());
        let first = first_local?;
        let can_split = !function.is_async && function.yield_line.is_none();
        // A read that cannot be split names its construct, even when another effect
        // (the file a `with open(...)` writes) would keep the function here too.
        match (&function.split, stdin(&first) || can_split) {
            (Some(Ok(shape)), _) if can_split => {
                let others: Vec<(EffectKind, usize)> = function
                    .effects
                    .iter()
                    .filter(|e| !stdin(e))
                    .copied()
                    .collect();
                let reason = local_effect(&others);
                if reason.is_none() {
                    let line = shape.points.first().map_or(function.line, |p| p.line);
                    self.splits.insert(
                        function.name.clone(),
                        format!(
                            "reads stdin at line {line} ({} moves split at its reads)",
                            function.name
                        ),
                    );
                }
                reason
            }
            (Some(Err(why)), true) if can_split => Some(why.clone()),
            _ => local_effect(&function.effects),
        }
    }

    /// Names bound by imports of local modules whose functions change the module's
    /// own state, with the module and its first such function.
    /// Names of the program's methods that change their object (the receiver is not
    /// read-only): `Spam.manager.get_spam(x)` changes what `Spam.manager` holds when some
    /// class's `get_spam` changes `self`.
    fn changing_methods(&self) -> BTreeSet<String> {
        self.facts
            .classes
            .iter()
            .flat_map(|class| &class.methods)
            .filter(|method| {
                method.kind == MethodKind::Instance && !method.readonly.iter().any(|p| p == "self")
            })
            .map(|method| method.name.clone())
            .collect()
    }

    fn stateful_local_names(&self) -> BTreeMap<String, (String, String)> {
        let mut names = BTreeMap::new();
        for import in &self.facts.imports {
            let Some(local) = &import.local else { continue };
            let Some(module) = self.facts.local_modules.iter().find(|m| &m.name == local) else {
                continue;
            };
            let Some(first) = module.stateful.first() else {
                continue;
            };
            for bound in &self.facts.statements[import.stmt].binds {
                names.insert(bound.clone(), (module.name.clone(), first.clone()));
            }
        }
        names
    }

    /// A statement the slice must run that changes an object it uses (`Point.ZERO =
    /// ...`) but also does what must not happen in a package (print, read input, files,
    /// the global random generator).
    fn effectful_statement(&self, movement: &Move) -> Option<String> {
        movement.slice.iter().find_map(|&index| {
            let stmt = &self.facts.statements[index];
            if stmt.mutates.is_empty() {
                return None;
            }
            let called = stmt.needs.iter().filter_map(|need| self.function(need));
            let (kind, _) = stmt
                .effects
                .iter()
                .chain(called.flat_map(|f| f.effects.iter()))
                .next()?;
            Some(format!(
                "needs line {} (`{}`), which changes an object it uses but {}: it cannot run in a package",
                stmt.line,
                shorten(&stmt.first_line),
                kind.describe()
            ))
        })
    }

    fn function_reason(&self, function: &FunctionFacts) -> Option<String> {
        if self.exclude.contains(&function.name) {
            return Some(EXCLUDED.to_owned());
        }
        if self.options.annotations && function.cloudfunction.is_none() {
            return Some("not decorated with @cloudfunction (--annotations)".to_owned());
        }
        if function.is_async {
            if let Some(line) = function.yield_line {
                return Some(format!("async generator (yield at line {line})"));
            }
            if let Some((tie, line)) = &function.loop_tie {
                return Some(format!("async def: {tie} (line {line})"));
            }
        }
        if let Some(line) = function.yield_line {
            // A generator moves split at its yields (issue 13) when it can be.
            return match &function.split {
                Some(Ok(_)) => None,
                Some(Err(why)) => Some(format!("generator (yield at line {line}): {why}")),
                None => Some(format!("generator (yield at line {line})")),
            };
        }
        if let Some(line) = self.facts.decorators.get(&function.name) {
            return Some(format!(
                "used as a decorator at line {line}; decorators run where functions are defined"
            ));
        }
        if let Some(decorator) = function
            .decorators
            .iter()
            .find(|d| self.is_program_decorator(d))
        {
            return Some(format!(
                "decorated with @{decorator}, a decorator of this program: its effects would split between this process and the cloud"
            ));
        }
        if let Some(decorator) = function.decorators.iter().find(|d| is_cache(d))
            && self.facts.escaping_functions.contains(&function.name)
        {
            return Some(format!(
                "decorated with @{decorator} and used as a value (such as {}.cache_info()): its cache would live in the cloud",
                function.name
            ));
        }
        if let Some(line) = function.returns_function {
            return Some(format!(
                "returns a function it defines (line {line}); a closure cannot travel"
            ));
        }
        if let Some((what, line)) = &function.returns_lazy_iterator {
            return Some(lazy_iterator_reason(what, *line));
        }
        None
    }

    /// A decorator defined by the program itself (other than `cloudfunction`), which may
    /// keep state (counters, registries) that must stay in one process.
    fn is_program_decorator(&self, decorator: &str) -> bool {
        let root = decorator
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or_default();
        root != "cloudfunction"
            && self.facts.names.get(root).is_some_and(|n| {
                matches!(
                    n.kind,
                    NameKind::Function | NameKind::Class | NameKind::Variable | NameKind::Redefined
                )
            })
    }

    fn class_reason(&self, class: &ClassFacts) -> Option<String> {
        if self.exclude.contains(&class.name) {
            return Some(EXCLUDED.to_owned());
        }
        if self.options.annotations {
            return Some("classes move only without --annotations".to_owned());
        }
        if let Some((reason, line)) = class.blockers.first() {
            return Some(format!("{reason} (line {line})"));
        }
        if let Some((method, (what, line))) = class
            .methods
            .iter()
            .find_map(|m| m.returns_lazy_iterator.as_ref().map(|r| (&m.name, r)))
        {
            return Some(format!(
                "method {method} {}",
                lazy_iterator_reason(what, *line)
            ));
        }
        for base in &class.bases {
            if base == "object" {
                continue;
            }
            if self.class(base).is_none() {
                return Some(if looks_like_exception(base) {
                    format!("exception class (inherits from {base}); exceptions travel as values")
                } else {
                    format!("inherits from {base}, which is not a class of this program")
                });
            }
        }
        None
    }

    /// Whether `name`, a function free to move, calls `callee` (a function split at
    /// its reads) only at points it is split at: the driver makes those calls.
    fn suspends_at(&self, name: &str, callee: &str) -> bool {
        !self.reasons.contains_key(name)
            && self.function(name).is_some_and(|f| {
                matches!(&f.split, Some(Ok(shape))
                    if shape.points.iter().any(|p| p.callee.as_deref() == Some(callee)))
            })
    }

    /// A function or class that uses one tied to this process is tied to it too.
    fn propagate_process_ties(&mut self) {
        // The references do not change while ties spread: work them out once.
        let references = self.references();
        loop {
            let mut changed = false;
            for (name, uses) in &references {
                if self.tied.contains(name) {
                    continue;
                }
                let tie = uses.iter().find(|(used, _)| {
                    self.tied.contains(used)
                        || (self.splits.contains_key(used) && !self.suspends_at(name, used))
                });
                if tie.is_none()
                    && !self.splits.contains_key(name)
                    && let Some((used, line)) =
                        uses.iter().find(|(used, _)| self.splits.contains_key(used))
                {
                    // Every use of a function that reads is a call it suspends at: it
                    // moves split at those calls, and its own callers may do the same.
                    let root = self.splits[used].clone();
                    self.splits.insert(
                        name.clone(),
                        format!("calls {used}() at line {line}, which {root}"),
                    );
                    changed = true;
                }
                if let Some((used, line)) = tie {
                    let mut root = self
                        .reasons
                        .get(used)
                        .or_else(|| self.splits.get(used))
                        .cloned()
                        .unwrap_or_default();
                    // Why it cannot suspend at the call, when that is the tie.
                    if !self.tied.contains(used)
                        && let Some(Some(Err(why))) = self.function(name).map(|f| &f.split)
                    {
                        root = format!("{root}; the call cannot be split: {why}");
                    }
                    self.splits.remove(name);
                    let uses = if self.class(used).is_some() {
                        format!("uses class {used} at line {line}")
                    } else {
                        format!("calls {used}() at line {line}")
                    };
                    // Replaces a weaker reason (a generator that calls input() is tied).
                    self.reasons
                        .insert(name.clone(), format!("{uses}, which {root}"));
                    self.tied.insert(name.clone());
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// For every function and class, the module functions and classes it uses.
    fn references(&self) -> Vec<(String, Vec<(String, usize)>)> {
        let units = self
            .facts
            .functions
            .iter()
            .map(|f| (&f.name, &f.free))
            .chain(self.facts.classes.iter().map(|c| (&c.name, &c.free)));
        units
            .map(|(name, free)| {
                let uses = free
                    .iter()
                    .filter(|(used, _)| {
                        *used != name
                            && (self.function(used).is_some() || self.class(used).is_some())
                    })
                    .map(|(used, line)| (used.clone(), *line))
                    .collect();
                (name.clone(), uses)
            })
            .collect()
    }

    /// A proxy class inherits the remote methods of its bases, so a class moves only if
    /// its program bases move, and a base moves only if all its subclasses do.
    fn settle_class_hierarchies(&mut self) {
        loop {
            let mut changed = false;
            for class in &self.facts.classes {
                if self.reasons.contains_key(&class.name) {
                    continue;
                }
                let local_base = class
                    .bases
                    .iter()
                    .find(|b| self.class(b).is_some() && self.reasons.contains_key(*b));
                if let Some(base) = local_base {
                    self.reasons.insert(
                        class.name.clone(),
                        format!("its base class {base} stays local"),
                    );
                    changed = true;
                    continue;
                }
                let local_subclass = self.facts.classes.iter().find(|sub| {
                    sub.bases.contains(&class.name) && self.reasons.contains_key(&sub.name)
                });
                if let Some(sub) = local_subclass {
                    self.reasons.insert(
                        class.name.clone(),
                        format!(
                            "its subclass {} (line {}) stays local and would inherit remote methods",
                            sub.name, sub.line
                        ),
                    );
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn unit(&self, name: &str, kind: UnitKind, line: usize) -> Unit {
        let decision = match self.reasons.get(name) {
            Some(reason) => Decision::KeptLocal {
                reason: reason.clone(),
            },
            None => Decision::Moved(self.movement(name, kind)),
        };
        let mut cost = self.figures.get(name).cloned();
        if let (Some(figures), Decision::KeptLocal { reason }) = (&mut cost, &decision) {
            // A static rule applied after the model (a class hierarchy) has the last word.
            figures.verdict = format!("kept local: {reason}");
        }
        Unit {
            name: name.to_owned(),
            kind,
            line,
            decision,
            cost,
        }
    }

    fn movement(&self, name: &str, kind: UnitKind) -> Move {
        let stmt = match kind {
            UnitKind::Function => self.function(name).map(|f| f.stmt),
            UnitKind::Class => self.class(name).map(|c| c.stmt),
        }
        .expect("units come from the facts");
        let mut movement = self
            .slices
            .get(&stmt)
            .cloned()
            .unwrap_or_else(|| slice(self.facts, stmt));
        movement.coroutine =
            kind == UnitKind::Function && self.function(name).is_some_and(|f| f.is_async);
        movement.readonly = match kind {
            UnitKind::Function => Readonly::Function(
                self.function(name)
                    .map(|f| f.readonly.clone())
                    .unwrap_or_default(),
            ),
            UnitKind::Class => Readonly::Class(
                self.class(name)
                    .map(|c| methods_readonly(&c.methods))
                    .unwrap_or_default(),
            ),
        };
        let defines_iterators = self
            .facts
            .classes
            .iter()
            .any(|c| c.methods.iter().any(|m| m.name == "__next__"));
        if self.changes_module_objects(&movement) || defines_iterators {
            // A global the slice changes may be an argument too; and iterating over an
            // argument that is one of the program's iterators changes it.
            movement.readonly = match movement.readonly {
                Readonly::Function(_) => Readonly::Function(Vec::new()),
                Readonly::Class(methods) => {
                    Readonly::Class(methods.into_keys().map(|m| (m, Vec::new())).collect())
                }
            };
        }
        let annotation = self.function(name).and_then(|f| f.cloudfunction);
        movement.split = match kind {
            UnitKind::Function => self
                .function(name)
                .and_then(|f| f.split.as_ref())
                .and_then(|s| s.as_ref().ok())
                .filter(|_| {
                    // Split at its reads, or a generator split at its yields (whose
                    // callers in packages run the original generator there).
                    self.splits.contains_key(name)
                        || self.function(name).is_some_and(|f| f.yield_line.is_some())
                })
                .map(|shape| Box::new(shape.clone())),
            UnitKind::Class => None,
        };
        movement.memory = annotation
            .and_then(|a| a.memory)
            .unwrap_or(self.options.memory);
        movement.timeout = annotation
            .and_then(|a| a.duration)
            .unwrap_or(self.options.timeout);
        movement
    }
}

impl Planner<'_> {
    /// Whether code in the slice changes module objects in place (`CACHE[k] = v`,
    /// `global` writes): an argument may be one of them, so none is read-only.
    fn changes_module_objects(&self, movement: &Move) -> bool {
        if !movement.globals_written.is_empty() {
            return true;
        }
        movement.slice.iter().any(|&index| {
            let writes = self
                .facts
                .functions
                .iter()
                .filter(|f| f.stmt == index)
                .map(|f| &f.attribute_writes)
                .chain(
                    self.facts
                        .classes
                        .iter()
                        .filter(|c| c.stmt == index)
                        .map(|c| &c.attribute_writes),
                );
            writes.flatten().any(|(root, _)| {
                root == "type()"
                    || self
                        .facts
                        .names
                        .get(root)
                        .is_some_and(|n| n.kind != NameKind::Import)
            })
        })
    }
}

/// Read-only parameters by method name. A property's getter, setter and deleter share
/// their name (and a method may be defined twice): a parameter is read-only under that
/// name only when it is in every one of them.
fn methods_readonly(methods: &[MethodFacts]) -> BTreeMap<String, Vec<String>> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for method in methods {
        by_name
            .entry(method.name.clone())
            .and_modify(|params| params.retain(|p| method.readonly.contains(p)))
            .or_insert_with(|| method.readonly.clone());
    }
    by_name
}

fn lazy_iterator_reason(what: &str, line: usize) -> String {
    format!("returns a lazy iterator ({what}) at line {line}: it must not be materialised")
}

fn shorten(line: &str) -> String {
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(59).collect::<String>())
    } else {
        line.to_owned()
    }
}

fn local_effect(effects: &[(EffectKind, usize)]) -> Option<String> {
    effects
        .iter()
        .find(|(kind, _)| kind.needs_local_process())
        .map(|(kind, line)| format!("{} at line {line}", kind.describe()))
}

/// The attribute writes plus the calls of methods that change their object, counted as
/// writes to the root they were called through.
fn with_changing_calls(
    writes: &[(String, usize)],
    calls: &[(String, String, usize)],
    changing: &BTreeSet<String>,
) -> Vec<(String, usize)> {
    let mut all = writes.to_vec();
    all.extend(
        calls
            .iter()
            .filter(|(_, method, _)| changing.contains(method))
            .map(|(root, _, line)| (root.clone(), *line)),
    );
    all
}

/// Class attributes live in this process: code that changes them must run here.
fn class_state_write(
    writes: &[(String, usize)],
    class_names: &BTreeSet<&str>,
    receivers: &[&str],
) -> Option<String> {
    writes
        .iter()
        .find(|(root, _)| class_names.contains(root.as_str()) || receivers.contains(&root.as_str()))
        .map(|(root, line)| {
            let whose = match root.as_str() {
                "cls" | "type()" => "its class".to_owned(),
                name => format!("class {name}"),
            };
            format!("changes an attribute of {whose} at line {line}, which lives in this process")
        })
}

fn uses_stateful_module(
    free: &BTreeMap<String, usize>,
    stateful: &BTreeMap<String, (String, String)>,
) -> Option<String> {
    free.iter().find_map(|(name, line)| {
        stateful.get(name).map(|(module, function)| {
            format!(
                "uses local module {module} at line {line}, whose state lives in this process ({function} changes it)"
            )
        })
    })
}

/// A decorator from a local module that changes that module's state (a registry of
/// hooks, say): the package runs the decorator again where it is imported, which
/// registers the function a second time, in a copy of the module's state.
fn stateful_decorator(
    decorators: &[String],
    stateful: &BTreeMap<String, (String, String)>,
) -> Option<String> {
    decorators.iter().find_map(|decorator| {
        let callee = decorator.split('(').next().unwrap_or(decorator).trim();
        let root = callee.split('.').next().unwrap_or(callee);
        stateful.get(root).map(|(module, function)| {
            format!(
                "is decorated with @{callee} from local module {module}, whose state lives in this process ({function} changes it): the decorator must run once, here"
            )
        })
    })
}

fn module_namespace(line: Option<usize>) -> Option<String> {
    line.map(|line| format!("calls globals() at line {line}, which reads this module by name"))
}

fn is_cache(decorator: &str) -> bool {
    let callee = decorator.split('(').next().unwrap_or(decorator);
    matches!(callee.rsplit('.').next(), Some("lru_cache" | "cache"))
}

fn looks_like_exception(base: &str) -> bool {
    let last = base.rsplit('.').next().unwrap_or(base);
    last.ends_with("Error")
        || last.ends_with("Exception")
        || last.ends_with("Warning")
        || matches!(
            last,
            "BaseException"
                | "Exception"
                | "KeyboardInterrupt"
                | "StopIteration"
                | "SystemExit"
                | "GeneratorExit"
        )
}

/// The statements a package needs to run the definition at `root`, and the globals
/// that travel with each call.
///
/// Besides what the definition uses, every package carries the program's classes that
/// it instantiates and the functions it uses as values: their instances and references
/// can arrive as arguments, and the package must be able to rebuild them.
pub fn slice(facts: &ModuleFacts, root: usize) -> Move {
    slice_with(facts, root, &mutators(facts))
}

fn slice_with<'f>(
    facts: &'f ModuleFacts,
    root: usize,
    mutators: &BTreeMap<&'f str, Vec<usize>>,
) -> Move {
    let mut closure = Closure {
        facts,
        movement: Move::default(),
        included: BTreeSet::new(),
        stars_added: false,
        mutators,
    };
    closure.add(vec![root], true);
    // Instances of the program's classes travel by reference to their class, so every
    // package holds each class the program uses, with what its methods read: those
    // globals travel with each call too.
    let classes = facts
        .classes
        .iter()
        .filter(|c| is_definition(facts, &c.name, c.stmt))
        .filter(|c| facts.instantiated_classes.contains(&c.name))
        .map(|c| c.stmt)
        .collect();
    closure.add(classes, true);
    // Functions used as values travel by value (code and current globals); their
    // definitions are here for the handler's own use, their variables only get
    // placeholders.
    let functions = facts
        .escaping_functions
        .iter()
        .flat_map(|name| facts.names[name].statements.iter().copied())
        .collect();
    closure.add(functions, false);
    let Closure {
        mut movement,
        mut included,
        ..
    } = closure;
    for import in &facts.imports {
        if let Some(local) = &import.local
            && included.contains(&import.stmt)
        {
            add_local_module(facts, local, &mut movement.local_modules);
        }
    }
    // `from __future__` imports apply to the whole file the slice is copied into.
    included.extend(
        facts
            .statements
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == StatementKind::FutureImport)
            .map(|(i, _)| i),
    );
    movement.slice = included.into_iter().collect();
    movement
}

/// The statements reachable from some roots through what they need.
struct Closure<'f, 'm> {
    facts: &'f ModuleFacts,
    movement: Move,
    included: BTreeSet<usize>,
    stars_added: bool,
    /// For each definition's name, the module-level statements that change it.
    mutators: &'m BTreeMap<&'f str, Vec<usize>>,
}

/// Module-level statements (outside the `__main__` block) that change a class, a
/// function or a redefined name (`Point.ZERO = Point(0, 0)`, `fib.calls = 0`), by name:
/// a package holding the definition runs them too, in source order. (A variable's
/// value travels with each call instead.)
fn mutators(facts: &ModuleFacts) -> BTreeMap<&str, Vec<usize>> {
    let mut found: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, stmt) in facts.statements.iter().enumerate() {
        for root in &stmt.mutates {
            let is_definition = facts.names.get(root).is_some_and(|n| {
                matches!(
                    n.kind,
                    NameKind::Class | NameKind::Function | NameKind::Redefined
                )
            });
            if is_definition {
                found.entry(root.as_str()).or_default().push(index);
            }
        }
    }
    found
}

impl Closure<'_, '_> {
    fn add(&mut self, mut pending: Vec<usize>, send_globals: bool) {
        let facts = self.facts;
        while let Some(index) = pending.pop() {
            if !self.included.insert(index) {
                continue;
            }
            let stmt = &facts.statements[index];
            for bound in &stmt.binds {
                if let Some(changes) = self.mutators.get(bound.as_str()) {
                    pending.extend(changes);
                }
            }
            if send_globals {
                let written = facts
                    .functions
                    .iter()
                    .filter(|f| f.stmt == index)
                    .map(|f| &f.globals_written)
                    .chain(
                        facts
                            .classes
                            .iter()
                            .filter(|c| c.stmt == index)
                            .map(|c| &c.globals_written),
                    );
                for names in written {
                    self.movement.globals_written.extend(names.iter().cloned());
                }
            }
            for need in &stmt.needs {
                match facts.names.get(need) {
                    Some(name) => match name.kind {
                        NameKind::Import
                        | NameKind::Function
                        | NameKind::Class
                        | NameKind::Constant
                        | NameKind::Redefined => pending.extend(&name.statements),
                        NameKind::Variable | NameKind::MainOnly => {
                            if send_globals {
                                self.movement.globals_read.insert(need.clone());
                            }
                            match name.initial {
                                Some(initial) => pending.push(initial),
                                None => {
                                    self.movement.placeholders.insert(need.clone());
                                }
                            }
                        }
                    },
                    None if is_builtin(need) => {}
                    None if !self.stars_added => {
                        // Perhaps from a `from x import *`: bring those along.
                        self.stars_added = true;
                        pending.extend(facts.imports.iter().filter(|i| i.star).map(|i| i.stmt));
                    }
                    None => {}
                }
            }
        }
    }
}

fn add_local_module(facts: &ModuleFacts, name: &str, into: &mut BTreeSet<String>) {
    if !into.insert(name.to_owned()) {
        return;
    }
    if let Some(module) = facts.local_modules.iter().find(|m| m.name == name) {
        for imported in &module.imports {
            add_local_module(facts, imported, into);
        }
    }
}

/// `--remote-calls all`: a package rebinds every moved function its slice defines to
/// an invocation stub, so calls between them (recursion included) cross the network.
fn add_invocations(plan: &mut Plan, facts: &ModuleFacts) {
    let moved_functions: BTreeMap<usize, String> = plan
        .units
        .iter()
        // A split function's calls inside packages run its original (a generator
        // there is an ordinary generator; callers of a reading one stay local).
        .filter(|u| {
            u.kind == UnitKind::Function
                && matches!(&u.decision, Decision::Moved(m) if m.split.is_none())
        })
        .filter_map(|u| {
            facts
                .functions
                .iter()
                .find(|f| f.name == u.name)
                .map(|f| (f.stmt, f.name.clone()))
        })
        .collect();
    for unit in &mut plan.units {
        if let Decision::Moved(movement) = &mut unit.decision {
            movement.invokes = movement
                .slice
                .iter()
                .filter_map(|stmt| moved_functions.get(stmt).cloned())
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::MethodKind;

    fn plan_of(text: &str) -> (ModuleFacts, Plan) {
        let parsed = crate::parse::parse(crate::parse::Source {
            path: "app.py".into(),
            module: "app".into(),
            text: text.into(),
        })
        .expect("test sources parse");
        let facts = crate::analysis::analyse(&parsed, None);
        let plan = plan(&facts, PlanOptions::default());
        (facts, plan)
    }

    fn unit<'p>(plan: &'p Plan, name: &str) -> &'p Unit {
        plan.units.iter().find(|u| u.name == name).expect("unit")
    }

    fn slice_lines(facts: &ModuleFacts, plan: &Plan, name: &str) -> Vec<usize> {
        match &unit(plan, name).decision {
            Decision::Moved(m) => m.slice.iter().map(|&i| facts.statements[i].line).collect(),
            Decision::KeptLocal { reason } => panic!("{name} kept local: {reason}"),
        }
    }

    fn reason<'p>(plan: &'p Plan, name: &str) -> &'p str {
        match &unit(plan, name).decision {
            Decision::KeptLocal { reason } => reason,
            Decision::Moved(_) => panic!("{name} moved"),
        }
    }

    #[test]
    fn statements_that_change_a_definition_travel_with_it_in_source_order() {
        let (facts, plan) = plan_of(
            "class Unit:\n    def __init__(self, n):\n        self.n = n\n\nUnit.ONE = Unit(1)\nsetattr(Unit, 'TWO', Unit(2))\n\ndef total(k):\n    return Unit.ONE.n + k\n\nif __name__ == '__main__':\n    Unit.THREE = Unit(3)\n    print(total(41))\n",
        );
        assert_eq!(slice_lines(&facts, &plan, "total"), [1, 5, 6, 8]);
    }

    #[test]
    fn a_change_that_cannot_run_in_a_package_keeps_its_users_local() {
        let (_, plan) = plan_of(
            "class Config:\n    def get(self):\n        return Config.level\n\nConfig.level = int(input())\n\ndef level():\n    return Config.level\n",
        );
        assert_eq!(
            reason(&plan, "level"),
            "needs line 5 (`Config.level = int(input())`), which changes an object it uses but calls input(): it cannot run in a package"
        );
    }

    #[test]
    fn a_name_defined_twice_is_copied_at_each_definition_not_sent() {
        let (facts, plan) = plan_of(
            "def cloudfunction(f):\n    return f\n\n@cloudfunction\ndef double(x):\n    return 2 * x\n\ndef cloudfunction(memory=128):\n    return lambda f: f\n\n@cloudfunction(memory=256)\ndef triple(x):\n    return 3 * x\n",
        );
        assert_eq!(facts.names["cloudfunction"].kind, NameKind::Redefined);
        assert_eq!(slice_lines(&facts, &plan, "double"), [1, 4, 8]);
        assert_eq!(slice_lines(&facts, &plan, "triple"), [1, 8, 11]);
        let Decision::Moved(m) = &unit(&plan, "triple").decision else {
            panic!("triple moves")
        };
        assert!(m.globals_read.is_empty() && m.placeholders.is_empty());
    }

    #[test]
    fn the_globals_of_classes_that_may_arrive_travel_with_every_call() {
        let (facts, plan) = plan_of(
            "BASE = ord('A')\n\nclass Shape:\n    def code(self):\n        return BASE\n\ndef describe(shape):\n    return shape.code()\n\nprint(describe(Shape()))\n",
        );
        let Decision::Moved(m) = &unit(&plan, "describe").decision else {
            panic!("describe moves")
        };
        assert!(m.globals_read.contains("BASE"));
        assert_eq!(slice_lines(&facts, &plan, "describe"), [3, 7]);
    }

    #[test]
    fn functions_returning_lazy_iterators_stay_local() {
        let (_, plan) = plan_of(
            "import itertools\n\ndef squares():\n    return map(lambda k: k * k, itertools.count(1))\n",
        );
        assert_eq!(
            reason(&plan, "squares"),
            "returns a lazy iterator (map) at line 4: it must not be materialised"
        );
    }

    fn split_points(plan: &Plan, name: &str) -> Vec<usize> {
        match &unit(plan, name).decision {
            Decision::Moved(m) => {
                let shape = m.split.as_ref().expect("split");
                let mut lines: Vec<usize> = shape.points.iter().map(|p| p.line).collect();
                lines.extend(shape.stdin_loops.iter().map(|l| l.line));
                lines.sort();
                lines
            }
            Decision::KeptLocal { reason } => panic!("{name} kept local: {reason}"),
        }
    }

    #[test]
    fn a_function_reading_stdin_moves_split_at_each_read() {
        let (_, plan) = plan_of(
            "import sys\n\ndef loop(n):\n    total = 0\n    for i in range(n):\n        if i % 2:\n            total += int(input('odd? '))\n        else:\n            total -= len(sys.stdin.readline())\n    for line in sys.stdin:\n        total += 1\n    return total\n",
        );
        assert_eq!(split_points(&plan, "loop"), [7, 9, 10]);
    }

    #[test]
    fn callers_of_a_split_function_that_cannot_cut_at_the_call_stay_local_with_the_reason() {
        let (_, plan) = plan_of(
            "def ask(prompt):\n    return input(prompt)\n\ndef twice():\n    return ask('a') + ask('b')\n\ndef mapped(ps):\n    return list(map(ask, ps))\n\ndef comp(ps):\n    n = 0\n    return [ask(p) for p in ps]\n",
        );
        assert_eq!(split_points(&plan, "ask"), [2]);
        assert_eq!(
            reason(&plan, "twice"),
            "calls ask() at line 5, which reads stdin at line 2 (ask moves split at its reads); the call cannot be split: calls a function that reads stdin twice in one statement (line 5), which cannot be split"
        );
        assert_eq!(
            reason(&plan, "mapped"),
            "calls ask() at line 8, which reads stdin at line 2 (ask moves split at its reads); the call cannot be split: uses ask at line 8 other than by calling it (ask reads stdin; only a call can suspend for it)"
        );
        assert_eq!(
            reason(&plan, "comp"),
            "calls ask() at line 12, which reads stdin at line 2 (ask moves split at its reads); the call cannot be split: calls a function that reads stdin inside a comprehension at line 12, which cannot be split"
        );
    }

    fn call_points(plan: &Plan, name: &str) -> Vec<(usize, String)> {
        match &unit(plan, name).decision {
            Decision::Moved(m) => m
                .split
                .as_ref()
                .expect("split")
                .points
                .iter()
                .filter_map(|p| Some((p.line, p.callee.clone()?)))
                .collect(),
            Decision::KeptLocal { reason } => panic!("{name} kept local: {reason}"),
        }
    }

    #[test]
    fn callers_of_a_split_function_move_split_at_their_calls_transitively() {
        let (_, plan) = plan_of(
            "def ask(prompt):\n    return input(prompt)\n\ndef ask_all(n):\n    out = []\n    for i in range(n):\n        out.append(ask('%d? ' % i))\n    return out\n\ndef main():\n    total = 0\n    xs = ask_all(2)\n    name = input('name? ')\n    return name, xs\n\ndef pure(x):\n    return x + 1\n",
        );
        assert_eq!(call_points(&plan, "ask_all"), [(7, "ask".to_owned())]);
        assert_eq!(call_points(&plan, "main"), [(12, "ask_all".to_owned())]);
        assert_eq!(split_points(&plan, "main"), [12, 13]);
        assert!(matches!(unit(&plan, "pure").decision, Decision::Moved(_)));
    }

    #[test]
    fn a_caller_of_a_reading_function_tied_for_another_reason_stays_local() {
        let (_, plan) = plan_of(
            "def ask(prompt):\n    return input(prompt)\n\ndef save(p):\n    x = ask(p)\n    with open('out.txt', 'w') as f:\n        f.write(x)\n\ndef top():\n    save('a')\n",
        );
        assert!(
            reason(&plan, "save").contains("line 6"),
            "{}",
            reason(&plan, "save")
        );
        assert!(reason(&plan, "top").starts_with("calls save() at line 10"));
    }

    #[test]
    fn a_generator_moves_split_at_its_yields_unless_it_delegates() {
        let (_, plan) = plan_of(
            "def count(n):\n    i = 0\n    while i < n:\n        got = yield i\n        i += got or 1\n\ndef both(a):\n    yield from count(a)\n\ndef total(n):\n    return sum(count(n))\n",
        );
        assert_eq!(split_points(&plan, "count"), [4]);
        assert_eq!(
            reason(&plan, "both"),
            "generator (yield at line 8): `yield from` at line 8 cannot be split (its sub-iterator would run here)"
        );
        // Its callers move: in their packages the generator is the original one.
        assert!(matches!(unit(&plan, "total").decision, Decision::Moved(_)));
    }

    #[test]
    fn reads_inside_with_a_carried_manager_split_and_other_managers_stay_local() {
        let (_, plan) = plan_of(
            "import contextlib\nfrom contextlib import suppress, nullcontext\n\ndef a():\n    with suppress(ValueError), nullcontext(1) as one:\n        x = int(input())\n    return x, one\n\ndef b():\n    with contextlib.redirect_stdout(None):\n        return input()\n",
        );
        assert_eq!(split_points(&plan, "a"), [6]);
        let Decision::Moved(moved) = &unit(&plan, "a").decision else {
            panic!("a moved")
        };
        let shape = moved.split.as_ref().expect("split");
        // One wrapper per manager, each travelling as a local.
        assert_eq!(shape.helds.len(), 2);
        assert!(shape.locals.contains(&"_lambada_cm_1".to_owned()));
        assert!(shape.locals.contains(&"_lambada_cm_2".to_owned()));
        assert_eq!(
            reason(&plan, "b"),
            "reads stdin at line 11 inside `with contextlib.redirect_stdout(None)` (line 10): the context manager there would be held across the read, which cannot travel"
        );
    }

    #[test]
    fn reads_that_cannot_be_split_keep_the_function_local_naming_the_construct() {
        let cases = [
            (
                "def f(path):\n    with open(path) as src:\n        x = input()\n    return x\n",
                "reads stdin at line 3 inside `with open(path)` (line 2): the file opened there would be held across the read, which cannot travel",
            ),
            (
                "def f(n):\n    return [input() for _ in range(n)]\n",
                "reads stdin inside a comprehension at line 2, which cannot be split",
            ),
            (
                "def f():\n    x = input()\n    g = lambda: x\n    return g()\n",
                "reads stdin at line 2 and defines a lambda at line 3: its closure could not be carried across the read",
            ),
            (
                "def f(log):\n    x = log.pop() + input()\n    return x\n",
                "reads stdin at line 2 after `log.pop()` in the same statement, which has run by then and cannot be run again after the read",
            ),
            (
                "def f():\n    return input() + input()\n",
                "reads stdin twice in one statement (line 2), which cannot be split",
            ),
            (
                "def f():\n    while input() != 'q':\n        pass\n",
                "reads stdin in the condition of `while` at line 2, which cannot be split",
            ),
            (
                "def f():\n    try:\n        pass\n    except ValueError:\n        x = input()\n",
                "reads stdin in an `except` handler (line 4) at line 5, which cannot be split",
            ),
            (
                "import sys\n\ndef f():\n    for line in sys.stdin:\n        print(line)\n    else:\n        print('end')\n",
                "iterates sys.stdin in a `for` loop with an `else` clause (line 4), which cannot be split",
            ),
            (
                "import sys\n\ndef f():\n    return list(sys.stdin)\n",
                "uses sys.stdin at line 4 other than through readline(), read() or readlines() (it cannot be split there)",
            ),
        ];
        for (source, want) in cases {
            let (_, plan) = plan_of(source);
            assert_eq!(reason(&plan, "f"), want, "{source}");
        }
    }

    fn method(name: &str, kind: MethodKind, readonly: &[&str]) -> MethodFacts {
        MethodFacts {
            name: name.to_owned(),
            line: 1,
            kind,
            readonly: readonly.iter().map(|s| s.to_string()).collect(),
            returns_lazy_iterator: None,
        }
    }

    #[test]
    fn a_property_setter_that_changes_self_makes_self_writable_under_the_shared_name() {
        let methods = [
            method("celsius", MethodKind::PropertyGet, &["self"]),
            method("celsius", MethodKind::PropertySet, &["value"]),
            method("label", MethodKind::Instance, &["self", "prefix"]),
        ];
        let readonly = methods_readonly(&methods);
        assert_eq!(readonly["celsius"], Vec::<String>::new());
        assert_eq!(readonly["label"], ["self", "prefix"]);
        assert_eq!(readonly.len(), 2);
    }
}
