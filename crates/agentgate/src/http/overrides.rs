//! `/api/overrides`: for a while, an agent's matching actions need a human even when a policy would approve
//! them. Admin only; every change is audited and drops the rules cache.

use super::extract::{Admin, Authorized, JsonBody, PathId, optional_string};
use crate::app::{SharedState, new_id, now};
use crate::error::{AppError, AppResult};
use crate::store::NewAudit;
use agentgate_core::audit;
use agentgate_core::wire::{Override, OverrideList};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

const MAX_PATTERN_LEN: usize = 256;
/// Longest override: a year.
const MAX_TTL_SECONDS: u64 = 366 * 86_400;

fn required_text(body: &serde_json::Map<String, Value>, field: &str) -> AppResult<String> {
    match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => Err(AppError::bad_request(format!("{field} is required and must be a non-empty string"))),
    }
}

pub async fn create(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<Override>)> {
    let body = body.into_object()?;
    let agent_id = required_text(&body, "agentId")?;
    let tool_pattern = required_text(&body, "toolPattern")?;
    if tool_pattern.chars().count() > MAX_PATTERN_LEN {
        return Err(AppError::bad_request(format!("toolPattern must be at most {MAX_PATTERN_LEN} characters")));
    }
    match body.get("action") {
        None | Some(Value::Null) => {}
        Some(Value::String(a)) if a == "require_approval" => {}
        Some(_) => return Err(AppError::bad_request("action must be \"require_approval\"")),
    }
    let reason = optional_string(&body, "reason")?.filter(|r| !r.trim().is_empty());
    let created_at = now();
    let expires_at = match body.get("ttlSeconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => {
            let secs = n.as_u64().filter(|s| (1..=MAX_TTL_SECONDS).contains(s)).ok_or_else(|| {
                AppError::bad_request("ttlSeconds must be a positive whole number of seconds (at most a year)")
            })?;
            Some(created_at.add_millis(i64::try_from(secs * 1000).unwrap_or(i64::MAX)))
        }
        Some(_) => {
            return Err(AppError::bad_request(
                "ttlSeconds must be a positive whole number of seconds (at most a year)",
            ));
        }
    };
    let item = Override {
        id: new_id(),
        agent_id,
        tool_pattern,
        action: "require_approval".into(),
        reason,
        created_by: auth.principal.actor.clone(),
        created_at,
        expires_at,
    };
    let audit = NewAudit::admin(audit::OVERRIDE_CREATED, &auth.principal.actor, json!({ "override": item }));
    state.store.insert_override(item.clone(), audit).await?;
    state.policies.invalidate();
    Ok((StatusCode::CREATED, Json(item)))
}

pub async fn list(State(state): State<SharedState>, _auth: Authorized<Admin>) -> AppResult<Json<OverrideList>> {
    Ok(Json(OverrideList { overrides: state.store.active_overrides(now()).await? }))
}

pub async fn delete(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    PathId(id): PathId,
) -> AppResult<Json<Value>> {
    let audit = NewAudit::admin(audit::OVERRIDE_DELETED, &auth.principal.actor, json!({ "overrideId": id }));
    if !state.store.delete_override(&id, audit).await? {
        return Err(AppError::NotFound("Override not found".into()));
    }
    state.policies.invalidate();
    Ok(Json(json!({ "success": true, "id": id })))
}
