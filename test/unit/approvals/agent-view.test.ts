import { describe, expect, it } from '@jest/globals';
import type { Approval } from '../../../src/api/types.js';
import { approvalForAgent } from '../../../src/approvals/agent-view.js';

const approval = (user: string): Approval => ({
  apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval',
  metadata: {
    name: 'configmaps-new-0123456789', creationTimestamp: '2026-06-01T11:55:00Z', resourceVersion: '77', uid: 'a-uid',
    labels: { 'airlock.dev/fingerprint': '0123456789'.repeat(4), 'test.airlock.dev/run': 'r1', 'app.kubernetes.io/managed-by': 'airlock', team: 'x' },
    annotations: { note: 'internal' }, managedFields: [{ manager: 'airlock' }],
  } as Approval['metadata'],
  spec: {
    request: {
      user, uid: 'u-1', groups: ['airlock:agents'], verb: 'deletecollection', apiGroup: '', apiVersion: 'v1', resource: 'configmaps', namespace: 'team', via: 'proxy',
      fingerprint: 'ab'.repeat(32), summary: `${user} deletecollection configmaps in team (v1) via proxy where labelSelector=app=temp: 2 objects (a, b)`,
      options: { labelSelector: 'app=temp' }, collection: { count: 2, names: ['a', 'b'] },
      diff: '--- live\n-password: hunter2\n', object: 'data:\n  password: hunter2\n',
    },
    policy: { name: 'prod', rule: 'deletes', message: 'needs a human' },
    approvers: { users: ['alice'], groups: ['approvers'] }, required: 1, uses: 1, expiresAt: '2026-06-01T13:00:00Z',
  },
  status: { phase: 'Approved', decisions: [{ decision: 'approve', by: 'alice', at: '2026-06-01T11:58:00Z', comment: 'ok' }], usesConsumed: 0, consumedBy: ['x'], message: 'm' },
});

describe('approvalForAgent', () => {
  it("hides other identities' Approvals entirely", () => {
    expect(approvalForAgent(approval('someone-else'), 'agent')).toBeUndefined();
    expect(approvalForAgent(approval('agent'), '')).toBeUndefined();
    expect(approvalForAgent({ kind: 'Approval' }, 'agent')).toBeUndefined();
    expect(approvalForAgent(null, 'agent')).toBeUndefined();
    expect(approvalForAgent({ spec: { request: { user: ['agent'] } } }, 'agent')).toBeUndefined();
  });

  it("shows the agent's own Approval reduced to what it needs to follow it", () => {
    expect(approvalForAgent(approval('agent'), 'agent')).toEqual({
      apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval',
      metadata: { name: 'configmaps-new-0123456789', creationTimestamp: '2026-06-01T11:55:00Z', resourceVersion: '77', labels: { 'app.kubernetes.io/managed-by': 'airlock', team: 'x' } },
      spec: {
        request: {
          user: 'agent', verb: 'deletecollection', apiGroup: '', apiVersion: 'v1', resource: 'configmaps', namespace: 'team', via: 'proxy',
          summary: 'agent deletecollection configmaps in team (v1) via proxy where labelSelector=app=temp: 2 objects (a, b)',
          options: { labelSelector: 'app=temp' }, collection: { count: 2 },
        },
        policy: { name: 'prod', rule: 'deletes', message: 'needs a human' },
        expiresAt: '2026-06-01T13:00:00Z',
      },
      status: { phase: 'Approved', decisions: [{ decision: 'approve', comment: 'ok' }] },
    });
  });

  it('never shares structure with its input', () => {
    const a = approval('agent');
    const view = approvalForAgent(a, 'agent') as { spec: { request: { options: Record<string, string> } } };
    view.spec.request.options.labelSelector = 'changed';
    expect(a.spec.request.options!.labelSelector).toBe('app=temp');
  });

  it('copes with an Approval that has no status yet', () => {
    const a = approval('agent');
    delete a.status;
    expect(approvalForAgent(a, 'agent')).not.toHaveProperty('status');
  });
});
