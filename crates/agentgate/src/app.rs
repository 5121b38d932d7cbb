//! The gateway's shared state, built once at start-up and handed to every handler.

use crate::auth::{Authenticator, generate_key, hash_key};
use crate::config::{Config, Database};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{ApiKeyRecord, Store, StoreError, StoreResult};
use crate::webhooks::secrets::SecretBox;
use agentgate_core::Timestamp;
use agentgate_core::auth::Scope;
use agentgate_core::policy::{CompiledPolicy, PolicySet, PolicySpec};
use agentgate_core::webhook::RetryPolicy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub policies: PolicyCache,
    /// Per-key rate limits (in memory, or shared through Redis).
    pub limiter: crate::ratelimit::RateLimiter,
    pub hub: Arc<crate::hub::Hub>,
    /// Signs and sends webhook deliveries (the worker and the test endpoint).
    pub deliverer: Arc<crate::webhooks::Deliverer>,
    /// Cancelled when the server starts shutting down: long polls and streams end at once instead of holding
    /// the graceful shutdown open.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// This gateway's Prometheus metrics (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Opens the database (running migrations) and builds the state.
    pub async fn open(config: Config) -> anyhow::Result<SharedState> {
        let limiter = crate::ratelimit::RateLimiter::new(&config)?;
        let store: Arc<dyn Store> = match &config.database {
            Database::Sqlite { path } => Arc::new(SqliteStore::open(path).await?),
            Database::Postgres { url } => Arc::new(PostgresStore::open(url, config.database_pool_size).await?),
        };
        let auth = Authenticator::new(config.admin_api_key.as_deref());
        let deliverer = crate::webhooks::Deliverer {
            client: crate::outbound::OutboundClient::new(config.webhook_timeout, config.allow_private_webhooks)
                .map_err(|e| StoreError::Unavailable(format!("cannot build the outbound HTTP client: {e}")))?,
            secrets: crate::webhooks::secrets::SecretBox::new(config.webhook_encryption_key.as_deref()),
            retry: RetryPolicy {
                max_retries: config.webhook_max_retries,
                base_ms: config.webhook_retry_base.as_millis() as u64,
            },
            timeout: config.webhook_timeout,
            concurrency: config.webhook_concurrency,
        };
        encrypt_plaintext_secrets(store.as_ref(), &deliverer.secrets).await?;
        Ok(Arc::new(Self {
            config,
            store,
            auth,
            policies: PolicyCache::default(),
            limiter,
            hub: Arc::default(),
            deliverer: Arc::new(deliverer),
            shutdown: Default::default(),
            metrics: crate::metrics::Metrics::new(),
        }))
    }
}

/// With an encryption key configured, encrypts secrets stored before it was (the older implementation did the same).
async fn encrypt_plaintext_secrets(store: &dyn Store, secrets: &SecretBox) -> StoreResult<()> {
    if !secrets.encrypts() {
        return Ok(());
    }
    for webhook in store.list_webhooks().await? {
        if SecretBox::is_plaintext(&webhook.secret) {
            store.set_webhook_secret(&webhook.id, secrets.seal(&webhook.secret)).await?;
        }
    }
    Ok(())
}

pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp(ms)
}

/// A new opaque id: a ULID from a monotonic generator, so ids made later in this process sort later, even
/// within one millisecond (lists use the id to break timestamp ties).
pub fn new_ulid() -> ulid::Ulid {
    static GENERATOR: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    match generator.generate() {
        Ok(id) => id,
        Err(overflow) => overflow.commit_overflow_increment(),
    }
}

pub fn new_id() -> String {
    new_ulid().to_string()
}

/// The scopes of the key created on first start and by `agentgate bootstrap`.
pub const BOOTSTRAP_SCOPES: [Scope; 4] = [Scope::Admin, Scope::RequestCreate, Scope::RequestRead, Scope::RequestDecide];

/// Creates an admin key and returns its secret. With `only_if_none_exist`, does nothing (returns `None`) when any
/// key already exists; the check and insert are one statement, so two replicas starting at once create one key.
pub async fn create_admin_key(store: &dyn Store, name: &str, only_if_none_exist: bool) -> StoreResult<Option<String>> {
    let secret = generate_key();
    let record = ApiKeyRecord {
        id: new_id(),
        key_hash: hash_key(&secret),
        name: name.to_owned(),
        scopes: BOOTSTRAP_SCOPES.iter().map(|s| s.as_str().to_owned()).collect(),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
        rate_limit: None,
    };
    let inserted = store.insert_api_key(record, None, only_if_none_exist).await?;
    Ok(inserted.then_some(secret))
}

/// What the policy engine needs to decide a new request: the compiled enabled policies and the overrides.
pub struct Rules {
    pub policies: PolicySet,
    /// Loaded when not yet expired; each use checks expiry again.
    pub overrides: Vec<agentgate_core::wire::Override>,
}

/// The current [`Rules`], loaded on first use and dropped on every policy or override change.
#[derive(Default)]
pub struct PolicyCache {
    current: RwLock<Option<Arc<Rules>>>,
    /// Bumped by every invalidation, so a load that raced a change never installs what it read before it.
    generation: AtomicU64,
    loading: tokio::sync::Mutex<()>,
}

impl PolicyCache {
    pub async fn get(&self, store: &dyn Store) -> StoreResult<Arc<Rules>> {
        if let Some(rules) = self.cached() {
            return Ok(rules);
        }
        // One load at a time: concurrent misses wait for it instead of each querying the database.
        let _loading = self.loading.lock().await;
        if let Some(rules) = self.cached() {
            return Ok(rules);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let policies = store.enabled_policies().await?;
        let overrides = store.active_overrides(now()).await?;
        let rules = Arc::new(Rules { policies: compile_policies(&policies), overrides });
        if self.generation.load(Ordering::Acquire) == generation {
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(rules.clone());
        }
        Ok(rules)
    }

    fn cached(&self) -> Option<Arc<Rules>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Compiles stored policies into a set; a stored policy that no longer compiles is skipped with a warning
/// (validation keeps this from happening, but one bad row must not stop every request).
pub fn compile_policies(policies: &[agentgate_core::wire::Policy]) -> PolicySet {
    let compiled = policies
        .iter()
        .filter_map(|p| {
            let spec =
                PolicySpec { name: p.name.clone(), rules: p.rules.clone(), priority: p.priority, enabled: p.enabled };
            CompiledPolicy::compile(&p.id, p.version, &spec)
                .map_err(
                    |e| tracing::warn!(policy = %p.id, error = %e, "skipping a stored policy that does not compile"),
                )
                .ok()
        })
        .collect();
    PolicySet::new(compiled)
}
