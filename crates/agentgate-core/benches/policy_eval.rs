//! Policy engine benchmarks: `PolicySet::evaluate` and `explain` over sets of 10 to 10,000 policies, building
//! a set, and validating plus compiling one typical policy.
//!
//! Run with `cargo bench -p agentgate-core --bench policy_eval -- --sample-count 30`.
//!
//! Keyed sets (every rule pins `action`, so the index sends a request only to its own action's rules): policy
//! `i` has 1–3 rules (`1 + i % 3`) about the action `tool_<i>`:
//! - rule 0: `action` and a numeric range on `params.amount` (`auto_approve`);
//! - rule 1: `action` `$in` [`tool_<i>`, `tool_<i>_bulk`], `$in` on `params.env` and a `$regex` on
//!   `params.path` (`auto_deny`);
//! - rule 2: `action`, `$in` on `urgency` and a lower bound on `params.amount` (`route_to_human`, with
//!   approvers).
//!
//! Unkeyed sets: the same, except that one policy in ten (`i % 10 == 3`) swaps its last rule for one the index
//! cannot key on an action: a prefix glob (`tool_<i>_*`), an anchored `$regex` (`^tool_<i>_(delete|drop)`) or a
//! suffix glob (`*_tool_<i>`), a third each. For an action some rule is keyed on, only the prefixed rules whose
//! prefix fits are tried, plus the suffix globs (universal); for any other action every prefixed rule costs a
//! byte comparison and every universal one a full check.
//!
//! Priorities are `i / 2`, so there are ties and evaluation order is still `0, 1, 2, ...`.

use agentgate_core::policy::{CompiledPolicy, EvalInput, PolicySet, PolicySpec};
use agentgate_core::request::Urgency;
use divan::{Bencher, black_box};
use serde_json::{Value, json};

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[10, 100, 1_000, 10_000];

fn rule(i: usize, kind: usize, unkeyed: bool) -> Value {
    let action = format!("tool_{i}");
    if unkeyed && i % 10 == 3 && kind == i % 3 {
        // A third each: a prefix glob and an anchored regex (the index skips them for other actions on one
        // byte comparison), and a suffix glob (tried in full for every request).
        let pattern = match i % 30 {
            3 => json!(format!("tool_{i}_*")),
            13 => json!({"$regex": format!("^tool_{i}_(delete|drop)")}),
            _ => json!(format!("*_tool_{i}")),
        };
        return json!({"match": {"action": pattern, "urgency": {"$ne": "low"}}, "decision": "auto_deny"});
    }
    match kind {
        0 => json!({
            "match": {"action": action, "params.amount": {"$gte": 0, "$lt": 1_000}},
            "decision": "auto_approve",
        }),
        1 => json!({
            "match": {
                "action": {"$in": [action, format!("{action}_bulk")]},
                "params.env": {"$in": ["dev", "staging", "test"]},
                "params.path": {"$regex": r"^/(etc|root)/|\.ssh/"},
            },
            "decision": "auto_deny",
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

fn policy_body(i: usize, unkeyed: bool) -> Value {
    let rules: Vec<Value> = (0..=i % 3).map(|kind| rule(i, kind, unkeyed)).collect();
    json!({"name": format!("policy {i}"), "priority": i / 2, "rules": rules})
}

fn compiled(n: usize, unkeyed: bool) -> Vec<CompiledPolicy> {
    (0..n)
        .map(|i| {
            let spec = PolicySpec::from_json(&policy_body(i, unkeyed)).expect("generated policies are valid");
            CompiledPolicy::compile(&format!("pol_{i:05}"), 1, &spec).expect("generated policies compile")
        })
        .collect()
}

fn policy_set(n: usize, unkeyed: bool) -> PolicySet {
    PolicySet::new(compiled(n, unkeyed))
}

/// The parts of a request, owned.
struct Request {
    action: String,
    urgency: Urgency,
    params: Value,
    context: Value,
}

impl Request {
    /// A request for `action` that the first rule of its policy matches.
    fn hit(action: String) -> Self {
        Self {
            action,
            urgency: Urgency::Normal,
            params: json!({"amount": 250, "env": "prod", "path": "/srv/app/config.toml", "recipients": ["a@example.com"]}),
            context: json!({"agent": "billing-bot", "session": "s-42"}),
        }
    }

    /// A request for `action` that none of its policy's rules match (so all of them are tried).
    fn miss(action: String) -> Self {
        Self { params: json!({"amount": 5_000, "env": "prod", "path": "/srv/app/config.toml"}), ..Self::hit(action) }
    }

    fn input(&self) -> EvalInput<'_> {
        EvalInput { action: &self.action, urgency: self.urgency, params: &self.params, context: &self.context }
    }
}

/// The policy in the middle of the evaluation order, picked so it has three rules.
fn middle(n: usize) -> usize {
    let m = n / 2;
    m - m % 3 + 2
}

/// Keyed rules, matched by the first rule of the middle policy.
#[divan::bench(args = SIZES)]
fn keyed_hit(bencher: Bencher, n: usize) {
    let set = policy_set(n, false);
    let i = middle(n);
    let request = Request::hit(format!("tool_{i}"));
    let input = request.input();
    let expected = format!("pol_{i:05}");
    let matched = set.evaluate(&input).matched.expect("the middle policy matches");
    assert_eq!((matched.policy_id, matched.rule_index), (expected.as_str(), 0));
    bencher.bench_local(|| black_box(&set).evaluate(black_box(&input)).decision);
}

/// Keyed rules: the middle policy's three rules are tried and none matches.
#[divan::bench(args = SIZES)]
fn keyed_miss(bencher: Bencher, n: usize) {
    let set = policy_set(n, false);
    let request = Request::miss(format!("tool_{}", middle(n)));
    let input = request.input();
    assert!(set.evaluate(&input).matched.is_none());
    bencher.bench_local(|| black_box(&set).evaluate(black_box(&input)).decision);
}

/// Keyed rules, an action no rule is about: nothing to try at all.
#[divan::bench(args = SIZES)]
fn keyed_unknown_action(bencher: Bencher, n: usize) {
    let set = policy_set(n, false);
    let request = Request::hit("send_email".to_owned());
    let input = request.input();
    assert!(set.evaluate(&input).matched.is_none());
    bencher.bench_local(|| black_box(&set).evaluate(black_box(&input)).decision);
}

/// A tenth of the policies with a glob or regex on the action: matched by the middle policy, after every
/// unkeyed rule ahead of it.
#[divan::bench(args = SIZES)]
fn unkeyed_hit(bencher: Bencher, n: usize) {
    let set = policy_set(n, true);
    let i = middle(n);
    let request = Request::hit(format!("tool_{i}"));
    let input = request.input();
    assert!(set.evaluate(&input).matched.is_some());
    bencher.bench_local(|| black_box(&set).evaluate(black_box(&input)).decision);
}

/// A tenth of the policies with a glob or regex on the action: no match, so every unkeyed rule is tried.
#[divan::bench(args = SIZES)]
fn unkeyed_miss(bencher: Bencher, n: usize) {
    let set = policy_set(n, true);
    let request = Request::hit("send_email".to_owned());
    let input = request.input();
    assert!(set.evaluate(&input).matched.is_none());
    bencher.bench_local(|| black_box(&set).evaluate(black_box(&input)).decision);
}

/// `explain` (simulation) for the keyed hit: walks and explains every rule before the match.
#[divan::bench(args = SIZES)]
fn explain_keyed_hit(bencher: Bencher, n: usize) {
    let set = policy_set(n, false);
    let request = Request::hit(format!("tool_{}", middle(n)));
    let input = request.input();
    assert_eq!(set.explain(&input).matched.map(|m| m.rule_index), Some(0));
    bencher.bench_local(|| black_box(&set).explain(black_box(&input)).misses.len());
}

/// Building the set and its index from compiled policies (what a policy change costs, beside compiling).
#[divan::bench(args = SIZES)]
fn build_set(bencher: Bencher, n: usize) {
    // The set is returned so that dropping it is not measured.
    bencher.with_inputs(|| compiled(n, true)).bench_local_values(PolicySet::new);
}

/// Validating and compiling one typical policy (three rules, two regexes and a combinator).
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
                "match": {"action": "pay", "any": [{"urgency": {"$in": ["high", "critical"]}}, {"params.to": {"$endsWith": "@corp.example"}}]},
                "decision": "route_to_human",
                "approvers": ["alice", "bob"],
                "channels": ["slack", "email"],
                "requireReason": true,
            },
        ],
    });
    bencher.bench_local(|| {
        let spec = PolicySpec::from_json(black_box(&body)).expect("valid");
        CompiledPolicy::compile(black_box("pol_1"), 1, &spec).expect("compiles")
    });
}
