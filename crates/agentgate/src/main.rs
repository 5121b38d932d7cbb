//! The `agentgate` command: the gateway server and its administration commands.

use agentgate::config::Config;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(name = "agentgate", version, about = "A human-in-the-loop approval gateway for AI agents")]
struct Cli {
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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("agentgate: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    agentgate::telemetry::init(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentgate: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentgate: {e:#}");
            std::process::ExitCode::FAILURE
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
            println!("Database at {} is up to date.", config.database_path);
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
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = SocketAddr::new(config.host, config.port);
    let database = config.database_path.clone();
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
