//! PostgreSQL: the whole suite a second time on PostgreSQL, and what only several replicas can show.

use crate::process::Gateway;
use crate::support::{BACKEND_VARIABLE, TestDatabase, postgres_url};
use reqwest::StatusCode;
use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Runs every other test of this binary again with each gateway on a PostgreSQL database of its own.
#[tokio::test]
async fn every_test_on_postgres() {
    if std::env::var(BACKEND_VARIABLE).is_ok() {
        return; // this is the second pass itself
    }
    let Some(_) = postgres_url() else {
        eprintln!("note: AGENTGATE_TEST_DATABASE_URL is not set; the suite ran on SQLite only");
        return;
    };
    let binary = std::env::current_exe().expect("the test binary");
    // Test names to run come from our own arguments (a filter given to `cargo test` applies to both passes).
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let output = tokio::process::Command::new(binary)
        .args(&filters)
        // Tests that start gateway processes of their own on SQLite gain nothing from a second pass.
        .args(["--skip", "every_test_on_postgres", "--skip", "process::", "--skip", "sdk_", "--test-threads", "2"])
        .env(BACKEND_VARIABLE, "postgres")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run the suite on PostgreSQL");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the suite failed on PostgreSQL:\n{stdout}\n{stderr}");
    let summary = stdout.lines().rev().find(|l| l.starts_with("test result:")).unwrap_or("(no summary)");
    eprintln!("on PostgreSQL: {summary}");
}

/// Counts webhook deliveries by their `webhook-id` header (stable across retries, unique per event and webhook).
#[derive(Clone, Default)]
struct Deliveries(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Deliveries {
    async fn serve(self) -> String {
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(seen): axum::extract::State<Self>, headers: axum::http::HeaderMap| async move {
                    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    seen.0.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                    "ok"
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app.with_state(self)).await });
        url
    }

    fn ids(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

const REPLICA_ADMIN: &str = "replica-admin-secret-0123456789";

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let mut request = http.request(method, url).bearer_auth(key).timeout(Duration::from_secs(60));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// Polls `check` every 20 ms until it holds, failing the test after `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Three `agentgate serve` processes on one PostgreSQL database and one Redis: whatever replica a call reaches,
/// it sees the same gateway.
#[tokio::test]
async fn three_replicas_share_one_database_and_one_redis() {
    let (Some(admin_url), Ok(redis_url)) = (postgres_url(), std::env::var("AGENTGATE_TEST_REDIS_URL")) else {
        eprintln!("note: AGENTGATE_TEST_DATABASE_URL and AGENTGATE_TEST_REDIS_URL are needed; skipped");
        return;
    };
    if std::env::var(BACKEND_VARIABLE).is_ok() {
        return; // runs once, in the first pass
    }
    // reqwest is built without a default TLS provider (the gateway picks ring); no gateway runs in this process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database = TestDatabase::create(&admin_url).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = format!("agentgate-replicas-{}:", agentgate::app::new_id());
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("ADMIN_API_KEY", REPLICA_ADMIN),
        ("AGENTGATE_ALLOW_PRIVATE_WEBHOOKS", "true"),
        ("LOG_LEVEL", "warn"),
    ];
    // Started together: the migrations run once (sqlx's migration lock), whoever gets there first.
    let mut replicas: Vec<Gateway> = (0..3).map(|_| Gateway::spawn(dir.path(), &env)).collect();
    for replica in &mut replicas {
        replica.wait_healthy().await;
    }
    let [a, b, c] = [&replicas[0], &replicas[1], &replicas[2]];
    let http = reqwest::Client::new();
    use reqwest::Method;

    // A webhook made on A; the request created on A, waited for on B, decided on C.
    let deliveries = Deliveries::default();
    let hook_url = deliveries.clone().serve().await;
    let (status, hook) = call(
        &http,
        Method::POST,
        a.url("/api/webhooks"),
        REPLICA_ADMIN,
        Some(json!({"url": hook_url, "events": ["request.created", "request.decided"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let (status, created) =
        call(&http, Method::POST, a.url("/api/requests"), REPLICA_ADMIN, Some(json!({"action": "deploy"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let waiter = {
        let (http, url) = (http.clone(), b.url(&format!("/api/requests/{id}/wait?timeout=30")));
        tokio::spawn(async move { call(&http, Method::GET, url, REPLICA_ADMIN, None).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await; // let the wait reach B before the decision
    let (status, decided) = call(
        &http,
        Method::POST,
        c.url(&format!("/api/requests/{id}/decide")),
        REPLICA_ADMIN,
        Some(json!({"decision": "approved"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let (status, waited) = waiter.await.expect("the waiter");
    assert_eq!(status, StatusCode::OK, "{waited}");
    assert_eq!(waited["status"], "approved", "B's waiter learned of C's decision: {waited}");

    // Each event reaches the webhook once, although three workers poll the same queue.
    eventually("both deliveries", Duration::from_secs(15), || {
        let deliveries = deliveries.clone();
        async move { deliveries.ids().len() >= 2 }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // time for a duplicate to show up, if any would
    let ids = deliveries.ids();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (2, 2), "each event delivered exactly once: {ids:?}");

    // A policy made on A governs requests created on B at once (B's rules cache is dropped by NOTIFY).
    let (status, body) =
        call(&http, Method::POST, b.url("/api/requests"), REPLICA_ADMIN, Some(json!({"action": "rm -rf"}))).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::CREATED, Some("pending")), "{body}");
    let policy = json!({"name": "no rm", "rules": [{"match": {"action": "rm -rf"}, "decision": "auto_deny"}]});
    let (status, body) = call(&http, Method::POST, a.url("/api/policies"), REPLICA_ADMIN, Some(policy)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    eventually("B applies A's new policy", Duration::from_secs(5), || {
        let (http, url) = (http.clone(), b.url("/api/requests"));
        async move {
            let (_, body) = call(&http, Method::POST, url, REPLICA_ADMIN, Some(json!({"action": "rm -rf"}))).await;
            body["status"] == "denied"
        }
    })
    .await;

    // A key revoked on C stops working on B, which had it cached.
    let (status, key) = call(
        &http,
        Method::POST,
        a.url("/api/api-keys"),
        REPLICA_ADMIN,
        Some(json!({"name": "agent", "scopes": ["request:read"], "rateLimit": 4})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let (secret, key_id) = (key["key"].as_str().expect("secret").to_owned(), key["id"].as_str().expect("id"));

    // Its limit of 4 a minute is one budget across replicas (Redis): two calls on A, two on B, the fifth on C fails.
    for replica in [a, a, b, b] {
        let (status, body) = call(&http, Method::GET, replica.url("/api/requests"), &secret, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = call(&http, Method::GET, c.url("/api/requests"), &secret, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    let (status, body) =
        call(&http, Method::DELETE, c.url(&format!("/api/api-keys/{key_id}")), REPLICA_ADMIN, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("B refuses the key C revoked", Duration::from_secs(5), || {
        let (http, url, secret) = (http.clone(), b.url("/api/requests"), secret.clone());
        async move { call(&http, Method::GET, url, &secret, None).await.0 == StatusCode::UNAUTHORIZED }
    })
    .await;

    // Every replica sweeps expired requests; each still expires exactly once.
    let deadline = agentgate_core::Timestamp(agentgate::app::now().0 + 1500).to_iso();
    let mut expiring = Vec::new();
    for (i, replica) in replicas.iter().cycle().take(12).enumerate() {
        let body = json!({"action": format!("expiring-{i}"), "expiresAt": deadline});
        let (status, created) =
            call(&http, Method::POST, replica.url("/api/requests"), REPLICA_ADMIN, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        expiring.push(created["id"].as_str().expect("id").to_owned());
    }
    for id in &expiring {
        let url = replicas[2].url(&format!("/api/requests/{id}/wait?timeout=30"));
        let (status, body) = call(&http, Method::GET, url, REPLICA_ADMIN, None).await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("expired")), "{body}");
        let (_, trail) =
            call(&http, Method::GET, replicas[0].url(&format!("/api/requests/{id}/audit")), REPLICA_ADMIN, None).await;
        let entries = trail.as_array().or_else(|| trail["entries"].as_array()).expect("audit entries").clone();
        let expired = entries.iter().filter(|e| e["eventType"] == "expired").count();
        assert_eq!(expired, 1, "one expiry per request: {trail}");
    }

    for replica in &replicas {
        replica.terminate();
    }
    for replica in &mut replicas {
        assert!(replica.wait_exit().await.success(), "{}", replica.stderr_text());
    }
}

/// A PostgreSQL server of one test's own (initdb in a temporary directory, on a free loopback port), so the test
/// can stop and restart it without disturbing any other test.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl PrivatePostgres {
    /// `None` when PostgreSQL's server programs are not installed here.
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|v| v.path().join("bin"))
            .find(|b| b.join("initdb").exists())?;
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Self { port: crate::process::free_port(), dir, bin };
        // PostgreSQL refuses to run as root: as root, run it as the `postgres` user, owning the directory.
        if Self::as_root_user() {
            let status = std::process::Command::new("chown").arg("postgres").arg(server.dir.path()).status();
            assert!(status.is_ok_and(|s| s.success()), "chown the data directory to postgres");
        }
        let data = server.data();
        server.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
        server.pg_ctl("start");
        Some(server)
    }

    fn as_root_user() -> bool {
        std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    fn as_root(&self) -> bool {
        Self::as_root_user()
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if self.as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        let output = command.args(args).stdin(Stdio::null()).output().expect("run a PostgreSQL program");
        assert!(
            output.status.success(),
            "{} {args:?}: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pg_ctl(&self, action: &str) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("server.log").to_string_lossy().into_owned();
        let data = self.data();
        match action {
            "start" => self.run("pg_ctl", &["-D", &data, "-o", &options, "-l", &log, "-w", "-t", "60", "start"]),
            _ => self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "-t", "60", "stop"]),
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let mut command = if self.as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        let _ =
            command.args(["-D", &data, "-m", "immediate", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// PostgreSQL stops under two replicas: they answer 503 quickly and stay up, report it on `/ready` and
/// `/health?deep=true`, and recover by themselves when it returns; a decision made on one right after the
/// restart reaches a client that was waiting on the other since before the outage.
#[tokio::test]
async fn replicas_ride_out_a_postgres_restart() {
    if postgres_url().is_none() || std::env::var(BACKEND_VARIABLE).is_ok() {
        eprintln!("note: AGENTGATE_TEST_DATABASE_URL is not set (or this is the second pass); skipped");
        return;
    }
    let Some(postgres) = PrivatePostgres::start() else {
        eprintln!("note: PostgreSQL's server programs are not installed; skipped");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = postgres.url();
    let env = [("DATABASE_URL", url.as_str()), ("ADMIN_API_KEY", REPLICA_ADMIN), ("LOG_LEVEL", "warn")];
    let mut replicas: Vec<Gateway> = (0..2).map(|_| Gateway::spawn(dir.path(), &env)).collect();
    for replica in &mut replicas {
        replica.wait_healthy().await;
    }
    let (a, b) = (&replicas[0], &replicas[1]);
    let http = reqwest::Client::new();
    use reqwest::Method;

    let (status, created) =
        call(&http, Method::POST, a.url("/api/requests"), REPLICA_ADMIN, Some(json!({"action": "deploy"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let waiter = {
        let (http, url) = (http.clone(), b.url(&format!("/api/requests/{id}/wait?timeout=60")));
        tokio::spawn(async move { call(&http, Method::GET, url, REPLICA_ADMIN, None).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    postgres.pg_ctl("stop");
    for replica in [a, b] {
        let (status, body) = call(&http, Method::GET, replica.url("/ready"), REPLICA_ADMIN, None).await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")), "{body}");
        let (status, body) = call(&http, Method::GET, replica.url("/health?deep=true"), REPLICA_ADMIN, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["checks"]["database"]["status"], "unhealthy", "{body}");
        let body = json!({"action": "during the outage"});
        let (status, body) = call(&http, Method::POST, replica.url("/api/requests"), REPLICA_ADMIN, Some(body)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"], "Database unavailable; try again shortly");
        let (status, _) =
            call(&http, Method::GET, replica.url(&format!("/api/requests/{id}")), REPLICA_ADMIN, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert!(!waiter.is_finished(), "the waiter on B is still waiting");

    postgres.pg_ctl("start");
    eventually("A is ready again", Duration::from_secs(30), || {
        let (http, url) = (http.clone(), a.url("/ready"));
        async move { call(&http, Method::GET, url, REPLICA_ADMIN, None).await.0 == StatusCode::OK }
    })
    .await;
    // Decided on A at once: B may not have re-subscribed yet, and must catch up by re-reading.
    let decide = json!({"decision": "approved"});
    let (status, decided) =
        call(&http, Method::POST, a.url(&format!("/api/requests/{id}/decide")), REPLICA_ADMIN, Some(decide)).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let (status, waited) = waiter.await.expect("the waiter");
    assert_eq!((status, waited["status"].as_str()), (StatusCode::OK, Some("approved")), "{waited}");
    let (status, created) =
        call(&http, Method::POST, b.url("/api/requests"), REPLICA_ADMIN, Some(json!({"action": "after"}))).await;
    assert_eq!(status, StatusCode::CREATED, "B writes again: {created}");

    for replica in &replicas {
        replica.terminate();
    }
    for replica in &mut replicas {
        assert!(replica.wait_exit().await.success(), "{}", replica.stderr_text());
    }
}
