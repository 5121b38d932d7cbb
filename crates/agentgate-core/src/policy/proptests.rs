//! Property tests for the policy engine:
//!
//! - evaluating arbitrary valid policies against arbitrary requests never panics;
//! - `explain` always reaches the same decision and rule as `evaluate`, and lists exactly the rules before it;
//! - the action index gives the same result as a scan of every rule;
//! - misspelling a field name (other than under `$exists`) never makes a rule match that did not;
//! - old-style policies (one reference-era operator per matcher, no combinators) evaluate exactly as a small
//!   model of the old semantics, written out below;
//! - validation never panics on arbitrary JSON, and what it accepts compiles and evaluates.

use super::*;
use proptest::prelude::*;
use serde_json::json;

const ACTIONS: &[&str] = &["pay", "refund", "deploy", "deploy:prod", "deploy:staging", "read_file", "delete_db", ""];
const STRINGS: &[&str] = &["prod", "staging", "high", "pending", "ann@corp.example", "x", "", "Zoë", "5", "true"];
/// Keys an old-style policy could use: real fields, dot paths, bare aliases, array indexes.
const OLD_KEYS: &[&str] = &[
    "action",
    "urgency",
    "status",
    "params",
    "params.amount",
    "params.to",
    "params.env",
    "params.items.0",
    "params.items.1",
    "params.user.role",
    "params.action",
    "amount",
    "to",
    "env",
    "user.role",
    "items.0",
    "context.hour",
    "context.agent",
    "context.env.tier",
];
const REGEXES: &[&str] = &["^pay", "prod", "^deploy:(prod|staging)$", "", "(?i)X", "^[0-9]+$", "@corp\\.example$"];
const GLOBS: &[&str] = &["deploy:*", "*", "*_db", "re*d", "?ay", "*:*"];

// ---------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(items).prop_map(str::to_owned)
}

/// Numbers, often from a small set so that bounds and values coincide.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(&[0i64, 1, 5, 100, 5000][..]).prop_map(Value::from),
        1 => Just(json!(100.0)),
        2 => (-5i64..10_000).prop_map(Value::from),
        1 => (-1e4f64..1e4).prop_map(Value::from),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!(0.5)),
    ]
}

/// A literal as a matcher operand: strings, numbers, booleans from a vocabulary the requests share.
fn literal() -> impl Strategy<Value = Value> {
    prop_oneof![
        pick(ACTIONS).prop_map(Value::from),
        pick(STRINGS).prop_map(Value::from),
        number(),
        any::<bool>().prop_map(Value::from)
    ]
}

/// Arbitrary JSON, biased towards the keys and values policies look for.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number(),
        pick(STRINGS).prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    let keys = prop_oneof![
        pick(&["amount", "to", "env", "items", "user", "role", "hour", "agent", "tier", "action", "any", "0", "1"]),
        "[a-z.]{0,4}",
    ];
    leaf.prop_recursive(4, 32, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

use super::tests::Req;

fn request() -> impl Strategy<Value = Req> {
    (
        prop_oneof![4 => pick(ACTIONS), 1 => ".{0,6}"],
        prop::sample::select(&Urgency::ALL[..]),
        prop_oneof![
            1 => arbitrary_json(),
            3 => (number(), pick(STRINGS), pick(STRINGS), arbitrary_json()).prop_map(|(amount, to, env, items)| {
                json!({"amount": amount, "to": to, "env": env, "items": items, "user": {"role": "admin"}})
            }),
        ],
        prop_oneof![1 => arbitrary_json(), 2 => (0i64..24, pick(STRINGS)).prop_map(|(h, a)| json!({"hour": h, "agent": a, "env": {"tier": 2}}))],
    )
        .prop_map(|(action, urgency, params, context)| Req { action, urgency, params, context })
}

/// Matchers built from the value the request actually has under `key`, so that rules often match and bounds
/// often coincide with values. `full` adds the operators of the new language.
fn targeted(key: &str, r: &Req, full: bool) -> BoxedStrategy<Value> {
    let value = old_lookup(key, r);
    let mut options: Vec<Value> = match &value {
        Some(v @ Value::Number(_)) => vec![
            v.clone(),
            json!({"$lt": v}),
            json!({"$lte": v}),
            json!({"$gt": v}),
            json!({"$gte": v}),
            json!({"$gte": v, "$lte": v}),
            json!({"$in": [12345, v]}),
        ],
        Some(Value::String(s)) => {
            let mut o = vec![json!({"$in": ["zz", s]}), json!({"$regex": format!("^{}$", regex::escape(s))})];
            // On `action` a star would turn the literal into a glob, which the old language did not have.
            if key != "action" || !s.contains('*') {
                o.push(json!(s));
            }
            if full {
                let head: String = s.chars().take(2).collect();
                let tail: String = s.chars().rev().take(2).collect::<Vec<_>>().into_iter().rev().collect();
                o.extend([
                    json!({"$startsWith": head}),
                    json!({"$endsWith": tail}),
                    json!({"$contains": tail}),
                    json!({"$glob": format!("{head}*")}),
                    json!({"$ne": s}),
                    json!({"$nin": [s]}),
                ]);
            }
            o
        }
        Some(Value::Bool(b)) => vec![json!(b), json!({"$in": [b]})],
        Some(Value::Array(items)) if full => items
            .iter()
            .filter(|i| matches!(i, Value::String(_) | Value::Number(_) | Value::Bool(_)))
            .take(2)
            .map(|i| json!({"$contains": i}))
            .collect(),
        _ => vec![],
    };
    if full {
        options.push(json!({"$exists": value.is_some()}));
        options.push(json!({"$exists": value.is_none()}));
    }
    if options.is_empty() { literal().boxed() } else { prop::sample::select(options).boxed() }
}

/// A matcher in the old language: a literal or one of `$lt $gt $lte $gte $in $regex`.
fn old_matcher(key: &str, r: &Req) -> BoxedStrategy<Value> {
    let lit = if key == "action" {
        literal().prop_filter("no globs", |v| !v.as_str().is_some_and(|s| s.contains('*'))).boxed()
    } else {
        literal().boxed()
    };
    prop_oneof![
        6 => targeted(key, r, false),
        3 => lit,
        1 => number().prop_map(|n| json!({"$lt": n})),
        1 => number().prop_map(|n| json!({"$gt": n})),
        1 => number().prop_map(|n| json!({"$lte": n})),
        1 => number().prop_map(|n| json!({"$gte": n})),
        2 => prop::collection::vec(literal(), 0..4).prop_map(|l| json!({"$in": l})),
        1 => pick(REGEXES).prop_map(|r| json!({"$regex": r})),
    ]
    .boxed()
}

fn old_match_object(r: &Req) -> BoxedStrategy<Value> {
    let r = r.clone();
    // Most real rules pin the action, and that is what the index works from.
    prop::collection::btree_set(prop_oneof![1 => Just("action".to_owned()), 2 => pick(OLD_KEYS)], 0..4)
        .prop_flat_map(move |keys| keys.into_iter().map(|k| (Just(k.clone()), old_matcher(&k, &r))).collect::<Vec<_>>())
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
        .boxed()
}

const OPERATORS: &[&str] = &[
    "$lt",
    "$gt",
    "$lte",
    "$gte",
    "$ne",
    "$in",
    "$nin",
    "$exists",
    "$contains",
    "$startsWith",
    "$endsWith",
    "$glob",
    "$regex",
];

/// A valid operand for an operator of the full language.
fn operand(op: &str) -> BoxedStrategy<Value> {
    match op {
        "$lt" | "$gt" | "$lte" | "$gte" => number().boxed(),
        "$ne" | "$contains" => literal().boxed(),
        "$in" | "$nin" => prop::collection::vec(literal(), 0..4).prop_map(Value::Array).boxed(),
        "$exists" => any::<bool>().prop_map(Value::Bool).boxed(),
        "$glob" => pick(GLOBS).prop_map(Value::from).boxed(),
        "$regex" => pick(REGEXES).prop_map(Value::from).boxed(),
        _ => pick(STRINGS).prop_map(Value::from).boxed(),
    }
}

/// A matcher of the full language: a literal (a glob on `action` when it has a star) or several operators.
fn new_matcher(key: &str, r: &Req) -> BoxedStrategy<Value> {
    prop_oneof![
        6 => targeted(key, r, true),
        2 => literal(),
        1 => pick(GLOBS).prop_map(Value::from),
        3 => prop::collection::btree_set(prop::sample::select(OPERATORS), 1..3)
            .prop_flat_map(|names| names.into_iter().map(|name| (Just(name.to_owned()), operand(name))).collect::<Vec<_>>())
            .prop_map(|ops| Value::Object(ops.into_iter().collect())),
    ]
    .boxed()
}

/// A non-empty match object of the full language, with nested combinators.
fn new_match_object(r: &Req) -> BoxedStrategy<Value> {
    let r = r.clone();
    let keys = prop_oneof![
        2 => Just("action".to_owned()),
        4 => pick(OLD_KEYS),
        1 => pick(&["params.any", "params.nope", "context.missing"]),
    ];
    let fields = prop::collection::btree_set(keys, 1..3)
        .prop_flat_map(move |keys| keys.into_iter().map(|k| (Just(k.clone()), new_matcher(&k, &r))).collect::<Vec<_>>())
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()));
    fields
        .prop_recursive(3, 24, 3, |inner| {
            let list = prop::collection::vec(inner.clone(), 1..3);
            prop_oneof![
                inner.clone(),
                (list.clone(), inner.clone()).prop_map(|(alternatives, mut base)| {
                    base["any"] = Value::Array(alternatives);
                    base
                }),
                list.prop_map(|alternatives| json!({ "all": alternatives })),
                (inner.clone(), pick(ACTIONS))
                    .prop_map(|(excluded, action)| json!({"action": action, "not": excluded})),
                inner.prop_map(|excluded| json!({ "not": excluded })),
            ]
        })
        .boxed()
}

fn decision() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["auto_approve", "auto_deny", "route_to_human"][..])
}

/// Policy bodies: priorities from a small range so ties are common, some disabled.
fn policies(matcher: impl Strategy<Value = Value>) -> impl Strategy<Value = Vec<Value>> {
    let rule = (matcher, decision()).prop_map(|(m, d)| json!({"match": m, "decision": d}));
    let policy = (prop::collection::vec(rule, 0..4), -2i64..3, prop::bool::weighted(0.85)).prop_map(
        |(rules, priority, enabled)| json!({"name": "p", "rules": rules, "priority": priority, "enabled": enabled}),
    );
    prop::collection::vec(policy, 0..6)
}

/// A request and old-style policies aimed at it.
fn old_case() -> impl Strategy<Value = (Vec<Value>, Req)> {
    request().prop_flat_map(|r| (policies(old_match_object(&r)), Just(r)))
}

/// A request and policies of the full language aimed at it (with some catch-alls).
fn full_case() -> impl Strategy<Value = (Vec<Value>, Req)> {
    request().prop_flat_map(|r| {
        let matcher = prop_oneof![1 => Just(json!({})), 12 => new_match_object(&r)];
        (policies(matcher), Just(r))
    })
}

fn compile_all(bodies: &[Value]) -> Result<PolicySet, TestCaseError> {
    let mut compiled = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let spec = PolicySpec::from_json(body).map_err(|e| TestCaseError::fail(format!("{body} rejected: {e}")))?;
        compiled.push(
            CompiledPolicy::compile(&format!("p{i}"), i as i64, &spec)
                .map_err(|e| TestCaseError::fail(format!("{body} did not compile: {e}")))?,
        );
    }
    Ok(PolicySet::new(compiled))
}

/// `(policy id, rule index)` of a match, for comparisons.
fn key(matched: Option<RuleMatch<'_>>) -> Option<(String, usize, i64)> {
    matched.map(|m| (m.policy_id.to_owned(), m.rule_index, m.policy_version))
}

// ---------------------------------------------------------------------------------------------------------
// The old semantics, as a model
// ---------------------------------------------------------------------------------------------------------

/// A value found by the old lookup: the action, urgency and status are strings, the rest JSON.
fn old_lookup<'a>(key: &str, r: &'a Req) -> Option<Value> {
    let mut parts = key.split('.');
    let first = parts.next()?;
    let rest: Vec<&str> = parts.collect();
    let (mut current, path): (&'a Value, Vec<&str>) = match first {
        "action" => return Some(Value::from(r.action.clone())),
        "urgency" => return Some(Value::from(r.urgency.as_str())),
        "status" => return Some(Value::from("pending")),
        "params" => (&r.params, rest),
        "context" => (&r.context, rest),
        other => (&r.params, std::iter::once(other).chain(rest).collect()),
    };
    for segment in path {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => {
                let canonical = !segment.is_empty()
                    && segment.bytes().all(|b| b.is_ascii_digit())
                    && (segment == "0" || !segment.starts_with('0'));
                if !canonical {
                    return None;
                }
                items.get(segment.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(current.clone())
}

/// Strict equality between a literal and a value: no coercion, numbers compared as floats.
fn old_equals(literal: &Value, value: &Value) -> bool {
    match (literal, value) {
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        _ => false,
    }
}

fn old_holds(matcher: &Value, value: Option<Value>) -> bool {
    let Some(value) = value else { return false };
    let Value::Object(ops) = matcher else { return old_equals(matcher, &value) };
    ops.iter().all(|(op, operand)| {
        let (n, v) = (operand.as_f64(), value.as_f64());
        match op.as_str() {
            "$lt" => matches!((v, n), (Some(v), Some(n)) if v < n),
            "$gt" => matches!((v, n), (Some(v), Some(n)) if v > n),
            "$lte" => matches!((v, n), (Some(v), Some(n)) if v <= n),
            "$gte" => matches!((v, n), (Some(v), Some(n)) if v >= n),
            "$in" => operand.as_array().is_some_and(|items| items.iter().any(|i| old_equals(i, &value))),
            "$regex" => match (operand.as_str(), value.as_str()) {
                (Some(p), Some(s)) => regex::Regex::new(p).is_ok_and(|re| re.is_match(s)),
                _ => false,
            },
            _ => false,
        }
    })
}

/// The old engine: enabled policies by priority (stable), rules in order, first match wins.
fn old_evaluate(bodies: &[Value], r: &Req) -> (DecisionType, Option<(String, usize, i64)>) {
    let mut order: Vec<(usize, &Value)> =
        bodies.iter().enumerate().filter(|(_, b)| b["enabled"] != Value::Bool(false)).collect();
    order.sort_by_key(|(_, b)| b["priority"].as_i64().unwrap_or(DEFAULT_PRIORITY));
    for (i, body) in order {
        for (rule_index, rule) in body["rules"].as_array().into_iter().flatten().enumerate() {
            let matches = rule["match"]
                .as_object()
                .is_some_and(|m| m.iter().all(|(k, matcher)| old_holds(matcher, old_lookup(k, r))));
            if matches {
                let decision = DecisionType::parse(rule["decision"].as_str().unwrap_or_default())
                    .unwrap_or(DecisionType::RouteToHuman);
                return (decision, Some((format!("p{i}"), rule_index, i as i64)));
            }
        }
    }
    (DecisionType::RouteToHuman, None)
}

/// `matcher` with its `n`th field condition (depth first, in key order) re-keyed to a field no request has, or
/// `None` when there are fewer conditions. Conditions using `$exists` are counted but left alone: they are the
/// one way to talk about missing fields on purpose.
fn misspell_nth(matcher: &Value, n: &mut usize) -> Option<Value> {
    let map = matcher.as_object()?;
    for (key, value) in map {
        let replaced = match key.as_str() {
            "any" | "all" => {
                let items = value.as_array()?;
                items.iter().enumerate().find_map(|(i, item)| {
                    misspell_nth(item, n).map(|changed| {
                        let mut items = items.clone();
                        items[i] = changed;
                        Value::Array(items)
                    })
                })
            }
            "not" => misspell_nth(value, n),
            _ if *n == usize::MAX => return None,
            _ => {
                if *n == 0 {
                    *n = usize::MAX;
                    if value.get("$exists").is_some() {
                        return None;
                    }
                    let mut out = map.clone();
                    out.remove(key);
                    out.insert("params.__typo__".into(), value.clone());
                    return Some(Value::Object(out));
                }
                *n -= 1;
                None
            }
        };
        if let Some(changed) = replaced {
            let mut out = map.clone();
            out.insert(key.clone(), changed);
            return Some(Value::Object(out));
        }
        if *n == usize::MAX {
            return None;
        }
    }
    None
}

/// Whether a rule with this match object matches the request.
fn rule_holds(matcher: &Value, r: &Req) -> Result<bool, TestCaseError> {
    let set = compile_all(&[json!({"name": "p", "rules": [{"match": matcher, "decision": "auto_approve"}]})])?;
    Ok(set.evaluate(&r.input()).matched.is_some())
}

// ---------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn old_style_policies_evaluate_as_before((bodies, r) in old_case()) {
        let set = compile_all(&bodies)?;
        let evaluation = set.evaluate(&r.input());
        prop_assert_eq!((evaluation.decision, key(evaluation.matched)), old_evaluate(&bodies, &r));
    }

    #[test]
    fn evaluation_never_panics_and_explain_agrees((bodies, r) in full_case()) {
        let set = compile_all(&bodies)?;
        let evaluation = set.evaluate(&r.input());
        let explanation = set.explain(&r.input());
        prop_assert_eq!(evaluation.decision, explanation.decision);
        prop_assert_eq!(key(evaluation.matched), key(explanation.matched));
        if let Some(m) = evaluation.matched {
            prop_assert_eq!(evaluation.decision, m.rule.decision);
        } else {
            prop_assert_eq!(evaluation.decision, DecisionType::RouteToHuman);
        }
        // The misses are exactly the rules before the match, in evaluation order.
        let all = set.rule_order();
        let before = match &explanation.matched {
            Some(m) => all.iter().position(|&(id, i)| id == m.policy_id && i == m.rule_index).unwrap_or(all.len()),
            None => all.len(),
        };
        let listed: Vec<(&str, usize)> = explanation.misses.iter().map(|m| (m.policy_id.as_str(), m.rule_index)).collect();
        prop_assert_eq!(&listed[..], &all[..before]);
        prop_assert!(explanation.misses.iter().all(|m| !m.reason.is_empty()));
        prop_assert!(serde_json::to_value(&explanation).is_ok());
    }

    #[test]
    fn the_index_agrees_with_a_linear_scan((bodies, r) in full_case()) {
        let set = compile_all(&bodies)?;
        let indexed = set.evaluate(&r.input());
        let linear = set.evaluate_linear(&r.input());
        prop_assert_eq!(indexed.decision, linear.decision);
        prop_assert_eq!(key(indexed.matched), key(linear.matched));
    }

    #[test]
    fn a_misspelt_field_never_widens_a_rule((bodies, r) in full_case()) {
        for rule in bodies.iter().flat_map(|b| b["rules"].as_array().into_iter().flatten()) {
            let matcher = &rule["match"];
            let original = rule_holds(matcher, &r)?;
            for n in 0.. {
                let mut left = n;
                let Some(misspelt) = misspell_nth(matcher, &mut left) else {
                    if left == usize::MAX { continue } else { break }
                };
                prop_assert!(original || !rule_holds(&misspelt, &r)?, "{} matches but {} does not", misspelt, matcher);
            }
        }
    }

    #[test]
    fn validation_never_panics_on_arbitrary_json(matcher in arbitrary_json(), body in arbitrary_json(), r in request()) {
        let _ = PolicySpec::from_json(&body);
        let policy = json!({"name": "p", "rules": [{"match": matcher, "decision": "auto_deny"}]});
        if let Ok(spec) = PolicySpec::from_json(&policy) {
            let compiled = CompiledPolicy::compile("p", 1, &spec);
            prop_assert!(compiled.is_ok(), "accepted but did not compile: {:?}", compiled.err());
            if let Ok(compiled) = compiled {
                let set = PolicySet::new(vec![compiled]);
                let evaluation = set.evaluate(&r.input());
                prop_assert_eq!(evaluation.decision, set.explain(&r.input()).decision);
            }
        }
    }
}
