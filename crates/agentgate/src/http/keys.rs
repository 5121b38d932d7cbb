//! `/api/api-keys` and `/api/keys`: create (the secret shown once), list, change, revoke. Admin only; every
//! change is audited and takes effect on the next request.

use super::extract::{Admin, Authorized, JsonBody, PathId};
use crate::app::{SharedState, new_id, now};
use crate::auth::{generate_key, hash_key};
use crate::error::{AppError, AppResult};
use crate::store::{ApiKeyPatch, ApiKeyRecord, NewAudit};
use agentgate_core::audit;
use agentgate_core::auth::Scope;
use agentgate_core::wire::{ApiKey, ApiKeyList, CreatedApiKey};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

const MAX_NAME_LEN: usize = 100;

fn not_found() -> AppError {
    AppError::NotFound("API key not found".into())
}

fn to_wire(key: &ApiKeyRecord) -> ApiKey {
    ApiKey {
        id: key.id.clone(),
        name: key.name.clone(),
        scopes: key.scopes.clone(),
        created_at: key.created_at.unix_seconds(),
        last_used_at: key.last_used_at.map(|t| t.unix_seconds()),
        revoked_at: key.revoked_at.map(|t| t.unix_seconds()),
        rate_limit: key.rate_limit,
        active: key.revoked_at.is_none(),
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
    let body = body.into_object()?;
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
    let audit = NewAudit::admin(audit::API_KEY_CREATED, &auth.principal.actor, json!({ "key": to_wire(&record) }));
    state.store.insert_api_key(record.clone(), Some(audit), false).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            id: record.id,
            key: secret,
            name: record.name,
            scopes: record.scopes,
            rate_limit: record.rate_limit,
            message: "Save this key - it will not be shown again".into(),
        }),
    ))
}

pub async fn list(State(state): State<SharedState>, _auth: Authorized<Admin>) -> AppResult<Json<ApiKeyList>> {
    let keys = state.store.list_api_keys().await?;
    Ok(Json(ApiKeyList { keys: keys.iter().map(to_wire).collect() }))
}

pub async fn update(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    PathId(id): PathId,
    body: JsonBody,
) -> AppResult<Json<Value>> {
    let body = body.into_object()?;
    let patch = ApiKeyPatch {
        name: parse_name(body.get("name"))?,
        scopes: parse_scopes(body.get("scopes"))?,
        rate_limit: parse_rate_limit(&body)?,
    };
    if patch.name.is_none() && patch.scopes.is_none() && patch.rate_limit.is_none() {
        return Err(AppError::bad_request("No fields to update"));
    }
    let audit = NewAudit::admin(audit::API_KEY_UPDATED, &auth.principal.actor, json!({ "keyId": id, "changes": body }));
    let key = state.store.update_api_key(&id, patch, audit).await?.ok_or_else(not_found)?;
    state.auth.forget(&key.key_hash);
    Ok(Json(json!({ "success": true, "key": to_wire(&key) })))
}

pub async fn revoke(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    PathId(id): PathId,
) -> AppResult<Json<Value>> {
    let audit = NewAudit::admin(audit::API_KEY_REVOKED, &auth.principal.actor, json!({ "keyId": id }));
    let key = state.store.revoke_api_key(&id, now(), audit).await?.ok_or_else(not_found)?;
    state.auth.forget(&key.key_hash);
    Ok(Json(json!({ "success": true, "message": "API key revoked" })))
}
