//! Webhooks end to end: the `/api/webhooks` API in the reference wire format, deliveries to real HTTP receivers on
//! 127.0.0.1 (events, bodies, both signatures verified independently of the gateway's code), retries, a receiver
//! that hangs, restarts and graceful stops mid-delivery, two gateways on one database, replays, the deliveries
//! list, the test endpoint, SSRF refusals and secrets at rest.
//!
//! Only loopback is ever contacted: every receiver listens on 127.0.0.1, and the SSRF tests name other addresses
//! only to have them refused before any connection. Nothing here asserts how long something took: conditions are
//! awaited with [`eventually`], which fails with what it last saw.

use crate::support::{TestServer, assert_error, assert_page, ids};
use agentgate_core::Timestamp;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long any awaited condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);
const SAVE_SECRET: &str = "Save this secret - it will not be shown again";
/// Every event name a subscription may use, in the order the gateway lists them.
const EVENT_NAMES: &str = "*, request.created, request.approved, request.denied, request.decided, request.expired";

// ---------------------------------------------------------------------------------------------------------------
// Waiting for conditions

/// Polls `probe` until it returns `Ok`, failing after [`DEADLINE`] with `what` and the last `Err` it described.
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("gave up after {DEADLINE:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A loopback receiver

/// How a receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// 200 `ok`.
    Ok,
    /// 500 for the next `n` requests, then 200.
    FailTimes(u32),
    /// 500 `receiver error`, always.
    AlwaysFail,
    /// Holds every request until [`Receiver::release`], then 200.
    Hang,
    /// 307 to another loopback port (which must never be contacted: redirects are not followed).
    RedirectTo(u16),
    /// 200 with a 64 KiB body (of which the gateway keeps the first kilobyte).
    Big,
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    #[track_caller]
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .expect("an ASCII header value")
    }

    /// The `webhook-id` header: the delivery's id.
    fn id(&self) -> &str {
        self.header("webhook-id")
    }

    fn event(&self) -> &str {
        self.header("x-agentgate-event")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

struct Shared {
    reply: Mutex<Reply>,
    received: Mutex<Vec<Received>>,
    released: watch::Sender<bool>,
}

/// An HTTP server on 127.0.0.1:0 that records every request (headers and raw body) before answering as scripted.
struct Receiver {
    url: String,
    port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    shared.received.lock().expect("receiver log").push(Received { headers, body });
    let reply = {
        let mut script = shared.reply.lock().expect("receiver script");
        let reply = *script;
        if let Reply::FailTimes(n) = reply {
            *script = Reply::FailTimes(n.saturating_sub(1));
        }
        reply
    };
    match reply {
        Reply::Ok | Reply::FailTimes(0) => (StatusCode::OK, "ok").into_response(),
        Reply::FailTimes(_) | Reply::AlwaysFail => {
            (StatusCode::INTERNAL_SERVER_ERROR, "receiver error").into_response()
        }
        Reply::Hang => {
            let mut released = shared.released.subscribe();
            // The sender lives as long as `shared`, which this handler holds.
            let _ = released.wait_for(|released| *released).await;
            (StatusCode::OK, "ok").into_response()
        }
        Reply::RedirectTo(port) => {
            (StatusCode::TEMPORARY_REDIRECT, [("location", format!("http://127.0.0.1:{port}/hook"))], "elsewhere")
                .into_response()
        }
        Reply::Big => (StatusCode::OK, "x".repeat(64 * 1024)).into_response(),
    }
}

impl Receiver {
    async fn start(reply: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shared = Arc::new(Shared {
            reply: Mutex::new(reply),
            received: Mutex::default(),
            released: watch::channel(false).0,
        });
        let app = axum::Router::new().fallback(receive).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Self { url: format!("http://{addr}/hook"), port: addr.port(), shared, task }
    }

    fn set(&self, reply: Reply) {
        *self.shared.reply.lock().expect("receiver script") = reply;
    }

    /// Lets every held request (and every later one in `Hang`) answer 200.
    fn release(&self) {
        self.shared.released.send_replace(true);
    }

    fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("receiver log").clone()
    }

    fn count(&self) -> usize {
        self.shared.received.lock().expect("receiver log").len()
    }

    /// Waits until at least `n` requests arrived, and returns all of them.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(&format!("{n} requests at the receiver"), async || {
            let got = self.received();
            if got.len() >= n { Ok(got) } else { Err(format!("{} requests: {:?}", got.len(), events(&got))) }
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn events(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.event().to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Signatures, computed here with hmac + sha2 and the `standardwebhooks` crate, never with the gateway's code

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A Standard Webhooks verifier for `secret`: `whsec_<base64>` (and any base64 secret) as the libraries decode it;
/// a secret that is not base64 is used as raw UTF-8 bytes (the libraries' raw-key form).
fn verifier(secret: &str) -> standardwebhooks::Webhook {
    standardwebhooks::Webhook::new(secret)
        .or_else(|_| standardwebhooks::Webhook::from_bytes(secret.as_bytes().to_vec()))
        .expect("a verifier for the secret")
}

/// Asserts both signatures of a received request, recomputed independently, and the id headers.
#[track_caller]
fn assert_signed(received: &Received, secret: &str) {
    let expected = format!("sha256={}", hex::encode(hmac_sha256(secret.as_bytes(), &received.body)));
    assert_eq!(received.header("x-agentgate-signature"), expected, "X-AgentGate-Signature over {}", received.text());
    if let Err(e) = verifier(secret).verify(&received.body, &received.headers) {
        panic!("Standard Webhooks verification failed ({e}) for {:?}: {}", received.headers, received.text());
    }
    assert_eq!(received.header("x-agentgate-delivery"), received.id());
    assert!(received.header("content-type").starts_with("application/json"), "{:?}", received.headers);
    assert!(received.header("user-agent").starts_with("AgentGate/"), "{:?}", received.headers);
}

// ---------------------------------------------------------------------------------------------------------------
// API helpers

struct Hook {
    id: String,
    secret: String,
}

/// Creates a webhook as admin, asserting 201.
async fn create_webhook(server: &TestServer, url: &str, events: &[&str]) -> Hook {
    let (status, body) = server.post("/api/webhooks", json!({"url": url, "events": events})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Hook {
        id: body["id"].as_str().expect("webhook id").to_owned(),
        secret: body["secret"].as_str().expect("webhook secret").to_owned(),
    }
}

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("id").to_owned()
}

async fn create_request(server: &TestServer, action: &str) -> String {
    id_of(&server.create_request(json!({"action": action})).await)
}

async fn decide(server: &TestServer, request: &str, decision: &str) {
    let (status, body) = server.post(&format!("/api/requests/{request}/decide"), json!({"decision": decision})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn get_request(server: &TestServer, id: &str) -> Value {
    let (status, body) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// All deliveries of a webhook (newest first), asserting the list answers.
async fn deliveries(server: &TestServer, webhook: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/api/webhooks/{webhook}/deliveries?limit=100")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["deliveries"].as_array().expect("deliveries array").clone()
}

/// Waits until the delivery `id` of `webhook` satisfies `done`, and returns it.
async fn wait_delivery(
    server: &TestServer,
    webhook: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    eventually(&format!("delivery {id} to be {what}"), async || {
        let all = deliveries(server, webhook).await;
        match all.iter().find(|d| d["id"] == id) {
            Some(d) if done(d) => Ok(d.clone()),
            Some(d) => Err(d.to_string()),
            None => Err(format!("no such delivery among {}", Value::Array(all))),
        }
    })
    .await
}

/// Waits until `webhook` has exactly `n` deliveries, none of them pending, and returns them (newest first).
async fn wait_settled(server: &TestServer, webhook: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} finished deliveries"), async || {
        let all = deliveries(server, webhook).await;
        if all.len() == n && all.iter().all(|d| d["status"] != "pending") {
            Ok(all)
        } else {
            let states: Vec<String> =
                all.iter().map(|d| format!("{}:{}:{}", d["event"], d["status"], d["attempts"])).collect();
            Err(format!("{} deliveries {states:?}", all.len()))
        }
    })
    .await
}

fn codes(delivery: &Value) -> Vec<Value> {
    delivery["attemptLog"].as_array().expect("attemptLog").iter().map(|a| a["responseCode"].clone()).collect()
}

fn attempt_numbers(delivery: &Value) -> Vec<u64> {
    delivery["attemptLog"].as_array().expect("attemptLog").iter().map(|a| a["attempt"].as_u64().expect("n")).collect()
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn now_ms() -> i64 {
    agentgate::app::now().millis()
}

/// The `webhooks.secret` column as stored.
async fn stored_secret(server: &TestServer, webhook: &str) -> String {
    server.db_row("SELECT secret FROM webhooks WHERE id = $1", webhook).await.remove(0)
}

/// `(status, attempts)` of a delivery as stored.
async fn stored_delivery(server: &TestServer, delivery: &str) -> (String, i64) {
    let row =
        server.db_row("SELECT status, CAST(attempts AS TEXT) FROM webhook_deliveries WHERE id = $1", delivery).await;
    (row[0].clone(), row[1].parse().expect("attempts"))
}

fn private_allowed(config: &mut agentgate::config::Config) {
    config.allow_private_webhooks = true;
    config.webhook_retry_base = Duration::from_millis(20);
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The API in the reference wire format

#[tokio::test]
async fn webhooks_are_created_listed_and_shown_in_the_reference_wire_format() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;

    let (status, created) = server.post("/api/webhooks", json!({"url": receiver.url, "events": ["*"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(keys(&created), ["enabled", "events", "id", "message", "secret", "url"], "{created}");
    assert_eq!(created["url"], receiver.url.as_str());
    assert_eq!(created["events"], json!(["*"]));
    assert_eq!(created["enabled"], true);
    assert_eq!(created["message"], SAVE_SECRET);
    let generated = created["secret"].as_str().expect("secret").to_owned();
    let key = generated.strip_prefix("whsec_").unwrap_or_else(|| panic!("{generated} starts with whsec_"));
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key).expect("base64 after whsec_");
    assert_eq!(decoded.len(), 32, "{generated}");

    // A caller's secret of at least 32 characters is kept as given; duplicate events collapse.
    let given = "a-caller-chosen-secret-longer-than-32-chars";
    let (status, second) = server
        .post(
            "/api/webhooks",
            json!({"url": receiver.url, "events": ["request.approved", "request.denied", "request.approved"],
                   "secret": given}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["secret"], given);
    assert_eq!(second["events"], json!(["request.approved", "request.denied"]));
    assert_ne!(second["secret"], created["secret"]);

    // The list never shows a secret; it holds both webhooks, oldest first.
    let (status, list) = server.get("/api/webhooks").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(keys(&list), ["webhooks"]);
    assert_eq!(ids(&list["webhooks"]), [id_of(&created), id_of(&second)]);
    for webhook in list["webhooks"].as_array().expect("array") {
        assert_eq!(keys(webhook), ["createdAt", "enabled", "events", "id", "updatedAt", "url"], "{webhook}");
        assert!(webhook["createdAt"].is_i64() && webhook["createdAt"] == webhook["updatedAt"], "{webhook}");
    }
    let text = list.to_string();
    assert!(!text.contains(&generated) && !text.contains(given) && !text.contains("secret"), "{text}");

    // One webhook with its recent deliveries (none yet), and still no secret.
    let (status, shown) = server.get(&format!("/api/webhooks/{}", id_of(&created))).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(keys(&shown), ["createdAt", "deliveries", "enabled", "events", "id", "updatedAt", "url"], "{shown}");
    assert_eq!(shown["deliveries"], json!([]));
    assert_eq!(shown["url"], receiver.url.as_str());
    assert!(!shown.to_string().contains(&generated), "{shown}");

    let (status, body) = server.get("/api/webhooks/no-such-webhook").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Webhook not found");
}

#[tokio::test]
async fn creating_a_webhook_validates_every_field() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let url = receiver.url.as_str();
    let unknown = format!("unknown event \"request.escalated\"; events must be among: {EVENT_NAMES}");
    let short_secret = "secret must be a string of 32 to 256 characters";
    let cases: Vec<(Value, String)> = vec![
        (json!({"events": ["*"]}), "url is required".into()),
        (json!({"url": url}), "events is required".into()),
        (
            json!({"url": "ftp://127.0.0.1/hook", "events": ["*"]}),
            "Invalid webhook URL: Only HTTP and HTTPS protocols are allowed".into(),
        ),
        (json!({"url": "not a url", "events": ["*"]}), "Invalid webhook URL: Invalid URL format".into()),
        (json!({"url": 42, "events": ["*"]}), "url must be a string of at most 2048 characters".into()),
        (json!({"url": "", "events": ["*"]}), "url must be a string of at most 2048 characters".into()),
        (
            json!({"url": format!("{url}?{}", "a".repeat(2048)), "events": ["*"]}),
            "url must be a string of at most 2048 characters".into(),
        ),
        (
            json!({"url": url.replace("http://", "http://user:pw@"), "events": ["*"]}),
            "Invalid webhook URL: Credentials in the URL are not allowed".into(),
        ),
        (json!({"url": url, "events": []}), "events must be a non-empty array".into()),
        (json!({"url": url, "events": "*"}), "events must be a non-empty array".into()),
        (json!({"url": url, "events": [1]}), "events must be an array of event names".into()),
        (json!({"url": url, "events": ["request.escalated"]}), unknown),
        (json!({"url": url, "events": ["*"], "secret": "too short"}), short_secret.into()),
        (json!({"url": url, "events": ["*"], "secret": "x".repeat(257)}), short_secret.into()),
        (json!({"url": url, "events": ["*"], "secret": 12345}), short_secret.into()),
        (json!(["not", "an", "object"]), "Request body must be a JSON object".into()),
    ];
    for (body, message) in &cases {
        let (status, answer) = server.post("/api/webhooks", body.clone()).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, message);
    }

    let bearer = format!("Bearer {}", server.admin_key);
    let (status, body) = server
        .send_raw(Method::POST, "/api/webhooks", Some(&bearer), Some("application/json"), Some(b"{\"url\":".to_vec()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error = crate::support::error_of(&body);
    assert!(error.starts_with("Malformed JSON body: "), "{error}");

    // Nothing was created and nothing audited.
    let (_, list) = server.get("/api/webhooks").await;
    assert_eq!(list["webhooks"], json!([]));
    assert_eq!(server.total("/api/audit?eventType=webhook.created").await, 0);
    assert_eq!(receiver.count(), 0, "creating a webhook sends nothing");
}

#[tokio::test]
async fn webhooks_are_changed_and_deleted_like_the_reference() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let other = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&server, &receiver.url, &["*"]).await;
    let path = format!("/api/webhooks/{}", hook.id);

    let (status, body) = server.patch("/api/webhooks/no-such-webhook", json!({"enabled": false})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Webhook not found");
    for (change, message) in [
        (json!({}), "No fields to update (url, events or enabled)"),
        (json!({"name": "ignored"}), "No fields to update (url, events or enabled)"),
        (json!({"url": "ftp://127.0.0.1/hook"}), "Invalid webhook URL: Only HTTP and HTTPS protocols are allowed"),
        (json!({"url": 7}), "url must be a string of at most 2048 characters"),
        (json!({"url": null}), "url must be a string of at most 2048 characters"),
        (json!({"events": []}), "events must be a non-empty array"),
        (json!({"events": "request.created"}), "events must be a non-empty array"),
        (json!({"events": ["nope"]}), &format!("unknown event \"nope\"; events must be among: {EVENT_NAMES}")),
        (json!({"enabled": "false"}), "enabled must be a boolean"),
        (json!({"enabled": 0}), "enabled must be a boolean"),
        (
            json!({"secret": "a-new-secret-that-is-long-enough-to-pass"}),
            "secret cannot be changed; create a new webhook to rotate it",
        ),
    ] {
        let (status, answer) = server.patch(&path, change.clone()).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, message);
    }
    let bearer = format!("Bearer {}", server.admin_key);
    let (status, answer) = server.send_raw(Method::PATCH, &path, Some(&bearer), Some("application/json"), None).await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "Request body required");
    assert_eq!(server.total("/api/audit?eventType=webhook.updated").await, 0, "refused changes are not audited");

    // A change applies every field given and leaves the others.
    let (_, before) = server.get(&path).await;
    let (status, changed) =
        server.patch(&path, json!({"url": other.url, "events": ["request.denied"], "enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(keys(&changed), ["success", "webhook"]);
    assert_eq!(changed["success"], true);
    let webhook = &changed["webhook"];
    assert_eq!(keys(webhook), ["createdAt", "enabled", "events", "id", "updatedAt", "url"], "{webhook}");
    assert_eq!(
        (&webhook["url"], &webhook["events"], &webhook["enabled"]),
        (&json!(other.url), &json!(["request.denied"]), &json!(false))
    );
    assert_eq!(webhook["createdAt"], before["createdAt"]);
    assert!(webhook["updatedAt"].as_i64() >= before["updatedAt"].as_i64(), "{webhook}");
    let (_, shown) = server.get(&path).await;
    assert_eq!(
        (&shown["url"], &shown["events"], &shown["enabled"]),
        (&webhook["url"], &webhook["events"], &webhook["enabled"])
    );
    let (status, changed) = server.patch(&path, json!({"enabled": true, "events": ["*"]})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((&changed["webhook"]["url"], &changed["webhook"]["enabled"]), (&json!(other.url), &json!(true)));

    // Deleting works while the webhook has deliveries, and takes them with it.
    let request = create_request(&server, "deploy").await;
    let delivered = other.wait_for(1).await;
    assert_eq!(delivered[0].json()["data"]["request"]["id"], request.as_str());
    assert_eq!(deliveries(&server, &hook.id).await.len(), 1);
    let (status, body) = server.delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"success": true}));
    let (status, body) = server.get(&path).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Webhook not found");
    let (status, body) = server.get(&format!("{path}/deliveries")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Webhook not found");
    let (status, body) = server.delete(&path).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Webhook not found");
    let (_, list) = server.get("/api/webhooks").await;
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test]
async fn webhook_changes_are_audited_with_the_actor() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let admin = server.admin_actor().await;
    let hook = create_webhook(&server, &receiver.url, &["*"]).await;
    let path = format!("/api/webhooks/{}", hook.id);
    assert_eq!(server.patch(&path, json!({"enabled": false})).await.0, StatusCode::OK);
    assert_eq!(server.delete(&path).await.0, StatusCode::OK);

    for event in ["webhook.created", "webhook.updated", "webhook.deleted"] {
        let (status, body) = server.get(&format!("/api/audit?eventType={event}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let entries = body["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 1, "{event}: {body}");
        let entry = &entries[0];
        assert_eq!(entry["eventType"], event);
        assert_eq!(entry["actor"], admin.as_str(), "{entry}");
        assert_eq!(entry["requestId"], Value::Null, "{entry}");
        assert!(entry["details"].to_string().contains(&hook.id), "{entry}");
        assert!(!entry.to_string().contains(&hook.secret), "the secret never reaches the audit log: {entry}");
    }
}

#[tokio::test]
async fn managing_webhooks_needs_the_webhook_manage_scope() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let (manager_id, manager) = server.create_key_with_id("hooks", &["webhook:manage"]).await;
    let agent = server.create_key("agent", &["request:create", "request:read", "request:decide"]).await;
    let call = async |key: &str, method: Method, path: &str, body: Option<Value>| {
        server.call(method, path, Some(key), body.as_ref()).await
    };

    let (status, created) =
        call(&manager, Method::POST, "/api/webhooks", Some(json!({"url": receiver.url, "events": ["*"]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/api/webhooks/{}", id_of(&created));
    assert_eq!(call(&manager, Method::GET, "/api/webhooks", None).await.0, StatusCode::OK);
    assert_eq!(call(&manager, Method::GET, &path, None).await.0, StatusCode::OK);
    assert_eq!(call(&manager, Method::PATCH, &path, Some(json!({"enabled": true}))).await.0, StatusCode::OK);
    assert_eq!(call(&manager, Method::GET, &format!("{path}/deliveries"), None).await.0, StatusCode::OK);
    assert_eq!(call(&manager, Method::POST, &format!("{path}/test"), None).await.0, StatusCode::OK);
    let (_, body) = server.get("/api/audit?eventType=webhook.created").await;
    assert_eq!(body["entries"][0]["actor"], format!("key:{manager_id}"), "{body}");

    let scope = "Missing required scope: webhook:manage";
    for (method, target, body) in [
        (Method::POST, "/api/webhooks".to_owned(), Some(json!({"url": receiver.url, "events": ["*"]}))),
        (Method::GET, "/api/webhooks".to_owned(), None),
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({"enabled": false}))),
        (Method::POST, format!("{path}/test"), None),
        (Method::GET, format!("{path}/deliveries"), None),
        (Method::POST, "/api/webhooks/deliveries/whd_0/replay".to_owned(), None),
        (Method::DELETE, path.clone(), None),
    ] {
        let (status, answer) = call(&agent, method, &target, body).await;
        assert_error(status, &answer, StatusCode::FORBIDDEN, scope);
    }
    let (_, shown) = server.get(&path).await;
    assert_eq!(shown["enabled"], true, "a forbidden change has no effect");
    assert_eq!(receiver.count(), 1, "only the manager's test delivery was sent");
    assert_eq!(call(&manager, Method::DELETE, &path, None).await.0, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Events and bodies

/// Asserts the body shape `{"event", "data": {"request"}, "timestamp": <ms>}` and returns the request.
#[track_caller]
fn request_of(received: &Received, event: &str, since: i64) -> Value {
    assert!(received.text().starts_with(&format!("{{\"event\":\"{event}\",")), "{}", received.text());
    let body = received.json();
    assert_eq!(keys(&body), ["data", "event", "timestamp"], "{body}");
    assert_eq!(body["event"], event);
    assert_eq!(received.event(), event);
    assert_eq!(keys(&body["data"]), ["request"], "{body}");
    let timestamp = body["timestamp"].as_i64().unwrap_or_else(|| panic!("a millisecond timestamp in {body}"));
    assert!((since..=now_ms()).contains(&timestamp), "timestamp {timestamp} is not from this test: {body}");
    body["data"]["request"].clone()
}

fn by_event(received: &[Received]) -> HashMap<String, Vec<Received>> {
    let mut grouped: HashMap<String, Vec<Received>> = HashMap::new();
    for r in received {
        grouped.entry(r.event().to_owned()).or_default().push(r.clone());
    }
    grouped
}

#[tokio::test]
async fn every_request_event_is_delivered_with_the_request_in_the_body() {
    let since = now_ms();
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&server, &receiver.url, &["*"]).await;

    let created = server.create_request(json!({"action": "deploy", "params": {"env": "prod"}})).await;
    let id = id_of(&created);
    let got = receiver.wait_for(1).await;
    assert_eq!(events(&got), ["request.created"]);
    // The request as stored (the creation response adds the policy decision, which is not part of it).
    let mut stored = created.clone();
    stored.as_object_mut().expect("an object").remove("policyDecision");
    assert_eq!(stored, get_request(&server, &id).await);
    assert_eq!(request_of(&got[0], "request.created", since), stored);

    decide(&server, &id, "approved").await;
    let got = by_event(&receiver.wait_for(3).await);
    let decided = get_request(&server, &id).await;
    assert_eq!(decided["status"], "approved");
    for event in ["request.approved", "request.decided"] {
        let sent = got.get(event).unwrap_or_else(|| panic!("no {event} delivery: {:?}", got.keys()));
        assert_eq!(sent.len(), 1, "{event}");
        assert_eq!(request_of(&sent[0], event, since), decided, "{event}");
    }

    let denied = create_request(&server, "wipe").await;
    decide(&server, &denied, "denied").await;
    let got = by_event(&receiver.wait_for(6).await);
    let denied_now = get_request(&server, &denied).await;
    let sent = &got["request.denied"];
    assert_eq!(sent.len(), 1);
    assert_eq!(request_of(&sent[0], "request.denied", since), denied_now);
    assert_eq!(got["request.decided"].len(), 2);

    // A request that runs past its expiresAt is expired by the gateway, and that is announced too.
    let soon = Timestamp::from_millis(now_ms() + 1_200).to_iso();
    let expiring = id_of(&server.create_request(json!({"action": "soon", "expiresAt": soon})).await);
    let got = by_event(&receiver.wait_for(8).await);
    let expired = get_request(&server, &expiring).await;
    assert_eq!(expired["status"], "expired");
    let sent = got.get("request.expired").unwrap_or_else(|| panic!("no request.expired delivery: {:?}", got.keys()));
    assert_eq!(sent.len(), 1);
    assert_eq!(request_of(&sent[0], "request.expired", since), expired);

    // A request a policy decides at once announces its creation and the decision, all with the decided request.
    server
        .create_policy(json!({"name": "auto", "rules": [{"match": {"action": "auto"}, "decision": "auto_approve"}]}))
        .await;
    let auto = create_request(&server, "auto").await;
    let auto_now = get_request(&server, &auto).await;
    assert_eq!(auto_now["status"], "approved");
    let got = receiver.wait_for(11).await;
    let for_auto: Vec<&Received> = got.iter().filter(|r| r.json()["data"]["request"]["id"] == auto.as_str()).collect();
    let mut auto_events: Vec<&str> = for_auto.iter().map(|r| r.event()).collect();
    auto_events.sort_unstable();
    assert_eq!(auto_events, ["request.approved", "request.created", "request.decided"]);
    for r in for_auto {
        assert_eq!(request_of(r, r.event(), since), auto_now, "{}", r.event());
    }

    // Each body is the delivery's recorded payload, byte for byte.
    let all = wait_settled(&server, &hook.id, 11).await;
    let payloads: HashMap<&str, &str> =
        all.iter().map(|d| (d["id"].as_str().expect("id"), d["payload"].as_str().expect("payload"))).collect();
    for r in receiver.received() {
        assert_eq!(payloads.get(r.id()).copied(), Some(r.text()), "{}", r.id());
    }
    assert_eq!(receiver.count(), 11, "one request per event: {:?}", events(&receiver.received()));
}

#[tokio::test]
async fn a_webhook_gets_only_the_events_it_subscribes_to() {
    let since = now_ms();
    let server = TestServer::start_with(private_allowed).await;
    let everything = Receiver::start(Reply::Ok).await;
    let denials = Receiver::start(Reply::Ok).await;
    let all_hook = create_webhook(&server, &everything.url, &["*"]).await;
    let denied_hook = create_webhook(&server, &denials.url, &["request.denied"]).await;

    let approved = create_request(&server, "deploy").await;
    decide(&server, &approved, "approved").await;
    // Listing fans out whatever the worker has not yet, so the lists are complete once the call answered.
    assert_eq!(deliveries(&server, &denied_hook.id).await, Vec::<Value>::new());
    wait_settled(&server, &all_hook.id, 3).await;
    assert_eq!(denials.count(), 0, "an approval is not a denial");

    let denied = create_request(&server, "wipe").await;
    decide(&server, &denied, "denied").await;
    let got = denials.wait_for(1).await;
    assert_eq!(request_of(&got[0], "request.denied", since)["id"], denied.as_str());
    assert_eq!(wait_settled(&server, &denied_hook.id, 1).await[0]["event"], "request.denied");
    wait_settled(&server, &all_hook.id, 6).await;
    assert_eq!(denials.count(), 1, "{:?}", events(&denials.received()));

    // A change of subscription applies to the next event.
    let (status, body) =
        server.patch(&format!("/api/webhooks/{}", denied_hook.id), json!({"events": ["request.created"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let denied_again = create_request(&server, "wipe again").await;
    decide(&server, &denied_again, "denied").await;
    let got = denials.wait_for(2).await;
    assert_eq!(request_of(&got[1], "request.created", since)["id"], denied_again.as_str());
    wait_settled(&server, &all_hook.id, 9).await;
    assert_eq!(wait_settled(&server, &denied_hook.id, 2).await.len(), 2, "no request.denied any more");
    assert_eq!(denials.count(), 2);

    // `*` next to a named event still means one delivery per event.
    let both = Receiver::start(Reply::Ok).await;
    let (status, body) =
        server.post("/api/webhooks", json!({"url": both.url, "events": ["request.created", "*"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["events"], json!(["request.created", "*"]));
    create_request(&server, "once").await;
    let listed = wait_settled(&server, &id_of(&body), 1).await;
    assert_eq!(listed[0]["event"], "request.created");
    wait_settled(&server, &all_hook.id, 10).await;
    assert_eq!(both.count(), 1);
}

#[tokio::test]
async fn a_pending_retry_of_a_disabled_webhook_is_given_up_without_sending() {
    let server = TestServer::start_with(|c| {
        private_allowed(c);
        // A retry waits 5 to 7.5 s: long enough to disable the webhook in between, even on a busy machine.
        c.webhook_retry_base = Duration::from_millis(2500);
    })
    .await;
    let receiver = Receiver::start(Reply::FailTimes(1)).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    create_request(&server, "deploy").await;
    let id = receiver.wait_for(1).await[0].id().to_owned();
    wait_delivery(&server, &hook.id, &id, "pending after one attempt", |d| {
        d["status"] == "pending" && d["attempts"] == 1
    })
    .await;
    let (status, body) = server.patch(&format!("/api/webhooks/{}", hook.id), json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let done = wait_delivery(&server, &hook.id, &id, "finished", |d| d["status"] != "pending").await;
    assert_eq!((&done["status"], &done["attempts"]), (&json!("failed"), &json!(2)), "{done}");
    assert_eq!(done["attemptLog"][1]["error"], "Webhook disabled", "{done}");
    assert_eq!(receiver.count(), 1, "nothing is sent to a disabled webhook");
}

#[tokio::test]
async fn a_disabled_webhook_gets_nothing_for_new_events() {
    let server = TestServer::start_with(private_allowed).await;
    let control = Receiver::start(Reply::Ok).await;
    let disabled = Receiver::start(Reply::Ok).await;
    let control_hook = create_webhook(&server, &control.url, &["*"]).await;
    let hook = create_webhook(&server, &disabled.url, &["*"]).await;

    create_request(&server, "before").await;
    disabled.wait_for(1).await;
    wait_settled(&server, &hook.id, 1).await;
    let (status, body) = server.patch(&format!("/api/webhooks/{}", hook.id), json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let id = create_request(&server, "after").await;
    decide(&server, &id, "approved").await;
    wait_settled(&server, &control_hook.id, 4).await;
    assert_eq!(deliveries(&server, &hook.id).await.len(), 1, "no delivery is queued for a disabled webhook");
    assert_eq!(disabled.count(), 1, "{:?}", events(&disabled.received()));
    assert_eq!(control.count(), 4);
}

/// The fan-out happens after the event's transaction, yet each webhook hears exactly the events of its lifetime:
/// none from before it existed, none from while it was disabled, every one from while it was enabled.
#[tokio::test]
async fn a_webhook_hears_only_what_happens_while_it_exists_and_is_enabled() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let before = create_request(&server, "before the webhook").await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    let first = create_request(&server, "first").await;
    // Delivered before the webhook is disabled (a delivery still owed then would be given up, not sent).
    receiver.wait_for(1).await;
    let (status, body) = server.patch(&format!("/api/webhooks/{}", hook.id), json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let while_disabled = create_request(&server, "while disabled").await;
    let (status, body) = server.patch(&format!("/api/webhooks/{}", hook.id), json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = create_request(&server, "second").await;

    wait_settled(&server, &hook.id, 2).await;
    let heard: BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["data"]["request"]["id"].as_str().expect("request id").to_owned())
        .collect();
    assert_eq!(heard, BTreeSet::from([first, second]), "not {before} nor {while_disabled}");
}

/// Events the worker had not yet turned into deliveries when the gateway stopped are delivered after the start:
/// the outbox event, written with the request, is all the next start needs.
#[tokio::test]
async fn events_not_yet_fanned_out_at_a_stop_are_delivered_after_the_start() {
    let mut server = TestServer::start_with(|c| {
        private_allowed(c);
        // One attempt at a time, held by the receiver: the worker claims (and fans out) nothing more meanwhile.
        c.webhook_concurrency = 1;
        c.webhook_timeout = Duration::from_secs(3);
    })
    .await;
    let receiver = Receiver::start(Reply::Hang).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    let mut created = BTreeSet::from([create_request(&server, "first").await]);
    receiver.wait_for(1).await;
    for n in 0..5 {
        created.insert(create_request(&server, &format!("queued {n}")).await);
    }
    server.stop().await;
    let rows = server.db_rows("SELECT CAST(COUNT(*) AS TEXT) FROM webhook_deliveries", &[]).await;
    assert_eq!(rows, [["1"]], "only the first event was fanned out before the stop");

    receiver.set(Reply::Ok);
    let server = server.restart().await;
    let done = wait_settled(&server, &hook.id, 6).await;
    assert!(done.iter().all(|d| d["status"] == "success"), "{}", Value::Array(done.clone()));
    let heard: BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["data"]["request"]["id"].as_str().expect("request id").to_owned())
        .collect();
    assert_eq!(heard, created);
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Signatures

#[tokio::test]
async fn deliveries_are_signed_both_ways_and_verify_independently() {
    let server = TestServer::start_with(private_allowed).await;
    let generated = Receiver::start(Reply::Ok).await;
    let given = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&server, &generated.url, &["*"]).await;
    // A caller's secret that is not base64: Standard Webhooks receivers use it as a raw key.
    let raw_secret = "not-base64-but-long-enough-for-a-secret!";
    let (status, body) =
        server.post("/api/webhooks", json!({"url": given.url, "events": ["*"], "secret": raw_secret})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let raw_hook = id_of(&body);

    let id = create_request(&server, "deploy").await;
    decide(&server, &id, "approved").await;
    for (receiver, webhook, secret) in [(&generated, &hook.id, hook.secret.as_str()), (&given, &raw_hook, raw_secret)] {
        let got = receiver.wait_for(3).await;
        let listed = wait_settled(&server, webhook, 3).await;
        let listed_ids: BTreeSet<&str> = listed.iter().map(|d| d["id"].as_str().expect("id")).collect();
        let received_ids: BTreeSet<&str> = got.iter().map(Received::id).collect();
        assert_eq!(received_ids, listed_ids, "webhook-id is the delivery id");
        for r in &got {
            assert_signed(r, secret);
            let timestamp: i64 = r.header("webhook-timestamp").parse().expect("webhook-timestamp in seconds");
            let sent_at = r.json()["timestamp"].as_i64().expect("timestamp");
            assert!(timestamp >= sent_at / 1000, "the attempt is signed when it is made, after the event");
        }
    }

    // The verifiers are not vacuous: a changed byte, another secret or another id fails.
    let r = &generated.received()[0];
    let mut tampered = r.body.to_vec();
    tampered[2] ^= 1;
    assert!(verifier(&hook.secret).verify(&tampered, &r.headers).is_err());
    assert!(verifier(raw_secret).verify(&r.body, &r.headers).is_err());
    let mut other_id = r.headers.clone();
    other_id.insert("webhook-id", "whd_000000000000000000000000".parse().expect("header value"));
    assert!(verifier(&hook.secret).verify(&r.body, &other_id).is_err());
    let wrong = format!("sha256={}", hex::encode(hmac_sha256(raw_secret.as_bytes(), &r.body)));
    assert_ne!(r.header("x-agentgate-signature"), wrong);
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    name: String,
    secret: String,
    msg_id: String,
    timestamp: i64,
    payload: String,
    signature: String,
}

#[test]
fn the_published_standard_webhooks_vectors_are_reproduced() {
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/standard-webhooks-vectors.json")).expect("the fixture is JSON");
    let vectors: Vec<Vector> = serde_json::from_value(fixture["vectors"].clone()).expect("vectors");
    assert!(vectors.iter().any(|v| v.signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    for v in &vectors {
        let ours =
            agentgate::webhooks::signing::standard_signature(&v.secret, &v.msg_id, v.timestamp, v.payload.as_bytes());
        assert_eq!(ours, v.signature, "{}: the gateway's signature", v.name);
        let library = standardwebhooks::Webhook::new(&v.secret).expect("a whsec_ secret");
        let theirs = library.sign(&v.msg_id, v.timestamp, v.payload.as_bytes()).expect("signs");
        assert_eq!(theirs, v.signature, "{}: the standardwebhooks crate", v.name);
        // One byte of difference in any input is another signature.
        let other = agentgate::webhooks::signing::standard_signature(
            &v.secret,
            &v.msg_id,
            v.timestamp + 1,
            v.payload.as_bytes(),
        );
        assert_ne!(other, v.signature, "{}", v.name);
    }
    // A secret that is not base64 is a raw key, as the library's raw form takes it.
    let raw = "not-base64-but-long-enough-for-a-secret!";
    let library = standardwebhooks::Webhook::from_bytes(raw.as_bytes().to_vec()).expect("raw key");
    assert_eq!(
        agentgate::webhooks::signing::standard_signature(raw, "msg_1", 1_700_000_000, b"{}"),
        library.sign("msg_1", 1_700_000_000, b"{}").expect("signs")
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Retries

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_recovers() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::FailTimes(2)).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    create_request(&server, "deploy").await;

    let done = wait_settled(&server, &hook.id, 1).await.remove(0);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["attempts"], 3, "{done}");
    assert_eq!((&done["responseCode"], &done["responseBody"]), (&json!(200), &json!("ok")), "{done}");
    assert_eq!(done["nextAttemptAt"], Value::Null, "{done}");
    assert_eq!(codes(&done), [json!(500), json!(500), json!(200)], "{done}");
    assert_eq!(attempt_numbers(&done), [1, 2, 3], "{done}");
    let log = done["attemptLog"].as_array().expect("attemptLog");
    let times: Vec<i64> = log.iter().map(|a| a["attemptedAt"].as_i64().expect("attemptedAt")).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "attempts in order: {times:?}");
    assert_eq!(done["lastAttemptAt"], log[2]["attemptedAt"]);
    assert_eq!((&log[0]["responseBody"], &log[0]["error"]), (&json!("receiver error"), &Value::Null));

    // Three requests, one delivery: the same id every time, each attempt freshly signed.
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(r.id(), done["id"].as_str().expect("id"));
        assert_eq!(r.body, got[0].body, "every attempt sends the same bytes");
        assert_signed(r, &hook.secret);
    }
}

#[tokio::test]
async fn a_delivery_gives_up_after_the_maximum_retries() {
    let server = TestServer::start_with(|c| {
        private_allowed(c);
        c.webhook_max_retries = 2;
    })
    .await;
    let receiver = Receiver::start(Reply::AlwaysFail).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    create_request(&server, "first").await;
    let first = wait_settled(&server, &hook.id, 1).await.remove(0);
    assert_eq!(first["status"], "failed", "{first}");
    assert_eq!(first["attempts"], 3, "{first}");
    assert_eq!(codes(&first), [json!(500), json!(500), json!(500)], "{first}");
    assert_eq!(attempt_numbers(&first), [1, 2, 3]);
    assert_eq!((&first["responseCode"], &first["nextAttemptAt"]), (&json!(500), &Value::Null), "{first}");

    // A second delivery runs its whole course after the first gave up; then the receiver holds exactly three
    // requests of each, so the first was never tried a fourth time.
    create_request(&server, "second").await;
    let all = wait_settled(&server, &hook.id, 2).await;
    assert_eq!(all[0]["status"], "failed");
    assert_eq!(all[0]["attempts"], 3);
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in receiver.received() {
        *per_id.entry(r.id().to_owned()).or_default() += 1;
    }
    let expected: HashMap<String, usize> = all.iter().map(|d| (d["id"].as_str().expect("id").to_owned(), 3)).collect();
    assert_eq!(per_id, expected);
}

#[tokio::test]
async fn an_attempt_that_times_out_is_a_failure_without_a_status() {
    let server = TestServer::start_with(|c| {
        private_allowed(c);
        c.webhook_timeout = Duration::from_millis(500);
        c.webhook_max_retries = 1;
    })
    .await;
    let receiver = Receiver::start(Reply::Hang).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    create_request(&server, "deploy").await;
    let failed = wait_settled(&server, &hook.id, 1).await.remove(0);
    assert_eq!((&failed["status"], &failed["attempts"]), (&json!("failed"), &json!(2)), "{failed}");
    assert_eq!(codes(&failed), [Value::Null, Value::Null], "{failed}");
    for attempt in failed["attemptLog"].as_array().expect("attemptLog") {
        let error = attempt["error"].as_str().expect("an error");
        assert!(error.starts_with("timed out"), "{error}");
    }
    assert_eq!(receiver.count(), 2);
    receiver.release();
}

#[tokio::test]
async fn redirects_are_not_followed_and_responses_are_kept_to_a_kilobyte() {
    let server = TestServer::start_with(|c| {
        private_allowed(c);
        c.webhook_max_retries = 0;
    })
    .await;
    let target = Receiver::start(Reply::Ok).await;
    let redirecting = Receiver::start(Reply::RedirectTo(target.port)).await;
    let hook = create_webhook(&server, &redirecting.url, &["request.created"]).await;
    create_request(&server, "deploy").await;
    let failed = wait_settled(&server, &hook.id, 1).await.remove(0);
    assert_eq!((&failed["status"], &failed["responseCode"]), (&json!("failed"), &json!(307)), "{failed}");
    let (status, body) = server.post(&format!("/api/webhooks/{}/test", hook.id), json!({})).await;
    assert_eq!((status, &body["success"], &body["status"]), (StatusCode::OK, &json!(false), &json!(307)), "{body}");
    assert_eq!(redirecting.count(), 2);
    assert_eq!(target.count(), 0, "the redirect's target is never contacted");

    let big = Receiver::start(Reply::Big).await;
    let hook = create_webhook(&server, &big.url, &["request.created"]).await;
    create_request(&server, "deploy").await;
    let done = wait_settled(&server, &hook.id, 1).await.remove(0);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["responseBody"], "x".repeat(1024));
    assert_eq!(done["attemptLog"][0]["responseBody"], "x".repeat(1024));
}

// ---------------------------------------------------------------------------------------------------------------
// 5. The API never waits for a delivery

#[tokio::test]
async fn a_hanging_receiver_does_not_slow_the_api() {
    let server = TestServer::start_with(|c| {
        private_allowed(c);
        // Longer than this test may take, so the held attempts stay held until released.
        c.webhook_timeout = Duration::from_secs(60);
    })
    .await;
    let receiver = Receiver::start(Reply::Hang).await;
    let hook = create_webhook(&server, &receiver.url, &["*"]).await;

    create_request(&server, "first").await;
    receiver.wait_for(1).await;
    let first = deliveries(&server, &hook.id).await;
    assert_eq!((first.len(), &first[0]["status"]), (1, &json!("pending")), "the first delivery is in flight");

    // With the receiver held, the API still answers every call (a guard turns a hang into a clear failure).
    let calls = async {
        let mut ids = Vec::new();
        for n in 0..20 {
            ids.push(create_request(&server, &format!("while held {n}")).await);
        }
        decide(&server, &ids[0], "approved").await;
        ids
    };
    let ids = tokio::time::timeout(DEADLINE, calls).await.expect("the API answered while the receiver was held");
    assert_eq!(ids.len(), 20);
    // Nothing was released yet, so no delivery has finished.
    let pending = deliveries(&server, &hook.id).await;
    assert_eq!(pending.len(), 23, "1 + 20 created, approved, decided");
    assert!(pending.iter().all(|d| d["status"] == "pending"), "{}", Value::Array(pending));

    receiver.release();
    let done = wait_settled(&server, &hook.id, 23).await;
    assert!(done.iter().all(|d| d["status"] == "success"), "{}", Value::Array(done));
    let received: BTreeSet<String> = receiver.received().iter().map(|r| r.id().to_owned()).collect();
    assert_eq!(received.len(), 23);
}

// ---------------------------------------------------------------------------------------------------------------
// 6. Restarts

#[tokio::test]
async fn a_restart_mid_retry_loses_nothing() {
    let mut server = TestServer::start_with(|c| {
        private_allowed(c);
        // A retry waits 1 to 1.5 s: long enough to restart in between.
        c.webhook_retry_base = Duration::from_millis(500);
    })
    .await;
    let receiver = Receiver::start(Reply::FailTimes(1)).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    create_request(&server, "deploy").await;
    let id = receiver.wait_for(1).await[0].id().to_owned();
    let waiting = wait_delivery(&server, &hook.id, &id, "pending after one attempt", |d| {
        d["status"] == "pending" && d["attempts"] == 1
    })
    .await;
    assert!(waiting["nextAttemptAt"].is_i64(), "{waiting}");

    // Stopped while the retry is still owed, and nothing but the database carries it to the next start.
    server.stop().await;
    let (status, attempts) = stored_delivery(&server, &id).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1), "the delivery after the stop");
    let server = server.restart().await;
    let done = wait_delivery(&server, &hook.id, &id, "finished", |d| d["status"] != "pending").await;
    assert_eq!((&done["status"], &done["attempts"]), (&json!("success"), &json!(2)), "{done}");
    assert_eq!(codes(&done), [json!(500), json!(200)]);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.id() == id));
    assert_signed(&got[1], &hook.secret);
}

#[tokio::test]
async fn a_graceful_stop_during_a_hanging_attempt_leaves_the_delivery_for_the_next_start() {
    let mut server = TestServer::start_with(|c| {
        private_allowed(c);
        c.webhook_timeout = Duration::from_secs(1);
    })
    .await;
    let receiver = Receiver::start(Reply::Hang).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    create_request(&server, "deploy").await;
    let id = receiver.wait_for(1).await[0].id().to_owned();

    // The stop completes although the receiver never answers, and the delivery is still owed.
    server.stop().await;
    // The attempt ended at its timeout, within the stop's grace period, and was recorded as a failure to retry.
    let (status, attempts) = stored_delivery(&server, &id).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1), "the delivery after the stop");

    receiver.set(Reply::Ok);
    let server = server.restart().await;
    let done = wait_delivery(&server, &hook.id, &id, "finished", |d| d["status"] != "pending").await;
    assert_eq!((&done["status"], &done["attempts"]), (&json!("success"), &json!(2)), "{done}");
    assert_eq!(codes(&done), [Value::Null, json!(200)], "{done}");
    let error = done["attemptLog"][0]["error"].as_str().expect("the first attempt's error");
    assert!(error.starts_with("timed out"), "{error}");
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.id() == id), "{:?}", got.iter().map(Received::id).collect::<Vec<_>>());
    assert_signed(&got[1], &hook.secret);
}

// ---------------------------------------------------------------------------------------------------------------
// 7. Several workers

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_on_one_database_never_deliver_twice() {
    const REQUESTS: usize = 100;
    let first = TestServer::start_with(private_allowed).await;
    let second = TestServer::start_alongside(&first, |_| {}).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&first, &receiver.url, &["request.created"]).await;

    let servers = [&first, &second];
    let mut created = BTreeSet::new();
    for batch in 0..REQUESTS / 10 {
        let calls = (0..10).map(|n| create_request(servers[n % 2], "spread"));
        for id in futures::future::join_all(calls).await {
            created.insert(id);
        }
        assert_eq!(created.len(), (batch + 1) * 10);
    }

    let done = wait_settled(&second, &hook.id, REQUESTS).await;
    assert!(done.iter().all(|d| d["status"] == "success" && d["attempts"] == 1), "{}", Value::Array(done.clone()));
    let got = receiver.received();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for r in &got {
        *per_id.entry(r.id()).or_default() += 1;
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let listed: BTreeSet<&str> = done.iter().map(|d| d["id"].as_str().expect("id")).collect();
    assert_eq!(per_id.keys().copied().collect::<BTreeSet<_>>(), listed);
    let announced: BTreeSet<String> =
        got.iter().map(|r| r.json()["data"]["request"]["id"].as_str().expect("request id").to_owned()).collect();
    assert_eq!(announced, created, "every request.created arrived");
    assert!(got.iter().all(|r| r.event() == "request.created"));
}

/// Each gateway holds at most one delivery in flight, yet the held receiver sees two at once: both workers drain
/// the one queue, and still every delivery arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_both_work_the_queue() {
    let first = TestServer::start_with(|c| {
        private_allowed(c);
        c.webhook_concurrency = 1;
        c.webhook_timeout = Duration::from_secs(60);
    })
    .await;
    let second = TestServer::start_alongside(&first, |_| {}).await;
    let receiver = Receiver::start(Reply::Hang).await;
    let hook = create_webhook(&first, &receiver.url, &["request.created"]).await;
    for n in 0..4 {
        create_request(&first, &format!("queued {n}")).await;
    }
    let held = receiver.wait_for(2).await;
    assert_ne!(held[0].id(), held[1].id(), "two different deliveries in flight at once");

    receiver.release();
    let done = wait_settled(&second, &hook.id, 4).await;
    assert!(done.iter().all(|d| d["status"] == "success" && d["attempts"] == 1), "{}", Value::Array(done.clone()));
    let got: Vec<String> = receiver.received().iter().map(|r| r.id().to_owned()).collect();
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!((got.len(), distinct.len()), (4, 4), "{got:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// 8. Replays

#[tokio::test]
async fn a_finished_delivery_can_be_replayed() {
    let server = TestServer::start_with(|c| {
        private_allowed(c);
        c.webhook_max_retries = 0;
        c.webhook_timeout = Duration::from_secs(60);
    })
    .await;
    let receiver = Receiver::start(Reply::AlwaysFail).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    create_request(&server, "deploy").await;
    let failed = wait_settled(&server, &hook.id, 1).await.remove(0);
    assert_eq!((&failed["status"], &failed["attempts"]), (&json!("failed"), &json!(1)), "{failed}");
    let old = failed["id"].as_str().expect("id").to_owned();

    receiver.set(Reply::Ok);
    let (status, body) = server.post(&format!("/api/webhooks/deliveries/{old}/replay"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(keys(&body), ["delivery"]);
    let replay = &body["delivery"];
    let new = replay["id"].as_str().expect("id").to_owned();
    assert_ne!(new, old);
    assert_eq!(replay["replayOf"], old.as_str(), "{replay}");
    assert_eq!(replay["status"], "pending", "{replay}");
    assert_eq!((&replay["attempts"], &replay["attemptLog"]), (&json!(0), &json!([])), "{replay}");
    assert_eq!((&replay["webhookId"], &replay["event"]), (&json!(hook.id), &failed["event"]), "{replay}");
    assert_eq!(replay["payload"], failed["payload"]);

    let done = wait_delivery(&server, &hook.id, &new, "finished", |d| d["status"] != "pending").await;
    assert_eq!((&done["status"], &done["attempts"], &done["replayOf"]), (&json!("success"), &json!(1), &json!(old)));
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].id(), got[1].id()), (old.as_str(), new.as_str()));
    assert_eq!(got[1].body, got[0].body, "a replay sends the same body");
    assert_signed(&got[1], &hook.secret);
    // The original stays as it was; the list shows both.
    let all = deliveries(&server, &hook.id).await;
    assert_eq!(ids(&Value::Array(all.clone())), [new.clone(), old.clone()]);
    assert_eq!(all[1]["status"], "failed");
    assert!(all[1].get("replayOf").is_none(), "{}", all[1]);

    // A pending delivery is not replayed.
    receiver.set(Reply::Hang);
    create_request(&server, "held").await;
    let held = receiver.wait_for(3).await[2].id().to_owned();
    let (status, body) = server.post(&format!("/api/webhooks/deliveries/{held}/replay"), json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "Delivery is still pending");
    let (status, body) = server.post("/api/webhooks/deliveries/whd_000000000000000000000000/replay", json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Delivery not found");
    receiver.release();
    wait_settled(&server, &hook.id, 3).await;
}

// ---------------------------------------------------------------------------------------------------------------
// 9. The deliveries list

#[tokio::test]
async fn deliveries_are_listed_newest_first_with_pagination_and_a_status_filter() {
    let server = TestServer::start_with(|c| {
        private_allowed(c);
        c.webhook_max_retries = 0;
    })
    .await;
    let receiver = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    let mut requests = Vec::new();
    for n in 0..3 {
        requests.push(create_request(&server, &format!("ok {n}")).await);
    }
    wait_settled(&server, &hook.id, 3).await;
    receiver.set(Reply::AlwaysFail);
    for n in 0..2 {
        requests.push(create_request(&server, &format!("failing {n}")).await);
    }
    let all = wait_settled(&server, &hook.id, 5).await;

    // Newest first: the deliveries of the requests in reverse order.
    let announced: Vec<String> = all
        .iter()
        .map(|d| {
            let body: Value = serde_json::from_str(d["payload"].as_str().expect("payload")).expect("JSON payload");
            body["data"]["request"]["id"].as_str().expect("request id").to_owned()
        })
        .collect();
    requests.reverse();
    assert_eq!(announced, requests);
    let statuses: Vec<&str> = all.iter().map(|d| d["status"].as_str().expect("status")).collect();
    assert_eq!(statuses, ["failed", "failed", "success", "success", "success"]);
    for d in &all {
        let mut expected = vec![
            "attemptLog",
            "attempts",
            "createdAt",
            "event",
            "id",
            "lastAttemptAt",
            "nextAttemptAt",
            "payload",
            "responseBody",
            "responseCode",
            "status",
            "webhookId",
        ];
        expected.sort_unstable();
        assert_eq!(keys(d), expected, "{d}");
        assert_eq!(d["webhookId"], hook.id.as_str());
        assert_eq!(
            keys(&d["attemptLog"][0]),
            ["attempt", "attemptedAt", "durationMs", "error", "responseBody", "responseCode"]
        );
    }
    let all_ids = ids(&Value::Array(all));
    let base = format!("/api/webhooks/{}/deliveries", hook.id);
    assert_page(&server, &base, "deliveries", &all_ids, (5, 20, 0, false)).await;
    assert_page(&server, &format!("{base}?limit=2"), "deliveries", &all_ids[0..2], (5, 2, 0, true)).await;
    assert_page(&server, &format!("{base}?limit=2&offset=2"), "deliveries", &all_ids[2..4], (5, 2, 2, true)).await;
    assert_page(&server, &format!("{base}?limit=2&offset=4"), "deliveries", &all_ids[4..5], (5, 2, 4, false)).await;
    assert_page(&server, &format!("{base}?offset=9"), "deliveries", &[], (5, 20, 9, false)).await;
    assert_page(&server, &format!("{base}?limit=1000"), "deliveries", &all_ids, (5, 100, 0, false)).await;
    assert_page(&server, &format!("{base}?status=failed"), "deliveries", &all_ids[0..2], (2, 20, 0, false)).await;
    assert_page(
        &server,
        &format!("{base}?status=success&limit=1&offset=1"),
        "deliveries",
        &all_ids[3..4],
        (3, 1, 1, true),
    )
    .await;
    assert_page(&server, &format!("{base}?status=pending"), "deliveries", &[], (0, 20, 0, false)).await;
    // GET /api/webhooks/:id shows the same recent deliveries.
    let (_, shown) = server.get(&format!("/api/webhooks/{}", hook.id)).await;
    assert_eq!(ids(&shown["deliveries"]), all_ids);

    for (query, message) in [
        ("limit=0", "limit must be a positive integer"),
        ("limit=abc", "limit must be a positive integer"),
        ("limit=-1", "limit must be a positive integer"),
        ("offset=-1", "offset must be a non-negative integer"),
        ("status=bogus", "status must be one of: pending, success, failed"),
    ] {
        let (status, body) = server.get(&format!("{base}?{query}")).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, message);
    }
    let (status, body) = server.get("/api/webhooks/no-such-webhook/deliveries").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Webhook not found");
}

// ---------------------------------------------------------------------------------------------------------------
// 10. The test endpoint

#[tokio::test]
async fn the_test_endpoint_sends_a_signed_test_event_and_records_it() {
    let since = now_ms();
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&server, &receiver.url, &["request.denied"]).await;
    let path = format!("/api/webhooks/{}/test", hook.id);

    let (status, body) = server.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["deliveryId", "message", "status", "success"], "{body}");
    assert_eq!((&body["success"], &body["status"]), (&json!(true), &json!(200)), "{body}");
    assert_eq!(body["message"], "Test delivered successfully");
    let delivery = body["deliveryId"].as_str().expect("deliveryId").to_owned();

    // The receiver already has it: the endpoint answers after the attempt.
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let sent = &got[0];
    assert_eq!(sent.id(), delivery);
    assert_eq!(sent.event(), "test");
    assert_signed(sent, &hook.secret);
    let payload = sent.json();
    assert_eq!(keys(&payload), ["data", "event", "timestamp"]);
    assert_eq!(payload["event"], "test");
    assert_eq!(payload["data"], json!({"message": "This is a test webhook from AgentGate"}));
    let timestamp = payload["timestamp"].as_i64().expect("a millisecond timestamp");
    assert!((since..=now_ms()).contains(&timestamp), "{payload}");

    let listed = deliveries(&server, &hook.id).await;
    assert_eq!(listed.len(), 1);
    let d = &listed[0];
    assert_eq!(
        (&d["id"], &d["event"], &d["status"], &d["attempts"]),
        (&json!(delivery), &json!("test"), &json!("success"), &json!(1))
    );
    assert_eq!((&d["responseCode"], &d["payload"]), (&json!(200), &json!(sent.text())), "{d}");
    assert_eq!(codes(d), [json!(200)]);

    // A receiver answering 500: reported and recorded as failed, never retried.
    receiver.set(Reply::AlwaysFail);
    let (status, body) = server.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["success"], &body["status"], &body["message"]),
        (&json!(false), &json!(500), &json!("Delivery failed"))
    );
    let failed = body["deliveryId"].as_str().expect("deliveryId").to_owned();
    let listed = deliveries(&server, &hook.id).await;
    assert_eq!(ids(&Value::Array(listed.clone())), [failed.clone(), delivery]);
    assert_eq!((&listed[0]["status"], &listed[0]["responseBody"]), (&json!("failed"), &json!("receiver error")));
    assert_eq!(receiver.count(), 2);
    // A failed test delivery can be replayed like any other: the same body, a new id.
    receiver.set(Reply::Ok);
    let (status, body) = server.post(&format!("/api/webhooks/deliveries/{failed}/replay"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let replay = body["delivery"]["id"].as_str().expect("id").to_owned();
    let done = wait_delivery(&server, &hook.id, &replay, "finished", |d| d["status"] != "pending").await;
    assert_eq!(
        (&done["status"], &done["event"], &done["replayOf"]),
        (&json!("success"), &json!("test"), &json!(failed))
    );
    let got = receiver.wait_for(3).await;
    assert_eq!((got[2].id(), got[2].event()), (replay.as_str(), "test"));
    assert_eq!(got[2].body, got[1].body);
    assert_signed(&got[2], &hook.secret);

    // Nothing listening: no status, and the reason.
    let gone = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let closed = create_webhook(&server, &format!("http://127.0.0.1:{gone}/hook"), &["*"]).await;
    let (status, body) = server.post(&format!("/api/webhooks/{}/test", closed.id), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["success"], &body["status"]), (&json!(false), &Value::Null), "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(message.starts_with("Delivery failed: "), "{message}");
    let listed = deliveries(&server, &closed.id).await;
    assert_eq!(
        Some(message),
        listed[0]["attemptLog"][0]["error"].as_str().map(|e| format!("Delivery failed: {e}")).as_deref()
    );

    let (status, body) = server.post("/api/webhooks/no-such-webhook/test", json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Webhook not found");
}

// ---------------------------------------------------------------------------------------------------------------
// 11. SSRF

#[tokio::test]
async fn loopback_targets_are_refused_without_allow_private() {
    let receiver = Receiver::start(Reply::Ok).await;
    let port = receiver.port;
    let strict = TestServer::start().await;
    let private = "Invalid webhook URL: Private IP addresses are not allowed";
    for (url, message) in [
        (format!("http://127.0.0.1:{port}/hook"), private),
        (format!("http://[::1]:{port}/hook"), private),
        (format!("http://[::ffff:7f00:1]:{port}/hook"), private),
        (format!("http://[::ffff:127.0.0.1]:{port}/hook"), private),
        (format!("http://2130706433:{port}/hook"), private),
        (format!("http://0x7f.0.0.1:{port}/hook"), private),
        (format!("http://127.1:{port}/hook"), private),
        (format!("http://localhost:{port}/hook"), "Invalid webhook URL: Hostname is not allowed"),
        (format!("http://LOCALHOST.:{port}/hook"), "Invalid webhook URL: Hostname is not allowed"),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "Invalid webhook URL: Cloud metadata endpoints are not allowed",
        ),
    ] {
        let (status, body) = strict.post("/api/webhooks", json!({"url": url, "events": ["*"]})).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, message);
    }
    let (_, list) = strict.get("/api/webhooks").await;
    assert_eq!(list["webhooks"], json!([]));
    assert_eq!(receiver.count(), 0, "a refused URL is never contacted");
}

#[tokio::test]
async fn metadata_endpoints_are_refused_even_with_allow_private() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let metadata = "Invalid webhook URL: Cloud metadata endpoints are not allowed";
    for url in ["http://169.254.169.254/", "http://[::ffff:a9fe:a9fe]/", "http://169.254.170.2/v2/credentials"] {
        let (status, body) = server.post("/api/webhooks", json!({"url": url, "events": ["*"]})).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, metadata);
    }
    let (status, body) =
        server.post("/api/webhooks", json!({"url": "http://metadata.google.internal/", "events": ["*"]})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "Invalid webhook URL: Hostname is not allowed");
    // Loopback is allowed here, and a change to metadata is refused as well.
    let hook = create_webhook(&server, &receiver.url, &["*"]).await;
    let path = format!("/api/webhooks/{}", hook.id);
    let (status, body) = server.patch(&path, json!({"url": "http://169.254.169.254/"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, metadata);
    let (_, shown) = server.get(&path).await;
    assert_eq!(shown["url"], receiver.url.as_str());
}

#[tokio::test]
async fn every_attempt_is_checked_again() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&server, &receiver.url, &["*"]).await;

    // The same database, now without private targets: the stored URL is refused when it is used.
    let server = server.restart_with(|c| c.allow_private_webhooks = false).await;
    create_request(&server, "deploy").await;
    let failed = wait_settled(&server, &hook.id, 1).await.remove(0);
    assert_eq!((&failed["status"], &failed["attempts"]), (&json!("failed"), &json!(1)), "never retried: {failed}");
    assert_eq!(failed["responseCode"], Value::Null, "{failed}");
    let error = failed["attemptLog"][0]["error"].as_str().expect("an error");
    assert!(error.starts_with("SSRF protection:"), "{error}");
    assert_eq!(error, "SSRF protection: Private IP addresses are not allowed");

    let (status, body) = server.post(&format!("/api/webhooks/{}/test", hook.id), json!({})).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "Webhook URL no longer valid: Private IP addresses are not allowed",
    );
    let other = format!("http://127.0.0.1:{}/other", receiver.port);
    let (status, body) = server.patch(&format!("/api/webhooks/{}", hook.id), json!({"url": other})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "Invalid webhook URL: Private IP addresses are not allowed");
    // A replay is queued, and refused again at its attempt.
    let (status, body) = server
        .post(&format!("/api/webhooks/deliveries/{}/replay", failed["id"].as_str().expect("id")), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let replayed = wait_settled(&server, &hook.id, 2).await.remove(0);
    assert_eq!((&replayed["status"], &replayed["attempts"]), (&json!("failed"), &json!(1)), "{replayed}");
    assert_eq!(receiver.count(), 0, "nothing reached the receiver");
}

// ---------------------------------------------------------------------------------------------------------------
// 12. Secrets at rest

const ENCRYPTION_KEY: &str = "an encryption key for the integration tests";

#[track_caller]
fn assert_sealed(stored: &str, secret: &str) {
    assert!(stored.starts_with("enc:"), "stored as {stored}");
    let key = secret.strip_prefix("whsec_").unwrap_or(secret);
    assert!(!stored.contains(key) && !stored.contains(secret), "the stored form holds the secret: {stored}");
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_still_sign() {
    let server = TestServer::start_with(|c| {
        private_allowed(c);
        c.webhook_encryption_key = Some(ENCRYPTION_KEY.to_owned());
    })
    .await;
    let receiver = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    assert_sealed(&stored_secret(&server, &hook.id).await, &hook.secret);

    create_request(&server, "deploy").await;
    let got = receiver.wait_for(1).await;
    assert_signed(&got[0], &hook.secret);
    let (status, body) = server.post(&format!("/api/webhooks/{}/test", hook.id), json!({})).await;
    assert_eq!((status, &body["success"]), (StatusCode::OK, &json!(true)), "{body}");
    assert_signed(&receiver.wait_for(2).await[1], &hook.secret);
    let (_, shown) = server.get(&format!("/api/webhooks/{}", hook.id)).await;
    assert!(!shown.to_string().contains("enc:") && !shown.to_string().contains(&hook.secret), "{shown}");
}

#[tokio::test]
async fn plaintext_secrets_are_encrypted_by_a_start_with_a_key() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;
    assert_eq!(stored_secret(&server, &hook.id).await, hook.secret, "no key: stored as given");

    let server = server.restart_with(|c| c.webhook_encryption_key = Some(ENCRYPTION_KEY.to_owned())).await;
    assert_sealed(&stored_secret(&server, &hook.id).await, &hook.secret);
    create_request(&server, "deploy").await;
    let got = receiver.wait_for(1).await;
    assert_signed(&got[0], &hook.secret);
    assert_eq!(wait_settled(&server, &hook.id, 1).await[0]["status"], "success");
}

#[tokio::test]
async fn a_secret_that_cannot_be_opened_is_never_used_to_send() {
    let mut server = TestServer::start_with(|c| {
        private_allowed(c);
        c.webhook_encryption_key = Some(ENCRYPTION_KEY.to_owned());
    })
    .await;
    let receiver = Receiver::start(Reply::Ok).await;
    let hook = create_webhook(&server, &receiver.url, &["request.created"]).await;

    for (n, (key, reason)) in [
        (
            Some("another key entirely"),
            "the webhook secret cannot be decrypted (wrong WEBHOOK_ENCRYPTION_KEY, or a damaged value)",
        ),
        (None, "the webhook secret is encrypted and WEBHOOK_ENCRYPTION_KEY is not set"),
    ]
    .into_iter()
    .enumerate()
    {
        // The same database, with the wrong key or none.
        server = server.restart_with(|c| c.webhook_encryption_key = key.map(str::to_owned)).await;
        create_request(&server, "deploy").await;
        let failed = wait_settled(&server, &hook.id, n + 1).await.remove(0);
        assert_eq!((&failed["status"], &failed["attempts"]), (&json!("failed"), &json!(1)), "{failed}");
        assert_eq!(failed["attemptLog"][0]["error"], reason, "{failed}");
        let (status, body) = server.post(&format!("/api/webhooks/{}/test", hook.id), json!({})).await;
        assert_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        // The stored secret was left as it was.
        assert_sealed(&stored_secret(&server, &hook.id).await, &hook.secret);
    }
    assert_eq!(receiver.count(), 0, "nothing is sent without the real secret");

    // With the right key again, the same webhook signs as before.
    let server = server.restart_with(|c| c.webhook_encryption_key = Some(ENCRYPTION_KEY.to_owned())).await;
    let (status, body) = server.post(&format!("/api/webhooks/{}/test", hook.id), json!({})).await;
    assert_eq!((status, &body["success"]), (StatusCode::OK, &json!(true)), "{body}");
    assert_signed(&receiver.wait_for(1).await[0], &hook.secret);
}

/// Stored secrets are told apart from encrypted ones by an `enc:` prefix, so a caller's secret that starts with
/// `enc:` is refused at creation instead of leaving a webhook that can never deliver.
#[tokio::test]
async fn a_caller_secret_that_looks_encrypted_is_refused() {
    let server = TestServer::start_with(private_allowed).await;
    let receiver = Receiver::start(Reply::Ok).await;
    let secret = "enc:a-caller-chosen-secret-longer-than-32-chars";
    let (status, body) = server
        .post("/api/webhooks", json!({"url": receiver.url, "events": ["request.created"], "secret": secret}))
        .await;
    crate::support::assert_error(status, &body, StatusCode::BAD_REQUEST, "secret must not start with \"enc:\"");
}
