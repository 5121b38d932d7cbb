//! What can go wrong talking to a gateway, with messages a person can act on.

use reqwest::StatusCode;

/// What went wrong talking to a gateway.
///
/// ```
/// use agentgate_client::{Error, StatusCode};
///
/// // What a 403 from the gateway looks like to a caller.
/// let err = Error::Api { status: StatusCode::FORBIDDEN, message: "Missing required scope: admin".into() };
/// assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
/// assert_eq!(err.to_string(), "403 Forbidden: Missing required scope: admin");
/// assert!(!err.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The gateway answered with an error status; `message` is its `{"error": …}` (or the raw body when it is
    /// not that shape).
    #[error("{status}: {message}")]
    Api { status: StatusCode, message: String },
    /// The gateway could not be reached, or the connection failed or timed out.
    #[error("{}", describe_transport(.0))]
    Transport(#[source] reqwest::Error),
    /// The gateway answered 2xx with a body that is not what this route returns (a different server, or a
    /// version mismatch).
    #[error("unexpected answer from the gateway: {0}")]
    Decode(String),
    /// The client was configured with something unusable (a base URL that is not http(s), a bad header).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying the same call again later might succeed: connection failures, timeouts, 5xx and 429.
    /// (The client already retries idempotent calls; this is for callers deciding about the others.)
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } => status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS,
            Self::Transport(e) => e.is_connect() || e.is_timeout(),
            Self::Decode(_) | Self::Config(_) => false,
        }
    }
}

/// `cannot reach the gateway at http://127.0.0.1:3000: connection refused`, and the like: the origin and the
/// root cause, without reqwest's chain of wrappers.
fn describe_transport(e: &reqwest::Error) -> String {
    let origin = e.url().map_or_else(|| "the configured URL".to_owned(), |u| u.origin().ascii_serialization());
    if e.is_timeout() {
        return format!("the gateway at {origin} did not answer in time");
    }
    let reason = root_cause(e);
    if e.is_connect() {
        format!("cannot reach the gateway at {origin}: {reason}")
    } else {
        format!("talking to the gateway at {origin} failed: {reason}")
    }
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut current: &dyn std::error::Error = e;
    let mut last = current.to_string();
    while let Some(source) = current.source() {
        if let Some(io) = source.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            let known = match io.kind() {
                ConnectionRefused => Some("connection refused"),
                ConnectionReset => Some("connection reset"),
                ConnectionAborted => Some("connection aborted"),
                TimedOut => Some("timed out"),
                AddrNotAvailable => Some("address not available"),
                HostUnreachable => Some("host unreachable"),
                NetworkUnreachable => Some("network unreachable"),
                _ => None,
            };
            return known.map_or_else(|| io.to_string(), str::to_owned);
        }
        last = source.to_string();
        current = source;
    }
    last
}
