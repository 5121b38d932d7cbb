"""AgentGate for Python: ask a person before an agent acts.

``Client`` and ``AsyncClient`` cover the whole HTTP API; ``Gate.require_approval`` runs a function only once
its action is approved; ``verify_webhook`` checks a webhook delivery's signature. See the README for a tour.
"""

from ._transport import DEFAULT_URL, __version__
from .async_client import AsyncClient
from .client import Client
from .errors import (
    AgentGateError,
    ApiError,
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalNotGrantedError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    DecodeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from .gate import Gate
from .models import (
    ApiKey,
    ApprovalRequest,
    AuditEntry,
    CreatedApiKey,
    CreatedWebhook,
    Decision,
    DeliveryAttempt,
    Override,
    Page,
    Policy,
    PolicyDecision,
    RequestStatus,
    Urgency,
    Webhook,
    WebhookDelivery,
    WebhookDetail,
    WebhookTestResult,
)
from .webhooks import verify_webhook

__all__ = [
    "__version__",
    "DEFAULT_URL",
    "Client",
    "AsyncClient",
    "Gate",
    "verify_webhook",
    # errors
    "AgentGateError",
    "ApiError",
    "ApprovalDeniedError",
    "ApprovalExpiredError",
    "ApprovalNotGrantedError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "DecodeError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "TransportError",
    "WaitTimeoutError",
    "WebhookVerificationError",
    # models
    "ApiKey",
    "ApprovalRequest",
    "AuditEntry",
    "CreatedApiKey",
    "CreatedWebhook",
    "Decision",
    "DeliveryAttempt",
    "Override",
    "Page",
    "Policy",
    "PolicyDecision",
    "RequestStatus",
    "Urgency",
    "Webhook",
    "WebhookDelivery",
    "WebhookDetail",
    "WebhookTestResult",
]
