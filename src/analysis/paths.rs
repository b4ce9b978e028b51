//! Which files code opens: the path an `open()` (or `Path(...).read_text()`,
//! `os.listdir(...)`...) call names, when it can be told from the source.
//!
//! Paths are followed through the usual spellings of "beside this program":
//! `os.path.join(os.path.dirname(__file__), "data.csv")`,
//! `Path(__file__).parent / "data.csv"`, `Path(__file__).resolve().parent.joinpath(...)`.

use ruff_python_ast::{Expr, ExprCall, Operator};

use super::effects::qualified_name;
use super::scope::Resolver;

/// A path as the source spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathArg {
    /// Relative to the program's directory (a literal relative path, which resolves
    /// against the working directory the program is run from, or one built from
    /// `__file__`), `/`-separated, without `.` components.
    Relative(String),
    /// An absolute or `~` path: this machine's file system.
    Absolute(String),
    /// Computed at run time.
    Dynamic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Writes, creates or removes, or a mode not known from the source.
    Write,
}

/// The file one call uses, if it is a call that opens or changes files.
pub fn file_use(call: &ExprCall, resolver: &Resolver<'_>) -> Option<(PathArg, Access)> {
    let first = call.arguments.args.first();
    if let Expr::Attribute(method) = call.func.as_ref() {
        // `Path(...).read_text()` and friends: only on values known to be paths.
        let access = match method.attr.as_str() {
            "read_text" | "read_bytes" | "iterdir" | "glob" | "rglob" => Some(Access::Read),
            "open" => Some(mode_access(call, 0)),
            "write_text" | "write_bytes" | "touch" | "mkdir" | "unlink" | "rmdir" => {
                Some(Access::Write)
            }
            _ => None,
        };
        if let Some(access) = access
            && let Some(path) = path_value(&method.value, resolver)
        {
            return Some((path.into_arg(), access));
        }
    }
    let name = qualified_name(&call.func, resolver)?;
    let access = match name.as_str() {
        "open" | "io.open" | "codecs.open" => mode_access(call, 1),
        "os.listdir" | "os.scandir" | "glob.glob" | "os.path.getsize" => Access::Read,
        "os.remove" | "os.unlink" | "os.rename" | "os.replace" | "os.makedirs" | "os.mkdir"
        | "os.rmdir" | "shutil.rmtree" | "shutil.copy" | "shutil.copyfile" | "shutil.move" => {
            Access::Write
        }
        _ => return None,
    };
    let path = match first {
        Some(arg) => path_value(arg, resolver).map_or(PathArg::Dynamic, Value::into_arg),
        // `os.listdir()` lists the working directory: whatever that is when it runs.
        None => PathArg::Dynamic,
    };
    Some((path, access))
}

/// The access an `open` mode asks for: positional argument `index` or `mode=`.
fn mode_access(call: &ExprCall, index: usize) -> Access {
    let mode = call
        .arguments
        .find_keyword("mode")
        .map(|k| &k.value)
        .or_else(|| call.arguments.args.get(index));
    match mode {
        None => Access::Read,
        Some(Expr::StringLiteral(mode)) => {
            let mode = mode.value.to_str();
            if mode.contains(['w', 'a', 'x', '+']) {
                Access::Write
            } else {
                Access::Read
            }
        }
        Some(_) => Access::Write,
    }
}

/// What a path expression evaluates to, when the source tells.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// `__file__`: the program itself.
    File,
    /// A directory or file relative to the program's directory (`""` is the directory).
    Relative(String),
    Absolute(String),
    Dynamic,
}

impl Value {
    fn into_arg(self) -> PathArg {
        match self {
            // The program's whole directory, or above it: not a data file.
            Value::Relative(path) if path.is_empty() || path.starts_with("..") => PathArg::Dynamic,
            Value::Relative(path) => PathArg::Relative(path),
            Value::Absolute(path) => PathArg::Absolute(path),
            Value::File | Value::Dynamic => PathArg::Dynamic,
        }
    }

    fn parent(self) -> Value {
        match self {
            Value::File => Value::Relative(String::new()),
            Value::Relative(path) if !path.is_empty() => {
                Value::Relative(path.rsplit_once('/').map_or("", |(p, _)| p).to_owned())
            }
            _ => Value::Dynamic,
        }
    }

    fn join(self, other: Value) -> Value {
        match (self, other) {
            (_, Value::Absolute(path)) => Value::Absolute(path),
            (Value::Relative(base), Value::Relative(rest)) => {
                Value::Relative(normalize(&base, &rest))
            }
            (Value::Absolute(base), Value::Relative(rest)) => {
                Value::Absolute(format!("{}/{rest}", base.trim_end_matches('/')))
            }
            _ => Value::Dynamic,
        }
    }
}

/// `base/rest` without `.` components; `None`-like `Dynamic` is left to the caller:
/// a `..` that climbs out of the program's directory stays in the path, and the
/// caller refuses it.
fn normalize(base: &str, rest: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rest.split('/')) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

fn literal(expr: &Expr) -> Option<Value> {
    let Expr::StringLiteral(text) = expr else {
        return None;
    };
    let text = text.value.to_str();
    Some(if text.starts_with('/') || text.starts_with('~') {
        Value::Absolute(text.to_owned())
    } else {
        Value::Relative(normalize("", text))
    })
}

/// The value of a path expression; `None` when it is not recognisably a path (so a
/// method call on it is not a file operation).
fn path_value(expr: &Expr, resolver: &Resolver<'_>) -> Option<Value> {
    if let Some(value) = literal(expr) {
        return Some(value);
    }
    match expr {
        Expr::Name(name) if name.id.as_str() == "__file__" => Some(Value::File),
        Expr::Attribute(attribute) if attribute.attr.as_str() == "parent" => {
            Some(path_value(&attribute.value, resolver)?.parent())
        }
        Expr::BinOp(binop) if binop.op == Operator::Div => {
            let base = path_value(&binop.left, resolver)?;
            let rest = path_value(&binop.right, resolver).unwrap_or(Value::Dynamic);
            Some(base.join(rest))
        }
        Expr::Call(call) => {
            let args = &call.arguments.args;
            if let Expr::Attribute(method) = call.func.as_ref() {
                match method.attr.as_str() {
                    "resolve" | "absolute" | "expanduser" if args.is_empty() => {
                        return path_value(&method.value, resolver);
                    }
                    "joinpath" => {
                        let mut value = path_value(&method.value, resolver)?;
                        for arg in args.iter() {
                            value = value.join(path_value(arg, resolver).unwrap_or(Value::Dynamic));
                        }
                        return Some(value);
                    }
                    _ => {}
                }
            }
            let name = qualified_name(&call.func, resolver)?;
            let values = || {
                args.iter()
                    .map(|a| path_value(a, resolver).unwrap_or(Value::Dynamic))
            };
            match name.as_str() {
                "os.path.dirname" => Some(values().next()?.parent()),
                "os.path.abspath" | "os.path.realpath" | "os.path.normpath" | "os.fspath"
                | "str" => values().next(),
                "os.path.join" | "pathlib.Path" | "pathlib.PurePath" | "pathlib.PosixPath" => {
                    let mut all = values();
                    let first = all.next().unwrap_or(Value::Relative(String::new()));
                    Some(all.fold(first, Value::join))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Every read of a relative path in `stmts`, at any depth: the offset of the call and
/// the path.
pub fn relative_reads(
    stmts: &[ruff_python_ast::Stmt],
    resolver: &Resolver<'_>,
) -> Vec<(ruff_text_size::TextSize, String)> {
    use ruff_python_ast::visitor::{self, Visitor};
    use ruff_text_size::Ranged;

    struct Reads<'r, 'a> {
        resolver: &'r Resolver<'a>,
        found: Vec<(ruff_text_size::TextSize, String)>,
    }
    impl<'x> Visitor<'x> for Reads<'_, '_> {
        fn visit_expr(&mut self, expr: &'x Expr) {
            if let Expr::Call(call) = expr
                && let Some((PathArg::Relative(path), Access::Read)) = file_use(call, self.resolver)
            {
                self.found.push((call.start(), path));
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut reads = Reads {
        resolver,
        found: Vec::new(),
    };
    reads.visit_body(stmts);
    reads.found
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn use_of(source: &str) -> Option<(PathArg, Access)> {
        let parsed = ruff_python_parser::parse_module(source).unwrap();
        let mut imports = HashMap::new();
        imports.insert("os".to_owned(), "os".to_owned());
        imports.insert("Path".to_owned(), "pathlib.Path".to_owned());
        let resolver = Resolver { imports: &imports };
        let ruff_python_ast::Stmt::Expr(stmt) = &parsed.syntax().body[0] else {
            panic!("an expression statement");
        };
        let Expr::Call(call) = stmt.value.as_ref() else {
            panic!("a call");
        };
        file_use(call, &resolver)
    }

    fn relative(path: &str) -> PathArg {
        PathArg::Relative(path.into())
    }

    #[test]
    fn literal_and_file_relative_paths() {
        assert_eq!(
            use_of("open('data.csv')"),
            Some((relative("data.csv"), Access::Read))
        );
        assert_eq!(
            use_of("open('./d/x.txt', 'rb')"),
            Some((relative("d/x.txt"), Access::Read))
        );
        assert_eq!(
            use_of(
                "open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'a.csv'))"
            ),
            Some((relative("data/a.csv"), Access::Read))
        );
        assert_eq!(
            use_of("(Path(__file__).resolve().parent / 'words.txt').read_text()"),
            Some((relative("words.txt"), Access::Read))
        );
        assert_eq!(
            use_of("os.listdir('inputs')"),
            Some((relative("inputs"), Access::Read))
        );
    }

    #[test]
    fn writes_and_unknown_paths() {
        assert_eq!(
            use_of("open('out.txt', 'w')"),
            Some((relative("out.txt"), Access::Write))
        );
        assert_eq!(
            use_of("open('log', mode=m)"),
            Some((relative("log"), Access::Write))
        );
        assert_eq!(use_of("open(name)"), Some((PathArg::Dynamic, Access::Read)));
        assert_eq!(
            use_of("open('/etc/hosts')"),
            Some((PathArg::Absolute("/etc/hosts".into()), Access::Read))
        );
        assert_eq!(
            use_of("Path('x').write_text('y')"),
            Some((relative("x"), Access::Write))
        );
        // A method named like a path operation on something that is not a path.
        assert_eq!(use_of("archive.open('member')"), None);
        assert_eq!(use_of("len('x')"), None);
    }
}
