//! A Rust client for the AgentGate HTTP API: the SDK that the CLI, the MCP server and Rust agents use.
//!
//! ```no_run
//! # async fn demo() -> Result<(), agentgate_client::Error> {
//! use agentgate_client::Client;
//! use agentgate_core::wire::CreateRequest;
//!
//! let client = Client::new("http://127.0.0.1:3000", "agk_...")?;
//! let request = client
//!     .create_request(&CreateRequest { action: "send_email".into(), ..Default::default() })
//!     .await?;
//! println!("{} is {}", request.id, request.status);
//! # Ok(())
//! # }
//! ```

use agentgate_core::request::{RequestStatus, Urgency, Verdict};
use agentgate_core::wire::{ApprovalRequest, AuditEntry, CreateRequest, DecideRequest, ErrorBody, RequestList};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

pub use agentgate_core::wire;

/// What went wrong talking to a gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway answered with an error status; `message` is its `error` field.
    #[error("{status}: {message}")]
    Api { status: StatusCode, message: String },
    /// The gateway could not be reached, or the connection failed.
    #[error("cannot reach the gateway: {0}")]
    Transport(#[from] reqwest::Error),
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
}

/// Filters for [`Client::list_requests`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RequestStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
}

impl Client {
    /// A client for the gateway at `base_url` (e.g. `http://127.0.0.1:3000`), authenticating with `api_key`.
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::Config(format!("base URL must start with http:// or https://, got {base_url:?}")));
        }
        Ok(Self { http, base_url, api_key: api_key.to_owned() })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Option<&(impl Serialize + ?Sized)>,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, Error> {
        let mut req = self.http.request(method, format!("{}{path}", self.base_url)).bearer_auth(&self.api_key);
        if let Some(query) = query {
            req = req.query(query);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await?;
        let status = res.status();
        if status.is_success() {
            return Ok(res.json().await?);
        }
        let bytes = res.bytes().await.unwrap_or_default();
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_owned());
        Err(Error::Api { status, message })
    }

    /// Asks for approval of an action.
    pub async fn create_request(&self, request: &CreateRequest) -> Result<ApprovalRequest, Error> {
        self.send(Method::POST, "/api/requests", None::<&()>, Some(request)).await
    }

    pub async fn get_request(&self, id: &str) -> Result<ApprovalRequest, Error> {
        self.send(Method::GET, &format!("/api/requests/{}", encode(id)), None::<&()>, None::<&()>).await
    }

    pub async fn list_requests(&self, filter: &ListFilter) -> Result<RequestList, Error> {
        self.send(Method::GET, "/api/requests", Some(filter), None::<&()>).await
    }

    /// Approves or denies a pending request. The gateway records this client's key as the decider.
    pub async fn decide(&self, id: &str, verdict: Verdict, reason: Option<&str>) -> Result<ApprovalRequest, Error> {
        let body = DecideRequest { decision: verdict, reason: reason.map(str::to_owned), decided_by: None };
        self.send(Method::POST, &format!("/api/requests/{}/decide", encode(id)), None::<&()>, Some(&body)).await
    }

    /// The audit trail of one request, oldest first.
    pub async fn request_audit(&self, id: &str) -> Result<Vec<AuditEntry>, Error> {
        self.send(Method::GET, &format!("/api/requests/{}/audit", encode(id)), None::<&()>, None::<&()>).await
    }
}

/// Percent-encodes an id for use as one path segment.
fn encode(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_as_one_segment() {
        assert_eq!(encode("01ABC"), "01ABC");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn base_url_must_be_http() {
        assert!(Client::new("ftp://x", "k").is_err());
        assert!(Client::new("http://127.0.0.1:3000/", "k").is_ok());
    }
}
