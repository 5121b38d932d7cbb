//! `/api/requests`: create (defaults, expiry, policy outcome), list (filters, order, pagination), get, decide,
//! and the per-request audit trail.

use crate::support::{TestServer, assert_error, assert_page, ids};
use agentgate_core::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// ISO-8601 UTC with exactly three fractional digits: `2026-11-25T10:00:00.123Z`.
#[track_caller]
fn assert_iso_ms(value: &Value) -> Timestamp {
    let text = value.as_str().unwrap_or_else(|| panic!("timestamp string, got {value}"));
    let bytes = text.as_bytes();
    assert_eq!(text.len(), 24, "{text}");
    assert_eq!(bytes[10], b'T', "{text}");
    assert_eq!(bytes[19], b'.', "{text}");
    assert_eq!(bytes[23], b'Z', "{text}");
    assert!(bytes[20..23].iter().all(u8::is_ascii_digit), "{text}");
    Timestamp::parse_iso(text).unwrap_or_else(|| panic!("parsable timestamp {text}"))
}

fn millis(value: &Value) -> i64 {
    assert_iso_ms(value).millis()
}

#[tokio::test]
async fn create_applies_defaults_and_trims_the_action() {
    let server = TestServer::start().await;
    let created = server.create_request(json!({"action": "  send_email \n"})).await;
    assert_eq!(created["action"], "send_email");
    assert_eq!(created["params"], json!({}));
    assert_eq!(created["context"], json!({}));
    assert_eq!(created["urgency"], "normal");
    assert_eq!(created["status"], "pending");
    for field in ["decidedAt", "decidedBy", "decisionReason", "expiresAt"] {
        assert_eq!(created.get(field), Some(&Value::Null), "{field} is an explicit null: {created}");
    }
    assert_eq!(created["policyDecision"], json!({"decision": "route_to_human"}));
    let created_at = millis(&created["createdAt"]);
    assert_eq!(millis(&created["updatedAt"]), created_at);
    assert!(created["id"].as_str().is_some_and(|id| !id.is_empty()), "{created}");

    // Explicit nulls mean the defaults too.
    let created = server
        .create_request(json!({"action": "x", "params": null, "context": null, "urgency": null, "expiresAt": null}))
        .await;
    assert_eq!(
        (&created["params"], &created["context"], &created["urgency"]),
        (&json!({}), &json!({}), &json!("normal"))
    );
    assert_eq!(created["expiresAt"], Value::Null);

    // What was stored reads back the same (minus the create-only policyDecision).
    let id = created["id"].as_str().expect("id");
    let (status, fetched) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let mut expected = created.clone();
    expected.as_object_mut().expect("object").remove("policyDecision");
    assert_eq!(fetched, expected);
    assert!(fetched.get("policyDecision").is_none(), "{fetched}");
}

#[tokio::test]
async fn create_keeps_params_context_and_urgency() {
    let server = TestServer::start().await;
    let params = json!({"to": "a@b.c", "nested": {"list": [1, 2, {"x": null}]}, "n": 1.5});
    let context = json!({"agentId": "agent-7", "session": "s1"});
    for urgency in ["low", "normal", "high", "critical"] {
        let created = server
            .create_request(json!({"action": "send_email", "params": params, "context": context, "urgency": urgency}))
            .await;
        assert_eq!(created["urgency"], urgency);
        assert_eq!(created["params"], params);
        assert_eq!(created["context"], context);
        let (_, fetched) = server.get(&format!("/api/requests/{}", created["id"].as_str().expect("id"))).await;
        assert_eq!(fetched["params"], params);
        assert_eq!(fetched["context"], context);
        assert_eq!(fetched["urgency"], urgency);
    }
}

#[tokio::test]
async fn expires_at_is_parsed_and_returned_in_iso_with_milliseconds() {
    let server = TestServer::start().await;
    for (given, returned) in [
        ("2099-01-01T00:00:00Z", "2099-01-01T00:00:00.000Z"),
        ("2099-01-01T00:00:00.5Z", "2099-01-01T00:00:00.500Z"),
        ("2099-06-30T12:34:56.789Z", "2099-06-30T12:34:56.789Z"),
        ("2099-01-01T02:00:00+02:00", "2099-01-01T00:00:00.000Z"),
    ] {
        let created = server.create_request(json!({"action": "deploy", "expiresAt": given})).await;
        assert_eq!(created["expiresAt"], returned, "{given}");
        let (_, fetched) = server.get(&format!("/api/requests/{}", created["id"].as_str().expect("id"))).await;
        assert_eq!(fetched["expiresAt"], returned, "{given}");
    }
}

#[tokio::test]
async fn request_timeout_gives_a_default_expiry() {
    let server = TestServer::start_with(|c| c.request_timeout = Some(Duration::from_secs(600))).await;
    let created = server.create_request(json!({"action": "deploy"})).await;
    assert_eq!(millis(&created["expiresAt"]) - millis(&created["createdAt"]), 600_000, "{created}");
    let (_, fetched) = server.get(&format!("/api/requests/{}", created["id"].as_str().expect("id"))).await;
    assert_eq!(fetched["expiresAt"], created["expiresAt"]);

    // An explicit expiresAt wins over the default.
    let created = server.create_request(json!({"action": "deploy", "expiresAt": "2099-01-01T00:00:00Z"})).await;
    assert_eq!(created["expiresAt"], "2099-01-01T00:00:00.000Z");

    // Without REQUEST_TIMEOUT_SEC there is no default expiry.
    let plain = TestServer::start().await;
    assert_eq!(plain.create_request(json!({"action": "deploy"})).await["expiresAt"], Value::Null);
}

#[tokio::test]
async fn policy_decision_carries_approvers_and_channels_of_the_matched_rule() {
    let server = TestServer::start().await;
    server
        .create_policy(json!({"name": "routing", "rules": [
            {"match": {"action": "deploy"}, "decision": "route_to_human",
             "approvers": ["alice", "bob"], "channels": ["slack:#ops", "email"]},
            {"match": {"action": "transfer"}, "decision": "route_to_human", "approvers": ["treasury-bot"]},
        ]}))
        .await;
    let created = server.create_request(json!({"action": "deploy"})).await;
    assert_eq!(created["status"], "pending");
    assert_eq!(
        created["policyDecision"],
        json!({"decision": "route_to_human", "approvers": ["alice", "bob"], "channels": ["slack:#ops", "email"]})
    );
    let created = server.create_request(json!({"action": "transfer"})).await;
    assert_eq!(created["status"], "pending");
    assert_eq!(created["policyDecision"], json!({"decision": "route_to_human", "approvers": ["treasury-bot"]}));
    let created = server.create_request(json!({"action": "other"})).await;
    assert_eq!(created["policyDecision"], json!({"decision": "route_to_human"}));
}

#[tokio::test]
async fn auto_approve_and_auto_deny_decide_at_creation() {
    let server = TestServer::start().await;
    let creator = server.admin_actor().await;
    server
        .create_policy(json!({"name": "auto", "rules": [
            {"match": {"action": "read_file"}, "decision": "auto_approve", "channels": ["audit-log"]},
            {"match": {"action": "rm_rf"}, "decision": "auto_deny"},
        ]}))
        .await;

    for (action, status, decision, verb) in
        [("read_file", "approved", "auto_approve", "Auto-approved"), ("rm_rf", "denied", "auto_deny", "Auto-denied")]
    {
        let created = server.create_request(json!({"action": action})).await;
        let reason = format!("{verb} by policy rule matching: {}", json!({"action": action}));
        assert_eq!(created["status"], status, "{created}");
        assert_eq!(created["decidedBy"], "policy");
        assert_eq!(created["decisionReason"], reason.as_str());
        assert_eq!(created["decidedAt"], created["createdAt"]);
        assert_eq!(created["policyDecision"]["decision"], decision);

        let id = created["id"].as_str().expect("id");
        let (_, fetched) = server.get(&format!("/api/requests/{id}")).await;
        assert_eq!(fetched["status"], status);
        assert_eq!(fetched["decidedBy"], "policy");
        assert_eq!(fetched["decisionReason"], reason.as_str());

        let (status_code, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
        assert_eq!(status_code, StatusCode::OK);
        let trail = trail.as_array().expect("array");
        assert_eq!(trail.len(), 2, "{trail:?}");
        assert_eq!(trail[0]["eventType"], "created");
        assert_eq!(trail[0]["actor"], creator.as_str());
        assert_eq!(trail[0]["requestId"], id);
        assert_eq!(trail[0]["details"]["policyDecision"], decision);
        assert_eq!(trail[1]["eventType"], status);
        assert_eq!(trail[1]["actor"], "policy");
        assert_eq!(trail[1]["details"]["reason"], reason.as_str());
        assert_eq!(trail[1]["details"]["automatic"], true);

        // An automatically decided request cannot be decided again.
        let (code, body) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "approved"})).await;
        assert_error(code, &body, StatusCode::CONFLICT, &format!("Request already {status}"));
    }
}

#[tokio::test]
async fn list_filters_by_status_action_and_urgency() {
    let server = TestServer::start().await;
    let mut made = Vec::new();
    for (action, urgency) in
        [("deploy", "high"), ("deploy", "low"), ("email", "high"), ("email", "critical"), ("deploy", "high")]
    {
        made.push(server.create_request(json!({"action": action, "urgency": urgency})).await);
    }
    let id = |i: usize| made[i]["id"].as_str().expect("id").to_owned();
    let (status, _) = server.post(&format!("/api/requests/{}/decide", id(0)), json!({"decision": "approved"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.post(&format!("/api/requests/{}/decide", id(3)), json!({"decision": "denied"})).await;
    assert_eq!(status, StatusCode::OK);

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    for (query, expected) in [
        ("", vec![0, 1, 2, 3, 4]),
        ("?status=pending", vec![1, 2, 4]),
        ("?status=approved", vec![0]),
        ("?status=denied", vec![3]),
        ("?status=expired", vec![]),
        ("?action=deploy", vec![0, 1, 4]),
        ("?action=email", vec![2, 3]),
        ("?action=nothing", vec![]),
        ("?urgency=high", vec![0, 2, 4]),
        ("?urgency=critical", vec![3]),
        ("?urgency=normal", vec![]),
        ("?action=deploy&urgency=high", vec![0, 4]),
        ("?action=deploy&urgency=high&status=pending", vec![4]),
        ("?status=pending&action=email", vec![2]),
        // Empty values mean "no filter" (as the dashboard sends them).
        ("?status=&action=&urgency=", vec![0, 1, 2, 3, 4]),
    ] {
        let (status, body) = server.get(&format!("/api/requests{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let expected: Vec<String> = expected.into_iter().map(id).collect();
        assert_eq!(sorted(ids(&body["requests"])), sorted(expected.clone()), "{query}");
        assert_eq!(body["pagination"]["total"], json!(expected.len()), "{query}");
        for r in body["requests"].as_array().expect("array") {
            assert!(r.get("policyDecision").is_none(), "list items carry no policyDecision: {r}");
        }
    }
}

#[tokio::test]
async fn list_is_newest_first_and_paginates() {
    let server = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(server.create_request(json!({"action": format!("a{i}")})).await["id"].clone());
        // Distinct creation milliseconds, so "newest first" has one right answer.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let newest_first: Vec<String> = created.iter().rev().map(|v| v.as_str().expect("id").to_owned()).collect();

    assert_page(&server, "/api/requests", "requests", &newest_first, (7, 50, 0, false)).await;

    assert_page(&server, "/api/requests?limit=3", "requests", &newest_first[0..3], (7, 3, 0, true)).await;

    assert_page(&server, "/api/requests?limit=3&offset=3", "requests", &newest_first[3..6], (7, 3, 3, true)).await;

    assert_page(&server, "/api/requests?limit=3&offset=6", "requests", &newest_first[6..7], (7, 3, 6, false)).await;

    let (_, body) = server.get("/api/requests?offset=50").await;
    assert_eq!(body["requests"], json!([]));
    assert_eq!(body["pagination"], json!({"total": 7, "limit": 50, "offset": 50, "hasMore": false}));

    // A limit above 100 is clamped, as the reference did.
    let (status, body) = server.get("/api/requests?limit=1000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["pagination"]["limit"], 100);
    let (_, body) = server.get("/api/requests?limit=100").await;
    assert_eq!(body["pagination"]["limit"], 100);
}

#[tokio::test]
async fn list_pagination_clamps_to_one_hundred_rows() {
    let server = TestServer::start().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..105 {
        let (http, url, key) = (server.http.clone(), server.url("/api/requests"), server.admin_key.clone());
        tasks.spawn(async move {
            let res = http.post(url).bearer_auth(key).json(&json!({"action": format!("bulk{i}")})).send().await;
            res.expect("sent").status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task"), StatusCode::CREATED);
    }
    let (_, body) = server.get("/api/requests?limit=500").await;
    assert_eq!(body["requests"].as_array().expect("array").len(), 100);
    assert_eq!(body["pagination"], json!({"total": 105, "limit": 100, "offset": 0, "hasMore": true}));
    let (_, body) = server.get("/api/requests?limit=500&offset=100").await;
    assert_eq!(body["requests"].as_array().expect("array").len(), 5);
    assert_eq!(body["pagination"], json!({"total": 105, "limit": 100, "offset": 100, "hasMore": false}));
}

/// Requests created one after another (each acknowledged before the next is sent) are listed newest first,
/// even when they share a creation millisecond.
#[tokio::test]
async fn list_order_is_creation_order_within_one_millisecond() {
    let server = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..100 {
        created.push(server.create_request(json!({"action": format!("quick{i}")})).await["id"].clone());
    }
    let newest_first: Vec<String> = created.iter().rev().map(|v| v.as_str().expect("id").to_owned()).collect();
    let (_, body) = server.get("/api/requests?limit=100").await;
    assert_eq!(ids(&body["requests"]), newest_first);
}

#[tokio::test]
async fn get_returns_the_request_and_404s_for_unknown_ids() {
    let server = TestServer::start().await;
    let created = server.create_request(json!({"action": "deploy", "params": {"env": "prod"}})).await;
    let id = created["id"].as_str().expect("id");
    let (status, body) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], id);
    assert_eq!(body["params"], json!({"env": "prod"}));

    for unknown in ["does-not-exist", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "%20", "a%2Fb"] {
        let (status, body) = server.get(&format!("/api/requests/{unknown}")).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "Request not found");
        let (status, body) = server.get(&format!("/api/requests/{unknown}/audit")).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "Request not found");
        let (status, body) =
            server.post(&format!("/api/requests/{unknown}/decide"), json!({"decision": "approved"})).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "Request not found");
    }
}

#[tokio::test]
async fn decide_approves_or_denies_with_a_reason() {
    let server = TestServer::start().await;
    let (key_id, decider) = server.create_key_with_id("reviewer", &["request:decide", "request:read"]).await;

    for (decision, reason) in [("approved", Some("looks fine")), ("denied", Some("too risky")), ("approved", None)] {
        let created = server.create_request(json!({"action": "deploy"})).await;
        let id = created["id"].as_str().expect("id");
        let mut body = json!({"decision": decision});
        if let Some(reason) = reason {
            body["reason"] = json!(reason);
        }
        let (status, decided) =
            server.call(Method::POST, &format!("/api/requests/{id}/decide"), Some(&decider), Some(&body)).await;
        assert_eq!(status, StatusCode::OK, "{decided}");
        assert_eq!(decided["id"], id);
        assert_eq!(decided["status"], decision);
        assert_eq!(decided["decisionReason"], reason.map_or(Value::Null, |r| json!(r)));
        assert_eq!(decided["decidedBy"], format!("key:{key_id}"));
        let decided_at = millis(&decided["decidedAt"]);
        assert!(decided_at >= millis(&created["createdAt"]), "{decided}");
        assert_eq!(decided["updatedAt"], decided["decidedAt"]);
        assert!(decided.get("policyDecision").is_none(), "{decided}");

        let (_, fetched) = server.get(&format!("/api/requests/{id}")).await;
        assert_eq!(fetched, decided);
    }
}

#[tokio::test]
async fn a_second_decision_is_a_conflict_and_changes_nothing() {
    let server = TestServer::start().await;
    let id = server.create_request(json!({"action": "deploy"})).await["id"].as_str().expect("id").to_owned();
    let path = format!("/api/requests/{id}/decide");
    let (status, first) = server.post(&path, json!({"decision": "approved", "reason": "first"})).await;
    assert_eq!(status, StatusCode::OK);

    for decision in ["approved", "denied"] {
        let (status, body) = server.post(&path, json!({"decision": decision, "reason": "second"})).await;
        assert_error(status, &body, StatusCode::CONFLICT, "Request already approved");
    }
    let (_, fetched) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(fetched, first);
    let (_, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
    assert_eq!(trail.as_array().expect("array").len(), 2, "a refused decision writes no audit row: {trail}");

    let id = server.create_request(json!({"action": "deploy"})).await["id"].as_str().expect("id").to_owned();
    let path = format!("/api/requests/{id}/decide");
    assert_eq!(server.post(&path, json!({"decision": "denied"})).await.0, StatusCode::OK);
    let (status, body) = server.post(&path, json!({"decision": "approved"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "Request already denied");
}

#[tokio::test]
async fn deciding_after_expires_at_is_a_conflict() {
    let server = TestServer::start().await;
    let soon = Timestamp::from_millis(agentgate::app::now().millis() + 1_200).to_iso();
    let created = server.create_request(json!({"action": "deploy", "expiresAt": soon})).await;
    let other = server.create_request(json!({"action": "deploy", "expiresAt": "2099-01-01T00:00:00Z"})).await;
    let id = created["id"].as_str().expect("id");
    tokio::time::sleep(Duration::from_millis(1_600)).await;

    for decision in ["approved", "denied"] {
        let (status, body) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": decision})).await;
        assert_error(status, &body, StatusCode::CONFLICT, "Request has expired");
    }
    let (_, fetched) = server.get(&format!("/api/requests/{id}")).await;
    assert_ne!(fetched["status"], "approved");
    assert_ne!(fetched["status"], "denied");
    assert_eq!(fetched["decidedBy"], Value::Null);
    let (_, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
    assert!(
        trail.as_array().expect("array").iter().all(|e| e["eventType"] != "approved" && e["eventType"] != "denied"),
        "{trail}"
    );

    // A request whose expiry is still ahead is decided normally.
    let (status, _) = server
        .post(&format!("/api/requests/{}/decide", other["id"].as_str().expect("id")), json!({"decision": "approved"}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_decider_is_the_authenticated_key_not_the_body() {
    let server = TestServer::start().await;
    let (key_id, decider) = server.create_key_with_id("slack-bot", &["request:decide"]).await;
    let id = server.create_request(json!({"action": "deploy"})).await["id"].as_str().expect("id").to_owned();
    let body = json!({"decision": "denied", "reason": "nope", "decidedBy": "  dashboard:ceo  "});
    let (status, decided) =
        server.call(Method::POST, &format!("/api/requests/{id}/decide"), Some(&decider), Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let actor = format!("key:{key_id}");
    assert_eq!(decided["decidedBy"], actor.as_str());

    let (_, fetched) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(fetched["decidedBy"], actor.as_str());

    let (_, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
    let denial = &trail[1];
    assert_eq!(denial["eventType"], "denied");
    assert_eq!(denial["actor"], actor.as_str());
    assert_eq!(denial["details"]["label"], "dashboard:ceo");
    assert_eq!(denial["details"]["reason"], "nope");
    assert_eq!(denial["details"]["automatic"], false);
    assert!(!trail.to_string().contains("\"actor\":\"dashboard:ceo\""), "{trail}");

    // The audit actor list shows the key, never the client's label.
    let (_, actors) = server.get("/api/audit/actors").await;
    let actors: Vec<&str> = actors["actors"].as_array().expect("array").iter().filter_map(Value::as_str).collect();
    assert!(actors.contains(&actor.as_str()), "{actors:?}");
    assert!(!actors.iter().any(|a| a.contains("dashboard:ceo")), "{actors:?}");
}

#[tokio::test]
async fn audit_trail_runs_created_then_decision() {
    let server = TestServer::start().await;
    let creator_actor = server.admin_actor().await;
    let (decider_id, decider) = server.create_key_with_id("decider", &["request:decide"]).await;
    let created = server
        .create_request(json!({"action": "deploy", "params": {"env": "prod"}, "context": {"agentId": "a1"}}))
        .await;
    let id = created["id"].as_str().expect("id");
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/api/requests/{id}/decide"),
            Some(&decider),
            Some(&json!({"decision": "approved", "reason": "ok"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
    assert_eq!(status, StatusCode::OK);
    let trail = trail.as_array().expect("a bare array");
    let kinds: Vec<&str> = trail.iter().map(|e| e["eventType"].as_str().expect("eventType")).collect();
    assert_eq!(kinds, ["created", "approved"]);
    for entry in trail {
        assert_eq!(entry["requestId"], id);
        assert!(entry["id"].is_string());
        assert_iso_ms(&entry["createdAt"]);
        assert!(entry.get("request").is_none(), "per-request entries have no request summary: {entry}");
    }
    assert_eq!(trail[0]["actor"], creator_actor.as_str());
    assert_eq!(trail[0]["details"]["action"], "deploy");
    assert_eq!(trail[0]["details"]["params"], json!({"env": "prod"}));
    assert_eq!(trail[0]["details"]["context"], json!({"agentId": "a1"}));
    assert_eq!(trail[0]["details"]["urgency"], "normal");
    assert_eq!(trail[0]["details"]["policyDecision"], "route_to_human");
    assert_eq!(trail[1]["actor"], format!("key:{decider_id}"));
    assert_eq!(trail[1]["details"]["reason"], "ok");
    assert!(millis(&trail[0]["createdAt"]) <= millis(&trail[1]["createdAt"]));
}

#[tokio::test]
async fn the_default_expiry_is_enforced_too() {
    let server = TestServer::start_with(|c| c.request_timeout = Some(Duration::from_millis(1_200))).await;
    let created = server.create_request(json!({"action": "deploy"})).await;
    assert_eq!(millis(&created["expiresAt"]) - millis(&created["createdAt"]), 1_200);
    let id = created["id"].as_str().expect("id");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let (status, body) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "approved"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "Request has expired");
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let server = TestServer::start().await;
    let (key_id, key) = server.create_key_with_id("survivor", &["request:read", "request:decide"]).await;
    let policy = server
        .create_policy(json!({"name": "deny wipes", "rules": [{"match": {"action": "wipe"}, "decision": "auto_deny"}]}))
        .await;
    let pending = server.create_request(json!({"action": "deploy", "params": {"v": 1}, "urgency": "high"})).await;
    let decided = server.create_request(json!({"action": "email"})).await;
    let decided_id = decided["id"].as_str().expect("id");
    let (status, decided) = server
        .call(
            Method::POST,
            &format!("/api/requests/{decided_id}/decide"),
            Some(&key),
            Some(&json!({"decision": "denied"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, requests_before) = server.get("/api/requests").await;
    let (_, audit_before) = server.get("/api/audit").await;
    let (_, keys_before) = server.get("/api/keys").await;

    let server = server.restart().await;
    let (_, requests_after) = server.get("/api/requests").await;
    assert_eq!(requests_after, requests_before);
    let (_, audit_after) = server.get("/api/audit").await;
    assert_eq!(audit_after, audit_before);
    let (_, keys_after) = server.get("/api/keys").await;
    // Usage (lastUsedAt, requests per day) is written at the latest on shutdown, so the restart itself adds it.
    let strip_usage = |mut v: Value| {
        for k in v["keys"].as_array_mut().expect("keys") {
            k["lastUsedAt"] = Value::Null;
            k["usage"] = Value::Null;
        }
        v
    };
    assert_eq!(strip_usage(keys_after), strip_usage(keys_before));
    let (_, fetched) = server.get(&format!("/api/policies/{}", policy["id"].as_str().expect("id"))).await;
    assert_eq!(fetched, policy);
    let (_, fetched) = server.get(&format!("/api/requests/{decided_id}")).await;
    assert_eq!(fetched, decided);
    assert_eq!(fetched["decidedBy"], format!("key:{key_id}"));

    // The keys, the policy and the pending request all still work.
    let (status, _) = server.call(Method::GET, "/api/requests", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.create_request(json!({"action": "wipe"})).await["status"], "denied");
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/api/requests/{}/decide", pending["id"].as_str().expect("id")),
            Some(&key),
            Some(&json!({"decision": "approved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// `expiresAt` is "an ISO-8601 timestamp" (the reference took anything `new Date()` parses); an ISO-8601 date is
/// midnight UTC, as `GET /api/audit?from=` already treats it.
#[tokio::test]
async fn expires_at_accepts_an_iso_date() {
    let server = TestServer::start().await;
    let created = server.create_request(json!({"action": "deploy", "expiresAt": "2099-01-01"})).await;
    assert_eq!(created["expiresAt"], "2099-01-01T00:00:00.000Z");
}
