//! Waiting for decisions: long polls, expiry and the event stream, through real HTTP.

use crate::support::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::task::JoinSet;

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("id").to_owned()
}

fn in_ms(ms: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    agentgate_core::Timestamp(now + ms).to_iso()
}

async fn wait(server: &TestServer, id: &str, timeout: u64) -> (StatusCode, Value) {
    server.get(&format!("/api/requests/{id}/wait?timeout={timeout}")).await
}

#[tokio::test]
async fn a_waiter_is_woken_by_a_decision() {
    let server = TestServer::start().await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let waiter = {
        let (http, url, key) =
            (server.http.clone(), server.url(&format!("/api/requests/{id}/wait?timeout=30")), server.admin_key.clone());
        tokio::spawn(async move { http.get(url).bearer_auth(key).send().await.expect("sent").json::<Value>().await })
    };
    // Give the waiter a moment to register; correctness does not depend on it (it reads after registering).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "denied"})).await;
    assert_eq!(status, StatusCode::OK);
    let woken = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("woken well before its timeout");
    assert_eq!(woken.expect("joined").expect("json")["status"], "denied");
}

#[tokio::test]
async fn decided_requests_return_at_once_and_pending_ones_at_the_timeout() {
    let server = TestServer::start().await;
    server
        .create_policy(json!({"name": "p", "rules": [{"match": {"action": "read"}, "decision": "auto_approve"}]}))
        .await;
    let approved = id_of(&server.create_request(json!({"action": "read"})).await);
    let (status, body) = wait(&server, &approved, 60).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("approved")));

    let pending = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let (status, body) = wait(&server, &pending, 1).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("pending")));
    let (status, body) = wait(&server, &pending, 0).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("pending")));

    let (status, body) = wait(&server, "no-such-request", 1).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Request not found");
    for bad in ["61", "-1", "abc", "1.5"] {
        let (status, body) = server.get(&format!("/api/requests/{pending}/wait?timeout={bad}")).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "timeout must be a whole number of seconds from 0 to 60");
    }
    let creator = server.create_key("creator", &["request:create"]).await;
    let (status, body) =
        server.call(Method::GET, &format!("/api/requests/{pending}/wait?timeout=0"), Some(&creator), None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "Missing required scope: request:read");
    assert_eq!(server.state_watchers(), 0, "every waiter unregistered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_waiters_on_one_request_all_learn_the_decision() {
    let server = TestServer::start().await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let mut waiters = JoinSet::new();
    for _ in 0..200 {
        let (http, url, key) =
            (server.http.clone(), server.url(&format!("/api/requests/{id}/wait?timeout=30")), server.admin_key.clone());
        waiters.spawn(async move { http.get(url).bearer_auth(key).send().await.expect("sent").json::<Value>().await });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "approved"})).await;
    assert_eq!(status, StatusCode::OK);
    let results = tokio::time::timeout(Duration::from_secs(20), waiters.join_all()).await.expect("all woken");
    assert_eq!(results.len(), 200);
    assert!(results.iter().all(|r| r.as_ref().expect("json")["status"] == "approved"));
}

#[tokio::test]
async fn overdue_requests_expire_with_an_audit_row_and_wake_waiters() {
    let server = TestServer::start().await;
    // Two seconds: far enough ahead that a busy machine still creates it before its deadline.
    let id = id_of(&server.create_request(json!({"action": "deploy", "expiresAt": in_ms(2000)})).await);
    let (status, body) = wait(&server, &id, 30).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "expired", "{body}");
    assert_eq!(body["decidedBy"], Value::Null, "expiry is not a human decision: {body}");
    let (status, error) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "approved"})).await;
    assert_error(status, &error, StatusCode::CONFLICT, "Request has expired");
    let (_, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
    let kinds: Vec<_> =
        trail.as_array().expect("trail").iter().map(|e| (e["eventType"].clone(), e["actor"].clone())).collect();
    assert_eq!(kinds[1], (json!("expired"), json!("system:expiry")), "{trail}");
    assert_eq!(kinds.len(), 2);
    assert_eq!(server.total("/api/requests?status=expired").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_decision_racing_an_expiry_has_exactly_one_outcome() {
    let server = TestServer::start().await;
    for round in 0..10 {
        // The deadline is far enough ahead that a busy machine still creates the request in time; the decision
        // is then sent at the deadline itself (from 20 ms before to 25 ms after it), whatever the create took.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(2000);
        let id =
            id_of(&server.create_request(json!({"action": format!("race-{round}"), "expiresAt": in_ms(2000)})).await);
        tokio::time::sleep_until(deadline - Duration::from_millis(20) + Duration::from_millis(round * 5)).await;
        let (status, body) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "approved"})).await;
        let (_, settled) = wait(&server, &id, 10).await;
        let (_, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
        let outcomes: Vec<_> =
            trail.as_array().expect("trail").iter().skip(1).map(|e| e["eventType"].clone()).collect();
        match status {
            StatusCode::OK => {
                assert_eq!(settled["status"], "approved");
                assert_eq!(outcomes, [json!("approved")]);
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["error"], "Request has expired");
                assert_eq!(settled["status"], "expired");
                assert_eq!(outcomes, [json!("expired")]);
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
}

/// Reads server-sent events from a response until `count` have arrived: (id, event, data).
async fn read_events(res: &mut reqwest::Response, count: usize) -> Vec<(String, String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), res.chunk())
            .await
            .expect("an event within 10 s")
            .expect("stream readable")
            .expect("stream still open");
        buffer.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut name, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !name.is_empty() {
                events.push((id, name, serde_json::from_str(&data).expect("JSON data")));
            }
        }
    }
    events
}

async fn open_stream(server: &TestServer, query: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut req = server.http.get(server.url(&format!("/api/events{query}"))).bearer_auth(&server.admin_key);
    if let Some(last) = last_event_id {
        req = req.header("Last-Event-ID", last);
    }
    let res = req.send().await.expect("stream opened");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().expect("ascii").starts_with("text/event-stream"));
    res
}

#[tokio::test]
async fn the_event_stream_follows_changes_and_resumes_after_last_event_id() {
    let server = TestServer::start().await;
    let mut stream = open_stream(&server, "", None).await;
    let first = id_of(&server.create_request(json!({"action": "deploy"})).await);
    server.post(&format!("/api/requests/{first}/decide"), json!({"decision": "approved"})).await;
    let events = read_events(&mut stream, 3).await;
    let names: Vec<_> = events.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(names, ["request.created", "request.approved", "request.decided"]);
    assert_eq!(events[0].2["event"], "request.created");
    assert_eq!(events[0].2["data"]["request"]["id"], first.as_str());
    assert_eq!(events[0].2["data"]["request"]["status"], "pending");
    assert_eq!(events[2].2["data"]["request"]["status"], "approved");
    let ids: Vec<i64> = events.iter().map(|(id, _, _)| id.parse().expect("numeric id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Resuming after the first event replays the rest, in order, then follows new ones.
    drop(stream);
    let second = id_of(&server.create_request(json!({"action": "delete"})).await);
    let mut resumed = open_stream(&server, "", Some(&events[0].0)).await;
    let replayed = read_events(&mut resumed, 3).await;
    // Read back from the outbox, the decision's events are the ones the stream had live (those came from what
    // the writer committed, not from a read): same ids, names and data.
    assert_eq!(replayed[0], events[1]);
    assert_eq!(replayed[1], events[2]);
    assert_eq!((replayed[2].1.as_str(), &replayed[2].2["data"]["request"]["id"]), ("request.created", &json!(second)));

    // Filters: one request, some types.
    let mut filtered =
        open_stream(&server, &format!("?requestId={second}&type=request.decided,request.expired"), Some("0")).await;
    server.post(&format!("/api/requests/{first}/decide"), json!({"decision": "denied"})).await;
    server.post(&format!("/api/requests/{second}/decide"), json!({"decision": "denied"})).await;
    let only = read_events(&mut filtered, 1).await;
    assert_eq!(only[0].1, "request.decided");
    assert_eq!(only[0].2["data"]["request"]["id"], second.as_str());
    assert_eq!(only[0].2["data"]["request"]["status"], "denied");

    for (query, header) in [("?type=request.nope", None), ("", Some("abc")), ("?lastEventId=-3", None)] {
        let mut req = server.http.get(server.url(&format!("/api/events{query}"))).bearer_auth(&server.admin_key);
        if let Some(h) = header {
            req = req.header("Last-Event-ID", h);
        }
        let res = req.send().await.expect("sent");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}
