// waitForDecision against a real gateway: long polls that resume until a decision made by another client, the
// timeout, expiry, unknown ids, cancelling, and the polling fallback for gateways without the long-poll route.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { AgentGateClient, AgentGateError, TimeoutError } from "@agentgate/sdk";
import { eventually, startGateway } from "./support/gateway.mjs";

let gateway;
let agent;
let approver;
let approverKey;
/** The URLs the agent's client fetched (the real fetch, counted). */
const agentCalls = [];

before(async () => {
  gateway = await startGateway();
  const agentKey = await gateway.client().createApiKey({ name: "agent", scopes: ["request:create", "request:read"] });
  const counting = (url, init) => {
    agentCalls.push(`${init.method} ${url}`);
    return fetch(url, init);
  };
  agent = gateway.client({ apiKey: agentKey.key, fetch: counting });
  ({ client: approver, key: approverKey } = await gateway.clientWithScopes("approver", [
    "request:read",
    "request:decide",
  ]));
});

after(async () => {
  await gateway?.stop();
});

function waitCallsFor(id) {
  return agentCalls.filter((call) => call.startsWith(`GET ${gateway.baseUrl}/api/requests/${id}/wait?timeout=`));
}

test("the wait resumes long poll after long poll and returns the decision another client made", async () => {
  const created = await agent.request({ action: "deploy", params: { version: "2.1.0" } });
  // One-second polls, so the wait is seen to resume before the decision comes.
  const waiting = agent.waitForDecision(created.id, { timeout: 120_000, pollTimeout: 1000 });
  await eventually("a second long poll", () => waitCallsFor(created.id).length >= 2);
  const decided = await approver.decide(created.id, { decision: "approved", reason: "ship it" });
  const seen = await waiting;
  assert.equal(seen.status, "approved");
  assert.equal(seen.decidedBy, `key:${approverKey.id}`);
  assert.equal(seen.decisionReason, "ship it");
  assert.ok(seen.decidedAt instanceof Date);
  assert.equal(seen.decidedAt.getTime(), decided.decidedAt.getTime());
  assert.ok(waitCallsFor(created.id).every((call) => call.endsWith("?timeout=1")), "polls of one second");
});

test("a wait with the default poll length returns a denial as soon as it is made", async () => {
  const created = await agent.request({ action: "delete_database" });
  const waiting = agent.waitForDecision(created.id, { timeout: 120_000 });
  await eventually("the long poll", () => waitCallsFor(created.id).length >= 1);
  await approver.decide(created.id, { decision: "denied", reason: "no" });
  const seen = await waiting;
  assert.equal(seen.status, "denied");
  assert.equal(seen.decisionReason, "no");
  assert.equal(waitCallsFor(created.id).length, 1, "one long poll was enough");
  assert.ok(waitCallsFor(created.id)[0].endsWith("?timeout=30"));
});

test("an already decided request is returned at once", async () => {
  const created = await agent.request({ action: "decided_before_waiting" });
  await approver.decide(created.id, { decision: "approved" });
  const seen = await agent.waitForDecision(created.id, { timeout: 60_000 });
  assert.equal(seen.status, "approved");
});

test("when the timeout passes first, TimeoutError (408, TIMEOUT) carries the pending request", async () => {
  const created = await agent.request({ action: "nobody_decides" });
  await assert.rejects(agent.waitForDecision(created.id, { timeout: 1500, pollTimeout: 1000 }), (error) => {
    assert.ok(error instanceof TimeoutError);
    assert.ok(error instanceof AgentGateError, "a TimeoutError is an AgentGateError, as before");
    assert.equal(error.name, "TimeoutError");
    assert.equal(error.statusCode, 408);
    assert.equal(error.code, "TIMEOUT");
    assert.equal(error.request.id, created.id);
    assert.equal(error.request.status, "pending");
    return true;
  });
  // A timeout of zero still asks once.
  await assert.rejects(agent.waitForDecision(created.id, { timeout: 0 }), TimeoutError);
});

test("a request that expires while waited for is returned as expired", async () => {
  const created = await agent.request({ action: "expires_soon", expiresAt: new Date(Date.now() + 5000) });
  const seen = await agent.waitForDecision(created.id, { timeout: 120_000 });
  assert.equal(seen.status, "expired");
  assert.equal(seen.id, created.id);
});

test("an unknown id is a 404 AgentGateError, not a wait", async () => {
  await assert.rejects(agent.waitForDecision("no-such-request", { timeout: 60_000 }), {
    name: "AgentGateError",
    statusCode: 404,
    message: "Request not found",
  });
});

test("an AbortSignal stops the wait", async () => {
  const created = await agent.request({ action: "abandoned" });
  const controller = new AbortController();
  const waiting = agent.waitForDecision(created.id, { timeout: 120_000, signal: controller.signal });
  await eventually("the long poll", () => waitCallsFor(created.id).length >= 1);
  controller.abort(new Error("the agent gave up"));
  await assert.rejects(waiting, { message: "the agent gave up" });
});

test("bad wait options are refused before anything is sent", async () => {
  await assert.rejects(agent.waitForDecision("x", { timeout: -1 }), TypeError);
  await assert.rejects(agent.waitForDecision("x", { timeout: Number.NaN }), TypeError);
  await assert.rejects(agent.waitForDecision("x", { pollTimeout: Number.NaN }), TypeError);
});

test("against a gateway without the long-poll route, the wait polls the request instead", async (t) => {
  // The older gateway in front of this one: every route is passed through except /wait, which it never had.
  const older = createServer(async (req, res) => {
    if (/\/api\/requests\/[^/]+\/wait/.test(req.url)) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "Not Found", message: `Route GET ${req.url.split("?")[0]} not found` }));
      return;
    }
    const upstream = await fetch(gateway.baseUrl + req.url, {
      method: req.method,
      headers: { authorization: req.headers.authorization ?? "" },
    });
    res.writeHead(upstream.status, { "content-type": "application/json" });
    res.end(await upstream.text());
  });
  await new Promise((resolve) => older.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => older.close(resolve)));
  const olderUrl = `http://127.0.0.1:${older.address().port}`;
  const reads = [];
  const agentKey = await gateway.client().createApiKey({ name: "old-agent", scopes: ["request:read"] });
  const oldAgent = new AgentGateClient({
    baseUrl: olderUrl,
    apiKey: agentKey.key,
    fetch: (url, init) => {
      reads.push(url);
      return fetch(url, init);
    },
  });

  const created = await agent.request({ action: "old_gateway" });
  const waiting = oldAgent.waitForDecision(created.id, { timeout: 120_000, pollInterval: 50 });
  const readsOfRequest = () => reads.filter((url) => url === `${olderUrl}/api/requests/${created.id}`).length;
  await eventually("polling", () => readsOfRequest() >= 2);
  await approver.decide(created.id, { decision: "approved" });
  const seen = await waiting;
  assert.equal(seen.status, "approved");

  await assert.rejects(oldAgent.waitForDecision("no-such-request", { timeout: 60_000 }), {
    statusCode: 404,
    message: "Request not found",
  });
  const stillPending = await agent.request({ action: "old_gateway_timeout" });
  await assert.rejects(oldAgent.waitForDecision(stillPending.id, { timeout: 300, pollInterval: 50 }), {
    name: "TimeoutError",
    statusCode: 408,
  });
});
