"""Fixtures: a real `agentgate serve` process on a free loopback port with its own SQLite file, clients for it,
and a webhook receiver on 127.0.0.1.

The gateway binary is `$AGENTGATE_BIN` (the Rust test `sdk_python` sets it to the binary cargo just built), else
the workspace's `target/debug/agentgate`; without either the suite is skipped with a note.
"""

from __future__ import annotations

import os
import queue
import secrets
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import AsyncIterator, Callable, Dict, Iterator, List, Optional

import httpx
import pytest

from agentgate import AsyncClient, Client

WORKSPACE = Path(__file__).resolve().parents[3]
#: Generous: the CI machine is small and busy.
STARTUP_LIMIT = 60.0


def gateway_binary() -> Optional[str]:
    given = os.environ.get("AGENTGATE_BIN")
    if given:
        return given
    target = Path(os.environ.get("CARGO_TARGET_DIR", WORKSPACE / "target")) / "debug" / "agentgate"
    return str(target) if target.exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    """A running `agentgate serve`. Only the variables set here reach it (no REDIS_URL or DATABASE_URL from the
    environment of whoever runs the tests)."""

    def __init__(self, binary: str, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="agentgate-py-")
        self.admin_key = "test-admin-" + secrets.token_hex(16)
        self.binary = binary
        self.extra_env = dict(extra_env or {})
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.port = 0
        self.log_path = Path(self.dir.name) / "gateway.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # A port free a moment ago can be taken by someone else before the gateway binds it: try a few.
        for _ in range(5):
            self.port = free_port()
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": self.dir.name,
                "DATABASE_URL": str(Path(self.dir.name) / "agentgate.db"),
                "ADMIN_API_KEY": self.admin_key,
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "LOG_LEVEL": "warn",
                "AGENTGATE_ALLOW_PRIVATE_WEBHOOKS": "true",
                "WEBHOOK_RETRY_BASE_MS": "200",
                **self.extra_env,
            }
            log = open(self.log_path, "ab")
            self.process = subprocess.Popen(
                [self.binary, "serve"],
                env=env,
                cwd=self.dir.name,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            if self._wait_healthy():
                return
        raise RuntimeError(f"agentgate did not start; its output:\n{self.log()}")

    def _wait_healthy(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_LIMIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"agentgate was not healthy within {STARTUP_LIMIT} s; its output:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        self.dir.cleanup()


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    binary = gateway_binary()
    if binary is None:
        pytest.skip("no gateway binary: set AGENTGATE_BIN or build it with `cargo build -p agentgate`")
    gw = Gateway(binary)
    gw.start()
    yield gw
    gw.close()


@pytest.fixture
def admin(gateway: Gateway) -> Iterator[Client]:
    with Client(gateway.url, gateway.admin_key, timeout=30) as client:
        yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def async_admin(gateway: Gateway) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(gateway.url, gateway.admin_key, timeout=30) as client:
        yield client


def key_client(gateway: Gateway, admin: Client, name: str, scopes: List[str]) -> Client:
    """A client authenticated with a new key of its own (so its decisions are recorded as `key:<id>`)."""
    created = admin.create_api_key(name, scopes)
    return Client(gateway.url, created.key, timeout=30)


@pytest.fixture
def decider(gateway: Gateway, admin: Client) -> Iterator[Client]:
    """Another client, with only the scopes a person deciding needs."""
    client = key_client(gateway, admin, "decider-" + uuid.uuid4().hex[:8], ["request:read", "request:decide"])
    with client:
        yield client


@pytest.fixture
def action() -> str:
    """An action name no other test uses, so lists filtered on it see only this test's requests."""
    return "py-sdk-test:" + uuid.uuid4().hex[:12]


@dataclass
class Delivery:
    path: str
    headers: Dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every POST (headers and raw body) and answers 200."""

    server: ThreadingHTTPServer
    received: "queue.Queue[Delivery]" = field(default_factory=queue.Queue)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def next(self, timeout: float = 60.0) -> Delivery:
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no webhook delivery arrived within {timeout} s") from None

    def until(self, predicate: Callable[[Delivery], bool], timeout: float = 60.0) -> Delivery:
        """The first delivery (from now) that satisfies ``predicate``; the others are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching webhook delivery within {timeout} s")
            delivery = self.next(remaining)
            if predicate(delivery):
                return delivery


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    deliveries: "queue.Queue[Delivery]" = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            deliveries.put(Delivery(self.path, {k: v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(server, deliveries)
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
