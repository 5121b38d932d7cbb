//! The real `agentgate` binary as a separate process: `serve`, `migrate`, `bootstrap`, configuration errors,
//! JSON logs with request ids, and graceful shutdown on SIGTERM.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_agentgate");
const STARTUP_LIMIT: Duration = Duration::from_secs(10);

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local addr").port()
}

/// A command with a clean environment: only what the test sets reaches the gateway.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_clear().env("DATABASE_URL", dir.join("agentgate.db")).current_dir(dir);
    // An entry given here replaces the default above (an empty value means "unset" to the gateway).
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Collects a pipe's lines on a thread, so the child never blocks on a full pipe.
fn collect(pipe: impl std::io::Read + Send + 'static) -> (Arc<Mutex<Vec<String>>>, JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let handle = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
    (lines, handle)
}

/// A running gateway process, killed if the test ends before it exits.
pub(crate) struct Gateway {
    child: Option<Child>,
    port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Gateway {
    pub(crate) fn spawn(dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let port_text = port.to_string();
        let mut all_env = vec![("PORT", port_text.as_str()), ("HOST", "127.0.0.1")];
        all_env.extend_from_slice(env);
        let mut child = command(dir, &["serve"], &all_env).spawn().expect("agentgate serve starts");
        let (stdout, out_reader) = collect(child.stdout.take().expect("stdout piped"));
        let (stderr, err_reader) = collect(child.stderr.take().expect("stderr piped"));
        Self { child: Some(child), port, stdout, stderr, readers: vec![out_reader, err_reader] }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Polls `/health` until it answers 200 (or fails the test after STARTUP_LIMIT).
    pub(crate) async fn wait_healthy(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            if let Ok(res) = http.get(self.url("/health")).timeout(Duration::from_secs(2)).send().await
                && res.status() == StatusCode::OK
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait")) {
                panic!("agentgate exited early with {status}; stderr:\n{}", self.stderr_text());
            }
            assert!(
                Instant::now() < deadline,
                "agentgate not healthy within {STARTUP_LIMIT:?}:\n{}",
                self.stderr_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub(crate) fn terminate(&self) {
        self.signal("-TERM");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.pid().to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Waits (bounded) for the process to exit, then for its output to be fully read.
    pub(crate) async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STARTUP_LIMIT;
        let child = self.child.as_mut().expect("running");
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "agentgate did not exit within {STARTUP_LIMIT:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        self.child = None;
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    /// The admin key printed on a first start (waiting, bounded, for the line to be read from the pipe).
    async fn printed_key(&self) -> String {
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            if let Some(key) = printed_keys(&self.stdout_text()).pop() {
                return key;
            }
            assert!(Instant::now() < deadline, "no agk_ key on stdout:\n{}", self.stdout_text());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
    }

    fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn stderr_text(&self) -> String {
        self.stderr_lines().join("\n")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `agk_` keys printed in `text`.
fn printed_keys(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '`' || c == '"')
        .filter(|w| w.starts_with("agk_"))
        .map(str::to_owned)
        .collect()
}

/// Runs a short-lived subcommand to completion (bounded), returning its status, stdout and stderr.
async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let mut child = command(dir, args, env).spawn().expect("agentgate runs");
    let (stdout, out_reader) = collect(child.stdout.take().expect("stdout piped"));
    let (stderr, err_reader) = collect(child.stderr.take().expect("stderr piped"));
    let deadline = Instant::now() + STARTUP_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("agentgate {args:?} did not finish within {STARTUP_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = out_reader.join();
    let _ = err_reader.join();
    let text = |lines: Arc<Mutex<Vec<String>>>| lines.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
    (status, text(stdout), text(stderr))
}

async fn get_with(url: &str, key: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new().get(url).bearer_auth(key).send().await.expect("request sent");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub(crate) fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[tokio::test]
async fn serve_prints_an_admin_key_on_first_start_only() {
    let (_guard, dir) = temp_dir();
    let mut first = Gateway::spawn(&dir, &[]);
    first.wait_healthy().await;
    let key = first.printed_key().await;
    assert_eq!(key.len(), 47, "{key}");
    assert!(!first.stderr_text().contains(&key), "the key is never logged");

    let (status, body) = get_with(&first.url("/api/keys"), &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let health: Value = reqwest::get(first.url("/health")).await.expect("health").json().await.expect("JSON");
    assert_eq!(health["status"], "ok");

    first.terminate();
    assert!(first.wait_exit().await.success());
    assert_eq!(printed_keys(&first.stdout_text()), vec![key.clone()], "one key on first start");

    let mut second = Gateway::spawn(&dir, &[]);
    second.wait_healthy().await;
    // The same key still works, and no new one is shown.
    let (status, _) = get_with(&second.url("/api/requests"), &key).await;
    assert_eq!(status, StatusCode::OK);
    second.terminate();
    assert!(second.wait_exit().await.success());
    assert_eq!(printed_keys(&second.stdout_text()), Vec::<String>::new(), "stdout:\n{}", second.stdout_text());
}

#[tokio::test]
async fn serve_with_admin_api_key_prints_no_key() {
    let (_guard, dir) = temp_dir();
    let admin = "process-admin-secret-0123456789";
    let mut gateway = Gateway::spawn(&dir, &[("ADMIN_API_KEY", admin)]);
    gateway.wait_healthy().await;
    let (status, body) = get_with(&gateway.url("/api/keys"), admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"keys": []}));
    gateway.terminate();
    assert!(gateway.wait_exit().await.success());
    assert_eq!(printed_keys(&gateway.stdout_text()), Vec::<String>::new());
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let (_guard, dir) = temp_dir();
    let mut gateway = Gateway::spawn(&dir, &[]);
    gateway.wait_healthy().await;
    let key = gateway.printed_key().await;

    // Start a request and stop half-way through its body: the handler is running, waiting for the rest.
    let body = json!({"action": "in_flight", "params": {"note": "sent across a SIGTERM"}}).to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", gateway.port)).await.expect("connect");
    let head = format!(
        "POST /api/requests HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        gateway.port,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    // The server asks for the body once the handler starts reading it: the request is now in flight.
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(STARTUP_LIMIT, stream.read(&mut byte)).await.expect("100 Continue in time");
        assert_eq!(n.expect("read"), 1, "connection closed early: {}", String::from_utf8_lossy(&interim));
        interim.push(byte[0]);
    }
    assert!(interim.starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&interim));
    let (first_half, second_half) = body.as_bytes().split_at(body.len() / 2);
    stream.write_all(first_half).await.expect("write half the body");

    gateway.terminate();
    // Shutdown has begun once new connections are refused.
    let deadline = Instant::now() + STARTUP_LIMIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", gateway.port)).await.is_ok() {
        assert!(Instant::now() < deadline, "the listener was not closed after SIGTERM");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let still_running = gateway.child.as_mut().expect("child").try_wait().expect("try_wait").is_none();
    assert!(still_running, "the process waits for the in-flight request");

    stream.write_all(second_half).await.expect("write the rest of the body");
    let mut response = Vec::new();
    tokio::time::timeout(STARTUP_LIMIT, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read response");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let json_start = response.find("\r\n\r\n").expect("head end") + 4;
    let created: Value = serde_json::from_str(response[json_start..].trim()).expect("JSON body");
    assert_eq!(created["action"], "in_flight");

    let status = gateway.wait_exit().await;
    assert!(status.success(), "exit status {status}; stderr:\n{}", gateway.stderr_text());

    // The acknowledged request was committed.
    let mut again = Gateway::spawn(&dir, &[]);
    again.wait_healthy().await;
    let id = created["id"].as_str().expect("id");
    let (status, fetched) = get_with(&again.url(&format!("/api/requests/{id}")), &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["params"], created["params"]);
}

#[tokio::test]
async fn migrate_then_bootstrap_then_serve() {
    let (_guard, dir) = temp_dir();
    let (status, stdout, stderr) = run(&dir, &["migrate"], &[]).await;
    assert!(status.success(), "migrate: {status}\n{stdout}\n{stderr}");
    assert!(dir.join("agentgate.db").exists());
    assert!(printed_keys(&stdout).is_empty(), "migrate creates no key: {stdout}");
    // Migrating twice is fine.
    let (status, _, stderr) = run(&dir, &["migrate"], &[]).await;
    assert!(status.success(), "second migrate: {stderr}");

    let (status, stdout, stderr) = run(&dir, &["bootstrap"], &[]).await;
    assert!(status.success(), "bootstrap: {status}\n{stderr}");
    let keys = printed_keys(&stdout);
    assert_eq!(keys.len(), 1, "{stdout}");
    let bootstrapped = keys[0].clone();
    let (status, stdout, _) = run(&dir, &["bootstrap", "--name", "second admin"], &[]).await;
    assert!(status.success());
    let second = printed_keys(&stdout).pop().expect("a second key");
    assert_ne!(second, bootstrapped);

    // A key already exists, so serve prints none, and both bootstrapped keys are admins.
    let mut gateway = Gateway::spawn(&dir, &[]);
    gateway.wait_healthy().await;
    for key in [&bootstrapped, &second] {
        let (status, body) = get_with(&gateway.url("/api/keys"), key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let names: Vec<&str> =
            body["keys"].as_array().expect("keys").iter().filter_map(|k| k["name"].as_str()).collect();
        assert!(names.contains(&"second admin"), "{names:?}");
    }
    gateway.terminate();
    assert!(gateway.wait_exit().await.success());
    assert!(printed_keys(&gateway.stdout_text()).is_empty(), "{}", gateway.stdout_text());
}

#[tokio::test]
async fn invalid_configuration_stops_start_up_naming_the_variable() {
    let (_guard, dir) = temp_dir();
    for (name, value) in [
        ("PORT", "notaport"),
        ("PORT", "70000"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "loud"),
        ("HOST", "not-an-ip"),
        ("ADMIN_API_KEY", "short"),
        ("BODY_SIZE_LIMIT", "lots"),
        ("REQUEST_TIMEOUT_SEC", "soon"),
        ("RATE_LIMIT_RPM", "0"),
        ("REDIS_URL", "localhost:6379"),
    ] {
        for subcommand in ["serve", "migrate"] {
            let (status, stdout, stderr) = run(&dir, &[subcommand], &[(name, value)]).await;
            assert!(!status.success(), "{subcommand} with {name}={value} must fail");
            assert!(stderr.contains(name), "{subcommand} {name}={value}: stderr names the variable:\n{stderr}");
            assert!(printed_keys(&stdout).is_empty());
        }
    }
    assert!(!dir.join("agentgate.db").exists(), "nothing was created by a refused start");
}

#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let (_guard, dir) = temp_dir();
    let mut gateway = Gateway::spawn(&dir, &[("LOG_FORMAT", "json")]);
    gateway.wait_healthy().await;
    let key = gateway.printed_key().await;

    let res = reqwest::Client::new()
        .post(gateway.url("/api/requests"))
        .bearer_auth(&key)
        .header("x-request-id", "test-123")
        .json(&json!({"action": "logged"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("test-123"));
    // A request without an id gets one.
    let res = reqwest::Client::new().get(gateway.url("/api/requests")).bearer_auth(&key).send().await.expect("sent");
    assert!(res.headers().get("x-request-id").is_some_and(|v| !v.is_empty()));

    gateway.terminate();
    assert!(gateway.wait_exit().await.success());
    let lines = gateway.stderr_lines();
    assert!(!lines.is_empty(), "some logs were written");
    let mut parsed = Vec::new();
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(value.is_object(), "{line}");
        parsed.push(value);
    }
    let request_lines: Vec<&Value> = parsed.iter().filter(|v| has_field(v, "request_id", "test-123")).collect();
    assert!(!request_lines.is_empty(), "a log line carries request_id test-123:\n{}", lines.join("\n"));
    assert!(
        request_lines.iter().any(|v| v["status"] == 201),
        "the request's response line (status 201) carries its id:\n{}",
        lines.join("\n")
    );
    assert!(!lines.join("\n").contains(&key), "the key is never logged");
}

#[tokio::test]
async fn sigint_also_stops_cleanly() {
    let (_guard, dir) = temp_dir();
    let mut gateway = Gateway::spawn(&dir, &[]);
    gateway.wait_healthy().await;
    gateway.signal("-INT");
    let status = gateway.wait_exit().await;
    assert!(status.success(), "exit status {status}; stderr:\n{}", gateway.stderr_text());
}

#[tokio::test]
async fn admin_api_key_can_come_from_a_file() {
    let (_guard, dir) = temp_dir();
    let secret_file = dir.join("admin-key");
    std::fs::write(&secret_file, "  file-admin-secret-0123456789\n").expect("write secret");
    let path = secret_file.to_str().expect("utf-8 path");
    let mut gateway = Gateway::spawn(&dir, &[("ADMIN_API_KEY_FILE", path)]);
    gateway.wait_healthy().await;
    let (status, body) = get_with(&gateway.url("/api/keys"), "file-admin-secret-0123456789").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    gateway.terminate();
    assert!(gateway.wait_exit().await.success());
    assert!(printed_keys(&gateway.stdout_text()).is_empty(), "no first-start key when ADMIN_API_KEY is set");
    assert!(!gateway.stderr_text().contains("file-admin-secret"), "the secret is never logged");
}

#[tokio::test]
async fn database_url_forms_and_the_default_path() {
    let (_guard, dir) = temp_dir();
    // No DATABASE_URL: ./data/agentgate.db under the working directory.
    let (status, _, stderr) = run(&dir, &["migrate"], &[("DATABASE_URL", "")]).await;
    assert!(status.success(), "{stderr}");
    assert!(dir.join("data").join("agentgate.db").exists());

    let url = format!("sqlite://{}", dir.join("nested").join("other.db").display());
    let (status, _, stderr) = run(&dir, &["migrate"], &[("DATABASE_URL", &url)]).await;
    assert!(status.success(), "{stderr}");
    assert!(dir.join("nested").join("other.db").exists());

    for (variable, bad) in [
        ("DATABASE_URL", &[("DATABASE_URL", "postgres://localhost:notaport/agentgate")][..]),
        ("DB_DIALECT", &[("DB_DIALECT", "mysql")][..]),
        ("DATABASE_URL", &[("DB_DIALECT", "postgres"), ("DATABASE_URL", "agentgate.db")][..]),
    ] {
        let (status, _, stderr) = run(&dir, &["migrate"], bad).await;
        assert_eq!(status.code(), Some(78), "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
    }
}

#[tokio::test]
async fn pretty_logs_carry_the_request_id_too() {
    let (_guard, dir) = temp_dir();
    let mut gateway = Gateway::spawn(&dir, &[("LOG_FORMAT", "pretty")]);
    gateway.wait_healthy().await;
    let key = gateway.printed_key().await;
    let res = reqwest::Client::new()
        .get(gateway.url("/api/requests"))
        .bearer_auth(&key)
        .header("x-request-id", "pretty-456")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    gateway.terminate();
    assert!(gateway.wait_exit().await.success());
    let text = gateway.stderr_text();
    assert!(text.lines().any(|l| l.contains("pretty-456") && l.contains("200")), "{text}");
    assert!(!text.contains(&key), "the key is never logged");
}

/// Whether `field` holds `expected` anywhere in a JSON log line (at the top level or in its span data).
fn has_field(value: &Value, field: &str, expected: &str) -> bool {
    match value {
        Value::Object(map) => {
            map.get(field).and_then(Value::as_str) == Some(expected)
                || map.values().any(|v| has_field(v, field, expected))
        }
        Value::Array(items) => items.iter().any(|v| has_field(v, field, expected)),
        _ => false,
    }
}

/// Logs written to a pipe or file (a container runtime, journald) are plain text, without terminal colour codes.
#[tokio::test]
async fn pretty_logs_to_a_pipe_have_no_colour_codes() {
    let (_guard, dir) = temp_dir();
    let mut gateway = Gateway::spawn(&dir, &[("LOG_FORMAT", "pretty")]);
    gateway.wait_healthy().await;
    gateway.terminate();
    assert!(gateway.wait_exit().await.success());
    let text = gateway.stderr_text();
    assert!(!text.is_empty());
    assert!(!text.contains('\u{1b}'), "{text:?}");
}
