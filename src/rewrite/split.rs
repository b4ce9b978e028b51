//! The resumable version of a function split at its reads (issue 13), as edits against
//! its original text: this is what its package runs instead of the original.
//!
//! The function keeps its name and signature. Its first statement asks the runtime
//! whether this call resumes a suspended one (`_lambada.split.take()`); if so it
//! restores the locals and re-enters the control structures down to the point,
//! skipping what ran before (`if not _lambada_pt:` guards, tests that are not
//! evaluated again, loops whose iterator is a local). At a point, the statement's read
//! becomes `return _lambada.split.suspend(...)` carrying the live locals; resumed, the
//! statement runs with the value the driver read in place of the read. `finally`
//! blocks do not run on suspension.

use ruff_text_size::{TextRange, TextSize};

use super::{Edit, apply};
use crate::analysis::split::{ReadKind, SplitShape};
use crate::parse::ParsedModule;

const INDENT: &str = "    ";

/// The text of the resumable function, from the original text of its statement.
pub fn resumable(parsed: &ParsedModule, stmt: TextRange, shape: &SplitShape) -> String {
    let source = parsed.source.text.as_str();
    let depth = |at: TextSize| {
        shape
            .guards
            .iter()
            .filter(|g| g.start <= at && at <= g.end)
            .count()
    };
    // Generated lines take the extra indentation of the guards around them.
    let indented =
        |at: TextSize, text: String| text.replace('\n', &format!("\n{}", INDENT.repeat(depth(at))));
    let mut edits = vec![Edit::insert(shape.prelude_at, prelude(shape))];
    for lp in &shape.stdin_loops {
        let mut all = vec![lp.point];
        all.extend(&lp.body);
        edits.push(Edit::replace(
            lp.header,
            format!("while (_lambada_pt in {} or not _lambada_pt)", tuple(&all)),
        ));
        let ind = &lp.indent;
        let (head, tail) = suspension(lp.point, lp.line, "line", ind);
        let step = format!(
            "{head}(){tail}_lambada_v = _lambada.split.received(_lambada_v)\n{ind}if _lambada_v is None:  # the end of stdin\n{ind}{INDENT}break\n{ind}{} = _lambada_v\n{ind}",
            &source[lp.target]
        );
        let step = if lp.body.is_empty() {
            step
        } else {
            // Resuming at a later point of the body skips the step.
            let inner = step.replace('\n', &format!("\n{INDENT}"));
            format!(
                "if _lambada_pt in (0, {}):\n{ind}{INDENT}{}",
                lp.point,
                inner.trim_end()
            ) + &format!("\n{ind}")
        };
        // Before a guard starting at the same statement, outside it.
        let outside = shape
            .guards
            .iter()
            .filter(|g| g.start < lp.body_at && lp.body_at <= g.end)
            .count();
        let step = step.replace('\n', &format!("\n{}", INDENT.repeat(outside)));
        edits.push(Edit::insert(lp.body_at, step));
    }
    let mut guards: Vec<_> = shape.guards.iter().collect();
    guards.sort_by_key(|g| (g.start, std::cmp::Reverse(g.end)));
    for guard in guards {
        let condition = match &guard.points {
            None => "not _lambada_pt".to_owned(),
            Some(points) => {
                let mut all = vec![0];
                all.extend(points);
                format!("_lambada_pt in {}", tuple(&all))
            }
        };
        edits.push(Edit::insert(
            guard.start,
            format!(
                "if {condition}:\n{}{}",
                guard.indent,
                INDENT.repeat(depth(guard.start))
            ),
        ));
    }
    // Replaced ranges keep their own line breaks (inside brackets, where indentation
    // does not matter); every other line inside a guard moves right.
    let mut replaced: Vec<TextRange> = shape.tests.iter().map(|t| t.range).collect();
    replaced.extend(shape.loops.iter().map(|l| l.iter));
    replaced.extend(shape.points.iter().map(|p| p.call));
    replaced.extend(shape.stdin_loops.iter().map(|l| l.header));
    replaced.extend(shape.helds.iter().map(|h| h.expr));
    if let (Some(first), Some(last)) = (
        shape.guards.iter().map(|g| g.start).min(),
        shape.guards.iter().map(|g| g.end).max(),
    ) {
        for at in line_starts(source, first, last, &shape.strings) {
            let d = depth(at);
            if d > 0 && !replaced.iter().any(|r| r.start() < at && at < r.end()) {
                edits.push(Edit::insert(at, INDENT.repeat(d)));
            }
        }
    }
    for test in &shape.tests {
        let text = &source[test.range];
        let replacement = if test.points.is_empty() {
            format!("(not _lambada_pt and ({text}))")
        } else {
            format!(
                "(_lambada_pt in {} or not _lambada_pt and ({text}))",
                tuple(&test.points)
            )
        };
        edits.push(Edit::replace(test.range, replacement));
    }
    for lp in &shape.loops {
        let n = lp.number;
        edits.push(Edit::replace(
            lp.iter,
            format!(
                "_lambada.split.loop((_lambada_it_{n} := iter({})) if not _lambada_pt else _lambada_it_{n}, (({}),) if _lambada_pt in {} else None, _lambada_pt in {})",
                &source[lp.iter],
                &source[lp.target],
                tuple(&lp.body),
                tuple(&lp.orelse)
            ),
        ));
    }
    for held in &shape.helds {
        // Entered once, when the `with` is first reached; resumed, the wrapper that
        // travelled takes its place (entering it again gives what the manager gave).
        let n = held.number;
        edits.push(Edit::replace(
            held.expr,
            format!(
                "(_lambada_cm_{n} if _lambada_pt in {} else (_lambada_cm_{n} := _lambada.split.Held({})))",
                tuple(&held.points),
                &source[held.expr]
            ),
        ));
    }
    for (at, indent) in &shape.finals {
        edits.push(Edit::insert(
            *at,
            indented(
                *at,
                format!(
                    "if _lambada_sus is not None:\n{indent}{INDENT}return _lambada_sus\n{indent}"
                ),
            ),
        ));
    }
    for point in &shape.points {
        let at = point.stmt.start();
        let (head, tail) = suspension(
            point.number,
            point.line,
            point.kind.runtime_name(),
            &point.indent,
        );
        let args = source[point.args].trim();
        let args = match (args.is_empty(), point.kind) {
            // The callee's name, its positional and its keyword arguments, evaluated
            // here (`call_args(name)(...)` accepts any argument list the call does).
            (_, ReadKind::Call) => format!(
                "_lambada.split.call_args(\"{}\")({args})",
                point.callee.as_deref().unwrap_or_default()
            ),
            (true, ReadKind::Yield) => "(None,)".to_owned(),
            (true, _) => "()".to_owned(),
            // `yield a, b` yields one tuple.
            (false, ReadKind::Yield) => format!("(({args}),)"),
            (false, _) => format!("({args},)"),
        };
        edits.push(Edit::insert(
            at,
            format!("{}{args}{}", indented(at, head), indented(at, tail)),
        ));
        edits.push(Edit::replace(
            point.call,
            "_lambada.split.received(_lambada_v)",
        ));
    }
    let offset = stmt.start();
    let local: Vec<Edit> = edits
        .into_iter()
        .map(|e| Edit {
            range: e.range - offset,
            replacement: e.replacement,
        })
        .collect();
    apply(&source[stmt], local).expect("the split's edits are disjoint by construction")
}

/// The edit that puts a copy of a moved generator's resumable version in the driver,
/// after its definition (`def_at`: where its `def` line starts, below its decorators,
/// which the copy does not get), under `decorator`: a segment whose state cannot travel
/// runs there instead of in the cloud (`lambada_runtime/split.py`, `resumable_here`).
pub fn driver_copy(
    parsed: &ParsedModule,
    stmt: TextRange,
    def_at: TextSize,
    shape: &SplitShape,
    decorator: &str,
) -> Edit {
    let text = resumable(parsed, stmt, shape);
    // The edits are all inside the body: the text up to the `def` line is unchanged.
    let def = &text[usize::from(def_at - stmt.start())..];
    Edit::insert(
        stmt.end(),
        format!(
            "\n\n\n# The resumable version, for a segment whose state cannot travel (lambada).\n{decorator}\n{def}"
        ),
    )
}

/// Restores the locals when the call resumes a suspended one.
fn prelude(shape: &SplitShape) -> String {
    let ind = &shape.body_indent;
    let mut text = format!(
        "# Split at its reads (lambada): resumes at point _lambada_pt with the locals it had.\n{ind}_lambada_pt, _lambada_l, _lambada_v = _lambada.split.take()\n{ind}_lambada_sus = None\n{ind}if _lambada_pt:\n"
    );
    for name in &shape.locals {
        text +=
            &format!("{ind}{INDENT}if \"{name}\" in _lambada_l: {name} = _lambada_l[\"{name}\"]\n");
    }
    if shape.locals.is_empty() {
        text += &format!("{ind}{INDENT}pass\n");
    }
    text += ind;
    text
}

/// What goes before the statement at a point, around the read's arguments: suspend,
/// or, resumed, go on with the statement, whose read is replaced by the value read.
fn suspension(n: u32, line: usize, kind: &str, ind: &str) -> (String, String) {
    (
        format!(
            "if _lambada_pt != {n}:  # line {line}: the driver reads, then the call resumes here\n{ind}{INDENT}_lambada_sus = _lambada.split.suspend({n}, \"{kind}\", "
        ),
        format!(", locals())\n{ind}{INDENT}return _lambada_sus\n{ind}_lambada_pt = 0\n{ind}"),
    )
}

fn tuple(points: &[u32]) -> String {
    match points {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            points
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Starts of the lines after `start` up to `end` that are not blank and not inside a
/// multi-line string (whose text must not change).
fn line_starts(
    source: &str,
    start: TextSize,
    end: TextSize,
    strings: &[TextRange],
) -> Vec<TextSize> {
    let mut found = Vec::new();
    let (from, to) = (usize::from(start), usize::from(end));
    for (i, _) in source[from..to].match_indices('\n') {
        let at = from + i + 1;
        if at >= to {
            break;
        }
        let line = source[at..].split('\n').next().unwrap_or("");
        let offset = TextSize::try_from(at).unwrap_or_default();
        let in_string = strings
            .iter()
            .any(|r| r.start() < offset && offset < r.end());
        if !line.trim().is_empty() && !in_string {
            found.push(offset);
        }
    }
    found
}
