//! The Rust client (SDK) against a real gateway.

use crate::support::TestServer;
use agentgate_client::{Client, Error, ListFilter};
use agentgate_core::request::{RequestStatus, Verdict};
use agentgate_core::wire::CreateRequest;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn create_list_decide_and_audit_through_the_client() {
    let server = TestServer::start().await;
    let client = Client::new(&server.base_url, &server.admin_key).expect("client");
    let created = client
        .create_request(&CreateRequest {
            action: "deploy".into(),
            params: Some(json!({"version": "2.1.0"})),
            ..Default::default()
        })
        .await
        .expect("created");
    assert_eq!(created.status, RequestStatus::Pending);
    assert_eq!(created.params["version"], "2.1.0");

    let fetched = client.get_request(&created.id).await.expect("fetched");
    assert_eq!(fetched.id, created.id);

    let pending = client
        .list_requests(&ListFilter { status: Some(RequestStatus::Pending), ..Default::default() })
        .await
        .expect("listed");
    assert_eq!(pending.pagination.total, 1);
    assert_eq!(pending.requests[0].id, created.id);

    let decided = client.decide(&created.id, Verdict::Denied, Some("not today")).await.expect("decided");
    assert_eq!(decided.status, RequestStatus::Denied);
    assert_eq!(decided.decision_reason.as_deref(), Some("not today"));

    let trail = client.request_audit(&created.id).await.expect("audit");
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[1].event_type, "denied");
}

#[tokio::test]
async fn errors_carry_the_servers_status_and_message() {
    let server = TestServer::start().await;
    let client = Client::new(&server.base_url, &server.admin_key).expect("client");
    let err = client.get_request("no-such-id").await.expect_err("404");
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert!(matches!(&err, Error::Api { message, .. } if message == "Request not found"), "{err}");

    let reader = Client::new(&server.base_url, &server.create_key("reader", &["request:read"]).await).expect("client");
    let err =
        reader.create_request(&CreateRequest { action: "x".into(), ..Default::default() }).await.expect_err("403");
    assert!(
        matches!(&err, Error::Api { status, message } if *status == StatusCode::FORBIDDEN
        && message == "Missing required scope: request:create"),
        "{err}"
    );
}
