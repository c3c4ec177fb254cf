// Approvals bind exactly what was approved, Airlock's own values never reach the agent, and the masker
// cannot be stalled: regression tests through the product as shipped (default policy, agent bound to
// cluster-admin) against a real kube-apiserver.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Approval } from '../../src/api/types.js';
import { approvalPath } from '../../src/approvals/paths.js';
import { KubeApprovalService } from '../../src/approvals/service.js';
import type { HoldDecision } from '../../src/approvals/types.js';
import { clientFor, kubectl, testEnv, uniqueName } from '../helpers/env.js';
import { rawRequest, type RawResponse } from '../helpers/proxy.js';
import { approveAs, findCanary, plantCanaries, startShippedProxy, type Canaries, type ShippedProxy } from '../helpers/hostile.js';

let proxy: ShippedProxy;
let kc: string;
const team = uniqueName('team');
const prod = uniqueName('prodapr');
let canaries: Canaries;
const agent = (method: string, path: string, opts: Parameters<typeof rawRequest>[3] = {}): Promise<RawResponse> =>
  rawRequest(proxy.url, method, path, { token: testEnv().tokens['agent-ci'], ...opts });

function heldName(r: RawResponse): string {
  expect(r.status).toBe(403);
  const m = /held for approval: kubectl approve (\S+)/.exec(String(r.json().message));
  if (!m) throw new Error(`not held: ${r.text}`);
  return m[1]!;
}

const getApproval = async (name: string): Promise<Approval> => (await clientFor('admin')).get<Approval>(approvalPath(name));

beforeAll(async () => {
  proxy = await startShippedProxy();
  kc = proxy.kubeconfigFor('agent-ci');
  const admin = await clientFor('admin');
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: team } });
  for (const [name, app] of [['temp1', 'temp'], ['temp2', 'temp'], ['keep1', 'keep']]) {
    await admin.create(`/api/v1/namespaces/${team}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: app! } }, data: { a: 'b' } });
  }
  canaries = await plantCanaries(prod, { env: 'production' });
}, 90_000);

afterAll(async () => {
  await proxy?.close();
  const admin = await clientFor('admin');
  for (const ns of [team, prod]) await admin.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

describe('1. an approval for a narrow bulk delete does not cover a broader one', () => {
  it('the selector and the objects are bound; the broad delete gets its own Approval', async () => {
    const narrow = `/api/v1/namespaces/${team}/configmaps?labelSelector=app%3Dtemp`;
    const name = heldName(await agent('DELETE', narrow));
    const held = await getApproval(name);
    expect(held.spec.request.options?.labelSelector).toBe('app=temp');
    expect(held.spec.request.collection).toMatchObject({ count: 2, names: ['temp1', 'temp2'] });
    expect(held.spec.request.summary).toContain('labelSelector=app=temp');
    await approveAs('alice', name);

    const broad = heldName(await agent('DELETE', `/api/v1/namespaces/${team}/configmaps`));
    expect(broad).not.toBe(name);
    expect((await getApproval(name)).status?.usesConsumed ?? 0).toBe(0);

    const done = await agent('DELETE', narrow);
    expect(done.status).toBe(200);
    const left = await (await clientFor('admin')).get<{ items: { metadata: { name: string } }[] }>(`/api/v1/namespaces/${team}/configmaps`);
    expect(left.items.map((i) => i.metadata.name)).toContain('keep1');
    expect(left.items.map((i) => i.metadata.name)).not.toContain('temp1');
    expect((await getApproval(name)).status?.phase).toBe('Consumed');
  });
});

describe('2. dry run is read the way the API server reads it', () => {
  it('?dryRun=All next to a DeleteOptions body without dryRun is refused and deletes nothing', async () => {
    const r = await agent('DELETE', `/api/v1/namespaces/${team}/configmaps/keep1?dryRun=All`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1' }),
    });
    expect(r.status).toBe(400);
    await (await clientFor('admin')).get(`/api/v1/namespaces/${team}/configmaps/keep1`);
  });

  it('a dryRun in the body alone is a dry run: the object stays', async () => {
    const r = await agent('DELETE', `/api/v1/namespaces/${team}/configmaps/keep1`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', dryRun: ['All'] }),
    });
    expect([200, 403]).toContain(r.status);
    await (await clientFor('admin')).get(`/api/v1/namespaces/${team}/configmaps/keep1`);
  });

  it('a query parameter given twice is refused', async () => {
    const r = await agent('DELETE', `/api/v1/namespaces/${team}/configmaps?labelSelector=app%3Dtemp&labelSelector=app%3Dkeep`);
    expect(r.status).toBe(400);
  });
});

describe('3. the proxied token never reaches the agent', () => {
  it('kubectl auth whoami shows no airlock.dev/proxied extra', async () => {
    const r = await kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig: kc });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).status.userInfo.username).toBe('agent-ci');
    expect(r.stdout).not.toContain('airlock.dev/proxied');
  });
});

describe('4. Approvals are safe to read', () => {
  it("a held change's Approval carries no credential of the object", async () => {
    const r = await kubectl(['-n', prod, 'scale', 'deployment', 'web', '--replicas=0'], { kubeconfig: kc });
    expect(r.code).not.toBe(0);
    const name = /kubectl approve (\S+)/.exec(r.stderr)?.[1];
    expect(name).toBeDefined();
    const held = await getApproval(name!);
    expect(held.spec.request.object).toBeDefined();
    expect(findCanary(JSON.stringify(held), canaries.values)).toBeUndefined();
  });

  it("an agent sees only its own Approvals' summaries", async () => {
    const other = new KubeApprovalService({ client: await clientFor('airlock') });
    const decision = { action: 'hold', reason: 'test', agent: true, policies: ['p'], explanations: [], audits: [], recording: { enabled: true, bodies: true }, matched: { policy: 'p', rule: 'r' },
      hold: { required: 1, ttl: '10m', mode: 'async', inlineTimeout: '30s', uses: 1, approvers: { users: ['alice'], groups: [] } } } as HoldDecision;
    const theirs = await other.hold({ user: { username: 'someone-else', groups: [] }, verb: 'delete', isResourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'configmaps', namespace: team, name: uniqueName('x'), via: 'proxy' }, decision);
    const list = await agent('GET', '/apis/airlock.dev/v1alpha1/approvals');
    expect(list.status).toBe(200);
    const items = (list.json().items as Approval[]);
    expect(items.length).toBeGreaterThan(0);
    for (const a of items) {
      expect(a.spec.request.user).toBe('agent-ci');
      expect(a.spec.request.object).toBeUndefined();
      expect(a.spec.request.diff).toBeUndefined();
    }
    expect(items.map((a) => a.metadata.name)).not.toContain(theirs.approval.metadata.name);
    const one = await agent('GET', `/apis/airlock.dev/v1alpha1/approvals/${theirs.approval.metadata.name}`);
    expect(one.json().spec).toBeUndefined();
  });
});

describe('6. the masker cannot be stalled', () => {
  it("a ConfigMap of 20,000 repetitions of 'password.' is masked and answered", async () => {
    const admin = await clientFor('admin');
    await admin.create(`/api/v1/namespaces/${team}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stall' }, data: { v: 'password.'.repeat(20_000), w: 'password=hunter22 '.repeat(2000) } });
    const [cm, version] = await Promise.all([agent('GET', `/api/v1/namespaces/${team}/configmaps/stall`), agent('GET', '/version')]);
    expect(version.status).toBe(200);
    expect(cm.status).toBe(200);
    expect(cm.text).not.toContain('hunter22');
  });
});
