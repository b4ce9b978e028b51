//! Moved coroutines run concurrently: `asyncio.gather` over three of them, deployed to
//! the embedded host (started here on 127.0.0.1), passes a barrier that only the three
//! together can pass. The barrier is served by the program's own event loop, so it is
//! passed only if the three invocations are in flight at once *and* the loop keeps
//! running while it awaits them. Each waits at the barrier for a bounded time, then
//! raises `TimeoutError`; no timing is measured.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lambada::deploy::{self, DeployOptions};
use lambada::host::{Host, HostConfig};
use lambada::plan::{PlanOptions, RemoteCalls};
use lambada::{CompileOptions, package, parse};

const PROGRAM: &str = "tests/coroutines/three_at_a_barrier.py";

fn compile_into(root: &Path) -> PathBuf {
    let source = parse::read(&common::crate_root().join(PROGRAM)).unwrap();
    let compiled = lambada::compile(
        source,
        &CompileOptions {
            plan: PlanOptions {
                annotations: false,
                remote_calls: RemoteCalls::Driver,
                ..PlanOptions::default()
            },
            prefix: String::new(),
            local_modules: true,
            fanout: lambada::package::DEFAULT_FANOUT,
            guide: None,
            exclude: Default::default(),
            provider: lambada::providers::ProviderKind::Aws,
        },
    )
    .unwrap();
    let moved: Vec<&str> = compiled
        .plan
        .moved()
        .map(|(u, _)| u.name.as_str())
        .collect();
    assert_eq!(moved, ["meet"], "only the coroutine that meets moves");
    package::write(&compiled.output, root).unwrap()
}

/// The program's stdout, stderr and success, with `bound` seconds at the barrier.
fn run(dir: &Path, bound: &str) -> (String, String, bool) {
    let out = Command::new("python3")
        .arg("three_at_a_barrier.py")
        .arg(bound)
        .current_dir(dir)
        .env_remove("LAMBADA_TRANSPORT")
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// Deploys the program to a host with `workers` warm workers per function and runs it.
fn deployed_run(workers: usize, bound: &str) -> (String, String, bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = compile_into(out.path());
    let bound = bound.to_owned();
    rt.block_on(async {
        let mut config = HostConfig::new(state.path());
        config.max_workers = workers;
        let host = Host::start(config).await.unwrap();
        let options = DeployOptions {
            endpoint: Some(host.endpoint()),
            region: Some("us-east-1".into()),
            progress: false,
            ..DeployOptions::default()
        };
        let summary = deploy::deploy(&dir, &options).await.unwrap();
        assert!(summary.is_success(), "{summary}");
        deploy::mark_deployed(&dir, &summary.endpoint, &summary.region).unwrap();
        let result = tokio::task::spawn_blocking(move || run(&dir, &bound))
            .await
            .unwrap();
        host.shutdown().await.unwrap();
        result
    })
}

#[test]
fn gathered_coroutines_are_in_flight_together() {
    let original = run(&common::crate_root().join("tests/coroutines"), "20");
    assert!(original.2, "the original fails: {}", original.1);
    let faasified = deployed_run(3, "20");
    assert_eq!(faasified, original);
    assert_eq!(
        faasified.0,
        "['a passed', 'b passed', 'c passed']\narrived: ['a', 'b', 'c']\n"
    );
}

/// The control: with two workers, the third invocation waits for a free one, so the
/// three are never in flight together and the barrier is not passed.
#[test]
fn the_barrier_is_not_passed_two_at_a_time() {
    let (stdout, stderr, success) = deployed_run(2, "1");
    assert!(!success, "passed with two workers: {stdout}");
    assert!(
        stderr.contains("TimeoutError"),
        "not the barrier's timeout: {stderr}"
    );
}
