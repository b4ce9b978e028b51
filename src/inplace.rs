//! `lambada.move(globals())`: a running program FaaSified in place. The Python package
//! (`python/lambada/`) calls the hidden subcommand `lambada move-plan FILE`, which
//! compiles the program exactly as `lambada --local` does into a directory the caller
//! gives, deploys the cloud functions (to an embedded host started for the occasion, to
//! `--endpoint`, or nowhere with `--local`), and prints one line of JSON, a [`MovePlan`]:
//! the units to rebind and where their runtime and manifest are. The caller then binds
//! each moved name of its module to a stub of the runtime package written there.
//!
//! With the embedded host, the process stays to serve it until its standard input
//! closes (the program exited, however it exited: the pipe closes with it) or it is
//! sent SIGTERM or SIGHUP. Ctrl-C at the terminal reaches the program and this process
//! alike; the program may catch it and go on calling its functions, so this process
//! ignores SIGINT and stops when the program is gone.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analysis::ModuleFacts;
use crate::deploy::{self, DeployOptions};
use crate::deps::DepsOptions;
use crate::plan::UnitKind;
use crate::run::{self, RunError};
use crate::{CompileOptions, Compiled, package, parse};

/// What the caller of `move-plan` does with the program it runs, printed as one line of
/// JSON on stdout.
#[derive(Debug, Serialize)]
pub struct MovePlan {
    /// The version of this document; the Python package refuses others.
    pub lambada_move: u32,
    pub module: String,
    /// The written output: the runtime package and `lambada.json` are here.
    pub dir: PathBuf,
    /// `inprocess` or `lambda`.
    pub transport: &'static str,
    /// Where the functions were deployed (`lambda` transport).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// The moved functions and classes, in source order.
    pub moved: Vec<MovedUnit>,
    pub kept_local: Vec<KeptUnit>,
    /// `file:line: warning: ...` lines of the analysis and the dependency stage.
    pub warnings: Vec<String>,
}

/// The version of [`MovePlan`] this binary prints.
pub const MOVE_PLAN_VERSION: u32 = 1;

/// One moved unit: what the caller's module rebinds.
#[derive(Debug, Serialize)]
pub struct MovedUnit {
    /// The name in the module, and the key of the cloud function in the manifest.
    pub name: String,
    pub kind: UnitKind,
    pub line: usize,
    /// The Lambda function's name.
    pub function_name: String,
    /// A class's methods defined in its body: only they become stubs (a class
    /// decorator's own methods, such as a dataclass's `__init__`, stay local, as in the
    /// rewritten driver, where the class is decorated before they exist).
    pub methods: Vec<String>,
    /// What kind of stub the function gets: `cloud`, `split` (it reads stdin: the reads
    /// run here, its segments in the cloud) or `coroutine` (an `async def`).
    pub stub: &'static str,
}

#[derive(Debug, Serialize)]
pub struct KeptUnit {
    pub name: String,
    pub line: usize,
    pub reason: String,
}

/// Where the cloud functions go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Nowhere: the in-process transport runs the packages in the program's interpreter.
    Local,
    /// An embedded host started here, on an ephemeral 127.0.0.1 port, serving until the
    /// program is gone.
    EmbeddedHost {
        python: String,
        max_workers: Option<usize>,
    },
    /// A Lambda endpoint (AWS, `lambada serve`, moto...).
    Endpoint(Box<DeployOptions>),
}

pub struct MoveOptions {
    pub compile: CompileOptions,
    pub deps: DepsOptions,
    /// Output root: the program's output is written to `out/<module>`.
    pub out: PathBuf,
    pub destination: Destination,
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// Bad input: the program or its dependencies (exit status 2).
    #[error(transparent)]
    Input(#[from] parse::InputError),
    #[error(transparent)]
    Compile(#[from] crate::CompileError),
    #[error(transparent)]
    Dependencies(#[from] crate::deps::DepsError),
    /// The work failed (exit status 1).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Deploy(#[from] deploy::DeployError),
    #[error("deploying to {} failed:\n{summary}", summary.endpoint)]
    DeployFailed { summary: Box<deploy::DeploySummary> },
    #[error(transparent)]
    Host(Box<RunError>),
    #[error("cannot write the plan to stdout: {0}")]
    Stdout(std::io::Error),
}

impl From<RunError> for MoveError {
    fn from(err: RunError) -> Self {
        MoveError::Host(Box::new(err))
    }
}

impl MoveError {
    /// Whether the input was at fault (exit status 2) rather than the work (1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            MoveError::Input(_) | MoveError::Compile(_) | MoveError::Dependencies(_)
        )
    }
}

/// Compiles `file`, deploys its functions, prints the plan to `stdout` and, with an
/// embedded host, serves it until the program is gone.
pub fn run(file: &Path, options: &MoveOptions, stdout: &mut dyn Write) -> Result<(), MoveError> {
    let source = parse::read(file)?;
    let mut compiled = crate::compile(source, &options.compile)?;
    crate::deps::apply(&mut compiled, &options.deps)?;
    let dir =
        package::write(&compiled.output, &options.out).map_err(|source| MoveError::Write {
            path: options.out.join(&compiled.output.name),
            source,
        })?;
    // The caller finds the runtime package here whatever its working directory.
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    match &options.destination {
        Destination::Local => print_plan(stdout, &plan_of(&compiled, dir, None)),
        Destination::Endpoint(deploy_options) => {
            let summary = deploy::deploy_blocking(&dir, deploy_options)?;
            if !summary.is_success() {
                return Err(MoveError::DeployFailed {
                    summary: Box::new(summary),
                });
            }
            deploy::mark_deployed(&dir, &summary.endpoint, &summary.region)?;
            let at = Some((summary.endpoint.clone(), summary.region.clone()));
            print_plan(stdout, &plan_of(&compiled, dir, at))
        }
        Destination::EmbeddedHost {
            python,
            max_workers,
        } => serve(&compiled, dir, python, *max_workers, options, stdout),
    }
}

/// Starts the embedded host, deploys to it, prints the plan, and serves until the
/// program is gone.
fn serve(
    compiled: &Compiled,
    dir: PathBuf,
    python: &str,
    max_workers: Option<usize>,
    options: &MoveOptions,
    stdout: &mut dyn Write,
) -> Result<(), MoveError> {
    let state = tempfile::Builder::new()
        .prefix("lambada-move.")
        .tempdir()
        .map_err(|e| MoveError::from(RunError::TempDir(e)))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| MoveError::from(RunError::Runtime(e)))?;
    runtime.block_on(async {
        // Registered before anything is printed: from then on the program may be
        // interrupted, and SIGINT must not take its functions away (see the module doc).
        let stops = Stops::register().map_err(|e| MoveError::from(RunError::Runtime(e)))?;
        let host = run::start_host(state.path(), python, max_workers, None, None).await?;
        let deployed = run::deploy_to_host(&host, &dir, &options.deps, options.quiet).await;
        let printed = deployed.map_err(MoveError::from).and_then(|summary| {
            let at = Some((summary.endpoint.clone(), summary.region.clone()));
            print_plan(stdout, &plan_of(compiled, dir, at))
        });
        if printed.is_ok() {
            stops.wait().await;
        }
        host.shutdown()
            .await
            .map_err(|e| MoveError::from(RunError::from(e)))?;
        printed
    })
}

/// What ends the embedded host's service.
struct Stops {
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    /// Held so that SIGINT is caught (and ignored) rather than fatal.
    _interrupt: tokio::signal::unix::Signal,
    stdin_closed: tokio::sync::oneshot::Receiver<()>,
}

impl Stops {
    fn register() -> std::io::Result<Stops> {
        use tokio::signal::unix::{SignalKind, signal};
        let (closed, stdin_closed) = tokio::sync::oneshot::channel();
        // A plain thread: a blocking read of stdin would hold up the async runtime's
        // shutdown, and the thread ends with the process.
        std::thread::spawn(move || {
            let mut sink = [0u8; 512];
            let mut stdin = std::io::stdin().lock();
            while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
            let _ = closed.send(());
        });
        Ok(Stops {
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
            _interrupt: signal(SignalKind::interrupt())?,
            stdin_closed,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = &mut self.stdin_closed => {}
            _ = self.terminate.recv() => {}
            _ = self.hangup.recv() => {}
        }
    }
}

fn print_plan(stdout: &mut dyn Write, plan: &MovePlan) -> Result<(), MoveError> {
    let line = serde_json::to_string(plan).expect("the plan serialises");
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(MoveError::Stdout)
}

/// The plan of a compiled program written to `dir`; `deployed` is the endpoint and
/// region its functions were deployed to, if any.
pub fn plan_of(compiled: &Compiled, dir: PathBuf, deployed: Option<(String, String)>) -> MovePlan {
    let report = &compiled.report;
    let moved = report
        .units
        .iter()
        .filter(|unit| unit.moved)
        .map(|unit| MovedUnit {
            name: unit.name.clone(),
            kind: unit.kind,
            line: unit.line,
            function_name: unit
                .package
                .as_ref()
                .map(|p| p.function_name.clone())
                .unwrap_or_default(),
            methods: methods_of(&compiled.facts, &unit.name, unit.kind),
            stub: if unit.split.is_some() {
                "split"
            } else if unit.coroutine {
                "coroutine"
            } else {
                "cloud"
            },
        })
        .collect();
    let kept_local = report
        .units
        .iter()
        .filter(|unit| !unit.moved)
        .map(|unit| KeptUnit {
            name: unit.name.clone(),
            line: unit.line,
            reason: unit.reason.clone().unwrap_or_default(),
        })
        .collect();
    let path = compiled.parsed.source.path.display();
    let warnings = report
        .warnings
        .iter()
        .map(|w| format!("{path}:{}: warning: {}", w.line, w.message))
        .chain(report.dependency_warnings.iter().cloned())
        .collect();
    let (transport, endpoint, region) = match deployed {
        Some((endpoint, region)) => ("lambda", Some(endpoint), Some(region)),
        None => ("inprocess", None, None),
    };
    MovePlan {
        lambada_move: MOVE_PLAN_VERSION,
        module: compiled.output.name.clone(),
        dir,
        transport,
        endpoint,
        region,
        moved,
        kept_local,
        warnings,
    }
}

fn methods_of(facts: &ModuleFacts, name: &str, kind: UnitKind) -> Vec<String> {
    if kind != UnitKind::Class {
        return Vec::new();
    }
    let mut methods: Vec<String> = Vec::new();
    if let Some(class) = facts.classes.iter().rev().find(|c| c.name == name) {
        for method in &class.methods {
            // A property's getter and setter share one name.
            if !methods.contains(&method.name) {
                methods.push(method.name.clone());
            }
        }
    }
    methods
}
