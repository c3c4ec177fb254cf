import { describe, expect, it } from '@jest/globals';
import type { Approval, ApprovalDecision } from '../../../src/api/types.js';
import { checkApprovalCreate, checkStatusUpdate } from '../../../src/approvals/guard.js';
import { phaseFromDecisions } from '../../../src/approvals/rules.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const opts = { controllerUsers: ['airlock'], controllerGroups: ['airlock:controllers'], now: NOW };
const alice = { username: 'alice', uid: 'uid-alice', groups: ['airlock:approvers'] };
const bob = { username: 'bob', uid: 'uid-bob', groups: ['airlock:approvers'] };
const agent = { username: 'agent-ci', uid: 'uid-agent', groups: ['airlock:agents', 'airlock:approvers'] };
const ctl = { username: 'airlock', groups: ['airlock:controllers'] };

function approval(status: Approval['status'] = { phase: 'Pending', decisions: [] }, over: Partial<Approval['spec']> = {}): Approval {
  return {
    apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name: 'a' },
    spec: {
      request: { user: 'agent-ci', uid: 'uid-agent', verb: 'update', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', via: 'webhook', fingerprint: 'f'.repeat(64), summary: 's' },
      policy: { name: 'p', rule: 'r' }, approvers: { groups: ['airlock:approvers'] }, required: 1, uses: 1, expiresAt: new Date(NOW + 3600e3).toISOString(), ...over,
    },
    status,
  };
}
const d = (by: string, decision: 'approve' | 'deny' = 'approve'): ApprovalDecision => ({ decision, by, at: '2026-06-01T11:59:00Z' });
const withStatus = (a: Approval, status: Approval['status']): Approval => ({ ...a, status });

describe('approval status guard', () => {
  it('accepts an approver approving with their own name and the justified phase', () => {
    const old = approval();
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Approved', decisions: [d('alice')] }), alice, opts)).toEqual([]);
  });

  it('rejects a decision whose `by` is not the writer', () => {
    const old = approval();
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Approved', decisions: [d('bob')] }), alice, opts).join()).toContain('must be your own username');
  });

  it('enforces four-eyes by username and by uid', () => {
    const old = approval();
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Approved', decisions: [d('agent-ci')] }), agent, opts).join()).toContain('four-eyes');
    const sameUid = { username: 'agent-ci-alias', uid: 'uid-agent', groups: ['airlock:approvers'] };
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Approved', decisions: [d('agent-ci-alias')] }), sameUid, opts).join()).toContain('four-eyes');
  });

  it('rejects non-approvers, expired approvals and duplicate decisions', () => {
    const old = approval(undefined, { approvers: { users: ['alice'] } });
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Approved', decisions: [d('bob')] }), bob, opts).join()).toContain('not an approver');
    const expired = approval(undefined, { expiresAt: new Date(NOW - 1000).toISOString() });
    expect(checkStatusUpdate(expired, withStatus(expired, { phase: 'Approved', decisions: [d('alice')] }), alice, opts).join()).toContain('expired');
    const two = approval({ phase: 'Pending', decisions: [d('alice')] }, { required: 2 });
    expect(checkStatusUpdate(two, withStatus(two, { phase: 'Approved', decisions: [d('alice'), d('alice')] }), alice, opts).join()).toContain('already decided');
  });

  it('keeps decisions append-only', () => {
    const old = approval({ phase: 'Pending', decisions: [d('alice')] }, { required: 2 });
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Pending', decisions: [] }), alice, opts).join()).toContain('append only');
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Pending', decisions: [{ ...d('alice'), comment: 'edited' }] }), alice, opts).join()).toContain('append only');
  });

  it('requires phases justified by decisions (N of M; any deny wins)', () => {
    const old = approval(undefined, { required: 2 });
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Approved', decisions: [d('alice')] }), alice, opts).join()).toContain('not justified');
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Pending', decisions: [d('alice')] }), alice, opts)).toEqual([]);
    const one = withStatus(old, { phase: 'Pending', decisions: [d('alice')] });
    expect(checkStatusUpdate(one, withStatus(one, { phase: 'Approved', decisions: [d('alice'), d('bob')] }), bob, opts)).toEqual([]);
    expect(checkStatusUpdate(one, withStatus(one, { phase: 'Pending', decisions: [d('alice'), d('bob')] }), bob, opts).join()).toContain('must become Approved');
    expect(checkStatusUpdate(one, withStatus(one, { phase: 'Denied', decisions: [d('alice'), d('bob', 'deny')] }), bob, opts)).toEqual([]);
    expect(phaseFromDecisions([d('alice'), d('bob', 'deny')], 1)).toBe('Denied');
    expect(checkStatusUpdate(old, withStatus(old, { phase: 'Approved' }), alice, opts).join()).toContain('not justified');
  });

  it('reserves Consumed, Expired and usage fields for the controller', () => {
    const ok = approval({ phase: 'Approved', decisions: [d('alice')], usesConsumed: 0 });
    expect(checkStatusUpdate(ok, withStatus(ok, { ...ok.status, phase: 'Consumed', usesConsumed: 1 }), alice, opts).join()).toContain('only the Airlock controller');
    expect(checkStatusUpdate(ok, withStatus(ok, { ...ok.status, usesConsumed: 1 }), bob, opts).join()).toContain('only the Airlock controller');
    expect(checkStatusUpdate(ok, withStatus(ok, { ...ok.status, phase: 'Consumed', usesConsumed: 1, consumedBy: ['agent-ci@t'] }), ctl, opts)).toEqual([]);
    // The controller cannot consume what was never approved, exceed uses, or go backwards.
    const pending = approval();
    expect(checkStatusUpdate(pending, withStatus(pending, { phase: 'Consumed', usesConsumed: 1 }), ctl, opts).join()).toMatch(/only an Approved|Consumed only/);
    expect(checkStatusUpdate(ok, withStatus(ok, { ...ok.status, usesConsumed: 2, phase: 'Consumed' }), ctl, opts).join()).toContain('exceeds spec.uses');
    const used = approval({ phase: 'Approved', decisions: [d('alice')], usesConsumed: 1 }, { uses: 3 });
    expect(checkStatusUpdate(used, withStatus(used, { ...used.status, usesConsumed: 0 }), ctl, opts).join()).toContain('cannot decrease');
    expect(checkStatusUpdate(ok, withStatus(ok, { ...ok.status, phase: 'Approved', decisions: [d('alice'), d('airlock')] }), ctl, opts).join()).toContain('not an approver');
  });

  it('lets the controller expire only what is due', () => {
    const due = approval(undefined, { expiresAt: new Date(NOW - 1).toISOString() });
    expect(checkStatusUpdate(due, withStatus(due, { phase: 'Expired' }), ctl, opts)).toEqual([]);
    const notDue = approval();
    expect(checkStatusUpdate(notDue, withStatus(notDue, { phase: 'Expired' }), ctl, opts).join()).toContain('not yet expired');
    expect(checkStatusUpdate(due, withStatus(due, { phase: 'Expired' }), alice, opts).join()).toContain('only the Airlock controller');
    const consumed = approval({ phase: 'Consumed', decisions: [d('alice')], usesConsumed: 1 }, { expiresAt: new Date(NOW - 1).toISOString() });
    expect(checkStatusUpdate(consumed, withStatus(consumed, { ...consumed.status, phase: 'Expired' }), ctl, opts).join()).toContain('does not expire');
  });

  it('rejects spec changes and lets a deny revoke an Approved approval', () => {
    const old = approval();
    const edited = { ...old, spec: { ...old.spec, required: 0 } };
    expect(checkStatusUpdate(old, edited, ctl, opts).join()).toContain('spec is immutable');
    const ok = approval({ phase: 'Approved', decisions: [d('alice')] });
    expect(checkStatusUpdate(ok, withStatus(ok, { phase: 'Denied', decisions: [d('alice'), d('bob', 'deny')] }), bob, opts)).toEqual([]);
    expect(checkStatusUpdate(ok, withStatus(ok, { phase: 'Approved', decisions: [d('alice'), d('bob')] }), bob, opts).join()).toContain('decisions are taken only while Pending');
  });

  it('lets only the controller create Approvals', () => {
    expect(checkApprovalCreate(ctl, opts)).toEqual([]);
    expect(checkApprovalCreate({ username: 'x', groups: ['airlock:controllers'] }, opts)).toEqual([]);
    expect(checkApprovalCreate(agent, opts).join()).toContain('only the Airlock controller');
  });
});
