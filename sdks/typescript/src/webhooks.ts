// Verifying the gateway's webhook deliveries. Each delivery carries two signatures over the same raw body:
//
// - Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature:
//   v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, where the key is the base64 after `whsec_` (or, for
//   a secret that is not base64, its UTF-8 bytes). The timestamp is checked, so a replayed delivery fails.
// - `X-AgentGate-Signature: sha256=<hex HMAC-SHA256(secret, body)>` (the older gateway sent the bare hex). It has
//   no timestamp, so it is used only when the Standard Webhooks headers are absent.

import { createHmac, timingSafeEqual } from "node:crypto";
import type { WebhookEvent } from "./types.js";

/** The delivery's headers: a `Headers`, or a plain object such as Node's `req.headers` (any letter case). */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The time to check against (default: now). */
  now?: Date | number;
}

/** A delivery whose signature is missing, wrong or stale, or whose body is not an event. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

const DEFAULT_TOLERANCE_SECONDS = 300;
const encoder = new TextEncoder();

/**
 * Checks a delivery's signature over its raw body (the exact bytes received, before any JSON parsing) and returns
 * the parsed event; throws `WebhookVerificationError` otherwise.
 *
 * ```ts
 * const event = verifyWebhook(process.env.AGENTGATE_WEBHOOK_SECRET, req.headers, rawBody);
 * if (event.event === "request.approved") …
 * ```
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  rawBody: string | Uint8Array | ArrayBuffer,
  options: VerifyWebhookOptions = {},
): WebhookEvent {
  if (typeof secret !== "string" || secret === "") {
    throw new TypeError("verifyWebhook needs the webhook's secret");
  }
  const body = bytes(rawBody);
  const standard = header(headers, "webhook-signature");
  const legacy = header(headers, "x-agentgate-signature");
  if (standard !== undefined) {
    verifyStandard(secret, headers, standard, body, options);
  } else if (legacy !== undefined) {
    verifyLegacy(secret, legacy, body);
  } else {
    throw new WebhookVerificationError("no signature: neither webhook-signature nor X-AgentGate-Signature is set");
  }
  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new WebhookVerificationError("the body is not JSON");
  }
  if (typeof event !== "object" || event === null || typeof (event as WebhookEvent).event !== "string") {
    throw new WebhookVerificationError("the body is not a webhook event");
  }
  return event as WebhookEvent;
}

function verifyStandard(
  secret: string,
  headers: WebhookHeaders,
  signatures: string,
  body: Uint8Array,
  options: VerifyWebhookOptions,
): void {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  if (id === undefined || timestamp === undefined) {
    throw new WebhookVerificationError("webhook-signature needs webhook-id and webhook-timestamp");
  }
  if (!/^\d{1,15}$/.test(timestamp.trim())) {
    throw new WebhookVerificationError("webhook-timestamp is not a Unix time in seconds");
  }
  const sentAt = Number(timestamp.trim());
  const nowMs = options.now === undefined ? Date.now() : Number(options.now);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = Math.floor(nowMs / 1000);
  if (sentAt < now - tolerance) {
    throw new WebhookVerificationError("webhook-timestamp is too old");
  }
  if (sentAt > now + tolerance) {
    throw new WebhookVerificationError("webhook-timestamp is too far in the future");
  }
  const expected = createHmac("sha256", standardKey(secret))
    .update(encoder.encode(`${id}.${timestamp.trim()}.`))
    .update(body)
    .digest("base64");
  // Several space-separated signatures are allowed (the sender may sign with more than one secret).
  const matched = signatures
    .split(" ")
    .some((candidate) => candidate.startsWith("v1,") && sameText(candidate.slice(3), expected));
  if (!matched) {
    throw new WebhookVerificationError("webhook-signature does not match");
  }
}

function verifyLegacy(secret: string, signature: string, body: Uint8Array): void {
  const given = signature.trim().toLowerCase().replace(/^sha256=/, "");
  const expected = createHmac("sha256", encoder.encode(secret)).update(body).digest("hex");
  if (!sameText(given, expected)) {
    throw new WebhookVerificationError("X-AgentGate-Signature does not match");
  }
}

/** The HMAC key Standard Webhooks libraries derive from a secret: the base64 after `whsec_`, else its bytes. */
function standardKey(secret: string): Uint8Array {
  const encoded = secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret;
  return strictBase64(encoded) ?? encoder.encode(secret);
}

/** Canonical padded base64 only, as the gateway decodes it; anything else is not base64. */
function strictBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    return undefined;
  }
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  // Non-zero padding bits make a second spelling of the same bytes; the gateway refuses those.
  if (btoa(binary) !== text) {
    return undefined;
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function sameText(given: string, expected: string): boolean {
  const a = encoder.encode(given);
  const b = encoder.encode(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  let value: string | string[] | null | undefined;
  if (typeof (headers as Headers).get === "function") {
    value = (headers as Headers).get(name);
  } else {
    const record = headers as Record<string, string | string[] | undefined>;
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  if (Array.isArray(value)) {
    value = value.join(" ");
  }
  return value === null || value === undefined ? undefined : value;
}

function bytes(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === "string") {
    return encoder.encode(body);
  }
  if (body instanceof Uint8Array) {
    return body;
  }
  if (body instanceof ArrayBuffer) {
    return new Uint8Array(body);
  }
  throw new TypeError("rawBody must be the raw body: a string, a Buffer, a Uint8Array or an ArrayBuffer");
}
