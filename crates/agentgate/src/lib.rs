//! The AgentGate server: HTTP API, storage and background work around the pure domain in `agentgate-core`.
//!
//! Start here: [`start`] opens the database and prepares the state, [`run`] serves a listener until a shutdown
//! signal. Tests call both with a temporary database and a listener on `127.0.0.1:0`.

pub mod app;
pub mod auth;
pub mod channels;
pub mod config;
pub mod connections;
pub mod dashboard;
pub mod error;
pub mod http;
pub mod hub;
pub mod mcp;
pub mod metrics;
pub mod outbound;
pub mod outbox;
pub mod ratelimit;
pub mod store;
pub mod telemetry;
pub mod webhooks;

use app::{AppState, SharedState};
use config::Config;
use std::future::Future;
use tokio::net::TcpListener;

/// A gateway whose database is open and migrated, ready to serve.
pub struct Started {
    pub state: SharedState,
    /// The secret of the admin key created on this start, when the database had no key and no `ADMIN_API_KEY`
    /// was configured. Shown once, never stored.
    pub first_admin_key: Option<String>,
}

/// Opens the database (running migrations) and, on a first start without `ADMIN_API_KEY`, creates an admin key.
pub async fn start(config: Config) -> anyhow::Result<Started> {
    let create_first_key = config.admin_api_key.is_none();
    let state = AppState::open(config).await?;
    let first_admin_key = if create_first_key {
        app::create_admin_key(state.store.as_ref(), "Admin (bootstrap)", true).await?
    } else {
        None
    };
    Ok(Started { state, first_admin_key })
}

/// Serves the API on `listener` until `shutdown` completes, lets in-flight requests finish, then waits for queued
/// writes to commit and closes the database.
pub async fn run(
    state: SharedState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = http::router(state.clone(), self_url(listener.local_addr()?));
    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    let workers = [
        tokio::spawn(flush_key_usage(state.clone(), workers_stopped.clone())),
        tokio::spawn(hub::run_tailer(state.hub.clone(), state.store.clone(), workers_stopped.clone())),
        tokio::spawn(expire_overdue(state.clone(), workers_stopped.clone())),
        tokio::spawn(maintain_rate_limits(state.clone(), workers_stopped.clone())),
        tokio::spawn(follow_invalidations(state.clone(), workers_stopped.clone())),
        tokio::spawn(sweep_retention(state.clone(), workers_stopped.clone())),
        webhooks::worker::spawn(state.clone(), workers_stopped.clone()),
        channels::spawn(state.clone(), workers_stopped),
    ];
    let cancel = state.shutdown.clone();
    let shutdown = async move {
        shutdown.await;
        cancel.cancel();
    };
    let listener = connections::LimitedListener::new(listener, state.config.max_connections);
    connections::serve(listener, router, shutdown).await;
    let _ = stop_workers.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    state.store.close().await;
    Ok(())
}

/// The gateway's own address as seen from this host: loopback when it listens on every interface.
fn self_url(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// How often the expiry sweeper looks for overdue requests. Deciding an overdue request is refused at once
/// whether or not the sweeper has run; this only bounds how late `expired` is recorded and announced.
const EXPIRY_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
const EXPIRY_BATCH: u32 = 500;

/// Marks overdue pending requests `expired`, a batch at a time.
async fn expire_overdue(state: SharedState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        // A read first: most sweeps find nothing due, and those then cost no write.
        let mut due = match state.store.next_expiry().await {
            Ok(next) => next.is_some_and(|at| at <= app::now()),
            Err(e) => {
                tracing::warn!(error = %e, "expiry sweep could not look for overdue requests");
                false
            }
        };
        // Batch after batch while they come back full.
        while due {
            let expired = state.store.expire_overdue(app::now(), EXPIRY_BATCH).await;
            if let Ok(n) = expired {
                state.metrics.decisions(metrics::source::EXPIRY, "expired", n as u64);
            }
            match expired {
                Ok(n) if n == EXPIRY_BATCH as usize => {}
                Ok(_) => due = false,
                Err(e) => {
                    tracing::warn!(error = %e, "expiry sweep failed");
                    due = false;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(EXPIRY_SWEEP_INTERVAL) => {},
            _ = stopped.changed() => return,
        }
    }
}

/// Most rows one retention `DELETE` removes: short transactions, so the writer never stalls behind a purge.
const RETENTION_BATCH: u32 = 1000;

/// What the retention sweeper deletes, each with its own retention period.
#[derive(Clone, Copy)]
enum Purge {
    DecisionTokens,
    Deliveries,
    Audit,
}

impl Purge {
    const ALL: [Purge; 3] = [Self::DecisionTokens, Self::Deliveries, Self::Audit];

    /// The `kind` label of `agentgate_retention_deleted_total`.
    fn kind(self) -> &'static str {
        match self {
            Self::DecisionTokens => "decision_tokens",
            Self::Deliveries => "deliveries",
            Self::Audit => "audit",
        }
    }

    fn keep(self, retention: &config::Retention) -> Option<std::time::Duration> {
        match self {
            Self::DecisionTokens => retention.decision_tokens,
            Self::Deliveries => retention.deliveries,
            Self::Audit => retention.audit,
        }
    }

    async fn delete(self, store: &dyn store::Store, cutoff: agentgate_core::Timestamp) -> store::StoreResult<u64> {
        match self {
            Self::DecisionTokens => store.delete_expired_decision_tokens(cutoff, RETENTION_BATCH).await,
            Self::Deliveries => store.delete_finished_deliveries(cutoff, RETENTION_BATCH).await,
            Self::Audit => store.delete_audit_entries(cutoff, RETENTION_BATCH).await,
        }
    }
}

/// Deletes data past its retention (`RETENTION_*`): at start, then every `RETENTION_INTERVAL_SEC`. Safe on
/// several replicas (see `store::maintenance`).
async fn sweep_retention(state: SharedState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        for purge in Purge::ALL {
            let Some(keep) = purge.keep(&state.config.retention) else { continue };
            let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
            let cutoff = agentgate_core::Timestamp(app::now().0.saturating_sub(keep_ms));
            loop {
                match purge.delete(state.store.as_ref(), cutoff).await {
                    Ok(deleted) => {
                        state.metrics.retention_deleted(purge.kind(), deleted);
                        if deleted > 0 {
                            tracing::info!(kind = purge.kind(), rows = deleted, "retention: deleted old rows");
                        }
                        if deleted < u64::from(RETENTION_BATCH) || *stopped.borrow() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(kind = purge.kind(), error = %e, "retention sweep failed");
                        break;
                    }
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(state.config.retention.interval) => {},
            _ = stopped.changed() => return,
        }
    }
}

/// Writes key usage (`lastUsedAt` and requests per day, one transaction) every few seconds
/// (`Config::key_usage_flush_interval`), and once more when stopping.
async fn flush_key_usage(state: SharedState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(state.config.key_usage_flush_interval) => false,
            _ = stopped.changed() => true,
        };
        if let Err(e) = state.store.record_key_usage(state.auth.take_usage()).await {
            tracing::warn!(error = %e, "could not record API key usage");
        }
        if stopping {
            return;
        }
    }
}

/// Rate-limit upkeep: probes Redis while it is down (so requests need not), drops idle in-memory windows.
async fn maintain_rate_limits(state: SharedState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    state.limiter.connect().await;
    loop {
        tokio::select! {
            () = tokio::time::sleep(ratelimit::MAINTENANCE_INTERVAL) => {},
            _ = stopped.changed() => return,
        }
        state.limiter.maintain().await;
    }
}

/// Drops cached policies and keys that another replica changed (PostgreSQL only; SQLite has no other replica).
async fn follow_invalidations(state: SharedState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let Some(mut changes) = state.store.invalidations() else { return };
    loop {
        let change = tokio::select! {
            change = changes.recv() => change,
            _ = stopped.changed() => return,
        };
        match change {
            Ok(store::Invalidation::Policies) => state.policies.invalidate(),
            Ok(store::Invalidation::ApiKey(hash)) => state.auth.forget(&hash),
            // Fell behind (some changes unseen) or told to: forget everything.
            Ok(store::Invalidation::Everything) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                state.policies.invalidate();
                state.auth.forget_all();
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
