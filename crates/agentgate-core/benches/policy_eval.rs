//! Policy engine benchmarks: `PolicySet::evaluate` over sets of 10 to 10,000 policies, and validating plus
//! compiling one typical policy.
//!
//! Run with `cargo bench -p agentgate-core --bench policy_eval -- --sample-count 20`.
//!
//! Each generated policy `i` has 1–3 rules (`1 + i % 3`), all about the action `tool_<i>`:
//! - rule 0: `action` and a numeric range on `params.amount` (`auto_approve`);
//! - rule 1: `action` and `$in` on `params.env` (`route_to_agent`);
//! - rule 2: `action`, `$in` on `urgency` and a lower bound on `params.amount` (`route_to_human`, with approvers).
//!
//! One policy in five swaps its last rule for a `$regex` rule: when `i % 10 == 3` a pattern on the action
//! itself with no equality guard (so it runs on every request that reaches it), and when `i % 10 == 7` an
//! action guard plus patterns on `params.path` and `context.agent`. Priorities are `i / 2`, so there are ties
//! and evaluation order is still `0, 1, 2, ...`.

use agentgate_core::policy::{CompiledPolicy, EvalInput, PolicySet, PolicySpec};
use agentgate_core::request::Urgency;
use divan::{Bencher, black_box};
use serde_json::{Value, json};

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[10, 100, 1_000, 10_000];

fn rule(i: usize, kind: usize) -> Value {
    let action = format!("tool_{i}");
    match (kind, i % 10) {
        (_, 3) if kind == i % 3 => json!({
            "match": {"action": {"$regex": format!("^tool_{i}_(delete|drop|truncate)(_all)?$")}},
            "decision": "auto_deny",
        }),
        (_, 7) if kind == i % 3 => json!({
            "match": {
                "action": action,
                "params.path": {"$regex": r"^/(etc|root)/|\.ssh/|\.\./"},
                "context.agent": {"$regex": "^(untrusted|sandbox)-"},
            },
            "decision": "auto_deny",
        }),
        (0, _) => json!({
            "match": {"action": action, "params.amount": {"$gte": 0, "$lt": 1_000}},
            "decision": "auto_approve",
        }),
        (1, _) => json!({
            "match": {"action": action, "params.env": {"$in": ["dev", "staging", "test"]}},
            "decision": "route_to_agent",
        }),
        _ => json!({
            "match": {"action": action, "urgency": {"$in": ["high", "critical"]}, "params.amount": {"$gte": 1_000}},
            "decision": "route_to_human",
            "approvers": ["alice", "bob"],
            "channels": ["slack"],
            "requireReason": true,
        }),
    }
}

fn policy_body(i: usize) -> Value {
    let rules: Vec<Value> = (0..=i % 3).map(|kind| rule(i, kind)).collect();
    json!({"name": format!("policy {i}"), "priority": i / 2, "rules": rules})
}

fn policy_set(n: usize) -> PolicySet {
    PolicySet::new(
        (0..n)
            .map(|i| {
                let spec = PolicySpec::from_json(&policy_body(i)).expect("generated policies are valid");
                CompiledPolicy::compile(&format!("pol_{i:05}"), &spec).expect("generated policies compile")
            })
            .collect(),
    )
}

/// The parts of a request, owned.
struct Request {
    action: String,
    urgency: Urgency,
    params: Value,
    context: Value,
}

impl Request {
    fn new(action: String) -> Self {
        Self {
            action,
            urgency: Urgency::Normal,
            params: json!({"amount": 250, "env": "prod", "path": "/srv/app/config.toml", "recipients": ["a@example.com"]}),
            context: json!({"agent": "billing-bot", "session": "s-42"}),
        }
    }

    fn input(&self) -> EvalInput<'_> {
        EvalInput { action: &self.action, urgency: self.urgency, params: &self.params, context: &self.context }
    }
}

/// Worst case: nothing matches, so every rule of every policy is tried.
#[divan::bench(args = SIZES)]
fn evaluate_no_match(bencher: Bencher, n: usize) {
    let set = policy_set(n);
    let request = Request::new("send_email".to_owned());
    let input = request.input();
    assert!(set.evaluate(&input).matched.is_none());
    bencher.bench_local(|| black_box(&set).evaluate(black_box(&input)).decision);
}

/// Matched by the first rule of the policy in the middle of the evaluation order.
#[divan::bench(args = SIZES)]
fn evaluate_match_middle(bencher: Bencher, n: usize) {
    let set = policy_set(n);
    let middle = n / 2;
    let request = Request::new(format!("tool_{middle}"));
    let input = request.input();
    let expected = format!("pol_{middle:05}");
    let matched = set.evaluate(&input).matched.expect("the middle policy matches");
    assert_eq!((matched.policy_id, matched.rule_index), (expected.as_str(), 0));
    bencher.bench_local(|| black_box(&set).evaluate(black_box(&input)).decision);
}

/// Validating and compiling one typical policy (three rules, one of them with two regexes).
#[divan::bench]
fn parse_and_compile_policy(bencher: Bencher) {
    let body = json!({
        "name": "Payments guard",
        "priority": 10,
        "enabled": true,
        "rules": [
            {"match": {"action": "pay", "amount": {"$gte": 0, "$lt": 100}}, "decision": "auto_approve"},
            {
                "match": {"action": {"$in": ["pay", "refund"]}, "params.recipient.iban": {"$regex": "^(GB|IE)[0-9]{2}"}, "context.agent": {"$regex": "^untrusted-"}},
                "decision": "auto_deny",
            },
            {
                "match": {"action": "pay", "urgency": {"$in": ["high", "critical"]}},
                "decision": "route_to_human",
                "approvers": ["alice", "bob"],
                "channels": ["slack", "email"],
                "requireReason": true,
            },
        ],
    });
    bencher.bench_local(|| {
        let spec = PolicySpec::from_json(black_box(&body)).expect("valid");
        CompiledPolicy::compile(black_box("pol_1"), &spec).expect("compiles")
    });
}
