"""The examples run as written (as separate processes, configured by environment variables) against the real
gateway, with a person played by another client."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import httpx
import pytest

from agentgate import Client

from .conftest import Gateway, free_port

SDK = Path(__file__).resolve().parents[1]
LIMIT = 120.0


class Example:
    """An example script as a process whose output lines can be awaited."""

    def __init__(self, name: str, env: Dict[str, str]) -> None:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(SDK / "src"),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, str(SDK / "examples" / name)],
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.output: List[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line_starting(self, prefix: str) -> str:
        deadline = time.monotonic() + LIMIT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line {prefix!r} within {LIMIT} s; output: {self.output}") from None
            if line is None:
                raise AssertionError(f"the example ended without {prefix!r}; output: {self.output}")
            self.output.append(line)
            if line.startswith(prefix):
                return line

    def exit_code(self) -> int:
        code = self.process.wait(timeout=LIMIT)
        while True:
            line = self.lines.get(timeout=LIMIT)
            if line is None:
                return code
            self.output.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=LIMIT)


@pytest.fixture
def examples() -> Iterator[List[Example]]:
    started: List[Example] = []
    yield started
    for example in started:
        example.stop()


def client_env(gateway: Gateway) -> Dict[str, str]:
    return {"AGENTGATE_URL": gateway.url, "AGENTGATE_API_KEY": gateway.admin_key}


def test_send_email(gateway: Gateway, decider: Client, examples: List[Example]) -> None:
    example = Example("send_email.py", {**client_env(gateway), "WAIT_SECONDS": str(LIMIT)})
    examples.append(example)
    request_id = example.line_starting("asked for approval: request ").split()[4]
    decider.approve(request_id)
    example.line_starting("sending 'Order shipped!' to customer@example.com")
    assert example.exit_code() == 0


def test_gated_tools(gateway: Gateway, decider: Client, examples: List[Example]) -> None:
    def person() -> None:
        for action, decision in (("send_email", "approved"), ("deploy", "denied")):
            deadline = time.monotonic() + LIMIT
            while time.monotonic() < deadline:
                pending = decider.list_requests(action=action, status="pending", limit=1).items
                if pending:
                    decider.decide(pending[0].id, decision, reason="not now")  # type: ignore[arg-type]
                    break
                time.sleep(0.1)

    thread = threading.Thread(target=person, daemon=True)
    thread.start()
    example = Example("gated_tools.py", client_env(gateway))
    examples.append(example)
    example.line_starting("sent 'Order shipped!' to customer@example.com")
    assert "was denied" in example.line_starting("deploy not run:")
    assert example.exit_code() == 1
    thread.join(timeout=LIMIT)


def test_webhook_receiver(gateway: Gateway, admin: Client, examples: List[Example]) -> None:
    port = free_port()
    hook = admin.create_webhook(f"http://127.0.0.1:{port}/agentgate", ["request.approved"])
    try:
        example = Example("webhook_receiver.py", {"AGENTGATE_WEBHOOK_SECRET": hook.secret, "PORT": str(port)})
        examples.append(example)
        example.line_starting("listening on ")

        action = "py-sdk-example:" + uuid.uuid4().hex[:8]
        request = admin.create_request(action)
        admin.approve(request.id)
        assert example.line_starting("verified request.approved ") == f"verified request.approved {request.id} {action}"

        forged = httpx.post(
            f"http://127.0.0.1:{port}/agentgate",
            content=b'{"event":"request.approved","data":{},"timestamp":0}',
            headers={"X-AgentGate-Signature": "sha256=" + "0" * 64},
        )
        assert forged.status_code == 401
        example.line_starting("rejected a delivery: X-AgentGate-Signature does not match")
    finally:
        admin.delete_webhook(hook.id)
