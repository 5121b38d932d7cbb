//! Rate limits and key usage, through real HTTP.
//!
//! Every scenario runs against the in-memory limiter, and again against Redis when `AGENTGATE_TEST_REDIS_URL` is
//! set (each with a Redis key prefix of its own, so parallel tests never share a window). With Redis, two gateway
//! processes share one limit, and a Redis started by the test stops and comes back.

use crate::process::{Gateway, free_port, temp_dir};
use crate::support::{TestServer, assert_error};
use agentgate::config::Config;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Redis,
}

fn redis_url() -> Option<String> {
    std::env::var("AGENTGATE_TEST_REDIS_URL").ok().filter(|url| !url.trim().is_empty())
}

/// A Redis key prefix no other test uses.
fn unique_prefix() -> String {
    format!("agentgate-test:{}:", ulid::Ulid::generate())
}

/// A gateway on `backend`, configured by `adjust`; `None` (with a note) when that backend is not available.
async fn start(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestServer> {
    let redis = match backend {
        Backend::Memory => None,
        Backend::Redis => match redis_url() {
            Some(url) => Some(url),
            None => {
                eprintln!("skipped: set AGENTGATE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to run this with Redis");
                return None;
            }
        },
    };
    let server = TestServer::start_with(|config| {
        if let Some(url) = redis {
            config.redis_url = Some(url);
            config.redis_key_prefix = unique_prefix();
        }
        adjust(config);
    })
    .await;
    Some(server)
}

/// A response with its headers.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn number(&self, name: &str) -> Option<i64> {
        let value = self.headers.get(name)?;
        Some(value.to_str().ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name}: {value:?}")))
    }

    fn has_rate_headers(&self) -> bool {
        ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"]
            .iter()
            .any(|name| self.headers.contains_key(*name))
    }

    fn admitted(&self) -> bool {
        self.status.is_success()
    }
}

async fn send(http: &reqwest::Client, method: Method, url: &str, key: &str, body: Option<&Value>) -> Reply {
    let mut request = http.request(method, url).bearer_auth(key).timeout(Duration::from_secs(10));
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the gateway answers (and in time)");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// A cheap authenticated read.
async fn read(server: &TestServer, key: &str) -> Reply {
    send(&server.http, Method::GET, &server.url("/api/audit/actions"), key, None).await
}

async fn create_key(server: &TestServer, name: &str, rate_limit: Value) -> (String, String) {
    let body = json!({"name": name, "scopes": ["request:create", "request:read"], "rateLimit": rate_limit});
    let (status, created) = server.post("/api/keys", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (created["id"].as_str().expect("id").to_owned(), created["key"].as_str().expect("key").to_owned())
}

fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    i64::try_from(now.as_secs()).expect("seconds fit")
}

/// Asserts the three `X-RateLimit-*` headers; the reset must be a plausible epoch second within the next minute.
#[track_caller]
fn assert_rate_headers(reply: &Reply, limit: i64, remaining: i64) {
    assert_eq!(reply.number("x-ratelimit-limit"), Some(limit), "{:?}", reply.headers);
    assert_eq!(reply.number("x-ratelimit-remaining"), Some(remaining), "{:?}", reply.headers);
    let reset = reply.number("x-ratelimit-reset").expect("X-RateLimit-Reset");
    let now = unix_now();
    assert!((now - 2..=now + 62).contains(&reset), "X-RateLimit-Reset {reset} is not epoch seconds near {now}");
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Redis).await
                }
            )*
        }
    };
}

on_both_backends!(
    headers_count_down_then_429,
    unlimited_keys_get_no_headers,
    rate_limit_rpm_is_the_default,
    a_changed_limit_applies_at_once,
    a_burst_admits_exactly_the_limit,
);

async fn headers_count_down_then_429(backend: Backend) {
    let Some(server) = start(backend, |_| {}).await else { return };
    let (_, key) = create_key(&server, "limited", json!(5)).await;
    let mut resets = Vec::new();
    for remaining in (0..5).rev() {
        let reply = read(&server, &key).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_rate_headers(&reply, 5, remaining);
        assert!(!reply.headers.contains_key("retry-after"), "Retry-After only on 429");
        resets.push(reply.number("x-ratelimit-reset").expect("reset"));
    }
    // The reset is when the oldest request leaves the window: the same moment for every request in it.
    assert!(resets.iter().max().expect("resets") - resets.iter().min().expect("resets") <= 1, "{resets:?}");

    for _ in 0..3 {
        let refused = read(&server, &key).await;
        assert_error(refused.status, &refused.body, StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
        assert_eq!(refused.body, json!({"error": "Rate limit exceeded"}));
        assert_rate_headers(&refused, 5, 0);
        let retry_after = refused.number("retry-after").expect("Retry-After on 429");
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
        let reset = refused.number("x-ratelimit-reset").expect("reset");
        assert!((reset - unix_now() - retry_after).abs() <= 2, "Retry-After {retry_after} agrees with reset {reset}");
    }

    // A refused request does nothing: a refused create stores no request.
    let before = server.total("/api/requests").await;
    let refused =
        send(&server.http, Method::POST, &server.url("/api/requests"), &key, Some(&json!({"action": "x"}))).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(server.total("/api/requests").await, before);

    // Limits are per key: another key (and the admin) are untouched.
    let (_, other) = create_key(&server, "other", json!(5)).await;
    assert_rate_headers(&read(&server, &other).await, 5, 4);
    assert_eq!(read(&server, &server.admin_key).await.status, StatusCode::OK);
}

async fn unlimited_keys_get_no_headers(backend: Backend) {
    let admin_env = "ratelimit-admin-secret-0123456789";
    // First the first-start admin key (a stored key without a limit), then ADMIN_API_KEY.
    let Some(server) = start(backend, |_| {}).await else { return };
    let (_, unlimited) = create_key(&server, "unlimited", Value::Null).await;
    for key in [unlimited.as_str(), server.admin_key.as_str()] {
        for _ in 0..20 {
            let reply = read(&server, key).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert!(!reply.has_rate_headers(), "no rate-limit headers without a limit: {:?}", reply.headers);
        }
    }
    let Some(server) = start(backend, |c| c.admin_api_key = Some(admin_env.into())).await else { return };
    let reply = read(&server, admin_env).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.has_rate_headers(), "ADMIN_API_KEY is unlimited without RATE_LIMIT_RPM: {:?}", reply.headers);
}

async fn rate_limit_rpm_is_the_default(backend: Backend) {
    let admin_env = "ratelimit-admin-secret-0123456789";
    let Some(server) = start(backend, |c| {
        c.rate_limit_rpm = Some(4);
        c.admin_api_key = Some(admin_env.into());
    })
    .await
    else {
        return;
    };
    // Two admin requests: the keys' creation.
    let (_, defaulted) = create_key(&server, "defaulted", Value::Null).await;
    let (_, own) = create_key(&server, "own limit", json!(10)).await;

    assert_rate_headers(&read(&server, &defaulted).await, 4, 3);
    assert_rate_headers(&read(&server, &own).await, 10, 9);

    // ADMIN_API_KEY has no limit of its own, so the default applies to it too (its two creates counted).
    assert_rate_headers(&read(&server, admin_env).await, 4, 1);
    assert_rate_headers(&read(&server, admin_env).await, 4, 0);
    let refused = read(&server, admin_env).await;
    assert_error(refused.status, &refused.body, StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");

    for remaining in [2, 1, 0] {
        assert_rate_headers(&read(&server, &defaulted).await, 4, remaining);
    }
    assert_eq!(read(&server, &defaulted).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_rate_headers(&read(&server, &own).await, 10, 8);
}

async fn a_changed_limit_applies_at_once(backend: Backend) {
    let Some(server) = start(backend, |_| {}).await else { return };
    let (id, key) = create_key(&server, "changing", json!(2)).await;
    assert_rate_headers(&read(&server, &key).await, 2, 1);
    assert_rate_headers(&read(&server, &key).await, 2, 0);
    assert_eq!(read(&server, &key).await.status, StatusCode::TOO_MANY_REQUESTS);

    // Raised: the same window, a larger limit, from the very next request.
    let (status, body) = server.patch(&format!("/api/keys/{id}"), json!({"rateLimit": 5})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"]["rateLimit"], 5);
    assert_rate_headers(&read(&server, &key).await, 5, 2);

    // Removed: unlimited, no headers, nothing recorded.
    assert_eq!(server.patch(&format!("/api/keys/{id}"), json!({"rateLimit": null})).await.0, StatusCode::OK);
    for _ in 0..5 {
        let reply = read(&server, &key).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(!reply.has_rate_headers(), "{:?}", reply.headers);
    }

    // Lowered below what the window holds (3 admitted): refused at once.
    assert_eq!(server.patch(&format!("/api/keys/{id}"), json!({"rateLimit": 3})).await.0, StatusCode::OK);
    let refused = read(&server, &key).await;
    assert_error(refused.status, &refused.body, StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
    assert_rate_headers(&refused, 3, 0);
}

async fn a_burst_admits_exactly_the_limit(backend: Backend) {
    let Some(server) = start(backend, |_| {}).await else { return };
    let (_, key) = create_key(&server, "bursty", json!(50)).await;
    let url = server.url("/api/audit/actions");
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (http, url, key) = (server.http.clone(), url.clone(), key.clone());
        burst.spawn(async move { send(&http, Method::GET, &url, &key, None).await });
    }
    let mut remaining_seen = Vec::new();
    let mut refused = 0;
    while let Some(reply) = burst.join_next().await {
        let reply = reply.expect("request task");
        if reply.admitted() {
            remaining_seen.push(reply.number("x-ratelimit-remaining").expect("remaining"));
        } else {
            assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.body);
            refused += 1;
        }
    }
    assert_eq!((remaining_seen.len(), refused), (50, 150), "exactly the limit is admitted");
    // Each admitted request saw its own place in the window: the checks were atomic.
    remaining_seen.sort_unstable();
    assert_eq!(remaining_seen, (0..50).collect::<Vec<i64>>());
}

/// Requests per key per UTC day reach the key list after a flush (here: the graceful shutdown of a restart), and
/// flushes add up.
#[tokio::test]
async fn usage_per_day_is_listed_after_a_flush() {
    let server = TestServer::start().await;
    let (used_id, used) = create_key(&server, "used", json!(100)).await;
    let (idle_id, _) = create_key(&server, "idle", Value::Null).await;
    let today_before = today();
    for _ in 0..3 {
        assert_eq!(read(&server, &used).await.status, StatusCode::OK);
    }
    // A request the key may not make still counts as a use of the key.
    let forbidden = send(&server.http, Method::GET, &server.url("/api/keys"), &used, None).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    let server = server.restart().await;
    let listed = find_key(&server, &used_id).await;
    let date = listed["usage"]["daily"][0]["date"].as_str().expect("a day").to_owned();
    assert!(date == today_before || date == today(), "{date} is today (UTC)");
    assert_eq!(
        listed["usage"],
        json!({"today": 4, "last7Days": 4, "last30Days": 4, "daily": [{"date": date, "requests": 4}]})
    );
    assert!(listed["lastUsedAt"].as_i64().is_some_and(|t| (t - unix_now()).abs() < 3600), "{listed}");
    let idle = find_key(&server, &idle_id).await;
    assert_eq!(idle["usage"], json!({"today": 0, "last7Days": 0, "last30Days": 0, "daily": []}));
    assert_eq!(idle["lastUsedAt"], Value::Null);

    // A second flush adds to the day's row instead of replacing it.
    for _ in 0..2 {
        assert_eq!(read(&server, &used).await.status, StatusCode::OK);
    }
    let server = server.restart().await;
    let listed = find_key(&server, &used_id).await;
    if listed["usage"]["daily"].as_array().expect("daily").len() == 1 {
        assert_eq!(listed["usage"]["today"], 6, "{listed}");
    }
    assert_eq!(listed["usage"]["last7Days"], 6, "{listed}");
}

/// The periodic flush writes usage while the gateway runs (interval shortened for the test).
#[tokio::test]
async fn usage_is_flushed_periodically() {
    let server = TestServer::start_with(|c| c.key_usage_flush_interval = Duration::from_millis(50)).await;
    let (id, key) = create_key(&server, "busy", Value::Null).await;
    for _ in 0..7 {
        assert_eq!(read(&server, &key).await.status, StatusCode::OK);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = find_key(&server, &id).await;
        if listed["usage"]["last7Days"] == 7 {
            assert!(listed["lastUsedAt"].is_i64(), "{listed}");
            break;
        }
        assert!(Instant::now() < deadline, "usage never flushed: {listed}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

async fn find_key(server: &TestServer, id: &str) -> Value {
    let (status, body) = server.get("/api/keys").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["keys"].as_array().expect("keys").iter().find(|k| k["id"] == id).cloned().expect("key listed")
}

// ---- Several processes sharing Redis ----

const PROCESS_ADMIN: &str = "ratelimit-process-admin-0123456789";

/// Two gateway processes on one SQLite file and one Redis.
async fn two_gateways(redis_url: &str, prefix: &str) -> (tempfile::TempDir, Gateway, Gateway) {
    let (guard, dir) = temp_dir();
    let env = [("ADMIN_API_KEY", PROCESS_ADMIN), ("REDIS_URL", redis_url), ("REDIS_KEY_PREFIX", prefix)];
    let mut first = Gateway::spawn(&dir, &env);
    first.wait_healthy().await;
    // The second starts once the first has migrated the shared file.
    let mut second = Gateway::spawn(&dir, &env);
    second.wait_healthy().await;
    (guard, first, second)
}

async fn create_key_on(gateway: &Gateway, limit: u32) -> (String, String) {
    let http = reqwest::Client::new();
    let body = json!({"name": "shared", "scopes": ["request:read"], "rateLimit": limit});
    let reply = send(&http, Method::POST, &gateway.url("/api/keys"), PROCESS_ADMIN, Some(&body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    (reply.body["id"].as_str().expect("id").to_owned(), reply.body["key"].as_str().expect("key").to_owned())
}

/// Sends `per_gateway` concurrent reads with `key` to each gateway; returns how many were admitted on each.
async fn burst_on(gateways: [&Gateway; 2], key: &str, per_gateway: usize) -> [usize; 2] {
    let http = reqwest::Client::new();
    let mut burst = tokio::task::JoinSet::new();
    for (i, gateway) in gateways.iter().enumerate() {
        for _ in 0..per_gateway {
            let (http, url, key) = (http.clone(), gateway.url("/api/audit/actions"), key.to_owned());
            burst.spawn(async move { (i, send(&http, Method::GET, &url, &key, None).await) });
        }
    }
    let mut admitted = [0, 0];
    while let Some(result) = burst.join_next().await {
        let (i, reply) = result.expect("request task");
        if reply.admitted() {
            admitted[i] += 1;
        } else {
            assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.body);
        }
    }
    admitted
}

async fn deep_health(gateway: &Gateway) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(gateway.url("/health?deep=true"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("health answers in time");
    (response.status(), response.json().await.expect("health JSON"))
}

fn redis_count(url: &str, key: &str) -> i64 {
    let client = ::redis::Client::open(url).expect("redis url");
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(5)).expect("redis connection");
    ::redis::cmd("ZCARD").arg(key).query(&mut conn).expect("ZCARD")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_limit_through_redis() {
    let Some(url) = redis_url() else {
        eprintln!("skipped: set AGENTGATE_TEST_REDIS_URL to run the shared-limit test with two processes");
        return;
    };
    let prefix = unique_prefix();
    let (_dir, first, second) = two_gateways(&url, &prefix).await;
    let (id, key) = create_key_on(&first, 20).await;

    let admitted = burst_on([&first, &second], &key, 30).await;
    assert_eq!(admitted[0] + admitted[1], 20, "the two replicas admit the limit between them: {admitted:?}");
    assert_eq!(redis_count(&url, &format!("{prefix}ratelimit:key:{id}")), 20);
    assert_eq!(burst_on([&first, &second], &key, 5).await, [0, 0], "the window is full on both");

    // A raised limit applies on the replica that changed it at once, and on the other within its key cache's second.
    let http = reqwest::Client::new();
    let patch = json!({"rateLimit": 25});
    let reply = send(&http, Method::PATCH, &first.url(&format!("/api/keys/{id}")), PROCESS_ADMIN, Some(&patch)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = send(&http, Method::GET, &first.url("/api/audit/actions"), &key, None).await;
    assert_rate_headers(&reply, 25, 4);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = send(&http, Method::GET, &second.url("/api/audit/actions"), &key, None).await;
        if reply.number("x-ratelimit-limit") == Some(25) {
            assert!(reply.admitted(), "{}", reply.body);
            assert_rate_headers(&reply, 25, 3);
            break;
        }
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "the old limit, refused while it is cached");
        assert!(Instant::now() < deadline, "the other replica never saw the new limit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `redis-server` of the test's own on a free loopback port, killed when dropped.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let redis = Self { port, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

const WENT_DOWN: &str = "Redis unreachable";
const CAME_BACK: &str = "Redis answers again";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopping_falls_back_per_replica_then_sharing_resumes() {
    if redis_url().is_none() || Command::new("redis-server").arg("--version").output().is_err() {
        eprintln!("skipped: set AGENTGATE_TEST_REDIS_URL (and install redis-server) to run the Redis outage test");
        return;
    }
    let mut redis = OwnRedis::start(free_port());
    let prefix = unique_prefix();
    let (_dir, first, second) = two_gateways(&redis.url(), &prefix).await;
    let (_, key) = create_key_on(&first, 4).await;
    assert_eq!(burst_on([&first, &second], &key, 4).await.iter().sum::<usize>(), 4, "shared while Redis is up");
    let (status, health) = deep_health(&first).await;
    assert_eq!((status, &health["checks"]["redis"]["status"]), (StatusCode::OK, &json!("healthy")), "{health}");

    redis.kill();
    // Every request still answers, in time, and is still limited: per replica, from memory.
    let (_, key) = create_key_on(&first, 3).await;
    let admitted = burst_on([&first, &second], &key, 6).await;
    assert_eq!(admitted, [3, 3], "each replica applies the limit on its own while Redis is down");
    let http = reqwest::Client::new();
    let refused = send(&http, Method::GET, &first.url("/api/audit/actions"), &key, None).await;
    assert_error(refused.status, &refused.body, StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
    assert_rate_headers(&refused, 3, 0);
    for gateway in [&first, &second] {
        let (status, health) = deep_health(gateway).await;
        assert_eq!(status, StatusCode::OK, "the replica still serves: {health}");
        assert_eq!(health["status"], "degraded", "{health}");
        assert_eq!(health["checks"]["database"]["status"], "healthy", "{health}");
        assert_eq!(health["checks"]["redis"]["status"], "unhealthy", "{health}");
        assert!(health["checks"]["redis"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{health}");
        // The switch is logged once, not per request.
        assert_eq!(count(&gateway.stderr_text(), WENT_DOWN), 1, "{}", gateway.stderr_text());
    }

    // Back on the same port: each replica notices within its next probes, and the limit is shared again.
    let redis = OwnRedis::start(redis.port);
    for gateway in [&first, &second] {
        let deadline = Instant::now() + Duration::from_secs(15);
        while count(&gateway.stderr_text(), CAME_BACK) == 0 {
            assert!(Instant::now() < deadline, "Redis never came back:\n{}", gateway.stderr_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (status, health) = deep_health(gateway).await;
        assert_eq!((status, &health["status"]), (StatusCode::OK, &json!("ok")), "{health}");
        assert_eq!(health["checks"]["redis"]["status"], "healthy", "{health}");
    }
    let (id, key) = create_key_on(&first, 4).await;
    let admitted = burst_on([&first, &second], &key, 6).await;
    assert_eq!(admitted.iter().sum::<usize>(), 4, "shared again after Redis came back: {admitted:?}");
    assert_eq!(redis_count(&redis.url(), &format!("{prefix}ratelimit:key:{id}")), 4);
}
