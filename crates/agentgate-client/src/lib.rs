//! A Rust client for the AgentGate HTTP API: the SDK that the `agentgate` command line and Rust agents use.
//!
//! Every route of the API has a typed method; requests and answers are the types of [`wire`]. Errors carry the
//! gateway's status and message ([`Error`]). Idempotent calls (GET, PUT, DELETE) are retried on connection
//! failures, 5xx and 429 with exponential backoff and jitter, honouring `Retry-After`; creating and deciding
//! requests are never retried, so a retry can never ask twice.
//!
//! An agent asks for approval, waits for a person, and acts only if approved:
//!
//! ```no_run
//! # async fn demo() -> Result<(), agentgate_client::Error> {
//! use agentgate_client::{Client, WaitOptions};
//! use agentgate_client::wire::{CreateRequest, RequestStatus};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! let client = Client::builder("http://127.0.0.1:3000").api_key("agk_...").build()?;
//! let request = client
//!     .create_request(&CreateRequest {
//!         action: "deploy".into(),
//!         params: Some(json!({"version": "2.1.0"})),
//!         ..Default::default()
//!     })
//!     .await?;
//! // Returns as soon as someone decides (or the request expires), or as it is after ten minutes.
//! let request = client.wait_for_decision(&request.id, &WaitOptions::within(Duration::from_secs(600))).await?;
//! if request.status == RequestStatus::Approved {
//!     println!("deploying 2.1.0");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Building a client needs no server, so this one runs as a test:
//!
//! ```
//! use agentgate_client::{Client, Error};
//! use std::time::Duration;
//!
//! let client = Client::builder("http://127.0.0.1:3000/")
//!     .api_key("agk_example")
//!     .timeout(Duration::from_secs(10))
//!     .retries(5)
//!     .build()?;
//! assert_eq!(client.base_url(), "http://127.0.0.1:3000");
//!
//! // Only http(s) gateways.
//! let err = Client::builder("ftp://example.com").build().unwrap_err();
//! assert!(matches!(err, Error::Config(_)), "{err}");
//! # Ok::<(), Error>(())
//! ```
//!
//! `examples/agent.rs` is a complete agent (`cargo run -p agentgate-client --example agent`).

mod error;
mod retry;
mod wait;

use agentgate_core::request::{RequestStatus, Urgency, Verdict};
use agentgate_core::webhook::DeliveryStatus;
use agentgate_core::wire::{
    Ack, ApiKey, ApiKeyList, ApprovalRequest, AuditActions, AuditActors, AuditEntry, AuditList, Backtest,
    BacktestInput, CreateApiKey, CreateOverride, CreateRequest, CreateWebhook, CreatedApiKey, CreatedWebhook,
    DecideRequest, DecisionLinks, DeliveryList, ErrorBody, Health, Override, OverrideList, Policy, PolicyList,
    ReplayedDelivery, RequestList, Simulation, UpdateApiKey, UpdateWebhook, UpdatedApiKey, UpdatedWebhook, Webhook,
    WebhookDetail, WebhookList, WebhookTestResult,
};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

pub use error::Error;
pub use reqwest::StatusCode;
pub use retry::Backoff;
pub use wait::WaitOptions;

/// The JSON shapes of the API ([`agentgate_core::wire`]), plus the enums they use.
pub mod wire {
    pub use agentgate_core::policy::{DecisionType, Rule, RuleMiss};
    pub use agentgate_core::request::{RequestStatus, Urgency, Verdict};
    pub use agentgate_core::timestamp::Timestamp;
    pub use agentgate_core::wire::*;
}

/// Default time one HTTP call may take (long polls add their own wait on top).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of retries of an idempotent call.
pub const DEFAULT_RETRIES: u32 = 2;

/// Filters for [`Client::list_requests`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RequestStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    /// At most 100; the server's default is 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// A page of a list without other filters ([`Client::list_policies`]).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Page {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// Filters for [`Client::list_audit`] (all optional; `from`/`to` take an ISO-8601 timestamp or a date).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RequestStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// Filters for [`Client::webhook_deliveries`].
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DeliveryFilter {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "delivery_status")]
    pub status: Option<DeliveryStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

fn delivery_status<S: serde::Serializer>(status: &Option<DeliveryStatus>, s: S) -> Result<S::Ok, S::Error> {
    match status {
        Some(status) => s.serialize_str(status.as_str()),
        None => s.serialize_none(),
    }
}

/// Configures a [`Client`]: `Client::builder(url).api_key(k).timeout(d).retries(n).build()`.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    api_key: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    retries: u32,
    backoff: Backoff,
}

impl ClientBuilder {
    /// The bearer key sent with every call (`agk_…`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.api_key = (!key.is_empty()).then_some(key);
        self
    }

    /// Longest one HTTP call may take ([`DEFAULT_TIMEOUT`]); a long poll gets its own wait on top of this.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longest a connection may take to open (5 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often an idempotent call (GET, PUT, DELETE) is tried again after a connection failure, a 5xx or a
    /// 429 ([`DEFAULT_RETRIES`]; 0 turns retries off). Creating and deciding requests are never retried.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The delays between retries.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let base_url = self.base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "the gateway URL must start with http:// or https://, got {base_url:?}"
            )));
        }
        reqwest::Url::parse(&base_url).map_err(|e| Error::Config(format!("the gateway URL {base_url:?}: {e}")))?;
        #[cfg(feature = "rustls")]
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Another thread may install one at the same moment; either provider will do.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("agentgate-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client {
            http,
            base_url,
            api_key: self.api_key,
            timeout: self.timeout,
            retries: self.retries,
            backoff: self.backoff,
        })
    }
}

/// A client for one gateway. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    timeout: Duration,
    retries: u32,
    backoff: Backoff,
}

impl Client {
    /// A client for the gateway at `base_url` (e.g. `http://127.0.0.1:3000`), authenticating with `api_key`,
    /// with the default timeout and retries. [`Client::builder`] configures more.
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, Error> {
        Self::builder(base_url).api_key(api_key).build()
    }

    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(5),
            retries: DEFAULT_RETRIES,
            backoff: Backoff::default(),
        }
    }

    /// The gateway's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    // ---- Requests ------------------------------------------------------------------------------------------

    /// Asks for approval of an action (`POST /api/requests`). The answer says whether a policy decided it at
    /// once (`status` approved or denied, `policyDecision`) or it waits for a person (`pending`). Never retried.
    pub async fn create_request(&self, request: &CreateRequest) -> Result<ApprovalRequest, Error> {
        self.call(Method::POST, "/api/requests", NO_QUERY, Some(request)).await
    }

    pub async fn get_request(&self, id: &str) -> Result<ApprovalRequest, Error> {
        self.call(Method::GET, &format!("/api/requests/{}", encode(id)), NO_QUERY, NO_BODY).await
    }

    /// Requests, newest first.
    pub async fn list_requests(&self, filter: &ListFilter) -> Result<RequestList, Error> {
        self.call(Method::GET, "/api/requests", Some(filter), NO_BODY).await
    }

    /// Approves or denies a pending request. The gateway records this client's key as the decider. Never
    /// retried: a 409 says the request was already decided (or expired).
    pub async fn decide(&self, id: &str, verdict: Verdict, reason: Option<&str>) -> Result<ApprovalRequest, Error> {
        let body = DecideRequest { decision: verdict, reason: reason.map(str::to_owned), decided_by: None };
        self.call(Method::POST, &format!("/api/requests/{}/decide", encode(id)), NO_QUERY, Some(&body)).await
    }

    /// The audit trail of one request, oldest first.
    pub async fn request_audit(&self, id: &str) -> Result<Vec<AuditEntry>, Error> {
        self.call(Method::GET, &format!("/api/requests/{}/audit", encode(id)), NO_QUERY, NO_BODY).await
    }

    /// Mints a one-click approve link and deny link for a pending request (single-use, expiring).
    pub async fn decision_links(&self, id: &str) -> Result<DecisionLinks, Error> {
        self.call(Method::POST, &format!("/api/requests/{}/tokens", encode(id)), NO_QUERY, NO_BODY).await
    }

    // ---- Policies ------------------------------------------------------------------------------------------

    /// Policies in evaluation order (ascending priority).
    pub async fn list_policies(&self, page: &Page) -> Result<PolicyList, Error> {
        self.call(Method::GET, "/api/policies", Some(page), NO_BODY).await
    }

    pub async fn get_policy(&self, id: &str) -> Result<Policy, Error> {
        self.call(Method::GET, &format!("/api/policies/{}", encode(id)), NO_QUERY, NO_BODY).await
    }

    /// Creates a policy from a [`wire::PolicyInput`], or from any JSON of that shape (e.g. read from a file):
    /// the gateway validates it and its 400 names the offending place (`rules[0].match.amount: …`).
    pub async fn create_policy<P: Serialize + ?Sized>(&self, policy: &P) -> Result<Policy, Error> {
        self.call(Method::POST, "/api/policies", NO_QUERY, Some(policy)).await
    }

    /// Replaces a policy (`PUT`; its `version` goes up by one).
    pub async fn replace_policy<P: Serialize + ?Sized>(&self, id: &str, policy: &P) -> Result<Policy, Error> {
        self.call(Method::PUT, &format!("/api/policies/{}", encode(id)), NO_QUERY, Some(policy)).await
    }

    pub async fn delete_policy(&self, id: &str) -> Result<Ack, Error> {
        self.call(Method::DELETE, &format!("/api/policies/{}", encode(id)), NO_QUERY, NO_BODY).await
    }

    /// What the engine would decide for a request (or several), against the stored policies or a draft set
    /// ([`wire::SimulateInput`], or JSON of that shape). Nothing is stored.
    pub async fn simulate_policies<S: Serialize + ?Sized>(&self, input: &S) -> Result<Simulation, Error> {
        self.call(Method::POST, "/api/policies/simulate", NO_QUERY, Some(input)).await
    }

    /// How a draft policy set would have decided the stored requests, against what was decided.
    pub async fn backtest_policies(&self, input: &BacktestInput) -> Result<Backtest, Error> {
        self.call(Method::POST, "/api/policies/backtest", NO_QUERY, Some(input)).await
    }

    // ---- Overrides -----------------------------------------------------------------------------------------

    pub async fn list_overrides(&self) -> Result<OverrideList, Error> {
        self.call(Method::GET, "/api/overrides", NO_QUERY, NO_BODY).await
    }

    /// For a while, an agent's matching actions need a person even when a policy would approve them.
    pub async fn create_override(&self, input: &CreateOverride) -> Result<Override, Error> {
        self.call(Method::POST, "/api/overrides", NO_QUERY, Some(input)).await
    }

    pub async fn delete_override(&self, id: &str) -> Result<Ack, Error> {
        self.call(Method::DELETE, &format!("/api/overrides/{}", encode(id)), NO_QUERY, NO_BODY).await
    }

    // ---- API keys ------------------------------------------------------------------------------------------

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, Error> {
        let list: ApiKeyList = self.call(Method::GET, "/api/keys", NO_QUERY, NO_BODY).await?;
        Ok(list.keys)
    }

    /// Creates a key; the answer holds its secret, shown only this once.
    pub async fn create_key(&self, input: &CreateApiKey) -> Result<CreatedApiKey, Error> {
        self.call(Method::POST, "/api/keys", NO_QUERY, Some(input)).await
    }

    /// Changes a key's name, scopes or rate limit (`PATCH`, so never retried).
    pub async fn update_key(&self, id: &str, patch: &UpdateApiKey) -> Result<ApiKey, Error> {
        let updated: UpdatedApiKey =
            self.call(Method::PATCH, &format!("/api/keys/{}", encode(id)), NO_QUERY, Some(patch)).await?;
        Ok(updated.key)
    }

    /// Revokes a key: it stops working at once.
    pub async fn revoke_key(&self, id: &str) -> Result<Ack, Error> {
        self.call(Method::DELETE, &format!("/api/keys/{}", encode(id)), NO_QUERY, NO_BODY).await
    }

    // ---- Webhooks ------------------------------------------------------------------------------------------

    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, Error> {
        let list: WebhookList = self.call(Method::GET, "/api/webhooks", NO_QUERY, NO_BODY).await?;
        Ok(list.webhooks)
    }

    /// One webhook with its most recent deliveries.
    pub async fn get_webhook(&self, id: &str) -> Result<WebhookDetail, Error> {
        self.call(Method::GET, &format!("/api/webhooks/{}", encode(id)), NO_QUERY, NO_BODY).await
    }

    /// Subscribes an endpoint; the answer holds the signing secret, shown only this once.
    pub async fn create_webhook(&self, input: &CreateWebhook) -> Result<CreatedWebhook, Error> {
        self.call(Method::POST, "/api/webhooks", NO_QUERY, Some(input)).await
    }

    /// Changes a webhook's URL, events or whether it is enabled (`PATCH`, so never retried).
    pub async fn update_webhook(&self, id: &str, patch: &UpdateWebhook) -> Result<Webhook, Error> {
        let updated: UpdatedWebhook =
            self.call(Method::PATCH, &format!("/api/webhooks/{}", encode(id)), NO_QUERY, Some(patch)).await?;
        Ok(updated.webhook)
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<Ack, Error> {
        self.call(Method::DELETE, &format!("/api/webhooks/{}", encode(id)), NO_QUERY, NO_BODY).await
    }

    /// Sends a signed test event now and reports the receiver's answer.
    pub async fn test_webhook(&self, id: &str) -> Result<WebhookTestResult, Error> {
        self.call(Method::POST, &format!("/api/webhooks/{}/test", encode(id)), NO_QUERY, NO_BODY).await
    }

    /// A webhook's delivery log, newest first, with every attempt.
    pub async fn webhook_deliveries(&self, id: &str, filter: &DeliveryFilter) -> Result<DeliveryList, Error> {
        self.call(Method::GET, &format!("/api/webhooks/{}/deliveries", encode(id)), Some(filter), NO_BODY).await
    }

    /// Queues a finished delivery again (same body, a new delivery id).
    pub async fn replay_delivery(&self, delivery_id: &str) -> Result<ReplayedDelivery, Error> {
        let path = format!("/api/webhooks/deliveries/{}/replay", encode(delivery_id));
        self.call(Method::POST, &path, NO_QUERY, NO_BODY).await
    }

    // ---- Audit ---------------------------------------------------------------------------------------------

    /// The whole audit trail, newest first.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<AuditList, Error> {
        self.call(Method::GET, "/api/audit", Some(filter), NO_BODY).await
    }

    /// The distinct actions in the audit trail.
    pub async fn audit_actions(&self) -> Result<Vec<String>, Error> {
        let answer: AuditActions = self.call(Method::GET, "/api/audit/actions", NO_QUERY, NO_BODY).await?;
        Ok(answer.actions)
    }

    /// The distinct actors in the audit trail (`key:<id>`, `policy`, `system:expiry`, …).
    pub async fn audit_actors(&self) -> Result<Vec<String>, Error> {
        let answer: AuditActors = self.call(Method::GET, "/api/audit/actors", NO_QUERY, NO_BODY).await?;
        Ok(answer.actors)
    }

    // ---- Health --------------------------------------------------------------------------------------------

    /// `GET /health` (public); `deep` also checks the database.
    pub async fn health(&self, deep: bool) -> Result<Health, Error> {
        let query = deep.then_some([("deep", "true")]);
        self.call(Method::GET, "/health", query.as_ref(), NO_BODY).await
    }

    // ---- Transport -----------------------------------------------------------------------------------------

    async fn call<T, Q, B>(&self, method: Method, path: &str, query: Option<&Q>, body: Option<&B>) -> Result<T, Error>
    where
        T: DeserializeOwned,
        Q: Serialize + ?Sized,
        B: Serialize + ?Sized,
    {
        let bytes = self.send(method, path, query, body, self.timeout).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode(format!("{path}: {e}")))
    }

    /// Sends one call, retrying idempotent ones; returns the body of a 2xx answer.
    async fn send<Q, B>(
        &self,
        method: Method,
        path: &str,
        query: Option<&Q>,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<bytes::Bytes, Error>
    where
        Q: Serialize + ?Sized,
        B: Serialize + ?Sized,
    {
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        let mut builder = self.http.request(method, format!("{}{path}", self.base_url)).timeout(timeout);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        if let Some(query) = query {
            builder = builder.query(query);
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let request = builder.build().map_err(|e| Error::Config(e.to_string()))?;
        let attempts = if idempotent { self.retries.saturating_add(1) } else { 1 };
        let mut attempt = 1;
        loop {
            let this_try = request.try_clone().ok_or_else(|| Error::Config("request body cannot be resent".into()))?;
            let last = attempt >= attempts;
            match self.http.execute(this_try).await {
                Err(e) if !last && (e.is_connect() || e.is_timeout()) => {
                    tokio::time::sleep(self.backoff.delay(attempt, None)).await;
                }
                Err(e) => return Err(Error::Transport(e)),
                Ok(res) => {
                    let status = res.status();
                    if !last && (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS) {
                        let retry_after = retry::retry_after(res.headers());
                        tokio::time::sleep(self.backoff.delay(attempt, retry_after)).await;
                    } else {
                        let bytes = res.bytes().await.map_err(Error::Transport)?;
                        if status.is_success() {
                            return Ok(bytes);
                        }
                        return Err(api_error(status, &bytes));
                    }
                }
            }
            attempt += 1;
        }
    }
}

const NO_QUERY: Option<&()> = None;
const NO_BODY: Option<&()> = None;

/// An error answer: the `error` field of `{"error": …}`, or the body as text.
fn api_error(status: StatusCode, bytes: &[u8]) -> Error {
    let message = serde_json::from_slice::<ErrorBody>(bytes)
        .map(|b| b.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).trim().chars().take(500).collect());
    let message = if message.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { message };
    Error::Api { status, message }
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
        assert!(Client::new("http://", "k").is_err());
        let client = Client::new("http://127.0.0.1:3000/", "k").expect("valid");
        assert_eq!(client.base_url(), "http://127.0.0.1:3000");
    }

    #[test]
    fn error_answers_keep_the_servers_message() {
        let err = api_error(StatusCode::NOT_FOUND, br#"{"error":"Request not found"}"#);
        assert!(matches!(&err, Error::Api { message, .. } if message == "Request not found"), "{err}");
        let err = api_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert!(matches!(&err, Error::Api { message, .. } if message == "<html>bad gateway</html>"), "{err}");
        let err = api_error(StatusCode::SERVICE_UNAVAILABLE, b"");
        assert!(matches!(&err, Error::Api { message, .. } if message == "Service Unavailable"), "{err}");
        assert!(err.is_retryable());
    }

    #[test]
    fn filters_serialise_as_the_servers_query_names() {
        let filter =
            AuditFilter { event_type: Some("approved".into()), request_id: Some("r1".into()), ..Default::default() };
        assert_eq!(serde_urlencoded_like(&filter), r#"{"eventType":"approved","requestId":"r1"}"#);
        let filter = DeliveryFilter { status: Some(DeliveryStatus::Failed), limit: Some(5), offset: None };
        assert_eq!(serde_urlencoded_like(&filter), r#"{"status":"failed","limit":5}"#);
    }

    fn serde_urlencoded_like(value: &impl Serialize) -> String {
        serde_json::to_string(value).expect("serialises")
    }
}
