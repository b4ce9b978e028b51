//! Benchmark of the embedded host (not a test): warm invoke latency over a keep-alive
//! connection on 127.0.0.1 (p50/p99 over 10,000 calls), throughput with 8 concurrent
//! clients, and cold start (first invoke after CreateFunction).
//!
//!     cargo bench --bench host_invoke
//!
//! The host runs in-process (`Host::start`) on its own Tokio runtime; clients are plain
//! blocking HTTP/1.1 connections in threads. Workers run as `lambada serve` runs them by
//! default (in a sandbox where the kernel allows it); cold start is also measured without
//! isolation. Environment: LAMBADA_BENCH_CALLS (10000), LAMBADA_BENCH_SECONDS (5, the
//! throughput run), LAMBADA_BENCH_ISOLATION (auto, or none|process|sandbox),
//! LAMBADA_BENCH_INVOCATION_LOG=1 (the host writes its SQLite invocation log, as
//! `lambada serve --invocation-log`: compare with and without).

#[path = "../tests/host_support/mod.rs"]
mod host_support;

use std::time::{Duration, Instant};

use host_support::{Http, create};
use lambada::host::{Host, HostConfig, Isolation};

const TRIVIAL: &str = "def handler(event, context):\n    return event\n";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// First invokes after create (worker spawn, interpreter start, import), sorted.
fn cold_starts(http: &mut Http) -> Vec<Duration> {
    let mut colds = Vec::new();
    for i in 0..10 {
        let name = format!("cold-{i}");
        assert_eq!(
            create(http, &name, TRIVIAL, serde_json::json!({})).status,
            201
        );
        let started = Instant::now();
        let r = http.invoke(&name, b"{}", &[]);
        colds.push(started.elapsed());
        assert_eq!(r.status, 200);
    }
    colds.sort();
    colds
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: a quick smoke run then.
    let full = std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: u64| -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let calls = env("LAMBADA_BENCH_CALLS", if full { 10_000 } else { 200 }) as usize;
    let seconds = env("LAMBADA_BENCH_SECONDS", if full { 5 } else { 1 });
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let isolation: Isolation = std::env::var("LAMBADA_BENCH_ISOLATION")
        .unwrap_or_else(|_| "auto".into())
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let invocation_log = std::env::var("LAMBADA_BENCH_INVOCATION_LOG").is_ok_and(|v| v == "1");
    let start = |dir: &tempfile::TempDir, isolation: Isolation| {
        let mut config = HostConfig::new(dir.path().join("state"));
        if invocation_log {
            config.invocation_log = Some(dir.path().join("invocations.sqlite"));
        }
        config.isolation = isolation;
        config.python_for_every_runtime = false;
        runtime.block_on(Host::start(config)).unwrap()
    };

    // Without isolation, for comparison.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = start(&plain_dir, Isolation::None);
    let plain_colds = cold_starts(&mut Http::connect(&plain.endpoint()));
    runtime.block_on(plain.shutdown()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let host = start(&dir, isolation);
    let endpoint = host.endpoint();
    let mut http = Http::connect(&endpoint);
    println!(
        "lambada host benchmark: {cores} cores, {} workers per function, isolation {}, invocation log {}",
        cores,
        host.isolation(),
        if invocation_log { "on" } else { "off" }
    );
    println!(
        "cold start without isolation (first invoke after create, 10 functions): median {}, max {}",
        ms(percentile(&plain_colds, 0.5)),
        ms(plain_colds[9])
    );
    let colds = cold_starts(&mut http);
    println!(
        "cold start, isolation {} (first invoke after create, 10 functions): median {}, max {}",
        host.isolation(),
        ms(percentile(&colds, 0.5)),
        ms(colds[9])
    );

    // Warm latency, one keep-alive client.
    assert_eq!(
        create(&mut http, "warm", TRIVIAL, serde_json::json!({})).status,
        201
    );
    for _ in 0..200 {
        http.invoke("warm", b"{\"warmup\": true}", &[]);
    }
    let mut latencies = Vec::with_capacity(calls);
    for i in 0..calls {
        let payload = format!("{{\"i\": {i}}}");
        let started = Instant::now();
        let r = http.invoke("warm", payload.as_bytes(), &[]);
        latencies.push(started.elapsed());
        assert_eq!(r.status, 200);
        assert_eq!(r.body, payload.as_bytes());
    }
    let total: Duration = latencies.iter().sum();
    latencies.sort();
    println!(
        "warm invoke latency ({calls} calls, 1 keep-alive client): p50 {}, p99 {}, mean {}, max {}",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(total / calls as u32),
        ms(latencies[calls - 1])
    );

    // Throughput: 8 concurrent clients for a fixed time.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let endpoint = endpoint.clone();
            std::thread::spawn(move || {
                let mut http = Http::connect(&endpoint);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let r = http.invoke("warm", format!("{{\"c\": {c}}}").as_bytes(), &[]);
                    assert_eq!(r.status, 200);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let done: u64 = clients.into_iter().map(|t| t.join().unwrap()).sum();
    let elapsed = started.elapsed();
    println!(
        "throughput (8 concurrent clients, {seconds} s, one function): {:.0} invocations/s ({done} calls)",
        done as f64 / elapsed.as_secs_f64()
    );
    runtime.block_on(host.shutdown()).unwrap();
}
