//! `lambada call app.py func ARGS...`: one call of a program's function through the
//! rewritten program's stub, run by `templates/call.py` in the program's interpreter.

use std::path::Path;
use std::process::{Command, ExitStatus};

/// The Python side, compiled into the binary like every template.
const CALL_SCRIPT: &str = include_str!("../../templates/call.py");

/// How to call.
#[derive(Debug, Clone)]
pub struct CallRequest<'a> {
    /// The written output directory of the program (its driver and manifest).
    pub out_dir: &'a Path,
    /// The driver's module name.
    pub module: &'a str,
    pub function: &'a str,
    /// Python literals, or `name=literal`.
    pub args: &'a [String],
    /// One call per line of stdin.
    pub batch: bool,
    pub json: bool,
    pub python: &'a str,
}

/// Runs the call (or the batch); stdout gets one result line per call. The status is
/// 0 when every call returned, 1 when one raised, 2 for arguments that are not
/// literals or a function the program does not have.
pub fn run(request: &CallRequest) -> std::io::Result<ExitStatus> {
    let scratch = tempfile::Builder::new().prefix("lambada-call.").tempdir()?;
    let script = scratch.path().join("call.py");
    std::fs::write(&script, CALL_SCRIPT)?;
    let format = match (request.json, request.batch) {
        (false, false) => "text",
        (true, false) => "json",
        (false, true) => "text+batch",
        (true, true) => "json+batch",
    };
    Command::new(request.python)
        .arg(&script)
        .arg(request.out_dir)
        .arg(request.module)
        .arg(request.function)
        .arg(format)
        .args(request.args)
        .status()
}
