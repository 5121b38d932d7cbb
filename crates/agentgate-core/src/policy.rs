//! The policy language and engine.
//!
//! A policy is a named, prioritised list of rules; a rule is a `match` object (every entry must hold) and a
//! decision. [`PolicySet::evaluate`] walks enabled policies by ascending priority and their rules in order;
//! the first rule that matches decides, and when none does the request goes to a human. Rules are indexed by
//! the action they can match, so rules about other actions cost nothing.
//!
//! Matching is against a request's `action`, `urgency`, `status` (always `pending` while evaluating),
//! `params.*` and `context.*`. For compatibility with the older implementation, a bare key that is not one of
//! those names (nor `any`, `all`, `not`) is looked up in `params` (`amount` means `params.amount`), but a
//! parameter can never stand in for `action`, `urgency`, `status`, `params` or `context`.
//!
//! A matcher is a literal (strict equality: `"100"` is not `100`; on `action`, a literal with `*` is a glob)
//! or an object of operators, all of which must hold: `$lt $gt $lte $gte` (numbers), `$ne`, `$in`, `$nin`,
//! `$exists`, `$contains`, `$startsWith`, `$endsWith`, `$glob` and `$regex` (unanchored, linear-time, size
//! limited). `any`, `all` and `not` combine match objects and nest. A missing field satisfies no operator
//! except `{"$exists": false}`, and not even `not` turns that into a match, so a misspelt field name can never
//! widen a rule. Everything is checked when a policy is written: an error names its place
//! (`rules[2].match.params.amount: unknown operator "$gtt"`), never a rule that silently never matches.
//!
//! The full language, with examples, is in `docs/policies.md`.

mod glob;
mod matcher;
mod set;

pub use glob::Glob;
pub use set::PolicySet;

use crate::request::Urgency;
use matcher::MatchExpr;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Longest regex source accepted in a matcher, in characters.
pub const MAX_REGEX_LEN: usize = 1024;
/// Longest glob pattern accepted in a matcher, in characters.
pub const MAX_GLOB_LEN: usize = 1024;
/// Deepest nesting of `any` / `all` / `not` inside a rule's `match`.
pub const MAX_NESTING: usize = 16;
/// Priority given to a policy written without one (as the reference did).
pub const DEFAULT_PRIORITY: i64 = 100;

/// What a rule decides for the requests it matches.
///
/// There is no `route_to_agent`: it never behaved differently from `route_to_human`, so policies using it
/// are rejected rather than silently routed to a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionType {
    /// The request is approved at once, by the policy.
    AutoApprove,
    /// The request is denied at once, by the policy.
    AutoDeny,
    /// The request waits for a human decision (also what happens when no rule matches).
    RouteToHuman,
}

impl DecisionType {
    /// Every decision, in documentation order.
    pub const ALL: [DecisionType; 3] = [Self::AutoApprove, Self::AutoDeny, Self::RouteToHuman];

    /// The wire name (`auto_approve`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AutoApprove => "auto_approve",
            Self::AutoDeny => "auto_deny",
            Self::RouteToHuman => "route_to_human",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl fmt::Display for DecisionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule as written by a user and shown back on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    /// The match object as written (compiled separately by [`CompiledPolicy::compile`]).
    #[serde(rename = "match")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub matcher: Map<String, Value>,
    pub decision: DecisionType,
    /// Who may decide a request this rule routes (enforced by the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Vec<String>>,
    /// Where to notify about a request this rule routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// Whether deciding a request this rule routes needs a reason (enforced by the server).
    #[serde(rename = "requireReason", skip_serializing_if = "Option::is_none")]
    pub require_reason: Option<bool>,
}

/// The user-editable part of a policy, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    pub name: String,
    pub rules: Vec<Rule>,
    pub priority: i64,
    pub enabled: bool,
}

/// A policy that cannot be stored, with the place and the reason in its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn invalid(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

impl PolicySpec {
    /// Validates a policy body (`{name, rules, priority?, enabled?}`), compiling every matcher once to prove it
    /// compiles. Messages name the offending field.
    pub fn from_json(body: &Value) -> Result<Self, PolicyError> {
        let obj = body.as_object().ok_or_else(|| invalid("request body must be a JSON object"))?;
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => return Err(invalid("name is required and must be a non-empty string")),
        };
        let raw_rules = match obj.get("rules") {
            Some(Value::Array(rules)) => rules,
            _ => return Err(invalid("rules is required and must be an array")),
        };
        let rules = raw_rules.iter().enumerate().map(|(i, raw)| parse_rule(i, raw)).collect::<Result<Vec<_>, _>>()?;
        let priority = match obj.get("priority") {
            None | Some(Value::Null) => DEFAULT_PRIORITY,
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= 1e9).map(|f| f as i64))
                .filter(|p| (-1_000_000_000..=1_000_000_000).contains(p))
                .ok_or_else(|| invalid("priority must be an integer between -1000000000 and 1000000000"))?,
            Some(_) => return Err(invalid("priority must be an integer")),
        };
        let enabled = match obj.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("enabled must be a boolean")),
        };
        Ok(Self { name, rules, priority, enabled })
    }
}

fn parse_rule(i: usize, raw: &Value) -> Result<Rule, PolicyError> {
    let obj = raw.as_object().ok_or_else(|| invalid(format!("rules[{i}] must be an object")))?;
    let matcher = match obj.get("match") {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            return Err(invalid(format!("rules[{i}].match is required and must be an object")));
        }
    };
    let decision = match obj.get("decision").and_then(Value::as_str) {
        Some("route_to_agent") => {
            return Err(invalid(format!(
                "rules[{i}].decision: route_to_agent is not supported (it never behaved differently from \
                 route_to_human); use route_to_human"
            )));
        }
        other => other.and_then(DecisionType::parse).ok_or_else(|| {
            invalid(format!("rules[{i}].decision must be one of: auto_approve, auto_deny, route_to_human"))
        })?,
    };
    let string_list = |field: &str| -> Result<Option<Vec<String>>, PolicyError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| invalid(format!("rules[{i}].{field} must be an array of strings"))),
            Some(_) => Err(invalid(format!("rules[{i}].{field} must be an array of strings"))),
        }
    };
    let approvers = string_list("approvers")?;
    let channels = string_list("channels")?;
    let require_reason = match obj.get("requireReason") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(invalid(format!("rules[{i}].requireReason must be a boolean")));
        }
    };
    compile_match(i, &matcher)?;
    Ok(Rule { matcher, decision, approvers, channels, require_reason })
}

fn compile_match(i: usize, matcher: &Map<String, Value>) -> Result<MatchExpr, PolicyError> {
    MatchExpr::compile(matcher).map_err(|e| invalid(format!("rules[{i}].match{}: {}", e.place, e.message)))
}

/// The parts of a request the engine looks at.
#[derive(Debug, Clone, Copy)]
pub struct EvalInput<'a> {
    pub action: &'a str,
    pub urgency: Urgency,
    pub params: &'a Value,
    pub context: &'a Value,
}

#[derive(Debug)]
struct CompiledRule {
    expr: MatchExpr,
    rule: Rule,
}

/// A policy ready to evaluate: every matcher parsed and every regex compiled.
#[derive(Debug)]
pub struct CompiledPolicy {
    id: String,
    version: i64,
    enabled: bool,
    name: String,
    priority: i64,
    rules: Vec<CompiledRule>,
}

impl CompiledPolicy {
    /// Compiles a policy as stored under `id` at `version`. Rules read back from storage skip
    /// [`PolicySpec::from_json`], so every matcher is checked again here.
    pub fn compile(id: &str, version: i64, spec: &PolicySpec) -> Result<Self, PolicyError> {
        let rules = spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| Ok(CompiledRule { expr: compile_match(i, &rule.matcher)?, rule: rule.clone() }))
            .collect::<Result<_, PolicyError>>()?;
        Ok(Self {
            id: id.to_owned(),
            version,
            enabled: spec.enabled,
            name: spec.name.clone(),
            priority: spec.priority,
            rules,
        })
    }

    /// The id the policy was compiled under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version the policy was compiled at.
    pub fn version(&self) -> i64 {
        self.version
    }
}

/// The rule that decided a request.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleMatch<'a> {
    pub policy_id: &'a str,
    pub policy_name: &'a str,
    /// The version the policy was compiled at (see [`CompiledPolicy::compile`]).
    pub policy_version: i64,
    /// The rule's index within its policy, from 0.
    pub rule_index: usize,
    pub rule: &'a Rule,
}

/// What the engine decided, and which rule (if any) decided it.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation<'a> {
    pub decision: DecisionType,
    pub matched: Option<RuleMatch<'a>>,
}

/// An evaluation with its reasons: what [`PolicySet::evaluate`] decides, plus why every rule tried before the
/// deciding one did not match.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation<'a> {
    pub decision: DecisionType,
    pub matched: Option<RuleMatch<'a>>,
    /// Every enabled rule before the matching one (all of them when none matched), in evaluation order.
    pub misses: Vec<RuleMiss>,
}

/// A rule that did not match, and the first of its conditions that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleMiss {
    pub policy_id: String,
    pub policy_name: String,
    pub policy_version: i64,
    /// The rule's index within its policy, from 0.
    pub rule_index: usize,
    /// For example `params.amount: 6000 is not <= 5000` or `params.to: missing`.
    pub reason: String,
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
