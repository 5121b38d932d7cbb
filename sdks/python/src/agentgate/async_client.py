"""The asynchronous client: the same operations as :class:`agentgate.Client`, awaited."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import timedelta
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Sequence, TypeVar, Union

import httpx

from . import _api
from ._api import Call, TimeLike
from ._transport import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    Settings,
    failure,
    is_retryable_failure,
    is_retryable_status,
    request_args,
    result,
    transport_error,
)
from .errors import NotFoundError, WaitTimeoutError
from .models import (
    ApiKey,
    ApprovalRequest,
    AuditEntry,
    CreatedApiKey,
    CreatedWebhook,
    Decision,
    Override,
    Page,
    Policy,
    RequestStatus,
    Urgency,
    Webhook,
    WebhookDelivery,
    WebhookDetail,
    WebhookTestResult,
)

T = TypeVar("T")
JSON = Dict[str, Any]

#: ``wait_for_decision``'s default: five minutes in all.
DEFAULT_WAIT_TIMEOUT = 300.0
#: Longest single long poll by default (the gateway allows 60 s).
DEFAULT_POLL_TIMEOUT = 30.0


class AsyncClient:
    """A client for one gateway.

    ::

        from agentgate import Client

        async with AsyncClient("http://localhost:3000", api_key="agk_...") as gate:
            request = await gate.create_request("deploy", params={"version": "2.1.0"})
            request = await gate.wait_for_decision(request.id, timeout=600)
            if request.is_approved:
                deploy("2.1.0")

    ``base_url`` and ``api_key`` default to ``AGENTGATE_URL`` and ``AGENTGATE_API_KEY``. Errors are subclasses
    of :class:`agentgate.AgentGateError`; an answer with an error status raises :class:`agentgate.ApiError`
    carrying the status and the gateway's message. Idempotent calls (GET, PUT, DELETE) are retried on connection
    failures, timeouts, 5xx and 429 with exponential backoff and jitter, honouring ``Retry-After``; creating and
    deciding requests (POST, PATCH) are sent once, so a retry can never ask twice.

    The client holds a connection pool: ``await client.aclose()`` (or use ``async with``) when done.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff_base: float = 0.25,
        backoff_max: float = 10.0,
    ) -> None:
        self._settings = Settings.resolve(
            base_url, api_key, timeout, connect_timeout, retries, backoff_base, backoff_max
        )
        self._http = httpx.AsyncClient(headers=self._settings.headers(), follow_redirects=False)

    @classmethod
    def _from_settings(cls, settings: Settings) -> AsyncClient:
        client = cls.__new__(cls)
        client._settings = settings
        client._http = httpx.AsyncClient(headers=settings.headers(), follow_redirects=False)
        return client

    @property
    def base_url(self) -> str:
        """The gateway's URL, without a trailing slash."""
        return self._settings.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient({self.base_url!r})"

    # ---- Requests ----------------------------------------------------------------------------------------

    async def create_request(
        self,
        action: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        context: Optional[Mapping[str, Any]] = None,
        urgency: Optional[Urgency] = None,
        expires_at: Optional[TimeLike] = None,
        expires_in: Optional[Union[float, timedelta]] = None,
    ) -> ApprovalRequest:
        """Asks for approval of ``action``. The answer says whether a policy decided at once (``status``
        ``approved`` or ``denied``, see ``policy_decision``) or it waits for a person (``pending``).

        ``context["agentId"]`` names the agent (overrides apply per agent). ``expires_at`` (a datetime or an
        ISO-8601 string) or ``expires_in`` (seconds or a timedelta) bound how long it may stay pending.
        Never retried.
        """
        return await self._call(_api.create_request(action, params, context, urgency, expires_at, expires_in))

    async def get_request(self, request_id: str) -> ApprovalRequest:
        return await self._call(_api.get_request(request_id))

    async def list_requests(
        self,
        *,
        status: Optional[RequestStatus] = None,
        action: Optional[str] = None,
        urgency: Optional[Urgency] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> Page[ApprovalRequest]:
        """One page of requests, newest first (``limit`` at most 100; the gateway's default is 50)."""
        return await self._call(_api.list_requests(status, action, urgency, limit, offset))

    async def iter_requests(
        self,
        *,
        status: Optional[RequestStatus] = None,
        action: Optional[str] = None,
        urgency: Optional[Urgency] = None,
        page_size: int = 100,
    ) -> AsyncIterator[ApprovalRequest]:
        """Every matching request, newest first, fetching pages of ``page_size`` as needed."""
        offset = 0
        while True:
            page = await self.list_requests(
                status=status, action=action, urgency=urgency, limit=page_size, offset=offset
            )
            for item in page.items:
                yield item
            if not page.has_more or not page.items:
                return
            offset = page.next_offset

    async def wait_for_decision(
        self,
        request_id: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_timeout: float = DEFAULT_POLL_TIMEOUT,
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
    ) -> ApprovalRequest:
        """Waits until the request is decided or expires, and returns it (check ``is_approved``: only
        ``approved`` means go ahead). Raises :class:`agentgate.WaitTimeoutError` when ``timeout`` seconds pass
        first; the request stays pending on the gateway and can be waited for again.

        Each long poll (``GET /api/requests/:id/wait``, at most ``poll_timeout`` seconds, up to 60) returns the
        moment the gateway records a decision; polls follow one another until the deadline. Against an older
        gateway without the long-poll route, it polls the request instead, from ``poll_interval`` seconds
        apart, doubling up to ``max_poll_interval``. An unknown id raises :class:`agentgate.NotFoundError`.
        """
        deadline = time.monotonic() + timeout
        poll = min(max(poll_timeout, 1.0), float(_api.MAX_POLL_SECONDS))
        while True:
            remaining = deadline - time.monotonic()
            seconds = max(0, math.ceil(min(remaining, poll)))
            try:
                request = await self._call(_api.wait_once(request_id, seconds), extra_timeout=seconds)
            except NotFoundError:
                # Either the request is unknown (this GET raises the same 404) or the route is.
                request = await self.get_request(request_id)
                return await self._poll_for_decision(request, deadline, timeout, poll_interval, max_poll_interval)
            if request.is_decided:
                return request
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(request, timeout)

    async def _poll_for_decision(
        self, request: ApprovalRequest, deadline: float, timeout: float, interval: float, max_interval: float
    ) -> ApprovalRequest:
        interval = max(interval, 0.01)
        while not request.is_decided:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(request, timeout)
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 2, max(max_interval, interval))
            request = await self.get_request(request.id)
        return request

    async def decide(
        self, request_id: str, decision: Decision, *, reason: Optional[str] = None, decided_by: Optional[str] = None
    ) -> ApprovalRequest:
        """Approves or denies a pending request. The gateway records this client's key as the decider
        (``decided_by`` is kept only as a label). Never retried: :class:`agentgate.ConflictError` says it was
        already decided or has expired."""
        return await self._call(_api.decide(request_id, decision, reason, decided_by))

    async def approve(self, request_id: str, *, reason: Optional[str] = None) -> ApprovalRequest:
        return await self.decide(request_id, "approved", reason=reason)

    async def deny(self, request_id: str, *, reason: Optional[str] = None) -> ApprovalRequest:
        return await self.decide(request_id, "denied", reason=reason)

    async def request_audit(self, request_id: str) -> List[AuditEntry]:
        """The audit trail of one request, oldest first."""
        return await self._call(_api.request_audit(request_id))

    async def decision_links(self, request_id: str) -> JSON:
        """Mints a one-click approve link and deny link for a pending request (single-use, expiring):
        ``{"requestId", "tokens": {"approve": {"token", "url"}, "deny": {...}}, "expiresAt", ...}``."""
        return await self._call(_api.decision_links(request_id))

    # ---- Policies ----------------------------------------------------------------------------------------

    async def list_policies(self, *, limit: Optional[int] = None, offset: Optional[int] = None) -> Page[Policy]:
        """Policies in evaluation order (ascending priority)."""
        return await self._call(_api.list_policies(limit, offset))

    async def iter_policies(self, *, page_size: int = 100) -> AsyncIterator[Policy]:
        offset = 0
        while True:
            page = await self.list_policies(limit=page_size, offset=offset)
            for item in page.items:
                yield item
            if not page.has_more or not page.items:
                return
            offset = page.next_offset

    async def get_policy(self, policy_id: str) -> Policy:
        return await self._call(_api.get_policy(policy_id))

    async def create_policy(
        self,
        name: str,
        rules: Sequence[Mapping[str, Any]],
        *,
        priority: Optional[int] = None,
        enabled: Optional[bool] = None,
    ) -> Policy:
        """Creates a policy; ``rules`` are in the policy language (docs/policies.md), e.g.
        ``[{"match": {"action": "read_*"}, "decision": "auto_approve"}]``. A
        :class:`agentgate.BadRequestError` names the offending place (``rules[0].match.amount: ...``)."""
        return await self._call(_api.create_policy(_api.policy_body(name, rules, priority, enabled)))

    async def replace_policy(
        self,
        policy_id: str,
        name: str,
        rules: Sequence[Mapping[str, Any]],
        *,
        priority: Optional[int] = None,
        enabled: Optional[bool] = None,
    ) -> Policy:
        """Replaces a policy (its ``version`` goes up by one)."""
        return await self._call(_api.replace_policy(policy_id, _api.policy_body(name, rules, priority, enabled)))

    async def delete_policy(self, policy_id: str) -> JSON:
        return await self._call(_api.delete_policy(policy_id))

    async def simulate_policies(
        self,
        request: Optional[Mapping[str, Any]] = None,
        *,
        requests: Optional[Sequence[Mapping[str, Any]]] = None,
        policies: Optional[Sequence[Mapping[str, Any]]] = None,
    ) -> JSON:
        """What the engine would decide for one request (or several), against the stored policies or the draft
        set ``policies``, with the rule that matched and why the others did not. Nothing is stored."""
        return await self._call(_api.simulate_policies(request, requests, policies))

    async def backtest_policies(
        self, policies: Sequence[Mapping[str, Any]], *, days: Optional[int] = None, last: Optional[int] = None
    ) -> JSON:
        """How a draft policy set would have decided the stored requests, against what was decided."""
        return await self._call(_api.backtest_policies(policies, days, last))

    # ---- Overrides ---------------------------------------------------------------------------------------

    async def list_overrides(self) -> List[Override]:
        return await self._call(_api.list_overrides())

    async def create_override(
        self,
        agent_id: str,
        tool_pattern: str,
        *,
        reason: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
    ) -> Override:
        """For ``ttl_seconds`` (or until deleted), ``agent_id``'s actions matching the glob ``tool_pattern``
        need a person even when a policy would approve them."""
        return await self._call(_api.create_override(agent_id, tool_pattern, reason, ttl_seconds))

    async def delete_override(self, override_id: str) -> JSON:
        return await self._call(_api.delete_override(override_id))

    # ---- API keys ----------------------------------------------------------------------------------------

    async def list_api_keys(self) -> List[ApiKey]:
        return await self._call(_api.list_api_keys())

    async def create_api_key(
        self, name: str, scopes: Sequence[str], *, rate_limit: Optional[int] = None
    ) -> CreatedApiKey:
        """Creates a key with ``scopes`` (``request:create``, ``request:read``, ``request:decide``,
        ``webhook:manage``, ``admin``); its secret ``key`` is in the answer, shown only this once."""
        return await self._call(_api.create_api_key(name, scopes, rate_limit))

    async def update_api_key(
        self,
        key_id: str,
        *,
        name: Optional[str] = None,
        scopes: Optional[Sequence[str]] = None,
        rate_limit: Optional[int] = None,
        clear_rate_limit: bool = False,
    ) -> ApiKey:
        """Changes only what is given; ``clear_rate_limit`` removes the key's own limit."""
        return await self._call(_api.update_api_key(key_id, name, scopes, rate_limit, clear_rate_limit))

    async def revoke_api_key(self, key_id: str) -> JSON:
        """Revokes a key: it stops working at once."""
        return await self._call(_api.revoke_api_key(key_id))

    # ---- Webhooks ----------------------------------------------------------------------------------------

    async def list_webhooks(self) -> List[Webhook]:
        return await self._call(_api.list_webhooks())

    async def get_webhook(self, webhook_id: str) -> WebhookDetail:
        """A webhook and its most recent deliveries."""
        return await self._call(_api.get_webhook(webhook_id))

    async def create_webhook(
        self, url: str, events: Sequence[str] = ("*",), *, secret: Optional[str] = None
    ) -> CreatedWebhook:
        """Subscribes ``url`` to ``events`` (``request.created``, ``request.approved``, ``request.denied``,
        ``request.decided``, ``request.expired``, or ``*``). The answer's ``secret`` signs the deliveries
        (verify them with :func:`agentgate.verify_webhook`); it is shown only this once."""
        return await self._call(_api.create_webhook(url, events, secret))

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: Optional[str] = None,
        events: Optional[Sequence[str]] = None,
        enabled: Optional[bool] = None,
    ) -> Webhook:
        return await self._call(_api.update_webhook(webhook_id, url, events, enabled))

    async def delete_webhook(self, webhook_id: str) -> JSON:
        return await self._call(_api.delete_webhook(webhook_id))

    async def test_webhook(self, webhook_id: str) -> WebhookTestResult:
        """Sends a signed test event now and reports the receiver's answer."""
        return await self._call(_api.test_webhook(webhook_id))

    async def list_webhook_deliveries(
        self,
        webhook_id: str,
        *,
        status: Optional[str] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> Page[WebhookDelivery]:
        """A webhook's delivery log, newest first, with every attempt (``status``: pending, success, failed)."""
        return await self._call(_api.list_webhook_deliveries(webhook_id, status, limit, offset))

    async def replay_delivery(self, delivery_id: str) -> WebhookDelivery:
        """Queues a finished delivery again (same body, a new delivery id)."""
        return await self._call(_api.replay_delivery(delivery_id))

    # ---- Audit -------------------------------------------------------------------------------------------

    async def list_audit(
        self,
        *,
        event_type: Optional[str] = None,
        action: Optional[str] = None,
        actor: Optional[str] = None,
        status: Optional[RequestStatus] = None,
        request_id: Optional[str] = None,
        since: Optional[TimeLike] = None,
        until: Optional[TimeLike] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> Page[AuditEntry]:
        """One page of the audit trail, newest first. ``since``/``until`` are the API's ``from``/``to``."""
        return await self._call(
            _api.list_audit(event_type, action, actor, status, request_id, since, until, limit, offset)
        )

    async def iter_audit(
        self,
        *,
        event_type: Optional[str] = None,
        action: Optional[str] = None,
        actor: Optional[str] = None,
        status: Optional[RequestStatus] = None,
        request_id: Optional[str] = None,
        since: Optional[TimeLike] = None,
        until: Optional[TimeLike] = None,
        page_size: int = 100,
    ) -> AsyncIterator[AuditEntry]:
        offset = 0
        while True:
            page = await self.list_audit(
                event_type=event_type,
                action=action,
                actor=actor,
                status=status,
                request_id=request_id,
                since=since,
                until=until,
                limit=page_size,
                offset=offset,
            )
            for item in page.items:
                yield item
            if not page.has_more or not page.items:
                return
            offset = page.next_offset

    async def audit_actions(self) -> List[str]:
        """The distinct actions in the audit trail."""
        return await self._call(_api.audit_actions())

    async def audit_actors(self) -> List[str]:
        """The distinct actors in the audit trail (``key:<id>``, ``policy``, ``system:expiry``...)."""
        return await self._call(_api.audit_actors())

    # ---- Health ------------------------------------------------------------------------------------------

    async def health(self, *, deep: bool = False) -> JSON:
        """``GET /health`` (needs no key); ``deep`` also checks the database."""
        return await self._call(_api.health(deep))

    # ---- Transport ---------------------------------------------------------------------------------------

    async def _call(self, call: Call[T], extra_timeout: float = 0.0) -> T:
        """Sends one call, retrying idempotent ones, and reads the answer."""
        settings = self._settings
        attempts = settings.retries + 1 if call.idempotent else 1
        args = request_args(settings, call, extra_timeout)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await self._http.request(**args)
            except httpx.TransportError as e:
                if last or not is_retryable_failure(e):
                    raise transport_error(settings, e) from e
                await asyncio.sleep(settings.backoff(attempt, None))
                continue
            if response.is_success:
                return result(call, response)
            error = failure(response)
            if last or not is_retryable_status(response.status_code):
                raise error
            await asyncio.sleep(settings.backoff(attempt, error.retry_after))
        raise AssertionError("unreachable: the last attempt returns or raises")
