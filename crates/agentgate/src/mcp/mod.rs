//! The MCP server: AgentGate's API as MCP tools (see `tools.rs` for the list), served over stdio
//! (`agentgate mcp`) and over streamable HTTP at the gateway's `/mcp` ([`http_service`]).
//!
//! Every tool calls the gateway through the Rust SDK (`agentgate-client`), so an MCP client has exactly the
//! rights of the API key the SDK client carries: over stdio the configured key; over HTTP the caller's own
//! bearer key, sent on to the gateway's own loopback address. Going through the API (rather than calling the
//! handlers' logic) keeps one path for scopes, validation, rate limits and audit attribution, at the cost of a
//! loopback round trip per tool call. A failed call (gateway unreachable, an error status) is a tool result
//! with `isError: true` and the gateway's message, never a protocol error or a crash.

pub mod proxy;
pub mod tools;

use agentgate_client::{AuditFilter, Client, ListFilter, Page, WaitOptions};
use agentgate_core::request::{RequestStatus, Urgency, Verdict};
use agentgate_core::wire::CreateRequest;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How often `agentgate_wait_for_decision` reports progress (and so how long one long poll lasts).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The MCP server, calling one gateway either with one key (stdio) or with each HTTP caller's own key.
#[derive(Clone)]
pub struct AgentGateMcp {
    target: Target,
    tools: Arc<Vec<Tool>>,
}

#[derive(Clone)]
enum Target {
    /// One SDK client for every call (stdio: one user, one configured key).
    Fixed(Client),
    /// The gateway at this URL, with the bearer key of the HTTP request that carried the call.
    Caller { base_url: String },
}

impl AgentGateMcp {
    /// A server whose tools all use `client`.
    pub fn new(client: Client) -> Self {
        Self { target: Target::Fixed(client), tools: Arc::new(tools::all()) }
    }

    /// A server for streamable HTTP: each call uses the `Authorization` of its own HTTP request against the
    /// gateway at `base_url`.
    fn for_callers(base_url: String) -> Self {
        Self { target: Target::Caller { base_url }, tools: Arc::new(tools::all()) }
    }

    fn client(&self, context: &RequestContext<RoleServer>) -> Result<Client, String> {
        match &self.target {
            Target::Fixed(client) => Ok(client.clone()),
            Target::Caller { base_url } => {
                let key = context
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .and_then(|parts| parts.headers.get(axum::http::header::AUTHORIZATION))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim)
                    .filter(|key| !key.is_empty())
                    .ok_or("this call carried no bearer API key")?;
                Client::builder(base_url.clone()).api_key(key).build().map_err(|e| e.to_string())
            }
        }
    }

    /// Serves MCP over stdin/stdout until the client closes stdin. Nothing else may write to stdout.
    pub async fn serve_stdio(self) -> anyhow::Result<()> {
        let running = self.serve(rmcp::transport::stdio()).await?;
        running.waiting().await?;
        Ok(())
    }

    async fn call(&self, name: &str, args: Map<String, Value>, context: &RequestContext<RoleServer>) -> Outcome {
        let client = self.client(context)?;
        let c = &client;
        match name {
            "agentgate_request" => {
                let a: RequestArgs = parse(args)?;
                let request = CreateRequest {
                    action: a.action,
                    params: a.params,
                    context: a.context,
                    urgency: a.urgency,
                    expires_at: None,
                };
                done(c.create_request(&request).await)
            }
            "agentgate_get" => {
                let a: IdArgs = parse(args)?;
                done(c.get_request(&a.id).await)
            }
            "agentgate_list" => {
                let a: ListArgs = parse(args)?;
                let filter = ListFilter { status: a.status, limit: count(a.limit)?, ..ListFilter::default() };
                done(c.list_requests(&filter).await)
            }
            "agentgate_decide" => {
                let a: DecideArgs = parse(args)?;
                let reason = a.reason.filter(|r| !r.trim().is_empty());
                done(c.decide(&a.id, a.decision, reason.as_deref()).await)
            }
            "agentgate_wait_for_decision" => {
                let a: WaitArgs = parse(args)?;
                wait(c, a, context).await
            }
            "agentgate_list_policies" => done(c.list_policies(&Page::default()).await),
            "agentgate_create_policy" => {
                let a: PolicyArgs = parse(args)?;
                done(c.create_policy(&a.body()).await)
            }
            "agentgate_update_policy" => {
                let a: UpdatePolicyArgs = parse(args)?;
                done(c.replace_policy(&a.id, &a.policy.body()).await)
            }
            "agentgate_delete_policy" => {
                let a: IdArgs = parse(args)?;
                done(c.delete_policy(&a.id).await)
            }
            "agentgate_list_audit_logs" => {
                let a: AuditArgs = parse(args)?;
                let some = |s: Option<String>| s.filter(|s| !s.is_empty());
                let filter = AuditFilter {
                    event_type: some(a.event_type),
                    action: some(a.action),
                    actor: some(a.actor),
                    status: a.status,
                    request_id: some(a.request_id),
                    from: some(a.from),
                    to: some(a.to),
                    limit: count(a.limit)?,
                    offset: count(a.offset)?,
                };
                done(c.list_audit(&filter).await)
            }
            "agentgate_get_audit_actors" => match c.audit_actors().await {
                Ok(actors) => Ok(structured(json!({ "actors": actors }))),
                Err(e) => Err(failure(e)),
            },
            other => Err(format!("Unknown tool: {other}")),
        }
    }
}

impl ServerHandler for AgentGateMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("agentgate", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "AgentGate approval gateway: ask for approval with agentgate_request, then wait for the human's \
                 decision with agentgate_wait_for_decision; act only when the status is 'approved'.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let result = match self.call(&request.name, args, &context).await {
            Ok(result) => result,
            Err(message) => CallToolResult::error(vec![ContentBlock::text(format!("Error: {message}"))]),
        };
        Ok(result.into())
    }
}

/// Long polls in slices of `PROGRESS_EVERY` until the request is decided or the caller's bound passes. When
/// the client gave a progress token, a progress notification goes out when the wait starts and after each
/// slice (progress = seconds waited, total = the bound).
async fn wait(client: &Client, a: WaitArgs, context: &RequestContext<RoleServer>) -> Outcome {
    let seconds = match a.timeout_seconds {
        None => tools::DEFAULT_WAIT_SECONDS,
        Some(s) if s.is_finite() && s >= 0.0 => (s.ceil() as u64).min(tools::MAX_WAIT_SECONDS),
        Some(_) => return Err("timeoutSeconds must be a number from 0 to 300".to_owned()),
    };
    let total = Duration::from_secs(seconds);
    let token = context.meta.get_progress_token();
    let started = tokio::time::Instant::now();
    let notify = |waited: Duration| {
        let token = token.clone();
        let message = format!("request {} is still pending", a.id);
        async move {
            if let Some(token) = token {
                let progress = ProgressNotificationParam::new(token, waited.as_secs_f64())
                    .with_total(total.as_secs_f64())
                    .with_message(message);
                // A client that went away ends the wait through the cancellation token, not here.
                let _ = context.peer.notify_progress(progress).await;
            }
        }
    };
    notify(Duration::ZERO).await;
    loop {
        let remaining = total.saturating_sub(started.elapsed());
        let slice = remaining.min(PROGRESS_EVERY);
        let options = WaitOptions { timeout: slice, poll_timeout: slice, ..WaitOptions::default() };
        let request = tokio::select! {
            result = client.wait_for_decision(&a.id, &options) => result.map_err(failure)?,
            () = context.ct.cancelled() => return Err("cancelled".to_owned()),
        };
        let waited = started.elapsed();
        if request.status != RequestStatus::Pending || waited >= total {
            return value(&request).map(structured);
        }
        notify(waited).await;
    }
}

/// A tool's result, or the message of its error result.
type Outcome = Result<CallToolResult, String>;

fn done<T: serde::Serialize>(result: Result<T, agentgate_client::Error>) -> Outcome {
    let body = result.map_err(failure)?;
    value(&body).map(structured)
}

fn value<T: serde::Serialize>(body: &T) -> Result<Value, String> {
    serde_json::to_value(body).map_err(|e| format!("cannot encode the gateway's answer: {e}"))
}

/// Structured content plus the same JSON, pretty-printed, as text for clients without structured output.
fn structured(value: Value) -> CallToolResult {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    result
}

/// The error message for a failed SDK call: the gateway's own `error` message for an error status.
fn failure(e: agentgate_client::Error) -> String {
    match e {
        agentgate_client::Error::Api { status, message } => format!("{message} (HTTP {})", status.as_u16()),
        other => other.to_string(),
    }
}

fn parse<T: DeserializeOwned>(args: Map<String, Value>) -> Result<T, String> {
    serde_json::from_value(Value::Object(args)).map_err(|e| format!("invalid arguments: {e}"))
}

/// A non-negative whole count given as a JSON number (`10` or `10.0`).
fn count<T: TryFrom<u64>>(n: Option<f64>) -> Result<Option<T>, String> {
    match n {
        None => Ok(None),
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 => {
            T::try_from(n as u64).map(Some).map_err(|_| format!("{n} is too large"))
        }
        Some(n) => Err(format!("{n} is not a non-negative whole number")),
    }
}

#[derive(Deserialize)]
struct RequestArgs {
    action: String,
    params: Option<Value>,
    context: Option<Value>,
    urgency: Option<Urgency>,
}

#[derive(Deserialize)]
struct IdArgs {
    id: String,
}

#[derive(Deserialize)]
struct ListArgs {
    status: Option<RequestStatus>,
    limit: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecideArgs {
    id: String,
    decision: Verdict,
    reason: Option<String>,
    /// Accepted as in the older server; the gateway records the API key as the decider.
    #[serde(rename = "decidedBy")]
    _decided_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitArgs {
    id: String,
    timeout_seconds: Option<f64>,
}

#[derive(Deserialize)]
struct PolicyArgs {
    name: String,
    rules: Vec<Value>,
    priority: Option<Value>,
    enabled: Option<bool>,
}

impl PolicyArgs {
    fn body(&self) -> Value {
        let mut body = json!({"name": self.name, "rules": self.rules});
        if let Some(priority) = &self.priority {
            body["priority"] = priority.clone();
        }
        if let Some(enabled) = self.enabled {
            body["enabled"] = json!(enabled);
        }
        body
    }
}

#[derive(Deserialize)]
struct UpdatePolicyArgs {
    id: String,
    #[serde(flatten)]
    policy: PolicyArgs,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditArgs {
    action: Option<String>,
    status: Option<RequestStatus>,
    event_type: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    request_id: Option<String>,
    limit: Option<f64>,
    offset: Option<f64>,
}

/// The streamable-HTTP MCP service for the gateway's `/mcp` route. `base_url` is the gateway's own loopback
/// address; `shutdown` ends open sessions when the gateway stops.
///
/// The `Host` allow-list of rmcp (a defence against DNS rebinding for unauthenticated local servers) is off:
/// every request to `/mcp` must carry an API key, which a rebinding page cannot know, and the gateway runs
/// under whatever host name it is deployed at.
pub fn http_service(
    base_url: String,
    shutdown: tokio_util::sync::CancellationToken,
) -> StreamableHttpService<AgentGateMcp, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default().with_cancellation_token(shutdown).disable_allowed_hosts();
    StreamableHttpService::new(
        move || Ok(AgentGateMcp::for_callers(base_url.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
