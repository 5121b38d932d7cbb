//! `GET /metrics` (Prometheus text format) and the middleware that counts and times every request.
//!
//! Access: public unless `METRICS_TOKEN` is set, then only with `Authorization: Bearer <token>` (compared in
//! constant time). The numbers reveal traffic volumes, not data; keep the port internal or set a token.

use crate::app::SharedState;
use crate::connections::Deferred;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Instant;
use subtle::ConstantTimeEq;

/// Counts and times a request under its route pattern (`/api/requests/{id}`), or `unmatched` for paths no route
/// serves (so scanners probing random paths add one series, not one per path). Timed to the response head: a
/// stream's lifetime is not a latency.
pub async fn track(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let response = next.run(req).await;
    // Only standard methods become labels; anything else is `other` (a closed set, like the routes).
    let method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        .into_iter()
        .find(|label| *label == method.as_str())
        .unwrap_or("other");
    if let Some(deferred) = response.extensions().get::<Deferred>() {
        // A long poll is counted when its answer is written: with that answer's status, and the whole wait.
        let state = state.clone();
        deferred.when_answered(move |status| {
            let route = route.as_deref().unwrap_or("unmatched");
            state.metrics.http_request(method, route, status.as_u16(), started.elapsed());
        });
        return response;
    }
    let route = route.as_deref().unwrap_or("unmatched");
    state.metrics.http_request(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// `GET /metrics`: refreshes the gauges read from the database, then renders everything.
pub async fn metrics(State(state): State<SharedState>, req: Request) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        // Digests first, so the comparison's time depends on neither token's length.
        let matches: bool = Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(token.as_bytes())).into();
        if !matches {
            let body = axum::Json(json!({ "error": "Invalid or missing metrics token" }));
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
    }
    // A database that does not answer leaves the gauges at their last values; the scrape itself still works,
    // so the HTTP and delivery counters stay visible during an outage.
    match state.store.pending_by_urgency().await {
        Ok(counts) => state.metrics.set_pending(&counts),
        Err(e) => tracing::warn!(error = %e, "metrics: could not count pending requests"),
    }
    match state.store.pending_delivery_count().await {
        Ok(depth) => state.metrics.set_queue_depth(crate::metrics::WEBHOOK, depth),
        Err(e) => tracing::warn!(error = %e, "metrics: could not count queued webhook deliveries"),
    }
    let content_type = HeaderValue::from_static(crate::metrics::CONTENT_TYPE);
    ([(header::CONTENT_TYPE, content_type)], state.metrics.render()).into_response()
}
