//! PostgreSQL storage, for several gateway replicas sharing one database.
//!
//! Writes go through the same group-commit writer as SQLite (one transaction per batch). Every batch first takes
//! the advisory lock [`EVENT_LOCK`], so transactions that write outbox events commit one at a time across all
//! replicas: event sequence numbers then follow commit order, and a stream resuming after `seq` never skips an
//! event committed late with a lower number. Batching keeps that cheap: one lock and one commit per batch.
//!
//! Replicas learn of each other's changes through `LISTEN agentgate` (see the migration 0001): new events wake
//! the event tailer and the webhook worker, policy and key changes drop cached copies. After a lost connection
//! everything cached is dropped and the outbox re-read, since notifications may have been missed meanwhile.

mod channels;
mod maintenance;
mod sessions;
mod webhooks;

use super::rows::{self, Columns};
use super::writer::{Job, Session, Writer};
use super::*;
use agentgate_core::audit::event;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor, PgConnection, PgPool, Postgres};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock every write batch holds until it commits (an arbitrary constant: "AGNT").
const EVENT_LOCK: i64 = 0x4147_4e54;
/// The NOTIFY channel of migration 0001.
const CHANNEL: &str = "agentgate";
/// How long a request waits for a connection before it is answered 503 (PostgreSQL down or overloaded).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct PostgresStore {
    pool: PgPool,
    writer: Writer<PgConnection>,
    committed: Arc<Notify>,
    invalidations: broadcast::Sender<Invalidation>,
    listener: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The runtime the pool's connections belong to. The webhook worker runs on a runtime of its own; its
    /// reads are run here, so no connection is ever driven by a runtime that may stop first.
    runtime: tokio::runtime::Handle,
}

impl PostgresStore {
    /// Connects (`pool_size` connections at most), runs the migrations (under sqlx's migration lock, so replicas
    /// starting together migrate once), starts the writer and the listener.
    pub async fn open(url: &str, pool_size: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid DATABASE_URL: {e}")))?
            // A stuck statement or lock wait fails instead of holding a request (or every replica's writer) forever.
            .options([("statement_timeout", "30s"), ("lock_timeout", "10s")])
            .application_name("agentgate");
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(2))
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let committed = Arc::new(Notify::new());
        let writer = Writer::start(PgSession { pool: pool.clone(), conn: None }, committed.clone());
        let (invalidations, _) = broadcast::channel(256);
        let listener = tokio::spawn(listen(pool.clone(), committed.clone(), invalidations.clone()));
        Ok(Self {
            pool,
            writer,
            committed,
            invalidations,
            listener: std::sync::Mutex::new(Some(listener)),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    async fn write<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.writer.write(job).await
    }

    /// Runs `read` on the store's own runtime (see `runtime`).
    async fn on_runtime<T, F>(&self, read: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = StoreResult<T>> + Send + 'static,
    {
        self.runtime.spawn(read).await.map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }

    /// A read-only transaction on one snapshot, for reads of several statements that must agree with each other
    /// (PostgreSQL's default gives each statement its own snapshot).
    async fn snapshot(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
        Ok(tx)
    }

    /// When the earliest pending row of a lease queue (`webhook_deliveries`, `channel_deliveries`) comes due.
    async fn queue_next_due(&self, table: &'static str) -> StoreResult<Option<Timestamp>> {
        let pool = self.pool.clone();
        self.on_runtime(async move {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT MIN(next_attempt_at) AS due FROM {table} WHERE status = 'pending'"
            )))
            .fetch_one(&pool)
            .await?
            .opt_ts("due")
        })
        .await
    }

    /// Claims up to `limit` due rows of a lease queue until `lease_until` (skipping rows another replica is
    /// claiming), returning their sequence numbers.
    async fn queue_claim(
        &self,
        table: &'static str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<i64>> {
        self.write(move |conn| Box::pin(claim_due(conn, table, now, lease_until, limit))).await
    }

    /// Gives claimed rows of a lease queue back, due at `now` (each only while its claim still holds).
    async fn queue_release(
        &self,
        table: &'static str,
        claims: Vec<(i64, Timestamp)>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let seqs: Vec<i64> = claims.iter().map(|(seq, _)| *seq).collect();
        let leases: Vec<i64> = claims.iter().map(|(_, lease)| lease.0).collect();
        let sql = format!(
            "UPDATE {table} q SET next_attempt_at = $1 FROM UNNEST($2::int8[], $3::int8[]) AS c (seq, lease) \
             WHERE q.seq = c.seq AND q.next_attempt_at = c.lease AND q.status = 'pending'"
        );
        let shared = Arc::new((sql, seqs, leases));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (sql, seqs, leases) = &*shared;
                sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(now.0)
                    .bind(seqs)
                    .bind(leases)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Runs a `DELETE … WHERE id = $1` and, when it removed a row, writes `audit` in the same transaction.
    async fn delete_audited(&self, sql: &'static str, id: &str, audit: NewAudit) -> StoreResult<bool> {
        let shared = Arc::new((id.to_owned(), audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (id, audit) = &*shared;
                if sqlx::query(sql).bind(id).execute(&mut *conn).await?.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(conn, audit).await?;
                Ok(true)
            })
        })
        .await
    }
}

/// Follows `LISTEN agentgate` until the store closes, reconnecting after failures.
async fn listen(pool: PgPool, committed: Arc<Notify>, invalidations: broadcast::Sender<Invalidation>) {
    let mut connected_before = false;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other replicas' changes; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if connected_before {
            // Whatever was announced while we were away is lost: forget every cached copy, re-read the outbox.
            tracing::info!("listening for other replicas' changes again");
            let _ = invalidations.send(Invalidation::Everything);
            committed.notify_waiters();
        }
        connected_before = true;
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match notification.payload() {
                    "events" => committed.notify_waiters(),
                    "policies" => {
                        let _ = invalidations.send(Invalidation::Policies);
                    }
                    other => {
                        if let Some(hash) = other.strip_prefix("key:") {
                            let _ = invalidations.send(Invalidation::ApiKey(hash.to_owned()));
                        }
                    }
                },
                // The connection was lost; the next call reconnects. Treat it as a fresh start.
                Ok(None) => {
                    let _ = invalidations.send(Invalidation::Everything);
                    committed.notify_waiters();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection listening for other replicas' changes");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

/// The writer's connection, taken from the pool and kept; dropped after a failure so the next batch reconnects.
struct PgSession {
    pool: PgPool,
    conn: Option<sqlx::pool::PoolConnection<Postgres>>,
}

impl PgSession {
    async fn try_begin(&mut self) -> StoreResult<()> {
        if self.conn.is_none() {
            self.conn = Some(self.pool.acquire().await?);
        }
        let begun = async {
            let conn = self.connection()?;
            conn.execute(sqlx::raw_sql(AssertSqlSafe(format!("BEGIN; SELECT pg_advisory_xact_lock({EVENT_LOCK})"))))
                .await?;
            Ok(())
        }
        .await;
        self.check(begun)
    }

    fn connection(&mut self) -> StoreResult<&mut PgConnection> {
        self.conn.as_deref_mut().ok_or_else(|| StoreError::Unavailable("no database connection".into()))
    }

    /// Drops the connection when `result` says it may be broken.
    fn check<T>(&mut self, result: StoreResult<T>) -> StoreResult<T> {
        if matches!(result, Err(StoreError::Unavailable(_))) {
            self.conn = None;
        }
        result
    }
}

#[async_trait]
impl Session for PgSession {
    type Conn = PgConnection;

    async fn begin(&mut self) -> StoreResult<()> {
        // A kept connection may have died while the writer was idle (the server restarted): its BEGIN then fails
        // before anything is written, so it is safe to try once more on a fresh connection.
        let kept = self.conn.is_some();
        match self.try_begin().await {
            Err(StoreError::Unavailable(_)) if kept => self.try_begin().await,
            begun => begun,
        }
    }

    async fn commit(&mut self) -> StoreResult<()> {
        let committed = async {
            self.connection()?.execute("COMMIT").await?;
            Ok(())
        }
        .await;
        self.check(committed)
    }

    async fn rollback(&mut self) {
        if let Some(conn) = self.conn.as_deref_mut()
            && conn.execute("ROLLBACK").await.is_err()
        {
            self.conn = None;
        }
    }

    async fn run(&mut self, job: &mut (dyn Job<PgConnection> + '_)) -> StoreResult<()> {
        let ran = match self.connection() {
            Ok(conn) => job.run(conn).await,
            Err(e) => Err(e),
        };
        self.check(ran)
    }

    async fn insert_requests(&mut self, news: &[&NewRequest]) -> StoreResult<()> {
        let inserted = match self.connection() {
            Ok(conn) => insert_requests(conn, news).await,
            Err(e) => Err(e),
        };
        self.check(inserted)
    }

    async fn close(self) {
        drop(self.conn);
    }
}

/// Claims up to `limit` due rows of a lease queue in the caller's transaction (see `queue_claim`), skipping rows
/// another replica is claiming.
pub(super) async fn claim_due(
    conn: &mut PgConnection,
    table: &'static str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> StoreResult<Vec<i64>> {
    let sql = format!(
        "UPDATE {table} SET next_attempt_at = $1 WHERE seq IN (SELECT seq FROM {table} WHERE status = 'pending' \
         AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING seq"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(lease_until.0)
        .bind(now.0)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|row| row.int("seq")).collect()
}

fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Inserts new requests with their audit rows and events: one statement, each table's rows bound as arrays.
async fn insert_requests(conn: &mut PgConnection, news: &[&NewRequest]) -> StoreResult<()> {
    let requests = news.iter().map(|n| &n.request);
    let audits: Vec<&NewAudit> = news.iter().flat_map(|n| &n.audit).collect();
    let events: Vec<&NewEvent> = news.iter().flat_map(|n| &n.events).collect();
    let notifications: Vec<_> =
        news.iter().flat_map(|n| n.notifications.iter().map(move |note| (note, &n.request))).collect();
    sqlx::query(concat!(
        "WITH r AS (INSERT INTO approval_requests (",
        request_columns!(),
        ") SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::int8[], $8::int8[], $9::int8[], $10::text[], $11::text[], $12::int8[], $13::text[], $14::bool[])), \
         a AS (INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) \
         SELECT * FROM UNNEST($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::int8[])), \
         n AS (INSERT INTO channel_deliveries (id, request_id, kind, channel, target, status, attempts, \
         next_attempt_at, created_at) SELECT n_id, r_id, 'request', channel, target, 'pending', 0, at, at \
         FROM UNNEST($26::text[], $27::text[], $28::text[], $29::text[], $30::int8[]) \
         AS x (n_id, r_id, channel, target, at)) \
         INSERT INTO events (id, event_type, request_id, payload, created_at) \
         SELECT * FROM UNNEST($21::text[], $22::text[], $23::text[], $24::text[], $25::int8[])"
    ))
    .bind(requests.clone().map(|r| r.id.as_str()).collect::<Vec<_>>())
    .bind(requests.clone().map(|r| r.action.as_str()).collect::<Vec<_>>())
    .bind(news.iter().map(|n| n.params_json.as_str()).collect::<Vec<_>>())
    .bind(news.iter().map(|n| n.context_json.as_str()).collect::<Vec<_>>())
    .bind(requests.clone().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(requests.clone().map(|r| r.urgency.as_str()).collect::<Vec<_>>())
    .bind(requests.clone().map(|r| r.created_at.0).collect::<Vec<_>>())
    .bind(requests.clone().map(|r| r.updated_at.0).collect::<Vec<_>>())
    .bind(requests.clone().map(|r| r.decided_at.map(|t| t.0)).collect::<Vec<_>>())
    .bind(requests.clone().map(|r| r.decided_by.as_deref()).collect::<Vec<_>>())
    .bind(requests.clone().map(|r| r.decision_reason.as_deref()).collect::<Vec<_>>())
    .bind(requests.clone().map(|r| r.expires_at.map(|t| t.0)).collect::<Vec<_>>())
    .bind(news.iter().map(|n| n.approvers_json.as_deref()).collect::<Vec<_>>())
    .bind(requests.map(|r| r.require_reason).collect::<Vec<_>>())
    .bind(audits.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
    .bind(audits.iter().map(|a| a.request_id.as_deref()).collect::<Vec<_>>())
    .bind(audits.iter().map(|a| a.event_type).collect::<Vec<_>>())
    .bind(audits.iter().map(|a| a.actor.as_str()).collect::<Vec<_>>())
    .bind(audits.iter().map(|a| json_text(&a.details)).collect::<Vec<_>>())
    .bind(audits.iter().map(|a| a.created_at.0).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event_type).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.request_id.as_deref()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.payload.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.created_at.0).collect::<Vec<_>>())
    .bind(notifications.iter().map(|(n, _)| n.id.as_str()).collect::<Vec<_>>())
    .bind(notifications.iter().map(|(_, r)| r.id.as_str()).collect::<Vec<_>>())
    .bind(notifications.iter().map(|(n, _)| n.channel.as_str()).collect::<Vec<_>>())
    .bind(notifications.iter().map(|(n, _)| n.target.as_str()).collect::<Vec<_>>())
    .bind(notifications.iter().map(|(_, r)| r.created_at.0).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_audit(conn: &mut PgConnection, audit: &NewAudit) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&audit.id)
    .bind(&audit.request_id)
    .bind(audit.event_type)
    .bind(&audit.actor)
    .bind(json_text(&audit.details))
    .bind(audit.created_at.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// The one decision (see the SQLite store's `decide_in`): the conditional update, its audit row and both events
/// in one statement; a refused decision writes nothing.
async fn decide_in(conn: &mut PgConnection, c: &DecideCommand) -> StoreResult<DecideOutcome> {
    let status = c.verdict.status();
    let outcome_event = if status == RequestStatus::Approved { event::REQUEST_APPROVED } else { event::REQUEST_DENIED };
    let row = sqlx::query(concat!(
        "WITH d AS (UPDATE approval_requests SET status = $1, decided_at = $2, decided_by = $3, \
         decision_reason = $4, updated_at = $2 WHERE id = $5 AND status = 'pending' \
         AND (expires_at IS NULL OR expires_at > $2) AND (NOT require_reason OR $6) \
         AND (approvers IS NULL OR jsonb_exists_any(approvers::jsonb, $7::text[])) RETURNING ",
        request_columns!(),
        "), a AS (INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) \
         SELECT $8, d.id, $1, $3, $9, $2 FROM d), \
         e AS (INSERT INTO events (id, event_type, request_id, payload, created_at) \
         SELECT x.id, x.event_type, d.id, NULL, $2 FROM d, \
         (VALUES (1, $10::text, $11::text), (2, $12::text, $13::text)) AS x (ord, id, event_type) ORDER BY x.ord) \
         SELECT * FROM d"
    ))
    .bind(status.as_str())
    .bind(c.now.0)
    .bind(&c.actor)
    .bind(&c.reason)
    .bind(&c.request_id)
    .bind(c.reason.is_some())
    .bind(&c.identities)
    .bind(&c.audit_id)
    .bind(json_text(&rows::decision_details(c)))
    .bind(&c.event_ids[0])
    .bind(outcome_event)
    .bind(&c.event_ids[1])
    .bind(event::REQUEST_DECIDED)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(DecideOutcome::Decided(Box::new(rows::request(&row)?))),
        None => {
            let current = sqlx::query(
                "SELECT status, expires_at, approvers, require_reason FROM approval_requests WHERE id = $1",
            )
            .bind(&c.request_id)
            .fetch_optional(&mut *conn)
            .await?;
            rows::decide_refusal(current.as_ref(), c)
        }
    }
}

async fn read_token<'e, E>(executor: E, token_hash: &str) -> StoreResult<Option<DecisionToken>>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let row = sqlx::query(
        "SELECT id, request_id, action, token_hash, created_by, created_by_name, created_at, expires_at, used_at \
         FROM decision_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(rows::decision_token).transpose()
}

#[async_trait]
impl Store for PostgresStore {
    fn commit_signal(&self) -> Arc<Notify> {
        self.committed.clone()
    }

    fn invalidations(&self) -> Option<broadcast::Receiver<Invalidation>> {
        Some(self.invalidations.subscribe())
    }

    async fn latest_event_seq(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM events").fetch_one(&self.pool).await?;
        row.int("seq")
    }

    async fn events_after(&self, seq: i64, limit: u32, request_id: Option<&str>) -> StoreResult<Vec<StoredEvent>> {
        let sql = concat!(
            "SELECT e.seq AS event_seq, e.id AS event_id, e.event_type AS event_type, e.request_id AS event_request, \
             e.payload AS event_payload, e.created_at AS event_created_at, ",
            request_columns!("r."),
            " FROM events e LEFT JOIN approval_requests r ON r.id = e.request_id AND e.payload IS NULL \
             WHERE e.seq > $1 AND ($3::text IS NULL OR e.request_id = $3) ORDER BY e.seq LIMIT $2"
        );
        let rows = sqlx::query(sql).bind(seq).bind(i64::from(limit)).bind(request_id).fetch_all(&self.pool).await?;
        rows.iter().map(rows::stored_event).collect()
    }

    async fn expire_overdue(&self, now: Timestamp, limit: u32) -> StoreResult<usize> {
        self.write(move |conn| {
            Box::pin(async move {
                let expired = sqlx::query(
                    "UPDATE approval_requests SET status = 'expired', updated_at = $1, \
                     decision_reason = 'Expired without a decision' WHERE id IN (SELECT id FROM approval_requests \
                     WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= $1 \
                     ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) AND status = 'pending' \
                     RETURNING id, expires_at",
                )
                .bind(now.0)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
                if expired.is_empty() {
                    return Ok(0);
                }
                let mut ids = Vec::with_capacity(expired.len());
                let mut details = Vec::with_capacity(expired.len());
                for row in &expired {
                    ids.push(row.text("id")?);
                    details.push(rows::expiry_details(row.opt_ts("expires_at")?));
                }
                let audit_ids: Vec<String> = ids.iter().map(|_| crate::app::new_id()).collect();
                let event_ids: Vec<String> = ids.iter().map(|_| crate::app::new_id()).collect();
                sqlx::query(
                    "WITH a AS (INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) \
                     SELECT a_id, r_id, $3, 'system:expiry', d, $5 FROM UNNEST($1::text[], $2::text[], $4::text[]) \
                     AS x (a_id, r_id, d)) INSERT INTO events (id, event_type, request_id, payload, created_at) \
                     SELECT e_id, $6, r_id, NULL, $5 FROM UNNEST($7::text[], $2::text[]) AS y (e_id, r_id)",
                )
                .bind(&audit_ids)
                .bind(&ids)
                .bind(agentgate_core::audit::EXPIRED)
                .bind(&details)
                .bind(now.0)
                .bind(event::REQUEST_EXPIRED)
                .bind(&event_ids)
                .execute(&mut *conn)
                .await?;
                Ok(ids.len())
            })
        })
        .await
    }

    async fn next_expiry(&self) -> StoreResult<Option<Timestamp>> {
        sqlx::query(query::NEXT_EXPIRY).fetch_one(&self.pool).await?.opt_ts("next")
    }

    async fn ping(&self) -> StoreResult<()> {
        let pool = self.pool.clone();
        self.on_runtime(async move {
            sqlx::query("SELECT 1").execute(&pool).await?;
            Ok(())
        })
        .await
    }

    async fn close(&self) {
        self.writer.close().await;
        let listener = self.listener.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(listener) = listener {
            listener.abort();
        }
        self.pool.close().await;
    }

    async fn create_request(&self, new: NewRequest) -> StoreResult<()> {
        self.writer.create(new).await
    }

    async fn get_request(&self, id: &str) -> StoreResult<Option<ApprovalRequest>> {
        let row = sqlx::query(concat!("SELECT ", request_columns!(), " FROM approval_requests WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::request).transpose()
    }

    async fn list_requests(&self, filter: &RequestFilter, page: Page) -> StoreResult<(Vec<ApprovalRequest>, u64)> {
        query::fetch_page(&self.pool, &query::requests(filter), page, rows::request).await
    }

    async fn decide_request(&self, command: DecideCommand) -> StoreResult<DecideOutcome> {
        let command = Arc::new(command);
        self.write(move |conn| {
            let c = command.clone();
            Box::pin(async move { decide_in(conn, &c).await })
        })
        .await
    }

    async fn request_audit(&self, request_id: &str) -> StoreResult<Option<Vec<AuditEntry>>> {
        let exists = sqlx::query("SELECT 1 FROM approval_requests WHERE id = $1")
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT id, request_id, event_type, actor, details, created_at FROM audit_logs \
             WHERE request_id = $1 ORDER BY created_at ASC, seq ASC",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| rows::audit(r, false)).collect::<StoreResult<_>>().map(Some)
    }

    async fn list_audit(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEntry>, u64)> {
        query::fetch_page(&self.pool, &query::audit(filter), page, |row| rows::audit(row, true)).await
    }

    async fn audit_actions(&self) -> StoreResult<Vec<String>> {
        let rows =
            sqlx::query("SELECT DISTINCT action FROM approval_requests ORDER BY action").fetch_all(&self.pool).await?;
        rows.iter().map(|r| r.text("action")).collect()
    }

    async fn audit_actors(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT actor FROM audit_logs ORDER BY actor").fetch_all(&self.pool).await?;
        rows.iter().map(|r| r.text("actor")).collect()
    }

    async fn list_policies(&self, page: Page) -> StoreResult<(Vec<Policy>, u64)> {
        let (limit, offset) = query::page_binds(page);
        let rows = sqlx::query(concat!(
            "SELECT ",
            policy_columns!(),
            " FROM policies ORDER BY priority, created_at, id LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query("SELECT COUNT(*) AS total FROM policies").fetch_one(&self.pool).await?.int("total")?;
        let policies = rows.iter().map(rows::policy).collect::<StoreResult<_>>()?;
        Ok((policies, u64::try_from(total).unwrap_or(0)))
    }

    async fn enabled_policies(&self) -> StoreResult<Vec<Policy>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            policy_columns!(),
            " FROM policies WHERE enabled ORDER BY priority, created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::policy).collect()
    }

    async fn get_policy(&self, id: &str) -> StoreResult<Option<Policy>> {
        let row = sqlx::query(concat!("SELECT ", policy_columns!(), " FROM policies WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::policy).transpose()
    }

    async fn insert_policy(&self, policy: Policy, audit: NewAudit) -> StoreResult<()> {
        let rules = serde_json::to_string(&policy.rules)?;
        let shared = Arc::new((policy, audit, rules));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (p, audit, rules) = &*shared;
                sqlx::query(concat!(
                    "INSERT INTO policies (",
                    policy_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .bind(&p.id)
                .bind(&p.name)
                .bind(rules)
                .bind(p.priority)
                .bind(p.enabled)
                .bind(p.created_at.0)
                .bind(p.updated_at.0)
                .bind(p.version)
                .execute(&mut *conn)
                .await?;
                insert_audit(conn, audit).await
            })
        })
        .await
    }

    async fn replace_policy(
        &self,
        id: &str,
        spec: PolicySpec,
        now: Timestamp,
        audit: NewAudit,
    ) -> StoreResult<Option<Policy>> {
        let rules = serde_json::to_string(&spec.rules)?;
        let shared = Arc::new((id.to_owned(), spec, now, audit, rules));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (id, spec, now, audit, rules) = &*shared;
                let row = sqlx::query(concat!(
                    "UPDATE policies SET name = $1, rules = $2, priority = $3, enabled = $4, updated_at = $5, \
                     version = version + 1 WHERE id = $6 RETURNING ",
                    policy_columns!()
                ))
                .bind(&spec.name)
                .bind(rules)
                .bind(spec.priority)
                .bind(spec.enabled)
                .bind(now.0)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else { return Ok(None) };
                insert_audit(conn, audit).await?;
                rows::policy(&row).map(Some)
            })
        })
        .await
    }

    async fn delete_policy(&self, id: &str, audit: NewAudit) -> StoreResult<bool> {
        self.delete_audited("DELETE FROM policies WHERE id = $1", id, audit).await
    }

    async fn insert_decision_tokens(&self, tokens: [DecisionToken; 2], audit: NewAudit) -> StoreResult<MintOutcome> {
        let shared = Arc::new((tokens, audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (tokens, audit) = &*shared;
                let Some(row) = sqlx::query("SELECT status, expires_at FROM approval_requests WHERE id = $1")
                    .bind(&tokens[0].request_id)
                    .fetch_optional(&mut *conn)
                    .await?
                else {
                    return Ok(MintOutcome::NotFound);
                };
                if let Some(refusal) = rows::mint_refusal(&row, tokens[0].created_at)? {
                    return Ok(refusal);
                }
                for t in tokens {
                    sqlx::query(
                        "INSERT INTO decision_tokens (id, request_id, action, token_hash, created_by, created_by_name, \
                         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&t.id)
                    .bind(&t.request_id)
                    .bind(rows::token_action(t.verdict))
                    .bind(&t.token_hash)
                    .bind(&t.created_by)
                    .bind(&t.created_by_name)
                    .bind(t.created_at.0)
                    .bind(t.expires_at.0)
                    .execute(&mut *conn)
                    .await?;
                }
                insert_audit(conn, audit).await?;
                Ok(MintOutcome::Minted)
            })
        })
        .await
    }

    async fn find_decision_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<TokenOutcome<(DecisionToken, ApprovalRequest)>> {
        let Some(token) = read_token(&self.pool, token_hash).await? else { return Ok(TokenOutcome::Unknown) };
        if let Some(outcome) = rows::spent_or_expired(&token, now) {
            return Ok(outcome);
        }
        match self.get_request(&token.request_id).await? {
            Some(request) => Ok(TokenOutcome::Usable((token, request))),
            None => Ok(TokenOutcome::Unknown),
        }
    }

    async fn decide_with_token(&self, link: LinkDecision) -> StoreResult<TokenOutcome<(String, DecideOutcome)>> {
        let link = Arc::new(link);
        self.write(move |conn| {
            let link = link.clone();
            Box::pin(async move {
                let Some(token) = read_token(&mut *conn, &link.token_hash).await? else {
                    return Ok(TokenOutcome::Unknown);
                };
                if let Some(outcome) = rows::spent_or_expired(&token, link.now) {
                    return Ok(outcome);
                }
                let command = rows::link_command(&token, &link);
                let outcome = decide_in(conn, &command).await?;
                if matches!(outcome, DecideOutcome::Decided(_)) {
                    sqlx::query("UPDATE decision_tokens SET used_at = $1 WHERE request_id = $2 AND used_at IS NULL")
                        .bind(link.now.0)
                        .bind(&token.request_id)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(TokenOutcome::Usable((token.request_id, outcome)))
            })
        })
        .await
    }

    async fn active_overrides(&self, now: Timestamp) -> StoreResult<Vec<Override>> {
        let rows = sqlx::query(
            "SELECT id, agent_id, tool_pattern, action, reason, created_by, created_at, expires_at FROM overrides \
             WHERE expires_at IS NULL OR expires_at > $1 ORDER BY created_at, id",
        )
        .bind(now.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::override_entry).collect()
    }

    async fn insert_override(&self, item: Override, audit: NewAudit) -> StoreResult<()> {
        let shared = Arc::new((item, audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (o, audit) = &*shared;
                sqlx::query(
                    "INSERT INTO overrides (id, agent_id, tool_pattern, action, reason, created_by, created_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&o.id)
                .bind(&o.agent_id)
                .bind(&o.tool_pattern)
                .bind(&o.action)
                .bind(&o.reason)
                .bind(&o.created_by)
                .bind(o.created_at.0)
                .bind(o.expires_at.map(|t| t.0))
                .execute(&mut *conn)
                .await?;
                insert_audit(conn, audit).await
            })
        })
        .await
    }

    async fn delete_override(&self, id: &str, audit: NewAudit) -> StoreResult<bool> {
        self.delete_audited("DELETE FROM overrides WHERE id = $1", id, audit).await
    }

    async fn recent_requests(&self, since: Option<Timestamp>, limit: u32) -> StoreResult<Vec<ApprovalRequest>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM approval_requests WHERE created_at >= $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(since.map_or(i64::MIN, |t| t.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::request).collect()
    }

    async fn insert_api_key(
        &self,
        key: ApiKeyRecord,
        audit: Option<NewAudit>,
        only_if_none_exist: bool,
    ) -> StoreResult<bool> {
        let scopes = serde_json::to_string(&key.scopes)?;
        let shared = Arc::new((key, audit, scopes));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (k, audit, scopes) = &*shared;
                // Replicas starting together: the batch's advisory lock makes the check and insert atomic.
                let sql = if only_if_none_exist {
                    concat!(
                        "INSERT INTO api_keys (",
                        key_columns!(),
                        ") SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS (SELECT 1 FROM api_keys)"
                    )
                } else {
                    concat!("INSERT INTO api_keys (", key_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                };
                let inserted = sqlx::query(sql)
                    .bind(&k.id)
                    .bind(&k.key_hash)
                    .bind(&k.name)
                    .bind(scopes)
                    .bind(k.created_at.0)
                    .bind(k.last_used_at.map(|t| t.0))
                    .bind(k.revoked_at.map(|t| t.0))
                    .bind(k.rate_limit.map(i64::from))
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                    == 1;
                if let (true, Some(audit)) = (inserted, audit) {
                    insert_audit(conn, audit).await?;
                }
                Ok(inserted)
            })
        })
        .await
    }

    async fn find_active_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn record_key_usage(&self, usage: Vec<KeyUsage>) -> StoreResult<()> {
        if usage.is_empty() {
            return Ok(());
        }
        let usage = Arc::new(usage);
        self.write(move |conn| {
            let usage = usage.clone();
            Box::pin(async move {
                for key in usage.iter() {
                    sqlx::query(
                        "UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, 0), $1) WHERE id = $2",
                    )
                    .bind(key.last_used_at.0)
                    .bind(&key.key_id)
                    .execute(&mut *conn)
                    .await?;
                    for day in &key.requests {
                        sqlx::query(
                            "INSERT INTO api_key_usage (key_id, day, count) VALUES ($1, $2, $3) \
                             ON CONFLICT (key_id, day) DO UPDATE SET count = api_key_usage.count + excluded.count",
                        )
                        .bind(&key.key_id)
                        .bind(&day.date)
                        .bind(i64::try_from(day.requests).unwrap_or(i64::MAX))
                        .execute(&mut *conn)
                        .await?;
                    }
                }
                Ok(())
            })
        })
        .await
    }

    async fn key_requests_since(&self, first_day: &str) -> StoreResult<Vec<(String, DailyUsage)>> {
        let rows = sqlx::query("SELECT key_id, day, count FROM api_key_usage WHERE day >= $1 ORDER BY key_id, day")
            .bind(first_day)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let usage =
                    DailyUsage { date: row.text("day")?, requests: u64::try_from(row.int("count")?).unwrap_or(0) };
                Ok((row.text("key_id")?, usage))
            })
            .collect()
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::api_key).collect()
    }

    async fn update_api_key(&self, id: &str, patch: ApiKeyPatch, audit: NewAudit) -> StoreResult<Option<ApiKeyRecord>> {
        let shared = Arc::new((id.to_owned(), patch, audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (id, patch, audit) = &*shared;
                let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = $1 FOR UPDATE"))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let key = patch.apply(rows::api_key(&row)?);
                sqlx::query("UPDATE api_keys SET name = $1, scopes = $2, rate_limit = $3 WHERE id = $4")
                    .bind(&key.name)
                    .bind(serde_json::to_string(&key.scopes)?)
                    .bind(key.rate_limit.map(i64::from))
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                insert_audit(conn, audit).await?;
                Ok(Some(key))
            })
        })
        .await
    }

    async fn revoke_api_key(&self, id: &str, now: Timestamp, audit: NewAudit) -> StoreResult<Option<ApiKeyRecord>> {
        let shared = Arc::new((id.to_owned(), now, audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (id, now, audit) = &*shared;
                let row = sqlx::query(concat!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING ",
                    key_columns!()
                ))
                .bind(now.0)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else { return Ok(None) };
                insert_audit(conn, audit).await?;
                rows::api_key(&row).map(Some)
            })
        })
        .await
    }
}
