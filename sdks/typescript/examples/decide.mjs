// A person's side: lists what is pending, or approves or denies one request.
//
//   node examples/decide.mjs                              # pending requests, oldest last
//   node examples/decide.mjs <id> approved|denied [reason]

import { AgentGateClient, AgentGateError } from "@agentgate/sdk";

const client = new AgentGateClient();
const [id, decision, reason] = process.argv.slice(2);

if (id === undefined) {
  const pending = await client.listRequests({ status: "pending", limit: 20 });
  for (const request of pending) {
    console.log(`${request.id}  ${request.urgency.padEnd(8)}  ${request.action}  ${JSON.stringify(request.params)}`);
  }
  console.log(`${pending.length} of ${pending.pagination.total} pending`);
} else if (decision === "approved" || decision === "denied") {
  try {
    const decided = await client.decide(id, { decision, reason });
    console.log(`${decided.id} ${decided.status} by ${decided.decidedBy}`);
  } catch (error) {
    // The gateway's own words: "Request not found", "Request already approved", "Missing required scope: …".
    if (!(error instanceof AgentGateError)) throw error;
    console.error(`cannot decide ${id}: ${error.message} (HTTP ${error.statusCode})`);
    process.exitCode = 1;
  }
} else {
  console.error("usage: node examples/decide.mjs [<id> approved|denied [reason]]");
  process.exitCode = 64;
}
