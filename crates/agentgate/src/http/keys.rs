//! `/api/api-keys` and `/api/keys`: create (the secret shown once), list (with each key's usage per day), change,
//! revoke. Admin only; every change is audited with who made it and what it was before, and takes effect on the
//! next request (on other replicas within the authenticator's one-second cache).

use super::extract::{Admin, Authorized, JsonBody, PathId};
use crate::app::{SharedState, new_id, now};
use crate::auth::{Principal, generate_key, hash_key};
use crate::error::{AppError, AppResult};
use crate::store::{ApiKeyPatch, ApiKeyRecord, NewAudit};
use agentgate_core::audit;
use agentgate_core::auth::Scope;
use agentgate_core::timestamp::format_day;
use agentgate_core::wire::{ApiKey, ApiKeyList, ApiKeyUsage, CreatedApiKey, DailyUsage};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

const MAX_NAME_LEN: usize = 100;

fn not_found() -> AppError {
    AppError::NotFound("API key not found".into())
}

/// How many days of usage the list shows.
const USAGE_DAYS: i64 = 30;

fn to_wire(key: &ApiKeyRecord, usage: ApiKeyUsage) -> ApiKey {
    ApiKey {
        id: key.id.clone(),
        name: key.name.clone(),
        scopes: key.scopes.clone(),
        created_at: key.created_at.unix_seconds(),
        last_used_at: key.last_used_at.map(|t| t.unix_seconds()),
        revoked_at: key.revoked_at.map(|t| t.unix_seconds()),
        rate_limit: key.rate_limit,
        active: key.revoked_at.is_none(),
        usage,
    }
}

/// What the audit trail records of a key: everything but its hash and usage.
fn audited(key: &ApiKeyRecord) -> Value {
    json!({ "id": key.id, "name": key.name, "scopes": key.scopes, "rateLimit": key.rate_limit })
}

/// A key's usage from its per-day counts of the last [`USAGE_DAYS`] days (oldest first); `today` is a day number.
fn usage_of(days: Vec<DailyUsage>, today: i64) -> ApiKeyUsage {
    let sum_since = |first: &str| days.iter().filter(|d| d.date.as_str() >= first).map(|d| d.requests).sum();
    ApiKeyUsage {
        today: sum_since(&format_day(today)),
        last7_days: sum_since(&format_day(today - 6)),
        last30_days: days.iter().map(|d| d.requests).sum(),
        daily: days,
    }
}

fn parse_name(value: Option<&Value>) -> AppResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim().chars().count() <= MAX_NAME_LEN => {
            Ok(Some(s.trim().to_owned()))
        }
        Some(_) => {
            Err(AppError::bad_request(format!("name must be a non-empty string of at most {MAX_NAME_LEN} characters")))
        }
    }
}

fn parse_scopes(value: Option<&Value>) -> AppResult<Option<Vec<String>>> {
    let Some(value) = value else { return Ok(None) };
    let allowed = Scope::ALL.map(Scope::as_str).join(", ");
    let error = || AppError::bad_request(format!("scopes must be a non-empty array of: {allowed}"));
    let items = value.as_array().filter(|a| !a.is_empty()).ok_or_else(error)?;
    let mut scopes = Vec::with_capacity(items.len());
    for item in items {
        let scope = item.as_str().and_then(|s| s.parse::<Scope>().ok()).ok_or_else(error)?;
        if !scopes.contains(&scope.as_str().to_owned()) {
            scopes.push(scope.as_str().to_owned());
        }
    }
    Ok(Some(scopes))
}

/// `rateLimit`: absent → `None`; null → `Some(None)` (unlimited); a positive integer → `Some(Some(n))`.
fn parse_rate_limit(body: &Map<String, Value>) -> AppResult<Option<Option<u32>>> {
    match body.get("rateLimit") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n >= 1)
            .and_then(|n| u32::try_from(n).ok())
            .map(|n| Some(Some(n)))
            .ok_or_else(|| AppError::bad_request("rateLimit must be a positive integer or null")),
        Some(_) => Err(AppError::bad_request("rateLimit must be a positive integer or null")),
    }
}

pub async fn create(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<CreatedApiKey>)> {
    Ok((StatusCode::CREATED, Json(create_key(&state, &auth.principal, body.into_object()?).await?)))
}

/// Creates a key from a create body (`name`, `scopes`, `rateLimit`), audited as `principal`'s doing; the answer
/// holds the secret, shown this once. The API and the dashboard both create keys through here.
pub async fn create_key(
    state: &SharedState,
    principal: &Principal,
    body: Map<String, Value>,
) -> AppResult<CreatedApiKey> {
    let name = parse_name(body.get("name"))?
        .ok_or_else(|| AppError::bad_request("name is required and must be a non-empty string"))?;
    let scopes = parse_scopes(body.get("scopes"))?
        .ok_or_else(|| AppError::bad_request("scopes is required and must be a non-empty array"))?;
    let rate_limit = parse_rate_limit(&body)?.flatten();
    let secret = generate_key();
    let record = ApiKeyRecord {
        id: new_id(),
        key_hash: hash_key(&secret),
        name,
        scopes,
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
        rate_limit,
    };
    let audit = NewAudit::admin(
        audit::API_KEY_CREATED,
        &principal.actor,
        json!({ "keyId": record.id, "key": audited(&record) }),
    );
    state.store.insert_api_key(record.clone(), Some(audit), false).await?;
    Ok(CreatedApiKey {
        id: record.id,
        key: secret,
        name: record.name,
        scopes: record.scopes,
        rate_limit: record.rate_limit,
        message: "Save this key - it will not be shown again".into(),
    })
}

pub async fn list(State(state): State<SharedState>, _auth: Authorized<Admin>) -> AppResult<Json<ApiKeyList>> {
    Ok(Json(ApiKeyList { keys: list_keys(&state).await? }))
}

/// Every key with its usage of the last [`USAGE_DAYS`] days.
pub async fn list_keys(state: &SharedState) -> AppResult<Vec<ApiKey>> {
    // Usage first: a flush committing between the two reads then shows a `lastUsedAt` newer than the counts,
    // never counts for a key that looks unused.
    let mut usage = recent_usage(state).await?;
    let keys = state.store.list_api_keys().await?;
    Ok(keys.iter().map(|key| to_wire(key, usage(&key.id))).collect())
}

/// Every key's usage over the last [`USAGE_DAYS`] days, as a lookup by key id.
async fn recent_usage(state: &SharedState) -> AppResult<impl FnMut(&str) -> ApiKeyUsage> {
    let today = now().utc_day();
    let mut days: HashMap<String, Vec<DailyUsage>> = HashMap::new();
    for (key_id, day) in state.store.key_requests_since(&format_day(today - (USAGE_DAYS - 1))).await? {
        days.entry(key_id).or_default().push(day);
    }
    Ok(move |id: &str| usage_of(days.remove(id).unwrap_or_default(), today))
}

pub async fn update(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    PathId(id): PathId,
    body: JsonBody,
) -> AppResult<Json<Value>> {
    let key = update_key(&state, &auth.principal, &id, body.into_object()?).await?;
    Ok(Json(json!({ "success": true, "key": key })))
}

/// Changes a key from a patch body (`name`, `scopes`, `rateLimit`), audited with before and after.
pub async fn update_key(
    state: &SharedState,
    principal: &Principal,
    id: &str,
    body: Map<String, Value>,
) -> AppResult<ApiKey> {
    let patch = ApiKeyPatch {
        name: parse_name(body.get("name"))?,
        scopes: parse_scopes(body.get("scopes"))?,
        rate_limit: parse_rate_limit(&body)?,
    };
    if patch.name.is_none() && patch.scopes.is_none() && patch.rate_limit.is_none() {
        return Err(AppError::bad_request("No fields to update"));
    }
    let before = state.store.get_api_key(id).await?.ok_or_else(not_found)?;
    let mut after = before.clone();
    if let Some(name) = &patch.name {
        after.name = name.clone();
    }
    if let Some(scopes) = &patch.scopes {
        after.scopes = scopes.clone();
    }
    if let Some(limit) = patch.rate_limit {
        after.rate_limit = limit;
    }
    let audit = NewAudit::admin(
        audit::API_KEY_UPDATED,
        &principal.actor,
        json!({ "keyId": id, "before": audited(&before), "after": audited(&after) }),
    );
    let key = state.store.update_api_key(id, patch, audit).await?.ok_or_else(not_found)?;
    // The next request re-reads the key, its rate limit included (other replicas: within the cache's second).
    state.auth.forget(&key.key_hash);
    let mut usage = recent_usage(state).await?;
    Ok(to_wire(&key, usage(&key.id)))
}

pub async fn revoke(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    PathId(id): PathId,
) -> AppResult<Json<Value>> {
    revoke_key(&state, &auth.principal, &id).await?;
    Ok(Json(json!({ "success": true, "message": "API key revoked" })))
}

/// Revokes a key (audited); it stops working on the next request, dashboard sessions opened with it included.
pub async fn revoke_key(state: &SharedState, principal: &Principal, id: &str) -> AppResult<()> {
    let before = state.store.get_api_key(id).await?.ok_or_else(not_found)?;
    let audit = NewAudit::admin(
        audit::API_KEY_REVOKED,
        &principal.actor,
        json!({ "keyId": id, "key": audited(&before), "alreadyRevoked": before.revoked_at.is_some() }),
    );
    let key = state.store.revoke_api_key(id, now(), audit).await?.ok_or_else(not_found)?;
    state.auth.forget(&key.key_hash);
    Ok(())
}
