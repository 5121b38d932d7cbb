//! SQL both stores run: filtered, paginated lists, and single statements written once. Placeholders are `$n`, which
//! SQLite and PostgreSQL both read.

use super::rows::Columns;
use super::{AuditFilter, Page, RequestFilter, StoreResult};
use sqlx::AssertSqlSafe;

/// When the next pending request expires (`Store::next_expiry`): one lookup on the partial index of pending expiries.
pub(super) const NEXT_EXPIRY: &str =
    "SELECT MIN(expires_at) AS next FROM approval_requests WHERE status = 'pending' AND expires_at IS NOT NULL";

/// A value bound to a dynamically assembled WHERE clause.
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// Assembles `WHERE a = $1 AND b >= $2 …` from fixed column expressions; user input only ever goes in binds.
#[derive(Default)]
pub(super) struct Conditions {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    fn push(&mut self, expr: &str, op: &str, bind: Bind) {
        self.binds.push(bind);
        self.clauses.push(format!("{expr} {op} ${}", self.binds.len()));
    }

    fn where_clause(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }

    fn next_placeholder(&self, n: usize) -> usize {
        self.binds.len() + n
    }

    pub(super) fn bind_all<'q, DB>(
        &'q self,
        mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
    where
        DB: sqlx::Database,
        &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        for bind in &self.binds {
            query = match bind {
                Bind::Text(s) => query.bind(s.as_str()),
                Bind::Int(n) => query.bind(*n),
            };
        }
        query
    }
}

/// A page query: the rows (with the total riding along as `total`), the count alone (for a page past the end),
/// and the binds both share. The page's limit and offset are bound after the conditions.
pub(super) struct ListQuery {
    pub list: String,
    pub count: String,
    pub conditions: Conditions,
}

pub(super) fn page_binds(page: Page) -> (i64, i64) {
    (i64::from(page.limit), i64::try_from(page.offset).unwrap_or(i64::MAX))
}

pub(super) fn requests(filter: &RequestFilter) -> ListQuery {
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
    let count = if filter.action.is_none() && filter.urgency.is_none() {
        format!("SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS total FROM request_counts{where_clause}")
    } else {
        format!("SELECT COUNT(*) AS total FROM approval_requests{where_clause}")
    };
    // The count rides along as a constant subquery (evaluated once), so a page is one round trip.
    let list = format!(
        "SELECT {}, ({count}) AS total FROM approval_requests{where_clause} \
         ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        request_columns!(),
        cond.next_placeholder(1),
        cond.next_placeholder(2)
    );
    ListQuery { list, count, conditions: cond }
}

pub(super) fn audit(filter: &AuditFilter) -> ListQuery {
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
    // The join only matters to the count when a filter reads the request.
    let count_from = if filter.action.is_none() && filter.status.is_none() { "FROM audit_logs a" } else { from };
    let count = format!("SELECT COUNT(*) AS total {count_from}{where_clause}");
    let list = format!(
        "SELECT a.id, a.request_id, a.event_type, a.actor, a.details, a.created_at, r.id AS r_id, \
         r.action AS r_action, r.status AS r_status, r.urgency AS r_urgency, ({count}) AS total \
         {from}{where_clause} ORDER BY a.created_at DESC, a.seq DESC LIMIT ${} OFFSET ${}",
        cond.next_placeholder(1),
        cond.next_placeholder(2)
    );
    ListQuery { list, count, conditions: cond }
}

/// Runs a page query: one round trip, plus a count when the page is past the end (no row carries the total).
pub(super) async fn fetch_page<'e, DB, E, T>(
    executor: E,
    query: &'e ListQuery,
    page: Page,
    map: impl Fn(&DB::Row) -> StoreResult<T>,
) -> StoreResult<(Vec<T>, u64)>
where
    DB: sqlx::Database,
    DB::Row: Columns,
    E: sqlx::Executor<'e, Database = DB> + Copy,
    &'e str: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let (limit, offset) = page_binds(page);
    let rows = query
        .conditions
        .bind_all(sqlx::query(AssertSqlSafe(query.list.as_str())))
        .bind(limit)
        .bind(offset)
        .fetch_all(executor)
        .await?;
    let total = match rows.first() {
        Some(row) => row.int("total")?,
        None if page.offset == 0 => 0,
        None => query
            .conditions
            .bind_all(sqlx::query(AssertSqlSafe(query.count.as_str())))
            .fetch_one(executor)
            .await?
            .int("total")?,
    };
    let items = rows.iter().map(map).collect::<StoreResult<_>>()?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}
