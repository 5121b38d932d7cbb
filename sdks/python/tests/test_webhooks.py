"""`verify_webhook` against real deliveries: the gateway sends signed webhooks to a receiver on 127.0.0.1, and
both signature schemes verify (and fail on a changed body, a wrong secret, a stale timestamp)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Dict

import pytest

from agentgate import Client, WebhookVerificationError, verify_webhook

from .conftest import Delivery, Receiver

STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def without(headers: Dict[str, str], *names: str) -> Dict[str, str]:
    drop = {n.lower() for n in names}
    return {k: v for k, v in headers.items() if k.lower() not in drop}


def approved_delivery(admin: Client, receiver: Receiver, action: str) -> Delivery:
    """Creates and approves a request, and returns the `request.approved` delivery for it."""
    created = admin.create_request(action, params={"to": "ceo@example.com"})
    admin.approve(created.id, reason="ship it")

    def is_approval(d: Delivery) -> bool:
        body = json.loads(d.body)
        return body.get("event") == "request.approved" and body["data"]["request"]["id"] == created.id

    return receiver.until(is_approval)


def test_real_deliveries_verify_with_both_schemes(admin: Client, receiver: Receiver, action: str) -> None:
    hook = admin.create_webhook(receiver.url, ["request.created", "request.approved"])
    try:
        delivery = approved_delivery(admin, receiver, action)
    finally:
        admin.delete_webhook(hook.id)
    assert delivery.path == "/hooks"
    headers = delivery.headers
    assert all(name in {k.lower() for k in headers} for name in STANDARD_HEADERS)
    assert any(k.lower() == "x-agentgate-signature" for k in headers)

    # Standard Webhooks (the default when its headers are there).
    event = verify_webhook(hook.secret, headers, delivery.body)
    assert event["event"] == "request.approved"
    assert event["data"]["request"]["action"] == action
    assert event["data"]["request"]["decisionReason"] == "ship it"
    # Header names in any case, the body as bytes, bytearray or text.
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify_webhook(hook.secret, lowered, bytearray(delivery.body))["event"] == "request.approved"
    assert verify_webhook(hook.secret, list(headers.items()), delivery.body.decode())["event"] == "request.approved"

    # The X-AgentGate-Signature scheme, alone or forced.
    legacy_only = without(headers, *STANDARD_HEADERS)
    assert verify_webhook(hook.secret, legacy_only, delivery.body)["event"] == "request.approved"
    assert verify_webhook(hook.secret, headers, delivery.body, scheme="agentgate")["event"] == "request.approved"

    # A changed body, a wrong secret.
    altered = delivery.body.replace(b"ship it", b"ship It")
    for scheme in ("standard", "agentgate"):
        with pytest.raises(WebhookVerificationError, match="does not match"):
            verify_webhook(hook.secret, headers, altered, scheme=scheme)  # type: ignore[arg-type]
        with pytest.raises(WebhookVerificationError, match="does not match"):
            verify_webhook("whsec_" + "A" * 43 + "=", headers, delivery.body, scheme=scheme)  # type: ignore[arg-type]

    # A delivery replayed later than the tolerance fails the standard scheme.
    sent_at = int(lowered["webhook-timestamp"])
    assert verify_webhook(hook.secret, headers, delivery.body, now=sent_at + 299)
    with pytest.raises(WebhookVerificationError, match="webhook-timestamp"):
        verify_webhook(hook.secret, headers, delivery.body, now=sent_at + 301)
    with pytest.raises(WebhookVerificationError, match="webhook-timestamp"):
        verify_webhook(hook.secret, headers, delivery.body, now=sent_at + 60, tolerance=30)

    # Missing headers say which.
    with pytest.raises(WebhookVerificationError, match="webhook-timestamp"):
        verify_webhook(hook.secret, without(headers, "webhook-timestamp"), delivery.body, scheme="standard")
    with pytest.raises(WebhookVerificationError, match="X-AgentGate-Signature"):
        verify_webhook(hook.secret, without(headers, *STANDARD_HEADERS, "x-agentgate-signature"), delivery.body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("", headers, delivery.body)


def test_a_secret_of_your_own_verifies_too(admin: Client, receiver: Receiver, action: str) -> None:
    # Not base64: both schemes key the HMAC with its UTF-8 bytes.
    secret = "my own webhook secret, long enough: 0123456789!"
    hook = admin.create_webhook(receiver.url, ["*"], secret=secret)
    try:
        delivery = approved_delivery(admin, receiver, action)
    finally:
        admin.delete_webhook(hook.id)
    assert verify_webhook(secret, delivery.headers, delivery.body)["event"] == "request.approved"
    assert verify_webhook(secret, delivery.headers, delivery.body, scheme="agentgate")["event"] == "request.approved"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret + "x", delivery.headers, delivery.body)


def test_the_test_event_verifies(admin: Client, receiver: Receiver) -> None:
    hook = admin.create_webhook(receiver.url, ["request.denied"])
    try:
        result = admin.test_webhook(hook.id)
        delivery = receiver.until(lambda d: d.headers.get("webhook-id") == result.delivery_id)
    finally:
        admin.delete_webhook(hook.id)
    event = verify_webhook(hook.secret, delivery.headers, delivery.body)
    assert event["event"] == "test"


def test_several_signatures_in_one_header() -> None:
    """During a secret rotation a sender may list several signatures; one valid one is enough."""
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = b'{"event":"test","data":{},"timestamp":1}'
    now = int(time.time())
    signed = f"msg_1.{now}.".encode() + body
    good = base64.b64encode(hmac.new(b"k" * 32, signed, hashlib.sha256).digest()).decode()
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": f"v1,{base64.b64encode(b'x' * 32).decode()} v1,{good}",
    }
    assert verify_webhook(secret, headers, body)["event"] == "test"
    headers["webhook-signature"] = f"v2,{good}"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body)
