// Compiled (not run) by `npm run typecheck` against the built declarations, as a TypeScript user would import
// them: the package's exports resolve, and the types accept what they should and refuse what they should not.

import {
  AgentGateClient,
  AgentGateError,
  TimeoutError,
  verifyWebhook,
  WebhookVerificationError,
  type ApprovalRequest,
  type PagedList,
  type WebhookEvent,
} from "@agentgate/sdk";

export async function agent(client: AgentGateClient): Promise<string> {
  const request: ApprovalRequest = await client.request({
    action: "send_email",
    params: { to: "customer@example.com" },
    urgency: "normal",
    expiresAt: new Date(),
  });
  const created: Date = request.createdAt;
  const decidedAt: Date | undefined = request.decidedAt;
  try {
    const decided = await client.waitForDecision(request.id, { timeout: 60_000, pollTimeout: 30_000 });
    if (decided.status === "approved") {
      return `${created.toISOString()} ${decidedAt?.toISOString() ?? ""} ${decided.decidedBy ?? ""}`;
    }
  } catch (error) {
    if (error instanceof TimeoutError) {
      const pending: ApprovalRequest | undefined = error.request;
      const status: 408 | number = error.statusCode;
      return `${pending?.id ?? ""} ${status}`;
    }
    if (error instanceof AgentGateError) {
      return `${error.statusCode} ${error.code ?? ""} ${error.message}`;
    }
  }
  // @ts-expect-error: a decision is approved or denied, nothing else.
  await client.decide(request.id, { decision: "maybe" });
  // @ts-expect-error: urgency is one of four words.
  await client.request({ action: "x", urgency: "whenever" });
  return "";
}

export async function lists(client: AgentGateClient): Promise<number> {
  const page: PagedList<ApprovalRequest> = await client.listRequests({ status: "pending", limit: 10 });
  const first: ApprovalRequest | undefined = page[0];
  const policies = await client.listPolicies({ offset: 10 });
  const audit = await client.listAuditLogs({ eventType: "approved", from: new Date() });
  return page.pagination.total + policies.pagination.total + audit.pagination.total + (first ? 1 : 0);
}

export function receive(secret: string, headers: Record<string, string | string[] | undefined>, raw: Uint8Array) {
  try {
    const event: WebhookEvent = verifyWebhook(secret, headers, raw, { toleranceSeconds: 60 });
    return event.event;
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      return error.message;
    }
    throw error;
  }
}
