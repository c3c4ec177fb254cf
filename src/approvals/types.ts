// The approval workflow's contract, used by the proxy and the webhook. Implemented in src/approvals/service.ts.
import type { Approval } from '../api/types.js';
import type { Decision, RequestAttributes } from '../policy/types.js';

export type HoldDecision = Extract<Decision, { action: 'hold' }>;

export interface HoldOutcome {
  approval: Approval;
  /**
   * approved: an Approved Approval for this exact request existed and one use was consumed now (admit);
   * pending: the request waits for sign-off (deny with the Approval's name, or wait inline);
   * denied: an approver denied it; expired: it expired before enough sign-offs.
   */
  state: 'approved' | 'pending' | 'denied' | 'expired';
}

export interface ApprovalService {
  /**
   * Called for every request the engine decided to hold. Computes the fingerprint (user + verb + resource +
   * normalised object + effect-changing options + dry run + deletecollection items), consumes an approved
   * Approval for it if one exists (atomically, once per use), or finds/creates the pending one. Retries of
   * the same request find the same Approval. A dry run gets an unwritten draft, always `pending`.
   */
  hold(req: RequestAttributes, decision: HoldDecision): Promise<HoldOutcome>;
  /** Waits until the Approval leaves Pending or the timeout passes; returns the latest copy. */
  waitForDecision(name: string, timeoutMs: number, signal?: AbortSignal): Promise<Approval>;
}
