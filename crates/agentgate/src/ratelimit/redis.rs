//! Windows in Redis, shared by every replica: one sorted set per key (a member per admitted request, scored by
//! its admission time), checked and updated by one Lua script, so a check is atomic however many replicas ask
//! at once. The script reads Redis's own clock (`TIME`), so replicas whose clocks disagree still share one
//! window, and expires the set a minute after its last admission, so idle keys cost Redis nothing.

use super::{Backend, BackendError, Decision, REDIS_TIMEOUT, WINDOW_MS};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicU64, Ordering};

/// KEYS[1]: the window. ARGV: limit, window in ms, a member unique to this request.
/// Returns {admitted (0|1), admissions in the window before this request, ms until the oldest leaves, now in ms}.
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local before = redis.call('ZCARD', KEYS[1])
local admitted = 0
if before < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  admitted = 1
end
local reset = window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  reset = tonumber(oldest[2]) + window - now
end
return {admitted, before, reset, now}
";

pub struct RedisWindows {
    conn: ConnectionManager,
    /// `<REDIS_KEY_PREFIX>ratelimit:`, to which a bucket's name is appended.
    key_prefix: String,
    script: redis::Script,
    /// Members must be unique across replicas: a random tag per process, then a counter.
    tag: String,
    sequence: AtomicU64,
}

impl RedisWindows {
    /// Prepares the connection without connecting: the first check connects (and reconnects after failures).
    pub fn connect(url: &str, prefix: &str) -> Result<Self, BackendError> {
        let client =
            redis::Client::open(url).map_err(|e| BackendError(format!("invalid REDIS_URL: {}", e.category())))?;
        // Few, quick reconnection attempts: while Redis is down the limiter decides from memory, and a request
        // must never wait on a long backoff.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(std::time::Duration::from_millis(50))
            .set_max_delay(std::time::Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| BackendError(format!("cannot set up the Redis connection: {e}")))?;
        Ok(Self {
            conn,
            key_prefix: format!("{prefix}ratelimit:"),
            script: redis::Script::new(CHECK),
            tag: format!("{:016x}", rand::random::<u64>()),
            sequence: AtomicU64::new(0),
        })
    }

    pub async fn ping(&self) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await.map_err(|e| BackendError(e.to_string()))
    }

    /// The Redis key of a bucket's window.
    pub fn key(&self, bucket: &str) -> String {
        let mut key = String::with_capacity(self.key_prefix.len() + bucket.len());
        key.push_str(&self.key_prefix);
        key.push_str(bucket);
        key
    }
}

#[async_trait]
impl Backend for RedisWindows {
    async fn check(&self, bucket: &str, limit: u32) -> Result<Decision, BackendError> {
        let member = format!("{}-{}", self.tag, self.sequence.fetch_add(1, Ordering::Relaxed));
        let mut conn = self.conn.clone();
        // EVALSHA, loading the script again when Redis forgot it (a restart).
        let (admitted, before, reset, now): (i64, i64, i64, i64) = self
            .script
            .key(self.key(bucket))
            .arg(limit)
            .arg(WINDOW_MS)
            .arg(member)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| BackendError(e.to_string()))?;
        Ok(Decision::new(limit, u64::try_from(before).unwrap_or(0), admitted == 1, reset, now))
    }
}
