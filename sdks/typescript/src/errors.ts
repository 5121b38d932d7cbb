import type { ApprovalRequest } from "./types.js";

/**
 * A call that failed. `statusCode` is the gateway's HTTP status and `message` its `error` text (for example 404
 * "Request not found", 403 "Missing required scope: admin"). When no answer came, `statusCode` is 0 and `code`
 * says why: `NETWORK_ERROR` (the gateway could not be reached) or `REQUEST_TIMEOUT` (it did not answer in time).
 */
export class AgentGateError extends Error {
  readonly statusCode: number;
  readonly code: string | undefined;
  /** The error answer's parsed JSON body, when there was one. */
  readonly body: unknown;

  constructor(message: string, statusCode: number, code?: string, options?: { cause?: unknown; body?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AgentGateError";
    this.statusCode = statusCode;
    this.code = code;
    this.body = options?.body;
  }
}

/** `waitForDecision` ran out of time before the request was decided (status 408, code `TIMEOUT`). */
export class TimeoutError extends AgentGateError {
  /** The request as last seen, still pending (absent if it was never read). */
  readonly request: ApprovalRequest | undefined;

  constructor(message = "Timed out waiting for a decision", request?: ApprovalRequest) {
    super(message, 408, "TIMEOUT");
    this.name = "TimeoutError";
    this.request = request;
  }
}
