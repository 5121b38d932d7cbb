"""`Gate.require_approval` on sync and async functions, against the real gateway: approved by a person (from
another client) or a policy, denied, expired, still pending when the wait ends."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Dict, List

import pytest

from agentgate import (
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalNotGrantedError,
    AsyncClient,
    Client,
    Gate,
    WaitTimeoutError,
)

from .conftest import Gateway


def decide_when_asked(client: Client, action: str, decision: str, reason: str = "") -> threading.Thread:
    """Plays the person: waits (bounded) for a pending request for ``action`` to appear, then decides it."""

    def run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = client.list_requests(action=action, status="pending", limit=1)
            if pending.items:
                client.decide(pending.items[0].id, decision, reason=reason or None)  # type: ignore[arg-type]
                return
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def gate(gateway: Gateway, admin: Client) -> Gate:
    return Gate(admin, wait_timeout=120)


def test_runs_the_function_once_a_person_approves(gate: Gate, admin: Client, decider: Client, action: str) -> None:
    calls: List[Dict[str, Any]] = []

    @gate.require_approval(action=action, urgency="high")
    def send_email(to: str, subject: str, body: str = "(empty)") -> str:
        """Sends an email."""
        calls.append({"to": to, "subject": subject, "body": body})
        return "sent"

    assert send_email.__name__ == "send_email" and send_email.__doc__ == "Sends an email."
    thread = decide_when_asked(decider, action, "approved")
    assert send_email("ceo@example.com", subject="Q3") == "sent"
    thread.join()
    assert calls == [{"to": "ceo@example.com", "subject": "Q3", "body": "(empty)"}]

    # The approver saw the call's arguments, defaults included.
    [request] = admin.list_requests(action=action).items
    assert request.status == "approved" and request.urgency == "high"
    assert request.params == {"to": "ceo@example.com", "subject": "Q3", "body": "(empty)"}


def test_denial_raises_and_the_function_does_not_run(gate: Gate, decider: Client, action: str) -> None:
    calls: List[str] = []

    @gate.require_approval(action=action)
    def delete_database(name: str) -> None:
        calls.append(name)

    thread = decide_when_asked(decider, action, "denied", reason="absolutely not")
    with pytest.raises(ApprovalDeniedError) as caught:
        delete_database("production")
    thread.join()
    assert calls == []
    error = caught.value
    assert isinstance(error, ApprovalNotGrantedError)
    assert error.request.status == "denied" and error.request.decision_reason == "absolutely not"
    assert "denied" in str(error) and "absolutely not" in str(error) and action in str(error)


def test_policies_decide_without_waiting(gate: Gate, admin: Client, action: str) -> None:
    admin.create_policy(
        "gate " + action,
        [
            {"match": {"action": action, "amount": {"$lte": 100}}, "decision": "auto_approve"},
            {"match": {"action": action}, "decision": "auto_deny"},
        ],
    )

    @gate.require_approval(action=action, params=lambda amount, **_: {"amount": amount}, context={"agentId": "bot"})
    def refund(amount: int, customer: str) -> int:
        return amount

    assert refund(40, customer="c1") == 40
    with pytest.raises(ApprovalDeniedError) as caught:
        refund(4000, customer="c2")
    assert caught.value.request.decided_by == "policy"
    requests = admin.list_requests(action=action).items
    assert {r.params["amount"] for r in requests} == {40, 4000}
    assert all(r.context == {"agentId": "bot"} for r in requests)


def test_expiry_raises(gate: Gate, action: str) -> None:
    @gate.require_approval(action=action, expires_in=4)
    def launch() -> str:
        return "launched"

    with pytest.raises(ApprovalExpiredError) as caught:
        launch()
    assert caught.value.request.status == "expired"


def test_still_pending_when_the_wait_ends(gateway: Gateway, admin: Client, action: str) -> None:
    gate = Gate(admin, wait_timeout=1)

    class Mailer:
        @gate.require_approval(action=action)
        def send(self, to: str, **headers: str) -> None:
            raise AssertionError("must not run")

    with pytest.raises(WaitTimeoutError) as caught:
        Mailer().send("a@example.com", priority="high")
    request = caught.value.request
    assert request.status == "pending"
    # `self` is left out and `**headers` are spread out.
    assert request.params == {"to": "a@example.com", "priority": "high"}


@pytest.mark.anyio
async def test_async_functions_are_gated_without_blocking(gateway: Gateway, decider: Client, action: str) -> None:
    async with AsyncClient(gateway.url, gateway.admin_key) as client:
        gate = Gate(async_client=client, wait_timeout=120)
        ran: List[str] = []

        @gate.require_approval(action=action)
        async def deploy(version: str) -> str:
            ran.append(version)
            return f"deployed {version}"

        async def approve_when_asked() -> None:
            await asyncio.to_thread(lambda: decide_when_asked(decider, action, "approved").join())

        result, _ = await asyncio.gather(deploy("2.1.0"), approve_when_asked())
        assert result == "deployed 2.1.0" and ran == ["2.1.0"]

        async def deny_when_asked() -> None:
            await asyncio.to_thread(lambda: decide_when_asked(decider, action, "denied").join())

        with pytest.raises(ApprovalDeniedError):
            await asyncio.gather(deploy("3.0.0"), deny_when_asked())
        assert ran == ["2.1.0"]

        # The gate made a sync client alike for a sync function.
        @gate.require_approval(action=action, wait_timeout=0)
        def sync_too() -> None:
            raise AssertionError("must not run")

        with pytest.raises(WaitTimeoutError):
            await asyncio.to_thread(sync_too)
        assert gate.client.base_url == gateway.url
        gate.close()


def test_async_functions_work_across_event_loops(gateway: Gateway, admin: Client, action: str) -> None:
    """A module-level gate used from several `asyncio.run` calls (a new event loop each time)."""
    admin.create_policy("loops " + action, [{"match": {"action": action}, "decision": "auto_approve"}])
    gate = Gate(admin)

    @gate.require_approval(action=action)
    async def step(n: int) -> int:
        return n

    assert [asyncio.run(step(n)) for n in range(3)] == [0, 1, 2]
    assert len(admin.list_requests(action=action, status="approved")) == 3
