//! Webhook rules: which events a subscription may name, and when a failed delivery is tried again.

use crate::audit::event;

/// Every event a webhook may subscribe to; `*` subscribes to all of them.
pub const EVENTS: [&str; 5] = [
    event::REQUEST_CREATED,
    event::REQUEST_APPROVED,
    event::REQUEST_DENIED,
    event::REQUEST_DECIDED,
    event::REQUEST_EXPIRED,
];
pub const ALL_EVENTS: &str = "*";

/// The event name of a delivery made by `POST /api/webhooks/:id/test`.
pub const TEST_EVENT: &str = "test";

/// Checks a subscription list: non-empty, every name known (or `*`). Returns it without duplicates, in order.
pub fn parse_events<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut events: Vec<String> = Vec::new();
    for name in names {
        if name != ALL_EVENTS && !EVENTS.contains(&name) {
            return Err(format!("unknown event {name:?}; events must be among: *, {}", EVENTS.join(", ")));
        }
        if !events.iter().any(|e| e == name) {
            events.push(name.to_owned());
        }
    }
    if events.is_empty() {
        return Err("events must be a non-empty array".into());
    }
    Ok(events)
}

/// The lifecycle of one delivery: `pending` until it succeeds or its attempts run out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Success,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pending" => Ok(Self::Pending),
            "success" => Ok(Self::Success),
            "failed" => Ok(Self::Failed),
            _ => Err(()),
        }
    }
}

/// How delivery attempts are retried: `2^attempts × base` after the `attempts`-th failure, plus a random jitter
/// below `base` (chosen by the caller, so this stays pure), up to `max_retries` retries after the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_ms: u64,
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Succeeded,
    /// Try again this many milliseconds from now.
    RetryIn(u64),
    GiveUp,
}

impl RetryPolicy {
    /// `attempts` counts the attempt just made (1 for the first). `jitter` is a fraction in `[0, 1)`.
    pub fn after_failure(&self, attempts: u32, jitter: f64) -> AfterAttempt {
        if attempts > self.max_retries {
            return AfterAttempt::GiveUp;
        }
        let backoff = self.base_ms.saturating_mul(1u64 << attempts.min(32));
        let jitter = (self.base_ms as f64 * jitter.clamp(0.0, 1.0)) as u64;
        AfterAttempt::RetryIn(backoff.saturating_add(jitter.min(self.base_ms.saturating_sub(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_name_known_events() {
        assert_eq!(parse_events(["request.created", "*", "request.created"]).expect("ok"), ["request.created", "*"]);
        assert!(parse_events(["request.escalated"]).expect_err("unknown").contains("request.escalated"));
        assert!(parse_events([]).is_err());
    }

    #[test]
    fn backoff_doubles_from_the_base_and_stops_after_the_retries() {
        let policy = RetryPolicy { max_retries: 3, base_ms: 1000 };
        assert_eq!(policy.after_failure(1, 0.0), AfterAttempt::RetryIn(2000));
        assert_eq!(policy.after_failure(2, 0.0), AfterAttempt::RetryIn(4000));
        assert_eq!(policy.after_failure(3, 0.5), AfterAttempt::RetryIn(8500));
        assert_eq!(policy.after_failure(3, 0.99999), AfterAttempt::RetryIn(8999));
        assert_eq!(policy.after_failure(4, 0.0), AfterAttempt::GiveUp);
        assert_eq!(RetryPolicy { max_retries: 0, base_ms: 1000 }.after_failure(1, 0.0), AfterAttempt::GiveUp);
        let huge = RetryPolicy { max_retries: 100, base_ms: u64::MAX / 2 };
        assert!(matches!(huge.after_failure(60, 0.0), AfterAttempt::RetryIn(_)));
    }
}
