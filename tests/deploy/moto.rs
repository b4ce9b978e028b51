//! Deploying to moto, an independent implementation of the Lambda control plane.

use lambada::deploy::{DeploySummary, Outcome, deploy};

use crate::support::{
    Func, RecordingProxy, function_name, lambda_client, local_options, moto, write_app,
};

fn outcome_of<'a>(summary: &'a DeploySummary, key: &str) -> &'a lambada::deploy::FunctionReport {
    summary
        .functions
        .iter()
        .find(|f| f.key == key)
        .unwrap_or_else(|| panic!("no report for {key}: {summary:#?}"))
}

/// What moto holds for a function equals what lambada meant.
async fn assert_deployed_as(endpoint: &str, prefix: &str, f: &Func, runtime: &str) {
    let conf = lambda_client(endpoint)
        .get_function_configuration()
        .function_name(function_name(prefix, &f.key))
        .send()
        .await
        .unwrap();
    let zip = crate::support::handler_zip(&f.key, f.version);
    assert_eq!(conf.handler(), Some(f.handler.as_str()), "{}", f.key);
    assert_eq!(
        conf.runtime().map(|r| r.as_str()),
        Some(runtime),
        "{}",
        f.key
    );
    assert_eq!(conf.memory_size(), Some(f.memory as i32), "{}", f.key);
    assert_eq!(conf.timeout(), Some(f.timeout as i32), "{}", f.key);
    assert_eq!(
        conf.code_sha256(),
        Some(lambada::deploy::code_sha256(&zip).as_str()),
        "{}",
        f.key
    );
}

#[tokio::test]
async fn create_skip_update_code_and_update_configuration_against_moto() {
    let endpoint = &moto().endpoint;
    let dir = tempfile::tempdir().unwrap();
    let prefix = "lifecycle-";
    let mut funcs = vec![Func::new("fib"), Func::new("area"), Func::new("Account")];
    write_app(dir.path(), prefix, &funcs);
    let opts = local_options(endpoint);

    let first = deploy(dir.path(), &opts).await.unwrap();
    assert_eq!(
        (first.created, first.updated, first.unchanged, first.failed),
        (3, 0, 0, 0),
        "{first}"
    );
    assert_eq!(first.endpoint, *endpoint);
    for f in &funcs {
        assert_deployed_as(endpoint, prefix, f, "python3.12").await;
        assert!(outcome_of(&first, &f.key).function_arn.is_some());
    }

    let again = deploy(dir.path(), &opts).await.unwrap();
    assert_eq!(
        (again.created, again.updated, again.unchanged),
        (0, 0, 3),
        "{again}"
    );

    // New code for fib; new memory and timeout (same code) for area; new handler and
    // runtime for Account.
    funcs[0].version = 2;
    funcs[1].memory = 256;
    funcs[1].timeout = 60;
    funcs[2].handler = "lambada_handler.main".into();
    write_app(dir.path(), prefix, &funcs);
    let opts311 = lambada::deploy::DeployOptions {
        runtime: "python3.11".into(),
        ..opts.clone()
    };
    let changed = deploy(dir.path(), &opts311).await.unwrap();
    assert_eq!(
        (changed.created, changed.updated, changed.failed),
        (0, 3, 0),
        "{changed}"
    );
    assert_eq!(outcome_of(&changed, "fib").changed, ["code", "runtime"]);
    assert_eq!(
        outcome_of(&changed, "area").changed,
        ["memory", "timeout", "runtime"]
    );
    assert_eq!(
        outcome_of(&changed, "Account").changed,
        ["handler", "runtime"]
    );
    for f in &funcs {
        assert_deployed_as(endpoint, prefix, f, "python3.11").await;
    }

    let settled = deploy(dir.path(), &opts311).await.unwrap();
    assert_eq!(settled.unchanged, 3, "{settled}");
}

#[tokio::test]
async fn incremental_deploy_uploads_only_the_changed_function() {
    let endpoint = &moto().endpoint;
    let dir = tempfile::tempdir().unwrap();
    let prefix = "incremental-";
    let mut funcs: Vec<Func> = ["a", "b", "c", "d"].iter().map(|k| Func::new(k)).collect();
    write_app(dir.path(), prefix, &funcs);
    let first = deploy(dir.path(), &local_options(endpoint)).await.unwrap();
    assert_eq!(first.created, 4, "{first}");

    funcs[2].version = 7;
    write_app(dir.path(), prefix, &funcs);
    let proxy = RecordingProxy::start(endpoint).await;
    let second = deploy(dir.path(), &local_options(&proxy.endpoint))
        .await
        .unwrap();
    assert_eq!(
        (second.updated, second.unchanged, second.failed),
        (1, 3, 0),
        "{second}"
    );
    let c = outcome_of(&second, "c");
    assert_eq!(
        (c.outcome, c.changed.as_slice()),
        (Outcome::Updated, &["code".to_string()][..])
    );

    let requests = proxy.requests_for(prefix);
    let writes: Vec<&String> = requests.iter().filter(|r| !r.starts_with("GET ")).collect();
    assert_eq!(
        writes,
        [&format!("PUT /2015-03-31/functions/{prefix}app-c/code")],
        "all requests: {requests:#?}"
    );
    for key in ["a", "b", "d"] {
        let name = function_name(prefix, key);
        let theirs: Vec<&String> = requests
            .iter()
            .filter(|r| r.ends_with(&format!("/{name}")))
            .collect();
        assert!(
            !theirs.is_empty() && theirs.iter().all(|r| r.starts_with("GET ")),
            "{key}: {requests:#?}"
        );
    }
    assert_deployed_as(endpoint, prefix, &funcs[2], "python3.12").await;
}

#[tokio::test]
async fn a_function_the_endpoint_rejects_fails_alone_with_the_service_message() {
    let endpoint = &moto().endpoint;
    let dir = tempfile::tempdir().unwrap();
    let prefix = "rejected-";
    write_app(dir.path(), prefix, &[Func::new("good")]);
    // moto checks that the role exists in its IAM.
    let opts = lambada::deploy::DeployOptions {
        role: Some("arn:aws:iam::123456789012:role/no-such-role".into()),
        ..local_options(endpoint)
    };
    let summary = deploy(dir.path(), &opts).await.unwrap();
    assert_eq!(summary.failed, 1, "{summary}");
    let error = outcome_of(&summary, "good").error.clone().unwrap();
    assert!(
        error.starts_with("creating: InvalidParameterValueException: "),
        "{error}"
    );
    assert!(
        !error.contains("ServiceError"),
        "a debug dump, not the message: {error}"
    );
}

/// The execution role moto holds for a function.
async fn role_of(endpoint: &str, function_name: &str) -> Option<String> {
    lambda_client(endpoint)
        .get_function_configuration()
        .function_name(function_name)
        .send()
        .await
        .unwrap()
        .role()
        .map(str::to_owned)
}

#[tokio::test]
async fn without_a_role_one_is_created_through_the_endpoints_iam_and_then_reused() {
    let endpoint = &moto().endpoint;
    let dir = tempfile::tempdir().unwrap();
    let prefix = "rolefree-";
    write_app(dir.path(), prefix, &[Func::new("fib")]);
    let first = deploy(dir.path(), &local_options(endpoint)).await.unwrap();
    assert_eq!((first.created, first.failed), (1, 0), "{first}");
    // Named after the program: the prefix and the module.
    let role = "arn:aws:iam::123456789012:role/lambada-rolefree-app";
    assert_eq!(
        role_of(endpoint, &function_name(prefix, "fib"))
            .await
            .as_deref(),
        Some(role)
    );
    // The program's next new function finds it by name.
    let other = tempfile::tempdir().unwrap();
    write_app(other.path(), prefix, &[Func::new("area")]);
    let second = deploy(other.path(), &local_options(endpoint))
        .await
        .unwrap();
    assert_eq!((second.created, second.failed), (1, 0), "{second}");
    assert_eq!(
        role_of(endpoint, &function_name(prefix, "area"))
            .await
            .as_deref(),
        Some(role)
    );
}
