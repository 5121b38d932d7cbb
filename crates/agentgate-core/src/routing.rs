//! Notification routing: which channels hear about a request.
//!
//! Three sources, in order: the matched rule's `channels` (`slack:#approvals`, `discord:<channel id>`,
//! `email:ops@example.com`, `webhook:https://…`; a bare `slack` or `discord` means that channel's default),
//! the configured routes (`CHANNEL_ROUTES`, each filtered by event type, action and urgency), and — only when
//! those two produced nothing — the default Slack and Discord channels. Duplicates (same channel and target)
//! are dropped, first one kept. Pure: the caller passes in the rule's channels, the routes and the defaults.

use crate::request::Urgency;
use serde_json::Value;

/// A kind of channel a notification can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Slack,
    Discord,
    Email,
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [Self::Slack, Self::Discord, Self::Email, Self::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }
}

impl std::str::FromStr for ChannelKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One place a notification goes: a channel and, within it, a target (Slack channel, Discord channel id or
/// webhook URL, e-mail address, webhook URL).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub channel: ChannelKind,
    pub target: String,
}

impl Target {
    /// A target after checking it fits its channel; `None` when it does not (an e-mail address with a line
    /// break would let a target inject mail headers, a URL that is not http(s) is no webhook).
    pub fn new(channel: ChannelKind, target: &str) -> Option<Self> {
        let target = target.trim();
        let fits = match channel {
            ChannelKind::Slack => !target.is_empty() && target.len() <= 256 && !target.contains(char::is_whitespace),
            ChannelKind::Discord => is_discord_channel_id(target) || is_http_url(target),
            ChannelKind::Email => is_email_address(target),
            ChannelKind::Webhook => is_http_url(target),
        };
        fits.then(|| Self { channel, target: target.to_owned() })
    }

    /// Parses a rule's channel entry, `<channel>:<target>` (split at the first `:`). A bare `slack` or `discord`
    /// stands for that channel's default (when one is configured). Anything else malformed is `None`.
    pub fn parse(entry: &str, defaults: &Defaults) -> Option<Self> {
        let entry = entry.trim();
        match entry.split_once(':') {
            Some((channel, target)) => Self::new(channel.trim().to_ascii_lowercase().parse().ok()?, target),
            None => match entry.to_ascii_lowercase().as_str() {
                "slack" => Self::new(ChannelKind::Slack, defaults.slack.as_deref()?),
                "discord" => Self::new(ChannelKind::Discord, defaults.discord.as_deref()?),
                _ => None,
            },
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.channel, self.target)
    }
}

fn is_discord_channel_id(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() <= 2048 && !s.contains(char::is_whitespace)
}

/// A plausible single address: one `@`, something on both sides, no spaces, controls, brackets or commas (each
/// of which could add a recipient or a header).
fn is_email_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c))
}

/// The default channels, used when neither the rule nor a route names any (each only when configured).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    pub slack: Option<String>,
    pub discord: Option<String>,
}

/// One entry of `CHANNEL_ROUTES`: a target, and the events, actions and urgencies it is for (each filter
/// applies only when given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub target: Target,
    pub event_types: Option<Vec<String>>,
    pub actions: Option<Vec<String>>,
    pub urgencies: Option<Vec<Urgency>>,
    pub enabled: bool,
}

impl Route {
    fn applies(&self, event_type: &str, action: &str, urgency: Urgency) -> bool {
        self.enabled
            && self.event_types.as_ref().is_none_or(|e| e.iter().any(|e| e == event_type))
            && self.actions.as_ref().is_none_or(|a| a.iter().any(|a| a == action))
            && self.urgencies.as_ref().is_none_or(|u| u.contains(&urgency))
    }
}

/// Parses `CHANNEL_ROUTES`: a JSON array of `{channel, target, eventTypes?, actions?, urgencies?, enabled?}`.
/// The error names the entry and the field.
pub fn parse_routes(json: &str) -> Result<Vec<Route>, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Array(entries) = value else { return Err("must be a JSON array of routes".into()) };
    entries.iter().enumerate().map(|(i, entry)| parse_route(entry).map_err(|e| format!("route {i}: {e}"))).collect()
}

fn parse_route(entry: &Value) -> Result<Route, String> {
    let Value::Object(fields) = entry else { return Err("must be an object".into()) };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).ok_or_else(|| format!("{name} must be a string"));
    let channel: ChannelKind = text("channel")?
        .trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|()| "channel must be one of slack, discord, email, webhook".to_owned())?;
    let target =
        Target::new(channel, text("target")?).ok_or_else(|| format!("target is not a valid {channel} target"))?;
    let list = |name: &str| -> Result<Option<Vec<String>>, String> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{name} must be an array of strings")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("{name} must be an array of strings")),
        }
    };
    let urgencies = list("urgencies")?
        .map(|names| {
            names
                .iter()
                .map(|n| n.parse::<Urgency>().map_err(|_| format!("unknown urgency {n:?} in urgencies")))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let enabled = match fields.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("enabled must be true or false".into()),
    };
    Ok(Route { target, event_types: list("eventTypes")?, actions: list("actions")?, urgencies, enabled })
}

/// What a notification is about: the event, and the request's action and urgency.
#[derive(Debug, Clone, Copy)]
pub struct Occasion<'a> {
    pub event_type: &'a str,
    pub action: &'a str,
    pub urgency: Urgency,
}

/// Where a notification about `occasion` goes: the rule's channels, then the routes that apply, and the
/// defaults only when both gave nothing; without duplicates, in that order.
pub fn route(occasion: Occasion<'_>, rule_channels: &[String], routes: &[Route], defaults: &Defaults) -> Vec<Target> {
    fn add(targets: &mut Vec<Target>, target: Target) {
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    let mut targets: Vec<Target> = Vec::new();
    for target in rule_channels.iter().filter_map(|entry| Target::parse(entry, defaults)) {
        add(&mut targets, target);
    }
    for r in routes.iter().filter(|r| r.applies(occasion.event_type, occasion.action, occasion.urgency)) {
        add(&mut targets, r.target.clone());
    }
    if targets.is_empty() {
        let slack = defaults.slack.as_deref().and_then(|t| Target::new(ChannelKind::Slack, t));
        let discord = defaults.discord.as_deref().and_then(|t| Target::new(ChannelKind::Discord, t));
        targets.extend(slack.into_iter().chain(discord));
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: Occasion<'static> =
        Occasion { event_type: "request.created", action: "deploy", urgency: Urgency::High };

    fn t(channel: ChannelKind, target: &str) -> Target {
        Target::new(channel, target).expect("valid target")
    }

    fn defaults() -> Defaults {
        Defaults { slack: Some("#approvals".into()), discord: Some("123456789".into()) }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rule_channels_are_parsed_at_the_first_colon_and_bad_ones_skipped() {
        let rule = strings(&[
            "slack:#ops",
            "email:ops@example.com",
            "webhook:https://hooks.example.com/a:b",
            "discord:42",
            "discord:https://discord.com/api/webhooks/1/abc",
            "sms:+123",
            "email:not-an-address",
            "email:a@example.com\r\nBcc: evil@example.com",
            "webhook:ftp://example.com",
            "discord:#general",
            "nonsense",
            "",
        ]);
        let targets = route(CREATED, &rule, &[], &Defaults::default());
        assert_eq!(
            targets,
            [
                t(ChannelKind::Slack, "#ops"),
                t(ChannelKind::Email, "ops@example.com"),
                t(ChannelKind::Webhook, "https://hooks.example.com/a:b"),
                t(ChannelKind::Discord, "42"),
                t(ChannelKind::Discord, "https://discord.com/api/webhooks/1/abc"),
            ]
        );
    }

    #[test]
    fn bare_slack_and_discord_mean_their_defaults() {
        let targets = route(CREATED, &strings(&["slack", "Discord", "email"]), &[], &defaults());
        assert_eq!(targets, [t(ChannelKind::Slack, "#approvals"), t(ChannelKind::Discord, "123456789")]);
        assert!(route(CREATED, &strings(&["slack"]), &[], &Defaults::default()).is_empty());
    }

    #[test]
    fn routes_filter_by_event_action_and_urgency() {
        let routes = parse_routes(
            r##"[
                {"channel": "slack", "target": "#all"},
                {"channel": "email", "target": "oncall@example.com", "urgencies": ["high", "critical"]},
                {"channel": "email", "target": "low@example.com", "urgencies": ["low"]},
                {"channel": "slack", "target": "#deploys", "actions": ["deploy", "rollback"]},
                {"channel": "slack", "target": "#other", "actions": ["delete"]},
                {"channel": "discord", "target": "7", "eventTypes": ["request.created"]},
                {"channel": "discord", "target": "8", "eventTypes": ["request.expired"]},
                {"channel": "webhook", "target": "https://example.com/h", "enabled": false}
            ]"##,
        )
        .expect("valid routes");
        assert_eq!(
            route(CREATED, &[], &routes, &defaults()),
            [
                t(ChannelKind::Slack, "#all"),
                t(ChannelKind::Email, "oncall@example.com"),
                t(ChannelKind::Slack, "#deploys"),
                t(ChannelKind::Discord, "7"),
            ]
        );
    }

    #[test]
    fn defaults_only_when_nothing_else_and_duplicates_once() {
        assert_eq!(
            route(CREATED, &[], &[], &defaults()),
            [t(ChannelKind::Slack, "#approvals"), t(ChannelKind::Discord, "123456789")]
        );
        let routes = parse_routes(r##"[{"channel": "slack", "target": "#ops"}]"##).expect("valid");
        let targets = route(CREATED, &strings(&["slack:#ops", "slack:#ops"]), &routes, &defaults());
        assert_eq!(targets, [t(ChannelKind::Slack, "#ops")]);
        assert!(route(CREATED, &[], &[], &Defaults::default()).is_empty());
    }

    #[test]
    fn bad_routes_are_refused_naming_the_entry_and_field() {
        for (json, expected) in [
            ("{", "not valid JSON"),
            ("{}", "must be a JSON array"),
            (r#"[1]"#, "route 0: must be an object"),
            (r#"[{"target": "x"}]"#, "route 0: channel must be a string"),
            (r#"[{"channel": "sms", "target": "+1"}]"#, "route 0: channel must be one of"),
            (r#"[{"channel": "email", "target": "nobody"}]"#, "route 0: target is not a valid email target"),
            (
                r##"[{"channel": "slack", "target": "#a"}, {"channel": "slack", "target": "#b", "urgencies": ["loud"]}]"##,
                "route 1: unknown urgency \"loud\"",
            ),
            (r##"[{"channel": "slack", "target": "#a", "actions": "deploy"}]"##, "route 0: actions must be an array"),
            (r##"[{"channel": "slack", "target": "#a", "enabled": "yes"}]"##, "route 0: enabled must be true or false"),
        ] {
            let err = parse_routes(json).expect_err(json);
            assert!(err.starts_with(expected), "{json}: {err}");
        }
        assert_eq!(parse_routes("[]").expect("empty"), []);
    }
}
