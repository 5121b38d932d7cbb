//! The MCP server, driven by a real MCP client that no one here wrote: the official Python SDK (PyPI `mcp`),
//! through `tests/mcp/client.py`. The gateway runs in this process on 127.0.0.1:0; the script starts
//! `agentgate mcp` over stdio (or talks streamable HTTP to `/mcp`) and prints a JSON summary of what it saw.
//! Without the Python package the tests print a note and pass (`.ci/run` installs it).

use crate::support::TestServer;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_agentgate");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/client.py");

const TOOLS: [&str; 11] = [
    "agentgate_create_policy",
    "agentgate_decide",
    "agentgate_delete_policy",
    "agentgate_get",
    "agentgate_get_audit_actors",
    "agentgate_list",
    "agentgate_list_audit_logs",
    "agentgate_list_policies",
    "agentgate_request",
    "agentgate_update_policy",
    "agentgate_wait_for_decision",
];

fn python_mcp_available() -> bool {
    let ok = Command::new("python3").args(["-c", "import mcp"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: skipping: the Python `mcp` package is not installed (python3 -m pip install \"mcp==2.3.0\")");
    }
    ok
}

/// Runs `client.py` on a blocking thread (the gateway keeps serving meanwhile) and parses its summary.
async fn run_script(args: Vec<String>, env: Vec<(&'static str, String)>, home: &Path) -> Value {
    run_script_file(SCRIPT, args, env, home).await
}

async fn run_script_file(
    script: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    home: &Path,
) -> Value {
    let home = home.to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("python3");
        cmd.arg(script).args(&args).env_clear().env("HOME", &home);
        for var in ["PATH", "PYTHONPATH", "VIRTUAL_ENV", "PYENV_ROOT", "PYENV_VERSION", "LANG"] {
            if let Ok(value) = std::env::var(var) {
                cmd.env(var, value);
            }
        }
        cmd.envs(env).output()
    })
    .await
    .expect("join")
    .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the MCP client failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}):\nstdout:\n{stdout}\nstderr:\n{stderr}"))
}

/// What every transport must show: the tools, their schemas, structured results, errors as tool results.
fn assert_summary(s: &Value) {
    let tools: Vec<&str> = s["tools"].as_array().expect("tools").iter().filter_map(Value::as_str).collect();
    assert_eq!(tools, TOOLS);
    // The older server's input schemas.
    let request = &s["schemas"]["agentgate_request"]["input"];
    assert_eq!(request["required"], serde_json::json!(["action"]));
    assert_eq!(request["properties"]["urgency"]["enum"], serde_json::json!(["low", "normal", "high", "critical"]));
    let decide = &s["schemas"]["agentgate_decide"]["input"];
    assert_eq!(decide["required"], serde_json::json!(["id", "decision"]));
    assert!(decide["properties"]["decidedBy"].is_object());
    let audit = &s["schemas"]["agentgate_list_audit_logs"]["input"]["properties"];
    for field in ["action", "status", "eventType", "actor", "from", "to", "requestId", "limit", "offset"] {
        assert!(audit[field].is_object(), "audit filter {field}");
    }
    for tool in TOOLS {
        assert_eq!(s["schemas"][tool]["output"]["type"], "object", "{tool} has an output schema");
    }

    let created = &s["request"];
    assert_eq!(created["isError"], false, "{created}");
    let id = created["structured"]["id"].as_str().expect("request id");
    assert_eq!(created["structured"]["status"], "pending");
    assert_eq!(created["structured"]["urgency"], "high");
    assert!(created["text"].as_str().is_some_and(|t| t.contains(id)), "text content carries the JSON too");

    assert_eq!(s["get"]["structured"]["id"], id);
    assert_eq!(s["get"]["structured"]["action"], "send_email");
    let listed = s["list"]["structured"]["requests"].as_array().expect("requests");
    assert!(listed.iter().any(|r| r["id"] == id));

    assert_eq!(s["wait_pending"]["isError"], false);
    assert_eq!(s["wait_pending"]["structured"]["status"], "pending");
    assert_eq!(s["decide"]["structured"]["status"], "approved", "{}", s["decide"]);
    assert_eq!(s["wait_decided"]["structured"]["status"], "approved");

    // The wait reported progress, and returned the decision made meanwhile.
    assert_eq!(s["wait_progress"]["structured"]["status"], "denied", "{}", s["wait_progress"]);
    let progress = s["progress"].as_array().expect("progress");
    assert!(!progress.is_empty(), "progress notifications");
    assert_eq!(progress[0]["total"], 120.0);

    let policy = &s["create_policy"]["structured"];
    assert_eq!(policy["name"], "mcp policy", "{}", s["create_policy"]);
    assert_eq!(policy["priority"], 5);
    let updated = &s["update_policy"]["structured"];
    assert_eq!(updated["name"], "mcp policy v2", "{}", s["update_policy"]);
    assert_eq!(updated["enabled"], false);
    let policies = s["list_policies"]["structured"]["policies"].as_array().expect("policies");
    assert!(policies.iter().any(|p| p["id"] == policy["id"]));
    assert_eq!(s["delete_policy"]["isError"], false, "{}", s["delete_policy"]);

    let entries = s["audit"]["structured"]["entries"].as_array().expect("entries");
    let events: Vec<&str> = entries.iter().filter_map(|e| e["eventType"].as_str()).collect();
    assert!(events.contains(&"created") && events.contains(&"approved"), "{events:?}");
    let actors = s["actors"]["structured"]["actors"].as_array().expect("actors");
    assert!(!actors.is_empty());

    assert_eq!(s["unknown"]["isError"], true);
    assert!(s["unknown"]["text"].as_str().is_some_and(|t| t.contains("Request not found")), "{}", s["unknown"]);
    assert_eq!(s["bad_args"]["isError"], true);
    assert!(s["bad_args"]["text"].as_str().is_some_and(|t| t.contains("invalid arguments")), "{}", s["bad_args"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_drives_the_stdio_server() {
    if !python_mcp_available() {
        return;
    }
    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("home");
    let summary = run_script(
        vec!["stdio".into(), BIN.into()],
        vec![("AGENTGATE_URL", server.base_url.clone()), ("AGENTGATE_API_KEY", server.admin_key.clone())],
        home.path(),
    )
    .await;
    assert_summary(&summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_gateway_is_a_tool_error_not_a_crash() {
    if !python_mcp_available() {
        return;
    }
    // Bind a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let home = tempfile::tempdir().expect("home");
    let summary = run_script(
        vec!["unreachable".into(), BIN.into()],
        vec![("AGENTGATE_URL", format!("http://127.0.0.1:{port}")), ("AGENTGATE_API_KEY", "agk_unused".into())],
        home.path(),
    )
    .await;
    assert_eq!(summary["first"]["isError"], true);
    assert!(summary["first"]["text"].as_str().is_some_and(|t| t.starts_with("Error: ")), "{summary}");
    // The server is still there for the next call.
    assert_eq!(summary["again"]["isError"], true, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_drives_streamable_http_at_slash_mcp() {
    if !python_mcp_available() {
        return;
    }
    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("home");
    let summary =
        run_script(vec!["http".into(), server.url("/mcp"), server.admin_key.clone()], Vec::new(), home.path()).await;
    assert_summary(&summary);
}

#[tokio::test]
async fn slash_mcp_needs_an_api_key() {
    let server = TestServer::start().await;
    let initialize = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let post = |key: Option<&str>| {
        let mut req = server
            .http
            .post(server.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    let none = post(None).await.expect("send");
    assert_eq!(none.status(), reqwest::StatusCode::UNAUTHORIZED);
    let wrong = post(Some("agk_wrong")).await.expect("send");
    assert_eq!(wrong.status(), reqwest::StatusCode::UNAUTHORIZED);
    let ok = post(Some(&server.admin_key)).await.expect("send");
    assert_eq!(ok.status(), reqwest::StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tool_calls_run_with_the_callers_key() {
    if !python_mcp_available() {
        return;
    }
    let server = TestServer::start().await;
    // A key that may only create and read requests: the policy tools are refused with the gateway's message.
    let key = server.create_key("agent", &["request:create", "request:read"]).await;
    let home = tempfile::tempdir().expect("home");
    let summary = run_script(vec!["scoped".into(), server.url("/mcp"), key], Vec::new(), home.path()).await;
    assert_eq!(summary["request"]["isError"], false, "{summary}");
    assert_eq!(summary["request"]["structured"]["status"], "pending");
    assert_eq!(summary["create_policy"]["isError"], true, "{summary}");
    let text = summary["create_policy"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("Missing required scope"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_proxy_gates_each_tool_call_on_an_approval() {
    if !python_mcp_available() {
        return;
    }
    let server = TestServer::start().await;
    let rule = |tool: &str, decision: &str| serde_json::json!({"match": {"action": format!("mcp:upstream:{tool}")}, "decision": decision});
    server
        .create_policy(serde_json::json!({"name": "proxy", "rules": [
            rule("echo", "auto_approve"), rule("delete_file", "auto_deny")
        ]}))
        .await;
    let home = tempfile::tempdir().expect("home");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/proxy_client.py");
    let upstream = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/upstream.py");
    let s = run_script_file(
        script,
        vec![BIN.into(), upstream.into()],
        vec![("AGENTGATE_URL", server.base_url.clone()), ("AGENTGATE_API_KEY", server.admin_key.clone())],
        home.path(),
    )
    .await;
    // tools/list passes through.
    assert_eq!(s["tools"], serde_json::json!(["delete_file", "echo", "write_note"]));
    // Approved by policy: forwarded unchanged, the upstream's answer comes back.
    assert_eq!(s["echo"]["isError"], false, "{s}");
    assert_eq!(s["echo"]["text"], "echo: hi");
    // Denied by policy: never forwarded.
    assert_eq!(s["delete"]["isError"], true);
    assert!(s["delete"]["text"].as_str().is_some_and(|t| t.contains("denied")), "{s}");
    assert!(!s["delete"]["text"].as_str().unwrap_or_default().contains("deleted"));
    // Approved by a human while the call waited.
    assert_eq!(s["write_approved"]["text"], "wrote hello", "{s}");
    let human = &s["human_request"];
    assert_eq!(human["action"], "mcp:upstream:write_note");
    assert_eq!(human["params"], serde_json::json!({"note": "hello"}));
    // Not decided within the bound: an error result naming the request to check later.
    assert_eq!(s["write_pending"]["isError"], true);
    let pending = s["write_pending"]["text"].as_str().unwrap_or_default();
    assert!(pending.contains("still pending"), "{pending}");
    let (status, listed) = server.get("/api/requests?status=pending&action=mcp:upstream:write_note").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let id = listed["requests"][0]["id"].as_str().expect("the pending request");
    assert!(pending.contains(id), "{pending}");
}
