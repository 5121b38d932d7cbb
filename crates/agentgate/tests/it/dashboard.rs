//! The dashboard over plain HTTP, as a browser with JavaScript off would use it (sessions, CSRF, scopes, forms),
//! and in a real browser: `tests/e2e/dashboard.mjs` drives Debian's chromium with playwright-core against a
//! gateway started here (skipped with a note when chromium or the npm packages are missing; `.ci/run` installs
//! both).

use crate::support::TestServer;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// A browser without JavaScript: no redirects followed, one session cookie.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The body with HTML's quote escapes undone, to look for JSON as shown.
    fn unescaped(&self) -> String {
        self.body.replace("&#34;", "\"").replace("&quot;", "\"").replace("&#39;", "'")
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let marker = r#"name="_csrf" value=""#;
        let start = self.body.find(marker).map(|i| i + marker.len()).expect("a form with a CSRF token");
        self.body[start..].split('"').next().expect("token").to_owned()
    }
}

impl Browser {
    fn new(server: &TestServer) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { base: server.base_url.clone(), http, cookie: None }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(cookie) => req.header("cookie", format!("agentgate_session={cookie}")),
            None => req,
        };
        let res = req.send().await.expect("request sent");
        Page { status: res.status(), headers: res.headers().clone(), body: res.text().await.expect("body") }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    /// Posts a form as a same-origin page would (its `Origin`), unless `origin` says otherwise.
    async fn post_from(&self, path: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Page {
        let body = serde_urlencoded::to_string(fields).expect("form");
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let own = self.base.clone();
        req = req.header("origin", origin.unwrap_or(&own));
        self.send(req).await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_from(path, fields, None).await
    }

    /// Signs in with `key`, keeping the session cookie.
    async fn sign_in(&mut self, key: &str) -> Page {
        let page = self.post("/dashboard/sign-in", &[("key", key), ("next", "/dashboard")]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let cookie = set_cookie(&page).expect("a session cookie");
        self.cookie = Some(cookie.split(';').next().and_then(|c| c.split_once('=')).expect("name=value").1.to_owned());
        page
    }
}

fn set_cookie(page: &Page) -> Option<String> {
    page.headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn stored_session_hashes(server: &TestServer) -> Vec<String> {
    server
        .db_rows("SELECT id_hash FROM dashboard_sessions", &[])
        .await
        .into_iter()
        .map(|mut row| row.remove(0))
        .collect()
}

#[tokio::test]
async fn sign_in_gives_a_strict_http_only_cookie_and_the_key_stays_on_the_server() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);

    let refused = browser.post("/dashboard/sign-in", &[("key", "agk_wrong"), ("next", "/dashboard")]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("That API key is not valid."));
    assert!(set_cookie(&refused).is_none());

    let page = browser.sign_in(&server.admin_key).await;
    assert_eq!(page.location(), "/dashboard");
    let cookie = set_cookie(&page).expect("cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag, or the browser would drop it");
    assert!(!cookie.contains(&server.admin_key));
    // The database holds the session id's hash, never the id itself.
    let id = browser.cookie.clone().expect("session id");
    let hashes = stored_session_hashes(&server).await;
    assert_eq!(hashes, [hex::encode(Sha256::digest(id.as_bytes()))]);

    // Behind an HTTPS proxy the cookie is Secure.
    let https = browser
        .send(
            browser
                .http
                .post(format!("{}/dashboard/sign-in", browser.base))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("x-forwarded-proto", "https")
                .body(serde_urlencoded::to_string([("key", server.admin_key.as_str())]).expect("form")),
        )
        .await;
    assert!(set_cookie(&https).expect("cookie").contains("Secure"));

    let home = browser.get("/dashboard").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Admin (bootstrap)"));
    assert!(!home.body.contains(&server.admin_key), "the key never comes back to the browser");
}

#[tokio::test]
async fn pages_need_a_session_and_carry_a_strict_csp_while_the_api_is_unchanged() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);

    let root = browser.get("/").await;
    assert_eq!((root.status, root.location()), (StatusCode::SEE_OTHER, "/dashboard"));
    let page = browser.get("/dashboard/requests?status=pending").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/dashboard/sign-in?next=%2Fdashboard%2Frequests%3Fstatus%3Dpending");
    // A fragment asked for by htmx gets a full-page redirect instruction instead of the sign-in form.
    let fragment = browser
        .send(browser.http.get(format!("{}/dashboard/fragments/home", browser.base)).header("hx-request", "true"))
        .await;
    assert_eq!(fragment.status, StatusCode::UNAUTHORIZED);
    assert_eq!(fragment.headers["hx-redirect"], "/dashboard/sign-in?next=%2Fdashboard%2Ffragments%2Fhome");
    // `next` only ever points inside the dashboard.
    let sign_in = browser.get("/dashboard/sign-in?next=https://evil.example/").await;
    assert!(sign_in.body.contains(r#"name="next" value="/dashboard""#));

    browser.sign_in(&server.admin_key).await;
    for path in [
        "/dashboard",
        "/dashboard/requests",
        "/dashboard/audit",
        "/dashboard/policies",
        "/dashboard/keys",
        "/dashboard/webhooks",
        "/dashboard/sign-in",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.headers["content-security-policy"], CSP, "{path}");
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        assert_eq!(page.headers["x-frame-options"], "DENY", "{path}");
        assert!(!page.body.contains("<script>") && !page.body.contains(" style="), "{path}: no inline script or style");
    }

    // Assets: content-hashed URLs, cached for a year, revalidated by ETag.
    let home = browser.get("/dashboard").await;
    let css = home.body.split("href=\"/assets/app.css?v=").nth(1).and_then(|s| s.split('"').next()).expect("css url");
    let asset = browser.get(&format!("/assets/app.css?v={css}")).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(asset.headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(asset.headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(asset.headers["etag"], format!("\"{css}\""));
    let again = browser
        .send(
            browser.http.get(format!("{}/assets/app.css", browser.base)).header("if-none-match", format!("\"{css}\"")),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(browser.get("/assets/nope.js").await.status, StatusCode::NOT_FOUND);

    // The API keeps its own headers and answers.
    let (status, _) = server.get("/api/requests").await;
    assert_eq!(status, StatusCode::OK);
    let api = server.http.get(server.url("/api/requests")).bearer_auth(&server.admin_key).send().await.expect("api");
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'"
    );
    let unauthenticated = server.http.get(server.url("/api/requests")).send().await.expect("api");
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn form_posts_need_the_session_csrf_token_and_this_origin() {
    let server = TestServer::start().await;
    let created = server.create_request(json!({ "action": "deploy", "urgency": "high" })).await;
    let id = created["id"].as_str().expect("id");
    let mut browser = Browser::new(&server);
    browser.sign_in(&server.admin_key).await;
    let detail = browser.get(&format!("/dashboard/requests/{id}")).await;
    let csrf = detail.csrf();
    let path = format!("/dashboard/requests/{id}/decide");

    let missing = browser.post(&path, &[("decision", "approved")]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("This form has expired"));
    let wrong = browser.post(&path, &[("decision", "approved"), ("_csrf", "not-the-token")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let cross_site =
        browser.post_from(&path, &[("decision", "approved"), ("_csrf", &csrf)], Some("https://evil.example")).await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert!(cross_site.body.contains("sent from another site"));
    // Another session's token is no good either.
    let mut other = Browser::new(&server);
    other.sign_in(&server.admin_key).await;
    let foreign = other.get("/dashboard").await.csrf();
    assert_eq!(
        browser.post(&path, &[("decision", "approved"), ("_csrf", &foreign)]).await.status,
        StatusCode::FORBIDDEN
    );
    let (_, request) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(request["status"], "pending", "nothing refused was decided");

    // The token as a header (what htmx sends) works as well as the field.
    let ok = browser
        .send(
            browser
                .http
                .post(format!("{}{path}", browser.base))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("x-csrf-token", &csrf)
                .body("decision=approved"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    // Sign-in has no session yet; it is still refused from another site.
    let login =
        browser.post_from("/dashboard/sign-in", &[("key", &server.admin_key)], Some("https://evil.example")).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    // Behind a proxy that rewrites `Host`, the browser's own host comes in `X-Forwarded-Host`.
    let proxied = browser
        .send(
            browser
                .http
                .post(format!("{}/dashboard/sign-in", browser.base))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("origin", "https://agentgate.example")
                .header("x-forwarded-host", "agentgate.example")
                .body(serde_urlencoded::to_string([("key", server.admin_key.as_str())]).expect("form")),
        )
        .await;
    assert_eq!(proxied.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn with_javascript_off_a_plain_form_post_decides_as_the_signed_in_key() {
    let server = TestServer::start().await;
    let created = server
        .create_request(
            json!({ "action": "send_email", "params": { "to": "a@b.c" }, "context": { "agentId": "mailer" } }),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    let mut browser = Browser::new(&server);
    browser.sign_in(&server.admin_key).await;

    let detail = browser.get(&format!("/dashboard/requests/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    for expected in [
        format!(r#"<form method="post" action="/dashboard/requests/{id}/decide""#),
        r#"<textarea id="reason" name="reason""#.to_owned(),
        r#"name="decision" value="approved""#.to_owned(),
        r#"name="decision" value="denied""#.to_owned(),
        r#""to": "a@b.c""#.to_owned(),
        r#""agentId": "mailer""#.to_owned(),
    ] {
        assert!(detail.unescaped().contains(&expected), "{expected} in the page");
    }
    let csrf = detail.csrf();
    let decided = browser
        .post(
            &format!("/dashboard/requests/{id}/decide"),
            &[("_csrf", &csrf), ("decision", "denied"), ("reason", "Not now")],
        )
        .await;
    assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.body);
    assert_eq!(decided.location(), format!("/dashboard/requests/{id}?notice=decided"));

    let (_, request) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(request["status"], "denied");
    assert_eq!(request["decisionReason"], "Not now");
    assert_eq!(request["decidedBy"], server.admin_actor().await, "the decider is the signed-in key, as in the API");
    let (_, trail) = server.get(&format!("/api/requests/{id}/audit")).await;
    let denied = trail.as_array().expect("trail").iter().find(|e| e["eventType"] == "denied").expect("denied row");
    assert_eq!(denied["details"]["label"], "dashboard");

    let page = browser.get(&format!("/dashboard/requests/{id}?notice=decided")).await;
    assert!(page.body.contains("Decision recorded."));
    assert!(page.body.contains(r#"data-decide="approved" disabled"#), "a decided request's buttons are disabled");
    // Deciding again is refused like the API refuses it, with the reason on the page.
    let again =
        browser.post(&format!("/dashboard/requests/{id}/decide"), &[("_csrf", &csrf), ("decision", "approved")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("Request already denied"));
    // A rule that requires a reason: the form says so and refuses a decision without one.
    server
        .create_policy(json!({ "name": "reasons", "rules": [{ "match": { "action": "wire_money" }, "decision": "route_to_human", "requireReason": true }] }))
        .await;
    let strict = server.create_request(json!({ "action": "wire_money" })).await;
    let strict_id = strict["id"].as_str().expect("id");
    let form = browser.get(&format!("/dashboard/requests/{strict_id}")).await;
    assert!(form.body.contains("Reason (required)"));
    let refused = browser
        .post(&format!("/dashboard/requests/{strict_id}/decide"), &[("_csrf", &csrf), ("decision", "approved")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("A reason is required to decide this request"));
}

#[tokio::test]
async fn signing_out_ends_the_session_everywhere() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&server.admin_key).await;
    let csrf = browser.get("/dashboard").await.csrf();
    let out = browser.post("/dashboard/sign-out", &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/dashboard/sign-in?notice=signed-out");
    let cleared = set_cookie(&out).expect("a removal cookie");
    assert!(cleared.starts_with("agentgate_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie is worthless now, on this replica and any other sharing the database.
    let after = browser.get("/dashboard").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/dashboard/sign-in"));
    assert!(stored_session_hashes(&server).await.is_empty());
}

#[tokio::test]
async fn a_revoked_keys_session_stops_at_once() {
    let server = TestServer::start().await;
    let (key_id, key) = server.create_key_with_id("reviewer", &["request:read", "request:decide"]).await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&key).await;
    assert_eq!(browser.get("/dashboard/requests").await.status, StatusCode::OK);
    let (status, _) = server.delete(&format!("/api/keys/{key_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let after = browser.get("/dashboard/requests").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/dashboard/sign-in"));
    // The revoked key cannot open a new session either.
    let again = browser.post("/dashboard/sign-in", &[("key", &key)]).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn what_a_session_sees_and_may_do_follows_its_keys_scopes() {
    let server = TestServer::start().await;
    let created = server.create_request(json!({ "action": "deploy" })).await;
    let id = created["id"].as_str().expect("id");

    let reader_key = server.create_key("reader", &["request:read"]).await;
    let mut reader = Browser::new(&server);
    reader.sign_in(&reader_key).await;
    let home = reader.get("/dashboard").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains(r#"href="/dashboard/requests""#));
    for hidden in [r#"href="/dashboard/policies""#, r#"href="/dashboard/keys""#, r#"href="/dashboard/webhooks""#] {
        assert!(!home.body.contains(hidden), "{hidden} is not offered");
    }
    for path in ["/dashboard/policies", "/dashboard/keys", "/dashboard/keys/new", "/dashboard/webhooks"] {
        let page = reader.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.body.contains("Missing required scope"), "{path}");
    }
    let detail = reader.get(&format!("/dashboard/requests/{id}")).await;
    assert!(!detail.body.contains("data-decide="), "no decision buttons without request:decide");
    let csrf = detail.csrf();
    let decide =
        reader.post(&format!("/dashboard/requests/{id}/decide"), &[("_csrf", &csrf), ("decision", "approved")]).await;
    assert_eq!(decide.status, StatusCode::FORBIDDEN);
    assert!(decide.body.contains("Missing required scope: request:decide"));
    let revoke = reader.post("/dashboard/keys/whatever/revoke", &[("_csrf", &csrf)]).await;
    assert_eq!(revoke.status, StatusCode::FORBIDDEN);
    let (_, request) = server.get(&format!("/api/requests/{id}")).await;
    assert_eq!(request["status"], "pending");
    // The stream never ends: only its head is read.
    let cookie = format!("agentgate_session={}", reader.cookie.clone().expect("session"));
    let events = reader.http.get(format!("{}/dashboard/events", reader.base)).header("cookie", cookie).send().await;
    let events = events.expect("stream opened");
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.headers()[CONTENT_TYPE], "text/event-stream");
    drop(events);

    let hooks_key = server.create_key("hooks", &["webhook:manage"]).await;
    let mut hooks = Browser::new(&server);
    hooks.sign_in(&hooks_key).await;
    assert_eq!(hooks.get("/dashboard/webhooks").await.status, StatusCode::OK);
    assert_eq!(hooks.get("/dashboard/requests").await.status, StatusCode::FORBIDDEN);
    assert_eq!(hooks.get("/dashboard/audit").await.status, StatusCode::FORBIDDEN);
    let stream = hooks.get("/dashboard/events").await;
    assert_eq!(stream.status, StatusCode::FORBIDDEN);
    let home = hooks.get("/dashboard").await;
    assert!(home.body.contains("This API key cannot read requests"));
}

#[tokio::test]
async fn validation_errors_come_back_in_place_and_changes_go_through_the_api_paths() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&server.admin_key).await;
    let csrf = browser.get("/dashboard").await.csrf();

    let bad_policy = browser
        .post(
            "/dashboard/policies",
            &[
                ("_csrf", &csrf),
                ("name", "p"),
                ("priority", "1"),
                ("rules", r#"[{"match":{"action":"x"},"decision":"maybe"}]"#),
            ],
        )
        .await;
    assert_eq!(bad_policy.status, StatusCode::BAD_REQUEST);
    assert!(bad_policy.body.contains(r#"role="alert""#) && bad_policy.body.contains("decision"), "{}", bad_policy.body);
    assert!(bad_policy.unescaped().contains(r#""decision":"maybe""#), "what was typed is kept");
    let not_json = browser.post("/dashboard/policies", &[("_csrf", &csrf), ("name", "p"), ("rules", "[{")]).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert!(not_json.body.contains("rules is not valid JSON"));
    let good = browser
        .post(
            "/dashboard/policies",
            &[
                ("_csrf", &csrf),
                ("name", "auto"),
                ("priority", "5"),
                ("enabled", "true"),
                ("rules", r#"[{"match":{"action":"x"},"decision":"auto_approve"}]"#),
            ],
        )
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.body);
    let (_, policies) = server.get("/api/policies").await;
    assert_eq!(policies["policies"][0]["name"], "auto");

    let no_scopes = browser.post("/dashboard/keys", &[("_csrf", &csrf), ("name", "k")]).await;
    assert_eq!(no_scopes.status, StatusCode::BAD_REQUEST);
    assert!(no_scopes.body.contains("scopes must be a non-empty array"));
    let created = browser
        .post(
            "/dashboard/keys",
            &[
                ("_csrf", &csrf),
                ("name", "agent"),
                ("scopes", "request:create"),
                ("scopes", "request:read"),
                ("rateLimit", "60"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let secret = created
        .body
        .split(r#"data-testid="new-key">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("secret shown once");
    let (status, _) = server.call(reqwest::Method::GET, "/api/requests", Some(secret), None).await;
    assert_eq!(status, StatusCode::OK, "the new key works");
    let (_, keys) = server.get("/api/keys").await;
    let agent = keys["keys"].as_array().expect("keys").iter().find(|k| k["name"] == "agent").expect("agent").clone();
    assert_eq!(agent["scopes"], json!(["request:create", "request:read"]));
    assert_eq!(agent["rateLimit"], 60);

    let bad_hook = browser
        .post("/dashboard/webhooks", &[("_csrf", &csrf), ("url", "ftp://x"), ("events", "request.created")])
        .await;
    assert_eq!(bad_hook.status, StatusCode::BAD_REQUEST);
    assert!(bad_hook.body.contains("Invalid webhook URL"));

    // Every change is audited as the signed-in key, exactly as through the API.
    let (_, audit) = server.get("/api/audit?eventType=api_key.created").await;
    assert_eq!(audit["entries"][0]["actor"], server.admin_actor().await);
    let (_, audit) = server.get("/api/audit?eventType=policy.created").await;
    assert_eq!(audit["pagination"]["total"], 1);

    // Malformed input is a 4xx page, never a 500.
    let garbage = browser
        .send(
            browser
                .http
                .post(format!("{}/dashboard/policies", browser.base))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(vec![0xff, 0xfe, b'%', b'z']),
        )
        .await;
    assert!(garbage.status.is_client_error(), "{}", garbage.status);
    let bad_query = browser.get("/dashboard/requests?status=maybe").await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(browser.get("/dashboard/requests/nope").await.status, StatusCode::NOT_FOUND);
    let csv = browser.get("/dashboard/audit.csv?eventType=policy.created").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.starts_with("timestamp,event,actor,request_id,action,status,details\n"));
    assert_eq!(csv.body.lines().count(), 2);
}

/// The browser suite: `tests/e2e/dashboard.mjs` against this gateway (sign in, live updates, the keyboard-only
/// decision modal, deny with a reason, audit filters, keys, a webhook's test delivery, a policy error, an axe-core
/// scan of every page). Skipped with a note without chromium or the npm packages.
#[tokio::test]
async fn the_dashboard_in_a_real_browser() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !Path::new(&chromium).exists() || !e2e.join("node_modules/playwright-core").exists() {
        eprintln!(
            "note: skipping the browser tests: needs {chromium} and tests/e2e/node_modules (`.ci/run` installs both)"
        );
        return;
    }
    let server = TestServer::start_with(|c| c.allow_private_webhooks = true).await;
    let shots = std::env::var("SCREENSHOTS").unwrap_or_default();
    let base = server.base_url.clone();
    let key = server.admin_key.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("dashboard.mjs")
            .current_dir(&e2e)
            .env("BASE_URL", base)
            .env("ADMIN_KEY", key)
            .env("CHROMIUM", chromium)
            .env("SCREENSHOTS", shots)
            .output()
    })
    .await
    .expect("join")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser tests failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
}
