//! The `agentgate` client commands, run as a separate process against a real gateway (in this process, on
//! 127.0.0.1:0). Each run gets a clean environment: a temporary `HOME` and only the variables the test sets.
//! The child is waited for on a blocking thread, so the gateway keeps serving meanwhile.

use crate::support::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agentgate");

/// A temporary home directory and the environment to run the CLI with.
struct Cli {
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What a run printed and how it exited.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    #[track_caller]
    fn expect(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// The one line a failure prints on stderr.
    #[track_caller]
    fn error_line(&self) -> &str {
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line on stderr:\n{}", self.stderr);
        assert!(!self.stderr.contains("panicked") && !self.stderr.contains("backtrace"), "{}", self.stderr);
        lines[0]
    }
}

impl Cli {
    /// No configuration at all: only `HOME`.
    fn bare() -> Self {
        Self { home: tempfile::tempdir().expect("temp home"), env: Vec::new() }
    }

    /// Configured for `server` through `AGENTGATE_URL` and `AGENTGATE_API_KEY`.
    fn new(server: &TestServer, key: &str) -> Self {
        Self::bare().with("AGENTGATE_URL", &server.base_url).with("AGENTGATE_API_KEY", key)
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env_clear().env("HOME", self.home.path()).current_dir(self.home.path());
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    async fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        finish(tokio::task::spawn_blocking(move || cmd.output().expect("agentgate runs")).await.expect("joined"))
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("agentgate starts")
    }

    fn config_file(&self) -> PathBuf {
        self.home.path().join(".agentgate").join("config.json")
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.home.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path.to_string_lossy().into_owned()
    }
}

fn finish(output: Output) -> Run {
    Run {
        // A signal would leave no code; -1 fails every expectation.
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn wait_child(child: Child) -> Run {
    finish(tokio::task::spawn_blocking(move || child.wait_with_output().expect("waited")).await.expect("joined"))
}

/// A loopback port with nothing listening on it.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The id of the one pending request for `action`, once it exists.
async fn pending_request(server: &TestServer, action: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = server.get(&format!("/api/requests?status=pending&action={action}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if let Some(id) = body["requests"][0]["id"].as_str() {
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "the CLI never created its {action} request");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn request_wait_is_unblocked_by_a_decision_from_another_client() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server, &server.admin_key);

    // The gate: approved → exit 0, and the decided request on stdout.
    let child =
        cli.spawn(&["request", "deploy", "--params", r#"{"version":"2.1.0"}"#, "--wait", "--timeout", "60", "--json"]);
    let id = pending_request(&server, "deploy").await;
    let (status, body) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "approved"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run = wait_child(child).await;
    run.expect(0);
    let decided = run.json();
    assert_eq!(decided["id"], id.as_str());
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["params"], json!({"version": "2.1.0"}));

    // Denied → exit 1, in table mode too (the waiting note goes to stderr).
    let child = cli.spawn(&["request", "drop_table", "-p", r#"{"table":"users"}"#, "-u", "critical", "--wait"]);
    let id = pending_request(&server, "drop_table").await;
    let (status, _) =
        server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "denied", "reason": "no"})).await;
    assert_eq!(status, StatusCode::OK);
    let run = wait_child(child).await;
    run.expect(1);
    assert!(run.stdout.contains(&format!("Request {id} (drop_table) was denied")), "{}", run.stdout);
    assert!(run.stderr.contains("waiting up to 300 s"), "{}", run.stderr);
}

#[tokio::test]
async fn exit_codes_follow_the_request() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server, &server.admin_key);

    // Not waited for: still pending → 3, so `request … && deploy` never deploys an undecided request.
    let run = cli.run(&["request", "deploy", "--json"]).await;
    run.expect(3);
    let id = run.json()["id"].as_str().expect("id").to_owned();
    cli.run(&["status", &id]).await.expect(3);
    // Waited for, not decided in time → 3.
    let run = cli.run(&["wait", &id, "--timeout", "1", "--json"]).await;
    run.expect(3);
    assert_eq!(run.json()["status"], "pending");

    // Decided: status and wait exit with the request's code.
    cli.run(&["approve", &id, "--reason", "fine"]).await.expect(0);
    cli.run(&["status", &id]).await.expect(0);
    cli.run(&["wait", &id]).await.expect(0);
    let denied = cli.run(&["request", "rm", "--json"]).await.json()["id"].as_str().expect("id").to_owned();
    cli.run(&["deny", &denied, "-r", "no"]).await.expect(0);
    cli.run(&["status", &denied]).await.expect(1);
    cli.run(&["wait", &denied, "--timeout", "5"]).await.expect(1);

    // Expired while waiting → 2.
    let run = cli.run(&["request", "late", "--expires-in", "1s", "--wait", "--timeout", "30", "--json"]).await;
    run.expect(2);
    assert_eq!(run.json()["status"], "expired");

    // A policy decides at once: approved → 0, denied → 1, with or without --wait.
    server
        .create_policy(json!({"name": "p", "rules": [
            {"match": {"action": "read_docs"}, "decision": "auto_approve"},
            {"match": {"action": "delete_all"}, "decision": "auto_deny"}]}))
        .await;
    cli.run(&["request", "read_docs"]).await.expect(0);
    cli.run(&["request", "read_docs", "--wait"]).await.expect(0);
    cli.run(&["request", "delete_all", "--wait"]).await.expect(1);

    // Errors → 4; usage → 64.
    let run = cli.run(&["status", "no-such-request"]).await;
    run.expect(4);
    assert_eq!(run.error_line(), "agentgate: Request not found");
    let run = cli.run(&["approve", &id]).await;
    run.expect(4);
    assert_eq!(run.error_line(), "agentgate: Request already approved");
    cli.run(&["list", "--status", "maybe"]).await.expect(64);
    cli.run(&["request"]).await.expect(64);
    cli.run(&["request", "x", "--timeout", "5"]).await.expect(64);
    cli.run(&["request", "x", "--expires-in", "soon"]).await.expect(64);
    cli.run(&["no-such-command"]).await.expect(64);
    cli.run(&[]).await.expect(64);
    cli.run(&["--help"]).await.expect(0);
    cli.run(&["--version"]).await.expect(0);
}

#[tokio::test]
async fn request_commands_print_the_gateways_json() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server, &server.admin_key);
    let run = cli
        .run(&[
            "request",
            "send_email",
            "--params",
            r#"{"to":"ceo@example.com"}"#,
            "--context",
            r#"{"agentId":"mailer"}"#,
            "--urgency",
            "high",
            "--expires-in",
            "2h",
            "--json",
        ])
        .await;
    let created = run.json();
    assert_eq!(created["action"], "send_email");
    assert_eq!(created["params"], json!({"to": "ceo@example.com"}));
    assert_eq!(created["context"], json!({"agentId": "mailer"}));
    assert_eq!(created["urgency"], "high");
    assert_eq!(created["policyDecision"]["decision"], "route_to_human");
    assert!(created["expiresAt"].is_string(), "{created}");
    let id = created["id"].as_str().expect("id");

    let shown = cli.run(&["status", id, "--json"]).await.json();
    assert_eq!(shown["id"], id);
    let other = cli.run(&["request", "deploy", "--json"]).await.json();

    let list = cli.run(&["list", "--status", "pending", "--action", "send_email", "--json"]).await;
    list.expect(0);
    let list = list.json();
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["requests"][0]["id"], id);
    let page = cli.run(&["list", "--limit", "1", "--offset", "1", "--json"]).await.json();
    assert_eq!(page["requests"][0]["id"], id, "newest first: the second is the first created");
    assert_eq!(page["pagination"], json!({"total": 2, "limit": 1, "offset": 1, "hasMore": false}));

    let approved = cli.run(&["approve", id, "--reason", "ok", "--json"]).await;
    approved.expect(0);
    assert_eq!(approved.json()["status"], "approved");
    assert_eq!(approved.json()["decisionReason"], "ok");
    let denied = cli.run(&["deny", other["id"].as_str().expect("id"), "--json"]).await.json();
    assert_eq!(denied["status"], "denied");

    let trail = cli.run(&["audit", "--request", id, "--json"]).await;
    trail.expect(0);
    let trail = trail.json();
    let events: Vec<&str> =
        trail["entries"].as_array().expect("entries").iter().filter_map(|e| e["eventType"].as_str()).collect();
    assert_eq!(events, ["approved", "created"]);

    // Tables and plain lines for people and scripts.
    let table = cli.run(&["list"]).await;
    table.expect(0);
    assert!(table.stdout.contains("ID") && table.stdout.contains(id), "{}", table.stdout);
    let plain = cli.run(&["list", "--format", "plain", "--status", "approved"]).await;
    assert!(plain.stdout.starts_with(&format!("{id}\tapproved\tsend_email\t")), "{}", plain.stdout);
    let audit = cli.run(&["audit", "--event-type", "denied"]).await;
    audit.expect(0);
    assert!(audit.stdout.contains("denied"), "{}", audit.stdout);
}

#[tokio::test]
async fn tables_fit_the_terminal_width() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server, &server.admin_key).with("COLUMNS", "100");
    let long = "x".repeat(300);
    let run = cli.run(&["request", "send_email", "--params", &format!(r#"{{"body":"{long}"}}"#), "--json"]).await;
    let id = run.json()["id"].as_str().expect("id").to_owned();
    let table = cli.run(&["list"]).await;
    table.expect(0);
    for line in table.stdout.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
    assert!(table.stdout.contains(&id), "ids are never cut: {}", table.stdout);
    assert!(table.stdout.contains('…'), "long values are: {}", table.stdout);
    // Without a terminal width, a pipe gets whole values.
    let piped = Cli::new(&server, &server.admin_key).run(&["list"]).await;
    assert!(piped.stdout.contains(&long), "{}", piped.stdout);
}

#[tokio::test]
async fn the_config_file_is_private_and_masks_the_key() {
    let server = TestServer::start().await;
    let key = server.admin_key.clone();
    let cli = Cli::bare();
    let path = cli.config_file();

    let run = cli.run(&["config", "path"]).await;
    run.expect(0);
    assert_eq!(run.stdout.trim(), path.to_string_lossy());
    assert!(!path.exists(), "reading the configuration writes nothing");

    cli.run(&["config", "set", "serverUrl", &server.base_url]).await.expect(0);
    let run = cli.run(&["config", "set", "apiKey", &key]).await;
    run.expect(0);
    assert!(!run.stdout.contains(&key) && !run.stderr.contains(&key), "the key is masked: {}", run.stdout);
    assert!(run.stdout.contains(&format!("Set apiKey = {}…", &key[..4])), "{}", run.stdout);
    cli.run(&["config", "set", "outputFormat", "plain"]).await.expect(0);
    cli.run(&["config", "set", "timeout", "10000"]).await.expect(0);
    cli.run(&["config", "set", "timeout", "soon"]).await.expect(64);
    cli.run(&["config", "set", "outputFormat", "xml"]).await.expect(64);
    cli.run(&["config", "set", "serverUrl", "gateway:3000"]).await.expect(64);
    cli.run(&["config", "set", "colour", "blue"]).await.expect(64);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600, "the file holds a secret");
        assert_eq!(mode(path.parent().expect("dir")), 0o700);
    }
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    assert_eq!(
        saved,
        json!({"serverUrl": server.base_url, "apiKey": key, "outputFormat": "plain", "timeout": 10000}),
        "the older CLI's file format"
    );

    let run = cli.run(&["config", "get", "apiKey"]).await;
    run.expect(0);
    assert!(!run.stdout.contains(&key) && run.stdout.starts_with(&key[..4]), "{}", run.stdout);
    let shown = cli.run(&["config", "show", "--json"]).await;
    shown.expect(0);
    assert!(!shown.stdout.contains(&key), "{}", shown.stdout);
    let shown = shown.json();
    assert_eq!(shown["serverUrl"], server.base_url.as_str());
    assert_eq!(shown["timeout"], 10000);
    assert_eq!(shown["sources"]["apiKey"], "config file");
    let table = cli.run(&["config", "show"]).await;
    assert!(!table.stdout.contains(&key) && table.stdout.contains("serverUrl"), "{}", table.stdout);

    // The file alone is enough (outputFormat plain from the file).
    let created = cli.run(&["request", "from_file"]).await;
    created.expect(3);
    assert!(created.stdout.contains("\tpending\tfrom_file"), "{}", created.stdout);

    // Reset: back to the defaults (no key, so client commands say what to do).
    cli.run(&["config", "reset"]).await.expect(0);
    assert_eq!(std::fs::read_to_string(&path).expect("read").trim(), "{}");
    let run = cli.run(&["list"]).await;
    run.expect(4);
    assert!(run.error_line().contains("no API key"), "{}", run.stderr);
}

#[tokio::test]
async fn environment_overrides_the_file_and_flags_override_both() {
    let server = TestServer::start().await;
    let closed = closed_port_url();
    let cli = Cli::bare();
    cli.run(&["config", "set", "serverUrl", &closed]).await.expect(0);
    cli.run(&["config", "set", "apiKey", "agk_not_a_real_key_0000000000"]).await.expect(0);
    // The file's values fail…
    let run = cli.run(&["list"]).await;
    run.expect(4);
    assert!(run.error_line().contains("cannot reach the gateway"), "{}", run.stderr);

    // …the environment's win over them…
    let cli = cli.with("AGENTGATE_URL", &server.base_url).with("AGENTGATE_API_KEY", &server.admin_key);
    cli.run(&["list", "--json"]).await.expect(0);
    let shown = cli.run(&["config", "show", "--json"]).await.json();
    assert_eq!(shown["serverUrl"], server.base_url.as_str());
    assert_eq!(shown["sources"]["serverUrl"], "AGENTGATE_URL");
    assert_eq!(shown["sources"]["apiKey"], "AGENTGATE_API_KEY");

    // …and flags win over both.
    let run = cli.run(&["list", "--server-url", &closed]).await;
    run.expect(4);
    assert_eq!(run.error_line(), format!("agentgate: cannot reach the gateway at {closed}: connection refused"));
    let run = cli.run(&["list", "--server", &closed]).await;
    run.expect(4);
    assert_eq!(run.error_line(), format!("agentgate: cannot reach the gateway at {closed}: connection refused"));
    let run = cli.run(&["list", "--api-key", "agk_wrong_key_00000000000000000"]).await;
    run.expect(4);
    assert!(run.error_line().starts_with("agentgate: the API key was rejected (Invalid API key)"), "{}", run.stderr);

    // A corrupt file is reported and ignored; the environment still works.
    std::fs::write(cli.config_file(), "{not json").expect("corrupt the file");
    let run = cli.run(&["list", "--json"]).await;
    run.expect(0);
    assert!(run.stderr.contains("warning: ignoring"), "{}", run.stderr);
    // …but never overwritten by `set`.
    cli.run(&["config", "set", "timeout", "5000"]).await.expect(4);
    assert_eq!(std::fs::read_to_string(cli.config_file()).expect("read"), "{not json");
}

#[tokio::test]
async fn errors_are_one_line_a_person_understands() {
    let server = TestServer::start().await;
    let closed = closed_port_url();
    let run = Cli::bare().with("AGENTGATE_URL", &closed).with("AGENTGATE_API_KEY", "agk_x").run(&["list"]).await;
    run.expect(4);
    assert_eq!(run.error_line(), format!("agentgate: cannot reach the gateway at {closed}: connection refused"));

    let run = Cli::new(&server, "agk_wrong_key_00000000000000000").run(&["status", "x"]).await;
    run.expect(4);
    assert!(run.error_line().starts_with("agentgate: the API key was rejected (Invalid API key)"), "{}", run.stderr);

    let reader = server.create_key("reader", &["request:read"]).await;
    let run = Cli::new(&server, &reader).run(&["request", "deploy"]).await;
    run.expect(4);
    let line = run.error_line();
    assert!(line.starts_with("agentgate: Missing required scope: request:create ("), "{line}");
    assert!(line.contains("scope"), "with a hint: {line}");

    let cli = Cli::new(&server, &server.admin_key);
    let run = cli.run(&["request", "deploy", "--params", "{version: 2}"]).await;
    run.expect(64);
    assert!(run.error_line().starts_with("agentgate: --params is not valid JSON: "), "{}", run.stderr);
    let run = cli.run(&["request", "deploy", "--context", "[1, 2]"]).await;
    run.expect(64);
    assert!(run.error_line().contains("--context must be a JSON object"), "{}", run.stderr);
    assert_eq!(server.total("/api/requests").await, 0, "nothing was asked");

    let run = cli.run(&["policy", "create", "--file", "missing.yaml"]).await;
    run.expect(64);
    assert!(run.error_line().contains("cannot read missing.yaml"), "{}", run.stderr);
}

#[tokio::test]
async fn policies_from_yaml_and_simulation() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server, &server.admin_key);
    let yaml = cli.write(
        "email.yaml",
        r#"
name: email
priority: 10
rules:
  - match:
      action: send_email
      params.to: { $regex: "@example\\.com$" }
    decision: auto_approve
  - match: { action: { $regex: "^delete" } }
    decision: auto_deny
"#,
    );
    let created = cli.run(&["policy", "create", "--file", &yaml, "--json"]).await;
    created.expect(0);
    let created = created.json();
    assert_eq!(created["name"], "email");
    assert_eq!(created["rules"][0]["match"]["params.to"], json!({"$regex": "@example\\.com$"}));
    let id = created["id"].as_str().expect("id");

    let list = cli.run(&["policy", "list", "--json"]).await.json();
    assert_eq!(list["policies"][0]["id"], id);
    let got = cli.run(&["policy", "get", id, "--json"]).await.json();
    assert_eq!(got["rules"], created["rules"]);
    let table = cli.run(&["policy", "get", id]).await;
    assert!(table.stdout.contains("auto_deny"), "{}", table.stdout);

    let requests = cli.write(
        "requests.json",
        r#"[{"action": "send_email", "params": {"to": "a@example.com"}}, {"action": "delete_db"}, {"action": "deploy"}]"#,
    );
    let simulated = cli.run(&["policy", "simulate", "--file", &requests, "--json"]).await;
    simulated.expect(0);
    let simulated = simulated.json();
    assert_eq!(simulated["policies"], "stored");
    let decisions: Vec<&str> =
        simulated["results"].as_array().expect("results").iter().filter_map(|r| r["decision"].as_str()).collect();
    assert_eq!(decisions, ["auto_approve", "auto_deny", "route_to_human"]);
    assert_eq!(simulated["results"][1]["matched"]["ruleIndex"], 1);
    let table = cli.run(&["policy", "simulate", "--file", &requests]).await;
    assert!(table.stdout.contains("email rule 1"), "{}", table.stdout);

    // Against a draft set instead of the stored one.
    let one = cli.write("deploy.json", r#"{"action": "deploy", "params": {"env": "staging"}}"#);
    let draft = cli.write(
        "draft.yml",
        "- name: staging\n  rules:\n    - match: {params.env: staging}\n      decision: auto_approve\n",
    );
    let simulated = cli.run(&["policy", "simulate", "-f", &one, "--policies", &draft, "--json"]).await.json();
    assert_eq!(simulated["policies"], "draft");
    assert_eq!(simulated["results"][0]["decision"], "auto_approve");

    // Replace from JSON, then delete.
    let update = cli.write(
        "email.json",
        r#"{"name": "email v2", "priority": 5, "rules": [{"match": {"action": "send_email"}, "decision": "route_to_human"}]}"#,
    );
    let updated = cli.run(&["policy", "update", id, "--file", &update, "--json"]).await.json();
    assert_eq!(updated["name"], "email v2");
    assert_eq!(updated["version"], 2);
    // The gateway's validation message comes through.
    let bad = cli.write("bad.yaml", "name: bad\nrules:\n  - match: {amount: {$gtt: 5}}\n    decision: auto_approve\n");
    let run = cli.run(&["policy", "create", "--file", &bad]).await;
    run.expect(4);
    assert!(run.error_line().contains("rules[0].match.amount"), "{}", run.stderr);

    let deleted = cli.run(&["policy", "delete", id]).await;
    deleted.expect(0);
    assert!(deleted.stdout.contains("Deleted policy"), "{}", deleted.stdout);
    cli.run(&["policy", "get", id]).await.expect(4);
}

#[tokio::test]
async fn keys_are_created_changed_and_revoked() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server, &server.admin_key);
    let created = cli
        .run(&[
            "key",
            "create",
            "--name",
            "ci",
            "--scope",
            "request:create,request:read",
            "--rate-limit",
            "60",
            "--json",
        ])
        .await;
    created.expect(0);
    let created = created.json();
    let (id, secret) = (created["id"].as_str().expect("id"), created["key"].as_str().expect("secret"));
    assert_eq!(created["scopes"], json!(["request:create", "request:read"]));
    assert_eq!(created["rateLimit"], 60);

    // The new key works for what it may do.
    Cli::new(&server, secret).run(&["request", "from_ci"]).await.expect(3);

    let list = cli.run(&["key", "list", "--json"]).await.json();
    let names: Vec<&str> = list["keys"].as_array().expect("keys").iter().filter_map(|k| k["name"].as_str()).collect();
    assert!(names.contains(&"ci"), "{names:?}");
    let table = cli.run(&["key", "list"]).await;
    assert!(table.stdout.contains("ci") && !table.stdout.contains(secret), "{}", table.stdout);

    let updated = cli.run(&["key", "update", id, "--scope", "request:read", "--no-rate-limit", "--json"]).await;
    updated.expect(0);
    assert_eq!(updated.json()["key"]["scopes"], json!(["request:read"]));
    assert_eq!(updated.json()["key"]["rateLimit"], Value::Null);
    cli.run(&["key", "update", id]).await.expect(64);
    cli.run(&["key", "create", "--name", "x", "--scope", "superuser"]).await.expect(64);

    let revoked = cli.run(&["key", "revoke", id]).await;
    revoked.expect(0);
    assert!(revoked.stdout.contains("Revoked"), "{}", revoked.stdout);
    let run = Cli::new(&server, secret).run(&["list"]).await;
    run.expect(4);
    assert!(run.error_line().contains("the API key was rejected"), "{}", run.stderr);
}

/// A webhook receiver on loopback that answers 200.
async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn webhooks_are_managed_tested_and_replayed() {
    let server = TestServer::start_with(|c| c.allow_private_webhooks = true).await;
    let manager = server.create_key("hooks", &["webhook:manage"]).await;
    let cli = Cli::new(&server, &manager);
    let url = receiver().await;

    let created = cli.run(&["webhook", "create", "--url", &url, "--event", "request.created", "--json"]).await;
    created.expect(0);
    let created = created.json();
    let id = created["id"].as_str().expect("id");
    assert!(created["secret"].as_str().is_some_and(|s| !s.is_empty()), "{created}");
    let table = cli.run(&["webhook", "create", "--url", &url, "--event", "request.approved,request.denied"]).await;
    table.expect(0);
    assert!(table.stdout.contains("shown only this once"), "{}", table.stdout);

    let list = cli.run(&["webhook", "list", "--json"]).await.json();
    assert_eq!(list["webhooks"].as_array().map(Vec::len), Some(2));

    let updated = cli.run(&["webhook", "update", id, "--event", "*", "--disable", "--json"]).await.json();
    assert_eq!(updated["webhook"]["events"], json!(["*"]));
    assert_eq!(updated["webhook"]["enabled"], false);
    cli.run(&["webhook", "update", id, "--enable"]).await.expect(0);
    cli.run(&["webhook", "update", id]).await.expect(64);

    let tested = cli.run(&["webhook", "test", id, "--json"]).await;
    tested.expect(0);
    let tested = tested.json();
    assert_eq!(tested["success"], true);
    assert_eq!(tested["status"], 200);
    let delivery = tested["deliveryId"].as_str().expect("delivery id");

    let deliveries = cli.run(&["webhook", "deliveries", id, "--status", "success", "--json"]).await.json();
    assert_eq!(deliveries["deliveries"][0]["id"], delivery);
    let detail = cli.run(&["webhook", "get", id, "--json"]).await.json();
    assert_eq!(detail["url"], url.as_str());
    assert_eq!(detail["deliveries"][0]["id"], delivery);
    let table = cli.run(&["webhook", "get", id]).await;
    assert!(table.stdout.contains(delivery), "{}", table.stdout);

    let replayed = cli.run(&["webhook", "replay", delivery, "--json"]).await;
    replayed.expect(0);
    assert_ne!(replayed.json()["delivery"]["id"], delivery);
    assert_eq!(replayed.json()["delivery"]["replayOf"], delivery);

    // A test that the receiver does not answer fails the command.
    let dead = cli
        .run(&["webhook", "create", "--url", &format!("{}/hook", closed_port_url()), "--event", "*", "--json"])
        .await;
    let dead_id = dead.json()["id"].as_str().expect("id").to_owned();
    let run = cli.run(&["webhook", "test", &dead_id]).await;
    run.expect(4);
    assert!(run.stderr.contains("failed"), "{}", run.stderr);

    let deleted = cli.run(&["webhook", "delete", id, "--json"]).await;
    deleted.expect(0);
    assert_eq!(deleted.json()["success"], true);
    cli.run(&["webhook", "get", id]).await.expect(4);
}

#[tokio::test]
async fn completions_and_help() {
    let cli = Cli::bare();
    for shell in ["bash", "zsh", "fish"] {
        let run = cli.run(&["completions", shell]).await;
        run.expect(0);
        assert!(run.stdout.contains("agentgate") && run.stdout.contains("webhook"), "{shell}: {}", run.stdout);
    }
    cli.run(&["completions", "tcsh"]).await.expect(64);
    let help = cli.run(&["--help"]).await;
    assert!(help.stdout.contains("Exit codes") && help.stdout.contains("64  usage"), "{}", help.stdout);
}

/// Client commands never read the server's configuration, and server commands never read the client's.
#[tokio::test]
async fn client_and_server_commands_keep_to_their_own_configuration() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server, &server.admin_key)
        .with("DATABASE_URL", "postgres://127.0.0.1:1/never-read-by-client-commands")
        .with("PORT", "not-a-port")
        .with("LOG_FORMAT", "xml");
    cli.run(&["list", "--json"]).await.expect(0);

    // A server command with a broken client config file (and no client variables) still works…
    let bare = Cli::bare().with("DATABASE_URL", "agentgate.db");
    std::fs::create_dir_all(bare.config_file().parent().expect("dir")).expect("mkdir");
    std::fs::write(bare.config_file(), "{broken").expect("write");
    let run = bare.run(&["migrate"]).await;
    run.expect(0);
    assert!(!run.stderr.contains("config.json"), "{}", run.stderr);
    // …and an invalid server configuration is its own exit code.
    bare.clone_with("PORT", "not-a-port").run(&["migrate"]).await.expect(78);
}

impl Cli {
    /// A new home, with the same variables and one more.
    fn clone_with(&self, name: &str, value: &str) -> Cli {
        let home = tempfile::tempdir().expect("temp home");
        let mut env = self.env.clone();
        env.push((name.to_owned(), value.to_owned()));
        Cli { home, env }
    }
}
