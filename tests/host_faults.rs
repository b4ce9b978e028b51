//! Faults stay inside the invocation that caused them: timeouts, memory, crashes,
//! `os._exit`, broken modules, a worker killed from outside; and a host restart keeps
//! every function and every accepted event.

mod host_support;

use std::time::{Duration, Instant};

use host_support::*;
use serde_json::json;

const FAULTY: &str = r#"
import ctypes, os, time
calls = 0
# Which process this is (every sandboxed worker is PID 1 of its own namespace).
WORKER = os.urandom(8).hex()
def handler(event, context):
    global calls
    calls += 1
    action = event.get("do")
    if action == "sleep":
        time.sleep(event["seconds"])
    elif action == "alloc":
        block = bytearray(event["mb"] * 1024 * 1024)
        return {"allocated": len(block)}
    elif action == "segfault":
        ctypes.string_at(0)
    elif action == "exit":
        os._exit(3)
    elif action == "remaining":
        first = context.get_remaining_time_in_millis()
        time.sleep(0.2)
        return {"first": first, "second": context.get_remaining_time_in_millis()}
    return {"calls": calls, "pid": WORKER}
"#;

fn invoke(http: &mut Http, function: &str, event: serde_json::Value) -> Response {
    http.invoke(function, event.to_string().as_bytes(), &[])
}

fn assert_function_error(r: &Response, error_type: &str, message_part: &str) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-amz-function-error"),
        Some("Unhandled"),
        "{}",
        r.text()
    );
    let body = r.json();
    assert_eq!(body["errorType"], error_type, "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains(message_part),
        "{message:?} lacks {message_part:?}"
    );
}

#[test]
fn faults_fail_one_invocation_and_the_next_one_works() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &["--max-workers", "1"]);
    let mut http = server.http();
    let r = create(
        &mut http,
        "faulty",
        FAULTY,
        json!({"Timeout": 1, "MemorySize": 128}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = create(&mut http, "steady", FAULTY, json!({}));
    assert_eq!(r.status, 201, "{}", r.text());

    // Warm: module state survives between invocations of one worker.
    let first = invoke(&mut http, "faulty", json!({}));
    let second = invoke(&mut http, "faulty", json!({}));
    assert_eq!(first.json()["calls"], 1);
    assert_eq!(second.json()["calls"], 2);
    assert_eq!(first.json()["pid"], second.json()["pid"]);

    // The remaining time counts down.
    let r = invoke(&mut http, "faulty", json!({"do": "remaining"})).json();
    let (a, b) = (r["first"].as_i64().unwrap(), r["second"].as_i64().unwrap());
    assert!(a <= 1000 && a > 800 && b <= a - 150, "{r}");

    // Timeout: killed, answered, and the function keeps serving from a fresh worker.
    let started = Instant::now();
    let r = http.invoke(
        "faulty",
        br#"{"do": "sleep", "seconds": 10}"#,
        &[("x-amz-log-type", "Tail")],
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_function_error(&r, "Sandbox.Timedout", "Task timed out after 1.00 seconds");
    assert!(
        r.log().contains("Task timed out after 1.00 seconds"),
        "{}",
        r.log()
    );
    let after = invoke(&mut http, "faulty", json!({})).json();
    assert_eq!(after["calls"], 1, "a fresh worker after the timeout");
    assert_ne!(after["pid"], first.json()["pid"]);

    // Memory: allocating far beyond MemorySize is Runtime.OutOfMemory.
    let r = invoke(&mut http, "faulty", json!({"do": "alloc", "mb": 1024}));
    assert_function_error(&r, "Runtime.OutOfMemory", "");
    // Within the limit it works.
    let r = invoke(&mut http, "faulty", json!({"do": "alloc", "mb": 64}));
    assert_eq!(r.json()["allocated"], 64 * 1024 * 1024, "{}", r.text());

    // Crashes.
    let r = invoke(&mut http, "faulty", json!({"do": "segfault"}));
    assert_function_error(&r, "Runtime.ExitError", "signal: segmentation fault");
    let r = invoke(&mut http, "faulty", json!({"do": "exit"}));
    assert_function_error(&r, "Runtime.ExitError", "exit status 3");
    assert_eq!(invoke(&mut http, "faulty", json!({})).json()["calls"], 1);

    // Meanwhile the other function was never disturbed.
    let steady = invoke(&mut http, "steady", json!({})).json();
    assert_eq!(steady["calls"], 1);

    // A worker killed from outside in the middle of an invocation.
    invoke(&mut http, "steady", json!({}));
    let pids = worker_pids(&dir.path().join("state"), "steady");
    assert_eq!(pids.len(), 1, "{pids:?}");
    let pid = pids[0];
    let endpoint = server.endpoint.clone();
    let sleeper = std::thread::spawn(move || {
        let mut http = Http::connect(&endpoint);
        http.invoke("steady", br#"{"do": "sleep", "seconds": 2}"#, &[])
    });
    std::thread::sleep(Duration::from_millis(300));
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    let r = sleeper.join().unwrap();
    assert_function_error(&r, "Runtime.ExitError", "signal: killed");
    assert_eq!(invoke(&mut http, "steady", json!({})).json()["calls"], 1);
    assert!(server.stop().success());
    assert_no_workers_left(&dir.path().join("state"));
}

#[test]
fn broken_modules_are_reported_as_lambda_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &["--max-workers", "1"]);
    let mut http = server.http();
    let cases = [
        (
            "import-error",
            "import not_a_module_anywhere\ndef handler(e, c): return 1\n",
            "Runtime.ImportModuleError",
            "Unable to import module 'app'",
        ),
        (
            "raises",
            "raise RuntimeError('no config')\ndef handler(e, c): return 1\n",
            "RuntimeError",
            "no config",
        ),
        (
            "syntax",
            "def handler(e, c)\n    return 1\n",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app'",
        ),
        (
            "no-handler",
            "def other(e, c): return 1\n",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
        ),
    ];
    for (name, source, error_type, message) in cases {
        let r = create(&mut http, name, source, json!({}));
        assert_eq!(r.status, 201, "{}", r.text());
        for _ in 0..2 {
            let r = http.invoke(name, b"{}", &[("x-amz-log-type", "Tail")]);
            assert_function_error(&r, error_type, message);
            assert_eq!(r.json()["requestId"], r.header("x-amzn-requestid").unwrap());
        }
    }
    // Fixing the code fixes the function.
    let zip = zip_of(&[("app.py", "def handler(e, c):\n    return 'fixed'\n")]);
    let r = http.send(
        "PUT",
        "/2015-03-31/functions/syntax/code",
        &[("content-type", "application/json")],
        json!({"ZipFile": b64(&zip)}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(http.invoke("syntax", b"{}", &[]).text(), "\"fixed\"");
    assert!(server.stop().success());
}

#[test]
fn a_restarted_host_still_has_its_functions_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Functions report to the test over 127.0.0.1: they cannot reach its files.
    let marks = Collector::start();
    let source = r#"
import socket, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if "mark" in event:
        with socket.create_connection(("127.0.0.1", event["port"]), timeout=10) as s:
            s.sendall(("%s %s\n" % (event["mark"], context.aws_request_id)).encode())
    return {"ok": event.get("n")}
"#;
    let server = Server::start(&state, &["--max-workers", "1"]);
    let mut http = server.http();
    for name in ["one", "two"] {
        assert_eq!(create(&mut http, name, source, json!({})).status, 201);
    }
    // An in-flight request finishes cleanly when the host is stopped.
    let endpoint = server.endpoint.clone();
    let in_flight = std::thread::spawn(move || {
        Http::connect(&endpoint).invoke("one", br#"{"sleep": 1, "n": 7}"#, &[])
    });
    std::thread::sleep(Duration::from_millis(300));
    // Events queued behind it (one worker) are not lost by the stop.
    let mut accepted = Vec::new();
    for i in 0..3 {
        let event = json!({"mark": format!("event-{i}"), "port": marks.port});
        let r = http.invoke(
            "one",
            event.to_string().as_bytes(),
            &[("x-amz-invocation-type", "Event")],
        );
        assert_eq!(r.status, 202, "{}", r.text());
        accepted.push(r.header("x-amzn-requestid").unwrap().to_string());
    }
    let status = server.stop();
    // Queued behind the in-flight request, they did not run before the stop...
    assert_eq!(marks.lines().len(), 0);
    assert!(status.success(), "{status:?}");
    let r = in_flight.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"ok": 7}));
    assert_no_workers_left(&state);

    let server = Server::start(&state, &[]);
    let mut http = server.http();
    let listed = http.get("/2015-03-31/functions/").json();
    let names: Vec<&str> = listed["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FunctionName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(
        http.invoke("two", br#"{"n": 2}"#, &[]).json(),
        json!({"ok": 2})
    );
    let deadline = Instant::now() + WAIT;
    while marks.lines().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "events lost: {:?}",
            marks.lines()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // They ran after the restart, with the request ids they were accepted under.
    let mut lines = marks.lines();
    lines.sort();
    for (i, accepted_id) in accepted.iter().enumerate() {
        assert_eq!(lines[i], format!("event-{i} {accepted_id}"));
    }
    assert!(server.stop().success());
}

#[test]
fn a_function_calling_itself_does_not_deadlock_the_pool() {
    // One worker per function: without overflow workers for nested calls, the inner
    // invocation would wait for the worker its caller holds until the timeout.
    let source = r#"
import json, os, time, urllib.request
def handler(event, context):
    depth = event["depth"]
    if depth == 0:
        return {"depth": 0, "pid": os.getpid()}
    key = os.environ["AWS_ACCESS_KEY_ID"]
    day = time.strftime("%Y%m%d", time.gmtime())
    request = urllib.request.Request(
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] + "/2015-03-31/functions/recurse/invocations",
        data=json.dumps({"depth": depth - 1}).encode(), method="POST",
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/lambda/aws4_request, "
                                  "SignedHeaders=host;x-amz-date, Signature=0" % (key, day)})
    inner = json.loads(urllib.request.urlopen(request, timeout=20).read())
    return {"depth": depth, "inner": inner, "pid": os.getpid()}
"#;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &["--max-workers", "1"]);
    let mut http = server.http();
    assert_eq!(
        create(&mut http, "recurse", source, json!({"Timeout": 30})).status,
        201
    );
    let started = Instant::now();
    let r = invoke(&mut http, "recurse", json!({"depth": 3}));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["inner"]["inner"]["inner"]["depth"], 0, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // The overflow workers stay warm (recursion goes as deep again next time): the
    // same call again starts no new worker process.
    let started_workers = http.get("/_lambada/stats").json()["workers_started"].clone();
    assert_eq!(started_workers, 4, "one per level of the recursion");
    let r = invoke(&mut http, "recurse", json!({"depth": 3}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["inner"]["inner"]["inner"]["depth"], 0);
    let stats = http.get("/_lambada/stats").json();
    assert_eq!(stats["workers_started"], started_workers, "{stats}");
    assert_eq!(stats["workers"], 4, "{stats}");
    assert!(server.stop().success());
}
