//! `request`, `status`, `list`, `approve`, `deny`, `wait` and `audit`.

use super::output::{self, Output, compact, time, utc};
use super::{CliError, Outcome, exit};
use agentgate_client::wire::{ApprovalRequest, AuditEntry, CreateRequest, RequestStatus, Timestamp, Urgency, Verdict};
use agentgate_client::{AuditFilter, Client, ListFilter, WaitOptions};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long `--wait` and `wait` wait unless `--timeout` says otherwise.
const DEFAULT_WAIT_SECONDS: u64 = 300;

fn urgency_parser() -> impl TypedValueParser<Value = Urgency> {
    PossibleValuesParser::new(["low", "normal", "high", "critical"]).map(|s| s.parse::<Urgency>().unwrap_or_default())
}

fn status_parser() -> impl TypedValueParser<Value = RequestStatus> {
    PossibleValuesParser::new(["pending", "approved", "denied", "expired"])
        .map(|s| s.parse::<RequestStatus>().unwrap_or(RequestStatus::Pending))
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The action to approve, e.g. deploy or send_email
    pub action: String,
    /// The action's parameters, a JSON object
    #[arg(short, long, value_name = "JSON")]
    pub params: Option<String>,
    /// Context for the decider (who asks, why), a JSON object; its agentId is what overrides match
    #[arg(short, long, value_name = "JSON")]
    pub context: Option<String>,
    /// How urgent it is
    #[arg(short, long, default_value = "normal", value_parser = urgency_parser())]
    pub urgency: Urgency,
    /// Expire the request when nobody decides within this long, e.g. 90s, 30m, 2h, 1d, 1h30m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires_in: Option<Duration>,
    /// Wait for the decision; the exit code tells it (0 approved, 1 denied, 2 expired, 3 still pending)
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 3) [default: 300]
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only requests with this status
    #[arg(short, long, value_parser = status_parser())]
    pub status: Option<RequestStatus>,
    /// Only requests for this action
    #[arg(short, long)]
    pub action: Option<String>,
    /// Only requests with this urgency
    #[arg(short, long, value_parser = urgency_parser())]
    pub urgency: Option<Urgency>,
    /// How many (1 to 100)
    #[arg(short, long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
    /// How many to skip
    #[arg(short, long, default_value_t = 0)]
    pub offset: u64,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// Request id
    pub id: String,
    /// Why (recorded in the audit trail; some policies require one)
    #[arg(short, long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Request id
    pub id: String,
    /// Give up after this many seconds (exit 3)
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_WAIT_SECONDS)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this request's entries
    #[arg(long = "request", value_name = "ID")]
    pub request_id: Option<String>,
    /// Only entries of this type (created, approved, denied, expired, policy_created, …)
    #[arg(short, long)]
    pub event_type: Option<String>,
    /// Only entries about this action
    #[arg(short, long)]
    pub action: Option<String>,
    /// Only entries by this actor (key:<id>, policy, system:expiry, …)
    #[arg(long)]
    pub actor: Option<String>,
    /// Only entries whose request has this status
    #[arg(short, long, value_parser = status_parser())]
    pub status: Option<RequestStatus>,
    /// From this time (ISO-8601) or day (YYYY-MM-DD)
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this time (ISO-8601) or day (YYYY-MM-DD, the whole day)
    #[arg(long)]
    pub to: Option<String>,
    /// How many (1 to 100)
    #[arg(short, long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
    /// How many to skip
    #[arg(short, long, default_value_t = 0)]
    pub offset: u64,
}

/// The exit code of a request's status.
pub fn status_code(status: RequestStatus) -> u8 {
    match status {
        RequestStatus::Approved => exit::OK,
        RequestStatus::Denied => exit::DENIED,
        RequestStatus::Expired => exit::EXPIRED,
        RequestStatus::Pending => exit::PENDING,
    }
}

pub async fn request(client: &Client, out: &Output, args: RequestArgs) -> Outcome {
    let params = json_object("--params", args.params.as_deref())?;
    let context = json_object("--context", args.context.as_deref())?;
    let expires_at = args.expires_in.map(|d| now().add_millis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
    let body = CreateRequest { action: args.action, params, context, urgency: Some(args.urgency), expires_at };
    let created = client.create_request(&body).await?;
    if !args.wait || created.status.is_terminal() {
        show(out, &created, &headline(&created))?;
        return Ok(status_code(created.status));
    }
    let seconds = args.timeout.unwrap_or(DEFAULT_WAIT_SECONDS);
    if !out.is_json() {
        output::note(&format!(
            "Request {} ({}) is pending; waiting up to {seconds} s for a decision…",
            created.id, created.action
        ));
    }
    let decided = client.wait_for_decision(&created.id, &WaitOptions::within(Duration::from_secs(seconds))).await?;
    show(out, &decided, &headline(&decided))?;
    Ok(status_code(decided.status))
}

pub async fn status(client: &Client, out: &Output, id: &str) -> Outcome {
    let request = client.get_request(id).await?;
    show(out, &request, &headline(&request))?;
    Ok(status_code(request.status))
}

pub async fn wait(client: &Client, out: &Output, args: WaitArgs) -> Outcome {
    let options = WaitOptions::within(Duration::from_secs(args.timeout));
    let request = client.wait_for_decision(&args.id, &options).await?;
    show(out, &request, &headline(&request))?;
    Ok(status_code(request.status))
}

pub async fn decide(client: &Client, out: &Output, args: DecideArgs, verdict: Verdict) -> Outcome {
    let request = client.decide(&args.id, verdict, args.reason.as_deref()).await?;
    let done = match verdict {
        Verdict::Approved => "Approved",
        Verdict::Denied => "Denied",
    };
    show(out, &request, &format!("{done} request {} ({}).", request.id, request.action))?;
    Ok(exit::OK)
}

pub async fn list(client: &Client, out: &Output, args: ListArgs) -> Outcome {
    let filter = ListFilter {
        status: args.status,
        action: args.action,
        urgency: args.urgency,
        limit: Some(args.limit),
        offset: Some(args.offset),
    };
    let list = client.list_requests(&filter).await?;
    if out.is_json() {
        out.json(&list)?;
        return Ok(exit::OK);
    }
    let rows = list
        .requests
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.status.to_string(),
                r.action.clone(),
                r.urgency.to_string(),
                time(r.created_at),
                r.decided_by.clone().unwrap_or_default(),
                compact(&r.params),
            ]
        })
        .collect();
    out.rows(&["ID", "STATUS", "ACTION", "URGENCY", "CREATED", "DECIDED BY", "PARAMS"], rows);
    let page = list.pagination;
    if page.has_more {
        out.message(&format!(
            "Showing {} of {} requests. Use --offset {} for the next page.",
            list.requests.len(),
            page.total,
            page.offset + list.requests.len() as u64
        ));
    }
    Ok(exit::OK)
}

pub async fn audit(client: &Client, out: &Output, args: AuditArgs) -> Outcome {
    let filter = AuditFilter {
        event_type: args.event_type,
        action: args.action,
        actor: args.actor,
        status: args.status,
        request_id: args.request_id,
        from: args.from,
        to: args.to,
        limit: Some(args.limit),
        offset: Some(args.offset),
    };
    let list = client.list_audit(&filter).await?;
    if out.is_json() {
        out.json(&list)?;
        return Ok(exit::OK);
    }
    let rows = list.entries.iter().map(audit_row).collect();
    out.rows(&["TIME", "EVENT", "ACTOR", "REQUEST", "ACTION", "DETAILS"], rows);
    if list.pagination.has_more {
        out.message(&format!("Showing {} of {} entries.", list.entries.len(), list.pagination.total));
    }
    Ok(exit::OK)
}

fn audit_row(entry: &AuditEntry) -> Vec<String> {
    let request = entry.request.clone().flatten();
    vec![
        time(entry.created_at),
        entry.event_type.clone(),
        entry.actor.clone(),
        entry.request_id.clone().unwrap_or_default(),
        request.map(|r| r.action).unwrap_or_default(),
        compact(&entry.details),
    ]
}

/// One request: its JSON, an `id status action` line, or a headline and a table of its fields.
fn show(out: &Output, request: &ApprovalRequest, headline: &str) -> Result<(), CliError> {
    match out.format {
        output::Format::Json => out.json(request),
        output::Format::Plain => {
            output::emit(&format!("{}\t{}\t{}", request.id, request.status, request.action));
            Ok(())
        }
        output::Format::Table => {
            out.message(headline);
            out.fields(vec![
                ("id", request.id.clone()),
                ("action", request.action.clone()),
                ("status", request.status.to_string()),
                ("urgency", request.urgency.to_string()),
                ("params", compact(&request.params)),
                ("context", compact(&request.context)),
                ("created", utc(Some(request.created_at))),
                ("expires", utc(request.expires_at)),
                ("decided", utc(request.decided_at)),
                ("decided by", request.decided_by.clone().unwrap_or_default()),
                ("reason", request.decision_reason.clone().unwrap_or_default()),
                ("approvers", request.approvers.as_ref().map(|a| a.join(", ")).unwrap_or_default()),
                ("policy", request.policy_decision.as_ref().map(|p| p.decision.to_string()).unwrap_or_default()),
            ]);
            Ok(())
        }
    }
}

fn headline(request: &ApprovalRequest) -> String {
    let what = format!("Request {} ({})", request.id, request.action);
    let by = request.decided_by.as_deref().unwrap_or("policy");
    match request.status {
        RequestStatus::Pending => format!("{what} is pending: waiting for a person to decide."),
        RequestStatus::Approved => format!("{what} was approved by {by}."),
        RequestStatus::Denied => format!("{what} was denied by {by}."),
        RequestStatus::Expired => format!("{what} expired before anyone decided."),
    }
}

/// A JSON object from a flag; `--params is not valid JSON: …` otherwise.
fn json_object(flag: &str, text: Option<&str>) -> Result<Option<Value>, CliError> {
    let Some(text) = text else { return Ok(None) };
    let value: Value =
        serde_json::from_str(text).map_err(|e| CliError::usage(format!("{flag} is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(CliError::usage(format!("{flag} must be a JSON object, like '{{\"key\": \"value\"}}'")));
    }
    Ok(Some(value))
}

fn now() -> Timestamp {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Timestamp::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// `90s`, `30m`, `2h`, `1d`, `1h30m` (a bare number is seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let invalid = || format!("{text:?} is not a duration: use e.g. 90s, 30m, 2h, 1d or 1h30m");
    if let Ok(seconds) = text.parse::<u64>() {
        return (seconds > 0).then(|| Duration::from_secs(seconds)).ok_or_else(invalid);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        let n: u64 = digits.parse().map_err(|_| invalid())?;
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(invalid)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "0", "0s", "m", "5x", "1.5h", "10m5", "-3s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn params_must_be_a_json_object() {
        assert!(json_object("--params", None).is_ok_and(|v| v.is_none()));
        assert!(json_object("--params", Some(r#"{"a":1}"#)).is_ok_and(|v| v.is_some()));
        let Err(CliError::Usage(message)) = json_object("--params", Some("{version: 2}")) else {
            panic!("a usage error");
        };
        assert!(message.starts_with("--params is not valid JSON: "), "{message}");
        assert!(matches!(json_object("--context", Some("[1]")), Err(CliError::Usage(_))));
    }

    #[test]
    fn exit_codes_follow_the_status() {
        assert_eq!(status_code(RequestStatus::Approved), 0);
        assert_eq!(status_code(RequestStatus::Denied), 1);
        assert_eq!(status_code(RequestStatus::Expired), 2);
        assert_eq!(status_code(RequestStatus::Pending), 3);
    }
}
