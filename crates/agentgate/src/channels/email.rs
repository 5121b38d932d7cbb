//! E-mail over SMTP (lettre): a multipart message (plain text first, HTML last, the same links in both) with
//! Approve / Deny links to the confirmation pages of one-click links (a GET never decides, so mail scanners
//! that follow links decide nothing) and a "View in dashboard" link; and, once the request is decided or
//! expires, its outcome to the same recipient, threaded under the first message.

use super::{DecisionLinks, SendError, Summary, truncate};
use crate::config::{SmtpConfig, SmtpSecurity};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};
use std::time::Duration;

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(config: &SmtpConfig, timeout: Duration) -> anyhow::Result<Self> {
        let builder = match config.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str()),
            SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?,
            SmtpSecurity::ImplicitTls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        };
        let mut builder = builder.port(config.port).timeout(Some(timeout));
        if let Some(user) = &config.user {
            builder = builder.credentials(Credentials::new(user.clone(), config.password.clone().unwrap_or_default()));
        }
        Ok(Self { transport: builder.build(), from: config.from.clone() })
    }

    /// The request mail; returns its `Message-ID` (`{"messageId"}`), which the outcome mail replies to.
    pub async fn send_request(
        &self,
        to: &str,
        summary: &Summary<'_>,
        links: Option<&DecisionLinks>,
    ) -> Result<Value, SendError> {
        let r = summary.request;
        let subject = format!("[AgentGate] Approval required: {}", truncate(&r.action, 120));
        let message_id = format!("<{}.{}@agentgate>", r.id, crate::app::new_id());
        let (text, html) = request_bodies(summary, links);
        self.send(to, &subject, &message_id, None, text, html).await?;
        Ok(json!({ "messageId": message_id }))
    }

    /// The outcome mail, in reply to the request mail when its id is known.
    pub async fn send_outcome(
        &self,
        to: &str,
        summary: &Summary<'_>,
        in_reply_to: Option<&str>,
    ) -> Result<(), SendError> {
        let r = summary.request;
        let word = summary.outcome_word().unwrap_or("Updated");
        let subject = format!("[AgentGate] Request {}: {}", word.to_lowercase(), truncate(&r.action, 120));
        let message_id = format!("<{}.{}@agentgate>", r.id, crate::app::new_id());
        let (text, html) = outcome_bodies(summary);
        self.send(to, &subject, &message_id, in_reply_to, text, html).await
    }

    async fn send(
        &self,
        to: &str,
        subject: &str,
        message_id: &str,
        in_reply_to: Option<&str>,
        text: String,
        html: String,
    ) -> Result<(), SendError> {
        let to: Mailbox = to.parse().map_err(|_| SendError::Permanent(format!("{to:?} is not an e-mail address")))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.to_owned()))
            // RFC 3834: an automatic message, so auto-responders stay quiet.
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()));
        if let Some(parent) = in_reply_to {
            builder = builder.in_reply_to(parent.to_owned()).references(parent.to_owned());
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                SendError::Permanent(format!("SMTP: {e}"))
            } else {
                SendError::Transient(format!("SMTP: {e}"))
            }
        })
    }
}

/// Escapes text for HTML element content and attribute values.
fn html(text: &str) -> String {
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

fn urgency_colour(summary: &Summary<'_>) -> &'static str {
    use agentgate_core::request::Urgency;
    match summary.request.urgency {
        Urgency::Critical => "#b91c1c",
        Urgency::High => "#c2410c",
        Urgency::Normal => "#a16207",
        Urgency::Low => "#15803d",
    }
}

/// The rows both bodies show, as (label, value) with raw values.
fn rows(summary: &Summary<'_>) -> Vec<(&'static str, String)> {
    let r = summary.request;
    let mut rows = vec![
        ("Action", r.action.clone()),
        ("Urgency", r.urgency.as_str().to_owned()),
        ("Requested by", summary.who_asked()),
        ("Request ID", r.id.clone()),
        ("Expires", summary.expires()),
    ];
    if let Some(approvers) = r.approvers.as_ref().filter(|a| !a.is_empty()) {
        rows.push(("Who may decide", approvers.join(", ")));
    }
    rows
}

fn page(heading: &str, colour: &str, summary: &Summary<'_>, body_html: &str) -> String {
    let mut table = String::new();
    for (label, value) in rows(summary) {
        table.push_str(&format!(
            "<tr><td style=\"padding:4px 12px 4px 0;color:#4b5563;white-space:nowrap;vertical-align:top\">{}</td>\
             <td style=\"padding:4px 0\">{}</td></tr>",
            html(label),
            html(&value)
        ));
    }
    let mut pre = format!(
        "<p style=\"margin:16px 0 4px;color:#4b5563\">Parameters</p><pre style=\"background:#f3f4f6;padding:12px;\
         border-radius:6px;white-space:pre-wrap;word-break:break-word;font-size:13px\">{}</pre>",
        html(&summary.params_json(1500))
    );
    if let Some(context) = summary.context_json(600) {
        pre.push_str(&format!(
            "<p style=\"margin:16px 0 4px;color:#4b5563\">Context</p><pre style=\"background:#f3f4f6;padding:12px;\
             border-radius:6px;white-space:pre-wrap;word-break:break-word;font-size:13px\">{}</pre>",
            html(&context)
        ));
    }
    let dashboard = summary.dashboard_link.as_ref().map_or(String::new(), |link| {
        format!(
            "<p style=\"margin-top:24px\"><a href=\"{}\" style=\"color:#1d4ed8\">View in dashboard →</a></p>",
            html(link)
        )
    });
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{title}</title></head>\
         <body style=\"margin:0;padding:24px;background:#ffffff;color:#111827;font-family:-apple-system,Segoe UI,\
         Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5\"><div style=\"max-width:600px;margin:0 auto\">\
         <h1 style=\"font-size:20px;margin:0 0 16px;border-left:4px solid {colour};padding-left:12px\">{title}</h1>\
         <table role=\"presentation\" style=\"border-collapse:collapse\">{table}</table>{pre}{body_html}{dashboard}\
         <p style=\"margin-top:32px;color:#6b7280;font-size:12px\">Sent by AgentGate.</p></div></body></html>",
        title = html(heading),
    )
}

fn text_rows(summary: &Summary<'_>) -> String {
    let mut text = String::new();
    for (label, value) in rows(summary) {
        text.push_str(&format!("{label}: {value}\n"));
    }
    text.push_str(&format!("\nParameters:\n{}\n", summary.params_json(1500)));
    if let Some(context) = summary.context_json(600) {
        text.push_str(&format!("\nContext:\n{context}\n"));
    }
    text
}

fn request_bodies(summary: &Summary<'_>, links: Option<&DecisionLinks>) -> (String, String) {
    let heading = format!("Approval required: {}", truncate(&summary.request.action, 200));
    let mut text = format!("{heading}\n\n{}", text_rows(summary));
    let mut buttons = String::new();
    match links {
        Some(links) => {
            text.push_str(&format!(
                "\nApprove: {}\nDeny: {}\n(Each link opens a page where you confirm. Links expire {}.)\n",
                links.approve,
                links.deny,
                links.expires_at.to_iso()
            ));
            let button = |href: &str, label: &str, colour: &str| {
                format!(
                    "<a href=\"{}\" style=\"display:inline-block;padding:10px 20px;margin-right:12px;border-radius:6px;\
                     background:{colour};color:#ffffff;text-decoration:none;font-weight:600\">{label}</a>",
                    html(href)
                )
            };
            buttons = format!(
                "<p style=\"margin:24px 0 8px\">{}{}</p><p style=\"color:#6b7280;font-size:13px;margin:0\">Each link \
                 opens a page where you confirm. Links expire {}.</p>",
                button(&links.approve, "Approve", "#15803d"),
                button(&links.deny, "Deny", "#b91c1c"),
                html(&links.expires_at.to_iso())
            );
        }
        None => text.push_str("\nThis request was decided before this message was sent.\n"),
    }
    if let Some(link) = &summary.dashboard_link {
        text.push_str(&format!("\nView in dashboard: {link}\n"));
    }
    let html = page(&heading, urgency_colour(summary), summary, &buttons);
    (text, html)
}

fn outcome_line(summary: &Summary<'_>) -> String {
    let r = summary.request;
    let word = summary.outcome_word().unwrap_or("Updated");
    match (r.status, &r.decided_by) {
        (agentgate_core::request::RequestStatus::Expired, _) => {
            format!("Expired without a decision at {}.", r.updated_at.to_iso())
        }
        (_, Some(by)) => format!("{word} by {by} at {}.", r.decided_at.unwrap_or(r.updated_at).to_iso()),
        (_, None) => format!("{word}."),
    }
}

fn outcome_bodies(summary: &Summary<'_>) -> (String, String) {
    let word = summary.outcome_word().unwrap_or("Updated");
    let heading = format!("Request {}: {}", word.to_lowercase(), truncate(&summary.request.action, 200));
    let mut line = outcome_line(summary);
    if let Some(reason) = &summary.request.decision_reason {
        line.push_str(&format!("\nReason: {reason}"));
    }
    let mut text = format!("{heading}\n\n{line}\n\n{}", text_rows(summary));
    if let Some(link) = &summary.dashboard_link {
        text.push_str(&format!("\nView in dashboard: {link}\n"));
    }
    let colour = match summary.request.status {
        agentgate_core::request::RequestStatus::Approved => "#15803d",
        agentgate_core::request::RequestStatus::Denied => "#b91c1c",
        _ => "#6b7280",
    };
    let body = format!("<p style=\"margin:24px 0 0;white-space:pre-wrap\"><strong>{}</strong></p>", html(&line));
    (text, page(&heading, colour, summary, &body))
}
