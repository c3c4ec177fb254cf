// KubeApprovalService against an in-memory fake of the few client calls it makes.
import { describe, expect, it } from '@jest/globals';
import type { Approval } from '../../../src/api/types.js';
import { maskingRedactor } from '../../../src/approvals/redact.js';
import { KubeApprovalService } from '../../../src/approvals/service.js';
import type { HoldDecision } from '../../../src/approvals/types.js';
import type { KubeClient } from '../../../src/k8s/client.js';
import { createMaskerFactory } from '../../../src/masking/index.js';
import type { RequestAttributes } from '../../../src/policy/types.js';

class FakeApprovals {
  readonly store = new Map<string, Approval>();
  creates = 0;
  async get<T>(path: string): Promise<T> {
    if (path.endsWith('/approvals')) return { items: [...this.store.values()] } as T;
    const name = decodeURIComponent(path.split('/').pop()!);
    const a = this.store.get(name);
    if (!a) throw Object.assign(new Error('not found'), { status: 404 });
    return structuredClone(a) as T;
  }
  async create<T>(_path: string, body: Approval): Promise<T> {
    this.creates++;
    const a = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: '1', creationTimestamp: new Date().toISOString() } };
    this.store.set(a.metadata.name!, a);
    return structuredClone(a) as T;
  }
  async replace<T>(path: string, body: Approval): Promise<T> {
    const name = decodeURIComponent(path.replace(/\/status$/, '').split('/').pop()!);
    this.store.set(name, structuredClone(body));
    return structuredClone(body) as T;
  }
}

const decision: HoldDecision = {
  action: 'hold', reason: 'deletes need a human', agent: true, policies: ['p'], explanations: [], audits: [], matched: { policy: 'p', rule: 'deletes' },
  masking: { secrets: true, configMaps: true, logs: true, envNamePatterns: [], patterns: [] },
  hold: { required: 1, ttl: '1h', mode: 'async', inlineTimeout: '30s', uses: 1, approvers: { users: ['alice'], groups: [] } },
  recording: {} as HoldDecision['recording'],
};
const collection: RequestAttributes = {
  user: { username: 'agent', groups: [] }, verb: 'deletecollection', isResourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'configmaps', namespace: 'team', via: 'proxy',
  options: { labelSelector: 'app=temp' }, collectionItems: [{ namespace: 'team', name: 'b', uid: '2' }, { namespace: 'team', name: 'a', uid: '1' }],
};
const service = (fake: FakeApprovals) =>
  new KubeApprovalService({ client: fake as unknown as KubeClient, redact: maskingRedactor(createMaskerFactory({ key: Buffer.alloc(32, 1) })) });

describe('KubeApprovalService', () => {
  it('records options, the deleted objects and a summary naming them', async () => {
    const fake = new FakeApprovals();
    const out = await service(fake).hold(collection, decision);
    expect(out.state).toBe('pending');
    expect(out.approval.spec.request).toMatchObject({
      options: { labelSelector: 'app=temp' },
      collection: { count: 2, names: ['a', 'b'] },
      summary: 'agent deletecollection configmaps in team (v1) via proxy where labelSelector=app=temp: 2 objects (a, b)',
    });
  });

  it('hole 1: an approved selector is not consumed by a request without it', async () => {
    const fake = new FakeApprovals();
    const svc = service(fake);
    const held = await svc.hold(collection, decision);
    const name = held.approval.metadata.name!;
    fake.store.set(name, { ...fake.store.get(name)!, status: { phase: 'Approved', decisions: [{ decision: 'approve', by: 'alice', at: new Date().toISOString() }], usesConsumed: 0 } });
    const unselected = { ...collection, options: {} };
    const other = await svc.hold(unselected, decision);
    expect(other.state).toBe('pending');
    expect(other.approval.metadata.name).not.toBe(name);
    expect(fake.store.get(name)!.status?.usesConsumed).toBe(0);
    expect((await svc.hold(collection, decision)).state).toBe('approved');
  });

  it('hole 2: a dry run neither matches nor consumes the real request\'s Approval, and writes nothing', async () => {
    const fake = new FakeApprovals();
    const svc = service(fake);
    const held = await svc.hold(collection, decision);
    const name = held.approval.metadata.name!;
    fake.store.set(name, { ...fake.store.get(name)!, status: { phase: 'Approved', decisions: [{ decision: 'approve', by: 'alice', at: new Date().toISOString() }], usesConsumed: 0 } });
    const creates = fake.creates;
    const dry = await svc.hold({ ...collection, dryRun: true }, decision);
    expect(dry.state).toBe('pending');
    expect(fake.creates).toBe(creates);
    expect(fake.store.get(name)!.status?.usesConsumed).toBe(0);
  });

  it('hole 3: the stored object and diff are masked with the decision\'s rules', async () => {
    const fake = new FakeApprovals();
    const dep = (pw: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'prod' }, spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'DB_PASSWORD', value: pw }] }] } } } });
    const patch: RequestAttributes = {
      user: { username: 'agent', groups: [] }, verb: 'patch', isResourceRequest: true, apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: 'prod', name: 'web', via: 'proxy',
      oldObject: dep('old-Passw0rd-x'), object: dep('new-Passw0rd-y'),
    };
    const out = await service(fake).hold(patch, decision);
    const stored = JSON.stringify(fake.store.get(out.approval.metadata.name!));
    expect(stored).not.toContain('old-Passw0rd-x');
    expect(stored).not.toContain('new-Passw0rd-y');
    expect(out.approval.spec.request.diff).toMatch(/^-.*airlock-masked:sha256:[0-9a-f]{8}/m);
    expect(out.approval.spec.request.diff).toMatch(/^\+.*airlock-masked:sha256:[0-9a-f]{8}/m);
    // The request itself is untouched (it is forwarded and fingerprinted as sent).
    expect(JSON.stringify(patch.object)).toContain('new-Passw0rd-y');
  });
});
