//! Effects: what a piece of code does that ties it to this process or that the
//! FaaSified program must reproduce (printing, reading stdin, process-wide state).

use ruff_python_ast::{Expr, ExprAttribute, ExprCall};
use ruff_text_size::TextSize;

use super::paths::{Access, PathArg};
use super::scope::Resolver;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectKind {
    /// `print(...)`, `sys.stdout.write(...)`, `sys.stderr.write(...)`: captured and replayed.
    Prints,
    /// `input()`: needs the user's terminal.
    CallsInput,
    /// A read of `sys.stdin` (`csv.reader(sys.stdin)`, `for line in sys.stdin`): needs
    /// the program's standard input.
    ReadsStdin,
    /// A function of the `random` module that uses its hidden global generator: the
    /// cloud function's generator is not the program's, so results would differ.
    GlobalRandom,
    /// `sys.argv`: the cloud function has no command line.
    ReadsArgv,
    /// Reads a file named by a relative path (or one built from `__file__`): it
    /// travels with the function as a data file.
    OpensLocalFile,
    /// Writes, creates or removes a file: the change must happen on this machine.
    WritesFile,
    /// Reads a file whose path is absolute or computed at run time: the cloud
    /// function would not find this machine's file.
    OpensUnknownFile,
    /// Reads a relative path that does not exist beside the program when it is
    /// compiled (the program may create it first): it cannot travel.
    OpensMissingFile,
    /// `obj.__dict__ = shared`: objects share one attribute dict (the Borg pattern), an
    /// identity that no call can carry to a cloud function and back.
    SharesAttributeDict,
}

impl EffectKind {
    /// Whether code with this effect must run in the program's own process.
    pub fn needs_local_process(self) -> bool {
        matches!(
            self,
            EffectKind::CallsInput
                | EffectKind::ReadsStdin
                | EffectKind::GlobalRandom
                | EffectKind::ReadsArgv
                | EffectKind::WritesFile
                | EffectKind::OpensUnknownFile
                | EffectKind::OpensMissingFile
                | EffectKind::SharesAttributeDict
        )
    }

    /// How a keep-local reason describes the effect.
    pub fn describe(self) -> &'static str {
        match self {
            EffectKind::Prints => "prints",
            EffectKind::CallsInput => "calls input()",
            EffectKind::ReadsStdin => "reads sys.stdin",
            EffectKind::GlobalRandom => "uses the random module's global generator",
            EffectKind::ReadsArgv => "reads sys.argv",
            EffectKind::OpensLocalFile => "reads a data file",
            EffectKind::WritesFile => "writes, creates or removes a file of this machine",
            EffectKind::OpensUnknownFile => {
                "opens a file whose path is absolute or computed at run time (it could not travel with the function)"
            }
            EffectKind::OpensMissingFile => {
                "opens a file that does not exist beside the program at compile time (it could not travel with the function)"
            }
            EffectKind::SharesAttributeDict => {
                "replaces an object's __dict__ with a shared one (objects sharing their state cannot travel one at a time)"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    pub kind: EffectKind,
    pub at: TextSize,
}

/// The qualified name an expression refers to, following imports:
/// `np.random.rand` → `numpy.random.rand` after `import numpy as np`.
pub fn qualified_name(expr: &Expr, resolver: &Resolver<'_>) -> Option<String> {
    match expr {
        Expr::Name(name) => Some(
            resolver
                .imports
                .get(name.id.as_str())
                .cloned()
                .unwrap_or_else(|| name.id.to_string()),
        ),
        Expr::Attribute(attribute) => {
            let base = qualified_name(&attribute.value, resolver)?;
            Some(format!("{base}.{}", attribute.attr))
        }
        _ => None,
    }
}

pub fn classify_call(call: &ExprCall, resolver: &Resolver<'_>) -> Option<EffectKind> {
    // Most calls are none of these: decide that without building qualified names.
    if !may_have_effect(&call.func, resolver) {
        return None;
    }
    if let Some((path, access)) = super::paths::file_use(call, resolver) {
        return Some(match (path, access) {
            (_, Access::Write) => EffectKind::WritesFile,
            (PathArg::Relative(_), Access::Read) => EffectKind::OpensLocalFile,
            (_, Access::Read) => EffectKind::OpensUnknownFile,
        });
    }
    let name = qualified_name(&call.func, resolver)?;
    match name.as_str() {
        "print"
        | "sys.stdout.write"
        | "sys.stderr.write"
        | "sys.stdout.writelines"
        | "sys.stderr.writelines"
        | "pprint.pprint" => Some(EffectKind::Prints),
        "input" => Some(EffectKind::CallsInput),
        _ if uses_global_random(&name) => Some(EffectKind::GlobalRandom),
        _ => None,
    }
}

pub fn classify_load(attribute: &ExprAttribute, resolver: &Resolver<'_>) -> Option<EffectKind> {
    let kind = match attribute.attr.as_str() {
        "stdin" => EffectKind::ReadsStdin,
        "argv" => EffectKind::ReadsArgv,
        _ => return None,
    };
    (qualified_name(&attribute.value, resolver)? == "sys").then_some(kind)
}

fn may_have_effect(func: &Expr, resolver: &Resolver<'_>) -> bool {
    let (last, root) = match func {
        Expr::Name(name) => (name.id.as_str(), name.id.as_str()),
        Expr::Attribute(attribute) => {
            let mut root = attribute.value.as_ref();
            while let Expr::Attribute(inner) = root {
                root = &inner.value;
            }
            match root {
                Expr::Name(name) => (attribute.attr.as_str(), name.id.as_str()),
                // `Path(...).read_text()`: a method of a computed value.
                _ => (attribute.attr.as_str(), ""),
            }
        }
        _ => return false,
    };
    matches!(
        last,
        "print"
            | "input"
            | "open"
            | "write"
            | "writelines"
            | "pprint"
            | "read_text"
            | "read_bytes"
            | "write_text"
            | "write_bytes"
            | "iterdir"
            | "glob"
            | "rglob"
            | "touch"
            | "mkdir"
            | "unlink"
            | "rmdir"
            | "listdir"
            | "scandir"
            | "getsize"
            | "remove"
            | "rename"
            | "replace"
            | "makedirs"
            | "rmtree"
            | "copy"
            | "copyfile"
            | "move"
    ) || root == "random"
        || resolver
            .imports
            .get(root)
            .is_some_and(|module| module == "random" || module.starts_with("random."))
}

fn uses_global_random(name: &str) -> bool {
    match name.strip_prefix("random.") {
        Some(function) => !matches!(function, "Random" | "SystemRandom") && !function.contains('.'),
        None => false,
    }
}
