//! Races through real HTTP: many deciders on one request, many creators at once.

use crate::support::{TestServer, error_of, ids};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_decides_have_exactly_one_winner() {
    let server = TestServer::start().await;
    let mut deciders = Vec::new();
    for i in 0..4 {
        deciders.push(server.create_key_with_id(&format!("decider-{i}"), &["request:decide"]).await);
    }
    deciders.push((String::new(), server.admin_key.clone()));
    let admin_actor = server.admin_actor().await;

    // Several rounds, so the outcome does not depend on one lucky interleaving.
    for round in 0..3 {
        let id = server.create_request(json!({"action": format!("race-{round}")})).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let url = server.url(&format!("/api/requests/{id}/decide"));
        let mut tasks = JoinSet::new();
        for i in 0..20 {
            let (key_id, secret) = deciders[i % deciders.len()].clone();
            let actor = if key_id.is_empty() { admin_actor.clone() } else { format!("key:{key_id}") };
            let decision = if i % 2 == 0 { "approved" } else { "denied" };
            let (http, url) = (server.http.clone(), url.clone());
            tasks.spawn(async move {
                let res = http
                    .post(url)
                    .bearer_auth(secret)
                    .json(&json!({"decision": decision, "reason": format!("decider {i}")}))
                    .send()
                    .await
                    .expect("sent");
                let status = res.status();
                let body: Value = res.json().await.expect("JSON body");
                (status, body, decision, actor, i)
            });
        }
        let mut outcomes = Vec::new();
        while let Some(outcome) = tasks.join_next().await {
            outcomes.push(outcome.expect("task"));
        }
        let winners: Vec<_> = outcomes.iter().filter(|o| o.0 == StatusCode::OK).collect();
        assert_eq!(winners.len(), 1, "exactly one decide succeeds: {outcomes:?}");
        let (_, won, decision, actor, i) = winners[0];
        assert_eq!(won["status"], *decision);
        assert_eq!(won["decidedBy"], actor.as_str());
        assert_eq!(won["decisionReason"], format!("decider {i}"));

        let losers: Vec<_> = outcomes.iter().filter(|o| o.0 != StatusCode::OK).collect();
        assert_eq!(losers.len(), 19);
        for (status, body, ..) in losers {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(error_of(body), format!("Request already {decision}"));
        }

        let (_, fetched) = server.get(&format!("/api/requests/{id}")).await;
        assert_eq!(&fetched, won);

        let (_, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
        let kinds: Vec<&str> =
            trail.as_array().expect("array").iter().map(|e| e["eventType"].as_str().expect("type")).collect();
        assert_eq!(kinds, ["created", *decision], "exactly one decision row");
        assert_eq!(trail[1]["actor"], actor.as_str());

        let (_, audit) = server.get(&format!("/api/audit?requestId={id}&eventType={decision}")).await;
        assert_eq!(audit["pagination"]["total"], 1);
        let other = if *decision == "approved" { "denied" } else { "approved" };
        let (_, audit) = server.get(&format!("/api/audit?requestId={id}&eventType={other}")).await;
        assert_eq!(audit["pagination"]["total"], 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_creates_all_land() {
    let server = TestServer::start().await;
    let creators = [
        server.admin_key.clone(),
        server.create_key("creator-a", &["request:create"]).await,
        server.create_key("creator-b", &["request:create", "request:read"]).await,
    ];
    let mut tasks = JoinSet::new();
    for i in 0..200 {
        let (http, url, key) = (server.http.clone(), server.url("/api/requests"), creators[i % 3].clone());
        tasks.spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&json!({"action": format!("bulk-{}", i % 5), "params": {"i": i}, "urgency": "high"}))
                .send()
                .await
                .expect("sent");
            let status = res.status();
            (status, res.json::<Value>().await.expect("JSON body"), i)
        });
    }
    let mut created = HashSet::new();
    while let Some(outcome) = tasks.join_next().await {
        let (status, body, i) = outcome.expect("task");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["params"]["i"], i);
        assert!(created.insert(body["id"].as_str().expect("id").to_owned()), "ids are unique");
    }
    assert_eq!(created.len(), 200);

    assert_eq!(server.total("/api/requests").await, 200);
    assert_eq!(server.total("/api/requests?status=pending&urgency=high").await, 200);
    assert_eq!(server.total("/api/requests?action=bulk-3").await, 40);
    assert_eq!(server.total("/api/audit?eventType=created").await, 200);

    // Every created id is listed exactly once across the pages.
    let mut listed = HashSet::new();
    for offset in [0, 100] {
        let (_, page) = server.get(&format!("/api/requests?limit=100&offset={offset}")).await;
        for id in ids(&page["requests"]) {
            assert!(listed.insert(id), "no id on two pages");
        }
    }
    assert_eq!(listed, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_decides_on_different_requests_all_succeed() {
    let server = TestServer::start().await;
    let mut request_ids = Vec::new();
    for i in 0..30 {
        request_ids.push(server.create_request(json!({"action": format!("many-{i}")})).await["id"].clone());
    }
    let mut tasks = JoinSet::new();
    for (i, id) in request_ids.iter().enumerate() {
        let url = server.url(&format!("/api/requests/{}/decide", id.as_str().expect("id")));
        let (http, key) = (server.http.clone(), server.admin_key.clone());
        let decision = if i % 3 == 0 { "denied" } else { "approved" };
        tasks.spawn(async move {
            let res = http.post(url).bearer_auth(key).json(&json!({"decision": decision})).send().await;
            res.expect("sent").status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task"), StatusCode::OK);
    }
    assert_eq!(server.total("/api/requests?status=denied").await, 10);
    assert_eq!(server.total("/api/requests?status=approved").await, 20);
    assert_eq!(server.total("/api/requests?status=pending").await, 0);
    assert_eq!(server.total("/api/audit?eventType=approved").await, 20);
    assert_eq!(server.total("/api/audit?eventType=denied").await, 10);
}

/// Creates that the writer groups into multi-row inserts, mixing pending and policy-decided requests (which
/// carry different numbers of audit rows), each keep exactly their own audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_creates_keep_each_requests_own_audit_rows() {
    let server = TestServer::start().await;
    let (status, body) = server
        .post(
            "/api/policies",
            json!({"name": "safe", "rules": [{"match": {"action": "safe"}, "decision": "auto_approve"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let mut tasks = JoinSet::new();
    for i in 0..150 {
        let (http, url, key) = (server.http.clone(), server.url("/api/requests"), server.admin_key.clone());
        tasks.spawn(async move {
            let action = if i % 3 == 0 { "safe" } else { "risky" };
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&json!({"action": action, "params": {"n": i}}))
                .send()
                .await
                .expect("sent");
            assert_eq!(res.status(), StatusCode::CREATED);
            let body: Value = res.json().await.expect("json");
            (i, body)
        });
    }
    let created = tasks.join_all().await;
    for (i, body) in &created {
        let id = body["id"].as_str().expect("id");
        let (status, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
        assert_eq!(status, StatusCode::OK);
        let kinds: Vec<&str> =
            trail.as_array().expect("array").iter().filter_map(|e| e["eventType"].as_str()).collect();
        let expected: &[&str] = if i % 3 == 0 { &["created", "approved"] } else { &["created"] };
        assert_eq!(kinds, expected, "request {i}: {trail}");
        assert!(trail.as_array().expect("array").iter().all(|e| e["requestId"] == id));
        assert_eq!(trail[0]["details"]["params"]["n"], *i);
    }
    let (_, approved) = server.get("/api/requests?status=approved&limit=1").await;
    assert_eq!(approved["pagination"]["total"], 50);
    let (_, pending) = server.get("/api/requests?status=pending&limit=1").await;
    assert_eq!(pending["pagination"]["total"], 100);
}

/// Concurrent lookups, grouped by the store into one query, each get their own answer: the same id asked many
/// times, different ids, and ids that do not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_lookups_answer_each_caller() {
    let server = TestServer::start().await;
    let mut known = Vec::new();
    for i in 0..20 {
        let created = server.create_request(json!({"action": format!("lookup-{i}")})).await;
        known.push((created["id"].as_str().expect("id").to_owned(), format!("lookup-{i}")));
    }
    let mut tasks = JoinSet::new();
    for i in 0..300 {
        let (http, key) = (server.http.clone(), server.admin_key.clone());
        let target = match i % 3 {
            0 => Some(known[0].clone()),
            1 => Some(known[i % known.len()].clone()),
            _ => None,
        };
        let url = server
            .url(&format!("/api/requests/{}", target.as_ref().map_or(format!("missing-{i}"), |(id, _)| id.clone())));
        tasks.spawn(async move {
            let res = http.get(url).bearer_auth(key).send().await.expect("sent");
            let status = res.status();
            let body: Value = res.json().await.expect("json");
            match target {
                Some((id, action)) => {
                    assert_eq!(status, StatusCode::OK, "{body}");
                    assert_eq!(
                        (body["id"].as_str(), body["action"].as_str()),
                        (Some(id.as_str()), Some(action.as_str()))
                    );
                }
                None => {
                    assert_eq!(status, StatusCode::NOT_FOUND);
                    assert_eq!(error_of(&body), "Request not found");
                }
            }
        });
    }
    tasks.join_all().await;
}
