//! The lifecycle commands (`deploy --prune`, `list`, `remove`, `invoke`, `call`, `logs`,
//! `stats`) as a user runs them: against the embedded host (`lambada serve`, started
//! here on 127.0.0.1 and stopped with the test), and the control-plane ones against
//! moto, an independent Lambda implementation.

#[path = "host_support/mod.rs"]
mod host_support;
#[path = "deploy/support.rs"]
#[allow(dead_code)]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use host_support::Server;
use serde_json::Value;

fn lambada(dir: &Path, args: &[&str]) -> Output {
    lambada_with_stdin(dir, args, "")
}

fn lambada_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    lambada_env(dir, args, stdin, &[])
}

fn lambada_env(dir: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lambada"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_LAMBDA")
        .env_remove("LAMBADA_ROLE_ARN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lambada");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; its stdout.
#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = lambada(dir, args);
    assert!(
        out.status.success(),
        "lambada {args:?} failed ({:?}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `function name -> status` of `lambada list --format json`.
fn statuses(dir: &Path, args: &[&str]) -> Vec<(String, String)> {
    let mut argv = vec!["list"];
    argv.extend_from_slice(args);
    argv.extend(["--format", "json"]);
    let listed: Value = serde_json::from_str(&ok(dir, &argv)).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["function_name"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const APP: &str = r#"
def crash(code):
    import os
    os._exit(code)

def square(x):
    print("squaring", x)
    return x * x

def add(a, b=10):
    return a + b

if __name__ == "__main__":
    print(square(4), add(1))
"#;

#[test]
fn every_lifecycle_command_against_the_embedded_host() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::write(work.join("app.py"), APP).unwrap();
    let log = work.join("invocations.sqlite");
    let server = Server::start(
        &work.join("state"),
        &["--invocation-log", log.to_str().unwrap()],
    );
    let e = server.endpoint.as_str();

    // deploy, then every function is current.
    ok(work, &["deploy", "app.py", "--endpoint", e, "-q"]);
    assert_eq!(
        statuses(work, &["app.py", "--endpoint", e]),
        pairs(&[
            ("app-add", "current"),
            ("app-crash", "current"),
            ("app-square", "current")
        ])
    );

    // call: one call, a batch, keyword arguments, in-process without deploying.
    assert_eq!(
        ok(work, &["call", "app.py", "square", "7", "--endpoint", e]),
        "49\n"
    );
    let batch = lambada_with_stdin(
        work,
        &["call", "app.py", "square", "--batch", "--endpoint", e],
        "3\n(4,)\n-2\n",
    );
    assert!(batch.status.success(), "{}", text(&batch.stderr));
    assert_eq!(text(&batch.stdout), "9\n16\n4\n");
    // What the function prints goes to stderr: stdout holds one result per call.
    assert!(
        text(&batch.stderr).contains("squaring 4"),
        "{}",
        text(&batch.stderr)
    );
    assert_eq!(
        ok(work, &["call", "app.py", "add", "1", "b=5", "--local"]),
        "6\n"
    );
    let not_literal = lambada(work, &["call", "app.py", "add", "x y", "--local"]);
    assert_eq!(
        not_literal.status.code(),
        Some(2),
        "{}",
        text(&not_literal.stderr)
    );
    let crashed = lambada(work, &["call", "app.py", "crash", "3", "--endpoint", e]);
    assert_eq!(crashed.status.code(), Some(1), "{}", text(&crashed.stderr));

    // invoke: the raw Lambda payload and response.
    let invoked = ok(
        work,
        &[
            "invoke",
            "app-add",
            "--data",
            r#"{"args": [2, 3]}"#,
            "--endpoint",
            e,
        ],
    );
    let response: Value = serde_json::from_str(&invoked).unwrap();
    assert_eq!(response["ret"], 5, "{invoked}");

    // logs: START/output/END/REPORT as Lambda writes them, through CloudWatch Logs.
    let logs = ok(work, &["logs", "app-square", "--endpoint", e]);
    for expected in [
        "START RequestId: ",
        "squaring 7",
        "END RequestId: ",
        "REPORT RequestId: ",
        "Billed Duration: ",
    ] {
        assert!(logs.contains(expected), "{expected:?} not in\n{logs}");
    }
    let events: Vec<Value> = ok(
        work,
        &[
            "logs",
            "app-square",
            "--since",
            "1h",
            "--format",
            "json",
            "--endpoint",
            e,
        ],
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(events.len(), logs.lines().count());
    assert!(
        events
            .iter()
            .all(|e| e["stream"].as_str().unwrap().contains("[$LATEST]"))
    );
    let never = lambada(work, &["logs", "app-nothing", "--endpoint", e]);
    assert_eq!(never.status.code(), Some(1));
    assert!(
        text(&never.stderr).contains("/aws/lambda/app-nothing"),
        "{}",
        text(&never.stderr)
    );
    follow_prints_new_events(work, e);

    // The source changes: square differs, add is gone.
    std::fs::write(
        work.join("app.py"),
        APP.replace("return x * x", "return x ** 2")
            .replace("def add(a, b=10):\n    return a + b\n", "")
            .replace(", add(1)", ""),
    )
    .unwrap();
    assert_eq!(
        statuses(work, &["app.py", "--endpoint", e]),
        pairs(&[
            ("app-add", "orphan"),
            ("app-crash", "current"),
            ("app-square", "stale")
        ])
    );
    let warned = lambada(work, &["deploy", "app.py", "--endpoint", e]);
    assert!(warned.status.success());
    let stderr = text(&warned.stderr);
    assert!(
        stderr.contains("app-add") && stderr.contains("--prune"),
        "{stderr}"
    );
    ok(
        work,
        &["deploy", "--prune", "app.py", "--endpoint", e, "-q"],
    );
    assert_eq!(
        statuses(work, &["app.py", "--endpoint", e]),
        pairs(&[("app-crash", "current"), ("app-square", "current")])
    );
    // Without a program: everything under a prefix.
    assert_eq!(
        statuses(work, &["--prefix", "app-s", "--endpoint", e]),
        pairs(&[("app-square", "deployed")])
    );

    // remove: says what it removed, and nothing is left.
    let removed = ok(work, &["remove", "app.py", "--endpoint", e]);
    assert_eq!(removed, "removed app-crash\nremoved app-square\n");
    assert!(statuses(work, &["--prefix", "app-", "--endpoint", e]).is_empty());

    // stats: the invocation log the host wrote, per function, with the bill.
    drop(server);
    invocation_log_and_stats(work, &log);
}

/// `logs --follow` prints events of invocations made while it runs.
fn follow_prints_new_events(work: &Path, endpoint: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lambada"))
        .args([
            "logs",
            "app-add",
            "--follow",
            "--since",
            "1s",
            "--endpoint",
            endpoint,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    ok(
        work,
        &[
            "invoke",
            "app-add",
            "--data",
            r#"{"args": [40, 2]}"#,
            "--endpoint",
            endpoint,
        ],
    );
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        let done = line.starts_with("REPORT RequestId:");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.starts_with("REPORT RequestId:")),
        "--follow printed {seen:?}"
    );
}

fn invocation_log_and_stats(work: &Path, log: &Path) {
    let stats: Value = serde_json::from_str(&ok(
        work,
        &["stats", log.to_str().unwrap(), "--format", "json"],
    ))
    .unwrap();
    let function = |name: &str| {
        stats["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["function"] == name)
            .unwrap_or_else(|| panic!("{name} not in {stats:#}"))
            .clone()
    };
    // square: 1 call + a batch of 3; add: 2 invokes; crash: 1 call, a function error.
    assert_eq!(function("app-square")["invocations"], 4);
    assert_eq!(function("app-square")["errors"], 0);
    assert_eq!(function("app-add")["invocations"], 2);
    let crash = function("app-crash");
    assert_eq!(
        (crash["invocations"].as_u64(), crash["errors"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(crash["error_types"]["Runtime.ExitError"], 1, "{crash:#}");
    // The bill is GB-seconds from memory x billed ms at the x86_64 table, plus requests.
    let rows = lambada::host::invocation_log::read_rows(log).unwrap();
    assert_eq!(rows.len(), 7);
    let gb_s: f64 = rows
        .iter()
        .map(|r| f64::from(r.memory_mb) / 1024.0 * r.billed_ms as f64 / 1000.0)
        .sum();
    let total = &stats["total"];
    assert!((total["gb_seconds"].as_f64().unwrap() - gb_s).abs() < 1e-12);
    let expected = gb_s * 0.000_016_666_7 + 7.0 * 0.000_000_2;
    assert!(
        (total["total_usd"].as_f64().unwrap() - expected).abs() < 1e-15,
        "{total}"
    );
    assert_eq!(stats["free_tier_subtracted"], false);
    // Overridden prices.
    let priced: Value = serde_json::from_str(&ok(
        work,
        &[
            "stats",
            log.to_str().unwrap(),
            "--format",
            "json",
            "--price-gb-s",
            "1",
            "--price-request",
            "0",
        ],
    ))
    .unwrap();
    assert!((priced["total"]["total_usd"].as_f64().unwrap() - gb_s).abs() < 1e-12);
    let text = ok(work, &["stats", log.to_str().unwrap()]);
    assert!(
        text.contains("app-square") && text.contains("free tier is not subtracted"),
        "{text}"
    );
}

#[test]
fn stats_and_invoke_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = lambada(dir.path(), &["stats", "nothing.sqlite"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("nothing.sqlite"));
    let bad_price = lambada(dir.path(), &["stats", "x.sqlite", "--price-gb-s", "-1"]);
    assert_eq!(bad_price.status.code(), Some(2));
    let not_json = lambada(
        dir.path(),
        &[
            "invoke",
            "f",
            "--data",
            "{nope",
            "--endpoint",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(not_json.status.code(), Some(2));
    assert!(text(&not_json.stderr).contains("--data"));
}

#[test]
fn deploy_prune_list_and_remove_against_moto() {
    let moto = support::moto();
    let e = moto.endpoint.as_str();
    let role = "arn:aws:iam::123456789012:role/lambada";
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::write(work.join("prog.py"), APP).unwrap();
    let target = ["--endpoint", e, "--prefix", "lc-"];
    let mut deploy = vec!["deploy", "prog.py", "-q", "--role", role];
    deploy.extend(target);
    ok(work, &deploy);
    let mut list = vec!["prog.py"];
    list.extend(target);
    assert_eq!(
        statuses(work, &list),
        pairs(&[
            ("lc-prog-add", "current"),
            ("lc-prog-crash", "current"),
            ("lc-prog-square", "current")
        ])
    );
    std::fs::write(
        work.join("prog.py"),
        APP.replace("def crash(code):\n    import os\n    os._exit(code)\n", ""),
    )
    .unwrap();
    assert!(statuses(work, &list).contains(&("lc-prog-crash".into(), "orphan".into())));
    deploy.push("--prune");
    ok(work, &deploy);
    assert_eq!(
        statuses(work, &list),
        pairs(&[("lc-prog-add", "current"), ("lc-prog-square", "current")])
    );
    let mut remove = vec!["remove", "prog.py", "--format", "json"];
    remove.extend(target);
    let removed: Value = serde_json::from_str(&ok(work, &remove)).unwrap();
    assert_eq!(
        removed["removed"],
        serde_json::json!(["lc-prog-add", "lc-prog-square"])
    );
    assert_eq!(
        statuses(work, &list),
        pairs(&[("lc-prog-add", "missing"), ("lc-prog-square", "missing")])
    );
}

const LOGS_WITH_BOTO3: &str = r#"
import sys, boto3
logs = boto3.client("logs", endpoint_url=sys.argv[1], region_name="us-east-1",
                    aws_access_key_id="AKLOGS", aws_secret_access_key="logs-secret")
groups = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]]
assert groups == ["/aws/lambda/app-square"], groups
streams = logs.describe_log_streams(logGroupName=groups[0], descending=True)["logStreams"]
events = logs.get_log_events(logGroupName=groups[0], logStreamName=streams[0]["logStreamName"],
                             startFromHead=True)["events"]
print("".join(e["message"] for e in events), end="")
"#;

#[test]
fn logs_are_signed_per_tenant_and_read_by_boto3_too() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::write(work.join("app.py"), APP).unwrap();
    let server = Server::start(
        &work.join("state"),
        &["--access-key", "AKLOGS", "--secret-key", "logs-secret"],
    );
    let e = server.endpoint.as_str();
    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKLOGS"),
        ("AWS_SECRET_ACCESS_KEY", "logs-secret"),
    ];
    let run = |args: &[&str], env: &[(&str, &str)]| lambada_env(work, args, "", env);
    let called = run(&["call", "app.py", "square", "3", "--endpoint", e], &keys);
    assert!(called.status.success(), "{}", text(&called.stderr));
    let logs = run(&["logs", "app-square", "--endpoint", e], &keys);
    assert!(
        text(&logs.stdout).contains("squaring 3"),
        "{}",
        text(&logs.stderr)
    );
    // A wrong secret is refused, as for the Lambda API.
    let wrong = run(
        &["logs", "app-square", "--endpoint", e],
        &[
            ("AWS_ACCESS_KEY_ID", "AKLOGS"),
            ("AWS_SECRET_ACCESS_KEY", "wrong"),
        ],
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong.stderr).contains("signature"),
        "{}",
        text(&wrong.stderr)
    );
    // boto3's logs client: groups, streams and GetLogEvents.
    let python = support::venv().join("bin/python");
    let out = Command::new(python)
        .args(["-c", LOGS_WITH_BOTO3, e])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), text(&logs.stdout));
}

#[test]
fn run_stats_prints_each_functions_invocations_and_the_bill() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::write(
        work.join("prog.py"),
        "def work(n):\n    return sum(i * i for i in range(n))\n\nif __name__ == \"__main__\":\n    print([work(n) for n in range(5)])\n",
    )
    .unwrap();
    let log = work.join("kept.sqlite");
    let out = lambada(
        work,
        &[
            "run",
            "--stats",
            "--invocation-log",
            log.to_str().unwrap(),
            "--price-request",
            "1",
            "prog.py",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "[0, 0, 1, 5, 14]\n");
    let stderr = text(&out.stderr);
    let row = stderr
        .lines()
        .find(|l| l.starts_with("prog-work "))
        .unwrap_or_else(|| panic!("no row for prog-work in\n{stderr}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&columns[1..3], ["5", "0"], "{row}");
    // At $1 a request, 5 requests cost $5 and some GB-seconds.
    assert!(stderr.contains("5 requests"), "{stderr}");
    assert!(stderr.contains("$5.00000000 requests"), "{stderr}");
    // --invocation-log kept the rows.
    let rows = lambada::host::invocation_log::read_rows(&log).unwrap();
    assert_eq!(rows.len(), 5);
    assert!(
        rows.iter()
            .all(|r| r.function == "prog-work" && r.status == "ok")
    );
}
