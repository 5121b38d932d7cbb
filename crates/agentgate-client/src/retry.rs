//! When to try an idempotent call again: exponential backoff with jitter, or what `Retry-After` asks for.

use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// The longest `Retry-After` that is honoured; a longer one is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Delays between retries: `base × 2^(n-1)` before the n-th retry, at most `max`, each scaled by a random factor
/// in [½, 1] so that clients that failed together do not retry together.
///
/// ```
/// use agentgate_client::Backoff;
/// use std::time::Duration;
///
/// let backoff = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(1) };
/// let third = backoff.delay(3, None);
/// assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
/// // Retry-After wins over the schedule.
/// assert_eq!(backoff.delay(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_millis(250), max: Duration::from_secs(10) }
    }
}

impl Backoff {
    /// How long to wait before retry number `retry` (from 1); `retry_after` is the server's `Retry-After`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(MAX_RETRY_AFTER);
        }
        let exponent = retry.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1 << exponent).min(self.max);
        full.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// `Retry-After` as a delay: whole seconds, or an HTTP date (a date in the past means now).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let backoff = Backoff { base: Duration::from_millis(100), max: Duration::from_millis(500) };
        for retry in 1..40 {
            let full = Duration::from_millis(100 * (1u64 << (retry - 1).min(20))).min(Duration::from_millis(500));
            let delay = backoff.delay(retry, None);
            assert!(delay >= full / 2 && delay <= full, "retry {retry}: {delay:?} against {full:?}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_is_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).expect("header"));
        assert!(retry_after(&headers).is_some_and(|d| d > Duration::from_secs(3000)));
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(1, retry_after(&headers)), MAX_RETRY_AFTER);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
