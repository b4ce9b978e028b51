//! The lifecycle commands' arguments and what each does on the command line: output
//! (text, or `--format json`) and exit status (0 done, 1 the work failed, 2 bad usage
//! or input). `cli` only routes to them.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, ValueEnum};

use super::cost::Prices;
use super::functions::{self, program_prefix};
use super::{Connection, LifecycleError, block_on, call, invoke, logs, stats};
use crate::cli::{CompileArgs, DeployArgs, Format, deploy_options};
use crate::deps::Arch;
use crate::plan::RemoteCalls;
use crate::{deploy, package, parse};

const BAD_INPUT: u8 = 2;
const FAILED: u8 = 1;

/// How the program was compiled, where the names and code hashes depend on it.
#[derive(Debug, Clone, Args)]
pub struct ProgramArgs {
    /// Prefix of every cloud function name, as given to the deploy.
    #[arg(long, default_value = "")]
    pub prefix: String,

    /// As `lambada --annotations`: only @cloudfunction functions move.
    #[arg(long)]
    pub annotations: bool,

    /// As `lambada --remote-calls`.
    #[arg(long, value_enum, default_value_t = RemoteCalls::Driver)]
    pub remote_calls: RemoteCalls,

    /// Architecture the functions run on.
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    pub arch: Arch,

    /// As `lambada --no-layers`.
    #[arg(long)]
    pub no_layers: bool,

    /// Output root the program is written to.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        default_value = "lambada-out"
    )]
    pub out: PathBuf,
}

impl ProgramArgs {
    /// The compile arguments of `lambada FILE` with these options (the defaults of
    /// every other flag), quiet.
    fn compile_args(&self, file: &Path, local: bool) -> CompileArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            compile: CompileArgs,
        }
        let value = |v: &dyn Fn() -> Option<clap::builder::PossibleValue>| {
            v().map(|p| p.get_name().to_owned()).unwrap_or_default()
        };
        let mut argv: Vec<OsString> = vec![
            "lambada".into(),
            "--quiet".into(),
            "--prefix".into(),
            self.prefix.clone().into(),
            "--out".into(),
            self.out.clone().into(),
            "--remote-calls".into(),
            value(&|| self.remote_calls.to_possible_value()).into(),
            "--arch".into(),
            value(&|| self.arch.to_possible_value()).into(),
        ];
        for (on, flag) in [
            (self.annotations, "--annotations"),
            (self.no_layers, "--no-layers"),
            (local, "--local"),
        ] {
            if on {
                argv.push(flag.into());
            }
        }
        argv.push("--".into());
        argv.push(file.into());
        Only::try_parse_from(argv)
            .expect("the compile arguments lambada builds parse")
            .compile
    }
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("lifecycle results serialise")
    );
}

fn failed(command: &str, err: &LifecycleError) -> ExitCode {
    match err {
        LifecycleError::Connect(deploy::DeployError::InvalidEndpoint { .. }) => {
            eprintln!("lambada {command}: error: {err}");
            ExitCode::from(BAD_INPUT)
        }
        _ => {
            eprintln!("lambada {command}: error: {err}");
            ExitCode::from(FAILED)
        }
    }
}

// ---------------------------------------------------------------------------------
// list

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// The program whose functions to list; without it, every function whose name
    /// starts with --prefix.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub program: ProgramArgs,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(flatten)]
    pub deploy: DeployArgs,
}

/// `lambada list`: each function with its status against the current source.
pub fn list(args: &ListArgs) -> ExitCode {
    let (prefix, source) = match &args.file {
        None => (args.program.prefix.clone(), None),
        Some(file) => match source_functions(file, &args.program, &args.deploy) {
            Ok((module, functions)) => (
                program_prefix(&args.program.prefix, &module),
                Some(functions),
            ),
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::from(BAD_INPUT);
            }
        },
    };
    let options = deploy_options(&args.deploy, true);
    let deployed = block_on(async {
        let conn = Connection::open(&options).await?;
        functions::deployed(&conn, &prefix).await
    });
    let deployed = match deployed {
        Ok(deployed) => deployed,
        Err(err) => return failed("list", &err),
    };
    let listed = functions::compare(source.as_ref(), &deployed);
    match args.format {
        Format::Json => print_json(&listed),
        Format::Text => print!("{}", functions::to_text(&listed)),
    }
    ExitCode::SUCCESS
}

/// The program's module name and its functions' names and CodeSha256, compiled in
/// memory as `lambada FILE` would (dependencies included).
fn source_functions(
    file: &Path,
    program: &ProgramArgs,
    deploy_args: &DeployArgs,
) -> Result<(String, BTreeMap<String, String>), String> {
    let compile = program.compile_args(file, false);
    let deps = crate::cli::deps_options(
        &compile,
        &deploy_args.runtime,
        &crate::cli::environment_python(),
    )?;
    let compiled = crate::cli::compile_all(&compile, &deps, None)?;
    let item = compiled
        .first()
        .ok_or("lambada: error: nothing to compile")?;
    let functions = item
        .output
        .manifest
        .functions
        .values()
        .map(|f| {
            (
                f.function_name.clone(),
                f.code_sha256.clone().unwrap_or_default(),
            )
        })
        .collect();
    Ok((item.output.name.clone(), functions))
}

// ---------------------------------------------------------------------------------
// remove

#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// The program whose functions to remove (every deployed function under its name
    /// prefix, those no longer in the source too).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Prefix of every cloud function name, as given to the deploy.
    #[arg(long, default_value = "")]
    pub prefix: String,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(flatten)]
    pub deploy: DeployArgs,
}

/// The module name of a program file, also when the file is gone (its functions may
/// outlive it).
fn module_of(file: &Path) -> Result<String, String> {
    match parse::read(file) {
        Ok(source) => Ok(source.module),
        Err(err) if file.exists() => Err(err.to_string()),
        Err(_) => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| format!("lambada remove: error: {}: not a file name", file.display())),
    }
}

pub fn remove(args: &RemoveArgs) -> ExitCode {
    let module = match module_of(&args.file) {
        Ok(module) => module,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let prefix = program_prefix(&args.prefix, &module);
    let options = deploy_options(&args.deploy, true);
    let removed = block_on(async {
        let conn = Connection::open(&options).await?;
        let names: Vec<String> = functions::deployed(&conn, &prefix)
            .await?
            .into_iter()
            .map(|d| d.function_name)
            .collect();
        functions::delete(&conn, &names).await
    });
    match removed {
        Ok(removed) => {
            match args.format {
                Format::Json => print_json(&serde_json::json!({ "removed": removed })),
                Format::Text => {
                    for name in &removed {
                        println!("removed {name}");
                    }
                    eprintln!(
                        "lambada remove: {} {} of {} removed",
                        removed.len(),
                        if removed.len() == 1 {
                            "function"
                        } else {
                            "functions"
                        },
                        args.file.display()
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(err) => failed("remove", &err),
    }
}

// ---------------------------------------------------------------------------------
// deploy --prune, and the orphan warning of every deploy

/// What a deploy does with deployed functions its program no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphans {
    /// Name them in a warning.
    Warn,
    /// Delete them (`deploy --prune`).
    Prune,
}

/// After a successful deploy of `dir` (a written program): finds the functions under
/// the program's prefix that its manifest does not deploy, and warns or prunes. Returns
/// the names pruned.
pub fn handle_orphans(
    dir: &Path,
    name_prefix: &str,
    deploy_args: &DeployArgs,
    orphans: Orphans,
    quiet: bool,
) -> Result<Vec<String>, String> {
    let module = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let keep: Vec<String> = deploy::load_functions(dir)
        .map_err(|e| format!("lambada: error: {e}"))?
        .into_iter()
        .map(|f| f.function_name)
        .collect();
    let prefix = program_prefix(name_prefix, &module);
    let options = deploy_options(deploy_args, true);
    let result = block_on(async {
        let conn = Connection::open(&options).await?;
        let found = functions::orphans(&conn, &prefix, &keep).await?;
        match orphans {
            Orphans::Prune => functions::delete(&conn, &found).await,
            Orphans::Warn => Ok(found),
        }
    })
    .map_err(|e| {
        let level = match orphans {
            Orphans::Prune => "error",
            Orphans::Warn => "warning",
        };
        format!("lambada: {level}: cannot look for deployed functions no longer in {module}: {e}")
    })?;
    match orphans {
        Orphans::Warn if !result.is_empty() && !quiet => eprintln!(
            "lambada: warning: deployed but no longer in {module}: {}; `lambada deploy --prune` removes them",
            result.join(", ")
        ),
        Orphans::Prune if !quiet => {
            for name in &result {
                eprintln!("  pruned {name} (no longer in {module})");
            }
        }
        _ => {}
    }
    Ok(match orphans {
        Orphans::Prune => result,
        Orphans::Warn => Vec::new(),
    })
}

#[derive(Debug, Clone, Args)]
pub struct DeployCommandArgs {
    #[command(flatten)]
    pub compile: CompileArgs,

    #[command(flatten)]
    pub deploy: DeployArgs,

    /// Also delete deployed functions under the program's name prefix that its source
    /// no longer has.
    #[arg(long)]
    pub prune: bool,
}

// ---------------------------------------------------------------------------------
// invoke

#[derive(Debug, Clone, Args)]
pub struct InvokeArgs {
    /// The Lambda function name (or ARN).
    #[arg(value_name = "FUNCTION")]
    pub function: String,

    /// The event: a JSON document, sent as is.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub data: String,

    /// Also print the end of the invocation's log (LogType Tail) to stderr.
    #[arg(long)]
    pub log: bool,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn invoke_command(args: &InvokeArgs) -> ExitCode {
    if let Err(err) = serde_json::from_str::<serde_json::Value>(&args.data) {
        eprintln!("lambada invoke: error: --data is not JSON: {err}");
        return ExitCode::from(BAD_INPUT);
    }
    let options = deploy_options(&args.deploy, true);
    let invoked = block_on(async {
        let conn = Connection::open(&options).await?;
        invoke::invoke(
            &conn,
            &args.function,
            args.data.as_bytes(),
            args.log || args.format == Format::Json,
        )
        .await
    });
    let invoked = match invoked {
        Ok(invoked) => invoked,
        Err(err) => return failed("invoke", &err),
    };
    match args.format {
        Format::Json => print_json(&invoked),
        Format::Text => {
            if let Some(log) = invoked.log.as_deref().filter(|_| args.log) {
                eprint!("{log}");
            }
            println!("{}", invoked.payload);
            if let Some(error) = &invoked.function_error {
                eprintln!("lambada invoke: {} failed ({error})", args.function);
            }
        }
    }
    if invoked.function_error.is_some() {
        ExitCode::from(FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

// ---------------------------------------------------------------------------------
// call

#[derive(Debug, Clone, Args)]
pub struct CallArgs {
    /// The Python program.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The function to call (a moved function of the program).
    #[arg(value_name = "FUNCTION")]
    pub function: String,

    /// Arguments as Python literals (`5`, `'text'`, `[1, 2]`), or `name=literal`.
    #[arg(value_name = "ARGS", allow_negative_numbers = true)]
    pub args: Vec<String>,

    /// Read one call per line from stdin (a tuple of arguments, or one literal) and
    /// print one result per line.
    #[arg(long, conflicts_with = "args")]
    pub batch: bool,

    /// Run with the in-process transport, without deploying.
    #[arg(long)]
    pub local: bool,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Python interpreter that runs the call (default: $LAMBADA_PYTHON, else python3).
    #[arg(long)]
    pub python: Option<String>,

    #[command(flatten)]
    pub program: ProgramArgs,

    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn call_command(args: &CallArgs) -> ExitCode {
    let python = args
        .python
        .clone()
        .unwrap_or_else(crate::cli::environment_python);
    let compile = args.program.compile_args(&args.file, args.local);
    let prepared = crate::cli::deps_options(&compile, &args.deploy.runtime, &python)
        .and_then(|deps| crate::cli::compile_all(&compile, &deps, None));
    let compiled = match prepared {
        Ok(compiled) => compiled,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let Some(item) = compiled.first() else {
        return ExitCode::from(BAD_INPUT);
    };
    let manifest = &item.output.manifest;
    if !manifest.functions.contains_key(&args.function) {
        let why = match manifest.kept_local.get(&args.function) {
            Some(kept) => format!(
                "it stays local ({}, line {}); call it in the program itself",
                kept.reason, kept.line
            ),
            None => "the program has no function of that name that lambada moves".to_owned(),
        };
        eprintln!(
            "{}: error: `{}` is not a cloud function: {why}",
            args.file.display(),
            args.function
        );
        return ExitCode::from(BAD_INPUT);
    }
    if manifest.functions[&args.function].kind != crate::plan::UnitKind::Function {
        eprintln!(
            "{}: error: `{}` is a class; `lambada call` calls functions",
            args.file.display(),
            args.function
        );
        return ExitCode::from(BAD_INPUT);
    }
    let dir = match package::write(&item.output, &args.program.out) {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!(
                "lambada call: error: cannot write {}: {err}",
                args.program.out.display()
            );
            return ExitCode::from(FAILED);
        }
    };
    if !args.local {
        let options = deploy_options(&args.deploy, true);
        match deploy::deploy_blocking(&dir, &options) {
            Ok(summary) if summary.is_success() => {
                if let Err(err) = deploy::mark_deployed(&dir, &summary.endpoint, &summary.region) {
                    eprintln!("lambada call: error: {err}");
                    return ExitCode::from(FAILED);
                }
            }
            Ok(summary) => {
                eprint!("{summary}");
                return ExitCode::from(FAILED);
            }
            Err(err) => {
                eprintln!("lambada call: error: {err}");
                return ExitCode::from(FAILED);
            }
        }
    }
    let request = call::CallRequest {
        out_dir: &dir,
        module: &item.output.name,
        function: &args.function,
        args: &args.args,
        batch: args.batch,
        json: args.format == Format::Json,
        python: &python,
    };
    match call::run(&request) {
        Ok(status) => ExitCode::from(
            status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(FAILED),
        ),
        Err(err) => {
            eprintln!("lambada call: error: cannot start {python}: {err}; pass --python");
            ExitCode::from(BAD_INPUT)
        }
    }
}

// ---------------------------------------------------------------------------------
// logs

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The Lambda function name (its log group is /aws/lambda/FUNCTION).
    #[arg(value_name = "FUNCTION")]
    pub function: String,

    /// Keep printing new events as they arrive (until interrupted).
    #[arg(short = 'f', long)]
    pub follow: bool,

    /// Only events this recent: 30s, 10m, 2h, 1d (default: all).
    #[arg(long, value_name = "AGE")]
    pub since: Option<String>,

    /// `json`: one JSON object per event and line.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn logs_command(args: &LogsArgs) -> ExitCode {
    let start = match args.since.as_deref().map(logs::parse_since).transpose() {
        Ok(since) => since.map_or(0, logs::start_time),
        Err(message) => {
            eprintln!("lambada logs: error: {message}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let options = deploy_options(&args.deploy, true);
    let result = block_on(async {
        let conn = Connection::open(&options).await?;
        let mut seen = HashSet::new();
        let mut from = start;
        loop {
            let events = match logs::events(&conn, &args.function, from, &mut seen).await {
                // Not invoked yet: no group. Following waits for it.
                Err(err) if args.follow && logs::is_missing_group(&err) => Vec::new(),
                other => other?,
            };
            if let Some(last) = events.iter().map(|e| e.timestamp).max() {
                from = from.max(last);
            }
            if !print_events(&events, args.format) {
                return Ok(()); // stdout closed (`| head`): done.
            }
            if !args.follow {
                return Ok(());
            }
            tokio::time::sleep(logs::FOLLOW_INTERVAL).await;
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if logs::is_missing_group(&err) => {
            eprintln!(
                "lambada logs: error: no logs for {} (log group {} does not exist: the function was never invoked, or the endpoint keeps no logs)",
                args.function,
                logs::group_name(&args.function)
            );
            ExitCode::from(FAILED)
        }
        Err(err) => failed("logs", &err),
    }
}

/// Prints events; false once stdout is closed.
fn print_events(events: &[logs::LogEvent], format: Format) -> bool {
    let mut out = std::io::stdout().lock();
    for event in events {
        let written = match format {
            Format::Json => writeln!(
                out,
                "{}",
                serde_json::to_string(event).expect("events serialise")
            ),
            Format::Text if event.message.ends_with('\n') => write!(out, "{}", event.message),
            Format::Text => writeln!(out, "{}", event.message),
        };
        if written.is_err() {
            return false;
        }
    }
    out.flush().is_ok()
}

// ---------------------------------------------------------------------------------
// stats

/// Overrides of the price table (see `lifecycle::cost` and the README).
#[derive(Debug, Clone, Args)]
pub struct PriceArgs {
    /// USD per GB-second (default: AWS's us-east-1 price for --arch).
    #[arg(long, value_name = "USD")]
    pub price_gb_s: Option<f64>,

    /// USD per request (default: AWS's 0.0000002, i.e. $0.20 per million).
    #[arg(long, value_name = "USD")]
    pub price_request: Option<f64>,

    /// A pricing file (TOML, or JSON with a .json name): `gb_second = USD`,
    /// `request = USD`; flags win over it.
    #[arg(long, value_name = "FILE")]
    pub pricing: Option<PathBuf>,
}

impl PriceArgs {
    pub fn prices(&self, arch: Arch) -> Result<Prices, String> {
        let mut prices = Prices::aws(arch);
        if let Some(path) = &self.pricing {
            prices = Prices::from_file(path, prices)?;
        }
        if let Some(p) = self.price_gb_s {
            prices.gb_second = p;
        }
        if let Some(p) = self.price_request {
            prices.request = p;
        }
        prices.check()?;
        Ok(prices)
    }
}

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// An invocation log (`lambada serve --invocation-log FILE`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Only functions whose name starts with this.
    #[arg(long, default_value = "")]
    pub prefix: String,

    /// Architecture the prices are for.
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    pub arch: Arch,

    #[command(flatten)]
    pub prices: PriceArgs,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn stats_command(args: &StatsArgs) -> ExitCode {
    let prices = match args.prices.prices(args.arch) {
        Ok(prices) => prices,
        Err(message) => {
            eprintln!("lambada stats: error: {message}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let rows = match crate::host::invocation_log::read_rows(&args.file) {
        Ok(rows) => rows,
        Err(err) => {
            eprintln!("lambada stats: error: {err}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| r.function.starts_with(&args.prefix))
        .collect();
    let summary = stats::summarise(&rows, prices);
    match args.format {
        Format::Json => print_json(&summary),
        Format::Text => print!("{}", summary.to_text()),
    }
    ExitCode::SUCCESS
}
