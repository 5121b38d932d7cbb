"""Every operation of the API as a description of one HTTP call (method, path, query, body, how to read the
answer), shared by the sync and the async client so the two cannot drift apart. No I/O happens here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Sequence, TypeVar, Union
from urllib.parse import quote

from .errors import ConfigurationError
from .models import (
    ApiKey,
    ApprovalRequest,
    AuditEntry,
    CreatedApiKey,
    CreatedWebhook,
    Override,
    Page,
    Policy,
    Webhook,
    WebhookDelivery,
    WebhookDetail,
    WebhookTestResult,
    format_time,
)

T = TypeVar("T")
JSON = Dict[str, Any]
#: A point in time for the API: a datetime (naive means UTC), or an ISO-8601 string or date passed as is.
TimeLike = Union[datetime, str]

#: The most one long poll may wait (the gateway's limit).
MAX_POLL_SECONDS = 60


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    params: Optional[Dict[str, str]] = None
    body: Any = None

    @property
    def idempotent(self) -> bool:
        """Calls that may be sent twice without asking twice: only these are retried."""
        return self.method in ("GET", "HEAD", "PUT", "DELETE")


def segment(value: str) -> str:
    """An id as one path segment (ids are opaque: encode everything that is not unreserved)."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"an id must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def query(**values: Any) -> Dict[str, str]:
    """Query parameters without the unset ones, as the strings the gateway parses."""
    out: Dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, datetime):
            out[name] = format_time(value)
        else:
            out[name] = str(value)
    return out


def compact(**values: Any) -> JSON:
    """A JSON body without the unset fields."""
    return {name: value for name, value in values.items() if value is not None}


def time_text(value: Optional[TimeLike]) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    return format_time(value)


def identity(data: Any) -> Any:
    return data


def as_dict(data: Any) -> JSON:
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def string_list(key: str) -> Callable[[Any], List[str]]:
    def read(data: Any) -> List[str]:
        return [str(item) for item in data[key]]

    return read


# ---- Requests --------------------------------------------------------------------------------------------


def create_request(
    action: str,
    params: Optional[Mapping[str, Any]],
    context: Optional[Mapping[str, Any]],
    urgency: Optional[str],
    expires_at: Optional[TimeLike],
    expires_in: Optional[Union[float, timedelta]],
) -> Call[ApprovalRequest]:
    if expires_at is not None and expires_in is not None:
        raise ConfigurationError("give expires_at or expires_in, not both")
    if expires_in is not None:
        seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else float(expires_in)
        expires_at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    body = compact(
        action=action,
        params=dict(params) if params is not None else None,
        context=dict(context) if context is not None else None,
        urgency=urgency,
        expiresAt=time_text(expires_at),
    )
    return Call("POST", "/api/requests", ApprovalRequest.from_json, body=body)


def get_request(request_id: str) -> Call[ApprovalRequest]:
    return Call("GET", f"/api/requests/{segment(request_id)}", ApprovalRequest.from_json)


def list_requests(
    status: Optional[str], action: Optional[str], urgency: Optional[str], limit: Optional[int], offset: Optional[int]
) -> Call[Page[ApprovalRequest]]:
    params = query(status=status, action=action, urgency=urgency, limit=limit, offset=offset)
    return Call(
        "GET", "/api/requests", lambda d: Page.from_json(d, "requests", ApprovalRequest.from_json), params=params
    )


def wait_once(request_id: str, seconds: int) -> Call[ApprovalRequest]:
    params = {"timeout": str(seconds)}
    return Call("GET", f"/api/requests/{segment(request_id)}/wait", ApprovalRequest.from_json, params=params)


def decide(request_id: str, decision: str, reason: Optional[str], decided_by: Optional[str]) -> Call[ApprovalRequest]:
    if decision not in ("approved", "denied"):
        raise ConfigurationError(f"decision must be 'approved' or 'denied', got {decision!r}")
    body = compact(decision=decision, reason=reason, decidedBy=decided_by)
    return Call("POST", f"/api/requests/{segment(request_id)}/decide", ApprovalRequest.from_json, body=body)


def request_audit(request_id: str) -> Call[List[AuditEntry]]:
    return Call(
        "GET",
        f"/api/requests/{segment(request_id)}/audit",
        lambda d: [AuditEntry.from_json(e) for e in d],
    )


def decision_links(request_id: str) -> Call[JSON]:
    return Call("POST", f"/api/requests/{segment(request_id)}/tokens", as_dict)


# ---- Policies --------------------------------------------------------------------------------------------


def policy_body(
    name: str, rules: Sequence[Mapping[str, Any]], priority: Optional[int], enabled: Optional[bool]
) -> JSON:
    return compact(name=name, rules=[dict(rule) for rule in rules], priority=priority, enabled=enabled)


def list_policies(limit: Optional[int], offset: Optional[int]) -> Call[Page[Policy]]:
    params = query(limit=limit, offset=offset)
    return Call("GET", "/api/policies", lambda d: Page.from_json(d, "policies", Policy.from_json), params=params)


def get_policy(policy_id: str) -> Call[Policy]:
    return Call("GET", f"/api/policies/{segment(policy_id)}", Policy.from_json)


def create_policy(body: JSON) -> Call[Policy]:
    return Call("POST", "/api/policies", Policy.from_json, body=body)


def replace_policy(policy_id: str, body: JSON) -> Call[Policy]:
    return Call("PUT", f"/api/policies/{segment(policy_id)}", Policy.from_json, body=body)


def delete_policy(policy_id: str) -> Call[JSON]:
    return Call("DELETE", f"/api/policies/{segment(policy_id)}", as_dict)


def simulate_policies(
    request: Optional[Mapping[str, Any]],
    requests: Optional[Sequence[Mapping[str, Any]]],
    policies: Optional[Sequence[Mapping[str, Any]]],
) -> Call[JSON]:
    if (request is None) == (requests is None):
        raise ConfigurationError("give one request or a list of requests to simulate")
    body = compact(
        request=dict(request) if request is not None else None,
        requests=[dict(r) for r in requests] if requests is not None else None,
        policies=[dict(p) for p in policies] if policies is not None else None,
    )
    return Call("POST", "/api/policies/simulate", as_dict, body=body)


def backtest_policies(policies: Sequence[Mapping[str, Any]], days: Optional[int], last: Optional[int]) -> Call[JSON]:
    body = compact(policies=[dict(p) for p in policies], days=days, last=last)
    return Call("POST", "/api/policies/backtest", as_dict, body=body)


# ---- Overrides -------------------------------------------------------------------------------------------


def list_overrides() -> Call[List[Override]]:
    return Call("GET", "/api/overrides", lambda d: [Override.from_json(o) for o in d["overrides"]])


def create_override(
    agent_id: str, tool_pattern: str, reason: Optional[str], ttl_seconds: Optional[int]
) -> Call[Override]:
    body = compact(agentId=agent_id, toolPattern=tool_pattern, reason=reason, ttlSeconds=ttl_seconds)
    return Call("POST", "/api/overrides", Override.from_json, body=body)


def delete_override(override_id: str) -> Call[JSON]:
    return Call("DELETE", f"/api/overrides/{segment(override_id)}", as_dict)


# ---- API keys --------------------------------------------------------------------------------------------


def list_api_keys() -> Call[List[ApiKey]]:
    return Call("GET", "/api/keys", lambda d: [ApiKey.from_json(k) for k in d["keys"]])


def create_api_key(name: str, scopes: Sequence[str], rate_limit: Optional[int]) -> Call[CreatedApiKey]:
    body = compact(name=name, scopes=list(scopes), rateLimit=rate_limit)
    return Call("POST", "/api/keys", CreatedApiKey.from_json, body=body)


def update_api_key(
    key_id: str,
    name: Optional[str],
    scopes: Optional[Sequence[str]],
    rate_limit: Optional[int],
    clear_rate_limit: bool,
) -> Call[ApiKey]:
    if rate_limit is not None and clear_rate_limit:
        raise ConfigurationError("give rate_limit or clear_rate_limit, not both")
    body = compact(name=name, scopes=list(scopes) if scopes is not None else None, rateLimit=rate_limit)
    if clear_rate_limit:
        body["rateLimit"] = None
    return Call("PATCH", f"/api/keys/{segment(key_id)}", lambda d: ApiKey.from_json(d["key"]), body=body)


def revoke_api_key(key_id: str) -> Call[JSON]:
    return Call("DELETE", f"/api/keys/{segment(key_id)}", as_dict)


# ---- Webhooks --------------------------------------------------------------------------------------------


def list_webhooks() -> Call[List[Webhook]]:
    return Call("GET", "/api/webhooks", lambda d: [Webhook.from_json(w) for w in d["webhooks"]])


def get_webhook(webhook_id: str) -> Call[WebhookDetail]:
    return Call("GET", f"/api/webhooks/{segment(webhook_id)}", WebhookDetail.from_json)


def create_webhook(url: str, events: Sequence[str], secret: Optional[str]) -> Call[CreatedWebhook]:
    body = compact(url=url, events=list(events), secret=secret)
    return Call("POST", "/api/webhooks", CreatedWebhook.from_json, body=body)


def update_webhook(
    webhook_id: str, url: Optional[str], events: Optional[Sequence[str]], enabled: Optional[bool]
) -> Call[Webhook]:
    body = compact(url=url, events=list(events) if events is not None else None, enabled=enabled)
    return Call("PATCH", f"/api/webhooks/{segment(webhook_id)}", lambda d: Webhook.from_json(d["webhook"]), body=body)


def delete_webhook(webhook_id: str) -> Call[JSON]:
    return Call("DELETE", f"/api/webhooks/{segment(webhook_id)}", as_dict)


def test_webhook(webhook_id: str) -> Call[WebhookTestResult]:
    return Call("POST", f"/api/webhooks/{segment(webhook_id)}/test", WebhookTestResult.from_json)


def list_webhook_deliveries(
    webhook_id: str, status: Optional[str], limit: Optional[int], offset: Optional[int]
) -> Call[Page[WebhookDelivery]]:
    return Call(
        "GET",
        f"/api/webhooks/{segment(webhook_id)}/deliveries",
        lambda d: Page.from_json(d, "deliveries", WebhookDelivery.from_json),
        params=query(status=status, limit=limit, offset=offset),
    )


def replay_delivery(delivery_id: str) -> Call[WebhookDelivery]:
    return Call(
        "POST",
        f"/api/webhooks/deliveries/{segment(delivery_id)}/replay",
        lambda d: WebhookDelivery.from_json(d["delivery"]),
    )


# ---- Audit and health ------------------------------------------------------------------------------------


def list_audit(
    event_type: Optional[str],
    action: Optional[str],
    actor: Optional[str],
    status: Optional[str],
    request_id: Optional[str],
    since: Optional[TimeLike],
    until: Optional[TimeLike],
    limit: Optional[int],
    offset: Optional[int],
) -> Call[Page[AuditEntry]]:
    params = query(
        eventType=event_type,
        action=action,
        actor=actor,
        status=status,
        requestId=request_id,
        limit=limit,
        offset=offset,
    )
    # `from` is a keyword in Python, so the filter is called `since` (and `to` `until`) here.
    params.update(query(**{"from": time_text(since), "to": time_text(until)}))
    return Call("GET", "/api/audit", lambda d: Page.from_json(d, "entries", AuditEntry.from_json), params=params)


def audit_actions() -> Call[List[str]]:
    return Call("GET", "/api/audit/actions", string_list("actions"))


def audit_actors() -> Call[List[str]]:
    return Call("GET", "/api/audit/actors", string_list("actors"))


def health(deep: bool) -> Call[JSON]:
    return Call("GET", "/health", as_dict, params={"deep": "true"} if deep else None)
