//! Slack, Discord and e-mail approvals end to end: the real gateway, stand-ins for the Slack Web API and the
//! Discord REST API (axum apps on 127.0.0.1 that record what the gateway sends), interaction requests signed the
//! way Slack (`v0` HMAC) and Discord (Ed25519) sign them, and a real SMTP server (aiosmtpd, from PyPI) whose mail
//! is parsed by Python's `email` package and whose links are followed.
//!
//! The signing here is the test's own; that it matches Slack's and Discord's is shown by the unit tests in
//! `src/channels/{slack,discord}.rs`, which check the same verification against fixtures made by `slack_sdk` and
//! `discord-interactions` (`tests/fixtures/make_signed_interactions.py`). Only loopback is ever contacted.

use crate::support::TestServer;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as AxumMethod, Uri};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(45);
const SLACK_SECRET: &str = "test-signing-secret";
const SLACK_TOKEN: &str = "xoxb-test-token";
const DISCORD_TOKEN: &str = "discord-test-token";

/// Polls `probe` until it returns `Some`, failing after [`DEADLINE`] with `what`.
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up after {DEADLINE:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

// ---------------------------------------------------------------------------------------------------------------
// Stand-ins for the Slack and Discord APIs

#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Value,
}

#[derive(Default)]
struct ApiLog {
    calls: Mutex<Vec<Call>>,
    /// Answers `{"ok": false}` (Slack) or 500 (Discord) to this many calls first.
    failures: Mutex<u32>,
}

/// A fake API on 127.0.0.1:0 answering like Slack's Web API and Discord's REST API.
struct FakeApi {
    base: String,
    log: Arc<ApiLog>,
}

impl FakeApi {
    async fn start() -> Self {
        let log = Arc::new(ApiLog::default());
        let app = axum::Router::new().fallback(answer).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, log }
    }

    fn fail_next(&self, n: u32) {
        *self.log.failures.lock().expect("lock") = n;
    }

    fn calls(&self, path_end: &str) -> Vec<Call> {
        self.log.calls.lock().expect("lock").iter().filter(|c| c.path.ends_with(path_end)).cloned().collect()
    }

    async fn wait_for(&self, path_end: &str, count: usize) -> Vec<Call> {
        eventually(&format!("{count} call(s) to {path_end}"), async || {
            let calls = self.calls(path_end);
            (calls.len() >= count).then_some(calls)
        })
        .await
    }
}

async fn answer(
    State(log): State<Arc<ApiLog>>,
    method: AxumMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (axum::http::StatusCode, Json<Value>) {
    let path = uri.path().to_owned();
    let call = Call {
        method: method.to_string(),
        path: path.clone(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let n = {
        let mut calls = log.calls.lock().expect("lock");
        calls.push(call.clone());
        calls.len()
    };
    let failing = {
        let mut failures = log.failures.lock().expect("lock");
        let failing = *failures > 0;
        *failures = failures.saturating_sub(1);
        failing
    };
    let ok = axum::http::StatusCode::OK;
    if path.starts_with("/slack/") {
        if failing {
            return (ok, Json(json!({ "ok": false, "error": "ratelimited" })));
        }
        let channel = call.body["channel"].as_str().map(|c| c.replace('#', "C-")).unwrap_or_default();
        return (ok, Json(json!({ "ok": true, "channel": channel, "ts": format!("1767225600.{n:06}") })));
    }
    if failing {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "message": "try later" })));
    }
    // Discord: POST /discord/channels/{id}/messages creates; PATCH edits; /hooks/… is a webhook URL.
    let channel = path.split('/').nth(3).unwrap_or_default().to_owned();
    (ok, Json(json!({ "id": format!("9000{n}"), "channel_id": channel })))
}

fn discord_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

async fn gateway(slack: &FakeApi, discord: &FakeApi, routes: &str) -> TestServer {
    let (slack_base, discord_base) = (format!("{}/slack", slack.base), format!("{}/discord", discord.base));
    let routes = agentgate_core::routing::parse_routes(routes).expect("routes");
    TestServer::start_with(move |c| {
        c.webhook_retry_base = Duration::from_millis(20);
        c.allow_private_webhooks = true;
        c.channels.slack_bot_token = Some(SLACK_TOKEN.into());
        c.channels.slack_signing_secret = Some(SLACK_SECRET.into());
        c.channels.slack_api_url = slack_base;
        c.channels.discord_bot_token = Some(DISCORD_TOKEN.into());
        c.channels.discord_public_key = Some(discord_key().verifying_key().to_bytes());
        c.channels.discord_api_url = discord_base;
        c.channels.dashboard_url = Some("https://gate.example.com/dashboard".into());
        c.channels.routes = routes;
    })
    .await
}

async fn policy(server: &TestServer, rule: Value) {
    server.create_policy(json!({ "name": "channels", "rules": [rule] })).await;
}

async fn request(server: &TestServer, action: &str, extra: Value) -> String {
    let mut body =
        json!({ "action": action, "params": { "env": "prod" }, "context": { "agentId": "ci-bot" }, "urgency": "high" });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = server.create_request(body).await;
    created["id"].as_str().expect("id").to_owned()
}

async fn status_of(server: &TestServer, id: &str) -> Value {
    let (status, body) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

// ---------------------------------------------------------------------------------------------------------------
// Signed interactions

fn slack_form(action_id: &str, request_id: &str, user: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": { "id": user, "username": "alice", "team_id": "T1" },
        "team": { "id": "T1" },
        "container": { "type": "message", "channel_id": "C-approvals", "message_ts": "1.1" },
        "actions": [{ "type": "button", "action_id": action_id, "value": request_id }],
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form")
}

fn slack_signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs a Slack interaction with the given timestamp and signature headers (each omitted when `None`).
async fn post_slack(
    server: &TestServer,
    body: &str,
    timestamp: Option<i64>,
    signature: Option<String>,
) -> (StatusCode, Value) {
    let mut req = server
        .http
        .post(server.url("/api/integrations/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(ts) = timestamp {
        req = req.header("x-slack-request-timestamp", ts.to_string());
    }
    if let Some(sig) = signature {
        req = req.header("x-slack-signature", sig);
    }
    let res = req.send().await.expect("sent");
    let status = res.status();
    (status, serde_json::from_slice(&res.bytes().await.expect("body")).unwrap_or(Value::Null))
}

async fn click_slack(server: &TestServer, action_id: &str, request_id: &str, user: &str) -> StatusCode {
    let body = slack_form(action_id, request_id, user);
    let now = unix_now();
    post_slack(server, &body, Some(now), Some(slack_signature(SLACK_SECRET, now, &body))).await.0
}

async fn post_discord(server: &TestServer, body: &Value, key: &SigningKey, timestamp: i64) -> (StatusCode, Value) {
    let body = body.to_string();
    let timestamp = timestamp.to_string();
    let signature = key.sign(format!("{timestamp}{body}").as_bytes());
    let res = server
        .http
        .post(server.url("/api/integrations/discord/interactions"))
        .header("content-type", "application/json")
        .header("x-signature-ed25519", hex::encode(signature.to_bytes()))
        .header("x-signature-timestamp", timestamp)
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = res.status();
    (status, serde_json::from_slice(&res.bytes().await.expect("body")).unwrap_or(Value::Null))
}

fn discord_click(custom_id: &str, user: &str) -> Value {
    json!({
        "type": 3, "id": "1", "application_id": "2", "token": "t", "version": 1, "guild_id": "10",
        "channel_id": "20", "member": { "user": { "id": user, "username": "bob" } },
        "data": { "custom_id": custom_id, "component_type": 2 }, "message": { "id": "40", "channel_id": "20" },
    })
}

async fn notifications(server: &TestServer, id: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/api/requests/{id}/notifications")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["notifications"].as_array().expect("notifications").clone()
}

/// Waits until every notification of `id` has left `pending`, and returns them.
async fn settled_notifications(server: &TestServer, id: &str, count: usize) -> Vec<Value> {
    eventually(&format!("{count} settled notifications of {id}"), async || {
        let list = notifications(server, id).await;
        (list.len() == count && list.iter().all(|n| n["status"] != "pending")).then_some(list)
    })
    .await
}

// ---------------------------------------------------------------------------------------------------------------
// Slack

#[tokio::test]
async fn slack_message_with_buttons_a_signed_click_decides_and_the_message_is_updated() {
    let (slack, discord) = (FakeApi::start().await, FakeApi::start().await);
    let server = gateway(&slack, &discord, "[]").await;
    policy(
        &server,
        json!({ "match": { "action": "deploy" }, "decision": "route_to_human", "channels": ["slack:#approvals"] }),
    )
    .await;
    let id = request(&server, "deploy", json!({ "params": { "note": "<!channel> `x`" } })).await;

    let posted = slack.wait_for("/chat.postMessage", 1).await.remove(0);
    assert_eq!(posted.authorization.as_deref(), Some(format!("Bearer {SLACK_TOKEN}").as_str()));
    assert_eq!(posted.body["channel"], "#approvals");
    let blocks = posted.body["blocks"].as_array().expect("blocks");
    let actions = blocks.iter().find(|b| b["type"] == "actions").expect("an actions block");
    assert_eq!(actions["elements"][0]["action_id"], "agentgate_approve");
    assert_eq!(actions["elements"][0]["value"], id.as_str());
    assert_eq!(actions["elements"][1]["action_id"], "agentgate_deny");
    let text =
        serde_json::to_string(&blocks.iter().filter(|b| b["type"] != "header").collect::<Vec<_>>()).expect("json");
    assert!(
        text.contains("ci-bot")
            && text.contains("deploy")
            && text.contains("note")
            && text.contains("View in dashboard")
    );
    assert!(!text.contains("<!channel>"), "user text is escaped: {text}");

    // Bad, missing and stale signatures: 401, and nothing decided.
    let body = slack_form("agentgate_approve", &id, "U0001");
    let now = unix_now();
    for (what, ts, sig) in [
        ("wrong secret", Some(now), Some(slack_signature("another-secret", now, &body))),
        ("no signature", Some(now), None),
        ("no timestamp", None, Some(slack_signature(SLACK_SECRET, now, &body))),
        ("stale", Some(now - 301), Some(slack_signature(SLACK_SECRET, now - 301, &body))),
        ("signed for another body", Some(now), Some(slack_signature(SLACK_SECRET, now, &format!("{body}x")))),
    ] {
        let (status, answer) = post_slack(&server, &body, ts, sig).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
        assert!(answer["error"].is_string(), "{what}: {answer}");
    }
    assert_eq!(status_of(&server, &id).await["status"], "pending");

    // Garbage behind a valid signature is a 400, not a 500.
    let now = unix_now();
    let (status, answer) = post_slack(
        &server,
        "payload=%7Bnot-json",
        Some(now),
        Some(slack_signature(SLACK_SECRET, now, "payload=%7Bnot-json")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    assert_eq!(click_slack(&server, "agentgate_approve", &id, "U0001").await, StatusCode::OK);
    let decided = status_of(&server, &id).await;
    assert_eq!((&decided["status"], &decided["decidedBy"]), (&json!("approved"), &json!("slack:U0001")));
    let (_, audit) = server.get(&format!("/api/requests/{id}/audit")).await;
    let approved =
        audit.as_array().expect("audit").iter().find(|e| e["eventType"] == "approved").expect("approved entry");
    assert_eq!(approved["actor"], "slack:U0001");

    let update = slack.wait_for("/chat.update", 1).await.remove(0);
    assert_eq!(update.body["channel"], "C-approvals");
    assert_eq!(update.body["ts"], "1767225600.000001", "the ts the post was answered with");
    let blocks = update.body["blocks"].as_array().expect("blocks");
    assert!(blocks.iter().all(|b| b["type"] != "actions"), "no buttons once decided");
    assert!(update.body.to_string().contains("Approved* by <@U0001>"), "{}", update.body);

    // A second click changes nothing and the clicker is told why.
    assert_eq!(click_slack(&server, "agentgate_deny", &id, "U0002").await, StatusCode::OK);
    let told = slack.wait_for("/chat.postEphemeral", 1).await.remove(0);
    assert_eq!(told.body["user"], "U0002");
    assert!(told.body["text"].as_str().expect("text").contains("already approved"), "{}", told.body);
    assert_eq!(status_of(&server, &id).await["status"], "approved");

    let log = settled_notifications(&server, &id, 2).await;
    assert_eq!(
        (&log[0]["kind"], &log[0]["status"], &log[0]["channel"]),
        (&json!("request"), &json!("success"), &json!("slack"))
    );
    assert_eq!((&log[1]["kind"], &log[1]["status"]), (&json!("outcome"), &json!("success")));
}

#[tokio::test]
async fn a_click_from_someone_who_is_not_an_approver_decides_nothing_and_says_so() {
    let (slack, discord) = (FakeApi::start().await, FakeApi::start().await);
    let server = gateway(&slack, &discord, "[]").await;
    policy(
        &server,
        json!({ "match": { "action": "drop_table" }, "decision": "route_to_human",
                "channels": ["slack:#dba", "discord:555"], "approvers": ["slack:UBOSS", "discord:77"] }),
    )
    .await;
    let id = request(&server, "drop_table", json!({})).await;
    slack.wait_for("/chat.postMessage", 1).await;
    discord.wait_for("/channels/555/messages", 1).await;

    assert_eq!(click_slack(&server, "agentgate_approve", &id, "UINTERN").await, StatusCode::OK);
    let told = slack.wait_for("/chat.postEphemeral", 1).await.remove(0);
    assert_eq!((&told.body["user"], &told.body["channel"]), (&json!("UINTERN"), &json!("C-approvals")));
    assert!(told.body["text"].as_str().expect("text").contains("not an approver"), "{}", told.body);

    let (status, answer) =
        post_discord(&server, &discord_click(&format!("agentgate:approve:{id}"), "66"), &discord_key(), unix_now())
            .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!((&answer["type"], &answer["data"]["flags"]), (&json!(4), &json!(64)), "an ephemeral answer: {answer}");
    assert!(answer["data"]["content"].as_str().expect("content").contains("not an approver"));
    assert_eq!(status_of(&server, &id).await["status"], "pending");

    assert_eq!(click_slack(&server, "agentgate_deny", &id, "UBOSS").await, StatusCode::OK);
    let decided = status_of(&server, &id).await;
    assert_eq!((&decided["status"], &decided["decidedBy"]), (&json!("denied"), &json!("slack:UBOSS")));
    // Decided on Slack: the Discord message is edited too, its buttons disabled.
    let edit = discord.wait_for("/channels/555/messages/90001", 1).await.remove(0);
    assert_eq!(edit.method, "PATCH");
    assert_eq!(edit.body["components"][0]["components"][0]["disabled"], true);
}

// ---------------------------------------------------------------------------------------------------------------
// Discord

#[tokio::test]
async fn discord_ping_click_and_bad_signatures() {
    let (slack, discord) = (FakeApi::start().await, FakeApi::start().await);
    let server = gateway(&slack, &discord, r#"[{"channel": "discord", "target": "123", "urgencies": ["high"]}]"#).await;
    let id = request(&server, "rotate_keys", json!({})).await;

    let posted = discord.wait_for("/channels/123/messages", 1).await.remove(0);
    assert_eq!(posted.method, "POST");
    assert_eq!(posted.authorization.as_deref(), Some(format!("Bot {DISCORD_TOKEN}").as_str()));
    assert_eq!(posted.body["allowed_mentions"], json!({ "parse": [] }));
    assert_eq!(posted.body["embeds"][0]["color"], 0xf97316, "high urgency is orange");
    let buttons = &posted.body["components"][0]["components"];
    assert_eq!(buttons[0]["custom_id"], format!("agentgate:approve:{id}"));
    assert_eq!((&buttons[0]["style"], &buttons[1]["style"]), (&json!(3), &json!(4)));
    assert!(slack.calls("/chat.postMessage").is_empty(), "the route names only Discord");

    let ping = json!({ "type": 1, "id": "1", "application_id": "2", "token": "t", "version": 1 });
    let (status, answer) = post_discord(&server, &ping, &discord_key(), unix_now()).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({ "type": 1 })));

    let click = discord_click(&format!("agentgate:approve:{id}"), "30");
    let stranger = SigningKey::from_bytes(&[9u8; 32]);
    for (what, key, ts) in [("another key", &stranger, unix_now()), ("stale", &discord_key(), unix_now() - 301)] {
        let (status, answer) = post_discord(&server, &click, key, ts).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
    }
    let res = server
        .http
        .post(server.url("/api/integrations/discord/interactions"))
        .header("content-type", "application/json")
        .body(click.to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "no signature");
    assert_eq!(status_of(&server, &id).await["status"], "pending");

    let (status, answer) = post_discord(&server, &click, &discord_key(), unix_now()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["type"], 7, "UPDATE_MESSAGE: {answer}");
    let buttons = &answer["data"]["components"][0]["components"];
    assert_eq!((&buttons[0]["disabled"], &buttons[1]["disabled"]), (&json!(true), &json!(true)));
    assert_eq!(answer["data"]["embeds"][0]["color"], 0x22c55e);
    assert!(answer["data"]["embeds"][0].to_string().contains("Approved** by <@30>"), "{answer}");
    let decided = status_of(&server, &id).await;
    assert_eq!((&decided["status"], &decided["decidedBy"]), (&json!("approved"), &json!("discord:30")));
}

#[tokio::test]
async fn decided_elsewhere_or_expired_every_posted_message_is_updated() {
    let (slack, discord) = (FakeApi::start().await, FakeApi::start().await);
    let server = gateway(
        &slack,
        &discord,
        r##"[{"channel": "slack", "target": "#ops"}, {"channel": "discord", "target": "42"}]"##,
    )
    .await;
    let decided = request(&server, "restart", json!({})).await;
    slack.wait_for("/chat.postMessage", 1).await;
    discord.wait_for("/channels/42/messages", 1).await;
    let (status, body) = server
        .post(
            &format!("/api/requests/{decided}/decide"),
            json!({ "decision": "denied", "reason": "not <!here> today" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let update = slack.wait_for("/chat.update", 1).await.remove(0);
    let shown = update.body.to_string();
    assert!(
        shown.contains("Denied*") && shown.contains("&lt;!here&gt; today") && !shown.contains("<!here>"),
        "{shown}"
    );
    let edit = discord.wait_for("/channels/42/messages/90001", 1).await.remove(0);
    assert_eq!(edit.body["embeds"][0]["color"], 0xef4444);

    let expiring = request(
        &server,
        "restart",
        json!({ "expiresAt": agentgate_core::Timestamp(unix_now() * 1000 + 1500).to_iso() }),
    )
    .await;
    let updates = slack.wait_for("/chat.update", 2).await;
    assert!(updates[1].body.to_string().contains("Expired"), "{}", updates[1].body);
    assert_eq!(status_of(&server, &expiring).await["status"], "expired");
}

#[tokio::test]
async fn failures_are_retried_and_visible_in_the_notification_log() {
    let (slack, discord) = (FakeApi::start().await, FakeApi::start().await);
    slack.fail_next(2);
    let server = gateway(&slack, &discord, "[]").await;
    policy(
        &server,
        json!({ "match": { "action": "pay" }, "decision": "route_to_human",
                "channels": ["slack:#money", "email:finance@example.com", "webhook:ftp://nowhere", "sms:+1"] }),
    )
    .await;
    let id = request(&server, "pay", json!({})).await;
    slack.wait_for("/chat.postMessage", 3).await;
    let log = settled_notifications(&server, &id, 2).await;
    let slack_row = log.iter().find(|n| n["channel"] == "slack").expect("slack notification");
    assert_eq!((&slack_row["status"], &slack_row["attempts"]), (&json!("success"), &json!(3)));
    let attempts = slack_row["attemptLog"].as_array().expect("attempt log");
    assert_eq!(attempts.len(), 3);
    assert!(attempts[0]["error"].as_str().expect("error").contains("ratelimited"), "{slack_row}");
    assert!(attempts[2]["error"].is_null());
    // No SMTP configured: failed at once, and says what to set. Malformed targets were never queued.
    let email_row = log.iter().find(|n| n["channel"] == "email").expect("email notification");
    assert_eq!((&email_row["status"], &email_row["attempts"]), (&json!("failed"), &json!(1)));
    assert!(email_row["lastError"].as_str().expect("error").contains("SMTP_HOST"), "{email_row}");

    let (status, body) = server.get("/api/requests/nope/notifications").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn discord_webhook_url_targets_get_one_click_links() {
    let (slack, discord) = (FakeApi::start().await, FakeApi::start().await);
    let server = gateway(&slack, &discord, "[]").await;
    let hook = format!("{}/hooks/1/abc", discord.base);
    policy(
        &server,
        json!({ "match": { "action": "ship" }, "decision": "route_to_human", "channels": [format!("discord:{hook}")] }),
    )
    .await;
    let id = request(&server, "ship", json!({})).await;
    let posted = discord.wait_for("/hooks/1/abc", 1).await.remove(0);
    let embed = posted.body["embeds"][0].to_string();
    assert!(posted.body.get("components").is_none(), "webhooks cannot carry buttons");
    let approve =
        embed.split("[Approve](").nth(1).and_then(|s| s.split(')').next()).expect("an approve link").to_owned();
    assert!(approve.contains("/api/decide/"), "{approve}");
    let path = &approve[approve.find("/api/decide/").expect("path")..];
    let (status, _) = server.call(Method::GET, path, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_of(&server, &id).await["status"], "pending", "a GET decides nothing");
    let res = server
        .http
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("reason=")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(status_of(&server, &id).await["status"], "approved");
}

#[tokio::test]
async fn interaction_endpoints_without_configuration_answer_404_and_need_no_key() {
    let server = TestServer::start().await;
    for path in ["/api/integrations/slack/interactions", "/api/integrations/discord/interactions"] {
        let (status, body) =
            server.send_raw(Method::POST, path, None, Some("application/json"), Some(b"{}".to_vec())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body["error"].as_str().expect("error").contains("not configured"), "{body}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// E-mail, through a real SMTP server

fn aiosmtpd_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "note: skipping: the Python `aiosmtpd` package is not installed (python3 -m pip install aiosmtpd==1.4.6)"
        );
    }
    ok
}

/// aiosmtpd on a free loopback port, saving every message into a Maildir.
struct SmtpServer {
    port: u16,
    maildir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpServer {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let maildir = tempfile::tempdir().expect("maildir");
        let child = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        eventually("aiosmtpd to listen", async || tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()).await;
        Self { port, maildir, child }
    }

    /// Every message received so far, parsed by Python's `email` package: headers, text and HTML parts.
    async fn messages(&self) -> Vec<Value> {
        let dir = self.maildir.path().join("mail").join("new");
        let script = r#"
import email, email.policy, json, os, sys
out = []
d = sys.argv[1]
for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    with open(os.path.join(d, name), 'rb') as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    parts = {p.get_content_type(): p.get_content() for p in m.walk() if not p.is_multipart()}
    out.append({'subject': m['subject'], 'from': m['from'], 'to': m['to'], 'messageId': m['message-id'],
                'inReplyTo': m['in-reply-to'], 'autoSubmitted': m['auto-submitted'], 'contentType': m.get_content_type(),
                'text': parts.get('text/plain'), 'html': parts.get('text/html'), 'order': list(parts)})
out.sort(key=lambda m: m['inReplyTo'] is not None)
print(json.dumps(out))
"#;
        let output = std::process::Command::new("python3").args(["-c", script]).arg(&dir).output().expect("python3");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Vec<Value>>(&output.stdout).expect("JSON")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn link(text: &str, label: &str) -> String {
    let line = text.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label} line in {text}"));
    line[label.len()..].trim().to_owned()
}

#[tokio::test]
async fn email_with_links_get_leaves_pending_post_decides_and_the_outcome_follows() {
    if !aiosmtpd_available() {
        return;
    }
    let smtp = SmtpServer::start().await;
    let port = smtp.port;
    let server = TestServer::start_with(move |c| {
        c.channels.smtp = Some(agentgate::config::SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            user: None,
            password: None,
            from: "AgentGate <gate@example.com>".parse().expect("mailbox"),
            security: agentgate::config::SmtpSecurity::None,
        });
        c.channels.dashboard_url = Some("https://gate.example.com".into());
        c.decision_link_base_url = Some("http://links.invalid".into());
    })
    .await;
    policy(&server, json!({ "match": { "action": "wire_money" }, "decision": "route_to_human", "channels": ["email:ops@example.com"] })).await;
    let id = request(&server, "wire_money", json!({ "params": { "amount": "<b>1000</b>" } })).await;

    let mail = eventually("the request mail", async || smtp.messages().await.into_iter().next()).await;
    assert_eq!(mail["subject"], "[AgentGate] Approval required: wire_money");
    assert_eq!(mail["from"], "AgentGate <gate@example.com>");
    assert_eq!(mail["to"], "ops@example.com");
    assert_eq!(mail["autoSubmitted"], "auto-generated");
    assert_eq!(mail["order"], json!(["text/plain", "text/html"]), "plain text first, HTML preferred");
    let (text, html) = (mail["text"].as_str().expect("text"), mail["html"].as_str().expect("html"));
    assert!(text.contains(&format!("Request ID: {id}")) && text.contains("ci-bot"), "{text}");
    assert!(text.contains(&format!("View in dashboard: https://gate.example.com/requests/{id}")), "{text}");
    assert!(html.contains("&lt;b&gt;1000&lt;/b&gt;") && !html.contains("<b>1000"), "parameters escaped in HTML");
    let (approve, deny) = (link(text, "Approve:"), link(text, "Deny:"));
    assert!(html.contains(&approve) && html.contains(&deny), "the same links in both parts");
    let approve_path =
        approve.strip_prefix("http://links.invalid").expect("links use DECISION_LINK_BASE_URL").to_owned();

    // A scanner following the link decides nothing.
    let (status, _) = server.call(Method::GET, &approve_path, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_of(&server, &id).await["status"], "pending");
    let res = server
        .http
        .post(server.url(&approve_path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("reason=checked")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    let decided = status_of(&server, &id).await;
    assert_eq!(decided["status"], "approved");
    assert!(decided["decidedBy"].as_str().expect("decidedBy").starts_with("link:"), "{decided}");

    let outcome = eventually("the outcome mail", async || smtp.messages().await.into_iter().nth(1)).await;
    assert_eq!(outcome["subject"], "[AgentGate] Request approved: wire_money");
    assert_eq!(outcome["inReplyTo"], mail["messageId"], "threaded under the request mail");
    assert!(outcome["text"].as_str().expect("text").contains("Reason: checked"));
    let log = settled_notifications(&server, &id, 2).await;
    assert!(log.iter().all(|n| n["status"] == "success"), "{log:?}");
}

#[tokio::test]
async fn an_email_link_from_someone_who_is_not_an_approver_decides_nothing() {
    if !aiosmtpd_available() {
        return;
    }
    let smtp = SmtpServer::start().await;
    let port = smtp.port;
    let server = TestServer::start_with(move |c| {
        c.channels.smtp = Some(agentgate::config::SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            user: None,
            password: None,
            from: "gate@example.com".parse().expect("mailbox"),
            security: agentgate::config::SmtpSecurity::None,
        });
    })
    .await;
    policy(
        &server,
        json!({ "match": { "action": "fire" }, "decision": "route_to_human",
                "channels": ["email:boss@example.com", "email:intern@example.com"], "approvers": ["email:boss@example.com"] }),
    )
    .await;
    let id = request(&server, "fire", json!({})).await;
    let mails = eventually("two mails", async || {
        let m = smtp.messages().await;
        (m.len() == 2).then_some(m)
    })
    .await;
    let intern = mails.iter().find(|m| m["to"] == "intern@example.com").expect("intern mail");
    let approve = link(intern["text"].as_str().expect("text"), "Approve:");
    let path = &approve[approve.find("/api/decide/").expect("path")..];
    let res = server
        .http
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("reason=")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.expect("page").contains("may not decide this request"));
    assert_eq!(status_of(&server, &id).await["status"], "pending");
    let boss = mails.iter().find(|m| m["to"] == "boss@example.com").expect("boss mail");
    let deny = link(boss["text"].as_str().expect("text"), "Deny:");
    let path = &deny[deny.find("/api/decide/").expect("path")..];
    let res = server
        .http
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("reason=")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(status_of(&server, &id).await["status"], "denied");
}

#[tokio::test]
async fn notifications_survive_a_restart() {
    let (slack, discord) = (FakeApi::start().await, FakeApi::start().await);
    // Nothing listens here: every attempt fails until the gateway is restarted with the real stand-in.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let server = gateway(&slack, &discord, r##"[{"channel": "slack", "target": "#ops"}]"##).await;
    let server = server
        .restart_with(move |c| {
            c.webhook_max_retries = 20;
            c.channels.slack_api_url = format!("http://127.0.0.1:{closed}/slack");
        })
        .await;
    let id = request(&server, "migrate", json!({})).await;
    eventually("two failed attempts", async || {
        let list = notifications(&server, &id).await;
        (list.first()?["attempts"].as_u64()? >= 2).then_some(())
    })
    .await;
    let slack_base = format!("{}/slack", slack.base);
    let server = server.restart_with(move |c| c.channels.slack_api_url = slack_base).await;
    slack.wait_for("/chat.postMessage", 1).await;
    let log = settled_notifications(&server, &id, 1).await;
    assert_eq!(log[0]["status"], "success");
    assert!(log[0]["attemptLog"].as_array().expect("attempts").len() >= 3, "{:?}", log[0]);
}
