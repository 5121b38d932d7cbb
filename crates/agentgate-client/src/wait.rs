//! Waiting for a decision: long polls (`GET /api/requests/:id/wait`) one after another until the caller's
//! deadline, or plain polling with backoff against a gateway that has no long-poll route.

use crate::{Client, Error, NO_BODY, encode};
use agentgate_core::wire::ApprovalRequest;
use reqwest::{Method, StatusCode};
use std::time::Duration;
use tokio::time::Instant;

/// The server holds one long poll for at most this long.
const MAX_POLL: Duration = Duration::from_secs(60);

/// How [`Client::wait_for_decision`] waits.
///
/// ```
/// use agentgate_client::WaitOptions;
/// use std::time::Duration;
///
/// let options = WaitOptions::within(Duration::from_secs(120));
/// assert_eq!(options.timeout, Duration::from_secs(120));
/// assert_eq!(options.poll_timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    /// How long to wait in all. When it passes, the request is returned as it is then (still `pending`).
    pub timeout: Duration,
    /// Longest single long poll (the gateway allows 60 s; rounded up to whole seconds).
    pub poll_timeout: Duration,
    /// Against a gateway without the long-poll route: the first delay between polls, doubled after each poll up
    /// to `max_poll_interval`.
    pub poll_interval: Duration,
    pub max_poll_interval: Duration,
}

impl Default for WaitOptions {
    /// Five minutes in all, in long polls of 30 s.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            poll_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(10),
        }
    }
}

impl WaitOptions {
    /// The defaults, with `timeout` in all.
    pub fn within(timeout: Duration) -> Self {
        Self { timeout, ..Self::default() }
    }
}

impl Client {
    /// Waits until a request is decided or expires, and returns it; when `options.timeout` passes first, returns
    /// it as it is then, still `pending` (so check `status`: only `approved` means go ahead).
    ///
    /// Each long poll returns the moment the gateway records a decision; polls follow one another until the
    /// deadline. Against an older gateway that answers 404 for the long-poll route, it polls the request
    /// instead, backing off from `poll_interval` to `max_poll_interval`. Transient failures of a poll are
    /// retried like any GET; an unknown id is an [`Error::Api`] 404.
    pub async fn wait_for_decision(&self, id: &str, options: &WaitOptions) -> Result<ApprovalRequest, Error> {
        let deadline = Instant::now() + options.timeout;
        let poll = options.poll_timeout.clamp(Duration::from_secs(1), MAX_POLL);
        let path = format!("/api/requests/{}/wait", encode(id));
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let seconds = remaining.min(poll).as_secs_f64().ceil() as u64;
            let query = [("timeout", seconds)];
            let timeout = self.timeout + Duration::from_secs(seconds);
            match self.send(Method::GET, &path, Some(&query), NO_BODY, timeout).await {
                Ok(bytes) => {
                    let request: ApprovalRequest =
                        serde_json::from_slice(&bytes).map_err(|e| Error::Decode(format!("{path}: {e}")))?;
                    if request.status.is_terminal() || Instant::now() >= deadline {
                        return Ok(request);
                    }
                }
                Err(Error::Api { status: StatusCode::NOT_FOUND, .. }) => {
                    // Either the request is unknown (this GET fails with the same 404) or the route is.
                    let request = self.get_request(id).await?;
                    return self.poll_for_decision(request, deadline, options).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn poll_for_decision(
        &self,
        mut request: ApprovalRequest,
        deadline: Instant,
        options: &WaitOptions,
    ) -> Result<ApprovalRequest, Error> {
        let mut interval = options.poll_interval.max(Duration::from_millis(10));
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if request.status.is_terminal() || remaining.is_zero() {
                return Ok(request);
            }
            tokio::time::sleep(interval.min(remaining)).await;
            interval = interval.saturating_mul(2).min(options.max_poll_interval.max(interval));
            request = self.get_request(&request.id).await?;
        }
    }
}
