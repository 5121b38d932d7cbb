//! `GET /health`: public liveness, and with `?deep=true` a database round trip (and a Redis one when `REDIS_URL`
//! is set). `GET /ready`: whether this replica can serve requests now (its database answers), for load balancers
//! and orchestrators.
//!
//! Only the database decides the status code (503 when it fails). Redis down is `degraded` with 200: the replica
//! still serves, with per-replica rate limits, and a load balancer routing on this check must not take every
//! replica out of service because a shared cache is down.

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
    let mut checks = json!({ "database": database });
    let mut degraded = !healthy;
    if let Some(redis) = state.limiter.redis_health().await {
        checks["redis"] = match redis {
            Ok(latency) => json!({ "status": "healthy", "latencyMs": latency.as_millis() as u64 }),
            Err(error) => {
                degraded = true;
                json!({ "status": "unhealthy", "error": error, "fallback": "in-memory rate limits on each replica" })
            }
        };
    }
    let body = json!({
        "status": if degraded { "degraded" } else { "ok" },
        "timestamp": now(),
        "checks": checks,
    });
    (if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

/// `GET /ready`: 200 when the database answers, 503 with the reason otherwise (bounded by the pool's connection
/// timeout, a few seconds). With `REDIS_URL` set, `redis` says whether Redis answers; either way the replica is
/// ready, since it serves with per-replica limits meanwhile: taking every replica out of a load balancer because
/// a shared cache is down would turn a degraded service into none.
pub async fn ready(State(state): State<SharedState>) -> (StatusCode, Json<Value>) {
    let (status, mut body) = match state.store.ping().await {
        Ok(()) => (StatusCode::OK, json!({ "status": "ready", "timestamp": now() })),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unavailable", "error": e.to_string(), "timestamp": now() }),
        ),
    };
    if let Some(redis) = state.limiter.redis_health().await {
        body["redis"] = json!(if redis.is_ok() { "healthy" } else { "unhealthy" });
    }
    (status, Json(body))
}
