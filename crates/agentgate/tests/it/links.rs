//! One-click decision links: minting a token pair, the read-only confirmation page, deciding by form post, and
//! everything a link must refuse (unknown, used, decided elsewhere, expired request, missing reason).
//!
//! Token expiry over real time (a link older than `decision_token_expiry_hours`) is left to a unit test in src:
//! these tests cannot wait hours and do not write to the database behind the gateway's back. A zero lifetime,
//! set directly in the `Config`, still exercises the expired-link pages end to end.

use crate::support::{TestServer, assert_error};
use agentgate_core::Timestamp;
use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::task::JoinSet;

const FORM: &str = "application/x-www-form-urlencoded";

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("id").to_owned()
}

fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    i64::try_from(since_epoch.as_millis()).expect("millis fit in i64")
}

fn in_ms(ms: i64) -> String {
    Timestamp(now_ms() + ms).to_iso()
}

/// A minted pair: the two secrets and the whole response.
struct Links {
    approve: String,
    deny: String,
    body: Value,
}

/// Mints a token pair for `id` as admin, asserting success.
async fn mint(server: &TestServer, id: &str) -> Links {
    let (status, body) = server.post(&format!("/api/requests/{id}/tokens"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "minting tokens for {id}: {body}");
    let token = |which: &str| body["tokens"][which]["token"].as_str().expect("token string").to_owned();
    Links { approve: token("approve"), deny: token("deny"), body }
}

/// A decision page as the gateway served it.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Page {
    /// Asserts the status, an HTML content type and that the page contains `text`.
    #[track_caller]
    fn assert_shows(&self, status: StatusCode, text: &str) {
        assert_eq!(self.status, status, "expected {status} showing {text:?}, got page: {}", self.html);
        let content_type = self.headers.get("content-type").expect("content-type header").to_str().expect("ascii");
        assert!(content_type.starts_with("text/html"), "content-type {content_type:?}: {}", self.html);
        assert!(self.html.contains(text), "expected {text:?} in the page: {}", self.html);
    }
}

async fn read_page(res: reqwest::Response) -> Page {
    let status = res.status();
    let headers = res.headers().clone();
    let html = res.text().await.expect("page body");
    Page { status, headers, html }
}

/// `GET /api/decide/<token>` without credentials; every page carries the no-referrer and no-store headers.
async fn open_link(server: &TestServer, token: &str) -> Page {
    let res = server.http.get(server.url(&format!("/api/decide/{token}"))).send().await.expect("GET sent");
    let page = read_page(res).await;
    let header = |name: &str| page.headers.get(name).map(|v| v.to_str().expect("ascii").to_owned());
    assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"), "GET {token}: {}", page.html);
    assert_eq!(header("cache-control").as_deref(), Some("no-store"), "GET {token}: {}", page.html);
    page
}

/// `POST /api/decide/<token>` without credentials, with a form body (possibly empty).
async fn submit_link(server: &TestServer, token: &str, form: &str) -> Page {
    let res = server
        .http
        .post(server.url(&format!("/api/decide/{token}")))
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(form.to_owned())
        .send()
        .await
        .expect("POST sent");
    read_page(res).await
}

async fn request(server: &TestServer, id: &str) -> Value {
    let (status, body) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn trail(server: &TestServer, id: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/api/requests/{id}/audit")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("audit trail array").clone()
}

fn event_types(trail: &[Value]) -> Vec<&str> {
    trail.iter().map(|e| e["eventType"].as_str().expect("eventType")).collect()
}

fn is_token(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh 43-character base64url string (32 random bytes), shaped like a real token.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn minting_returns_a_pair_of_links_and_records_a_viewed_row() {
    let server = TestServer::start().await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let before = now_ms();
    let links = mint(&server, &id).await;
    let body = &links.body;

    assert_eq!(body["requestId"], id.as_str(), "{body}");
    assert!(is_token(&links.approve), "approve token {:?} is not 43 base64url characters", links.approve);
    assert!(is_token(&links.deny), "deny token {:?} is not 43 base64url characters", links.deny);
    assert_ne!(links.approve, links.deny);
    // The configured port (3000 by default) names the base, not the test listener's random port.
    assert_eq!(body["tokens"]["approve"]["url"], format!("http://localhost:3000/api/decide/{}", links.approve));
    assert_eq!(body["tokens"]["deny"]["url"], format!("http://localhost:3000/api/decide/{}", links.deny));
    assert_eq!(body["expiresInHours"], 24, "{body}");
    let expires = Timestamp::parse_iso(body["expiresAt"].as_str().expect("expiresAt string")).expect("ISO expiresAt");
    let hour = 3_600_000;
    assert!(
        (before + 23 * hour..=now_ms() + 25 * hour).contains(&expires.millis()),
        "expiresAt {} is not about 24 hours away",
        body["expiresAt"]
    );

    let trail = trail(&server, &id).await;
    assert_eq!(event_types(&trail), ["created", "viewed"], "{trail:?}");
    assert_eq!(trail[1]["details"]["event"], "tokens_generated", "{}", trail[1]);
    // The audit trail is readable with request:read alone, so it must never hold a usable secret.
    let row = trail[1].to_string();
    assert!(!row.contains(&links.approve) && !row.contains(&links.deny), "a raw token in the audit row: {row}");

    // A second pair is a different pair.
    let again = mint(&server, &id).await;
    assert!(again.approve != links.approve && again.deny != links.deny && again.approve != links.deny);
    assert_eq!(request(&server, &id).await["status"], "pending");
}

#[tokio::test]
async fn the_link_base_url_and_lifetime_come_from_the_config() {
    let server = TestServer::start_with(|c| {
        c.decision_link_base_url = Some("https://gate.example.com".to_owned());
        c.decision_token_expiry_hours = 2;
    })
    .await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let before = now_ms();
    let links = mint(&server, &id).await;
    let body = &links.body;
    assert_eq!(body["tokens"]["approve"]["url"], format!("https://gate.example.com/api/decide/{}", links.approve));
    assert_eq!(body["tokens"]["deny"]["url"], format!("https://gate.example.com/api/decide/{}", links.deny));
    assert_eq!(body["expiresInHours"], 2, "{body}");
    let expires = Timestamp::parse_iso(body["expiresAt"].as_str().expect("expiresAt string")).expect("ISO expiresAt");
    let hour = 3_600_000;
    assert!(
        (before + hour..=now_ms() + 3 * hour).contains(&expires.millis()),
        "expiresAt {} is not about 2 hours away",
        body["expiresAt"]
    );
    // The configured base only changes the printed url: the token works against this gateway.
    submit_link(&server, &links.approve, "").await.assert_shows(StatusCode::OK, "Request Approved");
}

#[tokio::test]
async fn minting_needs_request_decide_and_a_pending_request() {
    let server = TestServer::start().await;
    let pending = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let path = format!("/api/requests/{pending}/tokens");

    let (status, body) = server.send_raw(Method::POST, &path, None, None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "Missing Authorization header");
    for scopes in [&["request:read"][..], &["request:create", "request:read"][..]] {
        let key = server.create_key("not a decider", scopes).await;
        let (status, body) = server.call(Method::POST, &path, Some(&key), Some(&json!({}))).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "Missing required scope: request:decide");
    }
    assert_eq!(event_types(&trail(&server, &pending).await), ["created"], "refused mints leave no trace");

    // request:decide is enough; an empty body (no content type) is accepted as well as `{}`.
    let decider = server.create_key("decider", &["request:decide"]).await;
    let (status, body) = server.send_raw(Method::POST, &path, Some(&format!("Bearer {decider}")), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requestId"], pending.as_str());
    let (status, body) = server.call(Method::POST, &path, Some(&decider), Some(&json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = server.post("/api/requests/no-such-request/tokens", json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "Request not found");

    server
        .create_policy(json!({"name": "auto", "rules": [{"match": {"action": "read"}, "decision": "auto_approve"}]}))
        .await;
    let approved = id_of(&server.create_request(json!({"action": "read"})).await);
    let (status, body) = server.post(&format!("/api/requests/{approved}/tokens"), json!({})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "Request is not pending (current status: approved)");

    let denied = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let (status, _) = server.post(&format!("/api/requests/{denied}/decide"), json!({"decision": "denied"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.post(&format!("/api/requests/{denied}/tokens"), json!({})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "Request is not pending (current status: denied)");
    assert_eq!(event_types(&trail(&server, &denied).await), ["created", "denied"]);
}

#[tokio::test]
async fn the_page_shows_the_request_escaped_and_changes_nothing() {
    let server = TestServer::start().await;
    let id = id_of(
        &server
            .create_request(json!({
                "action": "transfer-funds",
                "urgency": "high",
                "params": {"note": "<script>alert(1)</script>", "amount": 1500},
            }))
            .await,
    );
    let links = mint(&server, &id).await;

    for (token, button) in [(&links.approve, "Approve"), (&links.deny, "Deny")] {
        let page = open_link(&server, token).await;
        page.assert_shows(StatusCode::OK, "transfer-funds");
        for text in ["high", "note", "1500", "&lt;script&gt;", "<form method=\"post\"", button, "name=\"reason\""] {
            assert!(page.html.contains(text), "expected {text:?} in the {button} page: {}", page.html);
        }
        assert!(!page.html.contains("<script>alert(1)"), "the param reached the page unescaped: {}", page.html);
        assert!(page.html.contains("<textarea"), "a reason textarea: {}", page.html);
        assert!(page.html.contains("type=\"submit\""), "a submit button: {}", page.html);
    }

    let after = request(&server, &id).await;
    assert_eq!(after["status"], "pending", "{after}");
    assert_eq!(after["decidedBy"], Value::Null, "{after}");
    assert_eq!(event_types(&trail(&server, &id).await), ["created", "viewed"]);
}

#[tokio::test]
async fn a_mail_scanner_opening_both_links_decides_nothing() {
    let server = TestServer::start().await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let links = mint(&server, &id).await;
    for _ in 0..5 {
        open_link(&server, &links.approve).await.assert_shows(StatusCode::OK, "Approve");
        open_link(&server, &links.deny).await.assert_shows(StatusCode::OK, "Deny");
    }
    assert_eq!(request(&server, &id).await["status"], "pending");
    let trail = trail(&server, &id).await;
    assert_eq!(event_types(&trail), ["created", "viewed"], "{trail:?}");
    assert_eq!(trail[1]["details"]["event"], "tokens_generated");

    // The prefetches spent nothing: the human's click still works.
    submit_link(&server, &links.deny, "").await.assert_shows(StatusCode::OK, "Request Denied");
    assert_eq!(request(&server, &id).await["status"], "denied");
}

#[tokio::test]
async fn approving_by_link_decides_once_and_spends_both_tokens() {
    let server = TestServer::start().await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let links = mint(&server, &id).await;

    submit_link(&server, &links.approve, "").await.assert_shows(StatusCode::OK, "Request Approved");

    let decided = request(&server, &id).await;
    assert_eq!(decided["status"], "approved", "{decided}");
    let decided_by = decided["decidedBy"].as_str().expect("decidedBy string");
    assert!(decided_by.starts_with("link:"), "decidedBy {decided_by:?}");
    assert!(!decided_by.contains(&links.approve), "decidedBy names the token id, not the secret: {decided_by}");
    assert!(decided["decidedAt"].is_string(), "{decided}");

    let rows = trail(&server, &id).await;
    assert_eq!(event_types(&rows), ["created", "viewed", "approved"], "{rows:?}");
    let row = &rows[2];
    assert!(row["actor"].as_str().expect("actor").starts_with("link:"), "{row}");
    assert_eq!(row["details"]["method"], "link", "{row}");
    assert!(!row.to_string().contains(&links.approve), "a raw token in the audit row: {row}");

    for token in [&links.approve, &links.deny] {
        open_link(&server, token).await.assert_shows(StatusCode::BAD_REQUEST, "Already Used");
        submit_link(&server, token, "").await.assert_shows(StatusCode::BAD_REQUEST, "Already Used");
    }
    assert_eq!(request(&server, &id).await["status"], "approved", "the deny link changed nothing");
    assert_eq!(event_types(&trail(&server, &id).await), ["created", "viewed", "approved"]);
}

#[tokio::test]
async fn denying_by_link_records_the_reason() {
    let server = TestServer::start().await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let links = mint(&server, &id).await;

    submit_link(&server, &links.deny, "reason=too%20risky%20%26%20late")
        .await
        .assert_shows(StatusCode::OK, "Request Denied");
    let decided = request(&server, &id).await;
    assert_eq!(decided["status"], "denied", "{decided}");
    assert_eq!(decided["decisionReason"], "too risky & late", "{decided}");
    assert!(decided["decidedBy"].as_str().expect("decidedBy").starts_with("link:"), "{decided}");

    let trail = trail(&server, &id).await;
    assert_eq!(event_types(&trail), ["created", "viewed", "denied"], "{trail:?}");
    assert!(trail[2]["actor"].as_str().expect("actor").starts_with("link:"), "{}", trail[2]);
    assert_eq!(trail[2]["details"]["method"], "link", "{}", trail[2]);

    submit_link(&server, &links.approve, "").await.assert_shows(StatusCode::BAD_REQUEST, "Already Used");
    assert_eq!(request(&server, &id).await["status"], "denied");
}

#[tokio::test]
async fn a_request_decided_elsewhere_refuses_its_links_without_spending_them() {
    let server = TestServer::start().await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let links = mint(&server, &id).await;
    let (status, body) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "denied"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    open_link(&server, &links.approve).await.assert_shows(StatusCode::CONFLICT, "Already Decided");
    submit_link(&server, &links.approve, "").await.assert_shows(StatusCode::CONFLICT, "Already Decided");
    submit_link(&server, &links.deny, "reason=late").await.assert_shows(StatusCode::CONFLICT, "Already Decided");
    // The failed attempts did not consume the tokens.
    open_link(&server, &links.approve).await.assert_shows(StatusCode::CONFLICT, "Already Decided");
    open_link(&server, &links.deny).await.assert_shows(StatusCode::CONFLICT, "Already Decided");

    let after = request(&server, &id).await;
    assert_eq!(after["status"], "denied", "{after}");
    assert!(!after["decidedBy"].as_str().expect("decidedBy").starts_with("link:"), "{after}");
    assert_eq!(after["decisionReason"], Value::Null, "the link's reason was not recorded: {after}");
    assert_eq!(event_types(&trail(&server, &id).await), ["created", "viewed", "denied"]);
}

#[tokio::test]
async fn a_link_to_an_expired_request_decides_nothing() {
    let server = TestServer::start().await;
    // Far enough ahead that a busy machine still creates the request and mints its links before it expires.
    let id = id_of(&server.create_request(json!({"action": "deploy", "expiresAt": in_ms(3000)})).await);
    let links = mint(&server, &id).await;
    // Let the request expire (the wait returns as soon as the sweeper marks it).
    let (status, body) = server.get(&format!("/api/requests/{id}/wait?timeout=30")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "expired", "{body}");

    let page = open_link(&server, &links.approve).await;
    assert_ne!(page.status, StatusCode::OK, "GET on an expired request's link: {}", page.html);
    let page = submit_link(&server, &links.approve, "").await;
    assert_ne!(page.status, StatusCode::OK, "POST on an expired request's link: {}", page.html);
    assert!(!page.html.contains("Request Approved"), "{}", page.html);
    let page = submit_link(&server, &links.deny, "").await;
    assert_ne!(page.status, StatusCode::OK, "POST on an expired request's deny link: {}", page.html);

    let after = request(&server, &id).await;
    assert_eq!(after["status"], "expired", "{after}");
    assert_eq!(after["decidedBy"], Value::Null, "{after}");
    assert_eq!(event_types(&trail(&server, &id).await), ["created", "viewed", "expired"]);
}

#[tokio::test]
async fn a_required_reason_is_required_by_links_too() {
    let server = TestServer::start().await;
    server
        .create_policy(json!({
            "name": "payments need a reason",
            "rules": [{"match": {"action": "pay"}, "decision": "route_to_human", "requireReason": true}],
        }))
        .await;
    let id = id_of(&server.create_request(json!({"action": "pay", "params": {"amount": 90}})).await);
    let links = mint(&server, &id).await;

    for form in ["", "reason=", "reason=%20%20"] {
        let page = submit_link(&server, &links.approve, form).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "form {form:?}: {}", page.html);
        assert!(page.html.contains("reason"), "form {form:?}: the page should ask for a reason: {}", page.html);
        assert_eq!(request(&server, &id).await["status"], "pending", "form {form:?}");
    }
    assert_eq!(event_types(&trail(&server, &id).await), ["created", "viewed"]);

    // The refused attempts did not spend the token.
    submit_link(&server, &links.approve, "reason=checked").await.assert_shows(StatusCode::OK, "Request Approved");
    let decided = request(&server, &id).await;
    assert_eq!(decided["status"], "approved", "{decided}");
    assert_eq!(decided["decisionReason"], "checked", "{decided}");
}

#[tokio::test]
async fn guessed_tokens_are_invalid_and_change_nothing() {
    let server = TestServer::start().await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let links = mint(&server, &id).await;

    let mut guesses: Vec<String> = (0..50).map(|_| random_token()).collect();
    // Near misses of the real tokens, and things that are not token-shaped at all.
    for real in [&links.approve, &links.deny] {
        let first = if real.starts_with('A') { 'B' } else { 'A' };
        guesses.push(format!("{first}{}", &real[1..]));
        guesses.push(real[..42].to_owned());
        guesses.push(format!("{real}A"));
    }
    guesses.extend(["abc".to_owned(), "x".repeat(500)]);
    for guess in &guesses {
        assert_ne!(guess, &links.approve);
        assert_ne!(guess, &links.deny);
        open_link(&server, guess).await.assert_shows(StatusCode::NOT_FOUND, "Invalid Token");
        submit_link(&server, guess, "").await.assert_shows(StatusCode::NOT_FOUND, "Invalid Token");
        submit_link(&server, guess, "reason=guess").await.assert_shows(StatusCode::NOT_FOUND, "Invalid Token");
    }

    assert_eq!(request(&server, &id).await["status"], "pending");
    assert_eq!(event_types(&trail(&server, &id).await), ["created", "viewed"]);
    assert_eq!(server.total("/api/requests?status=pending").await, 1);
    // The real links still work.
    open_link(&server, &links.approve).await.assert_shows(StatusCode::OK, "Approve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_approve_and_deny_links_have_exactly_one_winner() {
    let server = TestServer::start().await;
    for round in 0..10 {
        let id = id_of(&server.create_request(json!({"action": format!("race-{round}")})).await);
        let links = mint(&server, &id).await;
        let mut clicks = JoinSet::new();
        for (verdict, token) in [("approved", links.approve.clone()), ("denied", links.deny.clone())] {
            let (http, url) = (server.http.clone(), server.url(&format!("/api/decide/{token}")));
            clicks.spawn(async move {
                let res =
                    http.post(url).header(reqwest::header::CONTENT_TYPE, FORM).body("").send().await.expect("sent");
                (verdict, res.status(), res.text().await.expect("page"))
            });
        }
        let results = clicks.join_all().await;
        let winners: Vec<_> = results.iter().filter(|(_, status, _)| *status == StatusCode::OK).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let loser = results.iter().find(|(_, status, _)| *status != StatusCode::OK).expect("a loser");
        assert!(loser.1.is_client_error(), "round {round}: the loser is refused, not an error: {loser:?}");

        let decided = request(&server, &id).await;
        assert_eq!(decided["status"], winners[0].0, "round {round}: {decided}");
        let outcomes: Vec<_> = event_types(&trail(&server, &id).await).into_iter().skip(2).map(str::to_owned).collect();
        assert_eq!(outcomes, [winners[0].0], "round {round}: one decision row");
    }
}

/// Not spelled out by the contract, but a link decision is a decision: it must wake long-poll waiters the way
/// `POST /api/requests/:id/decide` does.
#[tokio::test]
async fn a_link_decision_wakes_waiters() {
    let server = TestServer::start().await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let links = mint(&server, &id).await;
    let waiter = {
        let (http, url, key) =
            (server.http.clone(), server.url(&format!("/api/requests/{id}/wait?timeout=20")), server.admin_key.clone());
        tokio::spawn(async move { http.get(url).bearer_auth(key).send().await.expect("sent").json::<Value>().await })
    };
    // Give the waiter a moment to register; a waiter that was never woken returns "pending" at its timeout.
    tokio::time::sleep(Duration::from_millis(100)).await;
    submit_link(&server, &links.approve, "").await.assert_shows(StatusCode::OK, "Request Approved");
    let woken = waiter.await.expect("joined").expect("json");
    assert_eq!(woken["status"], "approved", "{woken}");
}

/// `decision_token_expiry_hours = 0` (not accepted from the environment, which asks for 1 to 8760, but settable
/// in the `Config`) mints links that are already expired: both pages say so and nothing is decided.
#[tokio::test]
async fn an_expired_link_is_refused_and_decides_nothing() {
    let server = TestServer::start_with(|c| c.decision_token_expiry_hours = 0).await;
    let id = id_of(&server.create_request(json!({"action": "deploy"})).await);
    let links = mint(&server, &id).await;
    assert_eq!(links.body["expiresInHours"], 0, "{}", links.body);
    for token in [&links.approve, &links.deny] {
        open_link(&server, token).await.assert_shows(StatusCode::BAD_REQUEST, "Link Expired");
        submit_link(&server, token, "").await.assert_shows(StatusCode::BAD_REQUEST, "Link Expired");
        submit_link(&server, token, "reason=late").await.assert_shows(StatusCode::BAD_REQUEST, "Link Expired");
    }
    let after = request(&server, &id).await;
    assert_eq!(after["status"], "pending", "{after}");
    assert_eq!(after["decisionReason"], Value::Null, "{after}");
    assert_eq!(event_types(&trail(&server, &id).await), ["created", "viewed"]);
    // The refusals left the request decidable.
    let (status, body) = server.post(&format!("/api/requests/{id}/decide"), json!({"decision": "approved"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A path segment that is not even UTF-8 is still just an unknown token: the HTML page, not a JSON error.
#[tokio::test]
async fn a_mangled_link_gets_the_invalid_token_page() {
    let server = TestServer::start().await;
    for mangled in ["%FF%FE", "%C3%28abc", "abc%00def"] {
        open_link(&server, mangled).await.assert_shows(StatusCode::NOT_FOUND, "Invalid Token");
        submit_link(&server, mangled, "").await.assert_shows(StatusCode::NOT_FOUND, "Invalid Token");
    }
}
