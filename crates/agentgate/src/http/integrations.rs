//! Slack and Discord interactions (button clicks), and a request's notification log.
//!
//! The interaction endpoints are outside bearer authentication: each request is authenticated by its signature,
//! checked over the raw body before anything is parsed. A click decides through the one decision function as
//! `slack:<user id>` / `discord:<user id>`, so a rule's `approvers` apply to it like to anyone (a click from
//! someone else decides nothing and they are told so). The clicked message shows the outcome: Discord's is
//! replaced in the answer; Slack's (and every other posted message) is updated by the notification worker, from
//! the outcome notifications the decision queued.

use super::extract::{Authorized, PathId, ReadRequests};
use crate::app::{SharedState, new_id, now};
use crate::channels::{Summary, discord, slack};
use crate::error::{AppError, AppResult};
use crate::store::channels::NotificationRecord;
use crate::store::{DecideCommand, DecideOutcome};
use agentgate_core::request::{DecideRefusal, Verdict};
use agentgate_core::wire::ApprovalRequest;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Longest user id taken from an interaction (Slack and Discord ids are far shorter).
const MAX_USER_ID_LEN: usize = 64;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn unix_now() -> i64 {
    now().unix_seconds()
}

fn user_id(value: &Value) -> Option<&str> {
    value
        .as_str()
        .filter(|id| !id.is_empty() && id.len() <= MAX_USER_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Decides as a channel user, through the one decision function.
async fn decide_as(
    state: &SharedState,
    request_id: &str,
    verdict: Verdict,
    actor: String,
    audit_details: Value,
) -> AppResult<DecideOutcome> {
    let command = DecideCommand {
        request_id: request_id.to_owned(),
        verdict,
        reason: None,
        identities: vec![actor.clone()],
        actor,
        audit_details,
        audit_id: new_id(),
        event_ids: [new_id(), new_id()],
        now: now(),
    };
    Ok(state.store.decide_request(command).await?)
}

/// What a clicker is told when their click decided nothing.
fn refusal_message(outcome: &DecideOutcome) -> Option<String> {
    match outcome {
        DecideOutcome::Decided(_) => None,
        DecideOutcome::NotFound => Some("This request no longer exists.".into()),
        DecideOutcome::Refused(DecideRefusal::NotAnApprover) => {
            Some("You are not an approver of this request, so your click decided nothing.".into())
        }
        DecideOutcome::Refused(DecideRefusal::ReasonRequired) => {
            Some("This request needs a reason with its decision: decide it in the dashboard.".into())
        }
        DecideOutcome::Refused(refusal) => Some(format!("{refusal}; your click decided nothing.")),
    }
}

/// `POST /api/integrations/slack/interactions`: a `block_actions` payload from an Approve or Deny button.
pub async fn slack(State(state): State<SharedState>, headers: HeaderMap, body: Bytes) -> AppResult<Response> {
    let Some(secret) = state.config.channels.slack_signing_secret.as_deref() else {
        return Err(AppError::NotFound("Slack interactions are not configured (SLACK_SIGNING_SECRET)".into()));
    };
    slack::verify(
        secret,
        header(&headers, "x-slack-request-timestamp"),
        header(&headers, "x-slack-signature"),
        &body,
        unix_now(),
    )
    .map_err(|e| {
        AppError::Unauthorized(match e {
            slack::SignatureError::Missing => "Missing Slack signature headers",
            slack::SignatureError::Stale => "Slack request timestamp is too old or too far ahead",
            slack::SignatureError::Invalid => "Invalid Slack signature",
        })
    })?;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| AppError::bad_request("body must be a form with a payload field"))?;
    let payload = form.into_iter().find(|(k, _)| k == "payload").map(|(_, v)| v);
    let payload: Value = payload
        .and_then(|p| serde_json::from_str(&p).ok())
        .ok_or_else(|| AppError::bad_request("payload must be a form field holding JSON"))?;
    if payload["type"] != "block_actions" {
        // Other interactions (shortcuts, view submissions) are not ours: acknowledged, ignored.
        return Ok(StatusCode::OK.into_response());
    }
    let Some(action) = payload["actions"].as_array().and_then(|actions| {
        actions.iter().find(|a| a["action_id"] == slack::APPROVE_ACTION || a["action_id"] == slack::DENY_ACTION)
    }) else {
        return Ok(StatusCode::OK.into_response());
    };
    let verdict = if action["action_id"] == slack::APPROVE_ACTION { Verdict::Approved } else { Verdict::Denied };
    let request_id = action["value"]
        .as_str()
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .ok_or_else(|| AppError::bad_request("the action's value must be a request id"))?;
    let user = user_id(&payload["user"]["id"]).ok_or_else(|| AppError::bad_request("user.id is missing"))?;
    let details = json!({
        "method": "slack",
        "slackUser": payload["user"]["username"].as_str().or(payload["user"]["name"].as_str()),
        "slackTeam": payload["user"]["team_id"].as_str().or(payload["team"]["id"].as_str()),
    });
    let outcome = decide_as(&state, request_id, verdict, format!("slack:{user}"), details).await?;
    if let Some(message) = refusal_message(&outcome) {
        let channel = payload["container"]["channel_id"].as_str().or(payload["channel"]["id"].as_str());
        if let (Some(channel), Some(token)) = (channel, state.config.channels.slack_bot_token.clone()) {
            // Off the answer's path: Slack wants its acknowledgement within three seconds.
            let (channel, user, base, timeout) = (
                channel.to_owned(),
                user.to_owned(),
                state.config.channels.slack_api_url.clone(),
                state.config.webhook_timeout,
            );
            tokio::spawn(async move {
                let Ok(http) = crate::channels::api_client(timeout) else { return };
                let api = slack::SlackApi { http: &http, base: &base, token: &token };
                if let Err(e) = api.ephemeral(&channel, &user, &message).await {
                    tracing::warn!(error = ?e, "could not tell a Slack user why their click decided nothing");
                }
            });
        }
    }
    Ok(StatusCode::OK.into_response())
}

/// `POST /api/integrations/discord/interactions`: PING, or a click on an Approve or Deny button.
pub async fn discord(State(state): State<SharedState>, headers: HeaderMap, body: Bytes) -> AppResult<Json<Value>> {
    let Some(key) = state.config.channels.discord_public_key.as_ref() else {
        return Err(AppError::NotFound("Discord interactions are not configured (DISCORD_PUBLIC_KEY)".into()));
    };
    discord::verify(
        key,
        header(&headers, "x-signature-timestamp"),
        header(&headers, "x-signature-ed25519"),
        &body,
        unix_now(),
    )
    .map_err(|e| {
        AppError::Unauthorized(match e {
            discord::SignatureError::Missing => "Missing Discord signature headers",
            discord::SignatureError::Stale => "Discord request timestamp is too old or too far ahead",
            discord::SignatureError::Invalid => "Invalid Discord signature",
        })
    })?;
    let interaction: Value = serde_json::from_slice(&body).map_err(|_| AppError::bad_request("body must be JSON"))?;
    match interaction["type"].as_u64() {
        Some(1) => return Ok(Json(json!({ "type": 1 }))),
        Some(3) => {}
        _ => return Err(AppError::bad_request("Unsupported interaction type")),
    }
    let ephemeral = |content: &str| {
        Json(json!({ "type": 4, "data": { "content": content, "flags": 64, "allowed_mentions": { "parse": [] } } }))
    };
    let Some((approve, request_id)) = interaction["data"]["custom_id"].as_str().and_then(discord::parse_custom_id)
    else {
        return Ok(ephemeral("This button is not one of AgentGate's."));
    };
    let user = interaction["member"]["user"]["id"].clone();
    let user = if user.is_null() { interaction["user"]["id"].clone() } else { user };
    let user = user_id(&user).ok_or_else(|| AppError::bad_request("the interaction names no user"))?;
    let verdict = if approve { Verdict::Approved } else { Verdict::Denied };
    let details = json!({
        "method": "discord",
        "discordUser": interaction["member"]["user"]["username"].as_str().or(interaction["user"]["username"].as_str()),
        "discordGuild": interaction["guild_id"].as_str(),
    });
    let outcome = decide_as(&state, request_id, verdict, format!("discord:{user}"), details).await?;
    if let Some(message) = refusal_message(&outcome) {
        return Ok(ephemeral(&message));
    }
    let DecideOutcome::Decided(request) = outcome else { return Ok(ephemeral("Nothing was decided.")) };
    let requested_by = requested_by(&state, &request).await;
    let summary = Summary {
        request: &request,
        requested_by: requested_by.as_deref(),
        dashboard_link: state.config.channels.dashboard_url.as_ref().map(|b| format!("{b}/requests/{}", request.id)),
    };
    // UPDATE_MESSAGE: the clicked message, in place, with the outcome and the buttons disabled.
    Ok(Json(json!({ "type": 7, "data": discord::message(&summary) })))
}

/// Who created a request (its `created` audit entry).
async fn requested_by(state: &SharedState, request: &ApprovalRequest) -> Option<String> {
    let trail = state.store.request_audit(&request.id).await.ok().flatten()?;
    trail.into_iter().find(|e| e.event_type == agentgate_core::audit::CREATED).map(|e| e.actor)
}

/// `GET /api/requests/:id/notifications`: the request's channel notifications and every attempt.
pub async fn notifications(
    State(state): State<SharedState>,
    _auth: Authorized<ReadRequests>,
    PathId(id): PathId,
) -> AppResult<Json<Value>> {
    let records: Vec<NotificationRecord> =
        state.store.request_notifications(&id).await?.ok_or_else(|| AppError::NotFound("Request not found".into()))?;
    Ok(Json(json!({ "notifications": records })))
}
