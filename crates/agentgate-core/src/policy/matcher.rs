//! Match objects: compiling a rule's `match` once, then deciding (and explaining) whether it holds.
//!
//! Conditions have three outcomes, not two: besides holding or not, a condition on a field that is missing, or
//! whose value has the wrong type for its operator, is *unknown*. Unknown never makes a rule match, and `not`
//! of unknown is still unknown, so a misspelt field name can only ever make a rule match less.

use super::glob::Glob;
use super::{EvalInput, MAX_GLOB_LEN, MAX_NESTING, MAX_REGEX_LEN};
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

/// Upper bound on a compiled regex program, so a policy cannot make the engine allocate without limit.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Longest rendering of a request value inside an explanation.
const MAX_SHOWN: usize = 80;

/// The outcome of one condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    Yes,
    No,
    /// The field is missing or has the wrong type for the operator.
    Unknown,
}

impl Truth {
    fn from_bool(b: bool) -> Self {
        if b { Self::Yes } else { Self::No }
    }

    fn negate(self) -> Self {
        match self {
            Self::Yes => Self::No,
            Self::No => Self::Yes,
            Self::Unknown => Self::Unknown,
        }
    }

    /// Conjunction: no beats unknown beats yes.
    fn and_all(items: impl Iterator<Item = Truth>) -> Self {
        let mut result = Self::Yes;
        for t in items {
            match t {
                Self::No => return Self::No,
                Self::Unknown => result = Self::Unknown,
                Self::Yes => {}
            }
        }
        result
    }

    /// Disjunction: yes beats unknown beats no.
    fn or_any(items: impl Iterator<Item = Truth>) -> Self {
        let mut result = Self::No;
        for t in items {
            match t {
                Self::Yes => return Self::Yes,
                Self::Unknown => result = Self::Unknown,
                Self::No => {}
            }
        }
        result
    }
}

/// A compile error: the place below `rules[i].match` (`.any[1].action`) and what is wrong there.
#[derive(Debug)]
pub(super) struct CompileError {
    pub(super) place: String,
    pub(super) message: String,
}

impl CompileError {
    fn at(place: impl Into<String>, message: impl Into<String>) -> Self {
        Self { place: place.into(), message: message.into() }
    }

    fn within(mut self, segment: &str) -> Self {
        self.place = format!(".{segment}{}", self.place);
        self
    }
}

/// A compiled match object: every node must hold.
#[derive(Debug, Clone)]
pub(super) struct MatchExpr {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Field(FieldCond),
    Any(Vec<MatchExpr>),
    All(Vec<MatchExpr>),
    Not(Box<MatchExpr>),
}

impl MatchExpr {
    /// Compiles a rule's `match` object (an empty one is a catch-all).
    pub(super) fn compile(map: &Map<String, Value>) -> Result<Self, CompileError> {
        Self::compile_at(map, 0)
    }

    fn compile_at(map: &Map<String, Value>, depth: usize) -> Result<Self, CompileError> {
        let mut nodes = Vec::with_capacity(map.len());
        for (key, value) in map {
            let node = match key.as_str() {
                "any" | "all" => {
                    let items = match value {
                        Value::Array(items) if !items.is_empty() => items,
                        _ => {
                            return Err(CompileError::at(
                                format!(".{key}"),
                                format!(
                                    "{key} needs a non-empty array of match objects \
                                     (a parameter named {key} is matched as params.{key})"
                                ),
                            ));
                        }
                    };
                    let alternatives = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            Self::compile_nested(item, depth + 1).map_err(|e| e.within(&format!("{key}[{i}]")))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    if key == "any" { Node::Any(alternatives) } else { Node::All(alternatives) }
                }
                "not" => Node::Not(Box::new(Self::compile_nested(value, depth + 1).map_err(|e| e.within("not"))?)),
                _ => Node::Field(FieldCond::compile(key, value).map_err(|m| CompileError::at(format!(".{key}"), m))?),
            };
            nodes.push(node);
        }
        // The action first (cheapest and the most telling reason for a miss), combinators last.
        nodes.sort_by_key(|n| match n {
            Node::Field(f) if matches!(f.path.root, Root::Action) => 0,
            Node::Field(_) => 1,
            _ => 2,
        });
        Ok(Self { nodes })
    }

    fn compile_nested(value: &Value, depth: usize) -> Result<Self, CompileError> {
        if depth > MAX_NESTING {
            return Err(CompileError::at("", format!("combinators may nest at most {MAX_NESTING} deep")));
        }
        match value {
            Value::Object(map) if map.is_empty() => {
                Err(CompileError::at("", "a match object inside a combinator must not be empty (it would always hold)"))
            }
            Value::Object(map) => Self::compile_at(map, depth),
            _ => Err(CompileError::at("", "must be a match object")),
        }
    }

    /// Whether every condition holds (unknown counts as not holding).
    pub(super) fn holds(&self, input: &EvalInput<'_>) -> bool {
        self.nodes.iter().all(|n| n.holds(input))
    }

    fn truth(&self, input: &EvalInput<'_>) -> Truth {
        Truth::and_all(self.nodes.iter().map(|n| n.truth(input)))
    }

    /// `None` when the match object holds; otherwise why not, naming the first condition that failed.
    pub(super) fn miss_reason(&self, input: &EvalInput<'_>) -> Option<String> {
        if self.holds(input) { None } else { Some(self.describe_failure(input)) }
    }

    fn describe_failure(&self, input: &EvalInput<'_>) -> String {
        self.nodes
            .iter()
            .find(|n| !n.holds(input))
            .map_or_else(|| "conditions did not hold".to_owned(), |n| n.describe(input))
    }

    /// The actions this match object can match at all, when its top level pins `action` to literals
    /// (`"action": "x"` or `{"$in": [...]}`); `None` when it could match any action.
    pub(super) fn action_keys(&self) -> Option<Vec<&str>> {
        self.nodes.iter().find_map(|n| match n {
            Node::Field(f) if matches!(f.path.root, Root::Action) => f.ops.iter().find_map(|op| match op {
                Op::Eq(Literal::Str(s)) => Some(vec![s.as_str()]),
                // A number or boolean never equals an action, so such a rule matches none.
                Op::Eq(_) => Some(vec![]),
                Op::In(items) => Some(
                    items
                        .iter()
                        .filter_map(|l| match l {
                            Literal::Str(s) => Some(s.as_str()),
                            _ => None,
                        })
                        .collect(),
                ),
                _ => None,
            }),
            _ => None,
        })
    }
}

impl MatchExpr {
    /// Bytes every action this match object can match must start with, when its top level says so through a
    /// glob, `$startsWith` or an anchored `$regex` on `action` (the longest such prefix); `None` otherwise.
    pub(super) fn action_prefix(&self) -> Option<Vec<u8>> {
        let action = self.nodes.iter().find_map(|n| match n {
            Node::Field(f) if matches!(f.path.root, Root::Action) => Some(f),
            _ => None,
        })?;
        action.ops.iter().filter_map(Op::required_prefix).max_by_key(Vec::len).filter(|p| !p.is_empty())
    }
}

/// The literal bytes every match of `pattern` starts the haystack with: only for a pattern anchored at the
/// start in every branch, using the same prefix extraction the regex engine trusts for its own prefilters.
fn regex_prefix(pattern: &str) -> Option<Vec<u8>> {
    use regex_syntax::hir::Look;
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return None;
    }
    let prefixes = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    prefixes.longest_common_prefix().map(<[u8]>::to_vec)
}

impl Node {
    fn holds(&self, input: &EvalInput<'_>) -> bool {
        match self {
            Node::Field(f) => f.holds(input),
            Node::Any(alternatives) => alternatives.iter().any(|a| a.holds(input)),
            Node::All(alternatives) => alternatives.iter().all(|a| a.holds(input)),
            Node::Not(inner) => inner.truth(input) == Truth::No,
        }
    }

    fn truth(&self, input: &EvalInput<'_>) -> Truth {
        match self {
            Node::Field(f) => f.truth(input),
            Node::Any(alternatives) => Truth::or_any(alternatives.iter().map(|a| a.truth(input))),
            Node::All(alternatives) => Truth::and_all(alternatives.iter().map(|a| a.truth(input))),
            Node::Not(inner) => inner.truth(input).negate(),
        }
    }

    /// Why this node does not hold (only called when it does not).
    fn describe(&self, input: &EvalInput<'_>) -> String {
        match self {
            Node::Field(f) => f.describe(input),
            Node::Any(alternatives) => {
                let n = alternatives.len();
                format!("any: none of {n} alternative{} matched", if n == 1 { "" } else { "s" })
            }
            Node::All(alternatives) => alternatives.iter().enumerate().find(|(_, a)| !a.holds(input)).map_or_else(
                || "all: not every alternative matched".to_owned(),
                |(i, a)| format!("all[{i}].{}", a.describe_failure(input)),
            ),
            Node::Not(inner) => match inner.truth(input) {
                Truth::Yes => "not: the excluded conditions all held".to_owned(),
                _ => format!("not.{}", inner.describe_failure(input)),
            },
        }
    }
}

/// Where a matcher key points.
#[derive(Debug, Clone, Copy)]
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
struct Segment {
    key: String,
    /// The segment as an array index, when it is a canonical one.
    index: Option<usize>,
}

#[derive(Debug, Clone)]
struct Path {
    root: Root,
    segments: Vec<Segment>,
}

impl Path {
    fn parse(key: &str) -> Result<Self, String> {
        let mut parts = key.split('.');
        let first = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        if first.is_empty() || rest.iter().any(|s| s.is_empty()) {
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
            other => (Root::ParamAlias, std::iter::once(other).chain(rest).collect()),
        };
        let segments = segments.into_iter().map(|s| Segment { key: s.to_owned(), index: array_index(s) }).collect();
        Ok(Self { root, segments })
    }

    fn resolve<'a>(&self, input: &EvalInput<'a>) -> Option<Field<'a>> {
        let base = match self.root {
            Root::Action => return Some(Field::Str(input.action)),
            Root::Urgency => return Some(Field::Str(input.urgency.as_str())),
            Root::Status => return Some(Field::Str("pending")),
            Root::Params | Root::ParamAlias => input.params,
            Root::Context => input.context,
        };
        let mut current = base;
        for segment in &self.segments {
            current = match current {
                Value::Object(map) => map.get(&segment.key)?,
                Value::Array(items) => items.get(segment.index?)?,
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

    /// The value as JSON, shortened for an explanation.
    fn show(&self) -> String {
        let full = match self {
            Field::Str(s) => Value::String((*s).to_owned()).to_string(),
            Field::Json(v) => v.to_string(),
        };
        shorten(full)
    }
}

fn shorten(s: String) -> String {
    match s.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
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

    fn show(&self) -> String {
        match self {
            Self::Str(s) => shorten(Value::String(s.clone()).to_string()),
            Self::Num(n) => n.to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

fn show_list(items: &[Literal]) -> String {
    shorten(format!("[{}]", items.iter().map(Literal::show).collect::<Vec<_>>().join(", ")))
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Literal),
    Ne(Literal),
    In(Vec<Literal>),
    Nin(Vec<Literal>),
    Lt(f64),
    Gt(f64),
    Lte(f64),
    Gte(f64),
    Exists(bool),
    Contains(Literal),
    StartsWith(String),
    EndsWith(String),
    Regex(Regex),
    Glob(Glob),
}

impl Op {
    /// A prefix the value must start with for this operator to hold, if it implies one.
    fn required_prefix(&self) -> Option<Vec<u8>> {
        match self {
            Op::Glob(glob) => Some(glob.literal_prefix().as_bytes().to_vec()),
            Op::StartsWith(prefix) => Some(prefix.as_bytes().to_vec()),
            Op::Regex(re) => regex_prefix(re.as_str()),
            _ => None,
        }
    }

    fn truth(&self, field: Option<&Field<'_>>) -> Truth {
        use Truth::Unknown;
        let Some(field) = field else {
            // A missing field satisfies nothing but `$exists: false`.
            return match self {
                Op::Exists(expected) => Truth::from_bool(!expected),
                _ => Unknown,
            };
        };
        match self {
            Op::Eq(l) => Truth::from_bool(l.equals(field)),
            Op::Ne(l) => Truth::from_bool(!l.equals(field)),
            Op::In(items) => Truth::from_bool(items.iter().any(|l| l.equals(field))),
            Op::Nin(items) => Truth::from_bool(!items.iter().any(|l| l.equals(field))),
            Op::Lt(n) => on_number(field, |v| v < *n),
            Op::Gt(n) => on_number(field, |v| v > *n),
            Op::Lte(n) => on_number(field, |v| v <= *n),
            Op::Gte(n) => on_number(field, |v| v >= *n),
            Op::Exists(expected) => Truth::from_bool(*expected),
            Op::Contains(needle) => match (field, needle) {
                (Field::Json(Value::Array(items)), _) => {
                    Truth::from_bool(items.iter().any(|item| needle.equals(&Field::Json(item))))
                }
                (_, Literal::Str(sub)) => on_str(field, |s| s.contains(sub.as_str())),
                _ => Unknown,
            },
            Op::StartsWith(prefix) => on_str(field, |s| s.starts_with(prefix.as_str())),
            Op::EndsWith(suffix) => on_str(field, |s| s.ends_with(suffix.as_str())),
            Op::Regex(re) => on_str(field, |s| re.is_match(s)),
            Op::Glob(glob) => on_str(field, |s| glob.is_match(s)),
        }
    }

    /// Why this operator does not hold for a present value.
    fn describe(&self, field: &Field<'_>) -> String {
        let v = field.show();
        let not_number = || format!("{v} is not a number");
        let not_string = || format!("{v} is not a string");
        let compare = |symbol: &str, n: f64| match field.as_number() {
            Some(_) => format!("{v} is not {symbol} {n}"),
            None => not_number(),
        };
        let on_string = |what: String| if field.as_str().is_some() { what } else { not_string() };
        match self {
            Op::Eq(l) => format!("{v} is not {}", l.show()),
            Op::Ne(l) => format!("{v} is {}", l.show()),
            Op::In(items) => format!("{v} is not one of {}", show_list(items)),
            Op::Nin(items) => format!("{v} is one of {}", show_list(items)),
            Op::Lt(n) => compare("<", *n),
            Op::Gt(n) => compare(">", *n),
            Op::Lte(n) => compare("<=", *n),
            Op::Gte(n) => compare(">=", *n),
            Op::Exists(_) => format!("{v} is present but must be missing"),
            Op::Contains(needle) => match (field, needle) {
                (Field::Json(Value::Array(_)), _) => format!("{v} does not contain {}", needle.show()),
                (_, Literal::Str(_)) if field.as_str().is_some() => format!("{v} does not contain {}", needle.show()),
                (_, Literal::Str(_)) => format!("{v} is not a string or an array"),
                _ => format!("{v} is not an array"),
            },
            Op::StartsWith(prefix) => {
                on_string(format!("{v} does not start with {}", Literal::Str(prefix.clone()).show()))
            }
            Op::EndsWith(suffix) => on_string(format!("{v} does not end with {}", Literal::Str(suffix.clone()).show())),
            Op::Regex(re) => {
                on_string(format!("{v} does not match regex {}", Literal::Str(re.as_str().to_owned()).show()))
            }
            Op::Glob(glob) => {
                on_string(format!("{v} does not match {}", Literal::Str(glob.source().to_owned()).show()))
            }
        }
    }
}

/// A numeric test on a number; unknown on any other value.
fn on_number(field: &Field<'_>, test: impl FnOnce(f64) -> bool) -> Truth {
    field.as_number().map_or(Truth::Unknown, |v| Truth::from_bool(test(v)))
}

/// A string test on a string; unknown on any other value.
fn on_str(field: &Field<'_>, test: impl FnOnce(&str) -> bool) -> Truth {
    field.as_str().map_or(Truth::Unknown, |s| Truth::from_bool(test(s)))
}

/// One key of a match object and its operators, all of which must hold.
#[derive(Debug, Clone)]
struct FieldCond {
    /// The key as written, for explanations.
    key: String,
    path: Path,
    ops: Vec<Op>,
}

impl FieldCond {
    fn compile(key: &str, value: &Value) -> Result<Self, String> {
        let path = Path::parse(key)?;
        let ops = match value {
            Value::Object(ops) => {
                if ops.is_empty() {
                    return Err("an operator object needs at least one operator".into());
                }
                ops.iter().map(|(op, operand)| compile_operator(op, operand)).collect::<Result<_, _>>()?
            }
            // On `action`, a literal with a star is a glob (`deploy:*`).
            Value::String(s) if matches!(path.root, Root::Action) && s.contains('*') => {
                vec![compile_glob("a glob", s)?]
            }
            other => vec![Op::Eq(
                Literal::from_json(other)
                    .ok_or("a matcher must be a string, number, boolean or an object of operators")?,
            )],
        };
        Ok(Self { key: key.to_owned(), path, ops })
    }

    fn holds(&self, input: &EvalInput<'_>) -> bool {
        let field = self.path.resolve(input);
        self.ops.iter().all(|op| op.truth(field.as_ref()) == Truth::Yes)
    }

    fn truth(&self, input: &EvalInput<'_>) -> Truth {
        let field = self.path.resolve(input);
        Truth::and_all(self.ops.iter().map(|op| op.truth(field.as_ref())))
    }

    fn describe(&self, input: &EvalInput<'_>) -> String {
        let key = &self.key;
        let field = self.path.resolve(input);
        let failed = self.ops.iter().find(|op| op.truth(field.as_ref()) != Truth::Yes);
        match (field, failed) {
            (None, _) => format!("{key}: missing"),
            (Some(field), Some(op)) => format!("{key}: {}", op.describe(&field)),
            (Some(_), None) => format!("{key}: did not hold"),
        }
    }
}

fn compile_operator(op: &str, operand: &Value) -> Result<Op, String> {
    let number = || operand.as_f64().ok_or_else(|| format!("{op} needs a number"));
    let string = || operand.as_str().ok_or_else(|| format!("{op} needs a string"));
    let literal = || Literal::from_json(operand).ok_or_else(|| format!("{op} needs a string, number or boolean"));
    let list = || {
        operand
            .as_array()
            .and_then(|items| items.iter().map(Literal::from_json).collect::<Option<Vec<_>>>())
            .ok_or_else(|| format!("{op} needs an array of strings, numbers or booleans"))
    };
    Ok(match op {
        "$lt" => Op::Lt(number()?),
        "$gt" => Op::Gt(number()?),
        "$lte" => Op::Lte(number()?),
        "$gte" => Op::Gte(number()?),
        "$in" => Op::In(list()?),
        "$nin" => Op::Nin(list()?),
        "$ne" => Op::Ne(literal()?),
        "$contains" => Op::Contains(literal()?),
        "$exists" => Op::Exists(operand.as_bool().ok_or("$exists needs true or false")?),
        "$startsWith" => Op::StartsWith(string()?.to_owned()),
        "$endsWith" => Op::EndsWith(string()?.to_owned()),
        "$glob" => compile_glob("$glob", string()?)?,
        "$regex" => {
            let pattern = string()?;
            if pattern.chars().count() > MAX_REGEX_LEN {
                return Err(format!("$regex is longer than {MAX_REGEX_LEN} characters"));
            }
            let re = RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| format!("invalid $regex: {}", regex_error_summary(&e.to_string())))?;
            Op::Regex(re)
        }
        unknown => return Err(format!("unknown operator \"{unknown}\"")),
    })
}

fn compile_glob(what: &str, pattern: &str) -> Result<Op, String> {
    if pattern.chars().count() > MAX_GLOB_LEN {
        return Err(format!("{what} is longer than {MAX_GLOB_LEN} characters"));
    }
    Ok(Op::Glob(Glob::new(pattern)))
}

/// The regex crate's multi-line error ends with the reason (`error: unclosed group`); keep just that.
fn regex_error_summary(s: &str) -> String {
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

#[cfg(test)]
mod tests {
    use super::regex_prefix;

    #[test]
    fn only_anchored_regexes_have_a_prefix() {
        let cases: &[(&str, Option<&str>)] = &[
            ("^pay", Some("pay")),
            ("^pay$", Some("pay")),
            ("^tool_3_(delete|drop)", Some("tool_3_d")),
            ("^deploy:(prod|staging)$", Some("deploy:")),
            ("^\\.env", Some(".env")),
            ("^ab?c", Some("a")),
            ("^a+b", Some("a")),
            ("^é", Some("é")),
            ("^(pay|refund)", Some("")),
            ("^pay|refund", None),
            ("pay", None),
            ("^", Some("")),
            ("(?m)^pay", None),
            ("(?i)^pay", Some("")),
            ("^(?i)pay", Some("")),
            ("^.*pay", None),
            ("\\Apay", Some("pay")),
        ];
        let failures: Vec<String> = cases
            .iter()
            .filter(|(pattern, expected)| regex_prefix(pattern) != expected.map(|e| e.as_bytes().to_vec()))
            .map(|(pattern, expected)| {
                format!("{pattern:?}: got {:?}, expected {expected:?}", regex_prefix(pattern).map(String::from_utf8))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
