//! Discord: a bot message with an embed (coloured by urgency) and Approve / Deny buttons, edited once the request
//! is decided; verification of interaction requests (Ed25519 over timestamp + raw body); and, for webhook-URL
//! targets (which cannot carry buttons), an embed with one-click links.
//!
//! User-supplied text is escaped for Discord markdown (a backslash before each markup character, `@` followed
//! by a zero-width space), code blocks cannot be closed from inside, and every message says
//! `allowed_mentions: {parse: []}`, so nothing in a request can ping anyone.

use super::{Decider, DecisionLinks, SendError, Summary, truncate, urgency_emoji};
use crate::outbound::OutboundClient;
use agentgate_core::request::{RequestStatus, Urgency};
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};

/// How far a request's timestamp may be from now (either way). Discord documents no window; this is ours.
pub const SIGNATURE_MAX_AGE_SECONDS: i64 = 5 * 60;

const APPROVE_PREFIX: &str = "agentgate:approve:";
const DENY_PREFIX: &str = "agentgate:deny:";

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Missing Discord signature headers")]
    Missing,
    #[error("Discord request timestamp is too old or too far ahead")]
    Stale,
    #[error("Invalid Discord signature")]
    Invalid,
}

/// Checks `X-Signature-Ed25519` (hex) over `X-Signature-Timestamp` followed by the raw body with the
/// application's public key, and the timestamp (unix seconds) against `now` within five minutes.
pub fn verify(
    public_key: &[u8; 32],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_seconds: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else { return Err(SignatureError::Missing) };
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| SignatureError::Invalid)?;
    let signature: [u8; 64] =
        hex::decode(signature.trim()).ok().and_then(|b| b.try_into().ok()).ok_or(SignatureError::Invalid)?;
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    key.verify_strict(&message, &Signature::from_bytes(&signature)).map_err(|_| SignatureError::Invalid)?;
    // Checked after the signature, so the timestamp compared is one Discord vouched for.
    let sent_at: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Invalid)?;
    if (now_seconds - sent_at).abs() > SIGNATURE_MAX_AGE_SECONDS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// A button's `custom_id`, read back: the verdict it stands for (`true` = approve) and the request id.
pub fn parse_custom_id(custom_id: &str) -> Option<(bool, &str)> {
    if let Some(id) = custom_id.strip_prefix(APPROVE_PREFIX) {
        return Some((true, id));
    }
    custom_id.strip_prefix(DENY_PREFIX).map(|id| (false, id))
}

/// Whether a Discord target is a webhook URL rather than a channel id.
pub fn is_webhook_url(target: &str) -> bool {
    target.starts_with("https://") || target.starts_with("http://")
}

/// Escapes Discord markdown: a backslash before every markup character; `@` cannot start a mention.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '#' | '[' | ']' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200B}"),
            c => out.push(c),
        }
    }
    out
}

fn code_block(text: &str) -> String {
    format!("```json\n{}\n```", text.replace('`', "ˋ"))
}

fn colour(summary: &Summary<'_>) -> u32 {
    match summary.request.status {
        RequestStatus::Approved => 0x22c55e,
        RequestStatus::Denied => 0xef4444,
        RequestStatus::Expired => 0x6b7280,
        RequestStatus::Pending => match summary.request.urgency {
            Urgency::Low => 0x22c55e,
            Urgency::Normal => 0xeab308,
            Urgency::High => 0xf97316,
            Urgency::Critical => 0xef4444,
        },
    }
}

fn field(name: &str, value: String, inline: bool) -> Value {
    json!({ "name": name, "value": truncate(&value, 1024), "inline": inline })
}

/// The embed of a request's message (its outcome included once decided or expired).
pub fn embed(summary: &Summary<'_>, links: Option<&DecisionLinks>) -> Value {
    let r = summary.request;
    let title = match summary.outcome_word() {
        None => format!("Approval needed: {}", r.action),
        Some(word) => format!("Request {}: {}", word.to_lowercase(), r.action),
    };
    let mut fields = vec![
        field("Action", escape(&truncate(&r.action, 256)), true),
        field("Urgency", format!("{} {}", urgency_emoji(r.urgency), r.urgency.as_str().to_uppercase()), true),
        field("Requested by", escape(&truncate(&summary.who_asked(), 200)), true),
        field(
            "Expires",
            r.expires_at.map_or_else(|| "never".to_owned(), |t| format!("<t:{}:R>", t.unix_seconds())),
            true,
        ),
    ];
    if let Some(approvers) = r.approvers.as_ref().filter(|a| !a.is_empty()) {
        fields.push(field("Who may decide", escape(&approvers.join(", ")), false));
    }
    fields.push(field("Parameters", code_block(&summary.params_json(900)), false));
    if let Some(context) = summary.context_json(500) {
        fields.push(field("Context", code_block(&context), false));
    }
    if let Some(word) = summary.outcome_word() {
        let at = r.decided_at.unwrap_or(r.updated_at).unix_seconds();
        let by = match Decider::of(r) {
            Some(Decider::Discord(id)) => format!(" by <@{id}>"),
            Some(Decider::Slack(id)) => format!(" by slack\\:{}", escape(id)),
            Some(Decider::Other(by)) => format!(" by {}", escape(by)),
            None => String::new(),
        };
        let mut outcome = format!("**{word}**{by} <t:{at}:f>");
        if let Some(reason) = &r.decision_reason {
            outcome.push_str(&format!("\n> {}", escape(&truncate(reason, 500)).replace('\n', " ")));
        }
        fields.push(field("Outcome", outcome, false));
    } else if let Some(links) = links {
        fields.push(field(
            "Decide",
            format!(
                "[Approve]({}) · [Deny]({}) (links expire <t:{}:R>)",
                links.approve,
                links.deny,
                links.expires_at.unix_seconds()
            ),
            false,
        ));
    }
    let mut embed = json!({
        "title": truncate(&title, 256),
        "color": colour(summary),
        "fields": fields,
        "footer": { "text": format!("Request {}", r.id) },
        "timestamp": r.created_at.to_iso(),
    });
    if let Some(link) = &summary.dashboard_link {
        embed["url"] = json!(link);
    }
    embed
}

/// The buttons: live while pending, disabled once decided.
pub fn buttons(summary: &Summary<'_>) -> Value {
    let r = summary.request;
    let decided = r.status.is_terminal();
    json!([{ "type": 1, "components": [
        { "type": 2, "style": 3, "label": "Approve", "custom_id": format!("{APPROVE_PREFIX}{}", r.id), "disabled": decided },
        { "type": 2, "style": 4, "label": "Deny", "custom_id": format!("{DENY_PREFIX}{}", r.id), "disabled": decided },
    ]}])
}

/// A whole bot message for a request.
pub fn message(summary: &Summary<'_>) -> Value {
    json!({ "embeds": [embed(summary, None)], "components": buttons(summary), "allowed_mentions": { "parse": [] } })
}

/// The Discord REST API at its configured base URL, with the bot token.
pub struct DiscordApi<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub token: &'a str,
}

impl DiscordApi<'_> {
    async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value, SendError> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, format!("Bot {}", self.token))
            .header(
                reqwest::header::USER_AGENT,
                concat!("DiscordBot (https://github.com/agentgate, ", env!("CARGO_PKG_VERSION"), ")"),
            )
            .json(body)
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("Discord: {}", super::slack::describe(&e))))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        let message = answer["message"].as_str().unwrap_or("");
        let error = format!("Discord: HTTP {} {message}", status.as_u16());
        // 4xx other than rate limits (unknown channel, missing access) will not pass by retrying.
        if status.is_client_error() && status.as_u16() != 429 {
            Err(SendError::Permanent(error.trim_end().to_owned()))
        } else {
            Err(SendError::Transient(error.trim_end().to_owned()))
        }
    }

    /// Posts a request's message to channel `channel_id`; returns where it lives (`{"channel", "id"}`).
    pub async fn post(&self, channel_id: &str, summary: &Summary<'_>) -> Result<Value, SendError> {
        let answer =
            self.send(reqwest::Method::POST, &format!("/channels/{channel_id}/messages"), &message(summary)).await?;
        match answer["id"].as_str() {
            Some(id) => Ok(json!({ "channel": answer["channel_id"].as_str().unwrap_or(channel_id), "id": id })),
            None => Err(SendError::Transient("Discord: no message id in the answer".into())),
        }
    }

    /// Edits the message at `origin` (`{"channel", "id"}`) into the request's current state.
    pub async fn update(&self, origin: &Value, summary: &Summary<'_>) -> Result<(), SendError> {
        let (Some(channel), Some(id)) = (origin["channel"].as_str(), origin["id"].as_str()) else {
            return Err(SendError::Permanent("the original Discord message is unknown".into()));
        };
        self.send(reqwest::Method::PATCH, &format!("/channels/{channel}/messages/{id}"), &message(summary))
            .await
            .map(|_| ())
    }
}

/// Posts to a Discord webhook URL (user-supplied, so through the SSRF guard): an embed, with links while pending.
pub async fn post_webhook(
    client: &OutboundClient,
    url: &str,
    summary: &Summary<'_>,
    links: Option<&DecisionLinks>,
) -> Result<(), SendError> {
    let body =
        json!({ "username": "AgentGate", "embeds": [embed(summary, links)], "allowed_mentions": { "parse": [] } });
    let response = client.post_json(url, Vec::new(), bytes::Bytes::from(body.to_string())).await?;
    if response.is_success() {
        Ok(())
    } else {
        Err(SendError::Transient(format!("Discord webhook: HTTP {}", response.status)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signed with PyNaCl and checked with `discord-interactions`' `verify_key`, see
    /// `tests/fixtures/make_signed_interactions.py`.
    const FIXTURES: &str = include_str!("../../tests/fixtures/discord-signatures.json");

    #[test]
    fn signatures_checked_by_discord_interactions_agree() {
        let fixtures: Value = serde_json::from_str(FIXTURES).expect("fixture JSON");
        let key: [u8; 32] =
            hex::decode(fixtures["publicKey"].as_str().expect("key")).expect("hex").try_into().expect("32 bytes");
        let cases = fixtures["cases"].as_array().expect("cases");
        assert!(cases.len() >= 4);
        for case in cases {
            let name = case["name"].as_str().expect("name");
            let body = case["body"].as_str().expect("body").as_bytes();
            let result = verify(
                &key,
                case["timestamp"].as_str(),
                case["signature"].as_str(),
                body,
                case["now"].as_i64().expect("now"),
            );
            let expected = case["expected"].as_str().expect("expected");
            match expected {
                "valid" => assert_eq!(result, Ok(()), "{name}"),
                "stale" => assert_eq!(result, Err(SignatureError::Stale), "{name}"),
                _ => assert_eq!(result, Err(SignatureError::Invalid), "{name}"),
            }
            // The official library agrees on the signature itself (it has no time window).
            assert_eq!(
                case["verifyKey"].as_bool().expect("verifyKey"),
                matches!(result, Ok(()) | Err(SignatureError::Stale)),
                "{name}"
            );
        }
    }

    #[test]
    fn markdown_and_mentions_are_neutralised() {
        assert_eq!(escape("@everyone **x**"), "@\u{200B}everyone \\*\\*x\\*\\*");
        assert_eq!(code_block("```"), "```json\nˋˋˋ\n```");
        assert_eq!(parse_custom_id("agentgate:approve:01X"), Some((true, "01X")));
        assert_eq!(parse_custom_id("agentgate:deny:01X"), Some((false, "01X")));
        assert_eq!(parse_custom_id("other"), None);
    }
}
