import { describe, expect, it, beforeAll } from '@jest/globals';
import { clientFor, kubectl, uniqueName } from '../helpers/env.js';
import { installCrds } from '../../src/operator/crds.js';
import { KubeApiError } from '../../src/k8s/client.js';

describe('CRD installation against a real kube-apiserver', () => {
  beforeAll(async () => {
    await installCrds(await clientFor('admin'));
  });

  it('is idempotent: a second and third server-side apply change nothing', async () => {
    const admin = await clientFor('admin');
    const before = await admin.get<{ metadata: { resourceVersion: string; generation: number } }>(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/agentpolicies.airlock.dev',
    );
    await installCrds(admin);
    await installCrds(admin);
    const after = await admin.get<{ metadata: { resourceVersion: string; generation: number } }>(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/agentpolicies.airlock.dev',
    );
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('rejects a schema-invalid AgentPolicy with a message naming the field', async () => {
    const admin = await clientFor('admin');
    const bad = {
      apiVersion: 'airlock.dev/v1alpha1',
      kind: 'AgentPolicy',
      metadata: { name: uniqueName('bad') },
      spec: { agents: { users: ['a'] }, rules: [{ name: 'r1', action: 'explode' }] },
    };
    const err = await admin.create('/apis/airlock.dev/v1alpha1/agentpolicies', bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(422);
    expect((err as KubeApiError).message).toContain('spec.rules[0].action');
  });

  it('enforces CEL rules: agents must name someone; Approval spec is immutable', async () => {
    const admin = await clientFor('admin');
    const err = await admin
      .create('/apis/airlock.dev/v1alpha1/agentpolicies', {
        apiVersion: 'airlock.dev/v1alpha1', kind: 'AgentPolicy', metadata: { name: uniqueName('empty') }, spec: { agents: {} },
      })
      .catch((e: unknown) => e as KubeApiError);
    expect((err as KubeApiError).message).toContain('agents must name at least one');

    const name = uniqueName('apr');
    await admin.create('/apis/airlock.dev/v1alpha1/approvals', {
      apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name },
      spec: {
        request: { user: 'agent-ci', verb: 'create', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: 'prod', name: 'web', via: 'webhook', fingerprint: 'a'.repeat(64), summary: 'create deployment prod/web' },
        policy: { name: 'p', rule: 'r' }, approvers: { groups: ['airlock:approvers'] }, required: 1, uses: 1, expiresAt: new Date(Date.now() + 3600e3).toISOString(),
      },
    });
    const upd = await admin
      .patch(`/apis/airlock.dev/v1alpha1/approvals/${name}`, { spec: { request: { name: 'other' } } })
      .catch((e: unknown) => e as KubeApiError);
    expect((upd as KubeApiError).message).toContain('spec is immutable');
  });

  it('kubectl get agentpolicies shows the printer columns', async () => {
    const res = await kubectl(['get', 'agentpolicies']);
    expect(res.code).toBe(0);
    const res2 = await kubectl(['get', 'approvals']);
    expect(res2.stdout.split('\n')[0]).toMatch(/NAME\s+PHASE\s+REQUESTER\s+VERB\s+RESOURCE\s+NAMESPACE\s+NAME\s+POLICY\s+EXPIRES\s+AGE/);
  });
});
