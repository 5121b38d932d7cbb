//! SQLite storage: one writer connection that commits in groups, and a pool of readers.
//!
//! SQLite allows one writer at a time, so a pool of writers only queues on the file lock. Instead every write is
//! a job sent to a single writer task, which takes everything queued, runs it in one transaction and commits
//! once; each caller is answered after that commit, so an acknowledged write is durable. If a job fails, the
//! batch is rolled back and its jobs are re-run one transaction each, so one bad job never fails the others and
//! no failed job leaves a partial write. Readers use their own connections; WAL mode lets them read while the
//! writer writes. See `../shared/reference/ceilings.md`: grouping commits is what makes the create path fast.

use super::query;
use super::rows::{self, Columns};
use super::writer::{Job, Session, Writer};
use super::*;
use agentgate_core::audit::event;
use futures::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, Executor, Row, SqliteConnection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const QUEUE_DEPTH: usize = 8192;
const READERS: u32 = 4;

mod channels;
mod maintenance;
mod sessions;
mod webhooks;

pub use maintenance::backup;

pub struct SqliteStore {
    readers: SqlitePool,
    writer: Writer<SqliteConnection>,
    lookups: mpsc::Sender<Lookup>,
    stop_checkpoints: tokio::sync::watch::Sender<bool>,
    checkpointer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    committed: std::sync::Arc<tokio::sync::Notify>,
    decisions: std::sync::Arc<DecisionFeed>,
}

/// The decision events the writer commits, held until the tailer takes them (`Store::take_committed_after`).
/// A decision's job notes its events as `pending`; the writer's session moves them to `committed` once the
/// transaction has committed (before the commit is signalled), and drops them if it rolls back.
#[derive(Default)]
struct DecisionFeed {
    pending: std::sync::Mutex<Vec<StoredEvent>>,
    committed: std::sync::Mutex<std::collections::VecDeque<StoredEvent>>,
}

/// Most committed decision events held for the tailer (~1 KB each). It takes them after each commit, so more
/// only pile up while nobody listens, and a run cut short only means the tailer reads those from the outbox.
const DECISION_FEED: usize = 64;

impl DecisionFeed {
    fn note(&self, events: impl IntoIterator<Item = StoredEvent>) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).extend(events);
    }

    fn publish(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.is_empty() {
            return;
        }
        let mut committed = self.committed.lock().unwrap_or_else(|p| p.into_inner());
        committed.extend(pending.drain(..));
        let excess = committed.len().saturating_sub(DECISION_FEED);
        committed.drain(..excess);
    }

    fn discard(&self) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The held events from `seq + 1` on while their numbers follow without a gap (an event not held, a
    /// creation say, ends the run: the outbox has it); older ones are dropped.
    fn take_after(&self, seq: i64) -> Vec<StoredEvent> {
        let mut committed = self.committed.lock().unwrap_or_else(|p| p.into_inner());
        while committed.front().is_some_and(|event| event.seq <= seq) {
            committed.pop_front();
        }
        let mut run = Vec::new();
        let mut next = seq + 1;
        while committed.front().is_some_and(|event| event.seq == next) {
            run.extend(committed.pop_front());
            next += 1;
        }
        run
    }
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
            // No ping before each use: a connection to a local file does not drop, and the ping is a round trip
            // to the connection's thread on every read.
            .test_before_acquire(false)
            .connect_with(options.clone().read_only(true))
            .await?;
        let committed = std::sync::Arc::new(tokio::sync::Notify::new());
        let decisions = std::sync::Arc::new(DecisionFeed::default());
        let writer = Writer::start(SqliteSession(writer_conn, decisions.clone()), committed.clone());
        let (lookups, lookup_rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run_lookups(readers.clone(), lookup_rx));
        let checkpoint_conn = SqliteConnection::connect_with(&options).await?;
        let (stop_checkpoints, stopped) = tokio::sync::watch::channel(false);
        let checkpointer = tokio::spawn(run_checkpoints(checkpoint_conn, writer.clone(), committed.clone(), stopped));
        Ok(Self {
            readers,
            writer,
            lookups,
            stop_checkpoints,
            checkpointer: std::sync::Mutex::new(Some(checkpointer)),
            committed,
            decisions,
        })
    }

    /// Queues `job` for the writer and waits for its commit (see [`Writer::write`]).
    async fn write<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.writer.write(job).await
    }
}

/// The writer's connection: `BEGIN IMMEDIATE` takes the write lock up front, so a batch never fails halfway on
/// a busy database.
struct SqliteSession(SqliteConnection, std::sync::Arc<DecisionFeed>);

#[async_trait]
impl Session for SqliteSession {
    type Conn = SqliteConnection;

    async fn begin(&mut self) -> StoreResult<()> {
        self.0.execute("BEGIN IMMEDIATE").await?;
        Ok(())
    }

    async fn commit(&mut self) -> StoreResult<()> {
        self.0.execute("COMMIT").await?;
        Ok(())
    }

    fn committed(&mut self) {
        self.1.publish();
    }

    async fn rollback(&mut self) {
        self.1.discard();
        let _ = self.0.execute("ROLLBACK").await;
    }

    async fn run(&mut self, job: &mut (dyn Job<SqliteConnection> + '_)) -> StoreResult<()> {
        job.run(&mut self.0).await
    }

    async fn insert_requests(&mut self, news: &[&NewRequest]) -> StoreResult<()> {
        insert_requests(&mut self.0, news).await
    }

    async fn close(self) {
        let _ = self.0.close().await;
    }
}

const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Copies committed WAL pages into the database file every half second while there are new ones (a PASSIVE
/// checkpoint never waits for the writer or readers), so the writer's own checkpoint finds little left to copy and
/// a commit reaches the disk within about half a second; once more, fully, on close.
///
/// When a checkpoint has copied the whole WAL, SQLite starts the WAL over at the next commit, and writing the new
/// WAL header costs that commit an fsync (~0.5 ms here). The commit after a quiet spell is typically a human's
/// decision that an agent is blocked on, so the restart is done at once, in the background: the writer changes
/// nothing on page 1 (`user_version` set to itself), which starts the WAL over, and the next real commit only
/// appends. That write is quiet (it does not signal `committed`), so it is not itself taken for new data.
async fn run_checkpoints(
    mut conn: SqliteConnection,
    writer: Writer<SqliteConnection>,
    committed: std::sync::Arc<tokio::sync::Notify>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut new_commits = std::pin::pin!(committed.notified());
    new_commits.as_mut().enable();
    // Whether frames may remain that no checkpoint has copied: those written before this task started, or those
    // the last checkpoint could not copy (a reader was still using them).
    let mut behind = true;
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(CHECKPOINT_INTERVAL) => false,
            _ = stopped.changed() => true,
        };
        if stopping {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
            let _ = conn.close().await;
            return;
        }
        let committed_since = futures::FutureExt::now_or_never(new_commits.as_mut()).is_some();
        if !committed_since && !behind {
            continue;
        }
        // Armed again before checkpointing, so a commit during the checkpoint is copied by the next one.
        new_commits.set(committed.notified());
        new_commits.as_mut().enable();
        let outcome = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut conn).await;
        let (busy, log, copied) = match outcome {
            Ok(counts) => counts,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                behind = true;
                continue;
            }
        };
        behind = busy != 0 || copied < log;
        if !behind
            && log > 0
            && let Err(e) = writer.write_quietly(|conn| Box::pin(restart_wal(conn))).await
        {
            tracing::debug!(error = %e, "could not restart the WAL ahead of the next commit");
        }
    }
}

/// A write that changes nothing: SQLite starts a fully checkpointed WAL over when a transaction writes a page.
async fn restart_wal(conn: &mut SqliteConnection) -> StoreResult<()> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *conn).await?;
    sqlx::query(AssertSqlSafe(format!("PRAGMA user_version = {version}"))).execute(&mut *conn).await?;
    Ok(())
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
    rows.iter().map(|row| rows::request(row).map(|r| (r.id.clone(), r))).collect()
}

impl SqliteStore {
    /// When the earliest pending row of a lease queue (`webhook_deliveries`, `channel_deliveries`) comes due.
    async fn queue_next_due(&self, table: &'static str) -> StoreResult<Option<Timestamp>> {
        let sql = format!("SELECT MIN(next_attempt_at) AS due FROM {table} WHERE status = 'pending'");
        sqlx::query(AssertSqlSafe(sql)).fetch_one(&self.readers).await?.opt_ts("due")
    }

    /// Claims up to `limit` due rows of a lease queue until `lease_until`, returning their sequence numbers. The
    /// claim is the only write; callers read what they need once it has committed, so the writer (which every API
    /// change waits on) spends no time on it.
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
        let sql = format!(
            "UPDATE {table} SET next_attempt_at = $1 WHERE seq = $2 AND next_attempt_at = $3 AND status = 'pending'"
        );
        let shared = std::sync::Arc::new((sql, claims));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (sql, claims) = &*shared;
                for (seq, lease_until) in claims {
                    sqlx::query(AssertSqlSafe(sql.as_str()))
                        .bind(now.0)
                        .bind(seq)
                        .bind(lease_until.0)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }

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

/// Claims up to `limit` due rows of a lease queue in the caller's transaction (see `queue_claim`).
pub(super) async fn claim_due(
    conn: &mut SqliteConnection,
    table: &'static str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> StoreResult<Vec<i64>> {
    let sql = format!(
        "UPDATE {table} SET next_attempt_at = $1 WHERE seq IN (SELECT seq FROM {table} WHERE status = 'pending' \
         AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3) RETURNING seq"
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
        let notifications = chunk.iter().map(|n| n.notifications.len()).sum();
        let mut query = sqlx::query(AssertSqlSafe(insert_requests_sql(chunk.len(), audits, events, notifications)));
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
        for new in chunk {
            for n in &new.notifications {
                query = query
                    .bind(&n.id)
                    .bind(&new.request.id)
                    .bind(n.channel.as_str())
                    .bind(&n.target)
                    .bind(new.request.created_at.0)
                    .bind(new.request.created_at.0);
            }
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `INSERT`s for `requests`, `audits` and `events` rows, as one statement batch. Placeholders are plain `?`:
/// sqlx binds a batch's arguments positionally across its statements.
fn insert_requests_sql(requests: usize, audits: usize, events: usize, notifications: usize) -> String {
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
    if notifications > 0 {
        let row = "(?, ?, 'request', ?, ?, 'pending', 0, ?, ?)";
        sql += &format!(
            "INSERT INTO channel_deliveries (id, request_id, kind, channel, target, status, attempts, \
             next_attempt_at, created_at) VALUES {};",
            vec![row; notifications].join(", ")
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
async fn decide_in(conn: &mut SqliteConnection, c: &DecideCommand, feed: &DecisionFeed) -> StoreResult<DecideOutcome> {
    let status = c.verdict.status();
    let details = rows::decision_details(c);
    let outcome_event = if status == RequestStatus::Approved { event::REQUEST_APPROVED } else { event::REQUEST_DENIED };
    // One round trip: the conditional update, then its audit row and events, each inserted only if
    // the statement before it changed a row (`changes() = 1`), so a refused decision writes nothing.
    // Decision events carry no payload: a decided request never changes again, so its row is the
    // payload. Placeholders are plain `?` (see `insert_requests_sql`).
    let returned = sqlx::query(concat!(
        "UPDATE approval_requests SET status = ?, decided_at = ?, decided_by = ?, decision_reason = ?, \
             updated_at = ? WHERE id = ? AND status = 'pending' AND (expires_at IS NULL OR expires_at > ?) \
             AND (require_reason = 0 OR ? = 1) AND (approvers IS NULL OR EXISTS (SELECT 1 FROM \
             json_each(approvers) AS a JOIN json_each(?) AS d ON a.value = d.value)) RETURNING ",
        request_columns!(),
        "; INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) \
             SELECT ?, ?, ?, ?, ?, ? WHERE changes() = 1; \
             INSERT INTO events (id, event_type, request_id, payload, created_at) \
             SELECT ?, ?, ?, NULL, ? WHERE changes() = 1 RETURNING seq; \
             INSERT INTO events (id, event_type, request_id, payload, created_at) \
             SELECT ?, ?, ?, NULL, ? WHERE changes() = 1 RETURNING seq"
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
    // fetch_all, not fetch_optional: sqlx stops a batch after the row limit, skipping the inserts. The rows:
    // the decided request, then each event's sequence number.
    .fetch_all(&mut *conn)
    .await?;
    let Some(row) = returned.first() else {
        let current =
            sqlx::query("SELECT status, expires_at, approvers, require_reason FROM approval_requests WHERE id = ?1")
                .bind(&c.request_id)
                .fetch_optional(&mut *conn)
                .await?;
        return rows::decide_refusal(current.as_ref(), c);
    };
    let request = rows::request(row)?;
    let seqs = returned[1..].iter().map(|r| r.try_get::<i64, _>("seq")).collect::<Result<Vec<_>, _>>()?;
    let [outcome_seq, decided_seq] = seqs[..] else {
        return Err(StoreError::Database(format!("a decision inserted {} events, not 2", seqs.len())));
    };
    feed.note([
        rows::decision_event(outcome_seq, &c.event_ids[0], outcome_event, c.now, &request)?,
        rows::decision_event(decided_seq, &c.event_ids[1], event::REQUEST_DECIDED, c.now, &request)?,
    ]);
    Ok(DecideOutcome::Decided(Box::new(request)))
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
    row.as_ref().map(rows::decision_token).transpose()
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

    fn take_committed_after(&self, seq: i64) -> Vec<StoredEvent> {
        self.decisions.take_after(seq)
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
        rows.iter().map(rows::stored_event).collect()
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
                    let expires_at = row.opt_ts("expires_at")?;
                    sqlx::query(
                        "INSERT INTO audit_logs (id, request_id, event_type, actor, details, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?); \
                         INSERT INTO events (id, event_type, request_id, payload, created_at) VALUES (?, ?, ?, NULL, ?)",
                    )
                    .bind(crate::app::new_id())
                    .bind(&id)
                    .bind(agentgate_core::audit::EXPIRED)
                    .bind("system:expiry")
                    .bind(rows::expiry_details(expires_at))
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

    async fn next_expiry(&self) -> StoreResult<Option<Timestamp>> {
        sqlx::query(query::NEXT_EXPIRY).fetch_one(&self.readers).await?.opt_ts("next")
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
        let _ = self.stop_checkpoints.send(true);
        let checkpointer = self.checkpointer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(checkpointer) = checkpointer {
            let _ = checkpointer.await;
        }
    }

    async fn create_request(&self, new: NewRequest) -> StoreResult<()> {
        self.writer.create(new).await
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
        query::fetch_page(&self.readers, &query::requests(filter), page, rows::request).await
    }

    async fn decide_request(&self, command: DecideCommand) -> StoreResult<DecideOutcome> {
        let command = std::sync::Arc::new(command);
        let feed = self.decisions.clone();
        self.write(move |conn| {
            let (c, feed) = (command.clone(), feed.clone());
            Box::pin(async move { decide_in(conn, &c, &feed).await })
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
        rows.iter().map(|r| rows::audit(r, false)).collect::<StoreResult<_>>().map(Some)
    }

    async fn list_audit(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEntry>, u64)> {
        query::fetch_page(&self.readers, &query::audit(filter), page, |row| rows::audit(row, true)).await
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
        let policies = rows.iter().map(rows::policy).collect::<StoreResult<_>>()?;
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
        rows.iter().map(rows::policy).collect()
    }

    async fn get_policy(&self, id: &str) -> StoreResult<Option<Policy>> {
        let row = sqlx::query(concat!("SELECT ", policy_columns!(), " FROM policies WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(rows::policy).transpose()
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
                rows::policy(&row).map(Some)
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
                if let Some(refusal) = rows::mint_refusal(&row, tokens[0].created_at)? {
                    return Ok(refusal);
                }
                for t in tokens {
                    sqlx::query(
                        "INSERT INTO decision_tokens (id, request_id, action, token_hash, created_by, created_by_name, \
                         created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
        let Some(token) = read_token(&self.readers, token_hash).await? else { return Ok(TokenOutcome::Unknown) };
        if let Some(outcome) = rows::spent_or_expired(&token, now) {
            return Ok(outcome);
        }
        match self.get_request(&token.request_id).await? {
            Some(request) => Ok(TokenOutcome::Usable((token, request))),
            None => Ok(TokenOutcome::Unknown),
        }
    }

    async fn decide_with_token(&self, link: LinkDecision) -> StoreResult<TokenOutcome<(String, DecideOutcome)>> {
        let link = std::sync::Arc::new(link);
        let feed = self.decisions.clone();
        self.write(move |conn| {
            let (link, feed) = (link.clone(), feed.clone());
            Box::pin(async move {
                let Some(token) = read_token(&mut *conn, &link.token_hash).await? else {
                    return Ok(TokenOutcome::Unknown);
                };
                if let Some(outcome) = rows::spent_or_expired(&token, link.now) {
                    return Ok(outcome);
                }
                let command = rows::link_command(&token, &link);
                let outcome = decide_in(conn, &command, &feed).await?;
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
        rows.iter().map(rows::override_entry).collect()
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
        rows.iter().map(rows::request).collect()
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
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(rows::api_key).transpose()
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
        rows.iter().map(rows::api_key).collect()
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
                let key = patch.apply(rows::api_key(&row)?);
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
                rows::api_key(&row).map(Some)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(seq: i64) -> StoredEvent {
        StoredEvent {
            seq,
            id: format!("evt-{seq}"),
            event_type: event::REQUEST_DECIDED.to_owned(),
            request_id: Some("r".into()),
            created_at: Timestamp(0),
            body: String::new(),
            request_json: bytes::Bytes::new(),
        }
    }

    fn seqs(events: &[StoredEvent]) -> Vec<i64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn the_decision_feed_gives_only_committed_events_that_follow_without_a_gap() {
        let feed = DecisionFeed::default();
        feed.note([held(5), held(6)]);
        assert!(feed.take_after(4).is_empty(), "nothing before the commit");
        feed.publish();
        feed.note([held(7)]);
        feed.discard();
        feed.note([held(9)]);
        feed.publish();
        assert_eq!(seqs(&feed.take_after(3)), Vec::<i64>::new(), "4 is not held: the outbox has it");
        assert_eq!(seqs(&feed.take_after(4)), [5, 6]);
        assert_eq!(seqs(&feed.take_after(6)), Vec::<i64>::new(), "7 was rolled back (or is not held)");
        assert_eq!(seqs(&feed.take_after(8)), [9]);
        assert!(feed.take_after(9).is_empty());
    }

    #[test]
    fn the_decision_feed_holds_a_bounded_number_of_events() {
        let feed = DecisionFeed::default();
        feed.note((1..=(DECISION_FEED as i64 + 10)).map(held));
        feed.publish();
        let kept = feed.take_after(10);
        assert_eq!(kept.len(), DECISION_FEED);
        assert_eq!(kept.first().map(|e| e.seq), Some(11));
    }
}
