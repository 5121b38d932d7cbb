//! `GET /health`: public liveness, and with `?deep=true` a database round trip.

use super::extract::QueryParams;
use crate::app::{SharedState, now};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Instant;

pub async fn health(State(state): State<SharedState>, query: QueryParams) -> (StatusCode, Json<Value>) {
    if query.get("deep") != Some("true") {
        return (StatusCode::OK, Json(json!({ "status": "ok", "timestamp": now() })));
    }
    let started = Instant::now();
    let database = match state.store.ping().await {
        Ok(()) => json!({ "status": "healthy", "latencyMs": started.elapsed().as_millis() as u64 }),
        Err(e) => json!({ "status": "unhealthy", "error": e.to_string() }),
    };
    let healthy = database["status"] == "healthy";
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "timestamp": now(),
        "checks": { "database": database },
    });
    (if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}
