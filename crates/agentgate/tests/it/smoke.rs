//! The README's walk-through, end to end: create a request, decide it, read its audit trail.

use crate::support::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn request_then_decide_then_audit() {
    let server = TestServer::start().await;
    let created = server.create_request(json!({"action": "send_email", "params": {"to": "a@b.c"}})).await;
    assert_eq!(created["status"], "pending");
    assert_eq!(created["policyDecision"]["decision"], "route_to_human");
    let id = created["id"].as_str().expect("id");

    let (status, decided) =
        server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "approved", "reason": "fine"})).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decisionReason"], "fine");

    let (status, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<_> = trail.as_array().expect("array").iter().map(|e| e["eventType"].clone()).collect();
    assert_eq!(kinds, [json!("created"), json!("approved")]);
}

#[tokio::test]
async fn data_survives_a_restart() {
    let server = TestServer::start().await;
    let created = server.create_request(json!({"action": "deploy"})).await;
    let server = server.restart().await;
    let (status, fetched) = server.get(&format!("/api/requests/{}", created["id"].as_str().expect("id"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["action"], "deploy");
}
