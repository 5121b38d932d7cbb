//! Authentication and the scope matrix: every route against every scope, the 401 cases, and `ADMIN_API_KEY`.

use crate::support::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A loopback port nothing listens on (discard): webhook targets for routes that only need one to exist. A test
/// delivery to it fails at once, which is still a successful call of the test route.
const UNUSED_HOOK: &str = "http://127.0.0.1:9/hook";

const SCOPES: [&str; 5] = ["request:create", "request:read", "request:decide", "webhook:manage", "admin"];

/// One route: method, path (with `{request}`, `{policy}`, `{key}` placeholders), the scope it needs and a valid body.
struct Route {
    method: Method,
    path: &'static str,
    needs: &'static str,
    body: Option<Value>,
}

fn route(method: Method, path: &'static str, needs: &'static str, body: Option<Value>) -> Route {
    Route { method, path, needs, body }
}

fn routes() -> Vec<Route> {
    let mut routes = vec![
        route(Method::POST, "/api/requests", "request:create", Some(json!({"action": "scoped"}))),
        route(Method::GET, "/api/requests", "request:read", None),
        route(Method::GET, "/api/requests?status=pending&limit=5", "request:read", None),
        route(Method::GET, "/api/requests/{request}", "request:read", None),
        route(Method::GET, "/api/requests/{request}/audit", "request:read", None),
        route(Method::GET, "/api/audit", "request:read", None),
        route(Method::GET, "/api/audit?eventType=created", "request:read", None),
        route(Method::GET, "/api/audit/actions", "request:read", None),
        route(Method::GET, "/api/audit/actors", "request:read", None),
        route(Method::POST, "/api/requests/{request}/decide", "request:decide", Some(json!({"decision": "approved"}))),
        route(Method::POST, "/api/requests/{request}/tokens", "request:decide", Some(json!({}))),
        route(Method::GET, "/api/requests/{request}/wait?timeout=0", "request:read", None),
        route(Method::GET, "/api/policies", "admin", None),
        route(Method::POST, "/api/policies", "admin", Some(json!({"name": "scoped", "rules": []}))),
        route(Method::GET, "/api/policies/{policy}", "admin", None),
        route(Method::PUT, "/api/policies/{policy}", "admin", Some(json!({"name": "scoped", "rules": []}))),
        route(Method::DELETE, "/api/policies/{policy}", "admin", None),
        route(Method::POST, "/api/policies/simulate", "admin", Some(json!({"request": {"action": "scoped"}}))),
        route(Method::POST, "/api/policies/backtest", "admin", Some(json!({"policies": [], "last": 10}))),
        route(Method::GET, "/api/overrides", "admin", None),
        route(Method::POST, "/api/overrides", "admin", Some(json!({"agentId": "a", "toolPattern": "*"}))),
        route(Method::DELETE, "/api/overrides/{override}", "admin", None),
        route(Method::GET, "/api/webhooks", "webhook:manage", None),
        route(Method::POST, "/api/webhooks", "webhook:manage", Some(json!({"url": UNUSED_HOOK, "events": ["*"]}))),
        route(Method::GET, "/api/webhooks/{webhook}", "webhook:manage", None),
        route(Method::PATCH, "/api/webhooks/{webhook}", "webhook:manage", Some(json!({"enabled": false}))),
        route(Method::DELETE, "/api/webhooks/{webhook}", "webhook:manage", None),
        route(Method::POST, "/api/webhooks/{webhook}/test", "webhook:manage", None),
        route(Method::GET, "/api/webhooks/{webhook}/deliveries?limit=5", "webhook:manage", None),
        route(Method::POST, "/api/webhooks/deliveries/{delivery}/replay", "webhook:manage", None),
    ];
    for base in ["/api/api-keys", "/api/keys"] {
        let (list, one) = if base == "/api/keys" {
            ("/api/keys", "/api/keys/{key}")
        } else {
            ("/api/api-keys", "/api/api-keys/{key}")
        };
        routes.push(route(Method::GET, list, "admin", None));
        routes.push(route(Method::POST, list, "admin", Some(json!({"name": "scoped", "scopes": ["request:read"]}))));
        routes.push(route(Method::PATCH, one, "admin", Some(json!({"name": "renamed"}))));
        routes.push(route(Method::DELETE, one, "admin", None));
    }
    routes
}

/// Fills the placeholders with fresh targets, so an allowed call acts on something real: a pending request, a
/// policy and a key that nothing else uses.
async fn concrete_path(server: &TestServer, template: &str) -> String {
    let mut path = template.to_owned();
    if path.contains("{request}") {
        let id = server.create_request(json!({"action": "target"})).await["id"].as_str().expect("id").to_owned();
        path = path.replace("{request}", &id);
    }
    if path.contains("{policy}") {
        let id =
            server.create_policy(json!({"name": "target", "rules": []})).await["id"].as_str().expect("id").to_owned();
        path = path.replace("{policy}", &id);
    }
    if path.contains("{override}") {
        let (status, body) = server.post("/api/overrides", json!({"agentId": "target", "toolPattern": "*"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        path = path.replace("{override}", body["id"].as_str().expect("id"));
    }
    if path.contains("{webhook}") || path.contains("{delivery}") {
        let (status, body) = server.post("/api/webhooks", json!({"url": UNUSED_HOOK, "events": ["*"]})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let webhook = body["id"].as_str().expect("id").to_owned();
        if path.contains("{delivery}") {
            // A test delivery is finished at once (failed: nothing listens), so it can be replayed.
            let (status, body) = server.post(&format!("/api/webhooks/{webhook}/test"), json!({})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            path = path.replace("{delivery}", body["deliveryId"].as_str().expect("deliveryId"));
        }
        path = path.replace("{webhook}", &webhook);
    }
    if path.contains("{key}") {
        let (id, _) = server.create_key_with_id("target", &["request:read"]).await;
        path = path.replace("{key}", &id);
    }
    path
}

#[tokio::test]
async fn the_scope_matrix() {
    let server = TestServer::start_with(|c| c.allow_private_webhooks = true).await;
    let mut keys = Vec::new();
    for scope in SCOPES {
        keys.push((scope, server.create_key(&format!("only {scope}"), &[scope]).await));
    }
    let mut checked = 0;
    for route in routes() {
        for (scope, key) in &keys {
            let path = concrete_path(&server, route.path).await;
            let (status, body) = server.call(route.method.clone(), &path, Some(key), route.body.as_ref()).await;
            let what = format!("{} {} with {scope}", route.method, route.path);
            if *scope == route.needs || *scope == "admin" {
                assert!(status.is_success(), "{what} is allowed and succeeds: {status} {body}");
            } else {
                assert_error(status, &body, StatusCode::FORBIDDEN, &format!("Missing required scope: {}", route.needs));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 38 * SCOPES.len());
}

/// A key holding several scopes gets the union of what each allows, and nothing more.
#[tokio::test]
async fn several_scopes_combine() {
    let server = TestServer::start_with(|c| c.allow_private_webhooks = true).await;
    let key = server.create_key("agent", &["request:create", "request:read", "request:decide"]).await;
    for route in routes() {
        let path = concrete_path(&server, route.path).await;
        let (status, body) = server.call(route.method.clone(), &path, Some(&key), route.body.as_ref()).await;
        if route.needs == "admin" || route.needs == "webhook:manage" {
            let message = format!("Missing required scope: {}", route.needs);
            assert_error(status, &body, StatusCode::FORBIDDEN, &message);
        } else {
            assert!(status.is_success(), "{} {}: {status} {body}", route.method, route.path);
        }
    }
}

/// A forbidden call changes nothing: the scope is checked before the body is read or anything is written.
#[tokio::test]
async fn forbidden_calls_have_no_effect() {
    let server = TestServer::start().await;
    let reader = server.create_key("reader", &["request:read"]).await;
    let id = server.create_request(json!({"action": "keep"})).await["id"].as_str().expect("id").to_owned();

    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/requests/{id}/decide"),
            Some(&reader),
            Some(&json!({"decision": "approved"})),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "Missing required scope: request:decide");
    let (status, body) = server.call(Method::POST, "/api/requests", Some(&reader), Some(&json!({"action": "x"}))).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "Missing required scope: request:create");
    // Even a malformed body is refused for the scope first.
    let (status, body) = server
        .send_raw(
            Method::POST,
            "/api/requests",
            Some(&format!("Bearer {reader}")),
            Some("application/json"),
            Some(b"{".to_vec()),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "Missing required scope: request:create");

    let (_, fetched) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(fetched["status"], "pending");
    assert_eq!(server.total("/api/requests").await, 1);
    assert_eq!(server.total("/api/audit").await, 2, "the created row and the reader key's creation only");
}

#[tokio::test]
async fn missing_or_malformed_credentials_are_401() {
    let server = TestServer::start().await;
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "Missing Authorization header"),
        (Some("Basic x".into()), "Invalid Authorization format"),
        (Some("Basic dXNlcjpwYXNz".into()), "Invalid Authorization format"),
        (Some("Bearer ".into()), "Invalid Authorization format"),
        (Some("Bearer".into()), "Invalid Authorization format"),
        (Some("Bearer     ".into()), "Invalid Authorization format"),
        (Some(format!("bearer {}", server.admin_key)), "Invalid Authorization format"),
        (Some(server.admin_key.clone()), "Invalid Authorization format"),
        (Some("Bearer agk_unknown".into()), "Invalid API key"),
        (Some("Bearer agk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()), "Invalid API key"),
        (Some(format!("Bearer {}x", server.admin_key)), "Invalid API key"),
        (Some("Bearer not-a-key-at-all".into()), "Invalid API key"),
    ];
    for route in routes() {
        let path = route.path.replace("{request}", "r").replace("{policy}", "p").replace("{key}", "k");
        for (header, message) in &cases {
            let body = route.body.as_ref().map(|b| b.to_string().into_bytes());
            let content_type = body.as_ref().map(|_| "application/json");
            let (status, response) =
                server.send_raw(route.method.clone(), &path, header.as_deref(), content_type, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {path} with {header:?}: {response}", route.method);
            assert_error(status, &response, StatusCode::UNAUTHORIZED, message);
        }
    }
    // Nothing happened.
    assert_eq!(server.total("/api/requests").await, 0);
    assert_eq!(server.total("/api/audit").await, 0);
}

#[tokio::test]
async fn health_needs_no_credentials() {
    let server = TestServer::start().await;
    for header in [None, Some("Bearer agk_unknown"), Some("Basic x")] {
        let (status, body) = server.send_raw(Method::GET, "/health", header, None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ok");
        assert!(body["timestamp"].is_string());
    }
    let (status, body) = server.send_raw(Method::GET, "/health?deep=true", None, None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["database"]["status"], "healthy");
}

#[tokio::test]
async fn admin_api_key_is_an_admin_credential() {
    const ADMIN: &str = "env-admin-secret-0123456789";
    let server = TestServer::start_with(|c| {
        c.admin_api_key = Some(ADMIN.into());
        c.allow_private_webhooks = true;
    })
    .await;
    assert_eq!(server.admin_key, ADMIN);

    // No first-start key was created, because ADMIN_API_KEY is configured.
    let (status, body) = server.get("/api/keys").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["keys"], json!([]));

    // It passes every route.
    for route in routes() {
        let path = concrete_path(&server, route.path).await;
        let (status, body) = server.call(route.method.clone(), &path, Some(ADMIN), route.body.as_ref()).await;
        assert!(status.is_success(), "{} {}: {status} {body}", route.method, route.path);
    }

    // Its actions are attributed to it.
    let id = server.create_request(json!({"action": "deploy"})).await["id"].as_str().expect("id").to_owned();
    let (status, decided) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "approved"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decided["decidedBy"], "admin:env");
    let (_, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
    assert_eq!(trail[0]["actor"], "admin:env");
    assert_eq!(trail[1]["actor"], "admin:env");

    // Keys it creates work; near misses of it do not.
    let key = server.create_key("made by env admin", &["request:read"]).await;
    assert_eq!(server.call(Method::GET, "/api/requests", Some(&key), None).await.0, StatusCode::OK);
    for wrong in [&ADMIN[..ADMIN.len() - 1], "env-admin-secret-0123456780", "ENV-ADMIN-SECRET-0123456789"] {
        let (status, body) = server.call(Method::GET, "/api/requests", Some(wrong), None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "Invalid API key");
    }

    // A restart keeps honouring it and still creates no key of its own.
    // (Only identities are compared: the shutdown flush records lastUsedAt for the key used above.)
    let identities = |keys: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> {
        keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| (k["id"].clone(), k["name"].clone(), k["active"].clone()))
            .collect()
    };
    let (_, before) = server.get("/api/keys").await;
    let server = server.restart().await;
    let (status, after) = server.get("/api/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(identities(&after), identities(&before));
    assert!(!after["keys"].as_array().expect("keys").iter().any(|k| k["name"] == "Admin (bootstrap)"), "{after}");
}
