// The JSON shapes of the AgentGate API, as the gateway sends them (crates/agentgate-core/src/wire.rs).
// One exception, kept from the older SDK: approval requests arrive with their dates as `Date` objects and absent
// values as `undefined` (see `ApprovalRequest`).

export type RequestStatus = "pending" | "approved" | "denied" | "expired";
export type Urgency = "low" | "normal" | "high" | "critical";
export type Decision = "approved" | "denied";
export type DecisionType = "auto_approve" | "auto_deny" | "route_to_human";
export type JsonObject = { [key: string]: unknown };

/** An approval request. Dates are `Date` objects; fields the gateway sends as `null` are `undefined`. */
export interface ApprovalRequest {
  id: string;
  action: string;
  params: JsonObject;
  context: JsonObject;
  status: RequestStatus;
  urgency: Urgency;
  createdAt: Date;
  updatedAt: Date;
  decidedAt?: Date;
  /** Who decided: `key:<id>`, `policy`, `system:expiry`, a Slack or Discord user, … */
  decidedBy?: string;
  decisionReason?: string;
  expiresAt?: Date;
  /** Who may decide, from the rule that routed the request; absent when anyone with `request:decide` may. */
  approvers?: string[];
  /** Whether a decision must give a reason. */
  requireReason?: boolean;
  /** Only on the answer to `request()`: what the policy engine decided. */
  policyDecision?: PolicyDecision;
}

export interface PolicyDecision {
  decision: DecisionType;
  approvers?: string[];
  channels?: string[];
}

export interface Pagination {
  total: number;
  limit: number;
  offset: number;
  hasMore: boolean;
}

/** A page of a list: an array (as the older SDK returned) that also carries the gateway's `pagination`. */
export type PagedList<T> = T[] & { pagination: Pagination };

export interface CreateRequestOptions {
  action: string;
  params?: JsonObject;
  context?: JsonObject;
  urgency?: Urgency;
  /** When the request expires if nobody decides it (a `Date` or an ISO-8601 string). */
  expiresAt?: Date | string;
}

export interface ListRequestsOptions {
  status?: RequestStatus;
  action?: string;
  urgency?: Urgency;
  /** At most 100; the gateway's default is 50. */
  limit?: number;
  offset?: number;
}

export interface DecideOptions {
  decision: Decision;
  reason?: string;
  /** A label only: the gateway records the authenticated key as the decider. */
  decidedBy?: string;
}

export interface WaitOptions {
  /** How long to wait in all, in milliseconds (default 300000). Then a `TimeoutError` is thrown. */
  timeout?: number;
  /**
   * Longest single long poll, in milliseconds (default 30000, at most 60000). Polls follow one another until
   * `timeout`.
   */
  pollTimeout?: number;
  /**
   * Only against a gateway without the long-poll route: the first delay between polls, in milliseconds (default
   * 2000), doubled after each poll up to 10000.
   */
  pollInterval?: number;
  /** Stops the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface PageOptions {
  limit?: number;
  offset?: number;
}

export interface Rule {
  match: JsonObject;
  decision: DecisionType;
  approvers?: string[];
  channels?: string[];
  requireReason?: boolean;
}

export interface Policy {
  id: string;
  name: string;
  rules: Rule[];
  priority: number;
  enabled: boolean;
  /** Starts at 1 and goes up by one on every update. */
  version: number;
  /** ISO-8601. */
  createdAt: string;
  updatedAt: string;
}

export interface PolicyInput {
  name: string;
  rules: Rule[];
  /** Lower runs first. */
  priority?: number;
  enabled?: boolean;
}

export interface SimulateInput {
  request?: Omit<CreateRequestOptions, "expiresAt">;
  requests?: Omit<CreateRequestOptions, "expiresAt">[];
  /** A draft policy set to evaluate instead of the stored policies. */
  policies?: PolicyInput[];
}

export interface Simulation {
  /** `stored` or `draft`: which policy set was evaluated. */
  policies: "stored" | "draft";
  results: SimulationResult[];
}

export interface SimulationResult {
  request: { action: string; urgency: Urgency; params: JsonObject; context: JsonObject };
  decision: DecisionType;
  matched: MatchedRule | null;
  misses: RuleMiss[];
}

export interface MatchedRule {
  policyId: string;
  policyName: string;
  policyVersion: number;
  ruleIndex: number;
  rule: Rule;
}

export interface RuleMiss {
  policyId: string;
  policyName: string;
  policyVersion: number;
  ruleIndex: number;
  reason: string;
}

export interface BacktestInput {
  policies: PolicyInput[];
  /** Replay the requests of the last `days` days … */
  days?: number;
  /** … or the last `last` requests (1000 when neither is given). */
  last?: number;
}

export interface Backtest {
  evaluated: number;
  changed: number;
  unchanged: number;
  truncated: boolean;
  changes: {
    from: DecisionType;
    to: DecisionType;
    count: number;
    examples: { id: string; action: string; createdAt: string }[];
  }[];
}

export interface AuditEntry {
  id: string;
  /** Null for administrative events (policy, key, webhook and override changes). */
  requestId: string | null;
  eventType: string;
  actor: string;
  details: JsonObject;
  /** ISO-8601. */
  createdAt: string;
  /** In `listAuditLogs` only: the request the entry is about. */
  request?: { id: string; action: string; status: RequestStatus; urgency: Urgency } | null;
}

export interface AuditList {
  entries: AuditEntry[];
  pagination: Pagination;
}

export interface ListAuditOptions {
  eventType?: string;
  action?: string;
  actor?: string;
  status?: RequestStatus;
  requestId?: string;
  /** An ISO-8601 timestamp or a date (`YYYY-MM-DD`, that whole UTC day). */
  from?: Date | string;
  to?: Date | string;
  limit?: number;
  offset?: number;
}

export type Scope = "request:create" | "request:read" | "request:decide" | "webhook:manage" | "admin";

export interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  /** Unix seconds, as in the older implementation. */
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** Requests per minute; null means the gateway's default. */
  rateLimit: number | null;
  active: boolean;
  usage: {
    today: number;
    last7Days: number;
    last30Days: number;
    daily: { date: string; requests: number }[];
  };
}

export interface CreateApiKeyOptions {
  name: string;
  scopes: (Scope | string)[];
  rateLimit?: number | null;
}

export interface UpdateApiKeyOptions {
  name?: string;
  scopes?: (Scope | string)[];
  /** `null` removes the limit. */
  rateLimit?: number | null;
}

/** The answer to `createApiKey`: the only time the secret (`key`) is shown. */
export interface CreatedApiKey {
  id: string;
  key: string;
  name: string;
  scopes: string[];
  rateLimit: number | null;
  message: string;
}

export type WebhookEventName =
  | "request.created"
  | "request.approved"
  | "request.denied"
  | "request.decided"
  | "request.expired"
  | "*";

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  /** Epoch milliseconds, as in the older implementation. */
  createdAt: number;
  updatedAt: number;
  enabled: boolean;
}

export interface WebhookDetail extends Webhook {
  /** The most recent deliveries. */
  deliveries: WebhookDelivery[];
}

export interface CreateWebhookOptions {
  url: string;
  events: (WebhookEventName | string)[];
  /** Your own signing secret (32 to 256 characters); a `whsec_…` secret is generated when absent. */
  secret?: string;
}

export interface UpdateWebhookOptions {
  url?: string;
  events?: (WebhookEventName | string)[];
  enabled?: boolean;
}

/** The answer to `createWebhook`: the only time the signing secret is shown. */
export interface CreatedWebhook {
  id: string;
  url: string;
  events: string[];
  secret: string;
  enabled: boolean;
  message: string;
}

export interface WebhookDelivery {
  /** Also the `webhook-id` header: the same on every retry. */
  id: string;
  webhookId: string;
  event: string;
  /** The exact JSON body that is signed and sent. */
  payload: string;
  status: "pending" | "success" | "failed";
  attempts: number;
  createdAt: number;
  lastAttemptAt: number | null;
  nextAttemptAt: number | null;
  responseCode: number | null;
  responseBody: string | null;
  /** The delivery this one replays. */
  replayOf?: string;
  attemptLog: DeliveryAttempt[];
}

export interface DeliveryAttempt {
  attempt: number;
  attemptedAt: number;
  durationMs: number;
  responseCode: number | null;
  responseBody: string | null;
  error: string | null;
}

export interface DeliveryList {
  deliveries: WebhookDelivery[];
  pagination: Pagination;
}

export interface ListDeliveriesOptions {
  status?: "pending" | "success" | "failed";
  limit?: number;
  offset?: number;
}

export interface WebhookTestResult {
  success: boolean;
  /** The receiver's HTTP status, when it answered. */
  status: number | null;
  message: string;
  deliveryId: string;
}

export interface Override {
  id: string;
  agentId: string;
  toolPattern: string;
  action: "require_approval";
  reason: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
}

export interface CreateOverrideOptions {
  agentId: string;
  /** A glob on the action, e.g. `deploy:*`. */
  toolPattern: string;
  reason?: string;
  /** How long it lasts; forever when absent. */
  ttlSeconds?: number;
}

export interface DecisionLinks {
  requestId: string;
  tokens: {
    approve: { token: string; url: string };
    deny: { token: string; url: string };
  };
  expiresAt: string;
  expiresInHours: number;
}

/** The answer to deletes and revocations. */
export interface Ack {
  success: boolean;
  id?: string;
  message?: string;
}

export interface Health {
  status: "ok" | "degraded" | string;
  timestamp: string;
  checks?: JsonObject;
}

/** The body of a webhook delivery. */
export interface WebhookEvent {
  /** `request.created`, `request.approved`, …, or `test`. */
  event: string;
  data: JsonObject;
  /** When the event happened, epoch milliseconds. */
  timestamp: number;
}

/** The answer to `updateApiKey`. */
export interface UpdatedApiKey {
  success: boolean;
  key: ApiKey;
}

/** The answer to `updateWebhook`. */
export interface UpdatedWebhook {
  success: boolean;
  webhook: Webhook;
}
