// The forgery guard for Approval sign-off, applied by the webhook to every UPDATE of approvals/status and
// every CREATE of approvals. Pure: (old, new, who, now) -> list of violations (empty: allowed).
import { isDeepStrictEqual } from 'node:util';
import type { Approval, ApprovalDecision } from '../api/types.js';
import { isApprover, isExpired, isRequester, phaseFromDecisions, phaseOf, type Identityish } from './rules.js';

export interface GuardOptions {
  /** Identities allowed to create Approvals and to move them to Consumed/Expired (the Airlock controller). */
  controllerUsers: string[];
  controllerGroups: string[];
  now?: number;
}

export function isController(who: Identityish, opts: GuardOptions): boolean {
  return opts.controllerUsers.includes(who.username) || (who.groups ?? []).some((g) => opts.controllerGroups.includes(g));
}

/** Approvals record a request made through Airlock; only the controller creates them. */
export function checkApprovalCreate(who: Identityish, opts: GuardOptions): string[] {
  return isController(who, opts) ? [] : [`only the Airlock controller may create Approvals; ${who.username} may not`];
}

const CONTROLLER_FIELDS = ['usesConsumed', 'consumedBy', 'conditions', 'observedGeneration', 'message'] as const;

/** Validates an approvals/status UPDATE by `who`. Returns human-readable violations. */
export function checkStatusUpdate(oldA: Approval, newA: Approval, who: Identityish, opts: GuardOptions): string[] {
  const now = opts.now ?? Date.now();
  const errs: string[] = [];
  const controller = isController(who, opts);
  if (!isDeepStrictEqual(oldA.spec, newA.spec)) errs.push('spec is immutable: an Approval records one request');

  const oldD: ApprovalDecision[] = oldA.status?.decisions ?? [];
  const newD: ApprovalDecision[] = newA.status?.decisions ?? [];
  if (newD.length < oldD.length || oldD.some((d, i) => !isDeepStrictEqual(d, newD[i]))) {
    errs.push('status.decisions: earlier decisions cannot be removed or edited (append only)');
    return errs;
  }
  const added = newD.slice(oldD.length);
  const oldPhase = phaseOf(oldA);
  const newPhase = phaseOf(newA);
  const seen = new Set(oldD.map((d) => d.by));
  added.forEach((d, k) => {
    const at = `status.decisions[${oldD.length + k}]`;
    if (d.by !== who.username) errs.push(`${at}.by: "${d.by}" must be your own username "${who.username}"`);
    if (isRequester(oldA, who)) errs.push(`${at}: ${who.username} made the request and cannot decide on it (four-eyes)`);
    if (!isApprover(oldA, who)) errs.push(`${at}: ${who.username} is not an approver of this Approval (spec.approvers)`);
    if (seen.has(d.by)) errs.push(`${at}: ${d.by} has already decided on this Approval`);
    seen.add(d.by);
    if (isExpired(oldA, now)) errs.push(`${at}: the Approval expired at ${oldA.spec.expiresAt}`);
    if (oldPhase !== 'Pending' && !(oldPhase === 'Approved' && d.decision === 'deny')) {
      errs.push(`${at}: the Approval is ${oldPhase}; decisions are taken only while Pending (a deny may still revoke an Approved one)`);
    }
  });

  const justified = phaseFromDecisions(newD, oldA.spec.required);
  const oldUses = oldA.status?.usesConsumed ?? 0;
  const newUses = newA.status?.usesConsumed ?? 0;
  if (!controller) {
    for (const f of CONTROLLER_FIELDS) {
      if (!isDeepStrictEqual(oldA.status?.[f], newA.status?.[f])) errs.push(`status.${f}: only the Airlock controller may change it`);
    }
    if (newPhase !== oldPhase) {
      if (newPhase === 'Consumed' || newPhase === 'Expired' || oldPhase === 'Consumed' || oldPhase === 'Expired') {
        errs.push(`status.phase: only the Airlock controller may move an Approval from ${oldPhase} to ${newPhase}`);
      } else if (newPhase !== justified) {
        errs.push(`status.phase: ${newPhase} is not justified by the decisions (they justify ${justified})`);
      }
    } else if (added.length && newPhase !== justified && !(oldPhase === 'Denied' || oldPhase === 'Consumed' || oldPhase === 'Expired')) {
      errs.push(`status.phase: must become ${justified} with these decisions, not stay ${newPhase}`);
    }
    return errs;
  }

  // The controller: consumption and expiry, always consistent with the decisions.
  if (newUses < oldUses) errs.push('status.usesConsumed cannot decrease');
  if (newUses > oldA.spec.uses) errs.push(`status.usesConsumed: ${newUses} exceeds spec.uses ${oldA.spec.uses}`);
  if ((newA.status?.consumedBy?.length ?? 0) < (oldA.status?.consumedBy?.length ?? 0)) errs.push('status.consumedBy cannot shrink');
  if (newUses > oldUses && (oldPhase !== 'Approved' || justified !== 'Approved')) errs.push('status.usesConsumed: only an Approved Approval can be consumed');
  if (newPhase !== oldPhase) {
    switch (newPhase) {
      case 'Consumed':
        if (justified !== 'Approved' || newUses < oldA.spec.uses) errs.push('status.phase: Consumed only once every use of an Approved Approval is consumed');
        break;
      case 'Expired':
        if (oldPhase !== 'Pending' && oldPhase !== 'Approved') errs.push(`status.phase: a ${oldPhase} Approval does not expire`);
        else if (!isExpired(oldA, now + 5000)) errs.push(`status.phase: not yet expired (expiresAt ${oldA.spec.expiresAt})`);
        break;
      default:
        if (oldPhase === 'Consumed' || oldPhase === 'Expired' || oldPhase === 'Denied') errs.push(`status.phase: ${oldPhase} is final`);
        else if (newPhase !== justified) errs.push(`status.phase: ${newPhase} is not justified by the decisions (they justify ${justified})`);
    }
  }
  return errs;
}
