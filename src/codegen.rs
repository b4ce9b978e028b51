//! Stage 5: every line of Python that lambada writes comes from a template under
//! `templates/`, compiled into the binary: stubs for moved functions and methods, the
//! handler module of each package, the header of generated files, and the runtime
//! module, copied as it is.

use std::sync::LazyLock;

use minijinja::{Environment, context};

use crate::analysis::{MethodFacts, MethodKind, ModuleFacts, Params, StatementKind};
use crate::parse::ParsedModule;
use crate::plan::Move;

/// The runtime module, copied next to the driver and into every package.
pub const RUNTIME_MODULE: &str = include_str!("../templates/lambada_runtime.py");
pub const RUNTIME_FILE: &str = "lambada_runtime.py";
pub const HANDLER_FILE: &str = "lambada_handler.py";
/// The entry point's name is reserved (`_lambada...`) so it cannot hide a name of the
/// program's own, such as a global called `handler`.
pub const HANDLER: &str = "lambada_handler._lambada_handler";

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    let templates = [
        ("header.py.j2", include_str!("../templates/header.py.j2")),
        (
            "function_stub.py.j2",
            include_str!("../templates/function_stub.py.j2"),
        ),
        (
            "method_stub.py.j2",
            include_str!("../templates/method_stub.py.j2"),
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

/// `return _lambada.invoke("f", (a, b, *rest), {"k": k, **kw}, globals())`
pub fn function_stub(key: &str, params: &Params) -> String {
    let (runtime, globals) = stub_names(params, None);
    render(
        "function_stub.py.j2",
        context! {
            key,
            args => positional_args(params),
            kwargs => keyword_args(params),
            runtime,
            globals,
        },
    )
}

/// How a stub names the runtime module and the module's globals: `_lambada` and
/// `globals()`, unless a parameter of the same name hides them.
fn stub_names(params: &Params, receiver: Option<&str>) -> (&'static str, &'static str) {
    let names = || {
        params
            .positional
            .iter()
            .chain(&params.keyword_only)
            .chain(&params.vararg)
            .chain(&params.kwarg)
            .map(String::as_str)
            .chain(receiver)
    };
    let runtime = if names().any(|n| n == crate::analysis::RUNTIME_ALIAS) {
        "__import__(\"lambada_runtime\")"
    } else {
        crate::analysis::RUNTIME_ALIAS
    };
    let globals = if names().any(|n| n == "globals") {
        "__import__(\"builtins\").globals()"
    } else {
        "globals()"
    };
    (runtime, globals)
}

/// The stub of one method of a proxy class.
pub fn method_stub(class: &str, method: &MethodFacts) -> String {
    let static_class = (method.kind == MethodKind::Static).then_some(class);
    let (runtime, globals) = stub_names(&method.params, method.receiver.as_deref());
    render(
        "method_stub.py.j2",
        context! {
            runtime,
            globals,
            static_class,
            receiver => method.receiver.as_deref().unwrap_or("self"),
            method => method.remote_name(),
            args => positional_args(&method.params),
            kwargs => keyword_args(&method.params),
        },
    )
}

/// The parameters that are passed by position, as a Python tuple display.
fn positional_args(params: &Params) -> String {
    let mut items: Vec<String> = params.positional.clone();
    if let Some(vararg) = &params.vararg {
        items.push(format!("*{vararg}"));
    }
    match items.as_slice() {
        [] => "()".to_owned(),
        [one] => format!("({one},)"),
        many => format!("({})", many.join(", ")),
    }
}

/// The parameters that are passed by keyword, as a Python dict display.
fn keyword_args(params: &Params) -> String {
    let mut items: Vec<String> = params
        .keyword_only
        .iter()
        .map(|name| format!("\"{name}\": {name}"))
        .collect();
    if let Some(kwarg) = &params.kwarg {
        items.push(format!("**{kwarg}"));
    }
    format!("{{{}}}", items.join(", "))
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
    let text_of = |indices: Vec<usize>| -> Vec<String> {
        indices
            .into_iter()
            .map(|i| parsed.text(facts.statements[i].range).to_owned())
            .collect()
    };
    let target = if module.movement.invokes.contains(module.key) {
        format!("_lambada_{}", module.key)
    } else {
        module.key.to_owned()
    };
    let mut text = render(
        "handler.py.j2",
        context! {
            header => header(&source_file),
            future_imports => text_of(future),
            segments => text_of(segments),
            invokes => remote_stubs(facts, module.movement),
            placeholders => module.movement.placeholders.iter().cloned().collect::<Vec<_>>(),
            target,
            key => module.key.to_owned(),
            function_name => module.function_name.to_owned(),
        },
    );
    text.push('\n');
    text
}

/// With `--remote-calls all`, the stubs a package rebinds its moved functions to: the
/// same decorators (a cache still saves invocations) and docstring as the original.
fn remote_stubs(facts: &ModuleFacts, movement: &Move) -> Vec<minijinja::Value> {
    movement
        .invokes
        .iter()
        .filter_map(|name| facts.functions.iter().find(|f| &f.name == name))
        .map(|f| {
            context! {
                name => f.name.clone(),
                decorators => f.decorators.clone(),
                docstring => f.docstring.clone(),
            }
        })
        .collect()
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

    fn params(
        positional: &[&str],
        vararg: Option<&str>,
        kw: &[&str],
        kwarg: Option<&str>,
    ) -> Params {
        Params {
            positional: positional.iter().map(|s| s.to_string()).collect(),
            vararg: vararg.map(str::to_owned),
            keyword_only: kw.iter().map(|s| s.to_string()).collect(),
            kwarg: kwarg.map(str::to_owned),
        }
    }

    #[test]
    fn stub_forwards_every_parameter_by_its_kind() {
        assert_eq!(
            function_stub(
                "area",
                &params(&["a", "b"], Some("rest"), &["scale"], Some("opts"))
            ),
            r#"return _lambada.invoke("area", (a, b, *rest), {"scale": scale, **opts}, globals())"#
        );
    }

    #[test]
    fn parameters_named_like_the_stubs_names_do_not_hide_them() {
        assert_eq!(
            function_stub("f", &params(&["_lambada", "globals"], None, &[], None)),
            r#"return __import__("lambada_runtime").invoke("f", (_lambada, globals), {}, __import__("builtins").globals())"#
        );
    }

    #[test]
    fn one_positional_parameter_is_a_one_tuple() {
        assert_eq!(
            function_stub("fib", &params(&["x"], None, &[], None)),
            r#"return _lambada.invoke("fib", (x,), {}, globals())"#
        );
        assert_eq!(
            function_stub("now", &params(&[], None, &[], None)),
            r#"return _lambada.invoke("now", (), {}, globals())"#
        );
    }
}
