"""Waiting for decisions (long polls against the real gateway, across a decision made by another client), time
limits, and the client's retry and fallback behaviour against small stand-in servers on loopback: an older
gateway without the long-poll route, and one that fails before it answers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Iterator, List, Tuple

import pytest

from agentgate import (
    AsyncClient,
    Client,
    DecodeError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    WaitTimeoutError,
)

from .conftest import Gateway


def decide_later(client: Client, request_id: str, decision: str, delay: float) -> threading.Thread:
    """Decides from another thread (another client, another key) once the waiter is likely polling."""

    def run() -> None:
        time.sleep(delay)
        client.decide(request_id, decision, reason="decided elsewhere")  # type: ignore[arg-type]

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_wait_returns_the_decision_made_by_another_client(admin: Client, decider: Client, action: str) -> None:
    created = admin.create_request(action)
    thread = decide_later(decider, created.id, "approved", delay=1.5)
    # Short polls, so the wait spans several of them before the decision lands.
    decided = admin.wait_for_decision(created.id, timeout=120, poll_timeout=1)
    thread.join()
    assert decided.status == "approved"
    assert decided.decision_reason == "decided elsewhere"
    assert decided.decided_by is not None and decided.decided_by.startswith("key:")


def test_a_decided_request_returns_at_once(admin: Client, action: str) -> None:
    created = admin.create_request(action)
    admin.deny(created.id)
    assert admin.wait_for_decision(created.id, timeout=0).status == "denied"


def test_wait_times_out_with_the_pending_request(admin: Client, action: str) -> None:
    created = admin.create_request(action)
    with pytest.raises(WaitTimeoutError) as caught:
        admin.wait_for_decision(created.id, timeout=2, poll_timeout=1)
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert error.request.id == created.id and error.request.status == "pending"
    assert error.timeout == 2
    assert created.id in str(error)
    # Nothing changed on the gateway: the request can still be decided and waited for.
    admin.approve(created.id)
    assert admin.wait_for_decision(created.id, timeout=30).is_approved


def test_wait_sees_expiry(admin: Client, action: str) -> None:
    created = admin.create_request(action, expires_in=4)
    expired = admin.wait_for_decision(created.id, timeout=120)
    assert expired.status == "expired" and expired.is_decided and not expired.is_approved
    assert admin.request_audit(created.id)[-1].event_type == "expired"


def test_waiting_for_an_unknown_request_is_not_found(admin: Client) -> None:
    with pytest.raises(NotFoundError):
        admin.wait_for_decision("01NOSUCHREQUEST", timeout=5)


@pytest.mark.anyio
async def test_async_wait_across_a_decision(gateway: Gateway, decider: Client, action: str) -> None:
    async with AsyncClient(gateway.url, gateway.admin_key) as client:
        created = await client.create_request(action, urgency="critical")

        async def decide_soon() -> None:
            await asyncio.sleep(1.5)
            await asyncio.to_thread(decider.deny, created.id, reason="async no")

        decided, _ = await asyncio.gather(
            client.wait_for_decision(created.id, timeout=120, poll_timeout=1), decide_soon()
        )
        assert decided.status == "denied" and decided.decision_reason == "async no"

        other = await client.create_request(action)
        with pytest.raises(WaitTimeoutError) as caught:
            await client.wait_for_decision(other.id, timeout=1)
        assert caught.value.request.id == other.id


# ---- Stand-in servers ----------------------------------------------------------------------------------------

REQUEST_JSON = {
    "id": "r1",
    "action": "deploy",
    "params": {},
    "context": {},
    "status": "pending",
    "urgency": "normal",
    "createdAt": "2026-01-02T03:04:05.678Z",
    "updatedAt": "2026-01-02T03:04:05.678Z",
    "decidedAt": None,
    "decidedBy": None,
    "decisionReason": None,
    "expiresAt": None,
}

#: (method, path) -> the answers in turn (status, headers, body); the last one repeats.
Script = Dict[Tuple[str, str], List[Tuple[int, Dict[str, str], object]]]


class StandIn:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: List[Tuple[str, str]] = []
        lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                path = self.path.split("?")[0]
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with lock:
                    stand_in.seen.append((self.command, path))
                    answers = stand_in.script.get((self.command, path), [(404, {}, {"error": "Not Found"})])
                    status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = answer  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, method: str, path: str) -> int:
        return self.seen.count((method, path))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def stand_in() -> Iterator[Callable[[Script], StandIn]]:
    started: List[StandIn] = []

    def start(script: Script) -> StandIn:
        server = StandIn(script)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def test_an_older_gateway_without_long_polls_is_polled(stand_in: Callable[[Script], StandIn]) -> None:
    approved = dict(REQUEST_JSON, status="approved", decidedBy="someone")
    server = stand_in(
        {
            ("GET", "/api/requests/r1"): [(200, {}, REQUEST_JSON), (200, {}, REQUEST_JSON), (200, {}, approved)],
        }
    )
    with Client(server.url, "k") as client:
        decided = client.wait_for_decision("r1", timeout=60, poll_interval=0.05, max_poll_interval=0.1)
    assert decided.status == "approved"
    assert server.count("GET", "/api/requests/r1/wait") == 1
    assert server.count("GET", "/api/requests/r1") == 3


def test_idempotent_calls_are_retried_and_others_are_not(stand_in: Callable[[Script], StandIn]) -> None:
    unavailable = (503, {}, {"error": "try later"})
    server = stand_in(
        {
            ("GET", "/api/requests/r1"): [
                unavailable,
                (429, {"Retry-After": "0"}, {"error": "slow down"}),
                (200, {}, REQUEST_JSON),
            ],
            ("POST", "/api/requests"): [unavailable],
            ("DELETE", "/api/policies/p1"): [(502, {}, b"<html>bad gateway</html>")],
        }
    )
    with Client(server.url, "k", retries=2, backoff_base=0.01) as client:
        assert client.get_request("r1").id == "r1"
        assert server.count("GET", "/api/requests/r1") == 3

        with pytest.raises(ServerError) as caught:
            client.create_request("deploy")
        assert caught.value.status == 503 and caught.value.message == "try later" and caught.value.is_retryable
        assert server.count("POST", "/api/requests") == 1, "creating is never retried"

        with pytest.raises(ServerError) as caught:
            client.delete_policy("p1")
        assert caught.value.message == "<html>bad gateway</html>"
        assert server.count("DELETE", "/api/policies/p1") == 3

    with Client(server.url, "k", retries=0) as client:
        server.script[("GET", "/api/requests/r2")] = [(429, {"Retry-After": "7"}, {"error": "slow down"})]
        with pytest.raises(RateLimitError) as caught:
            client.get_request("r2")
        assert caught.value.retry_after == 7
        assert server.count("GET", "/api/requests/r2") == 1


def test_an_answer_of_the_wrong_shape_is_a_decode_error(stand_in: Callable[[Script], StandIn]) -> None:
    server = stand_in({("GET", "/api/requests/r1"): [(200, {}, {"hello": "world"})]})
    with Client(server.url, "k") as client:
        with pytest.raises(DecodeError) as caught:
            client.get_request("r1")
    assert "/api/requests/r1" in str(caught.value)


def test_a_gateway_that_never_answers_times_out() -> None:
    # A socket that accepts connections (the kernel completes them) but never reads or answers.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with Client(url, "k", timeout=0.5, retries=1, backoff_base=0.01) as client:
            with pytest.raises(TransportError) as caught:
                client.get_request("r1")
        assert str(caught.value) == f"the gateway at {url} did not answer in time"
        assert caught.value.__cause__ is not None
