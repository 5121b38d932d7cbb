//! PostgreSQL implementation of [`WebhookStore`]. Claims use `FOR UPDATE SKIP LOCKED`, so replicas claiming at
//! once each get different deliveries, and the claim's lease keeps them apart afterwards.

use super::{PostgresStore, claim_due, insert_audit};
use crate::store::rows::{self, Columns};
use crate::store::webhooks::*;
use crate::store::{NewAudit, Page, StoreResult, query};
use agentgate_core::Timestamp;
use agentgate_core::webhook::{ALL_EVENTS, DeliveryStatus};
use agentgate_core::wire::{DeliveryAttempt, WebhookDelivery};
use async_trait::async_trait;
use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::Arc;

macro_rules! webhook_columns {
    () => {
        "id, url, secret, events, enabled, created_at, updated_at"
    };
}

/// A delivery with everything its body is built from (the same columns as the SQLite store's).
macro_rules! delivery_select {
    () => {
        concat!(
            "SELECT d.seq AS d_seq, d.id AS d_id, d.webhook_id AS d_webhook_id, d.event AS d_event, \
             d.payload AS d_payload, d.status AS d_status, d.attempts AS d_attempts, \
             d.next_attempt_at AS d_next_attempt_at, d.last_attempt_at AS d_last_attempt_at, \
             d.response_code AS d_response_code, d.response_body AS d_response_body, d.replay_of AS d_replay_of, \
             d.created_at AS d_created_at, e.event_type AS event_type, e.created_at AS event_created_at, \
             e.payload AS event_payload, ",
            request_columns!("r."),
            " FROM webhook_deliveries d LEFT JOIN events e ON e.seq = d.event_seq \
             LEFT JOIN approval_requests r ON r.id = e.request_id AND e.payload IS NULL "
        )
    };
}

/// The subscription rows of an event list: `*` alone stands for everything.
fn subscription_rows(events: &[String]) -> Vec<&str> {
    if events.iter().any(|e| e == ALL_EVENTS) { vec![ALL_EVENTS] } else { events.iter().map(String::as_str).collect() }
}

async fn write_subscriptions(conn: &mut PgConnection, webhook_id: &str, events: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM webhook_subscriptions WHERE webhook_id = $1").bind(webhook_id).execute(&mut *conn).await?;
    sqlx::query("INSERT INTO webhook_subscriptions (event, webhook_id) SELECT UNNEST($1::text[]), $2")
        .bind(subscription_rows(events))
        .bind(webhook_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn attach_attempts(conn: &mut PgConnection, deliveries: &mut [(i64, WebhookDelivery)]) -> StoreResult<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = deliveries.iter().map(|(seq, _)| *seq).collect();
    let rows = sqlx::query(
        "SELECT delivery_seq, attempt, attempted_at, duration_ms, response_code, response_body, error \
         FROM webhook_delivery_attempts WHERE delivery_seq = ANY($1) ORDER BY delivery_seq, attempt",
    )
    .bind(&seqs)
    .fetch_all(conn)
    .await?;
    let mut by_seq: HashMap<i64, Vec<DeliveryAttempt>> = HashMap::new();
    for row in &rows {
        by_seq.entry(row.int("delivery_seq")?).or_default().push(rows::delivery_attempt(row)?);
    }
    for (seq, delivery) in deliveries.iter_mut() {
        delivery.attempt_log = by_seq.remove(seq).unwrap_or_default();
    }
    Ok(())
}

/// Records one attempt if the claim it was made under still holds, in the caller's transaction.
async fn record_attempt(conn: &mut PgConnection, r: &AttemptResult) -> StoreResult<()> {
    sqlx::query(
        "WITH d AS (UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, \
         last_attempt_at = $4, response_code = $5, response_body = $6 \
         WHERE seq = $7 AND next_attempt_at = $8 AND status = 'pending' RETURNING seq) \
         INSERT INTO webhook_delivery_attempts (delivery_seq, attempt, attempted_at, duration_ms, response_code, \
         response_body, error) SELECT d.seq, $2, $4, $9, $5, $6, $10 FROM d",
    )
    .bind(r.status.as_str())
    .bind(i64::from(r.attempt))
    .bind(r.next_attempt_at.0)
    .bind(r.attempted_at.0)
    .bind(r.response_code.map(i64::from))
    .bind(&r.response_body)
    .bind(r.seq)
    .bind(r.lease_until.0)
    .bind(i64::try_from(r.duration_ms).unwrap_or(i64::MAX))
    .bind(&r.error)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Builds the claimed deliveries' work from their rows and their webhooks.
async fn claimed(pool: &PgPool, seqs: Vec<i64>, lease_until: Timestamp) -> StoreResult<Vec<ClaimedDelivery>> {
    let rows = sqlx::query(concat!(delivery_select!(), "WHERE d.seq = ANY($1) ORDER BY d.next_attempt_at, d.seq"))
        .bind(&seqs)
        .fetch_all(pool)
        .await?;
    let webhooks = sqlx::query(
        "SELECT id, url, secret, enabled FROM webhooks WHERE id IN \
         (SELECT webhook_id FROM webhook_deliveries WHERE seq = ANY($1))",
    )
    .bind(&seqs)
    .fetch_all(pool)
    .await?;
    let mut targets: HashMap<String, (String, String, bool)> = HashMap::new();
    for w in &webhooks {
        targets.insert(w.text("id")?, (w.text("url")?, w.text("secret")?, w.flag("enabled")?));
    }
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        // A webhook deleted since the claim took its deliveries with it: nothing to attempt.
        let Some((url, secret, enabled)) = targets.get(&row.text("d_webhook_id")?).cloned() else { continue };
        claimed.push(ClaimedDelivery {
            seq: row.int("d_seq")?,
            id: row.text("d_id")?,
            event: row.text("d_event")?,
            attempts: u32::try_from(row.int("d_attempts")?).unwrap_or(0),
            lease_until,
            url,
            secret,
            webhook_enabled: enabled,
            body: rows::delivery_body(row)?,
        });
    }
    Ok(claimed)
}

impl PostgresStore {
    /// Fans out what a webhook is owed before its deliveries are listed, so every event so far shows as a
    /// delivery even while the worker is busy (a write-free check when nothing is owed). Bounded, so a look at a
    /// far-behind webhook never holds the writer long; the worker fans out the rest.
    async fn fan_out_owed(&self, webhook_id: &str) -> StoreResult<()> {
        let (pool, id) = (self.pool.clone(), webhook_id.to_owned());
        let owed = self
            .on_runtime(async move { sqlx::query(FAN_OUT_OWED).bind(id).fetch_one(&pool).await?.flag("owed") })
            .await?;
        if owed {
            let id = Arc::new(webhook_id.to_owned());
            self.write(move |conn| {
                let id = id.clone();
                Box::pin(async move {
                    fan_out!(conn, Some(id.as_str()), Some(LIST_FAN_OUT_EVENTS));
                    Ok(())
                })
            })
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn insert_webhook(&self, webhook: WebhookRecord, audit: NewAudit) -> StoreResult<()> {
        let events = serde_json::to_string(&webhook.events)?;
        let shared = Arc::new((webhook, audit, events));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (w, audit, events) = &*shared;
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO webhooks ({}, fanned_out_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, {NEWEST_EVENT})",
                    webhook_columns!()
                )))
                .bind(&w.id)
                .bind(&w.url)
                .bind(&w.secret)
                .bind(events)
                .bind(w.enabled)
                .bind(w.created_at.0)
                .bind(w.updated_at.0)
                .execute(&mut *conn)
                .await?;
                write_subscriptions(conn, &w.id, &w.events).await?;
                insert_audit(conn, audit).await
            })
        })
        .await
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let rows = sqlx::query(concat!("SELECT ", webhook_columns!(), " FROM webhooks ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::webhook).collect()
    }

    async fn get_webhook(&self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        let row = sqlx::query(concat!("SELECT ", webhook_columns!(), " FROM webhooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::webhook).transpose()
    }

    async fn update_webhook(
        &self,
        id: &str,
        patch: WebhookPatch,
        now: Timestamp,
        audit: NewAudit,
    ) -> StoreResult<Option<WebhookRecord>> {
        let shared = Arc::new((id.to_owned(), patch, audit));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let (id, patch, audit) = &*shared;
                let row =
                    sqlx::query(concat!("SELECT ", webhook_columns!(), " FROM webhooks WHERE id = $1 FOR UPDATE"))
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                let Some(row) = row else { return Ok(None) };
                let before = rows::webhook(&row)?;
                fan_out_before_change!(conn, id, &before, patch);
                let webhook = patch.apply(before, now);
                if let Some(events) = &patch.events {
                    write_subscriptions(conn, id, events).await?;
                }
                sqlx::query("UPDATE webhooks SET url = $1, events = $2, enabled = $3, updated_at = $4 WHERE id = $5")
                    .bind(&webhook.url)
                    .bind(serde_json::to_string(&webhook.events)?)
                    .bind(webhook.enabled)
                    .bind(now.0)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                insert_audit(conn, audit).await?;
                Ok(Some(webhook))
            })
        })
        .await
    }

    async fn delete_webhook(&self, id: &str, audit: NewAudit) -> StoreResult<bool> {
        self.delete_audited("DELETE FROM webhooks WHERE id = $1", id, audit).await
    }

    async fn set_webhook_secret(&self, id: &str, secret: String) -> StoreResult<()> {
        let shared = Arc::new((id.to_owned(), secret));
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                sqlx::query("UPDATE webhooks SET secret = $1 WHERE id = $2")
                    .bind(&shared.1)
                    .bind(&shared.0)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        page: Page,
    ) -> StoreResult<(Vec<WebhookDelivery>, u64)> {
        self.fan_out_owed(webhook_id).await?;
        let status = status.map(DeliveryStatus::as_str);
        let (limit, offset) = query::page_binds(page);
        // One snapshot: a delivery and its attempt log as of the same moment.
        let mut tx = self.snapshot().await?;
        let rows = sqlx::query(concat!(
            delivery_select!(),
            "WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.status = $2) ORDER BY d.seq DESC LIMIT $3 OFFSET $4"
        ))
        .bind(webhook_id)
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await?;
        let total = sqlx::query(
            "SELECT COUNT(*) AS total FROM webhook_deliveries WHERE webhook_id = $1 \
             AND ($2::text IS NULL OR status = $2)",
        )
        .bind(webhook_id)
        .bind(status)
        .fetch_one(&mut *tx)
        .await?
        .int("total")?;
        let mut deliveries =
            rows.iter().map(|row| Ok((row.int("d_seq")?, rows::delivery(row)?))).collect::<StoreResult<Vec<_>>>()?;
        attach_attempts(&mut tx, &mut deliveries).await?;
        tx.commit().await?;
        Ok((deliveries.into_iter().map(|(_, d)| d).collect(), total.max(0) as u64))
    }

    async fn replay_delivery(&self, id: &str, new_id: String, now: Timestamp) -> StoreResult<ReplayOutcome> {
        let shared = Arc::new((id.to_owned(), new_id.clone()));
        let replayed = self
            .write(move |conn| {
                let shared = shared.clone();
                Box::pin(async move {
                    let (id, new_id) = &*shared;
                    let status = sqlx::query("SELECT status FROM webhook_deliveries WHERE id = $1 FOR UPDATE")
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                    match status.as_ref().map(|row| row.text("status")).transpose()?.as_deref() {
                        None => return Ok(None),
                        Some("pending") => return Ok(Some(false)),
                        Some(_) => {}
                    }
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (id, webhook_id, event, event_seq, payload, status, attempts, \
                         next_attempt_at, replay_of, created_at) SELECT $1, webhook_id, event, event_seq, payload, \
                         'pending', 0, $2, id, $2 FROM webhook_deliveries WHERE id = $3",
                    )
                    .bind(new_id)
                    .bind(now.0)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                    // Other replicas' workers should look now, not at their next poll.
                    sqlx::query("SELECT pg_notify('agentgate', 'events')").execute(&mut *conn).await?;
                    Ok(Some(true))
                })
            })
            .await?;
        match replayed {
            None => Ok(ReplayOutcome::NotFound),
            Some(false) => Ok(ReplayOutcome::StillPending),
            Some(true) => {
                let row = sqlx::query(concat!(delivery_select!(), "WHERE d.id = $1"))
                    .bind(&new_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(ReplayOutcome::Replayed(Box::new(rows::delivery(&row)?)))
            }
        }
    }

    async fn insert_test_delivery(&self, delivery: TestDelivery) -> StoreResult<()> {
        let shared = Arc::new(delivery);
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                let d = &*shared;
                // Queued as held under the result's lease, then recorded like any worker's attempt.
                let row = sqlx::query(
                    "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, attempts, \
                     next_attempt_at, created_at) VALUES ($1, $2, 'test', $3, 'pending', 0, $4, $5) RETURNING seq",
                )
                .bind(&d.id)
                .bind(&d.webhook_id)
                .bind(&d.payload)
                .bind(d.result.lease_until.0)
                .bind(d.created_at.0)
                .fetch_one(&mut *conn)
                .await?;
                record_attempt(conn, &AttemptResult { seq: row.int("seq")?, ..d.result.clone() }).await
            })
        })
        .await
    }

    async fn any_enabled_webhook(&self) -> StoreResult<bool> {
        let pool = self.pool.clone();
        self.on_runtime(async move {
            sqlx::query("SELECT EXISTS (SELECT 1 FROM webhooks WHERE enabled) AS any")
                .fetch_one(&pool)
                .await?
                .flag("any")
        })
        .await
    }

    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>> {
        let due = self.queue_next_due("webhook_deliveries").await?;
        let pool = self.pool.clone();
        let unfanned = self
            .on_runtime(async move {
                let row = sqlx::query(FAN_OUT_DUE).fetch_optional(&pool).await?;
                row.map(|row| row.int("created_at")).transpose()
            })
            .await?;
        Ok(due.into_iter().chain(unfanned.map(Timestamp)).min())
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let seqs = self
            .write(move |conn| Box::pin(async move { Ok(claim_with_fan_out!(conn, now, lease_until, limit)) }))
            .await?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let pool = self.pool.clone();
        self.on_runtime(async move { claimed(&pool, seqs, lease_until).await }).await
    }

    async fn record_attempts(&self, results: Vec<AttemptResult>) -> StoreResult<()> {
        let shared = Arc::new(results);
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                for result in shared.iter() {
                    record_attempt(conn, result).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn release_deliveries(&self, claims: Vec<(i64, Timestamp)>, now: Timestamp) -> StoreResult<()> {
        self.queue_release("webhook_deliveries", claims, now).await
    }
}
