// A webhook receiver that trusts only what AgentGate signed. Subscribe it with
//   curl -X POST $AGENTGATE_URL/api/webhooks -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
//     -d '{"url":"http://127.0.0.1:4000/agentgate","events":["*"]}'
// (a loopback receiver needs AGENTGATE_ALLOW_PRIVATE_WEBHOOKS=true on the gateway), then run
//   AGENTGATE_WEBHOOK_SECRET=whsec_... PORT=4000 node examples/webhook-receiver.mjs

import { createServer } from "node:http";
import { verifyWebhook, WebhookVerificationError } from "@agentgate/sdk";

const secret = process.env.AGENTGATE_WEBHOOK_SECRET;
if (!secret) {
  console.error("set AGENTGATE_WEBHOOK_SECRET to the secret shown when the webhook was created");
  process.exit(64);
}
const seen = new Set();

const server = createServer(async (req, res) => {
  // The signature covers the raw bytes: read them all before parsing anything.
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  try {
    const event = verifyWebhook(secret, req.headers, Buffer.concat(chunks));
    // Retries carry the same webhook-id: act on each delivery once.
    const id = req.headers["webhook-id"];
    if (!seen.has(id)) {
      seen.add(id);
      const request = event.data.request;
      console.log(`verified ${event.event}${request ? ` ${request.id} ${request.action} ${request.status}` : ""}`);
    }
    res.writeHead(204).end();
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    console.log(`rejected: ${error.message}`);
    res.writeHead(401).end();
  }
});

server.listen(Number(process.env.PORT ?? 4000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
