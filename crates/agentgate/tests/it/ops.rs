//! Operations: probes, metrics, the OpenAPI document and its coverage of the router, Swagger UI, security
//! headers, CORS, HSTS, request timeouts, the connection limit, retention, backups, and the files operators
//! read (.env.example, docs/operations.md, the compose files).

use crate::support::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agentgate");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// Generous: the CI machine is small and busy.
const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `probe` until it returns `Some`, failing after [`DEADLINE`].
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up after {DEADLINE:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn raw_get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = server.http.get(server.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("request sent")
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

// ---------------------------------------------------------------------------------------------------------------
// Probes

#[tokio::test]
async fn probes_report_the_database_and_redis_without_failing_on_redis() {
    let server = TestServer::start().await;
    let (status, body) = server.call(Method::GET, "/health", None, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")), "{body}");
    let (status, body) = server.call(Method::GET, "/health?deep=true", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["database"]["status"], "healthy", "{body}");
    let (status, body) = server.call(Method::GET, "/ready", None, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ready")), "{body}");
    assert!(body.get("redis").is_none(), "no Redis configured: {body}");

    // Redis configured but not answering (nothing listens on port 1): still ready, Redis reported unhealthy.
    let server = TestServer::start_with(|c| c.redis_url = Some("redis://127.0.0.1:1".into())).await;
    let (status, body) = server.call(Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["status"].as_str(), body["redis"].as_str()), (Some("ready"), Some("unhealthy")), "{body}");
    let (status, body) = server.call(Method::GET, "/health?deep=true", None, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("degraded")), "{body}");

    if let Ok(redis) = std::env::var("AGENTGATE_TEST_REDIS_URL") {
        let server = TestServer::start_with(|c| c.redis_url = Some(redis)).await;
        let (status, body) = server.call(Method::GET, "/ready", None, None).await;
        assert_eq!((status, body["redis"].as_str()), (StatusCode::OK, Some("healthy")), "{body}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Security headers, CORS, HSTS

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let server = TestServer::start().await;
    for path in ["/health", "/api/requests", "/api/nowhere", "/openapi.json"] {
        let res = raw_get(&server, path, &[]).await;
        assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(header(&res, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(header(&res, "referrer-policy"), Some("strict-origin-when-cross-origin"), "{path}");
        assert_eq!(header(&res, "x-xss-protection"), Some("0"), "{path}");
        assert_eq!(
            header(&res, "content-security-policy"),
            Some("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'"),
            "{path}"
        );
        assert_eq!(header(&res, "strict-transport-security"), None, "HSTS is opt-in ({path})");
        assert!(header(&res, "access-control-allow-origin").is_none(), "no CORS without origins ({path})");
    }
    // Swagger UI needs images from data: URLs; its page says so itself, and the global CSP does not replace it.
    let res = raw_get(&server, "/docs", &[]).await;
    let csp = header(&res, "content-security-policy").expect("a CSP").to_owned();
    assert!(csp.contains("img-src 'self' data:") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins_and_hsts_is_sent_when_enabled() {
    let server = TestServer::start_with(|c| {
        c.cors_allowed_origins = vec!["https://dash.example".into()];
        c.hsts_max_age = Some(600);
    })
    .await;
    let preflight = |origin: &'static str| {
        server
            .http
            .request(Method::OPTIONS, server.url("/api/requests"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let res = preflight("https://dash.example").await.expect("preflight");
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(header(&res, "access-control-allow-origin"), Some("https://dash.example"));
    assert_eq!(header(&res, "access-control-allow-credentials"), Some("true"));
    let methods = header(&res, "access-control-allow-methods").unwrap_or_default().to_owned();
    assert!(methods.contains("POST") && methods.contains("PATCH"), "{methods}");
    let res = preflight("https://evil.example").await.expect("preflight");
    assert!(header(&res, "access-control-allow-origin").is_none(), "an unlisted origin gets no ACAO");

    let res = raw_get(&server, "/api/requests", &[("origin", "https://dash.example")]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "access-control-allow-origin"), Some("https://dash.example"));
    assert_eq!(header(&res, "strict-transport-security"), Some("max-age=600; includeSubDomains"));
}

// ---------------------------------------------------------------------------------------------------------------
// Metrics

/// The value of one series (`name{labels}`) in a Prometheus text exposition, if present.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(name_and_labels) && line[name_and_labels.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(server: &TestServer) -> String {
    let res = raw_get(server, "/metrics", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "content-type").unwrap_or_default().starts_with("text/plain"), "{res:?}");
    res.text().await.expect("metrics text")
}

#[tokio::test]
async fn metrics_count_requests_decisions_deliveries_and_rejections() {
    let server = TestServer::start_with(|c| c.allow_private_webhooks = true).await;
    // A receiver for webhook deliveries on loopback.
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let receiver_url = format!("http://{}/hook", receiver.local_addr().expect("addr"));
    tokio::spawn(async move {
        let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
        let _ = axum::serve(receiver, app).await;
    });
    let (status, body) = server.post("/api/webhooks", json!({ "url": receiver_url, "events": ["*"] })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    server
        .create_policy(
            json!({ "name": "auto", "rules": [{ "match": { "action": "auto.approve" }, "decision": "auto_approve" }] }),
        )
        .await;
    let auto = server.create_request(json!({ "action": "auto.approve" })).await;
    assert_eq!(auto["status"], "approved");
    let pending = server.create_request(json!({ "action": "deploy", "urgency": "high" })).await;
    let decided = server.create_request(json!({ "action": "deploy", "urgency": "low" })).await;
    let id = decided["id"].as_str().expect("id");
    let (status, _) = server.post(&format!("/api/requests/{id}/decide"), json!({ "decision": "denied" })).await;
    assert_eq!(status, StatusCode::OK);
    // Through a one-click link.
    let linked = server.create_request(json!({ "action": "deploy" })).await;
    let linked_id = linked["id"].as_str().expect("id");
    let (status, links) = server.post(&format!("/api/requests/{linked_id}/tokens"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{links}");
    let approve = links["tokens"]["approve"]["token"].as_str().expect("token");
    let res = server.http.post(server.url(&format!("/api/decide/{approve}"))).send().await.expect("decide");
    assert_eq!(res.status(), StatusCode::OK);
    // A rate-limited key: its second request in the minute is refused.
    let (status, created) =
        server.post("/api/api-keys", json!({ "name": "limited", "scopes": ["request:read"], "rateLimit": 1 })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().expect("key").to_owned();
    let mut refused = false;
    for _ in 0..3 {
        let (status, _) = server.call(Method::GET, "/api/requests", Some(&key), None).await;
        refused |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused, "the limited key is refused");
    let (status, _) = server.get(&format!("/api/requests/{}", pending["id"].as_str().expect("id"))).await;
    assert_eq!(status, StatusCode::OK);
    let _ = raw_get(&server, "/no/such/path/01HZZZZZZZZZZZZZZZZZZZZZZZ", &[]).await;

    let text = eventually("a delivered webhook in the metrics", async || {
        let text = scrape(&server).await;
        (series(&text, r#"agentgate_deliveries_total{channel="webhook",outcome="delivered"}"#)? >= 1.0).then_some(text)
    })
    .await;
    let at_least_one = |name: &str| {
        let value = series(&text, name).unwrap_or_else(|| panic!("no series {name} in:\n{text}"));
        assert!(value >= 1.0, "{name} = {value}");
    };
    at_least_one(r#"agentgate_http_requests_total{method="GET",route="/api/requests/{id}",status="200"}"#);
    at_least_one(r#"agentgate_http_requests_total{method="POST",route="/api/requests",status="201"}"#);
    at_least_one(r#"agentgate_http_requests_total{method="GET",route="unmatched",status="404"}"#);
    at_least_one(r#"agentgate_http_request_duration_seconds_count{method="POST",route="/api/requests",status="201"}"#);
    at_least_one(r#"agentgate_decisions_total{outcome="approved",source="policy"}"#);
    at_least_one(r#"agentgate_decisions_total{outcome="denied",source="human"}"#);
    at_least_one(r#"agentgate_decisions_total{outcome="approved",source="link"}"#);
    at_least_one(r#"agentgate_time_to_decision_seconds_count{source="human"}"#);
    at_least_one("agentgate_rate_limit_rejections_total");
    assert_eq!(series(&text, r#"agentgate_pending_requests{urgency="high"}"#), Some(1.0), "{text}");
    assert_eq!(series(&text, r#"agentgate_pending_requests{urgency="critical"}"#), Some(0.0), "{text}");
    assert!(series(&text, r#"agentgate_delivery_queue_depth{channel="webhook"}"#).is_some(), "{text}");
    // Routes are patterns, never raw paths: no id appears in a label.
    for id in [id, linked_id, "01HZZZZZZZZZZZZZZZZZZZZZZZ"] {
        assert!(!text.contains(id), "a raw path leaked into a label: {id}");
    }
}

#[tokio::test]
async fn expiries_are_counted() {
    let server = TestServer::start().await;
    // Far enough ahead that a slow create (a loaded machine) still sets it in the future.
    let soon = agentgate::app::now().add_millis(2_000);
    server.create_request(json!({ "action": "deploy", "expiresAt": soon })).await;
    eventually("an expiry in the metrics", async || {
        let text = scrape(&server).await;
        (series(&text, r#"agentgate_decisions_total{outcome="expired",source="expiry"}"#)? >= 1.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_configured() {
    let token = "metrics-token-0123456789";
    let server = TestServer::start_with(|c| c.metrics_token = Some(token.into())).await;
    let res = raw_get(&server, "/metrics", &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = raw_get(&server, "/metrics", &[("authorization", "Bearer wrong-token-0123456789")]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.expect("json");
    assert!(body["error"].is_string(), "{body}");
    let bearer = format!("Bearer {token}");
    let res = raw_get(&server, "/metrics", &[("authorization", bearer.as_str())]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.expect("text").contains("agentgate_http_requests_total"));
}

// ---------------------------------------------------------------------------------------------------------------
// OpenAPI and Swagger UI

/// The routes of the real router, read from its `Debug` form (axum has no public route list): the route table
/// prints as `paths: {RouteId(n): "/path", …}`. A nested service (`/mcp`) also registers `/mcp/` and a private
/// tail pattern; both belong to the prefix.
fn router_paths(server: &TestServer) -> BTreeSet<String> {
    let router = agentgate::http::routes(server.state(), server.base_url.clone());
    let debug = format!("{router:?}");
    // The routes' table, not the fallback router's (which holds `/` and a catch-all).
    let routes = debug.split("fallback_router:").next().unwrap_or_default();
    let table = routes.split("paths: {").nth(1).unwrap_or_default();
    let mut paths = BTreeSet::new();
    let (mut quoted, mut current) = (false, String::new());
    for c in table.chars() {
        match (quoted, c) {
            (false, '}') => break,
            (false, '"') => quoted = true,
            (true, '"') => {
                quoted = false;
                if !current.contains("__private__axum") {
                    paths.insert(std::mem::take(&mut current));
                }
                current.clear();
            }
            (true, c) => current.push(c),
            (false, _) => {}
        }
    }
    let nested_slashes: Vec<String> = paths
        .iter()
        .filter(|p| p.len() > 1 && p.ends_with('/') && paths.contains(p.trim_end_matches('/')))
        .cloned()
        .collect();
    for path in nested_slashes {
        paths.remove(&path);
    }
    assert!(paths.contains("/api/requests/{id}") && paths.contains("/health"), "could not read the routes: {debug}");
    paths
}

/// A concrete path for a route pattern: every `{param}` becomes a value no row has.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| if segment.starts_with('{') { "probe-0000" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[tokio::test]
async fn the_openapi_document_covers_every_route_and_method() {
    let server = TestServer::start().await;
    let (status, spec) = server.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{spec}");
    let documented: BTreeMap<String, BTreeSet<String>> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = METHODS.iter().filter(|m| item.get(**m).is_some()).map(|m| m.to_string()).collect();
            (path.clone(), methods)
        })
        .collect();

    let routed = router_paths(&server);
    let documented_paths: BTreeSet<String> = documented.keys().cloned().collect();
    let undocumented: Vec<_> = routed.difference(&documented_paths).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json (document them in http/openapi.rs): {undocumented:?}"
    );
    let phantom: Vec<_> = documented_paths.difference(&routed).collect();
    assert!(phantom.is_empty(), "/openapi.json documents paths no route serves: {phantom:?}");

    // Which methods each route answers: anything but 405 from the real server (with the admin key, so
    // authentication never hides a method).
    for path in &routed {
        for method in METHODS {
            let res = server
                .http
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                    server.url(&concrete(path)),
                )
                .bearer_auth(&server.admin_key)
                .header("accept", "application/json, text/event-stream")
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            // A stream (the events route) answers 200 and stays open: the status is all that matters.
            let answered = match res {
                Ok(res) => res.status() != StatusCode::METHOD_NOT_ALLOWED,
                Err(e) => panic!("{method} {path}: {e}"),
            };
            let in_spec = documented[path].contains(method);
            assert_eq!(
                answered,
                in_spec,
                "{} {path}: the router {} it, the document {} it",
                method.to_uppercase(),
                if answered { "serves" } else { "refuses" },
                if in_spec { "lists" } else { "omits" }
            );
        }
    }

    // Every reference resolves.
    let text = spec.to_string();
    for reference in text.split("\"$ref\":\"").skip(1).map(|r| r.split('"').next().unwrap_or_default()) {
        let pointer = reference.trim_start_matches('#');
        assert!(spec.pointer(pointer).is_some(), "unresolved $ref {reference}");
    }
    // Authenticated routes say so.
    assert!(spec["paths"]["/api/requests"]["post"]["security"].is_array());
    assert!(spec["paths"]["/health"]["get"].get("security").is_none());
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let server = TestServer::start().await;
    let res = raw_get(&server, "/docs", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.expect("page");
    assert!(page.contains("/docs/swagger-ui-bundle.js") && page.contains("/docs/agentgate-init.js"), "{page}");
    assert!(!page.contains("http://") && !page.contains("https://"), "nothing loaded from elsewhere: {page}");
    for (file, kind) in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("agentgate-init.js", "text/javascript"),
        ("LICENSE", "text/plain"),
    ] {
        let res = raw_get(&server, &format!("/docs/{file}"), &[]).await;
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        assert!(header(&res, "content-type").unwrap_or_default().starts_with(kind), "{file}");
        assert!(!res.bytes().await.expect("body").is_empty(), "{file}");
    }
    let init = raw_get(&server, "/docs/agentgate-init.js", &[]).await.text().await.expect("init");
    assert!(init.contains("/openapi.json"), "{init}");
    assert_eq!(raw_get(&server, "/docs/../Cargo.toml", &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(raw_get(&server, "/docs/nothing.js", &[]).await.status(), StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------------------------
// Timeouts and connection limits

#[tokio::test]
async fn slow_requests_time_out_but_long_polls_do_not() {
    let server = TestServer::start_with(|c| {
        c.http_timeout = Some(Duration::from_secs(1));
        c.allow_private_webhooks = true;
        c.webhook_timeout = Duration::from_secs(30);
    })
    .await;
    // A receiver that never answers makes the synchronous webhook test slow.
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", receiver.local_addr().expect("addr"));
    tokio::spawn(async move {
        let app = axum::Router::new().route("/hook", axum::routing::post(std::future::pending::<&'static str>));
        let _ = axum::serve(receiver, app).await;
    });
    let (status, hook) = server.post("/api/webhooks", json!({ "url": url, "events": ["request.created"] })).await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_str().expect("id");
    let (status, body) = server.post(&format!("/api/webhooks/{hook_id}/test"), json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "Request timed out");

    // A long poll of 2 s outlives the 1 s limit and still answers 200.
    let request = server.create_request(json!({ "action": "deploy" })).await;
    let id = request["id"].as_str().expect("id");
    let (status, body) = server.get(&format!("/api/requests/{id}/wait?timeout=2")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(|c| c.max_connections = 2).await;
    let addr = server.base_url.trim_start_matches("http://").to_owned();
    let request = b"GET /health HTTP/1.1\r\nhost: gateway\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        conn.write_all(request).await.expect("write");
        let mut buf = [0u8; 12];
        conn.read_exact(&mut buf).await.expect("an answer within the limit");
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(conn); // kept open (keep-alive): it holds its slot
    }
    let mut third = tokio::net::TcpStream::connect(&addr).await.expect("the kernel queues it");
    third.write_all(request).await.expect("write");
    let mut buf = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut buf)).await;
    assert!(early.is_err(), "a third connection must not be served while two are open");
    drop(held.pop());
    tokio::time::timeout(DEADLINE, third.read_exact(&mut buf)).await.expect("served once a slot frees").expect("read");
    assert_eq!(&buf, b"HTTP/1.1 200");
}

// ---------------------------------------------------------------------------------------------------------------
// Retention

async fn count(server: &TestServer, sql: &str, arg: &str) -> u64 {
    server.db_row(sql, arg).await[0].parse().expect("a count")
}

#[tokio::test]
async fn retention_deletes_old_tokens_deliveries_and_audit_entries_only() {
    let server = TestServer::start_with(|c| {
        c.allow_private_webhooks = true;
        c.retention.interval = Duration::from_secs(1);
        c.retention.decision_tokens = Some(Duration::from_secs(86_400));
        c.retention.deliveries = Some(Duration::from_secs(86_400));
        c.retention.audit = Some(Duration::from_secs(86_400));
    })
    .await;
    // Nothing listens on port 1: the test delivery fails at once and is recorded as finished.
    let (status, hook) =
        server.post("/api/webhooks", json!({ "url": "http://127.0.0.1:1/hook", "events": ["request.decided"] })).await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    for _ in 0..2 {
        let (status, body) = server.post(&format!("/api/webhooks/{hook_id}/test"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let old = server.create_request(json!({ "action": "old" })).await["id"].as_str().expect("id").to_owned();
    let new = server.create_request(json!({ "action": "new" })).await["id"].as_str().expect("id").to_owned();
    for id in [&old, &new] {
        let (status, body) = server.post(&format!("/api/requests/{id}/tokens"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Age one request's tokens and audit rows, and one of the two deliveries, past every retention period.
    let (q_tokens, q_audit, q_delivery) = (
        "UPDATE decision_tokens SET expires_at = 1000 WHERE request_id = $1 RETURNING request_id",
        "UPDATE audit_logs SET created_at = 1000 WHERE request_id = $1 RETURNING request_id",
        "UPDATE webhook_deliveries SET created_at = 1000 WHERE seq = (SELECT MIN(seq) FROM webhook_deliveries \
         WHERE webhook_id = $1) RETURNING webhook_id",
    );
    server.db_row(q_tokens, &old).await;
    server.db_row(q_audit, &old).await;
    server.db_row(q_delivery, &hook_id).await;

    let tokens = "SELECT CAST(COUNT(*) AS TEXT) FROM decision_tokens WHERE request_id = $1";
    let audit = "SELECT CAST(COUNT(*) AS TEXT) FROM audit_logs WHERE request_id = $1";
    let deliveries = "SELECT CAST(COUNT(*) AS TEXT) FROM webhook_deliveries WHERE webhook_id = $1";
    eventually("the sweeper to delete the old rows", async || {
        let gone = count(&server, tokens, &old).await == 0
            && count(&server, audit, &old).await == 0
            && count(&server, deliveries, &hook_id).await == 1;
        gone.then_some(())
    })
    .await;
    assert_eq!(count(&server, tokens, &new).await, 2, "fresh tokens are kept");
    assert!(count(&server, audit, &new).await >= 1, "fresh audit entries are kept");
    let (status, body) = server.get(&format!("/api/requests/{old}")).await;
    assert_eq!(status, StatusCode::OK, "the request itself is kept: {body}");
    let text = scrape(&server).await;
    assert!(series(&text, r#"agentgate_retention_deleted_total{kind="decision_tokens"}"#) >= Some(2.0), "{text}");
    assert!(series(&text, r#"agentgate_retention_deleted_total{kind="deliveries"}"#) >= Some(1.0), "{text}");
}

// ---------------------------------------------------------------------------------------------------------------
// An idle gateway

/// The database and WAL files' sizes and modification times.
fn file_states(path: &str) -> Vec<Option<(u64, std::time::SystemTime)>> {
    [path.to_owned(), format!("{path}-wal")]
        .iter()
        .map(|file| std::fs::metadata(file).ok().and_then(|m| Some((m.len(), m.modified().ok()?))))
        .collect()
}

/// Once its last commit is checkpointed (and the WAL started over for the next one), an idle gateway writes
/// nothing: no empty transactions from the expiry sweeper, no checkpoint of the WAL restart it made itself.
#[tokio::test]
async fn an_idle_gateway_leaves_its_database_files_alone() {
    let server = TestServer::start().await;
    if server.on_postgres() {
        return; // SQLite's files
    }
    let agentgate::config::Database::Sqlite { path } = &server.config().database else { return };
    server.create_request(json!({ "action": "idle.check", "expiresAt": "2099-01-01T00:00:00Z" })).await;
    // Settled: the same states a second apart (the checkpointer looks every 500 ms).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut before = file_states(path);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = file_states(path);
        if now == before {
            break;
        }
        assert!(Instant::now() < deadline, "the database files kept changing: {before:?} → {now:?}");
        before = now;
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(file_states(path), before, "nothing written while idle");
}

// ---------------------------------------------------------------------------------------------------------------
// Backups

#[tokio::test]
async fn backup_copies_a_running_gateways_database_consistently() {
    let server = TestServer::start().await;
    if server.on_postgres() {
        return; // a SQLite feature; the PostgreSQL case is below
    }
    let agentgate::config::Database::Sqlite { path } = &server.config().database else { return };
    for i in 0..20 {
        server.create_request(json!({ "action": format!("backup.{i}") })).await;
    }
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("copy.db");
    let run = |file: &std::path::Path, database_url: &str| {
        std::process::Command::new(BIN)
            .arg("backup")
            .arg(file)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .output()
            .expect("run agentgate backup")
    };
    // While the gateway keeps writing.
    let writer = {
        let http = server.http.clone();
        let (url, key) = (server.url("/api/requests"), server.admin_key.clone());
        tokio::spawn(async move {
            for i in 0..50 {
                let _ =
                    http.post(&url).bearer_auth(&key).json(&json!({ "action": format!("during.{i}") })).send().await;
            }
        })
    };
    let out = tokio::task::spawn_blocking({
        let (file, path) = (file.clone(), path.clone());
        move || run(&file, &path)
    })
    .await
    .expect("join");
    writer.await.expect("writer");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    use sqlx::Connection;
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", file.display())).await.expect("open");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.expect("check");
    assert_eq!(check, "ok");
    let copied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM approval_requests WHERE action LIKE 'backup.%'")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(copied, 20);
    // The counts table (kept by triggers) agrees with the rows: one committed state, not a torn one.
    let rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM approval_requests").fetch_one(&mut conn).await.expect("rows");
    let counted: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(count), 0) FROM request_counts")
        .fetch_one(&mut conn)
        .await
        .expect("counted");
    assert_eq!(rows, counted);

    // The file exists now: refused, not overwritten.
    let again = run(&file, path);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // PostgreSQL: pointed at pg_dump.
    let pg = run(&dir.path().join("pg.db"), "postgres://agentgate@127.0.0.1:5432/agentgate");
    assert!(!pg.status.success());
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"), "{}", String::from_utf8_lossy(&pg.stderr));
}

// ---------------------------------------------------------------------------------------------------------------
// Files operators read

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{REPO}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn env_example_lists_every_variable_the_server_reads() {
    let example = repo_file(".env.example");
    assert!(
        example.contains(&agentgate::config::reference_env()),
        ".env.example is out of date: regenerate its variables with `agentgate config-reference --env`"
    );
}

#[test]
fn the_operations_guide_holds_the_current_configuration_reference() {
    let guide = repo_file("docs/operations.md");
    assert!(
        guide.contains(&agentgate::config::reference_markdown()),
        "docs/operations.md's configuration reference is out of date: regenerate it with \
         `agentgate config-reference`"
    );
}

#[test]
fn the_image_runs_as_a_user_on_every_interface_with_a_healthcheck() {
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains("\nUSER agentgate"), "non-root");
    assert!(dockerfile.contains("HOST=0.0.0.0"));
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("\"healthcheck\""));
    let compose = repo_file("docker-compose.yml");
    // Only the gateway publishes a port; PostgreSQL and Redis are on the internal network only.
    assert_eq!(compose.matches("\n    ports:").count(), 1, "one published port");
    assert!(compose.contains("internal: true"));
}

/// The compose files against the Compose specification's JSON schema (vendored in PyPI `check-jsonschema`).
#[test]
fn compose_files_follow_the_compose_specification() {
    // Through its module, so the test does not depend on where pip put the script.
    const CLI: &str = "import sys; from check_jsonschema import main; sys.argv[0] = 'check-jsonschema'; main()";
    let available = std::process::Command::new("python3")
        .args(["-c", "import check_jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("note: skipping: check-jsonschema is not installed (python3 -m pip install check-jsonschema)");
        return;
    }
    for file in ["docker-compose.yml", "docker-compose.override.yml"] {
        let out = std::process::Command::new("python3")
            .args(["-c", CLI, "--builtin-schema", "vendor.compose-spec", &format!("{REPO}/{file}")])
            .output()
            .expect("run check-jsonschema");
        assert!(
            out.status.success(),
            "{file}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
