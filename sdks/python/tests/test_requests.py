"""Approval requests through the sync client against the real gateway: create, get, list and paginate, decide,
audit, decision links; and the errors a caller sees."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agentgate import (
    ApiError,
    ApprovalRequest,
    AuthenticationError,
    BadRequestError,
    Client,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
)

from .conftest import Gateway, free_port, key_client


def test_create_get_and_decide(admin: Client, decider: Client, action: str) -> None:
    created = admin.create_request(
        action,
        params={"to": "ceo@example.com", "amount": 12.5},
        context={"agentId": "agent-7"},
        urgency="high",
    )
    assert isinstance(created, ApprovalRequest)
    assert created.status == "pending" and created.is_pending and not created.is_decided
    assert created.action == action
    assert created.params == {"to": "ceo@example.com", "amount": 12.5}
    assert created.context == {"agentId": "agent-7"}
    assert created.urgency == "high"
    assert created.policy_decision is not None and created.policy_decision.decision == "route_to_human"
    assert created.created_at.tzinfo is not None
    assert created.raw["id"] == created.id

    fetched = admin.get_request(created.id)
    assert fetched.id == created.id and fetched.status == "pending"
    assert fetched.policy_decision is None

    decided = decider.approve(created.id, reason="looks fine")
    assert decided.is_approved and decided.is_decided
    assert decided.decision_reason == "looks fine"
    assert decided.decided_by is not None and decided.decided_by.startswith("key:")
    assert decided.decided_at is not None

    # A second decision is a conflict, with the gateway's message.
    with pytest.raises(ConflictError) as caught:
        decider.deny(created.id)
    assert caught.value.status == 409
    assert "already" in caught.value.message.lower()
    assert str(caught.value).startswith("409 Conflict: ")

    trail = admin.request_audit(created.id)
    assert [entry.event_type for entry in trail] == ["created", "approved"]
    assert trail[1].actor == decided.decided_by
    assert all(entry.request_id == created.id for entry in trail)


def test_decide_with_a_label_and_deny(admin: Client, action: str) -> None:
    created = admin.create_request(action)
    denied = admin.decide(created.id, "denied", reason="not today", decided_by="the on-call human")
    assert denied.status == "denied"
    # The label is kept in the audit trail; the decider is the authenticated key.
    assert denied.decided_by != "the on-call human"
    details = admin.request_audit(created.id)[-1].details
    assert details.get("label") == "the on-call human"


def test_expiry_from_expires_at_and_expires_in(admin: Client, action: str) -> None:
    at = datetime.now(timezone.utc) + timedelta(hours=1)
    created = admin.create_request(action, expires_at=at)
    assert created.expires_at is not None
    assert abs((created.expires_at - at).total_seconds()) < 1
    created = admin.create_request(action, expires_in=timedelta(minutes=5))
    assert created.expires_at is not None and created.expires_at > datetime.now(timezone.utc)
    with pytest.raises(ConfigurationError):
        admin.create_request(action, expires_at=at, expires_in=60)


def test_list_paginates_and_filters(admin: Client, action: str) -> None:
    ids = [admin.create_request(action, params={"n": n}).id for n in range(5)]
    admin.approve(ids[0])

    first = admin.list_requests(action=action, limit=2)
    assert first.total == 5 and first.limit == 2 and first.offset == 0 and first.has_more
    assert len(first) == 2
    # Newest first.
    assert [r.id for r in first] == [ids[4], ids[3]]
    second = admin.list_requests(action=action, limit=2, offset=first.next_offset)
    assert [r.id for r in second] == [ids[2], ids[1]] and second.has_more
    last = admin.list_requests(action=action, limit=2, offset=second.next_offset)
    assert [r.id for r in last] == [ids[0]] and not last.has_more

    assert [r.id for r in admin.iter_requests(action=action, page_size=2)] == list(reversed(ids))
    pending = admin.list_requests(action=action, status="pending")
    assert pending.total == 4 and ids[0] not in {r.id for r in pending}
    approved = list(admin.iter_requests(action=action, status="approved"))
    assert [r.id for r in approved] == [ids[0]]
    assert admin.list_requests(action=action, urgency="critical").total == 0


def test_decision_links(admin: Client, action: str) -> None:
    created = admin.create_request(action)
    links = admin.decision_links(created.id)
    assert links["requestId"] == created.id
    assert "/api/decide/" in links["tokens"]["approve"]["url"]
    assert links["tokens"]["approve"]["token"] != links["tokens"]["deny"]["token"]


def test_unknown_ids_are_not_found(admin: Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        admin.get_request("01NOSUCHREQUEST")
    assert caught.value.status == 404
    assert caught.value.message == "Request not found"
    assert caught.value.body == {"error": "Request not found"}
    # Ids are one path segment whatever they contain.
    with pytest.raises(NotFoundError):
        admin.get_request("../policies")
    with pytest.raises(NotFoundError):
        admin.decide("01NOSUCHREQUEST", "approved")
    with pytest.raises(ConfigurationError):
        admin.get_request("")


def test_bad_input_is_a_bad_request_naming_the_field(admin: Client, action: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        admin.create_request(action, urgency="whenever")  # type: ignore[arg-type]
    assert "urgency" in caught.value.message
    with pytest.raises(BadRequestError) as caught:
        admin.create_request("   ")
    assert "action" in caught.value.message
    with pytest.raises(BadRequestError) as caught:
        admin.create_request(action, expires_at="yesterday")
    assert "expiresAt" in caught.value.message
    with pytest.raises(BadRequestError):
        admin.list_requests(limit=0)
    with pytest.raises(ConfigurationError):
        admin.decide("whatever", "maybe")  # type: ignore[arg-type]


def test_authentication_and_scopes(gateway: Gateway, admin: Client, action: str) -> None:
    with Client(gateway.url, "agk_not_a_real_key") as stranger:
        with pytest.raises(AuthenticationError) as caught:
            stranger.list_requests()
        assert caught.value.status == 401 and caught.value.message == "Invalid API key"
    # No key at all (an empty one is not sent).
    with Client(gateway.url, "") as anonymous:
        with pytest.raises(AuthenticationError) as caught:
            anonymous.get_request("x")
        assert caught.value.message == "Missing Authorization header"
        assert anonymous.health()["status"] == "ok"

    with key_client(gateway, admin, "creator", ["request:create"]) as creator:
        created = creator.create_request(action)
        with pytest.raises(PermissionDeniedError) as caught:
            creator.approve(created.id)
        assert caught.value.status == 403
        assert caught.value.message == "Missing required scope: request:decide"
        assert isinstance(caught.value, ApiError) and not caught.value.is_retryable


def test_an_unreachable_gateway_is_a_transport_error() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", "k", retries=1, backoff_base=0.01) as client:
        with pytest.raises(TransportError) as caught:
            client.get_request("x")
        assert "cannot reach the gateway at http://127.0.0.1:" in str(caught.value)
        with pytest.raises(TransportError):
            client.create_request("deploy")


def test_configuration_is_checked_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError):
        Client("ftp://example.com")
    with pytest.raises(ConfigurationError):
        Client("http://")
    with Client("http://127.0.0.1:3000/", "k") as client:
        assert client.base_url == "http://127.0.0.1:3000"
    monkeypatch.setenv("AGENTGATE_URL", "http://127.0.0.1:4000")
    monkeypatch.setenv("AGENTGATE_API_KEY", "agk_from_env")
    with Client() as client:
        assert client.base_url == "http://127.0.0.1:4000"
        assert client._settings.api_key == "agk_from_env"
    with Client("http://127.0.0.1:5000", "given") as client:
        assert client.base_url == "http://127.0.0.1:5000"
        assert client._settings.api_key == "given"


def test_health(admin: Client) -> None:
    assert admin.health()["status"] == "ok"
    deep = admin.health(deep=True)
    assert deep["status"] == "ok" and "checks" in deep
