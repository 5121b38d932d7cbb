//! Approval requests and their lifecycle.
//!
//! A request is born `pending` (or already `approved`/`denied` when a policy decides it) and leaves `pending`
//! exactly once: by a decision or by expiry. These rules are the only place that says which transitions exist;
//! storage enforces them with a conditional update and uses [`check_decidable`] to explain a refusal.

use crate::Timestamp;
use crate::policy::DecisionType;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    Expired,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 4] = [Self::Pending, Self::Approved, Self::Denied, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }

    pub fn is_terminal(self) -> bool {
        self != Self::Pending
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Low,
    #[default]
    Normal,
    High,
    Critical,
}

impl Urgency {
    pub const ALL: [Urgency; 4] = [Self::Low, Self::Normal, Self::High, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Urgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Urgency {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

/// A human (or channel) decision on a pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approved,
    Denied,
}

impl Verdict {
    pub fn status(self) -> RequestStatus {
        match self {
            Self::Approved => RequestStatus::Approved,
            Self::Denied => RequestStatus::Denied,
        }
    }
}

/// The status a new request starts in, given what the policy engine decided.
pub fn initial_status(decision: DecisionType) -> RequestStatus {
    match decision {
        DecisionType::AutoApprove => RequestStatus::Approved,
        DecisionType::AutoDeny => RequestStatus::Denied,
        DecisionType::RouteToHuman => RequestStatus::Pending,
    }
}

/// Why a request cannot be decided now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecideRefusal {
    #[error("Request already {0}")]
    AlreadyDecided(RequestStatus),
    /// Past its `expiresAt`, even if the expiry sweeper has not marked it yet.
    #[error("Request has expired")]
    Expired,
    /// The rule that routed the request names its approvers, and the decider is not one of them.
    #[error("You are not an approver of this request")]
    NotAnApprover,
    /// The rule that routed the request requires a reason with every decision.
    #[error("A reason is required to decide this request")]
    ReasonRequired,
}

/// What a decision must satisfy, beyond the request being pending: fixed when the request was created, from the
/// rule that routed it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecisionRules<'a> {
    /// Who may decide; `None` means anyone allowed to decide requests.
    pub approvers: Option<&'a [String]>,
    pub require_reason: bool,
}

/// Whether a decider known by `identities` (key name, actor id, channel user id…) may decide a request in
/// `status`, expiring at `expires_at`, at `now`, giving a reason or not. The first failing check wins, in the
/// order a person would want to hear them: already decided, expired, not yours to decide, reason missing.
pub fn check_decision(
    status: RequestStatus,
    expires_at: Option<Timestamp>,
    now: Timestamp,
    rules: DecisionRules<'_>,
    identities: &[String],
    has_reason: bool,
) -> Result<(), DecideRefusal> {
    check_decidable(status, expires_at, now)?;
    if let Some(approvers) = rules.approvers
        && !approvers.iter().any(|a| identities.contains(a))
    {
        return Err(DecideRefusal::NotAnApprover);
    }
    if rules.require_reason && !has_reason {
        return Err(DecideRefusal::ReasonRequired);
    }
    Ok(())
}

/// Whether a request in `status`, expiring at `expires_at`, may be decided at `now`.
pub fn check_decidable(
    status: RequestStatus,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), DecideRefusal> {
    match status {
        RequestStatus::Pending => match expires_at {
            Some(at) if at <= now => Err(DecideRefusal::Expired),
            _ => Ok(()),
        },
        RequestStatus::Expired => Err(DecideRefusal::Expired),
        decided => Err(DecideRefusal::AlreadyDecided(decided)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pending_unexpired_requests_are_decidable() {
        let now = Timestamp(1_000);
        assert_eq!(check_decidable(RequestStatus::Pending, None, now), Ok(()));
        assert_eq!(check_decidable(RequestStatus::Pending, Some(Timestamp(1_001)), now), Ok(()));
        assert_eq!(check_decidable(RequestStatus::Pending, Some(Timestamp(1_000)), now), Err(DecideRefusal::Expired));
        assert_eq!(
            check_decidable(RequestStatus::Approved, None, now),
            Err(DecideRefusal::AlreadyDecided(RequestStatus::Approved))
        );
        assert_eq!(check_decidable(RequestStatus::Expired, None, now), Err(DecideRefusal::Expired));
    }

    #[test]
    fn policy_decisions_map_to_initial_statuses() {
        assert_eq!(initial_status(DecisionType::AutoApprove), RequestStatus::Approved);
        assert_eq!(initial_status(DecisionType::AutoDeny), RequestStatus::Denied);
        assert_eq!(initial_status(DecisionType::RouteToHuman), RequestStatus::Pending);
    }

    #[test]
    fn approvers_and_reasons_are_checked_after_the_status() {
        let now = Timestamp(1_000);
        let approvers = vec!["alice".to_owned(), "slack:U1".to_owned()];
        let strict = DecisionRules { approvers: Some(&approvers), require_reason: true };
        let alice = ["alice".to_owned(), "key:1".to_owned()];
        let bob = ["bob".to_owned(), "key:2".to_owned()];
        let pending = RequestStatus::Pending;
        assert_eq!(check_decision(pending, None, now, strict, &alice, true), Ok(()));
        assert_eq!(check_decision(pending, None, now, strict, &alice, false), Err(DecideRefusal::ReasonRequired));
        assert_eq!(check_decision(pending, None, now, strict, &bob, true), Err(DecideRefusal::NotAnApprover));
        assert_eq!(
            check_decision(RequestStatus::Denied, None, now, strict, &bob, false),
            Err(DecideRefusal::AlreadyDecided(RequestStatus::Denied))
        );
        assert_eq!(check_decision(pending, None, now, DecisionRules::default(), &bob, false), Ok(()));
    }

    #[test]
    fn refusal_messages_match_the_reference() {
        assert_eq!(DecideRefusal::AlreadyDecided(RequestStatus::Denied).to_string(), "Request already denied");
    }
}
