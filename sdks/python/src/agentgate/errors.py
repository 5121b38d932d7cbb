"""What can go wrong talking to a gateway, waiting for a decision, or verifying a webhook."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Dict, Optional, Type

if TYPE_CHECKING:
    from .models import ApprovalRequest

__all__ = [
    "AgentGateError",
    "ConfigurationError",
    "TransportError",
    "DecodeError",
    "ApiError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ServerError",
    "WaitTimeoutError",
    "ApprovalNotGrantedError",
    "ApprovalDeniedError",
    "ApprovalExpiredError",
    "WebhookVerificationError",
]


class AgentGateError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(AgentGateError, ValueError):
    """The client was given something unusable (a base URL that is not http(s), a bad option)."""


class TransportError(AgentGateError):
    """The gateway could not be reached, or the connection failed or timed out.

    ``__cause__`` is the underlying ``httpx`` exception.
    """


class DecodeError(AgentGateError):
    """The gateway answered 2xx with a body that is not what the route returns (another server, or a version
    mismatch)."""


class ApiError(AgentGateError):
    """The gateway answered with an error status.

    ``status`` is the HTTP status, ``message`` the gateway's ``{"error": ...}`` (or the body as text when it is
    not that shape), ``body`` the parsed JSON body when there was one. Subclasses name the common statuses, so
    ``except NotFoundError`` reads as what it means; every other status is a plain ``ApiError``.
    """

    def __init__(self, status: int, message: str, body: Any = None, retry_after: Optional[float] = None) -> None:
        self.status = status
        self.message = message
        self.body = body
        #: Seconds the gateway asked to wait (``Retry-After``), when it said.
        self.retry_after = retry_after
        super().__init__(f"{status} {_reason(status)}: {message}")

    @property
    def is_retryable(self) -> bool:
        """Whether the same call might succeed later (5xx and 429). Idempotent calls were already retried."""
        return self.status >= 500 or self.status == 429


class BadRequestError(ApiError):
    """400: the gateway refused the input; ``message`` names the offending field."""


class AuthenticationError(ApiError):
    """401: no API key, or one the gateway does not know (or that was revoked)."""


class PermissionDeniedError(ApiError):
    """403: the key lacks the scope the route needs, or may not decide this request."""


class NotFoundError(ApiError):
    """404: no such request, policy, key, webhook or delivery."""


class ConflictError(ApiError):
    """409: for example deciding a request that was already decided or has expired."""


class RateLimitError(ApiError):
    """429: the key's rate limit is used up; ``retry_after`` says for how long."""


class ServerError(ApiError):
    """5xx: the gateway failed; worth trying again later."""


_BY_STATUS: Dict[int, Type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def api_error(status: int, content: bytes, retry_after: Optional[float] = None) -> ApiError:
    """The error for an error answer: the ``error`` field of ``{"error": ...}``, else the body as text."""
    body: Any = None
    message = ""
    try:
        body = json.loads(content)
    except ValueError:
        pass
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    else:
        message = content.decode("utf-8", "replace").strip()[:500]
    if not message:
        message = _reason(status)
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(status, message, body, retry_after)


class WaitTimeoutError(AgentGateError, TimeoutError):
    """``wait_for_decision`` ran out of time while the request was still pending.

    The request itself stays pending on the gateway (until someone decides it or it expires); ``request`` is
    how it looked at the last poll, so a caller can wait again with ``request.id``.
    """

    def __init__(self, request: ApprovalRequest, timeout: float) -> None:
        self.request = request
        self.timeout = timeout
        super().__init__(f"request {request.id} ({request.action}) was still pending after {timeout:g} s")


class ApprovalNotGrantedError(AgentGateError):
    """Raised by ``Gate.require_approval`` instead of calling the function: the request was not approved.

    ``request`` is the decided (or expired) approval request, with ``decided_by`` and ``decision_reason``.
    """

    def __init__(self, request: ApprovalRequest) -> None:
        self.request = request
        super().__init__(self._describe(request))

    @staticmethod
    def _describe(request: ApprovalRequest) -> str:
        text = f"{request.action} was {request.status} (request {request.id})"
        if request.decided_by:
            text += f" by {request.decided_by}"
        if request.decision_reason:
            text += f": {request.decision_reason}"
        return text


class ApprovalDeniedError(ApprovalNotGrantedError):
    """The request was denied, by a person or a policy."""


class ApprovalExpiredError(ApprovalNotGrantedError):
    """Nobody decided the request before its ``expires_at``."""


class WebhookVerificationError(AgentGateError):
    """A webhook delivery did not verify: a missing header, a bad signature, or a timestamp outside the
    tolerance. The message says which; answer such a delivery with 400 or 401 and do not act on it."""
