// Starts the real `agentgate` binary ($AGENTGATE_BIN) for a test file: its own SQLite file in a temporary
// directory, a known admin key, loopback only, and private webhook targets allowed so deliveries can reach a
// receiver on 127.0.0.1.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentGateClient } from "@agentgate/sdk";

const STARTUP_LIMIT_MS = 60_000;

/** A port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function startGateway(extraEnv = {}) {
  const bin = process.env.AGENTGATE_BIN;
  if (!bin) {
    throw new Error("set AGENTGATE_BIN to the agentgate binary (for example target/debug/agentgate)");
  }
  const dir = await mkdtemp(join(tmpdir(), "agentgate-sdk-ts-"));
  const adminKey = `admin-${randomBytes(16).toString("hex")}`;
  // The port is picked before the gateway binds it (its logs name the configured address, not the bound one), so
  // another process may take it first: then try another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(bin, ["serve"], {
      env: {
        PATH: process.env.PATH ?? "",
        HOST: "127.0.0.1",
        PORT: String(port),
        DATABASE_URL: join(dir, "agentgate.db"),
        ADMIN_API_KEY: adminKey,
        AGENTGATE_ALLOW_PRIVATE_WEBHOOKS: "true",
        WEBHOOK_RETRY_BASE_MS: "100",
        LOG_LEVEL: "warn",
        ...extraEnv,
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    const baseUrl = `http://127.0.0.1:${port}`;
    const healthy = await waitHealthy(baseUrl, exited);
    if (healthy) {
      return new Gateway({ baseUrl, adminKey, dir, child, exited, stderr: () => stderr });
    }
    if (attempt >= 5 || !stderr.includes("cannot listen")) {
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
      throw new Error(`agentgate did not start:\n${stderr}`);
    }
  }
}

/** Polls /health until it answers 200; false if the process exits first. */
async function waitHealthy(baseUrl, exited) {
  let gone = false;
  exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + STARTUP_LIMIT_MS;
  while (Date.now() < deadline && !gone) {
    try {
      const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) {
        return true;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  return false;
}

class Gateway {
  constructor({ baseUrl, adminKey, dir, child, exited, stderr }) {
    this.baseUrl = baseUrl;
    this.adminKey = adminKey;
    this.dir = dir;
    this.child = child;
    this.exited = exited;
    this.stderr = stderr;
  }

  /** A client of this gateway with the admin key, or with `apiKey`. */
  client(options = {}) {
    return new AgentGateClient({ baseUrl: this.baseUrl, apiKey: this.adminKey, ...options });
  }

  /** A new key with `scopes`, and a client that uses it. */
  async clientWithScopes(name, scopes, options = {}) {
    const created = await this.client().createApiKey({ name, scopes });
    return { key: created, client: this.client({ apiKey: created.key, ...options }) };
  }

  async stop() {
    this.child.kill("SIGTERM");
    const stopped = await Promise.race([this.exited, sleep(20_000, undefined, { ref: false })]);
    if (stopped === undefined) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Polls `check` until it returns something truthy, failing with `what` after a generous deadline. */
export async function eventually(what, check, limitMs = 30_000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(50);
  }
}
