// The dashboard in a real browser: Debian's chromium driven by playwright-core, against a running gateway.
//
//   BASE_URL=http://127.0.0.1:3000 ADMIN_KEY=agk_... node dashboard.mjs
//
// ADMIN_KEY must be a stored API key with the admin scope (the gateway's first-start key). The gateway must allow
// loopback webhooks (AGENTGATE_ALLOW_PRIVATE_WEBHOOKS=true): the webhook scenario receives on 127.0.0.1.
// SCREENSHOTS=<dir> saves a screenshot of each page there. Exits non-zero on the first failed check, printing it.

import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import assert from "node:assert/strict";

const BASE = process.env.BASE_URL;
const ADMIN_KEY = process.env.ADMIN_KEY;
const SHOTS = process.env.SCREENSHOTS || "";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!BASE || !ADMIN_KEY) {
  console.error("BASE_URL and ADMIN_KEY are required");
  process.exit(64);
}
// Generous: the machine running this is small and busy.
const TIMEOUT = 30_000;
// Names unique to this run, so the script can run again against the same gateway.
const RUN = Date.now().toString(36);
const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

async function api(method, route, body, key = ADMIN_KEY) {
  const res = await fetch(BASE + route, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function createRequest(action, urgency = "normal", extra = {}) {
  const res = await api("POST", "/api/requests", { action, urgency, params: { n: 1 }, ...extra });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

const results = [];
async function scenario(name, run) {
  const started = Date.now();
  try {
    await run();
    results.push({ name, ok: true });
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name}\n${error && error.stack ? error.stack : error}`);
    throw error;
  }
}

const problems = [];
function watch(page, label) {
  page.on("console", (msg) => {
    const text = msg.text();
    if (msg.type() === "error" && !/Failed to load resource|EventSource|net::ERR_/.test(text)) {
      problems.push(`${label}: console error: ${text}`);
    }
    if (/Content Security Policy|Refused to/.test(text)) problems.push(`${label}: CSP: ${text}`);
  });
  page.on("pageerror", (err) => problems.push(`${label}: page error: ${err.message}`));
}

async function axeScan(page, label) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `axe on ${label}: ${JSON.stringify(bad, null, 1)}`);
}

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

async function signIn(page, key) {
  await page.goto(BASE + "/dashboard");
  await page.waitForURL(/\/dashboard\/sign-in/);
  await page.fill("#key", key);
  await Promise.all([page.waitForURL(BASE + "/dashboard"), page.click("button[type=submit]")]);
}

async function tabTo(page, selector, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((s) => document.activeElement && document.activeElement.matches(s), selector)) return;
  }
  throw new Error(`could not reach ${selector} with Tab`);
}

const activeId = (page) => page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.textContent.trim()));
const insideModal = (page, id) => page.evaluate((m) => document.getElementById(m).contains(document.activeElement), id);

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-US", timezoneId: "UTC" });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  watch(page, "admin");
  const me = (await api("GET", "/api/keys")).body.keys.find((k) => k.scopes.includes("admin"));
  const adminActor = `key:${me.id}`;

  await createRequest("deploy:production", "critical", { params: { service: "billing", version: "2.1.0" } });
  await createRequest("delete_file", "high", { params: { path: "/srv/data/report.csv" } });
  await createRequest("send_email", "normal", { params: { to: "customer@example.com", subject: "Order shipped" }, context: { agentId: "mailer" } });

  await scenario("sign in with an API key; the key is not kept in the browser", async () => {
    await page.goto(BASE + "/dashboard");
    await page.waitForURL(/\/dashboard\/sign-in/);
    await axeScan(page, "sign-in");
    await shot(page, "sign-in");
    await page.fill("#key", "agk_not-a-real-key");
    await page.click("button[type=submit]");
    await page.getByRole("alert").filter({ hasText: "not valid" }).waitFor();
    await page.fill("#key", ADMIN_KEY);
    await Promise.all([page.waitForURL(BASE + "/dashboard"), page.click("button[type=submit]")]);
    const stored = await page.evaluate(() => JSON.stringify({ c: document.cookie, l: { ...localStorage }, s: { ...sessionStorage } }));
    assert.ok(!stored.includes(ADMIN_KEY), "the key must not be readable in the page");
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "agentgate_session");
    assert.ok(session && session.httpOnly && session.sameSite === "Strict", JSON.stringify(cookies));
    assert.ok(!cookies.some((c) => c.value.includes(ADMIN_KEY)));
  });

  await scenario("home shows a new pending request live, most urgent first", async () => {
    await page.goto(BASE + "/dashboard");
    await page.evaluate(() => { window.__notReloaded = true; });
    const before = Number(await page.textContent("[data-testid=pending-count]"));
    await createRequest(`rotate_credentials_${RUN}`, "high");
    await page.locator("#pending-list").getByText(`rotate_credentials_${RUN}`).waitFor();
    assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page must not reload");
    await page.waitForFunction((n) => Number(document.querySelector("[data-testid=pending-count]").textContent) === n + 1, before);
    const first = await page.locator("#pending-list .urgency").first().textContent();
    assert.match(first, /critical/);
    await axeScan(page, "home");
    await shot(page, "home");
  });

  let approvedId;
  await scenario("approve with the keyboard alone, through the modal", async () => {
    const req = await createRequest("post_tweet", "low", { params: { text: "We shipped!" } });
    approvedId = req.id;
    await page.goto(`${BASE}/dashboard/requests/${req.id}`);
    await axeScan(page, "request detail");
    await shot(page, "request-detail");
    await tabTo(page, "button[data-decide=approved]");
    await page.keyboard.press("Enter");
    await page.locator("#decide-modal").waitFor({ state: "visible" });
    assert.equal(await activeId(page), "modal-reason", "focus moves into the modal");
    await axeScan(page, "decision modal");
    await shot(page, "decide-modal");
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press("Tab");
      assert.ok(await insideModal(page, "decide-modal"), "Tab stays in the modal");
    }
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press("Shift+Tab");
      assert.ok(await insideModal(page, "decide-modal"), "Shift+Tab stays in the modal");
    }
    await page.keyboard.press("Escape");
    await page.locator("#decide-modal").waitFor({ state: "hidden" });
    assert.ok(await page.evaluate(() => document.activeElement.matches("button[data-decide=approved]")), "focus returns to Approve");
    await page.keyboard.press("Enter");
    await page.locator("#decide-modal").waitFor({ state: "visible" });
    await page.keyboard.type("Looks good");
    await tabTo(page, "button[data-decide-confirm]", 5);
    await Promise.all([page.waitForURL(/notice=decided/), page.keyboard.press("Enter")]);
    assert.equal((await page.textContent("[data-testid=request-status]")).trim(), "approved");
    const stored = (await api("GET", `/api/requests/${req.id}`)).body;
    assert.equal(stored.status, "approved");
    assert.equal(stored.decidedBy, adminActor);
    assert.equal(stored.decisionReason, "Looks good");
  });

  await scenario("deny with a reason", async () => {
    const req = await createRequest("drop_table", "critical", { params: { table: "users" } });
    await page.goto(`${BASE}/dashboard/requests/${req.id}`);
    await page.click("button[data-decide=denied]");
    await page.fill("#modal-reason", "Not on a Friday");
    await Promise.all([page.waitForURL(/notice=decided/), page.click("button[data-decide-confirm]")]);
    assert.equal((await page.textContent("[data-testid=request-status]")).trim(), "denied");
    await page.getByText("Reason: Not on a Friday").waitFor();
    const stored = (await api("GET", `/api/requests/${req.id}`)).body;
    assert.equal(stored.status, "denied");
    assert.equal(stored.decisionReason, "Not on a Friday");
  });

  await scenario("a request decided elsewhere shows its outcome and disables the buttons", async () => {
    const req = await createRequest("restart_service", "normal");
    await page.goto(`${BASE}/dashboard/requests/${req.id}`);
    await page.click("button[data-decide=approved]");
    await page.locator("#decide-modal").waitFor({ state: "visible" });
    const decided = await api("POST", `/api/requests/${req.id}/decide`, { decision: "denied", reason: "decided in Slack" });
    assert.equal(decided.status, 200);
    await page.waitForFunction(() => document.querySelector("[data-testid=request-status]").textContent.trim() === "denied");
    await page.locator("#decide-modal").waitFor({ state: "hidden" });
    assert.ok(await page.locator("button[data-decide=approved]").isDisabled());
    assert.ok(await page.locator("button[data-decide=denied]").isDisabled());
  });

  await scenario("requests list: status tabs and filters", async () => {
    await page.goto(`${BASE}/dashboard/requests`);
    await page.getByRole("link", { name: "Pending" }).click();
    await page.waitForURL(/status=pending/);
    const statuses = await page.locator("tbody .badge").allTextContents();
    assert.ok(statuses.length > 0 && statuses.every((s) => s.trim() === "pending"), statuses.join(","));
    await page.selectOption("#filter-urgency", "critical");
    await Promise.all([page.waitForURL(/urgency=critical/), page.click("form.filters button[type=submit]")]);
    const urgencies = await page.locator("tbody .urgency").allTextContents();
    assert.ok(urgencies.length > 0 && urgencies.every((u) => u.trim() === "critical"));
    await page.goto(`${BASE}/dashboard/requests`);
    await axeScan(page, "requests");
    await shot(page, "requests");
  });

  await scenario("audit log: filters by event type, actor and date range; CSV export", async () => {
    await page.goto(`${BASE}/dashboard/audit`);
    await page.selectOption("#f-event", "denied");
    await Promise.all([page.waitForURL(/eventType=denied/), page.click("form.filters button[type=submit]")]);
    const events = await page.locator("#audit-table tbody .badge[class*=event-]").allTextContents();
    assert.ok(events.length >= 1 && events.every((e) => e.trim() === "denied"), events.join(","));
    await page.goto(`${BASE}/dashboard/audit`);
    await page.selectOption("#f-actor", adminActor);
    await page.selectOption("#f-action", "post_tweet");
    await Promise.all([page.waitForURL(/actor=/), page.click("form.filters button[type=submit]")]);
    const rows = await page.locator("#audit-table tbody tr").count();
    assert.ok(rows >= 2, `created and approved rows of post_tweet, got ${rows}`);
    const today = new Date().toISOString().slice(0, 10);
    await page.goto(`${BASE}/dashboard/audit?from=${today}&to=${today}`);
    assert.ok((await page.locator("#audit-table tbody tr").count()) > 0);
    await page.goto(`${BASE}/dashboard/audit?from=2999-01-01&to=2999-01-02`);
    assert.equal(await page.locator("#audit-table tbody tr").count(), 0);
    await page.goto(`${BASE}/dashboard/audit?from=2999-01-02&to=2999-01-01`);
    await page.getByRole("alert").filter({ hasText: "from must not be after to" }).waitFor();
    await page.goto(`${BASE}/dashboard/audit?eventType=approved`);
    const href = await page.getAttribute("a[download]", "href");
    const csv = await page.request.get(BASE + href);
    assert.equal(csv.status(), 200);
    const text = await csv.text();
    assert.ok(text.startsWith("timestamp,event,actor"), text.slice(0, 80));
    assert.ok(text.includes(approvedId));
    await page.goto(`${BASE}/dashboard/audit`);
    await axeScan(page, "audit");
    await shot(page, "audit");
  });

  await scenario("create an API key (shown once), its scopes shape the dashboard; revoke it", async () => {
    await page.goto(`${BASE}/dashboard/keys/new`);
    await axeScan(page, "key form");
    await page.fill("#k-name", `e2e reader ${RUN}`);
    await page.uncheck("input[value='request:create']");
    await page.check("input[value='request:read']");
    await page.fill("#k-rate", "30");
    await page.click("form.card button[type=submit]");
    const secret = (await page.textContent("[data-testid=new-key]")).trim();
    assert.match(secret, /^agk_/);
    await page.locator(`tr[data-key-name='e2e reader ${RUN}']`).getByText("30/min").waitFor();
    await axeScan(page, "keys");
    await shot(page, "keys");

    const reader = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    reader.setDefaultTimeout(TIMEOUT);
    const readerPage = await reader.newPage();
    watch(readerPage, "reader");
    await signIn(readerPage, secret);
    const nav = await readerPage.locator("nav[aria-label=Main] a").allTextContents();
    assert.deepEqual(nav.map((s) => s.trim()), ["Dashboard", "Requests", "Audit Log"]);
    const refused = await readerPage.goto(`${BASE}/dashboard/keys`);
    assert.equal(refused.status(), 403);
    const pending = await createRequest("reader_can_see_this", "low");
    await readerPage.goto(`${BASE}/dashboard/requests/${pending.id}`);
    assert.equal(await readerPage.locator("button[data-decide]").count(), 0, "no decision buttons without request:decide");

    await page.goto(`${BASE}/dashboard/keys`);
    const row = page.locator(`tr[data-key-name='e2e reader ${RUN}']`);
    await row.getByRole("button", { name: /Revoke/ }).click();
    await page.locator("#confirm-modal").waitFor({ state: "visible" });
    await Promise.all([page.waitForURL(/notice=key-revoked/), page.click("[data-confirm-ok]")]);
    await row.getByText("revoked").waitFor();

    const after = await readerPage.goto(`${BASE}/dashboard/requests`);
    assert.ok(after.url().includes("/dashboard/sign-in"), "a revoked key's session ends");
    await reader.close();
  });

  await scenario("add a webhook and see its test delivery", async () => {
    const received = [];
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => { body += c; });
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("thanks");
      });
    });
    await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${receiver.address().port}/hook`;
    try {
      await page.goto(`${BASE}/dashboard/webhooks/new`);
      await axeScan(page, "webhook form");
      await page.fill("#w-url", url);
      await page.check("input[value='request.created']");
      await page.click("form.card button[type=submit]");
      await page.locator("#new-secret").waitFor();
      await page.getByRole("link", { name: url }).waitFor();
      await axeScan(page, "webhooks");
      await page.getByRole("button", { name: `Test ${url}` }).click();
      await page.locator("[data-testid=test-result]").getByText("Test delivered successfully (HTTP 200)").waitFor();
      const row = page.locator(".deliveries tbody tr").first();
      await row.getByText("test").waitFor();
      await row.getByText("success").waitFor();
      await row.getByText("thanks").waitFor();
      assert.equal(received.length, 1);
      assert.match(received[0].headers["x-agentgate-signature"], /^sha256=[0-9a-f]{64}$/);
      await axeScan(page, "webhook detail");
      await shot(page, "webhook-detail");
      await page.goto(`${BASE}/dashboard/webhooks`);
      await page.locator(".deliveries").first().waitFor();
      await shot(page, "webhooks");
    } finally {
      receiver.close();
    }
  });

  await scenario("a policy validation error is shown in place; a draft can be simulated and saved", async () => {
    await page.goto(`${BASE}/dashboard/policies/new`);
    await page.fill("#p-name", `Emails to customers ${RUN}`);
    const badRules = '[{ "match": { "action": "send_email" }, "decision": "maybe" }]';
    await page.fill("#p-rules", badRules);
    await page.getByRole("button", { name: "Save policy" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.textContent(), /decision/);
    assert.equal(await page.inputValue("#p-rules"), badRules, "what was typed is kept");
    assert.equal(await page.getAttribute("#p-rules", "aria-invalid"), "true");
    await axeScan(page, "policy form with error");
    await shot(page, "policy-error");
    await page.fill("#p-rules", '[{ "match": { "action": "send_email" }, "decision": "auto_approve" }]');
    await page.fill("#p-request", '{ "action": "send_email", "params": {} }');
    await page.getByRole("button", { name: "Simulate" }).click();
    assert.equal((await page.textContent("[data-testid=simulated-decision]")).trim(), "auto_approve");
    await Promise.all([page.waitForURL(/notice=policy-saved/), page.getByRole("button", { name: "Save policy" }).click()]);
    await page.getByRole("link", { name: `Emails to customers ${RUN}`, exact: true }).waitFor();
    await axeScan(page, "policies");
    await shot(page, "policies");
    await page.getByRole("button", { name: `Disable Emails to customers ${RUN}` }).click();
    await page.waitForURL(/notice=policy-disabled/);
  });

  await scenario("readable on a phone", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const phonePage = await phone.newPage();
    watch(phonePage, "phone");
    await signIn(phonePage, ADMIN_KEY);
    const overflow = await phonePage.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the home page scrolls sideways by ${overflow}px`);
    await axeScan(phonePage, "home on a phone");
    await shot(phonePage, "home-phone");
    await phone.close();
  });

  await scenario("sign out", async () => {
    await page.goto(`${BASE}/dashboard`);
    await Promise.all([page.waitForURL(/sign-in\?notice=signed-out/), page.getByRole("button", { name: "Sign out" }).click()]);
    await page.goto(`${BASE}/dashboard`);
    await page.waitForURL(/\/dashboard\/sign-in/);
  });

  assert.deepEqual(problems, [], problems.join("\n"));
} catch (error) {
  exitCode = 1;
  if (problems.length) console.log(problems.join("\n"));
} finally {
  await browser.close();
}
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(exitCode);
