// The conditions an Approval carries beside its phase, for kstatus readers (Flux, kpt, Argo CD health):
// a pending Approval is in progress (Reconciling=True), a denied or expired one failed (Stalled=True), an
// approved or consumed one done (Ready=True). Derived from the phase and decisions alone, so any writer of the status can set them.
import type { Approval, ApprovalPhase, Condition } from '../api/types.js';
import { distinctApprovers } from './rules.js';
import { condition } from '../k8s/conditions.js';

const OWNED = new Set(['Ready', 'Reconciling', 'Stalled']);

/**
 * The conditions an Approval in this phase carries (kstatus: Reconciling=True is in progress, Stalled=True
 * failed, Ready=True done). lastTransitionTime is kept from `previous` while a condition's status holds.
 */
export function approvalConditions(a: Approval, phase: ApprovalPhase, now: number): Condition[] {
  const make = (type: string, status: Condition['status'], reason: string, message: string): Condition =>
    condition(type, status, reason, message, a.metadata.generation ?? 0, a.status?.conditions, new Date(now));
  const approvers = distinctApprovers(a.status?.decisions ?? []);
  const denial = (a.status?.decisions ?? []).find((d) => d.decision === 'deny');
  switch (phase) {
    case 'Pending': {
      const left = Math.max(1, (a.spec.required ?? 1) - approvers.length);
      const message = `waiting for ${left} more approval(s) until ${a.spec.expiresAt}`;
      return [make('Ready', 'False', 'Pending', message), make('Reconciling', 'True', 'AwaitingApproval', message)];
    }
    case 'Approved':
      return [make('Ready', 'True', 'Approved', `approved by ${approvers.join(', ')}; the identical request will be admitted`)];
    case 'Consumed':
      return [make('Ready', 'True', 'Consumed', `approved by ${approvers.join(', ')} and used`)];
    case 'Denied': {
      const message = `denied by ${denial?.by ?? 'an approver'}${denial?.comment ? `: ${denial.comment}` : ''}`;
      return [make('Ready', 'False', 'Denied', message), make('Stalled', 'True', 'Denied', message)];
    }
    case 'Expired': {
      const message = a.status?.message ?? `expired at ${a.spec.expiresAt}`;
      return [make('Ready', 'False', 'Expired', message), make('Stalled', 'True', 'Expired', message)];
    }
  }
}

/** Whether the conditions this module owns already say what `want` says. */
export function conditionsMatch(have: Condition[] | undefined, want: Condition[]): boolean {
  const owned = (have ?? []).filter((c) => OWNED.has(c.type));
  return owned.length === want.length && want.every((w) => owned.some((h) => h.type === w.type && h.status === w.status && h.reason === w.reason && h.message === w.message));
}

/** The Approval with this phase (and extra status fields) and the conditions that go with it. */
export function withConditions(a: Approval, phase: ApprovalPhase, now: number, extra: Partial<Approval['status']> = {}): Approval {
  const status = { ...a.status, ...extra, phase };
  const next = { ...a, status };
  const others = (a.status?.conditions ?? []).filter((c) => !OWNED.has(c.type));
  return { ...next, status: { ...status, conditions: [...others, ...approvalConditions(next, phase, now)] } };
}

