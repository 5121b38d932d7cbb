"""What the sync and async clients share about sending: configuration, when and how long to wait before a
retry, and turning an answer into a result or an error."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Dict, Mapping, Optional, TypeVar
from urllib.parse import urlsplit

import httpx

from ._api import Call
from .errors import ApiError, ConfigurationError, DecodeError, TransportError, api_error

T = TypeVar("T")

__version__ = "0.1.0"

DEFAULT_URL = "http://localhost:3000"
#: Longest one HTTP call may take, in seconds (a long poll gets its own wait on top).
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 5.0
#: How often an idempotent call is tried again after a connection failure, a 5xx or a 429.
DEFAULT_RETRIES = 2
#: The longest ``Retry-After`` honoured; a longer one is cut to this.
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Settings:
    """A client's configuration, kept so a companion client (sync for async, or back) can be made alike."""

    base_url: str
    api_key: Optional[str]
    timeout: float
    connect_timeout: float
    retries: int
    backoff_base: float
    backoff_max: float

    @classmethod
    def resolve(
        cls,
        base_url: Optional[str],
        api_key: Optional[str],
        timeout: float,
        connect_timeout: float,
        retries: int,
        backoff_base: float,
        backoff_max: float,
    ) -> Settings:
        """Arguments win over ``AGENTGATE_URL`` / ``AGENTGATE_API_KEY``, which win over the defaults."""
        url = (base_url or os.environ.get("AGENTGATE_URL") or DEFAULT_URL).strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"the gateway URL must start with http:// or https://, got {url!r}")
        key = api_key if api_key is not None else os.environ.get("AGENTGATE_API_KEY")
        if retries < 0:
            raise ConfigurationError("retries must be 0 or more")
        if timeout <= 0 or connect_timeout <= 0:
            raise ConfigurationError("timeouts must be positive")
        return cls(url, key or None, float(timeout), float(connect_timeout), retries, backoff_base, backoff_max)

    def headers(self) -> Dict[str, str]:
        headers = {"User-Agent": f"agentgate-python/{__version__}", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def http_timeout(self, extra: float = 0.0) -> httpx.Timeout:
        return httpx.Timeout(self.timeout + extra, connect=self.connect_timeout)

    def backoff(self, retry: int, retry_after: Optional[float]) -> float:
        """Seconds before retry number ``retry`` (from 1): ``Retry-After`` when the gateway gave one, else
        ``base * 2^(retry-1)`` up to ``max``, scaled by a random factor in [0.5, 1] so that clients that failed
        together do not retry together."""
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        full = min(self.backoff_base * 2.0 ** min(retry - 1, 20), self.backoff_max)
        return full * random.uniform(0.5, 1.0)


def retry_after(headers: Mapping[str, str]) -> Optional[float]:
    """``Retry-After`` in seconds: whole seconds, or an HTTP date (one in the past means now)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def is_retryable_status(status: int) -> bool:
    return status >= 500 or status == 429


def is_retryable_failure(error: httpx.TransportError) -> bool:
    """Failures where the request surely did not reach the gateway, or timed out: worth another try."""
    return isinstance(error, (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError))


def transport_error(settings: Settings, error: httpx.TransportError) -> TransportError:
    """``cannot reach the gateway at http://127.0.0.1:3000: ...`` and the like, with httpx's error as cause."""
    origin = settings.base_url
    if isinstance(error, httpx.TimeoutException):
        text = f"the gateway at {origin} did not answer in time"
    elif isinstance(error, httpx.ConnectError):
        text = f"cannot reach the gateway at {origin}: {error or type(error).__name__}"
    else:
        text = f"talking to the gateway at {origin} failed: {error or type(error).__name__}"
    return TransportError(text)


def failure(response: httpx.Response) -> ApiError:
    return api_error(response.status_code, response.content, retry_after(response.headers))


def result(call: Call[T], response: httpx.Response) -> T:
    """The typed result of a 2xx answer; a body that is not what the route returns is a DecodeError."""
    try:
        data: Any = json.loads(response.content)
        return call.read(data)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise DecodeError(f"{call.method} {call.path}: unexpected answer from the gateway ({e!r})") from e


def request_args(settings: Settings, call: Call[Any], extra_timeout: float = 0.0) -> Dict[str, Any]:
    args: Dict[str, Any] = {
        "method": call.method,
        "url": settings.base_url + call.path,
        "timeout": settings.http_timeout(extra_timeout),
    }
    if call.params:
        args["params"] = call.params
    if call.body is not None:
        args["json"] = call.body
    return args
