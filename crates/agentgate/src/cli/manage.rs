//! `policy …`, `key …` and `webhook …`: the management commands.

use super::output::{self, Output, compact, epoch_millis, time, unix_seconds, utc};
use super::{CliError, Outcome, exit};
use agentgate_client::wire::{CreateApiKey, CreateWebhook, Policy, UpdateApiKey, UpdateWebhook, WebhookDelivery};
use agentgate_client::{Client, DeliveryFilter, Page};
use agentgate_core::Timestamp;
use agentgate_core::auth::Scope;
use agentgate_core::webhook::DeliveryStatus;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Subcommand};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List policies in evaluation order
    List {
        /// How many (1 to 100)
        #[arg(short, long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// How many to skip
        #[arg(short, long, default_value_t = 0)]
        offset: u64,
    },
    /// Show one policy with its rules
    Get {
        /// Policy id
        id: String,
    },
    /// Create a policy from a JSON or YAML file ({name, rules, priority?, enabled?})
    Create {
        /// The policy file (.json, .yaml or .yml; - for stdin)
        #[arg(short, long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Replace a policy with the contents of a file (its version goes up by one)
    Update {
        /// Policy id
        id: String,
        /// The policy file (.json, .yaml or .yml; - for stdin)
        #[arg(short, long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete a policy
    Delete {
        /// Policy id
        id: String,
    },
    /// What the policies would decide for a request, and why; nothing is stored
    Simulate {
        /// A request ({action, params?, context?, urgency?}) or an array of them, JSON or YAML
        #[arg(short, long, value_name = "FILE")]
        file: PathBuf,
        /// Simulate against these draft policies (one policy, an array, or {policies: [...]}) instead of the
        /// stored ones
        #[arg(long, value_name = "FILE")]
        policies: Option<PathBuf>,
    },
}

fn scope_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(Scope::ALL.map(Scope::as_str))
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List API keys (never their secrets)
    List,
    /// Create an API key; its secret is shown only this once
    Create {
        /// What the key is for, e.g. billing-agent
        #[arg(long)]
        name: String,
        /// A scope (repeat, or separate with commas)
        #[arg(long = "scope", value_name = "SCOPE", required = true, value_delimiter = ',', value_parser = scope_parser())]
        scopes: Vec<String>,
        /// Most requests per minute
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        rate_limit: Option<u32>,
    },
    /// Change a key's name, scopes or rate limit
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["name", "scopes", "rate_limit", "no_rate_limit"])))]
    Update {
        /// Key id
        id: String,
        /// A new name
        #[arg(long)]
        name: Option<String>,
        /// The new scopes, replacing the old (repeat, or separate with commas)
        #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',', value_parser = scope_parser())]
        scopes: Option<Vec<String>>,
        /// Most requests per minute
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "no_rate_limit")]
        rate_limit: Option<u32>,
        /// Remove the rate limit
        #[arg(long)]
        no_rate_limit: bool,
    },
    /// Revoke a key: it stops working at once
    Revoke {
        /// Key id
        id: String,
    },
}

fn delivery_status_parser() -> impl TypedValueParser<Value = DeliveryStatus> {
    PossibleValuesParser::new(["pending", "success", "failed"])
        .map(|s| s.parse::<DeliveryStatus>().unwrap_or(DeliveryStatus::Pending))
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// List webhooks
    List,
    /// Show a webhook and its recent deliveries
    Get {
        /// Webhook id
        id: String,
    },
    /// Subscribe an endpoint to events; the signing secret is shown only this once
    Create {
        /// The endpoint that receives the events (http or https)
        #[arg(long)]
        url: String,
        /// An event: request.created, request.approved, request.denied, request.decided, request.expired or *
        /// (repeat, or separate with commas)
        #[arg(long = "event", value_name = "EVENT", required = true, value_delimiter = ',')]
        events: Vec<String>,
        /// The signing secret (32 to 256 characters) [default: generated]
        #[arg(long)]
        secret: Option<String>,
    },
    /// Change a webhook's URL or events, or turn it on or off
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["url", "events", "enable", "disable"])))]
    Update {
        /// Webhook id
        id: String,
        /// A new endpoint
        #[arg(long)]
        url: Option<String>,
        /// The new events, replacing the old (repeat, or separate with commas)
        #[arg(long = "event", value_name = "EVENT", value_delimiter = ',')]
        events: Option<Vec<String>>,
        /// Deliver events again
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Stop delivering events (the webhook is kept)
        #[arg(long)]
        disable: bool,
    },
    /// Delete a webhook and its delivery log
    Delete {
        /// Webhook id
        id: String,
    },
    /// Send a signed test event now
    Test {
        /// Webhook id
        id: String,
    },
    /// A webhook's delivery log, newest first
    Deliveries {
        /// Webhook id
        id: String,
        /// Only deliveries in this state
        #[arg(short, long, value_parser = delivery_status_parser())]
        status: Option<DeliveryStatus>,
        /// How many (1 to 100)
        #[arg(short, long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// How many to skip
        #[arg(short, long, default_value_t = 0)]
        offset: u64,
    },
    /// Send a finished delivery again
    Replay {
        /// The delivery's id (whd_…)
        delivery_id: String,
    },
}

pub async fn policy(client: &Client, out: &Output, command: PolicyCommand) -> Outcome {
    match command {
        PolicyCommand::List { limit, offset } => {
            let list = client.list_policies(&Page { limit: Some(limit), offset: Some(offset) }).await?;
            if out.is_json() {
                out.json(&list)?;
            } else {
                let rows = list
                    .policies
                    .iter()
                    .map(|p| {
                        vec![
                            p.id.clone(),
                            p.name.clone(),
                            p.priority.to_string(),
                            yes_no(p.enabled),
                            p.rules.len().to_string(),
                            p.version.to_string(),
                            time(p.updated_at),
                        ]
                    })
                    .collect();
                out.rows(&["ID", "NAME", "PRIORITY", "ENABLED", "RULES", "VERSION", "UPDATED"], rows);
            }
        }
        PolicyCommand::Get { id } => {
            let policy = client.get_policy(&id).await?;
            show_policy(out, &policy, None)?;
        }
        PolicyCommand::Create { file } => {
            let body = read_document(&file)?;
            let policy = client.create_policy(&body).await?;
            let headline = format!("Created policy {} ({}).", policy.id, policy.name);
            show_policy(out, &policy, Some(&headline))?;
        }
        PolicyCommand::Update { id, file } => {
            let body = read_document(&file)?;
            let policy = client.replace_policy(&id, &body).await?;
            let headline = format!("Updated policy {} ({}), now version {}.", policy.id, policy.name, policy.version);
            show_policy(out, &policy, Some(&headline))?;
        }
        PolicyCommand::Delete { id } => {
            let ack = client.delete_policy(&id).await?;
            done(out, &ack, &format!("Deleted policy {id}."))?;
        }
        PolicyCommand::Simulate { file, policies } => {
            let mut body = serde_json::Map::new();
            match read_document(&file)? {
                Value::Array(requests) => {
                    body.insert("requests".into(), Value::Array(requests));
                }
                Value::Object(mut one) if one.contains_key("request") || one.contains_key("requests") => {
                    // Already a simulate body.
                    body.append(&mut one);
                }
                one => {
                    body.insert("request".into(), one);
                }
            }
            if let Some(path) = policies {
                let drafts = match read_document(&path)? {
                    Value::Object(mut set) if set.contains_key("policies") => {
                        set.remove("policies").unwrap_or_default()
                    }
                    Value::Array(drafts) => Value::Array(drafts),
                    one => Value::Array(vec![one]),
                };
                body.insert("policies".into(), drafts);
            }
            let simulation = client.simulate_policies(&body).await?;
            if out.is_json() {
                out.json(&simulation)?;
            } else {
                let rows = simulation
                    .results
                    .iter()
                    .map(|r| {
                        let rule = r
                            .matched
                            .as_ref()
                            .map(|m| format!("{} rule {}", m.policy_name, m.rule_index))
                            .unwrap_or_else(|| "no rule matched".to_owned());
                        let misses = r
                            .misses
                            .iter()
                            .map(|m| format!("{} rule {}: {}", m.policy_name, m.rule_index, m.reason))
                            .collect::<Vec<_>>()
                            .join("; ");
                        vec![r.request.action.clone(), r.decision.to_string(), rule, misses]
                    })
                    .collect();
                out.message(&format!("Against the {} policies:", simulation.policies));
                out.rows(&["ACTION", "DECISION", "DECIDED BY", "EARLIER RULES THAT DID NOT MATCH"], rows);
            }
        }
    }
    Ok(exit::OK)
}

pub async fn key(client: &Client, out: &Output, command: KeyCommand) -> Outcome {
    match command {
        KeyCommand::List => {
            let keys = client.list_keys().await?;
            if out.is_json() {
                out.json(&json!({ "keys": keys }))?;
            } else {
                let rows = keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.clone(),
                            k.name.clone(),
                            k.scopes.join(","),
                            k.rate_limit.map(|n| format!("{n}/min")).unwrap_or_default(),
                            if k.active { "active".to_owned() } else { "revoked".to_owned() },
                            k.last_used_at.map(unix_seconds).unwrap_or_default(),
                            unix_seconds(k.created_at),
                        ]
                    })
                    .collect();
                out.rows(&["ID", "NAME", "SCOPES", "RATE LIMIT", "STATE", "LAST USED", "CREATED"], rows);
            }
        }
        KeyCommand::Create { name, scopes, rate_limit } => {
            let created = client.create_key(&CreateApiKey { name, scopes, rate_limit }).await?;
            match out.format {
                output::Format::Json => out.json(&created)?,
                output::Format::Plain => output::emit(&format!("{}\t{}", created.id, created.key)),
                output::Format::Table => {
                    out.message(&format!(
                        "Created API key {} ({}) with scopes {}. Its secret is shown only this once:\n\n    {}\n",
                        created.id,
                        created.name,
                        created.scopes.join(", "),
                        created.key
                    ));
                }
            }
        }
        KeyCommand::Update { id, name, scopes, rate_limit, no_rate_limit } => {
            let rate_limit = if no_rate_limit { Some(None) } else { rate_limit.map(Some) };
            let key = client.update_key(&id, &UpdateApiKey { name, scopes, rate_limit }).await?;
            if out.is_json() {
                out.json(&json!({ "success": true, "key": key }))?;
            } else {
                let limit = key.rate_limit.map_or_else(|| "no rate limit".to_owned(), |n| format!("{n}/min"));
                out.message(&format!("Updated API key {} ({}): {}; {limit}.", key.id, key.name, key.scopes.join(", ")));
            }
        }
        KeyCommand::Revoke { id } => {
            let ack = client.revoke_key(&id).await?;
            done(out, &ack, &format!("Revoked API key {id}: it no longer works."))?;
        }
    }
    Ok(exit::OK)
}

pub async fn webhook(client: &Client, out: &Output, command: WebhookCommand) -> Outcome {
    match command {
        WebhookCommand::List => {
            let webhooks = client.list_webhooks().await?;
            if out.is_json() {
                out.json(&json!({ "webhooks": webhooks }))?;
            } else {
                let rows = webhooks
                    .iter()
                    .map(|w| {
                        vec![
                            w.id.clone(),
                            w.url.clone(),
                            w.events.join(","),
                            yes_no(w.enabled),
                            epoch_millis(w.created_at),
                        ]
                    })
                    .collect();
                out.rows(&["ID", "URL", "EVENTS", "ENABLED", "CREATED"], rows);
            }
        }
        WebhookCommand::Get { id } => {
            let detail = client.get_webhook(&id).await?;
            if out.is_json() {
                out.json(&detail)?;
            } else {
                let w = &detail.webhook;
                out.fields(vec![
                    ("id", w.id.clone()),
                    ("url", w.url.clone()),
                    ("events", w.events.join(", ")),
                    ("enabled", yes_no(w.enabled)),
                    ("created", utc(Some(Timestamp::from_millis(w.created_at)))),
                    ("updated", utc(Some(Timestamp::from_millis(w.updated_at)))),
                ]);
                if !detail.deliveries.is_empty() {
                    out.message("Recent deliveries:");
                    deliveries_table(out, &detail.deliveries);
                }
            }
        }
        WebhookCommand::Create { url, events, secret } => {
            let created = client.create_webhook(&CreateWebhook { url, events, secret }).await?;
            match out.format {
                output::Format::Json => out.json(&created)?,
                output::Format::Plain => output::emit(&format!("{}\t{}", created.id, created.secret)),
                output::Format::Table => out.message(&format!(
                    "Created webhook {} for {} ({}). Its signing secret is shown only this once:\n\n    {}\n",
                    created.id,
                    created.url,
                    created.events.join(", "),
                    created.secret
                )),
            }
        }
        WebhookCommand::Update { id, url, events, enable, disable } => {
            let enabled = if enable {
                Some(true)
            } else if disable {
                Some(false)
            } else {
                None
            };
            let webhook = client.update_webhook(&id, &UpdateWebhook { url, events, enabled }).await?;
            if out.is_json() {
                out.json(&json!({ "success": true, "webhook": webhook }))?;
            } else {
                let state = if webhook.enabled { "enabled" } else { "disabled" };
                out.message(&format!(
                    "Updated webhook {}: {} ({}), {state}.",
                    webhook.id,
                    webhook.url,
                    webhook.events.join(", ")
                ));
            }
        }
        WebhookCommand::Delete { id } => {
            let ack = client.delete_webhook(&id).await?;
            done(out, &ack, &format!("Deleted webhook {id}."))?;
        }
        WebhookCommand::Test { id } => {
            let result = client.test_webhook(&id).await?;
            if out.is_json() {
                out.json(&result)?;
            } else {
                let status = result.status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
                out.message(&format!("{}{status}; delivery {}.", result.message, result.delivery_id));
            }
            if !result.success {
                return Err(CliError::failed(format!("the test delivery to webhook {id} failed: {}", result.message)));
            }
        }
        WebhookCommand::Deliveries { id, status, limit, offset } => {
            let filter = DeliveryFilter { status, limit: Some(limit), offset: Some(offset) };
            let list = client.webhook_deliveries(&id, &filter).await?;
            if out.is_json() {
                out.json(&list)?;
            } else {
                deliveries_table(out, &list.deliveries);
                if list.pagination.has_more {
                    out.message(&format!("Showing {} of {}.", list.deliveries.len(), list.pagination.total));
                }
            }
        }
        WebhookCommand::Replay { delivery_id } => {
            let replayed = client.replay_delivery(&delivery_id).await?;
            if out.is_json() {
                out.json(&replayed)?;
            } else {
                out.message(&format!("Queued delivery {} (a replay of {delivery_id}).", replayed.delivery.id));
            }
        }
    }
    Ok(exit::OK)
}

fn deliveries_table(out: &Output, deliveries: &[WebhookDelivery]) {
    let rows = deliveries
        .iter()
        .map(|d| {
            let last_error = d.attempt_log.last().and_then(|a| a.error.clone()).unwrap_or_default();
            vec![
                d.id.clone(),
                d.event.clone(),
                d.status.clone(),
                d.attempts.to_string(),
                d.response_code.map(|c| c.to_string()).unwrap_or_default(),
                epoch_millis(d.created_at),
                last_error,
            ]
        })
        .collect();
    out.rows(&["ID", "EVENT", "STATUS", "ATTEMPTS", "CODE", "CREATED", "ERROR"], rows);
}

fn show_policy(out: &Output, policy: &Policy, headline: Option<&str>) -> Result<(), CliError> {
    match out.format {
        output::Format::Json => return out.json(policy),
        output::Format::Plain => {
            output::emit(&format!("{}\t{}\t{}\t{}", policy.id, policy.name, policy.priority, policy.enabled));
            return Ok(());
        }
        output::Format::Table => {}
    }
    if let Some(headline) = headline {
        out.message(headline);
    }
    out.fields(vec![
        ("id", policy.id.clone()),
        ("name", policy.name.clone()),
        ("priority", policy.priority.to_string()),
        ("enabled", yes_no(policy.enabled)),
        ("version", policy.version.to_string()),
        ("updated", utc(Some(policy.updated_at))),
    ]);
    let rows = policy
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let mut extra = Vec::new();
            if let Some(approvers) = &rule.approvers {
                extra.push(format!("approvers: {}", approvers.join(", ")));
            }
            if rule.require_reason == Some(true) {
                extra.push("reason required".to_owned());
            }
            vec![
                i.to_string(),
                rule.decision.to_string(),
                compact(&Value::Object(rule.matcher.clone())),
                extra.join("; "),
            ]
        })
        .collect();
    out.rows(&["RULE", "DECISION", "MATCH", "NOTES"], rows);
    Ok(())
}

/// A delete or revoke: the gateway's JSON, or a message.
fn done(out: &Output, ack: &agentgate_client::wire::Ack, message: &str) -> Result<(), CliError> {
    if out.is_json() {
        out.json(ack)
    } else {
        out.message(message);
        Ok(())
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// A JSON or YAML document from a file (`-` for stdin): YAML for `.yaml`/`.yml`, JSON for `.json`, either
/// otherwise.
fn read_document(path: &Path) -> Result<Value, CliError> {
    let name = path.display();
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?
    } else {
        std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("cannot read {name}: {e}")))?
    };
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let yaml = |text: &str| serde_yaml_ng::from_str::<Value>(text);
    match extension.as_deref() {
        Some("yaml" | "yml") => yaml(&text).map_err(|e| CliError::usage(format!("{name} is not valid YAML: {e}"))),
        Some("json") => {
            serde_json::from_str(&text).map_err(|e| CliError::usage(format!("{name} is not valid JSON: {e}")))
        }
        _ => serde_json::from_str(&text).or_else(|json_error| {
            yaml(&text).map_err(|_| CliError::usage(format!("{name} is neither JSON nor YAML: {json_error}")))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_json_or_yaml() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path
        };
        let expected = json!({"name": "p", "rules": [{"match": {"action": "deploy"}, "decision": "auto_approve"}]});
        let yaml = "name: p\nrules:\n  - match: {action: deploy}\n    decision: auto_approve\n";
        assert_eq!(read_document(&write("p.yaml", yaml)).ok(), Some(expected.clone()));
        assert_eq!(read_document(&write("p.txt", yaml)).ok(), Some(expected.clone()));
        assert_eq!(read_document(&write("p.json", &expected.to_string())).ok(), Some(expected));
        assert!(
            matches!(read_document(&write("bad.json", "{name: p")), Err(CliError::Usage(m)) if m.contains("not valid JSON"))
        );
        assert!(
            matches!(read_document(&write("bad.yml", "a: [")), Err(CliError::Usage(m)) if m.contains("not valid YAML"))
        );
        assert!(
            matches!(read_document(&dir.path().join("missing.json")), Err(CliError::Usage(m)) if m.contains("cannot read"))
        );
    }
}
