//! `lambada logs FUNCTION [--follow] [--since ...]`: a function's log group
//! (`/aws/lambda/<function>`) read through CloudWatch Logs' FilterLogEvents, as on AWS.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{Connection, LifecycleError};

/// How often `--follow` asks for new events (as `aws logs tail --follow`, roughly).
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEvent {
    pub timestamp: i64,
    pub stream: String,
    pub message: String,
    #[serde(skip)]
    pub event_id: String,
}

pub fn group_name(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// `10m`, `2h`, `30s`, `1d` (or plain seconds) → a duration.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        format!("--since {text:?}: expected a number and a unit (30s, 10m, 2h, 1d)")
    })?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => {
            return Err(format!(
                "--since {text:?}: unknown unit {other:?} (s, m, h, d, w)"
            ));
        }
    };
    Ok(Duration::from_secs(n.saturating_mul(seconds)))
}

/// Milliseconds since the epoch of `now - since`.
pub fn start_time(since: Duration) -> i64 {
    SystemTime::now()
        .checked_sub(since)
        .unwrap_or(UNIX_EPOCH)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The events of `function` from `start` (ms) on, oldest first; events in `seen` are
/// skipped, and every event returned is added to it (for `--follow`, which asks again
/// from the last timestamp).
pub async fn events(
    conn: &Connection,
    function: &str,
    start: i64,
    seen: &mut HashSet<String>,
) -> Result<Vec<LogEvent>, LifecycleError> {
    let group = group_name(function);
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let output = conn
            .logs
            .filter_log_events()
            .log_group_name(&group)
            .start_time(start)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| conn.api_error("FilterLogEvents", &group, e))?;
        for e in output.events() {
            let id = e.event_id().unwrap_or_default().to_owned();
            if !id.is_empty() && !seen.insert(id.clone()) {
                continue;
            }
            found.push(LogEvent {
                timestamp: e.timestamp().unwrap_or(0),
                stream: e.log_stream_name().unwrap_or_default().to_owned(),
                message: e.message().unwrap_or_default().to_owned(),
                event_id: id,
            });
        }
        token = output.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(found)
}

/// True when the error is CloudWatch's "no such log group" (a function never invoked).
pub fn is_missing_group(err: &LifecycleError) -> bool {
    matches!(err, LifecycleError::Api { message, .. } if message.contains("ResourceNotFoundException"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_number_and_a_unit() {
        assert_eq!(parse_since("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_since("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_since("45").unwrap(), Duration::from_secs(45));
        assert!(parse_since("10y").unwrap_err().contains("unknown unit"));
        assert!(parse_since("m").is_err());
    }
}
