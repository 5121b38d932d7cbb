//! Table-driven tests for the policy language: matching, evaluation order and validation.
//!
//! Each table row carries a description that is printed when it fails, and every table reports all of its
//! failing rows at once rather than stopping at the first.

use super::*;
use serde_json::json;

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

/// An owned request to evaluate; [`Req::input`] borrows it as the engine's [`EvalInput`]. Shared with the
/// property tests.
#[derive(Debug, Clone)]
pub(super) struct Req {
    pub(super) action: String,
    pub(super) urgency: Urgency,
    pub(super) params: Value,
    pub(super) context: Value,
}

/// A request for `action` with normal urgency and empty `params` and `context`.
fn req(action: &str) -> Req {
    Req { action: action.to_owned(), urgency: Urgency::Normal, params: json!({}), context: json!({}) }
}

impl Req {
    fn params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }

    fn context(mut self, context: Value) -> Self {
        self.context = context;
        self
    }

    fn urgency(mut self, urgency: Urgency) -> Self {
        self.urgency = urgency;
        self
    }

    pub(super) fn input(&self) -> EvalInput<'_> {
        EvalInput { action: &self.action, urgency: self.urgency, params: &self.params, context: &self.context }
    }
}

/// Validates a policy body that is expected to be valid.
fn spec(body: &Value) -> PolicySpec {
    PolicySpec::from_json(body).unwrap_or_else(|e| panic!("policy {body} should be valid, got: {e}"))
}

/// Validates and compiles a policy body that is expected to be valid.
fn compiled(id: &str, body: &Value) -> CompiledPolicy {
    CompiledPolicy::compile(id, 1, &spec(body)).unwrap_or_else(|e| panic!("policy {id} should compile, got: {e}"))
}

/// A set built from `(id, body)` pairs, in the given order.
fn set_of(policies: &[(&str, Value)]) -> PolicySet {
    PolicySet::new(policies.iter().map(|(id, body)| compiled(id, body)).collect())
}

/// Whether a single rule with this `match` object matches the request.
fn rule_matches(matcher: &Value, request: &Req) -> bool {
    let set = set_of(&[("p", json!({"name": "p", "rules": [{"match": matcher, "decision": "auto_approve"}]}))]);
    let evaluation = set.evaluate(&request.input());
    match evaluation.matched {
        Some(m) => {
            assert_eq!(evaluation.decision, DecisionType::AutoApprove, "a match must carry the rule's decision");
            assert_eq!((m.policy_id, m.rule_index), ("p", 0));
            true
        }
        None => {
            assert_eq!(evaluation.decision, DecisionType::RouteToHuman, "no match must route to a human");
            false
        }
    }
}

/// Fails with every failing row of a table listed.
fn assert_no_failures(table: &str, failures: Vec<String>) {
    assert!(failures.is_empty(), "{} failing case(s) in {table}:\n  {}", failures.len(), failures.join("\n  "));
}

/// One matching case: description, rule `match` object, request, whether the rule must match.
type MatchCase = (&'static str, Value, Req, bool);

fn check_match_table(table: &str, cases: Vec<MatchCase>) {
    let failures = cases
        .into_iter()
        .filter_map(|(description, matcher, request, expected)| {
            let actual = rule_matches(&matcher, &request);
            (actual != expected).then(|| {
                format!(
                    "{description}: match {matcher} against action={:?} urgency={} params={} context={} \
                     gave {actual}, expected {expected}",
                    request.action, request.urgency, request.params, request.context
                )
            })
        })
        .collect();
    assert_no_failures(table, failures);
}

// ---------------------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------------------

#[test]
fn literals_match_by_strict_equality() {
    check_match_table(
        "literal equality",
        vec![
            ("action equal", json!({"action": "send_email"}), req("send_email"), true),
            ("action differs", json!({"action": "send_email"}), req("send_sms"), false),
            ("action is case sensitive", json!({"action": "Send_Email"}), req("send_email"), false),
            ("action is not a prefix match", json!({"action": "send"}), req("send_email"), false),
            ("action is not trimmed", json!({"action": "send_email "}), req("send_email"), false),
            ("number equal", json!({"params.amount": 100}), req("pay").params(json!({"amount": 100})), true),
            ("integer equals float", json!({"params.amount": 100}), req("pay").params(json!({"amount": 100.0})), true),
            ("float equal", json!({"params.amount": 2.5}), req("pay").params(json!({"amount": 2.5})), true),
            ("number differs", json!({"params.amount": 100}), req("pay").params(json!({"amount": 100.5})), false),
            ("negative number", json!({"params.delta": -3}), req("pay").params(json!({"delta": -3})), true),
            (
                "number rule, string value",
                json!({"params.amount": 100}),
                req("pay").params(json!({"amount": "100"})),
                false,
            ),
            (
                "string rule, number value",
                json!({"params.amount": "100"}),
                req("pay").params(json!({"amount": 100})),
                false,
            ),
            ("string value equal", json!({"params.env": "prod"}), req("deploy").params(json!({"env": "prod"})), true),
            (
                "string value is case sensitive",
                json!({"params.env": "prod"}),
                req("deploy").params(json!({"env": "PROD"})),
                false,
            ),
            ("empty string equal", json!({"params.note": ""}), req("x").params(json!({"note": ""})), true),
            ("empty string is not missing", json!({"params.note": ""}), req("x"), false),
            ("unicode string equal", json!({"params.who": "Zoë"}), req("x").params(json!({"who": "Zoë"})), true),
            ("bool true equal", json!({"params.dry_run": true}), req("x").params(json!({"dry_run": true})), true),
            ("bool false equal", json!({"params.dry_run": false}), req("x").params(json!({"dry_run": false})), true),
            ("bool differs", json!({"params.dry_run": true}), req("x").params(json!({"dry_run": false})), false),
            (
                "bool rule, string value",
                json!({"params.dry_run": true}),
                req("x").params(json!({"dry_run": "true"})),
                false,
            ),
            ("bool rule, number value", json!({"params.dry_run": true}), req("x").params(json!({"dry_run": 1})), false),
            ("number rule, bool value", json!({"params.flag": 0}), req("x").params(json!({"flag": false})), false),
            ("string rule, null value", json!({"params.note": "null"}), req("x").params(json!({"note": null})), false),
            (
                "literal never equals an object",
                json!({"params.meta": "{}"}),
                req("x").params(json!({"meta": {}})),
                false,
            ),
            (
                "literal never equals an array",
                json!({"params.tags": "a"}),
                req("x").params(json!({"tags": ["a"]})),
                false,
            ),
            ("number never equals an array", json!({"params.ids": 1}), req("x").params(json!({"ids": [1]})), false),
            (
                "every entry must hold (all hold)",
                json!({"action": "pay", "params.amount": 5, "urgency": "high"}),
                req("pay").params(json!({"amount": 5})).urgency(Urgency::High),
                true,
            ),
            (
                "every entry must hold (one fails)",
                json!({"action": "pay", "params.amount": 5, "urgency": "high"}),
                req("pay").params(json!({"amount": 5})),
                false,
            ),
        ],
    );
}

#[test]
fn urgency_and_status_are_matchable() {
    let mut cases: Vec<MatchCase> = Urgency::ALL
        .into_iter()
        .flat_map(|u| {
            [
                ("urgency equals its own name", json!({"urgency": u.as_str()}), req("x").urgency(u), true),
                (
                    "urgency is case sensitive",
                    json!({"urgency": u.as_str().to_uppercase()}),
                    req("x").urgency(u),
                    false,
                ),
            ]
        })
        .collect();
    cases.extend([
        ("default urgency is normal", json!({"urgency": "normal"}), req("x"), true),
        ("urgency differs", json!({"urgency": "critical"}), req("x").urgency(Urgency::High), false),
        ("urgency $in", json!({"urgency": {"$in": ["high", "critical"]}}), req("x").urgency(Urgency::Critical), true),
        ("urgency $in miss", json!({"urgency": {"$in": ["high", "critical"]}}), req("x").urgency(Urgency::Low), false),
        ("urgency $regex", json!({"urgency": {"$regex": "^(high|critical)$"}}), req("x").urgency(Urgency::High), true),
        ("urgency is not a number", json!({"urgency": {"$gte": 0}}), req("x").urgency(Urgency::High), false),
        ("status is always pending", json!({"status": "pending"}), req("x"), true),
        ("status is never approved", json!({"status": "approved"}), req("x"), false),
        ("status is never denied", json!({"status": "denied"}), req("x"), false),
        ("status $in", json!({"status": {"$in": ["pending"]}}), req("x"), true),
        ("status $regex", json!({"status": {"$regex": "pend"}}), req("x"), true),
    ]);
    check_match_table("urgency and status", cases);
}

#[test]
fn comparisons_need_numbers() {
    let amount = |v: Value| req("pay").params(json!({ "amount": v }));
    check_match_table(
        "comparisons",
        vec![
            ("$lt below", json!({"amount": {"$lt": 100}}), amount(json!(99)), true),
            ("$lt equal", json!({"amount": {"$lt": 100}}), amount(json!(100)), false),
            ("$lt above", json!({"amount": {"$lt": 100}}), amount(json!(101)), false),
            ("$lt float", json!({"amount": {"$lt": 100}}), amount(json!(99.999)), true),
            ("$lte equal", json!({"amount": {"$lte": 100}}), amount(json!(100)), true),
            ("$lte above", json!({"amount": {"$lte": 100}}), amount(json!(100.5)), false),
            ("$gt above", json!({"amount": {"$gt": 100}}), amount(json!(101)), true),
            ("$gt equal", json!({"amount": {"$gt": 100}}), amount(json!(100)), false),
            ("$gt below", json!({"amount": {"$gt": 100}}), amount(json!(-100)), false),
            ("$gte equal", json!({"amount": {"$gte": 100}}), amount(json!(100)), true),
            ("$gte just below", json!({"amount": {"$gte": 100}}), amount(json!(99.99)), false),
            ("$gt negative bound", json!({"amount": {"$gt": -1}}), amount(json!(-0.5)), true),
            ("$lt float bound", json!({"amount": {"$lt": 0.5}}), amount(json!(0.25)), true),
            ("integer value against float bound", json!({"amount": {"$gte": 2.5}}), amount(json!(3)), true),
            ("big integers compare", json!({"amount": {"$gt": 1_000_000_000_000_i64}}), amount(json!(u64::MAX)), true),
            ("numeric string fails $lt", json!({"amount": {"$lt": 100}}), amount(json!("50")), false),
            ("numeric string fails $gte", json!({"amount": {"$gte": 0}}), amount(json!("50")), false),
            ("bool fails $gte", json!({"amount": {"$gte": 0}}), amount(json!(true)), false),
            ("null fails $lte", json!({"amount": {"$lte": 0}}), amount(json!(null)), false),
            ("array fails $lt", json!({"amount": {"$lt": 100}}), amount(json!([1])), false),
            ("object fails $lt", json!({"amount": {"$lt": 100}}), amount(json!({"value": 1})), false),
            ("missing fails $lt", json!({"amount": {"$lt": 100}}), req("pay"), false),
            ("action is never a number", json!({"action": {"$gt": 0}}), req("123"), false),
        ],
    );
}

#[test]
fn several_operators_must_all_hold() {
    let amount = |v: Value| req("pay").params(json!({ "amount": v }));
    let open = json!({"amount": {"$gt": 5, "$lt": 10}});
    let closed = json!({"amount": {"$gte": 5, "$lte": 10}});
    check_match_table(
        "operator conjunctions",
        vec![
            ("open range inside", open.clone(), amount(json!(7)), true),
            ("open range lower bound", open.clone(), amount(json!(5)), false),
            ("open range upper bound", open.clone(), amount(json!(10)), false),
            // The reference only checked `$lt` here, so 3 matched there.
            ("open range below (reference matched)", open.clone(), amount(json!(3)), false),
            ("open range above", open.clone(), amount(json!(12)), false),
            ("open range with a string", open, amount(json!("7")), false),
            ("closed range lower bound", closed.clone(), amount(json!(5)), true),
            ("closed range upper bound", closed.clone(), amount(json!(10)), true),
            ("closed range outside", closed, amount(json!(10.01)), false),
            ("empty range never matches", json!({"amount": {"$gt": 10, "$lt": 5}}), amount(json!(7)), false),
            ("three bounds", json!({"amount": {"$gt": 0, "$lt": 100, "$lte": 50}}), amount(json!(50)), true),
            (
                "three bounds, one fails",
                json!({"amount": {"$gt": 0, "$lt": 100, "$lte": 50}}),
                amount(json!(60)),
                false,
            ),
            ("range and $in, both hold", json!({"amount": {"$gt": 0, "$in": [1, 2, 3]}}), amount(json!(2)), true),
            ("range and $in, range fails", json!({"amount": {"$gt": 2, "$in": [1, 2, 3]}}), amount(json!(2)), false),
            (
                "$regex and $in, both hold",
                json!({"action": {"$regex": "^read", "$in": ["read_file", "write_file"]}}),
                req("read_file"),
                true,
            ),
            (
                "$regex and $in, regex fails",
                json!({"action": {"$regex": "^read", "$in": ["read_file", "write_file"]}}),
                req("write_file"),
                false,
            ),
            (
                "$regex and $in, $in fails",
                json!({"action": {"$regex": "^read", "$in": ["read_file", "write_file"]}}),
                req("read_dir"),
                false,
            ),
            (
                "two keys with ranges",
                json!({"params.amount": {"$gte": 10}, "params.count": {"$lt": 3}}),
                req("pay").params(json!({"amount": 10, "count": 2})),
                true,
            ),
            (
                "two keys with ranges, second fails",
                json!({"params.amount": {"$gte": 10}, "params.count": {"$lt": 3}}),
                req("pay").params(json!({"amount": 10, "count": 3})),
                false,
            ),
        ],
    );
}

#[test]
fn in_is_strict_membership() {
    let value = |v: Value| req("x").params(json!({ "v": v }));
    check_match_table(
        "$in",
        vec![
            ("action in list", json!({"action": {"$in": ["read_file", "list_dir"]}}), req("list_dir"), true),
            ("action not in list", json!({"action": {"$in": ["read_file", "list_dir"]}}), req("delete_db"), false),
            ("action in list is case sensitive", json!({"action": {"$in": ["READ_FILE"]}}), req("read_file"), false),
            ("number in list", json!({"v": {"$in": [1, 2, 3]}}), value(json!(2)), true),
            ("float in list", json!({"v": {"$in": [1, 2, 3]}}), value(json!(2.0)), true),
            ("number not in list", json!({"v": {"$in": [1, 2, 3]}}), value(json!(4)), false),
            ("numeric string not in number list", json!({"v": {"$in": [1, 2, 3]}}), value(json!("2")), false),
            ("number not in string list", json!({"v": {"$in": ["1", "2"]}}), value(json!(1)), false),
            ("mixed list, string", json!({"v": {"$in": [1, "two", true]}}), value(json!("two")), true),
            ("mixed list, bool", json!({"v": {"$in": [1, "two", true]}}), value(json!(true)), true),
            ("bool list, string value", json!({"v": {"$in": [true]}}), value(json!("true")), false),
            ("bool list, number value", json!({"v": {"$in": [true]}}), value(json!(1)), false),
            ("empty list never matches", json!({"v": {"$in": []}}), value(json!("a")), false),
            ("array value is not flattened", json!({"v": {"$in": ["a"]}}), value(json!(["a"])), false),
            ("null value", json!({"v": {"$in": ["null"]}}), value(json!(null)), false),
            ("missing value", json!({"v": {"$in": ["a"]}}), req("x"), false),
        ],
    );
}

#[test]
fn regex_is_unanchored_and_strings_only() {
    let value = |v: Value| req("x").params(json!({ "v": v }));
    check_match_table(
        "$regex",
        vec![
            ("unanchored, matches inside", json!({"action": {"$regex": "delete"}}), req("db_delete_all"), true),
            ("anchored start", json!({"action": {"$regex": "^delete"}}), req("db_delete"), false),
            ("anchored end", json!({"action": {"$regex": "_all$"}}), req("db_delete_all"), true),
            ("fully anchored", json!({"action": {"$regex": "^db_(read|list)$"}}), req("db_list"), true),
            ("fully anchored, longer input", json!({"action": {"$regex": "^db_(read|list)$"}}), req("db_list2"), false),
            ("case sensitive by default", json!({"action": {"$regex": "DELETE"}}), req("delete"), false),
            ("inline case-insensitive flag", json!({"action": {"$regex": "(?i)DELETE"}}), req("delete"), true),
            ("empty pattern matches any string", json!({"action": {"$regex": ""}}), req("anything"), true),
            ("dot-star matches the empty string", json!({"v": {"$regex": ".*"}}), value(json!("")), true),
            ("escaped dot", json!({"v": {"$regex": "^a\\.b$"}}), value(json!("axb")), false),
            ("unicode class", json!({"v": {"$regex": "^\\w+$"}}), value(json!("Zoë")), true),
            (
                "path-like value",
                json!({"params.path": {"$regex": "^/etc/"}}),
                req("x").params(json!({"path": "/etc/passwd"})),
                true,
            ),
            (
                "context value",
                json!({"context.agent": {"$regex": "^bot-"}}),
                req("x").context(json!({"agent": "bot-7"})),
                true,
            ),
            ("number value fails", json!({"v": {"$regex": "1"}}), value(json!(123)), false),
            ("bool value fails", json!({"v": {"$regex": "true"}}), value(json!(true)), false),
            ("null value fails", json!({"v": {"$regex": "null"}}), value(json!(null)), false),
            ("array value fails", json!({"v": {"$regex": "a"}}), value(json!(["a"])), false),
            ("object value fails", json!({"v": {"$regex": "a"}}), value(json!({"a": "a"})), false),
            ("missing value fails, even for .*", json!({"v": {"$regex": ".*"}}), req("x"), false),
        ],
    );
}

#[test]
fn paths_reach_into_params_and_context() {
    let params = json!({
        "amount": 250,
        "user": {"role": "admin", "profile": {"country": "NZ"}},
        "items": ["a", "b", {"sku": "X-1", "qty": 3}],
        "matrix": [[1, 2], [3, 4]],
        "flag": null,
        "dotted.key": "v",
    });
    let context = json!({"agent": "bot-1", "env": {"region": "eu-west-1", "tier": 2}});
    let r = || req("act").params(params.clone()).context(context.clone());
    check_match_table(
        "paths",
        vec![
            ("params top level", json!({"params.amount": 250}), r(), true),
            ("params nested", json!({"params.user.role": "admin"}), r(), true),
            ("params deeply nested", json!({"params.user.profile.country": "NZ"}), r(), true),
            ("params nested differs", json!({"params.user.role": "viewer"}), r(), false),
            ("context top level", json!({"context.agent": "bot-1"}), r(), true),
            ("context nested", json!({"context.env.region": "eu-west-1"}), r(), true),
            ("context nested number", json!({"context.env.tier": {"$gte": 2}}), r(), true),
            ("array index 0", json!({"params.items.0": "a"}), r(), true),
            ("array index 1", json!({"params.items.1": "b"}), r(), true),
            ("array index then key", json!({"params.items.2.sku": "X-1"}), r(), true),
            ("array index then key with operator", json!({"params.items.2.qty": {"$gt": 2}}), r(), true),
            ("nested arrays", json!({"params.matrix.1.0": 3}), r(), true),
            ("array index out of range", json!({"params.items.3": "a"}), r(), false),
            ("array index not a number", json!({"params.items.first": "a"}), r(), false),
            ("negative array index", json!({"params.items.-1": "b"}), r(), false),
            ("bare alias array index", json!({"items.0": "a"}), r(), true),
            ("missing top-level param", json!({"params.nope": "x"}), r(), false),
            ("missing nested param", json!({"params.user.email": "x"}), r(), false),
            ("missing context key", json!({"context.user": "x"}), r(), false),
            ("path through a number", json!({"params.amount.value": 250}), r(), false),
            ("path through a string", json!({"params.user.role.0": "a"}), r(), false),
            ("path through null", json!({"params.flag.x": "y"}), r(), false),
            ("keys with dots are not addressable", json!({"params.dotted.key": "v"}), r(), false),
            ("null context", json!({"context.agent": "bot-1"}), req("act").context(Value::Null), false),
            ("null params", json!({"params.amount": 250}), req("act").params(Value::Null), false),
            ("params that is an array", json!({"params.0": "a"}), req("act").params(json!(["a"])), true),
            ("bare `params` is the whole object", json!({"params": "x"}), req("act").params(json!("x")), true),
        ],
    );
}

#[test]
fn bare_keys_alias_params_only() {
    let r = || {
        req("pay")
            .params(json!({"amount": 100, "user": {"role": "admin"}, "currency": "NZD"}))
            .context(json!({"agent": "bot-1", "currency": "USD"}))
    };
    check_match_table(
        "bare keys",
        vec![
            ("bare key means params", json!({"amount": 100}), r(), true),
            ("bare key with operator", json!({"amount": {"$gt": 50, "$lte": 100}}), r(), true),
            ("bare key with $in", json!({"currency": {"$in": ["NZD", "AUD"]}}), r(), true),
            ("bare nested path", json!({"user.role": "admin"}), r(), true),
            ("bare key and params path agree", json!({"amount": 100, "params.amount": 100}), r(), true),
            ("bare key is strict too", json!({"amount": "100"}), r(), false),
            ("bare key never reads context", json!({"agent": "bot-1"}), r(), false),
            ("bare key prefers params over context", json!({"currency": "USD"}), r(), false),
            ("missing bare key", json!({"id": "req_1"}), r(), false),
        ],
    );
}

#[test]
fn params_never_shadow_the_real_fields() {
    check_match_table(
        "shadowing",
        vec![
            (
                "params.action cannot impersonate the action",
                json!({"action": "read_file"}),
                req("delete_db").params(json!({"action": "read_file"})),
                false,
            ),
            (
                "params.action cannot impersonate the action through $in",
                json!({"action": {"$in": ["read_file"]}}),
                req("delete_db").params(json!({"action": "read_file"})),
                false,
            ),
            (
                "params.action cannot impersonate the action through $regex",
                json!({"action": {"$regex": "^read_"}}),
                req("delete_db").params(json!({"action": "read_file"})),
                false,
            ),
            (
                "the real action still matches when params.action differs",
                json!({"action": "delete_db"}),
                req("delete_db").params(json!({"action": "read_file"})),
                true,
            ),
            (
                "params.action is reachable explicitly",
                json!({"params.action": "read_file"}),
                req("delete_db").params(json!({"action": "read_file"})),
                true,
            ),
            (
                "params.urgency cannot impersonate the urgency",
                json!({"urgency": "low"}),
                req("x").urgency(Urgency::Critical).params(json!({"urgency": "low"})),
                false,
            ),
            (
                "the real urgency still matches",
                json!({"urgency": "critical"}),
                req("x").urgency(Urgency::Critical).params(json!({"urgency": "low"})),
                true,
            ),
            (
                "params.status cannot impersonate the status",
                json!({"status": "approved"}),
                req("x").params(json!({"status": "approved"})),
                false,
            ),
            (
                "status stays pending whatever params say",
                json!({"status": "pending"}),
                req("x").params(json!({"status": "approved"})),
                true,
            ),
            (
                "a param named context does not replace context",
                json!({"context.agent": "trusted"}),
                req("x").params(json!({"context": {"agent": "trusted"}})).context(json!({"agent": "rogue"})),
                false,
            ),
            (
                "a param named params does not replace params",
                json!({"params.amount": 1}),
                req("x").params(json!({"params": {"amount": 1}, "amount": 1_000_000})),
                false,
            ),
            (
                "a param named params is reachable explicitly",
                json!({"params.params.amount": 1}),
                req("x").params(json!({"params": {"amount": 1}})),
                true,
            ),
            (
                "shadowing attempt combined with a genuine condition",
                json!({"action": "read_file", "params.path": "/tmp/x"}),
                req("delete_db").params(json!({"action": "read_file", "path": "/tmp/x"})),
                false,
            ),
        ],
    );
}

#[test]
fn empty_match_is_a_catch_all() {
    let catch_all = json!({});
    check_match_table(
        "catch-all",
        vec![
            ("plain request", catch_all.clone(), req("anything"), true),
            ("empty action", catch_all.clone(), req(""), true),
            (
                "critical with params",
                catch_all.clone(),
                req("x").urgency(Urgency::Critical).params(json!({"a": 1})),
                true,
            ),
            ("null params and context", catch_all, req("x").params(Value::Null).context(Value::Null), true),
        ],
    );
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation order
// ---------------------------------------------------------------------------------------------------------

/// A policy body with the given priority and rules.
fn body(name: &str, priority: Option<i64>, rules: Value) -> Value {
    match priority {
        Some(p) => json!({"name": name, "priority": p, "rules": rules}),
        None => json!({"name": name, "rules": rules}),
    }
}

fn catch_all(decision: &str) -> Value {
    json!([{"match": {}, "decision": decision}])
}

/// One evaluation case: description, `(id, body)` policies in the given order, request, expected decision,
/// expected `(policy id, rule index)` of the deciding rule.
type OrderCase = (&'static str, Vec<(&'static str, Value)>, Req, DecisionType, Option<(&'static str, usize)>);

#[test]
fn evaluation_order() {
    use DecisionType::*;
    let cases: Vec<OrderCase> = vec![
        ("no policies routes to a human", vec![], req("x"), RouteToHuman, None),
        (
            "no matching rule routes to a human",
            vec![("a", body("a", None, json!([{"match": {"action": "y"}, "decision": "auto_approve"}])))],
            req("x"),
            RouteToHuman,
            None,
        ),
        (
            "a policy with no rules matches nothing",
            vec![("a", body("a", None, json!([])))],
            req("x"),
            RouteToHuman,
            None,
        ),
        (
            "lower priority number goes first",
            vec![
                ("late", body("late", Some(10), catch_all("auto_deny"))),
                ("early", body("early", Some(5), catch_all("auto_approve"))),
            ],
            req("x"),
            AutoApprove,
            Some(("early", 0)),
        ),
        (
            "negative priorities precede zero",
            vec![
                ("zero", body("zero", Some(0), catch_all("auto_approve"))),
                ("neg", body("neg", Some(-5), catch_all("auto_deny"))),
            ],
            req("x"),
            AutoDeny,
            Some(("neg", 0)),
        ),
        (
            "default priority 100 goes after 99",
            vec![
                ("default", body("default", None, catch_all("auto_approve"))),
                ("p99", body("p99", Some(99), catch_all("auto_deny"))),
            ],
            req("x"),
            AutoDeny,
            Some(("p99", 0)),
        ),
        (
            "default priority 100 goes before 101",
            vec![
                ("p101", body("p101", Some(101), catch_all("auto_deny"))),
                ("default", body("default", None, catch_all("auto_approve"))),
            ],
            req("x"),
            AutoApprove,
            Some(("default", 0)),
        ),
        (
            "a non-matching earlier policy passes to the next",
            vec![
                ("first", body("first", Some(1), json!([{"match": {"action": "other"}, "decision": "auto_deny"}]))),
                ("second", body("second", Some(2), catch_all("auto_deny"))),
            ],
            req("x"),
            AutoDeny,
            Some(("second", 0)),
        ),
        (
            "first matching rule in a policy wins",
            vec![(
                "p",
                body(
                    "p",
                    None,
                    json!([
                        {"match": {"action": "x"}, "decision": "auto_deny"},
                        {"match": {}, "decision": "auto_approve"},
                    ]),
                ),
            )],
            req("x"),
            AutoDeny,
            Some(("p", 0)),
        ),
        (
            "a later rule decides when the earlier ones miss",
            vec![(
                "p",
                body(
                    "p",
                    None,
                    json!([
                        {"match": {"action": "a"}, "decision": "auto_deny"},
                        {"match": {"action": "b"}, "decision": "route_to_human"},
                        {"match": {"action": "x"}, "decision": "auto_approve"},
                        {"match": {}, "decision": "auto_deny"},
                    ]),
                ),
            )],
            req("x"),
            AutoApprove,
            Some(("p", 2)),
        ),
        (
            "a catch-all in an earlier policy beats a specific rule in a later one",
            vec![
                (
                    "specific",
                    body("specific", Some(2), json!([{"match": {"action": "x"}, "decision": "auto_approve"}])),
                ),
                ("broad", body("broad", Some(1), catch_all("route_to_human"))),
            ],
            req("x"),
            RouteToHuman,
            Some(("broad", 0)),
        ),
        (
            "rule order inside a policy is not re-sorted",
            vec![(
                "p",
                body(
                    "p",
                    None,
                    json!([
                        {"match": {}, "decision": "route_to_human"},
                        {"match": {"action": "x"}, "decision": "auto_approve"},
                    ]),
                ),
            )],
            req("x"),
            RouteToHuman,
            Some(("p", 0)),
        ),
        (
            "equal priorities keep the given order (a first)",
            vec![
                ("a", body("a", Some(50), catch_all("auto_approve"))),
                ("b", body("b", Some(50), catch_all("auto_deny"))),
            ],
            req("x"),
            AutoApprove,
            Some(("a", 0)),
        ),
        (
            "equal priorities keep the given order (b first)",
            vec![
                ("b", body("b", Some(50), catch_all("auto_deny"))),
                ("a", body("a", Some(50), catch_all("auto_approve"))),
            ],
            req("x"),
            AutoDeny,
            Some(("b", 0)),
        ),
        (
            "equal priorities keep the given order among others",
            vec![
                ("t1", body("t1", Some(7), json!([{"match": {"action": "y"}, "decision": "auto_deny"}]))),
                ("late", body("late", Some(9), catch_all("auto_deny"))),
                ("t2", body("t2", Some(7), catch_all("route_to_human"))),
                ("early", body("early", Some(3), json!([{"match": {"action": "z"}, "decision": "auto_deny"}]))),
                ("t3", body("t3", Some(7), catch_all("auto_approve"))),
            ],
            req("x"),
            RouteToHuman,
            Some(("t2", 0)),
        ),
        (
            "request attributes select among policies",
            vec![
                (
                    "small",
                    body(
                        "small",
                        Some(1),
                        json!([{"match": {"action": "pay", "amount": {"$lt": 100}}, "decision": "auto_approve"}]),
                    ),
                ),
                (
                    "large",
                    body(
                        "large",
                        Some(2),
                        json!([{"match": {"action": "pay", "amount": {"$gte": 10000}}, "decision": "auto_deny"}]),
                    ),
                ),
                ("rest", body("rest", Some(3), catch_all("route_to_human"))),
            ],
            req("pay").params(json!({"amount": 50_000})),
            AutoDeny,
            Some(("large", 0)),
        ),
    ];

    let failures = cases
        .into_iter()
        .filter_map(|(description, policies, request, decision, matched)| {
            let set = set_of(&policies);
            assert_eq!(set.len(), policies.len());
            assert_eq!(set.is_empty(), policies.is_empty());
            let evaluation = set.evaluate(&request.input());
            let actual = (evaluation.decision, evaluation.matched.map(|m| (m.policy_id, m.rule_index)));
            (actual != (decision, matched))
                .then(|| format!("{description}: got {actual:?}, expected {:?}", (decision, matched)))
        })
        .collect();
    assert_no_failures("evaluation order", failures);
}

#[test]
fn equal_priorities_are_a_stable_sort_at_scale() {
    // Ten policies per priority, handed over in reverse priority order; within one priority the given order
    // must survive the sort.
    let policies: Vec<(String, i64)> = (0..50).map(|i| (format!("p{i:02}"), 4 - i / 10)).collect::<Vec<_>>();
    let set = PolicySet::new(
        policies
            .iter()
            .map(|(id, priority)| {
                compiled(id, &json!({"name": id, "priority": priority, "rules": [{"match": {"action": id}, "decision": "auto_approve"}]}))
            })
            .collect(),
    );
    let order: Vec<&str> = set.policy_ids();
    let mut expected: Vec<(&str, i64)> = policies.iter().map(|(id, p)| (id.as_str(), *p)).collect();
    expected.sort_by_key(|(_, p)| *p);
    assert_eq!(order, expected.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    assert_eq!(order[..3], ["p40", "p41", "p42"]);
}

#[test]
fn evaluation_reports_the_deciding_rule() {
    let first = body("Finance", Some(1), json!([{"match": {"action": "other"}, "decision": "auto_deny"}]));
    let second = json!({
        "name": "  Payments guard  ",
        "priority": 2,
        "rules": [
            {"match": {"action": "pay", "amount": {"$lt": 10}}, "decision": "auto_approve"},
            {
                "match": {"action": "pay", "amount": {"$gte": 10}},
                "decision": "route_to_human",
                "approvers": ["alice", "bob"],
                "channels": ["slack", "email"],
                "requireReason": true,
            },
        ],
    });
    let set = set_of(&[("pol_1", first), ("pol_2", second.clone())]);
    let request = req("pay").params(json!({"amount": 500}));
    let evaluation = set.evaluate(&request.input());
    assert_eq!(evaluation.decision, DecisionType::RouteToHuman);
    let matched = evaluation.matched.expect("the second rule of pol_2 matches");
    assert_eq!(matched.policy_id, "pol_2");
    assert_eq!(matched.policy_name, "Payments guard", "the name is reported trimmed");
    assert_eq!(matched.rule_index, 1);
    assert_eq!(matched.rule, &spec(&second).rules[1]);
    assert_eq!(matched.rule.decision, DecisionType::RouteToHuman);
    assert_eq!(matched.rule.approvers.as_deref(), Some(&["alice".to_owned(), "bob".to_owned()][..]));
    assert_eq!(matched.rule.channels.as_deref(), Some(&["slack".to_owned(), "email".to_owned()][..]));
    assert_eq!(matched.rule.require_reason, Some(true));
    assert_eq!(Value::Object(matched.rule.matcher.clone()), json!({"action": "pay", "amount": {"$gte": 10}}));

    // The first rule of the same policy, which carries no optional fields.
    let small = req("pay").params(json!({"amount": 5}));
    let evaluation = set.evaluate(&small.input());
    let matched = evaluation.matched.expect("the first rule of pol_2 matches");
    assert_eq!((evaluation.decision, matched.policy_id, matched.rule_index), (DecisionType::AutoApprove, "pol_2", 0));
    assert_eq!((&matched.rule.approvers, &matched.rule.channels, matched.rule.require_reason), (&None, &None, None));

    // Nothing matches: no rule is reported.
    let other = req("refund");
    let evaluation = set.evaluate(&other.input());
    assert_eq!(evaluation.decision, DecisionType::RouteToHuman);
    assert!(evaluation.matched.is_none());
}

#[test]
fn each_decision_type_is_returned_as_written() {
    for decision in DecisionType::ALL {
        let set = set_of(&[("p", body("p", None, catch_all(decision.as_str())))]);
        let request = req("x");
        let evaluation = set.evaluate(&request.input());
        assert_eq!(evaluation.decision, decision);
        assert_eq!(evaluation.matched.map(|m| m.rule.decision), Some(decision));
    }
}

#[test]
fn disabled_policies_never_decide() {
    let disabled =
        json!({"name": "off", "priority": 1, "enabled": false, "rules": [{"match": {}, "decision": "auto_deny"}]});
    let enabled = json!({"name": "on", "priority": 2, "rules": [{"match": {}, "decision": "auto_approve"}]});
    let specs = [("off", spec(&disabled)), ("on", spec(&enabled))];
    assert!(!specs[0].1.enabled);
    let request = req("x");

    // Handed to the set unfiltered, the disabled policy is left out.
    let set =
        PolicySet::new(specs.iter().map(|(id, s)| CompiledPolicy::compile(id, 1, s).expect("compiles")).collect());
    assert_eq!(set.len(), 1);
    let evaluation = set.evaluate(&request.input());
    assert_eq!((evaluation.decision, evaluation.matched.map(|m| m.policy_id)), (DecisionType::AutoApprove, Some("on")));

    // With every policy disabled, the request goes to a human.
    let none = PolicySet::new(vec![CompiledPolicy::compile("off", 1, &specs[0].1).expect("compiles")]);
    assert!(none.is_empty());
    let evaluation = none.evaluate(&request.input());
    assert_eq!(evaluation.decision, DecisionType::RouteToHuman);
    assert!(evaluation.matched.is_none());
    assert!(PolicySet::default().evaluate(&request.input()).matched.is_none());
}

// ---------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------

/// A valid body whose only rule has this `match` object.
fn with_match(matcher: Value) -> Value {
    json!({"name": "p", "rules": [{"match": matcher, "decision": "auto_approve"}]})
}

/// A valid body whose only rule is this one.
fn with_rule(rule: Value) -> Value {
    json!({"name": "p", "rules": [rule]})
}

const DECISION_ERROR: &str = "rules[0].decision must be one of: auto_approve, auto_deny, route_to_human";
const MATCHER_TYPE_ERROR: &str = "a matcher must be a string, number, boolean or an object of operators";
const IN_ERROR: &str = "$in needs an array of strings, numbers or booleans";
const PRIORITY_RANGE_ERROR: &str = "priority must be an integer between -1000000000 and 1000000000";

/// How an expected error message is compared.
enum Expect {
    Exactly(String),
    /// Starts with the first string and contains the second (for messages quoting the regex crate).
    StartsWithContaining(&'static str, &'static str),
}

fn exactly(message: impl Into<String>) -> Expect {
    Expect::Exactly(message.into())
}

#[test]
fn invalid_policies_are_rejected_with_their_place() {
    let long_regex = "a".repeat(MAX_REGEX_LEN + 1);
    let cases: Vec<(&str, Value, Expect)> = vec![
        // The body and its top-level fields.
        ("body is an array", json!([]), exactly("request body must be a JSON object")),
        ("body is a string", json!("policy"), exactly("request body must be a JSON object")),
        ("body is null", Value::Null, exactly("request body must be a JSON object")),
        ("name missing", json!({"rules": []}), exactly("name is required and must be a non-empty string")),
        ("name empty", json!({"name": "", "rules": []}), exactly("name is required and must be a non-empty string")),
        (
            "name blank",
            json!({"name": " \t\n ", "rules": []}),
            exactly("name is required and must be a non-empty string"),
        ),
        ("name a number", json!({"name": 5, "rules": []}), exactly("name is required and must be a non-empty string")),
        ("name null", json!({"name": null, "rules": []}), exactly("name is required and must be a non-empty string")),
        ("rules missing", json!({"name": "p"}), exactly("rules is required and must be an array")),
        ("rules null", json!({"name": "p", "rules": null}), exactly("rules is required and must be an array")),
        (
            "rules an object",
            json!({"name": "p", "rules": {"match": {}}}),
            exactly("rules is required and must be an array"),
        ),
        ("rules a string", json!({"name": "p", "rules": "[]"}), exactly("rules is required and must be an array")),
        (
            "priority a string",
            json!({"name": "p", "rules": [], "priority": "5"}),
            exactly("priority must be an integer"),
        ),
        (
            "priority a bool",
            json!({"name": "p", "rules": [], "priority": true}),
            exactly("priority must be an integer"),
        ),
        (
            "priority an array",
            json!({"name": "p", "rules": [], "priority": [1]}),
            exactly("priority must be an integer"),
        ),
        ("priority a fraction", json!({"name": "p", "rules": [], "priority": 1.5}), exactly(PRIORITY_RANGE_ERROR)),
        (
            "priority too large",
            json!({"name": "p", "rules": [], "priority": 1_000_000_001}),
            exactly(PRIORITY_RANGE_ERROR),
        ),
        (
            "priority too small",
            json!({"name": "p", "rules": [], "priority": -1_000_000_001}),
            exactly(PRIORITY_RANGE_ERROR),
        ),
        ("priority beyond i64", json!({"name": "p", "rules": [], "priority": u64::MAX}), exactly(PRIORITY_RANGE_ERROR)),
        ("enabled a string", json!({"name": "p", "rules": [], "enabled": "yes"}), exactly("enabled must be a boolean")),
        ("enabled a number", json!({"name": "p", "rules": [], "enabled": 1}), exactly("enabled must be a boolean")),
        // Rules.
        ("rule a number", json!({"name": "p", "rules": [5]}), exactly("rules[0] must be an object")),
        ("rule an array", json!({"name": "p", "rules": [[]]}), exactly("rules[0] must be an object")),
        (
            "second rule not an object",
            json!({"name": "p", "rules": [{"match": {}, "decision": "auto_deny"}, "x"]}),
            exactly("rules[1] must be an object"),
        ),
        (
            "match missing",
            with_rule(json!({"decision": "auto_deny"})),
            exactly("rules[0].match is required and must be an object"),
        ),
        (
            "match null",
            with_rule(json!({"match": null, "decision": "auto_deny"})),
            exactly("rules[0].match is required and must be an object"),
        ),
        (
            "match an array",
            with_rule(json!({"match": [], "decision": "auto_deny"})),
            exactly("rules[0].match is required and must be an object"),
        ),
        (
            "match a string",
            with_rule(json!({"match": "*", "decision": "auto_deny"})),
            exactly("rules[0].match is required and must be an object"),
        ),
        ("decision missing", with_rule(json!({"match": {}})), exactly(DECISION_ERROR)),
        ("decision unknown", with_rule(json!({"match": {}, "decision": "approve"})), exactly(DECISION_ERROR)),
        ("decision upper case", with_rule(json!({"match": {}, "decision": "AUTO_APPROVE"})), exactly(DECISION_ERROR)),
        ("decision a number", with_rule(json!({"match": {}, "decision": 1})), exactly(DECISION_ERROR)),
        (
            "approvers a string",
            with_rule(json!({"match": {}, "decision": "route_to_human", "approvers": "alice"})),
            exactly("rules[0].approvers must be an array of strings"),
        ),
        (
            "approvers with a number",
            with_rule(json!({"match": {}, "decision": "route_to_human", "approvers": ["alice", 5]})),
            exactly("rules[0].approvers must be an array of strings"),
        ),
        (
            "approvers with null",
            with_rule(json!({"match": {}, "decision": "route_to_human", "approvers": [null]})),
            exactly("rules[0].approvers must be an array of strings"),
        ),
        (
            "channels an object",
            with_rule(json!({"match": {}, "decision": "route_to_human", "channels": {"slack": true}})),
            exactly("rules[0].channels must be an array of strings"),
        ),
        (
            "channels nested arrays",
            with_rule(json!({"match": {}, "decision": "route_to_human", "channels": [["slack"]]})),
            exactly("rules[0].channels must be an array of strings"),
        ),
        (
            "requireReason a string",
            with_rule(json!({"match": {}, "decision": "route_to_human", "requireReason": "true"})),
            exactly("rules[0].requireReason must be a boolean"),
        ),
        (
            "requireReason a number",
            with_rule(json!({"match": {}, "decision": "route_to_human", "requireReason": 1})),
            exactly("rules[0].requireReason must be a boolean"),
        ),
        // Matchers.
        (
            "subfield of action",
            with_match(json!({"action.0": "a"})),
            exactly("rules[0].match.action.0: action is a string and has no fields"),
        ),
        (
            "subfield of urgency",
            with_match(json!({"urgency.length": 6})),
            exactly("rules[0].match.urgency.length: urgency is a string and has no fields"),
        ),
        (
            "subfield of status",
            with_match(json!({"status.x": "pending"})),
            exactly("rules[0].match.status.x: status is a string and has no fields"),
        ),
        (
            "unknown operator",
            with_match(json!({"amount": {"$gtt": 5}})),
            exactly(r#"rules[0].match.amount: unknown operator "$gtt""#),
        ),
        (
            "operator without $",
            with_match(json!({"amount": {"gt": 5}})),
            exactly(r#"rules[0].match.amount: unknown operator "gt""#),
        ),
        (
            "unsupported $eq",
            with_match(json!({"amount": {"$eq": 5}})),
            exactly(r#"rules[0].match.amount: unknown operator "$eq""#),
        ),
        (
            "unknown operator beside a known one",
            with_match(json!({"amount": {"$gt": 5, "$between": [1, 2]}})),
            exactly(r#"rules[0].match.amount: unknown operator "$between""#),
        ),
        (
            "nested match object is not an operator object",
            with_match(json!({"params": {"amount": 5}})),
            exactly(r#"rules[0].match.params: unknown operator "amount""#),
        ),
        (
            "$lt with a string",
            with_match(json!({"amount": {"$lt": "5"}})),
            exactly("rules[0].match.amount: $lt needs a number"),
        ),
        (
            "$gt with a string",
            with_match(json!({"amount": {"$gt": "5"}})),
            exactly("rules[0].match.amount: $gt needs a number"),
        ),
        (
            "$lte with null",
            with_match(json!({"amount": {"$lte": null}})),
            exactly("rules[0].match.amount: $lte needs a number"),
        ),
        (
            "$gte with a bool",
            with_match(json!({"amount": {"$gte": true}})),
            exactly("rules[0].match.amount: $gte needs a number"),
        ),
        (
            "$gte with an array",
            with_match(json!({"amount": {"$gte": [1]}})),
            exactly("rules[0].match.amount: $gte needs a number"),
        ),
        (
            "bad bound in a range",
            with_match(json!({"amount": {"$gt": 5, "$lt": "10"}})),
            exactly("rules[0].match.amount: $lt needs a number"),
        ),
        (
            "$in with a string",
            with_match(json!({"action": {"$in": "read_file"}})),
            exactly(format!("rules[0].match.action: {IN_ERROR}")),
        ),
        (
            "$in with null",
            with_match(json!({"action": {"$in": null}})),
            exactly(format!("rules[0].match.action: {IN_ERROR}")),
        ),
        (
            "$in containing null",
            with_match(json!({"action": {"$in": ["a", null]}})),
            exactly(format!("rules[0].match.action: {IN_ERROR}")),
        ),
        (
            "$in containing an array",
            with_match(json!({"action": {"$in": [["a"]]}})),
            exactly(format!("rules[0].match.action: {IN_ERROR}")),
        ),
        (
            "$in containing an object",
            with_match(json!({"action": {"$in": [{}]}})),
            exactly(format!("rules[0].match.action: {IN_ERROR}")),
        ),
        (
            "$regex with a number",
            with_match(json!({"action": {"$regex": 5}})),
            exactly("rules[0].match.action: $regex needs a string"),
        ),
        (
            "$regex with an array",
            with_match(json!({"action": {"$regex": ["a"]}})),
            exactly("rules[0].match.action: $regex needs a string"),
        ),
        (
            "$regex unclosed group",
            with_match(json!({"action": {"$regex": "(delete"}})),
            Expect::StartsWithContaining("rules[0].match.action: invalid $regex: ", "unclosed group"),
        ),
        (
            "$regex unclosed class",
            with_match(json!({"action": {"$regex": "[a-"}})),
            Expect::StartsWithContaining("rules[0].match.action: invalid $regex: ", "unclosed character class"),
        ),
        (
            "$regex look-around is unsupported",
            with_match(json!({"action": {"$regex": "(?!admin)"}})),
            Expect::StartsWithContaining("rules[0].match.action: invalid $regex: ", "look-around"),
        ),
        (
            "$regex back-reference is unsupported",
            with_match(json!({"action": {"$regex": "(a)\\1"}})),
            Expect::StartsWithContaining("rules[0].match.action: invalid $regex: ", "backreferences"),
        ),
        (
            "$regex too long",
            with_match(json!({"action": {"$regex": long_regex}})),
            exactly("rules[0].match.action: $regex is longer than 1024 characters"),
        ),
        (
            "$regex compiles too big",
            with_match(json!({"action": {"$regex": "\\w{1000}"}})),
            Expect::StartsWithContaining("rules[0].match.action: invalid $regex: ", "size limit"),
        ),
        (
            "$regex nested repetition compiles too big",
            with_match(json!({"action": {"$regex": "(a{100}){100}"}})),
            Expect::StartsWithContaining("rules[0].match.action: invalid $regex: ", "size limit"),
        ),
        (
            "null matcher",
            with_match(json!({"amount": null})),
            exactly(format!("rules[0].match.amount: {MATCHER_TYPE_ERROR}")),
        ),
        (
            "array matcher",
            with_match(json!({"amount": [1, 2]})),
            exactly(format!("rules[0].match.amount: {MATCHER_TYPE_ERROR}")),
        ),
        (
            "empty array matcher",
            with_match(json!({"amount": []})),
            exactly(format!("rules[0].match.amount: {MATCHER_TYPE_ERROR}")),
        ),
        (
            "empty operator object",
            with_match(json!({"amount": {}})),
            exactly("rules[0].match.amount: an operator object needs at least one operator"),
        ),
        ("empty key", with_match(json!({"": 1})), exactly("rules[0].match.: empty segment in path")),
        ("double dot", with_match(json!({"params..x": 1})), exactly("rules[0].match.params..x: empty segment in path")),
        ("trailing dot", with_match(json!({"params.": 1})), exactly("rules[0].match.params.: empty segment in path")),
        ("leading dot", with_match(json!({".amount": 1})), exactly("rules[0].match..amount: empty segment in path")),
        (
            "the rule index is named",
            json!({"name": "p", "rules": [
                {"match": {}, "decision": "auto_deny"},
                {"match": {"action": "x"}, "decision": "auto_deny"},
                {"match": {"amount": {"$gtt": 5}}, "decision": "auto_deny"},
            ]}),
            exactly(r#"rules[2].match.amount: unknown operator "$gtt""#),
        ),
        (
            "the dotted key is named",
            with_match(json!({"context.env.tier": {"$in": 2}})),
            exactly(format!("rules[0].match.context.env.tier: {IN_ERROR}")),
        ),
    ];

    let failures = cases
        .into_iter()
        .filter_map(|(description, body, expected)| {
            let actual = match PolicySpec::from_json(&body) {
                Ok(spec) => return Some(format!("{description}: {body} was accepted as {spec:?}")),
                Err(PolicyError(message)) => message,
            };
            let ok = match &expected {
                Expect::Exactly(message) => actual == *message,
                Expect::StartsWithContaining(prefix, needle) => {
                    actual.starts_with(prefix) && actual.contains(needle) && !actual.contains('\n')
                }
            };
            let expected = match expected {
                Expect::Exactly(message) => format!("{message:?}"),
                Expect::StartsWithContaining(prefix, needle) => {
                    format!("{prefix:?}... containing {needle:?}")
                }
            };
            (!ok).then(|| format!("{description}: got {actual:?}, expected {expected}"))
        })
        .collect();
    assert_no_failures("invalid policies", failures);
}

#[test]
fn valid_policies_are_parsed_with_defaults() {
    let ok = |b: Value| spec(&b);

    let minimal = ok(json!({"name": "Finance", "rules": []}));
    assert_eq!(
        minimal,
        PolicySpec { name: "Finance".into(), rules: vec![], priority: DEFAULT_PRIORITY, enabled: true }
    );
    assert_eq!(DEFAULT_PRIORITY, 100);

    let trimmed = ok(json!({"name": "  \tFinance team \n", "rules": []}));
    assert_eq!(trimmed.name, "Finance team", "the name is trimmed at both ends, inner spaces kept");

    let nulls = ok(json!({"name": "p", "rules": [], "priority": null, "enabled": null}));
    assert_eq!((nulls.priority, nulls.enabled), (100, true), "null priority and enabled take the defaults");

    let table: Vec<(&str, Value, i64, bool)> = vec![
        ("zero priority", json!(0), 0, true),
        ("negative priority", json!(-5), -5, true),
        ("largest priority", json!(1_000_000_000), 1_000_000_000, true),
        ("smallest priority", json!(-1_000_000_000), -1_000_000_000, true),
    ];
    for (description, priority, expected, enabled) in table {
        let parsed = ok(json!({"name": "p", "rules": [], "priority": priority}));
        assert_eq!((parsed.priority, parsed.enabled), (expected, enabled), "{description}");
    }
    assert!(!ok(json!({"name": "p", "rules": [], "enabled": false})).enabled);
    assert!(ok(json!({"name": "p", "rules": [], "enabled": true})).enabled);

    // Unknown fields (such as those echoed back by a client on PUT) are ignored.
    let echoed = ok(json!({"id": "pol_1", "createdAt": "2024-01-01T00:00:00.000Z", "name": "p", "rules": []}));
    assert_eq!(echoed.name, "p");

    // Rule fields: optional ones absent or null are None; present ones are kept as written.
    let rules = ok(json!({"name": "p", "rules": [
        {"match": {}, "decision": "auto_approve"},
        {"match": {"action": "x"}, "decision": "route_to_human", "approvers": null, "channels": null, "requireReason": null},
        {
            "match": {"action": {"$regex": "^db_"}, "amount": {"$gt": 5, "$lt": 10}, "urgency": {"$in": ["high"]}},
            "decision": "route_to_human",
            "approvers": ["alice", ""],
            "channels": [],
            "requireReason": false,
            "comment": "ignored",
        },
    ]}))
    .rules;
    assert_eq!(rules.len(), 3);
    assert_eq!(
        rules[0],
        Rule {
            matcher: Map::new(),
            decision: DecisionType::AutoApprove,
            approvers: None,
            channels: None,
            require_reason: None
        }
    );
    assert_eq!((&rules[1].approvers, &rules[1].channels, rules[1].require_reason), (&None, &None, None));
    assert_eq!(rules[2].decision, DecisionType::RouteToHuman);
    assert_eq!(rules[2].approvers, Some(vec!["alice".to_owned(), String::new()]));
    assert_eq!(rules[2].channels, Some(vec![]));
    assert_eq!(rules[2].require_reason, Some(false));
    assert_eq!(
        Value::Object(rules[2].matcher.clone()),
        json!({"action": {"$regex": "^db_"}, "amount": {"$gt": 5, "$lt": 10}, "urgency": {"$in": ["high"]}})
    );
}

#[test]
fn regex_length_limit_is_inclusive() {
    let at_limit = "a".repeat(MAX_REGEX_LEN);
    let policy = compiled("p", &with_match(json!({"action": {"$regex": at_limit}})));
    let set = PolicySet::new(vec![policy]);
    let long = req(&format!("x{}", "a".repeat(MAX_REGEX_LEN)));
    assert!(set.evaluate(&long.input()).matched.is_some());
    assert!(set.evaluate(&req("aaa").input()).matched.is_none());
}

#[test]
fn compile_checks_rules_that_bypassed_from_json() {
    // Rules read back from storage are deserialised directly, so `compile` must reject them on its own.
    let rule: Rule = serde_json::from_value(json!({"match": {"amount": {"$gtt": 5}}, "decision": "auto_deny"}))
        .expect("the wire shape deserialises");
    let spec = PolicySpec {
        name: "p".into(),
        rules: vec![spec(&with_match(json!({}))).rules[0].clone(), rule],
        priority: 1,
        enabled: true,
    };
    let error = CompiledPolicy::compile("p", 1, &spec).expect_err("an unknown operator must not compile");
    assert_eq!(error, PolicyError(r#"rules[1].match.amount: unknown operator "$gtt""#.into()));
    assert_eq!(error.to_string(), r#"rules[1].match.amount: unknown operator "$gtt""#);
}

#[test]
fn rules_round_trip_on_the_wire() {
    let written = json!({
        "match": {"action": "pay", "amount": {"$lte": 10}},
        "decision": "route_to_human",
        "approvers": ["alice"],
        "requireReason": true,
    });
    let rule = spec(&with_rule(written.clone())).rules.remove(0);
    assert_eq!(serde_json::to_value(&rule).expect("serialises"), written, "absent channels stay absent");
    for decision in DecisionType::ALL {
        assert_eq!(serde_json::to_value(decision).expect("serialises"), json!(decision.as_str()));
        assert_eq!(decision.to_string(), decision.as_str());
        assert_eq!(DecisionType::parse(decision.as_str()), Some(decision));
    }
    assert_eq!(DecisionType::parse("Auto_Approve"), None);
}

#[test]
fn array_indexes_must_be_canonical_and_priorities_may_be_integral_floats() {
    let items = req("act").params(json!({"items": ["a", "b"]}));
    for (key, expected) in [("params.items.1", true), ("params.items.01", false), ("params.items.+1", false)] {
        let policy = spec(&json!({"name": "p", "rules": [{"match": {key: "b"}, "decision": "auto_approve"}]}));
        let set = PolicySet::new(vec![CompiledPolicy::compile("p", 1, &policy).expect("compiles")]);
        assert_eq!(set.evaluate(&items.input()).matched.is_some(), expected, "{key}");
    }
    assert_eq!(spec(&json!({"name": "p", "rules": [], "priority": 5.0})).priority, 5);
    assert!(PolicySpec::from_json(&json!({"name": "p", "rules": [], "priority": 5.5})).is_err());
    let wide = "é".repeat(MAX_REGEX_LEN);
    assert!(
        PolicySpec::from_json(
            &json!({"name": "p", "rules": [{"match": {"action": {"$regex": wide}}, "decision": "auto_deny"}]})
        )
        .is_ok()
    );
}

// ---------------------------------------------------------------------------------------------------------
// The richer language: more operators, globs, combinators, the missing-field rule
// ---------------------------------------------------------------------------------------------------------

#[test]
fn ne_and_nin_are_strict_and_need_the_field() {
    let value = |v: Value| req("x").params(json!({ "v": v }));
    check_match_table(
        "$ne and $nin",
        vec![
            ("$ne differs", json!({"v": {"$ne": "prod"}}), value(json!("staging")), true),
            ("$ne equal", json!({"v": {"$ne": "prod"}}), value(json!("prod")), false),
            ("$ne is strict: number vs string", json!({"v": {"$ne": 5}}), value(json!("5")), true),
            ("$ne number equal as float", json!({"v": {"$ne": 5}}), value(json!(5.0)), false),
            ("$ne bool", json!({"v": {"$ne": true}}), value(json!(false)), true),
            ("$ne against null", json!({"v": {"$ne": "x"}}), value(Value::Null), true),
            ("$ne against an array", json!({"v": {"$ne": "a"}}), value(json!(["a"])), true),
            ("$ne on a missing field never matches", json!({"v": {"$ne": "prod"}}), req("x"), false),
            ("$ne on the action", json!({"action": {"$ne": "delete_db"}}), req("read_file"), true),
            ("$ne on the action, equal", json!({"action": {"$ne": "delete_db"}}), req("delete_db"), false),
            ("$nin outside", json!({"v": {"$nin": ["a", "b"]}}), value(json!("c")), true),
            ("$nin inside", json!({"v": {"$nin": ["a", "b"]}}), value(json!("b")), false),
            ("$nin is strict", json!({"v": {"$nin": [1, 2]}}), value(json!("1")), true),
            ("$nin empty list always holds on a present field", json!({"v": {"$nin": []}}), value(json!(1)), true),
            ("$nin on a missing field never matches", json!({"v": {"$nin": ["a"]}}), req("x"), false),
            ("$nin empty list on a missing field", json!({"v": {"$nin": []}}), req("x"), false),
            ("urgency $nin", json!({"urgency": {"$nin": ["high", "critical"]}}), req("x"), true),
            (
                "urgency $nin, excluded",
                json!({"urgency": {"$nin": ["high", "critical"]}}),
                req("x").urgency(Urgency::Critical),
                false,
            ),
        ],
    );
}

#[test]
fn exists_is_the_only_way_to_match_a_missing_field() {
    let value = |v: Value| req("x").params(json!({ "v": v }));
    check_match_table(
        "$exists",
        vec![
            ("$exists true, present", json!({"v": {"$exists": true}}), value(json!("a")), true),
            ("$exists true, present null", json!({"v": {"$exists": true}}), value(Value::Null), true),
            ("$exists true, present false", json!({"v": {"$exists": true}}), value(json!(false)), true),
            ("$exists true, missing", json!({"v": {"$exists": true}}), req("x"), false),
            ("$exists false, missing", json!({"v": {"$exists": false}}), req("x"), true),
            ("$exists false, present", json!({"v": {"$exists": false}}), value(json!(0)), false),
            ("$exists false, present null", json!({"v": {"$exists": false}}), value(Value::Null), false),
            ("$exists false, path through a string", json!({"v.w": {"$exists": false}}), value(json!("s")), true),
            (
                "$exists false, array index out of range",
                json!({"params.v.5": {"$exists": false}}),
                value(json!([1])),
                true,
            ),
            (
                "$exists on context",
                json!({"context.agent": {"$exists": true}}),
                req("x").context(json!({"agent": 1})),
                true,
            ),
            ("action always exists", json!({"action": {"$exists": true}}), req(""), true),
            ("action is never missing", json!({"action": {"$exists": false}}), req("x"), false),
            ("$exists with a range, present", json!({"v": {"$exists": true, "$gt": 1}}), value(json!(2)), true),
            (
                "$exists false with another operator on a missing field",
                json!({"v": {"$exists": false, "$ne": 3}}),
                req("x"),
                false,
            ),
        ],
    );
}

#[test]
fn a_missing_field_satisfies_no_operator_but_exists_false() {
    // One row per operator: on a missing field (a typo, say) none of them may match.
    let operators = [
        json!("x"),
        json!(5),
        json!(true),
        json!({"$ne": "x"}),
        json!({"$ne": 5}),
        json!({"$nin": ["x"]}),
        json!({"$nin": []}),
        json!({"$in": ["x"]}),
        json!({"$lt": 1e300}),
        json!({"$gt": -1e300}),
        json!({"$lte": 1e300}),
        json!({"$gte": -1e300}),
        json!({"$regex": ""}),
        json!({"$regex": ".*"}),
        json!({"$glob": "*"}),
        json!({"$startsWith": ""}),
        json!({"$endsWith": ""}),
        json!({"$contains": ""}),
        json!({"$exists": true}),
    ];
    let request = req("pay").params(json!({"amount": 5, "to": "a@example.com"})).context(json!({"hour": 10}));
    let mut cases: Vec<MatchCase> = Vec::new();
    for key in ["params.amonut", "amonut", "context.hoour", "params.amount.value", "params.to.0"] {
        for op in &operators {
            cases.push(("missing field never matches", json!({ key: op }), request.clone(), false));
            // Nor does negating it: `not` of an unknown is unknown (`$exists` is the one operator that is defined
            // on a missing field, so its negation is covered below).
            if op.get("$exists").is_none() {
                cases.push((
                    "not of a missing field never matches",
                    json!({"not": { key: op }}),
                    request.clone(),
                    false,
                ));
            }
        }
        cases.push((
            "$exists false matches a missing field",
            json!({ key: {"$exists": false} }),
            request.clone(),
            true,
        ));
        cases.push((
            "not $exists true matches a missing field",
            json!({"not": { key: {"$exists": true} }}),
            request.clone(),
            true,
        ));
    }
    check_match_table("missing fields", cases);
}

#[test]
fn wrong_types_are_unknown_and_not_cannot_flip_them() {
    let amount = |v: Value| req("pay").params(json!({ "amount": v }));
    check_match_table(
        "type mismatches",
        vec![
            ("$gt on a string", json!({"amount": {"$gt": 100}}), amount(json!("5000")), false),
            ("not $gt on a string", json!({"not": {"amount": {"$gt": 100}}}), amount(json!("5000")), false),
            ("not $gt on a small number", json!({"not": {"amount": {"$gt": 100}}}), amount(json!(5)), true),
            ("not $gt on a big number", json!({"not": {"amount": {"$gt": 100}}}), amount(json!(500)), false),
            ("not $regex on a number", json!({"not": {"amount": {"$regex": "^9"}}}), amount(json!(9)), false),
            ("not $startsWith on null", json!({"not": {"amount": {"$startsWith": "x"}}}), amount(Value::Null), false),
            // Equality is defined across types (strict), so its negation is too.
            ("not literal on another type", json!({"not": {"amount": 5}}), amount(json!("5")), true),
            ("not $in on another type", json!({"not": {"amount": {"$in": [5]}}}), amount(json!("5")), true),
        ],
    );
}

#[test]
fn contains_starts_with_and_ends_with() {
    let value = |v: Value| req("x").params(json!({ "v": v }));
    check_match_table(
        "string and array operators",
        vec![
            ("$contains substring", json!({"v": {"$contains": "@corp"}}), value(json!("ann@corp.example")), true),
            (
                "$contains substring absent",
                json!({"v": {"$contains": "@corp"}}),
                value(json!("ann@example.com")),
                false,
            ),
            ("$contains is case sensitive", json!({"v": {"$contains": "CORP"}}), value(json!("corp")), false),
            ("$contains empty string", json!({"v": {"$contains": ""}}), value(json!("abc")), true),
            ("$contains array element", json!({"v": {"$contains": "b"}}), value(json!(["a", "b"])), true),
            ("$contains array element absent", json!({"v": {"$contains": "c"}}), value(json!(["a", "b"])), false),
            ("$contains array is strict", json!({"v": {"$contains": 1}}), value(json!(["1", 2])), false),
            ("$contains array number", json!({"v": {"$contains": 2}}), value(json!(["1", 2.0])), true),
            ("$contains array bool", json!({"v": {"$contains": true}}), value(json!([false, true])), true),
            (
                "$contains array is not a substring search",
                json!({"v": {"$contains": "a"}}),
                value(json!(["abc"])),
                false,
            ),
            ("$contains in nested arrays is not deep", json!({"v": {"$contains": "a"}}), value(json!([["a"]])), false),
            ("$contains number in a string", json!({"v": {"$contains": 1}}), value(json!("123")), false),
            ("$contains on a number", json!({"v": {"$contains": "1"}}), value(json!(123)), false),
            ("$contains on an object", json!({"v": {"$contains": "a"}}), value(json!({"a": 1})), false),
            ("$contains on the action", json!({"action": {"$contains": "delete"}}), req("db_delete_all"), true),
            ("$startsWith", json!({"v": {"$startsWith": "/tmp/"}}), value(json!("/tmp/x")), true),
            ("$startsWith no", json!({"v": {"$startsWith": "/tmp/"}}), value(json!("/etc/tmp/x")), false),
            ("$startsWith empty", json!({"v": {"$startsWith": ""}}), value(json!("")), true),
            ("$startsWith on a number", json!({"v": {"$startsWith": "1"}}), value(json!(12)), false),
            ("$startsWith on an array", json!({"v": {"$startsWith": "a"}}), value(json!(["a"])), false),
            ("$endsWith", json!({"v": {"$endsWith": "@corp.example"}}), value(json!("ann@corp.example")), true),
            (
                "$endsWith is not fooled by a longer domain",
                json!({"v": {"$endsWith": "@corp.example"}}),
                value(json!("ann@corp.example.evil.io")),
                false,
            ),
            ("$endsWith unicode", json!({"v": {"$endsWith": "ë"}}), value(json!("Zoë")), true),
            (
                "$startsWith and $endsWith both",
                json!({"v": {"$startsWith": "a", "$endsWith": "z"}}),
                value(json!("abz")),
                true,
            ),
            (
                "$startsWith and $endsWith, one fails",
                json!({"v": {"$startsWith": "a", "$endsWith": "z"}}),
                value(json!("abc")),
                false,
            ),
            (
                "urgency $startsWith",
                json!({"urgency": {"$startsWith": "crit"}}),
                req("x").urgency(Urgency::Critical),
                true,
            ),
        ],
    );
}

#[test]
fn globs_on_action_and_the_glob_operator() {
    let value = |v: Value| req("x").params(json!({ "v": v }));
    check_match_table(
        "globs",
        vec![
            ("action literal with * is a glob", json!({"action": "deploy:*"}), req("deploy:prod"), true),
            ("action glob is anchored at the start", json!({"action": "deploy:*"}), req("redeploy:prod"), false),
            ("action glob needs the prefix", json!({"action": "deploy:*"}), req("deploy"), false),
            ("action glob, empty run", json!({"action": "deploy:*"}), req("deploy:"), true),
            ("action glob in the middle", json!({"action": "db_*_all"}), req("db_drop_all"), true),
            ("action glob anchored at the end", json!({"action": "db_*_all"}), req("db_drop_all_now"), false),
            ("action glob with ?", json!({"action": "v?:*"}), req("v2:deploy"), true),
            ("action glob ? is one character", json!({"action": "v?:*"}), req("v10:deploy"), false),
            ("action glob * alone matches everything", json!({"action": "*"}), req(""), true),
            ("action literal without * is exact", json!({"action": "deploy:?"}), req("deploy:x"), false),
            ("action literal without * matches itself", json!({"action": "deploy:?"}), req("deploy:?"), true),
            ("a params literal with * is not a glob", json!({"v": "a*"}), value(json!("abc")), false),
            ("a params literal with * equals itself", json!({"v": "a*"}), value(json!("a*")), true),
            ("$in members are not globs", json!({"action": {"$in": ["deploy:*"]}}), req("deploy:prod"), false),
            ("$glob on params", json!({"v": {"$glob": "*.example.com"}}), value(json!("api.example.com")), true),
            (
                "$glob on params, anchored",
                json!({"v": {"$glob": "*.example.com"}}),
                value(json!("api.example.com.evil")),
                false,
            ),
            ("$glob on a number", json!({"v": {"$glob": "*"}}), value(json!(1)), false),
            ("$glob on the action", json!({"action": {"$glob": "read_*"}}), req("read_file"), true),
            ("$glob without wildcards is equality", json!({"v": {"$glob": "abc"}}), value(json!("abc")), true),
            ("$glob is case sensitive", json!({"v": {"$glob": "A*"}}), value(json!("abc")), false),
        ],
    );
}

#[test]
fn combinators_nest() {
    let pay = |amount: Value, to: &str| req("pay").params(json!({"amount": amount, "to": to}));
    let small_or_internal = json!({"action": "pay", "any": [
        {"params.amount": {"$lte": 100}},
        {"params.to": {"$endsWith": "@corp.example"}},
    ]});
    let both = json!({"all": [{"params.amount": {"$gt": 0}}, {"params.amount": {"$lt": 10}}]});
    let nested = json!({"any": [
        {"all": [{"action": "deploy"}, {"params.env": {"$in": ["dev", "staging"]}}]},
        {"all": [{"action": "deploy"}, {"not": {"any": [{"urgency": "critical"}, {"params.env": "prod"}]}}]},
    ]});
    let deploy = |env: &str| req("deploy").params(json!({ "env": env }));
    check_match_table(
        "combinators",
        vec![
            ("any: first alternative", small_or_internal.clone(), pay(json!(50), "x@else.example"), true),
            ("any: second alternative", small_or_internal.clone(), pay(json!(5000), "ann@corp.example"), true),
            ("any: both alternatives", small_or_internal.clone(), pay(json!(5), "ann@corp.example"), true),
            ("any: neither", small_or_internal.clone(), pay(json!(5000), "x@else.example"), false),
            (
                "any: beside action, action fails",
                small_or_internal.clone(),
                req("refund").params(json!({"amount": 5})),
                false,
            ),
            (
                "any: one alternative missing, other holds",
                small_or_internal,
                req("pay").params(json!({"amount": 5})),
                true,
            ),
            ("all: both hold", both.clone(), pay(json!(5), ""), true),
            ("all: one fails", both.clone(), pay(json!(50), ""), false),
            ("all: missing", both, req("pay"), false),
            ("not: inner fails", json!({"not": {"action": "delete_db"}}), req("read_file"), true),
            ("not: inner holds", json!({"not": {"action": "delete_db"}}), req("delete_db"), false),
            (
                "not of several keys (any one failing)",
                json!({"not": {"action": "pay", "params.amount": 5}}),
                pay(json!(6), ""),
                true,
            ),
            (
                "not of several keys (all holding)",
                json!({"not": {"action": "pay", "params.amount": 5}}),
                pay(json!(5), ""),
                false,
            ),
            ("not not", json!({"not": {"not": {"action": "a"}}}), req("a"), true),
            ("not not, miss", json!({"not": {"not": {"action": "a"}}}), req("b"), false),
            ("nested: dev deploy", nested.clone(), deploy("dev"), true),
            ("nested: prod deploy", nested.clone(), deploy("prod"), false),
            ("nested: other env, normal urgency", nested.clone(), deploy("qa"), true),
            ("nested: other env, critical", nested.clone(), deploy("qa").urgency(Urgency::Critical), false),
            ("nested: other action", nested.clone(), req("build").params(json!({"env": "dev"})), false),
            ("nested: env missing is unknown under not", nested, req("deploy"), false),
            (
                "any with an unknown alternative and a holding one",
                json!({"any": [{"params.nope": {"$ne": 1}}, {"action": "x"}]}),
                req("x"),
                true,
            ),
            (
                "not any: unknown and false stays unknown",
                json!({"not": {"any": [{"params.nope": 1}, {"action": "y"}]}}),
                req("x"),
                false,
            ),
            ("double not of a missing field", json!({"not": {"not": {"params.nope": 1}}}), req("x"), false),
            ("triple not of a missing field", json!({"not": {"not": {"not": {"params.nope": 1}}}}), req("x"), false),
            (
                "not of all holding but a negated missing field",
                json!({"not": {"all": [{"not": {"params.nope": 1}}, {"action": "x"}]}}),
                req("x"),
                false,
            ),
            (
                "not all: one false beats an unknown",
                json!({"not": {"all": [{"params.nope": 1}, {"action": "y"}]}}),
                req("x"),
                true,
            ),
            (
                "combinators and fields in one match object all must hold",
                json!({"urgency": "high", "any": [{"action": "a"}, {"action": "b"}], "not": {"params.env": "prod"}}),
                req("b").urgency(Urgency::High).params(json!({"env": "dev"})),
                true,
            ),
            (
                "combinators and fields: the field fails",
                json!({"urgency": "high", "any": [{"action": "a"}, {"action": "b"}], "not": {"params.env": "prod"}}),
                req("b").params(json!({"env": "dev"})),
                false,
            ),
        ],
    );
}

#[test]
fn params_named_like_combinators_stay_reachable() {
    let r = || req("x").params(json!({"any": "yes", "all": [1, 2], "not": {"x": 1}}));
    check_match_table(
        "params named any/all/not",
        vec![
            ("params.any", json!({"params.any": "yes"}), r(), true),
            ("params.all.1", json!({"params.all.1": 2}), r(), true),
            ("params.not.x", json!({"params.not.x": 1}), r(), true),
            ("bare dotted any.x still aliases params", json!({"not.x": 1}), r(), true),
            ("params.all $contains", json!({"params.all": {"$contains": 2}}), r(), true),
        ],
    );
    // A bare `any` is the combinator now; the old meaning is one rename away and the error says so.
    let error = PolicySpec::from_json(&with_match(json!({"any": "yes"}))).expect_err("not an array");
    assert!(error.0.contains("params.any"), "{error}");
}

// ---------------------------------------------------------------------------------------------------------
// Validation of the richer language
// ---------------------------------------------------------------------------------------------------------

#[test]
fn invalid_new_constructs_are_rejected_with_their_place() {
    let deep = (0..MAX_NESTING).fold(json!({"action": "x"}), |inner, _| json!({"not": inner}));
    let too_deep = json!({"not": deep.clone()});
    let long_glob = "*".repeat(MAX_GLOB_LEN + 1);
    let cases: Vec<(&str, Value, String)> = vec![
        (
            "route_to_agent",
            with_rule(json!({"match": {}, "decision": "route_to_agent"})),
            "rules[0].decision: route_to_agent is not supported (it never behaved differently from route_to_human); \
             use route_to_human"
                .into(),
        ),
        ("$ne with null", with_match(json!({"v": {"$ne": null}})), "rules[0].match.v: $ne needs a string, number or boolean".into()),
        ("$ne with an array", with_match(json!({"v": {"$ne": [1]}})), "rules[0].match.v: $ne needs a string, number or boolean".into()),
        ("$nin with a string", with_match(json!({"v": {"$nin": "a"}})), "rules[0].match.v: $nin needs an array of strings, numbers or booleans".into()),
        ("$nin with null inside", with_match(json!({"v": {"$nin": [null]}})), "rules[0].match.v: $nin needs an array of strings, numbers or booleans".into()),
        ("$exists with a string", with_match(json!({"v": {"$exists": "yes"}})), "rules[0].match.v: $exists needs true or false".into()),
        ("$exists with a number", with_match(json!({"v": {"$exists": 1}})), "rules[0].match.v: $exists needs true or false".into()),
        ("$contains with an array", with_match(json!({"v": {"$contains": ["a"]}})), "rules[0].match.v: $contains needs a string, number or boolean".into()),
        ("$contains with an object", with_match(json!({"v": {"$contains": {}}})), "rules[0].match.v: $contains needs a string, number or boolean".into()),
        ("$startsWith with a number", with_match(json!({"v": {"$startsWith": 1}})), "rules[0].match.v: $startsWith needs a string".into()),
        ("$endsWith with null", with_match(json!({"v": {"$endsWith": null}})), "rules[0].match.v: $endsWith needs a string".into()),
        ("$startswith is not $startsWith", with_match(json!({"v": {"$startswith": "a"}})), r#"rules[0].match.v: unknown operator "$startswith""#.into()),
        ("$glob with a number", with_match(json!({"v": {"$glob": 1}})), "rules[0].match.v: $glob needs a string".into()),
        ("$glob too long", with_match(json!({"v": {"$glob": long_glob}})), "rules[0].match.v: $glob is longer than 1024 characters".into()),
        ("action glob too long", with_match(json!({"action": long_glob})), "rules[0].match.action: a glob is longer than 1024 characters".into()),
        (
            "any not an array",
            with_match(json!({"any": {"action": "x"}})),
            "rules[0].match.any: any needs a non-empty array of match objects (a parameter named any is matched as params.any)".into(),
        ),
        (
            "all empty",
            with_match(json!({"all": []})),
            "rules[0].match.all: all needs a non-empty array of match objects (a parameter named all is matched as params.all)".into(),
        ),
        ("any element not an object", with_match(json!({"any": [{"action": "x"}, "y"]})), "rules[0].match.any[1]: must be a match object".into()),
        (
            "any element empty",
            with_match(json!({"any": [{}]})),
            "rules[0].match.any[0]: a match object inside a combinator must not be empty (it would always hold)".into(),
        ),
        ("not an array", with_match(json!({"not": [{"action": "x"}]})), "rules[0].match.not: must be a match object".into()),
        ("not a string", with_match(json!({"not": "x"})), "rules[0].match.not: must be a match object".into()),
        (
            "not empty",
            with_match(json!({"not": {}})),
            "rules[0].match.not: a match object inside a combinator must not be empty (it would always hold)".into(),
        ),
        (
            "error inside any names the alternative",
            with_match(json!({"any": [{"action": "x"}, {"action": {"$gtt": 1}}]})),
            r#"rules[0].match.any[1].action: unknown operator "$gtt""#.into(),
        ),
        (
            "error inside nested combinators",
            with_match(json!({"all": [{"not": {"any": [{"params.amount": {"$lt": "5"}}]}}]})),
            "rules[0].match.all[0].not.any[0].params.amount: $lt needs a number".into(),
        ),
        (
            "path error inside not",
            with_match(json!({"not": {"params..x": 1}})),
            "rules[0].match.not.params..x: empty segment in path".into(),
        ),
        (
            "error in a later rule inside a combinator",
            json!({"name": "p", "rules": [
                {"match": {}, "decision": "auto_deny"},
                {"match": {}, "decision": "auto_deny"},
                {"match": {"any": [{"action": "a"}, {"params.amount": {"$gtt": 5}}]}, "decision": "auto_deny"},
            ]}),
            r#"rules[2].match.any[1].params.amount: unknown operator "$gtt""#.into(),
        ),
        (
            "nesting too deep",
            with_match(too_deep),
            format!("rules[0].match{}: combinators may nest at most 16 deep", ".not".repeat(MAX_NESTING + 1)),
        ),
        (
            "decision error lists the supported decisions",
            with_rule(json!({"match": {}, "decision": "route_to_robot"})),
            DECISION_ERROR.into(),
        ),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(description, body, expected)| match PolicySpec::from_json(&body) {
            Ok(_) => Some(format!("{description}: {body} was accepted")),
            Err(PolicyError(actual)) => {
                (actual != expected).then(|| format!("{description}: got {actual:?}, expected {expected:?}"))
            }
        })
        .collect();
    assert_no_failures("invalid new constructs", failures);
    // Exactly at the nesting limit is fine.
    assert!(PolicySpec::from_json(&with_match(deep)).is_ok());
    // Stored rules are deserialised without from_json; route_to_agent cannot even be read back.
    assert!(serde_json::from_value::<Rule>(json!({"match": {}, "decision": "route_to_agent"})).is_err());
}

// ---------------------------------------------------------------------------------------------------------
// The action index
// ---------------------------------------------------------------------------------------------------------

/// `(policy id, rule index)` of the deciding rule.
type Decider = (&'static str, usize);

#[test]
fn the_index_keeps_the_global_order() {
    use DecisionType::*;
    let rule = |m: Value, d: &str| json!({"match": m, "decision": d});
    // Keyed and unkeyed rules interleaved across priorities and inside policies.
    let policies = vec![
        ("late", body("late", Some(9), json!([rule(json!({}), "auto_approve")]))),
        (
            "mixed",
            body(
                "mixed",
                Some(5),
                json!([
                    rule(json!({"action": "pay", "params.amount": {"$gt": 100}}), "auto_deny"),
                    rule(json!({"action": {"$regex": "^pay"}, "params.amount": {"$gt": 50}}), "route_to_human"),
                    rule(
                        json!({"action": {"$in": ["pay", "refund", "pay"]}, "params.amount": {"$gt": 10}}),
                        "auto_deny"
                    ),
                    rule(json!({"action": "deploy:*"}), "route_to_human"),
                    rule(json!({"action": "pay"}), "auto_approve"),
                ]),
            ),
        ),
        (
            "first",
            body(
                "first",
                Some(1),
                json!([rule(json!({"action": "refund", "params.amount": {"$gt": 1000}}), "auto_deny")]),
            ),
        ),
        (
            "pre",
            body(
                "pre",
                Some(4),
                json!([
                    rule(json!({"action": {"$startsWith": "pa"}, "params.amount": 33}), "auto_deny"),
                    rule(json!({"action": "pay*", "params.amount": 34}), "route_to_human"),
                    rule(json!({"action": {"$regex": "^refund"}, "params.amount": 35}), "auto_approve"),
                    rule(json!({"action": {"$regex": "^(pay|x)"}, "params.amount": 36}), "auto_deny"),
                ]),
            ),
        ),
        (
            "never",
            body(
                "never",
                Some(2),
                json!([
                    rule(json!({"action": 5}), "auto_approve"),
                    rule(json!({"action": {"$in": [1, true]}}), "auto_approve")
                ]),
            ),
        ),
    ];
    let set = set_of(&policies);
    let amount = |action: &str, n: i64| req(action).params(json!({ "amount": n }));
    let cases: Vec<(&str, Req, DecisionType, Option<Decider>)> = vec![
        ("keyed rule first", amount("pay", 500), AutoDeny, Some(("mixed", 0))),
        ("unkeyed rule between keyed ones", amount("pay", 70), RouteToHuman, Some(("mixed", 1))),
        ("$in keyed rule", amount("pay", 20), AutoDeny, Some(("mixed", 2))),
        ("$in keyed under its second action", amount("refund", 20), AutoDeny, Some(("mixed", 2))),
        ("keyed rule of an earlier policy", amount("refund", 5000), AutoDeny, Some(("first", 0))),
        ("last keyed rule", amount("pay", 1), AutoApprove, Some(("mixed", 4))),
        ("glob rule for an unkeyed action", req("deploy:prod"), RouteToHuman, Some(("mixed", 3))),
        ("catch-all of a later policy for an unknown action", req("other"), AutoApprove, Some(("late", 0))),
        ("regex rule for an action nobody keys", amount("payroll", 70), RouteToHuman, Some(("mixed", 1))),
        ("refund below every bound falls to the catch-all", amount("refund", 1), AutoApprove, Some(("late", 0))),
        ("$startsWith rule for a keyed action", amount("pay", 33), AutoDeny, Some(("pre", 0))),
        ("prefix glob for a keyed action", amount("pay", 34), RouteToHuman, Some(("pre", 1))),
        ("prefix glob for an action nobody keys", amount("payroll", 34), RouteToHuman, Some(("pre", 1))),
        ("anchored regex for a keyed action", amount("refund", 35), AutoApprove, Some(("pre", 2))),
        ("anchored regex with alternatives", amount("x1", 36), AutoDeny, Some(("pre", 3))),
        ("anchored regex with alternatives, keyed action", amount("pay", 36), AutoDeny, Some(("pre", 3))),
        ("a prefix that does not fit", amount("deploy:x", 33), RouteToHuman, Some(("mixed", 3))),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(description, request, decision, matched)| {
            let evaluation = set.evaluate(&request.input());
            let linear = set.evaluate_linear(&request.input());
            let explained = set.explain(&request.input());
            let actual = (evaluation.decision, evaluation.matched.map(|m| (m.policy_id, m.rule_index)));
            let others = [
                (linear.decision, linear.matched.map(|m| (m.policy_id, m.rule_index))),
                (explained.decision, explained.matched.map(|m| (m.policy_id, m.rule_index))),
            ];
            (actual != (decision, matched) || others.iter().any(|o| *o != actual)).then(|| {
                format!(
                    "{description}: got {actual:?} (linear and explain: {others:?}), expected {:?}",
                    (decision, matched)
                )
            })
        })
        .collect();
    assert_no_failures("index order", failures);
}

#[test]
fn rules_for_other_actions_are_never_tried() {
    // A thousand policies about other actions, each with a regex that would be costly to run: the index must
    // not even look at them (a rule about another action can only be reached through its own key).
    let mut policies: Vec<(String, Value)> = (0..1000)
        .map(|i| {
            let id = format!("p{i}");
            let policy = json!({"name": id, "priority": 1, "rules": [
                {"match": {"action": format!("tool_{i}"), "params.path": {"$regex": "^/etc/"}}, "decision": "auto_deny"},
            ]});
            (id, policy)
        })
        .collect();
    policies.push((
        "target".into(),
        json!({"name": "t", "priority": 2, "rules": [{"match": {"action": "pay"}, "decision": "auto_approve"}]}),
    ));
    let set = PolicySet::new(policies.iter().map(|(id, b)| compiled(id, b)).collect());
    assert_eq!(set.len(), 1001);
    let request = req("pay").params(json!({"path": "/etc/passwd"}));
    let evaluation = set.evaluate(&request.input());
    assert_eq!(evaluation.matched.map(|m| m.policy_id), Some("target"));
    let explained = set.explain(&request.input());
    assert_eq!(explained.misses.len(), 1000, "explain walks every rule, the index does not");
}

// ---------------------------------------------------------------------------------------------------------
// Explanations and versions
// ---------------------------------------------------------------------------------------------------------

#[test]
fn miss_reasons_name_the_first_failing_condition() {
    let request = req("pay")
        .params(
            json!({"amount": 6000, "to": "ann@else.example", "tags": ["a"], "env": "prod", "note": "x".repeat(200)}),
        )
        .urgency(Urgency::High);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("literal on action", json!({"action": "read_file"}), r#"action: "pay" is not "read_file""#),
        (
            "the action is checked first",
            json!({"amount": 1, "action": "x", "urgency": "low"}),
            r#"action: "pay" is not "x""#,
        ),
        ("then keys in order", json!({"urgency": "low", "amount": 1}), "amount: 6000 is not 1"),
        ("$lte", json!({"params.amount": {"$lte": 5000}}), "params.amount: 6000 is not <= 5000"),
        ("$lt", json!({"params.amount": {"$lt": 5000.5}}), "params.amount: 6000 is not < 5000.5"),
        ("$gt", json!({"params.amount": {"$gt": 7000}}), "params.amount: 6000 is not > 7000"),
        ("$gte", json!({"params.amount": {"$gte": 7000}}), "params.amount: 6000 is not >= 7000"),
        (
            "first failing operator of a range",
            json!({"params.amount": {"$gt": 0, "$lt": 10}}),
            "params.amount: 6000 is not < 10",
        ),
        (
            "comparison on a string",
            json!({"params.to": {"$gt": 1}}),
            r#"params.to: "ann@else.example" is not a number"#,
        ),
        ("missing", json!({"params.too": "x"}), "params.too: missing"),
        ("missing with $ne", json!({"params.too": {"$ne": "x"}}), "params.too: missing"),
        ("missing with $exists", json!({"params.too": {"$exists": true}}), "params.too: missing"),
        (
            "present but must be missing",
            json!({"params.to": {"$exists": false}}),
            r#"params.to: "ann@else.example" is present but must be missing"#,
        ),
        ("$ne", json!({"params.env": {"$ne": "prod"}}), r#"params.env: "prod" is "prod""#),
        ("$in", json!({"urgency": {"$in": ["low", "normal"]}}), r#"urgency: "high" is not one of ["low", "normal"]"#),
        ("$nin", json!({"params.env": {"$nin": ["prod", 1]}}), r#"params.env: "prod" is one of ["prod", 1]"#),
        (
            "$regex",
            json!({"params.to": {"$regex": "@corp\\."}}),
            r#"params.to: "ann@else.example" does not match regex "@corp\\.""#,
        ),
        ("$regex on a number", json!({"params.amount": {"$regex": "6"}}), "params.amount: 6000 is not a string"),
        ("$glob", json!({"action": "deploy:*"}), r#"action: "pay" does not match "deploy:*""#),
        (
            "$startsWith",
            json!({"params.to": {"$startsWith": "bob"}}),
            r#"params.to: "ann@else.example" does not start with "bob""#,
        ),
        (
            "$endsWith",
            json!({"params.to": {"$endsWith": "@corp.example"}}),
            r#"params.to: "ann@else.example" does not end with "@corp.example""#,
        ),
        (
            "$contains string",
            json!({"params.to": {"$contains": "corp"}}),
            r#"params.to: "ann@else.example" does not contain "corp""#,
        ),
        ("$contains array", json!({"params.tags": {"$contains": "b"}}), r#"params.tags: ["a"] does not contain "b""#),
        (
            "$contains on a number",
            json!({"params.amount": {"$contains": "6"}}),
            "params.amount: 6000 is not a string or an array",
        ),
        (
            "$contains number in a string",
            json!({"params.to": {"$contains": 6}}),
            r#"params.to: "ann@else.example" is not an array"#,
        ),
        ("bool literal", json!({"params.env": true}), r#"params.env: "prod" is not true"#),
        (
            "long values are shortened",
            json!({"params.note": "y"}),
            concat!(
                r#"params.note: ""#,
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                r#"… is not "y""#
            ),
        ),
        (
            "any",
            json!({"any": [{"params.amount": {"$lt": 10}}, {"params.to": {"$endsWith": "@corp"}}]}),
            "any: none of 2 alternatives matched",
        ),
        (
            "any with one alternative",
            json!({"any": [{"params.amount": {"$lt": 10}}]}),
            "any: none of 1 alternative matched",
        ),
        (
            "all names the failing alternative",
            json!({"all": [{"action": "pay"}, {"params.amount": {"$lt": 10}}]}),
            "all[1].params.amount: 6000 is not < 10",
        ),
        (
            "not that held",
            json!({"not": {"params.env": "prod", "action": "pay"}}),
            "not: the excluded conditions all held",
        ),
        ("not of a missing field", json!({"not": {"params.region": "eu"}}), "not.params.region: missing"),
        (
            "combinators come after fields",
            json!({"any": [{"action": "x"}], "params.env": "dev"}),
            r#"params.env: "prod" is not "dev""#,
        ),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(description, matcher, expected)| {
            let set = set_of(&[("p", with_match(matcher.clone()))]);
            let explanation = set.explain(&request.input());
            let reasons: Vec<&str> = explanation.misses.iter().map(|m| m.reason.as_str()).collect();
            (explanation.matched.is_some() || reasons != [expected])
                .then(|| format!("{description}: {matcher} gave {reasons:?}, expected {expected:?}"))
        })
        .collect();
    assert_no_failures("miss reasons", failures);
}

#[test]
fn explanations_list_every_earlier_rule_with_versions() {
    let first = json!({"name": "Small payments", "priority": 1, "rules": [
        {"match": {"action": "pay", "params.amount": {"$lte": 100}}, "decision": "auto_approve"},
        {"match": {"action": "read_file"}, "decision": "auto_approve"},
    ]});
    let second = json!({"name": "Large payments", "priority": 2, "rules": [
        {"match": {"action": "pay", "params.amount": {"$gt": 5000}}, "decision": "auto_deny"},
        {"match": {"action": "pay"}, "decision": "route_to_human", "requireReason": true},
        {"match": {}, "decision": "auto_deny"},
    ]});
    let set = PolicySet::new(vec![
        CompiledPolicy::compile("pol_2", 7, &spec(&second)).expect("compiles"),
        CompiledPolicy::compile("pol_1", 3, &spec(&first)).expect("compiles"),
    ]);
    let request = req("pay").params(json!({"amount": 1000}));
    let explanation = set.explain(&request.input());
    let evaluation = set.evaluate(&request.input());
    assert_eq!(explanation.decision, DecisionType::RouteToHuman);
    let matched = explanation.matched.expect("the second rule of pol_2 matches");
    assert_eq!((matched.policy_id, matched.policy_version, matched.rule_index), ("pol_2", 7, 1));
    let m = evaluation.matched.expect("evaluate agrees");
    assert_eq!((m.policy_id, m.policy_version, m.rule_index), ("pol_2", 7, 1));
    let miss = |id: &str, name: &str, version: i64, rule_index: usize, reason: &str| RuleMiss {
        policy_id: id.into(),
        policy_name: name.into(),
        policy_version: version,
        rule_index,
        reason: reason.into(),
    };
    assert_eq!(
        explanation.misses,
        vec![
            miss("pol_1", "Small payments", 3, 0, "params.amount: 1000 is not <= 100"),
            miss("pol_1", "Small payments", 3, 1, r#"action: "pay" is not "read_file""#),
            miss("pol_2", "Large payments", 7, 0, "params.amount: 1000 is not > 5000"),
        ]
    );
    // The wire shape, as the simulation endpoint returns it.
    assert_eq!(
        serde_json::to_value(&explanation).expect("serialises"),
        json!({
            "decision": "route_to_human",
            "matched": {
                "policyId": "pol_2",
                "policyName": "Large payments",
                "policyVersion": 7,
                "ruleIndex": 1,
                "rule": {"match": {"action": "pay"}, "decision": "route_to_human", "requireReason": true},
            },
            "misses": [
                {"policyId": "pol_1", "policyName": "Small payments", "policyVersion": 3, "ruleIndex": 0, "reason": "params.amount: 1000 is not <= 100"},
                {"policyId": "pol_1", "policyName": "Small payments", "policyVersion": 3, "ruleIndex": 1, "reason": "action: \"pay\" is not \"read_file\""},
                {"policyId": "pol_2", "policyName": "Large payments", "policyVersion": 7, "ruleIndex": 0, "reason": "params.amount: 1000 is not > 5000"},
            ],
        })
    );
    // No match: every rule is listed.
    let none = PolicySet::new(vec![CompiledPolicy::compile("pol_1", 3, &spec(&first)).expect("compiles")]);
    let explanation = none.explain(&req("delete_db").input());
    assert_eq!(
        (explanation.decision, explanation.matched.is_none(), explanation.misses.len()),
        (DecisionType::RouteToHuman, true, 2)
    );
    assert_eq!(serde_json::to_value(&explanation).expect("serialises")["matched"], Value::Null);
    // Nothing enabled: nothing to explain.
    let nothing = PolicySet::default();
    let empty = nothing.explain(&req("x").input());
    assert_eq!((empty.decision, empty.matched.is_none(), empty.misses.len()), (DecisionType::RouteToHuman, true, 0));
}

// ---------------------------------------------------------------------------------------------------------
// docs/policies.md
// ---------------------------------------------------------------------------------------------------------

const POLICY_DOCS: &str = include_str!("../../../../docs/policies.md");

/// Every ```` ```json policy ```` block of the docs, parsed.
fn doc_policies() -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in POLICY_DOCS.lines() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed == "```json policy" => current = Some(String::new()),
            Some(block) if trimmed == "```" => {
                blocks.push(
                    serde_json::from_str(block).unwrap_or_else(|e| panic!("docs policy is not JSON ({e}):\n{block}")),
                );
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unterminated policy block in docs/policies.md");
    blocks
}

#[test]
fn policy_docs_examples_are_valid() {
    let policies = doc_policies();
    assert!(policies.len() >= 8, "found only {} policy blocks in docs/policies.md", policies.len());
    let failures: Vec<String> = policies
        .iter()
        .filter_map(|body| {
            let name = body["name"].as_str().unwrap_or("?");
            match PolicySpec::from_json(body) {
                Ok(spec) => {
                    CompiledPolicy::compile(name, 1, &spec).err().map(|e| format!("{name}: does not compile: {e}"))
                }
                Err(e) => Some(format!("{name}: {e}")),
            }
        })
        .collect();
    assert_no_failures("docs/policies.md examples", failures);
}

#[test]
fn policy_docs_worked_examples_decide_as_documented() {
    use DecisionType::*;
    let by_name = |name: &str| -> PolicySet {
        let body =
            doc_policies().into_iter().find(|b| b["name"] == name).unwrap_or_else(|| panic!("no {name} in docs"));
        set_of(&[("doc", body)])
    };
    let at = |action: &str, params: Value, context: Value| req(action).params(params).context(context);
    let none = || json!({});
    // (policy, request, decision, deciding rule) exactly as the tables in the docs say.
    let cases: Vec<(&str, Req, DecisionType, Option<usize>)> = vec![
        ("Small payments", at("pay", json!({"amount": 100}), none()), AutoApprove, Some(0)),
        ("Refunds", at("refund", json!({"amount": 40, "reason": "damaged"}), none()), AutoApprove, Some(0)),
        (
            "Refunds",
            at("refund", json!({"amount": 400, "reason": "damaged"}), json!({"customer": {"tier": "gold"}})),
            AutoApprove,
            Some(0),
        ),
        ("Refunds", at("refund", json!({"amount": 400, "reason": "damaged"}), none()), RouteToHuman, None),
        ("Refunds", at("refund", json!({"amount": 40, "reason": "fraud"}), none()), RouteToHuman, None),
        ("Refunds", at("refund", json!({"amount": 40}), none()), RouteToHuman, None),
        ("Refunds with an optional reason", at("refund", json!({"amount": 40}), none()), AutoApprove, Some(0)),
        (
            "Refunds with an optional reason",
            at("refund", json!({"amount": 40, "reason": "x"}), none()),
            AutoApprove,
            Some(0),
        ),
        (
            "Refunds with an optional reason",
            at("refund", json!({"amount": 40, "reason": "fraud"}), none()),
            RouteToHuman,
            None,
        ),
        ("Refunds with an optional reason", at("refund", json!({"reason": "x"}), none()), RouteToHuman, None),
        ("Emails need a subject", at("send_email", json!({"to": "a@b.c"}), none()), AutoDeny, Some(0)),
        ("Emails need a subject", at("send_email", json!({"subject": "hi"}), none()), RouteToHuman, None),
        ("Payments", at("pay", json!({"amount": 60, "currency": "EUR"}), none()), AutoApprove, Some(1)),
        ("Payments", at("pay", json!({"amount": 60, "currency": "GBP"}), none()), RouteToHuman, Some(2)),
        ("Payments", at("pay", json!({"amount": 6000, "currency": "EUR"}), none()), AutoDeny, Some(0)),
        ("Payments", at("pay", json!({"amount": "60", "currency": "EUR"}), none()), RouteToHuman, Some(2)),
        ("Payments", at("pay", json!({"currency": "EUR"}), none()), RouteToHuman, Some(2)),
        ("Outbound email", at("send_email", json!({"to": "ann@example.com"}), none()), AutoApprove, Some(1)),
        ("Outbound email", at("send_email", json!({"to": "ann@example.com.evil.io"}), none()), RouteToHuman, None),
        (
            "Outbound email",
            at("send_email", json!({"to": "ann@example.com", "cc": "x@other.org"}), none()),
            RouteToHuman,
            None,
        ),
        ("Outbound email", at("send_email", json!({"to": "x@mailinator.com"}), none()), AutoDeny, Some(0)),
        ("Outbound email", at("send_email", json!({"to": ["ann@example.com"]}), none()), RouteToHuman, None),
        ("Deploys", at("deploy:api", json!({"env": "staging"}), none()), AutoApprove, Some(0)),
        ("Deploys", at("deploy:api", json!({"env": "production", "ref": "v1.4.2"}), none()), RouteToHuman, Some(2)),
        ("Deploys", at("deploy:api", json!({"env": "production", "ref": "main"}), none()), AutoDeny, Some(1)),
        ("Deploys", at("deploy:api", json!({"env": "production"}), none()), RouteToHuman, Some(2)),
        ("Deploys", at("deploy:api", none(), none()), RouteToHuman, None),
        ("Deploys", at("deploy", json!({"env": "staging"}), none()), RouteToHuman, None),
        ("Out of hours", at("pay", none(), json!({"hour": 22, "weekday": "tue"})), RouteToHuman, Some(0)),
        ("Out of hours", at("pay", none(), json!({"hour": 11, "weekday": "sun"})), RouteToHuman, Some(0)),
        ("Out of hours", at("pay", none(), json!({"hour": 11, "weekday": "tue"})), RouteToHuman, None),
        ("Out of hours", at("delete_records", none(), none()), RouteToHuman, Some(1)),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, request, decision, rule)| {
            let set = by_name(name);
            let evaluation = set.evaluate(&request.input());
            let actual = (evaluation.decision, evaluation.matched.map(|m| m.rule_index));
            (actual != (decision, rule)).then(|| {
                format!(
                    "{name}: {} {} {} gave {actual:?}, expected {:?}",
                    request.action,
                    request.params,
                    request.context,
                    (decision, rule)
                )
            })
        })
        .collect();
    assert_no_failures("docs/policies.md worked examples", failures);
}

#[test]
fn policy_docs_validation_messages_are_real() {
    let documented: Vec<&str> = POLICY_DOCS
        .split("```text validation-errors\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a validation-errors block in docs/policies.md")
        .lines()
        .collect();
    let long_regex = "a".repeat(MAX_REGEX_LEN + 1);
    let bodies = [
        json!({"name": "p", "rules": [
            {"match": {}, "decision": "auto_deny"},
            {"match": {}, "decision": "auto_deny"},
            {"match": {"params.amount": {"$gtt": 5}}, "decision": "auto_deny"},
        ]}),
        with_match(json!({"any": [{"action": "x"}, {"action": {"$startswith": "x"}}]})),
        with_match(json!({"all": [{"not": {"any": [{"params.amount": {"$lt": "5"}}]}}]})),
        with_match(json!({"amount": {"$in": "x"}})),
        with_match(json!({"action": {"$regex": "(delete"}})),
        with_match(json!({"action": {"$regex": long_regex}})),
        with_match(json!({"action": {"$regex": "\\w{1000}"}})),
        with_match(json!({"params.host": {"$glob": 5}})),
        with_match(json!({"any": {"action": "x"}})),
        with_match(json!({"not": {}})),
        with_match(json!({"amount": null})),
        with_match(json!({"params..x": 1})),
        with_match(json!({"action.0": "a"})),
        with_rule(json!({"match": {}, "decision": "approve"})),
        with_rule(json!({"match": {}, "decision": "route_to_agent"})),
        with_rule(json!({"match": {}, "decision": "route_to_human", "requireReason": "yes"})),
        json!({"name": "p", "rules": [], "priority": 1.5}),
    ];
    let actual: Vec<String> = bodies
        .iter()
        .map(|b| PolicySpec::from_json(b).err().map_or_else(|| format!("{b} was accepted"), |e| e.0))
        .collect();
    assert_eq!(documented, actual, "the validation messages in docs/policies.md must be the engine's");
}
