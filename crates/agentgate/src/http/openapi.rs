//! `GET /openapi.json` (OpenAPI 3.1, built by utoipa from the wire types in `agentgate_core::wire`) and the
//! Swagger UI at `/docs`, served from files vendored into the binary (no CDN; see `assets/swagger-ui/VERSION`).
//!
//! The operations are declared here, side by side, rather than on the handlers: most handlers parse their body
//! field by field (so messages can name the field) and answer with `json!`, so the shapes a client sees are the
//! wire types named below, not the handlers' Rust signatures. The integration test `openapi` keeps this honest:
//! it compares every route of the real router (and the methods it answers) with this document, so a route added
//! without documentation fails it, and schemathesis checks live responses against the schemas.

use agentgate_core::wire;
use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// The body of `GET /ready`.
#[allow(dead_code)] // documentation only: the handler builds this JSON with `json!`
#[derive(ToSchema)]
struct Readiness {
    /// `ready` or `unavailable`.
    status: String,
    timestamp: agentgate_core::Timestamp,
    /// Why the replica is not ready (503 only).
    error: Option<String>,
    /// Present when Redis is configured: `healthy`, or `unhealthy` (the replica is still ready: rate limits fall
    /// back to memory).
    redis: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AgentGate",
        description = "A human-in-the-loop approval gateway for AI agents. Every `/api` route except \
                       `/api/decide/{token}` needs `Authorization: Bearer <API key>`; the scope each needs is in its \
                       description. Errors are `{\"error\": \"<message>\"}`.",
        license(name = "MIT")
    ),
    paths(
        operations::health, operations::ready, operations::metrics, operations::openapi_json, operations::docs, operations::docs_file,
        operations::create_request, operations::list_requests, operations::get_request, operations::decide_request, operations::request_audit, operations::wait_request, operations::mint_tokens,
        operations::events, operations::decide_page, operations::decide_by_link,
        operations::list_policies, operations::create_policy, operations::simulate_policies, operations::backtest_policies, operations::get_policy, operations::replace_policy,
        operations::delete_policy,
        operations::list_api_keys, operations::create_api_key, operations::update_api_key, operations::revoke_api_key,
        operations::list_keys, operations::create_key, operations::update_key, operations::revoke_key,
        operations::list_overrides, operations::create_override, operations::delete_override,
        operations::list_webhooks, operations::create_webhook, operations::get_webhook, operations::update_webhook, operations::delete_webhook, operations::test_webhook,
        operations::webhook_deliveries, operations::replay_delivery,
        operations::list_audit, operations::audit_actions, operations::audit_actors,
        operations::mcp_post, operations::mcp_get, operations::mcp_delete,
        operations::slack_interactions, operations::discord_interactions, operations::request_notifications,
        operations::dashboard_root, operations::dashboard_home, operations::dashboard_home_fragment, operations::dashboard_sign_in_page, operations::dashboard_sign_in, operations::dashboard_sign_out, operations::dashboard_events, operations::dashboard_requests, operations::dashboard_requests_fragment, operations::dashboard_request, operations::dashboard_request_summary, operations::dashboard_decide, operations::dashboard_audit, operations::dashboard_audit_csv, operations::dashboard_policies, operations::dashboard_create_policy, operations::dashboard_new_policy, operations::dashboard_simulate, operations::dashboard_policy, operations::dashboard_save_policy, operations::dashboard_toggle_policy, operations::dashboard_keys, operations::dashboard_create_key, operations::dashboard_new_key, operations::dashboard_key, operations::dashboard_save_key, operations::dashboard_revoke_key, operations::dashboard_webhooks, operations::dashboard_create_webhook, operations::dashboard_new_webhook, operations::dashboard_webhook, operations::dashboard_webhook_deliveries, operations::dashboard_toggle_webhook, operations::dashboard_test_webhook, operations::dashboard_delete_webhook, operations::dashboard_asset,
    ),
    components(schemas(Readiness)),
    modifiers(&Conventions),
    tags(
        (name = "requests", description = "Approval requests: create, read, decide, wait"),
        (name = "policies", description = "Policies that decide requests or route them to people"),
        (name = "keys", description = "API keys (scope admin)"),
        (name = "overrides", description = "Per-agent overrides that make outcomes stricter (scope admin)"),
        (name = "webhooks", description = "Outbound webhooks and their deliveries (scope webhook:manage)"),
        (name = "audit", description = "The audit trail"),
        (name = "operations", description = "Probes, metrics and this document"),
        (name = "mcp", description = "The MCP server over streamable HTTP (JSON-RPC; see the MCP specification)"),
        (name = "channels", description = "Slack and Discord interactions (signed, no API key) and notification logs"),
        (name = "dashboard", description = "The web dashboard's pages and forms (HTML; a session cookie, not an API key)"),
    )
)]
pub struct ApiDoc;

/// What every operation shares: the bearer scheme, and the error responses (`{"error"}`) of authenticated routes.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("API key").build()),
        );
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content("application/json", ContentBuilder::new().schema(Some(wire::ErrorBody::schema_ref())).build())
                .build()
        };
        let authenticated = [
            ("400", "Invalid input; the message names the field"),
            ("401", "Missing or invalid API key"),
            ("403", "The key lacks the scope this route needs"),
            ("404", "Not found"),
            ("413", "Request body too large"),
            ("429", "Rate limit exceeded (see Retry-After)"),
            ("503", "The database is unavailable, or the request timed out; retry later"),
        ];
        for (path, item) in doc.paths.paths.iter_mut() {
            // Links and chat interactions authenticate by their token or signature, not an API key.
            let is_api = path.starts_with("/api/")
                && !path.starts_with("/api/decide/")
                && !path.starts_with("/api/integrations/");
            let is_mcp = path.starts_with("/mcp");
            for operation in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                if is_api || is_mcp {
                    operation.security =
                        Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
                }
                let codes: &[(&str, &str)] = if is_api {
                    &authenticated
                } else if is_mcp {
                    &authenticated[1..2]
                } else {
                    &[("503", "Unavailable, or the request timed out")]
                };
                for (code, description) in codes {
                    operation
                        .responses
                        .responses
                        .entry((*code).to_owned())
                        .or_insert_with(|| RefOr::T(error(description)));
                }
            }
        }
    }
}

trait SchemaRef {
    fn schema_ref() -> RefOr<utoipa::openapi::schema::Schema>;
}

impl<T: ToSchema> SchemaRef for T {
    fn schema_ref() -> RefOr<utoipa::openapi::schema::Schema> {
        RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
    }
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({})))
}

/// `GET /openapi.json`.
pub async fn spec() -> Json<&'static Value> {
    Json(document())
}

/// The page's own CSP: Swagger UI styles its elements inline and draws icons from `data:` URLs.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                        img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

const DOCS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>AgentGate API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="stylesheet" href="/docs/index.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/agentgate-init.js"></script>
</body>
</html>
"#;

/// `GET /docs`: Swagger UI on `/openapi.json`.
pub async fn docs_page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CONTENT_SECURITY_POLICY, DOCS_CSP)], DOCS_PAGE)
        .into_response()
}

/// The vendored files: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    ("swagger-ui.css", "text/css; charset=utf-8", include_bytes!("../../assets/swagger-ui/swagger-ui.css")),
    ("index.css", "text/css; charset=utf-8", include_bytes!("../../assets/swagger-ui/index.css")),
    ("favicon-32x32.png", "image/png", include_bytes!("../../assets/swagger-ui/favicon-32x32.png")),
    (
        "agentgate-init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/agentgate-init.js"),
    ),
    ("LICENSE", "text/plain; charset=utf-8", include_bytes!("../../assets/swagger-ui/LICENSE")),
    ("NOTICE", "text/plain; charset=utf-8", include_bytes!("../../assets/swagger-ui/NOTICE")),
];

/// `GET /docs/{file}`: one of the vendored Swagger UI files (long-cached: they change only with the binary).
pub async fn docs_asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({ "error": "No such file" }))).into_response(),
    }
}

/// The operations: each function only carries its `#[utoipa::path]`; the handlers live in the sibling modules.
#[allow(dead_code)] // referenced by the `paths(...)` above through the macro only
mod operations {
    use super::Readiness;
    use agentgate_core::request::{RequestStatus, Urgency};
    use agentgate_core::wire;

    /// Liveness, and with `deep=true` a database (and Redis) round trip.
    #[utoipa::path(get, path = "/health", tag = "operations",
        params(("deep" = Option<String>, Query, description = "`true` for a check of the database (and Redis)")),
        responses(
            (status = 200, description = "Alive (`status` is `degraded` when Redis is down)", body = wire::Health),
            (status = 503, description = "The database does not answer (deep check)", body = wire::Health),
        ))]
    fn health() {}

    /// Readiness for load balancers: the database answers (Redis down is reported, not fatal).
    #[utoipa::path(get, path = "/ready", tag = "operations", responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: the database does not answer", body = Readiness),
    ))]
    fn ready() {}

    /// Prometheus metrics (text format). Needs `Authorization: Bearer <METRICS_TOKEN>` when that is configured.
    #[utoipa::path(get, path = "/metrics", tag = "operations", responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 401, description = "METRICS_TOKEN is set and was not presented", body = wire::ErrorBody),
    ))]
    fn metrics() {}

    /// This document.
    #[utoipa::path(get, path = "/openapi.json", tag = "operations", responses(
        (status = 200, description = "The OpenAPI document", body = Object),
    ))]
    fn openapi_json() {}

    /// Swagger UI for this document.
    #[utoipa::path(get, path = "/docs", tag = "operations", responses(
        (status = 200, description = "An HTML page", content_type = "text/html", body = String),
    ))]
    fn docs() {}

    /// A file of the Swagger UI (scripts, styles, its license).
    #[utoipa::path(get, path = "/docs/{file}", tag = "operations",
        params(("file" = String, Path, description = "File name")),
        responses(
            (status = 200, description = "The file", content(
                (String = "text/javascript"), (String = "text/css"), (String = "image/png"), (String = "text/plain")
            )),
            (status = 404, description = "No such file", body = wire::ErrorBody),
        ))]
    fn docs_file() {}

    /// Ask for approval (scope `request:create`). The policy engine may decide at once.
    #[utoipa::path(post, path = "/api/requests", tag = "requests", request_body = wire::CreateRequest, responses(
        (status = 201, description = "Created (pending, or already decided by a policy)", body = wire::ApprovalRequest,
        links(
            ("GetRequest" = (operation_id = "get_request", parameters(("id" = "$response.body#/id")))),
            ("DecideRequest" = (operation_id = "decide_request", parameters(("id" = "$response.body#/id")))),
            ("RequestAudit" = (operation_id = "request_audit", parameters(("id" = "$response.body#/id")))),
            ("MintTokens" = (operation_id = "mint_tokens", parameters(("id" = "$response.body#/id")))),
        )),
    ))]
    fn create_request() {}

    /// List requests, newest first (scope `request:read`).
    #[utoipa::path(get, path = "/api/requests", tag = "requests",
        params(
            ("status" = Option<RequestStatus>, Query),
            ("action" = Option<String>, Query, description = "Exact action"),
            ("urgency" = Option<Urgency>, Query),
            ("limit" = Option<u64>, Query, minimum = 1, description = "Page size (larger than 100 is capped)"),
            ("offset" = Option<u64>, Query, description = "Rows to skip"),
        ),
        responses((status = 200, description = "A page of requests", body = wire::RequestList)))]
    fn list_requests() {}

    /// One request (scope `request:read`).
    #[utoipa::path(get, path = "/api/requests/{id}", tag = "requests", params(("id" = String, Path)),
        responses((status = 200, description = "The request", body = wire::ApprovalRequest)))]
    fn get_request() {}

    /// Decide a pending request (scope `request:decide`). 409 when it is no longer pending.
    #[utoipa::path(post, path = "/api/requests/{id}/decide", tag = "requests", params(("id" = String, Path)),
        request_body = wire::DecideRequest,
        responses(
            (status = 200, description = "Decided", body = wire::ApprovalRequest),
            (status = 409, description = "Already decided, or expired", body = wire::ErrorBody),
        ))]
    fn decide_request() {}

    /// The audit trail of one request, oldest first (scope `request:read`).
    #[utoipa::path(get, path = "/api/requests/{id}/audit", tag = "requests", params(("id" = String, Path)),
        responses((status = 200, description = "Audit entries", body = Vec<wire::AuditEntry>)))]
    fn request_audit() {}

    /// Long poll: the request once decided or expired, or as it is when `timeout` passes (scope `request:read`).
    #[utoipa::path(get, path = "/api/requests/{id}/wait", tag = "requests",
        params(("id" = String, Path), ("timeout" = Option<u32>, Query, maximum = 60, description = "Seconds (default 30)")),
        responses((status = 200, description = "The request", body = wire::ApprovalRequest)))]
    fn wait_request() {}

    /// Mint one-click approve/deny links (scope `request:decide`).
    #[utoipa::path(post, path = "/api/requests/{id}/tokens", tag = "requests", params(("id" = String, Path)),
        responses(
            (status = 200, description = "The links", body = wire::DecisionLinks),
            (status = 409, description = "The request can no longer be decided", body = wire::ErrorBody),
        ))]
    fn mint_tokens() {}

    /// Server-sent events: `request.created`, `request.approved`, `request.denied`, `request.expired`,
    /// `request.decided` (scope `request:read`). Resumes after `Last-Event-ID`.
    #[utoipa::path(get, path = "/api/events", tag = "requests", responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
    ))]
    fn events() {}

    /// The confirmation page of a one-click link (public: the token is the credential).
    #[utoipa::path(get, path = "/api/decide/{token}", tag = "requests", params(("token" = String, Path)),
        responses(
            (status = 200, description = "An HTML page with the request and a confirm button", content_type = "text/html", body = String),
            (status = 400, description = "Used or expired link (HTML)", content_type = "text/html", body = String),
            (status = 404, description = "Unknown link (HTML)", content_type = "text/html", body = String),
            (status = 409, description = "Already decided (HTML)", content_type = "text/html", body = String),
        ))]
    fn decide_page() {}

    /// Decide through a one-click link (the page's form; `reason` optional).
    #[utoipa::path(post, path = "/api/decide/{token}", tag = "requests", params(("token" = String, Path)),
        request_body(content_type = "application/x-www-form-urlencoded", content = Object),
        responses(
            (status = 200, description = "Decided (HTML)", content_type = "text/html", body = String),
            (status = 400, description = "Used or expired link, reason missing or too long (HTML)", content_type = "text/html", body = String),
            (status = 403, description = "The link's minter may not decide (HTML)", content_type = "text/html", body = String),
            (status = 404, description = "Unknown link (HTML)", content_type = "text/html", body = String),
            (status = 409, description = "Already decided (HTML)", content_type = "text/html", body = String),
        ))]
    fn decide_by_link() {}

    /// List policies in evaluation order (scope `admin`).
    #[utoipa::path(get, path = "/api/policies", tag = "policies",
        params(("limit" = Option<u64>, Query, minimum = 1), ("offset" = Option<u64>, Query)),
        responses((status = 200, description = "A page of policies", body = wire::PolicyList)))]
    fn list_policies() {}

    /// Create a policy (scope `admin`). The message of a 400 names the rule and field at fault.
    #[utoipa::path(post, path = "/api/policies", tag = "policies", request_body = wire::PolicyInput,
        responses((status = 201, description = "Created", body = wire::Policy, links(
        ("GetPolicy" = (operation_id = "get_policy", parameters(("id" = "$response.body#/id")))),
        ("ReplacePolicy" = (operation_id = "replace_policy", parameters(("id" = "$response.body#/id")))),
        ("DeletePolicy" = (operation_id = "delete_policy", parameters(("id" = "$response.body#/id")))),
    ))))]
    fn create_policy() {}

    /// Dry-run requests against the stored policies, or against a draft set (scope `admin`).
    #[utoipa::path(post, path = "/api/policies/simulate", tag = "policies", request_body = wire::SimulateInput,
        responses((status = 200, description = "What each request would get, and why", body = wire::Simulation)))]
    fn simulate_policies() {}

    /// Replay recent requests against a draft policy set and count what would change (scope `admin`).
    #[utoipa::path(post, path = "/api/policies/backtest", tag = "policies", request_body = wire::BacktestInput,
        responses((status = 200, description = "The changes", body = wire::Backtest)))]
    fn backtest_policies() {}

    /// One policy (scope `admin`).
    #[utoipa::path(get, path = "/api/policies/{id}", tag = "policies", params(("id" = String, Path)),
        responses((status = 200, description = "The policy", body = wire::Policy)))]
    fn get_policy() {}

    /// Replace a policy (scope `admin`); its version goes up by one.
    #[utoipa::path(put, path = "/api/policies/{id}", tag = "policies", params(("id" = String, Path)),
        request_body = wire::PolicyInput,
        responses((status = 200, description = "The new version", body = wire::Policy)))]
    fn replace_policy() {}

    /// Delete a policy (scope `admin`).
    #[utoipa::path(delete, path = "/api/policies/{id}", tag = "policies", params(("id" = String, Path)),
        responses((status = 200, description = "Deleted", body = wire::Ack)))]
    fn delete_policy() {}

    /// List API keys with their usage (scope `admin`).
    #[utoipa::path(get, path = "/api/api-keys", tag = "keys",
        responses((status = 200, description = "Every key", body = wire::ApiKeyList)))]
    fn list_api_keys() {}

    /// Create an API key; the secret is in this response only (scope `admin`).
    #[utoipa::path(post, path = "/api/api-keys", tag = "keys", request_body = wire::CreateApiKey,
        responses((status = 201, description = "Created", body = wire::CreatedApiKey)))]
    fn create_api_key() {}

    /// Change a key's name, scopes or rate limit (scope `admin`).
    #[utoipa::path(patch, path = "/api/api-keys/{id}", tag = "keys", params(("id" = String, Path)),
        request_body = wire::UpdateApiKey,
        responses((status = 200, description = "The changed key", body = wire::UpdatedApiKey)))]
    fn update_api_key() {}

    /// Revoke a key (scope `admin`).
    #[utoipa::path(delete, path = "/api/api-keys/{id}", tag = "keys", params(("id" = String, Path)),
        responses((status = 200, description = "Revoked", body = wire::Ack)))]
    fn revoke_api_key() {}

    /// Alias of `GET /api/api-keys`.
    #[utoipa::path(get, path = "/api/keys", tag = "keys",
        responses((status = 200, description = "Every key", body = wire::ApiKeyList)))]
    fn list_keys() {}

    /// Alias of `POST /api/api-keys`.
    #[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = wire::CreateApiKey,
        responses((status = 201, description = "Created", body = wire::CreatedApiKey)))]
    fn create_key() {}

    /// Alias of `PATCH /api/api-keys/{id}`.
    #[utoipa::path(patch, path = "/api/keys/{id}", tag = "keys", params(("id" = String, Path)),
        request_body = wire::UpdateApiKey,
        responses((status = 200, description = "The changed key", body = wire::UpdatedApiKey)))]
    fn update_key() {}

    /// Alias of `DELETE /api/api-keys/{id}`.
    #[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", params(("id" = String, Path)),
        responses((status = 200, description = "Revoked", body = wire::Ack)))]
    fn revoke_key() {}

    /// Overrides in force (scope `admin`).
    #[utoipa::path(get, path = "/api/overrides", tag = "overrides",
        responses((status = 200, description = "Active overrides", body = wire::OverrideList)))]
    fn list_overrides() {}

    /// Require approval for an agent's matching actions, optionally for `ttlSeconds` (scope `admin`).
    #[utoipa::path(post, path = "/api/overrides", tag = "overrides", request_body = wire::CreateOverride,
        responses((status = 201, description = "Created", body = wire::Override, links(
        ("DeleteOverride" = (operation_id = "delete_override", parameters(("id" = "$response.body#/id")))),
    ))))]
    fn create_override() {}

    /// Remove an override (scope `admin`).
    #[utoipa::path(delete, path = "/api/overrides/{id}", tag = "overrides", params(("id" = String, Path)),
        responses((status = 200, description = "Deleted", body = wire::Ack)))]
    fn delete_override() {}

    /// Every webhook (scope `webhook:manage`).
    #[utoipa::path(get, path = "/api/webhooks", tag = "webhooks",
        responses((status = 200, description = "Webhooks", body = wire::WebhookList)))]
    fn list_webhooks() {}

    /// Register a webhook; the signing secret is in this response only (scope `webhook:manage`).
    #[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", request_body = wire::CreateWebhook,
        responses((status = 201, description = "Created", body = wire::CreatedWebhook)))]
    fn create_webhook() {}

    /// A webhook with its recent deliveries (scope `webhook:manage`).
    #[utoipa::path(get, path = "/api/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
        responses((status = 200, description = "The webhook", body = wire::WebhookDetail)))]
    fn get_webhook() {}

    /// Change a webhook's URL, events or enabled flag (scope `webhook:manage`).
    #[utoipa::path(patch, path = "/api/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
        request_body = wire::UpdateWebhook,
        responses((status = 200, description = "The changed webhook", body = wire::UpdatedWebhook)))]
    fn update_webhook() {}

    /// Delete a webhook and its deliveries (scope `webhook:manage`).
    #[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
        responses((status = 200, description = "Deleted", body = wire::Ack)))]
    fn delete_webhook() {}

    /// Send a test delivery now and report the result (scope `webhook:manage`).
    #[utoipa::path(post, path = "/api/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)),
        responses((status = 200, description = "The attempt's result", body = wire::WebhookTestResult)))]
    fn test_webhook() {}

    /// A webhook's deliveries, newest first (scope `webhook:manage`).
    #[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks",
        params(
            ("id" = String, Path),
            ("status" = Option<String>, Query, description = "pending, success or failed"),
            ("limit" = Option<u64>, Query, minimum = 1), ("offset" = Option<u64>, Query),
        ),
        responses((status = 200, description = "A page of deliveries", body = wire::DeliveryList)))]
    fn webhook_deliveries() {}

    /// Queue a finished delivery again (scope `webhook:manage`).
    #[utoipa::path(post, path = "/api/webhooks/deliveries/{id}/replay", tag = "webhooks", params(("id" = String, Path)),
        responses(
            (status = 202, description = "Queued as a new delivery", body = wire::ReplayedDelivery),
            (status = 409, description = "The delivery has not finished yet", body = wire::ErrorBody),
        ))]
    fn replay_delivery() {}

    /// The audit trail, newest first (scope `request:read`).
    #[utoipa::path(get, path = "/api/audit", tag = "audit",
        params(
            ("eventType" = Option<String>, Query), ("action" = Option<String>, Query), ("actor" = Option<String>, Query),
            ("status" = Option<RequestStatus>, Query), ("requestId" = Option<String>, Query),
            ("from" = Option<String>, Query, description = "ISO-8601 timestamp, or a date for the whole UTC day"),
            ("to" = Option<String>, Query, description = "ISO-8601 timestamp, or a date for the whole UTC day"),
            ("limit" = Option<u64>, Query, minimum = 1), ("offset" = Option<u64>, Query),
        ),
        responses((status = 200, description = "A page of entries", body = wire::AuditList)))]
    fn list_audit() {}

    /// Distinct actions in the audit trail (scope `request:read`).
    #[utoipa::path(get, path = "/api/audit/actions", tag = "audit",
        responses((status = 200, description = "Actions", body = wire::AuditActions)))]
    fn audit_actions() {}

    /// Distinct actors in the audit trail (scope `request:read`).
    #[utoipa::path(get, path = "/api/audit/actors", tag = "audit",
        responses((status = 200, description = "Actors", body = wire::AuditActors)))]
    fn audit_actors() {}

    /// An MCP JSON-RPC message (streamable HTTP transport); tools run with the caller's key.
    #[utoipa::path(post, path = "/mcp", tag = "mcp", request_body = Object, responses(
        (status = 200, description = "A JSON-RPC response, or an event stream of them", content(
            (Object = "application/json"), (String = "text/event-stream")
        )),
        (status = 202, description = "A notification or response was accepted"),
        (status = 400, description = "Not a valid MCP message or session", content_type = "text/plain", body = String),
        (status = 404, description = "Unknown session", content_type = "text/plain", body = String),
        (status = 405, description = "Not allowed", content_type = "text/plain", body = String),
        (status = 406, description = "The Accept header lacks a type the transport needs", content_type = "text/plain", body = String),
        (status = 415, description = "Not JSON", content_type = "text/plain", body = String),
    ))]
    fn mcp_post() {}

    /// The server-to-client event stream of an MCP session.
    #[utoipa::path(get, path = "/mcp", tag = "mcp", responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "No or an unknown session", content_type = "text/plain", body = String),
        (status = 405, description = "Not allowed", content_type = "text/plain", body = String),
        (status = 406, description = "Not acceptable", content_type = "text/plain", body = String),
    ))]
    fn mcp_get() {}

    /// Slack interactivity: a button click, signed with `SLACK_SIGNING_SECRET` (`v0`, 5-minute window).
    #[utoipa::path(post, path = "/api/integrations/slack/interactions", tag = "channels", responses(
        (status = 200, description = "Handled (the message is updated, or the clicker told why not)"),
        (status = 401, description = "Missing, stale or wrong signature", body = wire::ErrorBody),
        (status = 404, description = "Slack interactions are not configured", body = wire::ErrorBody),
        (status = 400, description = "Not a Slack interaction payload", body = wire::ErrorBody),
    ))]
    fn slack_interactions() {}

    /// Discord interactions: PING and button clicks, signed with Ed25519 (`DISCORD_PUBLIC_KEY`).
    #[utoipa::path(post, path = "/api/integrations/discord/interactions", tag = "channels", responses(
        (status = 200, description = "PONG, or the updated message", body = Object),
        (status = 401, description = "Missing, stale or wrong signature", body = wire::ErrorBody),
        (status = 404, description = "Discord interactions are not configured", body = wire::ErrorBody),
        (status = 400, description = "Not a supported interaction", body = wire::ErrorBody),
    ))]
    fn discord_interactions() {}

    /// A request's channel notifications (Slack, Discord, e-mail, webhook channel) with every attempt
    /// (scope `request:read`).
    #[utoipa::path(get, path = "/api/requests/{id}/notifications", tag = "channels", params(("id" = String, Path)),
        responses((status = 200, description = "`{\"notifications\": [...]}`, oldest first", body = Object)))]
    fn request_notifications() {}

    /// Redirects to the dashboard.
    #[utoipa::path(get, path = "/", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_root() {}
    /// Home: pending requests by urgency (HTML).
    #[utoipa::path(get, path = "/dashboard", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_home() {}
    /// Home's live fragment (HTML).
    #[utoipa::path(get, path = "/dashboard/fragments/home", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_home_fragment() {}
    /// The sign-in page (HTML).
    #[utoipa::path(get, path = "/dashboard/sign-in", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_sign_in_page() {}
    /// Exchange an API key for a session cookie (form post).
    #[utoipa::path(post, path = "/dashboard/sign-in", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_sign_in() {}
    /// End the session (form post, CSRF token).
    #[utoipa::path(post, path = "/dashboard/sign-out", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_sign_out() {}
    /// Server-sent events for the signed-in page (session cookie).
    #[utoipa::path(get, path = "/dashboard/events", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_events() {}
    /// Requests: status tabs, filters, pages (HTML).
    #[utoipa::path(get, path = "/dashboard/requests", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_requests() {}
    /// Requests' live fragment (HTML).
    #[utoipa::path(get, path = "/dashboard/fragments/requests", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_requests_fragment() {}
    /// One request with its timeline and audit trail (HTML).
    #[utoipa::path(get, path = "/dashboard/requests/{id}", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_request() {}
    /// A request's live summary fragment (HTML).
    #[utoipa::path(get, path = "/dashboard/requests/{id}/summary", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_request_summary() {}
    /// Approve or deny (form post, CSRF token).
    #[utoipa::path(post, path = "/dashboard/requests/{id}/decide", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_decide() {}
    /// The audit log with filters (HTML).
    #[utoipa::path(get, path = "/dashboard/audit", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_audit() {}
    /// The filtered audit log as CSV.
    #[utoipa::path(get, path = "/dashboard/audit.csv", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_audit_csv() {}
    /// Policies (HTML).
    #[utoipa::path(get, path = "/dashboard/policies", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_policies() {}
    /// Create a policy (form post, CSRF token).
    #[utoipa::path(post, path = "/dashboard/policies", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_create_policy() {}
    /// The new-policy form (HTML).
    #[utoipa::path(get, path = "/dashboard/policies/new", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_new_policy() {}
    /// Simulate a request against a draft (form post).
    #[utoipa::path(post, path = "/dashboard/policies/simulate", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_simulate() {}
    /// Edit a policy (HTML).
    #[utoipa::path(get, path = "/dashboard/policies/{id}", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_policy() {}
    /// Save a policy (form post, CSRF token).
    #[utoipa::path(post, path = "/dashboard/policies/{id}", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_save_policy() {}
    /// Enable or disable a policy (form post).
    #[utoipa::path(post, path = "/dashboard/policies/{id}/toggle", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_toggle_policy() {}
    /// API keys (HTML).
    #[utoipa::path(get, path = "/dashboard/keys", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_keys() {}
    /// Create a key, shown once (form post, CSRF token).
    #[utoipa::path(post, path = "/dashboard/keys", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_create_key() {}
    /// The new-key form (HTML).
    #[utoipa::path(get, path = "/dashboard/keys/new", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_new_key() {}
    /// Edit a key (HTML).
    #[utoipa::path(get, path = "/dashboard/keys/{id}", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_key() {}
    /// Save a key (form post, CSRF token).
    #[utoipa::path(post, path = "/dashboard/keys/{id}", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_save_key() {}
    /// Revoke a key (form post, CSRF token).
    #[utoipa::path(post, path = "/dashboard/keys/{id}/revoke", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_revoke_key() {}
    /// Webhooks (HTML).
    #[utoipa::path(get, path = "/dashboard/webhooks", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_webhooks() {}
    /// Create a webhook (form post, CSRF token).
    #[utoipa::path(post, path = "/dashboard/webhooks", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_create_webhook() {}
    /// The new-webhook form (HTML).
    #[utoipa::path(get, path = "/dashboard/webhooks/new", tag = "dashboard", responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_new_webhook() {}
    /// A webhook and its recent deliveries (HTML).
    #[utoipa::path(get, path = "/dashboard/webhooks/{id}", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_webhook() {}
    /// A webhook's deliveries fragment (HTML).
    #[utoipa::path(get, path = "/dashboard/webhooks/{id}/deliveries", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_webhook_deliveries() {}
    /// Enable or disable a webhook (form post).
    #[utoipa::path(post, path = "/dashboard/webhooks/{id}/toggle", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_toggle_webhook() {}
    /// Send a test delivery (form post).
    #[utoipa::path(post, path = "/dashboard/webhooks/{id}/test", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_test_webhook() {}
    /// Delete a webhook (form post, CSRF token).
    #[utoipa::path(post, path = "/dashboard/webhooks/{id}/delete", tag = "dashboard", params(("id" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_delete_webhook() {}
    /// A dashboard asset (CSS, JavaScript), content-hashed.
    #[utoipa::path(get, path = "/assets/{name}", tag = "dashboard", params(("name" = String, Path)), responses(
        (status = 200, description = "A page or fragment (HTML), or the file", content_type = "text/html", body = String),
        (status = 303, description = "Redirect: to sign-in without a session, or after a form post"),
        (status = "default", description = "An error page"),
    ))]
    fn dashboard_asset() {}

    /// End an MCP session.
    #[utoipa::path(delete, path = "/mcp", tag = "mcp", responses(
        (status = 202, description = "Ended"),
        (status = 400, description = "No or an unknown session", content_type = "text/plain", body = String),
        (status = 405, description = "Not allowed", content_type = "text/plain", body = String),
    ))]
    fn mcp_delete() {}
}
