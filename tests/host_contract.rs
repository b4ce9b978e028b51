//! Parts of Lambda's contract beyond single requests: failed events are retried twice,
//! code links expire and cannot be forged, the stats endpoint is signed when
//! credentials are.

mod host_support;

use std::time::{Duration, Instant};

use host_support::*;
use serde_json::json;

#[test]
fn a_failing_event_runs_three_times_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &["--event-retry-delay", "0"]);
    let mut http = server.http();
    let attempts = Collector::start();
    let source = r#"
import socket
def handler(event, context):
    with socket.create_connection(("127.0.0.1", event["port"]), timeout=10) as s:
        s.sendall(("%s\n" % context.aws_request_id).encode())
    if event["fail"]:
        raise RuntimeError("try again")
    return "done"
"#;
    assert_eq!(create(&mut http, "flaky", source, json!({})).status, 201);
    let event = |fail: bool| json!({"port": attempts.port, "fail": fail}).to_string();
    let event_type = [("x-amz-invocation-type", "Event")];
    let failing = http.invoke("flaky", event(true).as_bytes(), &event_type);
    assert_eq!(failing.status, 202);
    let ok = http.invoke("flaky", event(false).as_bytes(), &event_type);
    assert_eq!(ok.status, 202);
    let id = |r: &Response| r.header("x-amzn-requestid").unwrap().to_string();
    let count = |id: &str| attempts.lines().iter().filter(|l| *l == id).count();
    let deadline = Instant::now() + WAIT;
    while count(&id(&failing)) < 3 || count(&id(&ok)) < 1 {
        assert!(Instant::now() < deadline, "{:?}", attempts.lines());
        std::thread::sleep(Duration::from_millis(50));
    }
    // No fourth attempt, and a success is not retried.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!((count(&id(&failing)), count(&id(&ok))), (3, 1));
    assert!(server.stop().success());
}

#[test]
fn code_links_are_signed_and_stats_need_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &[
            "--access-key",
            "AKIDCONTRACT",
            "--secret-key",
            "contract-secret",
        ],
    );
    let mut http = server
        .http()
        .signed(Keys::new("AKIDCONTRACT", "contract-secret"));
    let source = "def handler(event, context):\n    return 1\n";
    assert_eq!(create(&mut http, "f", source, json!({})).status, 201);
    let location = http.get("/2015-03-31/functions/f").json()["Code"]["Location"]
        .as_str()
        .unwrap()
        .to_string();
    let path = &location[location.find("/_lambada/").unwrap()..];
    assert!(
        path.contains("Expires=") && path.contains("&Signature="),
        "{path}"
    );
    let mut anyone = server.http();
    let r = anyone.get(path);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, zip_of(&[("app.py", source)]));
    // A link made up, or one whose expiry was pushed back, does not work.
    let (unsigned, _) = path.split_once('?').unwrap();
    assert_eq!(anyone.get(unsigned).status, 403);
    let expires: u64 = path
        .split("Expires=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let pushed = path.replace(
        &format!("Expires={expires}"),
        &format!("Expires={}", expires + 3600),
    );
    assert_eq!(anyone.get(&pushed).status, 403);

    assert_eq!(anyone.get("/_lambada/stats").status, 403);
    let stats = http.get("/_lambada/stats");
    assert_eq!(stats.status, 200);
    assert_eq!(stats.json()["functions"], 1);
    assert!(server.stop().success());
}

#[test]
fn the_account_id_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &["--account-id", "123456789012"]);
    let mut http = server.http();
    let r = create(
        &mut http,
        "f",
        "def handler(e, c):\n    return c.invoked_function_arn\n",
        json!({}),
    );
    assert_eq!(r.status, 201);
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
    assert_eq!(r.json()["FunctionArn"], arn);
    let r = http.invoke(arn, b"{}", &[]);
    assert_eq!(r.json(), json!(arn));
    let other = "arn:aws:lambda:us-east-1:000000000000:function:f";
    assert_eq!(http.invoke(other, b"{}", &[]).status, 404);
    let identity = http.send(
        "POST",
        "/",
        &[],
        b"Action=GetCallerIdentity&Version=2011-06-15",
    );
    assert!(
        identity.text().contains("<Account>123456789012</Account>"),
        "{}",
        identity.text()
    );
    assert!(server.stop().success());

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_lambada"))
        .args(["serve", "--port", "0", "--account-id", "12345"])
        .arg("--state-dir")
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
