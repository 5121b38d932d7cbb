//! The `agentgate` command: the gateway server, its administration commands, and the client commands (in
//! `cli/`) that talk to a running gateway through the Rust SDK.
//!
//! Server commands read the server's environment (`Config::from_env`); client commands never do, and server
//! commands never read the client configuration.

mod cli;

use agentgate::config::Config;
use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "agentgate",
    version,
    about = "A human-in-the-loop approval gateway for AI agents",
    after_help = cli::EXIT_CODES_HELP
)]
struct Cli {
    #[command(flatten)]
    global: cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (API and background work). Migrations run on start.
    Serve {
        /// Port to listen on (overrides PORT).
        #[arg(long)]
        port: Option<u16>,
        /// Address to bind (overrides HOST).
        #[arg(long)]
        host: Option<std::net::IpAddr>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Create an admin API key and print it once.
    Bootstrap {
        /// Name of the new key.
        #[arg(long, default_value = "Admin (bootstrap)")]
        name: String,
    },
    #[command(flatten)]
    Client(cli::Command),
    /// Print a shell completion script: `agentgate completions bash > /etc/bash_completion.d/agentgate`
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Exit code of serve, migrate and bootstrap when the server configuration is invalid (`EX_CONFIG`).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 64, so that they are never
            // mistaken for a request's status (clap's own 2 would read as "expired").
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { cli::exit::USAGE } else { cli::exit::OK });
        }
    };
    match cli.command {
        Command::Client(command) => cli::run(command, cli.global),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "agentgate", &mut script);
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), &script);
            ExitCode::SUCCESS
        }
        server => run_server(server),
    }
}

fn run_server(command: Command) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("agentgate: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    agentgate::telemetry::init(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentgate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { port, host } => {
            config.port = port.unwrap_or(config.port);
            config.host = host.unwrap_or(config.host);
            serve(config).await
        }
        Command::Migrate => {
            let started = agentgate::app::AppState::open(config.clone()).await?;
            started.store.close().await;
            println!("{} is up to date.", config.database.describe());
            Ok(())
        }
        Command::Bootstrap { name } => {
            let state = agentgate::app::AppState::open(config).await?;
            let key = agentgate::app::create_admin_key(state.store.as_ref(), &name, false).await?;
            state.store.close().await;
            if let Some(key) = key {
                println!("Created admin API key \"{name}\" (shown once, store it safely):\n\n    {key}\n");
            }
            Ok(())
        }
        Command::Client(_) | Command::Completions { .. } => Ok(()),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = SocketAddr::new(config.host, config.port);
    let database = config.database.describe();
    let started = agentgate::start(config).await?;
    if let Some(key) = &started.first_admin_key {
        // Printed to stdout, never logged: the only time this secret is shown.
        println!(
            "\nNo API keys existed, so an admin key was created. It is shown only this once:\n\n    {key}\n\n\
             Use it as `Authorization: Bearer <key>`.\n"
        );
    }
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, %database, "AgentGate listening");
    agentgate::run(started.state, listener, shutdown_signal()).await?;
    tracing::info!("AgentGate stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
