//! Overrides: "for a while, this agent's matching actions need a human".
//!
//! An override can only make an outcome stricter: a policy's auto-approval becomes a pending request; an
//! auto-denial stays denied (the older implementation turned it into pending, weakening a deny).

use crate::Timestamp;
use crate::policy::{DecisionType, Glob};
use crate::wire::Override;

/// Whether `item` applies to a request by `agent_id` for `action` at `now`. The tool pattern is a glob (`*` any
/// run of characters, `?` one character), so `*` alone covers every action.
pub fn applies(item: &Override, agent_id: &str, action: &str, now: Timestamp) -> bool {
    item.agent_id == agent_id
        && item.expires_at.is_none_or(|at| at > now)
        && Glob::new(&item.tool_pattern).is_match(action)
}

/// The decision once an override applies: never looser than the policy's.
pub fn stricter(decision: DecisionType) -> DecisionType {
    match decision {
        DecisionType::AutoApprove => DecisionType::RouteToHuman,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pattern: &str, expires_at: Option<i64>) -> Override {
        Override {
            id: "o1".into(),
            agent_id: "bot-1".into(),
            tool_pattern: pattern.into(),
            action: "require_approval".into(),
            reason: None,
            created_by: "key:1".into(),
            created_at: Timestamp(0),
            expires_at: expires_at.map(Timestamp),
        }
    }

    #[test]
    fn matches_agent_pattern_and_expiry() {
        let now = Timestamp(1_000);
        assert!(applies(&item("*", None), "bot-1", "anything", now));
        assert!(applies(&item("deploy:*", None), "bot-1", "deploy:prod", now));
        assert!(!applies(&item("deploy:*", None), "bot-1", "delete", now));
        assert!(applies(&item("send_email", None), "bot-1", "send_email", now));
        assert!(!applies(&item("send_email", None), "bot-1", "send_email_bulk", now));
        assert!(!applies(&item("*", None), "bot-2", "anything", now));
        assert!(!applies(&item("*", Some(1_000)), "bot-1", "anything", now));
        assert!(applies(&item("*", Some(1_001)), "bot-1", "anything", now));
    }

    #[test]
    fn only_ever_stricter() {
        assert_eq!(stricter(DecisionType::AutoApprove), DecisionType::RouteToHuman);
        assert_eq!(stricter(DecisionType::AutoDeny), DecisionType::AutoDeny);
        assert_eq!(stricter(DecisionType::RouteToHuman), DecisionType::RouteToHuman);
    }
}
