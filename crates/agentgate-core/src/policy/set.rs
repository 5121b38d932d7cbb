//! The compiled set of enabled policies and its action index.
//!
//! Every rule gets a position in the one global evaluation order (policy priority, then the given policy
//! order, then rule order), and one of three kinds:
//! - *keyed*: its `match` pins `action` to literals (`"action": "pay"`, `{"$in": [...]}`);
//! - *prefixed*: its `match` says the action starts with some literal text (a glob such as `deploy:*`,
//!   `$startsWith`, or a `$regex` anchored with `^`);
//! - *universal*: anything else (no condition on the action, a suffix glob, an unanchored regex...).
//!
//! For an action some rule is keyed on, the candidates are its keyed rules plus the prefixed rules whose prefix
//! it starts with (both found when the set is built) merged with the universal rules by position. That merge is
//! precomputed as a plan of steps, "try the universal rules up to here, then this rule", so a plan costs
//! memory for its own rules only, however many universal rules there are. Any other action scans the prefixed
//! and universal rules, skipping a prefixed rule on one byte comparison.

use super::matcher::MatchExpr;
use super::{CompiledPolicy, DecisionType, EvalInput, Evaluation, Explanation, Rule, RuleMatch, RuleMiss};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A rule of the set, stored flat in evaluation order so that trying one is a short chain of loads.
#[derive(Debug)]
struct SetRule {
    expr: MatchExpr,
    rule: Rule,
    /// Its policy, as an index into `PolicySet::policies`.
    policy: u32,
    /// Its index within that policy.
    index: u32,
}

/// What a match or a miss reports about a policy.
#[derive(Debug)]
struct PolicyInfo {
    id: String,
    name: String,
    version: i64,
}

/// Try `universal[..universal_end]` (from where the previous step stopped), then the rule at `rule`.
#[derive(Debug, Clone, Copy)]
struct Step {
    universal_end: u32,
    rule: u32,
}

/// A rule that is not keyed, with the bytes an action must start with for it to match (empty: any action).
#[derive(Debug)]
struct Unkeyed {
    rule: u32,
    prefix: Box<[u8]>,
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The enabled policies, in evaluation order, with their rules indexed by action.
#[derive(Debug, Default)]
pub struct PolicySet {
    policies: Vec<PolicyInfo>,
    /// Every rule, in evaluation order.
    rules: Vec<SetRule>,
    /// Positions (in `rules`) of the universal rules, ascending.
    universal: Vec<u32>,
    /// The prefixed and universal rules, ascending: what an action without a plan is checked against.
    unkeyed: Vec<Unkeyed>,
    /// For each action some rule is keyed on, its merged candidate plan.
    plans: FxMap<Box<str>, Vec<Step>>,
}

impl PolicySet {
    /// Builds the set and its index; disabled policies are left out. Ties in priority keep the given order
    /// (the store lists policies by priority, then creation time, then id, so evaluation order is stable).
    ///
    /// # Panics
    ///
    /// With more than `u32::MAX` rules in all.
    pub fn new(mut policies: Vec<CompiledPolicy>) -> Self {
        policies.retain(|p| p.enabled);
        policies.sort_by_key(|p| p.priority);
        let position = |n: usize| u32::try_from(n).expect("fewer than 2^32 rules");

        let mut rules = Vec::new();
        let mut infos = Vec::with_capacity(policies.len());
        let mut universal = Vec::new();
        let mut unkeyed = Vec::new();
        let mut keyed: FxMap<String, Vec<u32>> = HashMap::default();
        let mut prefixed: FxMap<Vec<u8>, Vec<u32>> = HashMap::default();
        for (p, policy) in policies.into_iter().enumerate() {
            for (r, compiled) in policy.rules.into_iter().enumerate() {
                let at = position(rules.len());
                if let Some(actions) = compiled.expr.action_keys() {
                    for action in actions {
                        let list = keyed.entry(action.to_owned()).or_default();
                        // `$in` may list an action twice.
                        if list.last() != Some(&at) {
                            list.push(at);
                        }
                    }
                } else if let Some(prefix) = compiled.expr.action_prefix() {
                    unkeyed.push(Unkeyed { rule: at, prefix: prefix.clone().into_boxed_slice() });
                    prefixed.entry(prefix).or_default().push(at);
                } else {
                    universal.push(at);
                    unkeyed.push(Unkeyed { rule: at, prefix: Box::default() });
                }
                rules.push(SetRule {
                    expr: compiled.expr,
                    rule: compiled.rule,
                    policy: position(p),
                    index: position(r),
                });
            }
            infos.push(PolicyInfo { id: policy.id, name: policy.name, version: policy.version });
        }
        let plans = keyed
            .into_iter()
            .map(|(action, mut candidates)| {
                let bytes = action.as_bytes();
                if !prefixed.is_empty() {
                    for end in 1..=bytes.len() {
                        if let Some(list) = prefixed.get(&bytes[..end]) {
                            candidates.extend_from_slice(list);
                        }
                    }
                }
                candidates.sort_unstable();
                candidates.dedup();
                let steps = candidates
                    .into_iter()
                    .map(|rule| Step { universal_end: position(universal.partition_point(|&u| u < rule)), rule })
                    .collect();
                (action.into_boxed_str(), steps)
            })
            .collect();
        Self { policies: infos, rules, universal, unkeyed, plans }
    }

    /// The number of enabled policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether no policy is enabled.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// First matching rule wins; no match routes to a human. Only the rules that can match the request's
    /// action are tried, and nothing is allocated.
    pub fn evaluate<'s>(&'s self, input: &EvalInput<'_>) -> Evaluation<'s> {
        let found = match self.plans.get(input.action) {
            Some(steps) => self.run_plan(steps, input),
            None => self.scan_unkeyed(input),
        };
        match found {
            Some(at) => {
                let matched = self.rule_match(at);
                Evaluation { decision: matched.rule.decision, matched: Some(matched) }
            }
            None => Evaluation { decision: DecisionType::RouteToHuman, matched: None },
        }
    }

    /// The same decision as [`PolicySet::evaluate`], with the reason every earlier rule did not match. Walks
    /// every rule in order without the index, so it costs more: meant for simulation, not the hot path.
    pub fn explain<'s>(&'s self, input: &EvalInput<'_>) -> Explanation<'s> {
        let mut misses = Vec::new();
        for (at, r) in self.rules.iter().enumerate() {
            match r.expr.miss_reason(input) {
                None => {
                    let matched = self.rule_match(at as u32);
                    return Explanation { decision: matched.rule.decision, matched: Some(matched), misses };
                }
                Some(reason) => {
                    let policy = &self.policies[r.policy as usize];
                    misses.push(RuleMiss {
                        policy_id: policy.id.clone(),
                        policy_name: policy.name.clone(),
                        policy_version: policy.version,
                        rule_index: r.index as usize,
                        reason,
                    });
                }
            }
        }
        Explanation { decision: DecisionType::RouteToHuman, matched: None, misses }
    }

    /// Policy ids in evaluation order.
    #[cfg(test)]
    pub(super) fn policy_ids(&self) -> Vec<&str> {
        self.policies.iter().map(|p| p.id.as_str()).collect()
    }

    /// `(policy id, rule index)` of every rule, in evaluation order.
    #[cfg(test)]
    pub(super) fn rule_order(&self) -> Vec<(&str, usize)> {
        self.rules.iter().map(|r| (self.policies[r.policy as usize].id.as_str(), r.index as usize)).collect()
    }

    /// Evaluation by a plain scan of every rule, to check the index against.
    #[cfg(test)]
    pub(super) fn evaluate_linear<'s>(&'s self, input: &EvalInput<'_>) -> Evaluation<'s> {
        let found = (0..self.rules.len() as u32).find(|&at| self.holds(at, input));
        match found {
            Some(at) => {
                let matched = self.rule_match(at);
                Evaluation { decision: matched.rule.decision, matched: Some(matched) }
            }
            None => Evaluation { decision: DecisionType::RouteToHuman, matched: None },
        }
    }

    fn run_plan(&self, steps: &[Step], input: &EvalInput<'_>) -> Option<u32> {
        let mut next = 0;
        for step in steps {
            let end = step.universal_end as usize;
            if let Some(at) = self.universal[next..end].iter().copied().find(|&at| self.holds(at, input)) {
                return Some(at);
            }
            next = end;
            if self.holds(step.rule, input) {
                return Some(step.rule);
            }
        }
        self.universal[next..].iter().copied().find(|&at| self.holds(at, input))
    }

    fn scan_unkeyed(&self, input: &EvalInput<'_>) -> Option<u32> {
        let action = input.action.as_bytes();
        // The emptiness test first: `starts_with` on an empty slice still calls `memcmp`, which costs tens of
        // nanoseconds on the dangling pointer of an empty box.
        self.unkeyed
            .iter()
            .find(|u| (u.prefix.is_empty() || action.starts_with(&u.prefix)) && self.holds(u.rule, input))
            .map(|u| u.rule)
    }

    fn holds(&self, at: u32, input: &EvalInput<'_>) -> bool {
        self.rules[at as usize].expr.holds(input)
    }

    fn rule_match(&self, at: u32) -> RuleMatch<'_> {
        let r = &self.rules[at as usize];
        let policy = &self.policies[r.policy as usize];
        RuleMatch {
            policy_id: &policy.id,
            policy_name: &policy.name,
            policy_version: policy.version,
            rule_index: r.index as usize,
            rule: &r.rule,
        }
    }
}

/// The Firefox/rustc multiply-rotate hash: several times faster than SipHash on short action names. Flooding
/// is not a concern: the keys come from policies (admin-written), and lookups only read.
#[derive(Default)]
struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}
