//! Apache OpenWhisk: a Python action runs `main(args)` of the zipped action's
//! `__main__.py` (`templates/providers/openwhisk/__main__.py.j2`), which hands the
//! arguments (the lambada request) to the shared handler. Transport `openwhisk`
//! (`lambada_runtime/providers/openwhisk.py`); deployment through lambada's own
//! client of the OpenWhisk REST API.

use std::collections::BTreeMap;
use std::path::Path;

use super::{DeployTarget, Deployment, EntryPoint, Provider, ProviderKind, render};

pub struct OpenWhisk;

pub const TEMPLATES: &[(&str, &str)] = &[(
    "openwhisk/__main__.py.j2",
    include_str!("../../templates/providers/openwhisk/__main__.py.j2"),
)];

impl Provider for OpenWhisk {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Openwhisk
    }

    fn transport(&self) -> &'static str {
        "openwhisk"
    }

    fn entry_files(&self, function: &EntryPoint) -> Vec<(String, String)> {
        vec![(
            "__main__.py".into(),
            render(
                "openwhisk/__main__.py.j2",
                function,
                minijinja::Value::UNDEFINED,
            ),
        )]
    }

    fn manifest_fields(&self, _function: &EntryPoint) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::from([("action_main".into(), "main".into())])
    }

    fn deployment(
        &self,
        _dir: &Path,
        _manifest: &crate::package::Manifest,
        _target: &DeployTarget,
    ) -> Deployment {
        Deployment::Client
    }
}
