//! The local runner of the HTTP providers (gcf, azure, fission) driven from Rust:
//! `lambada run --provider gcf|azure|fission` and the provider tests start it with a
//! Python that has the platform's packages, register each function's package directory
//! and point the program at its URL. The runner itself is
//! `templates/providers/local_runner.py` (see its docstring): one front door on
//! 127.0.0.1 with a free port, each function in a server process of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::{LOCAL_RUNNER, ProviderKind, azure, fission, gcf};

/// What the runner of `provider` imports, with the pinned distribution providing it:
/// (module, `pip install` argument).
pub fn runner_packages(provider: ProviderKind) -> &'static [(&'static str, &'static str)] {
    match provider {
        ProviderKind::Gcf => &[("functions_framework", gcf::FRAMEWORK)],
        ProviderKind::Azure => &[("azure.functions", azure::LIBRARY)],
        // The environment server is a Flask app.
        ProviderKind::Fission => &[("flask", fission::FLASK)],
        ProviderKind::Aws | ProviderKind::Openwhisk => &[],
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalRunnerError {
    #[error("--provider {provider}: no local runner for it (gcf, azure and fission have one)")]
    NoRunner { provider: ProviderKind },
    #[error(
        "--provider {provider}: {python} cannot import {modules}, which the platform's local runner needs; install {} into that environment (`{python} -m pip install {}`), or pass --python (or set LAMBADA_PYTHON) with an interpreter that has {}",
        plural_it(.missing.len()), .missing.join(" "), plural_it(.missing.len())
    )]
    MissingPackages {
        provider: ProviderKind,
        python: String,
        modules: String,
        missing: Vec<String>,
    },
    #[error("cannot start {python}: {source}; pass --python with the interpreter to use")]
    Python {
        python: String,
        source: std::io::Error,
    },
    #[error("cannot write the local runner to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the {provider} local runner did not start: {reason}")]
    Start {
        provider: ProviderKind,
        #[source]
        reason: StartFailure,
    },
    #[error("the {provider} local runner refused to register {name}: {message}")]
    Register {
        provider: ProviderKind,
        name: String,
        message: String,
    },
}

fn plural_it(n: usize) -> &'static str {
    if n == 1 { "it" } else { "them" }
}

/// Why a runner did not come up (its own words on stderr when it said any).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartFailure(String);

/// Checks that `python` can import what `provider`'s local runner needs.
pub fn check_packages(python: &str, provider: ProviderKind) -> Result<(), LocalRunnerError> {
    let packages = runner_packages(provider);
    if packages.is_empty() {
        return Err(LocalRunnerError::NoRunner { provider });
    }
    // One interpreter start: prints the modules it cannot import, one a line.
    let script = "import importlib.util, sys\nfor name in sys.argv[1:]:\n    try:\n        found = importlib.util.find_spec(name) is not None\n    except ImportError:\n        found = False\n    if not found:\n        print(name)\n";
    let out = Command::new(python)
        .args(["-c", script])
        .args(packages.iter().map(|(module, _)| module))
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LocalRunnerError::Python {
            python: python.to_owned(),
            source,
        })?;
    let absent: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    if out.status.success() && absent.is_empty() {
        return Ok(());
    }
    let missing: Vec<(&str, &str)> = packages
        .iter()
        .filter(|(module, _)| !out.status.success() || absent.iter().any(|a| a == module))
        .copied()
        .collect();
    Err(LocalRunnerError::MissingPackages {
        provider,
        python: python.to_owned(),
        modules: missing
            .iter()
            .map(|(module, _)| *module)
            .collect::<Vec<_>>()
            .join(", "),
        missing: missing.iter().map(|(_, pin)| (*pin).to_owned()).collect(),
    })
}

/// A running local runner. Dropping it stops the runner and every function's process:
/// its stdin closes (the runner's signal to stop them), then, if it has not exited
/// within a few seconds, it is killed.
#[derive(Debug)]
pub struct LocalRunner {
    child: Child,
    stdin: Option<ChildStdin>,
    endpoint: String,
    provider: ProviderKind,
}

impl LocalRunner {
    /// Starts the runner of `provider` with `python`; its script is written into
    /// `scratch`, and its stderr (and the functions' servers' own log lines) goes to
    /// `log` when given, else to this process's stderr.
    pub fn start(
        python: &str,
        provider: ProviderKind,
        scratch: &Path,
        log: Option<&Path>,
    ) -> Result<LocalRunner, LocalRunnerError> {
        if runner_packages(provider).is_empty() {
            return Err(LocalRunnerError::NoRunner { provider });
        }
        let script = scratch.join("local_runner.py");
        std::fs::write(&script, LOCAL_RUNNER).map_err(|source| LocalRunnerError::Write {
            path: script.clone(),
            source,
        })?;
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).map_err(|source| {
                LocalRunnerError::Write {
                    path: path.to_owned(),
                    source,
                }
            })?),
            None => Stdio::inherit(),
        };
        // No time limit of its own that matters: it stops when its stdin closes.
        let mut child = Command::new(python)
            .arg(&script)
            .args(["--provider", provider.name(), "--max-seconds", "604800"])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|source| LocalRunnerError::Python {
                python: python.to_owned(),
                source,
            })?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let runner = LocalRunner {
            child,
            stdin,
            endpoint: line.trim().to_owned(),
            provider,
        };
        if read.is_err() || !runner.endpoint.starts_with("http://127.0.0.1:") {
            let said = log
                .and_then(|path| std::fs::read_to_string(path).ok())
                .map(|text| text.trim().lines().last().unwrap_or("").to_owned())
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| format!("it said {:?} instead of its URL", line.trim()));
            return Err(LocalRunnerError::Start {
                provider,
                reason: StartFailure(said),
            });
        }
        // What the functions' servers print to stdout is drained (the runner writes
        // nothing more there): a full pipe would block them.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        Ok(runner)
    }

    /// The runner's URL: the endpoint of the program's manifest (`{endpoint}/{name}`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Names the package directory of cloud function `name`; its server starts on its
    /// first call.
    pub fn register(&self, name: &str, dir: &Path) -> Result<(), LocalRunnerError> {
        let body = serde_json::json!({ "name": name, "dir": dir }).to_string();
        self.control("/_lambada/register", name, &body)
    }

    /// Stops cloud function `name`'s server and forgets it.
    pub fn unregister(&self, name: &str) -> Result<(), LocalRunnerError> {
        let body = serde_json::json!({ "name": name }).to_string();
        self.control("/_lambada/unregister", name, &body)
    }

    fn control(&self, path: &str, name: &str, body: &str) -> Result<(), LocalRunnerError> {
        let failed = |message: String| LocalRunnerError::Register {
            provider: self.provider,
            name: name.to_owned(),
            message,
        };
        let (status, reply) =
            post(&self.endpoint, path, body.as_bytes()).map_err(|e| failed(e.to_string()))?;
        if status == 200 {
            Ok(())
        } else {
            Err(failed(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&reply)
            )))
        }
    }
}

impl Drop for LocalRunner {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A POST to the runner (`http://127.0.0.1:PORT`): (status, body). The runner answers
/// with a Content-Length and closes the connection when asked to.
pub fn post(endpoint: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("the runner's answer has no header end"))?;
    let head = String::from_utf8_lossy(&reply[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))?;
    Ok((status, reply[split + 4..].to_vec()))
}
