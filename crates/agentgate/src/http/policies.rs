//! `/api/policies`: list, get, create, replace, delete. Admin only; every change is audited and drops the
//! compiled-policy cache.

use super::extract::{Admin, Authorized, JsonBody, PathId, QueryParams};
use crate::app::{SharedState, new_id, now};
use crate::error::{AppError, AppResult};
use crate::store::NewAudit;
use agentgate_core::audit;
use agentgate_core::policy::PolicySpec;
use agentgate_core::wire::{Pagination, Policy, PolicyList};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn not_found() -> AppError {
    AppError::NotFound("Policy not found".into())
}

fn admin_audit(event_type: &'static str, actor: &str, details: Value) -> NewAudit {
    NewAudit { id: new_id(), request_id: None, event_type, actor: actor.to_owned(), details, created_at: now() }
}

pub async fn list(
    State(state): State<SharedState>,
    _auth: Authorized<Admin>,
    query: QueryParams,
) -> AppResult<Json<PolicyList>> {
    let page = query.page(50, 100)?;
    let (policies, total) = state.store.list_policies(page).await?;
    let pagination = Pagination::new(total, page.limit, page.offset, policies.len());
    Ok(Json(PolicyList { policies, pagination }))
}

pub async fn get_one(
    State(state): State<SharedState>,
    _auth: Authorized<Admin>,
    PathId(id): PathId,
) -> AppResult<Json<Policy>> {
    state.store.get_policy(&id).await?.map(Json).ok_or_else(not_found)
}

pub async fn create(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    JsonBody(body): JsonBody,
) -> AppResult<(StatusCode, Json<Policy>)> {
    let spec = PolicySpec::from_json(&body).map_err(|e| AppError::BadRequest(e.0))?;
    let created_at = now();
    let policy = Policy {
        id: new_id(),
        name: spec.name,
        rules: spec.rules,
        priority: spec.priority,
        enabled: spec.enabled,
        created_at,
        updated_at: created_at,
    };
    let audit = admin_audit(audit::POLICY_CREATED, &auth.principal.actor, json!({ "policy": policy }));
    state.store.insert_policy(policy.clone(), audit).await?;
    state.policies.invalidate();
    Ok((StatusCode::CREATED, Json(policy)))
}

pub async fn replace(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    PathId(id): PathId,
    JsonBody(body): JsonBody,
) -> AppResult<Json<Policy>> {
    let before = state.store.get_policy(&id).await?.ok_or_else(not_found)?;
    let spec = PolicySpec::from_json(&body).map_err(|e| AppError::BadRequest(e.0))?;
    let audit = admin_audit(
        audit::POLICY_UPDATED,
        &auth.principal.actor,
        json!({ "policyId": id, "before": before, "after": {
            "name": spec.name, "rules": spec.rules, "priority": spec.priority, "enabled": spec.enabled
        }}),
    );
    let updated = state.store.replace_policy(&id, spec, now(), audit).await?.ok_or_else(not_found)?;
    state.policies.invalidate();
    Ok(Json(updated))
}

pub async fn delete(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    PathId(id): PathId,
) -> AppResult<Json<Value>> {
    let before = state.store.get_policy(&id).await?.ok_or_else(not_found)?;
    let audit = admin_audit(audit::POLICY_DELETED, &auth.principal.actor, json!({ "policyId": id, "policy": before }));
    if !state.store.delete_policy(&id, audit).await? {
        return Err(not_found());
    }
    state.policies.invalidate();
    Ok(Json(json!({ "success": true, "id": id })))
}
