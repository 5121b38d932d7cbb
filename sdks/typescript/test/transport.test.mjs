// How calls travel: configuration, headers, which calls are retried (GET, PUT, DELETE) and which never are (POST,
// PATCH), unreachable and silent gateways, rate limits. Everything runs on loopback: the real gateway, and where
// a failure is needed, a small server of the test's own standing in front of it (as a load balancer would).

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { after, before, test } from "node:test";
import { AgentGateClient, AgentGateError, VERSION } from "@agentgate/sdk";
import { freePort, startGateway } from "./support/gateway.mjs";

let gateway;

before(async () => {
  gateway = await startGateway();
});

after(async () => {
  await gateway?.stop();
});

/** A real fetch that records each call's method and path. */
function countingFetch(calls) {
  return (url, init) => {
    calls.push(`${init.method} ${new URL(url).pathname}`);
    return fetch(url, init);
  };
}

/** An HTTP server on 127.0.0.1 for one test, closed when it ends. */
async function listen(t, handler) {
  const server = createHttpServer(handler);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${server.address().port}`;
}

/** Forwards a request to the real gateway and relays its answer. */
async function forward(req, res) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  const headers = { authorization: req.headers.authorization ?? "" };
  if (req.headers["content-type"]) {
    headers["content-type"] = req.headers["content-type"];
  }
  const upstream = await fetch(gateway.baseUrl + req.url, {
    method: req.method,
    headers,
    body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
  });
  res.writeHead(upstream.status, { "content-type": "application/json" });
  res.end(await upstream.text());
}

test("the version is package.json's", async () => {
  const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
  assert.equal(VERSION, pkg.version);
});

test("configuration: http(s) URLs only, trailing slashes dropped, environment defaults", () => {
  assert.throws(() => new AgentGateClient({ baseUrl: "ftp://example.com" }), TypeError);
  assert.throws(() => new AgentGateClient({ baseUrl: "http://" }), TypeError);
  assert.throws(() => new AgentGateClient({ baseUrl: gateway.baseUrl, timeout: -5 }), TypeError);
  assert.equal(new AgentGateClient({ baseUrl: `${gateway.baseUrl}//` }).baseUrl, gateway.baseUrl);

  const saved = { url: process.env.AGENTGATE_URL, key: process.env.AGENTGATE_API_KEY };
  try {
    delete process.env.AGENTGATE_URL;
    assert.throws(() => new AgentGateClient(), /AGENTGATE_URL/);
    process.env.AGENTGATE_URL = `${gateway.baseUrl}/`;
    process.env.AGENTGATE_API_KEY = gateway.adminKey;
    assert.equal(new AgentGateClient().baseUrl, gateway.baseUrl);
  } finally {
    for (const [name, value] of [
      ["AGENTGATE_URL", saved.url],
      ["AGENTGATE_API_KEY", saved.key],
    ]) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

test("the key from AGENTGATE_API_KEY is used when none is given", async () => {
  process.env.AGENTGATE_API_KEY = gateway.adminKey;
  try {
    const client = new AgentGateClient({ baseUrl: gateway.baseUrl });
    assert.ok(Array.isArray(await client.listApiKeys()));
  } finally {
    delete process.env.AGENTGATE_API_KEY;
  }
});

test("headers: the bearer key, JSON only with a body, and the SDK's user agent", async (t) => {
  const seen = [];
  const url = await listen(t, (req, res) => {
    seen.push({ method: req.method, headers: req.headers });
    return forward(req, res);
  });
  const client = new AgentGateClient({ baseUrl: url, apiKey: gateway.adminKey });
  const created = await client.request({ action: "headers" });
  await client.getRequest(created.id);
  const [post, get] = seen;
  assert.equal(post.headers.authorization, `Bearer ${gateway.adminKey}`);
  assert.equal(post.headers["content-type"], "application/json");
  assert.equal(post.headers["user-agent"], `agentgate-sdk-typescript/${VERSION}`);
  assert.equal(get.headers["content-type"], undefined);
  assert.equal(get.headers.accept, "application/json");
});

test("an unreachable gateway: GET is tried again, POST only once; the error names the cause", async () => {
  const closed = `http://127.0.0.1:${await freePort()}`;
  const calls = [];
  const client = new AgentGateClient({ baseUrl: closed, apiKey: "agk_x", retries: 2, fetch: countingFetch(calls) });
  await assert.rejects(client.getRequest("r1"), (error) => {
    assert.ok(error instanceof AgentGateError);
    assert.equal(error.statusCode, 0);
    assert.equal(error.code, "NETWORK_ERROR");
    assert.match(error.message, /^cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    return true;
  });
  assert.equal(calls.length, 3, "one try and two retries");

  calls.length = 0;
  await assert.rejects(client.request({ action: "x" }), { code: "NETWORK_ERROR" });
  await assert.rejects(client.decide("r1", { decision: "approved" }), { code: "NETWORK_ERROR" });
  await assert.rejects(client.updateWebhook("w1", { enabled: false }), { code: "NETWORK_ERROR" });
  assert.deepEqual(calls, ["POST /api/requests", "POST /api/requests/r1/decide", "PATCH /api/webhooks/w1"]);

  calls.length = 0;
  await assert.rejects(client.deletePolicy("p1"), { code: "NETWORK_ERROR" });
  await assert.rejects(client.updatePolicy("p1", { name: "x", rules: [] }), { code: "NETWORK_ERROR" });
  assert.equal(calls.length, 6, "DELETE and PUT are retried");

  calls.length = 0;
  const noRetries = new AgentGateClient({ baseUrl: closed, retries: 0, fetch: countingFetch(calls) });
  await assert.rejects(noRetries.listRequests(), { code: "NETWORK_ERROR" });
  assert.equal(calls.length, 1);
});

test("a gateway that does not answer in time: REQUEST_TIMEOUT", async (t) => {
  const sockets = [];
  const silent = createTcpServer((socket) => sockets.push(socket));
  await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    sockets.forEach((s) => s.destroy());
    return new Promise((resolve) => silent.close(resolve));
  });
  const client = new AgentGateClient({
    baseUrl: `http://127.0.0.1:${silent.address().port}`,
    timeout: 200,
    retries: 1,
  });
  await assert.rejects(client.listPolicies(), (error) => {
    assert.ok(error instanceof AgentGateError);
    assert.equal(error.code, "REQUEST_TIMEOUT");
    assert.equal(error.statusCode, 0);
    assert.match(error.message, /did not answer within 200 ms/);
    return true;
  });
  assert.equal(sockets.length, 2, "a timed-out GET is tried again");
});

test("a 503 in front of the gateway: GET is retried to the real answer, POST is not", async (t) => {
  let failuresLeft = 0;
  const calls = [];
  const url = await listen(t, (req, res) => {
    calls.push(`${req.method} ${req.url}`);
    if (failuresLeft > 0) {
      failuresLeft--;
      res.writeHead(503, { "content-type": "application/json", "retry-after": "0" });
      res.end(JSON.stringify({ error: "Service Unavailable: draining" }));
      return;
    }
    return forward(req, res);
  });
  const client = new AgentGateClient({ baseUrl: url, apiKey: gateway.adminKey, retries: 2 });

  const created = await client.request({ action: "behind_a_balancer" });
  failuresLeft = 2;
  const read = await client.getRequest(created.id);
  assert.equal(read.id, created.id);
  assert.equal(calls.filter((c) => c.startsWith("GET")).length, 3);

  failuresLeft = 3;
  await assert.rejects(client.getRequest(created.id), {
    statusCode: 503,
    message: "Service Unavailable: draining",
  });

  failuresLeft = 1;
  calls.length = 0;
  await assert.rejects(client.request({ action: "never twice" }), { statusCode: 503 });
  assert.deepEqual(calls, ["POST /api/requests"]);
  assert.equal((await client.listRequests({ action: "never twice" })).length, 0);
});

test("error answers that are not the gateway's JSON keep their text, or the status", async (t) => {
  const url = await listen(t, (req, res) => {
    if (req.url === "/api/requests/html") {
      res.writeHead(502, { "content-type": "text/html" }).end("<html>bad gateway</html>");
    } else if (req.url === "/api/requests/empty") {
      res.writeHead(418).end();
    } else {
      res.writeHead(200, { "content-type": "application/json" }).end("{not json");
    }
  });
  const client = new AgentGateClient({ baseUrl: url, retries: 0 });
  await assert.rejects(client.getRequest("html"), { statusCode: 502, message: "<html>bad gateway</html>" });
  await assert.rejects(client.getRequest("empty"), { statusCode: 418, message: "I'm a Teapot" });
  await assert.rejects(client.getRequest("garbled"), { statusCode: 200, code: "DECODE_ERROR" });
});

test("a rate-limited key gets a 429 with the gateway's message; a POST is not retried", async () => {
  const limited = await gateway.client().createApiKey({ name: "limited", scopes: ["request:create"], rateLimit: 1 });
  const calls = [];
  const client = gateway.client({ apiKey: limited.key, retries: 3, fetch: countingFetch(calls) });
  await client.request({ action: "first" });
  await assert.rejects(client.request({ action: "second" }), (error) => {
    assert.equal(error.statusCode, 429);
    assert.equal(error.message, "Rate limit exceeded");
    return true;
  });
  assert.equal(calls.length, 2);
});
