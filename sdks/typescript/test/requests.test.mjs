// Requests through the SDK against a real gateway: create, read, list with pagination, decide, audit, links, and
// the gateway's own error messages.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AgentGateError } from "@agentgate/sdk";
import { startGateway } from "./support/gateway.mjs";

let gateway;
let agent;
let approver;
let approverKey;

before(async () => {
  gateway = await startGateway();
  ({ client: agent } = await gateway.clientWithScopes("agent", ["request:create", "request:read"]));
  ({ client: approver, key: approverKey } = await gateway.clientWithScopes("approver", [
    "request:read",
    "request:decide",
  ]));
});

after(async () => {
  await gateway?.stop();
});

test("request() creates a pending request with the older SDK's shape: Dates, no nulls", async () => {
  const expiresAt = new Date(Date.now() + 3_600_000);
  const created = await agent.request({
    action: "send_email",
    params: { to: "customer@example.com", subject: "Order shipped!" },
    context: { agentId: "mailer" },
    urgency: "high",
    expiresAt,
  });
  assert.equal(created.status, "pending");
  assert.equal(created.action, "send_email");
  assert.deepEqual(created.params, { to: "customer@example.com", subject: "Order shipped!" });
  assert.deepEqual(created.context, { agentId: "mailer" });
  assert.equal(created.urgency, "high");
  assert.ok(created.createdAt instanceof Date && !Number.isNaN(created.createdAt.getTime()));
  assert.ok(created.updatedAt instanceof Date);
  assert.ok(created.expiresAt instanceof Date);
  assert.equal(created.expiresAt.getTime(), expiresAt.getTime());
  assert.equal(created.decidedAt, undefined);
  assert.equal(created.decidedBy, undefined);
  assert.ok(!("decisionReason" in created), "nulls are dropped");
  assert.equal(created.policyDecision.decision, "route_to_human");

  const read = await agent.getRequest(created.id);
  assert.equal(read.id, created.id);
  assert.equal(read.status, "pending");
  assert.equal(read.policyDecision, undefined, "only the create answer carries policyDecision");
  assert.equal(read.createdAt.getTime(), created.createdAt.getTime());
});

test("an expiresAt given as an ISO string is sent as it is", async () => {
  const at = new Date(Date.now() + 7_200_000).toISOString();
  const created = await agent.request({ action: "iso_expiry", expiresAt: at });
  assert.equal(created.expiresAt.toISOString(), at);
});

test("listRequests() returns an array carrying the pagination, with filters and paging", async () => {
  for (let i = 0; i < 5; i++) {
    await agent.request({ action: "paged_action", params: { i }, urgency: i % 2 === 0 ? "low" : "critical" });
  }
  const page1 = await agent.listRequests({ action: "paged_action", limit: 2 });
  assert.ok(Array.isArray(page1));
  assert.equal(page1.length, 2);
  assert.deepEqual(page1.pagination, { total: 5, limit: 2, offset: 0, hasMore: true });
  // Newest first.
  assert.deepEqual(
    page1.map((r) => r.params.i),
    [4, 3],
  );
  assert.ok(page1[0].createdAt instanceof Date);

  const page3 = await agent.listRequests({ action: "paged_action", limit: 2, offset: 4 });
  assert.deepEqual(page3.pagination, { total: 5, limit: 2, offset: 4, hasMore: false });
  assert.deepEqual(
    page3.map((r) => r.params.i),
    [0],
  );

  const critical = await agent.listRequests({ action: "paged_action", urgency: "critical" });
  assert.deepEqual(critical.map((r) => r.params.i).sort(), [1, 3]);
  assert.equal(critical.pagination.total, 2);

  const pending = await agent.listRequests({ status: "pending", action: "paged_action" });
  assert.equal(pending.length, 5);
  const approved = await agent.listRequests({ status: "approved", action: "paged_action" });
  assert.equal(approved.length, 0);
  assert.equal(approved.pagination.total, 0);
});

test("decide() approves as the deciding key; deciding again is a 409 with the gateway's message", async () => {
  const created = await agent.request({ action: "deploy", params: { version: "2.1.0" } });
  const decided = await approver.decide(created.id, {
    decision: "approved",
    reason: "looks fine",
    decidedBy: "someone-else",
  });
  assert.equal(decided.status, "approved");
  assert.equal(decided.decisionReason, "looks fine");
  assert.equal(decided.decidedBy, `key:${approverKey.id}`, "the decider is the key, not the label");
  assert.ok(decided.decidedAt instanceof Date);

  await assert.rejects(approver.decide(created.id, { decision: "denied" }), (error) => {
    assert.ok(error instanceof AgentGateError);
    assert.equal(error.statusCode, 409);
    assert.match(error.message, /already/i);
    assert.equal(error.body.error, error.message);
    return true;
  });

  const denied = await approver.decide((await agent.request({ action: "rm_rf" })).id, { decision: "denied" });
  assert.equal(denied.status, "denied");
});

test("getRequestAudit() is the request's trail, oldest first", async () => {
  const created = await agent.request({ action: "audited" });
  await approver.decide(created.id, { decision: "denied", reason: "no" });
  const trail = await agent.getRequestAudit(created.id);
  assert.deepEqual(
    trail.map((e) => e.eventType),
    ["created", "denied"],
  );
  assert.equal(trail[1].actor, `key:${approverKey.id}`);
  assert.equal(trail[0].requestId, created.id);
});

test("createDecisionLinks() mints an approve and a deny link", async () => {
  const created = await agent.request({ action: "linked" });
  const links = await approver.createDecisionLinks(created.id);
  assert.equal(links.requestId, created.id);
  assert.ok(links.tokens.approve.url.endsWith(`/api/decide/${links.tokens.approve.token}`));
  assert.ok(links.tokens.deny.url.includes("/api/decide/"));
  assert.notEqual(links.tokens.approve.token, links.tokens.deny.token);
  assert.ok(links.expiresInHours > 0);
});

test("errors carry the gateway's status and its `error` message", async () => {
  await assert.rejects(agent.getRequest("no-such-request"), {
    name: "AgentGateError",
    statusCode: 404,
    message: "Request not found",
  });
  await assert.rejects(agent.request({ action: "" }), {
    statusCode: 400,
    message: "action is required and must be a non-empty string",
  });
  await assert.rejects(agent.request({ action: "x", urgency: "whenever" }), {
    statusCode: 400,
    message: "urgency must be one of: low, normal, high, critical",
  });
  await assert.rejects(agent.listRequests({ limit: 0 }), {
    statusCode: 400,
    message: "limit must be a positive integer",
  });
  // The agent's key may ask but not decide.
  const created = await agent.request({ action: "scoped" });
  await assert.rejects(agent.decide(created.id, { decision: "approved" }), {
    statusCode: 403,
    message: "Missing required scope: request:decide",
  });
  await assert.rejects(gateway.client({ apiKey: "agk_not_a_key" }).getRequest(created.id), {
    statusCode: 401,
    message: "Invalid API key",
  });
  const anonymous = gateway.client({ apiKey: "" });
  await assert.rejects(anonymous.getRequest(created.id), {
    statusCode: 401,
    message: "Missing Authorization header",
  });
});

test("ids are sent as one path segment, and impossible ids are refused before sending", async () => {
  await assert.rejects(agent.getRequest("a/b?c#d"), { statusCode: 404, message: "Request not found" });
  await assert.rejects(agent.getRequest(""), TypeError);
  await assert.rejects(agent.getRequest(".."), TypeError);
});
