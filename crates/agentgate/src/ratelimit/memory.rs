//! Windows in this process's memory: the default backend, and the fallback while Redis is down.
//!
//! Each window keeps its admissions as (millisecond, count) runs, so it holds at most one entry per millisecond of
//! the last minute (60,000) however high the limit; windows with nothing in the last minute are dropped by
//! [`MemoryWindows::sweep`], so memory follows the keys in use, not every key ever seen. The map is split into
//! shards, each behind its own lock, so keys used at once rarely wait for each other.

use super::{Backend, BackendError, Decision, WINDOW_MS};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;

const SHARDS: usize = 16;

pub struct MemoryWindows {
    shards: [Mutex<HashMap<String, Window>>; SHARDS],
    hasher: std::collections::hash_map::RandomState,
}

#[derive(Default)]
struct Window {
    /// Admissions in time order: (millisecond, requests admitted in it).
    runs: VecDeque<(i64, u32)>,
    /// Sum of the runs' counts.
    admitted: u64,
}

impl Window {
    fn forget_before(&mut self, now: i64) {
        while let Some(&(at, count)) = self.runs.front() {
            if now - at < WINDOW_MS {
                break;
            }
            self.admitted -= u64::from(count);
            self.runs.pop_front();
        }
    }

    fn check(&mut self, limit: u32, now: i64) -> Decision {
        self.forget_before(now);
        let before = self.admitted;
        let allowed = before < u64::from(limit);
        if allowed {
            match self.runs.back_mut() {
                // A clock that stepped back joins the newest run, keeping the runs in order.
                Some((at, count)) if *at >= now => *count += 1,
                _ => self.runs.push_back((now, 1)),
            }
            self.admitted += 1;
        }
        let oldest = self.runs.front().map(|&(at, _)| at);
        Decision::new(limit, before, allowed, Decision::reset_after(oldest, now), now)
    }
}

impl Default for MemoryWindows {
    fn default() -> Self {
        Self { shards: std::array::from_fn(|_| Mutex::default()), hasher: Default::default() }
    }
}

impl MemoryWindows {
    /// Checks one request of `bucket` at this moment.
    pub fn check(&self, bucket: &str, limit: u32) -> Decision {
        self.check_at(bucket, limit, crate::app::now().0)
    }

    /// Checks one request of `bucket` at `now` (milliseconds since the epoch).
    pub fn check_at(&self, bucket: &str, limit: u32, now: i64) -> Decision {
        let mut shard = self.shard(bucket).lock().unwrap_or_else(|p| p.into_inner());
        // Only a key's first request allocates its name.
        match shard.get_mut(bucket) {
            Some(window) => window.check(limit, now),
            None => shard.entry(bucket.to_owned()).or_default().check(limit, now),
        }
    }

    /// Drops windows with no admission in the last minute; returns how many windows are left.
    pub fn sweep(&self, now: i64) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
                shard.retain(|_, window| {
                    window.forget_before(now);
                    window.admitted > 0
                });
                shard.len()
            })
            .sum()
    }

    fn shard(&self, bucket: &str) -> &Mutex<HashMap<String, Window>> {
        &self.shards[(self.hasher.hash_one(bucket) as usize) % SHARDS]
    }
}

#[async_trait]
impl Backend for MemoryWindows {
    async fn check(&self, bucket: &str, limit: u32) -> Result<Decision, BackendError> {
        Ok(MemoryWindows::check(self, bucket, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn admits_the_limit_then_refuses_without_recording() {
        let windows = MemoryWindows::default();
        for (i, expected_remaining) in [2, 1, 0].into_iter().enumerate() {
            let d = windows.check_at("k", 3, T0 + i as i64 * 1000);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            assert_eq!(d.reset_ms, WINDOW_MS - i as i64 * 1000, "counted from the oldest admission");
        }
        let refused = windows.check_at("k", 3, T0 + 10_000);
        assert!(!refused.allowed);
        assert_eq!((refused.remaining, refused.reset_ms), (0, 50_000));
        // Refusals are not recorded: once the first admission is a minute old, exactly one slot frees up.
        for _ in 0..100 {
            assert!(!windows.check_at("k", 3, T0 + 59_999).allowed);
        }
        let d = windows.check_at("k", 3, T0 + 60_000);
        assert!(d.allowed, "the oldest left the window at exactly 60 000 ms");
        assert_eq!(d.remaining, 0);
        assert!(!windows.check_at("k", 3, T0 + 60_001).allowed);
    }

    #[test]
    fn keys_are_independent_and_limits_change_at_once() {
        let windows = MemoryWindows::default();
        assert!(windows.check_at("a", 1, T0).allowed);
        assert!(!windows.check_at("a", 1, T0).allowed);
        assert!(windows.check_at("b", 1, T0).allowed);
        // A raised limit applies to the same window; a lowered one refuses until the window drains below it.
        let d = windows.check_at("a", 3, T0 + 1);
        assert!(d.allowed && d.remaining == 1);
        assert!(!windows.check_at("a", 1, T0 + 2).allowed);
    }

    #[test]
    fn many_requests_in_one_millisecond_take_one_entry() {
        let windows = MemoryWindows::default();
        for _ in 0..1000 {
            assert!(windows.check_at("k", 1_000_000, T0).allowed);
        }
        let shard = windows.shard("k").lock().expect("lock");
        let window = shard.get("k").expect("window");
        assert_eq!((window.runs.len(), window.admitted), (1, 1000));
    }

    #[test]
    fn sweep_drops_idle_windows_only() {
        let windows = MemoryWindows::default();
        windows.check_at("old", 5, T0);
        windows.check_at("recent", 5, T0 + 30_000);
        assert_eq!(windows.sweep(T0 + 59_999), 2);
        assert_eq!(windows.sweep(T0 + 60_000), 1);
        assert_eq!(windows.sweep(T0 + 90_000), 0);
        // A swept key starts afresh.
        assert_eq!(windows.check_at("old", 5, T0 + 90_000).remaining, 4);
    }
}
