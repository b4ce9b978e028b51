//! Load: 8 concurrent keep-alive clients, 2,000 invocations over 3 functions. Every
//! response must be correct and belong to its request; no worker may leak.

mod host_support;

use std::time::{Duration, Instant};

use host_support::*;
use serde_json::json;

const ECHO: &str = r#"
import os
def handler(event, context):
    return {"function": context.function_name, "client": event["client"], "seq": event["seq"],
            "square": event["seq"] * event["seq"], "request_id": context.aws_request_id}
"#;

#[test]
fn two_thousand_concurrent_invocations_all_answered_correctly() {
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 250;
    let functions = ["load-a", "load-b", "load-c"];
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let server = Server::start(&state, &["--max-workers", "2"]);
    let mut http = server.http();
    for f in functions {
        assert_eq!(create(&mut http, f, ECHO, json!({})).status, 201);
    }
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let endpoint = server.endpoint.clone();
            std::thread::spawn(move || {
                let mut http = Http::connect(&endpoint);
                let mut ids = Vec::with_capacity(PER_CLIENT);
                for seq in 0..PER_CLIENT {
                    let function = functions[(client + seq) % functions.len()];
                    let event = json!({"client": client, "seq": seq});
                    let r = http.invoke(function, event.to_string().as_bytes(), &[]);
                    assert_eq!(r.status, 200, "{}", r.text());
                    assert_eq!(r.header("x-amz-function-error"), None, "{}", r.text());
                    let body = r.json();
                    assert_eq!(body["function"], function);
                    assert_eq!(body["client"], client);
                    assert_eq!(body["seq"], seq);
                    assert_eq!(body["square"], seq * seq);
                    assert_eq!(body["request_id"], r.header("x-amzn-requestid").unwrap());
                    ids.push(body["request_id"].as_str().unwrap().to_string());
                }
                ids
            })
        })
        .collect();
    let mut ids: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    assert_eq!(ids.len(), CLIENTS * PER_CLIENT);
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        CLIENTS * PER_CLIENT,
        "request ids must be unique"
    );
    eprintln!("{} invocations in {elapsed:?}", CLIENTS * PER_CLIENT);
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");

    let stats = http.get("/_lambada/stats").json();
    assert_eq!(stats["requests"]["Invoke"], CLIENTS * PER_CLIENT);
    let workers = stats["workers"].as_u64().unwrap();
    assert!(
        (1..=6).contains(&workers),
        "at most 2 workers for each of 3 functions: {stats}"
    );
    assert_eq!(
        stats["workers"], stats["workers_started"],
        "no worker was replaced: {stats}"
    );
    assert!(server.stop().success());
    assert_no_workers_left(&state);
}
