//! A program's deployed functions: every function whose name starts with the
//! program's prefix (`<--prefix><module>-`, the start of every name the compiler gives
//! it), compared with what the current source would deploy.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Connection, LifecycleError};

/// The start of every function name of `module` deployed with `--prefix prefix`.
pub fn program_prefix(prefix: &str, module: &str) -> String {
    format!("{prefix}{module}-")
}

/// A function as the endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployed {
    pub function_name: String,
    pub code_sha256: String,
    pub last_modified: String,
}

/// Every function whose name starts with `prefix`, sorted by name.
pub async fn deployed(conn: &Connection, prefix: &str) -> Result<Vec<Deployed>, LifecycleError> {
    let mut found = Vec::new();
    let mut pages = conn.lambda.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| conn.api_error("ListFunctions", prefix, e))?;
        for f in page.functions() {
            let name = f.function_name().unwrap_or_default();
            if name.starts_with(prefix) {
                found.push(Deployed {
                    function_name: name.to_owned(),
                    code_sha256: f.code_sha256().unwrap_or_default().to_owned(),
                    last_modified: f.last_modified().unwrap_or_default().to_owned(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.function_name.cmp(&b.function_name));
    Ok(found)
}

/// How a function stands against the current source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Deployed with the code the source compiles to.
    Current,
    /// Deployed with other code: deploy again.
    Stale,
    /// In the source, not deployed.
    Missing,
    /// Deployed, but the source no longer has it (`deploy --prune` removes it).
    Orphan,
    /// Listed by prefix, without a source to compare with.
    Deployed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::Stale => "stale",
            Status::Missing => "missing",
            Status::Orphan => "orphan",
            Status::Deployed => "deployed",
        }
    }
}

/// One line of `lambada list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub function_name: String,
    pub status: Status,
    /// The deployed code's CodeSha256 (none when missing).
    pub code_sha256: Option<String>,
    /// What the current source compiles to (none for orphans and without a source).
    pub source_sha256: Option<String>,
    pub last_modified: Option<String>,
}

/// Compares the source's functions (name → CodeSha256) with the deployed ones; `None`
/// for `source` lists what is deployed without comparing. Sorted by name.
pub fn compare(source: Option<&BTreeMap<String, String>>, deployed: &[Deployed]) -> Vec<Listed> {
    let mut listed: BTreeMap<String, Listed> = BTreeMap::new();
    for d in deployed {
        let wanted = source.map(|s| s.get(&d.function_name));
        let status = match wanted {
            None => Status::Deployed,
            Some(None) => Status::Orphan,
            Some(Some(sha)) if *sha == d.code_sha256 => Status::Current,
            Some(Some(_)) => Status::Stale,
        };
        listed.insert(
            d.function_name.clone(),
            Listed {
                function_name: d.function_name.clone(),
                status,
                code_sha256: Some(d.code_sha256.clone()),
                source_sha256: wanted.flatten().cloned(),
                last_modified: Some(d.last_modified.clone()),
            },
        );
    }
    for (name, sha) in source.into_iter().flatten() {
        listed.entry(name.clone()).or_insert_with(|| Listed {
            function_name: name.clone(),
            status: Status::Missing,
            code_sha256: None,
            source_sha256: Some(sha.clone()),
            last_modified: None,
        });
    }
    listed.into_values().collect()
}

/// Deletes each named function; the ones deleted, or the first failure.
pub async fn delete(conn: &Connection, names: &[String]) -> Result<Vec<String>, LifecycleError> {
    let mut removed = Vec::new();
    for name in names {
        conn.lambda
            .delete_function()
            .function_name(name)
            .send()
            .await
            .map_err(|e| conn.api_error("DeleteFunction", name, e))?;
        removed.push(name.clone());
    }
    Ok(removed)
}

/// Deployed functions under `prefix` that are not in `keep` (the names the source
/// deploys).
pub async fn orphans(
    conn: &Connection,
    prefix: &str,
    keep: &[String],
) -> Result<Vec<String>, LifecycleError> {
    Ok(deployed(conn, prefix)
        .await?
        .into_iter()
        .map(|d| d.function_name)
        .filter(|name| !keep.contains(name))
        .collect())
}

/// Text for `lambada list`.
pub fn to_text(listed: &[Listed]) -> String {
    let width = listed
        .iter()
        .map(|l| l.function_name.len())
        .max()
        .unwrap_or(0)
        .max("function".len());
    let mut text = format!(
        "{:<width$}  {:<8}  {:<44}  last modified\n",
        "function", "status", "code sha256"
    );
    for l in listed {
        text += &format!(
            "{:<width$}  {:<8}  {:<44}  {}\n",
            l.function_name,
            l.status.as_str(),
            l.code_sha256.as_deref().unwrap_or("-"),
            l.last_modified.as_deref().unwrap_or("-"),
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed(name: &str, sha: &str) -> Deployed {
        Deployed {
            function_name: name.into(),
            code_sha256: sha.into(),
            last_modified: "2026-11-30T12:00:00.000+0000".into(),
        }
    }

    #[test]
    fn each_function_is_current_stale_missing_or_orphan() {
        let source: BTreeMap<String, String> = [("app-a", "A"), ("app-b", "B2"), ("app-c", "C")]
            .map(|(n, s)| (n.to_owned(), s.to_owned()))
            .into();
        let on_endpoint = [
            deployed("app-a", "A"),
            deployed("app-b", "B1"),
            deployed("app-old", "O"),
        ];
        let listed = compare(Some(&source), &on_endpoint);
        let statuses: Vec<(&str, Status)> = listed
            .iter()
            .map(|l| (l.function_name.as_str(), l.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("app-a", Status::Current),
                ("app-b", Status::Stale),
                ("app-c", Status::Missing),
                ("app-old", Status::Orphan),
            ]
        );
        let listed = compare(None, &on_endpoint);
        assert!(listed.iter().all(|l| l.status == Status::Deployed));
    }

    #[test]
    fn a_programs_prefix_ends_at_the_module() {
        assert_eq!(program_prefix("", "app"), "app-");
        assert_eq!(program_prefix("proj-", "app"), "proj-app-");
    }
}
