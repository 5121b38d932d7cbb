//! Configuration, read once from the environment at start-up.
//!
//! Every secret may also come from `<NAME>_FILE` (the file's contents, trimmed); the plain variable wins when
//! both are set, and an unreadable file is a warning, not a crash. An invalid value stops start-up with a
//! message naming the variable.

use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Where the gateway keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (the default): one gateway process.
    Sqlite { path: String },
    /// A PostgreSQL database, which several gateway replicas can share. The URL may hold a password, so it is
    /// never logged (see [`Database::describe`]).
    Postgres { url: String },
}

impl Database {
    /// The database for logs and messages, without credentials.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("SQLite at {path}"),
            Self::Postgres { url } => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                let location = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                let location = location.split_once('?').map_or(location, |(l, _)| l);
                format!("PostgreSQL at {scheme}://{location}")
            }
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

#[derive(Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    /// `DATABASE_URL` (and `DB_DIALECT`): a SQLite path, or a PostgreSQL URL.
    pub database: Database,
    /// Most PostgreSQL connections this replica opens (`DATABASE_POOL_SIZE`).
    pub database_pool_size: u32,
    /// Accepted as an admin credential when set (at least 16 characters).
    pub admin_api_key: Option<String>,
    pub cors_allowed_origins: Vec<String>,
    pub log_level: String,
    pub log_format: LogFormat,
    pub body_size_limit: usize,
    /// Default lifetime of a request created without `expiresAt`.
    pub request_timeout: Option<Duration>,
    /// Base of one-click decision links; `http://localhost:<PORT>` when unset.
    pub decision_link_base_url: Option<String>,
    /// How long a one-click link stays valid.
    pub decision_token_expiry_hours: u32,
    /// Per-attempt timeout of webhook deliveries (`WEBHOOK_TIMEOUT_MS`).
    pub webhook_timeout: Duration,
    /// Retries after a delivery's first attempt (`WEBHOOK_MAX_RETRIES`).
    pub webhook_max_retries: u32,
    /// The backoff unit: retry n waits `2^n ×` this, plus jitter (`WEBHOOK_RETRY_BASE_MS`).
    pub webhook_retry_base: Duration,
    /// Most webhook deliveries in flight at once (`WEBHOOK_CONCURRENCY`).
    pub webhook_concurrency: usize,
    /// Admit private and loopback webhook targets (`AGENTGATE_ALLOW_PRIVATE_WEBHOOKS`); metadata never.
    pub allow_private_webhooks: bool,
    /// Encrypts webhook secrets at rest when set (`WEBHOOK_ENCRYPTION_KEY`).
    pub webhook_encryption_key: Option<String>,
    /// Requests per minute for keys without a `rateLimit` of their own (and for `ADMIN_API_KEY`); `None` leaves
    /// them unlimited.
    pub rate_limit_rpm: Option<u32>,
    /// Redis shared by every replica for rate limits; `None` keeps them in this process's memory. May hold a
    /// password, so it is never logged.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key the gateway writes (several deployments, or tests, can share one Redis).
    pub redis_key_prefix: String,
    /// How often key usage (`lastUsedAt`, daily request counts) is written. Not an environment variable: tests
    /// shorten it.
    pub key_usage_flush_interval: Duration,
    /// Slack, Discord, e-mail and routing (`SLACK_*`, `DISCORD_*`, `SMTP_*`, `DASHBOARD_URL`, `CHANNEL_ROUTES`).
    pub channels: ChannelsConfig,
    /// `Strict-Transport-Security` max-age (`HSTS_MAX_AGE`, or `HSTS_ENABLED` for a year); `None` sends none.
    pub hsts_max_age: Option<u64>,
    /// Longest time a request may take to answer, long polls and streams excepted (`HTTP_TIMEOUT_SEC`).
    pub http_timeout: Option<Duration>,
    /// Most client connections open at once (`MAX_CONNECTIONS`); more wait in the listen backlog.
    pub max_connections: usize,
    /// Bearer token `GET /metrics` requires when set (`METRICS_TOKEN`); public otherwise.
    pub metrics_token: Option<String>,
    /// Data retention (`RETENTION_*`).
    pub retention: Retention,
}

/// How long finished data is kept before the retention sweeper deletes it. `None` keeps it forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// How often the sweeper runs (`RETENTION_INTERVAL_SEC`).
    pub interval: Duration,
    /// One-click decision tokens, counted from their expiry (`RETENTION_TOKEN_DAYS`).
    pub decision_tokens: Option<Duration>,
    /// Finished webhook deliveries and their attempts, counted from creation (`RETENTION_DELIVERY_DAYS`).
    pub deliveries: Option<Duration>,
    /// Audit entries (`RETENTION_AUDIT_DAYS`): kept forever unless set, since the audit trail is often a record
    /// someone must keep.
    pub audit: Option<Duration>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("database_pool_size", &self.database_pool_size)
            .field("admin_api_key", &self.admin_api_key.as_ref().map(|_| "<redacted>"))
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .field("body_size_limit", &self.body_size_limit)
            .field("request_timeout", &self.request_timeout)
            .field("decision_link_base_url", &self.decision_link_base_url)
            .field("decision_token_expiry_hours", &self.decision_token_expiry_hours)
            .field("webhook_timeout", &self.webhook_timeout)
            .field("webhook_max_retries", &self.webhook_max_retries)
            .field("webhook_retry_base", &self.webhook_retry_base)
            .field("webhook_concurrency", &self.webhook_concurrency)
            .field("allow_private_webhooks", &self.allow_private_webhooks)
            .field("webhook_encryption_key", &self.webhook_encryption_key.as_ref().map(|_| "<redacted>"))
            .field("rate_limit_rpm", &self.rate_limit_rpm)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<redacted>"))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("key_usage_flush_interval", &self.key_usage_flush_interval)
            .field("channels", &self.channels)
            .field("hsts_max_age", &self.hsts_max_age)
            .field("http_timeout", &self.http_timeout)
            .field("max_connections", &self.max_connections)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .field("retention", &self.retention)
            .finish()
    }
}

/// A variable with a value the gateway cannot use.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn bad(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError { variable, reason: reason.into() }
}

pub const DEFAULT_DATABASE_PATH: &str = "./data/agentgate.db";
pub const DEFAULT_BODY_SIZE_LIMIT: usize = 1024 * 1024;
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "agentgate:";
pub const DEFAULT_KEY_USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(10);
/// A year, as the older implementation sent with `HSTS_ENABLED`.
pub const DEFAULT_HSTS_MAX_AGE: u64 = 365 * 24 * 3600;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let secret = |name: &'static str| -> Option<String> {
            if let Some(value) = get(name) {
                return Some(value);
            }
            let path = get(&format!("{name}_FILE"))?;
            match std::fs::read_to_string(&path) {
                Ok(contents) => Some(contents.trim().to_owned()).filter(|v| !v.is_empty()),
                Err(e) => {
                    eprintln!("warning: cannot read {name}_FILE ({path}): {e}");
                    None
                }
            }
        };

        let host = match get("HOST") {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(h) if h == "localhost" => IpAddr::from([127, 0, 0, 1]),
            Some(h) => h.trim().parse().map_err(|_| bad("HOST", format!("{h:?} is not an IP address")))?,
        };
        let port = match get("PORT") {
            None => 3000,
            Some(p) => p.trim().parse().map_err(|_| bad("PORT", format!("{p:?} is not a port number (0-65535)")))?,
        };
        let database = database(secret("DATABASE_URL"), get("DB_DIALECT"))?;
        let admin_api_key = secret("ADMIN_API_KEY");
        if admin_api_key.as_ref().is_some_and(|k| k.chars().count() < 16) {
            return Err(bad("ADMIN_API_KEY", "must be at least 16 characters"));
        }
        let cors_allowed_origins = get("CORS_ALLOWED_ORIGINS")
            .or_else(|| get("CORS_ORIGINS"))
            .map(|list| {
                list.split(',').map(str::trim).filter(|o| !o.is_empty() && *o != "*").map(str::to_owned).collect()
            })
            .unwrap_or_default();
        let log_level = match get("LOG_LEVEL") {
            None => "info".to_owned(),
            Some(level) => {
                let level = level.trim().to_ascii_lowercase();
                if !["trace", "debug", "info", "warn", "error"].contains(&level.as_str()) {
                    return Err(bad("LOG_LEVEL", "must be one of trace, debug, info, warn, error"));
                }
                level
            }
        };
        let log_format = match get("LOG_FORMAT").map(|f| f.trim().to_ascii_lowercase()).as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(bad("LOG_FORMAT", "must be json or pretty")),
        };
        let body_size_limit = match get("BODY_SIZE_LIMIT") {
            None => DEFAULT_BODY_SIZE_LIMIT,
            Some(text) => parse_size(&text).ok_or_else(|| {
                bad("BODY_SIZE_LIMIT", format!("{text:?} is not a size (bytes, or a number with kb/mb)"))
            })?,
        };
        let request_timeout = match get("REQUEST_TIMEOUT_SEC") {
            None => None,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(0) => None,
                Ok(secs) => Some(Duration::from_secs(secs)),
                Err(_) => {
                    return Err(bad("REQUEST_TIMEOUT_SEC", format!("{text:?} is not a whole number of seconds")));
                }
            },
        };
        let decision_link_base_url = match get("DECISION_LINK_BASE_URL") {
            None => None,
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(bad("DECISION_LINK_BASE_URL", "must start with http:// or https://"));
                }
                Some(url)
            }
        };
        let decision_token_expiry_hours = match get("DECISION_TOKEN_EXPIRY_HOURS") {
            None => 24,
            Some(text) => {
                text.trim().parse::<u32>().ok().filter(|h| (1..=24 * 365).contains(h)).ok_or_else(|| {
                    bad("DECISION_TOKEN_EXPIRY_HOURS", "must be a whole number of hours from 1 to 8760")
                })?
            }
        };
        let whole =
            |name: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| -> Result<u64, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(text) => text.trim().parse::<u64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                        bad(name, format!("must be a whole number from {} to {}", range.start(), range.end()))
                    }),
                }
            };
        let webhook_timeout = Duration::from_millis(whole("WEBHOOK_TIMEOUT_MS", 5000, 100..=120_000)?);
        let webhook_max_retries = whole("WEBHOOK_MAX_RETRIES", 3, 0..=20)? as u32;
        let webhook_retry_base = Duration::from_millis(whole("WEBHOOK_RETRY_BASE_MS", 1000, 1..=3_600_000)?);
        let webhook_concurrency = whole("WEBHOOK_CONCURRENCY", 64, 1..=1024)? as usize;
        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            match get(name).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(false),
                Some(v) if ["true", "1", "yes"].contains(&v.as_str()) => Ok(true),
                Some(v) if ["false", "0", "no"].contains(&v.as_str()) => Ok(false),
                Some(_) => Err(bad(name, "must be true or false")),
            }
        };
        let allow_private_webhooks = flag("AGENTGATE_ALLOW_PRIVATE_WEBHOOKS")?;
        let webhook_encryption_key = secret("WEBHOOK_ENCRYPTION_KEY");
        let rate_limit_rpm = match get("RATE_LIMIT_RPM") {
            None => None,
            Some(text) => Some(text.trim().parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                bad("RATE_LIMIT_RPM", "must be a positive whole number of requests per minute (unset: no default)")
            })?),
        };
        let redis_url = match secret("REDIS_URL") {
            None => None,
            Some(url) => {
                let url = url.trim().to_owned();
                // Parsed now so a typo stops start-up; the message never repeats the URL (it may hold a password).
                if url.starts_with("rediss://") {
                    return Err(bad("REDIS_URL", "rediss:// (TLS) is not supported by this build; use redis://"));
                }
                if !url.starts_with("redis://") || redis::Client::open(url.as_str()).is_err() {
                    return Err(bad("REDIS_URL", "must be redis://[user:password@]host[:port][/db]"));
                }
                Some(url)
            }
        };
        let database_pool_size = whole("DATABASE_POOL_SIZE", 10, 1..=1000)? as u32;
        let redis_key_prefix = get("REDIS_KEY_PREFIX").unwrap_or_else(|| DEFAULT_REDIS_KEY_PREFIX.to_owned());
        let channels = ChannelsConfig::read(&get, &secret)?;
        let hsts_max_age = match get("HSTS_MAX_AGE") {
            Some(_) => Some(whole("HSTS_MAX_AGE", 0, 1..=2 * 365 * 24 * 3600)?),
            None => flag("HSTS_ENABLED")?.then_some(DEFAULT_HSTS_MAX_AGE),
        };
        let http_timeout = match whole("HTTP_TIMEOUT_SEC", 30, 0..=3600)? {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        };
        let max_connections = whole("MAX_CONNECTIONS", 10_000, 1..=1_000_000)? as usize;
        let metrics_token = secret("METRICS_TOKEN");
        if metrics_token.as_ref().is_some_and(|t| t.chars().count() < 16) {
            return Err(bad("METRICS_TOKEN", "must be at least 16 characters"));
        }
        let days = |name: &'static str, default: u64| -> Result<Option<Duration>, ConfigError> {
            Ok(match whole(name, default, 0..=36_500)? {
                0 => None,
                days => Some(Duration::from_secs(days * 24 * 3600)),
            })
        };
        let retention = Retention {
            interval: Duration::from_secs(whole("RETENTION_INTERVAL_SEC", 3600, 1..=7 * 24 * 3600)?),
            decision_tokens: days("RETENTION_TOKEN_DAYS", 30)?,
            deliveries: days("RETENTION_DELIVERY_DAYS", 30)?,
            audit: days("RETENTION_AUDIT_DAYS", 0)?,
        };
        Ok(Self {
            host,
            port,
            database,
            database_pool_size,
            admin_api_key,
            cors_allowed_origins,
            log_level,
            log_format,
            body_size_limit,
            request_timeout,
            decision_link_base_url,
            decision_token_expiry_hours,
            webhook_timeout,
            webhook_max_retries,
            webhook_retry_base,
            webhook_concurrency,
            allow_private_webhooks,
            webhook_encryption_key,
            rate_limit_rpm,
            redis_url,
            redis_key_prefix,
            key_usage_flush_interval: DEFAULT_KEY_USAGE_FLUSH_INTERVAL,
            channels,
            hsts_max_age,
            http_timeout,
            max_connections,
            metrics_token,
            retention,
        })
    }

    /// A configuration for `database` with every other value at its default.
    pub fn with_database(database: Database) -> Self {
        let mut config = Self::from_lookup(|_| None).expect("defaults are valid");
        config.database = database;
        config
    }
}

/// How SMTP connections are secured (`SMTP_SECURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP: local relays and tests only.
    None,
    /// STARTTLS, required (never opportunistic, which a man in the middle could strip).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    ImplicitTls,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `SMTP_FROM`: `addr@example.com` or `Name <addr@example.com>`.
    pub from: lettre::message::Mailbox,
    pub security: SmtpSecurity,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from.to_string())
            .field("security", &self.security)
            .finish()
    }
}

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";
pub const DEFAULT_DISCORD_API_URL: &str = "https://discord.com/api/v10";

/// Notification channels and where their APIs live.
#[derive(Clone, Default)]
pub struct ChannelsConfig {
    /// `SLACK_BOT_TOKEN`: posts and updates messages (scope `chat:write`).
    pub slack_bot_token: Option<String>,
    /// `SLACK_SIGNING_SECRET`: verifies interaction requests; without it the Slack endpoint refuses everything.
    pub slack_signing_secret: Option<String>,
    pub slack_default_channel: Option<String>,
    /// `SLACK_API_URL`, without a trailing slash.
    pub slack_api_url: String,
    pub discord_bot_token: Option<String>,
    /// `DISCORD_PUBLIC_KEY` (hex): verifies interaction requests.
    pub discord_public_key: Option<[u8; 32]>,
    pub discord_default_channel: Option<String>,
    /// `DISCORD_API_URL`, without a trailing slash.
    pub discord_api_url: String,
    /// Set when `SMTP_HOST` and `SMTP_FROM` are.
    pub smtp: Option<SmtpConfig>,
    /// `DASHBOARD_URL`, without a trailing slash: "View in dashboard" links.
    pub dashboard_url: Option<String>,
    /// `CHANNEL_ROUTES`.
    pub routes: Vec<agentgate_core::routing::Route>,
}

impl std::fmt::Debug for ChannelsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("ChannelsConfig")
            .field("slack_bot_token", &redacted(&self.slack_bot_token))
            .field("slack_signing_secret", &redacted(&self.slack_signing_secret))
            .field("slack_default_channel", &self.slack_default_channel)
            .field("slack_api_url", &self.slack_api_url)
            .field("discord_bot_token", &redacted(&self.discord_bot_token))
            .field("discord_public_key", &self.discord_public_key.map(hex::encode))
            .field("discord_default_channel", &self.discord_default_channel)
            .field("discord_api_url", &self.discord_api_url)
            .field("smtp", &self.smtp)
            .field("dashboard_url", &self.dashboard_url)
            .field("routes", &self.routes.len())
            .finish()
    }
}

impl ChannelsConfig {
    /// The defaults routing falls back on: each only when its channel can post.
    pub fn defaults(&self) -> agentgate_core::routing::Defaults {
        agentgate_core::routing::Defaults {
            slack: self.slack_default_channel.clone().filter(|_| self.slack_bot_token.is_some()),
            discord: self.discord_default_channel.clone().filter(|_| self.discord_bot_token.is_some()),
        }
    }

    fn read(
        get: &dyn Fn(&str) -> Option<String>,
        secret: &dyn Fn(&'static str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let base_url = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            match get(name) {
                None => Ok(default.to_owned()),
                Some(url) => {
                    let url = url.trim().trim_end_matches('/').to_owned();
                    if !(url.starts_with("http://") || url.starts_with("https://"))
                        || reqwest::Url::parse(&url).is_err()
                    {
                        return Err(bad(name, "must be an http:// or https:// URL"));
                    }
                    Ok(url)
                }
            }
        };
        let discord_public_key = match get("DISCORD_PUBLIC_KEY") {
            None => None,
            Some(text) => {
                let bytes = hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
                Some(bytes.ok_or_else(|| bad("DISCORD_PUBLIC_KEY", "must be 64 hexadecimal characters (32 bytes)"))?)
            }
        };
        let dashboard_url = match get("DASHBOARD_URL") {
            None => None,
            Some(_) => Some(base_url("DASHBOARD_URL", "")?),
        };
        let routes = match get("CHANNEL_ROUTES") {
            None => Vec::new(),
            Some(json) => agentgate_core::routing::parse_routes(&json).map_err(|e| bad("CHANNEL_ROUTES", e))?,
        };
        Ok(Self {
            slack_bot_token: secret("SLACK_BOT_TOKEN"),
            slack_signing_secret: secret("SLACK_SIGNING_SECRET"),
            slack_default_channel: get("SLACK_DEFAULT_CHANNEL").map(|c| c.trim().to_owned()),
            slack_api_url: base_url("SLACK_API_URL", DEFAULT_SLACK_API_URL)?,
            discord_bot_token: secret("DISCORD_BOT_TOKEN"),
            discord_public_key,
            discord_default_channel: get("DISCORD_DEFAULT_CHANNEL").map(|c| c.trim().to_owned()),
            discord_api_url: base_url("DISCORD_API_URL", DEFAULT_DISCORD_API_URL)?,
            smtp: read_smtp(get, secret)?,
            dashboard_url,
            routes,
        })
    }
}

fn read_smtp(
    get: &dyn Fn(&str) -> Option<String>,
    secret: &dyn Fn(&'static str) -> Option<String>,
) -> Result<Option<SmtpConfig>, ConfigError> {
    let security = match get("SMTP_SECURE").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => None,
        Some("none" | "plain" | "off") => Some(SmtpSecurity::None),
        Some("starttls" | "false") => Some(SmtpSecurity::StartTls),
        Some("tls" | "implicit" | "ssl" | "true") => Some(SmtpSecurity::ImplicitTls),
        Some(_) => return Err(bad("SMTP_SECURE", "must be none, starttls or tls (true means tls, false starttls)")),
    };
    let port = match get("SMTP_PORT") {
        None => None,
        Some(p) => Some(
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("SMTP_PORT", "must be a port number (1-65535)"))?,
        ),
    };
    let (Some(host), Some(from)) = (get("SMTP_HOST"), get("SMTP_FROM")) else {
        if get("SMTP_HOST").is_some() {
            return Err(bad("SMTP_FROM", "must be set when SMTP_HOST is (an address, or Name <address>)"));
        }
        return Ok(None);
    };
    let from: lettre::message::Mailbox =
        from.trim().parse().map_err(|_| bad("SMTP_FROM", "must be an address, or Name <address>"))?;
    // Without SMTP_SECURE: port 465 speaks TLS from the start; anything else must offer STARTTLS.
    let security =
        security.unwrap_or(if port == Some(465) { SmtpSecurity::ImplicitTls } else { SmtpSecurity::StartTls });
    let port = port.unwrap_or(match security {
        SmtpSecurity::ImplicitTls => 465,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::None => 25,
    });
    Ok(Some(SmtpConfig {
        host: host.trim().to_owned(),
        port,
        user: get("SMTP_USER").map(|u| u.trim().to_owned()),
        password: secret("SMTP_PASS"),
        from,
        security,
    }))
}

/// One environment variable the server reads: the source of `.env.example`'s list (checked by a test), of the
/// configuration reference in docs/operations.md (`agentgate config-reference`), and checked against what
/// [`Config::from_lookup`] actually reads.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    /// The default, as an operator would write it; empty when unset means "off" or "none".
    pub default: &'static str,
    pub meaning: &'static str,
    /// May come from `<NAME>_FILE` instead (secrets).
    pub file: bool,
}

const fn var(name: &'static str, default: &'static str, meaning: &'static str) -> Variable {
    Variable { name, default, meaning, file: false }
}

const fn secret_var(name: &'static str, default: &'static str, meaning: &'static str) -> Variable {
    Variable { name, default, meaning, file: true }
}

/// Every variable [`Config::from_lookup`] reads, in the order of the reference.
pub const VARIABLES: &[Variable] = &[
    var(
        "HOST",
        "127.0.0.1",
        "Address to listen on; `0.0.0.0` (or `::`) for every interface (the container image sets it).",
    ),
    var("PORT", "3000", "Port to listen on."),
    secret_var(
        "DATABASE_URL",
        DEFAULT_DATABASE_PATH,
        "A SQLite file path, or `postgres://user:password@host:port/db` for PostgreSQL (several replicas).",
    ),
    var(
        "DB_DIALECT",
        "",
        "`sqlite` or `postgres`; optional, the URL already says which (kept for the older implementation).",
    ),
    var("DATABASE_POOL_SIZE", "10", "Most PostgreSQL connections one replica opens."),
    secret_var(
        "ADMIN_API_KEY",
        "",
        "An admin credential (at least 16 characters). Unset: an admin key is created and printed on first start.",
    ),
    var(
        "CORS_ALLOWED_ORIGINS",
        "",
        "Comma-separated origins allowed to call the API from a browser; unset (or `*`) sends no CORS headers.",
    ),
    var("CORS_ORIGINS", "", "Alias of `CORS_ALLOWED_ORIGINS` (read when that is unset)."),
    var("LOG_LEVEL", "info", "`trace`, `debug`, `info`, `warn` or `error` (`RUST_LOG`, when set, wins)."),
    var("LOG_FORMAT", "pretty", "`json` (one object per line, for log collectors) or `pretty`."),
    var("BODY_SIZE_LIMIT", "1mb", "Largest request body (bytes, or with `kb`/`mb`); larger bodies get 413."),
    var(
        "REQUEST_TIMEOUT_SEC",
        "",
        "Default lifetime of an approval request created without `expiresAt`; unset or 0: no expiry.",
    ),
    var("DECISION_LINK_BASE_URL", "http://localhost:<PORT>", "Public base URL of one-click decision links."),
    var("DECISION_TOKEN_EXPIRY_HOURS", "24", "How long a one-click decision link stays valid (1 to 8760)."),
    var("WEBHOOK_TIMEOUT_MS", "5000", "Timeout of one webhook delivery attempt (100 to 120000)."),
    var("WEBHOOK_MAX_RETRIES", "3", "Retries after a delivery's first attempt (0 to 20)."),
    var("WEBHOOK_RETRY_BASE_MS", "1000", "Backoff unit: retry n waits 2^n times this, plus jitter."),
    var("WEBHOOK_CONCURRENCY", "64", "Most webhook deliveries in flight at once."),
    var(
        "AGENTGATE_ALLOW_PRIVATE_WEBHOOKS",
        "false",
        "Allow webhook URLs on private and loopback addresses (cloud metadata addresses never).",
    ),
    secret_var("WEBHOOK_ENCRYPTION_KEY", "", "Encrypts webhook secrets at rest (AES-GCM) when set."),
    var(
        "RATE_LIMIT_RPM",
        "",
        "Requests per minute for keys without a `rateLimit` of their own (and `ADMIN_API_KEY`); unset: unlimited.",
    ),
    secret_var(
        "REDIS_URL",
        "",
        "`redis://[user:password@]host[:port][/db]`: rate-limit windows shared by every replica; unset: per-process memory.",
    ),
    var("REDIS_KEY_PREFIX", DEFAULT_REDIS_KEY_PREFIX, "Prefix of every Redis key the gateway writes."),
    secret_var(
        "SLACK_BOT_TOKEN",
        "",
        "Slack bot token (`xoxb-…`, scope `chat:write`): posts and updates approval messages.",
    ),
    secret_var(
        "SLACK_SIGNING_SECRET",
        "",
        "Verifies Slack interaction requests (`v0` signatures, 5-minute window); unset: the endpoint refuses all.",
    ),
    var("SLACK_DEFAULT_CHANNEL", "", "Slack channel for requests no rule or route sends elsewhere."),
    var("SLACK_API_URL", DEFAULT_SLACK_API_URL, "Base URL of Slack's Web API (tests and air-gapped installs)."),
    secret_var("DISCORD_BOT_TOKEN", "", "Discord bot token: posts and edits approval messages."),
    var("DISCORD_PUBLIC_KEY", "", "The Discord application's public key (hex): verifies interaction requests."),
    var("DISCORD_DEFAULT_CHANNEL", "", "Discord channel id for requests no rule or route sends elsewhere."),
    var("DISCORD_API_URL", DEFAULT_DISCORD_API_URL, "Base URL of Discord's API (tests and air-gapped installs)."),
    var("SMTP_HOST", "", "SMTP server for e-mail approvals; e-mail is off unless this and `SMTP_FROM` are set."),
    var("SMTP_PORT", "", "SMTP port; unset: 465 for implicit TLS, 587 for STARTTLS, 25 without TLS."),
    var("SMTP_USER", "", "SMTP login, when the server needs one."),
    secret_var("SMTP_PASS", "", "SMTP password."),
    var("SMTP_FROM", "", "Sender: `approvals@example.com` or `AgentGate <approvals@example.com>`."),
    var("SMTP_SECURE", "", "`starttls`, `tls` (implicit) or `none`; unset: `tls` on port 465, else `starttls`."),
    var("DASHBOARD_URL", "", "Base of the \"View in dashboard\" links in messages."),
    var(
        "CHANNEL_ROUTES",
        "",
        "JSON routes: `[{\"channel\", \"target\", \"eventTypes\"?, \"actions\"?, \"urgencies\"?, \"enabled\"?}]`.",
    ),
    var(
        "HSTS_MAX_AGE",
        "",
        "Sends `Strict-Transport-Security: max-age=<this>; includeSubDomains` when set (seconds). Only behind HTTPS.",
    ),
    var(
        "HSTS_ENABLED",
        "false",
        "`true`: HSTS with a max-age of one year (the older implementation's switch; `HSTS_MAX_AGE` wins).",
    ),
    var(
        "HTTP_TIMEOUT_SEC",
        "30",
        "Longest time a request may take to answer (503 after it); long polls, event streams and `/mcp` are exempt. 0: no limit.",
    ),
    var(
        "MAX_CONNECTIONS",
        "10000",
        "Most client connections open at once; further connections wait in the listen backlog.",
    ),
    secret_var(
        "METRICS_TOKEN",
        "",
        "When set, `GET /metrics` requires `Authorization: Bearer <token>` (at least 16 characters); unset: public.",
    ),
    var("RETENTION_INTERVAL_SEC", "3600", "How often the retention sweeper deletes old data."),
    var("RETENTION_TOKEN_DAYS", "30", "Days one-click decision tokens are kept after they expire; 0 keeps them."),
    var(
        "RETENTION_DELIVERY_DAYS",
        "30",
        "Days finished webhook deliveries (and their attempts) are kept; 0 keeps them.",
    ),
    var("RETENTION_AUDIT_DAYS", "0", "Days audit entries are kept; 0 (the default) keeps the audit trail forever."),
];

/// Every variable as `.env` lines, commented out at its default, under its meaning (the body of `.env.example`).
pub fn reference_env() -> String {
    let mut out = String::new();
    for v in VARIABLES {
        out.push_str(&format!("# {}\n", v.meaning.replace('`', "")));
        if v.file {
            out.push_str(&format!("# Or {}_FILE: a file holding the value (Docker/Kubernetes secrets).\n", v.name));
        }
        out.push_str(&format!("#{}={}\n\n", v.name, v.default));
    }
    out
}

/// The configuration reference (a Markdown table), as docs/operations.md holds it.
pub fn reference_markdown() -> String {
    let mut out = String::from("| Variable | Default | Meaning |\n|---|---|---|\n");
    for v in VARIABLES {
        let name = if v.file { format!("`{}` (or `{}_FILE`)", v.name, v.name) } else { format!("`{}`", v.name) };
        let default = if v.default.is_empty() { "—".to_owned() } else { format!("`{}`", v.default) };
        out.push_str(&format!("| {name} | {default} | {} |\n", v.meaning.replace('|', "\\|")));
    }
    out
}

/// PostgreSQL when `DATABASE_URL` is a `postgres://` or `postgresql://` URL, or when `DB_DIALECT` (the older
/// implementation's switch) says `postgres`; a SQLite file path otherwise.
fn database(url: Option<String>, dialect: Option<String>) -> Result<Database, ConfigError> {
    let postgres_url = |url: &str| url.starts_with("postgres://") || url.starts_with("postgresql://");
    let dialect = dialect.map(|d| d.trim().to_ascii_lowercase());
    match dialect.as_deref() {
        None | Some("sqlite") | Some("postgres") | Some("postgresql") => {}
        Some(_) => return Err(bad("DB_DIALECT", "must be sqlite or postgres")),
    }
    let Some(url) = url else {
        if matches!(dialect.as_deref(), Some("postgres" | "postgresql")) {
            return Err(bad("DATABASE_URL", "DB_DIALECT=postgres needs a postgres:// URL in DATABASE_URL"));
        }
        return Ok(Database::Sqlite { path: DEFAULT_DATABASE_PATH.to_owned() });
    };
    let url = url.trim();
    if postgres_url(url) {
        if dialect.as_deref() == Some("sqlite") {
            return Err(bad("DB_DIALECT", "is sqlite but DATABASE_URL is a PostgreSQL URL"));
        }
        // Parsed now so a typo stops start-up; the message never repeats the URL (it may hold a password).
        if url.parse::<sqlx::postgres::PgConnectOptions>().is_err() {
            return Err(bad("DATABASE_URL", "must be postgres://[user[:password]@]host[:port]/database"));
        }
        return Ok(Database::Postgres { url: url.to_owned() });
    }
    if matches!(dialect.as_deref(), Some("postgres" | "postgresql")) {
        return Err(bad("DATABASE_URL", "DB_DIALECT=postgres needs a postgres:// URL"));
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    if path.is_empty() || path.contains(":memory:") || path.contains('?') {
        return Err(bad("DATABASE_URL", "must be a SQLite file path (for example ./data/agentgate.db)"));
    }
    Ok(Database::Sqlite { path: path.to_owned() })
}

fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text.as_str(), ""),
    };
    let n: usize = digits.parse().ok()?;
    let multiplier = match unit.trim() {
        "" | "b" => 1,
        "kb" | "k" | "kib" => 1024,
        "mb" | "m" | "mib" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(multiplier).filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    /// The table of variables is the list `from_lookup` reads, no more and no less: a variable added to the code
    /// and not to the table (so not to .env.example or the docs) fails here.
    #[test]
    fn the_variable_table_lists_every_variable_read() {
        let read = std::sync::Mutex::new(std::collections::BTreeSet::new());
        Config::from_lookup(|name| {
            read.lock().expect("lock").insert(name.to_owned());
            None
        })
        .expect("defaults");
        // SMTP's login is read only once a server is configured.
        Config::from_lookup(|name| {
            read.lock().expect("lock").insert(name.to_owned());
            match name {
                "SMTP_HOST" => Some("smtp.example.com".into()),
                "SMTP_FROM" => Some("approvals@example.com".into()),
                _ => None,
            }
        })
        .expect("SMTP configured");
        let read = read.into_inner().expect("lock");
        let mut listed = std::collections::BTreeSet::new();
        for v in VARIABLES {
            listed.insert(v.name.to_owned());
            if v.file {
                listed.insert(format!("{}_FILE", v.name));
            }
        }
        assert_eq!(read, listed, "config::VARIABLES must list exactly the variables Config::from_lookup reads");
    }

    /// The defaults the table documents are the code's: setting every variable to its documented default changes
    /// nothing. (`DECISION_LINK_BASE_URL`'s default depends on `PORT`, so it is written as a placeholder.)
    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let documented = |name: &str| {
            VARIABLES
                .iter()
                .find(|v| v.name == name && name != "DECISION_LINK_BASE_URL")
                .map(|v| v.default.to_owned())
                .filter(|d| !d.is_empty())
        };
        let with_defaults = Config::from_lookup(documented).expect("documented defaults are valid");
        let without = config(&[]).expect("defaults");
        assert_eq!(format!("{with_defaults:?}"), format!("{without:?}"));
    }

    #[test]
    fn operations_settings() {
        let c = config(&[]).expect("defaults");
        assert_eq!((c.hsts_max_age, c.http_timeout, c.max_connections), (None, Some(Duration::from_secs(30)), 10_000));
        assert_eq!(c.retention.audit, None);
        assert_eq!(c.retention.decision_tokens, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(config(&[("HSTS_ENABLED", "yes")]).expect("ok").hsts_max_age, Some(DEFAULT_HSTS_MAX_AGE));
        let c = config(&[("HSTS_ENABLED", "yes"), ("HSTS_MAX_AGE", "600"), ("HTTP_TIMEOUT_SEC", "0")]).expect("ok");
        assert_eq!((c.hsts_max_age, c.http_timeout), (Some(600), None));
        let c = config(&[("RETENTION_AUDIT_DAYS", "90"), ("RETENTION_DELIVERY_DAYS", "0")]).expect("ok");
        assert_eq!((c.retention.audit, c.retention.deliveries), (Some(Duration::from_secs(90 * 86_400)), None));
        let c = config(&[("METRICS_TOKEN", "metrics-0123456789")]).expect("ok");
        assert!(!format!("{c:?}").contains("metrics-0123456789"), "the metrics token is redacted");
    }

    #[test]
    fn defaults() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.port, 3000);
        assert_eq!(c.host.to_string(), "127.0.0.1");
        assert_eq!(c.database, Database::Sqlite { path: DEFAULT_DATABASE_PATH.into() });
        assert_eq!(c.database_pool_size, 10);
        assert_eq!(c.body_size_limit, 1024 * 1024);
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert!(c.admin_api_key.is_none() && c.request_timeout.is_none());
    }

    #[test]
    fn errors_name_the_variable() {
        for (var, value) in [
            ("PORT", "70000"),
            ("HOST", "not-an-ip"),
            ("ADMIN_API_KEY", "short"),
            ("LOG_FORMAT", "xml"),
            ("LOG_LEVEL", "loud"),
            ("BODY_SIZE_LIMIT", "lots"),
            ("REQUEST_TIMEOUT_SEC", "-1"),
            ("DATABASE_URL", "postgres://localhost:notaport/db"),
            ("DB_DIALECT", "mysql"),
            ("DATABASE_POOL_SIZE", "0"),
            ("DECISION_LINK_BASE_URL", "gate.example.com"),
            ("DECISION_TOKEN_EXPIRY_HOURS", "0"),
            ("WEBHOOK_TIMEOUT_MS", "50"),
            ("WEBHOOK_MAX_RETRIES", "many"),
            ("WEBHOOK_CONCURRENCY", "0"),
            ("AGENTGATE_ALLOW_PRIVATE_WEBHOOKS", "maybe"),
            ("RATE_LIMIT_RPM", "0"),
            ("RATE_LIMIT_RPM", "-5"),
            ("RATE_LIMIT_RPM", "lots"),
            ("REDIS_URL", "localhost:6379"),
            ("REDIS_URL", "http://localhost:6379"),
            ("SLACK_API_URL", "slack.com/api"),
            ("DISCORD_API_URL", "ftp://discord.com"),
            ("DISCORD_PUBLIC_KEY", "abcd"),
            ("DASHBOARD_URL", "dashboard"),
            ("CHANNEL_ROUTES", "{"),
            ("CHANNEL_ROUTES", r#"[{"channel": "sms", "target": "1"}]"#),
            ("SMTP_SECURE", "maybe"),
            ("SMTP_PORT", "0"),
            ("HSTS_MAX_AGE", "forever"),
            ("HSTS_ENABLED", "sometimes"),
            ("HTTP_TIMEOUT_SEC", "-1"),
            ("MAX_CONNECTIONS", "0"),
            ("METRICS_TOKEN", "short"),
            ("RETENTION_INTERVAL_SEC", "0"),
            ("RETENTION_AUDIT_DAYS", "a year"),
        ] {
            let err = config(&[(var, value)]).expect_err(var);
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(var), "{err}");
        }
        // DB_DIALECT=postgres without a URL: the missing value is DATABASE_URL's.
        let err = config(&[("DB_DIALECT", "postgres")]).expect_err("postgres without a URL");
        assert_eq!(err.variable, "DATABASE_URL");
    }

    #[test]
    fn sizes_and_paths() {
        assert_eq!(config(&[("BODY_SIZE_LIMIT", "100kb")]).expect("ok").body_size_limit, 100 * 1024);
        assert_eq!(config(&[("BODY_SIZE_LIMIT", "2MB")]).expect("ok").body_size_limit, 2 * 1024 * 1024);
        let sqlite = |path: &str| Database::Sqlite { path: path.into() };
        assert_eq!(config(&[("DATABASE_URL", "sqlite:///tmp/x.db")]).expect("ok").database, sqlite("/tmp/x.db"));
        assert_eq!(config(&[("DATABASE_URL", "sqlite:data/x.db")]).expect("ok").database, sqlite("data/x.db"));
        let err = config(&[("DB_DIALECT", "postgres")]).expect_err("no URL");
        assert_eq!(err.variable, "DATABASE_URL", "{err}");
        let err = config(&[("DB_DIALECT", "sqlite"), ("DATABASE_URL", "postgres://h/db")]).expect_err("mismatch");
        assert_eq!(err.variable, "DB_DIALECT", "{err}");
        let pg = "postgresql://agentgate:pw-0123@db.internal:5432/agentgate?sslmode=disable";
        for vars in [&[("DATABASE_URL", pg)][..], &[("DATABASE_URL", pg), ("DB_DIALECT", "postgres")][..]] {
            let c = config(vars).expect("ok");
            assert_eq!(c.database, Database::Postgres { url: pg.into() });
            assert!(!format!("{c:?}").contains("pw-0123"), "the database URL is redacted");
            assert_eq!(c.database.describe(), "PostgreSQL at postgresql://db.internal:5432/agentgate");
        }
        assert_eq!(
            config(&[("CORS_ORIGINS", "http://a, *,http://b")]).expect("ok").cors_allowed_origins,
            ["http://a", "http://b"]
        );
    }

    #[test]
    fn rate_limits_and_redis() {
        let c = config(&[]).expect("defaults");
        assert_eq!((c.rate_limit_rpm, c.redis_url.as_deref()), (None, None));
        assert_eq!(c.redis_key_prefix, "agentgate:");
        let c = config(&[("RATE_LIMIT_RPM", " 600 "), ("REDIS_URL", "redis://:pw-0123@127.0.0.1:6379/2")]).expect("ok");
        assert_eq!(c.rate_limit_rpm, Some(600));
        assert_eq!(c.redis_url.as_deref(), Some("redis://:pw-0123@127.0.0.1:6379/2"));
        assert!(!format!("{c:?}").contains("pw-0123"), "the Redis URL is redacted");
        let err = config(&[("REDIS_URL", "redis://:pw-0123@[::1")]).expect_err("malformed");
        assert!(!err.to_string().contains("pw-0123"), "{err}");
    }

    #[test]
    fn secrets_come_from_files_and_the_plain_variable_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("admin");
        std::fs::write(&file, "  file-secret-0123456789\n").expect("write");
        let path = file.to_str().expect("utf-8");
        let c = config(&[("ADMIN_API_KEY_FILE", path)]).expect("ok");
        assert_eq!(c.admin_api_key.as_deref(), Some("file-secret-0123456789"));
        let c = config(&[("ADMIN_API_KEY_FILE", path), ("ADMIN_API_KEY", "plain-secret-0123456789")]).expect("ok");
        assert_eq!(c.admin_api_key.as_deref(), Some("plain-secret-0123456789"));
        let c = config(&[("ADMIN_API_KEY_FILE", "/nonexistent/secret")]).expect("unreadable file only warns");
        assert!(c.admin_api_key.is_none());
    }

    #[test]
    fn channels() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.channels.slack_api_url, "https://slack.com/api");
        assert_eq!(c.channels.discord_api_url, "https://discord.com/api/v10");
        assert!(c.channels.smtp.is_none() && c.channels.routes.is_empty());
        let key = "11".repeat(32);
        let c = config(&[
            ("SLACK_BOT_TOKEN", "xoxb-secret-token"),
            ("SLACK_SIGNING_SECRET", "signing-secret-0123"),
            ("SLACK_DEFAULT_CHANNEL", "#approvals"),
            ("SLACK_API_URL", "http://127.0.0.1:9/api/"),
            ("DISCORD_DEFAULT_CHANNEL", "42"),
            ("DISCORD_PUBLIC_KEY", &key),
            ("SMTP_HOST", "mail.example.com"),
            ("SMTP_FROM", "AgentGate <gate@example.com>"),
            ("SMTP_PASS", "smtp-password-0123"),
            ("CHANNEL_ROUTES", r##"[{"channel": "slack", "target": "#ops", "urgencies": ["critical"]}]"##),
        ])
        .expect("ok");
        assert_eq!(c.channels.slack_api_url, "http://127.0.0.1:9/api");
        assert_eq!(c.channels.discord_public_key, Some([0x11; 32]));
        assert_eq!(c.channels.routes.len(), 1);
        // Discord has no bot token, so its default channel cannot be used.
        assert_eq!(c.channels.defaults().slack.as_deref(), Some("#approvals"));
        assert_eq!(c.channels.defaults().discord, None);
        let smtp = c.channels.smtp.as_ref().expect("smtp");
        assert_eq!((smtp.port, smtp.security), (587, SmtpSecurity::StartTls));
        assert_eq!(smtp.from.email.to_string(), "gate@example.com");
        let shown = format!("{c:?}");
        for secret in ["xoxb-secret-token", "signing-secret-0123", "smtp-password-0123"] {
            assert!(!shown.contains(secret), "{secret} is redacted");
        }
        let smtp =
            config(&[("SMTP_HOST", "h"), ("SMTP_FROM", "a@b.c"), ("SMTP_PORT", "465")]).expect("ok").channels.smtp;
        assert_eq!(smtp.map(|s| s.security), Some(SmtpSecurity::ImplicitTls));
        let smtp =
            config(&[("SMTP_HOST", "h"), ("SMTP_FROM", "a@b.c"), ("SMTP_SECURE", "none")]).expect("ok").channels.smtp;
        assert_eq!(smtp.map(|s| (s.security, s.port)), Some((SmtpSecurity::None, 25)));
        assert_eq!(
            config(&[("SMTP_HOST", "h"), ("SMTP_FROM", "not an address")]).expect_err("from").variable,
            "SMTP_FROM"
        );
    }
}
