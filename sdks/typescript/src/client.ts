import { AgentGateError, TimeoutError } from "./errors.js";
import type {
  Ack,
  ApiKey,
  ApprovalRequest,
  AuditEntry,
  AuditList,
  Backtest,
  BacktestInput,
  CreateApiKeyOptions,
  CreateOverrideOptions,
  CreateRequestOptions,
  CreateWebhookOptions,
  CreatedApiKey,
  CreatedWebhook,
  DecideOptions,
  DecisionLinks,
  DeliveryList,
  Health,
  ListAuditOptions,
  ListDeliveriesOptions,
  ListRequestsOptions,
  Override,
  PageOptions,
  PagedList,
  Pagination,
  Policy,
  PolicyInput,
  SimulateInput,
  Simulation,
  UpdateApiKeyOptions,
  UpdateWebhookOptions,
  UpdatedApiKey,
  UpdatedWebhook,
  WaitOptions,
  Webhook,
  WebhookDelivery,
  WebhookDetail,
  WebhookTestResult,
} from "./types.js";
import { VERSION } from "./version.js";

export interface AgentGateClientOptions {
  /** The gateway, e.g. `http://127.0.0.1:3000`. Default: the `AGENTGATE_URL` environment variable. */
  baseUrl?: string;
  /** The bearer key (`agk_…`). Default: the `AGENTGATE_API_KEY` environment variable. */
  apiKey?: string;
  /** Longest one HTTP call may take, in milliseconds (default 30000); a long poll gets its wait on top. */
  timeout?: number;
  /**
   * How often an idempotent call (GET, PUT, DELETE) is tried again after a connection failure, a timeout, a 5xx
   * or a 429 (default 2; 0 turns retries off). Creating and deciding requests are never retried.
   */
  retries?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
type Query = Record<string, string | number | boolean | Date | undefined>;

interface CallOptions {
  query?: Query;
  body?: unknown;
  /** Overrides the client's per-call timeout (long polls). */
  timeout?: number;
  signal?: AbortSignal | undefined;
}

/** What one attempt got back: an answer, or a reason there was none. */
type Attempt =
  | { ok: true; status: number; statusText: string; retryAfter: string | null; text: string }
  | { ok: false; error: AgentGateError };

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 2;
const DEFAULT_WAIT_MS = 300_000;
const DEFAULT_POLL_MS = 30_000;
/** The gateway holds one long poll for at most a minute. */
const MAX_POLL_MS = 60_000;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** A longer `Retry-After` is cut to this. */
const MAX_RETRY_AFTER_MS = 60_000;
const MAX_FALLBACK_POLL_INTERVAL_MS = 10_000;

/**
 * A client for one AgentGate gateway.
 *
 * ```ts
 * const client = new AgentGateClient({ baseUrl: "http://127.0.0.1:3000", apiKey: process.env.AGENTGATE_API_KEY });
 * const request = await client.request({ action: "deploy", params: { version: "2.1.0" } });
 * const decided = await client.waitForDecision(request.id, { timeout: 600_000 });
 * if (decided.status === "approved") deploy();
 * ```
 */
export class AgentGateClient {
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #timeout: number;
  readonly #retries: number;
  /** Absent: the global `fetch` as it is at each call (so tools that replace it for tests see the calls). */
  readonly #fetch: typeof globalThis.fetch | undefined;

  constructor(options: AgentGateClientOptions = {}) {
    const env = typeof process === "undefined" ? {} : process.env;
    const baseUrl = (options.baseUrl ?? env["AGENTGATE_URL"] ?? "").trim().replace(/\/+$/, "");
    if (!/^https?:\/\/[^/]/i.test(baseUrl) || !URL.canParse(baseUrl)) {
      throw new TypeError(
        baseUrl === ""
          ? "AgentGateClient needs a baseUrl (or the AGENTGATE_URL environment variable)"
          : `the gateway URL must be an http:// or https:// URL, got ${JSON.stringify(baseUrl)}`,
      );
    }
    this.baseUrl = baseUrl;
    const apiKey = options.apiKey ?? env["AGENTGATE_API_KEY"];
    this.#apiKey = apiKey === undefined || apiKey === "" ? undefined : apiKey;
    this.#timeout = nonNegative("timeout", options.timeout ?? DEFAULT_TIMEOUT_MS);
    this.#retries = Math.floor(nonNegative("retries", options.retries ?? DEFAULT_RETRIES));
    if (typeof (options.fetch ?? globalThis.fetch) !== "function") {
      throw new TypeError("no fetch: use Node.js 20 or later, or pass options.fetch");
    }
    this.#fetch = options.fetch;
  }

  // ---- Requests ----------------------------------------------------------------------------------------------

  /**
   * Asks for approval of an action. The answer says whether a policy decided it at once (`status` approved or
   * denied, see `policyDecision`) or it waits for a person (`pending`). Never retried, so it never asks twice.
   */
  async request(options: CreateRequestOptions): Promise<ApprovalRequest> {
    const body = { ...options, expiresAt: isoOrUndefined(options.expiresAt) };
    return toRequest(await this.#call("POST", "/api/requests", { body }));
  }

  async getRequest(id: string): Promise<ApprovalRequest> {
    return toRequest(await this.#call("GET", `/api/requests/${segment(id)}`));
  }

  /** Requests, newest first: an array of one page, with the gateway's `pagination` on it. */
  async listRequests(options: ListRequestsOptions = {}): Promise<PagedList<ApprovalRequest>> {
    const answer = await this.#call<{ requests: unknown[]; pagination: Pagination }>("GET", "/api/requests", {
      query: { ...options },
    });
    return paged(answer.requests.map(toRequest), answer.pagination);
  }

  /**
   * Approves or denies a pending request; the gateway records this client's key as the decider. Never retried: a
   * 409 `AgentGateError` says it was already decided or has expired.
   */
  async decide(id: string, options: DecideOptions): Promise<ApprovalRequest> {
    return toRequest(await this.#call("POST", `/api/requests/${segment(id)}/decide`, { body: options }));
  }

  /**
   * Waits until a request is decided or expires, and returns it (check `status`: only `approved` means go
   * ahead). Each long poll returns the moment the gateway records a decision, and polls follow one another until
   * `timeout` (default five minutes); then it throws `TimeoutError` (408, code `TIMEOUT`), which carries the
   * request as last seen. Against an older gateway without the long-poll route it polls instead. An unknown id
   * is an `AgentGateError` 404.
   */
  async waitForDecision(id: string, options: WaitOptions = {}): Promise<ApprovalRequest> {
    const timeout = nonNegative("timeout", options.timeout ?? DEFAULT_WAIT_MS);
    const pollTimeout = nonNegative("pollTimeout", options.pollTimeout ?? DEFAULT_POLL_MS);
    const pollMs = Math.min(Math.max(pollTimeout, 1000), MAX_POLL_MS);
    nonNegative("pollInterval", options.pollInterval ?? 0);
    const deadline = performance.now() + timeout;
    const path = `/api/requests/${segment(id)}/wait`;
    for (;;) {
      // A timeout of zero still asks once (`?timeout=0` answers at once).
      const remaining = Math.max(deadline - performance.now(), 0);
      const seconds = Math.ceil(Math.min(remaining, pollMs) / 1000);
      let answer: unknown;
      try {
        answer = await this.#call("GET", path, {
          query: { timeout: seconds },
          timeout: this.#timeout + seconds * 1000,
          signal: options.signal,
        });
      } catch (error) {
        if (error instanceof AgentGateError && error.statusCode === 404) {
          // Either the request is unknown (this read fails with the same 404) or the gateway has no long polls.
          const read = await this.#call("GET", `/api/requests/${segment(id)}`, { signal: options.signal });
          return this.#pollForDecision(toRequest(read), deadline, timeout, options);
        }
        throw error;
      }
      const request = toRequest(answer);
      if (request.status !== "pending") {
        return request;
      }
      if (performance.now() >= deadline) {
        throw new TimeoutError(`Request ${id} was not decided within ${timeout} ms`, request);
      }
    }
  }

  async #pollForDecision(
    request: ApprovalRequest,
    deadline: number,
    timeout: number,
    options: WaitOptions,
  ): Promise<ApprovalRequest> {
    let interval = Math.max(options.pollInterval ?? 2000, 10);
    const maxInterval = Math.max(MAX_FALLBACK_POLL_INTERVAL_MS, interval);
    for (;;) {
      if (request.status !== "pending") {
        return request;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        throw new TimeoutError(`Request ${request.id} was not decided within ${timeout} ms`, request);
      }
      await sleep(Math.min(interval, remaining), options.signal);
      interval = Math.min(interval * 2, maxInterval);
      const read = await this.#call("GET", `/api/requests/${segment(request.id)}`, { signal: options.signal });
      request = toRequest(read);
    }
  }

  /** A request's audit trail, oldest first. */
  async getRequestAudit(id: string): Promise<AuditEntry[]> {
    return this.#call("GET", `/api/requests/${segment(id)}/audit`);
  }

  /** Mints a one-click approve link and deny link for a pending request (single-use, expiring). */
  async createDecisionLinks(id: string): Promise<DecisionLinks> {
    return this.#call("POST", `/api/requests/${segment(id)}/tokens`);
  }

  // ---- Policies ----------------------------------------------------------------------------------------------

  /** Policies in evaluation order (ascending priority): one page, with `pagination` on the array. */
  async listPolicies(options: PageOptions = {}): Promise<PagedList<Policy>> {
    const answer = await this.#call<{ policies: Policy[]; pagination: Pagination }>("GET", "/api/policies", {
      query: { ...options },
    });
    return paged(answer.policies, answer.pagination);
  }

  async getPolicy(id: string): Promise<Policy> {
    return this.#call("GET", `/api/policies/${segment(id)}`);
  }

  /** Creates a policy; a 400 `AgentGateError` names the offending place (`rules[0].match.amount: …`). */
  async createPolicy(policy: PolicyInput): Promise<Policy> {
    return this.#call("POST", "/api/policies", { body: policy });
  }

  /** Replaces a policy (its `version` goes up by one). */
  async updatePolicy(id: string, policy: PolicyInput): Promise<Policy> {
    return this.#call("PUT", `/api/policies/${segment(id)}`, { body: policy });
  }

  async deletePolicy(id: string): Promise<Ack> {
    return this.#call("DELETE", `/api/policies/${segment(id)}`);
  }

  /** What the engine would decide for a request (or several), against the stored policies or a draft set. */
  async simulatePolicies(input: SimulateInput): Promise<Simulation> {
    return this.#call("POST", "/api/policies/simulate", { body: input });
  }

  /** How a draft policy set would have decided the stored requests, against what was decided. */
  async backtestPolicies(input: BacktestInput): Promise<Backtest> {
    return this.#call("POST", "/api/policies/backtest", { body: input });
  }

  // ---- Overrides ---------------------------------------------------------------------------------------------

  async listOverrides(): Promise<Override[]> {
    return (await this.#call<{ overrides: Override[] }>("GET", "/api/overrides")).overrides;
  }

  /** For a while, an agent's matching actions need a person even when a policy would approve them. */
  async createOverride(options: CreateOverrideOptions): Promise<Override> {
    return this.#call("POST", "/api/overrides", { body: options });
  }

  async deleteOverride(id: string): Promise<Ack> {
    return this.#call("DELETE", `/api/overrides/${segment(id)}`);
  }

  // ---- API keys ----------------------------------------------------------------------------------------------

  async listApiKeys(): Promise<ApiKey[]> {
    return (await this.#call<{ keys: ApiKey[] }>("GET", "/api/api-keys")).keys;
  }

  /** Creates a key; the answer holds its secret, shown only this once. */
  async createApiKey(options: CreateApiKeyOptions): Promise<CreatedApiKey> {
    return this.#call("POST", "/api/api-keys", { body: options });
  }

  /** Changes a key's name, scopes or rate limit. */
  async updateApiKey(id: string, options: UpdateApiKeyOptions): Promise<UpdatedApiKey> {
    return this.#call("PATCH", `/api/api-keys/${segment(id)}`, { body: options });
  }

  /** Revokes a key: it stops working at once. */
  async revokeApiKey(id: string): Promise<Ack> {
    return this.#call("DELETE", `/api/api-keys/${segment(id)}`);
  }

  // ---- Webhooks ----------------------------------------------------------------------------------------------

  async listWebhooks(): Promise<Webhook[]> {
    return (await this.#call<{ webhooks: Webhook[] }>("GET", "/api/webhooks")).webhooks;
  }

  /** One webhook with its most recent deliveries. */
  async getWebhook(id: string): Promise<WebhookDetail> {
    return this.#call("GET", `/api/webhooks/${segment(id)}`);
  }

  /** Subscribes an endpoint; the answer holds the signing secret, shown only this once. */
  async createWebhook(options: CreateWebhookOptions): Promise<CreatedWebhook> {
    return this.#call("POST", "/api/webhooks", { body: options });
  }

  async updateWebhook(id: string, options: UpdateWebhookOptions): Promise<UpdatedWebhook> {
    return this.#call("PATCH", `/api/webhooks/${segment(id)}`, { body: options });
  }

  async deleteWebhook(id: string): Promise<Ack> {
    return this.#call("DELETE", `/api/webhooks/${segment(id)}`);
  }

  /** Sends a signed `test` event now and reports the receiver's answer. */
  async testWebhook(id: string): Promise<WebhookTestResult> {
    return this.#call("POST", `/api/webhooks/${segment(id)}/test`);
  }

  /** A webhook's delivery log, newest first, with every attempt. */
  async listWebhookDeliveries(id: string, options: ListDeliveriesOptions = {}): Promise<DeliveryList> {
    return this.#call("GET", `/api/webhooks/${segment(id)}/deliveries`, { query: { ...options } });
  }

  /** Queues a finished delivery again (same body, a new delivery id). */
  async replayWebhookDelivery(deliveryId: string): Promise<{ delivery: WebhookDelivery }> {
    return this.#call("POST", `/api/webhooks/deliveries/${segment(deliveryId)}/replay`);
  }

  // ---- Audit -------------------------------------------------------------------------------------------------

  /** The whole audit trail, newest first. */
  async listAuditLogs(options: ListAuditOptions = {}): Promise<AuditList> {
    return this.#call("GET", "/api/audit", { query: { ...options } });
  }

  /** The distinct actions of requests in the audit trail. */
  async getAuditActions(): Promise<string[]> {
    return (await this.#call<{ actions: string[] }>("GET", "/api/audit/actions")).actions;
  }

  /** The distinct actors in the audit trail (`key:<id>`, `policy`, `system:expiry`, …). */
  async getAuditActors(): Promise<string[]> {
    return (await this.#call<{ actors: string[] }>("GET", "/api/audit/actors")).actors;
  }

  // ---- Health ------------------------------------------------------------------------------------------------

  /** `GET /health` (needs no key); `deep` also checks the database. */
  async health(options: { deep?: boolean } = {}): Promise<Health> {
    return this.#call("GET", "/health", { query: { deep: options.deep ? "true" : undefined } });
  }

  // ---- Transport ---------------------------------------------------------------------------------------------

  /** Sends one call, retrying idempotent ones, and returns the parsed JSON of a 2xx answer. */
  async #call<T = unknown>(method: Method, path: string, options: CallOptions = {}): Promise<T> {
    const url = this.baseUrl + path + queryString(options.query);
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": `agentgate-sdk-typescript/${VERSION}`,
    };
    if (this.#apiKey !== undefined) {
      headers["authorization"] = `Bearer ${this.#apiKey}`;
    }
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const idempotent = method === "GET" || method === "PUT" || method === "DELETE";
    const attempts = idempotent ? this.#retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= attempts;
      const timeout = options.timeout ?? this.#timeout;
      const result = await this.#attempt(url, { method, headers, body }, timeout, options.signal);
      if (!result.ok) {
        if (last) {
          throw result.error;
        }
        await sleep(backoff(attempt, null), options.signal);
        continue;
      }
      if (!last && (result.status >= 500 || result.status === 429)) {
        await sleep(backoff(attempt, result.retryAfter), options.signal);
        continue;
      }
      if (result.status < 200 || result.status > 299) {
        throw apiError(result.status, result.statusText, result.text);
      }
      if (result.text.trim() === "") {
        return undefined as T;
      }
      try {
        return JSON.parse(result.text) as T;
      } catch (cause) {
        const message = `${method} ${path}: the answer is not JSON`;
        throw new AgentGateError(message, result.status, "DECODE_ERROR", { cause });
      }
    }
  }

  /** One HTTP exchange under a deadline that covers reading the body too. */
  async #attempt(
    url: string,
    init: { method: Method; headers: Record<string, string>; body: string | undefined },
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<Attempt> {
    signal?.throwIfAborted();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
    const forward = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", forward, { once: true });
    try {
      // The gateway never redirects; following one could turn a POST into a GET elsewhere.
      // Called on globalThis: browsers refuse a `fetch` called as a method of another object.
      const fetchFn = this.#fetch ?? globalThis.fetch;
      const res = await fetchFn.call(globalThis, url, { ...init, signal: controller.signal, redirect: "manual" });
      const text = await res.text();
      const retryAfter = res.headers.get("retry-after");
      return { ok: true, status: res.status, statusText: res.statusText, retryAfter, text };
    } catch (cause) {
      if (signal?.aborted) {
        throw signal.reason;
      }
      if (timedOut) {
        const message = `the gateway at ${this.baseUrl} did not answer within ${timeout} ms`;
        return { ok: false, error: new AgentGateError(message, 0, "REQUEST_TIMEOUT", { cause }) };
      }
      const message = `cannot reach the gateway at ${this.baseUrl}: ${rootCause(cause)}`;
      return { ok: false, error: new AgentGateError(message, 0, "NETWORK_ERROR", { cause }) };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", forward);
    }
  }
}

/** An id as one path segment; ids that cannot be one are refused before anything is sent. */
function segment(id: string): string {
  if (typeof id !== "string" || id === "" || id === "." || id === "..") {
    throw new TypeError(`not a valid id: ${JSON.stringify(id)}`);
  }
  return encodeURIComponent(id);
}

function queryString(query: Query | undefined): string {
  if (query === undefined) {
    return "";
  }
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) {
      params.append(name, value instanceof Date ? value.toISOString() : String(value));
    }
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

function isoOrUndefined(value: Date | string | undefined): string | undefined {
  return value instanceof Date ? value.toISOString() : value;
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${name} must be a non-negative number, got ${String(value)}`);
  }
  return value;
}

function paged<T>(items: T[], pagination: Pagination): PagedList<T> {
  return Object.assign(items, { pagination });
}

/** The request as the older SDK gave it: dates as `Date`, nulls as `undefined`. */
function toRequest(raw: unknown): ApprovalRequest {
  const wire = raw as Record<string, unknown>;
  const request: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(wire)) {
    if (value !== null) {
      request[name] = value;
    }
  }
  for (const name of ["createdAt", "updatedAt", "decidedAt", "expiresAt"]) {
    const value = request[name];
    if (typeof value === "string") {
      request[name] = new Date(value);
    }
  }
  return request as unknown as ApprovalRequest;
}

/** An error answer: its `error` field (the gateway's message), else its text, else the status. */
function apiError(status: number, statusText: string, text: string): AgentGateError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const fields = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  let message: string;
  if (typeof fields["error"] === "string" && fields["error"] !== "") {
    message = fields["error"];
  } else if (typeof fields["message"] === "string" && fields["message"] !== "") {
    message = fields["message"];
  } else if (text.trim() !== "") {
    message = text.trim().slice(0, 500);
  } else {
    message = statusText || `Request failed with status ${status}`;
  }
  const code = typeof fields["code"] === "string" ? fields["code"] : undefined;
  return new AgentGateError(message, status, code, { body });
}

/** The innermost message of a fetch failure (`connect ECONNREFUSED 127.0.0.1:3000` rather than `fetch failed`). */
function rootCause(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) {
    current = current.cause;
  }
  return current instanceof Error ? current.message : String(current);
}

/**
 * The delay before retry number `retry` (from 1): what `Retry-After` asks (at most a minute), else 250 ms doubled
 * per retry up to 10 s, scaled by a random factor in [½, 1] so that clients that failed together spread out.
 */
function backoff(retry: number, retryAfter: string | null): number {
  if (retryAfter !== null) {
    const value = retryAfter.trim();
    const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now();
    if (!Number.isNaN(ms)) {
      return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
    }
  }
  const full = Math.min(BACKOFF_BASE_MS * 2 ** Math.min(retry - 1, 20), BACKOFF_MAX_MS);
  return full * (0.5 + Math.random() / 2);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
