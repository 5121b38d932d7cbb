//! Who is calling: API keys, the `ADMIN_API_KEY` credential, and the principal a request runs as.
//!
//! Keys are `agk_` + 32 random bytes (base64url); only their SHA-256 is stored. Validated keys are cached for a
//! second, so a revoked or changed key stops working at once on this replica (the cache entry is dropped) and
//! within a second anywhere that shares the database (its `rateLimit` included). When a key was last used, and
//! how many requests it made each UTC day, is counted in memory and written in batches by [`crate::run`]'s usage
//! flusher, never with a database write per request.

use crate::store::{ApiKeyRecord, KeyUsage, Store, StoreResult};
use agentgate_core::Timestamp;
use agentgate_core::auth::{Scope, allows};
use agentgate_core::timestamp::format_day;
use agentgate_core::wire::DailyUsage;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

const CACHE_TTL: Duration = Duration::from_secs(1);
const CACHE_MAX_ENTRIES: usize = 10_000;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The audit actor and `decidedBy` of whatever this principal does: `key:<id>` or `admin:env`.
    pub actor: String,
    pub key_id: Option<String>,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The key's own requests-per-minute limit (`None`: the `RATE_LIMIT_RPM` default, if any, applies).
    pub rate_limit: Option<u32>,
}

impl Principal {
    pub fn allows(&self, scope: Scope) -> bool {
        allows(&self.scopes, scope)
    }

    fn from_key(key: &ApiKeyRecord) -> Self {
        Self {
            actor: format!("key:{}", key.id),
            key_id: Some(key.id.clone()),
            name: key.name.clone(),
            scopes: key.scopes.iter().filter_map(|s| s.parse().ok()).collect(),
            rate_limit: key.rate_limit,
        }
    }

    fn admin_env() -> Self {
        Self {
            actor: "admin:env".into(),
            key_id: None,
            name: "ADMIN_API_KEY".into(),
            scopes: vec![Scope::Admin],
            rate_limit: None,
        }
    }
}

pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new key secret: `agk_` + base64url(32 random bytes), 47 characters.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("agk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Resolves bearer secrets to principals.
pub struct Authenticator {
    /// SHA-256 of `ADMIN_API_KEY`: comparing digests keeps the comparison constant-time whatever the length.
    admin_digest: Option<[u8; 32]>,
    cache: RwLock<HashMap<String, (Arc<Principal>, Instant)>>,
    /// Bumped by every `forget`, so a lookup that read a key before it changed never caches the old version.
    generation: AtomicU64,
    /// Key id → its use since the last flush.
    usage: Mutex<HashMap<String, PendingUsage>>,
}

struct PendingUsage {
    last_used: Timestamp,
    /// (UTC day number, requests), oldest first: one entry, two across midnight.
    days: Vec<(i64, u64)>,
}

impl Authenticator {
    pub fn new(admin_api_key: Option<&str>) -> Self {
        Self {
            admin_digest: admin_api_key.map(|k| Sha256::digest(k.as_bytes()).into()),
            cache: RwLock::default(),
            generation: AtomicU64::new(0),
            usage: Mutex::default(),
        }
    }

    /// The principal for a presented secret, or `None` when it is unknown or revoked.
    pub async fn authenticate(&self, secret: &str, store: &dyn Store) -> StoreResult<Option<Arc<Principal>>> {
        self.authenticate_hash(&hash_key(secret), store).await
    }

    /// The principal for the SHA-256 (hex) of a secret: how a dashboard session, which keeps only that hash,
    /// re-checks its key on every request.
    pub async fn authenticate_hash(&self, hash: &str, store: &dyn Store) -> StoreResult<Option<Arc<Principal>>> {
        if let Some(admin) = &self.admin_digest {
            let mut presented = [0u8; 32];
            if hex::decode_to_slice(hash, &mut presented).is_ok() && bool::from(presented.ct_eq(admin)) {
                return Ok(Some(Arc::new(Principal::admin_env())));
            }
        }
        let hash = hash.to_owned();
        if let Some((principal, at)) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(&hash)
            && at.elapsed() < CACHE_TTL
        {
            self.touch(principal);
            return Ok(Some(principal.clone()));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let Some(key) = store.find_active_api_key(&hash).await? else {
            self.cache.write().unwrap_or_else(|p| p.into_inner()).remove(&hash);
            return Ok(None);
        };
        let principal = Arc::new(Principal::from_key(&key));
        self.touch(&principal);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return Ok(Some(principal));
        }
        if cache.len() >= CACHE_MAX_ENTRIES {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(hash, (principal.clone(), Instant::now()));
        Ok(Some(principal))
    }

    /// Forgets a key after it changed, so the change applies to the very next request.
    pub fn forget(&self, key_hash: &str) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.remove(key_hash);
    }

    /// Forgets every cached key (after another replica's changes may have been missed).
    pub fn forget_all(&self) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.clear();
    }

    /// Counts one request by `principal` (keys only; `ADMIN_API_KEY` is not a stored key).
    fn touch(&self, principal: &Principal) {
        let Some(id) = &principal.key_id else { return };
        let now = crate::app::now();
        let day = now.utc_day();
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        match usage.get_mut(id) {
            Some(pending) => {
                pending.last_used = pending.last_used.max(now);
                match pending.days.last_mut() {
                    Some((last_day, count)) if *last_day == day => *count += 1,
                    _ => pending.days.push((day, 1)),
                }
            }
            None => {
                usage.insert(id.clone(), PendingUsage { last_used: now, days: vec![(day, 1)] });
            }
        }
    }

    /// The keys used since the last call: when each was last used and its requests per UTC day.
    pub fn take_usage(&self) -> Vec<KeyUsage> {
        let taken = std::mem::take(&mut *self.usage.lock().unwrap_or_else(|p| p.into_inner()));
        taken
            .into_iter()
            .map(|(key_id, pending)| KeyUsage {
                key_id,
                last_used_at: pending.last_used,
                requests: pending
                    .days
                    .into_iter()
                    .map(|(day, requests)| DailyUsage { date: format_day(day), requests })
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_reference_format() {
        let key = generate_key();
        assert!(key.starts_with("agk_"));
        assert_eq!(key.len(), 47);
        assert_ne!(key, generate_key());
        assert_eq!(hash_key(&key).len(), 64);
    }

    #[test]
    fn usage_is_counted_per_key_and_taken_once() {
        let auth = Authenticator::new(None);
        let key = |id: &str| Principal {
            actor: format!("key:{id}"),
            key_id: Some(id.into()),
            name: id.into(),
            scopes: vec![],
            rate_limit: None,
        };
        for _ in 0..3 {
            auth.touch(&key("a"));
        }
        auth.touch(&key("b"));
        auth.touch(&Principal::admin_env());
        let mut usage = auth.take_usage();
        usage.sort_by(|x, y| x.key_id.cmp(&y.key_id));
        let today = format_day(crate::app::now().utc_day());
        let counts: Vec<(&str, u64)> = usage.iter().map(|u| (u.key_id.as_str(), u.requests[0].requests)).collect();
        assert_eq!(counts, [("a", 3), ("b", 1)], "ADMIN_API_KEY is not a stored key and is not counted");
        assert!(usage.iter().all(|u| u.requests.len() == 1 && u.requests[0].date == today));
        assert!(auth.take_usage().is_empty(), "taken usage starts again from zero");
    }
}
