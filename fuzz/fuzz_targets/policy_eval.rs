//! Policy parsing plus evaluation on arbitrary bytes.
//!
//! The input is parsed as JSON. `{"policies": [...], "request": {...}}` gives the policies and the request;
//! anything else is taken as one policy (or, if an array, a list of policies), and the request is derived from
//! the input itself: `action` from the first rule's `match.action` when it is a string, the whole input as
//! `params` and `context`. Every policy goes through `PolicySpec::from_json` and `CompiledPolicy::compile`;
//! the valid ones are evaluated with `evaluate` and `explain`, which must agree.
//!
//! Run from this folder: `RUSTC_BOOTSTRAP=1 cargo fuzz run policy_eval -- -max_total_time=60`.

#![no_main]

use agentgate_core::policy::{CompiledPolicy, EvalInput, PolicySet, PolicySpec};
use agentgate_core::request::Urgency;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else { return };
    let (bodies, request) = match (input.get("policies"), input.get("request")) {
        (Some(Value::Array(policies)), Some(request)) => (policies.clone(), request.clone()),
        _ => match &input {
            Value::Array(items) => (items.clone(), Value::Null),
            other => (vec![other.clone()], Value::Null),
        },
    };

    let mut compiled = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        // Every outcome is fine but a panic; a policy that validates must also compile.
        if let Ok(spec) = PolicySpec::from_json(body) {
            let version = i64::try_from(i).unwrap_or(i64::MAX);
            match CompiledPolicy::compile(&format!("p{i}"), version, &spec) {
                Ok(policy) => compiled.push(policy),
                Err(e) => panic!("validated policy did not compile: {e}"),
            }
        }
    }
    let set = PolicySet::new(compiled);

    let first_action = bodies
        .first()
        .and_then(|b| b.pointer("/rules/0/match/action"))
        .and_then(Value::as_str)
        .unwrap_or("x")
        .to_owned();
    let action = request.get("action").and_then(Value::as_str).map_or(first_action, str::to_owned);
    let urgency =
        request.get("urgency").and_then(Value::as_str).and_then(|u| u.parse().ok()).unwrap_or(Urgency::Normal);
    let params = request.get("params").cloned().unwrap_or_else(|| input.clone());
    let context = request.get("context").cloned().unwrap_or_else(|| input.clone());
    let eval = EvalInput { action: &action, urgency, params: &params, context: &context };

    let evaluation = set.evaluate(&eval);
    let explanation = set.explain(&eval);
    assert_eq!(evaluation.decision, explanation.decision);
    assert_eq!(
        evaluation.matched.map(|m| (m.policy_id, m.rule_index)),
        explanation.matched.map(|m| (m.policy_id, m.rule_index)),
    );
    let _ = serde_json::to_string(&explanation);
});
