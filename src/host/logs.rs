//! CloudWatch Logs, as far as `lambada logs` (and `aws logs`, boto3) read them: every
//! invocation's log (START, output, END, REPORT, one event per line) goes to the log
//! group `/aws/lambda/<function>` of its tenant, in a stream named as Lambda names them
//! (`YYYY/MM/DD/[VERSION]<id>`), and the JSON 1.1 operations `DescribeLogGroups`,
//! `DescribeLogStreams`, `GetLogEvents`, `FilterLogEvents` and `DeleteLogGroup` read
//! them (`POST /` with `X-Amz-Target: Logs_20140328.<Operation>`).
//!
//! The logs live in memory, for as long as the host runs, and each group keeps its last
//! [`MAX_EVENTS_PER_GROUP`] events: they are a development host's logs, not an archive
//! (the invocation log is the durable record).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::server::{ApiRequest, json_response};
use super::util::{hex_token, utc_parts};

/// The `X-Amz-Target` prefix of the CloudWatch Logs API.
pub const TARGET_PREFIX: &str = "Logs_20140328.";
const MAX_EVENTS_PER_GROUP: usize = 100_000;
/// CloudWatch's default (and largest) page of events.
const MAX_PAGE: usize = 10_000;

#[derive(Debug, Clone)]
struct Event {
    /// Orders events of a group across streams; also the page token.
    seq: u64,
    stream: String,
    timestamp: i64,
    ingestion: i64,
    message: String,
}

#[derive(Debug, Default)]
struct Group {
    created: i64,
    /// Stream name → creation time.
    streams: BTreeMap<String, i64>,
    events: std::collections::VecDeque<Event>,
}

/// All log groups of the host, by tenant and group name.
#[derive(Debug)]
pub struct LogStore {
    groups: Mutex<BTreeMap<(String, String), Group>>,
    next_seq: std::sync::atomic::AtomicU64,
    /// Stands for the execution environment in stream names: one per host run.
    instance: String,
}

impl Default for LogStore {
    fn default() -> Self {
        LogStore {
            groups: Mutex::default(),
            next_seq: std::sync::atomic::AtomicU64::new(1),
            instance: hex_token(16),
        }
    }
}

pub fn group_name(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl LogStore {
    /// Appends an invocation's log, one event per line, to the function's group.
    pub fn append(&self, tenant: &str, function: &str, version: &str, log: &[u8]) {
        let now = now_ms();
        let (y, m, d, ..) = utc_parts(SystemTime::now());
        let stream = format!("{y:04}/{m:02}/{d:02}/[{version}]{}", self.instance);
        let Ok(mut groups) = self.groups.lock() else {
            return;
        };
        let group = groups
            .entry((tenant.to_owned(), group_name(function)))
            .or_insert_with(|| Group {
                created: now,
                ..Group::default()
            });
        group.streams.entry(stream.clone()).or_insert(now);
        for line in String::from_utf8_lossy(log).lines() {
            let seq = self
                .next_seq
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            group.events.push_back(Event {
                seq,
                stream: stream.clone(),
                timestamp: now,
                ingestion: now,
                message: format!("{line}\n"),
            });
        }
        while group.events.len() > MAX_EVENTS_PER_GROUP {
            group.events.pop_front();
        }
    }

    /// Answers one CloudWatch Logs operation of `tenant`.
    pub fn serve(
        &self,
        tenant: &str,
        operation: &str,
        request: &ApiRequest,
    ) -> Result<Response, ApiError> {
        let body: Value = if request.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(&request.body).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    e.to_string(),
                )
            })?
        };
        let groups = self
            .groups
            .lock()
            .map_err(|_| ApiError::service("log store unavailable"))?;
        let answer = match operation {
            "DescribeLogGroups" => describe_groups(&groups, tenant, parse(body)?),
            "DescribeLogStreams" => describe_streams(&groups, tenant, parse(body)?)?,
            "GetLogEvents" => get_events(&groups, tenant, parse(body)?)?,
            "FilterLogEvents" => filter_events(&groups, tenant, parse(body)?)?,
            "DeleteLogGroup" => {
                drop(groups);
                self.delete_group(tenant, parse(body)?)?
            }
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "UnknownOperationException",
                    format!("Operation {other} is not supported by this host's CloudWatch Logs"),
                ));
            }
        };
        Ok(json_response(StatusCode::OK, &answer, &request.request_id))
    }

    fn delete_group(&self, tenant: &str, request: GroupRequest) -> Result<Value, ApiError> {
        let mut groups = self
            .groups
            .lock()
            .map_err(|_| ApiError::service("log store unavailable"))?;
        groups
            .remove(&(tenant.to_owned(), request.log_group_name))
            .ok_or_else(group_not_found)?;
        Ok(json!({}))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            e.to_string(),
        )
    })
}

fn group_not_found() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
}

type Groups = BTreeMap<(String, String), Group>;

fn group<'a>(groups: &'a Groups, tenant: &str, name: &str) -> Result<&'a Group, ApiError> {
    groups
        .get(&(tenant.to_owned(), name.to_owned()))
        .ok_or_else(group_not_found)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRequest {
    log_group_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeGroups {
    log_group_name_prefix: Option<String>,
}

fn describe_groups(groups: &Groups, tenant: &str, request: DescribeGroups) -> Value {
    let prefix = request.log_group_name_prefix.unwrap_or_default();
    let found: Vec<Value> = groups
        .iter()
        .filter(|((t, name), _)| t == tenant && name.starts_with(&prefix))
        .map(|((_, name), group)| {
            json!({
                "logGroupName": name,
                "creationTime": group.created,
                "storedBytes": group.events.iter().map(|e| e.message.len()).sum::<usize>(),
            })
        })
        .collect();
    json!({ "logGroups": found })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeStreams {
    log_group_name: String,
    log_stream_name_prefix: Option<String>,
    #[serde(default)]
    descending: bool,
}

fn describe_streams(
    groups: &Groups,
    tenant: &str,
    request: DescribeStreams,
) -> Result<Value, ApiError> {
    let group = group(groups, tenant, &request.log_group_name)?;
    let prefix = request.log_stream_name_prefix.unwrap_or_default();
    let mut streams: Vec<Value> = group
        .streams
        .iter()
        .filter(|(name, _)| name.starts_with(&prefix))
        .map(|(name, created)| {
            let events = || group.events.iter().filter(|e| &e.stream == name);
            json!({
                "logStreamName": name,
                "creationTime": created,
                "firstEventTimestamp": events().map(|e| e.timestamp).min(),
                "lastEventTimestamp": events().map(|e| e.timestamp).max(),
                "lastIngestionTime": events().map(|e| e.ingestion).max(),
            })
        })
        .collect();
    if request.descending {
        streams.reverse();
    }
    Ok(json!({ "logStreams": streams }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetEvents {
    log_group_name: String,
    log_stream_name: String,
    start_time: Option<i64>,
    end_time: Option<i64>,
    limit: Option<usize>,
    next_token: Option<String>,
}

/// Events of one stream, oldest first; tokens are `f/<seq>` (the next event to give).
fn get_events(groups: &Groups, tenant: &str, request: GetEvents) -> Result<Value, ApiError> {
    let group = group(groups, tenant, &request.log_group_name)?;
    if !group.streams.contains_key(&request.log_stream_name) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        ));
    }
    let from = token_seq(request.next_token.as_deref())?;
    let limit = page_limit(request.limit);
    let page: Vec<&Event> = group
        .events
        .iter()
        .filter(|e| e.stream == request.log_stream_name && e.seq >= from)
        .filter(|e| in_window(e, request.start_time, request.end_time))
        .take(limit)
        .collect();
    let next = page.last().map_or(from, |e| e.seq + 1);
    let events: Vec<Value> = page
        .iter()
        .map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion}))
        .collect();
    Ok(json!({
        "events": events,
        "nextForwardToken": format!("f/{next}"),
        "nextBackwardToken": format!("b/{from}"),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterEvents {
    log_group_name: String,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    limit: Option<usize>,
    next_token: Option<String>,
}

/// Events of a group across streams, oldest first. The filter pattern is taken as
/// terms that must all appear (CloudWatch's simplest pattern form; quoted phrases count
/// as one term).
fn filter_events(groups: &Groups, tenant: &str, request: FilterEvents) -> Result<Value, ApiError> {
    let group = group(groups, tenant, &request.log_group_name)?;
    let from = token_seq(request.next_token.as_deref())?;
    let limit = page_limit(request.limit);
    let terms = pattern_terms(request.filter_pattern.as_deref().unwrap_or(""));
    let wanted_stream = |stream: &str| {
        request
            .log_stream_names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == stream))
            && request
                .log_stream_name_prefix
                .as_ref()
                .is_none_or(|p| stream.starts_with(p.as_str()))
    };
    let mut matching = group
        .events
        .iter()
        .filter(|e| e.seq >= from && wanted_stream(&e.stream))
        .filter(|e| in_window(e, request.start_time, request.end_time))
        .filter(|e| terms.iter().all(|t| e.message.contains(t.as_str())));
    let page: Vec<&Event> = matching.by_ref().take(limit).collect();
    let more = matching.next().is_some();
    let events: Vec<Value> = page
        .iter()
        .map(|e| {
            json!({
                "logStreamName": e.stream,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion,
                "eventId": format!("{:056}", e.seq),
            })
        })
        .collect();
    let searched: Vec<Value> = group
        .streams
        .keys()
        .filter(|s| wanted_stream(s))
        .map(|s| json!({"logStreamName": s, "searchedCompletely": !more}))
        .collect();
    let mut answer = json!({ "events": events, "searchedLogStreams": searched });
    if more && let Some(last) = page.last() {
        answer["nextToken"] = json!(format!("f/{}", last.seq + 1));
    }
    Ok(answer)
}

fn in_window(event: &Event, start: Option<i64>, end: Option<i64>) -> bool {
    start.is_none_or(|s| event.timestamp >= s) && end.is_none_or(|e| event.timestamp < e)
}

fn page_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE)
}

fn token_seq(token: Option<&str>) -> Result<u64, ApiError> {
    let Some(token) = token else {
        return Ok(0);
    };
    token
        .strip_prefix("f/")
        .or_else(|| token.strip_prefix("b/"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameterException",
                "The specified nextToken is invalid.",
            )
        })
}

/// `ERROR "task timed out"` → `["ERROR", "task timed out"]`.
fn pattern_terms(pattern: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut rest = pattern.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            terms.push(quoted[..end].to_owned());
            rest = quoted.get(end + 1..).unwrap_or("").trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            terms.push(rest[..end].to_owned());
            rest = rest[end..].trim_start();
        }
    }
    terms.retain(|t| !t.is_empty());
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_are_terms_and_quoted_phrases() {
        assert_eq!(
            pattern_terms(r#"ERROR "timed out"  x"#),
            vec!["ERROR", "timed out", "x"]
        );
        assert!(pattern_terms("  ").is_empty());
    }

    fn store_with(lines: usize) -> LogStore {
        let store = LogStore::default();
        let log: String = (0..lines).map(|i| format!("line {i}\n")).collect();
        store.append("t", "f", "$LATEST", log.as_bytes());
        store
    }

    fn filter(store: &LogStore, request: Value) -> Result<Value, ApiError> {
        let groups = store.groups.lock().unwrap();
        filter_events(&groups, "t", serde_json::from_value(request).unwrap())
    }

    #[test]
    fn filter_log_events_pages_with_next_token_and_filters_by_terms() {
        let store = store_with(25);
        let first = filter(
            &store,
            json!({"logGroupName": "/aws/lambda/f", "limit": 10}),
        )
        .unwrap();
        assert_eq!(first["events"].as_array().unwrap().len(), 10);
        let token = first["nextToken"].as_str().unwrap().to_owned();
        let mut messages = Vec::new();
        let mut next = Some(token);
        messages.extend(
            first["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["message"].clone()),
        );
        while let Some(token) = next {
            let page = filter(
                &store,
                json!({"logGroupName": "/aws/lambda/f", "limit": 10, "nextToken": token}),
            )
            .unwrap();
            messages.extend(
                page["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["message"].clone()),
            );
            next = page["nextToken"].as_str().map(str::to_owned);
        }
        let expected: Vec<Value> = (0..25).map(|i| json!(format!("line {i}\n"))).collect();
        assert_eq!(messages, expected);
        let matching = filter(
            &store,
            json!({"logGroupName": "/aws/lambda/f", "filterPattern": "\"line 2\""}),
        )
        .unwrap();
        let found: Vec<&str> = matching["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            found,
            [
                "line 2\n",
                "line 20\n",
                "line 21\n",
                "line 22\n",
                "line 23\n",
                "line 24\n"
            ]
        );
        assert!(matching.get("nextToken").is_none());
    }

    #[test]
    fn other_tenants_and_unknown_groups_are_not_found() {
        let store = store_with(1);
        let groups = store.groups.lock().unwrap();
        let request = || serde_json::from_value(json!({"logGroupName": "/aws/lambda/f"})).unwrap();
        let err = filter_events(&groups, "other", request()).unwrap_err();
        assert_eq!(err.kind, "ResourceNotFoundException");
        assert!(filter_events(&groups, "t", request()).is_ok());
        let bad_token = serde_json::from_value(
            json!({"logGroupName": "/aws/lambda/f", "nextToken": "garbage"}),
        )
        .unwrap();
        assert_eq!(
            filter_events(&groups, "t", bad_token).unwrap_err().kind,
            "InvalidParameterException"
        );
    }

    #[test]
    fn get_log_events_reads_one_stream_forward() {
        let store = store_with(3);
        let groups = store.groups.lock().unwrap();
        let stream = groups[&("t".to_owned(), "/aws/lambda/f".to_owned())]
            .streams
            .keys()
            .next()
            .unwrap()
            .clone();
        let request = json!({"logGroupName": "/aws/lambda/f", "logStreamName": stream, "limit": 2});
        let page = get_events(
            &groups,
            "t",
            serde_json::from_value(request.clone()).unwrap(),
        )
        .unwrap();
        assert_eq!(page["events"].as_array().unwrap().len(), 2);
        let mut rest = request;
        rest["nextToken"] = page["nextForwardToken"].clone();
        let page = get_events(&groups, "t", serde_json::from_value(rest).unwrap()).unwrap();
        assert_eq!(page["events"][0]["message"], "line 2\n");
    }

    #[test]
    fn each_line_of_an_invocation_log_is_an_event_of_the_functions_group() {
        let store = LogStore::default();
        store.append(
            "t",
            "app-f",
            "$LATEST",
            b"START RequestId: 1\nhello\nEND RequestId: 1\n",
        );
        store.append("other", "app-f", "$LATEST", b"START RequestId: 2\n");
        let groups = store.groups.lock().unwrap();
        let group = &groups[&("t".to_owned(), "/aws/lambda/app-f".to_owned())];
        let lines: Vec<&str> = group.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            lines,
            ["START RequestId: 1\n", "hello\n", "END RequestId: 1\n"]
        );
        assert!(group.streams.keys().all(|s| s.contains("/[$LATEST]")));
    }
}
