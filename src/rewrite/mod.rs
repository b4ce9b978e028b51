//! Stage 4: the rewritten driver, as edits against the original text.
//!
//! Every change is an [`Edit`]: a range of the original source and its replacement.
//! Everything outside the edited ranges (comments, blank lines, formatting) stays
//! byte-identical, so a diff shows the transformation and nothing else.

use ruff_text_size::{Ranged, TextRange, TextSize};

pub mod fanout;
pub mod split;

use crate::analysis::{InsertPoint, ModuleFacts, RUNTIME_ALIAS};
use crate::codegen;
use crate::parse::ParsedModule;
use crate::plan::{Decision, Plan, UnitKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub range: TextRange,
    pub replacement: String,
}

impl Edit {
    pub fn insert(at: TextSize, text: impl Into<String>) -> Self {
        Self {
            range: TextRange::empty(at),
            replacement: text.into(),
        }
    }

    pub fn replace(range: TextRange, text: impl Into<String>) -> Self {
        Self {
            range,
            replacement: text.into(),
        }
    }
}

impl Ranged for Edit {
    fn range(&self) -> TextRange {
        self.range
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("internal error: edits at {first:?} and {second:?} overlap")]
pub struct OverlapError {
    pub first: TextRange,
    pub second: TextRange,
}

/// Applies edits to `source` in one pass. Insertions at the same offset keep the
/// order they were given in; overlapping replacements are a bug and are refused.
pub fn apply(source: &str, mut edits: Vec<Edit>) -> Result<String, OverlapError> {
    // A stable sort keeps same-offset insertions in the order given.
    edits.sort_by_key(|e| (e.range.start(), e.range.end()));
    for pair in edits.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.range.start() < a.range.end() {
            return Err(OverlapError {
                first: a.range,
                second: b.range,
            });
        }
    }
    let mut out = String::with_capacity(
        source.len() + edits.iter().map(|e| e.replacement.len()).sum::<usize>(),
    );
    let mut cursor = 0;
    for edit in &edits {
        out.push_str(&source[cursor..usize::from(edit.range.start())]);
        out.push_str(&edit.replacement);
        cursor = usize::from(edit.range.end());
    }
    out.push_str(&source[cursor..]);
    Ok(out)
}

/// The edits that turn the program into the rewritten driver: a header comment, one
/// import of the runtime module, and one decorator line directly above the `def` or
/// `class` line of every moved function and class (innermost, below the program's own
/// decorators). The definitions stay byte-identical: they are the local twins.
pub fn driver_edits(parsed: &ParsedModule, facts: &ModuleFacts, plan: &Plan) -> Vec<Edit> {
    let mut edits = vec![Edit::insert(
        facts.header_at,
        format!("{}\n", codegen::header(&codegen::file_name(parsed))),
    )];
    edits.push(runtime_import(facts.runtime_import));
    let globals_hidden = facts.names.contains_key("globals");
    for unit in &plan.units {
        let Decision::Moved(movement) = &unit.decision else {
            continue;
        };
        let site = match unit.kind {
            UnitKind::Function => facts
                .functions
                .iter()
                .find(|f| f.name == unit.name)
                .map(|f| &f.twin)
                .expect("planned functions come from the facts"),
            UnitKind::Class => facts
                .classes
                .iter()
                .find(|c| c.name == unit.name)
                .map(|c| &c.twin)
                .expect("planned classes come from the facts"),
        };
        if let (UnitKind::Function, Some(shape)) = (unit.kind, &movement.split) {
            edits.extend(generator_copy(
                parsed,
                facts,
                &unit.name,
                shape,
                globals_hidden,
            ));
        }
        edits.push(Edit::insert(
            site.at,
            format!(
                "{}{}\n",
                site.indent,
                if movement.coroutine {
                    codegen::coroutine_decorator(&unit.name, globals_hidden)
                } else {
                    codegen::cloud_decorator(
                        unit.kind,
                        &unit.name,
                        globals_hidden,
                        movement.split.is_some(),
                    )
                }
            ),
        ));
    }
    for site in fanout::sites(parsed, facts, plan) {
        edits.extend(site.edits);
    }
    edits
}

/// A moved generator's resumable version, copied into the driver after it (see
/// [`split::driver_copy`]); none for a function that is not a generator.
fn generator_copy(
    parsed: &ParsedModule,
    facts: &ModuleFacts,
    name: &str,
    shape: &crate::analysis::split::SplitShape,
    globals_hidden: bool,
) -> Option<Edit> {
    let function = facts
        .functions
        .iter()
        .find(|f| f.name == name && f.yield_line.is_some())?;
    let stmt = facts.statements[function.stmt].range;
    Some(split::driver_copy(
        parsed,
        stmt,
        function.twin.at,
        shape,
        &codegen::resumable_here_decorator(name, globals_hidden),
    ))
}

fn runtime_import(point: InsertPoint) -> Edit {
    let import = format!("import lambada_runtime as {RUNTIME_ALIAS}");
    if point.mid_line {
        Edit::insert(point.at, format!("\n{import}"))
    } else {
        Edit::insert(point.at, format!("{import}\n"))
    }
}

/// Rewrites the program into its driver.
pub fn driver(
    parsed: &ParsedModule,
    facts: &ModuleFacts,
    plan: &Plan,
) -> Result<String, OverlapError> {
    apply(&parsed.source.text, driver_edits(parsed, facts, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u32, end: u32) -> TextRange {
        TextRange::new(start.into(), end.into())
    }

    #[test]
    fn edits_apply_in_order_and_keep_the_rest() {
        let out = apply(
            "abcdef",
            vec![
                Edit::replace(range(4, 5), "E"),
                Edit::insert(0.into(), "1"),
                Edit::insert(0.into(), "2"),
                Edit::replace(range(1, 3), "BC"),
            ],
        )
        .unwrap();
        assert_eq!(out, "12aBCdEf");
    }

    #[test]
    fn overlapping_edits_are_refused() {
        let err = apply(
            "abcdef",
            vec![
                Edit::replace(range(1, 4), "x"),
                Edit::replace(range(3, 5), "y"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.first, range(1, 4));
    }
}
