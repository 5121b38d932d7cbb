//! `agentgate mcp-proxy -- <command> [args…]`: an MCP server over stdio that wraps another one and asks for
//! approval before each tool call.
//!
//! It works on the JSON-RPC lines themselves, so it is independent of the protocol version and every message
//! except a `tools/call` request passes through byte for byte, both ways (`initialize`, `tools/list`,
//! notifications, the upstream's own requests and responses). A `tools/call` becomes an approval request
//! (action `mcp:<server>:<tool>`, params = the call's arguments); policies or a human decide it, the proxy waits
//! for up to its bound, and then:
//! - approved: the original line goes to the upstream unchanged, whose answer passes through;
//! - denied or expired: the proxy answers with an error result giving the reason;
//! - still pending: the proxy answers with an error result naming the request id to check later;
//! - the gateway could not be asked: an error result (the call is never forwarded without an approval).
//!
//! Each call is handled on its own task, so a call waiting for a human never holds up other messages.

use agentgate_client::{Client, WaitOptions};
use agentgate_core::request::RequestStatus;
use agentgate_core::wire::{ApprovalRequest, CreateRequest};
use anyhow::Context;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// How the proxy asks for approval.
#[derive(Clone)]
pub struct ProxyConfig {
    pub client: Client,
    /// The `<server>` in `mcp:<server>:<tool>`.
    pub server: String,
    /// How long a call waits for a decision before it is answered "still pending".
    pub wait: Duration,
}

/// Runs the proxy on this process's stdin/stdout until the client closes stdin or the upstream exits. Returns
/// the upstream's exit status code, if any.
pub async fn run(config: ProxyConfig, command: &str, args: &[String]) -> anyhow::Result<Option<i32>> {
    let mut child = tokio::process::Command::new(command)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start the upstream MCP server `{command}`"))?;
    let (Some(mut upstream_in), Some(upstream_out)) = (child.stdin.take(), child.stdout.take()) else {
        anyhow::bail!("the upstream MCP server has no stdin/stdout");
    };

    // One writer per direction, so whole lines never interleave.
    let (to_upstream, mut upstream_lines) = mpsc::unbounded_channel::<String>();
    let (to_client, mut client_lines) = mpsc::unbounded_channel::<String>();
    let upstream_writer = tokio::spawn(async move {
        while let Some(line) = upstream_lines.recv().await {
            if write_line(&mut upstream_in, &line).await.is_err() {
                break;
            }
        }
    });
    let client_writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = client_lines.recv().await {
            if write_line(&mut stdout, &line).await.is_err() {
                break;
            }
        }
    });

    // Upstream → client: everything, untouched.
    let upstream_reader = {
        let to_client = to_client.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(upstream_out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if to_client.send(line).is_err() {
                    break;
                }
            }
        })
    };

    // Client → upstream: everything but tool calls, which wait for an approval first.
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut gates = tokio::task::JoinSet::new();
    let client_done = async {
        while let Ok(Some(line)) = stdin.next_line().await {
            while gates.try_join_next().is_some() {}
            match classify(&line) {
                Message::ToolCall { id, tool, arguments } => {
                    let (config, line, to_upstream, to_client) =
                        (config.clone(), line, to_upstream.clone(), to_client.clone());
                    gates.spawn(async move {
                        match gate(&config, &tool, arguments).await {
                            Ok(()) => {
                                let _ = to_upstream.send(line);
                            }
                            Err(reason) => {
                                let _ = to_client.send(error_result(&id, &reason));
                            }
                        }
                    });
                }
                Message::BatchWithToolCall(ids) => {
                    for id in ids {
                        let _ = to_client.send(error_response(&id, "batched tools/call is not supported here"));
                    }
                }
                Message::Other => {
                    if to_upstream.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = client_done => {}
        _ = upstream_reader => {}
    }
    // Calls still waiting for a decision are dropped with the session (their approval requests stay in the
    // gateway). Closing the upstream's stdin is how an MCP client asks a stdio server to exit.
    gates.abort_all();
    while gates.join_next().await.is_some() {}
    drop(to_upstream);
    let _ = upstream_writer.await;
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let code = match status {
        Ok(Ok(status)) => status.code(),
        _ => {
            let _ = child.kill().await;
            None
        }
    };
    drop(to_client);
    let _ = client_writer.await;
    Ok(code)
}

async fn write_line<W: AsyncWrite + Unpin>(w: &mut W, line: &str) -> std::io::Result<()> {
    w.write_all(line.as_bytes()).await?;
    w.write_all(b"\n").await?;
    w.flush().await
}

enum Message {
    ToolCall {
        id: Value,
        tool: String,
        arguments: Value,
    },
    /// A JSON-RPC batch (2025-03-26) containing tool calls: refused, so nothing reaches the upstream unapproved.
    BatchWithToolCall(Vec<Value>),
    Other,
}

fn classify(line: &str) -> Message {
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return Message::Other;
    };
    let is_call = |v: &Value| v["method"] == "tools/call" && v.get("id").is_some();
    match &value {
        Value::Array(items) if items.iter().any(is_call) => {
            Message::BatchWithToolCall(items.iter().filter_map(|v| v.get("id").cloned()).collect())
        }
        v if is_call(v) => Message::ToolCall {
            id: v["id"].clone(),
            tool: v["params"]["name"].as_str().unwrap_or_default().to_owned(),
            arguments: v["params"].get("arguments").cloned().unwrap_or_else(|| json!({})),
        },
        _ => Message::Other,
    }
}

/// Asks for approval of one call and waits for up to the configured bound: `Ok` only when approved.
async fn gate(config: &ProxyConfig, tool: &str, arguments: Value) -> Result<(), String> {
    let request = CreateRequest {
        action: format!("mcp:{}:{tool}", config.server),
        params: Some(arguments),
        context: Some(json!({"source": "mcp-proxy", "mcpServer": config.server, "tool": tool})),
        urgency: None,
        expires_at: None,
    };
    let created = config.client.create_request(&request).await.map_err(|e| format!("cannot ask for approval: {e}"))?;
    let decided = if created.status == RequestStatus::Pending && !config.wait.is_zero() {
        let options = WaitOptions::within(config.wait);
        config
            .client
            .wait_for_decision(&created.id, &options)
            .await
            .map_err(|e| format!("approval request {} could not be checked: {e}", created.id))?
    } else {
        created
    };
    verdict(&decided)
}

fn verdict(request: &ApprovalRequest) -> Result<(), String> {
    let by = request.decided_by.as_deref().unwrap_or("unknown");
    let reason = request.decision_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
    match request.status {
        RequestStatus::Approved => Ok(()),
        RequestStatus::Denied => Err(format!("denied by {by}{reason} (approval request {})", request.id)),
        RequestStatus::Expired => Err(format!("approval request {} expired without a decision", request.id)),
        RequestStatus::Pending => Err(format!(
            "approval request {} is still pending; the call was not made. Check it later (`agentgate status {}`) \
             and call again once it is approved",
            request.id, request.id
        )),
    }
}

/// A tool result with `isError: true`: the model sees why its call did not run. `resultType` is required from
/// protocol 2026-07-28 on; earlier versions ignore it.
fn error_result(id: &Value, reason: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": {
        "resultType": "complete",
        "content": [{"type": "text", "text": format!("Not approved: {reason}")}],
        "isError": true
    }})
    .to_string()
}

fn error_response(id: &Value, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": message}}).to_string()
}
