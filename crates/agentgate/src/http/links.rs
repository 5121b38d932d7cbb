//! One-click decision links: `POST /api/requests/:id/tokens` mints an approve/deny pair; `GET /api/decide/<token>`
//! shows a confirmation page and changes nothing (mail scanners follow links); the page's form POSTs to the same
//! URL, which decides. Tokens are random, stored hashed, single-use (using one spends its sibling) and expiring.

use super::extract::{Authorized, DecideRequests, PathId};
use crate::app::{SharedState, new_id, now};
use crate::auth::hash_key;
use crate::error::{AppError, AppResult};
use crate::store::{DecideOutcome, DecisionToken, LinkDecision, MintOutcome, NewAudit, TokenOutcome};
use agentgate_core::audit;
use agentgate_core::request::{DecideRefusal, Verdict};
use agentgate_core::wire::ApprovalRequest;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use serde_json::{Value, json};

/// As for API decisions.
const MAX_REASON_LEN: usize = 4096;

/// A new link secret: 32 random bytes, base64url.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn mint(
    State(state): State<SharedState>,
    auth: Authorized<DecideRequests>,
    PathId(request_id): PathId,
) -> AppResult<Json<Value>> {
    let created_at = now();
    let hours = state.config.decision_token_expiry_hours;
    let expires_at = created_at.add_millis(i64::from(hours) * 3_600_000);
    let base = state
        .config
        .decision_link_base_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", state.config.port));
    let secrets = [new_secret(), new_secret()];
    let token = |verdict: Verdict, secret: &str| DecisionToken {
        id: new_id(),
        request_id: request_id.clone(),
        verdict,
        token_hash: hash_key(secret),
        created_by: auth.principal.actor.clone(),
        created_by_name: auth.principal.name.clone(),
        created_at,
        expires_at,
        used_at: None,
    };
    let tokens = [token(Verdict::Approved, &secrets[0]), token(Verdict::Denied, &secrets[1])];
    let audit = NewAudit {
        id: new_id(),
        request_id: Some(request_id.clone()),
        event_type: audit::VIEWED,
        actor: auth.principal.actor.clone(),
        details: json!({ "event": "tokens_generated", "expiresAt": expires_at }),
        created_at,
    };
    match state.store.insert_decision_tokens(tokens, audit).await? {
        MintOutcome::Minted => {}
        MintOutcome::NotFound => return Err(AppError::NotFound("Request not found".into())),
        MintOutcome::NotPending(status) => {
            return Err(AppError::bad_request(format!("Request is not pending (current status: {status})")));
        }
    }
    let link = |secret: &str| json!({ "token": secret, "url": format!("{base}/api/decide/{secret}") });
    Ok(Json(json!({
        "requestId": request_id,
        "tokens": { "approve": link(&secrets[0]), "deny": link(&secrets[1]) },
        "expiresAt": expires_at,
        "expiresInHours": hours,
    })))
}

/// The token from the path; an undecodable one is just an invalid token (a page, not a JSON error).
type TokenPath = Result<Path<String>, PathRejection>;

/// `GET /api/decide/<token>`: the confirmation page. Reads only.
pub async fn confirm_page(State(state): State<SharedState>, secret: TokenPath) -> AppResult<Response> {
    let Ok(Path(secret)) = secret else { return Ok(invalid_token()) };
    Ok(match state.store.find_decision_token(&hash_key(&secret), now()).await? {
        TokenOutcome::Unknown => invalid_token(),
        TokenOutcome::Used => used_token(),
        TokenOutcome::Expired => expired_token(),
        TokenOutcome::Usable((token, request)) => {
            if request.status.is_terminal() || request.expires_at.is_some_and(|at| at <= now()) {
                return Ok(already_decided(&request));
            }
            confirmation(&token, &request)
        }
    })
}

/// `POST /api/decide/<token>` (the page's form, `reason` optional): decides.
pub async fn decide(State(state): State<SharedState>, secret: TokenPath, body: Bytes) -> AppResult<Response> {
    let Ok(Path(secret)) = secret else { return Ok(invalid_token()) };
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let reason =
        form.into_iter().find(|(k, _)| k == "reason").map(|(_, v)| v.trim().to_owned()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_LEN) {
        let message = format!("A reason may be at most {MAX_REASON_LEN} characters. Go back and shorten it.");
        return Ok(page(StatusCode::BAD_REQUEST, "Reason Too Long", &message, &[], None));
    }
    let link = LinkDecision {
        token_hash: hash_key(&secret),
        reason,
        audit_id: new_id(),
        event_ids: [new_id(), new_id()],
        now: now(),
    };
    Ok(match state.store.decide_with_token(link).await? {
        TokenOutcome::Unknown => invalid_token(),
        TokenOutcome::Used => used_token(),
        TokenOutcome::Expired => expired_token(),
        TokenOutcome::Usable((_, DecideOutcome::Decided(request))) => {
            state.metrics.decided(crate::metrics::source::LINK, &request);
            let title = if request.status.as_str() == "approved" { "Request Approved" } else { "Request Denied" };
            page(StatusCode::OK, title, "Your decision has been recorded.", &details(&request), None)
        }
        TokenOutcome::Usable((_, DecideOutcome::NotFound)) => invalid_token(),
        TokenOutcome::Usable((_, DecideOutcome::Refused(DecideRefusal::ReasonRequired))) => page(
            StatusCode::BAD_REQUEST,
            "Reason Required",
            "This request needs a reason with its decision. Go back, write one, and submit again.",
            &[],
            None,
        ),
        TokenOutcome::Usable((_, DecideOutcome::Refused(DecideRefusal::NotAnApprover))) => page(
            StatusCode::FORBIDDEN,
            "Not an Approver",
            "This link was made by someone who may not decide this request.",
            &[],
            None,
        ),
        TokenOutcome::Usable((request_id, DecideOutcome::Refused(_))) => {
            match state.store.get_request(&request_id).await? {
                Some(request) => already_decided(&request),
                None => invalid_token(),
            }
        }
    })
}

fn details(request: &ApprovalRequest) -> Vec<(&'static str, String)> {
    let mut rows = vec![("Request ID", request.id.clone()), ("Action", request.action.clone())];
    if let Some(at) = request.decided_at {
        rows.push(("Decided at", at.to_iso()));
    }
    rows
}

fn invalid_token() -> Response {
    page(StatusCode::NOT_FOUND, "Invalid Token", "This link is not valid. It may have been mistyped.", &[], None)
}

fn used_token() -> Response {
    page(StatusCode::BAD_REQUEST, "Already Used", "This link has already been used.", &[], None)
}

fn expired_token() -> Response {
    page(StatusCode::BAD_REQUEST, "Link Expired", "This link has expired. Ask for a new one.", &[], None)
}

fn already_decided(request: &ApprovalRequest) -> Response {
    let status = if request.status.is_terminal() { request.status.as_str() } else { "expired" };
    let mut rows = vec![("Status", status.to_owned())];
    if let Some(by) = &request.decided_by {
        rows.push(("Decided by", by.clone()));
    }
    if let Some(at) = request.decided_at {
        rows.push(("Decided at", at.to_iso()));
    }
    page(StatusCode::CONFLICT, "Already Decided", "This request can no longer be decided.", &rows, None)
}

fn confirmation(token: &DecisionToken, request: &ApprovalRequest) -> Response {
    let verb = match token.verdict {
        Verdict::Approved => "Approve",
        Verdict::Denied => "Deny",
    };
    let params = serde_json::to_string_pretty(&request.params).unwrap_or_default();
    let mut rows = vec![
        ("Action", request.action.clone()),
        ("Urgency", request.urgency.as_str().to_owned()),
        ("Requested at", request.created_at.to_iso()),
    ];
    if let Some(agent) = request.context.get("agentId").and_then(Value::as_str) {
        rows.push(("Agent", agent.to_owned()));
    }
    if let Some(at) = request.expires_at {
        rows.push(("Expires at", at.to_iso()));
    }
    rows.push(("Link valid until", token.expires_at.to_iso()));
    let reason_label = if request.require_reason { "Reason (required)" } else { "Reason (optional)" };
    let form = format!(
        r#"<pre aria-label="Parameters">{params}</pre>
<form method="post">
  <label for="reason">{reason_label}</label>
  <textarea id="reason" name="reason" rows="3"{required}></textarea>
  <button type="submit" class="{class}">{verb}</button>
</form>"#,
        params = escape(&params),
        required = if request.require_reason { " required" } else { "" },
        class = verb.to_lowercase(),
    );
    page(
        StatusCode::OK,
        &format!("{verb} this request?"),
        "Nothing happens until you press the button.",
        &rows,
        Some(&form),
    )
}

/// A self-contained page (inline CSS, no script): every interpolated value is escaped.
fn page(status: StatusCode, title: &str, message: &str, rows: &[(&str, String)], extra: Option<&str>) -> Response {
    let rows: String =
        rows.iter().map(|(label, value)| format!("<dt>{}</dt><dd>{}</dd>", escape(label), escape(value))).collect();
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{title} · AgentGate</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1f2328;margin:0;padding:2rem 1rem}}
main{{max-width:36rem;margin:auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 1px 3px #0002}}
h1{{font-size:1.4rem;margin-top:0}} dl{{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem}}
dt{{color:#57606a}} dd{{margin:0;word-break:break-word}} pre{{background:#f6f8fa;padding:1rem;overflow:auto}}
textarea{{width:100%;box-sizing:border-box;margin:.4rem 0 1rem}} label{{display:block}}
button{{font-size:1rem;padding:.6rem 1.4rem;border:0;border-radius:8px;color:#fff;cursor:pointer}}
.approve{{background:#1a7f37}} .deny{{background:#cf222e}} button:focus{{outline:3px solid #0969da}}
footer{{margin-top:2rem;color:#57606a;font-size:.85rem}}
</style></head>
<body><main><h1>{title}</h1><p>{message}</p><dl>{rows}</dl>{extra}<footer>AgentGate • Approval Management</footer></main></body></html>"#,
        title = escape(title),
        message = escape(message),
        extra = extra.unwrap_or_default(),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
