//! Shared by the host tests: start `lambada serve` (killed on drop), a small blocking
//! HTTP/1.1 keep-alive client, SigV4 signing, zips, and the Python test venv.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;

pub const WAIT: Duration = Duration::from_secs(30);

/// A `lambada serve` child process on 127.0.0.1, killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    pub state: PathBuf,
    pub log: PathBuf,
}

impl Server {
    pub fn start(state: &Path, extra: &[&str]) -> Server {
        std::fs::create_dir_all(state).unwrap();
        let log = state.with_extension("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lambada"))
            .args(["serve", "--port", "0", "--print-endpoint", "--state-dir"])
            .arg(state)
            .args(extra)
            // Workers must not see the host's environment.
            .env("HOST_SECRET", "must-not-leak")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .expect("cannot start lambada serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = Server {
            child: Some(child),
            endpoint: String::new(),
            state: state.to_path_buf(),
            log,
        };
        let line = rx.recv_timeout(WAIT).unwrap_or_default();
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "lambada serve did not print its endpoint: {line:?}\n{}",
            server.log_text()
        );
        server.endpoint = line.trim().to_string();
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, then the exit status (killed if it takes longer than WAIT).
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "lambada serve did not stop within {WAIT:?}\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn http(&self) -> Http {
        Http::connect(&self.endpoint)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Processes whose command line mentions `needle` (e.g. a state directory).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(pid);
            }
        }
    }
    found
}

/// The host-side process ids of the workers of `function` under the state directory
/// `state`. A worker names its host's bootstrap on its command line (a sandboxed one, or
/// its zygote's, which a forked worker shares); a worker started directly has the
/// function's name in its environment, and a forked one as its process name (`comm`).
pub fn worker_pids(state: &Path, function: &str) -> Vec<u32> {
    let needle = state.join("runtime").join("worker_bootstrap.py");
    let wanted = format!("AWS_LAMBDA_FUNCTION_NAME={function}");
    let comm = &function.as_bytes()[..function.len().min(15)];
    processes_mentioning(&needle.to_string_lossy())
        .into_iter()
        .filter(|pid| {
            let in_environment = std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|v| v == wanted.as_bytes()))
                .unwrap_or(false);
            let named = std::fs::read(format!("/proc/{pid}/comm"))
                .map(|name| name.strip_suffix(b"\n").unwrap_or(&name) == comm)
                .unwrap_or(false);
            in_environment || named
        })
        .collect()
}

/// A listener on 127.0.0.1 collecting the lines functions send it: how a sandboxed
/// function reports to a test. Stops with the test.
pub struct Collector {
    pub port: u16,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Collector {
    pub fn start() -> Collector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sink, stopping) = (lines.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream.set_read_timeout(Some(WAIT)).unwrap();
                        for line in BufReader::new(stream).lines().map_while(Result::ok) {
                            sink.lock().unwrap().push(line);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Collector { port, lines, stop }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Waits until no worker of the state directory `state` is alive.
pub fn assert_no_workers_left(state: &Path) {
    let needle = state.join("runtime").join("worker_bootstrap.py");
    let needle = needle.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_mentioning(&needle);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "workers still alive: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn error_type(&self) -> Option<&str> {
        self.header("x-amzn-errortype")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn log(&self) -> String {
        let encoded = self.header("x-amz-log-result").unwrap_or("");
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
        )
        .unwrap()
    }
}

/// Credentials to sign with.
#[derive(Debug, Clone)]
pub struct Keys {
    pub access_key: String,
    pub secret_key: String,
    /// Sent (and signed) as X-Amz-Security-Token: a worker's session credentials.
    pub session_token: Option<String>,
}

impl Keys {
    pub fn new(access_key: &str, secret_key: &str) -> Keys {
        Keys {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            session_token: None,
        }
    }
}

/// A keep-alive HTTP/1.1 connection.
pub struct Http {
    reader: BufReader<TcpStream>,
    host: String,
    pub keys: Option<Keys>,
}

impl Http {
    pub fn connect(endpoint: &str) -> Http {
        let host = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let stream = TcpStream::connect(&host).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        Http {
            reader: BufReader::new(stream),
            host,
            keys: None,
        }
    }

    pub fn signed(mut self, keys: Keys) -> Http {
        self.keys = Some(keys);
        self
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, &[], b"")
    }

    pub fn post_json(&mut self, path: &str, body: &serde_json::Value) -> Response {
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut all: Vec<(String, String)> = vec![("host".into(), self.host.clone())];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if let Some(token) = self.keys.as_ref().and_then(|k| k.session_token.clone()) {
            all.push(("x-amz-security-token".into(), token));
        }
        if let Some(keys) = &self.keys {
            all.extend(sign(
                method,
                &self.host,
                path,
                &all,
                body,
                keys,
                SystemTime::now(),
            ));
        }
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in &all {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        self.read_response(method)
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    fn read_response(&mut self, method: &str) -> Response {
        let status_line = self.read_line();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.read_line();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.trim().to_lowercase(), v.trim().to_string()));
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if method == "HEAD" || status == 204 || status == 304 {
        } else if let Some(len) = find("content-length") {
            body.resize(len.parse().unwrap(), 0);
            self.reader.read_exact(&mut body).unwrap();
        } else if find("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                let size =
                    usize::from_str_radix(self.read_line().split(';').next().unwrap().trim(), 16)
                        .unwrap();
                if size == 0 {
                    self.read_line();
                    break;
                }
                let mut chunk = vec![0; size];
                self.reader.read_exact(&mut chunk).unwrap();
                body.extend(chunk);
                self.read_line();
            }
        }
        Response {
            status,
            headers,
            body,
        }
    }

    /// Invoke with a JSON payload and optional headers.
    pub fn invoke(&mut self, function: &str, payload: &[u8], headers: &[(&str, &str)]) -> Response {
        self.send(
            "POST",
            &format!("/2015-03-31/functions/{function}/invocations"),
            headers,
            payload,
        )
    }
}

/// SigV4 headers (authorization, x-amz-date) for a request.
pub fn sign(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    keys: &Keys,
    at: SystemTime,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let url = format!("http://{host}{path}");
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let identity = aws_credential_types::Credentials::new(
        &keys.access_key,
        &keys.secret_key,
        None,
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A deterministic zip of (name, contents).
pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, SimpleFileOptions::default()).unwrap();
        w.write_all(data.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub const ROLE: &str = "arn:aws:iam::000000000000:role/lambda";

/// CreateFunction with app.py = `source`, handler `app.handler`; `extra` merges into the body.
pub fn create(http: &mut Http, name: &str, source: &str, extra: serde_json::Value) -> Response {
    create_zip(http, name, &zip_of(&[("app.py", source)]), extra)
}

pub fn create_zip(http: &mut Http, name: &str, zip: &[u8], extra: serde_json::Value) -> Response {
    let mut body = serde_json::json!({
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": b64(zip)},
    });
    if let (serde_json::Value::Object(b), serde_json::Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    http.post_json("/2015-03-31/functions", &body)
}

/// The Python test venv (boto3, aws CLI), or a panic saying how to make it.
pub fn venv() -> PathBuf {
    let venv = std::env::var_os("LAMBADA_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join("test-venv")
        });
    assert!(
        venv.join("bin").join("python").exists(),
        "the Python test venv is missing at {}: run tests/run once (it installs tests/requirements.txt into target/test-venv), or set LAMBADA_TEST_VENV",
        venv.display()
    );
    venv
}

/// Runs a command with a time limit; returns (success, stdout, stderr).
pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the command");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    match status {
        Some(status) => (status.success(), out, err),
        None => (false, out, format!("{err}\n(timed out after {limit:?})")),
    }
}
