//! `/api/requests`: create, list, get, decide, and a request's audit trail.

use super::extract::{
    Authorized, CreateRequests, DecideRequests, JsonBody, PathId, QueryParams, ReadRequests, optional_string,
};
use crate::app::{SharedState, new_id, new_ulid, now};
use crate::auth::Principal;
use crate::connections::{AnswerLine, Deferrable, Deferred};
use crate::error::{AppError, AppResult};
use crate::hub::FinalListener;
use crate::store::{DecideCommand, DecideOutcome, NewAudit, NewEvent, NewRequest, RequestFilter, StoredEvent};
use agentgate_core::Timestamp;
use agentgate_core::audit::{self, event};
use agentgate_core::overrides;
use agentgate_core::policy::{DecisionType, EvalInput};
use agentgate_core::request::{DecideRefusal, RequestStatus, Urgency, Verdict, initial_status};
use agentgate_core::wire::{ApprovalRequest, AuditEntry, PolicyDecision, RequestList};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

const MAX_ACTION_LEN: usize = 256;
const MAX_REASON_LEN: usize = 4096;

/// A JSON object field that defaults to `{}`.
fn object_field(body: &mut Map<String, Value>, field: &str) -> AppResult<Value> {
    match body.remove(field) {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(AppError::bad_request(format!("{field} must be a JSON object"))),
    }
}

/// The parts of a request the policy engine sees, validated (shared by create and simulate).
pub struct RequestInput {
    pub action: String,
    pub params: Value,
    pub context: Value,
    pub urgency: Urgency,
}

impl RequestInput {
    /// Takes `action`, `params`, `context` and `urgency` out of a request body; 400 naming the bad field.
    pub fn parse(body: &mut Map<String, Value>) -> AppResult<Self> {
        let action = match body.get("action") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => return Err(AppError::bad_request("action is required and must be a non-empty string")),
        };
        if action.chars().count() > MAX_ACTION_LEN {
            return Err(AppError::bad_request(format!("action must be at most {MAX_ACTION_LEN} characters")));
        }
        let params = object_field(body, "params")?;
        let context = object_field(body, "context")?;
        let urgency = match body.get("urgency") {
            None | Some(Value::Null) => Urgency::Normal,
            Some(Value::String(s)) => s.parse().map_err(|_| urgency_error())?,
            Some(_) => return Err(urgency_error()),
        };
        Ok(Self { action, params, context, urgency })
    }

    pub fn eval_input(&self) -> EvalInput<'_> {
        EvalInput { action: &self.action, urgency: self.urgency, params: &self.params, context: &self.context }
    }
}

pub async fn create(
    State(state): State<SharedState>,
    auth: Authorized<CreateRequests>,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<ApprovalRequest>)> {
    let mut body = body.into_object()?;
    let RequestInput { action, params, context, urgency } = RequestInput::parse(&mut body)?;
    // The creation time is the id's own timestamp, so newest-first by (createdAt, id) is creation order.
    let ulid = new_ulid();
    let id = ulid.to_string();
    let created_at = Timestamp(i64::try_from(ulid.timestamp_ms()).unwrap_or(i64::MAX));
    let expires_at = match body.get("expiresAt") {
        None | Some(Value::Null) => state
            .config
            .request_timeout
            .map(|t| created_at.add_millis(i64::try_from(t.as_millis()).unwrap_or(i64::MAX))),
        Some(Value::String(s)) => {
            let at = Timestamp::parse_iso_or_date(s)
                .ok_or_else(|| AppError::bad_request("expiresAt must be an ISO-8601 timestamp or date"))?;
            if at <= created_at {
                return Err(AppError::bad_request("expiresAt must be in the future"));
            }
            Some(at)
        }
        Some(_) => {
            return Err(AppError::bad_request("expiresAt must be an ISO-8601 timestamp or date"));
        }
    };

    let rules = state.policies.get(state.store.as_ref()).await?;
    let evaluation =
        rules.policies.evaluate(&EvalInput { action: &action, urgency, params: &params, context: &context });
    let matched = evaluation.matched.as_ref();
    // An override (for this agent and action) can only make the outcome stricter.
    let agent_id = context.get("agentId").and_then(Value::as_str);
    let active_override =
        agent_id.and_then(|agent| rules.overrides.iter().find(|o| overrides::applies(o, agent, &action, created_at)));
    let decision = match active_override {
        Some(_) => overrides::stricter(evaluation.decision),
        None => evaluation.decision,
    };
    let status = initial_status(decision);
    let params_json = serde_json::to_string(&params).map_err(|e| AppError::Internal(e.to_string()))?;
    let context_json = serde_json::to_string(&context).map_err(|e| AppError::Internal(e.to_string()))?;

    let mut created_details = json!({
        "action": action,
        "params": params,
        "context": context,
        "urgency": urgency,
        "policyDecision": decision,
    });
    let mut decision_reason = None;
    if let Some(matched) = matched {
        created_details["matchedRule"] = json!(matched.rule);
        created_details["policyId"] = json!(matched.policy_id);
        created_details["policyVersion"] = json!(matched.policy_version);
        created_details["ruleIndex"] = json!(matched.rule_index);
        let verb = match decision {
            DecisionType::AutoApprove => Some("Auto-approved"),
            DecisionType::AutoDeny => Some("Auto-denied"),
            _ => None,
        };
        if let Some(verb) = verb {
            let matcher = serde_json::to_string(&matched.rule.matcher).unwrap_or_default();
            decision_reason = Some(format!("{verb} by policy rule matching: {matcher}"));
        }
    }
    if let Some(o) = active_override {
        created_details["override"] = json!({ "id": o.id, "reason": o.reason, "policyDecision": evaluation.decision });
        if decision != evaluation.decision {
            decision_reason = Some(format!("Override active: {}", o.reason.as_deref().unwrap_or("dynamic override")));
        }
    }
    let decided = status.is_terminal();
    // A pending request keeps what its routing rule demands of the decision.
    let routing_rule = matched.filter(|_| !decided).map(|m| &m.rule);
    let approvers = routing_rule.and_then(|r| r.approvers.clone()).filter(|a| !a.is_empty());
    let approvers_json = approvers.as_ref().map(|a| json!(a).to_string());
    let request = ApprovalRequest {
        id: id.clone(),
        action,
        params,
        context,
        status,
        urgency,
        created_at,
        updated_at: created_at,
        decided_at: decided.then_some(created_at),
        decided_by: decided.then(|| "policy".to_owned()),
        decision_reason,
        expires_at,
        approvers,
        require_reason: routing_rule.and_then(|r| r.require_reason).unwrap_or(false),
        policy_decision: None,
    };

    let audit_row = |event_type: &'static str, actor: String, details: Value| NewAudit {
        id: new_id(),
        request_id: Some(id.clone()),
        event_type,
        actor,
        details,
        created_at,
    };
    let payload = serde_json::to_string(&request).map_err(|e| AppError::Internal(e.to_string()))?;
    let event_row = |event_type: &'static str| NewEvent {
        id: new_id(),
        event_type,
        request_id: Some(id.clone()),
        payload: payload.clone(),
        created_at,
    };
    let mut audit_rows = vec![audit_row(audit::CREATED, auth.principal.actor.clone(), created_details)];
    let mut events = vec![event_row(event::REQUEST_CREATED)];
    if decided {
        let (audit_type, event_type) = match status {
            RequestStatus::Approved => (audit::APPROVED, event::REQUEST_APPROVED),
            _ => (audit::DENIED, event::REQUEST_DENIED),
        };
        audit_rows.push(audit_row(
            audit_type,
            "policy".to_owned(),
            json!({
                "reason": request.decision_reason,
                "automatic": true,
                "policyId": matched.map(|m| &m.policy_id),
                "policyVersion": matched.map(|m| m.policy_version),
                "ruleIndex": matched.map(|m| m.rule_index),
            }),
        ));
        events.push(event_row(event_type));
        events.push(event_row(event::REQUEST_DECIDED));
    }

    let policy_decision = PolicyDecision {
        decision,
        approvers: matched.and_then(|m| m.rule.approvers.clone()),
        channels: matched.and_then(|m| m.rule.channels.clone()),
    };
    // Only a request waiting for a human is announced; its outcome follows wherever it was announced.
    let notifications = if decided {
        Vec::new()
    } else {
        let rule_channels = matched.and_then(|m| m.rule.channels.as_deref());
        crate::channels::notifications_for(&state.config.channels, rule_channels, &request.action, urgency)
    };
    drop(rules);
    state
        .store
        .create_request(NewRequest {
            request: request.clone(),
            params_json,
            context_json,
            approvers_json,
            audit: audit_rows,
            events,
            notifications,
        })
        .await?;
    if request.status != RequestStatus::Pending {
        state.metrics.decided(crate::metrics::source::POLICY, &request);
    }
    Ok((StatusCode::CREATED, Json(ApprovalRequest { policy_decision: Some(policy_decision), ..request })))
}

fn urgency_error() -> AppError {
    AppError::bad_request("urgency must be one of: low, normal, high, critical")
}

pub async fn list(
    State(state): State<SharedState>,
    _auth: Authorized<ReadRequests>,
    query: QueryParams,
) -> AppResult<Json<RequestList>> {
    let page = query.page(50, 100)?;
    let filter = RequestFilter {
        status: query.parse_enum::<RequestStatus>("status", "pending, approved, denied, expired")?,
        action: query.get("action").map(str::to_owned),
        urgency: query.parse_enum::<Urgency>("urgency", "low, normal, high, critical")?,
    };
    let (requests, total) = state.store.list_requests(&filter, page).await?;
    let pagination = agentgate_core::wire::Pagination::new(total, page.limit, page.offset, requests.len());
    Ok(Json(RequestList { requests, pagination }))
}

pub async fn get_one(
    State(state): State<SharedState>,
    _auth: Authorized<ReadRequests>,
    PathId(id): PathId,
) -> AppResult<Json<ApprovalRequest>> {
    state.store.get_request(&id).await?.map(Json).ok_or_else(request_not_found)
}

pub fn request_not_found() -> AppError {
    AppError::NotFound("Request not found".into())
}

pub async fn decide(
    State(state): State<SharedState>,
    auth: Authorized<DecideRequests>,
    PathId(id): PathId,
    body: JsonBody,
) -> AppResult<Json<ApprovalRequest>> {
    let body = body.into_object()?;
    let verdict = match body.get("decision").and_then(Value::as_str) {
        Some("approved") => Verdict::Approved,
        Some("denied") => Verdict::Denied,
        _ => {
            return Err(AppError::bad_request("decision must be 'approved' or 'denied'"));
        }
    };
    let reason = optional_string(&body, "reason")?;
    // The client's `decidedBy` is only a label: the decider is the authenticated principal.
    let label = optional_string(&body, "decidedBy")?;
    decide_as(&state, &auth.principal, id, verdict, reason, label).await.map(Json)
}

/// Decides a request as `principal` (the API and the dashboard both decide through here): validates the reason,
/// makes the one conditional decision, and maps a refusal to its status (404, 409, 403 not an approver, 400
/// reason required). `label` is kept in the audit details only.
pub async fn decide_as(
    state: &SharedState,
    principal: &Principal,
    id: String,
    verdict: Verdict,
    reason: Option<String>,
    label: Option<String>,
) -> AppResult<ApprovalRequest> {
    let reason = reason.filter(|r| !r.trim().is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_LEN) {
        return Err(AppError::bad_request(format!("reason must be at most {MAX_REASON_LEN} characters")));
    }
    let label = label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    let mut audit_details = json!({ "keyName": principal.name });
    if let Some(label) = label {
        audit_details["label"] = json!(label);
    }
    let command = DecideCommand {
        request_id: id,
        verdict,
        reason,
        actor: principal.actor.clone(),
        identities: vec![principal.name.clone(), principal.actor.clone()],
        audit_details,
        audit_id: new_id(),
        event_ids: [new_id(), new_id()],
        now: now(),
    };
    match state.store.decide_request(command).await? {
        DecideOutcome::Decided(request) => {
            state.metrics.decided(crate::metrics::source::HUMAN, &request);
            Ok(*request)
        }
        DecideOutcome::NotFound => Err(request_not_found()),
        DecideOutcome::Refused(refusal @ DecideRefusal::NotAnApprover) => Err(AppError::Forbidden(refusal.to_string())),
        DecideOutcome::Refused(refusal @ DecideRefusal::ReasonRequired) => {
            Err(AppError::BadRequest(refusal.to_string()))
        }
        DecideOutcome::Refused(refusal) => Err(AppError::Conflict(refusal.to_string())),
    }
}

pub async fn audit_trail(
    State(state): State<SharedState>,
    _auth: Authorized<ReadRequests>,
    PathId(id): PathId,
) -> AppResult<Json<Vec<AuditEntry>>> {
    state.store.request_audit(&id).await?.map(Json).ok_or_else(request_not_found)
}

/// Longest a single `wait` call may block.
const MAX_WAIT_SECONDS: u64 = 60;

/// `GET /api/requests/:id/wait?timeout=<seconds>`: the request as soon as it is decided or expired, or as it is
/// when the timeout (default 30 s, at most 60) passes.
///
/// On a connection that allows it (`Deferrable`), the answer is deferred at once, before the first read: the
/// middleware sees the response now, and the connection waits outside hyper holding only the wait itself (see
/// `connections`); the answer's status (200, 404 for an unknown id…) comes with it.
pub async fn wait(
    State(state): State<SharedState>,
    _auth: Authorized<ReadRequests>,
    PathId(id): PathId,
    query: QueryParams,
    deferrable: Option<Extension<Deferrable>>,
) -> AppResult<Response> {
    let seconds = match query.get("timeout") {
        None => 30,
        Some(text) => text.parse::<u64>().ok().filter(|s| *s <= MAX_WAIT_SECONDS).ok_or_else(|| {
            AppError::bad_request(format!("timeout must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}"))
        })?,
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    if let Some(Extension(deferrable)) = deferrable {
        let answer = answer_when_final(state, id, deadline, Some(deferrable.line()));
        return Ok(Deferred::response(deferrable, async move {
            answer.await.map_or_else(|e| e.status_and_body(), |json| (StatusCode::OK, json))
        }));
    }
    let answer = answer_when_final(state, id, deadline, None).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
}

/// A long poll's answer, written by the hub as it hands out the request's final event: the request as that
/// event left it. Every waiter of the decision is written to before any of their tasks is woken.
struct AnswerWithRequest(AnswerLine);

impl FinalListener for AnswerWithRequest {
    fn on_final(&self, event: &StoredEvent) {
        self.0.write(StatusCode::OK, &event.request_json);
    }

    fn after_all(&self) {
        self.0.wake();
    }
}

/// The JSON of the request once it is final, or as it is at the deadline or at shutdown. The waiter registers
/// with the hub before it reads, so a decision committed at any moment wakes it.
async fn answer_when_final(
    state: SharedState,
    id: String,
    deadline: tokio::time::Instant,
    line: Option<AnswerLine>,
) -> AppResult<bytes::Bytes> {
    let mut watch = match line {
        // The hub writes the answer itself as it hands out the final event (see `AnswerLine`); the wait below
        // still ends this future.
        Some(line) => state.hub.watch_with(&id, Box::new(AnswerWithRequest(line))),
        None => state.hub.watch(&id),
    };
    let mut request = state.store.get_request(&id).await?.ok_or_else(request_not_found)?;
    if !request.status.is_terminal() {
        // Not held while waiting (its params and context can be large): the answer is the event's copy or a new
        // read.
        drop(request);
        loop {
            tokio::select! {
                changed = watch.events.changed() => {
                    let final_event = changed.ok().and_then(|()| watch.events.borrow_and_update().clone()).filter(|e| e.is_final());
                    if let Some(event) = final_event {
                        // The event carries the request as the decision left it, already serialised.
                        return Ok(event.request_json.clone());
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
                () = state.shutdown.cancelled() => break,
            }
        }
        drop(watch);
        request = state.store.get_request(&id).await?.ok_or_else(request_not_found)?;
    }
    serde_json::to_vec(&request).map(Into::into).map_err(|e| AppError::Internal(format!("serialising a request: {e}")))
}
