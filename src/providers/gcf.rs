//! Google Cloud Functions: each package is a deployable source directory, `main.py`
//! with the HTTP entry point `lambada` for Google's `functions-framework`
//! (`@functions_framework.http`) and `requirements.txt`. Transport `gcf` POSTs the
//! request to the function's HTTPS URL with an identity token (none for a loopback
//! URL). Deployment: the exact `gcloud functions deploy` commands, printed, and run
//! with `--deploy` when `gcloud` is installed (not tested against Google).

use std::collections::BTreeMap;
use std::path::Path;

use super::{DeployCommand, DeployTarget, Deployment, EntryPoint, Provider, ProviderKind, render};

pub struct Gcf;

/// The entry point's name in `main.py` (gcloud's `--entry-point`).
pub const ENTRY_POINT: &str = "lambada";
/// The version of functions-framework the packages ask for (the one the tests run).
pub const FRAMEWORK: &str = "functions-framework==3.10.2";

pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "gcf/main.py.j2",
        include_str!("../../templates/providers/gcf/main.py.j2"),
    ),
    (
        "gcf/requirements.txt.j2",
        include_str!("../../templates/providers/gcf/requirements.txt.j2"),
    ),
];

impl Provider for Gcf {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gcf
    }

    fn transport(&self) -> &'static str {
        "gcf"
    }

    fn entry_files(&self, function: &EntryPoint) -> Vec<(String, String)> {
        let extra = minijinja::context! { entry_point => ENTRY_POINT, framework => FRAMEWORK };
        vec![
            (
                "main.py".into(),
                render("gcf/main.py.j2", function, extra.clone()),
            ),
            (
                "requirements.txt".into(),
                render("gcf/requirements.txt.j2", function, extra),
            ),
        ]
    }

    fn manifest_fields(&self, _function: &EntryPoint) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::from([("entry_point".into(), ENTRY_POINT.into())])
    }

    fn deployment(
        &self,
        dir: &Path,
        manifest: &crate::package::Manifest,
        target: &DeployTarget,
    ) -> Deployment {
        let region = target.region.as_deref().unwrap_or("us-central1");
        let runtime = target.runtime.replace('.', "");
        let commands = manifest
            .functions
            .iter()
            .map(|(key, entry)| {
                let mut args: Vec<String> = [
                    "functions",
                    "deploy",
                    entry.function_name.as_str(),
                    "--gen2",
                    "--trigger-http",
                    "--no-allow-unauthenticated",
                    "--source=.",
                ]
                .map(String::from)
                .to_vec();
                args.push(format!("--entry-point={ENTRY_POINT}"));
                args.push(format!("--runtime={runtime}"));
                args.push(format!("--region={region}"));
                args.push(format!("--memory={}Mi", entry.memory));
                args.push(format!("--timeout={}s", entry.timeout));
                // Calls made inside a function (--remote-calls all) go to its siblings.
                if let Some(endpoint) = &target.endpoint {
                    args.push(format!(
                        "--set-env-vars=LAMBADA_TRANSPORT=gcf,LAMBADA_ENDPOINT={endpoint}"
                    ));
                }
                DeployCommand {
                    program: "gcloud".into(),
                    args,
                    dir: dir.join("functions").join(key),
                }
            })
            .collect();
        Deployment::Commands(commands)
    }
}
