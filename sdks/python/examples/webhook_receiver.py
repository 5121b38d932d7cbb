"""A webhook receiver that acts only on deliveries that verify, using nothing but the standard library and
`agentgate.verify_webhook`.

    AGENTGATE_WEBHOOK_SECRET=whsec_... PORT=8080 python3 examples/webhook_receiver.py

Subscribe it with `POST /api/webhooks {"url": "http://<this host>:8080/agentgate", "events": ["*"]}` and use
the secret from that answer. (A gateway only delivers to loopback or private addresses with
AGENTGATE_ALLOW_PRIVATE_WEBHOOKS=true.)
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agentgate import WebhookVerificationError, verify_webhook

SECRET = os.environ["AGENTGATE_WEBHOOK_SECRET"]
seen_ids = set()  # a real receiver keeps these in its database


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            event = verify_webhook(SECRET, self.headers, raw_body)
        except WebhookVerificationError as e:
            print(f"rejected a delivery: {e}", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        delivery_id = self.headers.get("webhook-id")
        if delivery_id not in seen_ids:  # retries reuse the id
            seen_ids.add(delivery_id)
            request = event["data"].get("request") or {}
            print(f"verified {event['event']} {request.get('id', '')} {request.get('action', '')}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Receiver)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
