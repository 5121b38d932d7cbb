// Policies, overrides, API keys, the audit trail and health through the SDK, against a real gateway.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AgentGateError } from "@agentgate/sdk";
import { startGateway } from "./support/gateway.mjs";

let gateway;
let admin;

before(async () => {
  gateway = await startGateway();
  admin = gateway.client();
});

after(async () => {
  await gateway?.stop();
});

const emailPolicy = {
  name: "email",
  priority: 10,
  rules: [
    { match: { action: "send_email", "params.to": { $regex: "@example\\.com$" } }, decision: "auto_approve" },
    { match: { action: { $regex: "^delete" } }, decision: "auto_deny" },
  ],
};

test("policies: create, get, list with pagination, update, simulate, backtest, delete", async () => {
  const created = await admin.createPolicy(emailPolicy);
  assert.equal(created.name, "email");
  assert.equal(created.priority, 10);
  assert.equal(created.enabled, true);
  assert.equal(created.version, 1);
  assert.deepEqual(created.rules, emailPolicy.rules);

  // The route the older SDK called without it existing.
  const read = await admin.getPolicy(created.id);
  assert.deepEqual(read, created);

  const second = await admin.createPolicy({ name: "second", priority: 20, rules: [], enabled: false });
  const page = await admin.listPolicies({ limit: 1 });
  assert.ok(Array.isArray(page));
  assert.deepEqual(
    page.map((p) => p.id),
    [created.id],
  );
  assert.deepEqual(page.pagination, { total: 2, limit: 1, offset: 0, hasMore: true });
  const all = await admin.listPolicies();
  assert.deepEqual(
    all.map((p) => p.id),
    [created.id, second.id],
    "ascending priority",
  );

  // The policy decides at once.
  const approved = await admin.request({ action: "send_email", params: { to: "ceo@example.com" } });
  assert.equal(approved.status, "approved");
  assert.equal(approved.decidedBy, "policy");
  assert.equal(approved.policyDecision.decision, "auto_approve");
  const denied = await admin.request({ action: "delete_all" });
  assert.equal(denied.status, "denied");

  const simulation = await admin.simulatePolicies({ request: { action: "send_email", params: { to: "x@evil.test" } } });
  assert.equal(simulation.policies, "stored");
  assert.equal(simulation.results[0].decision, "route_to_human");
  assert.equal(simulation.results[0].matched, null);
  assert.ok(simulation.results[0].misses.length >= 1);
  const draft = await admin.simulatePolicies({
    requests: [{ action: "deploy" }],
    policies: [{ name: "draft", rules: [{ match: { action: "deploy" }, decision: "auto_deny" }] }],
  });
  assert.equal(draft.policies, "draft");
  assert.equal(draft.results[0].decision, "auto_deny");
  assert.equal(draft.results[0].matched.policyName, "draft");

  const backtest = await admin.backtestPolicies({
    policies: [{ name: "deny everything", rules: [{ match: {}, decision: "auto_deny" }] }],
  });
  assert.equal(backtest.evaluated, 2);
  assert.equal(backtest.changed, 1, "only the approved email changes");
  assert.equal(backtest.changes[0].from, "auto_approve");
  assert.equal(backtest.changes[0].to, "auto_deny");

  const updated = await admin.updatePolicy(created.id, { ...emailPolicy, name: "email v2", enabled: false });
  assert.equal(updated.name, "email v2");
  assert.equal(updated.enabled, false);
  assert.equal(updated.version, 2);

  const ack = await admin.deletePolicy(created.id);
  assert.equal(ack.success, true);
  await assert.rejects(admin.getPolicy(created.id), { statusCode: 404 });
  await admin.deletePolicy(second.id);
});

test("a policy the gateway refuses is a 400 naming the place", async () => {
  await assert.rejects(
    admin.createPolicy({ name: "bad", rules: [{ match: { amount: { $between: 1 } }, decision: "auto_approve" }] }),
    (error) => {
      assert.ok(error instanceof AgentGateError);
      assert.equal(error.statusCode, 400);
      assert.match(error.message, /rules\[0\]\.match\.amount/);
      return true;
    },
  );
});

test("overrides: create, list, delete", async () => {
  const created = await admin.createOverride({
    agentId: "billing-bot",
    toolPattern: "deploy:*",
    reason: "incident 42",
    ttlSeconds: 3600,
  });
  assert.equal(created.agentId, "billing-bot");
  assert.equal(created.toolPattern, "deploy:*");
  assert.equal(created.action, "require_approval");
  assert.equal(created.reason, "incident 42");
  assert.ok(created.expiresAt);
  const listed = await admin.listOverrides();
  assert.deepEqual(
    listed.map((o) => o.id),
    [created.id],
  );
  assert.deepEqual(await admin.deleteOverride(created.id), { success: true, id: created.id });
  assert.deepEqual(await admin.listOverrides(), []);
  await assert.rejects(admin.deleteOverride(created.id), { statusCode: 404, message: "Override not found" });
});

test("API keys: create, list, update, revoke; a revoked key stops working", async () => {
  const created = await admin.createApiKey({ name: "ci", scopes: ["request:create", "request:read"], rateLimit: 100 });
  assert.match(created.key, /^agk_/);
  assert.equal(created.name, "ci");
  assert.deepEqual(created.scopes, ["request:create", "request:read"]);
  assert.equal(created.rateLimit, 100);
  assert.match(created.message, /will not be shown again/);

  const ci = gateway.client({ apiKey: created.key });
  await ci.listRequests();

  const listed = (await admin.listApiKeys()).find((k) => k.id === created.id);
  assert.equal(listed.name, "ci");
  assert.equal(listed.active, true);
  assert.equal(typeof listed.createdAt, "number");
  assert.equal(listed.revokedAt, null);
  assert.ok(!("key" in listed), "the secret is never listed");

  const updated = await admin.updateApiKey(created.id, { name: "ci-2", scopes: ["request:read"], rateLimit: null });
  assert.equal(updated.success, true);
  assert.equal(updated.key.name, "ci-2");
  assert.deepEqual(updated.key.scopes, ["request:read"]);
  assert.equal(updated.key.rateLimit, null);
  await assert.rejects(admin.updateApiKey(created.id, {}), { statusCode: 400 });

  const revoked = await admin.revokeApiKey(created.id);
  assert.equal(revoked.success, true);
  await assert.rejects(ci.listRequests(), { statusCode: 401, message: "Invalid API key" });
  const after = (await admin.listApiKeys()).find((k) => k.id === created.id);
  assert.equal(after.active, false);
  assert.equal(typeof after.revokedAt, "number");

  // Managing keys needs admin.
  await assert.rejects(ci.listApiKeys(), { statusCode: 401 });
  const reader = gateway.client({
    apiKey: (await admin.createApiKey({ name: "reader", scopes: ["request:read"] })).key,
  });
  await assert.rejects(reader.createApiKey({ name: "x", scopes: ["admin"] }), {
    statusCode: 403,
    message: "Missing required scope: admin",
  });
});

test("audit: the whole trail with filters and pagination, its actions and its actors", async () => {
  const reader = await admin.createApiKey({ name: "auditor", scopes: ["request:read", "request:create"] });
  const auditor = gateway.client({ apiKey: reader.key });
  const created = await auditor.request({ action: "audited_action" });

  const byRequest = await auditor.listAuditLogs({ requestId: created.id });
  assert.deepEqual(
    byRequest.entries.map((e) => e.eventType),
    ["created"],
  );
  assert.equal(byRequest.entries[0].actor, `key:${reader.id}`);
  assert.deepEqual(byRequest.entries[0].request, {
    id: created.id,
    action: "audited_action",
    status: "pending",
    urgency: "normal",
  });
  assert.equal(byRequest.pagination.total, 1);

  const keyEvents = await auditor.listAuditLogs({ eventType: "api_key.created", limit: 1 });
  assert.equal(keyEvents.entries.length, 1);
  assert.equal(keyEvents.entries[0].requestId, null);
  assert.equal(keyEvents.pagination.limit, 1);
  assert.equal(keyEvents.pagination.hasMore, keyEvents.pagination.total > 1);

  const today = new Date().toISOString().slice(0, 10);
  const todays = await auditor.listAuditLogs({ from: today, to: new Date(Date.now() + 60_000), action: "audited_action" });
  assert.equal(todays.entries.length, 1);
  await assert.rejects(auditor.listAuditLogs({ eventType: "nonsense" }), (error) => {
    assert.equal(error.statusCode, 400);
    assert.match(error.message, /^eventType must be one of/);
    return true;
  });

  assert.ok((await auditor.getAuditActions()).includes("audited_action"));
  const actors = await auditor.getAuditActors();
  assert.ok(actors.includes(`key:${reader.id}`), JSON.stringify(actors));
});

test("health, plain and deep; it needs no key", async () => {
  const anonymous = gateway.client({ apiKey: "" });
  const health = await anonymous.health();
  assert.equal(health.status, "ok");
  assert.ok(!Number.isNaN(Date.parse(health.timestamp)));
  const deep = await anonymous.health({ deep: true });
  assert.equal(deep.checks.database.status, "healthy");
});
