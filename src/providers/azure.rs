//! Azure Functions, Python v2 programming model: each package is a function app with
//! `function_app.py` (one HTTP-triggered function, route = the function's name, POST,
//! function-level auth), `host.json` and `requirements.txt`. Transport `azure` POSTs
//! to the function URL, with the function key in the `x-functions-key` header when
//! `LAMBADA_AZURE_FUNCTION_KEY` is set. Deployment: the `func azure functionapp
//! publish` commands, printed (not run: the function apps must be created first).

use std::collections::BTreeMap;
use std::path::Path;

use super::{DeployCommand, DeployTarget, Deployment, EntryPoint, Provider, ProviderKind, render};

pub struct Azure;

/// The version of the azure-functions library the packages ask for.
pub const LIBRARY: &str = "azure-functions==1.26.0";

pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "azure/function_app.py.j2",
        include_str!("../../templates/providers/azure/function_app.py.j2"),
    ),
    (
        "azure/host.json.j2",
        include_str!("../../templates/providers/azure/host.json.j2"),
    ),
    (
        "azure/requirements.txt.j2",
        include_str!("../../templates/providers/azure/requirements.txt.j2"),
    ),
];

impl Provider for Azure {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Azure
    }

    fn transport(&self) -> &'static str {
        "azure"
    }

    fn entry_files(&self, function: &EntryPoint) -> Vec<(String, String)> {
        let extra = minijinja::context! {
            library => LIBRARY,
            timeout_hms => format!(
                "{:02}:{:02}:{:02}",
                function.timeout / 3600,
                function.timeout / 60 % 60,
                function.timeout % 60
            ),
        };
        ["function_app.py", "host.json", "requirements.txt"]
            .into_iter()
            .map(|file| {
                let template = format!("azure/{file}.j2");
                (file.to_owned(), render(&template, function, extra.clone()))
            })
            .collect()
    }

    fn manifest_fields(&self, function: &EntryPoint) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::from([
            ("route".into(), function.function_name.into()),
            ("function_app".into(), function.function_name.into()),
        ])
    }

    fn deployment(
        &self,
        dir: &Path,
        manifest: &crate::package::Manifest,
        _target: &DeployTarget,
    ) -> Deployment {
        let commands = manifest
            .functions
            .iter()
            .map(|(key, entry)| DeployCommand {
                program: "func".into(),
                args: vec![
                    "azure".into(),
                    "functionapp".into(),
                    "publish".into(),
                    entry.function_name.clone(),
                    "--python".into(),
                ],
                dir: dir.join("functions").join(key),
            })
            .collect();
        Deployment::Commands(commands)
    }
}
