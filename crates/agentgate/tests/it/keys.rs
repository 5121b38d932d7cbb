//! API keys at both `/api/api-keys` and `/api/keys`: create (shown once), list, patch, revoke, and the audit rows.

use crate::support::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PATHS: [&str; 2] = ["/api/api-keys", "/api/keys"];

fn unix_now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
        .expect("seconds fit")
}

async fn find_key(server: &TestServer, path: &str, id: &str) -> Value {
    let (status, body) = server.get(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["keys"].as_array().expect("keys").iter().find(|k| k["id"] == id).cloned().expect("key listed")
}

#[tokio::test]
async fn create_shows_the_key_once() {
    let server = TestServer::start().await;
    for path in PATHS {
        let (status, created) = server
            .post(path, json!({"name": " ci-bot ", "scopes": ["request:create", "request:read"], "rateLimit": 120}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let key = created["key"].as_str().expect("key");
        assert!(key.starts_with("agk_"), "{key}");
        assert_eq!(key.len(), 47, "{key}");
        assert!(key[4..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{key}");
        assert_eq!(created["message"], "Save this key - it will not be shown again");
        assert_eq!(created["name"], "ci-bot");
        assert_eq!(created["scopes"], json!(["request:create", "request:read"]));
        assert_eq!(created["rateLimit"], 120);
        assert!(created["id"].as_str().is_some_and(|id| !id.is_empty()));

        // The new key works for what its scopes allow.
        let (status, _) = server.call(Method::GET, "/api/requests", Some(key), None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = server.call(Method::POST, "/api/requests", Some(key), Some(&json!({"action": "x"}))).await;
        assert_eq!(status, StatusCode::CREATED);

        let (status, created) = server.post(path, json!({"name": "no limit", "scopes": ["admin"]})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(created["rateLimit"], Value::Null);
        let (status, created) =
            server.post(path, json!({"name": "null limit", "scopes": ["admin"], "rateLimit": null})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(created["rateLimit"], Value::Null);
    }
    // Two keys never share a secret.
    assert_ne!(server.create_key("a", &["admin"]).await, server.create_key("b", &["admin"]).await);
}

#[tokio::test]
async fn list_shows_metadata_and_never_the_secret() {
    let server = TestServer::start().await;
    let (id, secret) = server.create_key_with_id("listed", &["request:read", "webhook:manage"]).await;
    for path in PATHS {
        let (status, body) = server.get(path).await;
        assert_eq!(status, StatusCode::OK);
        let text = body.to_string();
        assert!(!text.contains(&secret), "{text}");
        assert!(!text.contains(&hex::encode(Sha256::digest(secret.as_bytes()))), "{text}");
        assert!(!text.contains(&server.admin_key), "{text}");
        assert!(!text.to_ascii_lowercase().contains("hash"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("secret"), "{text}");
        let keys = body["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 2, "the first-start key and the new one: {text}");
        for key in keys {
            let mut fields: Vec<&str> = key.as_object().expect("object").keys().map(String::as_str).collect();
            fields.sort_unstable();
            assert_eq!(
                fields,
                ["active", "createdAt", "id", "lastUsedAt", "name", "rateLimit", "revokedAt", "scopes", "usage"]
            );
            let created_at = key["createdAt"].as_i64().expect("unix seconds as an integer");
            assert!((created_at - unix_now()).abs() < 3600, "createdAt is in seconds: {created_at}");
            assert_eq!(key["active"], true);
            assert_eq!(key["revokedAt"], Value::Null);
        }
        let listed = find_key(&server, path, &id).await;
        assert_eq!(listed["name"], "listed");
        assert_eq!(listed["scopes"], json!(["request:read", "webhook:manage"]));
        assert_eq!(listed["rateLimit"], Value::Null);
    }
    // The first start created one admin key with the bootstrap scopes.
    let (_, body) = server.get("/api/keys").await;
    let admin = body["keys"].as_array().expect("keys").iter().find(|k| k["name"] == "Admin (bootstrap)").cloned();
    let scopes = admin.expect("bootstrap key")["scopes"].clone();
    for scope in ["admin", "request:create", "request:read", "request:decide"] {
        assert!(scopes.as_array().expect("array").contains(&json!(scope)), "{scopes}");
    }
}

#[tokio::test]
async fn patch_changes_name_scopes_and_rate_limit() {
    let server = TestServer::start().await;
    for path in PATHS {
        let (id, _) = server.create_key_with_id("before", &["request:read"]).await;
        let key_path = format!("{path}/{id}");

        let (status, body) = server.patch(&key_path, json!({"name": "after"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["success"], true);
        let listed = find_key(&server, path, &id).await;
        assert_eq!((&listed["name"], &listed["scopes"]), (&json!("after"), &json!(["request:read"])));

        let (status, _) = server.patch(&key_path, json!({"scopes": ["request:decide", "request:create"]})).await;
        assert_eq!(status, StatusCode::OK);
        let listed = find_key(&server, path, &id).await;
        assert_eq!(listed["scopes"], json!(["request:decide", "request:create"]));
        assert_eq!(listed["name"], "after");

        let (status, _) = server.patch(&key_path, json!({"rateLimit": 30})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(find_key(&server, path, &id).await["rateLimit"], 30);
        let (status, _) = server.patch(&key_path, json!({"rateLimit": null})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(find_key(&server, path, &id).await["rateLimit"], Value::Null);

        let (status, _) = server.patch(&key_path, json!({"name": "all", "scopes": ["admin"], "rateLimit": 5})).await;
        assert_eq!(status, StatusCode::OK);
        let listed = find_key(&server, path, &id).await;
        assert_eq!(
            (&listed["name"], &listed["scopes"], &listed["rateLimit"]),
            (&json!("all"), &json!(["admin"]), &json!(5))
        );

        let (status, body) = server.patch(&key_path, json!({})).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "No fields to update");
        // Unknown fields alone are nothing to update either.
        let (status, body) = server.patch(&key_path, json!({"colour": "red"})).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "No fields to update");

        for unknown in ["nope", "01ARZ3NDEKTSV4RRFFQ69G5FAV"] {
            let (status, body) = server.patch(&format!("{path}/{unknown}"), json!({"name": "x"})).await;
            assert_error(status, &body, StatusCode::NOT_FOUND, "API key not found");
        }
    }
}

#[tokio::test]
async fn changed_scopes_apply_to_the_next_request() {
    let server = TestServer::start().await;
    for path in PATHS {
        let (id, key) = server.create_key_with_id("growing", &["request:read"]).await;
        let create = json!({"action": "x"});
        // Use the key first, so whatever is cached about it is warm.
        assert_eq!(server.call(Method::GET, "/api/requests", Some(&key), None).await.0, StatusCode::OK);
        let (status, body) = server.call(Method::POST, "/api/requests", Some(&key), Some(&create)).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "Missing required scope: request:create");

        let (status, _) =
            server.patch(&format!("{path}/{id}"), json!({"scopes": ["request:read", "request:create"]})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = server.call(Method::POST, "/api/requests", Some(&key), Some(&create)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        // Taking a scope away is just as immediate.
        let (status, _) = server.patch(&format!("{path}/{id}"), json!({"scopes": ["request:create"]})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = server.call(Method::GET, "/api/requests", Some(&key), None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "Missing required scope: request:read");

        // And so is becoming (and ceasing to be) an admin.
        let (status, _) = server.patch(&format!("{path}/{id}"), json!({"scopes": ["admin"]})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(server.call(Method::GET, "/api/keys", Some(&key), None).await.0, StatusCode::OK);
        let (status, _) = server.patch(&format!("{path}/{id}"), json!({"scopes": ["request:read"]})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = server.call(Method::GET, "/api/keys", Some(&key), None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "Missing required scope: admin");
    }
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let server = TestServer::start().await;
    for path in PATHS {
        let (id, key) = server.create_key_with_id("doomed", &["request:read"]).await;
        assert_eq!(server.call(Method::GET, "/api/requests", Some(&key), None).await.0, StatusCode::OK);

        let (status, body) = server.delete(&format!("{path}/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"success": true, "message": "API key revoked"}));

        let (status, body) = server.call(Method::GET, "/api/requests", Some(&key), None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "Invalid API key");

        let listed = find_key(&server, path, &id).await;
        assert_eq!(listed["active"], false);
        let revoked_at = listed["revokedAt"].as_i64().expect("revokedAt in unix seconds");
        assert!((revoked_at - unix_now()).abs() < 3600, "{revoked_at}");

        // Changing a revoked key does not bring it back.
        let (status, _) = server.patch(&format!("{path}/{id}"), json!({"scopes": ["admin"]})).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND || status == StatusCode::CONFLICT,
            "{status}"
        );
        let (status, body) = server.call(Method::GET, "/api/requests", Some(&key), None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "Invalid API key");
        assert_eq!(find_key(&server, path, &id).await["active"], false);

        for unknown in ["nope", "01ARZ3NDEKTSV4RRFFQ69G5FAV"] {
            let (status, body) = server.delete(&format!("{path}/{unknown}")).await;
            assert_error(status, &body, StatusCode::NOT_FOUND, "API key not found");
        }
    }
}

#[tokio::test]
async fn an_admin_can_revoke_its_own_key() {
    let server = TestServer::start().await;
    let (id, key) = server.create_key_with_id("self", &["admin"]).await;
    let (status, _) = server.call(Method::DELETE, &format!("/api/keys/{id}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.call(Method::GET, "/api/keys", Some(&key), None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "Invalid API key");
}

#[tokio::test]
async fn invalid_key_bodies_are_400_and_store_nothing() {
    let server = TestServer::start().await;
    let (id, _) = server.create_key_with_id("target", &["request:read"]).await;
    let scopes_msg =
        "scopes must be a non-empty array of: request:create, request:read, request:decide, webhook:manage, admin";
    let name_msg = "name must be a non-empty string of at most 100 characters";
    let rate_msg = "rateLimit must be a positive integer or null";
    for path in PATHS {
        let create_cases: Vec<(Value, &str)> = vec![
            (json!({"scopes": ["admin"]}), "name is required and must be a non-empty string"),
            (json!({"name": "", "scopes": ["admin"]}), name_msg),
            (json!({"name": "  ", "scopes": ["admin"]}), name_msg),
            (json!({"name": 7, "scopes": ["admin"]}), name_msg),
            (json!({"name": "x".repeat(101), "scopes": ["admin"]}), name_msg),
            (json!({"name": "x"}), "scopes is required and must be a non-empty array"),
            (json!({"name": "x", "scopes": []}), scopes_msg),
            (json!({"name": "x", "scopes": "admin"}), scopes_msg),
            (json!({"name": "x", "scopes": ["root"]}), scopes_msg),
            (json!({"name": "x", "scopes": ["admin", 5]}), scopes_msg),
            (json!({"name": "x", "scopes": ["Admin"]}), scopes_msg),
            (json!({"name": "x", "scopes": ["admin"], "rateLimit": -1}), rate_msg),
            (json!({"name": "x", "scopes": ["admin"], "rateLimit": 0}), rate_msg),
            (json!({"name": "x", "scopes": ["admin"], "rateLimit": 1.5}), rate_msg),
            (json!({"name": "x", "scopes": ["admin"], "rateLimit": "10"}), rate_msg),
        ];
        for (body, message) in &create_cases {
            let (status, response) = server.post(path, body.clone()).await;
            assert_error(status, &response, StatusCode::BAD_REQUEST, message);
        }
        let patch_cases: Vec<(Value, &str)> = vec![
            (json!({"name": ""}), name_msg),
            (json!({"name": null}), name_msg),
            (json!({"scopes": []}), scopes_msg),
            (json!({"scopes": ["request:read", "nope"]}), scopes_msg),
            (json!({"rateLimit": -1}), rate_msg),
            (json!({"rateLimit": true}), rate_msg),
            // One bad field fails the whole patch.
            (json!({"name": "fine", "scopes": []}), scopes_msg),
        ];
        for (body, message) in &patch_cases {
            let (status, response) = server.patch(&format!("{path}/{id}"), body.clone()).await;
            assert_error(status, &response, StatusCode::BAD_REQUEST, message);
        }
    }
    let (_, body) = server.get("/api/keys").await;
    assert_eq!(body["keys"].as_array().expect("keys").len(), 2, "no key was created: {body}");
    let target = find_key(&server, "/api/keys", &id).await;
    assert_eq!((&target["name"], &target["scopes"]), (&json!("target"), &json!(["request:read"])));
    assert_eq!(server.total("/api/audit?eventType=api_key.created").await, 1);
    assert_eq!(server.total("/api/audit?eventType=api_key.updated").await, 0);
}

#[tokio::test]
async fn key_changes_are_audited_with_the_admin_as_actor() {
    let server = TestServer::start().await;
    let actor = server.admin_actor().await;
    let (id, secret) = server.create_key_with_id("audited", &["request:read"]).await;
    assert_eq!(server.patch(&format!("/api/keys/{id}"), json!({"name": "renamed"})).await.0, StatusCode::OK);
    assert_eq!(server.delete(&format!("/api/api-keys/{id}")).await.0, StatusCode::OK);

    for event in ["api_key.created", "api_key.updated", "api_key.revoked"] {
        let (status, body) = server.get(&format!("/api/audit?eventType={event}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let entries = body["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 1, "{event}: {body}");
        let entry = &entries[0];
        assert_eq!(entry["actor"], actor.as_str());
        assert_eq!(entry["requestId"], Value::Null);
        assert_eq!(entry.get("request"), Some(&Value::Null));
        assert!(entry["details"].to_string().contains(&id), "{entry}");
        assert!(!entry.to_string().contains(&secret), "the secret never reaches the audit log: {entry}");
    }

    // What changed is recorded, before and after, and what was revoked; never the hash.
    let (_, body) = server.get("/api/audit?eventType=api_key.created").await;
    assert_eq!(
        body["entries"][0]["details"]["key"],
        json!({"id": id, "name": "audited", "scopes": ["request:read"], "rateLimit": null})
    );
    let (_, body) = server.get("/api/audit?eventType=api_key.updated").await;
    let details = &body["entries"][0]["details"];
    assert_eq!((&details["before"]["name"], &details["after"]["name"]), (&json!("audited"), &json!("renamed")));
    assert_eq!(details["after"]["scopes"], json!(["request:read"]));
    let (_, body) = server.get("/api/audit?eventType=api_key.revoked").await;
    assert_eq!(body["entries"][0]["details"]["key"]["name"], "renamed");
    assert!(!body.to_string().contains("keyHash") && !body.to_string().contains("key_hash"));

    // A rate-limit change is recorded with both values.
    let (limited, _) = server.create_key_with_id("limited", &["request:read"]).await;
    assert_eq!(server.patch(&format!("/api/keys/{limited}"), json!({"rateLimit": 30})).await.0, StatusCode::OK);
    let (_, body) = server.get("/api/audit?eventType=api_key.updated").await;
    let entry = body["entries"].as_array().expect("entries").iter().find(|e| e["details"]["keyId"] == limited).cloned();
    let details = entry.expect("the rate-limit change is audited")["details"].clone();
    assert_eq!((&details["before"]["rateLimit"], &details["after"]["rateLimit"]), (&Value::Null, &json!(30)));

    // A key created with another admin key is attributed to that key.
    let (other_id, other) = server.create_key_with_id("second admin", &["admin"]).await;
    let (status, _) = server
        .call(
            Method::POST,
            "/api/keys",
            Some(&other),
            Some(&json!({"name": "made by second", "scopes": ["request:read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = server.get(&format!("/api/audit?eventType=api_key.created&actor=key:{other_id}")).await;
    assert_eq!(body["pagination"]["total"], 1);
    assert_eq!(body["entries"][0]["actor"], format!("key:{other_id}"));
}

/// Changes made with `ADMIN_API_KEY` are attributed to `admin:env`; unknown ids are 404 and audit nothing.
#[tokio::test]
async fn admin_env_changes_are_audited_and_unknown_ids_are_404() {
    let admin = "keys-admin-env-secret-0123456789";
    let server = TestServer::start_with(|c| c.admin_api_key = Some(admin.into())).await;
    let (id, _) = server.create_key_with_id("by env", &["request:read"]).await;
    assert_eq!(server.patch(&format!("/api/keys/{id}"), json!({"rateLimit": 9})).await.0, StatusCode::OK);
    assert_eq!(server.delete(&format!("/api/keys/{id}")).await.0, StatusCode::OK);
    for event in ["api_key.created", "api_key.updated", "api_key.revoked"] {
        let (_, body) = server.get(&format!("/api/audit?eventType={event}&actor=admin:env")).await;
        assert_eq!(body["pagination"]["total"], 1, "{event}: {body}");
    }
    for path in PATHS {
        let unknown = format!("{path}/01ARZ3NDEKTSV4RRFFQ69G5FAV");
        let (status, body) = server.patch(&unknown, json!({"rateLimit": 5})).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "API key not found");
        let (status, body) = server.delete(&unknown).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "API key not found");
    }
    assert_eq!(server.total("/api/audit?eventType=api_key.updated").await, 1);
    assert_eq!(server.total("/api/audit?eventType=api_key.revoked").await, 1);
}

/// The reference records when a key was last used (buffered, flushed at the latest on shutdown); the dashboard
/// shows it. A graceful restart must therefore show it for a used key and not for an unused one.
#[tokio::test]
async fn last_used_at_is_recorded() {
    let server = TestServer::start().await;
    let (used_id, used) = server.create_key_with_id("used", &["request:read"]).await;
    let (unused_id, _) = server.create_key_with_id("unused", &["request:read"]).await;
    assert_eq!(server.call(Method::GET, "/api/requests", Some(&used), None).await.0, StatusCode::OK);
    let server = server.restart().await;
    let used = find_key(&server, "/api/keys", &used_id).await;
    let last_used = used["lastUsedAt"].as_i64().unwrap_or_else(|| panic!("lastUsedAt set: {used}"));
    assert!((last_used - unix_now()).abs() < 3600, "{last_used}");
    assert_eq!(find_key(&server, "/api/keys", &unused_id).await["lastUsedAt"], Value::Null);
}

/// A revoke that races with requests using the key still takes effect for every request sent after it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoking_a_key_in_use_takes_effect_at_once() {
    let server = TestServer::start().await;
    for round in 0..10 {
        let (id, key) = server.create_key_with_id(&format!("busy-{round}"), &["request:read"]).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut hammers = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let (http, url, key, stop) =
                (server.http.clone(), server.url("/api/audit/actions"), key.clone(), stop.clone());
            hammers.spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = http.get(&url).bearer_auth(&key).send().await;
                }
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let (status, _) = server.delete(&format!("/api/keys/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        for attempt in 0..10 {
            let (status, body) = server.call(Method::GET, "/api/audit/actions", Some(&key), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "round {round}, request {attempt} after the revoke: {body}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        while hammers.join_next().await.is_some() {}
    }
}
