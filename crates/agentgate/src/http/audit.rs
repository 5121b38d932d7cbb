//! `/api/audit`: the whole audit trail with filters, and the distinct actions and actors for filter menus.

use super::extract::{Authorized, QueryParams, ReadRequests};
use crate::app::SharedState;
use crate::error::{AppError, AppResult};
use crate::store::AuditFilter;
use agentgate_core::Timestamp;
use agentgate_core::audit;
use agentgate_core::request::RequestStatus;
use agentgate_core::wire::{AuditList, Pagination};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

/// `from`/`to`: a full ISO-8601 timestamp, or a date (`2026-11-25`) meaning that whole UTC day.
fn parse_bound(query: &QueryParams, name: &str, end_of_day: bool) -> AppResult<Option<Timestamp>> {
    let Some(text) = query.get(name) else {
        return Ok(None);
    };
    let start = Timestamp::parse_iso_or_date(text)
        .ok_or_else(|| AppError::bad_request(format!("{name} must be an ISO-8601 timestamp or a date (YYYY-MM-DD)")))?;
    let whole_day = Timestamp::parse_iso(text).is_none();
    Ok(Some(if whole_day && end_of_day { start.add_millis(DAY_MS - 1) } else { start }))
}

pub async fn list(
    State(state): State<SharedState>,
    _auth: Authorized<ReadRequests>,
    query: QueryParams,
) -> AppResult<Json<AuditList>> {
    let page = query.page(50, 100)?;
    let filter = audit_filter(&query)?;
    let (entries, total) = state.store.list_audit(&filter, page).await?;
    let pagination = Pagination::new(total, page.limit, page.offset, entries.len());
    Ok(Json(AuditList { entries, pagination }))
}

/// The audit filters of a query string (`eventType`, `action`, `actor`, `status`, `requestId`, `from`, `to`),
/// each checked (400 naming it); shared with the dashboard's audit page.
pub fn audit_filter(query: &QueryParams) -> AppResult<AuditFilter> {
    let event_type = match query.get("eventType") {
        None => None,
        Some(t) if audit::ALL.contains(&t) => Some(t.to_owned()),
        Some(_) => {
            return Err(AppError::bad_request(format!("eventType must be one of: {}", audit::ALL.join(", "))));
        }
    };
    let filter = AuditFilter {
        event_type,
        action: query.get("action").map(str::to_owned),
        actor: query.get("actor").map(str::to_owned),
        status: query.parse_enum::<RequestStatus>("status", "pending, approved, denied, expired")?,
        request_id: query.get("requestId").map(str::to_owned),
        from: parse_bound(query, "from", false)?,
        to: parse_bound(query, "to", true)?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(AppError::bad_request("from must not be after to"));
    }
    Ok(filter)
}

pub async fn actions(State(state): State<SharedState>, _auth: Authorized<ReadRequests>) -> AppResult<Json<Value>> {
    Ok(Json(json!({ "actions": state.store.audit_actions().await? })))
}

pub async fn actors(State(state): State<SharedState>, _auth: Authorized<ReadRequests>) -> AppResult<Json<Value>> {
    Ok(Json(json!({ "actors": state.store.audit_actors().await? })))
}
