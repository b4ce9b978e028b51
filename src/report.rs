//! The analysis report (`--debug`, `--format json`): for every function and class,
//! moved or kept local and why, what it uses, what its package holds, when its local
//! twin runs instead, and which parameters it only reads.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::analysis::{EffectKind, ModuleFacts, NameKind, Warning, is_builtin};
use crate::package::function_name;
use crate::parse::ParsedModule;
use crate::plan::cost::{self, Figures};
use crate::plan::{Decision, Plan, Readonly, UnitKind};

/// When a moved unit's local twin (its original definition, kept in the driver) runs
/// the call instead of the cloud function.
pub const LOCAL_TWIN: &str = "kept in the program; runs the call when an argument or global cannot travel: open files, StringIO, sockets, locks, loggers with handlers, generators";

/// `1 function`, `3 functions`: a count with its noun, for every message that counts.
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// How a moved coroutine is called.
pub const COROUTINE: &str = "async def: its stub awaits the invocation without blocking the event loop, so asyncio.gather runs calls concurrently; the cloud function runs it with asyncio.run";

#[derive(Debug, Serialize)]
pub struct Report {
    pub file: String,
    pub module: String,
    pub warnings: Vec<Warning>,
    pub units: Vec<UnitReport>,
    /// Calls of a moved function over an iterable: concurrent invocations, or
    /// sequential with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fanouts: Vec<crate::rewrite::fanout::Site>,
    /// Dependency layers built for the program, filled in by the dependency stage.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerReport>,
    /// Warnings of the dependency stage, each with its file and line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependency_warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct LayerReport {
    pub hash: String,
    pub requirements: Vec<String>,
    pub unzipped_size: u64,
    /// Found in the cache: no installer ran.
    pub cached: bool,
    pub installer: String,
    /// Installed packages with their sizes, largest first.
    pub packages: Vec<(String, u64)>,
}

#[derive(Debug, Serialize)]
pub struct UnitReport {
    pub name: String,
    pub kind: UnitKind,
    pub line: usize,
    pub moved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub free_names: Vec<String>,
    pub calls: Vec<String>,
    pub globals_read: Vec<String>,
    pub globals_written: Vec<String>,
    pub prints: bool,
    /// An `async def`; moved, its stub awaits the invocation without blocking.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub coroutine: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageReport>,
    /// Moved units: when the local twin runs instead of the cloud function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_twin: Option<String>,
    /// Moved units: the parameters the runtime need not compare after a call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly: Option<Readonly>,
    /// With `--profile`: the cost model's figures and verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Figures>,
    /// A moved function split at its reads of stdin: its suspension points and the
    /// locals each segment hands to the next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitReport>,
}

#[derive(Debug, Serialize)]
pub struct SplitReport {
    /// Segments run in the cloud: one more than the points.
    pub segments: usize,
    pub points: Vec<PointReport>,
    /// The locals (parameters included) that travel at every point, when bound;
    /// `_lambada_it_N` is the iterator of a `for` loop around a point.
    pub locals: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PointReport {
    pub point: u32,
    pub line: usize,
    pub read: crate::analysis::split::ReadKind,
    /// For a `call` point: the function the driver calls there (one that reads stdin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callee: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PackageReport {
    pub function_name: String,
    pub memory: u32,
    pub timeout: u32,
    /// The copied statements, as `line N: first line of the statement`.
    pub contents: Vec<String>,
    pub local_modules: Vec<String>,
    pub invokes: Vec<String>,
    /// Third-party requirements the function needs (`spec (source)`), filled in by the
    /// dependency stage.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<String>,
    /// The dependency layer holding them (or `vendored`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Data files beside the program that travel with the function.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_files: Vec<String>,
}

pub fn build(parsed: &ParsedModule, facts: &ModuleFacts, plan: &Plan, prefix: &str) -> Report {
    let units = plan
        .units
        .iter()
        .map(|unit| {
            let (free, calls, written, effects, coroutine) = match unit.kind {
                UnitKind::Function => {
                    let f = facts.functions.iter().find(|f| f.name == unit.name);
                    let f = f.expect("planned functions come from the facts");
                    (
                        &f.free,
                        &f.calls,
                        &f.globals_written,
                        &f.effects,
                        f.is_async,
                    )
                }
                UnitKind::Class => {
                    let c = facts.classes.iter().find(|c| c.name == unit.name);
                    let c = c.expect("planned classes come from the facts");
                    (&c.free, &c.calls, &c.globals_written, &c.effects, false)
                }
            };
            let module_name = |name: &String| facts.names.contains_key(name) || !is_builtin(name);
            let free_names: Vec<String> = free.keys().filter(|n| module_name(n)).cloned().collect();
            let variables: BTreeSet<String> = free_names
                .iter()
                .filter(|n| {
                    facts
                        .names
                        .get(*n)
                        .is_some_and(|f| matches!(f.kind, NameKind::Variable | NameKind::MainOnly))
                })
                .cloned()
                .collect();
            let readonly = match &unit.decision {
                Decision::Moved(m) => Some(m.readonly.clone()),
                Decision::KeptLocal { .. } => None,
            };
            let (moved, reason, package, globals_read, globals_written) = match &unit.decision {
                Decision::Moved(m) => (
                    true,
                    None,
                    Some(PackageReport {
                        function_name: function_name(prefix, &facts.module, &unit.name),
                        memory: m.memory,
                        timeout: m.timeout,
                        contents: m
                            .slice
                            .iter()
                            .map(|&i| {
                                let stmt = &facts.statements[i];
                                let text = parsed.text(stmt.range);
                                let first = text.lines().next().unwrap_or_default();
                                format!("line {}: {}", stmt.line, shorten(first, 72))
                            })
                            .collect(),
                        local_modules: m.local_modules.iter().cloned().collect(),
                        invokes: m.invokes.iter().cloned().collect(),
                        requirements: Vec::new(),
                        layer: None,
                        data_files: Vec::new(),
                    }),
                    m.globals_read.iter().cloned().collect(),
                    m.globals_written.iter().cloned().collect(),
                ),
                Decision::KeptLocal { reason } => (
                    false,
                    Some(reason.clone()),
                    None,
                    variables.into_iter().collect(),
                    written.iter().cloned().collect(),
                ),
            };
            UnitReport {
                name: unit.name.clone(),
                kind: unit.kind,
                line: unit.line,
                moved,
                reason,
                free_names,
                calls: calls.iter().filter(|n| module_name(n)).cloned().collect(),
                globals_read,
                globals_written,
                prints: effects.iter().any(|(k, _)| *k == EffectKind::Prints),
                coroutine,
                local_twin: package.as_ref().map(|_| LOCAL_TWIN.to_owned()),
                package,
                readonly,
                profile: unit.cost.clone(),
                split: match &unit.decision {
                    Decision::Moved(m) => m.split.as_deref().map(split_report),
                    Decision::KeptLocal { .. } => None,
                },
            }
        })
        .collect();
    Report {
        file: parsed.source.path.display().to_string(),
        module: facts.module.clone(),
        warnings: facts.warnings.clone(),
        units,
        fanouts: crate::rewrite::fanout::sites(parsed, facts, plan),
        layers: Vec::new(),
        dependency_warnings: Vec::new(),
    }
}

fn split_report(shape: &crate::analysis::split::SplitShape) -> SplitReport {
    let mut points: Vec<PointReport> = shape
        .points
        .iter()
        .map(|p| PointReport {
            point: p.number,
            line: p.line,
            read: p.kind,
            callee: p.callee.clone(),
        })
        .chain(shape.stdin_loops.iter().map(|l| PointReport {
            point: l.point,
            line: l.line,
            read: crate::analysis::split::ReadKind::Line,
            callee: None,
        }))
        .collect();
    points.sort_by_key(|p| p.point);
    SplitReport {
        segments: points.len() + 1,
        points,
        locals: shape.locals.clone(),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// `arr, x`; for a class `dist(self, other); move()`.
fn readonly_text(readonly: &Readonly) -> String {
    match readonly {
        Readonly::Function(params) => list(params),
        Readonly::Class(methods) if methods.is_empty() => "-".to_owned(),
        Readonly::Class(methods) => methods
            .iter()
            .map(|(method, params)| format!("{method}({})", params.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// `3 calls (2 from the program), 25.3 ms each (self 1.2 ms), 120 B in, 40 B out;
/// moving pays from 5.0 ms (10 x 500 µs)`.
fn figures_text(f: &Figures) -> String {
    format!(
        "{} ({} from the program), {} each (self {}), {} B in, {} B out; moving pays from {} ({} x {})",
        cost::calls_text(f.calls),
        cost::count(f.calls_from_program),
        cost::duration(f.mean_micros),
        cost::duration(f.mean_self_micros),
        cost::count(f.arg_bytes),
        cost::count(f.result_bytes),
        cost::duration(f.threshold_micros),
        f.factor,
        cost::duration(f.invocation_micros),
    )
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

impl Report {
    /// The report for people: one block per function or class.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} (module {})", self.file, self.module);
        for warning in &self.warnings {
            let _ = writeln!(out, "  warning: line {}: {}", warning.line, warning.message);
        }
        for site in &self.fanouts {
            match &site.sequential {
                None => {
                    let _ = writeln!(
                        out,
                        "  fan-out at line {}: {} of {}: concurrent invocations, results and output in order",
                        site.line, site.form, site.function
                    );
                }
                Some(reason) => {
                    let _ = writeln!(
                        out,
                        "  fan-out at line {}: {} of {}: stays sequential: {reason}",
                        site.line, site.form, site.function
                    );
                }
            }
        }
        for layer in &self.layers {
            let _ = writeln!(
                out,
                "  dependency layer {} ({:.1} MB unzipped, {}): {}",
                layer.hash,
                layer.unzipped_size as f64 / (1024.0 * 1024.0),
                if layer.cached {
                    "cached".to_owned()
                } else {
                    format!("built with {}", layer.installer)
                },
                layer.requirements.join(", ")
            );
        }
        for unit in &self.units {
            let kind = match unit.kind {
                UnitKind::Function => "function",
                UnitKind::Class => "class",
            };
            match (&unit.package, &unit.reason) {
                (Some(p), _) => {
                    let _ = writeln!(
                        out,
                        "  {} ({kind}, line {}): moved to cloud function {} ({} MB, {} s)",
                        unit.name, unit.line, p.function_name, p.memory, p.timeout
                    );
                }
                (None, reason) => {
                    let _ = writeln!(
                        out,
                        "  {} ({kind}, line {}): kept local: {}",
                        unit.name,
                        unit.line,
                        reason.as_deref().unwrap_or("-")
                    );
                }
            }
            let _ = writeln!(out, "      free names:      {}", list(&unit.free_names));
            let _ = writeln!(out, "      calls:           {}", list(&unit.calls));
            let _ = writeln!(out, "      globals read:    {}", list(&unit.globals_read));
            let _ = writeln!(
                out,
                "      globals written: {}",
                list(&unit.globals_written)
            );
            let _ = writeln!(
                out,
                "      prints:          {}",
                if unit.prints { "yes" } else { "no" }
            );
            if unit.coroutine && unit.package.is_some() {
                let _ = writeln!(out, "      coroutine:       {COROUTINE}");
            }
            if let Some(twin) = &unit.local_twin {
                let _ = writeln!(out, "      local twin:      {twin}");
            }
            if let Some(readonly) = &unit.readonly {
                let _ = writeln!(out, "      read-only:       {}", readonly_text(readonly));
            }
            if let Some(split) = &unit.split {
                let points: Vec<String> = split
                    .points
                    .iter()
                    .map(|p| {
                        let read = match p.read {
                            crate::analysis::split::ReadKind::Input => "input()",
                            crate::analysis::split::ReadKind::Readline => "sys.stdin.readline()",
                            crate::analysis::split::ReadKind::Read => "sys.stdin.read()",
                            crate::analysis::split::ReadKind::Readlines => "sys.stdin.readlines()",
                            crate::analysis::split::ReadKind::Line => {
                                "a step of `for` over sys.stdin"
                            }
                            crate::analysis::split::ReadKind::Yield => "yield",
                            crate::analysis::split::ReadKind::Call => {
                                return format!(
                                    "point {} at line {} (call of {}(), made by the driver)",
                                    p.point,
                                    p.line,
                                    p.callee.as_deref().unwrap_or_default()
                                );
                            }
                        };
                        format!("point {} at line {} ({read})", p.point, p.line)
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "      split:           {} segments in the cloud, the reads and yields in the driver: {}",
                    split.segments,
                    points.join(", ")
                );
                let _ = writeln!(out, "      locals carried:  {}", list(&split.locals));
            }
            if let Some(figures) = &unit.profile {
                let _ = writeln!(out, "      profile:         {}", figures_text(figures));
                let _ = writeln!(out, "      cost model:      {}", figures.verdict);
            }
            if let Some(p) = &unit.package {
                let _ = writeln!(out, "      package:");
                for line in &p.contents {
                    let _ = writeln!(out, "        {line}");
                }
                if !p.local_modules.is_empty() {
                    let _ = writeln!(out, "        local modules: {}", p.local_modules.join(", "));
                }
                if !p.invokes.is_empty() {
                    let _ = writeln!(out, "        invokes remotely: {}", p.invokes.join(", "));
                }
                if !p.requirements.is_empty() {
                    let _ = writeln!(
                        out,
                        "        requirements: {} (layer {})",
                        p.requirements.join(", "),
                        p.layer.as_deref().unwrap_or("-")
                    );
                }
                if !p.data_files.is_empty() {
                    let _ = writeln!(out, "        data files: {}", p.data_files.join(", "));
                }
            }
        }
        out
    }
}
