//! Fission: each package holds `main.py` whose `main()` follows the contract of
//! Fission's Python environment: it reads the request through `flask.request` and
//! returns the response body. Transport `fission` POSTs to the router URL of the
//! function's HTTP trigger (`{endpoint}/{name}`). Deployment: the `fission function
//! create` and `fission route create` commands, printed.

use std::collections::BTreeMap;
use std::path::Path;

use super::{DeployCommand, DeployTarget, Deployment, EntryPoint, Provider, ProviderKind, render};

pub struct Fission;

/// Fission's `--entrypoint`: module `main`, function `main`.
pub const ENTRY_POINT: &str = "main.main";
/// The Flask the local runner's environment server needs (the one the tests run).
pub const FLASK: &str = "flask==3.1.3";

pub const TEMPLATES: &[(&str, &str)] = &[(
    "fission/main.py.j2",
    include_str!("../../templates/providers/fission/main.py.j2"),
)];

impl Provider for Fission {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Fission
    }

    fn transport(&self) -> &'static str {
        "fission"
    }

    fn entry_files(&self, function: &EntryPoint) -> Vec<(String, String)> {
        vec![(
            "main.py".into(),
            render("fission/main.py.j2", function, minijinja::Value::UNDEFINED),
        )]
    }

    fn manifest_fields(&self, _function: &EntryPoint) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::from([("entrypoint".into(), ENTRY_POINT.into())])
    }

    fn deployment(
        &self,
        dir: &Path,
        manifest: &crate::package::Manifest,
        _target: &DeployTarget,
    ) -> Deployment {
        let mut commands = Vec::new();
        for (key, entry) in &manifest.functions {
            let name = &entry.function_name;
            let zip = entry
                .zip
                .clone()
                .unwrap_or_else(|| format!("functions/{key}.zip"));
            commands.push(DeployCommand {
                program: "fission".into(),
                args: vec![
                    "function".into(),
                    "create".into(),
                    format!("--name={name}"),
                    "--env=python".into(),
                    format!("--deploy={zip}"),
                    format!("--entrypoint={ENTRY_POINT}"),
                    format!("--fntimeout={}", entry.timeout),
                    format!("--maxmemory={}", entry.memory),
                ],
                dir: dir.to_owned(),
            });
            commands.push(DeployCommand {
                program: "fission".into(),
                args: vec![
                    "route".into(),
                    "create".into(),
                    format!("--name={name}"),
                    format!("--function={name}"),
                    "--method=POST".into(),
                    format!("--url=/{name}"),
                ],
                dir: dir.to_owned(),
            });
        }
        Deployment::Commands(commands)
    }
}
