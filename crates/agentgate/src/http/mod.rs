//! The HTTP adapter: routes, middleware and the translation between JSON and the domain.
//!
//! Only this module (and `error.rs`) knows status codes. Every `/api` route authenticates, and is rate-limited, in
//! one middleware; each handler states the scope it needs in its signature (`Authorized<ReadRequests>`), so a
//! route without a scope cannot be written by accident.

pub(crate) mod audit;
pub(crate) mod events;
pub mod extract;
mod health;
mod integrations;
pub(crate) mod keys;
mod links;
mod metrics;
pub mod openapi;
mod overrides;
pub(crate) mod policies;
pub(crate) mod requests;
pub(crate) mod webhooks;

use crate::app::SharedState;
use crate::error::AppError;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

pub use links::new_secret as new_link_secret;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Every route, without the middleware stack around them. The OpenAPI test compares this router's routes with
/// `/openapi.json`, so a route added here and not documented fails it.
pub fn routes(state: SharedState, self_url: String) -> Router {
    let api = Router::new()
        .route("/requests", post(requests::create).get(requests::list))
        .route("/requests/{id}", get(requests::get_one))
        .route("/requests/{id}/decide", post(requests::decide))
        .route("/requests/{id}/audit", get(requests::audit_trail))
        .route("/requests/{id}/wait", get(requests::wait))
        .route("/requests/{id}/tokens", post(links::mint))
        .route("/requests/{id}/notifications", get(integrations::notifications))
        .route("/events", get(events::stream))
        .route("/policies", get(policies::list).post(policies::create))
        .route("/policies/simulate", post(policies::simulate))
        .route("/policies/backtest", post(policies::backtest))
        .route("/policies/{id}", get(policies::get_one).put(policies::replace).delete(policies::delete))
        .route("/api-keys", get(keys::list).post(keys::create))
        .route("/api-keys/{id}", axum::routing::patch(keys::update).delete(keys::revoke))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", axum::routing::patch(keys::update).delete(keys::revoke))
        .route("/overrides", get(overrides::list).post(overrides::create))
        .route("/overrides/{id}", axum::routing::delete(overrides::delete))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", get(webhooks::get_one).patch(webhooks::update).delete(webhooks::delete))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/deliveries/{id}/replay", post(webhooks::replay))
        .route("/audit", get(audit::list))
        .route("/audit/actions", get(audit::actions))
        .route("/audit/actors", get(audit::actors))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // Public: the token in the path is the credential.
        .route("/decide/{token}", get(links::confirm_page).post(links::decide))
        // Public: each request is authenticated by its Slack or Discord signature.
        .route("/integrations/slack/interactions", post(integrations::slack))
        .route("/integrations/discord/interactions", post(integrations::discord));

    // MCP over streamable HTTP, authenticated (and rate-limited) like the API; each tool call then runs with the
    // caller's key.
    let mcp = Router::new()
        .nest_service("/mcp", crate::mcp::http_service(self_url, state.shutdown.clone()))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));

    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::spec))
        .route("/docs", get(openapi::docs_page))
        .route("/docs/{file}", get(openapi::docs_asset))
        .nest("/api", api)
        .merge(mcp)
        .merge(crate::dashboard::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the router, where the matched route pattern is known (the metrics' route label).
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

/// The whole HTTP surface: [`routes`] inside the middleware stack, the service each connection runs
/// (`connections::serve`). `self_url` is the gateway's own loopback address, which the MCP tools at `/mcp` call
/// with the caller's key (see `crate::mcp`).
pub fn router(
    state: SharedState,
    self_url: String,
) -> impl tower::Service<
    axum::http::Request<hyper::body::Incoming>,
    Response = Response,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    let cors = cors_layer(&state.config.cors_allowed_origins);
    let body_limit = state.config.body_size_limit;
    let hsts = state.config.hsts_max_age.map(|age| {
        let value = HeaderValue::from_str(&format!("max-age={age}; includeSubDomains"))
            .unwrap_or_else(|_| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
        SetResponseHeaderLayer::if_not_present(header::STRICT_TRANSPORT_SECURITY, value)
    });
    let http_timeout = state.config.http_timeout;
    let routes = routes(state, self_url);
    let set_header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    // The middleware wraps the router once, as one service. (`Router::layer` would wrap every route separately,
    // and each connection clones the router: ~55 KB per connection with this stack, against ~1 KB this way.) It
    // is served as it is: wrapped in a `Router` again (`fallback_service`), each request would hold a boxed clone
    // of the whole stack for as long as it runs (2.7 KB for every waiting client).
    tower::ServiceBuilder::new()
        // hyper's body type to axum's, as `axum::serve` does.
        .map_request(|req: axum::http::Request<hyper::body::Incoming>| req.map(axum::body::Body::new))
        // The layers below wrap the response body in types of their own; one body type out.
        .map_response(|res: axum::http::Response<_>| res.into_response())
        .layer(SetRequestIdLayer::new(REQUEST_ID, UlidRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let request_id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!(
                        "http",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %request_id,
                        actor = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(|res: &axum::http::Response<_>, latency: Duration, _span: &tracing::Span| {
                    tracing::info!(status = res.status().as_u16(), latency_us = latency.as_micros() as u64, "response");
                })
                .on_failure(()),
        )
        .layer(CatchPanicLayer::custom(|_| AppError::Internal("a handler panicked".into()).into_response()))
        .option_layer(http_timeout.map(|limit| tower::layer::layer_fn(move |inner| TimeLimit { inner, limit })))
        // A client that stops sending its body mid-way cannot hold a request open either.
        .option_layer(http_timeout.map(RequestBodyTimeoutLayer::new))
        // Security headers (reference §2.1), each only when the handler set none: the dashboard's pages and
        // `/docs` send a CSP of their own. X-XSS-Protection is `0`, as OWASP advises now: browsers removed the
        // filter `1; mode=block` asked for, and in the ones that kept it, it opened holes of its own.
        .layer(set_header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'",
        ))
        .layer(set_header(header::REFERRER_POLICY, "strict-origin-when-cross-origin"))
        .layer(set_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set_header(header::X_XSS_PROTECTION, "0"))
        .option_layer(hsts)
        .option_layer(cors)
        .layer(DefaultBodyLimit::max(body_limit))
        .service(routes)
}

#[derive(Clone, Copy)]
struct UlidRequestId;

impl MakeRequestId for UlidRequestId {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::generate().to_string()).ok().map(RequestId::new)
    }
}

/// Resolves the bearer key to a principal (401 otherwise), applies its rate limit (429 when used up) and records
/// the principal for the handler and the logs.
async fn authenticate(State(state): State<SharedState>, mut req: Request, next: Next) -> Response {
    let Some(header) = req.headers().get(header::AUTHORIZATION) else {
        return AppError::Unauthorized("Missing Authorization header").into_response();
    };
    let Some(secret) = header.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim) else {
        return AppError::Unauthorized("Invalid Authorization format").into_response();
    };
    if secret.is_empty() {
        return AppError::Unauthorized("Invalid Authorization format").into_response();
    }
    let principal = match state.auth.authenticate(secret, state.store.as_ref()).await {
        Ok(Some(principal)) => principal,
        Ok(None) => return AppError::Unauthorized("Invalid API key").into_response(),
        Err(e) => return AppError::Store(e).into_response(),
    };
    tracing::Span::current().record("actor", principal.actor.as_str());
    // A key's own limit, else the default; `ADMIN_API_KEY` has no own limit, so only the default applies to it.
    let limit = principal.rate_limit.or(state.config.rate_limit_rpm);
    let decision = match limit {
        Some(limit) => Some(state.limiter.check(&principal.actor, limit).await),
        None => None,
    };
    let mut response = match decision {
        Some(d) if !d.allowed => {
            state.metrics.rate_limited();
            AppError::RateLimited { retry_after_seconds: d.retry_after_seconds() }.into_response()
        }
        _ => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
    };
    if let Some(d) = decision {
        let headers = response.headers_mut();
        headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from(d.limit));
        headers.insert(RATE_LIMIT_REMAINING, HeaderValue::from(d.remaining));
        headers.insert(RATE_LIMIT_RESET, HeaderValue::from(d.reset_epoch_seconds()));
    }
    response
}

/// Answers 503 when a request takes longer than `HTTP_TIMEOUT_SEC`. Long polls, event streams and MCP sessions
/// are meant to stay open and have bounds of their own, so they are exempt.
///
/// A service of its own rather than a `from_fn` middleware: those box their future and a clone of the service
/// below them for every request, ~2 KB held by each waiting client; this future lives inline in its caller's.
#[derive(Clone)]
struct TimeLimit<S> {
    inner: S,
    limit: Duration,
}

type TimedOut<F> = futures::future::Map<
    tokio::time::Timeout<F>,
    fn(Result<Result<Response, Infallible>, tokio::time::error::Elapsed>) -> Result<Response, Infallible>,
>;

impl<S> tower::Service<Request> for TimeLimit<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures::future::Either<S::Future, TimedOut<S::Future>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let path = req.uri().path();
        let long_lived =
            path == "/api/events" || path.ends_with("/wait") || path == "/mcp" || path.starts_with("/mcp/");
        if long_lived {
            return futures::future::Either::Left(self.inner.call(req));
        }
        let timed_out: fn(_) -> _ = |result: Result<Result<Response, Infallible>, _>| {
            result.unwrap_or_else(|_| {
                let body = json!({ "error": "Request timed out" });
                Ok((StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], axum::Json(body)).into_response())
            })
        };
        futures::future::Either::Right(futures::FutureExt::map(
            tokio::time::timeout(self.limit, self.inner.call(req)),
            timed_out,
        ))
    }
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    let body = json!({ "error": "Not Found", "message": format!("Route {method} {} not found", uri.path()) });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let body = json!({ "error": "Method Not Allowed", "message": format!("Route {method} {} not found", uri.path()) });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
            .max_age(Duration::from_secs(600)),
    )
}
