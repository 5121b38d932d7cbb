//! `/api/webhooks`: endpoints (create, list, show, change, delete, test), their deliveries, and replays.
//! Scope `webhook:manage` (or `admin`); every change is audited. URLs are SSRF-checked on create, change and test
//! (and again by the worker at every attempt).

use super::extract::{Authorized, JsonBody, ManageWebhooks, PathId, QueryParams};
use crate::app::{SharedState, new_id, now};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::store::NewAudit;
use crate::store::webhooks::{ReplayOutcome, TestDelivery, WebhookPatch, WebhookRecord};
use agentgate_core::audit;
use agentgate_core::webhook::{DeliveryStatus, TEST_EVENT, parse_events};
use agentgate_core::wire::{CreatedWebhook, DeliveryList, Pagination, Webhook, WebhookDetail, WebhookList};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// Deliveries shown with `GET /api/webhooks/:id`.
const RECENT_DELIVERIES: u32 = 20;
const MAX_URL_LEN: usize = 2048;
const MIN_SECRET_LEN: usize = 32;
const MAX_SECRET_LEN: usize = 256;

fn not_found() -> AppError {
    AppError::NotFound("Webhook not found".into())
}

pub fn to_wire(w: &WebhookRecord) -> Webhook {
    Webhook {
        id: w.id.clone(),
        url: w.url.clone(),
        events: w.events.clone(),
        created_at: w.created_at.0,
        updated_at: w.updated_at.0,
        enabled: w.enabled,
    }
}

/// A new delivery id (also the `webhook-id` header) for a test or a replay. Queued deliveries get theirs from the
/// database (`whd_<event id>_<webhook id>`).
fn new_delivery_id() -> String {
    format!("whd_{}", new_id())
}

async fn parse_url(state: &SharedState, value: Option<&Value>) -> AppResult<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    let url =
        value.as_str().map(str::trim).filter(|u| !u.is_empty() && u.len() <= MAX_URL_LEN).ok_or_else(|| {
            AppError::bad_request(format!("url must be a string of at most {MAX_URL_LEN} characters"))
        })?;
    let checked = state
        .deliverer
        .client
        .check_url(url)
        .await
        .map_err(|reason| AppError::bad_request(format!("Invalid webhook URL: {reason}")))?;
    Ok(Some(checked.to_string()))
}

fn parse_event_list(value: Option<&Value>) -> AppResult<Option<Vec<String>>> {
    let Some(value) = value else { return Ok(None) };
    let items = value.as_array().ok_or_else(|| AppError::bad_request("events must be a non-empty array"))?;
    let names = items
        .iter()
        .map(|v| v.as_str().ok_or_else(|| AppError::bad_request("events must be an array of event names")))
        .collect::<AppResult<Vec<_>>>()?;
    parse_events(names).map(Some).map_err(AppError::BadRequest)
}

fn parse_secret(body: &Map<String, Value>) -> AppResult<Option<String>> {
    match body.get("secret") {
        None | Some(Value::Null) => Ok(None),
        // `enc:` marks secrets encrypted at rest; a plaintext one starting with it would be misread.
        Some(Value::String(s)) if s.starts_with("enc:") => {
            Err(AppError::bad_request(r#"secret must not start with "enc:""#))
        }
        Some(Value::String(s)) if (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&s.chars().count()) => Ok(Some(s.clone())),
        Some(_) => Err(AppError::bad_request(format!(
            "secret must be a string of {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters"
        ))),
    }
}

fn parse_enabled(body: &Map<String, Value>) -> AppResult<Option<bool>> {
    match body.get("enabled") {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(AppError::bad_request("enabled must be a boolean")),
    }
}

pub async fn create(
    State(state): State<SharedState>,
    auth: Authorized<ManageWebhooks>,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<CreatedWebhook>)> {
    Ok((StatusCode::CREATED, Json(create_webhook(&state, &auth.principal, body.into_object()?).await?)))
}

/// Creates a webhook from a create body (`url`, `events`, `secret`), audited as `principal`'s doing; the answer
/// holds the secret, shown this once. The API and the dashboard both create webhooks through here.
pub async fn create_webhook(
    state: &SharedState,
    principal: &Principal,
    body: Map<String, Value>,
) -> AppResult<CreatedWebhook> {
    let events = parse_event_list(body.get("events"))?.ok_or_else(|| AppError::bad_request("events is required"))?;
    let secret = parse_secret(&body)?.unwrap_or_else(crate::webhooks::signing::generate_secret);
    let url = parse_url(state, body.get("url")).await?.ok_or_else(|| AppError::bad_request("url is required"))?;
    let created_at = now();
    let record = WebhookRecord {
        id: new_id(),
        url,
        secret: state.deliverer.secrets.seal(&secret),
        events,
        enabled: true,
        created_at,
        updated_at: created_at,
    };
    let audit = NewAudit::admin(audit::WEBHOOK_CREATED, &principal.actor, json!({ "webhook": to_wire(&record) }));
    state.store.insert_webhook(record.clone(), audit).await?;
    Ok(CreatedWebhook {
        id: record.id,
        url: record.url,
        events: record.events,
        secret,
        enabled: true,
        message: "Save this secret - it will not be shown again".into(),
    })
}

pub async fn list(State(state): State<SharedState>, _auth: Authorized<ManageWebhooks>) -> AppResult<Json<WebhookList>> {
    let webhooks = state.store.list_webhooks().await?;
    Ok(Json(WebhookList { webhooks: webhooks.iter().map(to_wire).collect() }))
}

pub async fn get_one(
    State(state): State<SharedState>,
    _auth: Authorized<ManageWebhooks>,
    PathId(id): PathId,
) -> AppResult<Json<WebhookDetail>> {
    let webhook = state.store.get_webhook(&id).await?.ok_or_else(not_found)?;
    let page = crate::store::Page { limit: RECENT_DELIVERIES, offset: 0 };
    let (deliveries, _) = state.store.list_deliveries(&id, None, page).await?;
    Ok(Json(WebhookDetail { webhook: to_wire(&webhook), deliveries }))
}

pub async fn update(
    State(state): State<SharedState>,
    auth: Authorized<ManageWebhooks>,
    PathId(id): PathId,
    body: JsonBody,
) -> AppResult<Json<Value>> {
    let webhook = update_webhook(&state, &auth.principal, &id, body.into_object()?).await?;
    Ok(Json(json!({ "success": true, "webhook": webhook })))
}

/// Changes a webhook from a patch body (`url`, `events`, `enabled`), audited with the changes.
pub async fn update_webhook(
    state: &SharedState,
    principal: &Principal,
    id: &str,
    body: Map<String, Value>,
) -> AppResult<Webhook> {
    if body.contains_key("secret") {
        return Err(AppError::bad_request("secret cannot be changed; create a new webhook to rotate it"));
    }
    let events = parse_event_list(body.get("events"))?;
    let enabled = parse_enabled(&body)?;
    if body.get("url").is_none() && events.is_none() && enabled.is_none() {
        return Err(AppError::bad_request("No fields to update (url, events or enabled)"));
    }
    // Unknown ids are 404 before the URL is resolved.
    if state.store.get_webhook(id).await?.is_none() {
        return Err(not_found());
    }
    let patch = WebhookPatch { url: parse_url(state, body.get("url")).await?, events, enabled };
    let audit = NewAudit::admin(
        audit::WEBHOOK_UPDATED,
        &principal.actor,
        json!({ "webhookId": id, "changes": Value::Object(body) }),
    );
    let webhook = state.store.update_webhook(id, patch, now(), audit).await?.ok_or_else(not_found)?;
    Ok(to_wire(&webhook))
}

pub async fn delete(
    State(state): State<SharedState>,
    auth: Authorized<ManageWebhooks>,
    PathId(id): PathId,
) -> AppResult<Json<Value>> {
    delete_webhook(&state, &auth.principal, &id).await?;
    Ok(Json(json!({ "success": true })))
}

/// Deletes a webhook with its deliveries (audited).
pub async fn delete_webhook(state: &SharedState, principal: &Principal, id: &str) -> AppResult<()> {
    let audit = NewAudit::admin(audit::WEBHOOK_DELETED, &principal.actor, json!({ "webhookId": id }));
    if !state.store.delete_webhook(id, audit).await? {
        return Err(not_found());
    }
    Ok(())
}

/// Sends a signed `test` event now and reports the receiver's answer; the attempt is recorded as a delivery.
pub async fn test(
    State(state): State<SharedState>,
    _auth: Authorized<ManageWebhooks>,
    PathId(id): PathId,
) -> AppResult<Json<Value>> {
    let tested = test_webhook(&state, id).await?;
    Ok(Json(json!({
        "success": tested.succeeded,
        "status": tested.response_code,
        "message": tested.message,
        "deliveryId": tested.delivery_id,
    })))
}

/// What a test delivery came to.
pub struct TestOutcome {
    pub succeeded: bool,
    pub response_code: Option<u16>,
    pub message: String,
    pub delivery_id: String,
}

/// Sends a signed `test` event to a webhook now and records the attempt as a delivery.
pub async fn test_webhook(state: &SharedState, id: String) -> AppResult<TestOutcome> {
    let webhook = state.store.get_webhook(&id).await?.ok_or_else(not_found)?;
    state
        .deliverer
        .client
        .check_url(&webhook.url)
        .await
        .map_err(|reason| AppError::bad_request(format!("Webhook URL no longer valid: {reason}")))?;
    let secret = state.deliverer.secrets.open(&webhook.secret).map_err(|e| AppError::Internal(e.to_string()))?;
    let created_at = now();
    let payload = json!({
        "event": TEST_EVENT,
        "data": { "message": "This is a test webhook from AgentGate" },
        "timestamp": created_at.0,
    })
    .to_string();
    let delivery_id = new_delivery_id();
    let sent = state.deliverer.send(&webhook.url, &secret, &delivery_id, TEST_EVENT, &payload).await;
    let succeeded = sent.succeeded();
    let status = if succeeded { DeliveryStatus::Success } else { DeliveryStatus::Failed };
    let attempted_at = sent.attempted_at;
    // A test is never retried: it ends with this one attempt. `seq` is the store's to fill in.
    let result = sent.into_result(0, created_at, 1, (status, attempted_at));
    let message = match (&result.error, succeeded) {
        (_, true) => "Test delivered successfully".to_owned(),
        (Some(error), false) => format!("Delivery failed: {error}"),
        (None, false) => "Delivery failed".to_owned(),
    };
    let code = result.response_code;
    state
        .store
        .insert_test_delivery(TestDelivery { id: delivery_id.clone(), webhook_id: id, payload, created_at, result })
        .await?;
    Ok(TestOutcome { succeeded, response_code: code, message, delivery_id })
}

pub async fn deliveries(
    State(state): State<SharedState>,
    _auth: Authorized<ManageWebhooks>,
    PathId(id): PathId,
    query: QueryParams,
) -> AppResult<Json<DeliveryList>> {
    let page = query.page(20, 100)?;
    let status = query.parse_enum::<DeliveryStatus>("status", "pending, success, failed")?;
    if state.store.get_webhook(&id).await?.is_none() {
        return Err(not_found());
    }
    let (deliveries, total) = state.store.list_deliveries(&id, status, page).await?;
    let pagination = Pagination::new(total, page.limit, page.offset, deliveries.len());
    Ok(Json(DeliveryList { deliveries, pagination }))
}

/// Queues a finished delivery again (same body, same webhook, a new delivery id).
pub async fn replay(
    State(state): State<SharedState>,
    _auth: Authorized<ManageWebhooks>,
    PathId(id): PathId,
) -> AppResult<(StatusCode, Json<Value>)> {
    match state.store.replay_delivery(&id, new_delivery_id(), now()).await? {
        ReplayOutcome::NotFound => Err(AppError::NotFound("Delivery not found".into())),
        ReplayOutcome::StillPending => Err(AppError::Conflict("Delivery is still pending".into())),
        ReplayOutcome::Replayed(delivery) => Ok((StatusCode::ACCEPTED, Json(json!({ "delivery": delivery })))),
    }
}
