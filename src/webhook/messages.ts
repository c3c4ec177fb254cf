// Turns policy decisions into the messages admission responses carry. Pure.
import type { Approval } from '../api/types.js';
import type { AuditHit, Decision, Explanation } from '../policy/types.js';

function ruleName(d: Pick<Decision, 'matched'>): string {
  return d.matched ? `AgentPolicy "${d.matched.policy}" rule "${d.matched.rule}"` : 'Airlock policy';
}

/** The engine's reason, prefixed with the deciding rule when the reason does not name it, plus every
 * explanation (field path and message) that the reason does not already carry. */
function because(d: Decision & { reason: string }): string {
  const ref = d.matched && !d.reason.includes(`"${d.matched.policy}"`) ? `${ruleName(d)}: ` : '';
  const extra = d.explanations.filter((e) => !d.reason.includes(`${e.path}: ${e.message}`));
  const why = explain(extra);
  return `${ref}${d.reason}${why ? ` (${why})` : ''}`;
}

export function explain(explanations: readonly Explanation[]): string {
  return explanations.map((e) => `${e.path || '(object)'}: ${e.message}${e.detector ? ` [${e.detector}]` : ''}`).join('; ');
}

export function denyMessage(d: Extract<Decision, { action: 'deny' }>): string {
  return `denied by Airlock: ${because(d)}`;
}

/** A validating webhook cannot change the object: say which patch the policy requires, so the author can apply it. */
export function mutateMessage(d: Extract<Decision, { action: 'mutate' }>): string {
  return (
    `denied by Airlock: ${because(d)}; the object must be changed before it is admitted and a validating webhook cannot change it: ` +
    `apply this JSON patch and retry: ${JSON.stringify(d.patch)}`
  );
}

export function pendingMessage(a: Approval, d: Extract<Decision, { action: 'hold' }>, persisted: boolean): string {
  const name = a.metadata.name!;
  if (!persisted) return `would be held for approval (dry run: no Approval was created); ${because(d)}`;
  return `held for approval: Approval ${name} must be approved (kubectl approve ${name}); ${because(d)}`;
}

export function deniedApprovalMessage(a: Approval): string {
  const deny = [...(a.status?.decisions ?? [])].reverse().find((d) => d.decision === 'deny');
  const by = deny ? ` by ${deny.by}${deny.comment ? `: ${deny.comment}` : ''}` : '';
  return `denied: Approval ${a.metadata.name} for this exact request was denied${by}`;
}

/** Kubernetes shows warnings to kubectl users; keep each short (the API server truncates long ones). */
export function auditWarnings(hits: readonly AuditHit[]): string[] {
  return hits.slice(0, 16).map((h) => {
    const why = explain(h.explanations);
    const w = `airlock audit: AgentPolicy "${h.policy}" rule "${h.rule}": ${h.message}${why ? ` (${why})` : ''}`;
    return w.length > 250 ? w.slice(0, 247) + '...' : w;
  });
}
