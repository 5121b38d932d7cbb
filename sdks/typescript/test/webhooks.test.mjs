// Webhooks through the SDK, and verifyWebhook against real deliveries: the gateway signs and POSTs them to a
// receiver this test runs on 127.0.0.1, which keeps the raw bytes and headers exactly as they arrived.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { verifyWebhook, WebhookVerificationError } from "@agentgate/sdk";
import { eventually, startGateway } from "./support/gateway.mjs";

let gateway;
let admin;
let receiver;
/** Every delivery received: `{ path, headers, raw }` with `raw` the body's bytes. */
const received = [];

before(async () => {
  gateway = await startGateway();
  admin = gateway.client();
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ path: req.url, headers: req.headers, raw: Buffer.concat(chunks) });
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
});

after(async () => {
  await gateway?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

function receiverUrl(path) {
  return `http://127.0.0.1:${receiver.address().port}${path}`;
}

function deliveriesTo(path) {
  return received.filter((d) => d.path === path);
}

/** `headers` without the named ones. */
function without(headers, ...names) {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.includes(name)));
}

test("real deliveries verify under both schemes; tampering, a wrong secret or a stale time do not", async () => {
  const webhook = await admin.createWebhook({ url: receiverUrl("/generated"), events: ["*"] });
  assert.match(webhook.secret, /^whsec_/);
  assert.equal(webhook.enabled, true);

  const created = await admin.request({ action: "deploy", params: { version: "2.1.0" } });
  await admin.decide(created.id, { decision: "approved", reason: "ship it" });
  const deliveries = await eventually("three deliveries", () => {
    const got = deliveriesTo("/generated");
    return got.length >= 3 && got;
  });

  const events = deliveries.map((d) => verifyWebhook(webhook.secret, d.headers, d.raw));
  assert.deepEqual(events.map((e) => e.event).sort(), ["request.approved", "request.created", "request.decided"]);
  for (const event of events) {
    assert.equal(event.data.request.id, created.id);
    assert.equal(typeof event.timestamp, "number");
  }
  const approved = events.find((e) => e.event === "request.approved");
  assert.equal(approved.data.request.decisionReason, "ship it");

  const delivery = deliveries[0];
  assert.ok(delivery.headers["webhook-signature"].startsWith("v1,"));
  assert.ok(delivery.headers["x-agentgate-signature"].startsWith("sha256="));
  // Each scheme on its own.
  const standardOnly = without(delivery.headers, "x-agentgate-signature");
  const legacyOnly = without(delivery.headers, "webhook-id", "webhook-timestamp", "webhook-signature");
  verifyWebhook(webhook.secret, standardOnly, delivery.raw);
  verifyWebhook(webhook.secret, legacyOnly, delivery.raw);
  // The older gateway's bare hex.
  const bareHex = { "x-agentgate-signature": legacyOnly["x-agentgate-signature"].slice("sha256=".length) };
  verifyWebhook(webhook.secret, bareHex, delivery.raw);
  // A Headers object, upper-case names and a string body work too.
  verifyWebhook(webhook.secret, new Headers(standardOnly), delivery.raw.toString("utf8"));
  const upper = Object.fromEntries(Object.entries(legacyOnly).map(([k, v]) => [k.toUpperCase(), v]));
  verifyWebhook(webhook.secret, upper, new Uint8Array(delivery.raw));

  const tampered = Buffer.from(delivery.raw.toString("utf8").replace(created.id, "someone-elses-id"));
  for (const headers of [delivery.headers, standardOnly, legacyOnly]) {
    assert.throws(() => verifyWebhook(webhook.secret, headers, tampered), WebhookVerificationError);
    assert.throws(() => verifyWebhook("whsec_" + randomBytes(32).toString("base64"), headers, delivery.raw), {
      name: "WebhookVerificationError",
    });
  }
  // A replay ten minutes later fails the Standard Webhooks check.
  assert.throws(() => verifyWebhook(webhook.secret, delivery.headers, delivery.raw, { now: Date.now() + 600_000 }), {
    message: "webhook-timestamp is too old",
  });
  assert.throws(() => verifyWebhook(webhook.secret, delivery.headers, delivery.raw, { now: Date.now() - 600_000 }), {
    message: "webhook-timestamp is too far in the future",
  });
  verifyWebhook(webhook.secret, delivery.headers, delivery.raw, { now: Date.now() + 600_000, toleranceSeconds: 3600 });
  // A bad Standard Webhooks signature is not rescued by a good legacy one.
  const forged = { ...delivery.headers, "webhook-signature": "v1,AAAA" };
  assert.throws(() => verifyWebhook(webhook.secret, forged, delivery.raw), {
    message: "webhook-signature does not match",
  });
  // More than one signature (a rotated secret): any one that matches is enough.
  const rotated = { ...standardOnly, "webhook-signature": `v1,AAAA ${standardOnly["webhook-signature"]}` };
  verifyWebhook(webhook.secret, rotated, delivery.raw);
  assert.throws(() => verifyWebhook(webhook.secret, {}, delivery.raw), { message: /no signature/ });
  assert.throws(() => verifyWebhook(webhook.secret, without(standardOnly, "webhook-id"), delivery.raw), {
    message: /needs webhook-id/,
  });
});

test("secrets of one's own: base64 without the prefix, and plain text, verify under both schemes", async () => {
  const secrets = {
    "/base64": randomBytes(32).toString("base64"),
    "/text": "my own secret, which is not base64 at all!",
  };
  for (const [path, secret] of Object.entries(secrets)) {
    const webhook = await admin.createWebhook({ url: receiverUrl(path), events: ["request.created"], secret });
    assert.equal(webhook.secret, secret);
    const result = await admin.testWebhook(webhook.id);
    assert.equal(result.success, true, JSON.stringify(result));
    assert.equal(result.status, 204);
    const [delivery] = await eventually(`the test delivery to ${path}`, () => {
      const got = deliveriesTo(path);
      return got.length >= 1 && got;
    });
    const event = verifyWebhook(secret, delivery.headers, delivery.raw);
    assert.equal(event.event, "test");
    assert.equal(delivery.headers["webhook-id"], result.deliveryId);
    verifyWebhook(secret, without(delivery.headers, "webhook-signature"), delivery.raw);
    assert.throws(() => verifyWebhook(secret + "x", delivery.headers, delivery.raw), WebhookVerificationError);
  }
});

test("webhook management: list, get with deliveries, delivery log, replay, update, delete", async () => {
  const webhook = await admin.createWebhook({ url: receiverUrl("/managed"), events: ["request.created"] });
  const listed = await admin.listWebhooks();
  const entry = listed.find((w) => w.id === webhook.id);
  assert.equal(entry.url, receiverUrl("/managed"));
  assert.deepEqual(entry.events, ["request.created"]);
  assert.ok(!("secret" in entry), "the secret is never listed");
  assert.equal(typeof entry.createdAt, "number");

  await admin.request({ action: "managed" });
  const log = await eventually("a successful delivery", async () => {
    const page = await admin.listWebhookDeliveries(webhook.id, { status: "success" });
    return page.deliveries.length >= 1 && page;
  });
  assert.equal(log.pagination.total, 1);
  const [delivery] = log.deliveries;
  assert.equal(delivery.event, "request.created");
  assert.equal(delivery.responseCode, 204);
  assert.equal(delivery.attemptLog.length, 1);
  assert.equal(JSON.parse(delivery.payload).event, "request.created");

  const detail = await admin.getWebhook(webhook.id);
  assert.equal(detail.id, webhook.id);
  assert.ok(detail.deliveries.some((d) => d.id === delivery.id));

  const replayed = await admin.replayWebhookDelivery(delivery.id);
  assert.equal(replayed.delivery.replayOf, delivery.id);
  assert.notEqual(replayed.delivery.id, delivery.id);
  await eventually("the replay to arrive", () =>
    deliveriesTo("/managed").some((d) => d.headers["webhook-id"] === replayed.delivery.id),
  );
  const pending = await admin.listWebhookDeliveries(webhook.id, { limit: 1 });
  assert.equal(pending.pagination.limit, 1);
  assert.equal(pending.pagination.total, 2);

  const updated = await admin.updateWebhook(webhook.id, { enabled: false, events: ["*"] });
  assert.equal(updated.success, true);
  assert.equal(updated.webhook.enabled, false);
  assert.deepEqual(updated.webhook.events, ["*"]);

  await assert.rejects(admin.createWebhook({ url: "ftp://example.com/x", events: ["*"] }), { statusCode: 400 });
  await assert.rejects(admin.createWebhook({ url: receiverUrl("/x"), events: ["request.escalated"] }), {
    statusCode: 400,
  });

  assert.equal((await admin.deleteWebhook(webhook.id)).success, true);
  await assert.rejects(admin.getWebhook(webhook.id), { statusCode: 404, message: "Webhook not found" });
});
