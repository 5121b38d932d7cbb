"""Verifying the gateway's webhook deliveries, in either of its two signature schemes.

Every delivery carries both:

- Standard Webhooks (https://www.standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
  ``webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``. The key is the base64 after
  the ``whsec_`` prefix (or, for a secret you chose that is not base64, its UTF-8 bytes). The timestamp must be
  within ``tolerance`` of now, so a captured delivery cannot be replayed later.
- ``X-AgentGate-Signature: sha256=<hex HMAC-SHA256(secret, body)>``, keyed with the secret's UTF-8 bytes. It
  signs the body alone, so it cannot tell a replay from the original: prefer the standard scheme.

``verify_webhook`` checks the standard headers when they are present, else the AgentGate one; ``scheme`` forces
one. Signatures are compared in constant time, always over the raw body as received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Callable, Dict, Iterable, Literal, Mapping, Optional, Tuple, Union

from .errors import WebhookVerificationError

__all__ = ["verify_webhook", "DEFAULT_TOLERANCE"]

#: How far ``webhook-timestamp`` may be from now, in seconds (what the Standard Webhooks libraries allow).
DEFAULT_TOLERANCE = 300

Scheme = Literal["auto", "standard", "agentgate"]
#: A mapping of header names to values, or an object with ``.items()`` (``http.server``'s message), or pairs.
HeadersLike = Union[Mapping[str, str], Iterable[Tuple[str, str]], Any]
Lookup = Callable[[str], Optional[str]]


def verify_webhook(
    secret: str,
    headers: HeadersLike,
    raw_body: Union[bytes, bytearray, memoryview, str],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    scheme: Scheme = "auto",
    now: Optional[float] = None,
) -> Dict[str, Any]:
    """Verifies one delivery and returns its parsed JSON body (``{"event", "data", "timestamp"}``).

    ``secret`` is the webhook's secret as the gateway showed it on creation (``whsec_...``, or the one you
    chose); ``headers`` any mapping of the request's headers (case does not matter: a dict, Flask's or
    Starlette's headers, ``http.server``'s message); ``raw_body`` the body exactly as received, before any JSON
    parsing. ``now`` (Unix seconds) is for tests.

    Raises :class:`agentgate.WebhookVerificationError` saying what failed; answer such a delivery with 400 or
    401 and ignore it. Deduplicate verified deliveries on the ``webhook-id`` header: a retry reuses it.

    ::

        event = verify_webhook(SECRET, request.headers, request.get_data())
        if event["event"] == "request.approved":
            ...
    """
    if not isinstance(secret, str) or not secret:
        raise WebhookVerificationError("the webhook secret is empty")
    body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
    lookup = _header_lookup(headers)
    if scheme == "standard" or (scheme == "auto" and lookup("webhook-signature") is not None):
        _verify_standard(secret, lookup, body, tolerance, time.time() if now is None else now)
    elif scheme in ("agentgate", "auto"):
        _verify_agentgate(secret, lookup, body)
    else:
        raise ValueError(f"scheme must be 'auto', 'standard' or 'agentgate', got {scheme!r}")
    try:
        event = json.loads(body)
    except ValueError as e:
        raise WebhookVerificationError(f"the body is not JSON: {e}") from e
    if not isinstance(event, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return event


def _header_lookup(headers: HeadersLike) -> Lookup:
    """Case-insensitive header access over any of the shapes of ``HeadersLike``."""
    items: Iterable[Tuple[Any, Any]] = headers.items() if hasattr(headers, "items") else headers
    folded: Dict[str, str] = {}
    for name, value in items:
        folded.setdefault(str(name).lower(), str(value))

    def lookup(name: str) -> Optional[str]:
        return folded.get(name)

    return lookup


def _required(lookup: Lookup, name: str) -> str:
    value = lookup(name)
    if not value:
        raise WebhookVerificationError(f"missing the {name} header")
    return value


def _verify_standard(secret: str, lookup: Lookup, body: bytes, tolerance: float, now: float) -> None:
    message_id = _required(lookup, "webhook-id")
    timestamp_text = _required(lookup, "webhook-timestamp")
    signatures = _required(lookup, "webhook-signature")
    try:
        timestamp = int(timestamp_text.strip())
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a whole number of seconds") from None
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(now - timestamp)} s from now (more than {tolerance:g} s): "
            "a replayed or delayed delivery, or a wrong clock"
        )
    signed = message_id.encode("utf-8") + b"." + str(timestamp).encode("ascii") + b"." + body
    expected = base64.b64encode(hmac.new(standard_key(secret), signed, hashlib.sha256).digest())
    # The header may carry several space-separated signatures (during a secret rotation); one must match.
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode("utf-8"), expected):
            return
    raise WebhookVerificationError("webhook-signature does not match (wrong secret, or the body was altered)")


def _verify_agentgate(secret: str, lookup: Lookup, body: bytes) -> None:
    header = lookup("x-agentgate-signature")
    if not header:
        raise WebhookVerificationError("missing the webhook-signature and X-AgentGate-Signature headers")
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    # The older implementation sent the bare hex, without the `sha256=` prefix.
    given = header.strip()
    if given.startswith("sha256="):
        given = given[len("sha256=") :]
    if not hmac.compare_digest(given.lower().encode("utf-8"), expected.encode("ascii")):
        raise WebhookVerificationError("X-AgentGate-Signature does not match (wrong secret, or the body was altered)")


def standard_key(secret: str) -> bytes:
    """The HMAC key the gateway (and the Standard Webhooks libraries) derive from a secret: the strict base64
    after an optional ``whsec_`` prefix, else the whole secret's UTF-8 bytes."""
    encoded = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode("utf-8")
    # Python accepts non-zero padding bits that the gateway's strict decoder refuses; such a secret is text to it.
    if base64.b64encode(key).decode("ascii") != encoded:
        return secret.encode("utf-8")
    return key
