"""The quick start: an agent asks before it sends an email, waits for a person, and sends only if approved.

    AGENTGATE_URL=http://localhost:3000 AGENTGATE_API_KEY=agk_... python3 examples/send_email.py

Then approve it from another terminal (`agentgate approve <id>`, the dashboard, or a decision link), deny it,
or let the wait run out. WAIT_SECONDS (default 60) is how long it waits.
"""

import os
import sys

from agentgate import Client, WaitTimeoutError


def send_email(to: str, subject: str) -> None:
    print(f"sending {subject!r} to {to}")  # the real work goes here


def main() -> int:
    # The URL and key come from AGENTGATE_URL and AGENTGATE_API_KEY.
    with Client() as client:
        request = client.create_request(
            "send_email",
            params={"to": "customer@example.com", "subject": "Order shipped!"},
            urgency="normal",
        )
        print(f"asked for approval: request {request.id} is {request.status}", flush=True)

        try:
            decided = client.wait_for_decision(request.id, timeout=float(os.environ.get("WAIT_SECONDS", "60")))
        except WaitTimeoutError:
            print("no decision in time: not sending")
            return 2

        if decided.status == "approved":
            send_email(**decided.params)
            return 0
        print(f"action {decided.status}: {decided.decision_reason or 'no reason given'}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
