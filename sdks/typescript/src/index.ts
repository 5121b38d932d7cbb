export { AgentGateClient, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS } from "./client.js";
export type { AgentGateClientOptions } from "./client.js";
export { AgentGateError, TimeoutError } from "./errors.js";
export { verifyWebhook, WebhookVerificationError } from "./webhooks.js";
export type { VerifyWebhookOptions, WebhookHeaders } from "./webhooks.js";
export { VERSION } from "./version.js";
export type * from "./types.js";
