//! Starting real gateways for tests, and a small HTTP helper around them.

#![allow(dead_code)]

use agentgate::config::{Config, Database};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A gateway running in this process on a random loopback port, with its own database file.
pub struct TestServer {
    pub base_url: String,
    /// The admin key created on first start.
    pub admin_key: String,
    pub http: reqwest::Client,
    pub dir: Arc<tempfile::TempDir>,
    /// The PostgreSQL database of this test, when the suite runs on PostgreSQL (dropped with the last server).
    postgres: Option<Arc<TestDatabase>>,
    config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    state: Option<agentgate::app::SharedState>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with a configuration adjusted by `adjust` (the database path is already set).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let postgres = TestDatabase::create_if_configured().await.map(Arc::new);
        let database = match &postgres {
            Some(db) => Database::Postgres { url: db.url.clone() },
            None => Database::Sqlite { path: db_path(&dir).to_string_lossy().into_owned() },
        };
        let mut config = Config::with_database(database);
        adjust(&mut config);
        let (mut server, key) = Self::launch(config.clone(), dir.clone(), postgres).await;
        server.admin_key = key.or_else(|| config.admin_api_key.clone()).expect("first start creates an admin key");
        server
    }

    async fn launch(
        config: Config,
        dir: Arc<tempfile::TempDir>,
        postgres: Option<Arc<TestDatabase>>,
    ) -> (Self, Option<String>) {
        let started = agentgate::start(config.clone()).await.expect("gateway starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let base_url = format!("http://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let state = started.state.clone();
        let task = tokio::spawn(agentgate::run(started.state, listener, async {
            let _ = stopped.await;
        }));
        let server = Self {
            base_url,
            admin_key: String::new(),
            http: reqwest::Client::new(),
            dir,
            postgres,
            config,
            stop: Some(stop),
            task: Some(task),
            state: Some(state),
        };
        (server, started.first_admin_key)
    }

    /// Stops gracefully (in-flight requests finish, queued writes commit).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran cleanly");
        }
    }

    /// Stops this server and starts a new one on the same database file.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let (mut server, key) = Self::launch(self.config.clone(), self.dir.clone(), self.postgres.clone()).await;
        assert!(key.is_none(), "a restart must not create another admin key");
        server.admin_key = std::mem::take(&mut self.admin_key);
        server
    }

    /// The running gateway's state (its router's routes, its metrics).
    pub fn state(&self) -> agentgate::app::SharedState {
        self.state.clone().expect("a running server has state")
    }

    /// The configuration this server was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many requests the hub has waiters registered for.
    pub fn state_watchers(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.hub.watched_requests())
    }

    /// The rows `sql` returns from this server's database (SQLite or PostgreSQL), every column read as text (cast
    /// them in the query); `$1`, `$2`… are bound to `args`.
    pub async fn db_rows(&self, sql: &str, args: &[&str]) -> Vec<Vec<String>> {
        use sqlx::{Connection, Row};
        macro_rules! fetch {
            ($conn:expr) => {{
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for arg in args {
                    query = query.bind(*arg);
                }
                let rows = query.fetch_all(&mut $conn).await.expect("the query runs");
                rows.iter()
                    .map(|row| (0..row.len()).map(|i| row.try_get::<String, _>(i).expect("text column")).collect())
                    .collect()
            }};
        }
        match &self.config.database {
            Database::Sqlite { path } => {
                let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await.expect("open SQLite");
                fetch!(conn)
            }
            Database::Postgres { url } => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("connect to PostgreSQL");
                fetch!(conn)
            }
        }
    }

    /// The first row of [`Self::db_rows`] with one argument.
    pub async fn db_row(&self, sql: &str, arg: &str) -> Vec<String> {
        self.db_rows(sql, &[arg]).await.into_iter().next().expect("a row")
    }

    /// Whether this server runs on PostgreSQL (the suite's second pass).
    pub fn on_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends a request with `key` as the bearer credential (none when `None`), returning status and JSON body
    /// (`Value::Null` when the body is empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let bytes = res.bytes().await.expect("body read");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(&self.admin_key), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&self.admin_key), Some(&body)).await
    }

    /// Creates an API key with `scopes` and returns its secret.
    pub async fn create_key(&self, name: &str, scopes: &[&str]) -> String {
        let (status, body) = self.post("/api/api-keys", serde_json::json!({ "name": name, "scopes": scopes })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["key"].as_str().expect("key in response").to_owned()
    }

    /// Creates a request as admin and returns the response body.
    pub async fn create_request(&self, body: Value) -> Value {
        let (status, created) = self.post("/api/requests", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(&self.admin_key), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(&self.admin_key), Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(&self.admin_key), None).await
    }

    /// Sends raw bytes with an explicit `Authorization` header value (none when `None`) and content type,
    /// returning status and JSON body (`Value::Null` when the body is empty or not JSON).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(authorization) = authorization {
            req = req.header(reqwest::header::AUTHORIZATION, authorization);
        }
        if let Some(content_type) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let bytes = res.bytes().await.expect("body read");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Creates an API key with `scopes` and returns `(id, secret)`.
    pub async fn create_key_with_id(&self, name: &str, scopes: &[&str]) -> (String, String) {
        let (status, body) = self.post("/api/api-keys", serde_json::json!({ "name": name, "scopes": scopes })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().expect("id in response").to_owned();
        (id, body["key"].as_str().expect("key in response").to_owned())
    }

    /// The audit actor of `admin_key`: `key:<id>` of the first-start key, or `admin:env` for `ADMIN_API_KEY`.
    pub async fn admin_actor(&self) -> String {
        if self.config.admin_api_key.as_deref() == Some(self.admin_key.as_str()) {
            return "admin:env".to_owned();
        }
        let (status, body) = self.get("/api/keys").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let keys = body["keys"].as_array().expect("keys array");
        let admin = keys.iter().find(|k| k["name"] == "Admin (bootstrap)").expect("the first-start admin key");
        format!("key:{}", admin["id"].as_str().expect("key id"))
    }

    /// Creates a policy as admin and returns the response body.
    pub async fn create_policy(&self, body: Value) -> Value {
        let (status, created) = self.post("/api/policies", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    /// `pagination.total` of a list endpoint, read as admin (asserting it is a number).
    pub async fn total(&self, path: &str) -> u64 {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body["pagination"]["total"].as_u64().unwrap_or_else(|| panic!("numeric pagination.total in {body}"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("agentgate.db")
}

/// The `error` string of an error response, failing the test when the body is not `{"error": "<string>"}`.
pub fn error_of(body: &Value) -> &str {
    body.get("error").and_then(Value::as_str).unwrap_or_else(|| panic!("expected {{\"error\": <string>}}, got {body}"))
}

/// Asserts an error response: its status and its exact `error` message.
#[track_caller]
pub fn assert_error(status: StatusCode, body: &Value, expected_status: StatusCode, expected_message: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(error_of(body), expected_message, "{body}");
}

/// The ids of a list of objects, in order.
pub fn ids(items: &Value) -> Vec<String> {
    items.as_array().expect("array").iter().map(|i| i["id"].as_str().expect("id").to_owned()).collect()
}

/// Fetches `path` and asserts the page: the ids under `key` and the pagination envelope.
pub async fn assert_page(
    server: &TestServer,
    path: &str,
    key: &str,
    expected: &[String],
    pagination: (u64, u64, u64, bool),
) {
    let (status, body) = server.get(path).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{path}: {body}");
    assert_eq!(ids(&body[key]), expected, "{path}");
    let (total, limit, offset, has_more) = pagination;
    assert_eq!(
        body["pagination"],
        serde_json::json!({"total": total, "limit": limit, "offset": offset, "hasMore": has_more}),
        "{path}"
    );
}

impl TestServer {
    /// Starts a second gateway on `first`'s database file, with `first`'s configuration adjusted by `adjust`. It
    /// shares the admin key; stopping either leaves the other running.
    pub async fn start_alongside(first: &TestServer, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = first.config.clone();
        adjust(&mut config);
        let (mut server, key) = Self::launch(config, first.dir.clone(), first.postgres.clone()).await;
        assert!(key.is_none(), "a gateway started on an existing database must not create another admin key");
        server.admin_key = first.admin_key.clone();
        server
    }

    /// Stops this server and starts a new one on the same database file, with the configuration adjusted by
    /// `adjust` (kept for later restarts).
    pub async fn restart_with(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        adjust(&mut self.config);
        self.restart().await
    }
}

/// Set (to `postgres`) by the suite's second pass, which runs every test on PostgreSQL.
pub const BACKEND_VARIABLE: &str = "AGENTGATE_TEST_BACKEND";
/// The PostgreSQL server tests may use (an administrative URL: each test creates a database of its own there).
pub const POSTGRES_VARIABLE: &str = "AGENTGATE_TEST_DATABASE_URL";

/// The PostgreSQL URL tests may use, when set.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_VARIABLE).ok().filter(|u| !u.trim().is_empty())
}

/// A database of one test's own on the test PostgreSQL server, dropped when the test's servers are.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// A fresh database when this pass runs on PostgreSQL; `None` on SQLite.
    pub async fn create_if_configured() -> Option<Self> {
        if std::env::var(BACKEND_VARIABLE).as_deref() != Ok("postgres") {
            return None;
        }
        let admin_url = postgres_url().expect("AGENTGATE_TEST_BACKEND=postgres needs AGENTGATE_TEST_DATABASE_URL");
        Some(Self::create(&admin_url).await)
    }

    pub async fn create(admin_url: &str) -> Self {
        use sqlx::{Connection, Executor};
        let name = format!("agentgate_it_{}", agentgate::app::new_id().to_lowercase());
        let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("connect to the test PostgreSQL");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create a test database");
        let mut url = reqwest::Url::parse(admin_url).expect("a valid AGENTGATE_TEST_DATABASE_URL");
        url.set_path(&format!("/{name}"));
        Self { url: url.to_string(), admin_url: admin_url.to_owned(), name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside any runtime guarantee: a thread of its own with its own runtime, waited for, so the
        // database is gone before the test ends.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                use sqlx::{Connection, Executor};
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
                }
            });
        });
        let _ = dropped.join();
    }
}
