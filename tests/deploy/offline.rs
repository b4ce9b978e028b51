//! What the deployer decides before any request: the manifest, the packages, the role.

use lambada::deploy::{DeployError, deploy_blocking, mark_deployed};

use crate::support::{Func, local_options, write_app};

#[test]
fn a_zip_that_does_not_match_the_manifest_stops_the_deploy() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib"), Func::new("area")]);
    std::fs::write(dir.path().join("functions/area.zip"), b"not the zip").unwrap();
    // Port 9 is never contacted: the packages are checked first.
    let err = deploy_blocking(dir.path(), &local_options("http://127.0.0.1:9")).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DeployError::StalePackages { .. }), "{err:?}");
    assert!(
        text.contains("functions/area.zip: CodeSha256 is "),
        "{text}"
    );
    assert!(text.contains("run lambada again"), "{text}");
    assert!(!text.contains("fib.zip"), "{text}");
}

#[test]
fn a_missing_manifest_or_zip_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = deploy_blocking(dir.path(), &local_options("http://127.0.0.1:9")).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read the manifest "),
        "{err}"
    );
    assert!(err.to_string().contains("lambada.json"), "{err}");

    write_app(dir.path(), "", &[Func::new("fib")]);
    std::fs::remove_file(dir.path().join("functions/fib.zip")).unwrap();
    let err = deploy_blocking(dir.path(), &local_options("http://127.0.0.1:9")).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read the package "),
        "{err}"
    );
    assert!(err.to_string().contains("fib.zip"), "{err}");
}

#[test]
fn an_invalid_manifest_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let path = dir.path().join("lambada.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"memory\": 128", "\"memory\": 64");
    std::fs::write(&path, text).unwrap();
    let err = deploy_blocking(dir.path(), &local_options("http://127.0.0.1:9")).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("functions.fib.memory: 64 MB is outside Lambda's 128..=10240"),
        "{err}"
    );
}

#[test]
fn an_empty_program_deploys_nothing_without_contacting_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[]);
    let summary = deploy_blocking(dir.path(), &local_options("http://127.0.0.1:9")).unwrap();
    assert_eq!(summary.functions.len(), 0);
    assert!(summary.is_success());
}

#[test]
fn marking_a_manifest_deployed_rewrites_it_in_place() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    mark_deployed(dir.path(), "http://127.0.0.1:10000", "us-east-1").unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("lambada.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["transport"], "lambda");
    assert_eq!(manifest["endpoint"], "http://127.0.0.1:10000");
    assert_eq!(manifest["region"], "us-east-1");
    assert_eq!(manifest["functions"]["fib"]["function_name"], "app-fib");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "lambada.json" && n != "functions")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
