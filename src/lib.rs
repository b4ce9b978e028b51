//! lambada: FaaSify Python programs.
//!
//! The pipeline, one module per stage, data flowing one way:
//! `parse` → `analysis` → `plan` → `rewrite` + `codegen` → `package` → `deploy`,
//! with `diff` for review and `host` as the embedded Lambda-compatible endpoint.
//! `profile` is the dynamic analysis: a run of the original program whose figures the
//! plan's cost model (`plan::cost`) reads. `lifecycle` lists, removes, invokes and reads
//! the logs and invocation log of deployed programs. `inplace` is the compiler's side of
//! `lambada.move(globals())` (the Python package in `python/lambada`). `cli` only wires
//! the stages together.

pub mod analysis;
pub mod cli;
pub mod codegen;
pub mod config;
pub mod deploy;
pub mod deps;
pub mod diff;
pub mod host;
pub mod inplace;
pub mod lifecycle;
pub mod package;
pub mod parse;
pub mod plan;
pub mod profile;
pub mod providers;
pub mod report;
pub mod rewrite;
pub mod run;

use std::path::Path;

/// Everything the compiler produces for one program, in memory.
#[derive(Debug)]
pub struct Compiled {
    pub parsed: parse::ParsedModule,
    pub facts: analysis::ModuleFacts,
    pub plan: plan::Plan,
    pub output: package::Output,
    pub report: report::Report,
}

#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub plan: plan::PlanOptions,
    /// Prefix of every cloud function name.
    pub prefix: String,
    /// Look for local modules beside the file (off for library sources, where every
    /// sibling would count).
    pub local_modules: bool,
    /// Concurrent invocations at most in a fan-out (the manifest's `fanout`).
    pub fanout: u32,
    /// `--profile`: a profile and the cost model that decides with it.
    pub guide: Option<plan::cost::Guide>,
    /// Functions and classes kept local by name (`[tool.lambada] exclude`).
    pub exclude: std::collections::BTreeSet<String>,
    /// `--provider`: the platform whose entry points the packages get.
    pub provider: providers::ProviderKind,
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Input(#[from] parse::InputError),
    #[error(
        "{path}:{line}: error: `{name}` is a name lambada reserves for the code it generates (names starting with _lambada); rename it"
    )]
    ReservedName {
        path: std::path::PathBuf,
        line: usize,
        name: String,
    },
    /// A setting of the program's own (`@cloudfunction(memory=100)`) that Lambda would
    /// refuse, rendered like a syntax error.
    #[error("{0}")]
    Setting(parse::SyntaxError),
    #[error("{path}: {source}")]
    Rewrite {
        path: std::path::PathBuf,
        source: rewrite::OverlapError,
    },
}

/// The whole pipeline for one source file: parse, analyse, plan, rewrite, generate,
/// package, all in memory. Nothing is written.
pub fn compile(source: parse::Source, options: &CompileOptions) -> Result<Compiled, CompileError> {
    let parsed = parse::parse(source)?;
    let dir = parsed.source.path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    let facts = analysis::analyse(&parsed, dir.filter(|_| options.local_modules));
    if let Some((name, facts_of_name)) = facts
        .names
        .iter()
        .find(|(name, _)| name.starts_with(analysis::RUNTIME_ALIAS))
    {
        let line = facts_of_name
            .statements
            .first()
            .map_or(1, |&i| facts.statements[i].line);
        return Err(CompileError::ReservedName {
            path: parsed.source.path.clone(),
            line,
            name: name.clone(),
        });
    }
    if let Some(bad) = facts.setting_errors.first() {
        return Err(CompileError::Setting(
            parsed.error_at(bad.at, bad.message.clone()),
        ));
    }
    let plan = plan::plan_excluding(
        &facts,
        options.plan,
        options.guide.as_ref(),
        &options.exclude,
    );
    let driver =
        rewrite::driver(&parsed, &facts, &plan).map_err(|source| CompileError::Rewrite {
            path: parsed.source.path.clone(),
            source,
        })?;
    let mut output = package::build(
        &parsed,
        &facts,
        &plan,
        driver,
        &options.prefix,
        options.provider,
    );
    if options.fanout != package::DEFAULT_FANOUT {
        output.set_fanout(options.fanout);
    }
    let report = report::build(&parsed, &facts, &plan, &options.prefix);
    Ok(Compiled {
        parsed,
        facts,
        plan,
        output,
        report,
    })
}
