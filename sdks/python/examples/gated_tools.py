"""Gating an agent's tools with a decorator: each call runs only once someone approves it.

    AGENTGATE_URL=http://localhost:3000 AGENTGATE_API_KEY=agk_... python3 examples/gated_tools.py

Approve or deny the two requests it makes (one from a sync tool, one from an async tool) as they come in.
"""

import asyncio
import sys

from agentgate import ApprovalNotGrantedError, Gate, WaitTimeoutError

gate = Gate(wait_timeout=120)


@gate.require_approval(action="send_email", context={"agentId": "example-agent"})
def send_email(to: str, subject: str, body: str = "") -> str:
    # The approver sees {"to": ..., "subject": ..., "body": ...}: the call's arguments.
    return f"sent {subject!r} to {to}"


@gate.require_approval(action="deploy", urgency="high", expires_in=600)
async def deploy(service: str, version: str) -> str:
    return f"deployed {service} {version}"


def main() -> int:
    failed = 0
    for tool, call in (
        ("send_email", lambda: send_email("customer@example.com", "Order shipped!")),
        ("deploy", lambda: asyncio.run(deploy("billing", "2.1.0"))),
    ):
        try:
            print(call(), flush=True)
        except ApprovalNotGrantedError as e:
            # Denied or expired: the function did not run.
            print(f"{tool} not run: {e}", flush=True)
            failed += 1
        except WaitTimeoutError as e:
            print(f"{tool} not run: still pending (request {e.request.id})", flush=True)
            failed += 1
    gate.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
