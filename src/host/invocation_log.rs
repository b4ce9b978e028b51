//! The invocation log (`lambada serve --invocation-log FILE`): one SQLite row per
//! invocation, with what Lambda's REPORT line says of it (duration, billed ms, memory)
//! and how it ended. `lambada stats` and `lambada run --stats` read it.
//!
//! Invocations never wait for the disk: each row goes through a channel to one writer
//! thread, which writes whatever has queued up in one transaction, in WAL mode (readers
//! such as `lambada stats` do not block it, nor it them).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, params};

/// The table, created when missing. `time` is the start of the invocation in UTC
/// (ISO 8601, milliseconds), so that rows sort by it as text too.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS invocations (
    time        TEXT    NOT NULL,
    tenant      TEXT    NOT NULL,
    function    TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    duration_ms REAL    NOT NULL,
    billed_ms   INTEGER NOT NULL,
    memory_mb   INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    error_type  TEXT
);
CREATE INDEX IF NOT EXISTS invocations_function ON invocations (function);";

/// One invocation, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InvocationRow {
    pub time: String,
    pub tenant: String,
    pub function: String,
    pub request_id: String,
    pub duration_ms: f64,
    pub billed_ms: u64,
    pub memory_mb: u32,
    /// `ok` or `error` (a function error: unhandled exception, timeout, crash).
    pub status: String,
    /// `errorType` of the error payload (`ValueError`, `Sandbox.Timedout`...).
    pub error_type: Option<String>,
}

/// The writer side: cheap to call from any invocation.
#[derive(Debug)]
pub struct InvocationLog {
    path: PathBuf,
    sender: Mutex<Option<Sender<InvocationRow>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("invocation log {}: {source}", path.display())]
pub struct LogError {
    pub path: PathBuf,
    pub source: rusqlite::Error,
}

impl InvocationLog {
    /// Opens (creating) the database and starts its writer thread.
    pub fn open(path: &Path) -> Result<InvocationLog, LogError> {
        let fail = |source| LogError {
            path: path.to_path_buf(),
            source,
        };
        let connection = open_for_writing(path).map_err(fail)?;
        let (sender, receiver) = channel();
        let writer = std::thread::Builder::new()
            .name("invocation-log".into())
            .spawn(move || write_rows(connection, receiver))
            .map_err(|e| fail(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        Ok(InvocationLog {
            path: path.to_path_buf(),
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a row; never blocks on the disk.
    pub fn record(&self, row: InvocationRow) {
        if let Ok(sender) = self.sender.lock()
            && let Some(sender) = sender.as_ref()
        {
            let _ = sender.send(row);
        }
    }

    /// Writes what is queued and stops the writer (at host shutdown).
    pub fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

impl Drop for InvocationLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn open_for_writing(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    // WAL: `lambada stats` may read while the host writes. NORMAL is durable across
    // process crashes, which is what a log needs.
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.execute_batch(SCHEMA)?;
    Ok(connection)
}

/// The writer thread: blocks for a row, then writes it and everything queued behind it
/// in one transaction, until every sender is gone.
fn write_rows(mut connection: Connection, receiver: Receiver<InvocationRow>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        batch.extend(receiver.try_iter().take(10_000));
        if let Err(err) = insert(&mut connection, &batch) {
            eprintln!(
                "lambada serve: warning: invocation log: {err}; {} rows lost",
                batch.len()
            );
        }
    }
}

fn insert(connection: &mut Connection, rows: &[InvocationRow]) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO invocations (time, tenant, function, request_id, duration_ms, billed_ms, memory_mb, status, error_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for row in rows {
            statement.execute(params![
                row.time,
                row.tenant,
                row.function,
                row.request_id,
                row.duration_ms,
                row.billed_ms as i64,
                row.memory_mb,
                row.status,
                row.error_type,
            ])?;
        }
    }
    transaction.commit()
}

/// Every row of the log at `path`, oldest first.
pub fn read_rows(path: &Path) -> Result<Vec<InvocationRow>, LogError> {
    let fail = |source| LogError {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_file() {
        return Err(fail(rusqlite::Error::InvalidPath(path.to_path_buf())));
    }
    let connection = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(fail)?;
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(fail)?;
    let mut statement = connection
        .prepare(
            "SELECT time, tenant, function, request_id, duration_ms, billed_ms, memory_mb, status, error_type
             FROM invocations ORDER BY time, rowid",
        )
        .map_err(fail)?;
    let rows = statement
        .query_map([], |r| {
            Ok(InvocationRow {
                time: r.get(0)?,
                tenant: r.get(1)?,
                function: r.get(2)?,
                request_id: r.get(3)?,
                duration_ms: r.get(4)?,
                billed_ms: r.get::<_, i64>(5)?.max(0) as u64,
                memory_mb: r.get(6)?,
                status: r.get(7)?,
                error_type: r.get(8)?,
            })
        })
        .map_err(fail)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(fail)
}

/// `t` in the log's time format: `2026-11-30T12:00:00.000Z`.
pub fn time_text(t: std::time::SystemTime) -> String {
    let (y, mo, d, h, mi, s, ms) = super::util::utc_parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Now, in the log's time format.
pub fn now_text() -> String {
    time_text(std::time::SystemTime::now())
}

/// The `errorType` of a function error's payload.
pub fn error_type(payload: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    value.get("errorType")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(function: &str, billed_ms: u64, status: &str) -> InvocationRow {
        InvocationRow {
            time: "2026-11-30T12:00:00.000Z".into(),
            tenant: "anonymous".into(),
            function: function.into(),
            request_id: format!("id-{billed_ms}"),
            duration_ms: billed_ms as f64 - 0.5,
            billed_ms,
            memory_mb: 128,
            status: status.into(),
            error_type: (status == "error").then(|| "ValueError".to_owned()),
        }
    }

    #[test]
    fn rows_written_through_the_writer_thread_are_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sqlite");
        let log = InvocationLog::open(&path).unwrap();
        let written: Vec<_> = (1..=50)
            .map(|i| row("app-f", i, if i % 10 == 0 { "error" } else { "ok" }))
            .collect();
        for r in &written {
            log.record(r.clone());
        }
        log.close();
        assert_eq!(read_rows(&path).unwrap(), written);
        // A second host appends to the same file.
        let log = InvocationLog::open(&path).unwrap();
        log.record(row("app-g", 7, "ok"));
        drop(log);
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows.len(), 51);
        assert_eq!(rows[50].function, "app-g");
    }

    #[test]
    fn a_missing_log_is_an_error_naming_the_file() {
        let err = read_rows(Path::new("/nonexistent/log.sqlite")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/log.sqlite"), "{err}");
    }

    #[test]
    fn the_error_type_comes_from_the_error_payload() {
        assert_eq!(
            error_type(br#"{"errorMessage":"x","errorType":"Sandbox.Timedout"}"#).as_deref(),
            Some("Sandbox.Timedout")
        );
        assert_eq!(error_type(b"not json"), None);
    }
}
