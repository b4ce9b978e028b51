//! Stage 5: every line of Python that lambada writes comes from a template under
//! `templates/`, compiled into the binary: the decorator that gives a moved function or
//! class its cloud function, the handler module of each package, the header of
//! generated files, and the runtime package, copied as it is.

use std::sync::LazyLock;

use minijinja::{Environment, context};

use crate::analysis::{ModuleFacts, StatementKind};
use crate::parse::ParsedModule;
use crate::plan::{Move, UnitKind};

// `RUNTIME_FILES`: every file of `templates/lambada_runtime/`, found by `build.rs`.
include!(concat!(env!("OUT_DIR"), "/runtime_files.rs"));

/// The runtime package's directory, next to the driver and in every package.
pub const RUNTIME_DIR: &str = "lambada_runtime";
pub const HANDLER_FILE: &str = "lambada_handler.py";
/// The entry point's name is reserved (`_lambada...`) so it cannot hide a name of the
/// program's own, such as a global called `handler`.
pub const HANDLER: &str = "lambada_handler._lambada_handler";

/// Beside the handler module in a package: which of its lines came from which line of
/// the program, so that a remote traceback names `app.py` lines (see
/// [`handler_line_map`]).
pub const LINES_FILE: &str = "lambada_lines.json";

/// Whether a path in an output (`lambada_runtime/wire.py`) belongs to the runtime package.
pub fn is_runtime_file(path: &str) -> bool {
    path.strip_prefix(RUNTIME_DIR)
        .is_some_and(|rest| rest.starts_with('/'))
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    let templates = [
        ("header.py.j2", include_str!("../templates/header.py.j2")),
        (
            "cloud_decorator.py.j2",
            include_str!("../templates/cloud_decorator.py.j2"),
        ),
        ("handler.py.j2", include_str!("../templates/handler.py.j2")),
    ];
    for (name, source) in templates {
        env.add_template(name, source)
            .expect("the templates compiled into lambada are valid");
    }
    env
});

fn render(name: &str, ctx: minijinja::Value) -> String {
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .expect("the templates compiled into lambada render with the values lambada gives them")
}

/// The first line of every generated Python file.
pub fn header(source_file: &str) -> String {
    render("header.py.j2", context! { source => source_file })
}

/// The decorator line the driver puts directly above a moved function's `def` (or a
/// moved class's `class`): `@_lambada.cloud("fib", globals())`. The definition itself
/// stays as it is and becomes the local twin the runtime falls back to.
///
/// `globals` is `globals()` unless the program binds that name at module level.
/// A function split at its reads gets `@_lambada.cloud_split(...)`: its stub runs the
/// segments and does the reads in between.
pub fn cloud_decorator(kind: UnitKind, key: &str, globals_hidden: bool, split: bool) -> String {
    let decorator = match (kind, split) {
        (UnitKind::Function, false) => "cloud",
        (UnitKind::Function, true) => "cloud_split",
        (UnitKind::Class, _) => "cloud_class",
    };
    decorator_line(decorator, key, globals_hidden)
}

/// The decorator line above the driver's copy of a moved generator's resumable
/// version: `@_lambada.split.resumable_here("gen", globals())` (it keeps the copy for
/// the segments whose state cannot travel, and binds nothing new).
pub fn resumable_here_decorator(key: &str, globals_hidden: bool) -> String {
    decorator_line("split.resumable_here", key, globals_hidden)
}

/// The decorator line above a moved `async def`:
/// `@_lambada.cloud_coroutine("fetch", globals())`. Its stub is itself an `async def`
/// that awaits the invocation without blocking the event loop, so `asyncio.gather`
/// over moved coroutines runs their invocations concurrently.
pub fn coroutine_decorator(key: &str, globals_hidden: bool) -> String {
    decorator_line("cloud_coroutine", key, globals_hidden)
}

fn decorator_line(decorator: &str, key: &str, globals_hidden: bool) -> String {
    let globals = if globals_hidden {
        "__import__(\"builtins\").globals()"
    } else {
        "globals()"
    };
    render(
        "cloud_decorator.py.j2",
        context! {
            runtime => crate::analysis::RUNTIME_ALIAS,
            decorator,
            key,
            globals,
        },
    )
}

/// What a package's handler module is made of.
pub struct HandlerModule<'a> {
    pub key: &'a str,
    pub function_name: &'a str,
    pub movement: &'a Move,
}

/// The handler module of a package: the slice of the program, verbatim, then the
/// entry point.
pub fn handler_module(
    parsed: &ParsedModule,
    facts: &ModuleFacts,
    module: &HandlerModule,
) -> String {
    let source_file = file_name(parsed);
    let (future, segments): (Vec<usize>, Vec<usize>) = module
        .movement
        .slice
        .iter()
        .partition(|&&i| facts.statements[i].kind == StatementKind::FutureImport);
    let future_imports: Vec<String> = future
        .into_iter()
        .map(|i| parsed.text(facts.statements[i].range).to_owned())
        .collect();
    let segments: Vec<minijinja::Value> = segments
        .into_iter()
        .map(|i| {
            let range = facts.statements[i].range;
            let split = module.movement.split.as_ref().filter(|_| {
                facts
                    .functions
                    .iter()
                    .any(|f| f.stmt == i && f.name == module.key)
            });
            let text = match split {
                // The function itself, made resumable at its reads.
                Some(shape) => crate::rewrite::split::resumable(parsed, range, shape),
                None => parsed.text(range).to_owned(),
            };
            context! {
                text,
                stub => remote_stub(facts, module.movement, i),
            }
        })
        .collect();
    let target = if module.movement.invokes.contains(module.key) {
        format!("_lambada_{}", module.key)
    } else {
        module.key.to_owned()
    };
    let mut text = render(
        "handler.py.j2",
        context! {
            header => header(&source_file),
            future_imports,
            segments,
            placeholders => module.movement.placeholders.iter().cloned().collect::<Vec<_>>(),
            target,
            key => module.key.to_owned(),
            function_name => module.function_name.to_owned(),
        },
    );
    text.push('\n');
    text
}

/// The line map of a handler module rendered by [`handler_module`]: `{"file": "app.py",
/// "lines": [[handler line, program line, count], ...]}`, one run per statement of the
/// slice. The statements are in the handler verbatim and in order, so each is found
/// after the one before it.
pub fn handler_line_map(
    parsed: &ParsedModule,
    facts: &ModuleFacts,
    movement: &Move,
    handler: &str,
) -> String {
    let mut runs = Vec::new();
    let mut cursor = 0;
    for &index in &movement.slice {
        let range = facts.statements[index].range;
        let text = parsed.text(range);
        let Some(found) = handler[cursor..].find(text) else {
            continue;
        };
        let at = cursor + found;
        let handler_line = handler[..at].matches('\n').count() + 1;
        let count = text.matches('\n').count() + 1;
        runs.push([handler_line, parsed.line(range.start()), count]);
        cursor = at + text.len();
    }
    let map = serde_json::json!({ "file": file_name(parsed), "lines": runs });
    format!("{map}\n")
}

/// With `--remote-calls all`, the stub a package rebinds the moved function defined by
/// statement `stmt` to, right after its definition: the same decorators (a cache still
/// saves invocations, and a redefined decorator is still the one it was) and docstring
/// as the original.
fn remote_stub(facts: &ModuleFacts, movement: &Move, stmt: usize) -> Option<minijinja::Value> {
    facts
        .functions
        .iter()
        .find(|f| f.stmt == stmt && movement.invokes.contains(&f.name))
        .map(|f| {
            context! {
                name => f.name.clone(),
                coroutine => f.is_async,
                decorators => f.decorators.clone(),
                docstring => f.docstring.clone(),
            }
        })
}

pub fn file_name(parsed: &ParsedModule) -> String {
    parsed
        .source
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}.py", parsed.source.module))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decorator_names_the_cloud_function() {
        assert_eq!(
            cloud_decorator(UnitKind::Function, "fib", false, false),
            r#"@_lambada.cloud("fib", globals())"#
        );
        assert_eq!(
            cloud_decorator(UnitKind::Class, "Account", false, false),
            r#"@_lambada.cloud_class("Account", globals())"#
        );
    }

    #[test]
    fn a_coroutine_gets_the_coroutine_decorator() {
        assert_eq!(
            coroutine_decorator("fetch", false),
            r#"@_lambada.cloud_coroutine("fetch", globals())"#
        );
    }

    #[test]
    fn a_module_binding_named_globals_does_not_hide_the_builtin() {
        assert_eq!(
            cloud_decorator(UnitKind::Function, "f", true, false),
            r#"@_lambada.cloud("f", __import__("builtins").globals())"#
        );
    }

    #[test]
    fn runtime_files_live_in_the_runtime_package() {
        assert!(is_runtime_file("lambada_runtime/__init__.py"));
        assert!(!is_runtime_file("lambada_runtime.py"));
        assert!(!is_runtime_file("lambada_handler.py"));
        for (path, _) in RUNTIME_FILES {
            assert!(is_runtime_file(path), "{path}");
        }
    }
}
