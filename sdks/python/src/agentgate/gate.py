"""A decorator that runs a function only once a person (or a policy) approved it.

::

    gate = Gate(Client())

    @gate.require_approval(action="send_email")
    def send_email(to: str, subject: str, body: str) -> None:
        ...

    send_email("ceo@example.com", "Q3", "...")  # asks, waits, sends only when approved

Each call creates an approval request (``params`` are the call's arguments unless told otherwise) and waits for
its decision. Approved: the function runs and its result is returned. Denied or expired: the function does not
run and :class:`agentgate.ApprovalDeniedError` or :class:`agentgate.ApprovalExpiredError` is raised. Still pending
when the wait ends: :class:`agentgate.WaitTimeoutError` (the request stays open on the gateway). Async functions
are gated with the async client, without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
import weakref
from datetime import timedelta
from typing import Any, Callable, Dict, Mapping, Optional, TypeVar, Union

from ._transport import Settings
from .async_client import AsyncClient
from .client import DEFAULT_WAIT_TIMEOUT, Client
from .errors import ApprovalDeniedError, ApprovalExpiredError
from .models import ApprovalRequest, Urgency

__all__ = ["Gate"]

F = TypeVar("F", bound=Callable[..., Any])
#: ``params``/``context`` of ``require_approval``: a fixed mapping, or a function of the call's arguments.
ArgumentsFn = Callable[..., Mapping[str, Any]]


class Gate:
    """Gates functions on approvals from one gateway.

    Give it a :class:`Client`, an :class:`AsyncClient`, or both; the other kind, when a function needs it, is
    made with the same URL, key, timeouts and retries. With neither, both come from ``AGENTGATE_URL`` and
    ``AGENTGATE_API_KEY``. ``wait_timeout`` (seconds) is how long a call waits for a decision by default.
    """

    def __init__(
        self,
        client: Optional[Client] = None,
        async_client: Optional[AsyncClient] = None,
        *,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> None:
        self._client = client
        self._async_client = async_client
        # Async clients the gate made itself, one per event loop: an httpx pool cannot outlive its loop, and each
        # `asyncio.run` is a new loop.
        self._loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._wait_timeout = wait_timeout
        self._lock = threading.Lock()

    def _settings(self) -> Optional[Settings]:
        for client in (self._client, self._async_client):
            if client is not None:
                return client._settings
        return None

    @property
    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                settings = self._settings()
                self._client = Client._from_settings(settings) if settings else Client()
            return self._client

    @property
    def async_client(self) -> AsyncClient:
        """The async client given to the gate, else one the gate made for the running event loop."""
        if self._async_client is not None:
            return self._async_client
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._loop_clients.get(loop)
            if client is None:
                settings = self._settings()
                client = AsyncClient._from_settings(settings) if settings else AsyncClient()
                self._loop_clients[loop] = client
            return client

    def require_approval(
        self,
        action: str,
        *,
        params: Optional[Union[Mapping[str, Any], ArgumentsFn]] = None,
        context: Optional[Union[Mapping[str, Any], ArgumentsFn]] = None,
        urgency: Optional[Urgency] = None,
        expires_in: Optional[Union[float, timedelta]] = None,
        wait_timeout: Optional[float] = None,
    ) -> Callable[[F], F]:
        """Decorates a sync or async function so that each call first needs an approved request for
        ``action``.

        ``params`` defaults to the call's arguments by name (``self``/``cls`` left out; values that are not
        JSON become their ``str``), so the approver sees what is about to happen. Give a mapping to send fixed
        params, or a function taking the call's arguments and returning the mapping. ``context`` works the same
        (put ``agentId`` there so per-agent overrides apply). ``expires_in`` bounds how long the request may
        stay pending; ``wait_timeout`` overrides the gate's wait for this function.
        """
        wait = self._wait_timeout if wait_timeout is None else wait_timeout

        def decorate(fn: F) -> F:
            signature = inspect.signature(fn)

            def request_fields(args: Any, kwargs: Any) -> Dict[str, Any]:
                return {
                    "params": _resolve(params, signature, args, kwargs, default_to_arguments=True),
                    "context": _resolve(context, signature, args, kwargs, default_to_arguments=False),
                    "urgency": urgency,
                    "expires_in": expires_in,
                }

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def gated_async(*args: Any, **kwargs: Any) -> Any:
                    client = self.async_client
                    request = await client.create_request(action, **request_fields(args, kwargs))
                    if not request.is_decided:
                        request = await client.wait_for_decision(request.id, timeout=wait)
                    _require_approved(request)
                    return await fn(*args, **kwargs)

                return gated_async  # type: ignore[return-value]

            @functools.wraps(fn)
            def gated(*args: Any, **kwargs: Any) -> Any:
                client = self.client
                request = client.create_request(action, **request_fields(args, kwargs))
                if not request.is_decided:
                    request = client.wait_for_decision(request.id, timeout=wait)
                _require_approved(request)
                return fn(*args, **kwargs)

            return gated  # type: ignore[return-value]

        return decorate

    def close(self) -> None:
        """Closes the sync client (an async client is closed with ``await gate.aclose()``)."""
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Closes the async client of the running event loop, and the sync client."""
        if self._async_client is not None:
            await self._async_client.aclose()
        else:
            client = self._loop_clients.pop(asyncio.get_running_loop(), None)
            if client is not None:
                await client.aclose()
        self.close()


def _require_approved(request: ApprovalRequest) -> None:
    if request.status == "denied":
        raise ApprovalDeniedError(request)
    if request.status == "expired":
        raise ApprovalExpiredError(request)


def _resolve(
    given: Optional[Union[Mapping[str, Any], ArgumentsFn]],
    signature: inspect.Signature,
    args: Any,
    kwargs: Any,
    *,
    default_to_arguments: bool,
) -> Optional[Dict[str, Any]]:
    if callable(given):
        return dict(given(*args, **kwargs))
    if given is not None:
        return dict(given)
    if not default_to_arguments:
        return None
    return _arguments(signature, args, kwargs)


def _arguments(signature: inspect.Signature, args: Any, kwargs: Any) -> Dict[str, Any]:
    """The call's arguments by parameter name, defaults applied, as JSON the gateway accepts."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        # A call that does not fit the signature fails when the function runs; ask with what was given.
        return _json_safe({"args": list(args), "kwargs": dict(kwargs)})
    bound.apply_defaults()
    named = {name: value for name, value in bound.arguments.items() if name not in ("self", "cls")}
    for name, parameter in signature.parameters.items():
        # `**options` becomes its own keys, not a nested object.
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in named:
            named.update(named.pop(name))
    return _json_safe(named)


def _json_safe(value: Dict[str, Any]) -> Dict[str, Any]:
    result: Dict[str, Any] = json.loads(json.dumps(value, default=str))
    return result
