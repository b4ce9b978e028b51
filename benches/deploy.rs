//! Deploy wall times for 100 generated functions: cold (all created), warm (all
//! unchanged) and incremental (one changed), against moto by default.
//!
//!     cargo bench --bench deploy
//!     LAMBADA_BENCH_ENDPOINT=http://127.0.0.1:10000 cargo bench --bench deploy
//!     LAMBADA_BENCH_FUNCTIONS=200 LAMBADA_BENCH_JOBS=16 cargo bench --bench deploy
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it does nothing.

#[allow(dead_code)]
#[path = "../tests/deploy/support.rs"]
mod support;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lambada::deploy::{DeployOptions, deploy_blocking};
use support::{Func, write_app};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let count: usize = env_or("LAMBADA_BENCH_FUNCTIONS", 100);
    let jobs: usize = env_or("LAMBADA_BENCH_JOBS", 8);
    let endpoint = std::env::var("LAMBADA_BENCH_ENDPOINT")
        .unwrap_or_else(|_| support::moto().endpoint.clone());
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() % 100_000)
        .unwrap_or(0);
    let prefix = format!("bench{run}-");

    let dir = tempfile::tempdir().expect("temporary directory");
    let mut funcs: Vec<Func> = (0..count).map(|i| Func::new(&format!("f{i:03}"))).collect();
    write_app(dir.path(), &prefix, &funcs);
    let opts = DeployOptions {
        endpoint: Some(endpoint.clone()),
        region: Some("us-east-1".into()),
        jobs,
        progress: false,
        ..DeployOptions::default()
    };
    println!("deploying {count} functions to {endpoint} with {jobs} jobs");

    let timed = |label: &str| {
        let start = Instant::now();
        let summary = deploy_blocking(dir.path(), &opts).expect("deploy");
        let secs = start.elapsed().as_secs_f64();
        assert!(summary.is_success(), "{summary}");
        println!(
            "{label:<12} {secs:7.2} s  ({:6.1} functions/s)  {} created, {} updated, {} unchanged",
            count as f64 / secs,
            summary.created,
            summary.updated,
            summary.unchanged
        );
    };
    timed("cold");
    timed("warm");
    funcs[count / 2].version += 1;
    write_app(dir.path(), &prefix, &funcs);
    timed("one changed");
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
