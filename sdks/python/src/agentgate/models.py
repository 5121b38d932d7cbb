"""The gateway's JSON answers as typed, read-only objects with Pythonic names.

Each object keeps the exact JSON it was built from in ``raw``, so a field added by a newer gateway is still
reachable (``request.raw["newField"]``). Times are timezone-aware ``datetime`` objects in UTC, whatever unit the
wire uses (ISO-8601 for requests, policies and audit entries; Unix seconds for API keys; epoch milliseconds for
webhooks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Generic, Iterator, List, Literal, Mapping, Optional, TypeVar

__all__ = [
    "RequestStatus",
    "Urgency",
    "Decision",
    "ApprovalRequest",
    "PolicyDecision",
    "Page",
    "Policy",
    "AuditEntry",
    "ApiKey",
    "CreatedApiKey",
    "Override",
    "Webhook",
    "CreatedWebhook",
    "WebhookDetail",
    "WebhookDelivery",
    "DeliveryAttempt",
    "WebhookTestResult",
]

#: Where a request is in its life: ``pending`` until someone (or a policy) decides or it expires.
RequestStatus = Literal["pending", "approved", "denied", "expired"]
Urgency = Literal["low", "normal", "high", "critical"]
#: A verdict for ``decide``.
Decision = Literal["approved", "denied"]

T = TypeVar("T")
JSON = Dict[str, Any]


def parse_time(value: Any) -> Optional[datetime]:
    """An ISO-8601 timestamp (``2026-01-02T03:04:05.678Z``) as an aware datetime; None for null."""
    if value is None:
        return None
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _from_epoch(value: Any, per_second: int) -> Optional[datetime]:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value) / per_second, tz=timezone.utc)


def format_time(value: datetime) -> str:
    """A datetime as the gateway's ISO-8601 (UTC, milliseconds, ``Z``); a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class PolicyDecision:
    """What the policy engine decided when the request was created (only in the answer to create)."""

    #: ``auto_approve``, ``auto_deny`` or ``route_to_human``.
    decision: str
    approvers: Optional[List[str]]
    channels: Optional[List[str]]

    @classmethod
    def from_json(cls, data: JSON) -> PolicyDecision:
        return cls(decision=data["decision"], approvers=data.get("approvers"), channels=data.get("channels"))


@dataclass(frozen=True)
class ApprovalRequest:
    """An approval request: an action an agent asked to take, and what became of it."""

    id: str
    action: str
    params: JSON
    context: JSON
    status: RequestStatus
    urgency: Urgency
    created_at: datetime
    updated_at: datetime
    decided_at: Optional[datetime]
    #: Who decided: ``policy``, ``key:<id>``, a channel identity...; None while pending and after expiry.
    decided_by: Optional[str]
    decision_reason: Optional[str]
    expires_at: Optional[datetime]
    #: Who may decide (from the routing rule); None when anyone with ``request:decide`` may.
    approvers: Optional[List[str]]
    #: Whether a decision must give a reason.
    require_reason: bool
    #: Only in the answer to ``create_request``.
    policy_decision: Optional[PolicyDecision]
    raw: JSON = field(repr=False, compare=False)

    @property
    def is_pending(self) -> bool:
        return self.status == "pending"

    @property
    def is_approved(self) -> bool:
        """The only status that means "go ahead"."""
        return self.status == "approved"

    @property
    def is_decided(self) -> bool:
        """Approved, denied or expired: the status will not change again."""
        return self.status != "pending"

    @classmethod
    def from_json(cls, data: JSON) -> ApprovalRequest:
        decision = data.get("policyDecision")
        return cls(
            id=data["id"],
            action=data["action"],
            params=data.get("params") or {},
            context=data.get("context") or {},
            status=data["status"],
            urgency=data["urgency"],
            created_at=_required_time(data, "createdAt"),
            updated_at=_required_time(data, "updatedAt"),
            decided_at=parse_time(data.get("decidedAt")),
            decided_by=data.get("decidedBy"),
            decision_reason=data.get("decisionReason"),
            expires_at=parse_time(data.get("expiresAt")),
            approvers=data.get("approvers"),
            require_reason=bool(data.get("requireReason", False)),
            policy_decision=PolicyDecision.from_json(decision) if decision else None,
            raw=data,
        )


def _required_time(data: Mapping[str, Any], name: str) -> datetime:
    parsed = parse_time(data[name])
    if parsed is None:
        raise KeyError(name)
    return parsed


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with where it sits in the whole (``total``, ``has_more``).

    Iterating a page iterates its items; ``next_offset`` is the offset of the following page.
    """

    items: List[T]
    total: int
    limit: int
    offset: int
    has_more: bool

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.items)

    @classmethod
    def from_json(cls, data: JSON, key: str, item: Callable[[JSON], T]) -> Page[T]:
        pagination = data["pagination"]
        return cls(
            items=[item(entry) for entry in data[key]],
            total=int(pagination["total"]),
            limit=int(pagination["limit"]),
            offset=int(pagination["offset"]),
            has_more=bool(pagination["hasMore"]),
        )


@dataclass(frozen=True)
class Policy:
    """A named, prioritised list of rules (the policy language of docs/policies.md, kept as JSON)."""

    id: str
    name: str
    rules: List[JSON]
    #: Lower runs first.
    priority: int
    enabled: bool
    #: Goes up by one on every replace.
    version: int
    created_at: datetime
    updated_at: datetime
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> Policy:
        return cls(
            id=data["id"],
            name=data["name"],
            rules=data["rules"],
            priority=int(data["priority"]),
            enabled=bool(data["enabled"]),
            version=int(data.get("version", 0)),
            created_at=_required_time(data, "createdAt"),
            updated_at=_required_time(data, "updatedAt"),
            raw=data,
        )


@dataclass(frozen=True)
class AuditEntry:
    """One thing that happened: a request created or decided, a policy or key changed..."""

    id: str
    #: None for administrative events.
    request_id: Optional[str]
    #: ``created``, ``approved``, ``denied``, ``expired``, ``policy.created``...
    event_type: str
    actor: str
    details: JSON
    created_at: datetime
    #: In ``list_audit`` only: a summary of the request (``id``, ``action``, ``status``, ``urgency``).
    request: Optional[JSON]
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> AuditEntry:
        return cls(
            id=data["id"],
            request_id=data.get("requestId"),
            event_type=data["eventType"],
            actor=data["actor"],
            details=data.get("details") or {},
            created_at=_required_time(data, "createdAt"),
            request=data.get("request"),
            raw=data,
        )


@dataclass(frozen=True)
class ApiKey:
    """An API key as listed (its secret is never shown again after creation)."""

    id: str
    name: str
    scopes: List[str]
    created_at: datetime
    last_used_at: Optional[datetime]
    revoked_at: Optional[datetime]
    #: Requests per minute; None means the gateway's default.
    rate_limit: Optional[int]
    active: bool
    #: ``{"today", "last7Days", "last30Days", "daily": [{"date", "requests"}]}``.
    usage: JSON
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> ApiKey:
        return cls(
            id=data["id"],
            name=data["name"],
            scopes=list(data["scopes"]),
            created_at=_from_epoch(data["createdAt"], 1) or datetime.fromtimestamp(0, timezone.utc),
            last_used_at=_from_epoch(data.get("lastUsedAt"), 1),
            revoked_at=_from_epoch(data.get("revokedAt"), 1),
            rate_limit=data.get("rateLimit"),
            active=bool(data["active"]),
            usage=data.get("usage") or {},
            raw=data,
        )


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key. ``key`` is its secret (``agk_...``), shown only this once."""

    id: str
    key: str = field(repr=False)
    name: str
    scopes: List[str]
    rate_limit: Optional[int]
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> CreatedApiKey:
        return cls(
            id=data["id"],
            key=data["key"],
            name=data["name"],
            scopes=list(data["scopes"]),
            rate_limit=data.get("rateLimit"),
            raw=data,
        )


@dataclass(frozen=True)
class Override:
    """For a while, an agent's actions matching ``tool_pattern`` need a person even when a policy approves."""

    id: str
    agent_id: str
    tool_pattern: str
    reason: Optional[str]
    created_by: str
    created_at: datetime
    expires_at: Optional[datetime]
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> Override:
        return cls(
            id=data["id"],
            agent_id=data["agentId"],
            tool_pattern=data["toolPattern"],
            reason=data.get("reason"),
            created_by=data["createdBy"],
            created_at=_required_time(data, "createdAt"),
            expires_at=parse_time(data.get("expiresAt")),
            raw=data,
        )


@dataclass(frozen=True)
class Webhook:
    """A subscribed endpoint (its signing secret is never shown after creation)."""

    id: str
    url: str
    events: List[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> Webhook:
        return cls(
            id=data["id"],
            url=data["url"],
            events=list(data["events"]),
            enabled=bool(data["enabled"]),
            created_at=_from_epoch(data["createdAt"], 1000) or datetime.fromtimestamp(0, timezone.utc),
            updated_at=_from_epoch(data["updatedAt"], 1000) or datetime.fromtimestamp(0, timezone.utc),
            raw=data,
        )


@dataclass(frozen=True)
class CreatedWebhook:
    """A new webhook. ``secret`` (``whsec_...`` unless you chose one) signs its deliveries; shown only once."""

    id: str
    url: str
    events: List[str]
    secret: str = field(repr=False)
    enabled: bool
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> CreatedWebhook:
        return cls(
            id=data["id"],
            url=data["url"],
            events=list(data["events"]),
            secret=data["secret"],
            enabled=bool(data["enabled"]),
            raw=data,
        )


@dataclass(frozen=True)
class DeliveryAttempt:
    attempt: int
    attempted_at: datetime
    duration_ms: int
    response_code: Optional[int]
    #: The first kilobyte of the receiver's answer.
    response_body: Optional[str]
    #: Why the attempt failed without an answer (timeout, refused connection, blocked address).
    error: Optional[str]

    @classmethod
    def from_json(cls, data: JSON) -> DeliveryAttempt:
        return cls(
            attempt=int(data["attempt"]),
            attempted_at=_from_epoch(data["attemptedAt"], 1000) or datetime.fromtimestamp(0, timezone.utc),
            duration_ms=int(data["durationMs"]),
            response_code=data.get("responseCode"),
            response_body=data.get("responseBody"),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class WebhookDelivery:
    """One event sent (or to be sent) to one webhook, with every attempt."""

    #: Also the ``webhook-id`` header: the same on every retry, so receivers can deduplicate.
    id: str
    webhook_id: str
    event: str
    #: The exact JSON body that is signed and sent.
    payload: str
    #: ``pending``, ``success`` or ``failed``.
    status: str
    attempts: int
    created_at: datetime
    last_attempt_at: Optional[datetime]
    next_attempt_at: Optional[datetime]
    response_code: Optional[int]
    response_body: Optional[str]
    #: The delivery this one replays, if any.
    replay_of: Optional[str]
    attempt_log: List[DeliveryAttempt]
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> WebhookDelivery:
        return cls(
            id=data["id"],
            webhook_id=data["webhookId"],
            event=data["event"],
            payload=data["payload"],
            status=data["status"],
            attempts=int(data["attempts"]),
            created_at=_from_epoch(data["createdAt"], 1000) or datetime.fromtimestamp(0, timezone.utc),
            last_attempt_at=_from_epoch(data.get("lastAttemptAt"), 1000),
            next_attempt_at=_from_epoch(data.get("nextAttemptAt"), 1000),
            response_code=data.get("responseCode"),
            response_body=data.get("responseBody"),
            replay_of=data.get("replayOf"),
            attempt_log=[DeliveryAttempt.from_json(a) for a in data.get("attemptLog") or []],
            raw=data,
        )


@dataclass(frozen=True)
class WebhookDetail:
    """A webhook and its most recent deliveries (``get_webhook``)."""

    webhook: Webhook
    deliveries: List[WebhookDelivery]

    @classmethod
    def from_json(cls, data: JSON) -> WebhookDetail:
        return cls(
            webhook=Webhook.from_json(data),
            deliveries=[WebhookDelivery.from_json(d) for d in data.get("deliveries") or []],
        )


@dataclass(frozen=True)
class WebhookTestResult:
    """The receiver's answer to a signed test event."""

    success: bool
    #: The receiver's HTTP status, when it answered.
    status: Optional[int]
    message: str
    delivery_id: str

    @classmethod
    def from_json(cls, data: JSON) -> WebhookTestResult:
        return cls(
            success=bool(data["success"]),
            status=data.get("status"),
            message=data.get("message", ""),
            delivery_id=data["deliveryId"],
        )
