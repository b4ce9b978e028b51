//! Workers forked by zygotes (`src/host/zygote.rs`): cold starts without an interpreter
//! start, and nothing more shared than a directly started worker shares. Each tenant has
//! its own zygote; a forked worker sees only its own code and starts from a clean slate
//! whatever the previous worker of the zygote did; its credentials are its own and never
//! in the zygote; a killed zygote is started again; nothing survives the host. The
//! attacks of `host_isolation.rs` run against forked workers too (they are the default).

mod host_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use host_support::*;
use lambada::host::{AccessKey, Host, HostConfig, Isolation};
use serde_json::json;

const TENANT_A: (&str, &str) = ("AKIDZYGOTEA", "secret-zygote-a");
const TENANT_B: (&str, &str) = ("AKIDZYGOTEB", "secret-zygote-b");

/// Reports what a worker can see of its process, its code and its interpreter's state;
/// leaves marks of its own in that state when asked to.
const PROBE: &str = r#"
import json, os, sys

def _readable(path):
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False

def handler(event, context):
    seen = {
        "pid": os.getpid(),
        "marks": {
            "json_attribute": getattr(json, "_left_by", None),
            "module": "left_behind" in sys.modules,
            "environment": os.environ.get("LEFT_BY"),
            "tmp_file": os.path.exists(os.path.join(os.environ["TMPDIR"], "left-by")),
        },
        "task_files": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"])),
        "other_code_readable": [p for p in event.get("other_code", []) if _readable(p)],
        "credentials": [os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")],
        "function_secret": os.environ.get("FUNCTION_SECRET"),
        "argv": sys.argv,
        "modules_from_task_root": sorted(
            name for name, m in list(sys.modules.items())
            if (getattr(m, "__file__", None) or "").startswith(os.environ["LAMBDA_TASK_ROOT"])
        ),
    }
    if event.get("leave_marks"):
        json._left_by = context.function_name
        sys.modules["left_behind"] = json
        os.environ["LEFT_BY"] = context.function_name
        with open(os.path.join(os.environ["TMPDIR"], "left-by"), "w") as f:
            f.write(context.function_name)
    if event.get("setsid_port"):
        import socket, time
        if os.fork() == 0:
            os.setsid()
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", event["setsid_port"]), timeout=1) as s:
                        s.sendall(b"alive\n")
                except OSError:
                    pass
                time.sleep(0.1)
    return seen
"#;

struct TestHost {
    runtime: tokio::runtime::Runtime,
    host: Option<Host>,
    dir: tempfile::TempDir,
}

impl TestHost {
    fn start(isolation: Isolation) -> TestHost {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = HostConfig::new(dir.path().join("state"));
        config.isolation = isolation;
        config.python_for_every_runtime = false;
        config.access_keys = [TENANT_A, TENANT_B]
            .iter()
            .map(|(key, secret)| AccessKey {
                access_key: key.to_string(),
                secret_key: secret.to_string(),
            })
            .collect();
        let host = runtime.block_on(Host::start(config)).unwrap();
        TestHost {
            runtime,
            host: Some(host),
            dir,
        }
    }

    fn host(&self) -> &Host {
        self.host.as_ref().unwrap()
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn tenant(&self, (key, secret): (&str, &str)) -> Http {
        Http::connect(&self.host().endpoint()).signed(Keys::new(key, secret))
    }

    fn shutdown(&mut self) {
        let host = self.host.take().unwrap();
        self.runtime.block_on(host.shutdown()).unwrap();
    }
}

fn probe(http: &mut Http, function: &str, event: serde_json::Value) -> serde_json::Value {
    let r = http.invoke(function, event.to_string().as_bytes(), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-amz-function-error").is_none(), "{}", r.text());
    r.json()
}

fn create_probe(http: &mut Http, name: &str) {
    let settings =
        json!({"Environment": {"Variables": {"FUNCTION_SECRET": format!("secret of {name}")}}});
    assert_eq!(create(http, name, PROBE, settings).status, 201);
}

/// The stored code of `function` (any tenant).
fn code_of(state: &Path, function: &str) -> PathBuf {
    for tenant in std::fs::read_dir(state.join("tenants")).unwrap().flatten() {
        let dir = tenant.path().join("functions").join(function);
        if let Ok(versions) = std::fs::read_dir(&dir) {
            for version in versions.flatten() {
                let app = version.path().join("app.py");
                if app.exists() {
                    return app;
                }
            }
        }
    }
    panic!("no code stored for {function}")
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn each_tenant_has_a_zygote_of_its_own_holding_no_secret() {
    for isolation in [Isolation::Auto, Isolation::Process, Isolation::None] {
        let mut host = TestHost::start(isolation);
        let mut a = host.tenant(TENANT_A);
        let mut b = host.tenant(TENANT_B);
        create_probe(&mut a, "alpha");
        create_probe(&mut b, "beta");
        probe(&mut a, "alpha", json!({}));
        probe(&mut b, "beta", json!({}));
        let zygotes = host.host().zygotes();
        let mode = host.host().isolation();
        assert_eq!(zygotes.len(), 2, "{mode}: {zygotes:?}");
        assert_ne!(zygotes[0].tenant, zygotes[1].tenant, "{mode}");
        assert_ne!(zygotes[0].pid, zygotes[1].pid, "{mode}");
        assert!(zygotes.iter().all(|z| z.forked == 1), "{mode}: {zygotes:?}");
        assert_eq!(host.host().stats().workers_forked, 2, "{mode}");
        for zygote in &zygotes {
            // Neither credentials nor any function's variables, in the zygote's
            // environment or command line.
            for place in ["environ", "cmdline"] {
                let text = std::fs::read(format!("/proc/{}/{place}", zygote.pid)).unwrap();
                let text = String::from_utf8_lossy(&text);
                for secret in ["AWS_", "FUNCTION_SECRET", "secret", "ASIA"] {
                    assert!(
                        !text.contains(secret),
                        "{mode}: {place} has {secret}: {text}"
                    );
                }
            }
        }
        host.shutdown();
    }
}

#[test]
fn a_forked_worker_starts_clean_and_sees_only_its_own_code() {
    let mut host = TestHost::start(Isolation::Auto);
    let mut a = host.tenant(TENANT_A);
    create_probe(&mut a, "first");
    create_probe(&mut a, "second");
    let first = probe(&mut a, "first", json!({"leave_marks": true}));
    let other_code = [code_of(&host.state(), "first")];
    // Cold: forked from the zygote that forked `first`, after `first` left its marks.
    let second = probe(&mut a, "second", json!({"other_code": other_code}));
    assert_eq!(host.host().zygotes().len(), 1);
    assert_eq!(host.host().stats().workers_forked, 2);
    assert_eq!(
        second["marks"],
        json!({"json_attribute": null, "module": false, "environment": null, "tmp_file": false})
    );
    assert_eq!(second["task_files"], json!(["app.py"]));
    assert_eq!(second["other_code_readable"], json!([]), "{second}");
    assert_eq!(second["modules_from_task_root"], json!(["app"]));
    assert_eq!(second["function_secret"], "secret of second");
    // The command line of a directly started worker, not the zygote's.
    let argv = second["argv"].as_array().unwrap();
    assert_eq!(argv.len(), 1, "{argv:?}");
    assert!(argv[0].as_str().unwrap().ends_with("/worker_bootstrap.py"));
    // Credentials of its own, per function and per worker.
    let (one, two) = (&first["credentials"], &second["credentials"]);
    for i in 0..3 {
        assert!(one[i].is_string() && two[i].is_string(), "{one} {two}");
        assert_ne!(one[i], two[i]);
    }
    // The first worker kept its own marks (module state survives between invocations).
    let again = probe(&mut a, "first", json!({}));
    assert_eq!(again["pid"], first["pid"]);
    assert_eq!(again["marks"]["json_attribute"], "first");
    host.shutdown();
}

#[test]
fn a_killed_zygote_is_started_again() {
    let mut host = TestHost::start(Isolation::Auto);
    let mut a = host.tenant(TENANT_A);
    create_probe(&mut a, "before");
    probe(&mut a, "before", json!({}));
    let old = host.host().zygotes()[0].pid;
    // SAFETY: a signal to a process this test's host started.
    unsafe {
        libc::kill(old as i32, libc::SIGKILL);
    }
    wait_until("the zygote is reaped", || !alive(old));
    // Its workers died with it (nothing it forked outlives it); the function gets a new
    // worker without an error.
    probe(&mut a, "before", json!({}));
    // Cold starts keep working, and the next ones come from a new zygote.
    let mut n = 0;
    wait_until("a new zygote forks", || {
        n += 1;
        let name = format!("after-{n}");
        create_probe(&mut a, &name);
        probe(&mut a, &name, json!({}));
        host.host()
            .zygotes()
            .iter()
            .any(|z| z.pid != old && z.forked > 0)
    });
    host.shutdown();
}

#[test]
fn no_zygote_or_worker_survives_the_host() {
    let mut host = TestHost::start(Isolation::Auto);
    let collector = Collector::start();
    let mut a = host.tenant(TENANT_A);
    let mut b = host.tenant(TENANT_B);
    create_probe(&mut a, "parent");
    create_probe(&mut b, "other");
    probe(&mut a, "parent", json!({"setsid_port": collector.port}));
    probe(&mut b, "other", json!({}));
    wait_until("the setsid child reports", || !collector.lines().is_empty());
    let zygotes: Vec<u32> = host.host().zygotes().iter().map(|z| z.pid).collect();
    assert_eq!(zygotes.len(), 2);
    // The worker and its setsid child.
    let workers = worker_pids(&host.state(), "parent");
    assert_eq!(workers.len(), 2, "{workers:?}");
    let mode = host.host().isolation();
    host.shutdown();
    wait_until("the zygotes and workers are gone", || {
        !zygotes.iter().chain(&workers).any(|pid| alive(*pid))
    });
    assert_no_workers_left(&host.state());
    // The setsid child went with its worker's PID namespace; only a sandbox promises
    // that (see host_isolation.rs).
    if mode == Isolation::Sandbox {
        std::thread::sleep(Duration::from_millis(300));
        let before = collector.lines().len();
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(
            collector.lines().len(),
            before,
            "the setsid child outlived the host"
        );
    }
}
