//! Notification channels: Slack, Discord, e-mail and the webhook channel.
//!
//! A new pending request is routed ([`agentgate_core::routing`]) and one `request` notification per target is
//! written with it, in its transaction. When the request is decided or expires — through the API, a link, a
//! Slack or Discord button, or the expiry sweeper — the database adds an `outcome` notification for each of
//! those (see `store/channels.rs`), so every message posted is updated and every recipient told, whatever
//! decided it. [`spawn`] starts the worker that drains that outbox, on [`crate::outbox`]'s loop: claimed with a
//! lease, retried with the webhook backoff, every attempt in the delivery log.
//!
//! Slack and Discord API calls go to their configured base URLs (`SLACK_API_URL`, `DISCORD_API_URL`): operator
//! configuration, trusted like `DATABASE_URL`, so they do not go through the SSRF guard (which would refuse a
//! relay or a test double on a private address). URLs that come from policies and routes — `webhook:` targets
//! and Discord webhook URLs — are user-supplied and always go through [`crate::outbound::OutboundClient`].

pub mod discord;
pub mod email;
pub mod slack;

use crate::app::{SharedState, new_id, now};
use crate::auth::hash_key;
use crate::config::ChannelsConfig;
use crate::outbound::{OutboundClient, OutboundError};
use crate::outbox::{Claimed, Queue, WorkerStore};
use crate::store::channels::{ClaimedNotification, NewNotification, NotificationKind, NotificationResult};
use crate::store::{DecisionToken, MintOutcome, NewAudit, StoreResult};
use agentgate_core::Timestamp;
use agentgate_core::request::{RequestStatus, Urgency, Verdict};
use agentgate_core::routing::{ChannelKind, Occasion, route};
use agentgate_core::webhook::{AfterAttempt, DeliveryStatus, RetryPolicy};
use agentgate_core::wire::ApprovalRequest;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The actor of audit entries written for notifications (links minted for an e-mail).
pub const NOTIFIER_ACTOR: &str = "system:notifications";

/// How long an outcome waits before looking again for the message it updates, while that is still being sent.
const ORIGIN_WAIT: Duration = Duration::from_secs(2);
/// Most notifications attempted at once.
const CONCURRENCY: usize = 16;

/// The notifications announcing a new pending request: one per routed target.
pub fn notifications_for(
    config: &ChannelsConfig,
    rule_channels: Option<&[String]>,
    action: &str,
    urgency: Urgency,
) -> Vec<NewNotification> {
    let occasion = Occasion { event_type: agentgate_core::audit::event::REQUEST_CREATED, action, urgency };
    route(occasion, rule_channels.unwrap_or_default(), &config.routes, &config.defaults())
        .into_iter()
        .map(|t| NewNotification { id: format!("chn_{}", new_id()), channel: t.channel, target: t.target })
        .collect()
}

/// Why an attempt failed, and whether trying again could help.
#[derive(Debug)]
pub enum SendError {
    /// Worth retrying: a timeout, a 5xx, a rate limit, an API error that may pass.
    Transient(String),
    /// Retrying cannot help: the channel is not configured, the target is refused, the message it would update
    /// was never posted.
    Permanent(String),
}

impl SendError {
    fn message(&self) -> &str {
        match self {
            Self::Transient(m) | Self::Permanent(m) => m,
        }
    }
}

impl From<OutboundError> for SendError {
    fn from(e: OutboundError) -> Self {
        match e {
            OutboundError::Blocked(_) => Self::Permanent(e.to_string()),
            OutboundError::Failed(_) => Self::Transient(e.to_string()),
        }
    }
}

/// A successful send: where the message now lives (for later updates), when there is such a place.
pub type Sent = Option<Value>;

/// What a message shows about a request, with everything user-supplied still raw (each channel escapes it for
/// its own markup).
pub struct Summary<'a> {
    pub request: &'a ApprovalRequest,
    pub requested_by: Option<&'a str>,
    /// `DASHBOARD_URL/requests/<id>`, when configured.
    pub dashboard_link: Option<String>,
}

impl Summary<'_> {
    /// The agent and the key that asked: `context.agentId` and the creating actor, as far as known.
    pub fn who_asked(&self) -> String {
        let agent = self.request.context.get("agentId").and_then(Value::as_str);
        match (agent, self.requested_by) {
            (Some(agent), Some(actor)) => format!("{agent} (via {actor})"),
            (Some(agent), None) => agent.to_owned(),
            (None, Some(actor)) => actor.to_owned(),
            (None, None) => "unknown".to_owned(),
        }
    }

    pub fn params_json(&self, limit: usize) -> String {
        truncate(&serde_json::to_string_pretty(&self.request.params).unwrap_or_default(), limit)
    }

    /// The context as pretty JSON, or `None` when it is empty.
    pub fn context_json(&self, limit: usize) -> Option<String> {
        let empty = self.request.context.as_object().is_none_or(|o| o.is_empty());
        (!empty).then(|| truncate(&serde_json::to_string_pretty(&self.request.context).unwrap_or_default(), limit))
    }

    pub fn expires(&self) -> String {
        self.request.expires_at.map_or_else(|| "never".to_owned(), |t| t.to_iso())
    }

    /// One line on how the request ended, or `None` while pending (without the decider, which each channel
    /// shows in its own way).
    pub fn outcome_word(&self) -> Option<&'static str> {
        match self.request.status {
            RequestStatus::Pending => None,
            RequestStatus::Approved => Some("Approved"),
            RequestStatus::Denied => Some("Denied"),
            RequestStatus::Expired => Some("Expired"),
        }
    }
}

pub fn urgency_emoji(urgency: Urgency) -> &'static str {
    match urgency {
        Urgency::Critical => "🔴",
        Urgency::High => "🟠",
        Urgency::Normal => "🟡",
        Urgency::Low => "🟢",
    }
}

/// `text` cut to at most `limit` characters, with an ellipsis when cut.
pub fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Approve and deny links for one recipient (the confirmation pages of `/api/decide/<token>`).
pub struct DecisionLinks {
    pub approve: String,
    pub deny: String,
    pub expires_at: Timestamp,
}

/// Drains the channel outbox.
pub struct ChannelQueue {
    store: WorkerStore,
    config: ChannelsConfig,
    /// For the configured Slack and Discord APIs.
    api: reqwest::Client,
    /// For user-supplied URLs (webhook targets, Discord webhook URLs).
    outbound: OutboundClient,
    smtp: Option<email::Mailer>,
    retry: RetryPolicy,
    timeout: Duration,
    link_base: String,
    token_hours: u32,
    /// For the delivery metrics.
    state: SharedState,
}

/// Starts the notification worker on its own thread (see [`crate::outbox::spawn`]).
pub fn spawn(state: SharedState, stopped: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    crate::outbox::spawn(
        "notification-worker",
        state.store.clone(),
        move |store| {
            let config = &state.config;
            let timeout = config.webhook_timeout;
            Ok(ChannelQueue {
                store,
                api: api_client(timeout)?,
                outbound: OutboundClient::new(timeout, config.allow_private_webhooks)?,
                smtp: config.channels.smtp.as_ref().map(|smtp| email::Mailer::new(smtp, timeout)).transpose()?,
                config: config.channels.clone(),
                retry: state.deliverer.retry,
                timeout,
                link_base: link_base(config),
                token_hours: config.decision_token_expiry_hours,
                state: state.clone(),
            })
        },
        stopped,
    )
}

/// The client for the configured Slack and Discord APIs: timeouts, no redirects, no proxies.
pub fn api_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("AgentGate/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Where decision links point: `DECISION_LINK_BASE_URL`, else this host's port on localhost.
pub fn link_base(config: &crate::config::Config) -> String {
    config.decision_link_base_url.clone().unwrap_or_else(|| format!("http://localhost:{}", config.port))
}

impl Claimed for ClaimedNotification {
    fn seq(&self) -> i64 {
        self.seq
    }
    fn lease_until(&self) -> Timestamp {
        self.lease_until
    }
}

#[async_trait]
impl Queue for ChannelQueue {
    type Item = ClaimedNotification;
    type Outcome = NotificationResult;

    /// Commits only queue notifications when something routes them; otherwise polling is enough (a rule's own
    /// channel in a gateway with nothing configured waits at most a poll interval).
    async fn accepting(&self) -> bool {
        let c = &self.config;
        c.slack_bot_token.is_some() || c.discord_bot_token.is_some() || c.smtp.is_some() || !c.routes.is_empty()
    }
    fn concurrency(&self) -> usize {
        CONCURRENCY
    }
    fn attempt_timeout(&self) -> Duration {
        // Minting links and an SMTP exchange may each take up to the timeout.
        self.timeout * 3
    }
    async fn next_due(&self) -> StoreResult<Option<Timestamp>> {
        self.store.run(|store| async move { store.next_notification_due().await }).await
    }
    async fn claim(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> StoreResult<Vec<ClaimedNotification>> {
        self.store.run(move |store| async move { store.claim_notifications(now, lease_until, limit).await }).await
    }
    async fn attempt(self: Arc<Self>, item: ClaimedNotification) -> NotificationResult {
        let channel = item.channel;
        let result = self.attempt_one(item).await;
        // An outcome waiting for its original message attempted nothing: nothing to count.
        if result.attempt.is_some() {
            self.state.metrics.delivery_attempted(channel.as_str(), result.status);
        }
        result
    }
    async fn record(&self, outcomes: Vec<NotificationResult>) -> StoreResult<()> {
        self.store.run(|store| async move { store.record_notifications(outcomes).await }).await
    }
    async fn release(&self, claims: Vec<(i64, Timestamp)>, now: Timestamp) -> StoreResult<()> {
        self.store.run(move |store| async move { store.release_notifications(claims, now).await }).await
    }
}

impl ChannelQueue {
    async fn attempt_one(&self, item: ClaimedNotification) -> NotificationResult {
        let attempted_at = now();
        // An outcome updates what its request notification posted: while that is still on its way, wait (this
        // is no attempt); if it never went out, there is nothing to update.
        let origin_ref = match (&item.kind, &item.origin) {
            (NotificationKind::Outcome, Some(origin)) => match origin.status {
                DeliveryStatus::Pending => {
                    return NotificationResult {
                        seq: item.seq,
                        lease_until: item.lease_until,
                        attempt: None,
                        attempted_at,
                        duration_ms: 0,
                        error: None,
                        status: DeliveryStatus::Pending,
                        next_attempt_at: attempted_at.add_millis(ORIGIN_WAIT.as_millis() as i64),
                        message_ref: None,
                    };
                }
                DeliveryStatus::Failed => Err(SendError::Permanent("the original message was never sent".into())),
                DeliveryStatus::Success => Ok(origin.message_ref.as_deref().and_then(|r| serde_json::from_str(r).ok())),
            },
            _ => Ok(None),
        };
        let number = item.attempts + 1;
        let started = Instant::now();
        let sent = match origin_ref {
            Err(e) => Err(e),
            Ok(origin_ref) => self.send(&item, origin_ref).await,
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let (status, next_attempt_at, error) = match &sent {
            Ok(_) => (DeliveryStatus::Success, attempted_at, None),
            Err(e) => {
                let next = match e {
                    SendError::Permanent(_) => None,
                    SendError::Transient(_) => match self.retry.after_failure(number, rand::random::<f64>()) {
                        AfterAttempt::RetryIn(ms) => {
                            Some(attempted_at.add_millis(i64::try_from(ms).unwrap_or(i64::MAX)))
                        }
                        AfterAttempt::GiveUp | AfterAttempt::Succeeded => None,
                    },
                };
                tracing::warn!(
                    notification = %item.id,
                    request = %item.request.id,
                    channel = item.channel.as_str(),
                    kind = item.kind.as_str(),
                    attempt = number,
                    will_retry = next.is_some(),
                    error = e.message(),
                    "channel notification failed"
                );
                match next {
                    Some(at) => (DeliveryStatus::Pending, at, Some(e.message().to_owned())),
                    None => (DeliveryStatus::Failed, attempted_at, Some(e.message().to_owned())),
                }
            }
        };
        NotificationResult {
            seq: item.seq,
            lease_until: item.lease_until,
            attempt: Some(number),
            attempted_at,
            duration_ms,
            error,
            status,
            next_attempt_at,
            message_ref: sent.ok().flatten().map(|r| r.to_string()),
        }
    }

    async fn send(&self, item: &ClaimedNotification, origin_ref: Option<Value>) -> Result<Sent, SendError> {
        let summary = Summary {
            request: &item.request,
            requested_by: item.requested_by.as_deref(),
            dashboard_link: self
                .config
                .dashboard_url
                .as_ref()
                .map(|base| format!("{base}/requests/{}", item.request.id)),
        };
        let outcome = item.kind == NotificationKind::Outcome;
        match item.channel {
            ChannelKind::Slack => {
                let token =
                    self.config.slack_bot_token.as_deref().ok_or_else(|| not_configured("Slack", "SLACK_BOT_TOKEN"))?;
                let api = slack::SlackApi { http: &self.api, base: &self.config.slack_api_url, token };
                match (outcome, origin_ref) {
                    (false, _) => api.post(&item.target, &summary).await.map(Some),
                    (true, Some(origin)) => api.update(&origin, &summary).await.map(|()| None),
                    (true, None) => Err(SendError::Permanent("the original Slack message is unknown".into())),
                }
            }
            ChannelKind::Discord if discord::is_webhook_url(&item.target) => {
                let links = if outcome || item.request.status.is_terminal() {
                    None
                } else {
                    Some(
                        self.mint_links(&item.request, &format!("discord-webhook:{}", item.id), "Discord webhook")
                            .await?,
                    )
                };
                discord::post_webhook(&self.outbound, &item.target, &summary, links.as_ref()).await.map(|()| None)
            }
            ChannelKind::Discord => {
                let token = self
                    .config
                    .discord_bot_token
                    .as_deref()
                    .ok_or_else(|| not_configured("Discord", "DISCORD_BOT_TOKEN"))?;
                let api = discord::DiscordApi { http: &self.api, base: &self.config.discord_api_url, token };
                match (outcome, origin_ref) {
                    (false, _) => api.post(&item.target, &summary).await.map(Some),
                    (true, Some(origin)) => api.update(&origin, &summary).await.map(|()| None),
                    (true, None) => Err(SendError::Permanent("the original Discord message is unknown".into())),
                }
            }
            ChannelKind::Email => {
                let mailer = self.smtp.as_ref().ok_or_else(|| not_configured("E-mail", "SMTP_HOST and SMTP_FROM"))?;
                if outcome {
                    let thread = origin_ref.as_ref().and_then(|r| r["messageId"].as_str()).map(str::to_owned);
                    mailer.send_outcome(&item.target, &summary, thread.as_deref()).await.map(|()| None)
                } else {
                    let links = if item.request.status.is_terminal() {
                        None
                    } else {
                        Some(self.mint_links(&item.request, &format!("email:{}", item.target), &item.target).await?)
                    };
                    mailer.send_request(&item.target, &summary, links.as_ref()).await.map(Some)
                }
            }
            ChannelKind::Webhook => {
                let event = if outcome {
                    outcome_event(item.request.status)
                } else {
                    agentgate_core::audit::event::REQUEST_CREATED
                };
                let body = json!({
                    "event": event,
                    "timestamp": now(),
                    "eventId": item.id,
                    "source": "agentgate",
                    "data": { "request": item.request },
                });
                let headers = [("x-agentgate-event", event), ("x-agentgate-eventid", item.id.as_str())]
                    .into_iter()
                    .filter_map(|(name, value)| {
                        Some((
                            reqwest::header::HeaderName::from_static(name),
                            reqwest::header::HeaderValue::from_str(value).ok()?,
                        ))
                    })
                    .collect();
                let response =
                    self.outbound.post_json(&item.target, headers, bytes::Bytes::from(body.to_string())).await?;
                if response.is_success() {
                    Ok(None)
                } else {
                    Err(SendError::Transient(format!("HTTP {}", response.status)))
                }
            }
        }
    }

    /// Mints an approve/deny link pair for one recipient, known to approver checks as `identity` (and `name`).
    async fn mint_links(
        &self,
        request: &ApprovalRequest,
        identity: &str,
        name: &str,
    ) -> Result<DecisionLinks, SendError> {
        let created_at = now();
        let mut expires_at = created_at.add_millis(i64::from(self.token_hours) * 3_600_000);
        if let Some(request_expiry) = request.expires_at {
            expires_at = expires_at.min(request_expiry);
        }
        let secrets = [crate::http::new_link_secret(), crate::http::new_link_secret()];
        let token = |verdict: Verdict, secret: &str| DecisionToken {
            id: new_id(),
            request_id: request.id.clone(),
            verdict,
            token_hash: hash_key(secret),
            created_by: identity.to_owned(),
            created_by_name: name.to_owned(),
            created_at,
            expires_at,
            used_at: None,
        };
        let audit = NewAudit {
            id: new_id(),
            request_id: Some(request.id.clone()),
            event_type: agentgate_core::audit::VIEWED,
            actor: NOTIFIER_ACTOR.to_owned(),
            details: json!({ "event": "tokens_generated_for_notification", "recipient": identity, "expiresAt": expires_at }),
            created_at,
        };
        let tokens = [token(Verdict::Approved, &secrets[0]), token(Verdict::Denied, &secrets[1])];
        match self.store.run(|store| async move { store.insert_decision_tokens(tokens, audit).await }).await {
            Ok(MintOutcome::Minted) => Ok(DecisionLinks {
                approve: format!("{}/api/decide/{}", self.link_base, secrets[0]),
                deny: format!("{}/api/decide/{}", self.link_base, secrets[1]),
                expires_at,
            }),
            // Decided meanwhile: the message goes out without links (its outcome follows).
            Ok(MintOutcome::NotPending(_) | MintOutcome::NotFound) => {
                Err(SendError::Transient("the request was decided while its links were made".into()))
            }
            Err(e) => Err(SendError::Transient(format!("cannot mint decision links: {e}"))),
        }
    }
}

fn not_configured(channel: &str, variables: &str) -> SendError {
    SendError::Permanent(format!("{channel} is not configured (set {variables})"))
}

fn outcome_event(status: RequestStatus) -> &'static str {
    use agentgate_core::audit::event;
    match status {
        RequestStatus::Expired => event::REQUEST_EXPIRED,
        _ => event::REQUEST_DECIDED,
    }
}

/// How a decider is shown: a Slack or Discord user by their id (each channel mentions them its own way), anyone
/// else by their actor string.
pub enum Decider<'a> {
    Slack(&'a str),
    Discord(&'a str),
    Other(&'a str),
}

impl<'a> Decider<'a> {
    pub fn of(request: &'a ApprovalRequest) -> Option<Self> {
        let by = request.decided_by.as_deref()?;
        let id_like = |id: &str| !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric());
        Some(match by.split_once(':') {
            Some(("slack", id)) if id_like(id) => Self::Slack(id),
            Some(("discord", id)) if id_like(id) => Self::Discord(id),
            _ => Self::Other(by),
        })
    }
}
