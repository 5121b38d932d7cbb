//! Bad input of every kind is a 4xx with `{"error": "<string>"}`, never a 500, and never leaves a partial write.

use crate::support::{TestServer, assert_error, error_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every route that takes a body, with ids of real targets filled in.
async fn body_routes(server: &TestServer) -> Vec<(Method, String)> {
    let request = server.create_request(json!({"action": "target"})).await["id"].as_str().expect("id").to_owned();
    let policy =
        server.create_policy(json!({"name": "target", "rules": []})).await["id"].as_str().expect("id").to_owned();
    let (key, _) = server.create_key_with_id("target", &["request:read"]).await;
    vec![
        (Method::POST, "/api/requests".to_owned()),
        (Method::POST, format!("/api/requests/{request}/decide")),
        (Method::POST, "/api/policies".to_owned()),
        (Method::PUT, format!("/api/policies/{policy}")),
        (Method::POST, "/api/api-keys".to_owned()),
        (Method::PATCH, format!("/api/api-keys/{key}")),
        (Method::POST, "/api/keys".to_owned()),
        (Method::PATCH, format!("/api/keys/{key}")),
    ]
}

/// Counts of everything a failed write could have left behind.
async fn row_counts(server: &TestServer) -> (u64, u64, u64, usize, Value) {
    let (_, keys) = server.get("/api/keys").await;
    let (_, policies) = server.get("/api/policies").await;
    (
        server.total("/api/requests").await,
        server.total("/api/policies").await,
        server.total("/api/audit").await,
        keys["keys"].as_array().expect("keys").len(),
        json!({"keys": keys, "policies": policies["policies"]}),
    )
}

async fn send(server: &TestServer, method: &Method, path: &str, body: &[u8]) -> (StatusCode, Value) {
    let auth = format!("Bearer {}", server.admin_key);
    server.send_raw(method.clone(), path, Some(&auth), Some("application/json"), Some(body.to_vec())).await
}

#[tokio::test]
async fn malformed_empty_and_non_object_bodies_are_400_everywhere() {
    let server = TestServer::start().await;
    let routes = body_routes(&server).await;
    let before = row_counts(&server).await;
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let malformed: Vec<&[u8]> = vec![
        b"{",
        b"{\"action\": }",
        b"not json",
        b"{\"action\": \"x\"}}",
        b"{'action': 'x'}",
        b"{\"action\": \"x\",}",
        b"\xff\xfe\x00",
        b"{\"n\": 1e400}",
        deep.as_bytes(),
    ];
    for (method, path) in &routes {
        for body in &malformed {
            let (status, response) = send(&server, method, path, body).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{method} {path} {:?}: {response}",
                String::from_utf8_lossy(body)
            );
            error_of(&response);
        }
        for empty in [&b""[..], b"   ", b"\n\t"] {
            let (status, response) = send(&server, method, path, empty).await;
            assert_error(status, &response, StatusCode::BAD_REQUEST, "Request body required");
        }
        for not_object in [&b"[1, 2]"[..], b"\"action\"", b"42", b"null", b"true", b"[]"] {
            let (status, response) = send(&server, method, path, not_object).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{method} {path} {:?}: {response}",
                String::from_utf8_lossy(not_object)
            );
            error_of(&response);
        }
        // No body at all, and no content type.
        let auth = format!("Bearer {}", server.admin_key);
        let (status, response) = server.send_raw(method.clone(), path, Some(&auth), None, None).await;
        assert_error(status, &response, StatusCode::BAD_REQUEST, "Request body required");
    }
    assert_eq!(row_counts(&server).await, before, "no failed request left a row");
}

#[tokio::test]
async fn wrong_request_fields_are_400_naming_the_field() {
    let server = TestServer::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "action is required and must be a non-empty string"),
        (json!({"action": 5}), "action is required and must be a non-empty string"),
        (json!({"action": null}), "action is required and must be a non-empty string"),
        (json!({"action": ""}), "action is required and must be a non-empty string"),
        (json!({"action": " \t\n"}), "action is required and must be a non-empty string"),
        (json!({"action": ["deploy"]}), "action is required and must be a non-empty string"),
        (json!({"action": "x".repeat(257)}), "action must be at most 256 characters"),
        (json!({"action": "x", "params": [1, 2]}), "params must be a JSON object"),
        (json!({"action": "x", "params": "a=b"}), "params must be a JSON object"),
        (json!({"action": "x", "params": 0}), "params must be a JSON object"),
        (json!({"action": "x", "params": false}), "params must be a JSON object"),
        (json!({"action": "x", "context": "agent"}), "context must be a JSON object"),
        (json!({"action": "x", "context": []}), "context must be a JSON object"),
        (json!({"action": "x", "urgency": "urgent"}), "urgency must be one of: low, normal, high, critical"),
        (json!({"action": "x", "urgency": "HIGH"}), "urgency must be one of: low, normal, high, critical"),
        (json!({"action": "x", "urgency": 3}), "urgency must be one of: low, normal, high, critical"),
        (json!({"action": "x", "expiresAt": "tomorrow"}), "expiresAt must be an ISO-8601 timestamp or date"),
        (
            json!({"action": "x", "expiresAt": "2099-13-01T00:00:00Z"}),
            "expiresAt must be an ISO-8601 timestamp or date",
        ),
        (json!({"action": "x", "expiresAt": 4_102_444_800_000_i64}), "expiresAt must be an ISO-8601 timestamp or date"),
        (json!({"action": "x", "expiresAt": "2000-01-01T00:00:00Z"}), "expiresAt must be in the future"),
        (json!({"action": "x", "expiresAt": "2020-06-01T12:00:00.000Z"}), "expiresAt must be in the future"),
    ];
    for (body, message) in &cases {
        let (status, response) = server.post("/api/requests", body.clone()).await;
        assert_error(status, &response, StatusCode::BAD_REQUEST, message);
    }
    assert_eq!(server.total("/api/requests").await, 0);
    assert_eq!(server.total("/api/audit").await, 0);

    // Edge values that are fine.
    for body in [
        json!({"action": "x".repeat(256)}),
        json!({"action": "déployer 🚀", "params": {"ключ": "值"}}),
        json!({"action": "x", "params": {"deep": {"er": {"and": {"deeper": [[[[1]]]]}}}}, "unknown": 1}),
    ] {
        let created = server.create_request(body.clone()).await;
        assert_eq!(created["action"], body["action"]);
        if body["params"].is_object() {
            assert_eq!(created["params"], body["params"]);
        }
    }
}

#[tokio::test]
async fn wrong_decide_fields_are_400_naming_the_field() {
    let server = TestServer::start().await;
    let id = server.create_request(json!({"action": "deploy"})).await["id"].as_str().expect("id").to_owned();
    let path = format!("/api/requests/{id}/decide");
    let decision_msg = "decision must be 'approved' or 'denied'";
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), decision_msg),
        (json!({"decision": "maybe"}), decision_msg),
        (json!({"decision": "APPROVED"}), decision_msg),
        (json!({"decision": "approve"}), decision_msg),
        (json!({"decision": "expired"}), decision_msg),
        (json!({"decision": "pending"}), decision_msg),
        (json!({"decision": true}), decision_msg),
        (json!({"decision": null}), decision_msg),
        (json!({"decision": "approved", "reason": 5}), "reason must be a string"),
        (json!({"decision": "approved", "reason": ["a"]}), "reason must be a string"),
        (json!({"decision": "approved", "reason": "r".repeat(4097)}), "reason must be at most 4096 characters"),
        (json!({"decision": "approved", "decidedBy": 5}), "decidedBy must be a string"),
    ];
    for (body, message) in &cases {
        let (status, response) = server.post(&path, body.clone()).await;
        assert_error(status, &response, StatusCode::BAD_REQUEST, message);
    }
    let (_, fetched) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(fetched["status"], "pending", "nothing was decided");
    let (_, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
    assert_eq!(trail.as_array().expect("array").len(), 1, "no decision row");
    // The request can still be decided properly.
    let (status, _) = server.post(&path, json!({"decision": "denied", "reason": null, "decidedBy": null})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = TestServer::start_with(|c| c.body_size_limit = 1024).await;
    let routes = body_routes(&server).await;
    let before = row_counts(&server).await;
    let big = json!({"action": "x", "name": "x", "rules": [], "scopes": ["admin"], "decision": "approved",
        "params": {"blob": "b".repeat(2048)}})
    .to_string();
    assert!(big.len() > 2048);
    for (method, path) in &routes {
        let (status, response) = send(&server, method, path, big.as_bytes()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{method} {path}: {response}");
        error_of(&response);
        // Garbage that is too large is refused for its size, not parsed.
        let (status, response) = send(&server, method, path, &[b'{'; 4096]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{method} {path}: {response}");
        error_of(&response);
    }
    assert_eq!(row_counts(&server).await, before, "nothing was written");

    // Just under the limit is fine.
    let small = json!({"action": "x", "params": {"blob": "b".repeat(900)}});
    assert!(small.to_string().len() < 1024);
    let created = server.create_request(small).await;
    assert_eq!(created["params"]["blob"].as_str().map(str::len), Some(900));
}

#[tokio::test]
async fn bad_limit_and_offset_are_400_on_every_list() {
    let server = TestServer::start().await;
    for list in ["/api/requests", "/api/policies", "/api/audit"] {
        for (query, message) in [
            ("limit=-1", "limit must be a positive integer"),
            ("limit=0", "limit must be a positive integer"),
            ("limit=abc", "limit must be a positive integer"),
            ("limit=1.5", "limit must be a positive integer"),
            ("limit=%20", "limit must be a positive integer"),
            ("offset=-1", "offset must be a non-negative integer"),
            ("offset=abc", "offset must be a non-negative integer"),
            ("offset=1e3", "offset must be a non-negative integer"),
            ("offset=99999999999999999999", "offset must be a non-negative integer"),
            ("limit=10&offset=-5", "offset must be a non-negative integer"),
        ] {
            let (status, body) = server.get(&format!("{list}?{query}")).await;
            assert_error(status, &body, StatusCode::BAD_REQUEST, message);
        }
        for (query, limit, offset) in
            [("limit=1", 1, 0), ("limit=100000", 100, 0), ("offset=0", 50, 0), ("limit=&offset=", 50, 0)]
        {
            let (status, body) = server.get(&format!("{list}?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{list}?{query}: {body}");
            assert_eq!(body["pagination"]["limit"], limit, "{list}?{query}");
            assert_eq!(body["pagination"]["offset"], offset, "{list}?{query}");
        }
    }
    for (query, message) in [
        ("status=done", "status must be one of: pending, approved, denied, expired"),
        ("urgency=urgent", "urgency must be one of: low, normal, high, critical"),
    ] {
        let (status, body) = server.get(&format!("/api/requests?{query}")).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, message);
    }
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let server = TestServer::start().await;
    for (method, path) in [
        (Method::GET, "/api/nope"),
        (Method::POST, "/api/nope"),
        (Method::GET, "/api/requests/x/y"),
        (Method::GET, "/api/webhooks-nope"),
        (Method::DELETE, "/api/audit/x/y"),
        (Method::GET, "/nope"),
    ] {
        let (status, body) = server.call(method.clone(), path, Some(&server.admin_key), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(body, json!({"error": "Not Found", "message": format!("Route {method} {path} not found")}));
    }

    let policy = server.create_policy(json!({"name": "p", "rules": []})).await["id"].as_str().expect("id").to_owned();
    for (method, path) in [
        (Method::DELETE, "/api/requests".to_owned()),
        (Method::PUT, "/api/requests".to_owned()),
        (Method::GET, "/api/requests/x/decide".to_owned()),
        (Method::DELETE, "/api/requests/x".to_owned()),
        (Method::POST, "/api/requests/x/audit".to_owned()),
        (Method::PATCH, format!("/api/policies/{policy}")),
        (Method::DELETE, "/api/policies".to_owned()),
        (Method::PUT, "/api/keys".to_owned()),
        (Method::GET, "/api/keys/x".to_owned()),
        (Method::PUT, "/api/api-keys/x".to_owned()),
        (Method::POST, "/api/audit".to_owned()),
        (Method::POST, "/health".to_owned()),
    ] {
        let (status, body) = server.call(method.clone(), &path, Some(&server.admin_key), Some(&json!({}))).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {body}");
        error_of(&body);
    }
    // The policy survived the PATCH attempt.
    let (status, _) = server.get(&format!("/api/policies/{policy}")).await;
    assert_eq!(status, StatusCode::OK);
}

/// Odd ids and query strings are 4xx, never 500.
#[tokio::test]
async fn odd_ids_and_queries_are_never_a_500() {
    let server = TestServer::start().await;
    for path in [
        "/api/requests/%FF",
        "/api/requests/%FF/audit",
        "/api/policies/%FF",
        "/api/requests/..%2F..%2Fetc",
        "/api/requests/'%20OR%201=1--",
        "/api/requests?limit=5&limit=6",
        "/api/requests?status=pending&status=approved",
        "/api/audit?from=%FF",
        "/api/audit?requestId=%00",
        "/api/audit?actor=%27%3B%20DROP%20TABLE%20audit_logs%3B--",
    ] {
        let (status, body) = server.get(path).await;
        assert!(status.is_success() || status.is_client_error(), "{path}: {status} {body}");
        if !status.is_success() {
            error_of(&body);
        }
    }
    for (method, path, body) in [
        (Method::POST, "/api/requests/%FF/decide", json!({"decision": "approved"})),
        (Method::PUT, "/api/policies/%FF", json!({"name": "x", "rules": []})),
        (Method::DELETE, "/api/policies/%FF", Value::Null),
        (Method::PATCH, "/api/keys/%FF", json!({"name": "x"})),
        (Method::DELETE, "/api/keys/%FF", Value::Null),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (status, response) = server.call(method.clone(), path, Some(&server.admin_key), body.as_ref()).await;
        assert!(status.is_client_error(), "{method} {path}: {status} {response}");
        error_of(&response);
    }
    // The tables are intact.
    let created = server.create_request(json!({"action": "after"})).await;
    assert_eq!(created["status"], "pending");
    assert_eq!(server.total("/api/audit").await, 1);
}

/// Error responses are JSON, carry the security headers, and a 405 says which methods are allowed.
#[tokio::test]
async fn error_responses_are_json_with_security_headers() {
    let server = TestServer::start().await;
    let reader = server.create_key("reader", &["request:read"]).await;
    let http = &server.http;
    let cases = [
        (http.get(server.url("/api/requests")), StatusCode::UNAUTHORIZED),
        (
            http.post(server.url("/api/requests")).bearer_auth(&reader).json(&json!({"action": "x"})),
            StatusCode::FORBIDDEN,
        ),
        (http.post(server.url("/api/requests")).bearer_auth(&server.admin_key).body("{"), StatusCode::BAD_REQUEST),
        (http.get(server.url("/api/requests/nope")).bearer_auth(&server.admin_key), StatusCode::NOT_FOUND),
        (http.get(server.url("/api/nope")).bearer_auth(&server.admin_key), StatusCode::NOT_FOUND),
        (http.delete(server.url("/api/requests")).bearer_auth(&server.admin_key), StatusCode::METHOD_NOT_ALLOWED),
        (http.get(server.url("/health")), StatusCode::OK),
    ];
    for (request, expected) in cases {
        let res = request.send().await.expect("sent");
        let (status, headers) = (res.status(), res.headers().clone());
        let body: Value = res.json().await.expect("a JSON body");
        assert_eq!(status, expected, "{body}");
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(header("content-type").starts_with("application/json"), "{status}: {headers:?}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{status}");
        assert_eq!(header("x-frame-options"), "DENY", "{status}");
        if !status.is_success() {
            error_of(&body);
        }
    }
}

/// RFC 9110 §15.5.6: a 405 response must say which methods the resource supports.
#[tokio::test]
async fn method_not_allowed_lists_the_allowed_methods() {
    let server = TestServer::start().await;
    for (method, path, allowed) in [
        (Method::DELETE, "/api/requests", vec!["GET", "POST"]),
        (Method::PATCH, "/api/policies/x", vec!["GET", "PUT", "DELETE"]),
        (Method::PUT, "/api/keys/x", vec!["PATCH", "DELETE"]),
    ] {
        let res = server
            .http
            .request(method.clone(), server.url(path))
            .bearer_auth(&server.admin_key)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        let allow = res.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        for m in allowed {
            assert!(allow.contains(m), "{method} {path}: Allow {allow:?} lacks {m}");
        }
    }
}

/// A chunked body (no Content-Length) over the limit is refused for its size too.
#[tokio::test]
async fn oversized_chunked_bodies_are_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(|c| c.body_size_limit = 1024).await;
    let addr = server.base_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let payload = json!({"action": "x", "params": {"blob": "b".repeat(4096)}}).to_string();
    let mut request = format!(
        "POST /api/requests HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.admin_key
    )
    .into_bytes();
    for chunk in payload.as_bytes().chunks(512) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before reading everything; a failed write is fine then.
    let _ = stream.write_all(&request).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let body = &response[response.find("\r\n\r\n").expect("head") + 4..];
    let json_start = body.find('{').expect("a JSON body");
    let json_end = body.rfind('}').expect("a JSON body");
    let parsed: Value = serde_json::from_str(&body[json_start..=json_end]).expect("JSON");
    error_of(&parsed);
    assert_eq!(server.total("/api/requests").await, 0);
}
