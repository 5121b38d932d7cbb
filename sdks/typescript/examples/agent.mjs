// An agent that asks before it acts: it requests approval to send an email, waits for a person, and sends only
// if approved. The exit code says what happened (0 approved, 1 denied, 2 expired, 3 nobody decided in time).
//
//   AGENTGATE_URL=http://127.0.0.1:3000 AGENTGATE_API_KEY=agk_... node examples/agent.mjs [to-address]

import { AgentGateClient, TimeoutError } from "@agentgate/sdk";

// baseUrl and apiKey default to AGENTGATE_URL and AGENTGATE_API_KEY.
const client = new AgentGateClient();

const request = await client.request({
  action: "send_email",
  params: { to: process.argv[2] ?? "customer@example.com", subject: "Order shipped!" },
  context: { agentId: "example-agent" },
  urgency: "normal",
});
console.log(`requested ${request.id}: ${request.status}`);

try {
  const decided = await client.waitForDecision(request.id, { timeout: Number(process.env.WAIT_MS ?? 60_000) });
  if (decided.status === "approved") {
    console.log(`approved by ${decided.decidedBy}: sending the email to ${decided.params.to}`);
  } else {
    console.log(`${decided.status}: ${decided.decisionReason ?? "no reason given"}`);
  }
  process.exitCode = { approved: 0, denied: 1, expired: 2 }[decided.status];
} catch (error) {
  if (!(error instanceof TimeoutError)) throw error;
  console.log(`nobody decided in time; ${request.id} is still ${error.request?.status}`);
  process.exitCode = 3;
}
