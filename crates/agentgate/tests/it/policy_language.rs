//! The policy language through the API: versions in the audit trail, rule options that do something
//! (`requireReason`, `approvers`), overrides, simulation and backtests.

use crate::support::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn the_created_audit_row_names_the_policy_rule_and_version_that_decided() {
    let server = TestServer::start().await;
    let policy = server
        .create_policy(json!({"name": "reads", "rules": [
            {"match": {"action": "write"}, "decision": "route_to_human"},
            {"match": {"action": "read"}, "decision": "auto_approve"}]}))
        .await;
    assert_eq!(policy["version"], 1);
    let first = server.create_request(json!({"action": "read"})).await;
    assert_eq!(first["status"], "approved");

    let (status, replaced) = server
        .put(
            &format!("/api/policies/{}", id_of(&policy)),
            json!({"name": "reads", "rules": [
            {"match": {"action": "read"}, "decision": "auto_deny"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["version"], 2);
    let second = server.create_request(json!({"action": "read"})).await;
    assert_eq!(second["status"], "denied");

    for (request, version, rule_index, outcome) in [(&first, 1, 1, "approved"), (&second, 2, 0, "denied")] {
        let (_, trail) = server.get(&format!("/api/requests/{}/audit", id_of(request))).await;
        let created = &trail[0];
        assert_eq!(created["eventType"], "created");
        assert_eq!(created["details"]["policyId"], policy["id"]);
        assert_eq!(created["details"]["policyVersion"], version);
        assert_eq!(created["details"]["ruleIndex"], rule_index);
        assert_eq!(trail[1]["eventType"], outcome);
        assert_eq!(trail[1]["details"]["policyVersion"], version);
    }
}

#[tokio::test]
async fn require_reason_makes_a_decision_without_a_reason_a_400() {
    let server = TestServer::start().await;
    server
        .create_policy(json!({"name": "payments", "rules": [
            {"match": {"action": "pay"}, "decision": "route_to_human", "requireReason": true}]}))
        .await;
    let request = server.create_request(json!({"action": "pay"})).await;
    assert_eq!(request["requireReason"], true);
    let path = format!("/api/requests/{}/decide", id_of(&request));
    for body in [json!({"decision": "approved"}), json!({"decision": "approved", "reason": "   "})] {
        let (status, error) = server.post(&path, body).await;
        assert_error(status, &error, StatusCode::BAD_REQUEST, "A reason is required to decide this request");
    }
    let (_, still) = server.get(&format!("/api/requests/{}", id_of(&request))).await;
    assert_eq!(still["status"], "pending");
    let (status, decided) = server.post(&path, json!({"decision": "approved", "reason": "invoice checked"})).await;
    assert_eq!(status, StatusCode::OK, "{decided}");

    // Requests routed by other rules need no reason.
    let other = server.create_request(json!({"action": "read"})).await;
    assert!(other.get("requireReason").is_none(), "{other}");
    let (status, _) =
        server.post(&format!("/api/requests/{}/decide", id_of(&other)), json!({"decision": "denied"})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn approvers_restrict_who_may_decide() {
    let server = TestServer::start().await;
    let alice = server.create_key("alice", &["request:decide"]).await;
    let bob = server.create_key("bob", &["request:decide"]).await;
    server
        .create_policy(json!({"name": "deploys", "rules": [
            {"match": {"action": "deploy"}, "decision": "route_to_human", "approvers": ["alice", "slack:U123"]}]}))
        .await;
    let request = server.create_request(json!({"action": "deploy"})).await;
    assert_eq!(request["approvers"], json!(["alice", "slack:U123"]));
    assert_eq!(request["policyDecision"]["approvers"], json!(["alice", "slack:U123"]));
    let path = format!("/api/requests/{}/decide", id_of(&request));

    // Neither another key with the scope nor the admin is an approver.
    for key in [&bob, &server.admin_key] {
        let (status, error) = server.call(Method::POST, &path, Some(key), Some(&json!({"decision": "approved"}))).await;
        assert_error(status, &error, StatusCode::FORBIDDEN, "You are not an approver of this request");
    }
    let (status, decided) =
        server.call(Method::POST, &path, Some(&alice), Some(&json!({"decision": "approved"}))).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    // Once decided, a non-approver hears that it is decided, not that it may not decide.
    let (status, error) = server.call(Method::POST, &path, Some(&bob), Some(&json!({"decision": "denied"}))).await;
    assert_error(status, &error, StatusCode::CONFLICT, "Request already approved");
}

#[tokio::test]
async fn route_to_agent_is_rejected() {
    let server = TestServer::start().await;
    let (status, body) = server
        .post("/api/policies", json!({"name": "p", "rules": [{"match": {}, "decision": "route_to_agent"}]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().expect("error").contains("route_to_agent"), "{body}");
    assert_eq!(server.total("/api/policies").await, 0);
}

#[tokio::test]
async fn overrides_only_ever_make_outcomes_stricter() {
    let server = TestServer::start().await;
    server
        .create_policy(json!({"name": "p", "rules": [
            {"match": {"action": {"$in": ["deploy:staging", "deploy:prod"]}}, "decision": "auto_approve"},
            {"match": {"action": "delete_db"}, "decision": "auto_deny"}]}))
        .await;
    let (status, created) = server
        .post(
            "/api/overrides",
            json!({"agentId": "bot-1", "toolPattern": "*", "reason": "incident 42", "ttlSeconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["action"], "require_approval");
    assert!(created["expiresAt"].is_string());

    // The override's agent: approvals become pending; denials stay denied.
    let held = server.create_request(json!({"action": "deploy:prod", "context": {"agentId": "bot-1"}})).await;
    assert_eq!(held["status"], "pending");
    assert_eq!(held["decisionReason"], "Override active: incident 42");
    assert_eq!(held["policyDecision"]["decision"], "route_to_human");
    let denied = server.create_request(json!({"action": "delete_db", "context": {"agentId": "bot-1"}})).await;
    assert_eq!(denied["status"], "denied");
    // Other agents are untouched.
    let other = server.create_request(json!({"action": "deploy:prod", "context": {"agentId": "bot-2"}})).await;
    assert_eq!(other["status"], "approved");

    let (_, trail) = server.get(&format!("/api/requests/{}/audit", id_of(&held))).await;
    assert_eq!(trail[0]["details"]["override"]["id"], created["id"]);
    assert_eq!(trail[0]["details"]["override"]["policyDecision"], "auto_approve");

    let (_, listed) = server.get("/api/overrides").await;
    assert_eq!(listed["overrides"].as_array().expect("array").len(), 1);
    let (status, deleted) = server.delete(&format!("/api/overrides/{}", id_of(&created))).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let released = server.create_request(json!({"action": "deploy:prod", "context": {"agentId": "bot-1"}})).await;
    assert_eq!(released["status"], "approved");
    let (status, error) = server.delete(&format!("/api/overrides/{}", id_of(&created))).await;
    assert_error(status, &error, StatusCode::NOT_FOUND, "Override not found");

    let (_, audit) = server.get("/api/audit?eventType=override.created").await;
    assert_eq!(audit["entries"].as_array().expect("entries").len(), 1);
    let (_, audit) = server.get("/api/audit?eventType=override.deleted").await;
    assert_eq!(audit["entries"].as_array().expect("entries").len(), 1);
}

#[tokio::test]
async fn overrides_expire_and_bad_bodies_are_400() {
    let server = TestServer::start().await;
    server.create_policy(json!({"name": "p", "rules": [{"match": {}, "decision": "auto_approve"}]})).await;
    let (status, _) =
        server.post("/api/overrides", json!({"agentId": "bot-1", "toolPattern": "deploy:*", "ttlSeconds": 1})).await;
    assert_eq!(status, StatusCode::CREATED);
    let held = server.create_request(json!({"action": "deploy:x", "context": {"agentId": "bot-1"}})).await;
    assert_eq!(held["status"], "pending");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let free = server.create_request(json!({"action": "deploy:x", "context": {"agentId": "bot-1"}})).await;
    assert_eq!(free["status"], "approved");
    let (_, listed) = server.get("/api/overrides").await;
    assert_eq!(listed["overrides"], json!([]));

    for (body, message) in [
        (json!({"toolPattern": "*"}), "agentId is required and must be a non-empty string"),
        (json!({"agentId": "a"}), "toolPattern is required and must be a non-empty string"),
        (json!({"agentId": "a", "toolPattern": "*", "action": "allow"}), "action must be \"require_approval\""),
        (
            json!({"agentId": "a", "toolPattern": "*", "ttlSeconds": 0}),
            "ttlSeconds must be a positive whole number of seconds (at most a year)",
        ),
        (json!({"agentId": "a", "toolPattern": "*", "reason": 5}), "reason must be a string"),
    ] {
        let (status, error) = server.post("/api/overrides", body).await;
        assert_error(status, &error, StatusCode::BAD_REQUEST, message);
    }
    let reader = server.create_key("reader", &["request:read", "request:create"]).await;
    let (status, error) = server.call(Method::GET, "/api/overrides", Some(&reader), None).await;
    assert_error(status, &error, StatusCode::FORBIDDEN, "Missing required scope: admin");
}

#[tokio::test]
async fn simulate_explains_decisions_and_stores_nothing() {
    let server = TestServer::start().await;
    let stored = server
        .create_policy(json!({"name": "limits", "priority": 10, "rules": [
            {"match": {"action": "pay", "params.amount": {"$lte": 5000}}, "decision": "auto_approve"},
            {"match": {"action": "pay"}, "decision": "route_to_human"}]}))
        .await;

    let (status, body) =
        server.post("/api/policies/simulate", json!({"request": {"action": "pay", "params": {"amount": 6000}}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["policies"], "stored");
    let result = &body["results"][0];
    assert_eq!(result["decision"], "route_to_human");
    assert_eq!(result["matched"]["policyId"], stored["id"]);
    assert_eq!(result["matched"]["ruleIndex"], 1);
    let misses = result["misses"].as_array().expect("misses");
    assert_eq!(misses.len(), 1, "{body}");
    assert_eq!(misses[0]["ruleIndex"], 0);
    assert!(misses[0]["reason"].as_str().expect("reason").contains("params.amount"), "{body}");

    // Several requests against a draft set.
    let (status, body) = server
        .post(
            "/api/policies/simulate",
            json!({
            "policies": [{"name": "draft", "rules": [{"match": {"action": "pay"}, "decision": "auto_deny"}]}],
            "requests": [{"action": "pay"}, {"action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["policies"], "draft");
    assert_eq!(body["results"][0]["decision"], "auto_deny");
    assert_eq!(body["results"][0]["matched"]["policyId"], "draft-0");
    assert_eq!(body["results"][1]["decision"], "route_to_human");
    assert_eq!(body["results"][1]["matched"], Value::Null);

    // Nothing was stored: no requests, no extra policies, and bad input is a 400 naming the place.
    assert_eq!(server.total("/api/requests").await, 0);
    assert_eq!(server.total("/api/policies").await, 1);
    for (body, fragment) in [
        (json!({}), "request"),
        (json!({"request": {"params": {}}}), "request.action"),
        (json!({"requests": [{"action": "a"}, {"action": 5}]}), "requests[1].action"),
        (
            json!({"request": {"action": "a"}, "policies": [{"name": "x", "rules": [{"match": {"a": {"$gtt": 1}}, "decision": "auto_approve"}]}]}),
            "policies[0].rules[0].match.a",
        ),
    ] {
        let (status, error) = server.post("/api/policies/simulate", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(error["error"].as_str().expect("error").contains(fragment), "{error}");
    }
}

#[tokio::test]
async fn backtest_reports_which_decisions_would_change() {
    let server = TestServer::start().await;
    server
        .create_policy(json!({"name": "current", "rules": [{"match": {"action": "read"}, "decision": "auto_approve"}]}))
        .await;
    for action in ["read", "read", "pay", "pay", "pay", "delete"] {
        server.create_request(json!({"action": action})).await;
    }
    let draft = json!([{"name": "draft", "rules": [
        {"match": {"action": "read"}, "decision": "auto_approve"},
        {"match": {"action": "pay"}, "decision": "auto_deny"}]}]);
    let (status, body) = server.post("/api/policies/backtest", json!({"policies": draft, "days": 7})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["evaluated"], 6);
    assert_eq!(body["changed"], 3);
    assert_eq!(body["unchanged"], 3);
    let changes = body["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{body}");
    assert_eq!(
        (&changes[0]["from"], &changes[0]["to"], &changes[0]["count"]),
        (&json!("route_to_human"), &json!("auto_deny"), &json!(3))
    );
    assert_eq!(changes[0]["examples"].as_array().expect("examples").len(), 3);
    assert!(changes[0]["examples"].as_array().expect("examples").iter().all(|e| e["action"] == "pay"));

    let (status, body) = server.post("/api/policies/backtest", json!({"policies": draft, "last": 2})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["evaluated"], 2);

    for bad in
        [json!({"days": 7}), json!({"policies": draft, "days": 0}), json!({"policies": draft, "days": 1, "last": 1})]
    {
        let (status, error) = server.post("/api/policies/backtest", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    }
    assert_eq!(server.total("/api/requests").await, 6);
}
