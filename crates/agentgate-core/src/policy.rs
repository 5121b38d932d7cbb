//! The policy language and engine.
//!
//! A policy is a named, prioritised list of rules; a rule is a `match` object (every entry must hold) and a
//! decision. [`PolicySet::evaluate`] walks enabled policies by ascending priority and their rules in order;
//! the first rule that matches decides, and when none does the request goes to a human.
//!
//! Matching is against a request's `action`, `urgency`, `status` (always `pending` while evaluating),
//! `params.*` and `context.*`. For compatibility with the older implementation, a bare key that is not one of
//! those names is looked up in `params` (`amount` means `params.amount`), but a parameter can never stand in
//! for `action`, `urgency`, `status`, `params` or `context`: those names always mean the real fields.
//!
//! A matcher is a literal (strict equality: `"100"` is not `100`) or an object of operators, all of which must
//! hold: `$lt $gt $lte $gte` (numbers only), `$in` (a list of literals) and `$regex` (unanchored, compiled once
//! with size limits; the `regex` crate runs in linear time, so no pattern can stall the engine). Everything
//! is checked when a policy is written: an unknown operator, a wrong operand type or a bad regex is an error
//! naming its place (`rules[2].match.amount: unknown operator "$gtt"`), never a rule that silently never
//! matches.

use crate::request::Urgency;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Longest regex source accepted in a matcher.
pub const MAX_REGEX_LEN: usize = 1024;
/// Upper bound on a compiled regex program, so a policy cannot make the engine allocate without limit.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Priority given to a policy written without one (as the reference did).
pub const DEFAULT_PRIORITY: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionType {
    AutoApprove,
    AutoDeny,
    RouteToHuman,
    RouteToAgent,
}

impl DecisionType {
    pub const ALL: [DecisionType; 4] = [Self::AutoApprove, Self::AutoDeny, Self::RouteToHuman, Self::RouteToAgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AutoApprove => "auto_approve",
            Self::AutoDeny => "auto_deny",
            Self::RouteToHuman => "route_to_human",
            Self::RouteToAgent => "route_to_agent",
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
pub struct Rule {
    #[serde(rename = "match")]
    pub matcher: Map<String, Value>,
    pub decision: DecisionType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
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
    let decision = obj.get("decision").and_then(Value::as_str).and_then(DecisionType::parse).ok_or_else(|| {
        invalid(format!("rules[{i}].decision must be one of: auto_approve, auto_deny, route_to_human, route_to_agent"))
    })?;
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
    for (key, value) in &matcher {
        compile_condition(key, value).map_err(|e| invalid(format!("rules[{i}].match.{key}: {e}")))?;
    }
    Ok(Rule { matcher, decision, approvers, channels, require_reason })
}

/// Where a matcher key points.
#[derive(Debug, Clone)]
enum Root {
    Action,
    Urgency,
    Status,
    Params,
    Context,
    /// A bare key looked up inside `params` (the older implementation's flattening, minus its shadowing).
    ParamAlias,
}

#[derive(Debug, Clone)]
struct Path {
    root: Root,
    segments: Vec<String>,
}

impl Path {
    fn parse(key: &str) -> Result<Self, String> {
        let mut parts = key.split('.');
        let first = parts.next().unwrap_or_default();
        let rest: Vec<String> = parts.map(str::to_owned).collect();
        if first.is_empty() || rest.iter().any(String::is_empty) {
            return Err("empty segment in path".into());
        }
        if matches!(first, "action" | "urgency" | "status") && !rest.is_empty() {
            return Err(format!("{first} is a string and has no fields"));
        }
        let (root, segments) = match first {
            "action" => (Root::Action, rest),
            "urgency" => (Root::Urgency, rest),
            "status" => (Root::Status, rest),
            "params" => (Root::Params, rest),
            "context" => (Root::Context, rest),
            other => {
                let mut all = Vec::with_capacity(rest.len() + 1);
                all.push(other.to_owned());
                all.extend(rest);
                (Root::ParamAlias, all)
            }
        };
        Ok(Self { root, segments })
    }

    fn resolve<'a>(&self, input: &'a EvalInput<'a>) -> Option<Field<'a>> {
        let base = match self.root {
            Root::Action => return self.segments.is_empty().then_some(Field::Str(input.action)),
            Root::Urgency => {
                return self.segments.is_empty().then_some(Field::Str(input.urgency.as_str()));
            }
            Root::Status => return self.segments.is_empty().then_some(Field::Str("pending")),
            Root::Params | Root::ParamAlias => input.params,
            Root::Context => input.context,
        };
        let mut current = base;
        for segment in &self.segments {
            current = match current {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(array_index(segment)?)?,
                _ => return None,
            };
        }
        Some(Field::Json(current))
    }
}

/// A canonical array index (`0`, `12`; not `01` or `+1`), as JavaScript property lookup on arrays behaves.
fn array_index(segment: &str) -> Option<usize> {
    let canonical = segment.bytes().all(|b| b.is_ascii_digit()) && (segment == "0" || !segment.starts_with('0'));
    if canonical { segment.parse().ok() } else { None }
}

/// A value found in the request.
enum Field<'a> {
    Str(&'a str),
    Json(&'a Value),
}

impl Field<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            Field::Json(Value::String(s)) => Some(s),
            Field::Json(_) => None,
        }
    }

    fn as_number(&self) -> Option<f64> {
        match self {
            Field::Json(Value::Number(n)) => n.as_f64(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl Literal {
    fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(Self::Str(s.clone())),
            Value::Number(n) => n.as_f64().map(Self::Num),
            Value::Bool(b) => Some(Self::Bool(*b)),
            _ => None,
        }
    }

    /// JavaScript `===` on the value found: no coercion between strings, numbers and booleans.
    fn equals(&self, field: &Field<'_>) -> bool {
        match self {
            Self::Str(s) => field.as_str() == Some(s.as_str()),
            Self::Num(n) => field.as_number() == Some(*n),
            Self::Bool(b) => matches!(field, Field::Json(Value::Bool(v)) if v == b),
        }
    }
}

#[derive(Debug, Clone)]
enum Operator {
    Lt(f64),
    Gt(f64),
    Lte(f64),
    Gte(f64),
    In(Vec<Literal>),
    Regex(Regex),
}

impl Operator {
    fn holds(&self, field: &Field<'_>) -> bool {
        match self {
            Self::Lt(n) => field.as_number().is_some_and(|v| v < *n),
            Self::Gt(n) => field.as_number().is_some_and(|v| v > *n),
            Self::Lte(n) => field.as_number().is_some_and(|v| v <= *n),
            Self::Gte(n) => field.as_number().is_some_and(|v| v >= *n),
            Self::In(options) => options.iter().any(|o| o.equals(field)),
            Self::Regex(re) => field.as_str().is_some_and(|s| re.is_match(s)),
        }
    }
}

#[derive(Debug, Clone)]
enum Matcher {
    Equals(Literal),
    /// Every operator must hold.
    All(Vec<Operator>),
}

#[derive(Debug, Clone)]
struct Condition {
    path: Path,
    matcher: Matcher,
}

impl Condition {
    fn holds(&self, input: &EvalInput<'_>) -> bool {
        let Some(field) = self.path.resolve(input) else {
            return false;
        };
        match &self.matcher {
            Matcher::Equals(lit) => lit.equals(&field),
            Matcher::All(ops) => ops.iter().all(|op| op.holds(&field)),
        }
    }
}

fn compile_condition(key: &str, value: &Value) -> Result<Condition, String> {
    let path = Path::parse(key)?;
    let matcher = match value {
        Value::Object(ops) => {
            if ops.is_empty() {
                return Err("an operator object needs at least one operator".into());
            }
            let compiled = ops.iter().map(|(op, operand)| compile_operator(op, operand)).collect::<Result<_, _>>()?;
            Matcher::All(compiled)
        }
        other => Matcher::Equals(
            Literal::from_json(other).ok_or("a matcher must be a string, number, boolean or an object of operators")?,
        ),
    };
    Ok(Condition { path, matcher })
}

fn compile_operator(op: &str, operand: &Value) -> Result<Operator, String> {
    let number = || operand.as_f64().ok_or_else(|| format!("{op} needs a number"));
    Ok(match op {
        "$lt" => Operator::Lt(number()?),
        "$gt" => Operator::Gt(number()?),
        "$lte" => Operator::Lte(number()?),
        "$gte" => Operator::Gte(number()?),
        "$in" => {
            let items = operand.as_array().ok_or("$in needs an array of strings, numbers or booleans")?;
            Operator::In(
                items
                    .iter()
                    .map(Literal::from_json)
                    .collect::<Option<_>>()
                    .ok_or("$in needs an array of strings, numbers or booleans")?,
            )
        }
        "$regex" => {
            let pattern = operand.as_str().ok_or("$regex needs a string")?;
            if pattern.chars().count() > MAX_REGEX_LEN {
                return Err(format!("$regex is longer than {MAX_REGEX_LEN} characters"));
            }
            let re = RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| format!("invalid $regex: {}", regex_error_summary(&e.to_string())))?;
            Operator::Regex(re)
        }
        unknown => return Err(format!("unknown operator \"{unknown}\"")),
    })
}

/// The regex crate's multi-line error ends with the reason (`error: unclosed group`); keep just that.
fn regex_error_summary(s: &str) -> String {
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
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
    conditions: Vec<Condition>,
    rule: Rule,
}

/// A policy ready to evaluate: every matcher parsed and every regex compiled.
#[derive(Debug)]
pub struct CompiledPolicy {
    id: String,
    enabled: bool,
    name: String,
    priority: i64,
    rules: Vec<CompiledRule>,
}

impl CompiledPolicy {
    pub fn compile(id: &str, spec: &PolicySpec) -> Result<Self, PolicyError> {
        let rules = spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let conditions = rule
                    .matcher
                    .iter()
                    .map(|(k, v)| compile_condition(k, v).map_err(|e| invalid(format!("rules[{i}].match.{k}: {e}"))))
                    .collect::<Result<_, _>>()?;
                Ok(CompiledRule { conditions, rule: rule.clone() })
            })
            .collect::<Result<_, PolicyError>>()?;
        Ok(Self { id: id.to_owned(), enabled: spec.enabled, name: spec.name.clone(), priority: spec.priority, rules })
    }
}

/// The rule that decided a request.
#[derive(Debug, Clone, Copy)]
pub struct RuleMatch<'a> {
    pub policy_id: &'a str,
    pub policy_name: &'a str,
    pub rule_index: usize,
    pub rule: &'a Rule,
}

/// What the engine decided, and which rule (if any) decided it.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation<'a> {
    pub decision: DecisionType,
    pub matched: Option<RuleMatch<'a>>,
}

/// The enabled policies, in evaluation order.
#[derive(Debug, Default)]
pub struct PolicySet {
    policies: Vec<CompiledPolicy>,
}

impl PolicySet {
    /// Builds the set; disabled policies are left out. Ties in priority keep the given order (the store lists
    /// policies by priority, then creation time, then id, so evaluation order is stable).
    pub fn new(mut policies: Vec<CompiledPolicy>) -> Self {
        policies.retain(|p| p.enabled);
        policies.sort_by_key(|p| p.priority);
        Self { policies }
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// First matching rule wins; no match routes to a human.
    pub fn evaluate<'s>(&'s self, input: &EvalInput<'_>) -> Evaluation<'s> {
        for policy in &self.policies {
            for (rule_index, compiled) in policy.rules.iter().enumerate() {
                if compiled.conditions.iter().all(|c| c.holds(input)) {
                    return Evaluation {
                        decision: compiled.rule.decision,
                        matched: Some(RuleMatch {
                            policy_id: &policy.id,
                            policy_name: &policy.name,
                            rule_index,
                            rule: &compiled.rule,
                        }),
                    };
                }
            }
        }
        Evaluation { decision: DecisionType::RouteToHuman, matched: None }
    }
}

#[cfg(test)]
mod tests;
