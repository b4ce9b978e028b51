//! Bad input gets the proper 4xx answer, never a crash: unsafe zips, oversize requests,
//! malformed JSON, wrong types, bad signatures, and tenants reaching for each other.

mod host_support;

use std::io::Write;
use std::time::{Duration, SystemTime};

use host_support::*;
use serde_json::json;

const OK_APP: &str = "def handler(event, context):\n    return event\n";

fn assert_error(r: &Response, status: u16, error_type: &str) {
    assert_eq!(
        r.status,
        status,
        "{} {}",
        r.error_type().unwrap_or("-"),
        r.text()
    );
    assert_eq!(r.error_type(), Some(error_type), "{}", r.text());
    assert!(r.json()["message"].is_string(), "{}", r.text());
}

fn zip_with(build: impl FnOnce(&mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    build(&mut w);
    w.finish().unwrap().into_inner()
}

fn options() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
}

#[test]
fn unsafe_and_oversized_zips_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let server = Server::start(&state, &[]);
    let mut http = server.http();

    for name in ["../evil.py", "/tmp/evil.py", "pkg/../../evil.py"] {
        let zip = zip_with(|w| {
            w.start_file("app.py", options()).unwrap();
            w.write_all(OK_APP.as_bytes()).unwrap();
            w.start_file(name, options()).unwrap();
            w.write_all(b"print('pwned')").unwrap();
        });
        let r = create_zip(&mut http, "slip", &zip, json!({}));
        assert_error(&r, 400, "InvalidParameterValueException");
        assert!(r.text().contains("not allowed"), "{}", r.text());
    }
    assert!(!state.join("evil.py").exists() && !dir.path().join("evil.py").exists());

    for target in ["../../../../etc/passwd", "/etc/passwd"] {
        let zip = zip_with(|w| {
            w.start_file("app.py", options()).unwrap();
            w.write_all(OK_APP.as_bytes()).unwrap();
            w.add_symlink("data", target, options()).unwrap();
        });
        let r = create_zip(&mut http, "link", &zip, json!({}));
        assert_error(&r, 400, "InvalidParameterValueException");
    }

    // Handler must name a module of the zip.
    let r = create(
        &mut http,
        "nomodule",
        OK_APP,
        json!({"Handler": "missing.handler"}),
    );
    assert_error(&r, 400, "InvalidParameterValueException");
    let r = create(&mut http, "nodot", OK_APP, json!({"Handler": "handler"}));
    assert_error(&r, 400, "InvalidParameterValueException");

    // Not a zip at all.
    let r = create_zip(&mut http, "garbage", b"this is not a zip", json!({}));
    assert_error(&r, 400, "InvalidParameterValueException");

    // Over 50 MB zipped (stored, so building it is cheap).
    let big = zip_with(|w| {
        w.start_file("app.py", options()).unwrap();
        w.write_all(OK_APP.as_bytes()).unwrap();
        let stored = options().compression_method(zip::CompressionMethod::Stored);
        w.start_file("blob.bin", stored).unwrap();
        w.write_all(&vec![7u8; 51 << 20]).unwrap();
    });
    let r = create_zip(&mut http, "big", &big, json!({}));
    assert_error(&r, 413, "RequestTooLargeException");

    // A zip bomb whose headers lie: 260 MB of zeros claiming 1 KB, stopped while
    // extracting (by the size count, or earlier by the declared-size check of the reader).
    let bomb = lying_bomb(260);
    let r = create_zip(&mut http, "bomb", &bomb, json!({}));
    assert_error(&r, 400, "InvalidParameterValueException");
    assert!(r.text().contains("size"), "{}", r.text());
    // A bomb with honest headers is refused before anything is written.
    let bomb = honest_bomb(300);
    let r = create_zip(&mut http, "bomb", &bomb, json!({}));
    assert_error(&r, 400, "InvalidParameterValueException");
    assert!(
        r.text()
            .contains("Unzipped size must be smaller than 262144000 bytes"),
        "{}",
        r.text()
    );
    assert_eq!(
        std::fs::read_dir(state.join("staging")).unwrap().count(),
        0,
        "staging cleaned"
    );

    // None of them left a function behind.
    let listed = http.get("/2015-03-31/functions/").json();
    assert_eq!(listed["Functions"], json!([]));
    assert!(server.stop().success());
}

/// A zip of `mb` MB of zeros (deflated by Python's zlib, fast).
fn honest_bomb(mb: usize) -> Vec<u8> {
    let script = format!(
        "import sys, zipfile, io\nb = io.BytesIO()\nz = zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED)\n\
         z.writestr('app.py', 'def handler(e, c): return 1\\n')\n\
         with z.open('bomb.bin', 'w', force_zip64=False) as f:\n    chunk = bytes(1 << 20)\n    for _ in range({mb}): f.write(chunk)\n\
         z.close()\nsys.stdout.buffer.write(b.getvalue())\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `honest_bomb` with every size field of bomb.bin claiming 1 KB.
fn lying_bomb(mb: usize) -> Vec<u8> {
    let mut zip = honest_bomb(mb);
    let claim = 1024u32.to_le_bytes();
    // Every local header and central directory entry of bomb.bin claims 1 KB.
    let positions: Vec<usize> = zip
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x03\x04" || *w == b"PK\x01\x02")
        .map(|(i, _)| i)
        .collect();
    for p in positions {
        let central = &zip[p..p + 4] == b"PK\x01\x02";
        let name_at = if central { p + 46 } else { p + 30 };
        if zip.get(name_at..name_at + 8) == Some(b"bomb.bin") {
            let size_at = if central { p + 24 } else { p + 22 };
            zip[size_at..size_at + 4].copy_from_slice(&claim);
        }
    }
    zip
}

#[test]
fn malformed_requests_get_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &["--max-workers", "1", "--max-queue", "1"],
    );
    let mut http = server.http();
    let source = "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    if event.get('big'):\n        return 'x' * (7 << 20)\n    return event\n";
    assert_eq!(create(&mut http, "f", source, json!({})).status, 201);

    let json_headers = [("content-type", "application/json")];
    let r = http.send("POST", "/2015-03-31/functions", &json_headers, b"{not json");
    assert_error(&r, 400, "InvalidRequestContentException");
    let r = create(&mut http, "g", OK_APP, json!({"Timeout": "soon"}));
    assert_error(&r, 400, "InvalidRequestContentException");
    let r = create(
        &mut http,
        "g",
        OK_APP,
        json!({"Environment": {"Variables": {"A1": 5}}}),
    );
    assert_error(&r, 400, "InvalidRequestContentException");
    let r = create(&mut http, "g", OK_APP, json!({"Timeout": 0}));
    assert_error(&r, 400, "InvalidParameterValueException");
    let r = create(&mut http, "g", OK_APP, json!({"MemorySize": 64}));
    assert_error(&r, 400, "InvalidParameterValueException");
    let r = create(&mut http, "g", OK_APP, json!({"Runtime": "nodejs20.x"}));
    assert_error(&r, 400, "InvalidParameterValueException");
    let r = create(
        &mut http,
        "g",
        OK_APP,
        json!({"Environment": {"Variables": {"AWS_REGION": "x"}}}),
    );
    assert_error(&r, 400, "InvalidParameterValueException");
    let r = create(
        &mut http,
        "g",
        OK_APP,
        json!({"Environment": {"Variables": {"BIG": "v".repeat(5000)}}}),
    );
    assert_error(&r, 400, "InvalidParameterValueException");
    let r = create(&mut http, "bad name!", OK_APP, json!({}));
    assert_error(&r, 400, "InvalidParameterValueException");
    let r = create(
        &mut http,
        "g",
        OK_APP,
        json!({"Code": {"ZipFile": "***not base64***"}}),
    );
    assert_error(&r, 400, "InvalidRequestContentException");
    let r = http.send(
        "PUT",
        "/2015-03-31/functions/f/configuration",
        &json_headers,
        br#"{"Handler": 12}"#,
    );
    assert_error(&r, 400, "InvalidRequestContentException");
    let r = http.get("/2015-03-31/functions/?MaxItems=0");
    assert_error(&r, 400, "InvalidParameterValueException");
    let r = http.get("/2015-03-31/functions/nope");
    assert_error(&r, 404, "ResourceNotFoundException");
    let r = http.get("/2015-03-31/nothing-here");
    assert_error(&r, 404, "UnknownOperationException");

    // Invoke.
    let r = http.invoke("f", b"{broken", &[]);
    assert_error(&r, 400, "InvalidRequestContentException");
    let r = http.invoke("f", b"{}", &[("x-amz-invocation-type", "Sometimes")]);
    assert_error(&r, 400, "InvalidParameterValueException");
    let r = http.invoke("f", b"{}", &[("x-amz-client-context", "%%%")]);
    assert_error(&r, 400, "InvalidParameterValueException");
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(6 << 20));
    let r = http.invoke("f", huge.as_bytes(), &[]);
    assert_error(&r, 413, "RequestTooLargeException");
    // Events may be 1 MB (since October 2025; 256 KB before).
    let event = format!("{{\"pad\": \"{}\"}}", "x".repeat(1 << 20));
    let r = http.invoke("f", event.as_bytes(), &[("x-amz-invocation-type", "Event")]);
    assert_error(&r, 413, "RequestTooLargeException");
    let r = http.invoke("f", br#"{"big": true}"#, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["errorType"], "Function.ResponseSizeTooLarge");
    // An empty payload is the event {}.
    assert_eq!(http.invoke("f", b"", &[]).json(), json!({}));

    // Beyond the queue: one running, one waiting, the rest get 429.
    let endpoint = server.endpoint.clone();
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let endpoint = endpoint.clone();
            std::thread::spawn(move || {
                Http::connect(&endpoint).invoke("f", br#"{"sleep": 1}"#, &[])
            })
        })
        .collect();
    let responses: Vec<Response> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    for throttled in responses.iter().filter(|r| r.status == 429) {
        assert_eq!(throttled.header("retry-after"), Some("1"));
        assert_eq!(
            throttled.json()["Reason"],
            "ConcurrentInvocationLimitExceeded"
        );
    }
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    assert!(server.stop().success());
}

#[test]
fn signatures_are_checked_and_tenants_are_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts.json");
    std::fs::write(
        &accounts,
        r#"[{"access_key": "AKIDALICE", "secret_key": "alice-secret"}, {"access_key": "AKIDBOB", "secret_key": "bob-secret"}]"#,
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &["--accounts", accounts.to_str().unwrap()],
    );
    let deadline = std::time::Instant::now() + WAIT;
    while !server
        .log_text()
        .contains("verifying SigV4 signatures for 2 access keys")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let alice_keys = Keys::new("AKIDALICE", "alice-secret");
    let mut alice = server.http().signed(alice_keys.clone());
    let mut bob = server.http().signed(Keys::new("AKIDBOB", "bob-secret"));
    assert_eq!(create(&mut alice, "private", OK_APP, json!({})).status, 201);
    assert_eq!(
        alice.invoke("private", br#"{"a": 1}"#, &[]).json(),
        json!({"a": 1})
    );

    // Bob sees nothing of Alice's.
    assert_error(
        &bob.get("/2015-03-31/functions/private"),
        404,
        "ResourceNotFoundException",
    );
    assert_error(
        &bob.invoke("private", b"{}", &[]),
        404,
        "ResourceNotFoundException",
    );
    assert_eq!(
        bob.get("/2015-03-31/functions/").json()["Functions"],
        json!([])
    );
    assert_error(
        &bob.send("DELETE", "/2015-03-31/functions/private", &[], b""),
        404,
        "ResourceNotFoundException",
    );
    // ... and may use the same name for his own function.
    let bob_app = "def handler(event, context):\n    return 'bob'\n";
    assert_eq!(create(&mut bob, "private", bob_app, json!({})).status, 201);
    assert_eq!(bob.invoke("private", b"{}", &[]).text(), "\"bob\"");
    assert_eq!(alice.invoke("private", b"{}", &[]).json(), json!({}));

    // Wrong secret, unknown key, no signature, stale signature, tampered body.
    let mut mallory = server.http().signed(Keys::new("AKIDALICE", "guessed"));
    assert_error(
        &mallory.get("/2015-03-31/functions/private"),
        403,
        "InvalidSignatureException",
    );
    let mut stranger = server.http().signed(Keys::new("AKIDNOBODY", "x"));
    assert_error(
        &stranger.get("/2015-03-31/functions/"),
        403,
        "UnrecognizedClientException",
    );
    let mut anonymous = server.http();
    assert_error(
        &anonymous.invoke("private", b"{}", &[]),
        403,
        "MissingAuthenticationTokenException",
    );

    let host = server.endpoint.trim_start_matches("http://").to_string();
    let path = "/2015-03-31/functions/private/invocations";
    let headers = vec![("host".to_string(), host.clone())];
    let stale = sign(
        "POST",
        &host,
        path,
        &headers,
        b"{}",
        &alice_keys,
        SystemTime::now() - Duration::from_secs(20 * 60),
    );
    let mut raw = server.http();
    let stale_headers: Vec<(&str, &str)> = stale
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = raw.send("POST", path, &stale_headers, b"{}");
    assert_error(&r, 403, "InvalidSignatureException");
    assert!(r.text().contains("Signature expired"), "{}", r.text());
    let fresh = sign(
        "POST",
        &host,
        path,
        &headers,
        b"{}",
        &alice_keys,
        SystemTime::now(),
    );
    let fresh_headers: Vec<(&str, &str)> = fresh
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = raw.send("POST", path, &fresh_headers, br#"{"tampered": true}"#);
    assert_error(&r, 403, "InvalidSignatureException");
    let r = raw.send("POST", path, &fresh_headers, b"{}");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(server.stop().success());
}

#[test]
fn runtimes_environment_and_scopes_cannot_break_later_invocations() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &[]);
    let mut http = server.http();
    let env_app = "import os, sys\ndef handler(event, context):\n    return {'python': '%d.%d' % sys.version_info[:2], 'path': os.environ['PATH']}\n";

    // A runtime runs on its own interpreter; one that is not installed is refused.
    for minor in ["3.12", "3.13"] {
        let name = format!("py{}", minor.replace('.', ""));
        let runtime = format!("python{minor}");
        let r = create(&mut http, &name, env_app, json!({"Runtime": runtime}));
        assert_eq!(r.status, 201, "{}", r.text());
        let r = http.invoke(&name, b"{}", &[]);
        assert_eq!(r.json()["python"], minor, "{}", r.text());
    }
    let r = create(&mut http, "py399", OK_APP, json!({"Runtime": "python3.99"}));
    assert_error(&r, 400, "InvalidParameterValueException");

    // The function's PATH is its own business: the worker still starts.
    let r = create(
        &mut http,
        "odd_path",
        env_app,
        json!({"Environment": {"Variables": {"PATH": "/nowhere"}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = http.invoke("odd_path", b"{}", &[]);
    assert_eq!(r.json()["path"], "/nowhere", "{}", r.text());
    // A NUL byte cannot reach an environment.
    let r = create(
        &mut http,
        "nul",
        OK_APP,
        json!({"Environment": {"Variables": {"A1": "x\u{0}y"}}}),
    );
    assert_error(&r, 400, "InvalidParameterValueException");

    // A region with a quote is refused before it reaches any ARN or JSON.
    let day = "20260101";
    for region in ["us-east-1\"", "zz-bogus-9"] {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKID/{day}/{region}/lambda/aws4_request, SignedHeaders=host, Signature=00"
        );
        let r = http.invoke("odd_path", b"{}", &[("authorization", &auth)]);
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("valid region"), "{}", r.text());
    }
    let r = http.invoke("odd_path", b"{}", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn clashing_zips_and_unparsable_payloads_are_client_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &[]);
    let mut http = server.http();
    let long_name = zip_with(|w| {
        w.start_file("app.py", options()).unwrap();
        w.write_all(OK_APP.as_bytes()).unwrap();
        w.start_file(format!("{}.py", "x".repeat(300)), options())
            .unwrap();
    });
    assert_error(
        &create_zip(&mut http, "long", &long_name, json!({})),
        400,
        "InvalidParameterValueException",
    );
    let clash = zip_with(|w| {
        w.start_file("app.py", options()).unwrap();
        w.write_all(OK_APP.as_bytes()).unwrap();
        w.add_symlink("d", "app.py", options()).unwrap();
        w.start_file("d/f.py", options()).unwrap();
    });
    assert_error(
        &create_zip(&mut http, "clash", &clash, json!({})),
        400,
        "InvalidParameterValueException",
    );

    assert_eq!(create(&mut http, "f", OK_APP, json!({})).status, 201);
    let r = http.invoke("f", b"{\"a\": \"\xff\xfe\"}", &[]);
    assert_error(&r, 400, "InvalidRequestContentException");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = http.invoke("f", deep.as_bytes(), &[]);
    assert_error(&r, 400, "InvalidRequestContentException");
    // Strings may hold brackets, and moderate nesting is fine.
    let nested = format!("{}\"[[[[\"{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(http.invoke("f", nested.as_bytes(), &[]).status, 200);
    assert!(server.stop().success());
}
