//! Tenants cannot reach each other or the host: real attacks, run as a function of a
//! second tenant (`--accounts`), must all fail in `--isolation sandbox`. The same attacks
//! run in `--isolation process` (no namespaces), where the table of which still succeed
//! is printed and pinned. Also: workers hold short-lived session credentials only, valid
//! for nested calls and refused once expired or after their function is deleted. The
//! workers are forked by the tenants' zygotes, as by default; `host_zygote.rs` tests
//! what is particular to them.

mod host_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use host_support::*;
use serde_json::json;

const TENANT_A: (&str, &str) = ("AKIDTENANTA", "secret-of-tenant-a");
const TENANT_B: (&str, &str) = ("AKIDTENANTB", "secret-of-tenant-b");

const VICTIM: &str = r#"
# VICTIM-CODE
def handler(event, context):
    return {"victim": True}
"#;

/// Tenant B's function: each `attack` returns whether it worked and what it saw.
const ATTACKER: &str = r#"
import hashlib, hmac, json, os, signal, socket, sys, time, urllib.request

def _try_write(path, append=True):
    try:
        with open(path, "ab" if append else "wb") as f:
            f.write(b"\n# written by tenant B\n")
        return True
    except OSError:
        return False

def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None

def _pids():
    try:
        return [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    except OSError:
        return []

def read_other_code(e):
    data = _read(e["victim_code"])
    return data is not None and b"VICTIM-CODE" in data

def write_other_code(e):
    return _try_write(e["victim_code"]) or _try_write(os.path.join(os.path.dirname(e["victim_code"]), "evil.py"), False)

def read_state_dir(e):
    try:
        os.listdir(e["state"])
        return True
    except OSError:
        return False

def read_accounts(e):
    data = _read(e["accounts"])
    return data is not None and b"secret-of-tenant-a" in data

def read_other_environ(e):
    for pid in _pids():
        data = _read("/proc/%s/environ" % pid) or b""
        if b"AWS_LAMBDA_FUNCTION_NAME=victim" in data or b"HOST_SECRET" in data:
            return True
    return False

def read_host_cmdline(e):
    return any(b"--accounts" in (_read("/proc/%s/cmdline" % pid) or b"") for pid in _pids())

def read_host_bootstrap(e):
    return _read(e["bootstrap"]) is not None

def write_bootstrap(e):
    own = os.path.join(os.environ["LAMBDA_RUNTIME_DIR"], "worker_bootstrap.py")
    return _try_write(own) or _try_write(e["bootstrap"])

def write_outside_tmp(e):
    task = os.environ["LAMBDA_TASK_ROOT"]
    places = [os.path.join(task, "x.py"), "x.txt", "/x.txt", "/usr/x.txt", "/var/tmp/x.txt",
              "/dev/shm/x.txt", os.path.join(os.path.dirname(e["state"]), "x.txt")]
    return [p for p in places if _try_write(p, False)]

def fill_disk(e):
    # 640 MB in files of 64 MB: more than a worker's 512 MB of /tmp.
    written, chunk = 0, b"x" * (8 << 20)
    tmp = os.environ.get("TMPDIR", "/tmp")
    paths = []
    try:
        for i in range(10):
            path = os.path.join(tmp, "fill-%d" % i)
            paths.append(path)
            with open(path, "wb") as f:
                for _ in range(8):
                    f.write(chunk)
                    f.flush()
                    written += len(chunk)
    except OSError:
        pass
    for path in paths:
        try:
            os.remove(path)
        except OSError:
            pass
    return written > (560 << 20)

def fork_bomb(e):
    children = []
    try:
        while len(children) < 600:
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            children.append(pid)
    except OSError:
        pass
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return len(children) >= 600

def setsid_child(e):
    if os.fork() == 0:
        os.setsid()
        deadline = time.time() + 6
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", e["port"]), timeout=1) as s:
                    s.sendall(b"alive\n")
            except OSError:
                pass
            time.sleep(0.1)
        os._exit(0)
    return True

def kill_victim(e):
    try:
        os.kill(e["victim_pid"], signal.SIGKILL)
        return True
    except OSError:
        return False

def long_term_secret(e):
    return os.environ.get("AWS_SECRET_ACCESS_KEY") == "secret-of-tenant-b" or "AWS_SESSION_TOKEN" not in os.environ

def print_flood(e):
    line = "x" * 1023
    for _ in range(64 * 1024):
        print(line)
    return False

def credentials(e):
    return {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}

def nested(e):
    # SigV4 by hand with the worker's session credentials, X-Amz-Security-Token signed.
    endpoint = os.environ["AWS_ENDPOINT_URL_LAMBDA"]
    path = "/2015-03-31/functions/%s/invocations" % e["target"]
    body = b"{}"
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    region = os.environ["AWS_REGION"]
    headers = {"host": endpoint.split("//", 1)[1], "x-amz-date": amz,
               "x-amz-security-token": os.environ["AWS_SESSION_TOKEN"]}
    names = sorted(headers)
    canonical = "\n".join(["POST", path, "", "".join("%s:%s\n" % (k, headers[k]) for k in names),
                           ";".join(names), hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/lambda/aws4_request" % (amz[:8], region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
    for part in (amz[:8], region, "lambda", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        os.environ["AWS_ACCESS_KEY_ID"], scope, ";".join(names), signature)
    del headers["host"]
    request = urllib.request.Request(endpoint + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as r:
            return {"status": r.status, "body": json.loads(r.read())}
    except urllib.error.HTTPError as err:
        return {"status": err.code, "body": json.loads(err.read() or b"null")}

def handler(event, context):
    return globals()[event["attack"]](event)
"#;

/// Attacks that must fail everywhere but `none`, and whose result is a plain boolean.
const ATTACKS: [&str; 14] = [
    "read_other_code",
    "write_other_code",
    "read_state_dir",
    "read_accounts",
    "read_other_environ",
    "read_host_cmdline",
    "read_host_bootstrap",
    "write_bootstrap",
    "write_outside_tmp",
    "fill_disk",
    "fork_bomb",
    "kill_victim",
    "long_term_secret",
    "setsid_child_outlives_delete",
];

struct Tenants {
    _dir: tempfile::TempDir,
    state: PathBuf,
    accounts: PathBuf,
    server: Server,
}

fn start(isolation: &str, extra: &[&str]) -> Tenants {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let accounts = dir.path().join("accounts.json");
    let keys = json!([
        {"access_key": TENANT_A.0, "secret_key": TENANT_A.1},
        {"access_key": TENANT_B.0, "secret_key": TENANT_B.1},
    ]);
    std::fs::write(&accounts, keys.to_string()).unwrap();
    let mut args = vec![
        "--accounts",
        accounts.to_str().unwrap(),
        "--isolation",
        isolation,
    ];
    args.extend_from_slice(extra);
    let server = Server::start(&state, &args);
    Tenants {
        _dir: dir,
        state,
        accounts,
        server,
    }
}

fn as_tenant(server: &Server, (key, secret): (&str, &str)) -> Http {
    server.http().signed(Keys::new(key, secret))
}

/// The file holding the victim's code, as the host stored it.
fn victim_code(state: &Path) -> PathBuf {
    let functions = state
        .join("tenants")
        .join(format!("key-{}", TENANT_A.0))
        .join("functions")
        .join("victim");
    std::fs::read_dir(&functions)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("app.py"))
        .find(|p| p.exists())
        .expect("the victim's code")
}

fn attack(http: &mut Http, function: &str, event: &serde_json::Value) -> serde_json::Value {
    let r = http.invoke(function, event.to_string().as_bytes(), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("x-amz-function-error").is_none(),
        "{}: {}",
        event["attack"],
        r.text()
    );
    r.json()
}

/// Whether a process that announces itself on `collector` is still alive.
fn still_announcing(collector: &Collector) -> bool {
    std::thread::sleep(Duration::from_millis(400));
    let before = collector.lines().len();
    std::thread::sleep(Duration::from_millis(800));
    collector.lines().len() > before
}

/// Runs every attack; returns which worked.
fn run_attacks(isolation: &str) -> BTreeMap<&'static str, bool> {
    let tenants = start(isolation, &[]);
    let mut a = as_tenant(&tenants.server, TENANT_A);
    let mut b = as_tenant(&tenants.server, TENANT_B);
    assert_eq!(create(&mut a, "victim", VICTIM, json!({})).status, 201);
    assert_eq!(a.invoke("victim", b"{}", &[]).status, 200);
    let victim_pid = worker_pids(&tenants.state, "victim")[0];
    let settings = json!({"Timeout": 60, "MemorySize": 512});
    assert_eq!(
        create(&mut b, "attacker", ATTACKER, settings.clone()).status,
        201
    );
    let collector = Collector::start();
    let event = |attack: &str| {
        json!({
            "attack": attack,
            "state": tenants.state,
            "accounts": tenants.accounts,
            "bootstrap": tenants.state.join("runtime").join("worker_bootstrap.py"),
            "victim_code": victim_code(&tenants.state),
            "victim_pid": victim_pid,
            "port": collector.port,
        })
    };
    let mut worked = BTreeMap::new();
    for name in ATTACKS.iter().filter(|a| !a.starts_with("setsid")) {
        let result = attack(&mut b, "attacker", &event(name));
        let success = match result {
            serde_json::Value::Bool(b) => b,
            serde_json::Value::Array(places) => !places.is_empty(),
            other => panic!("{name}: {other}"),
        };
        worked.insert(*name, success);
    }
    // The attacks ran in workers forked by the tenants' zygotes (the host's default).
    let stats = b.get("/_lambada/stats").json();
    assert!(
        stats["workers_forked"].as_u64() >= Some(2),
        "workers were not forked: {stats}"
    );
    // The victim survived everything and still answers.
    assert_eq!(
        a.invoke("victim", b"{}", &[]).json(),
        json!({"victim": true})
    );

    // A setsid child must die with its function.
    assert_eq!(create(&mut b, "doomed", ATTACKER, settings).status, 201);
    attack(&mut b, "doomed", &event("setsid_child"));
    assert!(still_announcing(&collector), "the child never started");
    assert_eq!(
        b.send("DELETE", "/2015-03-31/functions/doomed", &[], b"")
            .status,
        204
    );
    worked.insert("setsid_child_outlives_delete", still_announcing(&collector));

    // Output is bounded: 64 MB printed, the log tail is 4 KB and nothing piles up.
    let r = b.invoke(
        "attacker",
        event("print_flood").to_string().as_bytes(),
        &[("x-amz-log-type", "Tail")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.log().len() <= 4096, "{}", r.log().len());
    assert!(r.log().contains("REPORT RequestId"));

    // And with the host's shutdown.
    attack(&mut b, "attacker", &event("setsid_child"));
    assert!(tenants.server.stop().success());
    let outlived_shutdown = still_announcing(&collector);
    worked.insert("setsid_child_outlives_shutdown", outlived_shutdown);
    // Whatever survived in a weaker mode ends by itself within 6 s; wait for it.
    if worked["setsid_child_outlives_delete"] || outlived_shutdown {
        let deadline = Instant::now() + Duration::from_secs(10);
        while still_announcing(&collector) && Instant::now() < deadline {}
    }
    worked
}

#[test]
fn every_attack_fails_in_the_sandbox() {
    let worked = run_attacks("sandbox");
    let succeeded: Vec<_> = worked
        .iter()
        .filter(|(_, w)| **w)
        .map(|(a, _)| *a)
        .collect();
    assert!(
        succeeded.is_empty(),
        "attacks that worked in the sandbox: {succeeded:?}"
    );
}

#[test]
fn process_isolation_stops_what_landlock_covers() {
    let worked = run_attacks("process");
    eprintln!("--isolation process, attack -> succeeded:");
    for (attack, success) in &worked {
        eprintln!("  {attack:32} {success}");
    }
    let succeeded: Vec<_> = worked
        .iter()
        .filter(|(_, w)| **w)
        .map(|(a, _)| *a)
        .collect();
    // Without namespaces: a per-file size limit but no private /tmp, no NPROC limit for
    // root (the kernel exempts it), a setsid child leaves the process group, and the
    // bootstrap the worker runs is the host's own file (read-only to it).
    let expected: Vec<&str> = if nix_is_root() {
        vec![
            "fill_disk",
            "fork_bomb",
            "read_host_bootstrap",
            "setsid_child_outlives_delete",
            "setsid_child_outlives_shutdown",
        ]
    } else {
        vec![
            "fill_disk",
            "read_host_bootstrap",
            "setsid_child_outlives_delete",
            "setsid_child_outlives_shutdown",
        ]
    };
    assert_eq!(succeeded, expected);
}

fn nix_is_root() -> bool {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() == 0 }
}

#[test]
fn workers_hold_session_credentials_that_die_with_the_function() {
    let tenants = start("sandbox", &["--session-ttl", "3"]);
    let server = &tenants.server;
    let mut b = as_tenant(server, TENANT_B);
    assert_eq!(
        create(&mut b, "attacker", ATTACKER, json!({"Timeout": 30})).status,
        201
    );
    assert_eq!(create(&mut b, "other", VICTIM, json!({})).status, 201);
    let mut a = as_tenant(server, TENANT_A);
    assert_eq!(create(&mut a, "victim", VICTIM, json!({})).status, 201);

    // A nested call signed with the session credentials works, within the tenant only.
    let r = attack(
        &mut b,
        "attacker",
        &json!({"attack": "nested", "target": "other"}),
    );
    assert_eq!(r, json!({"status": 200, "body": {"victim": true}}));
    let r = attack(
        &mut b,
        "attacker",
        &json!({"attack": "nested", "target": "victim"}),
    );
    assert_eq!(r["status"], 404, "{r}");

    // Stolen credentials: good now, refused once expired.
    let creds = attack(&mut b, "attacker", &json!({"attack": "credentials"}));
    let stolen = |creds: &serde_json::Value| {
        let mut keys = Keys::new(
            creds["AWS_ACCESS_KEY_ID"].as_str().unwrap(),
            creds["AWS_SECRET_ACCESS_KEY"].as_str().unwrap(),
        );
        keys.session_token = Some(creds["AWS_SESSION_TOKEN"].as_str().unwrap().to_string());
        server.http().signed(keys)
    };
    assert_eq!(stolen(&creds).get("/2015-03-31/functions/").status, 200);
    let mut without_token = server.http().signed(Keys::new(
        creds["AWS_ACCESS_KEY_ID"].as_str().unwrap(),
        creds["AWS_SECRET_ACCESS_KEY"].as_str().unwrap(),
    ));
    assert_eq!(without_token.get("/2015-03-31/functions/").status, 403);
    std::thread::sleep(Duration::from_millis(3100));
    let r = stolen(&creds).get("/2015-03-31/functions/");
    assert_eq!(
        (r.status, r.error_type()),
        (403, Some("ExpiredTokenException")),
        "{}",
        r.text()
    );

    // Fresh ones, refused as soon as the function is deleted.
    let creds = attack(&mut b, "attacker", &json!({"attack": "credentials"}));
    assert_eq!(stolen(&creds).get("/2015-03-31/functions/").status, 200);
    assert_eq!(
        b.send("DELETE", "/2015-03-31/functions/attacker", &[], b"")
            .status,
        204
    );
    let r = stolen(&creds).get("/2015-03-31/functions/");
    assert_eq!(
        (r.status, r.error_type()),
        (403, Some("UnrecognizedClientException")),
        "{}",
        r.text()
    );
    assert!(tenants.server.stop().success());
}
