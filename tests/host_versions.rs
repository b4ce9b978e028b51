//! Published versions, aliases, reserved concurrency and layers, as Lambda has them: a
//! version runs the code it was published with whatever happens to `$LATEST`, an alias
//! runs its version, reserved concurrency throttles with Lambda's reason, and a layer's
//! modules are importable by the functions using it, across host restarts.

mod host_support;

use std::time::{Duration, Instant};

use host_support::*;
use serde_json::{Value, json};

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function";

fn app(version: &str) -> String {
    format!(
        "import os\ndef handler(event, context):\n    return {{'code': '{version}', 'version': context.function_version, 'env': os.environ['AWS_LAMBDA_FUNCTION_VERSION'], 'arn': context.invoked_function_arn}}\n"
    )
}

fn update_code(http: &mut Http, name: &str, source: &str) -> Response {
    let body = json!({"ZipFile": b64(&zip_of(&[("app.py", source)]))});
    http.send(
        "PUT",
        &format!("/2015-03-31/functions/{name}/code"),
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn put_json(http: &mut Http, path: &str, body: &Value) -> Response {
    http.send(
        "PUT",
        path,
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn publish(http: &mut Http, name: &str) -> Response {
    http.post_json(
        &format!("/2015-03-31/functions/{name}/versions"),
        &json!({}),
    )
}

#[test]
fn a_published_version_keeps_its_code_after_latest_changes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let server = Server::start(&state, &[]);
    let mut http = server.http();
    assert_eq!(create(&mut http, "f", &app("one"), json!({})).status, 201);
    let first = publish(&mut http, "f");
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.json()["Version"], "1");
    assert_eq!(first.json()["FunctionArn"], format!("{ARN}:f:1"));
    assert_eq!(update_code(&mut http, "f", &app("two")).status, 200);

    let latest = http.invoke("f", b"{}", &[]);
    assert_eq!(latest.json()["code"], "two");
    assert_eq!(latest.json()["version"], "$LATEST");
    assert_eq!(latest.header("x-amz-executed-version"), Some("$LATEST"));
    let one = http.invoke("f:1", b"{}", &[]);
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(
        one.json(),
        json!({"code": "one", "version": "1", "env": "1", "arn": format!("{ARN}:f:1")})
    );
    assert_eq!(one.header("x-amz-executed-version"), Some("1"));
    let by_query = http.send(
        "POST",
        "/2015-03-31/functions/f/invocations?Qualifier=1",
        &[],
        b"{}",
    );
    assert_eq!(by_query.json()["code"], "one");

    let config = http.get("/2015-03-31/functions/f/configuration?Qualifier=1");
    assert_eq!(config.json()["Version"], "1");
    assert_eq!(config.json()["CodeSha256"], first.json()["CodeSha256"]);
    let function = http.get(&format!("/2015-03-31/functions/{ARN}:f:1"));
    assert_eq!(function.json()["Configuration"]["Version"], "1");

    // Publishing again without a change to $LATEST gives the same version back.
    assert_eq!(publish(&mut http, "f").json()["Version"], "2");
    assert_eq!(publish(&mut http, "f").json()["Version"], "2");
    let versions = http.get("/2015-03-31/functions/f/versions").json();
    let names: Vec<&str> = versions["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Version"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["$LATEST", "1", "2"]);

    // A CodeSha256 that is not $LATEST's refuses to publish.
    let stale = http.post_json(
        "/2015-03-31/functions/f/versions",
        &json!({"CodeSha256": first.json()["CodeSha256"]}),
    );
    assert_eq!(stale.status, 400);
    assert_eq!(stale.error_type(), Some("InvalidParameterValueException"));
    let wrong_revision = http.post_json(
        "/2015-03-31/functions/f/versions",
        &json!({"RevisionId": "not-the-revision"}),
    );
    assert_eq!(wrong_revision.status, 412);

    // Unknown qualifiers are 404 ResourceNotFoundException naming the qualified ARN.
    for missing in ["f:7", "f:nope"] {
        let r = http.invoke(missing, b"{}", &[]);
        assert_eq!(r.status, 404, "{missing}");
        assert_eq!(r.error_type(), Some("ResourceNotFoundException"));
        assert!(
            r.text().contains(&format!("{ARN}:{missing}")),
            "{}",
            r.text()
        );
    }
    assert_eq!(http.get("/2015-03-31/functions/f?Qualifier=9").status, 404);

    // Versions survive a restart (kill -9 included) and keep their code.
    drop(server); // SIGKILL
    let server = Server::start(&state, &[]);
    let mut http = server.http();
    assert_eq!(http.invoke("f:1", b"{}", &[]).json()["code"], "one");
    assert_eq!(http.invoke("f:2", b"{}", &[]).json()["code"], "two");

    let deleted = http.send("DELETE", "/2015-03-31/functions/f?Qualifier=1", &[], b"");
    assert_eq!(deleted.status, 204);
    assert_eq!(http.invoke("f:1", b"{}", &[]).status, 404);
    assert_eq!(http.invoke("f:2", b"{}", &[]).json()["code"], "two");
    assert_eq!(http.invoke("f", b"{}", &[]).json()["code"], "two");
    let latest = http.send("DELETE", "/2015-03-31/functions/f", &[], b"");
    assert_eq!(latest.status, 204);
    assert_eq!(http.invoke("f:2", b"{}", &[]).status, 404);
    assert!(server.stop().success());
}

#[test]
fn an_alias_runs_its_version_and_routes_by_weight() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &[]);
    let mut http = server.http();
    assert_eq!(create(&mut http, "g", &app("one"), json!({})).status, 201);
    assert_eq!(publish(&mut http, "g").json()["Version"], "1");
    assert_eq!(update_code(&mut http, "g", &app("two")).status, 200);
    assert_eq!(publish(&mut http, "g").json()["Version"], "2");
    assert_eq!(update_code(&mut http, "g", &app("three")).status, 200);

    let aliases = "/2015-03-31/functions/g/aliases";
    let live = http.post_json(aliases, &json!({"Name": "live", "FunctionVersion": "1"}));
    assert_eq!(live.status, 201, "{}", live.text());
    assert_eq!(live.json()["AliasArn"], format!("{ARN}:g:live"));
    let again = http.post_json(aliases, &json!({"Name": "live", "FunctionVersion": "2"}));
    assert_eq!(again.status, 409);
    assert_eq!(again.error_type(), Some("ResourceConflictException"));
    let r = http.invoke("g:live", b"{}", &[]);
    assert_eq!(r.json()["code"], "one");
    assert_eq!(r.json()["arn"], format!("{ARN}:g:live"));
    assert_eq!(r.header("x-amz-executed-version"), Some("1"));

    let moved = put_json(
        &mut http,
        &format!("{aliases}/live"),
        &json!({"FunctionVersion": "2"}),
    );
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(http.invoke("g:live", b"{}", &[]).json()["code"], "two");

    // All of the traffic shifted to version 1 by weight.
    let shifted = put_json(
        &mut http,
        &format!("{aliases}/live"),
        &json!({"RoutingConfig": {"AdditionalVersionWeights": {"1": 1.0}}}),
    );
    assert_eq!(shifted.status, 200, "{}", shifted.text());
    assert_eq!(
        shifted.json()["RoutingConfig"]["AdditionalVersionWeights"]["1"],
        1.0
    );
    for _ in 0..3 {
        let r = http.invoke("g:live", b"{}", &[]);
        assert_eq!(r.json()["code"], "one");
        assert_eq!(r.header("x-amz-executed-version"), Some("1"));
    }
    for bad in [
        json!({"RoutingConfig": {"AdditionalVersionWeights": {"1": 1.5}}}),
        json!({"RoutingConfig": {"AdditionalVersionWeights": {"1": 0.1, "2": 0.1}}}),
        json!({"FunctionVersion": "$LATEST", "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}}),
    ] {
        let r = put_json(&mut http, &format!("{aliases}/live"), &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let unknown_version = http.post_json(aliases, &json!({"Name": "x", "FunctionVersion": "9"}));
    assert_eq!(unknown_version.status, 404);

    let latest = http.post_json(
        aliases,
        &json!({"Name": "edge", "FunctionVersion": "$LATEST"}),
    );
    assert_eq!(latest.status, 201);
    assert_eq!(http.invoke("g:edge", b"{}", &[]).json()["code"], "three");
    let listed = http.get(&format!("{aliases}?FunctionVersion=2")).json();
    assert_eq!(listed["Aliases"].as_array().unwrap().len(), 1);
    assert_eq!(listed["Aliases"][0]["Name"], "live");

    // A version an alias uses cannot be deleted; an alias is not deleted through
    // DeleteFunction; GetAlias of a deleted alias is 404.
    let in_use = http.send("DELETE", "/2015-03-31/functions/g?Qualifier=1", &[], b"");
    assert_eq!(in_use.status, 409);
    let by_alias = http.send("DELETE", "/2015-03-31/functions/g:live", &[], b"");
    assert_eq!(by_alias.status, 400);
    assert_eq!(
        http.send("DELETE", &format!("{aliases}/live"), &[], b"")
            .status,
        204
    );
    let gone = http.get(&format!("{aliases}/live"));
    assert_eq!(gone.status, 404);
    assert!(
        gone.text().contains("Cannot find alias arn"),
        "{}",
        gone.text()
    );
    assert_eq!(http.invoke("g:live", b"{}", &[]).status, 404);
    assert!(server.stop().success());
}

#[test]
fn reserved_concurrency_throttles_with_lambdas_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &["--max-workers", "4"]);
    let mut http = server.http();
    let source = r#"
import socket, time
def handler(event, context):
    if "port" in event:
        with socket.create_connection(("127.0.0.1", event["port"]), timeout=10) as s:
            s.sendall(b"running\n")
    time.sleep(event.get("sleep", 0))
    return "ok"
"#;
    assert_eq!(create(&mut http, "busy", source, json!({})).status, 201);
    assert_eq!(publish(&mut http, "busy").status, 201);
    let concurrency = "/2017-10-31/functions/busy/concurrency";

    let zero = put_json(
        &mut http,
        concurrency,
        &json!({"ReservedConcurrentExecutions": 0}),
    );
    assert_eq!(zero.status, 200, "{}", zero.text());
    assert_eq!(zero.json(), json!({"ReservedConcurrentExecutions": 0}));
    for name in ["busy", "busy:1", "busy:$LATEST"] {
        let r = http.invoke(name, b"{}", &[]);
        assert_eq!(r.status, 429, "{name}");
        assert_eq!(r.error_type(), Some("TooManyRequestsException"));
        assert_eq!(
            r.json()["Reason"],
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        );
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    let reported = http.get("/2019-09-30/functions/busy/concurrency");
    assert_eq!(reported.json(), json!({"ReservedConcurrentExecutions": 0}));
    let function = http.get("/2015-03-31/functions/busy").json();
    assert_eq!(function["Concurrency"]["ReservedConcurrentExecutions"], 0);

    // One slot: a second invocation while the first runs is throttled, of any version.
    put_json(
        &mut http,
        concurrency,
        &json!({"ReservedConcurrentExecutions": 1}),
    );
    let started = Collector::start();
    let endpoint = server.endpoint.clone();
    let event = json!({"sleep": 3, "port": started.port}).to_string();
    let slow =
        std::thread::spawn(move || Http::connect(&endpoint).invoke("busy", event.as_bytes(), &[]));
    let deadline = Instant::now() + WAIT;
    while started.lines().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the slow invocation never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let throttled = http.invoke("busy:1", b"{}", &[]);
    assert_eq!(throttled.status, 429, "{}", throttled.text());
    assert_eq!(
        throttled.json()["Reason"],
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    );
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(http.invoke("busy:1", b"{}", &[]).status, 200);

    // Reservations must leave 100 of the account's 1,000 unreserved.
    let greedy = put_json(
        &mut http,
        concurrency,
        &json!({"ReservedConcurrentExecutions": 901}),
    );
    assert_eq!(greedy.status, 400);
    assert!(greedy.text().contains("UnreservedConcurrentExecution"));
    let settings = http.get("/2016-08-19/account-settings/").json();
    assert_eq!(
        settings["AccountLimit"]["UnreservedConcurrentExecutions"],
        999
    );

    assert_eq!(http.send("DELETE", concurrency, &[], b"").status, 204);
    assert_eq!(
        http.get("/2019-09-30/functions/busy/concurrency").json(),
        json!({})
    );
    assert_eq!(http.invoke("busy", b"{}", &[]).status, 200);
    assert!(server.stop().success());
}

fn publish_layer(http: &mut Http, name: &str, files: &[(&str, &str)]) -> Response {
    http.post_json(
        &format!("/2018-10-31/layers/{name}/versions"),
        &json!({
            "Content": {"ZipFile": b64(&zip_of(files))},
            "CompatibleRuntimes": ["python3.12"],
            "Description": "greetings",
        }),
    )
}

#[test]
fn layers_provide_modules_in_order_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let server = Server::start(&state, &[]);
    let mut http = server.http();
    let v1 = publish_layer(
        &mut http,
        "greetings",
        &[("python/greeting.py", "WORD = 'hello'\n")],
    );
    assert_eq!(v1.status, 201, "{}", v1.text());
    let v1 = v1.json();
    let v1_arn = v1["LayerVersionArn"].as_str().unwrap().to_string();
    assert_eq!(
        v1_arn,
        "arn:aws:lambda:us-east-1:000000000000:layer:greetings:1"
    );
    assert_eq!(v1["Version"], 1);
    let v2 = publish_layer(
        &mut http,
        "greetings",
        &[(
            "python/lib/python3.12/site-packages/greeting.py",
            "WORD = 'bonjour'\n",
        )],
    )
    .json();
    let v2_arn = v2["LayerVersionArn"].as_str().unwrap().to_string();
    let extra = publish_layer(
        &mut http,
        "extra",
        &[("python/punctuation.py", "MARK = '!'\n")],
    );
    let extra_arn = extra.json()["LayerVersionArn"]
        .as_str()
        .unwrap()
        .to_string();

    let source = "import greeting, punctuation\ndef handler(event, context):\n    return greeting.WORD + punctuation.MARK\n";
    let created = create(
        &mut http,
        "greeter",
        source,
        json!({"Layers": [v1_arn, extra_arn]}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["Layers"][0]["Arn"], v1_arn.as_str());
    assert!(created.json()["Layers"][0]["CodeSize"].as_u64().unwrap() > 0);
    assert_eq!(http.invoke("greeter", b"{}", &[]).json(), json!("hello!"));

    let updated = put_json(
        &mut http,
        "/2015-03-31/functions/greeter/configuration",
        &json!({"Layers": [v2_arn, extra_arn]}),
    );
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(http.invoke("greeter", b"{}", &[]).json(), json!("bonjour!"));

    let versions = http.get("/2018-10-31/layers/greetings/versions").json();
    let numbers: Vec<u64> = versions["LayerVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
    let layers = http.get("/2018-10-31/layers").json();
    assert_eq!(layers["Layers"].as_array().unwrap().len(), 2);
    let got = http.get("/2018-10-31/layers/greetings/versions/1").json();
    assert_eq!(got["Content"]["CodeSha256"], v1["Content"]["CodeSha256"]);
    let location = got["Content"]["Location"].as_str().unwrap();
    let zip = http.get(&location[location.find("/_lambada/").unwrap()..]);
    assert_eq!(zip.status, 200);
    assert_eq!(
        zip.body,
        zip_of(&[("python/greeting.py", "WORD = 'hello'\n")])
    );
    let by_arn = http.get(&format!(
        "/2018-10-31/layers?find=LayerVersion&Arn={}",
        v2_arn.replace(':', "%3A")
    ));
    assert_eq!(by_arn.json()["Version"], 2);

    // Bad layer lists are refused.
    let six = vec![v2_arn.clone(); 6];
    let r = put_json(
        &mut http,
        "/2015-03-31/functions/greeter/configuration",
        &json!({"Layers": six}),
    );
    assert_eq!(r.status, 400);
    let r = put_json(
        &mut http,
        "/2015-03-31/functions/greeter/configuration",
        &json!({"Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:nope:1"]}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("does not exist"), "{}", r.text());
    let bad_zip = http.post_json(
        "/2018-10-31/layers/broken/versions",
        &json!({"Content": {"ZipFile": b64(b"not a zip")}}),
    );
    assert_eq!(bad_zip.status, 400, "{}", bad_zip.text());

    // Deleting a layer version leaves the functions using it working, also after a kill.
    let deleted = http.send(
        "DELETE",
        "/2018-10-31/layers/greetings/versions/2",
        &[],
        b"",
    );
    assert_eq!(deleted.status, 204);
    assert_eq!(
        http.get("/2018-10-31/layers/greetings/versions/2").status,
        404
    );
    drop(server); // SIGKILL
    let server = Server::start(&state, &[]);
    let mut http = server.http();
    assert_eq!(http.invoke("greeter", b"{}", &[]).json(), json!("bonjour!"));
    let config = http
        .get("/2015-03-31/functions/greeter/configuration")
        .json();
    assert_eq!(config["Layers"][0]["Arn"], v2_arn.as_str());
    let remaining = http.get("/2018-10-31/layers/greetings/versions").json();
    assert_eq!(remaining["LayerVersions"].as_array().unwrap().len(), 1);
    assert_eq!(
        publish_layer(&mut http, "greetings", &[("python/x.py", "")]).json()["Version"],
        3
    );
    assert!(server.stop().success());
}

#[test]
fn boto3_drives_versions_aliases_concurrency_and_layers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &[]);
    let script = r#"
import base64, io, json, sys, zipfile
import boto3
from botocore.exceptions import ClientError

def zipped(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()

c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="k", aws_secret_access_key="s")
layer = c.publish_layer_version(LayerName="lib", Content={"ZipFile": zipped({"python/lib.py": "X = 41\n"})})
c.create_function(FunctionName="b", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                  Handler="app.handler", Layers=[layer["LayerVersionArn"]], Publish=True,
                  Code={"ZipFile": zipped({"app.py": "import lib\ndef handler(e, c):\n    return lib.X + 1\n"})})
c.create_alias(FunctionName="b", Name="prod", FunctionVersion="1")
out = c.invoke(FunctionName="b", Qualifier="prod")
assert json.load(out["Payload"]) == 42 and out["ExecutedVersion"] == "1", out
assert [v["Version"] for v in c.list_versions_by_function(FunctionName="b")["Versions"]] == ["$LATEST", "1"]
assert c.get_alias(FunctionName="b", Name="prod")["FunctionVersion"] == "1"
c.put_function_concurrency(FunctionName="b", ReservedConcurrentExecutions=0)
try:
    c.invoke(FunctionName="b")
    raise SystemExit("not throttled")
except ClientError as e:
    assert e.response["Error"]["Code"] == "TooManyRequestsException", e.response
    assert e.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded", e.response
c.delete_function_concurrency(FunctionName="b")
try:
    c.get_function(FunctionName="b", Qualifier="7")
    raise SystemExit("version 7 found")
except c.exceptions.ResourceNotFoundException:
    pass
assert c.list_layers()["Layers"][0]["LayerName"] == "lib"
print("ok")
"#;
    let mut cmd = std::process::Command::new(venv().join("bin").join("python"));
    cmd.arg("-c").arg(script).arg(&server.endpoint);
    let (ok, out, err) = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(ok, "{out}\n{err}\n{}", server.log_text());
    assert_eq!(out.trim(), "ok");
    assert!(server.stop().success());
}

#[test]
fn versions_have_their_own_policies_and_listings() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &[]);
    let mut http = server.http();
    assert_eq!(create(&mut http, "p", &app("one"), json!({})).status, 201);
    assert_eq!(publish(&mut http, "p").status, 201);
    let allow = |sid: &str| json!({"StatementId": sid, "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"});
    let r = http.post_json("/2015-03-31/functions/p/policy?Qualifier=1", &allow("v1"));
    assert_eq!(r.status, 201, "{}", r.text());
    let statement: Value = serde_json::from_str(r.json()["Statement"].as_str().unwrap()).unwrap();
    assert_eq!(statement["Resource"], format!("{ARN}:p:1"));
    // $LATEST has no policy of its own yet; version 1 has one statement.
    assert_eq!(http.get("/2015-03-31/functions/p/policy").status, 404);
    let policy = http
        .get("/2015-03-31/functions/p/policy?Qualifier=1")
        .json();
    let policy: Value = serde_json::from_str(policy["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 1);
    let none = http.send("DELETE", "/2015-03-31/functions/p/policy/v1", &[], b"");
    assert_eq!(none.status, 404);
    assert!(
        none.text().contains("No policy is associated"),
        "{}",
        none.text()
    );
    let removed = http.send(
        "DELETE",
        "/2015-03-31/functions/p/policy/v1?Qualifier=1",
        &[],
        b"",
    );
    assert_eq!(removed.status, 204);

    let all = http
        .get("/2015-03-31/functions/?FunctionVersion=ALL")
        .json();
    let arns: Vec<&str> = all["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FunctionArn"].as_str().unwrap())
        .collect();
    assert_eq!(arns, [format!("{ARN}:p:$LATEST"), format!("{ARN}:p:1")]);
    assert_eq!(
        http.get("/2015-03-31/functions/").json()["Functions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // InvokeAsync, the deprecated Event form, still runs the function.
    let queued = http.send("POST", "/2014-11-13/functions/p/invoke-async/", &[], b"{}");
    assert_eq!(queued.status, 202, "{}", queued.text());
    assert_eq!(queued.json(), json!({"Status": 202}));
    // Model constraints are ValidationException, before anything else is looked at.
    let bad = http.post_json(
        "/2015-03-31/functions",
        &json!({"FunctionName": "q", "Architectures": ["foo"]}),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_type(), Some("ValidationException"));
    assert!(server.stop().success());
}
