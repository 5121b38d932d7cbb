//! `/api/policies`: CRUD, validation, the compiled-policy cache, the matching semantics through the API, and the
//! audit rows of every change.

use crate::support::{TestServer, assert_error, assert_page, error_of, ids};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn rule(matcher: Value, decision: &str) -> Value {
    json!({"match": matcher, "decision": decision})
}

/// The status a new request ends up in.
async fn outcome(server: &TestServer, request: Value) -> String {
    server.create_request(request).await["status"].as_str().expect("status").to_owned()
}

#[tokio::test]
async fn create_applies_defaults_and_get_returns_it() {
    let server = TestServer::start().await;
    let rules = json!([
        {"match": {"action": "deploy", "params.env": "prod"}, "decision": "route_to_human",
         "approvers": ["alice"], "channels": ["slack"], "requireReason": true},
        {"match": {}, "decision": "auto_approve"},
    ]);
    let (status, created) = server.post("/api/policies", json!({"name": "  prod gate  ", "rules": rules})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "prod gate");
    assert_eq!(created["rules"], rules);
    assert_eq!(created["priority"], 100);
    assert_eq!(created["enabled"], true);
    assert_eq!(created["createdAt"], created["updatedAt"]);
    assert!(created["id"].as_str().is_some_and(|s| !s.is_empty()));

    let id = created["id"].as_str().expect("id");
    let (status, fetched) = server.get(&format!("/api/policies/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    // Explicit values are kept; an empty rule list is allowed.
    let created = server.create_policy(json!({"name": "off", "rules": [], "priority": -5, "enabled": false})).await;
    assert_eq!((&created["priority"], &created["enabled"], &created["rules"]), (&json!(-5), &json!(false), &json!([])));
}

#[tokio::test]
async fn list_is_ordered_by_priority_and_paginates() {
    let server = TestServer::start().await;
    let mut by_priority = Vec::new();
    for (name, priority) in [("p50", 50), ("p10", 10), ("p30", 30), ("p-default", 100), ("p0", 0)] {
        let mut body = json!({"name": name, "rules": []});
        if name != "p-default" {
            body["priority"] = json!(priority);
        }
        let created = server.create_policy(body).await;
        by_priority.push((priority, created["id"].as_str().expect("id").to_owned()));
    }
    by_priority.sort();
    let ordered: Vec<String> = by_priority.into_iter().map(|(_, id)| id).collect();

    let (status, body) = server.get("/api/policies").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body["policies"]), ordered);
    assert_eq!(body["pagination"], json!({"total": 5, "limit": 50, "offset": 0, "hasMore": false}));
    let priorities: Vec<i64> =
        body["policies"].as_array().expect("array").iter().map(|p| p["priority"].as_i64().expect("int")).collect();
    assert_eq!(priorities, [0, 10, 30, 50, 100]);

    assert_page(&server, "/api/policies?limit=2&offset=1", "policies", &ordered[1..3], (5, 2, 1, true)).await;
    assert_page(&server, "/api/policies?limit=2&offset=4", "policies", &ordered[4..5], (5, 2, 4, false)).await;
    let (_, body) = server.get("/api/policies?limit=1000").await;
    assert_eq!(body["pagination"]["limit"], 100);
}

#[tokio::test]
async fn put_replaces_everything_but_the_creation_time() {
    let server = TestServer::start().await;
    let created = server
        .create_policy(json!({"name": "before", "rules": [rule(json!({"action": "a"}), "auto_deny")],
            "priority": 7, "enabled": false}))
        .await;
    let id = created["id"].as_str().expect("id");
    // Let the clock move, so a changed updatedAt is visible.
    tokio::time::sleep(Duration::from_millis(5)).await;

    let new_rules = json!([rule(json!({"action": "b"}), "auto_approve")]);
    let (status, replaced) =
        server.put(&format!("/api/policies/{id}"), json!({"name": "after", "rules": new_rules})).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["id"], id);
    assert_eq!(replaced["name"], "after");
    assert_eq!(replaced["rules"], new_rules);
    // A full replace: fields left out go back to their defaults.
    assert_eq!(replaced["priority"], 100);
    assert_eq!(replaced["enabled"], true);
    assert_eq!(replaced["createdAt"], created["createdAt"]);
    let updated =
        agentgate_core::Timestamp::parse_iso(replaced["updatedAt"].as_str().expect("updatedAt")).expect("iso");
    let created_at =
        agentgate_core::Timestamp::parse_iso(created["createdAt"].as_str().expect("createdAt")).expect("iso");
    assert!(updated > created_at, "updatedAt moves on a replace: {replaced}");

    let (_, fetched) = server.get(&format!("/api/policies/{id}")).await;
    assert_eq!(fetched, replaced);
    assert_eq!(server.total("/api/policies").await, 1);
}

#[tokio::test]
async fn delete_removes_the_policy() {
    let server = TestServer::start().await;
    let keep = server.create_policy(json!({"name": "keep", "rules": []})).await;
    let gone = server.create_policy(json!({"name": "gone", "rules": []})).await;
    let id = gone["id"].as_str().expect("id");
    let (status, body) = server.delete(&format!("/api/policies/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"success": true, "id": id}));

    let (status, body) = server.get(&format!("/api/policies/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Policy not found");
    let (status, body) = server.delete(&format!("/api/policies/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Policy not found");
    let (_, list) = server.get("/api/policies").await;
    assert_eq!(ids(&list["policies"]), [keep["id"].as_str().expect("id")]);
}

#[tokio::test]
async fn unknown_ids_are_404_on_every_verb() {
    let server = TestServer::start().await;
    server.create_policy(json!({"name": "exists", "rules": []})).await;
    for unknown in ["nope", "01ARZ3NDEKTSV4RRFFQ69G5FAV"] {
        let path = format!("/api/policies/{unknown}");
        let (status, body) = server.get(&path).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "Policy not found");
        let (status, body) = server.put(&path, json!({"name": "x", "rules": []})).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "Policy not found");
        let (status, body) = server.delete(&path).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "Policy not found");
    }
    // Nothing was created by the PUTs, and no admin audit row claims a change.
    assert_eq!(server.total("/api/policies").await, 1);
    assert_eq!(server.total("/api/audit?eventType=policy.updated").await, 0);
    assert_eq!(server.total("/api/audit?eventType=policy.deleted").await, 0);
}

#[tokio::test]
async fn invalid_policies_are_400_with_a_message_naming_the_place() {
    let server = TestServer::start().await;
    let existing = server.create_policy(json!({"name": "existing", "rules": []})).await;
    let put_path = format!("/api/policies/{}", existing["id"].as_str().expect("id"));
    let ok_rule = rule(json!({"action": "a"}), "auto_approve");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"rules": []}), "name is required and must be a non-empty string"),
        (json!({"name": "   ", "rules": []}), "name is required and must be a non-empty string"),
        (json!({"name": 5, "rules": []}), "name is required and must be a non-empty string"),
        (json!({"name": "x"}), "rules is required and must be an array"),
        (json!({"name": "x", "rules": {"match": {}}}), "rules is required and must be an array"),
        (json!({"name": "x", "rules": [ok_rule, "nope"]}), "rules[1] must be an object"),
        (
            json!({"name": "x", "rules": [{"decision": "auto_approve"}]}),
            "rules[0].match is required and must be an object",
        ),
        (
            json!({"name": "x", "rules": [{"match": [], "decision": "auto_approve"}]}),
            "rules[0].match is required and must be an object",
        ),
        (
            json!({"name": "x", "rules": [{"match": {}, "decision": "approve"}]}),
            "rules[0].decision must be one of: auto_approve, auto_deny, route_to_human",
        ),
        (
            json!({"name": "x", "rules": [{"match": {}}]}),
            "rules[0].decision must be one of: auto_approve, auto_deny, route_to_human",
        ),
        (
            json!({"name": "x", "rules": [rule(json!({"amount": {"$gtt": 5}}), "auto_approve")]}),
            "rules[0].match.amount: unknown operator \"$gtt\"",
        ),
        (
            json!({"name": "x", "rules": [rule(json!({"amount": {"$gt": "5"}}), "auto_deny")]}),
            "rules[0].match.amount: $gt needs a number",
        ),
        (
            json!({"name": "x", "rules": [rule(json!({"a": {"$in": "x"}}), "auto_deny")]}),
            "rules[0].match.a: $in needs an array of strings, numbers or booleans",
        ),
        (
            json!({"name": "x", "rules": [rule(json!({"a": {"$regex": 5}}), "auto_deny")]}),
            "rules[0].match.a: $regex needs a string",
        ),
        (
            json!({"name": "x", "rules": [rule(json!({"a": {}}), "auto_deny")]}),
            "rules[0].match.a: an operator object needs at least one operator",
        ),
        (
            json!({"name": "x", "rules": [rule(json!({"a": null}), "auto_deny")]}),
            "rules[0].match.a: a matcher must be a string, number, boolean or an object of operators",
        ),
        (
            json!({"name": "x", "rules": [rule(json!({"a": [1]}), "auto_deny")]}),
            "rules[0].match.a: a matcher must be a string, number, boolean or an object of operators",
        ),
        (
            json!({"name": "x", "rules": [rule(json!({"params..x": 1}), "auto_deny")]}),
            "rules[0].match.params..x: empty segment in path",
        ),
        (
            json!({"name": "x", "rules": [{"match": {}, "decision": "auto_deny", "approvers": "alice"}]}),
            "rules[0].approvers must be an array of strings",
        ),
        (
            json!({"name": "x", "rules": [{"match": {}, "decision": "auto_deny", "channels": [1]}]}),
            "rules[0].channels must be an array of strings",
        ),
        (
            json!({"name": "x", "rules": [{"match": {}, "decision": "auto_deny", "requireReason": "yes"}]}),
            "rules[0].requireReason must be a boolean",
        ),
        (json!({"name": "x", "rules": [], "priority": "high"}), "priority must be an integer"),
        (json!({"name": "x", "rules": [], "enabled": "yes"}), "enabled must be a boolean"),
    ];
    for (body, message) in &cases {
        let (status, response) = server.post("/api/policies", body.clone()).await;
        assert_error(status, &response, StatusCode::BAD_REQUEST, message);
        let (status, response) = server.put(&put_path, body.clone()).await;
        assert_error(status, &response, StatusCode::BAD_REQUEST, message);
    }

    // A bad regex names the place and says it is a regex problem.
    for pattern in ["(", "[a-", "a{99999999}"] {
        let body =
            json!({"name": "x", "rules": [ok_rule, rule(json!({"params.command": {"$regex": pattern}}), "auto_deny")]});
        let (status, response) = server.post("/api/policies", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pattern}: {response}");
        let message = error_of(&response);
        assert!(message.starts_with("rules[1].match.params.command: "), "{message}");
        assert!(message.contains("regex"), "{message}");
    }
    let long = "a".repeat(2000);
    let (status, response) = server
        .post("/api/policies", json!({"name": "x", "rules": [rule(json!({"a": {"$regex": long}}), "auto_deny")]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{response}");
    assert!(error_of(&response).starts_with("rules[0].match.a: "), "{response}");

    // None of it was stored, and the existing policy is unchanged.
    assert_eq!(server.total("/api/policies").await, 1);
    let (_, fetched) = server.get(&put_path).await;
    assert_eq!(fetched, existing);
    assert_eq!(server.total("/api/audit?eventType=policy.created").await, 1);
    assert_eq!(server.total("/api/audit?eventType=policy.updated").await, 0);
}

#[tokio::test]
async fn every_change_reaches_the_very_next_request() {
    let server = TestServer::start().await;
    let deploy = || json!({"action": "deploy"});
    // Warm the cache with "no policies".
    assert_eq!(outcome(&server, deploy()).await, "pending");

    let created =
        server.create_policy(json!({"name": "p", "rules": [rule(json!({"action": "deploy"}), "auto_approve")]})).await;
    let path = format!("/api/policies/{}", created["id"].as_str().expect("id"));
    assert_eq!(outcome(&server, deploy()).await, "approved", "created");

    let (status, _) =
        server.put(&path, json!({"name": "p", "rules": [rule(json!({"action": "deploy"}), "auto_deny")]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome(&server, deploy()).await, "denied", "replaced");

    let (status, _) = server
        .put(&path, json!({"name": "p", "enabled": false, "rules": [rule(json!({"action": "deploy"}), "auto_deny")]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome(&server, deploy()).await, "pending", "disabled");

    let (status, _) = server
        .put(&path, json!({"name": "p", "enabled": true, "rules": [rule(json!({"action": "deploy"}), "auto_deny")]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome(&server, deploy()).await, "denied", "re-enabled");

    let (status, _) =
        server.put(&path, json!({"name": "p", "rules": [rule(json!({"action": "other"}), "auto_deny")]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome(&server, deploy()).await, "pending", "no longer matching");

    let (status, _) = server.put(&path, json!({"name": "p", "rules": [rule(json!({}), "auto_approve")]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome(&server, deploy()).await, "approved", "catch-all");

    let (status, _) = server.delete(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome(&server, deploy()).await, "pending", "deleted");
}

#[tokio::test]
async fn a_failed_change_leaves_the_cache_in_force() {
    let server = TestServer::start().await;
    let created =
        server.create_policy(json!({"name": "p", "rules": [rule(json!({"action": "deploy"}), "auto_deny")]})).await;
    let path = format!("/api/policies/{}", created["id"].as_str().expect("id"));
    assert_eq!(outcome(&server, json!({"action": "deploy"})).await, "denied");
    let (status, _) =
        server.put(&path, json!({"name": "p", "rules": [rule(json!({"action": {"$bad": 1}}), "auto_approve")]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(outcome(&server, json!({"action": "deploy"})).await, "denied");
}

#[tokio::test]
async fn params_never_shadow_action_urgency_or_status() {
    let server = TestServer::start().await;
    server
        .create_policy(json!({"name": "trusting", "rules": [
            rule(json!({"action": "read_file"}), "auto_approve"),
            rule(json!({"urgency": "low"}), "auto_approve"),
            rule(json!({"status": "approved"}), "auto_approve"),
        ]}))
        .await;
    for (request, expected) in [
        (json!({"action": "delete_db", "params": {"action": "read_file"}}), "pending"),
        (json!({"action": "delete_db", "urgency": "critical", "params": {"urgency": "low"}}), "pending"),
        (json!({"action": "delete_db", "params": {"status": "approved"}}), "pending"),
        (json!({"action": "delete_db", "params": {"params": {"action": "read_file"}}}), "pending"),
        (json!({"action": "delete_db", "context": {"action": "read_file"}}), "pending"),
        // The real fields still match.
        (json!({"action": "read_file", "params": {"action": "delete_db"}}), "approved"),
        (json!({"action": "delete_db", "urgency": "low", "params": {"urgency": "critical"}}), "approved"),
    ] {
        assert_eq!(outcome(&server, request.clone()).await, expected, "{request}");
    }
}

#[tokio::test]
async fn priority_order_and_first_match_wins() {
    let server = TestServer::start().await;
    // Created first but with a larger priority number: evaluated after the one below.
    server
        .create_policy(
            json!({"name": "late", "priority": 20, "rules": [rule(json!({"action": "deploy"}), "auto_deny")]}),
        )
        .await;
    server
        .create_policy(json!({"name": "early", "priority": 10, "rules": [
            rule(json!({"action": "deploy", "params.env": "prod"}), "route_to_human"),
            rule(json!({"action": "deploy", "params.env": "staging"}), "auto_approve"),
            rule(json!({"action": "deploy", "params.env": {"$regex": "^stag"}}), "auto_deny"),
        ]}))
        .await;
    // Disabled, with the smallest priority: never evaluated.
    server
        .create_policy(
            json!({"name": "off", "priority": 0, "enabled": false, "rules": [rule(json!({}), "auto_approve")]}),
        )
        .await;

    let created = server.create_request(json!({"action": "deploy", "params": {"env": "prod"}})).await;
    assert_eq!(
        (created["status"].as_str(), created["policyDecision"]["decision"].as_str()),
        (Some("pending"), Some("route_to_human"))
    );
    // Both rule 1 and rule 2 match; the first one wins.
    assert_eq!(outcome(&server, json!({"action": "deploy", "params": {"env": "staging"}})).await, "approved");
    // Nothing in "early" matches: "late" decides.
    assert_eq!(outcome(&server, json!({"action": "deploy", "params": {"env": "dev"}})).await, "denied");
    // Nothing matches at all: a human decides.
    let created = server.create_request(json!({"action": "read"})).await;
    assert_eq!(created["policyDecision"], json!({"decision": "route_to_human"}));

    // Same priority: the older policy is evaluated first.
    let same = TestServer::start().await;
    same.create_policy(json!({"name": "first", "priority": 5, "rules": [rule(json!({"action": "x"}), "auto_deny")]}))
        .await;
    same.create_policy(
        json!({"name": "second", "priority": 5, "rules": [rule(json!({"action": "x"}), "auto_approve")]}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(outcome(&same, json!({"action": "x"})).await, "denied");
    }
}

/// The policy language as a table: (match, request, should it match).
#[tokio::test]
async fn matcher_semantics_table() {
    let server = TestServer::start().await;
    let cases: Vec<(Value, Value, bool)> = vec![
        // Exact values, strict types.
        (json!({"action": "send_email"}), json!({"action": "send_email"}), true),
        (json!({"action": "send_email"}), json!({"action": "Send_Email"}), false),
        (json!({"amount": 100}), json!({"action": "a", "params": {"amount": 100}}), true),
        (json!({"amount": 100}), json!({"action": "a", "params": {"amount": 100.0}}), true),
        (json!({"amount": 100}), json!({"action": "a", "params": {"amount": "100"}}), false),
        (json!({"amount": "100"}), json!({"action": "a", "params": {"amount": 100}}), false),
        (json!({"flag": true}), json!({"action": "a", "params": {"flag": true}}), true),
        (json!({"flag": true}), json!({"action": "a", "params": {"flag": "true"}}), false),
        (json!({"flag": false}), json!({"action": "a", "params": {}}), false),
        // Bare keys and params.* are the same value.
        (json!({"params.amount": 5}), json!({"action": "a", "params": {"amount": 5}}), true),
        // Dot paths and array indexes.
        (json!({"params.user.role": "admin"}), json!({"action": "a", "params": {"user": {"role": "admin"}}}), true),
        (json!({"user.role": "admin"}), json!({"action": "a", "params": {"user": {"role": "admin"}}}), true),
        (json!({"params.user.role": "admin"}), json!({"action": "a", "params": {"user": "admin"}}), false),
        (json!({"params.items.1": "b"}), json!({"action": "a", "params": {"items": ["a", "b"]}}), true),
        (json!({"params.items.2": "b"}), json!({"action": "a", "params": {"items": ["a", "b"]}}), false),
        (json!({"context.agentId": "bot-1"}), json!({"action": "a", "context": {"agentId": "bot-1"}}), true),
        (json!({"context.agentId": "bot-1"}), json!({"action": "a", "params": {"agentId": "bot-1"}}), false),
        // Comparisons need numbers.
        (json!({"amount": {"$lt": 10}}), json!({"action": "a", "params": {"amount": 9.5}}), true),
        (json!({"amount": {"$lt": 10}}), json!({"action": "a", "params": {"amount": 10}}), false),
        (json!({"amount": {"$lte": 10}}), json!({"action": "a", "params": {"amount": 10}}), true),
        (json!({"amount": {"$gt": 10}}), json!({"action": "a", "params": {"amount": 10}}), false),
        (json!({"amount": {"$gte": 10}}), json!({"action": "a", "params": {"amount": 10}}), true),
        (json!({"amount": {"$gt": 10}}), json!({"action": "a", "params": {"amount": "11"}}), false),
        (json!({"amount": {"$gt": 10}}), json!({"action": "a", "params": {}}), false),
        // Several operators in one matcher must all hold (a range).
        (json!({"amount": {"$gte": 10, "$lt": 20}}), json!({"action": "a", "params": {"amount": 15}}), true),
        (json!({"amount": {"$gte": 10, "$lt": 20}}), json!({"action": "a", "params": {"amount": 25}}), false),
        (json!({"amount": {"$gte": 10, "$lt": 20}}), json!({"action": "a", "params": {"amount": 5}}), false),
        // $in is strict too.
        (json!({"action": {"$in": ["a", "b"]}}), json!({"action": "b"}), true),
        (json!({"action": {"$in": ["a", "b"]}}), json!({"action": "c"}), false),
        (json!({"code": {"$in": [1, 2]}}), json!({"action": "a", "params": {"code": 2}}), true),
        (json!({"code": {"$in": [1, 2]}}), json!({"action": "a", "params": {"code": "2"}}), false),
        (json!({"urgency": {"$in": ["high", "critical"]}}), json!({"action": "a", "urgency": "critical"}), true),
        (json!({"urgency": {"$in": ["high", "critical"]}}), json!({"action": "a"}), false),
        // $regex: unanchored unless the pattern anchors itself; strings only.
        (json!({"action": {"$regex": "^delete_"}}), json!({"action": "delete_db"}), true),
        (json!({"action": {"$regex": "^delete_"}}), json!({"action": "undelete_db"}), false),
        (json!({"action": {"$regex": "mail"}}), json!({"action": "send_email"}), true),
        (json!({"n": {"$regex": "1"}}), json!({"action": "a", "params": {"n": 1}}), false),
        // Status is always pending while evaluating.
        (json!({"status": "pending"}), json!({"action": "a"}), true),
        // Every entry of a match must hold; an empty match matches everything.
        (json!({"action": "a", "amount": 1}), json!({"action": "a", "params": {"amount": 2}}), false),
        (json!({}), json!({"action": "anything"}), true),
    ];
    for (matcher, request, should_match) in cases {
        let policy = server.create_policy(json!({"name": "case", "rules": [rule(matcher.clone(), "auto_deny")]})).await;
        let got = outcome(&server, request.clone()).await;
        assert_eq!(got == "denied", should_match, "match {matcher} against {request}: {got}");
        let (status, _) = server.delete(&format!("/api/policies/{}", policy["id"].as_str().expect("id"))).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn every_policy_change_is_audited() {
    let server = TestServer::start().await;
    let actor = server.admin_actor().await;
    let created = server.create_policy(json!({"name": "audited", "rules": []})).await;
    let id = created["id"].as_str().expect("id");
    let (status, _) = server.put(&format!("/api/policies/{id}"), json!({"name": "renamed", "rules": []})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.delete(&format!("/api/policies/{id}")).await;
    assert_eq!(status, StatusCode::OK);

    for event in ["policy.created", "policy.updated", "policy.deleted"] {
        let (status, body) = server.get(&format!("/api/audit?eventType={event}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let entries = body["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 1, "{event}: {body}");
        let entry = &entries[0];
        assert_eq!(entry["eventType"], event);
        assert_eq!(entry["actor"], actor.as_str());
        assert_eq!(entry["requestId"], Value::Null);
        assert_eq!(entry.get("request"), Some(&Value::Null), "{entry}");
        assert!(entry["details"].to_string().contains(id), "the details name the policy: {entry}");
    }
    let (_, body) = server.get(&format!("/api/audit?actor={actor}")).await;
    let kinds: Vec<&str> =
        body["entries"].as_array().expect("entries").iter().map(|e| e["eventType"].as_str().expect("type")).collect();
    assert_eq!(kinds, ["policy.deleted", "policy.updated", "policy.created"]);

    // A key with only request scopes cannot change policies, and its attempt is not audited as a change.
    let reader = server.create_key("reader", &["request:read", "request:create"]).await;
    let (status, body) = server
        .call(reqwest::Method::POST, "/api/policies", Some(&reader), Some(&json!({"name": "x", "rules": []})))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "Missing required scope: admin");
    assert_eq!(server.total("/api/audit?eventType=policy.created").await, 1);
}

/// Policies of equal priority are evaluated (and listed) in creation order, even when created in one millisecond.
#[tokio::test]
async fn equal_priorities_keep_creation_order() {
    let server = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..60 {
        let decision = if i % 2 == 0 { "auto_deny" } else { "auto_approve" };
        let policy = server
            .create_policy(
                json!({"name": format!("p{i}"), "priority": 1, "rules": [rule(json!({"action": "x"}), decision)]}),
            )
            .await;
        created.push(policy["id"].as_str().expect("id").to_owned());
    }
    let (_, list) = server.get("/api/policies?limit=100").await;
    assert_eq!(ids(&list["policies"]), created, "listed in creation order");
    let evaluated = server.create_request(json!({"action": "x"})).await;
    assert_eq!(evaluated["status"], "denied", "the oldest policy decides: {evaluated}");
}
