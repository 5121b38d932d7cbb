// The examples run as they are, as separate processes, against a real gateway: an agent that waits while a
// person decides with the other example, and the webhook receiver verifying a real delivery.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { eventually, freePort, startGateway } from "./support/gateway.mjs";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
let gateway;
let agentKey;
let approverKey;

before(async () => {
  gateway = await startGateway();
  const admin = gateway.client();
  agentKey = await admin.createApiKey({ name: "example agent", scopes: ["request:create", "request:read"] });
  approverKey = await admin.createApiKey({ name: "example approver", scopes: ["request:read", "request:decide"] });
});

after(async () => {
  await gateway?.stop();
});

/** Starts `node examples/<name>` with the gateway's URL and `key`; its output is collected as it comes. */
function run(name, args, key, env = {}) {
  const child = spawn(process.execPath, [`examples/${name}`, ...args], {
    cwd: packageDir,
    env: { PATH: process.env.PATH ?? "", AGENTGATE_URL: gateway.baseUrl, AGENTGATE_API_KEY: key, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (chunk) => (output.stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk) => (output.stderr += chunk));
  const exited = once(child, "exit").then(([code]) => code);
  return { child, output, exited };
}

async function finish(name, args, key) {
  const { output, exited } = run(name, args, key);
  const code = await exited;
  return { code, ...output };
}

/** Runs the agent example until it has asked, and returns it with the id of its request. */
async function startAgent(env = {}) {
  const agent = run("agent.mjs", ["ops@example.com"], agentKey.key, env);
  const id = await eventually("the agent's request", () => agent.output.stdout.match(/^requested (\S+): pending$/m)?.[1]);
  return { ...agent, id };
}

test("agent.mjs waits while decide.mjs approves, then acts", async () => {
  const agent = await startAgent();
  const listed = await finish("decide.mjs", [], approverKey.key);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${agent.id} +normal +send_email`, "m"));

  const decided = await finish("decide.mjs", [agent.id, "approved", "go ahead"], approverKey.key);
  assert.equal(decided.code, 0, decided.stderr);
  assert.match(decided.stdout, new RegExp(`${agent.id} approved by key:${approverKey.id}`));

  assert.equal(await agent.exited, 0, agent.output.stderr);
  assert.match(agent.output.stdout, /approved by key:\S+: sending the email to ops@example.com/);

  // Deciding it again: the gateway's message, and a failing exit code.
  const again = await finish("decide.mjs", [agent.id, "denied"], approverKey.key);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /cannot decide \S+: Request already approved \(HTTP 409\)/);
});

test("agent.mjs reports a denial, and a wait that runs out", async () => {
  const denied = await startAgent();
  await finish("decide.mjs", [denied.id, "denied", "not today"], approverKey.key);
  assert.equal(await denied.exited, 1, denied.output.stderr);
  assert.match(denied.output.stdout, /denied: not today/);

  const waitedOut = await startAgent({ WAIT_MS: "500" });
  assert.equal(await waitedOut.exited, 3, waitedOut.output.stderr);
  assert.match(waitedOut.output.stdout, /nobody decided in time; \S+ is still pending/);
});

test("webhook-receiver.mjs verifies a real delivery and rejects a forged one", async (t) => {
  const port = await freePort();
  const webhook = await gateway.client().createWebhook({ url: `http://127.0.0.1:${port}/agentgate`, events: ["*"] });
  const receiver = run("webhook-receiver.mjs", [], "", {
    AGENTGATE_WEBHOOK_SECRET: webhook.secret,
    PORT: String(port),
  });
  t.after(() => {
    receiver.child.kill();
    return receiver.exited;
  });
  await eventually("the receiver to listen", () => receiver.output.stdout.includes("listening on"));

  const result = await gateway.client().testWebhook(webhook.id);
  assert.equal(result.success, true, JSON.stringify(result));
  assert.equal(result.status, 204);
  await eventually("the verified test event", () => receiver.output.stdout.includes("verified test"));

  const created = await gateway.client().request({ action: "webhook_example" });
  await eventually("the created event", () =>
    receiver.output.stdout.includes(`verified request.created ${created.id} webhook_example pending`),
  );

  const forged = await fetch(`http://127.0.0.1:${port}/agentgate`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-agentgate-signature": `sha256=${"0".repeat(64)}` },
    body: JSON.stringify({ event: "request.approved", data: {}, timestamp: Date.now() }),
  });
  assert.equal(forged.status, 401);
  await eventually("the rejection", () => receiver.output.stdout.includes("rejected: X-AgentGate-Signature does not match"));
});
