//! The command line: parses arguments and wires the pipeline stages together.
//! No stage logic lives here.

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::deps::{self, Arch, DepsOptions, IndexOptions, Installer, Target};
use crate::host::{AccessKey, HostConfig};
use crate::lifecycle::commands::{Orphans, PriceArgs};
use crate::plan::cost::Guide;
use crate::plan::{PlanOptions, RemoteCalls};
use crate::providers::ProviderKind;
use crate::report::plural;
use crate::{
    CompileOptions, Compiled, config, deploy, diff, inplace, lifecycle, package, parse, profile,
    providers, run,
};

/// FaaSify Python programs: calls to a program's functions and classes become
/// invocations of cloud functions (AWS Lambda or any Lambda-compatible endpoint).
#[derive(Debug, Parser)]
#[command(
    name = "lambada",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  lambada --local app.py          rewrite and package into lambada-out/app/\n  lambada --local --diff app.py   ...and show every change as a unified diff\n  lambada run app.py              deploy to an embedded host and run the program\n  lambada serve                   run the Lambda-compatible host on 127.0.0.1:10000"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub compile: CompileArgs,

    #[command(flatten)]
    pub deploy: DeployArgs,

    /// A profile from `lambada profile`: a function or class moves only when its calls
    /// take at least 10x what an invocation costs (the cost model; see the README).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded Lambda-compatible host.
    Serve(ServeArgs),
    /// Deploy a program to an embedded host started for the occasion, run it, stop the host.
    Run(RunArgs),
    /// Run the original program once, locally, and record its functions' and classes'
    /// calls, times and argument sizes into OUT/<stem>.profile.json (for --profile).
    Profile(ProfileArgs),
    /// Compile and deploy a program (as `lambada FILE`); --prune also deletes deployed
    /// functions its source no longer has.
    Deploy(lifecycle::commands::DeployCommandArgs),
    /// List a program's deployed functions (or those under --prefix): code hash, last
    /// modified, and current / stale / missing / orphan against the source.
    List(lifecycle::commands::ListArgs),
    /// Remove a program's deployed functions.
    Remove(lifecycle::commands::RemoveArgs),
    /// Invoke a deployed function with a raw JSON event and print its response.
    Invoke(lifecycle::commands::InvokeArgs),
    /// Call one function of a program with Python literals as arguments, through its
    /// stub (deployed first, or --local in-process); --batch reads calls from stdin.
    Call(lifecycle::commands::CallArgs),
    /// Print a function's logs (CloudWatch Logs; the embedded host keeps them too).
    Logs(lifecycle::commands::LogsArgs),
    /// Sum up an invocation log per function, with the estimated AWS bill.
    Stats(lifecycle::commands::StatsArgs),
    /// The compiler side of `lambada.move(globals())` (the Python package calls it):
    /// compile FILE into OUT, deploy, print the plan as one line of JSON, and with the
    /// embedded host serve until standard input closes.
    #[command(name = "move-plan", hide = true)]
    MovePlan(MoveArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MoveArgs {
    #[command(flatten)]
    pub compile: CompileArgs,

    #[command(flatten)]
    pub deploy: DeployArgs,

    /// The program's interpreter: dependencies are built for it, and the embedded
    /// host's workers run it.
    #[arg(long, default_value = "python3")]
    pub python: String,

    /// Warm workers per function on the embedded host (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub max_workers: Option<usize>,
}

#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// The Python program to run.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Directory the profile is written to, as <stem>.profile.json.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        default_value = "lambada-out"
    )]
    pub out: PathBuf,

    /// Python interpreter that runs the program (3.12+ profiles with sys.monitoring,
    /// older ones with sys.setprofile).
    #[arg(long, default_value = "python3")]
    pub python: String,

    /// Say nothing but errors.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Arguments passed to the program.
    #[arg(last = true)]
    pub program_args: Vec<String>,
}

/// How a Python program is analysed, rewritten and packaged.
#[derive(Debug, Clone, Args)]
pub struct CompileArgs {
    /// Python files to FaaSify.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Rewrite and package only; the rewritten program runs its cloud functions in-process.
    #[arg(long)]
    pub local: bool,

    /// Print a unified diff of every generated file against its source (`lambada run`:
    /// on stderr, before the program runs).
    #[arg(long)]
    pub diff: bool,

    /// The platform the cloud functions are made for: each gets that platform's entry
    /// point (handler), manifest fields and deployment; the program calls them through
    /// that platform's transport.
    #[arg(long, value_enum, default_value_t = ProviderKind::Aws)]
    pub provider: ProviderKind,

    /// Move only functions decorated with @cloudfunction (memory=MB, duration=seconds).
    #[arg(long)]
    pub annotations: bool,

    /// Output root; each FILE gets its own directory below it [default: lambada-out;
    /// `lambada run`: a temporary directory, removed afterwards].
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Which calls cross the network: `driver` (only calls from the rewritten program;
    /// calls inside a cloud function stay local) or `all` (every call to a moved function,
    /// recursion included, is an invocation).
    #[arg(long, value_enum, default_value_t = RemoteCalls::Driver)]
    pub remote_calls: RemoteCalls,

    /// Print the analysis: each function and class, moved or kept local and why.
    #[arg(short = 'v', long = "debug", visible_alias = "verbose")]
    pub debug: bool,

    /// Say nothing but errors.
    #[arg(short = 'q', long, conflicts_with = "debug")]
    pub quiet: bool,

    /// Output format of the analysis report and summaries (`lambada run`: a JSON run
    /// report on stderr once the program exits).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Prefix of every cloud function name (separates projects on one account).
    #[arg(long, default_value = "")]
    pub prefix: String,

    /// Concurrent invocations at most when independent calls of a cloud function fan
    /// out (`map(f, xs)`, `[f(x) for x in xs]`...); 1 keeps them sequential.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub fanout: u32,

    /// Memory of a cloud function whose @cloudfunction does not set it [default: 128].
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u32).range(128..=10240))]
    pub memory: Option<u32>,

    /// Timeout of a cloud function whose @cloudfunction does not set it [default: 30].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=900))]
    pub timeout: Option<u32>,

    /// Keep this function or class local (repeatable; `exclude = [...]` in
    /// `[tool.lambada]`).
    #[arg(long, value_name = "NAME")]
    pub exclude: Vec<String>,

    /// Put third-party packages inside each function's zip instead of one shared layer
    /// per dependency set.
    #[arg(long)]
    pub no_layers: bool,

    /// Architecture the functions run on; packages are built for it.
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    pub arch: Arch,

    /// Also look for wheels here (a directory or URL), as pip's --find-links.
    #[arg(long, value_name = "DIR")]
    pub find_links: Vec<String>,

    /// Install packages only from --find-links, never from the package index.
    #[arg(long)]
    pub no_index: bool,

    /// With the in-process transport: run cloud functions with this environment's
    /// packages and working directory instead of the package's own view.
    #[arg(long)]
    pub host_env: bool,

    /// Megabytes of data files (read by a cloud function from beside the program) one
    /// function may carry.
    #[arg(long, value_name = "MB", default_value_t = 20)]
    pub data_limit: u64,

    /// Where built dependency sets are cached (default: $LAMBADA_CACHE_DIR, else
    /// ~/.cache/lambada).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CompileArgs {
    /// The output root: `-o DIR`, else `lambada-out`.
    pub fn out_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_OUT))
    }
}

/// Where compiled programs go without `-o`.
pub const DEFAULT_OUT: &str = "lambada-out";

/// Where and how cloud functions are deployed.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// Lambda API endpoint (e.g. http://127.0.0.1:10000 for `lambada serve`).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// AWS region (default: the standard chain, then us-east-1).
    #[arg(long)]
    pub region: Option<String>,

    /// AWS profile from the shared config files (AWS_PROFILE works too).
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,

    /// Execution role ARN for created functions.
    #[arg(long, env = "LAMBADA_ROLE_ARN")]
    pub role: Option<String>,

    /// Functions deployed at once.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,

    /// Lambda runtime of created functions.
    #[arg(long, default_value = "python3.12")]
    pub runtime: String,

    /// With --provider gcf, azure or fission: run the printed commands of the
    /// platform's CLI (gcloud, func, fission) instead of only printing them.
    #[arg(long)]
    pub deploy: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to bind; anything but loopback is reachable from other machines.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,

    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 10000)]
    pub port: u16,

    /// Print the endpoint URL as the first line of stdout once listening.
    #[arg(long)]
    pub print_endpoint: bool,

    /// Where functions are stored (default: the platform data directory).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Warm workers per function (default: number of cores).
    #[arg(long)]
    pub max_workers: Option<usize>,

    /// Synchronous invocations that may wait per function when all its workers are busy;
    /// beyond that, TooManyRequestsException (429).
    #[arg(long, default_value_t = 128)]
    pub max_queue: usize,

    /// Access key whose signatures are verified (with --secret-key).
    #[arg(long, requires = "secret_key")]
    pub access_key: Option<String>,

    /// Secret key for --access-key.
    #[arg(long, requires = "access_key")]
    pub secret_key: Option<String>,

    /// JSON file of tenants: [{"access_key": ..., "secret_key": ...}, ...].
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<PathBuf>,

    /// Python interpreter that runs the workers.
    #[arg(long, default_value = "python3")]
    pub python: String,

    /// How workers are isolated: `sandbox` (namespaces, private root and /tmp, Landlock,
    /// rlimits), `process` (Landlock and rlimits only) or `none`. Default: `sandbox` where
    /// the kernel allows it, else `process` with a notice.
    #[arg(long, value_parser = ["none", "process", "sandbox"], value_name = "MODE")]
    pub isolation: Option<String>,

    /// How long the session credentials given to each worker last, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::host::DEFAULT_SESSION_TTL.as_secs())]
    pub session_ttl: u64,

    /// Seconds a failed asynchronous invocation waits before its first retry (twice that
    /// before the second), as Lambda's one and two minutes.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub event_retry_delay: u64,

    /// The 12-digit account ID in every ARN (AWS's documentation and moto use
    /// 123456789012).
    #[arg(long, value_name = "ID", default_value = crate::host::ACCOUNT_ID)]
    pub account_id: String,

    /// SQLite file that gets one row per invocation (time, tenant, function, duration,
    /// billed ms, memory, status, error type); `lambada stats FILE` reads it.
    #[arg(long, value_name = "FILE")]
    pub invocation_log: Option<PathBuf>,

    /// Log one line per request to stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

impl ServeArgs {
    /// The host configuration these arguments ask for (bad values are usage errors).
    pub fn host_config(&self) -> Result<HostConfig, String> {
        let bind: IpAddr = match self.bind.as_str() {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            other => other
                .parse()
                .map_err(|_| format!("--bind {other}: not an IP address"))?,
        };
        let state_dir = match &self.state_dir {
            Some(dir) => dir.clone(),
            None => crate::host::default_state_dir()
                .ok_or("no home directory to keep state in; pass --state-dir DIR")?,
        };
        let mut config = HostConfig::new(state_dir);
        config.bind = bind;
        config.port = self.port;
        config.verbose = self.verbose;
        config.python = PathBuf::from(&self.python);
        config.python_for_every_runtime = false;
        config.isolation = match &self.isolation {
            Some(mode) => mode.parse()?,
            None => crate::host::Isolation::Auto,
        };
        if self.session_ttl == 0 {
            return Err("--session-ttl must be at least 1 second".into());
        }
        config.session_ttl = std::time::Duration::from_secs(self.session_ttl);
        config.event_retry_delay = std::time::Duration::from_secs(self.event_retry_delay);
        config.account_id = self.account_id.clone();
        if let Some(n) = self.max_workers {
            if n == 0 {
                return Err("--max-workers must be at least 1".into());
            }
            config.max_workers = n;
        }
        config.max_queue = self.max_queue;
        config.invocation_log = self.invocation_log.clone();
        if let (Some(access_key), Some(secret_key)) = (&self.access_key, &self.secret_key) {
            config.access_keys.push(AccessKey {
                access_key: access_key.clone(),
                secret_key: secret_key.clone(),
            });
        }
        if let Some(path) = &self.accounts {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--accounts {}: {e}", path.display()))?;
            let keys: Vec<AccessKey> = serde_json::from_str(&text).map_err(|e| {
                format!(
                    "--accounts {}: {e} (expected [{{\"access_key\": ..., \"secret_key\": ...}}, ...])",
                    path.display()
                )
            })?;
            config.access_keys.extend(keys);
        }
        Ok(config)
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub compile: CompileArgs,

    /// Print deploy and invocation statistics to stderr, with the calls that ran
    /// locally through a function's twin and why, and per function: calls, errors,
    /// p50/p99 duration, billed ms and the estimated AWS bill.
    #[arg(long)]
    pub stats: bool,

    /// Keep the embedded host's invocation log (SQLite) in FILE.
    #[arg(long, value_name = "FILE")]
    pub invocation_log: Option<PathBuf>,

    #[command(flatten)]
    pub prices: PriceArgs,

    /// Also run every invocation through the local twin on a deep copy and report the
    /// first difference in results, written-back state or output (LAMBADA_VERIFY=1).
    #[arg(long)]
    pub verify: bool,

    /// Python interpreter for the program and the workers (with --provider gcf, azure
    /// or fission: for the platform's local runner too, which needs its packages).
    #[arg(long, env = "LAMBADA_PYTHON", default_value = "python3")]
    pub python: String,

    /// Warm workers per function on the embedded host (default: the number of cores):
    /// the width a fan-out can really run at.
    #[arg(long, value_name = "N")]
    pub max_workers: Option<usize>,
    /// Let a profile decide what moves: `--profile` runs the original program once
    /// under `lambada profile` first, quietly, into OUT/<stem>.profile.json (and reuses
    /// that file while the source is unchanged); `--profile=FILE` uses a given profile.
    #[arg(
        long,
        value_name = "FILE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub profile: Option<String>,

    /// Arguments passed to the program.
    #[arg(last = true)]
    pub program_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn main() -> ExitCode {
    quiet_on_closed_output();
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Some(Command::Serve(args)) => match args.host_config() {
            Ok(config) => crate::host::serve(config, args.print_endpoint),
            Err(e) => {
                eprintln!("lambada serve: error: {e}");
                ExitCode::from(BAD_INPUT)
            }
        },
        Some(Command::Run(mut args)) => {
            let run_matches = matches.subcommand_matches("run").unwrap_or(&matches);
            if let Err(code) = configure(&mut args.compile, None, run_matches) {
                return code;
            }
            run_command(&args)
        }
        Some(Command::Profile(args)) => profile_command(&args),
        Some(Command::Deploy(mut args)) => {
            let deploy_matches = matches.subcommand_matches("deploy").unwrap_or(&matches);
            if let Err(code) = configure(&mut args.compile, Some(&mut args.deploy), deploy_matches)
            {
                return code;
            }
            let orphans = if args.prune {
                Orphans::Prune
            } else {
                Orphans::Warn
            };
            compile_command(&args.compile, &args.deploy, None, orphans)
        }
        Some(Command::List(args)) => lifecycle::commands::list(&args),
        Some(Command::Remove(args)) => lifecycle::commands::remove(&args),
        Some(Command::Invoke(args)) => lifecycle::commands::invoke_command(&args),
        Some(Command::Call(args)) => lifecycle::commands::call_command(&args),
        Some(Command::Logs(args)) => lifecycle::commands::logs_command(&args),
        Some(Command::Stats(args)) => lifecycle::commands::stats_command(&args),
        Some(Command::MovePlan(args)) => move_command(&args),
        None => {
            if let Some(message) = unknown_command(&cli.compile.files) {
                eprintln!("{message}");
                return ExitCode::from(BAD_INPUT);
            }
            if let Err(code) = configure(&mut cli.compile, Some(&mut cli.deploy), &matches) {
                return code;
            }
            compile_command(
                &cli.compile,
                &cli.deploy,
                cli.profile.as_deref(),
                Orphans::Warn,
            )
        }
    }
}

/// Settles every setting from the flags, the program's pyproject.toml and the defaults
/// (see `config`), and writes the results back into the arguments; `-v` says where
/// each came from. The error is the exit status to give.
fn configure(
    compile: &mut CompileArgs,
    deploy: Option<&mut DeployArgs>,
    matches: &ArgMatches,
) -> Result<(), ExitCode> {
    let Some(program) = compile.files.first().cloned() else {
        return Ok(());
    };
    // A value the user gave: on the command line or through the flag's variable.
    let given = |id: &str, flag: &str| match matches.value_source(id) {
        Some(ValueSource::CommandLine) => Some(flag.to_owned()),
        Some(ValueSource::EnvVariable) => Some(match id {
            "role" => "LAMBADA_ROLE_ARN".to_owned(),
            _ => format!("{flag}'s environment variable"),
        }),
        _ => None,
    };
    let with = |value: Option<String>, id: &str, flag: &str| {
        value.and_then(|v| given(id, flag).map(|f| (v, f)))
    };
    let flags = config::Flags {
        endpoint: deploy
            .as_ref()
            .and_then(|d| with(d.endpoint.clone(), "endpoint", "--endpoint")),
        region: deploy
            .as_ref()
            .and_then(|d| with(d.region.clone(), "region", "--region")),
        role: deploy
            .as_ref()
            .and_then(|d| with(d.role.clone(), "role", "--role")),
        prefix: with(Some(compile.prefix.clone()), "prefix", "--prefix"),
        memory: compile.memory.map(|v| (v, "--memory".to_owned())),
        timeout: compile.timeout.map(|v| (v, "--timeout".to_owned())),
        remote_calls: given("remote_calls", "--remote-calls").map(|f| (compile.remote_calls, f)),
        fanout: given("fanout", "--fanout").map(|f| (compile.fanout, f)),
        exclude: (!compile.exclude.is_empty())
            .then(|| (compile.exclude.clone(), "--exclude".to_owned())),
    };
    let settings = match config::resolve(&program, flags) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            return Err(ExitCode::from(BAD_INPUT));
        }
    };
    if compile.debug {
        eprint!("{}", settings.describe());
    }
    compile.prefix = settings.prefix.value;
    compile.memory = Some(settings.memory.value);
    compile.timeout = Some(settings.timeout.value);
    compile.remote_calls = settings.remote_calls.value;
    compile.fanout = settings.fanout.value;
    compile.exclude = settings.exclude.value;
    if let Some(deploy) = deploy {
        deploy.endpoint = settings.endpoint.value;
        deploy.region = settings.region.value;
        deploy.role = settings.role.value;
    }
    Ok(())
}

/// `print!` panics when stdout is a closed pipe (`lambada ... | head -1`), and Rust
/// ignores SIGPIPE so that the host survives clients and workers that go away. A closed
/// stdout or stderr means whoever reads it is gone: stop quietly, with the status a
/// process killed by SIGPIPE has (128 + 13), as `cat` would.
fn quiet_on_closed_output() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        let closed_pipe = format!("(os error {})", libc::EPIPE);
        if message.starts_with("failed printing to std") && message.contains(&closed_pipe) {
            std::process::exit(128 + libc::SIGPIPE);
        }
        default_hook(info);
    }));
}

/// `lambada lsit`: a first FILE that is no file, has no `.py` and looks like a word is
/// a mistyped command, not a program. The commands come from clap's own list, so every
/// subcommand is covered.
fn unknown_command(files: &[PathBuf]) -> Option<String> {
    let first = files.first()?;
    let word = first.to_str()?;
    let looks_like_a_command = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !looks_like_a_command || first.exists() || word.ends_with(".py") {
        return None;
    }
    let command = <Cli as clap::CommandFactory>::command();
    let names: Vec<String> = command
        .get_subcommands()
        .flat_map(|sub| {
            std::iter::once(sub.get_name().to_owned())
                .chain(sub.get_all_aliases().map(str::to_owned))
        })
        .filter(|name| name != "help")
        .collect();
    let closest = names
        .iter()
        .map(|name| (strsim::jaro(word, name), name))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let mut message = format!("lambada: error: unknown command '{word}'");
    match closest {
        Some((_, name)) => message += &format!("\n  tip: a similar command exists: '{name}'"),
        None => message += &format!("\n  commands: {}", names.join(", ")),
    }
    message += &format!("\n  (a program is a Python file: no file named {word} exists here)");
    Some(message)
}

/// Exit statuses: 0 success, 1 the work failed, 2 bad usage or bad input.
const BAD_INPUT: u8 = 2;
const FAILED: u8 = 1;

fn compile_command(
    args: &CompileArgs,
    deploy_args: &DeployArgs,
    profile_file: Option<&Path>,
    orphans: Orphans,
) -> ExitCode {
    if !package::is_valid_prefix(&args.prefix) {
        eprintln!(
            "lambada: error: --prefix {:?} may only contain letters, digits, '-' and '_' (Lambda function names)",
            args.prefix
        );
        return ExitCode::from(BAD_INPUT);
    }
    let deps = match deps_options(args, &deploy_args.runtime, &environment_python()) {
        Ok(deps) => deps,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let guide = match profile_file.map(profile::load).transpose() {
        Ok(profile) => profile.map(Guide::new),
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    if let (Some(guide), Some(file), Some(path)) = (&guide, args.files.first(), profile_file)
        && !profile::made_from(&guide.profile, file)
        && !args.quiet
    {
        eprintln!(
            "{}: warning: {} was made from another version of this program; its figures may not describe it (run `lambada profile` again)",
            file.display(),
            path.display()
        );
    }
    let compiled = match compile_all(args, &deps, guide) {
        Ok(compiled) => compiled,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let mut written = Vec::new();
    let out = args.out_dir();
    for item in &compiled {
        match package::write(&item.output, &out) {
            Ok(dir) => written.push(dir),
            Err(err) => {
                eprintln!(
                    "lambada: error: cannot write {}: {err}",
                    out.join(&item.output.name).display()
                );
                return ExitCode::from(FAILED);
            }
        }
    }
    print_results(args, &compiled, &written);
    if args.local {
        return ExitCode::SUCCESS;
    }
    match args.provider {
        ProviderKind::Aws => deploy_outputs(args, deploy_args, &written, orphans),
        _ => deploy_with_provider(args, deploy_args, &compiled, &written),
    }
}

/// Deployment to a platform other than AWS: lambada's own client where the provider
/// has one, else the platform CLI's commands, printed (and run with `--deploy`).
fn deploy_with_provider(
    args: &CompileArgs,
    deploy_args: &DeployArgs,
    compiled: &[Compiled],
    dirs: &[PathBuf],
) -> ExitCode {
    let provider = providers::provider(args.provider);
    let target = providers::DeployTarget {
        region: deploy_args.region.clone(),
        endpoint: deploy_args.endpoint.clone(),
        runtime: deploy_args.runtime.clone(),
    };
    for (item, dir) in compiled.iter().zip(dirs) {
        let commands = match provider.deployment(dir, &item.output.manifest, &target) {
            providers::Deployment::Commands(commands) => commands,
            providers::Deployment::Client => {
                eprintln!(
                    "lambada: error: --provider {}: this build has no deploy client for it; use --local",
                    args.provider
                );
                return ExitCode::from(FAILED);
            }
        };
        println!(
            "# Deploy {} to {} (not tested against the real platform):",
            dir.display(),
            args.provider
        );
        for command in &commands {
            println!("{}", command.shell_line());
        }
        if deploy_args.deploy {
            for command in &commands {
                if !providers::on_path(&command.program) {
                    eprintln!(
                        "lambada: error: --deploy: `{}` is not installed (not on PATH); install it or run the commands above yourself",
                        command.program
                    );
                    return ExitCode::from(FAILED);
                }
                let status = std::process::Command::new(&command.program)
                    .args(&command.args)
                    .current_dir(&command.dir)
                    .status();
                if !status.is_ok_and(|s| s.success()) {
                    eprintln!("lambada: error: --deploy: failed: {}", command.shell_line());
                    return ExitCode::from(FAILED);
                }
            }
        }
        let driver = dir.join(format!("{}.py", item.output.name));
        match &deploy_args.endpoint {
            Some(endpoint) => {
                if let Err(err) = providers::mark_deployed(dir, provider.transport(), endpoint) {
                    eprintln!("lambada: error: cannot update {}: {err}", dir.display());
                    return ExitCode::from(FAILED);
                }
                if !args.quiet {
                    eprintln!(
                        "  the program calls {endpoint} through transport {}: python3 {}",
                        provider.transport(),
                        driver.display()
                    );
                }
            }
            None if !args.quiet => eprintln!(
                "  once deployed, run it against them: LAMBADA_TRANSPORT={} LAMBADA_ENDPOINT=URL python3 {} (or pass --endpoint URL)",
                provider.transport(),
                driver.display()
            ),
            None => {}
        }
    }
    ExitCode::SUCCESS
}

fn run_command(args: &RunArgs) -> ExitCode {
    let Some(file) = run::single_file(&args.compile.files) else {
        eprintln!("{}", run_files_error(&args.compile.files));
        return ExitCode::from(BAD_INPUT);
    };
    // The embedded host runs every function on --python: build packages for it, and
    // start the program and the workers with its real executable.
    let interpreter = deps::interpreter(&args.python).and_then(|interpreter| {
        deps_options(&args.compile, &interpreter.runtime, &interpreter.executable)
            .map(|deps| (deps, interpreter.executable))
    });
    let (deps, python) = match interpreter {
        Ok(found) => found,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let prices = match args.prices.prices(args.compile.arch) {
        Ok(prices) => prices,
        Err(message) => {
            eprintln!("lambada run: error: {message}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let (guide, stdin) = match run_profile(args, file) {
        Ok(Some(Guided { guide, stdin })) => (Some(guide), stdin),
        Ok(None) => (None, None),
        Err(code) => return code,
    };
    let options = run::RunOptions {
        compile: compile_options(&args.compile, guide),
        deps,
        max_workers: args.max_workers,
        python,
        program_args: args.program_args.clone(),
        quiet: args.compile.quiet,
        verify: args.verify,
        stats: args.stats,
        invocation_log: args.invocation_log.clone(),
        stdin,
        out: args.compile.out.clone(),
        diff: args.compile.diff,
        report: args.compile.debug.then_some(match args.compile.format {
            Format::Text => run::ReportFormat::Text,
            Format::Json => run::ReportFormat::Json,
        }),
    };
    match run::run(file, &options) {
        Ok(report) => {
            if args.stats {
                eprint!("{}", report.stats_text());
                let summary = lifecycle::stats::summarise(&report.invocations, prices);
                eprint!("{}", summary.to_text());
            }
            if args.compile.format == Format::Json {
                // stderr: the program's stdout is its own.
                eprintln!(
                    "{}",
                    serde_json::to_string_pretty(&report.to_json()).expect("reports serialise")
                );
            }
            ExitCode::from(u8::try_from(report.exit_code).unwrap_or(1))
        }
        Err(
            err @ (run::RunError::Input(_)
            | run::RunError::Compile(_)
            | run::RunError::Dependencies(_)),
        ) => {
            eprintln!("{err}");
            ExitCode::from(BAD_INPUT)
        }
        Err(err) => {
            eprintln!("lambada: error: {err}");
            ExitCode::from(FAILED)
        }
    }
}

/// `lambada run prog.py 12 3`: clap takes `12 3` for more programs. When only the
/// first is a program, the rest were meant for it: say how to pass them.
fn run_files_error(files: &[PathBuf]) -> String {
    let one = "lambada: error: `lambada run` runs one program; pass exactly one FILE";
    match files {
        [program, rest @ ..] if !rest.is_empty() && rest.iter().all(|arg| !arg.is_file()) => {
            let rest: Vec<String> = rest.iter().map(|a| a.display().to_string()).collect();
            format!(
                "{one}\n  tip: arguments for the program go after `--`: lambada run {} -- {}",
                program.display(),
                rest.join(" ")
            )
        }
        _ => one.to_owned(),
    }
}

/// The profile `run --profile` plans with, and the stdin its first run read.
struct Guided {
    guide: Guide,
    /// Input already read from this process's stdin, for the program once more.
    stdin: Option<Vec<u8>>,
}

/// `run --profile`: profiles the program first (into the output directory), or reads
/// `--profile=FILE`. The error is the exit status to give.
fn run_profile(args: &RunArgs, file: &Path) -> Result<Option<Guided>, ExitCode> {
    let Some(path) = &args.profile else {
        return Ok(None);
    };
    if !path.is_empty() {
        return match profile::load(Path::new(path)) {
            Ok(profile) => Ok(Some(Guided {
                guide: Guide::new(profile),
                stdin: None,
            })),
            Err(err) => {
                eprintln!("{err}");
                Err(ExitCode::from(BAD_INPUT))
            }
        };
    }
    let previous = profile::profile_path(&args.compile.out_dir(), file);
    if let Some(profile) = profile::reusable(&previous, file) {
        if !args.compile.quiet {
            eprintln!(
                "lambada run: using {}, made from this source (delete it to profile again)",
                previous.display()
            );
        }
        return Ok(Some(Guided {
            guide: Guide::new(profile),
            stdin: None,
        }));
    }
    // The program runs twice: once profiled, quietly, then for real. Input from a
    // pipe or file is read once and given to both; a terminal stays the second run's.
    let stdin = if std::io::stdin().is_terminal() {
        Vec::new()
    } else {
        let mut bytes = Vec::new();
        if let Err(err) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes) {
            eprintln!("lambada run: error: cannot read stdin: {err}");
            return Err(ExitCode::from(FAILED));
        }
        bytes
    };
    let options = profile::ProfileOptions {
        python: args.python.clone(),
        program_args: args.program_args.clone(),
        out: args.compile.out_dir(),
        rehearsal: Some(stdin),
    };
    match profile::run(file, &options) {
        Ok(run) => {
            if !args.compile.quiet {
                eprintln!(
                    "lambada run: profiled {} -> {}",
                    plural(run.profile.units.len() as u64, "unit"),
                    run.path.display()
                );
            }
            Ok(Some(Guided {
                guide: Guide::new(run.profile),
                stdin: options.rehearsal,
            }))
        }
        Err(err @ (profile::ProfileError::Input(_) | profile::ProfileError::Python { .. })) => {
            eprintln!("{err}");
            Err(ExitCode::from(BAD_INPUT))
        }
        Err(err) => {
            eprintln!("lambada run: error: {err}");
            Err(ExitCode::from(FAILED))
        }
    }
}

fn profile_command(args: &ProfileArgs) -> ExitCode {
    let options = profile::ProfileOptions {
        python: args.python.clone(),
        program_args: args.program_args.clone(),
        out: args.out.clone(),
        rehearsal: None,
    };
    match profile::run(&args.file, &options) {
        Ok(run) => {
            if !args.quiet {
                eprintln!(
                    "lambada profile: {}, {} ({}) -> {}",
                    plural(run.profile.units.len() as u64, "unit"),
                    run.profile.mechanism,
                    run.profile.python,
                    run.path.display()
                );
            }
            // The program's own status, as `python3 app.py` would give it.
            ExitCode::from(u8::try_from(run.exit_code).unwrap_or(1))
        }
        Err(err @ (profile::ProfileError::Input(_) | profile::ProfileError::Python { .. })) => {
            eprintln!("{err}");
            ExitCode::from(BAD_INPUT)
        }
        Err(err) => {
            eprintln!("lambada profile: error: {err}");
            ExitCode::from(FAILED)
        }
    }
}

/// `lambada move-plan`: see `inplace`.
fn move_command(args: &MoveArgs) -> ExitCode {
    let Some(file) = run::single_file(&args.compile.files) else {
        eprintln!("lambada move-plan: error: pass exactly one FILE");
        return ExitCode::from(BAD_INPUT);
    };
    if !package::is_valid_prefix(&args.compile.prefix) {
        eprintln!(
            "lambada: error: prefix {:?} may only contain letters, digits, '-' and '_' (Lambda function names)",
            args.compile.prefix
        );
        return ExitCode::from(BAD_INPUT);
    }
    let destination = if args.compile.local {
        inplace::Destination::Local
    } else if args.deploy.endpoint.is_some() {
        inplace::Destination::Endpoint(Box::new(deploy_options(&args.deploy, true)))
    } else {
        inplace::Destination::EmbeddedHost {
            python: args.python.clone(),
            max_workers: args.max_workers,
        }
    };
    // The embedded host runs the functions on the program's interpreter: build for it.
    let runtime = match &destination {
        inplace::Destination::Endpoint(_) => Ok(args.deploy.runtime.clone()),
        _ => deps::interpreter(&args.python).map(|interpreter| interpreter.runtime),
    };
    let deps = match runtime.and_then(|runtime| deps_options(&args.compile, &runtime, &args.python))
    {
        Ok(deps) => deps,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let options = inplace::MoveOptions {
        compile: compile_options(&args.compile, None),
        deps,
        out: args.compile.out_dir(),
        destination,
        quiet: true,
    };
    match inplace::run(file, &options, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is_bad_input() => {
            eprintln!("{err}");
            ExitCode::from(BAD_INPUT)
        }
        Err(err) => {
            eprintln!("lambada: error: {err}");
            ExitCode::from(FAILED)
        }
    }
}

fn compile_options(args: &CompileArgs, guide: Option<Guide>) -> CompileOptions {
    CompileOptions {
        guide,
        plan: PlanOptions {
            annotations: args.annotations,
            remote_calls: args.remote_calls,
            memory: args.memory.unwrap_or(crate::plan::DEFAULT_MEMORY_MB),
            timeout: args.timeout.unwrap_or(crate::plan::DEFAULT_TIMEOUT_S),
        },
        exclude: args.exclude.iter().cloned().collect(),
        prefix: args.prefix.clone(),
        local_modules: true,
        fanout: args.fanout,
        provider: args.provider,
    }
}

/// Remote mode: deploys every written output and, once all its functions are in
/// place, points its manifest at them.
fn deploy_outputs(
    args: &CompileArgs,
    deploy_args: &DeployArgs,
    dirs: &[PathBuf],
    orphans: Orphans,
) -> ExitCode {
    let options = deploy_options(deploy_args, args.quiet);
    let mut all_ok = true;
    let mut summaries = Vec::new();
    for dir in dirs {
        let summary = match deploy::deploy_blocking(dir, &options) {
            Ok(summary) => summary,
            Err(err) => {
                eprintln!("lambada: error: {err}");
                return ExitCode::from(FAILED);
            }
        };
        if summary.is_success() {
            if let Err(err) = deploy::mark_deployed_with_profile(
                dir,
                &summary.endpoint,
                &summary.region,
                deploy_args.aws_profile.as_deref(),
            ) {
                eprintln!("lambada: error: {err}");
                return ExitCode::from(FAILED);
            }
        } else {
            all_ok = false;
        }
        if args.format == Format::Text && !args.quiet {
            eprintln!("{summary}");
            if summary.is_success() {
                eprintln!(
                    "  run it: python3 {}",
                    dir.join(format!(
                        "{}.py",
                        dir.file_name().unwrap_or_default().to_string_lossy()
                    ))
                    .display()
                );
            } else {
                eprintln!(
                    "  the rewritten program in {} still uses the in-process transport; fix the failures and deploy again",
                    dir.display()
                );
            }
        }
        // Functions the source no longer has: named, or deleted with --prune.
        if summary.is_success()
            && let Err(message) = lifecycle::commands::handle_orphans(
                dir,
                &args.prefix,
                deploy_args,
                orphans,
                args.quiet,
            )
        {
            // Looking for orphans is a courtesy of a plain deploy (it needs
            // lambda:ListFunctions); only --prune fails with it.
            eprintln!("{message}");
            all_ok &= orphans == Orphans::Warn;
        }
        summaries.push(summary);
    }
    if args.format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summaries).expect("summaries serialise")
        );
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}

pub fn deploy_options(args: &DeployArgs, quiet: bool) -> deploy::DeployOptions {
    deploy::DeployOptions {
        endpoint: args.endpoint.clone(),
        region: args.region.clone(),
        profile: args.aws_profile.clone(),
        role: args.role.clone(),
        jobs: args.jobs,
        runtime: args.runtime.clone(),
        progress: !quiet,
        ..deploy::DeployOptions::default()
    }
}

/// How dependencies are found and built for functions on `runtime`; `python` is the
/// environment whose installed distributions answer for undeclared imports.
pub fn deps_options(
    args: &CompileArgs,
    runtime: &str,
    python: &str,
) -> Result<DepsOptions, String> {
    let target = Target::from_runtime(runtime, args.arch).ok_or_else(|| {
        format!("lambada: error: --runtime {runtime}: not a Python runtime (python3.X)")
    })?;
    let cache = args
        .cache_dir
        .clone()
        .unwrap_or_else(deps::install::default_cache_dir);
    let index = IndexOptions {
        find_links: args.find_links.clone(),
        no_index: args.no_index,
    };
    Ok(DepsOptions {
        target,
        installer: Installer::new(python.to_owned(), cache, index),
        env_python: python.to_owned(),
        layers: !args.no_layers,
        package_view: !args.host_env,
        data_limit: args.data_limit.saturating_mul(1024 * 1024),
    })
}

/// The interpreter that answers for the user's environment.
pub(crate) fn environment_python() -> String {
    std::env::var("LAMBADA_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Reads and compiles every file before anything is written, so bad input anywhere
/// leaves no output at all.
pub(crate) fn compile_all(
    args: &CompileArgs,
    deps: &DepsOptions,
    guide: Option<Guide>,
) -> Result<Vec<Compiled>, String> {
    if guide.is_some() && args.files.len() > 1 {
        return Err(
            "lambada: error: --profile describes one program; pass exactly one FILE with it"
                .to_owned(),
        );
    }
    let options = compile_options(args, guide);
    let mut compiled: Vec<Compiled> = Vec::new();
    for file in &args.files {
        let source = parse::read(file).map_err(|e| e.to_string())?;
        if let Some(other) = compiled.iter().find(|c| c.output.name == source.module) {
            return Err(format!(
                "{}: error: {} also has module name `{}`; their outputs would both go to {}",
                file.display(),
                other.parsed.source.path.display(),
                source.module,
                args.out_dir().join(&source.module).display()
            ));
        }
        let mut item = crate::compile(source, &options).map_err(|e| e.to_string())?;
        deps::apply(&mut item, deps).map_err(|e| e.to_string())?;
        compiled.push(item);
    }
    Ok(compiled)
}

fn print_results(args: &CompileArgs, compiled: &[Compiled], written: &[PathBuf]) {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if args.format == Format::Json && (args.local || args.debug) {
        let reports: Vec<&crate::report::Report> = compiled.iter().map(|c| &c.report).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("reports serialise")
        );
        return;
    }
    for (item, dir) in compiled.iter().zip(written) {
        if !args.quiet {
            for warning in &item.report.warnings {
                eprintln!(
                    "{}:{}: warning: {}",
                    item.parsed.source.path.display(),
                    warning.line,
                    warning.message
                );
            }
            for warning in &item.report.dependency_warnings {
                eprintln!("{warning}");
            }
        }
        if args.debug {
            print!("{}", item.report.to_text());
        }
        if args.diff {
            let diff = diff::review(item);
            if color {
                print!("{}", diff::colorize(&diff));
            } else {
                print!("{diff}");
            }
        }
        if !args.quiet {
            let moved: Vec<&str> = item.plan.moved().map(|(u, _)| u.name.as_str()).collect();
            let kept = item.plan.units.len() - moved.len();
            let driver = dir.join(format!("{}.py", item.output.name));
            eprintln!(
                "{}: {} moved ({}), {kept} kept local -> {}",
                item.parsed.source.path.display(),
                moved.len(),
                if moved.is_empty() {
                    "-".to_owned()
                } else {
                    moved.join(", ")
                },
                dir.display(),
            );
            if args.local {
                eprintln!("  run it: python3 {}", driver.display());
            }
        }
    }
}
