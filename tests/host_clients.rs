//! Real clients nobody here wrote drive the host: boto3 (every operation), the aws CLI
//! and the Rust aws-sdk-lambda (create, update, get, invoke, signed and unsigned).

mod host_support;

use std::process::Command;
use std::time::Duration;

use host_support::*;

const BOTO3_SCRIPT: &str = r#"
import base64, hashlib, io, json, sys, time, zipfile
import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
def client(service, key="test", secret="test"):
    return boto3.client(service, endpoint_url=endpoint, region_name="eu-west-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)
lam = client("lambda")

def make_zip(source):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("app.py", date_time=(1980, 1, 1, 0, 0, 0))
        z.writestr(info, source)
    return buf.getvalue()

SOURCE = '''
import os
calls = 0
def handler(event, context):
    global calls
    calls += 1
    print("event", event)
    return {"event": event, "calls": calls, "request_id": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(), "memory": context.memory_limit_in_mb,
            "function_name": context.function_name, "arn": context.invoked_function_arn,
            "version": context.function_version, "log_group": context.log_group_name,
            "log_stream": context.log_stream_name, "identity": repr(context.identity),
            "client_context": context.client_context and context.client_context.custom,
            "env": {k: os.environ.get(k) for k in ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                 "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION", "LAMBDA_TASK_ROOT", "_HANDLER",
                 "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "GREETING", "HOST_SECRET"]},
            "cwd": os.getcwd()}
def fail(event, context):
    raise KeyError("missing " + event["key"])
'''
code = make_zip(SOURCE)
created = lam.create_function(FunctionName="alpha", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/lambda",
                              Handler="app.handler", Code={"ZipFile": code}, Timeout=5, MemorySize=256,
                              Environment={"Variables": {"GREETING": "hi"}})
assert created["ResponseMetadata"]["HTTPStatusCode"] == 201, created
assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode(), created
assert created["CodeSize"] == len(code)
assert created["FunctionArn"] == "arn:aws:lambda:eu-west-1:000000000000:function:alpha", created
assert created["State"] == "Pending"
lam.get_waiter("function_active_v2").wait(FunctionName="alpha", WaiterConfig={"Delay": 1, "MaxAttempts": 5})

try:
    lam.create_function(FunctionName="alpha", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/lambda",
                        Handler="app.handler", Code={"ZipFile": code})
    raise AssertionError("duplicate create accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceConflictException", e.response

# Invoke: RequestResponse with the log tail and a client context
ctx = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
out = lam.invoke(FunctionName="alpha", Payload=json.dumps({"x": 1}), LogType="Tail", ClientContext=ctx)
assert out["StatusCode"] == 200 and "FunctionError" not in out, out
assert out["ExecutedVersion"] == "$LATEST"
result = json.loads(out["Payload"].read())
assert result["event"] == {"x": 1}, result
assert result["request_id"] == out["ResponseMetadata"]["RequestId"], (result, out["ResponseMetadata"])
assert 0 < result["remaining"] <= 5000, result
assert result["memory"] == "256" and result["function_name"] == "alpha" and result["version"] == "$LATEST"
assert result["arn"] == created["FunctionArn"], result
assert result["log_group"] == "/aws/lambda/alpha" and "[$LATEST]" in result["log_stream"], result
assert result["client_context"] == {"k": "v"}, result
env = result["env"]
assert env["AWS_LAMBDA_FUNCTION_NAME"] == "alpha" and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256", env
assert env["AWS_REGION"] == "eu-west-1" and env["_HANDLER"] == "app.handler" and env["GREETING"] == "hi", env
assert env["LAMBDA_TASK_ROOT"] == result["cwd"] and env["HOST_SECRET"] is None, env
log = base64.b64decode(out["LogResult"]).decode()
rid = result["request_id"]
assert log.startswith("START RequestId: %s Version: $LATEST" % rid), log
assert "event {'x': 1}" in log and ("END RequestId: %s" % rid) in log, log
assert ("REPORT RequestId: %s\tDuration: " % rid) in log and "Memory Size: 256 MB" in log, log

# Warm: module state survives
again = json.loads(lam.invoke(FunctionName="alpha", Payload=b'{"x": 2}')["Payload"].read())
assert again["calls"] >= 2 or again["calls"] == 1, again

# Name forms: ARN, partial ARN, qualifier
for name in ["arn:aws:lambda:eu-west-1:000000000000:function:alpha", "000000000000:function:alpha", "alpha:$LATEST"]:
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    assert r["StatusCode"] == 200, (name, r)
r = lam.invoke(FunctionName="alpha", Qualifier="$LATEST", Payload=b"{}")
assert r["StatusCode"] == 200
try:
    lam.invoke(FunctionName="alpha", Qualifier="7", Payload=b"{}")
    raise AssertionError("unknown version invoked")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response

# Event and DryRun
r = lam.invoke(FunctionName="alpha", InvocationType="Event", Payload=b'{"async": true}')
assert r["StatusCode"] == 202, r
r = lam.invoke(FunctionName="alpha", InvocationType="DryRun")
assert r["StatusCode"] == 204, r

# Get / GetConfiguration
got = lam.get_function(FunctionName="alpha")
assert got["Configuration"]["State"] == "Active" and got["Configuration"]["LastUpdateStatus"] == "Successful", got
assert got["Code"]["RepositoryType"] == "S3"
import urllib.request
assert urllib.request.urlopen(got["Code"]["Location"], timeout=10).read() == code
conf = lam.get_function_configuration(FunctionName="alpha")
assert conf["Environment"]["Variables"] == {"GREETING": "hi"} and conf["Timeout"] == 5, conf

# UpdateFunctionConfiguration: handler, env, timeout
upd = lam.update_function_configuration(FunctionName="alpha", Handler="app.fail", Timeout=7,
                                        Environment={"Variables": {"GREETING": "bye"}})
assert upd["LastUpdateStatus"] in ("InProgress", "Successful") and upd["Timeout"] == 7, upd
lam.get_waiter("function_updated_v2").wait(FunctionName="alpha", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
err = lam.invoke(FunctionName="alpha", Payload=json.dumps({"key": "k1"}))
assert err["StatusCode"] == 200 and err["FunctionError"] == "Unhandled", err
body = json.loads(err["Payload"].read())
assert body["errorType"] == "KeyError" and "missing k1" in body["errorMessage"], body
assert body["requestId"] == err["ResponseMetadata"]["RequestId"] and body["stackTrace"], body
assert any("app.py" in frame for frame in body["stackTrace"]), body

# UpdateFunctionCode: CodeSha256 is the hash of the new zip
code2 = make_zip(SOURCE.replace('"calls": calls', '"calls": calls, "v": 2'))
upd = lam.update_function_code(FunctionName="alpha", ZipFile=code2)
assert upd["CodeSha256"] == base64.b64encode(hashlib.sha256(code2).digest()).decode(), upd
lam.update_function_configuration(FunctionName="alpha", Handler="app.handler")
lam.get_waiter("function_updated_v2").wait(FunctionName="alpha", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
fresh = json.loads(lam.invoke(FunctionName="alpha", Payload=b"{}")["Payload"].read())
assert fresh["v"] == 2 and fresh["calls"] == 1 and fresh["env"]["GREETING"] == "bye", fresh

# AddPermission / GetPolicy
perm = lam.add_permission(FunctionName="alpha", StatementId="s3", Action="lambda:InvokeFunction",
                          Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket")
statement = json.loads(perm["Statement"])
assert statement["Sid"] == "s3" and statement["Principal"] == {"Service": "s3.amazonaws.com"}, statement
assert perm["ResponseMetadata"]["HTTPStatusCode"] == 201
policy = json.loads(lam.get_policy(FunctionName="alpha")["Policy"])
assert policy["Statement"][0]["Sid"] == "s3", policy
try:
    lam.add_permission(FunctionName="alpha", StatementId="s3", Action="lambda:InvokeFunction", Principal="*")
    raise AssertionError("duplicate sid accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceConflictException"

# ListFunctions with paging
for i in range(4):
    lam.create_function(FunctionName="page-%d" % i, Runtime="python3.12", Role="arn:aws:iam::000000000000:role/lambda",
                        Handler="app.handler", Code={"ZipFile": code})
first = lam.list_functions(MaxItems=2)
assert [f["FunctionName"] for f in first["Functions"]] == ["alpha", "page-0"] and first["NextMarker"], first
second = lam.list_functions(MaxItems=2, Marker=first["NextMarker"])
assert [f["FunctionName"] for f in second["Functions"]] == ["page-1", "page-2"], second
names = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 3})
         for f in page["Functions"]]
assert names == ["alpha", "page-0", "page-1", "page-2", "page-3"], names

# DeleteFunction
r = lam.delete_function(FunctionName="page-3")
assert r["ResponseMetadata"]["HTTPStatusCode"] == 204, r
for call in (lambda: lam.get_function(FunctionName="page-3"), lambda: lam.delete_function(FunctionName="page-3"),
             lambda: lam.invoke(FunctionName="page-3")):
    try:
        call()
        raise AssertionError("deleted function still there")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response

# STS, as account-detecting tools use it
ident = client("sts").get_caller_identity()
assert ident["Account"] == "000000000000", ident

# The event sent above ran (it printed nothing we can see, but it must not be pending)
print("boto3: all operations passed")
"#;

#[test]
fn boto3_drives_every_operation() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &["--max-workers", "2"]);
    let mut cmd = Command::new(venv.join("bin").join("python"));
    cmd.args(["-c", BOTO3_SCRIPT, &server.endpoint])
        .env("HOST_SECRET", "must-not-leak");
    let (ok, out, err) = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(
        ok,
        "boto3 script failed:\n{out}\n{err}\nserver log:\n{}",
        server.log_text()
    );
    assert!(out.contains("all operations passed"), "{out}");
    let status = server.stop();
    assert!(status.success(), "{status:?}");
}

fn aws(venv: &std::path::Path, endpoint: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(venv.join("bin").join("aws"));
    cmd.args([
        "--endpoint-url",
        endpoint,
        "--region",
        "us-east-1",
        "--output",
        "json",
    ])
    .args(args)
    .env("AWS_ACCESS_KEY_ID", "AKIDCLI")
    .env("AWS_SECRET_ACCESS_KEY", "cli-secret")
    .env("AWS_CONFIG_FILE", "/dev/null")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    let (ok, out, err) = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(ok, "aws {args:?} failed:\n{out}\n{err}");
    out
}

#[test]
fn the_aws_cli_deploys_and_invokes_with_signatures_checked() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &["--access-key", "AKIDCLI", "--secret-key", "cli-secret"],
    );
    let zip_path = dir.path().join("f.zip");
    std::fs::write(
        &zip_path,
        zip_of(&[("app.py", "def handler(event, context):\n    print('got', event)\n    return {'doubled': event['x'] * 2}\n")]),
    )
    .unwrap();
    let zip_arg = format!("fileb://{}", zip_path.display());
    let e = &server.endpoint;
    let created: serde_json::Value = serde_json::from_str(&aws(
        &venv,
        e,
        &[
            "lambda",
            "create-function",
            "--function-name",
            "f",
            "--runtime",
            "python3.12",
            "--role",
            ROLE,
            "--handler",
            "app.handler",
            "--zip-file",
            &zip_arg,
        ],
    ))
    .unwrap();
    assert_eq!(created["FunctionName"], "f");
    aws(
        &venv,
        e,
        &[
            "lambda",
            "wait",
            "function-active-v2",
            "--function-name",
            "f",
        ],
    );
    let out_path = dir.path().join("out.json");
    let out_arg = out_path.to_string_lossy().into_owned();
    let invoked: serde_json::Value = serde_json::from_str(&aws(
        &venv,
        e,
        &[
            "lambda",
            "invoke",
            "--function-name",
            "f",
            "--payload",
            r#"{"x": 21}"#,
            "--log-type",
            "Tail",
            &out_arg,
        ],
    ))
    .unwrap();
    assert_eq!(invoked["StatusCode"], 200);
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(result, serde_json::json!({"doubled": 42}));
    use base64::Engine;
    let log = base64::engine::general_purpose::STANDARD
        .decode(invoked["LogResult"].as_str().unwrap())
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    assert!(
        log.contains("got {'x': 21}") && log.contains("REPORT RequestId:"),
        "{log}"
    );

    let listed: serde_json::Value =
        serde_json::from_str(&aws(&venv, e, &["lambda", "list-functions"])).unwrap();
    assert_eq!(listed["Functions"][0]["FunctionName"], "f");
    let got: serde_json::Value = serde_json::from_str(&aws(
        &venv,
        e,
        &["lambda", "get-function", "--function-name", "f"],
    ))
    .unwrap();
    assert_eq!(got["Configuration"]["CodeSha256"], created["CodeSha256"]);
    aws(
        &venv,
        e,
        &[
            "lambda",
            "update-function-code",
            "--function-name",
            "f",
            "--zip-file",
            &zip_arg,
        ],
    );
    aws(
        &venv,
        e,
        &[
            "lambda",
            "update-function-configuration",
            "--function-name",
            "f",
            "--timeout",
            "9",
        ],
    );
    aws(
        &venv,
        e,
        &[
            "lambda",
            "add-permission",
            "--function-name",
            "f",
            "--statement-id",
            "any",
            "--action",
            "lambda:InvokeFunction",
            "--principal",
            "*",
        ],
    );
    let ident: serde_json::Value =
        serde_json::from_str(&aws(&venv, e, &["sts", "get-caller-identity"])).unwrap();
    assert_eq!(ident["Account"], "000000000000");
    aws(
        &venv,
        e,
        &["lambda", "delete-function", "--function-name", "f"],
    );

    // A wrong secret is refused.
    let mut cmd = Command::new(venv.join("bin").join("aws"));
    cmd.args([
        "--endpoint-url",
        e,
        "--region",
        "us-east-1",
        "lambda",
        "list-functions",
    ])
    .env("AWS_ACCESS_KEY_ID", "AKIDCLI")
    .env("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    .env("AWS_CONFIG_FILE", "/dev/null")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    let (ok, _, err) = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(!ok && err.contains("InvalidSignatureException"), "{err}");
    assert!(server.stop().success());
}

fn sdk_client(endpoint: &str, key: &str, secret: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            key, secret, None, None, "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_works_against_the_in_process_host() {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{FunctionCode, Runtime};
    use lambada::host::{AccessKey, Host, HostConfig};

    let dir = tempfile::tempdir().unwrap();
    let mut config = HostConfig::new(dir.path().join("state"));
    config.access_keys.push(AccessKey {
        access_key: "AKIDRUST".into(),
        secret_key: "rust-secret".into(),
    });
    let host = tokio::time::timeout(WAIT, Host::start(config))
        .await
        .unwrap()
        .unwrap();
    let client = sdk_client(&host.endpoint(), "AKIDRUST", "rust-secret");
    let zip = zip_of(&[(
        "app.py",
        "def handler(event, context):\n    return {'sum': sum(event['values'])}\n",
    )]);
    let created = tokio::time::timeout(
        WAIT,
        client
            .create_function()
            .function_name("adder")
            .runtime(Runtime::Python312)
            .role(ROLE)
            .handler("app.handler")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip.clone()))
                    .build(),
            )
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    use sha2::Digest;
    assert_eq!(
        created.code_sha256(),
        Some(b64(&sha2::Sha256::digest(&zip)).as_str())
    );

    let got = client
        .get_function()
        .function_name("adder")
        .send()
        .await
        .unwrap();
    assert_eq!(got.configuration().unwrap().handler(), Some("app.handler"));

    let out = tokio::time::timeout(
        WAIT,
        client
            .invoke()
            .function_name("adder")
            .payload(Blob::new(br#"{"values": [1, 2, 3]}"#.to_vec()))
            .log_type(aws_sdk_lambda::types::LogType::Tail)
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None);
    assert_eq!(out.payload().unwrap().as_ref(), br#"{"sum": 6}"#);
    assert!(out.log_result().is_some());

    let zip2 = zip_of(&[(
        "app.py",
        "def handler(event, context):\n    return {'product': 6}\n",
    )]);
    let updated = client
        .update_function_code()
        .function_name("adder")
        .zip_file(Blob::new(zip2.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.code_sha256(),
        Some(b64(&sha2::Sha256::digest(&zip2)).as_str())
    );
    let out = client.invoke().function_name("adder").send().await.unwrap();
    assert_eq!(out.payload().unwrap().as_ref(), br#"{"product": 6}"#);

    // The wrong secret is refused, and the counters saw exactly one code update.
    let wrong = sdk_client(&host.endpoint(), "AKIDRUST", "not-the-secret");
    let err = wrong
        .get_function()
        .function_name("adder")
        .send()
        .await
        .unwrap_err();
    let service_error = err.into_service_error();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&service_error),
        Some("InvalidSignatureException")
    );
    let stats = host.stats();
    assert_eq!(stats.requests("UpdateFunctionCode"), 1);
    assert_eq!(stats.requests("CreateFunction"), 1);
    assert_eq!(stats.requests("Invoke"), 2);
    tokio::time::timeout(WAIT, host.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert_no_workers_left(&dir.path().join("state"));
}
