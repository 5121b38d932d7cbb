//! SQLite storage: one writer connection that commits in groups, and a pool of readers.
//!
//! SQLite allows one writer at a time, so a pool of writers only queues on the file lock. Instead every write is
//! a job sent to a single writer task, which takes everything queued, runs it in one transaction and commits
//! once; each caller is answered after that commit, so an acknowledged write is durable. If a job fails, the
//! batch is rolled back and its jobs are re-run one transaction each, so one bad job never fails the others and
//! no failed job leaves a partial write. Readers use their own connections; WAL mode lets them read while the
//! writer writes. See `../shared/reference/ceilings.md`: grouping commits is what makes the create path fast.

use super::*;
use agentgate_core::audit::event;
use agentgate_core::policy::Rule;
use agentgate_core::request::{DecisionRules, check_decision};
use agentgate_core::wire::AuditRequestRef;
use futures::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, Executor, Row, SqliteConnection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Most jobs committed in one transaction; bounds the latency one commit adds to the jobs queued behind it.
const MAX_BATCH: usize = 256;
const QUEUE_DEPTH: usize = 8192;
const READERS: u32 = 4;

macro_rules! request_columns {
    () => {
        request_columns!("")
    };
    // With a table alias prefix (`"r."`), for joins.
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "action, ",
            $p,
            "params, ",
            $p,
            "context, ",
            $p,
            "status, ",
            $p,
            "urgency, ",
            $p,
            "created_at, ",
            $p,
            "updated_at, ",
            $p,
            "decided_at, ",
            $p,
            "decided_by, ",
            $p,
            "decision_reason, ",
            $p,
            "expires_at, ",
            $p,
            "approvers, ",
            $p,
            "require_reason"
        )
    };
}
macro_rules! policy_columns {
    () => {
        "id, name, rules, priority, enabled, created_at, updated_at, version"
    };
}
macro_rules! key_columns {
    () => {
        "id, key_hash, name, scopes, created_at, last_used_at, revoked_at, rate_limit"
    };
}

mod sessions;
// After the column macros, which it uses.
mod webhooks;

pub struct SqliteStore {
    readers: SqlitePool,
    writer: mpsc::Sender<WriterMsg>,
    lookups: mpsc::Sender<Lookup>,
    stop_checkpoints: tokio::sync::watch::Sender<bool>,
    checkpointer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    committed: std::sync::Arc<tokio::sync::Notify>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, runs the embedded migrations and starts the writer.
    pub async fn open(path: &str) -> StoreResult<Self> {
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Reads straight from the page cache's memory map instead of read() copies.
            .pragma("mmap_size", "268435456")
            // Statement journals (kept while a multi-row insert runs inside the group transaction) in memory,
            // not in a temporary file written with a syscall per page.
            .pragma("temp_store", "memory");
        // The writer touches every index on every create: give it a larger page cache (grows only with use).
        // WAL checkpoints: the checkpointer task copies pages in the background (PASSIVE, never blocking), and the
        // writer checkpoints itself only once the WAL passes 4,096 pages (16 MiB). That one runs between
        // transactions, so it can complete and let the WAL restart from the beginning; a background checkpoint
        // alone never completes under sustained writes (new frames keep arriving) and the WAL would grow forever.
        let writer_options = options.clone().pragma("cache_size", "-32768").pragma("wal_autocheckpoint", "4096");
        let mut writer_conn = SqliteConnection::connect_with(&writer_options).await?;
        MIGRATOR.run(&mut writer_conn).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone().read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let committed = std::sync::Arc::new(tokio::sync::Notify::new());
        tokio::spawn(run_writer(writer_conn, rx, committed.clone()));
        let (lookups, lookup_rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run_lookups(readers.clone(), lookup_rx));
        let checkpoint_conn = SqliteConnection::connect_with(&options).await?;
        let (stop_checkpoints, stopped) = tokio::sync::watch::channel(false);
        let checkpointer = tokio::spawn(run_checkpoints(checkpoint_conn, stopped));
        Ok(Self {
            readers,
            writer: tx,
            lookups,
            stop_checkpoints,
            checkpointer: std::sync::Mutex::new(Some(checkpointer)),
            committed,
        })
    }

    /// Queues `job` for the writer and waits for its commit. `job` may run more than once (see the module
    /// docs), each time in a fresh transaction, so it must take its inputs by clone.
    async fn write<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job { run: job, output: None, reply });
        self.writer
            .send(WriterMsg::Job(job))
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?
    }
}

const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Copies committed WAL pages into the database file every half second (a PASSIVE checkpoint never waits for
/// the writer or readers), so the writer's own checkpoint finds little left to copy; once more, fully, on close.
async fn run_checkpoints(mut conn: SqliteConnection, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(CHECKPOINT_INTERVAL) => false,
            _ = stopped.changed() => true,
        };
        let mode = if stopping { "PRAGMA wal_checkpoint(TRUNCATE)" } else { "PRAGMA wal_checkpoint(PASSIVE)" };
        if let Err(e) = sqlx::query(AssertSqlSafe(mode)).execute(&mut conn).await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
        if stopping {
            let _ = conn.close().await;
            return;
        }
    }
}

/// One `get_request`, waiting to be looked up together with the others queued beside it.
struct Lookup {
    id: String,
    reply: oneshot::Sender<StoreResult<Option<ApprovalRequest>>>,
}

/// Answers request lookups in groups: everything queued becomes one `WHERE id IN (…)` query. Each query is a
/// round trip to a connection's thread (two context switches), which costs more than the lookup itself; agents
/// polling for their decisions make many lookups at once, and grouping them shares that cost.
async fn run_lookups(readers: SqlitePool, mut inbox: mpsc::Receiver<Lookup>) {
    let mut batch: Vec<Lookup> = Vec::with_capacity(MAX_LOOKUPS);
    while let Some(first) = inbox.recv().await {
        batch.push(first);
        for round in 0..2 {
            while batch.len() < MAX_LOOKUPS {
                match inbox.try_recv() {
                    Ok(lookup) => batch.push(lookup),
                    Err(_) => break,
                }
            }
            if round == 0 && batch.len() < MAX_LOOKUPS {
                tokio::task::yield_now().await;
            }
        }
        match lookup_requests(&readers, &batch).await {
            Ok(found) => {
                for lookup in batch.drain(..) {
                    let _ = lookup.reply.send(Ok(found.get(&lookup.id).cloned()));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for lookup in batch.drain(..) {
                    let _ = lookup.reply.send(Err(StoreError::Database(message.clone())));
                }
            }
        }
    }
}

const MAX_LOOKUPS: usize = 64;

async fn lookup_requests(
    readers: &SqlitePool,
    batch: &[Lookup],
) -> StoreResult<std::collections::HashMap<String, ApprovalRequest>> {
    // Pad the id list to a power of two so only seven statement shapes exist (all prepared once).
    let shape = batch.len().next_power_of_two();
    let sql =
        format!("SELECT {} FROM approval_requests WHERE id IN ({})", request_columns!(), vec!["?"; shape].join(", "));
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for i in 0..shape {
        query = query.bind(batch[i.min(batch.len() - 1)].id.as_str());
    }
    let rows = query.fetch_all(readers).await?;
    rows.iter().map(|row| request_from_row(row).map(|r| (r.id.clone(), r))).collect()
}

impl SqliteStore {
    /// Runs a `DELETE … WHERE id = ?1` and, when it removed a row, writes `audit` in the same transaction.
    async fn delete_audited(&self, sql: &'static str, id: &str, audit: NewAudit) -> StoreResult<bool> {
        let shared = std::sync::Arc::new((id.to_owned(), audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (id, audit) = &*shared;
                let deleted = sqlx::query(sql).bind(id).execute(&mut *conn).await?;
                if deleted.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(conn, audit).await?;
                Ok(true)
            })
        })
        .await
    }
}

enum WriterMsg {
    Job(Box<dyn WriteJob>),
    Close(oneshot::Sender<()>),
}

trait WriteJob: Send {
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<()>>;
    fn finish(self: Box<Self>, committed: StoreResult<()>);
    /// A request creation, which the writer may insert together with the creations queued next to it.
    fn new_request(&self) -> Option<&NewRequest> {
        None
    }
}

/// The hot path: creating a request. Consecutive creations in a batch are inserted with multi-row statements.
struct CreateJob {
    new: NewRequest,
    reply: oneshot::Sender<StoreResult<()>>,
}

impl WriteJob for CreateJob {
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<()>> {
        Box::pin(async move { insert_requests(conn, &[&self.new]).await })
    }

    fn finish(self: Box<Self>, committed: StoreResult<()>) {
        let _ = self.reply.send(committed);
    }

    fn new_request(&self) -> Option<&NewRequest> {
        Some(&self.new)
    }
}

struct Job<T, F> {
    run: F,
    output: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send + 'static,
    F: for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<()>> {
        Box::pin(async move {
            let result = (self.run)(conn).await;
            let ok = result.as_ref().map(|_| ()).map_err(|e| StoreError::Database(e.to_string()));
            self.output = Some(result);
            ok
        })
    }

    fn finish(self: Box<Self>, committed: StoreResult<()>) {
        let result = match (committed, self.output) {
            (Ok(()), Some(output)) => output,
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Database("write job finished without running".into())),
        };
        let _ = self.reply.send(result);
    }
}

async fn run_writer(
    mut conn: SqliteConnection,
    mut inbox: mpsc::Receiver<WriterMsg>,
    committed: std::sync::Arc<tokio::sync::Notify>,
) {
    let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(MAX_BATCH);
    let mut closing = None;
    let (mut batches, mut jobs) = (0u64, 0u64);
    while closing.is_none() {
        match inbox.recv().await {
            Some(WriterMsg::Job(job)) => batch.push(job),
            Some(WriterMsg::Close(done)) => closing = Some(done),
            None => break,
        }
        // Take everything queued; then let the other ready tasks run once (handlers about to queue a write)
        // and take what they queued too. With nothing else ready the yield returns at once, so this adds no
        // latency when idle and makes groups (and so commits) larger under load.
        for round in 0..2 {
            while batch.len() < MAX_BATCH && closing.is_none() {
                match inbox.try_recv() {
                    Ok(WriterMsg::Job(job)) => batch.push(job),
                    Ok(WriterMsg::Close(done)) => closing = Some(done),
                    Err(_) => break,
                }
            }
            if round == 0 && batch.len() < MAX_BATCH && closing.is_none() {
                tokio::task::yield_now().await;
            }
        }
        if !batch.is_empty() {
            batches += 1;
            jobs += batch.len() as u64;
            commit_batch(&mut conn, &mut batch).await;
            committed.notify_waiters();
        }
    }
    tracing::info!(batches, jobs, "database writer stopped");
    let _ = conn.close().await;
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

async fn commit_batch(conn: &mut SqliteConnection, batch: &mut Vec<Box<dyn WriteJob>>) {
    if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
        let message = e.to_string();
        for job in batch.drain(..) {
            job.finish(Err(StoreError::Unavailable(message.clone())));
        }
        return;
    }
    let mut all_ran = true;
    let mut next = 0;
    while next < batch.len() {
        let creates: Vec<&NewRequest> = batch[next..].iter().map_while(|job| job.new_request()).collect();
        let ran = if creates.is_empty() {
            next += 1;
            batch[next - 1].run(conn).await
        } else {
            next += creates.len();
            insert_requests(conn, &creates).await
        };
        if ran.is_err() {
            all_ran = false;
            break;
        }
    }
    if all_ran {
        match conn.execute("COMMIT").await {
            Ok(_) => {
                for job in batch.drain(..) {
                    job.finish(Ok(()));
                }
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "group commit failed; retrying jobs one by one")
            }
        }
    }
    let _ = conn.execute("ROLLBACK").await;
    // One transaction per job, so a failing job affects nobody else.
    for mut job in batch.drain(..) {
        let outcome = async {
            conn.execute("BEGIN IMMEDIATE").await?;
            if let Err(e) = job.run(conn).await {
                let _ = conn.execute("ROLLBACK").await;
                return Err(e);
            }
            if let Err(e) = conn.execute("COMMIT").await {
                let _ = conn.execute("ROLLBACK").await;
                return Err(e.into());
            }
            Ok(())
        }
        .await;
        job.finish(outcome);
    }
}

fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn opt_ts(row: &SqliteRow, col: &str) -> StoreResult<Option<Timestamp>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(Timestamp))
}

fn parse_enum<T: FromStr>(text: &str, what: &str) -> StoreResult<T> {
    text.parse().map_err(|_| StoreError::Database(format!("unknown {what} {text:?} in the database")))
}

fn request_from_row(row: &SqliteRow) -> StoreResult<ApprovalRequest> {
    Ok(ApprovalRequest {
        id: row.try_get("id")?,
        action: row.try_get("action")?,
        params: serde_json::from_str(row.try_get("params")?)?,
        context: serde_json::from_str(row.try_get("context")?)?,
        status: parse_enum(row.try_get("status")?, "status")?,
        urgency: parse_enum(row.try_get("urgency")?, "urgency")?,
        created_at: Timestamp(row.try_get("created_at")?),
        updated_at: Timestamp(row.try_get("updated_at")?),
        decided_at: opt_ts(row, "decided_at")?,
        decided_by: row.try_get("decided_by")?,
        decision_reason: row.try_get("decision_reason")?,
        expires_at: opt_ts(row, "expires_at")?,
        approvers: row.try_get::<Option<&str>, _>("approvers")?.map(serde_json::from_str).transpose()?,
        require_reason: row.try_get("require_reason")?,
        policy_decision: None,
    })
}

fn audit_from_row(row: &SqliteRow, with_request: bool) -> StoreResult<AuditEntry> {
    let details: Option<&str> = row.try_get("details")?;
    let request = if with_request {
        let id: Option<String> = row.try_get("r_id")?;
        Some(match id {
            Some(id) => Some(AuditRequestRef {
                id,
                action: row.try_get("r_action")?,
                status: parse_enum(row.try_get("r_status")?, "status")?,
                urgency: parse_enum(row.try_get("r_urgency")?, "urgency")?,
            }),
            None => None,
        })
    } else {
        None
    };
    Ok(AuditEntry {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        event_type: row.try_get("event_type")?,
        actor: row.try_get("actor")?,
        details: details.map(serde_json::from_str).transpose()?.unwrap_or(Value::Null),
        created_at: Timestamp(row.try_get("created_at")?),
        request,
    })
}

fn policy_from_row(row: &SqliteRow) -> StoreResult<Policy> {
    let rules: Vec<Rule> = serde_json::from_str(row.try_get("rules")?)?;
    Ok(Policy {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        rules,
        priority: row.try_get("priority")?,
        enabled: row.try_get("enabled")?,
        version: row.try_get("version")?,
        created_at: Timestamp(row.try_get("created_at")?),
        updated_at: Timestamp(row.try_get("updated_at")?),
    })
}

fn key_from_row(row: &SqliteRow) -> StoreResult<ApiKeyRecord> {
    let rate_limit: Option<i64> = row.try_get("rate_limit")?;
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        key_hash: row.try_get("key_hash")?,
        name: row.try_get("name")?,
        scopes: serde_json::from_str(row.try_get("scopes")?)?,
        created_at: Timestamp(row.try_get("created_at")?),
        last_used_at: opt_ts(row, "last_used_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
        rate_limit: rate_limit.and_then(|n| u32::try_from(n).ok()),
    })
}

/// Inserts new requests with their audit rows and events, as few statements as possible: the rows go in
/// multi-row `INSERT`s of 64, 16, 4 or 1 requests (a handful of statement shapes, so prepared statements are
/// reused), each chunk's three inserts sent as one statement batch, one round trip to the connection's thread.
async fn insert_requests(conn: &mut SqliteConnection, news: &[&NewRequest]) -> StoreResult<()> {
    let mut rest = news;
    while !rest.is_empty() {
        let size = [64, 16, 4, 1].into_iter().find(|n| *n <= rest.len()).unwrap_or(1);
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let audits = chunk.iter().map(|n| n.audit.len()).sum();
        let events = chunk.iter().map(|n| n.events.len()).sum();
        let mut query = sqlx::query(AssertSqlSafe(insert_requests_sql(chunk.len(), audits, events)));
        for new in chunk {
            let r = &new.request;
            query = query
                .bind(&r.id)
                .bind(&r.action)
                .bind(&new.params_json)
                .bind(&new.context_json)
                .bind(r.status.as_str())
                .bind(r.urgency.as_str())
                .bind(r.created_at.0)
                .bind(r.updated_at.0)
                .bind(r.decided_at.map(|t| t.0))
                .bind(&r.decided_by)
                .bind(&r.decision_reason)
                .bind(r.expires_at.map(|t| t.0))
                .bind(new.approvers_json.as_deref())
                .bind(r.require_reason);
        }
        for audit in chunk.iter().flat_map(|n| &n.audit) {
            query = query
                .bind(&audit.id)
                .bind(&audit.request_id)
                .bind(audit.event_type)
                .bind(&audit.actor)
                .bind(json_text(&audit.details))
                .bind(audit.created_at.0);
        }
        for event in chunk.iter().flat_map(|n| &n.events) {
            query = query
                .bind(&event.id)
                .bind(event.event_type)
                .bind(&event.request_id)
                .bind(&event.payload)
                .bind(event.created_at.0);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `INSERT`s for `requests`, `audits` and `events` rows, as one statement batch. Placeholders are plain `?`:
/// sqlx binds a batch's arguments positionally across its statements.
fn insert_requests_sql(requests: usize, audits: usize, events: usize) -> String {
    let values = |rows: usize, width: usize| {
        let row = format!("({})", vec!["?"; width].join(", "));
        vec![row; rows].join(", ")
    };
    let mut sql = format!("INSERT INTO approval_requests ({}) VALUES {};", request_columns!(), values(requests, 14));
    if audits > 0 {
        sql += &format!(
            "INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) VALUES {};",
            values(audits, 6)
        );
    }
    if events > 0 {
        sql += &format!(
            "INSERT INTO events (id, event_type, request_id, payload, created_at) VALUES {};",
            values(events, 5)
        );
    }
    sql
}

async fn insert_audit(conn: &mut SqliteConnection, audit: &NewAudit) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
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

/// The one decision: a conditional update of a pending request plus its audit row and events, inside the
/// caller's transaction. Every path that decides (API, link, and later channels) comes through here.
async fn decide_in(conn: &mut SqliteConnection, c: &DecideCommand) -> StoreResult<DecideOutcome> {
    let status = c.verdict.status();
    let mut details = serde_json::json!({ "reason": c.reason, "automatic": false });
    if let (Some(target), Value::Object(extra)) = (details.as_object_mut(), &c.audit_details) {
        target.extend(extra.clone());
    }
    let outcome_event = if status == RequestStatus::Approved { event::REQUEST_APPROVED } else { event::REQUEST_DENIED };
    // One round trip: the conditional update, then its audit row and events, each inserted only if
    // the statement before it changed a row (`changes() = 1`), so a refused decision writes nothing.
    // Decision events carry no payload: a decided request never changes again, so its row is the
    // payload. Placeholders are plain `?` (see `insert_requests_sql`).
    let row = sqlx::query(concat!(
        "UPDATE approval_requests SET status = ?, decided_at = ?, decided_by = ?, decision_reason = ?, \
             updated_at = ? WHERE id = ? AND status = 'pending' AND (expires_at IS NULL OR expires_at > ?) \
             AND (require_reason = 0 OR ? = 1) AND (approvers IS NULL OR EXISTS (SELECT 1 FROM \
             json_each(approvers) AS a JOIN json_each(?) AS d ON a.value = d.value)) RETURNING ",
        request_columns!(),
        "; INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) \
             SELECT ?, ?, ?, ?, ?, ? WHERE changes() = 1; \
             INSERT INTO events (id, event_type, request_id, payload, created_at) \
             SELECT ?, ?, ?, NULL, ? WHERE changes() = 1; \
             INSERT INTO events (id, event_type, request_id, payload, created_at) \
             SELECT ?, ?, ?, NULL, ? WHERE changes() = 1"
    ))
    .bind(status.as_str())
    .bind(c.now.0)
    .bind(&c.actor)
    .bind(&c.reason)
    .bind(c.now.0)
    .bind(&c.request_id)
    .bind(c.now.0)
    .bind(c.reason.is_some())
    .bind(serde_json::to_string(&c.identities)?)
    .bind(&c.audit_id)
    .bind(&c.request_id)
    .bind(status.as_str())
    .bind(&c.actor)
    .bind(json_text(&details))
    .bind(c.now.0)
    .bind(&c.event_ids[0])
    .bind(outcome_event)
    .bind(&c.request_id)
    .bind(c.now.0)
    .bind(&c.event_ids[1])
    .bind(event::REQUEST_DECIDED)
    .bind(&c.request_id)
    .bind(c.now.0)
    // fetch_all, not fetch_optional: sqlx stops a batch after the row limit, skipping the inserts.
    .fetch_all(&mut *conn)
    .await?;
    let Some(row) = row.first() else {
        let current =
            sqlx::query("SELECT status, expires_at, approvers, require_reason FROM approval_requests WHERE id = ?1")
                .bind(&c.request_id)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(current) = current else {
            return Ok(DecideOutcome::NotFound);
        };
        let status: RequestStatus = parse_enum(current.try_get("status")?, "status")?;
        let approvers: Option<Vec<String>> =
            current.try_get::<Option<&str>, _>("approvers")?.map(serde_json::from_str).transpose()?;
        let rules =
            DecisionRules { approvers: approvers.as_deref(), require_reason: current.try_get("require_reason")? };
        let expires_at = opt_ts(&current, "expires_at")?;
        let verdict = check_decision(status, expires_at, c.now, rules, &c.identities, c.reason.is_some());
        return Ok(match verdict {
            Err(refusal) => DecideOutcome::Refused(refusal),
            // Unreachable unless the row changed between the two statements of this transaction.
            Ok(()) => DecideOutcome::Refused(DecideRefusal::AlreadyDecided(status)),
        });
    };
    let request = request_from_row(row)?;
    Ok(DecideOutcome::Decided(Box::new(request)))
}

/// The body every consumer of an outbox event gets (`{"event", "data": {"request"}, "timestamp"}`) and the
/// request alone, from a row with `event_type`, `event_created_at`, `event_payload` and the `r.` request columns
/// (joined for decision events, whose payload is the request's final row).
fn event_body(row: &SqliteRow) -> StoreResult<(String, String)> {
    let event_type: String = row.try_get("event_type")?;
    let created_at: i64 = row.try_get("event_created_at")?;
    let request = match row.try_get::<Option<String>, _>("event_payload")? {
        Some(payload) => payload,
        None => serde_json::to_string(&request_from_row(row)?)?,
    };
    let body = format!(
        r#"{{"event":{},"data":{{"request":{request}}},"timestamp":{created_at}}}"#,
        serde_json::to_string(&event_type)?
    );
    Ok((body, request))
}

fn token_action(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approved => "approve",
        Verdict::Denied => "deny",
    }
}

async fn read_token<'e, E>(executor: E, token_hash: &str) -> StoreResult<Option<DecisionToken>>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let row = sqlx::query(
        "SELECT id, request_id, action, token_hash, created_by, created_by_name, created_at, expires_at, used_at \
         FROM decision_tokens WHERE token_hash = ?1",
    )
    .bind(token_hash)
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let verdict = match row.try_get::<&str, _>("action")? {
        "approve" => Verdict::Approved,
        _ => Verdict::Denied,
    };
    Ok(Some(DecisionToken {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        verdict,
        token_hash: row.try_get("token_hash")?,
        created_by: row.try_get("created_by")?,
        created_by_name: row.try_get("created_by_name")?,
        created_at: Timestamp(row.try_get("created_at")?),
        expires_at: Timestamp(row.try_get("expires_at")?),
        used_at: opt_ts(&row, "used_at")?,
    }))
}

/// A value bound to a dynamically assembled WHERE clause.
enum Bind {
    Text(String),
    Int(i64),
}

/// Assembles `WHERE a = ?1 AND b >= ?2 …` from fixed column expressions; user input only ever goes in binds.
#[derive(Default)]
struct Conditions {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    fn push(&mut self, expr: &str, op: &str, bind: Bind) {
        self.binds.push(bind);
        self.clauses.push(format!("{expr} {op} ?{}", self.binds.len()));
    }

    fn where_clause(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }

    fn next_placeholder(&self, n: usize) -> usize {
        self.binds.len() + n
    }

    fn bind_all<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        for bind in &self.binds {
            query = match bind {
                Bind::Text(s) => query.bind(s.as_str()),
                Bind::Int(n) => query.bind(*n),
            };
        }
        query
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn commit_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.committed.clone()
    }

    async fn latest_event_seq(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(&self.readers).await?;
        Ok(row.try_get(0)?)
    }

    async fn events_after(&self, seq: i64, limit: u32, request_id: Option<&str>) -> StoreResult<Vec<StoredEvent>> {
        // Decision events carry no payload: their request's row (which no longer changes) is joined instead.
        let sql = concat!(
            "SELECT e.seq AS event_seq, e.id AS event_id, e.event_type AS event_type, e.request_id AS event_request, \
             e.payload AS event_payload, e.created_at AS event_created_at, ",
            request_columns!("r."),
            " FROM events e LEFT JOIN approval_requests r ON r.id = e.request_id AND e.payload IS NULL \
             WHERE e.seq > ?1 AND (?3 IS NULL OR e.request_id = ?3) ORDER BY e.seq LIMIT ?2"
        );
        let rows = sqlx::query(sql).bind(seq).bind(i64::from(limit)).bind(request_id).fetch_all(&self.readers).await?;
        rows.iter()
            .map(|row| {
                let (body, request) = event_body(row)?;
                Ok(StoredEvent {
                    seq: row.try_get("event_seq")?,
                    id: row.try_get("event_id")?,
                    event_type: row.try_get("event_type")?,
                    request_id: row.try_get("event_request")?,
                    created_at: Timestamp(row.try_get("event_created_at")?),
                    body,
                    request_json: bytes::Bytes::from(request),
                })
            })
            .collect()
    }

    async fn expire_overdue(&self, now: Timestamp, limit: u32) -> StoreResult<usize> {
        self.write(move |conn| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "UPDATE approval_requests SET status = 'expired', updated_at = ?1, \
                     decision_reason = 'Expired without a decision' WHERE id IN (SELECT id FROM approval_requests \
                     WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?1 \
                     ORDER BY expires_at LIMIT ?2) AND status = 'pending' RETURNING id, expires_at",
                )
                .bind(now.0)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
                for row in &rows {
                    let id: String = row.try_get("id")?;
                    let expires_at = opt_ts(row, "expires_at")?;
                    sqlx::query(
                        "INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?); \
                         INSERT INTO events (id, event_type, request_id, payload, created_at) VALUES (?, ?, ?, NULL, ?)",
                    )
                    .bind(crate::app::new_id())
                    .bind(&id)
                    .bind(agentgate_core::audit::EXPIRED)
                    .bind("system:expiry")
                    .bind(serde_json::json!({ "expiresAt": expires_at, "automatic": true }).to_string())
                    .bind(now.0)
                    .bind(crate::app::new_id())
                    .bind(event::REQUEST_EXPIRED)
                    .bind(&id)
                    .bind(now.0)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(rows.len())
            })
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.writer.send(WriterMsg::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
        self.readers.close().await;
        let _ = self.stop_checkpoints.send(true);
        let checkpointer = self.checkpointer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(checkpointer) = checkpointer {
            let _ = checkpointer.await;
        }
    }

    async fn create_request(&self, new: NewRequest) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(CreateJob { new, reply });
        self.writer
            .send(WriterMsg::Job(job))
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?
    }

    async fn get_request(&self, id: &str) -> StoreResult<Option<ApprovalRequest>> {
        let (reply, answer) = oneshot::channel();
        self.lookups
            .send(Lookup { id: id.to_owned(), reply })
            .await
            .map_err(|_| StoreError::Unavailable("the database reader has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the database reader has stopped".into()))?
    }

    async fn list_requests(&self, filter: &RequestFilter, page: Page) -> StoreResult<(Vec<ApprovalRequest>, u64)> {
        let mut cond = Conditions::default();
        if let Some(status) = filter.status {
            cond.push("status", "=", Bind::Text(status.as_str().into()));
        }
        if let Some(action) = &filter.action {
            cond.push("action", "=", Bind::Text(action.clone()));
        }
        if let Some(urgency) = filter.urgency {
            cond.push("urgency", "=", Bind::Text(urgency.as_str().into()));
        }
        let where_clause = cond.where_clause();
        // Status-only (or no) filters are counted from the trigger-maintained counts.
        let count_sql = if filter.action.is_none() && filter.urgency.is_none() {
            format!("SELECT COALESCE(SUM(count), 0) FROM request_counts{where_clause}")
        } else {
            format!("SELECT COUNT(*) FROM approval_requests{where_clause}")
        };
        // The count rides along as a constant subquery (evaluated once), so a page is one round trip.
        let list_sql = format!(
            "SELECT {}, ({count_sql}) AS total FROM approval_requests{where_clause} \
             ORDER BY created_at DESC, id DESC LIMIT ?{} OFFSET ?{}",
            request_columns!(),
            cond.next_placeholder(1),
            cond.next_placeholder(2)
        );
        let rows = cond
            .bind_all(sqlx::query(AssertSqlSafe(list_sql)))
            .bind(i64::from(page.limit))
            .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
            .fetch_all(&self.readers)
            .await?;
        let total: i64 = match rows.first() {
            Some(row) => row.try_get("total")?,
            None if page.offset == 0 => 0,
            None => cond.bind_all(sqlx::query(AssertSqlSafe(count_sql))).fetch_one(&self.readers).await?.try_get(0)?,
        };
        let requests = rows.iter().map(request_from_row).collect::<StoreResult<_>>()?;
        Ok((requests, u64::try_from(total).unwrap_or(0)))
    }

    async fn decide_request(&self, command: DecideCommand) -> StoreResult<DecideOutcome> {
        let command = std::sync::Arc::new(command);
        self.write(move |conn| {
            let c = command.clone();
            Box::pin(async move { decide_in(conn, &c).await })
        })
        .await
    }

    async fn request_audit(&self, request_id: &str) -> StoreResult<Option<Vec<AuditEntry>>> {
        let exists = sqlx::query("SELECT 1 FROM approval_requests WHERE id = ?1")
            .bind(request_id)
            .fetch_optional(&self.readers)
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT id, request_id, event_type, actor, details, created_at FROM audit_logs \
             WHERE request_id = ?1 ORDER BY created_at ASC, seq ASC",
        )
        .bind(request_id)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(|r| audit_from_row(r, false)).collect::<StoreResult<_>>().map(Some)
    }

    async fn list_audit(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEntry>, u64)> {
        let mut cond = Conditions::default();
        if let Some(v) = &filter.event_type {
            cond.push("a.event_type", "=", Bind::Text(v.clone()));
        }
        if let Some(v) = &filter.actor {
            cond.push("a.actor", "=", Bind::Text(v.clone()));
        }
        if let Some(v) = &filter.request_id {
            cond.push("a.request_id", "=", Bind::Text(v.clone()));
        }
        if let Some(v) = &filter.action {
            cond.push("r.action", "=", Bind::Text(v.clone()));
        }
        if let Some(v) = filter.status {
            cond.push("r.status", "=", Bind::Text(v.as_str().into()));
        }
        if let Some(v) = filter.from {
            cond.push("a.created_at", ">=", Bind::Int(v.0));
        }
        if let Some(v) = filter.to {
            cond.push("a.created_at", "<=", Bind::Int(v.0));
        }
        let where_clause = cond.where_clause();
        let from = "FROM audit_logs a LEFT JOIN approval_requests r ON r.id = a.request_id";
        let list_sql = format!(
            "SELECT a.id, a.request_id, a.event_type, a.actor, a.details, a.created_at, r.id AS r_id, \
             r.action AS r_action, r.status AS r_status, r.urgency AS r_urgency {from}{where_clause} \
             ORDER BY a.created_at DESC, a.seq DESC LIMIT ?{} OFFSET ?{}",
            cond.next_placeholder(1),
            cond.next_placeholder(2)
        );
        // The join only matters to the count when a filter reads the request.
        let count_from = if filter.action.is_none() && filter.status.is_none() { "FROM audit_logs a" } else { from };
        let count_sql = format!("SELECT COUNT(*) {count_from}{where_clause}");
        let rows = cond
            .bind_all(sqlx::query(AssertSqlSafe(list_sql)))
            .bind(i64::from(page.limit))
            .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
            .fetch_all(&self.readers)
            .await?;
        let total: i64 =
            cond.bind_all(sqlx::query(AssertSqlSafe(count_sql))).fetch_one(&self.readers).await?.try_get(0)?;
        let entries = rows.iter().map(|r| audit_from_row(r, true)).collect::<StoreResult<_>>()?;
        Ok((entries, u64::try_from(total).unwrap_or(0)))
    }

    async fn audit_actions(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT action FROM approval_requests ORDER BY action")
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(|r| r.try_get(0).map_err(StoreError::from)).collect()
    }

    async fn audit_actors(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT actor FROM audit_logs ORDER BY actor").fetch_all(&self.readers).await?;
        rows.iter().map(|r| r.try_get(0).map_err(StoreError::from)).collect()
    }

    async fn list_policies(&self, page: Page) -> StoreResult<(Vec<Policy>, u64)> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            policy_columns!(),
            " FROM policies ORDER BY priority, created_at, id LIMIT ?1 OFFSET ?2"
        ))
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&self.readers)
        .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM policies").fetch_one(&self.readers).await?.try_get(0)?;
        let policies = rows.iter().map(policy_from_row).collect::<StoreResult<_>>()?;
        Ok((policies, u64::try_from(total).unwrap_or(0)))
    }

    async fn enabled_policies(&self) -> StoreResult<Vec<Policy>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            policy_columns!(),
            " FROM policies WHERE enabled = 1 ORDER BY priority, created_at, id"
        ))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(policy_from_row).collect()
    }

    async fn get_policy(&self, id: &str) -> StoreResult<Option<Policy>> {
        let row = sqlx::query(concat!("SELECT ", policy_columns!(), " FROM policies WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(policy_from_row).transpose()
    }

    async fn insert_policy(&self, policy: Policy, audit: NewAudit) -> StoreResult<()> {
        let rules = serde_json::to_string(&policy.rules)?;
        let shared = std::sync::Arc::new((policy, audit, rules));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (p, audit, rules) = &*shared;
                sqlx::query(concat!(
                    "INSERT INTO policies (",
                    policy_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
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
        let shared = std::sync::Arc::new((id.to_owned(), spec, now, audit, rules));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (id, spec, now, audit, rules) = &*shared;
                let row = sqlx::query(concat!(
                    "UPDATE policies SET name = ?1, rules = ?2, priority = ?3, enabled = ?4, updated_at = ?5, \
                     version = version + 1 WHERE id = ?6 RETURNING ",
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
                policy_from_row(&row).map(Some)
            })
        })
        .await
    }

    async fn delete_policy(&self, id: &str, audit: NewAudit) -> StoreResult<bool> {
        self.delete_audited("DELETE FROM policies WHERE id = ?1", id, audit).await
    }

    async fn insert_decision_tokens(&self, tokens: [DecisionToken; 2], audit: NewAudit) -> StoreResult<MintOutcome> {
        let shared = std::sync::Arc::new((tokens, audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (tokens, audit) = &*shared;
                let Some(row) = sqlx::query("SELECT status, expires_at FROM approval_requests WHERE id = ?1")
                    .bind(&tokens[0].request_id)
                    .fetch_optional(&mut *conn)
                    .await?
                else {
                    return Ok(MintOutcome::NotFound);
                };
                let status: RequestStatus = parse_enum(row.try_get("status")?, "status")?;
                if check_decision(
                    status,
                    opt_ts(&row, "expires_at")?,
                    tokens[0].created_at,
                    DecisionRules::default(),
                    &[],
                    true,
                )
                .is_err()
                {
                    let shown = if status == RequestStatus::Pending { RequestStatus::Expired } else { status };
                    return Ok(MintOutcome::NotPending(shown));
                }
                for t in tokens {
                    sqlx::query(
                        "INSERT INTO decision_tokens (id, request_id, action, token_hash, created_by, created_by_name, \
                         created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )
                    .bind(&t.id)
                    .bind(&t.request_id)
                    .bind(token_action(t.verdict))
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
        let Some(token) = read_token(&self.readers, token_hash).await? else { return Ok(TokenOutcome::Unknown) };
        if token.used_at.is_some() {
            return Ok(TokenOutcome::Used);
        }
        if token.expires_at <= now {
            return Ok(TokenOutcome::Expired);
        }
        match self.get_request(&token.request_id).await? {
            Some(request) => Ok(TokenOutcome::Usable((token, request))),
            None => Ok(TokenOutcome::Unknown),
        }
    }

    async fn decide_with_token(&self, link: LinkDecision) -> StoreResult<TokenOutcome<(String, DecideOutcome)>> {
        let link = std::sync::Arc::new(link);
        self.write(move |conn| {
            let link = link.clone();
            Box::pin(async move {
                let Some(token) = read_token(&mut *conn, &link.token_hash).await? else {
                    return Ok(TokenOutcome::Unknown);
                };
                if token.used_at.is_some() {
                    return Ok(TokenOutcome::Used);
                }
                if token.expires_at <= link.now {
                    return Ok(TokenOutcome::Expired);
                }
                let command = DecideCommand {
                    request_id: token.request_id.clone(),
                    verdict: token.verdict,
                    reason: link.reason.clone(),
                    actor: format!("link:{}", token.id),
                    identities: vec![token.created_by.clone(), token.created_by_name.clone()],
                    audit_details: serde_json::json!({
                        "method": "link", "tokenId": token.id, "mintedBy": token.created_by,
                    }),
                    audit_id: link.audit_id.clone(),
                    event_ids: link.event_ids.clone(),
                    now: link.now,
                };
                let outcome = decide_in(conn, &command).await?;
                if matches!(outcome, DecideOutcome::Decided(_)) {
                    sqlx::query("UPDATE decision_tokens SET used_at = ?1 WHERE request_id = ?2 AND used_at IS NULL")
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
             WHERE expires_at IS NULL OR expires_at > ?1 ORDER BY created_at, id",
        )
        .bind(now.0)
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Override {
                    id: row.try_get("id")?,
                    agent_id: row.try_get("agent_id")?,
                    tool_pattern: row.try_get("tool_pattern")?,
                    action: row.try_get("action")?,
                    reason: row.try_get("reason")?,
                    created_by: row.try_get("created_by")?,
                    created_at: Timestamp(row.try_get("created_at")?),
                    expires_at: opt_ts(row, "expires_at")?,
                })
            })
            .collect()
    }

    async fn insert_override(&self, item: Override, audit: NewAudit) -> StoreResult<()> {
        let shared = std::sync::Arc::new((item, audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (o, audit) = &*shared;
                sqlx::query(
                    "INSERT INTO overrides (id, agent_id, tool_pattern, action, reason, created_by, created_at, \
                     expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
        self.delete_audited("DELETE FROM overrides WHERE id = ?1", id, audit).await
    }

    async fn recent_requests(&self, since: Option<Timestamp>, limit: u32) -> StoreResult<Vec<ApprovalRequest>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM approval_requests WHERE created_at >= ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
        ))
        .bind(since.map_or(i64::MIN, |t| t.0))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    async fn insert_api_key(
        &self,
        key: ApiKeyRecord,
        audit: Option<NewAudit>,
        only_if_none_exist: bool,
    ) -> StoreResult<bool> {
        let scopes = serde_json::to_string(&key.scopes)?;
        let shared = std::sync::Arc::new((key, audit, scopes));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (k, audit, scopes) = &*shared;
                let sql = if only_if_none_exist {
                    concat!(
                        "INSERT INTO api_keys (",
                        key_columns!(),
                        ") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE NOT EXISTS (SELECT 1 FROM api_keys)"
                    )
                } else {
                    concat!("INSERT INTO api_keys (", key_columns!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
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
            " FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn record_key_usage(&self, usage: Vec<KeyUsage>) -> StoreResult<()> {
        if usage.is_empty() {
            return Ok(());
        }
        let usage = std::sync::Arc::new(usage);
        self.write(move |conn| {
            let usage = usage.clone();
            Box::pin(async move {
                for key in usage.iter() {
                    sqlx::query("UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?1) WHERE id = ?2")
                        .bind(key.last_used_at.0)
                        .bind(&key.key_id)
                        .execute(&mut *conn)
                        .await?;
                    for day in &key.requests {
                        sqlx::query(
                            "INSERT INTO api_key_usage (key_id, day, count) VALUES (?1, ?2, ?3) \
                             ON CONFLICT (key_id, day) DO UPDATE SET count = count + excluded.count",
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
        let rows = sqlx::query("SELECT key_id, day, count FROM api_key_usage WHERE day >= ?1 ORDER BY key_id, day")
            .bind(first_day)
            .fetch_all(&self.readers)
            .await?;
        rows.iter()
            .map(|row| {
                let count: i64 = row.try_get("count")?;
                let usage = DailyUsage { date: row.try_get("day")?, requests: u64::try_from(count).unwrap_or(0) };
                Ok((row.try_get("key_id")?, usage))
            })
            .collect()
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys ORDER BY created_at, id"))
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn update_api_key(&self, id: &str, patch: ApiKeyPatch, audit: NewAudit) -> StoreResult<Option<ApiKeyRecord>> {
        let shared = std::sync::Arc::new((id.to_owned(), patch, audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (id, patch, audit) = &*shared;
                let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = ?1"))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let mut key = key_from_row(&row)?;
                if let Some(name) = &patch.name {
                    key.name = name.clone();
                }
                if let Some(scopes) = &patch.scopes {
                    key.scopes = scopes.clone();
                }
                if let Some(limit) = patch.rate_limit {
                    key.rate_limit = limit;
                }
                sqlx::query("UPDATE api_keys SET name = ?1, scopes = ?2, rate_limit = ?3 WHERE id = ?4")
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
        let shared = std::sync::Arc::new((id.to_owned(), now, audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (id, now, audit) = &*shared;
                let row = sqlx::query(concat!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2 RETURNING ",
                    key_columns!()
                ))
                .bind(now.0)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else { return Ok(None) };
                insert_audit(conn, audit).await?;
                key_from_row(&row).map(Some)
            })
        })
        .await
    }
}
