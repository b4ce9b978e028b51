//! Remote mode end to end: the fixtures deployed with the deployer to the embedded host
//! (started in this process on 127.0.0.1), and their rewritten programs run over HTTP on
//! the `lambda` transport, must behave exactly like the originals. Redeploys upload only
//! what changed.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lambada::deploy::{self, DeployOptions, DeploySummary};
use lambada::host::{Host, HostConfig};
use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::{CompileOptions, package, parse};

use common::{Fixture, fixtures, needs_modern_python, run_python};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn options(endpoint: &str) -> DeployOptions {
    DeployOptions {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        progress: false,
        ..DeployOptions::default()
    }
}

fn compile_into(file: &Path, prefix: &str, remote_calls: RemoteCalls, root: &Path) -> PathBuf {
    let source = parse::read(file).unwrap();
    let compiled = lambada::compile(
        source,
        &CompileOptions {
            plan: PlanOptions {
                annotations: false,
                remote_calls,
                ..PlanOptions::default()
            },
            prefix: prefix.to_owned(),
            local_modules: true,
            fanout: lambada::package::DEFAULT_FANOUT,
            guide: None,
            exclude: Default::default(),
            provider: lambada::providers::ProviderKind::Aws,
        },
    )
    .unwrap();
    package::write(&compiled.output, root).unwrap()
}

/// Deploys one fixture under its own prefix, runs both programs, compares.
async fn deployed_run_matches(
    index: usize,
    fixture: &Fixture,
    endpoint: &str,
    remote_calls: RemoteCalls,
    out: &Path,
) -> Result<(), String> {
    let prefix = format!("t{index}-");
    let dir = compile_into(
        &fixture.file,
        &prefix,
        remote_calls,
        &out.join(index.to_string()),
    );
    let summary: DeploySummary = deploy::deploy(&dir, &options(endpoint))
        .await
        .map_err(|e| e.to_string())?;
    if !summary.is_success() {
        return Err(format!("deploy failed:\n{summary}"));
    }
    deploy::mark_deployed(&dir, &summary.endpoint, &summary.region).map_err(|e| e.to_string())?;
    let script = fixture
        .file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (file, stdin) = (fixture.file.clone(), fixture.stdin.clone());
    let runs = tokio::task::spawn_blocking(move || {
        let python = PathBuf::from("python3");
        let original = run_python(&python, file.parent().unwrap(), &script, stdin.as_deref());
        let faasified = run_python(&python, &dir, &script, stdin.as_deref());
        (original, faasified)
    })
    .await
    .unwrap();
    let (original, faasified) = runs;
    if original == faasified {
        Ok(())
    } else {
        Err(format!(
            "{}{}status {:?} vs {:?}",
            lambada::diff::unified(
                "original stdout",
                "faasified stdout",
                &original.stdout,
                &faasified.stdout
            ),
            lambada::diff::unified(
                "original stderr",
                "faasified stderr",
                &original.stderr,
                &faasified.stderr
            ),
            original.status,
            faasified.status
        ))
    }
}

fn check_all_deployed(remote_calls: RemoteCalls) {
    let fixtures: Vec<Fixture> = fixtures()
        .into_iter()
        // The host's workers run python3; the 3.12+ syntax fixtures run elsewhere.
        .filter(|f| !needs_modern_python(f))
        .collect();
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let failures = Mutex::new(Vec::new());
    rt.block_on(async {
        let host = Host::start(HostConfig::new(state.path())).await.unwrap();
        let endpoint = host.endpoint();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let worker = || async {
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(fixture) = fixtures.get(index) else {
                    break;
                };
                if let Err(why) =
                    deployed_run_matches(index, fixture, &endpoint, remote_calls, out.path()).await
                {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("== {}\n{why}", fixture.name));
                }
            }
        };
        futures_join(worker(), worker(), worker()).await;
        host.shutdown().await.unwrap();
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures behave differently on the lambda transport ({remote_calls:?}):\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}

async fn futures_join<A, B, C>(a: A, b: B, c: C)
where
    A: std::future::Future<Output = ()>,
    B: std::future::Future<Output = ()>,
    C: std::future::Future<Output = ()>,
{
    tokio::join!(a, b, c);
}

#[test]
fn every_fixture_behaves_the_same_deployed_on_the_embedded_host() {
    check_all_deployed(RemoteCalls::Driver);
}

#[test]
fn every_fixture_behaves_the_same_deployed_with_every_call_remote() {
    check_all_deployed(RemoteCalls::All);
}

#[test]
fn a_redeploy_uploads_only_what_changed() {
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let program = work.path().join("shop.py");
    let v1 = "def price(n):\n    return n * 3\n\n\ndef tax(n):\n    return n // 10\n\n\nif __name__ == \"__main__\":\n    print(price(2), tax(50))\n";
    std::fs::write(&program, v1).unwrap();
    rt.block_on(async {
        let host = Host::start(HostConfig::new(state.path())).await.unwrap();
        let endpoint = host.endpoint();
        let out = work.path().join("out");

        let dir = compile_into(&program, "", RemoteCalls::Driver, &out);
        let first = deploy::deploy(&dir, &options(&endpoint)).await.unwrap();
        assert_eq!(
            (first.created, first.updated, first.unchanged),
            (2, 0, 0),
            "{first}"
        );

        // The same program again: nothing is uploaded.
        let dir = compile_into(&program, "", RemoteCalls::Driver, &out);
        let again = deploy::deploy(&dir, &options(&endpoint)).await.unwrap();
        assert_eq!(
            (again.created, again.updated, again.unchanged),
            (0, 0, 2),
            "{again}"
        );
        assert_eq!(host.stats().requests("UpdateFunctionCode"), 0);

        // One function's body changes: exactly its package is updated.
        std::fs::write(&program, v1.replace("n * 3", "n * 4")).unwrap();
        let dir = compile_into(&program, "", RemoteCalls::Driver, &out);
        let changed = deploy::deploy(&dir, &options(&endpoint)).await.unwrap();
        assert_eq!(
            (changed.created, changed.updated, changed.unchanged),
            (0, 1, 1),
            "{changed}"
        );
        assert_eq!(host.stats().requests("UpdateFunctionCode"), 1);
        let updated: Vec<(&str, &[String])> = changed
            .functions
            .iter()
            .filter(|f| !f.changed.is_empty())
            .map(|f| (f.function_name.as_str(), f.changed.as_slice()))
            .collect();
        assert_eq!(updated, [("shop-price", &["code".to_owned()][..])]);

        // And the redeployed program runs against the new code.
        deploy::mark_deployed(&dir, &changed.endpoint, &changed.region).unwrap();
        let run = tokio::task::spawn_blocking(move || {
            run_python(Path::new("python3"), &dir, "shop.py", None)
        })
        .await
        .unwrap();
        assert_eq!(run.stdout, "8 5\n");
        host.shutdown().await.unwrap();
    });
}
