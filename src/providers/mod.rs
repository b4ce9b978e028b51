//! The provider layer: where the edges of a FaaSified program differ between cloud
//! platforms (`--provider aws|openwhisk|gcf|azure|fission`).
//!
//! Everything in the middle is shared by every provider: the rewritten driver, the
//! slices in each package's `lambada_handler.py`, the runtime package and its
//! exact-state protocol (the JSON envelopes of `templates/CONTRACT.md`), and the
//! in-process transport. A provider only adds, per cloud function:
//!
//! - its **entry point**: files beside `lambada_handler.py` that turn the platform's
//!   request into a lambada request and the answer back (`main.py` with
//!   `@functions_framework.http` for gcf, `function_app.py` for azure...), rendered from
//!   `templates/providers/<name>/`; the adapters they call live in the runtime package
//!   (`lambada_runtime/providers/<name>.py`), which also holds the caller's side;
//! - its **manifest fields**: what the platform needs to know of each function
//!   (`entry_point`, `route`...), flattened into the function's manifest entry;
//! - its **runtime transport**: the name the manifest's `transport` takes once the
//!   functions are deployed (`lambada_runtime/transports.py` imports
//!   `lambada_runtime/providers/<transport>.py` and uses its `Transport` class);
//! - its **deployment**: a client lambada drives itself (aws, openwhisk) or the exact
//!   commands of the platform's own CLI (gcf, azure, fission).
//!
//! # Adding a provider
//!
//! 1. a variant of [`ProviderKind`] and a module `src/providers/<name>.rs` with a unit
//!    struct implementing [`Provider`], returned by [`provider`];
//! 2. its templates under `templates/providers/<name>/`, registered in its module's
//!    `TEMPLATES` and added to [`templates`];
//! 3. `templates/lambada_runtime/providers/<name>.py`: the function-side adapter its
//!    templates call and the caller-side `Transport(manifest)` with
//!    `call(fn, text) -> dict` (the lambada answer, or a raised `RemoteError`);
//! 4. tests: generated output (snapshot), the entry point under the platform's local
//!    runner, and the differential fixtures through its transport.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use minijinja::Environment;
use serde::{Deserialize, Serialize};

pub mod aws;
pub mod azure;
pub mod fission;
pub mod gcf;
pub mod local;
pub mod openwhisk;

/// The platforms lambada targets.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// AWS Lambda, or any Lambda-compatible endpoint such as `lambada serve`.
    #[default]
    Aws,
    /// Apache OpenWhisk (Python actions, `main(args)`).
    Openwhisk,
    /// Google Cloud Functions (`functions-framework` HTTP functions).
    Gcf,
    /// Azure Functions (Python v2 programming model).
    Azure,
    /// Fission (the Python environment's `main()` with `flask.request`).
    Fission,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 5] = [
        ProviderKind::Aws,
        ProviderKind::Openwhisk,
        ProviderKind::Gcf,
        ProviderKind::Azure,
        ProviderKind::Fission,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Aws => "aws",
            ProviderKind::Openwhisk => "openwhisk",
            ProviderKind::Gcf => "gcf",
            ProviderKind::Azure => "azure",
            ProviderKind::Fission => "fission",
        }
    }

    /// For `skip_serializing_if`: manifests of the default provider stay as they were.
    pub fn is_aws(&self) -> bool {
        *self == ProviderKind::Aws
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The local runner of the HTTP providers (gcf, azure, fission): see its docstring.
/// It needs the platform's Python packages (functions-framework, azure-functions,
/// flask) in the interpreter that runs it.
pub const LOCAL_RUNNER: &str = include_str!("../../templates/providers/local_runner.py");

/// What a provider knows of one cloud function when it writes its entry point.
#[derive(Debug, Clone)]
pub struct EntryPoint<'a> {
    /// The key (`fib`): the moved function's or class's Python name.
    pub key: &'a str,
    /// The platform's function name (`app-fib`, with the prefix).
    pub function_name: &'a str,
    /// The program's module name (`app`).
    pub module: &'a str,
    /// The first line of every generated file.
    pub header: &'a str,
    pub memory: u32,
    pub timeout: u32,
}

/// How the functions of a written output reach the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployment {
    /// lambada deploys them itself, through the platform's API (aws: the `deploy`
    /// stage; openwhisk: its REST client).
    Client,
    /// Commands of the platform's own CLI, printed, and run with `--deploy`.
    Commands(Vec<DeployCommand>),
}

/// One command line of a platform's CLI, run in `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployCommand {
    pub program: String,
    pub args: Vec<String>,
    /// The directory it runs in (a function's package directory).
    pub dir: PathBuf,
}

impl DeployCommand {
    /// The command as a person would type it (`cd DIR && program args...`), each
    /// argument quoted for a POSIX shell when it needs to be.
    pub fn shell_line(&self) -> String {
        let mut words = vec![shell_quote(&self.program)];
        words.extend(self.args.iter().map(|a| shell_quote(a)));
        format!(
            "(cd {} && {})",
            shell_quote(&self.dir.to_string_lossy()),
            words.join(" ")
        )
    }
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Where the deployed functions go, as the command line says.
#[derive(Debug, Clone, Default)]
pub struct DeployTarget {
    /// The region (gcf: `--region`; azure: the function apps' location).
    pub region: Option<String>,
    /// The endpoint the rewritten program calls (`https://REGION-PROJECT.cloudfunctions.net`,
    /// a Fission router URL...). `{name}` in it stands for the function's name.
    pub endpoint: Option<String>,
    /// The runtime (`python3.12`).
    pub runtime: String,
}

/// The edges of one platform. See the module documentation.
pub trait Provider: Sync {
    fn kind(&self) -> ProviderKind;

    /// The runtime transport (`lambada_runtime/transports.py`) the rewritten program
    /// uses once the functions are deployed.
    fn transport(&self) -> &'static str;

    /// Files of a function's package besides `lambada_handler.py`, the runtime package,
    /// the manifest and the local modules: the platform's entry point and what the
    /// platform reads (`requirements.txt`, `host.json`). Paths are relative to the
    /// package directory.
    fn entry_files(&self, function: &EntryPoint) -> Vec<(String, String)>;

    /// Fields added to the function's manifest entry.
    fn manifest_fields(&self, function: &EntryPoint) -> BTreeMap<String, serde_json::Value>;

    /// How the written output `dir` (with manifest `manifest`) is deployed.
    fn deployment(
        &self,
        dir: &Path,
        manifest: &crate::package::Manifest,
        target: &DeployTarget,
    ) -> Deployment;
}

/// The provider of a kind.
pub fn provider(kind: ProviderKind) -> &'static dyn Provider {
    match kind {
        ProviderKind::Aws => &aws::Aws,
        ProviderKind::Openwhisk => &openwhisk::OpenWhisk,
        ProviderKind::Gcf => &gcf::Gcf,
        ProviderKind::Azure => &azure::Azure,
        ProviderKind::Fission => &fission::Fission,
    }
}

/// The providers' templates, by name (`gcf/main.py.j2`), compiled into the binary.
fn templates() -> impl Iterator<Item = (&'static str, &'static str)> {
    aws::TEMPLATES
        .iter()
        .chain(openwhisk::TEMPLATES)
        .chain(gcf::TEMPLATES)
        .chain(azure::TEMPLATES)
        .chain(fission::TEMPLATES)
        .copied()
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in templates() {
        env.add_template(name, source)
            .expect("the provider templates compiled into lambada are valid");
    }
    env
});

/// Renders a provider template with the function's values (`key`, `function_name`,
/// `module`, `header`, `memory`, `timeout`, `python_name`) and `extra`.
pub fn render(name: &str, function: &EntryPoint, extra: minijinja::Value) -> String {
    let base = minijinja::context! {
        key => function.key,
        function_name => function.function_name,
        module => function.module,
        header => function.header,
        memory => function.memory,
        timeout => function.timeout,
        python_name => python_name(function.function_name),
    };
    let mut text = TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(minijinja::context! { ..extra, ..base }))
        .expect("the provider templates render with the values lambada gives them");
    // Generated files end with one newline (minijinja drops the template's last one).
    text.push('\n');
    text
}

/// A Python identifier made of a function name (`app-fib` -> `app_fib`).
pub fn python_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The URL of a deployed function from the endpoint: `{name}` in the endpoint stands
/// for the function's name; otherwise the name is appended as a path segment. (The
/// runtime's `providers/http.py` does the same.)
pub fn function_url(endpoint: &str, function_name: &str) -> String {
    if endpoint.contains("{name}") {
        endpoint.replace("{name}", function_name)
    } else {
        format!("{}/{function_name}", endpoint.trim_end_matches('/'))
    }
}

/// Points the written output `dir` at functions deployed to `endpoint` through
/// `transport`: its manifest's `transport` and `endpoint` change, everything else stays
/// (written atomically: temporary file, then rename).
pub fn mark_deployed(dir: &Path, transport: &str, endpoint: &str) -> std::io::Result<()> {
    use std::io::Write as _;

    let path = dir.join(crate::package::MANIFEST_FILE);
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
    if let serde_json::Value::Object(map) = &mut manifest {
        map.insert("transport".into(), transport.into());
        map.insert("endpoint".into(), endpoint.into());
    }
    let mut text = serde_json::to_string_pretty(&manifest).map_err(std::io::Error::other)?;
    text.push('\n');
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(())
}

/// Whether `program` can be found on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let candidate = dir.join(program);
            candidate.is_file()
                && std::fs::metadata(&candidate).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt as _;
                    m.permissions().mode() & 0o111 != 0
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_provider() {
        for kind in ProviderKind::ALL {
            assert_eq!(provider(kind).kind(), kind);
        }
        assert_eq!(provider(ProviderKind::default()).transport(), "lambda");
    }

    #[test]
    fn urls_follow_the_endpoint() {
        assert_eq!(
            function_url("http://127.0.0.1:8888/", "app-fib"),
            "http://127.0.0.1:8888/app-fib"
        );
        assert_eq!(
            function_url("https://{name}.azurewebsites.net/api/{name}", "app-fib"),
            "https://app-fib.azurewebsites.net/api/app-fib"
        );
    }

    #[test]
    fn shell_lines_quote_what_needs_it() {
        let command = DeployCommand {
            program: "gcloud".into(),
            args: vec!["functions".into(), "deploy".into(), "it's".into()],
            dir: PathBuf::from("out dir/f"),
        };
        assert_eq!(
            command.shell_line(),
            r"(cd 'out dir/f' && gcloud functions deploy 'it'\''s')"
        );
        assert_eq!(python_name("app-fib"), "app_fib");
        assert_eq!(python_name("9x"), "_9x");
    }
}
