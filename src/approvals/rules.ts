// Pure rules of the Approval lifecycle, shared by the service, the webhook guard, the expiry controller
// and the CLI: what phase a set of decisions justifies, whether an Approval is live, who may approve.
import type { Approval, ApprovalDecision, ApprovalPhase } from '../api/types.js';

export const TERMINAL_PHASES: ReadonlySet<ApprovalPhase> = new Set(['Denied', 'Expired', 'Consumed']);

/** The phase an Approval is in; a freshly created one (no status yet) is Pending. */
export function phaseOf(a: Pick<Approval, 'status'>): ApprovalPhase {
  return a.status?.phase ?? 'Pending';
}

export function isExpired(a: Pick<Approval, 'spec'>, now: number = Date.now()): boolean {
  const t = Date.parse(a.spec.expiresAt);
  return !Number.isFinite(t) || now >= t;
}

export function usesLeft(a: Approval): number {
  return Math.max(0, a.spec.uses - (a.status?.usesConsumed ?? 0));
}

/** Distinct users who approved (a deny by anyone overrides approvals). */
export function distinctApprovers(decisions: readonly ApprovalDecision[]): string[] {
  return [...new Set(decisions.filter((d) => d.decision === 'approve').map((d) => d.by))];
}

/** Phase the decisions justify: Denied on any deny, Approved at `required` distinct approvals, else Pending. */
export function phaseFromDecisions(decisions: readonly ApprovalDecision[], required: number): 'Pending' | 'Approved' | 'Denied' {
  if (decisions.some((d) => d.decision === 'deny')) return 'Denied';
  return distinctApprovers(decisions).length >= Math.max(1, required) ? 'Approved' : 'Pending';
}

export interface Identityish {
  username: string;
  uid?: string;
  groups?: string[];
}

/** Whether this identity is listed as an approver (by username or by one of its groups). */
export function isApprover(a: Pick<Approval, 'spec'>, who: Identityish): boolean {
  const users = a.spec.approvers.users ?? [];
  const groups = a.spec.approvers.groups ?? [];
  return users.includes(who.username) || (who.groups ?? []).some((g) => groups.includes(g));
}

/** Four-eyes: whether this identity is the one that made the request. */
export function isRequester(a: Pick<Approval, 'spec'>, who: Identityish): boolean {
  const r = a.spec.request;
  if (r.user === who.username) return true;
  return Boolean(r.uid && who.uid && r.uid === who.uid);
}
