//! Failures the deployer must handle, from a scripted mock Lambda endpoint on
//! 127.0.0.1: throttling, updates in progress, slow state transitions, role
//! propagation, rejected signatures, an endpoint that lies; and an unreachable endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use lambada::deploy::{DeployError, Outcome, code_sha256, deploy};
use serde_json::{Value, json};

use crate::support::{Func, free_port, function_name, local_options, write_app};

/// An error answer for the first `times` requests of operation `op`.
struct Fault {
    op: &'static str,
    times: u32,
    status: u16,
    error_type: &'static str,
    message: &'static str,
}

#[derive(Default)]
struct MockState {
    functions: HashMap<String, Value>,
    /// `"Operation function-name"`, in arrival order.
    requests: Vec<String>,
    faults: Vec<Fault>,
    /// After each change, GetFunctionConfiguration reports Pending / InProgress this
    /// many times; updates sent meanwhile get 409, as on AWS.
    busy_polls: u32,
    busy: HashMap<String, u32>,
    /// Reports this CodeSha256 instead of the uploaded zip's.
    wrong_sha: Option<String>,
    /// A created function ends in State Failed with this reason.
    fails_with: Option<String>,
    /// Answers IAM (GetRole: none; CreateRole, AttachRolePolicy) as AWS does; otherwise
    /// IAM requests are refused, as by the embedded host.
    iam: bool,
}

struct Mock {
    endpoint: String,
    state: Arc<Mutex<MockState>>,
}

impl Mock {
    async fn start(setup: impl FnOnce(&mut MockState)) -> Mock {
        let mut state = MockState::default();
        setup(&mut state);
        let state = Arc::new(Mutex::new(state));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Mock { endpoint, state }
    }

    fn count(&self, op: &str) -> usize {
        let prefix = format!("{op} ");
        let state = self.state.lock().unwrap();
        state
            .requests
            .iter()
            .filter(|r| r.starts_with(&prefix))
            .count()
    }

    fn function(&self, name: &str) -> Value {
        self.state.lock().unwrap().functions[name].clone()
    }
}

fn error(status: u16, error_type: &str, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [
            ("x-amzn-ErrorType", error_type),
            ("content-type", "application/json"),
        ],
        json!({"Type": "User", "message": message}).to_string(),
    )
        .into_response()
}

fn ok(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn iam_answer(iam: bool, action: &str) -> Response {
    let xml = |status: u16, body: String| {
        (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "text/xml")],
            body,
        )
            .into_response()
    };
    let meta = "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>";
    match (iam, action) {
        (false, _) => error(400, "InvalidRequestContentException", "unknown operation"),
        (true, "GetRole") => xml(
            404,
            "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The role with name lambada-app cannot be found.</Message></Error><RequestId>1</RequestId></ErrorResponse>".into(),
        ),
        (true, "CreateRole") => xml(
            200,
            format!(
                "<CreateRoleResponse><CreateRoleResult><Role><Path>/</Path><RoleName>lambada-app</RoleName><RoleId>AROAMOCK</RoleId><Arn>arn:aws:iam::123456789012:role/lambada-app</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></Role></CreateRoleResult>{meta}</CreateRoleResponse>"
            ),
        ),
        (true, "AttachRolePolicy") => xml(
            200,
            format!("<AttachRolePolicyResponse>{meta}</AttachRolePolicyResponse>"),
        ),
        (true, _) => error(400, "InvalidAction", "not mocked"),
    }
}

async fn handle(
    State(state): State<Arc<Mutex<MockState>>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    // IAM's query protocol: a form with the action, at the same endpoint (as moto).
    if body.starts_with(b"Action=") {
        let action = String::from_utf8_lossy(&body)
            .split('&')
            .next()
            .unwrap_or_default()
            .trim_start_matches("Action=")
            .to_owned();
        let mut s = state.lock().unwrap();
        s.requests.push(format!("{action} -"));
        return iam_answer(s.iam, &action);
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let rest = uri.path().trim_start_matches("/2015-03-31/functions");
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let (op, name) = match (&method, parts.as_slice()) {
        (&Method::POST, [""]) => (
            "CreateFunction",
            body["FunctionName"].as_str().unwrap_or("").to_string(),
        ),
        (&Method::GET, [name]) => ("GetFunction", name.to_string()),
        (&Method::GET, [name, "configuration"]) => ("GetFunctionConfiguration", name.to_string()),
        (&Method::PUT, [name, "code"]) => ("UpdateFunctionCode", name.to_string()),
        (&Method::PUT, [name, "configuration"]) => {
            ("UpdateFunctionConfiguration", name.to_string())
        }
        _ => return error(400, "InvalidRequestContentException", "unknown operation"),
    };
    let mut s = state.lock().unwrap();
    s.requests.push(format!("{op} {name}"));
    if let Some(fault) = s.faults.iter_mut().find(|f| f.op == op && f.times > 0) {
        fault.times -= 1;
        return error(fault.status, fault.error_type, fault.message);
    }
    let busy = s.busy.get(&name).copied().unwrap_or(0);
    let not_found = || {
        error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        )
    };
    let in_progress = || {
        error(
            409,
            "ResourceConflictException",
            &format!(
                "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:{name}"
            ),
        )
    };
    let zip_sha = |zip: &Value| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(zip.as_str().unwrap_or(""))
            .unwrap();
        (code_sha256(&bytes), bytes.len())
    };
    match op {
        "GetFunction" => match s.functions.get(&name) {
            Some(conf) => ok(
                200,
                json!({"Configuration": conf, "Code": {"RepositoryType": "S3"}}),
            ),
            None => not_found(),
        },
        "GetFunctionConfiguration" => {
            let Some(conf) = s.functions.get(&name).cloned() else {
                return not_found();
            };
            let mut conf = conf;
            if busy > 0 {
                s.busy.insert(name.clone(), busy - 1);
                if conf["State"] == "Pending" || conf["LastUpdateStatus"] == "InProgress" {
                    return ok(200, conf);
                }
            }
            if conf["State"] == "Pending" {
                conf["State"] = json!("Active");
                conf["LastUpdateStatus"] = json!("Successful");
            }
            if conf["LastUpdateStatus"] == "InProgress" {
                conf["LastUpdateStatus"] = json!("Successful");
            }
            if let Some(reason) = s.fails_with.clone() {
                conf["State"] = json!("Failed");
                conf["StateReason"] = json!(reason);
            }
            s.functions.insert(name, conf.clone());
            ok(200, conf)
        }
        "CreateFunction" => {
            if s.functions.contains_key(&name) {
                return error(409, "ResourceConflictException", "Function already exist");
            }
            let (sha, size) = zip_sha(&body["Code"]["ZipFile"]);
            let conf = json!({
                "FunctionName": name,
                "FunctionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
                "Runtime": body["Runtime"],
                "Role": body["Role"],
                "Handler": body["Handler"],
                "CodeSize": size,
                "CodeSha256": s.wrong_sha.clone().unwrap_or(sha),
                "MemorySize": body["MemorySize"],
                "Timeout": body["Timeout"],
                "Version": "$LATEST",
                "PackageType": "Zip",
                "State": "Pending",
                "LastUpdateStatus": "InProgress",
            });
            let busy_polls = s.busy_polls;
            s.busy.insert(name.clone(), busy_polls);
            s.functions.insert(name, conf.clone());
            ok(201, conf)
        }
        "UpdateFunctionCode" | "UpdateFunctionConfiguration" => {
            let Some(mut conf) = s.functions.get(&name).cloned() else {
                return not_found();
            };
            if busy > 0 {
                return in_progress();
            }
            if op == "UpdateFunctionCode" {
                let (sha, size) = zip_sha(&body["ZipFile"]);
                conf["CodeSha256"] = json!(s.wrong_sha.clone().unwrap_or(sha));
                conf["CodeSize"] = json!(size);
            } else {
                for field in ["Runtime", "Handler", "MemorySize", "Timeout"] {
                    if !body[field].is_null() {
                        conf[field] = body[field].clone();
                    }
                }
            }
            conf["LastUpdateStatus"] = json!("InProgress");
            let busy_polls = s.busy_polls;
            s.busy.insert(name.clone(), busy_polls);
            s.functions.insert(name, conf.clone());
            ok(200, conf)
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn slow_state_transitions_are_waited_for_between_steps() {
    let mock = Mock::start(|s| s.busy_polls = 3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut funcs = vec![Func::new("fib"), Func::new("area")];
    write_app(dir.path(), "", &funcs);
    let created = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!(created.created, 2, "{created}");
    assert_eq!(mock.function("app-fib")["State"], "Active");

    // Code and configuration both change: two updates, each waited for; the mock answers
    // 409 to an update sent while the previous one is in progress.
    funcs[0].version = 2;
    funcs[0].memory = 512;
    write_app(dir.path(), "", &funcs);
    let updated = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!(
        (updated.updated, updated.unchanged, updated.failed),
        (1, 1, 0),
        "{updated}"
    );
    assert_eq!(updated.functions[1].changed, ["code", "memory"]);
    let fib = mock.function("app-fib");
    assert_eq!(fib["MemorySize"], 512);
    assert_eq!(fib["LastUpdateStatus"], "Successful");
    assert_eq!(mock.count("UpdateFunctionCode"), 1);
    assert_eq!(mock.count("UpdateFunctionConfiguration"), 1);
}

#[tokio::test]
async fn throttling_is_retried_with_backoff() {
    let mock = Mock::start(|s| {
        for (op, times) in [
            ("GetFunction", 3),
            ("CreateFunction", 2),
            ("GetFunctionConfiguration", 2),
        ] {
            s.faults.push(Fault {
                op,
                times,
                status: 429,
                error_type: "TooManyRequestsException",
                message: "Rate exceeded",
            });
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib"), Func::new("area")]);
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!((summary.created, summary.failed), (2, 0), "{summary}");
    assert_eq!(mock.count("CreateFunction"), 4);
}

#[tokio::test]
async fn throttling_that_never_ends_fails_the_function_with_the_service_message() {
    let mock = Mock::start(|s| {
        s.faults.push(Fault {
            op: "CreateFunction",
            times: u32::MAX,
            status: 429,
            error_type: "TooManyRequestsException",
            message: "Rate exceeded",
        })
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let mut opts = local_options(&mock.endpoint);
    opts.retry.throttle_for = Duration::from_millis(500);
    let summary = deploy(dir.path(), &opts).await.unwrap();
    assert_eq!(summary.failed, 1);
    assert_eq!(
        summary.functions[0].error.as_deref(),
        Some("creating: TooManyRequestsException: Rate exceeded")
    );
    assert!(
        summary
            .to_string()
            .contains("app-fib (fib): creating: TooManyRequestsException: Rate exceeded")
    );
}

#[tokio::test]
async fn an_update_in_progress_is_waited_out() {
    let mock = Mock::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mut funcs = vec![Func::new("fib")];
    write_app(dir.path(), "", &funcs);
    deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();

    mock.state.lock().unwrap().faults.push(Fault {
        op: "UpdateFunctionCode",
        times: 2,
        status: 409,
        error_type: "ResourceConflictException",
        message: "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:app-fib",
    });
    funcs[0].version = 2;
    write_app(dir.path(), "", &funcs);
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!((summary.updated, summary.failed), (1, 0), "{summary}");
    assert_eq!(mock.count("UpdateFunctionCode"), 3);
}

#[tokio::test]
async fn a_role_created_in_this_run_is_waited_for_until_it_can_be_assumed() {
    let mock = Mock::start(|s| {
        s.iam = true;
        s.faults.push(Fault {
            op: "CreateFunction",
            times: 3,
            status: 400,
            error_type: "InvalidParameterValueException",
            message: "The role defined for the function cannot be assumed by Lambda.",
        })
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!((summary.created, summary.failed), (1, 0), "{summary}");
    assert_eq!(mock.count("CreateRole"), 1);
    assert_eq!(mock.count("AttachRolePolicy"), 1);
    assert_eq!(mock.count("CreateFunction"), 4);
}

#[tokio::test]
async fn a_given_role_the_endpoint_rejects_fails_at_once_with_its_message() {
    let mock = Mock::start(|s| {
        s.faults.push(Fault {
            op: "CreateFunction",
            times: u32::MAX,
            status: 400,
            error_type: "InvalidParameterValueException",
            message: "The role defined for the function cannot be assumed by Lambda.",
        })
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let options = lambada::deploy::DeployOptions {
        role: Some("arn:aws:iam::123456789012:role/not-for-lambda".into()),
        ..local_options(&mock.endpoint)
    };
    let started = std::time::Instant::now();
    let summary = deploy(dir.path(), &options).await.unwrap();
    assert_eq!(summary.failed, 1, "{summary}");
    assert_eq!(mock.count("CreateFunction"), 1);
    // No IAM request either: the role was given.
    assert_eq!(mock.count("GetRole"), 0);
    let error = summary.functions[0].error.clone().unwrap();
    assert!(
        error.contains("InvalidParameterValueException: The role defined for the function cannot be assumed by Lambda."),
        "{error}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn other_invalid_parameters_are_not_retried() {
    let mock = Mock::start(|s| {
        s.faults.push(Fault {
            op: "CreateFunction",
            times: u32::MAX,
            status: 400,
            error_type: "InvalidParameterValueException",
            message: "Value python2.7 at 'runtime' failed to satisfy constraint",
        })
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib"), Func::new("area")]);
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!(summary.failed, 2, "{summary}");
    assert_eq!(mock.count("CreateFunction"), 2);
    assert_eq!(
        summary.functions[0].error.as_deref(),
        Some(
            "creating: InvalidParameterValueException: Value python2.7 at 'runtime' failed to satisfy constraint"
        )
    );
}

#[tokio::test]
async fn a_rejected_signature_is_a_clear_error() {
    let mock = Mock::start(|s| {
        for op in ["GetFunction", "CreateFunction"] {
            s.faults.push(Fault {
                op,
                times: u32::MAX,
                status: 403,
                error_type: "InvalidSignatureException",
                message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
            });
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib"), Func::new("area")]);
    let err = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::Credentials { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("rejected the request signature (InvalidSignatureException: The request signature we calculated does not match"), "{text}");
    assert!(text.contains("AWS_SECRET_ACCESS_KEY"), "{text}");
    // One request, not one per function.
    assert_eq!(mock.count("GetFunction"), 1);
    assert_eq!(mock.count("CreateFunction"), 0);
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_quickly_and_clearly() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let start = Instant::now();
    let opts = lambada::deploy::DeployOptions {
        retry: lambada::deploy::RetryPolicy::default(),
        ..local_options(&format!("http://127.0.0.1:{port}"))
    };
    let err = deploy(dir.path(), &opts).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot reach the Lambda endpoint http://127.0.0.1:{port}: connection refused")
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn code_the_endpoint_does_not_confirm_is_not_reported_done() {
    let mock = Mock::start(|s| s.wrong_sha = Some("AAAA".into())).await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!((summary.created, summary.failed), (0, 1), "{summary}");
    let error = summary.functions[0].error.clone().unwrap();
    assert!(
        error.starts_with("verifying: the endpoint holds code with CodeSha256 AAAA, expected "),
        "{error}"
    );
}

#[tokio::test]
async fn a_function_that_ends_in_state_failed_fails_with_its_reason() {
    let mock = Mock::start(|s| {
        s.fails_with = Some("Lambda was unable to decrypt the environment variables".into())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!(summary.failed, 1, "{summary}");
    assert_eq!(
        summary.functions[0].error.as_deref(),
        Some(
            "waiting: the function is in state Failed: Lambda was unable to decrypt the environment variables"
        )
    );
}

#[tokio::test]
async fn jobs_bound_the_functions_in_flight() {
    let mock = Mock::start(|s| s.busy_polls = 1).await;
    let dir = tempfile::tempdir().unwrap();
    let funcs: Vec<Func> = (0..12).map(|i| Func::new(&format!("f{i}"))).collect();
    write_app(dir.path(), "", &funcs);
    let mut opts = local_options(&mock.endpoint);
    opts.jobs = 3;
    let summary = deploy(dir.path(), &opts).await.unwrap();
    assert_eq!(summary.created, 12, "{summary}");
    // Replay the request log: a function is in flight from its first request to its
    // last; no more than `jobs` overlap.
    let requests = mock.state.lock().unwrap().requests.clone();
    let names: Vec<String> = funcs.iter().map(|f| function_name("", &f.key)).collect();
    let span = |name: &String| {
        let hits: Vec<usize> = requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.ends_with(&format!(" {name}")))
            .map(|(i, _)| i)
            .collect();
        (hits[0], *hits.last().unwrap())
    };
    // The first function's preflight GetFunction precedes the fan-out.
    let spans: Vec<(usize, usize)> = names.iter().map(span).map(|(a, b)| (a.max(1), b)).collect();
    let max_overlap = (0..requests.len())
        .map(|i| spans.iter().filter(|(a, b)| *a <= i && i <= *b).count())
        .max()
        .unwrap();
    assert!(max_overlap <= 3, "{max_overlap} in flight");
    assert!(
        summary
            .functions
            .iter()
            .all(|f| f.outcome == Outcome::Created)
    );
}

#[tokio::test]
async fn an_endpoint_that_never_answers_fails_the_run_in_bounded_time() {
    // Connections complete in the kernel's backlog; nothing ever reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let mut opts = local_options(&endpoint);
    opts.retry.request_timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = deploy(dir.path(), &opts).await.unwrap_err();
    assert!(matches!(err, DeployError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach the Lambda endpoint {endpoint}: ")),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    drop(silent);
}

#[tokio::test]
async fn server_errors_are_retried_a_few_times() {
    let mock = Mock::start(|s| {
        s.faults.push(Fault {
            op: "CreateFunction",
            times: 2,
            status: 500,
            error_type: "ServiceException",
            message: "internal error",
        })
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!((summary.created, summary.failed), (1, 0), "{summary}");
    assert_eq!(mock.count("CreateFunction"), 3);
}

#[tokio::test]
async fn a_function_left_failed_by_an_earlier_update_gets_its_code_again() {
    let mock = Mock::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    {
        let mut s = mock.state.lock().unwrap();
        let fib = s.functions.get_mut("app-fib").unwrap();
        fib["LastUpdateStatus"] = json!("Failed");
        fib["LastUpdateStatusReason"] = json!("interrupted");
    }
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!((summary.updated, summary.unchanged), (1, 0), "{summary}");
    assert_eq!(summary.functions[0].changed, ["code"]);
    assert_eq!(mock.count("UpdateFunctionCode"), 1);
    assert_eq!(mock.function("app-fib")["LastUpdateStatus"], "Successful");
}

#[tokio::test]
async fn an_update_already_in_progress_is_waited_for_before_deciding() {
    let mock = Mock::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    {
        let mut s = mock.state.lock().unwrap();
        s.functions.get_mut("app-fib").unwrap()["LastUpdateStatus"] = json!("InProgress");
        s.busy.insert("app-fib".into(), 2);
    }
    let polls_before = mock.count("GetFunctionConfiguration");
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!(summary.unchanged, 1, "{summary}");
    assert!(mock.count("GetFunctionConfiguration") - polls_before >= 3);
    assert_eq!(
        mock.count("UpdateFunctionCode") + mock.count("UpdateFunctionConfiguration"),
        0
    );
}

#[tokio::test]
async fn a_role_that_never_becomes_assumable_fails_saying_how_long_it_was_retried() {
    let mock = Mock::start(|s| {
        s.iam = true;
        s.faults.push(Fault {
            op: "CreateFunction",
            times: u32::MAX,
            status: 400,
            error_type: "InvalidParameterValueException",
            message: "The role defined for the function cannot be assumed by Lambda.",
        })
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "", &[Func::new("fib")]);
    let summary = deploy(dir.path(), &local_options(&mock.endpoint))
        .await
        .unwrap();
    assert_eq!(summary.failed, 1, "{summary}");
    let error = summary.functions[0].error.clone().unwrap();
    assert!(
        error.contains("cannot be assumed by Lambda. (retried for 5 s"),
        "{error}"
    );
}
