//! The command line: parses arguments and wires the pipeline stages together.
//! No stage logic lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded Lambda-compatible host.
    Serve(ServeArgs),
    /// Deploy a program to an embedded host started for the occasion, run it, stop the host.
    Run(RunArgs),
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

    /// Print a unified diff of every generated file against its source.
    #[arg(long)]
    pub diff: bool,

    /// Move only functions decorated with @cloudfunction (memory=MB, duration=seconds).
    #[arg(long)]
    pub annotations: bool,

    /// Output root; each FILE gets its own directory below it.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        default_value = "lambada-out"
    )]
    pub out: PathBuf,

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

    /// Output format of the analysis report and summaries.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Prefix of every cloud function name (separates projects on one account).
    #[arg(long, default_value = "")]
    pub prefix: String,
}

/// Where and how cloud functions are deployed.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// Lambda API endpoint (e.g. http://127.0.0.1:10000 for `lambada serve`).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// AWS region (default: the standard chain, then us-east-1).
    #[arg(long)]
    pub region: Option<String>,

    /// AWS profile from the shared config files.
    #[arg(long)]
    pub profile: Option<String>,

    /// Execution role ARN for created functions.
    #[arg(long, env = "LAMBADA_ROLE_ARN")]
    pub role: Option<String>,

    /// Functions deployed at once.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,

    /// Lambda runtime of created functions.
    #[arg(long, default_value = "python3.12")]
    pub runtime: String,
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

    /// Log one line per request to stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub compile: CompileArgs,

    /// Print deploy and invocation statistics to stderr.
    #[arg(long)]
    pub stats: bool,

    /// Python interpreter for the program and the workers.
    #[arg(long, default_value = "python3")]
    pub python: String,

    /// Arguments passed to the program.
    #[arg(last = true)]
    pub program_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoteCalls {
    Driver,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve(args)) => crate::host::serve(&args),
        Some(Command::Run(_)) => {
            eprintln!("lambada: error: this command is not available yet");
            ExitCode::from(2)
        }
        None => ExitCode::from(2),
    }
}
