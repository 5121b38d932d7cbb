//! Slack: Block Kit messages with Approve / Deny buttons (`chat.postMessage`), their update once the request is
//! decided (`chat.update`), and verification of interaction requests (the `v0` signature).
//!
//! Everything user-supplied (action, parameters, context, names, reasons) is escaped for mrkdwn: `&`, `<` and
//! `>` become entities, so `<!channel>` or `<@U…>` in a parameter is shown, never acted on; inside code spans
//! and blocks, backticks are replaced so a value cannot close its span and format what follows.

use super::{Decider, SendError, Summary, truncate, urgency_emoji};
use agentgate_core::request::RequestStatus;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const APPROVE_ACTION: &str = "agentgate_approve";
pub const DENY_ACTION: &str = "agentgate_deny";

/// How far a request's timestamp may be from now (either way) before it is refused as a replay.
pub const SIGNATURE_MAX_AGE_SECONDS: i64 = 5 * 60;

/// Why an interaction request is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Missing Slack signature headers")]
    Missing,
    #[error("Slack request timestamp is too old or too far ahead")]
    Stale,
    #[error("Invalid Slack signature")]
    Invalid,
}

/// Checks `X-Slack-Signature` (`v0=<hex>`) against `HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)` over
/// the raw body, and the timestamp against `now` (unix seconds) within five minutes. Constant-time comparison.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_seconds: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else { return Err(SignatureError::Missing) };
    let sent_at: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Invalid)?;
    if (now_seconds - sent_at).abs() > SIGNATURE_MAX_AGE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let expected =
        signature.trim().strip_prefix("v0=").and_then(|h| hex::decode(h).ok()).ok_or(SignatureError::Invalid)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Invalid)?;
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Invalid)
}

/// Escapes text for mrkdwn: the three characters Slack gives meaning to (`&`, `<`, `>`).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A code span that its content cannot close.
fn code(text: &str) -> String {
    format!("`{}`", escape(&text.replace('`', "ˋ")))
}

/// A code block that its content cannot close.
fn code_block(text: &str) -> String {
    format!("```{}```", escape(&text.replace('`', "ˋ")))
}

fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": text, "emoji": true })
}

fn mrkdwn(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": text })
}

fn decider(summary: &Summary<'_>) -> String {
    match Decider::of(summary.request) {
        Some(Decider::Slack(id)) => format!("<@{id}>"),
        Some(Decider::Discord(id)) => code(&format!("discord:{id}")),
        Some(Decider::Other(by)) => code(by),
        None => "nobody".to_owned(),
    }
}

/// The fallback text (notifications, screen readers) and the blocks of a request's message: with buttons while
/// pending, with the outcome and without buttons once decided or expired.
pub fn message(summary: &Summary<'_>) -> (String, Vec<Value>) {
    let r = summary.request;
    let (title, fallback) = match summary.outcome_word() {
        None => ("Approval needed".to_owned(), format!("Approval needed: {}", escape(&truncate(&r.action, 200)))),
        Some(word) => (
            format!("Request {}", word.to_lowercase()),
            format!("Request {}: {}", word.to_lowercase(), escape(&truncate(&r.action, 200))),
        ),
    };
    let mut fields = vec![
        mrkdwn(&format!("*Action*\n{}", code(&truncate(&r.action, 256)))),
        mrkdwn(&format!("*Urgency*\n{} {}", urgency_emoji(r.urgency), r.urgency.as_str())),
        mrkdwn(&format!("*Requested by*\n{}", code(&truncate(&summary.who_asked(), 200)))),
        mrkdwn(&format!("*Expires*\n{}", summary.expires())),
    ];
    if let Some(approvers) = r.approvers.as_ref().filter(|a| !a.is_empty()) {
        fields.push(mrkdwn(&format!("*Who may decide*\n{}", code(&truncate(&approvers.join(", "), 300)))));
    }
    let mut blocks = vec![
        json!({ "type": "header", "text": plain(&truncate(&format!("{title}: {}", r.action), 150)) }),
        json!({ "type": "section", "fields": fields }),
        json!({ "type": "section", "text": mrkdwn(&format!("*Parameters*\n{}", code_block(&summary.params_json(1500)))) }),
    ];
    if let Some(context) = summary.context_json(600) {
        blocks.push(json!({ "type": "section", "text": mrkdwn(&format!("*Context*\n{}", code_block(&context))) }));
    }
    match r.status {
        RequestStatus::Pending => blocks.push(json!({
            "type": "actions",
            "block_id": format!("agentgate:{}", r.id),
            "elements": [
                { "type": "button", "action_id": APPROVE_ACTION, "value": r.id, "style": "primary", "text": plain("Approve") },
                { "type": "button", "action_id": DENY_ACTION, "value": r.id, "style": "danger", "text": plain("Deny"),
                  "confirm": { "title": plain("Deny this request?"), "text": plain("The agent will be told no."),
                               "confirm": plain("Deny"), "deny": plain("Cancel") } },
            ],
        })),
        RequestStatus::Expired => blocks.push(json!({
            "type": "section",
            "text": mrkdwn(&format!("⏰ *Expired* without a decision at {}", r.updated_at.to_iso())),
        })),
        status => {
            let icon = if status == RequestStatus::Approved { "✅" } else { "❌" };
            let at = r.decided_at.unwrap_or(r.updated_at).to_iso();
            let mut text = format!("{icon} *{}* by {} at {at}", summary.outcome_word().unwrap_or_default(), decider(summary));
            if let Some(reason) = &r.decision_reason {
                text.push_str(&format!("\n>{}", escape(&truncate(reason, 500)).replace('\n', "\n>")));
            }
            blocks.push(json!({ "type": "section", "text": mrkdwn(&text) }));
        }
    }
    let mut footer = format!("Request {}", code(&r.id));
    if let Some(link) = &summary.dashboard_link {
        footer.push_str(&format!(" · <{}|View in dashboard>", link.replace(['|', '>', '<'], "")));
    }
    blocks.push(json!({ "type": "context", "elements": [mrkdwn(&footer)] }));
    (fallback, blocks)
}

/// The Slack Web API at its configured base URL, with the bot token.
pub struct SlackApi<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub token: &'a str,
}

impl SlackApi<'_> {
    /// Calls a Web API method with a JSON body; the answer when Slack says `ok`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SendError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("Slack {method}: {}", describe(&e))))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(SendError::Transient(format!("Slack {method}: HTTP {}", status.as_u16())));
        }
        if answer["ok"] != Value::Bool(true) {
            let error = answer["error"].as_str().unwrap_or("no `ok` in the answer");
            return Err(SendError::Transient(format!("Slack {method}: {error}")));
        }
        Ok(answer)
    }

    /// Posts a request's message to `channel`; returns where it lives (`{"channel", "ts"}`).
    pub async fn post(&self, channel: &str, summary: &Summary<'_>) -> Result<Value, SendError> {
        let (text, blocks) = message(summary);
        let answer =
            self.call("chat.postMessage", &json!({ "channel": channel, "text": text, "blocks": blocks })).await?;
        match (answer["channel"].as_str(), answer["ts"].as_str()) {
            (Some(channel), Some(ts)) => Ok(json!({ "channel": channel, "ts": ts })),
            _ => Err(SendError::Transient("Slack chat.postMessage: no channel and ts in the answer".into())),
        }
    }

    /// Replaces the message at `origin` (`{"channel", "ts"}`) with the request's current state.
    pub async fn update(&self, origin: &Value, summary: &Summary<'_>) -> Result<(), SendError> {
        let (text, blocks) = message(summary);
        let body = json!({ "channel": origin["channel"], "ts": origin["ts"], "text": text, "blocks": blocks });
        self.call("chat.update", &body).await.map(|_| ())
    }

    /// Tells one user something only they see, in the channel of the message they clicked.
    pub async fn ephemeral(&self, channel: &str, user: &str, text: &str) -> Result<(), SendError> {
        self.call("chat.postEphemeral", &json!({ "channel": channel, "user": user, "text": escape(text) }))
            .await
            .map(|_| ())
    }
}

/// A transport error without the URL (which may carry nothing secret, but says nothing useful either).
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        cause = e.to_string();
        source = e.source();
    }
    if cause.is_empty() { kind.to_owned() } else { format!("{kind}: {cause}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentgate_core::Timestamp;
    use agentgate_core::request::Urgency;
    use agentgate_core::wire::ApprovalRequest;

    /// Signed by the official `slack_sdk` (`SignatureVerifier.generate_signature`), see
    /// `tests/fixtures/make_signed_interactions.py`.
    const FIXTURES: &str = include_str!("../../tests/fixtures/slack-signatures.json");

    #[test]
    fn signatures_made_by_slack_sdk_verify_and_tampering_or_age_is_refused() {
        let fixtures: Value = serde_json::from_str(FIXTURES).expect("fixture JSON");
        let secret = fixtures["signingSecret"].as_str().expect("secret");
        let cases = fixtures["cases"].as_array().expect("cases");
        assert!(cases.len() >= 4);
        for case in cases {
            let name = case["name"].as_str().expect("name");
            let body = case["body"].as_str().expect("body").as_bytes();
            let timestamp = case["timestamp"].as_str();
            let signature = case["signature"].as_str();
            let now = case["now"].as_i64().expect("now");
            let result = verify(secret, timestamp, signature, body, now);
            // What slack_sdk's own verifier said about the same case.
            assert_eq!(result.is_ok(), case["slackSdkValid"].as_bool().expect("slackSdkValid"), "{name}: {result:?}");
        }
    }

    #[test]
    fn missing_headers_are_refused() {
        assert_eq!(verify("s", None, Some("v0=00"), b"", 0), Err(SignatureError::Missing));
        assert_eq!(verify("s", Some("0"), None, b"", 0), Err(SignatureError::Missing));
        assert_eq!(verify("s", Some("x"), Some("v0=00"), b"", 0), Err(SignatureError::Invalid));
        assert_eq!(verify("s", Some("0"), Some("nope"), b"", 0), Err(SignatureError::Invalid));
    }

    fn request(action: &str, params: Value) -> ApprovalRequest {
        ApprovalRequest {
            id: "01REQ".into(),
            action: action.into(),
            params,
            context: json!({ "agentId": "<!here> bot" }),
            status: RequestStatus::Pending,
            urgency: Urgency::High,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            decided_at: None,
            decided_by: None,
            decision_reason: None,
            expires_at: None,
            approvers: None,
            require_reason: false,
            policy_decision: None,
        }
    }

    #[test]
    fn user_text_cannot_mention_or_break_out_of_code() {
        let r = request("deploy <!channel> `x` *bold*", json!({ "note": "```\n<@U123> <!everyone> & done" }));
        let summary = Summary { request: &r, requested_by: Some("key:1"), dashboard_link: None };
        let (text, blocks) = message(&summary);
        // The header is `plain_text`, which Slack shows literally; everything parsed as mrkdwn is checked.
        let parsed: Vec<&Value> = blocks.iter().filter(|b| b["type"] != "header").collect();
        let all = format!("{text}{}", serde_json::to_string(&parsed).expect("json"));
        for raw in ["<!channel>", "<!here>", "<@U123>", "<!everyone>"] {
            assert!(!all.contains(raw), "{raw} survives in {all}");
        }
        assert!(all.contains("&lt;!channel&gt;") && all.contains("&amp; done"));
        // The only triple backticks are the ones that open and close blocks.
        let params = parsed[1]["text"]["text"].as_str().expect("params block");
        assert_eq!(params.matches("```").count(), 2, "{params}");
        let actions = blocks.iter().find(|b| b["type"] == "actions").expect("buttons while pending");
        assert_eq!(actions["elements"][0]["action_id"], APPROVE_ACTION);
        assert_eq!(actions["elements"][1]["value"], "01REQ");
    }

    #[test]
    fn a_decided_request_has_no_buttons_and_names_the_decider() {
        let mut r = request("deploy", json!({}));
        r.status = RequestStatus::Approved;
        r.decided_by = Some("slack:U42".into());
        r.decision_reason = Some("<!channel> ok".into());
        let (_, blocks) = message(&Summary {
            request: &r,
            requested_by: None,
            dashboard_link: Some("https://d/requests/01REQ".into()),
        });
        assert!(blocks.iter().all(|b| b["type"] != "actions"));
        let all = serde_json::to_string(&blocks).expect("json");
        assert!(
            all.contains("Approved* by <@U42>")
                && all.contains("&lt;!channel&gt; ok")
                && all.contains("View in dashboard")
        );
    }
}
