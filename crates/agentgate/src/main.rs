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
    /// Write a consistent copy of the SQLite database to <FILE>, safe while the gateway runs (PostgreSQL: use pg_dump).
    Backup {
        /// Where to write the copy (must not exist yet).
        file: std::path::PathBuf,
    },
    /// Exit 0 when the gateway configured in this environment answers `GET /health` (for container health checks).
    Healthcheck,
    /// Print the server's environment variables with their defaults and meanings.
    ConfigReference {
        /// As commented `.env` lines (the body of .env.example) instead of a Markdown table.
        #[arg(long)]
        env: bool,
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
        Command::ConfigReference { env } => {
            let text = if env { agentgate::config::reference_env() } else { agentgate::config::reference_markdown() };
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            ExitCode::SUCCESS
        }
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
    // Only the gateway logs; one-shot commands print their own result.
    if matches!(command, Command::Serve { .. } | Command::Migrate | Command::Bootstrap { .. }) {
        agentgate::telemetry::init(&config);
    }
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
        Command::Backup { file } => backup(&config, &file).await,
        Command::Healthcheck => healthcheck(&config).await,
        Command::Client(_) | Command::Completions { .. } | Command::ConfigReference { .. } => Ok(()),
    }
}

/// `agentgate backup <file>`: `VACUUM INTO` from a read-only connection, so a running gateway keeps writing.
async fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let path = match &config.database {
        agentgate::config::Database::Sqlite { path } => path,
        agentgate::config::Database::Postgres { .. } => anyhow::bail!(
            "DATABASE_URL is PostgreSQL: back it up with pg_dump (for example `pg_dump --format=custom \
             --file=agentgate.dump \"$DATABASE_URL\"`); see docs/operations.md"
        ),
    };
    if !std::path::Path::new(path).exists() {
        anyhow::bail!("no database at {path} (DATABASE_URL)");
    }
    if file.exists() {
        anyhow::bail!("{} already exists; choose a new file", file.display());
    }
    let destination = file.to_str().context("the backup file name must be valid UTF-8")?;
    agentgate::store::sqlite::backup(path, destination)
        .await
        .with_context(|| format!("cannot back up {path} to {}", file.display()))?;
    println!("Backed up {path} to {}.", file.display());
    Ok(())
}

/// `agentgate healthcheck`: `GET /health` on this host's gateway (loopback when it listens on every interface).
async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let host = match config.host {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/health", SocketAddr::new(host, config.port));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).no_proxy().build()?;
    let response = client.get(&url).send().await.with_context(|| format!("{url} does not answer"))?;
    anyhow::ensure!(response.status().is_success(), "{url} answered {}", response.status());
    Ok(())
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
