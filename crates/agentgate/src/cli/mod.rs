//! The client half of the `agentgate` command: asking for approval, deciding, waiting, and managing policies,
//! keys and webhooks, all through the Rust SDK (`agentgate-client`).
//!
//! Nothing here reads the server's configuration: a client command needs only a gateway URL and a key, from
//! the flags, `AGENTGATE_URL`/`AGENTGATE_API_KEY`, or `~/.agentgate/config.json` (in that order).
//!
//! - `config.rs`: the config file (`config show|get|set|reset|path`) and how the connection is resolved.
//! - `requests.rs`: `request`, `status`, `list`, `approve`, `deny`, `wait`, `audit`.
//! - `manage.rs`: `policy …`, `key …`, `webhook …`.
//! - `output.rs`: tables that fit the terminal, plain lines, or the gateway's JSON.

mod config;
mod manage;
mod output;
mod requests;

use agentgate_client::StatusCode;
use clap::{Args, Subcommand};
use output::Format;
use std::process::ExitCode;

/// Exit codes, so that `agentgate request deploy --wait && ./deploy.sh` deploys only on approval.
pub mod exit {
    /// Approved, or a command that is not about one request succeeded.
    pub const OK: u8 = 0;
    pub const DENIED: u8 = 1;
    pub const EXPIRED: u8 = 2;
    /// Still pending: not decided within `--timeout`, or not waited for.
    pub const PENDING: u8 = 3;
    /// The gateway refused the call or could not be reached (network, key, scope, not found, conflict).
    pub const ERROR: u8 = 4;
    /// Bad flags or arguments (`EX_USAGE`), e.g. `--params` that is not JSON.
    pub const USAGE: u8 = 64;
}

/// The exit-code table, shown at the end of `agentgate --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes (client commands):
  0   approved, or success (commands that are not about one request)
  1   denied
  2   expired
  3   still pending (not decided within --timeout, or not waited for)
  4   error: the gateway could not be reached, or refused the call (key, scope, not found, conflict)
  64  usage: bad flags or arguments (e.g. --params that is not JSON)
`request`, `status` and `wait` exit with the code of the request's status, so
`agentgate request deploy --params '{\"version\":\"2.1.0\"}' --wait && ./deploy.sh` deploys only on approval.
serve, migrate and bootstrap exit 0 on success, 1 on failure and 78 on invalid server configuration.

Client configuration: flags > AGENTGATE_URL / AGENTGATE_API_KEY > ~/.agentgate/config.json > defaults.";

/// Options of every client command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Gateway URL [overrides AGENTGATE_URL and serverUrl in the config file]
    #[arg(long, global = true, value_name = "URL", visible_alias = "server", help_heading = "Client options")]
    pub server_url: Option<String>,
    /// API key [overrides AGENTGATE_API_KEY and apiKey in the config file; prefer the variable, flags show in `ps`]
    #[arg(long, global = true, value_name = "KEY", help_heading = "Client options")]
    pub api_key: Option<String>,
    /// Print the gateway's JSON (machine-readable) instead of tables and messages
    #[arg(long, global = true, help_heading = "Client options")]
    pub json: bool,
    /// Output format [overrides outputFormat in the config file]
    #[arg(long, global = true, value_enum, value_name = "FORMAT", help_heading = "Client options")]
    pub format: Option<Format>,
}

/// The client commands (`serve`, `migrate`, `bootstrap` and `completions` are in `main.rs`).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask for approval of an action
    Request(requests::RequestArgs),
    /// Show one request
    Status {
        /// Request id
        id: String,
    },
    /// List requests, newest first
    List(requests::ListArgs),
    /// Approve a pending request
    Approve(requests::DecideArgs),
    /// Deny a pending request
    Deny(requests::DecideArgs),
    /// Wait until a request is decided or expires
    Wait(requests::WaitArgs),
    /// Show the audit trail, newest first
    Audit(requests::AuditArgs),
    /// Manage policies (admin)
    #[command(subcommand)]
    Policy(manage::PolicyCommand),
    /// Manage API keys (admin)
    #[command(subcommand)]
    Key(manage::KeyCommand),
    /// Manage webhooks (webhook:manage)
    #[command(subcommand)]
    Webhook(manage::WebhookCommand),
    /// Show or change the client configuration (~/.agentgate/config.json)
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Serve AgentGate's API as MCP tools over stdio (for Claude Desktop and other MCP clients)
    Mcp,
    /// Wrap another MCP server (stdio): each tool call needs an approval first
    McpProxy(McpProxyArgs),
}

#[derive(Debug, clap::Args)]
pub struct McpProxyArgs {
    /// The server's name in approval actions (`mcp:<name>:<tool>`) [default: the command's file name]
    #[arg(long)]
    pub name: Option<String>,
    /// How long a tool call waits for a decision before it is answered "still pending"
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub wait_seconds: u64,
    /// The upstream MCP server's command and arguments, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Why a client command failed; each becomes one line on stderr.
#[derive(Debug)]
pub enum CliError {
    /// Bad flags or arguments: exit 64.
    Usage(String),
    /// Anything else: exit 4.
    Failed(String),
}

impl CliError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }
}

impl From<agentgate_client::Error> for CliError {
    fn from(e: agentgate_client::Error) -> Self {
        use agentgate_client::Error;
        Self::Failed(match e {
            Error::Api { status: StatusCode::UNAUTHORIZED, message } => format!(
                "the API key was rejected ({message}); set a valid one with AGENTGATE_API_KEY or \
                 `agentgate config set apiKey <key>`"
            ),
            Error::Api { status: StatusCode::FORBIDDEN, message } if message.starts_with("Missing required scope") => {
                format!("{message} (this API key is not allowed to do that; an admin can grant the scope)")
            }
            Error::Api { status, message }
                if status == StatusCode::NOT_FOUND
                    || status == StatusCode::BAD_REQUEST
                    || status == StatusCode::CONFLICT
                    || status == StatusCode::FORBIDDEN =>
            {
                message
            }
            Error::Api { status, message } => format!("the gateway answered {status}: {message}"),
            other => other.to_string(),
        })
    }
}

/// What a command ended with: an exit code (the request's, for commands about one request).
type Outcome = Result<u8, CliError>;

/// Runs a client command to completion and returns the process exit code.
pub fn run(command: Command, global: GlobalArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentgate: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    match runtime.block_on(execute(command, &global)) {
        Ok(code) => ExitCode::from(code),
        Err(CliError::Usage(message)) => {
            eprintln!("agentgate: {message}");
            ExitCode::from(exit::USAGE)
        }
        Err(CliError::Failed(message)) => {
            eprintln!("agentgate: {message}");
            ExitCode::from(exit::ERROR)
        }
    }
}

async fn execute(command: Command, global: &GlobalArgs) -> Outcome {
    if let Command::Config(command) = command {
        return config::run(command, global);
    }
    let settings = config::Settings::resolve(global)?;
    let client = settings.client()?;
    let out = output::Output::new(settings.format);
    match command {
        Command::Request(args) => requests::request(&client, &out, args).await,
        Command::Status { id } => requests::status(&client, &out, &id).await,
        Command::List(args) => requests::list(&client, &out, args).await,
        Command::Approve(args) => {
            requests::decide(&client, &out, args, agentgate_core::request::Verdict::Approved).await
        }
        Command::Deny(args) => requests::decide(&client, &out, args, agentgate_core::request::Verdict::Denied).await,
        Command::Wait(args) => requests::wait(&client, &out, args).await,
        Command::Audit(args) => requests::audit(&client, &out, args).await,
        Command::Policy(command) => manage::policy(&client, &out, command).await,
        Command::Key(command) => manage::key(&client, &out, command).await,
        Command::Webhook(command) => manage::webhook(&client, &out, command).await,
        Command::Mcp => {
            agentgate::mcp::AgentGateMcp::new(client)
                .serve_stdio()
                .await
                .map_err(|e| CliError::failed(format!("MCP server: {e:#}")))?;
            Ok(exit::OK)
        }
        Command::McpProxy(args) => {
            let Some((command, rest)) = args.command.split_first() else {
                return Err(CliError::usage("mcp-proxy needs the upstream command after `--`"));
            };
            let name = args.name.unwrap_or_else(|| {
                std::path::Path::new(command)
                    .file_stem()
                    .map_or_else(|| command.clone(), |s| s.to_string_lossy().into_owned())
            });
            let config = agentgate::mcp::proxy::ProxyConfig {
                client,
                server: name,
                wait: std::time::Duration::from_secs(args.wait_seconds),
            };
            agentgate::mcp::proxy::run(config, command, rest)
                .await
                .map_err(|e| CliError::failed(format!("mcp-proxy: {e:#}")))?;
            Ok(exit::OK)
        }
        Command::Config(_) => Ok(exit::OK),
    }
}
