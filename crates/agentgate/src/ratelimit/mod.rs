//! Per-key rate limits: a sliding-window log of the last minute, as the reference implementation has it.
//!
//! At most `limit` requests are admitted in any 60 000 ms; a refused request is not recorded. Two backends
//! implement [`Backend`]: [`memory::MemoryWindows`] (this process only) and [`redis::RedisWindows`] (one Lua script
//! per check against a sorted set, on Redis's clock, so every replica shares one window per key).
//!
//! [`RateLimiter`] uses Redis when `REDIS_URL` is set. When Redis cannot be reached (an error, or no answer within
//! [`REDIS_TIMEOUT`]), it **falls back to this replica's memory**: requests are still limited, but per replica (with
//! N replicas a key may get up to N × its limit) instead of being refused (an outage of an optional cache would
//! stop every agent) or let through unlimited (the limit would vanish exactly when something is wrong). One
//! warning is logged when that happens and one line when Redis is back; while it is down, requests do not wait
//! for it: [`RateLimiter::maintain`] probes it once a second and switches back when it answers.

pub mod memory;
pub mod redis;

use crate::config::Config;
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The window: a minute, in milliseconds.
pub const WINDOW_MS: i64 = 60_000;
/// Longest a request waits for Redis before deciding from memory instead. Only the requests in flight when Redis
/// stops answering wait this long: after that, requests decide from memory at once until a probe succeeds. So it
/// can afford to be generous enough that a busy machine's scheduling delay is not mistaken for an outage.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// How often [`RateLimiter::maintain`] should run: it probes a Redis that is down this often.
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(1);
/// How often idle windows are dropped from memory.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The outcome of one check, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still allowed in the window after this one (0 when refused).
    pub remaining: u32,
    /// Milliseconds until the oldest admitted request leaves the window (the whole window when it is empty).
    pub reset_ms: i64,
    /// The deciding clock (Redis's when Redis decided), in milliseconds since the epoch.
    pub now_ms: i64,
}

impl Decision {
    /// A decision from a window's state: `before` requests were in the window when this one came, and the
    /// oldest admission still in it leaves in `reset_ms`.
    pub fn new(limit: u32, before: u64, allowed: bool, reset_ms: i64, now_ms: i64) -> Self {
        let used = before + u64::from(allowed);
        let remaining = u64::from(limit).saturating_sub(used);
        Self {
            allowed,
            limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_ms: reset_ms.clamp(0, WINDOW_MS),
            now_ms,
        }
    }

    /// Milliseconds until `oldest` leaves the window (the whole window when it is empty).
    pub fn reset_after(oldest: Option<i64>, now_ms: i64) -> i64 {
        oldest.map_or(WINDOW_MS, |oldest| oldest + WINDOW_MS - now_ms)
    }

    /// `X-RateLimit-Reset`: when the oldest request leaves the window, in epoch seconds (rounded up).
    pub fn reset_epoch_seconds(&self) -> i64 {
        ceil_seconds(self.now_ms + self.reset_ms)
    }

    /// `Retry-After`: seconds until a refused request could be admitted (rounded up).
    pub fn retry_after_seconds(&self) -> i64 {
        ceil_seconds(self.reset_ms)
    }
}

fn ceil_seconds(ms: i64) -> i64 {
    (ms + 999).div_euclid(1000)
}

/// Why a backend could not decide.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// A place where windows live.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Checks one request against `bucket`'s window and records it when admitted, atomically.
    async fn check(&self, bucket: &str, limit: u32) -> Result<Decision, BackendError>;
}

/// The limiter the gateway uses: Redis when configured (falling back to memory while it is down), else memory.
pub struct RateLimiter {
    local: memory::MemoryWindows,
    shared: Option<Shared>,
    last_sweep: std::sync::Mutex<Instant>,
}

struct Shared {
    redis: redis::RedisWindows,
    /// Set when a call failed; requests then decide from memory until a probe succeeds.
    down: AtomicBool,
}

impl RateLimiter {
    /// Builds the limiter. Redis is connected lazily, so a Redis that is down at start-up does not stop the gateway.
    pub fn new(config: &Config) -> Result<Self, BackendError> {
        let shared = match &config.redis_url {
            None => None,
            Some(url) => Some(Shared {
                redis: redis::RedisWindows::connect(url, &config.redis_key_prefix)?,
                down: AtomicBool::new(false),
            }),
        };
        Ok(Self { local: memory::MemoryWindows::default(), shared, last_sweep: std::sync::Mutex::new(Instant::now()) })
    }

    /// Checks (and, when admitted, records) one request of `bucket` against `limit` requests per minute.
    pub async fn check(&self, bucket: &str, limit: u32) -> Decision {
        if let Some(shared) = &self.shared
            && !shared.down.load(Ordering::Relaxed)
        {
            match tokio::time::timeout(REDIS_TIMEOUT, shared.redis.check(bucket, limit)).await {
                Ok(Ok(decision)) => return decision,
                Ok(Err(e)) => shared.went_down(&e.0),
                Err(_) => shared.went_down("no answer in time"),
            }
        }
        self.local.check(bucket, limit)
    }

    /// Connects to Redis (when configured) at start-up, so the first requests do not pay for the connection and a
    /// Redis that is down is reported at once.
    pub async fn connect(&self) {
        if let Some(shared) = &self.shared
            && let Err(cause) = shared.ping().await
        {
            shared.went_down(&cause);
        }
    }

    /// Whether limits are shared through Redis (configured), whatever its current state.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// A Redis round trip for `/health?deep=true`: its latency, or why it failed. `None` without Redis.
    pub async fn redis_health(&self) -> Option<Result<Duration, String>> {
        let shared = self.shared.as_ref()?;
        Some(shared.ping().await)
    }

    /// Periodic upkeep (every [`MAINTENANCE_INTERVAL`]): probes Redis while it is down, drops idle windows.
    pub async fn maintain(&self) {
        if let Some(shared) = &self.shared
            && shared.down.load(Ordering::Relaxed)
            && shared.ping().await.is_ok()
            && shared.down.swap(false, Ordering::Relaxed)
        {
            tracing::info!("Redis answers again; rate limits are shared across replicas again");
        }
        let sweep_due = {
            let mut last = self.last_sweep.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.elapsed() >= SWEEP_INTERVAL;
            if due {
                *last = Instant::now();
            }
            due
        };
        if sweep_due {
            self.local.sweep(crate::app::now().0);
        }
    }
}

impl Shared {
    fn went_down(&self, cause: &str) {
        // Logged on the transition only: with Redis down, every request would otherwise log it.
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %cause,
                "Redis unreachable; rate limits fall back to this replica's memory (per replica) until it answers"
            );
        }
    }

    async fn ping(&self) -> Result<Duration, String> {
        let started = Instant::now();
        match tokio::time::timeout(REDIS_TIMEOUT, self.redis.ping()).await {
            Ok(Ok(())) => Ok(started.elapsed()),
            Ok(Err(e)) => Err(e.0),
            Err(_) => Err(format!("no answer within {} ms", REDIS_TIMEOUT.as_millis())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_round_up() {
        let d = Decision::new(10, 3, true, Decision::reset_after(Some(1_000_500), 1_030_000), 1_030_000);
        assert_eq!((d.remaining, d.reset_ms), (6, 30_500));
        assert_eq!(d.reset_epoch_seconds(), 1061); // (1_030_000 + 30_500) / 1000 = 1060.5 → 1061
        assert_eq!(d.retry_after_seconds(), 31);
        let empty = Decision::new(10, 0, false, Decision::reset_after(None, 2_000_000), 2_000_000);
        assert_eq!((empty.reset_ms, empty.reset_epoch_seconds(), empty.retry_after_seconds()), (60_000, 2060, 60));
        // A limit lowered below what is already in the window: nothing remains, never an underflow.
        assert_eq!(Decision::new(2, 5, false, 1000, 2).remaining, 0);
    }
}
