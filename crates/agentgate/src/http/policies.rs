//! `/api/policies`: list, get, create, replace, delete. Admin only; every change is audited and drops the
//! compiled-policy cache.

use super::extract::{Admin, Authorized, JsonBody, PathId, QueryParams};
use super::requests::RequestInput;
use crate::app::{SharedState, new_id, now};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::store::NewAudit;
use agentgate_core::audit;
use agentgate_core::policy::{CompiledPolicy, EvalInput, PolicySet, PolicySpec};
use agentgate_core::wire::{Pagination, Policy, PolicyList};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn not_found() -> AppError {
    AppError::NotFound("Policy not found".into())
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
    Ok((StatusCode::CREATED, Json(create_policy(&state, &auth.principal, &body).await?)))
}

/// Validates a policy body (`PolicySpec::from_json`: 400 naming the bad field) and stores it, audited as
/// `principal`'s doing. The API and the dashboard both create policies through here.
pub async fn create_policy(state: &SharedState, principal: &Principal, body: &Value) -> AppResult<Policy> {
    let spec = PolicySpec::from_json(body).map_err(|e| AppError::BadRequest(e.0))?;
    let created_at = now();
    let policy = Policy {
        id: new_id(),
        name: spec.name,
        rules: spec.rules,
        priority: spec.priority,
        enabled: spec.enabled,
        version: 1,
        created_at,
        updated_at: created_at,
    };
    let audit = NewAudit::admin(audit::POLICY_CREATED, &principal.actor, json!({ "policy": policy }));
    state.store.insert_policy(policy.clone(), audit).await?;
    state.policies.invalidate();
    Ok(policy)
}

pub async fn replace(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    PathId(id): PathId,
    JsonBody(body): JsonBody,
) -> AppResult<Json<Policy>> {
    Ok(Json(replace_policy(&state, &auth.principal, &id, &body).await?))
}

/// Replaces a policy with a validated body, audited with before and after.
pub async fn replace_policy(state: &SharedState, principal: &Principal, id: &str, body: &Value) -> AppResult<Policy> {
    let before = state.store.get_policy(id).await?.ok_or_else(not_found)?;
    let spec = PolicySpec::from_json(body).map_err(|e| AppError::BadRequest(e.0))?;
    let audit = NewAudit::admin(
        audit::POLICY_UPDATED,
        &principal.actor,
        json!({ "policyId": id, "before": before, "after": {
            "name": spec.name, "rules": spec.rules, "priority": spec.priority, "enabled": spec.enabled
        }}),
    );
    let updated = state.store.replace_policy(id, spec, now(), audit).await?.ok_or_else(not_found)?;
    state.policies.invalidate();
    Ok(updated)
}

pub async fn delete(
    State(state): State<SharedState>,
    auth: Authorized<Admin>,
    PathId(id): PathId,
) -> AppResult<Json<Value>> {
    let before = state.store.get_policy(&id).await?.ok_or_else(not_found)?;
    let audit =
        NewAudit::admin(audit::POLICY_DELETED, &auth.principal.actor, json!({ "policyId": id, "policy": before }));
    if !state.store.delete_policy(&id, audit).await? {
        return Err(not_found());
    }
    state.policies.invalidate();
    Ok(Json(json!({ "success": true, "id": id })))
}

/// Most requests one simulation or draft policy set may hold.
const MAX_SIMULATED: usize = 1000;
const MAX_BACKTEST: u32 = 10_000;
const EXAMPLES_PER_CHANGE: usize = 5;

/// A draft policy set from a request body (`policies`: an array of policy bodies), each validated as on create;
/// `None` when absent. Drafts get ids `draft-0`, `draft-1`… and version 0.
fn draft_policies(body: &serde_json::Map<String, Value>) -> AppResult<Option<PolicySet>> {
    let Some(value) = body.get("policies") else { return Ok(None) };
    let drafts = value.as_array().filter(|d| d.len() <= MAX_SIMULATED).ok_or_else(|| {
        AppError::bad_request(format!("policies must be an array of at most {MAX_SIMULATED} policies"))
    })?;
    let compiled = drafts
        .iter()
        .enumerate()
        .map(|(i, draft)| {
            let spec =
                PolicySpec::from_json(draft).map_err(|e| AppError::BadRequest(format!("policies[{i}].{}", e.0)))?;
            CompiledPolicy::compile(&format!("draft-{i}"), 0, &spec)
                .map_err(|e| AppError::BadRequest(format!("policies[{i}].{}", e.0)))
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Some(PolicySet::new(compiled)))
}

/// `POST /api/policies/simulate`: what the engine decides for `request` (or each of `requests`), against the
/// stored policies or a draft set in `policies`, with the rule that matched and why each earlier rule did not.
/// Nothing is stored.
pub async fn simulate(
    State(state): State<SharedState>,
    _auth: Authorized<Admin>,
    body: JsonBody,
) -> AppResult<Json<Value>> {
    simulate_body(&state, body.into_object()?).await.map(Json)
}

/// A simulation from a simulate body (`request` or `requests`, optional draft `policies`); shared with the
/// dashboard's policy editor.
pub async fn simulate_body(state: &SharedState, mut body: serde_json::Map<String, Value>) -> AppResult<Value> {
    let mut inputs = match (body.remove("request"), body.remove("requests")) {
        (Some(Value::Object(one)), None) => vec![one],
        (None, Some(Value::Array(many))) if !many.is_empty() && many.len() <= MAX_SIMULATED => many
            .into_iter()
            .enumerate()
            .map(|(i, r)| match r {
                Value::Object(r) => Ok(r),
                _ => Err(AppError::bad_request(format!("requests[{i}] must be an object"))),
            })
            .collect::<AppResult<_>>()?,
        _ => {
            return Err(AppError::bad_request(format!(
                "give either request (an object) or requests (an array of 1 to {MAX_SIMULATED} objects)"
            )));
        }
    };
    let draft = draft_policies(&body)?;
    let stored = match draft {
        Some(_) => None,
        None => Some(state.policies.get(state.store.as_ref()).await?),
    };
    let set = match (&draft, &stored) {
        (Some(draft), _) => draft,
        (None, Some(rules)) => &rules.policies,
        (None, None) => return Err(AppError::Internal("no policy set to simulate against".into())),
    };
    let many = inputs.len() > 1;
    let mut results = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter_mut().enumerate() {
        let parsed = RequestInput::parse(input).map_err(|e| match e {
            AppError::BadRequest(m) if many => AppError::BadRequest(format!("requests[{i}].{m}")),
            AppError::BadRequest(m) => AppError::BadRequest(format!("request.{m}")),
            other => other,
        })?;
        let explanation = set.explain(&parsed.eval_input());
        results.push(json!({
            "request": { "action": parsed.action, "urgency": parsed.urgency, "params": parsed.params, "context": parsed.context },
            "decision": explanation.decision,
            "matched": explanation.matched,
            "misses": explanation.misses,
        }));
    }
    Ok(json!({
        "policies": if draft.is_some() { "draft" } else { "stored" },
        "results": results,
    }))
}

/// `POST /api/policies/backtest`: evaluates the stored requests of the last `days` days (or the last `last`
/// requests, 1,000 by default) against a draft policy set and against the stored policies, and reports which
/// decisions would change, with examples of each kind of change. Nothing is stored.
pub async fn backtest(
    State(state): State<SharedState>,
    _auth: Authorized<Admin>,
    body: JsonBody,
) -> AppResult<Json<Value>> {
    let body = body.into_object()?;
    let draft = draft_policies(&body)?
        .ok_or_else(|| AppError::bad_request("policies is required: the draft policy set to test"))?;
    let whole_number = |field: &str, max: u64| -> AppResult<Option<u64>> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=max).contains(n))
                .map(Some)
                .ok_or_else(|| AppError::bad_request(format!("{field} must be a whole number from 1 to {max}"))),
        }
    };
    let days = whole_number("days", 3650)?;
    let last = whole_number("last", u64::from(MAX_BACKTEST))?;
    if days.is_some() && last.is_some() {
        return Err(AppError::bad_request("give days or last, not both"));
    }
    let since = days.map(|d| now().add_millis(-(i64::try_from(d).unwrap_or(0) * 86_400_000)));
    let limit =
        last.map_or(if days.is_some() { MAX_BACKTEST } else { 1000 }, |n| u32::try_from(n).unwrap_or(MAX_BACKTEST));
    let requests = state.store.recent_requests(since, limit).await?;
    let rules = state.policies.get(state.store.as_ref()).await?;

    let mut changes: std::collections::BTreeMap<(String, String), (u64, Vec<Value>)> = Default::default();
    for request in &requests {
        let input = EvalInput {
            action: &request.action,
            urgency: request.urgency,
            params: &request.params,
            context: &request.context,
        };
        let before = rules.policies.evaluate(&input).decision;
        let after = draft.evaluate(&input).decision;
        if before != after {
            let entry = changes.entry((before.to_string(), after.to_string())).or_default();
            entry.0 += 1;
            if entry.1.len() < EXAMPLES_PER_CHANGE {
                entry.1.push(json!({ "id": request.id, "action": request.action, "createdAt": request.created_at }));
            }
        }
    }
    let changed: u64 = changes.values().map(|(n, _)| n).sum();
    let truncated = last.is_none() && u32::try_from(requests.len()).is_ok_and(|n| n == limit);
    Ok(Json(json!({
        "evaluated": requests.len(),
        "changed": changed,
        "unchanged": requests.len() as u64 - changed,
        "truncated": truncated,
        "changes": changes.into_iter().map(|((from, to), (count, examples))| json!({
            "from": from, "to": to, "count": count, "examples": examples,
        })).collect::<Vec<_>>(),
    })))
}
