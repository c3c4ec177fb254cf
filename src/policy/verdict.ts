// The decision core shared by the proxy and the webhook: from an engine Decision (and, for holds, what
// became of the Approval) to a verdict: admit, or refuse with a message. HTTP-free, so both front ends
// say the same thing about the same decision; each only wraps the verdict in its own envelope (a
// Kubernetes Status for the proxy, an AdmissionResponse for the webhook).
import type { Approval } from '../api/types.js';
import type { AuditHit, Decision, Explanation } from './types.js';

export type HoldDecision = Extract<Decision, { action: 'hold' }>;

export type Verdict =
  | { admit: true; approval?: string }
  /** approval: the Approval the refusal is about (held, denied or expired). */
  | { admit: false; message: string; approval?: string };

/** What became of a held request's Approval (see ApprovalService.hold). */
export interface HoldResult {
  approval: Approval;
  state: 'approved' | 'pending' | 'denied' | 'expired';
  /** false for a dry run: the Approval was drafted, never written. */
  persisted: boolean;
}

export function explain(explanations: readonly Explanation[]): string {
  return explanations.map((e) => `${e.path || '(object)'}: ${e.message}${e.detector ? ` [${e.detector}]` : ''}`).join('; ');
}

/** "policy P rule R: <the rule's message> (<explanations the message does not carry>)". */
export function because(d: Decision & { reason: string }): string {
  const ref = d.matched ? `policy ${d.matched.policy} rule ${d.matched.rule}` : 'policy';
  // The engine's reason names the rule as AgentPolicy "P" rule "R": said once, in front.
  const named = d.matched ? `AgentPolicy "${d.matched.policy}" rule "${d.matched.rule}": ` : '';
  const text = named && d.reason.startsWith(named) ? d.reason.slice(named.length) : d.reason;
  const why = explain(d.explanations.filter((e) => !text.includes(`${e.path}: ${e.message}`)));
  return `${ref}: ${text}${why ? ` (${why})` : ''}`;
}

export function denyMessage(d: Decision & { reason: string }, note?: string): string {
  return `airlock: denied by ${because(d)}${note ? ` (${note})` : ''}`;
}

/** A validating webhook cannot change the object: say which patch the policy requires, so the author can apply it. */
export function mutateMessage(d: Extract<Decision, { action: 'mutate' }>): string {
  return `${denyMessage(d)}; the object must be changed before it is admitted and a validating webhook cannot change it: apply this JSON patch and retry: ${JSON.stringify(d.patch)}`;
}

export function pendingMessage(name: string, d: HoldDecision, persisted: boolean): string {
  if (!persisted) return `airlock: would be held for approval (dry run: no Approval was created): ${because(d)}`;
  return `airlock: held for approval: kubectl approve ${name} (Approval ${name}; ${because(d)})`;
}

export function deniedApprovalMessage(a: Approval): string {
  const deny = [...(a.status?.decisions ?? [])].reverse().find((x) => x.decision === 'deny');
  const by = deny ? ` by ${deny.by}${deny.comment ? `: ${deny.comment}` : ''}` : '';
  return `airlock: approval ${a.metadata.name} for this exact request was denied${by}`;
}

export function expiredApprovalMessage(a: Approval): string {
  return `airlock: approval ${a.metadata.name} expired before it was approved; retry to request a new one`;
}

/** The verdict on an allow, deny or mutate decision (`mutable`: the caller can apply the mutation itself). */
export function verdictOf(d: Decision, mutable: boolean): Verdict {
  switch (d.action) {
    case 'allow':
      return { admit: true };
    case 'mutate':
      return mutable ? { admit: true } : { admit: false, message: mutateMessage(d) };
    case 'deny':
      return { admit: false, message: denyMessage(d) };
    case 'hold':
      return { admit: false, message: denyMessage(d, 'requires approval, but no approval service is configured') };
  }
}

/** The verdict on a held request once the Approval service answered. */
export function holdVerdict(d: HoldDecision, hold: HoldResult): Verdict {
  const approval = hold.approval.metadata.name ?? '';
  switch (hold.state) {
    case 'approved':
      return { admit: true, approval };
    case 'pending':
      return { admit: false, approval, message: pendingMessage(approval, d, hold.persisted) };
    case 'denied':
      return { admit: false, approval, message: deniedApprovalMessage(hold.approval) };
    case 'expired':
      return { admit: false, approval, message: expiredApprovalMessage(hold.approval) };
  }
}

/** Kubernetes shows warnings to kubectl users; keep each short (the API server truncates long ones). */
export function auditWarnings(hits: readonly AuditHit[]): string[] {
  return hits.slice(0, 16).map((h) => {
    const why = explain(h.explanations);
    const w = `airlock audit: AgentPolicy "${h.policy}" rule "${h.rule}": ${h.message}${why ? ` (${why})` : ''}`;
    return w.length > 250 ? w.slice(0, 247) + '...' : w;
  });
}
