//! `GET /api/audit` with every filter, its pagination, and the distinct `/actions` and `/actors` lists.

use crate::support::{TestServer, assert_error, assert_page, ids};
use agentgate_core::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn millis(value: &Value) -> i64 {
    Timestamp::parse_iso(value.as_str().expect("timestamp string")).expect("ISO timestamp").millis()
}

fn iso(ms: i64) -> String {
    Timestamp::from_millis(ms).to_iso()
}

/// A small history: request A (deploy, high) approved by a decider key, request B (email) pending, request C
/// (deploy) auto-denied by a policy, plus the admin events that set it up.
struct History {
    server: TestServer,
    admin: String,
    decider: String,
    a: String,
    b: String,
    c: String,
}

async fn history() -> History {
    let server = TestServer::start().await;
    let admin = server.admin_actor().await;
    let (decider_id, decider_key) = server.create_key_with_id("decider", &["request:decide"]).await;
    let a = server.create_request(json!({"action": "deploy", "urgency": "high"})).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let b = server.create_request(json!({"action": "email"})).await["id"].as_str().expect("id").to_owned();
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/api/requests/{a}/decide"),
            Some(&decider_key),
            Some(&json!({"decision": "approved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server
        .create_policy(
            json!({"name": "no prod wipes", "rules": [{"match": {"action": "wipe"}, "decision": "auto_deny"}]}),
        )
        .await;
    let c = server.create_request(json!({"action": "wipe"})).await["id"].as_str().expect("id").to_owned();
    History { server, admin, decider: format!("key:{decider_id}"), a, b, c }
}

async fn entries(server: &TestServer, query: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/api/audit{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let entries = body["entries"].as_array().expect("entries").clone();
    assert_eq!(body["pagination"]["total"], json!(entries.len()), "{query}: one page holds everything here");
    entries
}

fn kinds(entries: &[Value]) -> Vec<(String, Option<String>)> {
    entries
        .iter()
        .map(|e| (e["eventType"].as_str().expect("type").to_owned(), e["requestId"].as_str().map(str::to_owned)))
        .collect()
}

#[tokio::test]
async fn entries_are_newest_first_with_a_request_summary() {
    let h = history().await;
    let all = entries(&h.server, "").await;
    let (a, b, c) = (Some(h.a.clone()), Some(h.b.clone()), Some(h.c.clone()));
    let s = |t: &str| t.to_owned();
    assert_eq!(
        kinds(&all),
        [
            (s("denied"), c.clone()),
            (s("created"), c.clone()),
            (s("policy.created"), None),
            (s("approved"), a.clone()),
            (s("created"), b.clone()),
            (s("created"), a.clone()),
            (s("api_key.created"), None),
        ]
    );
    for pair in all.windows(2) {
        assert!(millis(&pair[0]["createdAt"]) >= millis(&pair[1]["createdAt"]), "newest first");
    }
    for entry in &all {
        let mut fields: Vec<&str> = entry.as_object().expect("object").keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["actor", "createdAt", "details", "eventType", "id", "request", "requestId"], "{entry}");
        match entry["requestId"].as_str() {
            None => assert_eq!(entry["request"], Value::Null, "admin events have no request: {entry}"),
            Some(id) => {
                let summary = &entry["request"];
                let mut fields: Vec<&str> = summary.as_object().expect("summary").keys().map(String::as_str).collect();
                fields.sort_unstable();
                assert_eq!(fields, ["action", "id", "status", "urgency"]);
                assert_eq!(summary["id"], id);
            }
        }
    }
    // The summary shows the request's current state.
    let a_created =
        all.iter().find(|e| e["eventType"] == "created" && e["requestId"] == h.a.as_str()).expect("A created");
    assert_eq!(a_created["request"], json!({"id": h.a, "action": "deploy", "status": "approved", "urgency": "high"}));
    let b_created = all.iter().find(|e| e["requestId"] == h.b.as_str()).expect("B");
    assert_eq!(b_created["request"], json!({"id": h.b, "action": "email", "status": "pending", "urgency": "normal"}));
    assert_eq!(all[0]["actor"], "policy");
    assert_eq!(all[3]["actor"], h.decider.as_str());
    assert_eq!(all[6]["actor"], h.admin.as_str());
}

#[tokio::test]
async fn every_filter_narrows_the_list() {
    let h = history().await;
    let server = &h.server;
    let request_ids = |entries: Vec<Value>| -> Vec<Option<String>> {
        entries.iter().map(|e| e["requestId"].as_str().map(str::to_owned)).collect()
    };
    let (a, b, c) = (Some(h.a.clone()), Some(h.b.clone()), Some(h.c.clone()));

    assert_eq!(request_ids(entries(server, "?eventType=created").await), [c.clone(), b.clone(), a.clone()]);
    assert_eq!(request_ids(entries(server, "?eventType=approved").await), vec![a.clone()]);
    assert_eq!(request_ids(entries(server, "?eventType=denied").await), vec![c.clone()]);
    assert_eq!(request_ids(entries(server, "?eventType=expired").await), Vec::<Option<String>>::new());
    assert_eq!(request_ids(entries(server, "?eventType=policy.created").await), [None]);
    assert_eq!(request_ids(entries(server, "?eventType=api_key.created").await), [None]);

    assert_eq!(request_ids(entries(server, "?action=deploy").await), [a.clone(), a.clone()]);
    assert_eq!(request_ids(entries(server, "?action=wipe").await), [c.clone(), c.clone()]);
    assert_eq!(request_ids(entries(server, "?action=nothing").await), Vec::<Option<String>>::new());

    assert_eq!(request_ids(entries(server, &format!("?actor={}", h.decider)).await), vec![a.clone()]);
    assert_eq!(request_ids(entries(server, "?actor=policy").await), vec![c.clone()]);
    assert_eq!(entries(server, &format!("?actor={}", h.admin)).await.len(), 5, "3 creates, a policy, a key");
    assert_eq!(entries(server, "?actor=nobody").await.len(), 0);

    // status is the request's current status.
    assert_eq!(request_ids(entries(server, "?status=approved").await), [a.clone(), a.clone()]);
    assert_eq!(request_ids(entries(server, "?status=pending").await), vec![b.clone()]);
    assert_eq!(request_ids(entries(server, "?status=denied").await), [c.clone(), c.clone()]);
    assert_eq!(entries(server, "?status=expired").await.len(), 0);

    assert_eq!(
        kinds(&entries(server, &format!("?requestId={}", h.a)).await),
        [("approved".to_owned(), a.clone()), ("created".to_owned(), a.clone())]
    );
    assert_eq!(entries(server, "?requestId=unknown").await.len(), 0);

    // Combined filters all apply.
    assert_eq!(request_ids(entries(server, "?action=deploy&eventType=created").await), vec![a.clone()]);
    assert_eq!(request_ids(entries(server, &format!("?actor={}&status=pending", h.admin)).await), vec![b.clone()]);
    assert_eq!(entries(server, "?action=deploy&status=pending").await.len(), 0);
    assert_eq!(entries(server, &format!("?requestId={}&eventType=denied", h.a)).await.len(), 0);
    // Empty values mean "no filter".
    assert_eq!(entries(server, "?eventType=&actor=&action=&status=&requestId=&from=&to=").await.len(), 7);
}

#[tokio::test]
async fn from_and_to_accept_timestamps_and_whole_utc_days() {
    let server = TestServer::start().await;
    let first = server.create_request(json!({"action": "early"})).await;
    // Distinct milliseconds between the two groups of rows.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = server.create_request(json!({"action": "late"})).await;
    let (t1, t2) = (millis(&first["createdAt"]), millis(&second["createdAt"]));
    assert!(t1 < t2);
    let (first_id, second_id) = (first["id"].as_str().expect("id"), second["id"].as_str().expect("id"));
    let request_ids = |entries: Vec<Value>| -> Vec<String> {
        entries.iter().map(|e| e["requestId"].as_str().expect("request id").to_owned()).collect()
    };

    assert_eq!(request_ids(entries(&server, &format!("?from={}", iso(t2))).await), [second_id]);
    assert_eq!(request_ids(entries(&server, &format!("?from={}", iso(t1))).await), [second_id, first_id]);
    assert_eq!(request_ids(entries(&server, &format!("?from={}", iso(t1 + 1))).await), [second_id]);
    assert_eq!(request_ids(entries(&server, &format!("?to={}", iso(t1))).await), [first_id]);
    assert_eq!(request_ids(entries(&server, &format!("?to={}", iso(t2 - 1))).await), [first_id]);
    assert_eq!(request_ids(entries(&server, &format!("?from={}&to={}", iso(t1), iso(t1))).await), [first_id]);
    assert_eq!(
        request_ids(entries(&server, &format!("?from={}&to={}", iso(t1), iso(t2))).await),
        [second_id, first_id]
    );
    assert_eq!(entries(&server, &format!("?from={}", iso(t2 + 1))).await.len(), 0);
    assert_eq!(entries(&server, &format!("?to={}", iso(t1 - 1))).await.len(), 0);
    // Offsets are honoured (and `+` must be percent-encoded in a query string).
    let t2_in_paris = Timestamp::from_millis(t2 + 3_600_000).to_iso().replace('Z', "%2B01:00");
    assert_eq!(request_ids(entries(&server, &format!("?from={t2_in_paris}")).await), [second_id]);

    // A date means the whole UTC day: `from` its first millisecond, `to` its last.
    let day_ms = 86_400_000;
    let day = |ms: i64| iso(ms)[..10].to_owned();
    let today = day(t1);
    if day(t2) == today {
        assert_eq!(entries(&server, &format!("?from={today}&to={today}")).await.len(), 2);
        assert_eq!(entries(&server, &format!("?from={today}")).await.len(), 2);
        assert_eq!(entries(&server, &format!("?to={today}")).await.len(), 2);
    }
    assert_eq!(entries(&server, &format!("?from={}", day(t2 + day_ms))).await.len(), 0, "tomorrow");
    assert_eq!(entries(&server, &format!("?to={}", day(t1 - day_ms))).await.len(), 0, "yesterday");
    assert_eq!(entries(&server, &format!("?from={}&to={}", day(t1 - day_ms), day(t2 + day_ms))).await.len(), 2);
    // Mixed: a date and a timestamp.
    assert_eq!(request_ids(entries(&server, &format!("?from={}&to={}", day(t1 - day_ms), iso(t1))).await), [first_id]);
}

#[tokio::test]
async fn audit_pagination() {
    let server = TestServer::start().await;
    for i in 0..6 {
        server.create_request(json!({"action": format!("a{i}")})).await;
    }
    let (_, all) = server.get("/api/audit").await;
    let all_ids = ids(&all["entries"]);
    assert_eq!(all_ids.len(), 6);
    assert_eq!(all["pagination"], json!({"total": 6, "limit": 50, "offset": 0, "hasMore": false}));

    assert_page(&server, "/api/audit?limit=4", "entries", &all_ids[0..4], (6, 4, 0, true)).await;
    assert_page(&server, "/api/audit?limit=4&offset=4", "entries", &all_ids[4..6], (6, 4, 4, false)).await;
    assert_page(&server, "/api/audit?eventType=created&limit=2&offset=1", "entries", &all_ids[1..3], (6, 2, 1, true))
        .await;
    let (_, page) = server.get("/api/audit?limit=101").await;
    assert_eq!(page["pagination"]["limit"], 100);
    let (_, page) = server.get("/api/audit?offset=10").await;
    assert_eq!(page["entries"], json!([]));
    assert_eq!(page["pagination"], json!({"total": 6, "limit": 50, "offset": 10, "hasMore": false}));
}

#[tokio::test]
async fn actions_and_actors_are_distinct_and_sorted() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/api/audit/actions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"actions": []}));
    let (status, body) = server.get("/api/audit/actors").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"actors": []}));

    let admin = server.admin_actor().await;
    let (creator_id, creator) = server.create_key_with_id("creator", &["request:create"]).await;
    for action in ["zeta", "alpha", "mid", "alpha", "Zulu", "zeta"] {
        let (status, _) =
            server.call(Method::POST, "/api/requests", Some(&creator), Some(&json!({"action": action}))).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    server
        .create_policy(json!({"name": "auto", "rules": [{"match": {"action": "auto"}, "decision": "auto_approve"}]}))
        .await;
    server.create_request(json!({"action": "auto"})).await;

    let (_, body) = server.get("/api/audit/actions").await;
    assert_eq!(body, json!({"actions": ["Zulu", "alpha", "auto", "mid", "zeta"]}));

    let (_, body) = server.get("/api/audit/actors").await;
    let mut expected = vec![admin, format!("key:{creator_id}"), "policy".to_owned()];
    expected.sort();
    expected.dedup();
    assert_eq!(body, json!({"actors": expected}));
}

#[tokio::test]
async fn bad_filters_are_400() {
    let server = TestServer::start().await;
    for (query, message) in [
        ("eventType=bogus", None),
        ("eventType=CREATED", None),
        ("status=done", Some("status must be one of: pending, approved, denied, expired")),
        ("from=yesterday", Some("from must be an ISO-8601 timestamp or a date (YYYY-MM-DD)")),
        ("to=2026-13-45", Some("to must be an ISO-8601 timestamp or a date (YYYY-MM-DD)")),
        ("from=2026-02-30", None),
        ("from=12345", None),
        ("from=2026-11-26&to=2026-11-25", Some("from must not be after to")),
        ("limit=0", Some("limit must be a positive integer")),
        ("offset=-3", Some("offset must be a non-negative integer")),
    ] {
        let (status, body) = server.get(&format!("/api/audit?{query}")).await;
        match message {
            Some(message) => assert_error(status, &body, StatusCode::BAD_REQUEST, message),
            None => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
                let error = crate::support::error_of(&body);
                let name = query.split('=').next().expect("name");
                assert!(error.contains(name), "{query}: {error}");
            }
        }
    }
}
