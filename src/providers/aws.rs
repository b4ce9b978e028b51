//! AWS Lambda (and any Lambda-compatible endpoint, such as `lambada serve`): Lambda
//! calls the handler module's `_lambada_handler(event, context)` directly (the
//! manifest's `handler`), so the package needs no entry file of its own; the `deploy`
//! stage is the client, and the transport is `lambda` (the Invoke API, SigV4-signed).

use std::collections::BTreeMap;
use std::path::Path;

use super::{DeployTarget, Deployment, EntryPoint, Provider, ProviderKind};

pub struct Aws;

/// No templates beyond the shared handler module (`templates/handler.py.j2`, whose
/// entry point is Lambda's); `templates/providers/aws/README.md` says so.
pub const TEMPLATES: &[(&str, &str)] = &[];

impl Provider for Aws {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    fn transport(&self) -> &'static str {
        "lambda"
    }

    fn entry_files(&self, _function: &EntryPoint) -> Vec<(String, String)> {
        Vec::new()
    }

    fn manifest_fields(&self, _function: &EntryPoint) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::new()
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
