//! Rows to records, once for both databases.
//!
//! Both schemas store the same columns with the same meaning (text, JSON as text, integer milliseconds, booleans),
//! so a record is read the same way from either; [`Columns`] is the little each driver must provide.

use super::webhooks::WebhookRecord;
use super::{ApiKeyRecord, DecisionToken, StoreError, StoreResult};
use agentgate_core::Timestamp;
use agentgate_core::policy::Rule;
use agentgate_core::request::Verdict;
use agentgate_core::webhook::DeliveryStatus;
use agentgate_core::wire::{ApprovalRequest, AuditEntry, AuditRequestRef, Policy, WebhookDelivery};
use serde_json::Value;
use sqlx::Row;
use std::str::FromStr;

/// Typed column access, whichever driver the row came from.
pub(super) trait Columns {
    fn text(&self, column: &str) -> StoreResult<String>;
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn int(&self, column: &str) -> StoreResult<i64>;
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
    fn flag(&self, column: &str) -> StoreResult<bool>;

    fn ts(&self, column: &str) -> StoreResult<Timestamp> {
        self.int(column).map(Timestamp)
    }
    fn opt_ts(&self, column: &str) -> StoreResult<Option<Timestamp>> {
        Ok(self.opt_int(column)?.map(Timestamp))
    }
    fn json<T: serde::de::DeserializeOwned>(&self, column: &str) -> StoreResult<T> {
        Ok(serde_json::from_str(&self.text(column)?)?)
    }
    fn opt_json<T: serde::de::DeserializeOwned>(&self, column: &str) -> StoreResult<Option<T>> {
        Ok(self.opt_text(column)?.map(|t| serde_json::from_str(&t)).transpose()?)
    }
    fn parsed<T: FromStr>(&self, column: &str, what: &str) -> StoreResult<T> {
        let text = self.text(column)?;
        text.parse().map_err(|_| StoreError::Database(format!("unknown {what} {text:?} in the database")))
    }
}

macro_rules! impl_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, column: &str) -> StoreResult<String> {
                Ok(self.try_get(column)?)
            }
            fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
                Ok(self.try_get(column)?)
            }
            fn int(&self, column: &str) -> StoreResult<i64> {
                Ok(self.try_get(column)?)
            }
            fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
                Ok(self.try_get(column)?)
            }
            fn flag(&self, column: &str) -> StoreResult<bool> {
                Ok(self.try_get(column)?)
            }
        }
    };
}
impl_columns!(sqlx::sqlite::SqliteRow);
impl_columns!(sqlx::postgres::PgRow);

/// A request from the columns of `request_columns!` (with the alias prefix `r.` dropped by the select).
pub(super) fn request<R: Columns>(row: &R) -> StoreResult<ApprovalRequest> {
    Ok(ApprovalRequest {
        id: row.text("id")?,
        action: row.text("action")?,
        params: row.json("params")?,
        context: row.json("context")?,
        status: row.parsed("status", "status")?,
        urgency: row.parsed("urgency", "urgency")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        decided_at: row.opt_ts("decided_at")?,
        decided_by: row.opt_text("decided_by")?,
        decision_reason: row.opt_text("decision_reason")?,
        expires_at: row.opt_ts("expires_at")?,
        approvers: row.opt_json("approvers")?,
        require_reason: row.flag("require_reason")?,
        policy_decision: None,
    })
}

/// An audit entry; `with_request` reads the joined `r_id`, `r_action`, `r_status`, `r_urgency` too.
pub(super) fn audit<R: Columns>(row: &R, with_request: bool) -> StoreResult<AuditEntry> {
    let request = if with_request {
        Some(match row.opt_text("r_id")? {
            Some(id) => Some(AuditRequestRef {
                id,
                action: row.text("r_action")?,
                status: row.parsed("r_status", "status")?,
                urgency: row.parsed("r_urgency", "urgency")?,
            }),
            None => None,
        })
    } else {
        None
    };
    Ok(AuditEntry {
        id: row.text("id")?,
        request_id: row.opt_text("request_id")?,
        event_type: row.text("event_type")?,
        actor: row.text("actor")?,
        details: row.opt_json("details")?.unwrap_or(Value::Null),
        created_at: row.ts("created_at")?,
        request,
    })
}

pub(super) fn policy<R: Columns>(row: &R) -> StoreResult<Policy> {
    let rules: Vec<Rule> = row.json("rules")?;
    Ok(Policy {
        id: row.text("id")?,
        name: row.text("name")?,
        rules,
        priority: row.int("priority")?,
        enabled: row.flag("enabled")?,
        version: row.int("version")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
    })
}

pub(super) fn api_key<R: Columns>(row: &R) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.text("id")?,
        key_hash: row.text("key_hash")?,
        name: row.text("name")?,
        scopes: row.json("scopes")?,
        created_at: row.ts("created_at")?,
        last_used_at: row.opt_ts("last_used_at")?,
        revoked_at: row.opt_ts("revoked_at")?,
        rate_limit: row.opt_int("rate_limit")?.and_then(|n| u32::try_from(n).ok()),
    })
}

pub(super) fn token_action(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approved => "approve",
        Verdict::Denied => "deny",
    }
}

pub(super) fn decision_token<R: Columns>(row: &R) -> StoreResult<DecisionToken> {
    let verdict = match row.text("action")?.as_str() {
        "approve" => Verdict::Approved,
        _ => Verdict::Denied,
    };
    Ok(DecisionToken {
        id: row.text("id")?,
        request_id: row.text("request_id")?,
        verdict,
        token_hash: row.text("token_hash")?,
        created_by: row.text("created_by")?,
        created_by_name: row.text("created_by_name")?,
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
        used_at: row.opt_ts("used_at")?,
    })
}

/// The body every consumer of an outbox event gets (`{"event", "data": {"request"}, "timestamp"}`) and the
/// request alone, from a row with `event_type`, `event_created_at`, `event_payload` and the request columns
/// (joined for decision events, whose payload is the request's final row).
pub(super) fn event_body<R: Columns>(row: &R) -> StoreResult<(String, String)> {
    let event_type = row.text("event_type")?;
    let created_at = row.int("event_created_at")?;
    let request = match row.opt_text("event_payload")? {
        Some(payload) => payload,
        None => serde_json::to_string(&request(row)?)?,
    };
    let body = body_of(&event_type, created_at, &request)?;
    Ok((body, request))
}

/// An event's body from its type, time and the request's JSON: the one place its shape is written.
fn body_of(event_type: &str, created_at: i64, request: &str) -> StoreResult<String> {
    Ok(format!(
        r#"{{"event":{},"data":{{"request":{request}}},"timestamp":{created_at}}}"#,
        serde_json::to_string(event_type)?
    ))
}

/// A decision event as the writer knows it at commit (its sequence number returned by the insert), equal to
/// what [`stored_event`] reads back for it: the request serialised from its decided row.
pub(super) fn decision_event(
    seq: i64,
    id: &str,
    event_type: &str,
    created_at: Timestamp,
    request: &ApprovalRequest,
) -> StoreResult<super::StoredEvent> {
    let json = serde_json::to_string(request)?;
    Ok(super::StoredEvent {
        seq,
        id: id.to_owned(),
        event_type: event_type.to_owned(),
        request_id: Some(request.id.clone()),
        created_at,
        body: body_of(event_type, created_at.0, &json)?,
        request_json: bytes::Bytes::from(json),
    })
}

pub(super) fn webhook<R: Columns>(row: &R) -> StoreResult<WebhookRecord> {
    Ok(WebhookRecord {
        id: row.text("id")?,
        url: row.text("url")?,
        secret: row.text("secret")?,
        events: row.json("events")?,
        enabled: row.flag("enabled")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
    })
}

/// The body a delivery sends: its own payload, or its event's.
pub(super) fn delivery_body<R: Columns>(row: &R) -> StoreResult<String> {
    if let Some(payload) = row.opt_text("d_payload")? {
        return Ok(payload);
    }
    if row.opt_text("event_type")?.is_none() {
        return Err(StoreError::Database("a delivery's event is missing from the outbox".into()));
    }
    Ok(event_body(row)?.0)
}

pub(super) fn delivery<R: Columns>(row: &R) -> StoreResult<WebhookDelivery> {
    let status = row.text("d_status")?;
    let pending = status == DeliveryStatus::Pending.as_str();
    Ok(WebhookDelivery {
        id: row.text("d_id")?,
        webhook_id: row.text("d_webhook_id")?,
        event: row.text("d_event")?,
        payload: delivery_body(row)?,
        status,
        attempts: u32::try_from(row.int("d_attempts")?).unwrap_or(0),
        created_at: row.int("d_created_at")?,
        last_attempt_at: row.opt_int("d_last_attempt_at")?,
        next_attempt_at: if pending { Some(row.int("d_next_attempt_at")?) } else { None },
        response_code: row.opt_int("d_response_code")?.and_then(|c| u16::try_from(c).ok()),
        response_body: row.opt_text("d_response_body")?,
        replay_of: row.opt_text("d_replay_of")?,
        attempt_log: Vec::new(),
    })
}

/// One recorded attempt (`webhook_delivery_attempts`).
pub(super) fn delivery_attempt<R: Columns>(row: &R) -> StoreResult<agentgate_core::wire::DeliveryAttempt> {
    Ok(agentgate_core::wire::DeliveryAttempt {
        attempt: u32::try_from(row.int("attempt")?).unwrap_or(0),
        attempted_at: row.int("attempted_at")?,
        duration_ms: row.int("duration_ms")?.max(0) as u64,
        response_code: row.opt_int("response_code")?.and_then(|c| u16::try_from(c).ok()),
        response_body: row.opt_text("response_body")?,
        error: row.opt_text("error")?,
    })
}

/// An outbox row as streams and waiters see it, from the columns `events_after` selects.
pub(super) fn stored_event<R: Columns>(row: &R) -> StoreResult<super::StoredEvent> {
    let (body, request) = event_body(row)?;
    Ok(super::StoredEvent {
        seq: row.int("event_seq")?,
        id: row.text("event_id")?,
        event_type: row.text("event_type")?,
        request_id: row.opt_text("event_request")?,
        created_at: row.ts("event_created_at")?,
        body,
        request_json: bytes::Bytes::from(request),
    })
}

pub(super) fn override_entry<R: Columns>(row: &R) -> StoreResult<agentgate_core::wire::Override> {
    Ok(agentgate_core::wire::Override {
        id: row.text("id")?,
        agent_id: row.text("agent_id")?,
        tool_pattern: row.text("tool_pattern")?,
        action: row.text("action")?,
        reason: row.opt_text("reason")?,
        created_by: row.text("created_by")?,
        created_at: row.ts("created_at")?,
        expires_at: row.opt_ts("expires_at")?,
    })
}

/// Why a conditional decision changed nothing, from the request's `status, expires_at, approvers,
/// require_reason` as they are now (`None`: the request does not exist).
pub(super) fn decide_refusal<R: Columns>(
    current: Option<&R>,
    c: &super::DecideCommand,
) -> StoreResult<super::DecideOutcome> {
    use agentgate_core::request::{DecideRefusal, DecisionRules, RequestStatus, check_decision};
    let Some(current) = current else { return Ok(super::DecideOutcome::NotFound) };
    let status: RequestStatus = current.parsed("status", "status")?;
    let approvers: Option<Vec<String>> = current.opt_json("approvers")?;
    let rules = DecisionRules { approvers: approvers.as_deref(), require_reason: current.flag("require_reason")? };
    let verdict =
        check_decision(status, current.opt_ts("expires_at")?, c.now, rules, &c.identities, c.reason.is_some());
    Ok(super::DecideOutcome::Refused(match verdict {
        Err(refusal) => refusal,
        // Unreachable unless the row changed between the two statements of one transaction.
        Ok(()) => DecideRefusal::AlreadyDecided(status),
    }))
}

/// Whether links may be minted for a request with these `status, expires_at` at `now`: `None` when they may.
pub(super) fn mint_refusal<R: Columns>(row: &R, now: Timestamp) -> StoreResult<Option<super::MintOutcome>> {
    use agentgate_core::request::{DecisionRules, RequestStatus, check_decision};
    let status: RequestStatus = row.parsed("status", "status")?;
    if check_decision(status, row.opt_ts("expires_at")?, now, DecisionRules::default(), &[], true).is_ok() {
        return Ok(None);
    }
    let shown = if status == RequestStatus::Pending { RequestStatus::Expired } else { status };
    Ok(Some(super::MintOutcome::NotPending(shown)))
}

/// The audit details of a decision: the reason, and whatever the deciding path adds.
pub(super) fn decision_details(c: &super::DecideCommand) -> Value {
    let mut details = serde_json::json!({ "reason": c.reason, "automatic": false });
    if let (Some(target), Value::Object(extra)) = (details.as_object_mut(), &c.audit_details) {
        target.extend(extra.clone());
    }
    details
}

/// The audit details of an expiry.
pub(super) fn expiry_details(expires_at: Option<Timestamp>) -> String {
    serde_json::json!({ "expiresAt": expires_at, "automatic": true }).to_string()
}

/// The decision a link makes: as `link:<token id>`, with the identities of whoever minted it.
pub(super) fn link_command(token: &DecisionToken, link: &super::LinkDecision) -> super::DecideCommand {
    super::DecideCommand {
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
    }
}

/// What a token is worth before its request is looked at: `None` when it is usable at `now`.
pub(super) fn spent_or_expired<T>(token: &DecisionToken, now: Timestamp) -> Option<super::TokenOutcome<T>> {
    if token.used_at.is_some() {
        Some(super::TokenOutcome::Used)
    } else if token.expires_at <= now {
        Some(super::TokenOutcome::Expired)
    } else {
        None
    }
}

fn notification_kind(text: &str) -> super::channels::NotificationKind {
    use super::channels::NotificationKind;
    if text == "outcome" { NotificationKind::Outcome } else { NotificationKind::Request }
}

/// A channel notification for the delivery log (`channel_deliveries` columns).
pub(super) fn notification<R: Columns>(row: &R) -> StoreResult<super::channels::NotificationRecord> {
    let status = row.text("status")?;
    let pending = status == DeliveryStatus::Pending.as_str();
    Ok(super::channels::NotificationRecord {
        id: row.text("id")?,
        kind: notification_kind(&row.text("kind")?),
        channel: row.text("channel")?,
        target: row.text("target")?,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(0),
        created_at: row.ts("created_at")?,
        last_attempt_at: row.opt_ts("last_attempt_at")?,
        next_attempt_at: if pending { Some(row.ts("next_attempt_at")?) } else { None },
        last_error: row.opt_text("last_error")?,
        status,
        attempt_log: Vec::new(),
    })
}

/// One attempt of a channel notification (`channel_delivery_attempts`).
pub(super) fn notification_attempt<R: Columns>(row: &R) -> StoreResult<super::channels::NotificationAttempt> {
    Ok(super::channels::NotificationAttempt {
        attempt: u32::try_from(row.int("attempt")?).unwrap_or(0),
        attempted_at: row.ts("attempted_at")?,
        duration_ms: row.int("duration_ms")?.max(0) as u64,
        error: row.opt_text("error")?,
    })
}

/// A claimed notification with its request, from the columns both stores' claim queries select.
pub(super) fn claimed_notification<R: Columns>(
    row: &R,
    lease_until: Timestamp,
) -> StoreResult<super::channels::ClaimedNotification> {
    let origin = match row.opt_text("o_status")? {
        Some(_) => Some(super::channels::Origin {
            status: row.parsed("o_status", "delivery status")?,
            message_ref: row.opt_text("o_message_ref")?,
        }),
        None => None,
    };
    Ok(super::channels::ClaimedNotification {
        seq: row.int("d_seq")?,
        id: row.text("d_id")?,
        kind: notification_kind(&row.text("d_kind")?),
        channel: row.parsed("d_channel", "channel")?,
        target: row.text("d_target")?,
        attempts: u32::try_from(row.int("d_attempts")?).unwrap_or(0),
        lease_until,
        origin,
        request: request(row)?,
        requested_by: row.opt_text("requested_by")?,
    })
}

pub(super) fn session<R: Columns>(row: &R) -> StoreResult<super::sessions::SessionRecord> {
    Ok(super::sessions::SessionRecord {
        id_hash: row.text("id_hash")?,
        key_hash: row.text("key_hash")?,
        key_id: row.opt_text("key_id")?,
        csrf_token: row.text("csrf_token")?,
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
    })
}
