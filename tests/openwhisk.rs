//! The host's OpenWhisk API: raw HTTP (status codes, error bodies, basic auth), the
//! official Apache OpenWhisk JavaScript client (npm `openwhisk`, installed by tests/run
//! under target/openwhisk-client), and `lambada run --provider openwhisk`.

mod common;
mod host_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use host_support::*;
use serde_json::{Value, json};

/// OpenWhisk's well-known guest key (`uuid:key`), here an access key and its secret.
const UUID: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502";
const KEY: &str = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A request with the guest key.
fn ow(http: &mut Http, method: &str, path: &str, body: Option<&Value>) -> Response {
    let auth = basic(UUID, KEY);
    let text = body.map(Value::to_string).unwrap_or_default();
    let mut headers = vec![("authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    http.send(method, path, &headers, text.as_bytes())
}

fn action_path(name: &str) -> String {
    format!("/api/v1/namespaces/_/actions/{name}")
}

fn python_action(code: &str) -> Value {
    json!({"exec": {"kind": "python:3", "code": code}})
}

/// Polls until the activation is recorded (a non-blocking invocation runs on).
fn activation(http: &mut Http, id: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = ow(
            http,
            "GET",
            &format!("/api/v1/namespaces/_/activations/{id}"),
            None,
        );
        if got.status == 200 {
            return got.json();
        }
        assert_eq!(got.status, 404, "{}", got.text());
        assert!(Instant::now() < deadline, "activation {id} never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn openwhisk_api_over_raw_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &["--access-key", UUID, "--secret-key", KEY],
    );
    let mut http = server.http();

    // Authentication: none, or a wrong key, is 401 with OpenWhisk's error body.
    let none = http.get("/api/v1/namespaces/_/actions");
    assert_eq!(none.status, 401);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    assert!(
        none.json()["error"]
            .as_str()
            .unwrap()
            .contains("requires authentication")
    );
    assert!(none.json()["code"].is_string());
    let wrong = basic(UUID, "not-the-key");
    let rejected = http.send(
        "GET",
        "/api/v1/namespaces/_/actions",
        &[("authorization", wrong.as_str())],
        b"",
    );
    assert_eq!(rejected.status, 401);
    assert_eq!(
        rejected.json()["error"],
        "The supplied authentication is invalid"
    );
    let namespaces = ow(&mut http, "GET", "/api/v1/namespaces", None);
    assert_eq!(namespaces.json(), json!([UUID]));
    let other = ow(&mut http, "GET", "/api/v1/namespaces/someone/actions", None);
    assert_eq!(other.status, 403, "{}", other.text());

    // Create, conflict, update with default parameters, bad kinds.
    let source = "def main(args):\n    print('greeting', args.get('name'))\n    return {'greeting': args['greeting'] + ' ' + args.get('name', 'world')}\n";
    let created = ow(
        &mut http,
        "PUT",
        &action_path("hello"),
        Some(&python_action(source)),
    );
    assert_eq!(created.status, 200, "{}", created.text());
    let created = created.json();
    assert_eq!(
        (&created["name"], &created["namespace"], &created["version"]),
        (&json!("hello"), &json!(UUID), &json!("0.0.1"))
    );
    assert_eq!(created["exec"]["binary"], false);
    assert_eq!(created["limits"]["timeout"], 60000);
    let again = ow(
        &mut http,
        "PUT",
        &action_path("hello"),
        Some(&python_action(source)),
    );
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error"], "resource already exists");
    let mut with_params = python_action(source);
    with_params["parameters"] = json!([{"key": "greeting", "value": "hello"}]);
    let updated = ow(
        &mut http,
        "PUT",
        &format!("{}?overwrite=true", action_path("hello")),
        Some(&with_params),
    );
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.json()["version"], "0.0.2");
    let node = json!({"exec": {"kind": "nodejs:20", "code": "function main() {}"}});
    let unsupported = ow(&mut http, "PUT", &action_path("js"), Some(&node));
    assert_eq!(unsupported.status, 400);
    assert!(
        unsupported.json()["error"]
            .as_str()
            .unwrap()
            .contains("'nodejs:20' is not supported")
    );
    let bad_name = ow(
        &mut http,
        "PUT",
        &action_path("-x"),
        Some(&python_action(source)),
    );
    assert_eq!(bad_name.status, 400);
    let too_long = json!({"exec": {"kind": "python:3", "code": source}, "limits": {"timeout": 10}});
    assert_eq!(
        ow(&mut http, "PUT", &action_path("quick"), Some(&too_long)).status,
        400
    );

    // Get (with and without code), 404, list.
    let got = ow(&mut http, "GET", &action_path("hello"), None).json();
    assert_eq!(got["exec"]["code"], source);
    assert_eq!(got["parameters"][0]["key"], "greeting");
    let no_code = ow(
        &mut http,
        "GET",
        &format!("{}?code=false", action_path("hello")),
        None,
    )
    .json();
    assert!(no_code["exec"].get("code").is_none());
    let missing = ow(&mut http, "GET", &action_path("nope"), None);
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["error"],
        "The requested resource does not exist."
    );

    // A zipped action (binary), returning something that is not a dictionary.
    let zip = zip_of(&[
        (
            "__main__.py",
            "import helper\ndef main(args):\n    return helper.answer()\n",
        ),
        ("helper.py", "def answer():\n    return 42\n"),
    ]);
    let binary = json!({"exec": {"kind": "python:3", "code": b64(&zip)}});
    assert_eq!(
        ow(&mut http, "PUT", &action_path("notdict"), Some(&binary)).status,
        200
    );
    let listed = ow(&mut http, "GET", "/api/v1/namespaces/_/actions", None).json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{listed}");
    assert!(names.contains(&"hello") && names.contains(&"notdict"));
    let zipped = ow(&mut http, "GET", &action_path("notdict"), None).json();
    assert_eq!(zipped["exec"]["binary"], true);
    assert_eq!(zipped["exec"]["code"], b64(&zip));

    // Blocking with result: the result alone, parameters merged, the activation id.
    let invoked = ow(
        &mut http,
        "POST",
        &format!("{}?blocking=true&result=true", action_path("hello")),
        Some(&json!({"name": "Ada"})),
    );
    assert_eq!(invoked.status, 200, "{}", invoked.text());
    assert_eq!(invoked.json(), json!({"greeting": "hello Ada"}));
    let id = invoked
        .header("x-openwhisk-activation-id")
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 32);
    let logs = ow(
        &mut http,
        "GET",
        &format!("/api/v1/namespaces/_/activations/{id}/logs"),
        None,
    )
    .json();
    let lines = logs["logs"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().ends_with("stdout: greeting Ada")),
        "{logs}"
    );
    let result = ow(
        &mut http,
        "GET",
        &format!("/api/v1/namespaces/_/activations/{id}/result"),
        None,
    )
    .json();
    assert_eq!(result["result"], json!({"greeting": "hello Ada"}));
    assert_eq!(
        (&result["success"], &result["status"]),
        (&json!(true), &json!("success"))
    );

    // Not a dictionary: a developer error, 502.
    let notdict = ow(
        &mut http,
        "POST",
        &format!("{}?blocking=true&result=true", action_path("notdict")),
        None,
    );
    assert_eq!(notdict.status, 502);
    assert_eq!(
        notdict.json(),
        json!({"error": "The action did not return a dictionary."})
    );

    // An exception: an application error, 502 with the whole activation.
    let failing = "def main(args):\n    raise ValueError('bad input ' + str(args.get('x')))\n";
    assert_eq!(
        ow(
            &mut http,
            "PUT",
            &action_path("fails"),
            Some(&python_action(failing))
        )
        .status,
        200
    );
    let failed = ow(
        &mut http,
        "POST",
        &format!("{}?blocking=true", action_path("fails")),
        Some(&json!({"x": 1})),
    );
    assert_eq!(failed.status, 502);
    let failed = failed.json();
    assert_eq!(failed["response"]["status"], "application error");
    assert_eq!(
        failed["response"]["result"],
        json!({"error": "bad input 1"})
    );
    assert!(
        failed["logs"].to_string().contains("ValueError"),
        "{failed}"
    );

    // Non-blocking: 202 and the activation id; the activation shows up when done.
    let queued = ow(
        &mut http,
        "POST",
        &action_path("hello"),
        Some(&json!({"name": "Bo"})),
    );
    assert_eq!(queued.status, 202);
    let queued_id = queued.json()["activationId"].as_str().unwrap().to_string();
    let done = activation(&mut http, &queued_id);
    assert_eq!(done["name"], "hello");
    assert_eq!(done["response"]["result"], json!({"greeting": "hello Bo"}));
    let listed = ow(
        &mut http,
        "GET",
        "/api/v1/namespaces/_/activations?name=hello",
        None,
    )
    .json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["activationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![queued_id.as_str(), id.as_str()]);
    let bad_id = ow(
        &mut http,
        "GET",
        "/api/v1/namespaces/_/activations/xyz",
        None,
    );
    assert_eq!(bad_id.status, 400);

    // Actions are not Lambda functions.
    let mut lambda = server.http().signed(Keys::new(UUID, KEY));
    let functions = lambda.get("/2015-03-31/functions/").json();
    assert_eq!(functions["Functions"], json!([]));

    // Delete: the action, then 404.
    let deleted = ow(&mut http, "DELETE", &action_path("hello"), None);
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json()["name"], "hello");
    assert_eq!(
        ow(&mut http, "DELETE", &action_path("hello"), None).status,
        404
    );
    let gone = ow(
        &mut http,
        "POST",
        &format!("{}?blocking=true", action_path("hello")),
        None,
    );
    assert_eq!(gone.status, 404);
    assert!(server.stop().success());
}

/// target/openwhisk-client/node_modules, where tests/run installs the client.
fn client_modules() -> PathBuf {
    let dir = std::env::var_os("LAMBADA_TEST_OPENWHISK_CLIENT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/openwhisk-client"),
        PathBuf::from,
    );
    let modules = dir.join("node_modules");
    assert!(
        modules.join("openwhisk").is_dir(),
        "the OpenWhisk JavaScript client is not installed in {}: run tests/run (npm ci in tests/openwhisk_client)",
        dir.display()
    );
    modules
}

const CLIENT_SCRIPT: &str = r#"
const openwhisk = require('openwhisk');
const assert = require('assert');
const ow = openwhisk({apihost: process.env.APIHOST, api_key: process.env.API_KEY});
const source = "def main(args):\n    print('hi from', args['who'])\n    return {'hello': args['who'], 'n': args.get('n', 0) + 1}\n";
(async () => {
  const created = await ow.actions.create({name: 'jsdriven', action: source, kind: 'python:3', params: {n: 41}});
  assert.strictEqual(created.name, 'jsdriven');
  const result = await ow.actions.invoke({name: 'jsdriven', blocking: true, result: true, params: {who: 'node'}});
  assert.deepStrictEqual(result, {hello: 'node', n: 42});
  const activation = await ow.actions.invoke({name: 'jsdriven', blocking: true, params: {who: 'again'}});
  assert.strictEqual(activation.response.success, true);
  const logs = await ow.activations.logs({activationId: activation.activationId});
  assert.ok(logs.logs.some(l => l.endsWith('stdout: hi from again')), JSON.stringify(logs));
  const fetched = await ow.activations.get({activationId: activation.activationId});
  assert.strictEqual(fetched.name, 'jsdriven');
  const got = await ow.actions.get({name: 'jsdriven'});
  assert.strictEqual(got.exec.code, source);
  const updated = await ow.actions.update({name: 'jsdriven', action: source.replace("+ 1", "+ 2"), kind: 'python:3'});
  assert.strictEqual(updated.version, '0.0.2');
  const listed = await ow.actions.list();
  assert.deepStrictEqual(listed.map(a => a.name), ['jsdriven']);
  const activations = await ow.activations.list({name: 'jsdriven'});
  assert.strictEqual(activations.length, 2);
  await ow.actions.delete({name: 'jsdriven'});
  await assert.rejects(ow.actions.get({name: 'jsdriven'}), e => e.statusCode === 404);
  const bad = openwhisk({apihost: process.env.APIHOST, api_key: 'nobody:nothing'});
  await assert.rejects(bad.actions.list(), e => e.statusCode === 401);
  console.log('ok');
})().catch(e => { console.error(e); process.exit(1); });
"#;

#[test]
fn the_openwhisk_javascript_client_drives_the_host() {
    let modules = client_modules();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &["--access-key", UUID, "--secret-key", KEY],
    );
    let script = dir.path().join("client.js");
    std::fs::write(&script, CLIENT_SCRIPT).unwrap();
    let mut node = Command::new("node");
    node.arg(&script)
        .env("NODE_PATH", &modules)
        .env("APIHOST", &server.endpoint)
        .env("API_KEY", format!("{UUID}:{KEY}"));
    let (ok, stdout, stderr) = run_with_timeout(node, WAIT);
    assert!(
        ok && stdout.trim() == "ok",
        "{stdout}\n{stderr}\n{}",
        server.log_text()
    );
    assert!(server.stop().success());
}

#[test]
fn the_deploy_client_puts_zipped_actions_that_run_main() {
    use lambada::deploy::openwhisk::{Action, Target, put_actions};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &["--access-key", UUID, "--secret-key", KEY],
    );
    let zip = |answer: &str| {
        zip_of(&[(
            "__main__.py",
            &format!("def main(args):\n    return {{'answer': {answer}, 'args': args}}\n"),
        )])
    };
    let action = |zip: Vec<u8>| Action {
        name: "app-answer".into(),
        zip,
        memory_mb: 1024,
        timeout_s: 3,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = Target::new(&server.endpoint, &format!("{UUID}:{KEY}"));
    // Created, then replaced (overwrite=true): the second code runs.
    for (answer, version) in [("41", "0.0.1"), ("42", "0.0.2")] {
        let results = runtime
            .block_on(put_actions(&target, vec![action(zip(answer))]))
            .unwrap();
        let put = results[0].1.as_ref().unwrap();
        assert_eq!(
            (&put["name"], &put["version"]),
            (&json!("app-answer"), &json!(version))
        );
        assert_eq!(put["limits"]["memory"], 512);
    }
    let mut http = server.http();
    let invoked = ow(
        &mut http,
        "POST",
        &format!("{}?blocking=true&result=true", action_path("app-answer")),
        Some(&json!({"x": 1})),
    );
    assert_eq!(invoked.json(), json!({"answer": 42, "args": {"x": 1}}));
    // A wrong key is the action's failure, with OpenWhisk's message.
    let wrong = Target::new(&server.endpoint, &format!("{UUID}:wrong"));
    let results = runtime
        .block_on(put_actions(&wrong, vec![action(zip("0"))]))
        .unwrap();
    let error = results[0].1.as_ref().unwrap_err().to_string();
    assert!(
        error.contains("HTTP 401") && error.contains("authentication is invalid"),
        "{error}"
    );
    assert!(server.stop().success());
}

/// `lambada run --provider openwhisk` on a fixture against `python3` on it: stdout,
/// stderr (normalised as in the differential tests) and exit status.
/// The Python the fixtures run on, as originals and over OpenWhisk (the program and
/// the host's workers): `python3`, or `LAMBADA_OPENWHISK_PYTHON` (a 3.12 one runs the
/// fixtures that need 3.12 too).
fn openwhisk_python() -> PathBuf {
    std::env::var_os("LAMBADA_OPENWHISK_PYTHON")
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

fn run_over_openwhisk(fixture: &common::Fixture) -> Result<(), String> {
    let dir = fixture.file.parent().unwrap();
    let script = fixture
        .file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let python = openwhisk_python();
    let original = common::run_python(&python, dir, &script, fixture.stdin.as_deref());
    let stdin = match &fixture.stdin {
        Some(path) => std::process::Stdio::from(std::fs::File::open(path).unwrap()),
        None => std::process::Stdio::null(),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_lambada"))
        .args(["run", "-q", "--provider", "openwhisk", "--python"])
        .arg(&python)
        .arg(&script)
        .current_dir(dir)
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .env_remove("LAMBADA_TRANSPORT")
        .stdin(stdin)
        .output()
        .unwrap();
    let faasified = common::Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: common::normalize_stderr(&String::from_utf8_lossy(&out.stderr)),
        status: out.status.code(),
    };
    if original == faasified {
        return Ok(());
    }
    Err(format!(
        "{}: status {:?} / {:?}\n{}{}",
        fixture.name,
        original.status,
        faasified.status,
        lambada::diff::unified(
            "python3 stdout",
            "openwhisk stdout",
            &original.stdout,
            &faasified.stdout
        ),
        lambada::diff::unified(
            "python3 stderr",
            "openwhisk stderr",
            &original.stderr,
            &faasified.stderr
        ),
    ))
}

/// A representative subset of the differential fixtures (classes with state written
/// back, shared references, an exception of the program's own class escaping, globals
/// written, input read locally, floats that serde_json would round), kept small for CI time (each `lambada run` starts a
/// host); the whole set is `every_fixture_over_openwhisk` (ignored: minutes).
const OPENWHISK_FIXTURES: &[&str] = &[
    "bank_system",
    "exception_uncaught_custom",
    "globals_write",
    "input_direct_indirect",
    "matrix_stats",
    "state_back_references",
];

#[test]
fn fixtures_behave_the_same_run_over_openwhisk() {
    let fixtures: Vec<_> = common::fixtures()
        .into_iter()
        .filter(|f| OPENWHISK_FIXTURES.contains(&f.name.as_str()))
        .collect();
    assert_eq!(fixtures.len(), OPENWHISK_FIXTURES.len());
    let failures: Vec<String> = fixtures
        .iter()
        .filter_map(|f| run_over_openwhisk(f).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every fixture (the syntax ones need Python 3.12+), or those named in
/// `LAMBADA_PROVIDERS_ONLY=a,b` (as in tests/providers.rs); prints how many pass.
#[test]
#[ignore = "minutes: the measurement of the README's matrix; run with --ignored"]
fn every_fixture_over_openwhisk() {
    let modern = common::python_is_modern(&openwhisk_python());
    let only = std::env::var("LAMBADA_PROVIDERS_ONLY").ok();
    let named = |name: &str| {
        only.as_deref()
            .is_none_or(|names| names.split(',').any(|n| n.trim() == name))
    };
    let fixtures: Vec<_> = common::fixtures()
        .into_iter()
        .filter(|f| (modern || !common::needs_modern_python(f)) && named(&f.name))
        .collect();
    let failures: Vec<String> = fixtures
        .iter()
        .filter_map(|f| run_over_openwhisk(f).err())
        .collect();
    eprintln!(
        "openwhisk: {}/{} fixtures behave the same",
        fixtures.len() - failures.len(),
        fixtures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
