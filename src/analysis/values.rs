//! Which module-level values can be copied into a package as they are: literals,
//! constants built from them, pure constructor calls, and blocks that only define.

use std::collections::HashMap;

use ruff_python_ast::{self as ast, Expr, Stmt};

use super::effects;
use super::scope::Resolver;

pub(super) fn is_main_guard(test: &Expr) -> bool {
    let Expr::Compare(compare) = test else {
        return false;
    };
    let [right] = &compare.comparators[..] else {
        return false;
    };
    let is_name = |e: &Expr| matches!(e, Expr::Name(n) if n.id.as_str() == "__name__");
    let is_main = |e: &Expr| matches!(e, Expr::StringLiteral(s) if s.value.to_str() == "__main__");
    (is_name(&compare.left) && is_main(right)) || (is_main(&compare.left) && is_name(right))
}

/// Calls that build a value from their arguments and do nothing else, so a module
/// constant made with one (`CENT = Decimal("0.01")`, `T = TypeVar("T")`) can be copied.
const PURE_CONSTRUCTORS: &[&str] = &[
    "decimal.Decimal",
    "fractions.Fraction",
    "datetime.date",
    "datetime.datetime",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "re.compile",
    "collections.namedtuple",
    "typing.TypeVar",
    "typing.NewType",
    "typing.ParamSpec",
    "typing.TypeVarTuple",
    "typing.NamedTuple",
    "typing.TypedDict",
    "uuid.UUID",
    "pathlib.Path",
    "pathlib.PurePosixPath",
    "frozenset",
    "complex",
    "float",
    "int",
    "str",
    "bytes",
    "range",
    "tuple",
];

pub(super) fn is_pure_constructor_call(
    call: &ast::ExprCall,
    imports: &HashMap<String, String>,
) -> bool {
    let resolver = Resolver { imports };
    let Some(name) = effects::qualified_name(&call.func, &resolver) else {
        return false;
    };
    PURE_CONSTRUCTORS.contains(&name.as_str())
        && call.arguments.args.iter().all(|a| is_literal(a, imports))
        && call
            .arguments
            .keywords
            .iter()
            .all(|k| is_literal(&k.value, imports))
}

/// A value built only from immutable literals: copying its statement is exact.
pub(super) fn is_immutable_constant(expr: &Expr, imports: &HashMap<String, String>) -> bool {
    match expr {
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::BytesLiteral(_)
        | Expr::BooleanLiteral(_)
        | Expr::NoneLiteral(_)
        | Expr::EllipsisLiteral(_) => true,
        Expr::Tuple(tuple) => tuple.elts.iter().all(|e| is_immutable_constant(e, imports)),
        Expr::UnaryOp(op) => is_immutable_constant(&op.operand, imports),
        Expr::BinOp(op) => {
            is_immutable_constant(&op.left, imports) && is_immutable_constant(&op.right, imports)
        }
        Expr::Call(call) => is_pure_constructor_call(call, imports),
        // Other constants and module attributes (`math.pi`): what they name is checked
        // when the statement's needs are resolved.
        Expr::Name(_) | Expr::Attribute(_) => true,
        _ => false,
    }
}

/// A literal value, mutable or not: evaluating it has no effect.
pub(super) fn is_literal(expr: &Expr, imports: &HashMap<String, String>) -> bool {
    match expr {
        Expr::List(list) => list.elts.iter().all(|e| is_literal(e, imports)),
        Expr::Set(set) => set.elts.iter().all(|e| is_literal(e, imports)),
        Expr::Dict(dict) => dict.items.iter().all(|item| {
            item.key.as_ref().is_none_or(|k| is_literal(k, imports))
                && is_literal(&item.value, imports)
        }),
        Expr::Tuple(tuple) => tuple.elts.iter().all(|e| is_literal(e, imports)),
        Expr::UnaryOp(op) => is_literal(&op.operand, imports),
        Expr::BinOp(op) => is_literal(&op.left, imports) && is_literal(&op.right, imports),
        Expr::Attribute(attribute) => {
            matches!(attribute.value.as_ref(), Expr::Name(n) if imports.contains_key(n.id.as_str()))
        }
        Expr::Name(_) => true,
        Expr::Call(call) => is_pure_constructor_call(call, imports),
        Expr::Lambda(_) => true,
        other => is_immutable_constant(other, imports),
    }
}

pub(super) fn is_constant_assignment(stmt: &Stmt, imports: &HashMap<String, String>) -> bool {
    let targets_are_names = |targets: &[Expr]| {
        targets.iter().all(|t| match t {
            Expr::Name(_) => true,
            Expr::Tuple(tuple) => tuple.elts.iter().all(Expr::is_name_expr),
            _ => false,
        })
    };
    match stmt {
        Stmt::Assign(assign) => {
            targets_are_names(&assign.targets) && is_literal(&assign.value, imports)
        }
        Stmt::AnnAssign(assign) => {
            assign.target.is_name_expr()
                && assign
                    .value
                    .as_deref()
                    .is_some_and(|v| is_literal(v, imports))
        }
        Stmt::TypeAlias(_) => true,
        _ => false,
    }
}

/// A compound statement (`try`/`if`) that only defines things, like
/// `try: import x` / `except ImportError: x = None`, can travel as it is.
pub(super) fn is_definitions_only(stmt: &Stmt, imports: &HashMap<String, String>) -> bool {
    let all = |body: &[Stmt]| body.iter().all(|s| is_definitions_only(s, imports));
    match stmt {
        Stmt::Import(_) | Stmt::ImportFrom(_) | Stmt::FunctionDef(_) | Stmt::ClassDef(_) => true,
        Stmt::Pass(_) => true,
        Stmt::Expr(expr) => expr.value.is_string_literal_expr(),
        Stmt::Assign(_) | Stmt::AnnAssign(_) => is_constant_assignment(stmt, imports),
        Stmt::Try(try_stmt) => {
            all(&try_stmt.body)
                && all(&try_stmt.orelse)
                && all(&try_stmt.finalbody)
                && try_stmt.handlers.iter().all(|h| {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    all(&h.body)
                })
        }
        Stmt::If(if_stmt) => {
            !is_main_guard(&if_stmt.test)
                && all(&if_stmt.body)
                && if_stmt.elif_else_clauses.iter().all(|c| all(&c.body))
        }
        _ => false,
    }
}
