// The agent proxy against a real kube-apiserver: kubectl and KubeClient through it, benign flows,
// provenance, recording, mutate and hold actions.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeClient, type WatchEvent } from '../../src/k8s/client.js';
import type { Approval } from '../../src/api/types.js';
import type { ApprovalService, HoldOutcome } from '../../src/approvals/types.js';
import type { AsciicastWriter, Recorder, RequestRecord } from '../../src/recording/types.js';
import type { UserInfo } from '../../src/policy/types.js';
import { clientFor, eventually, kubectl, testEnv, uniqueName } from '../helpers/env.js';
import { rawRequest, startTestProxy, type TestProxy, agentPolicy, guardRules } from '../helpers/proxy.js';
import { main as kubeconfigMain } from '../../src/cli/kubeconfig.js';
import { KubeApprovalService } from '../../src/approvals/service.js';
import { approvalPath } from '../../src/approvals/paths.js';
import { installCrds } from '../../src/operator/crds.js';
import { PassThrough } from 'node:stream';
import { request as httpsRequest } from 'node:https';
import type { ClientRequest } from 'node:http';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

class MemoryRecorder implements Recorder {
  readonly records: RequestRecord[] = [];
  sessionFor(user: UserInfo): string {
    return `sess-${user.username}`;
  }
  async record(rec: RequestRecord): Promise<void> {
    this.records.push(rec);
  }
  available(): boolean {
    return true;
  }
  startAsciicast(): AsciicastWriter {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
}

let proxy: TestProxy;
let kc: string;
let agent: KubeClient;
const recorder = new MemoryRecorder();
const ns = uniqueName('proxy');
const policyName = uniqueName('guard');
const afterCleanup: string[] = [];

beforeAll(async () => {
  proxy = await startTestProxy({ policies: [agentPolicy(policyName, guardRules)], recorder });
  kc = proxy.kubeconfigFor('agent-ci');
  agent = await KubeClient.load(kc);
  const admin = await clientFor('admin');
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});
afterAll(async () => {
  await proxy?.close();
  for (const f of afterCleanup) rmSync(f, { force: true });
  await (await clientFor('admin')).delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

function manyObjects(n: number): string {
  const docs: unknown[] = [];
  for (let i = 0; i < n; i++) {
    docs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: ns, labels: { app: 'many' } }, data: { i: String(i) } });
  }
  docs.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } });
  docs.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: ns } });
  docs.push({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'registry.example/web:1.0' }] } } },
  });
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}

describe('kubectl through the proxy', () => {
  it('discovery, get --raw and OpenAPI v2/v3 work', async () => {
    const v = await kubectl(['get', '--raw', '/version'], { kubeconfig: kc });
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout).gitVersion).toMatch(/^v1\./);
    const v3 = await kubectl(['get', '--raw', '/openapi/v3'], { kubeconfig: kc });
    expect(v3.code).toBe(0);
    expect(JSON.parse(v3.stdout).paths['api/v1']).toBeDefined();
    const v2 = await rawRequest(proxy.url, 'GET', '/openapi/v2', { token: testEnv().tokens['agent-ci'] });
    expect(v2.status).toBe(200);
    expect(v2.json().swagger).toBe('2.0');
    const explain = await kubectl(['explain', 'deployment.spec.replicas'], { kubeconfig: kc });
    expect(explain.stderr).toBe('');
    expect(explain.stdout).toContain('replicas');
    const resources = await kubectl(['api-resources', '--api-group=apps', '-o', 'name'], { kubeconfig: kc });
    expect(resources.stdout).toContain('deployments.apps');
  });

  it('applies many objects (helm-like), re-applies unchanged, and stamps provenance', async () => {
    const input = manyObjects(40);
    const first = await kubectl(['apply', '-f', '-'], { kubeconfig: kc, input, timeoutMs: 60000 });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout.split('\n').filter((l) => l.endsWith(' created'))).toHaveLength(43);
    const second = await kubectl(['apply', '-f', '-'], { kubeconfig: kc, input, timeoutMs: 60000 });
    expect(second.code).toBe(0);
    expect(second.stdout.split('\n').filter((l) => l.endsWith(' unchanged'))).toHaveLength(43);
    const admin = await clientFor('admin');
    const cm = await admin.get<{ metadata: { annotations: Record<string, string> } }>(`/api/v1/namespaces/${ns}/configmaps/cm-7`);
    expect(cm.metadata.annotations['airlock.dev/agent']).toBe('agent-ci');
    expect(cm.metadata.annotations['airlock.dev/session']).toBe('sess-agent-ci');
    // kubectl's client-side -> server-side apply migration may warn about a conflict with the deployment
    // controller's status writes (it does so against kube-apiserver directly too); it is non-fatal.
    const ssa = await kubectl(['apply', '--server-side', '-f', '-'], { kubeconfig: kc, input, timeoutMs: 60000 });
    expect(ssa.stderr).not.toContain('Error from server');
    expect(ssa.code).toBe(0);
    expect(ssa.stdout.split('\n').filter((l) => l.endsWith(' serverside-applied'))).toHaveLength(43);
  });

  it('kubectl diff, label, annotate and scale work through the proxy', async () => {
    const changed = manyObjects(1).split('\n---\n')[0]!.replace('"i":"0"', '"i":"changed"');
    const diff = await kubectl(['diff', '-f', '-'], { kubeconfig: kc, input: changed });
    expect(diff.code).toBe(1); // 1: differences found
    expect(diff.stdout).toContain('+  i: changed');
    const label = await kubectl(['-n', ns, 'label', 'cm', 'cm-0', 'tier=test'], { kubeconfig: kc });
    expect(label.stderr).toBe('');
    const ann = await kubectl(['-n', ns, 'annotate', 'cm', 'cm-0', 'note=hi'], { kubeconfig: kc });
    expect(ann.stderr).toBe('');
    const scale = await kubectl(['-n', ns, 'scale', 'deployment', 'web', '--replicas=0'], { kubeconfig: kc });
    expect(scale.stderr).toBe('');
    expect(scale.stdout).toContain('scaled');
    const cm = await (await clientFor('admin')).get<{ metadata: { labels: Record<string, string>; annotations: Record<string, string> }; data: Record<string, string> }>(`/api/v1/namespaces/${ns}/configmaps/cm-0`);
    expect(cm.metadata.labels.tier).toBe('test');
    expect(cm.metadata.annotations.note).toBe('hi');
    expect(cm.data.i).toBe('0');
  });

  it('get -o yaml / json / wide', async () => {
    const y = await kubectl(['-n', ns, 'get', 'deployment', 'web', '-o', 'yaml'], { kubeconfig: kc });
    expect(y.code).toBe(0);
    expect(y.stdout).toContain('kind: Deployment');
    const j = await kubectl(['-n', ns, 'get', 'cm', '-l', 'app=many', '-o', 'json'], { kubeconfig: kc });
    expect(JSON.parse(j.stdout).items).toHaveLength(40);
    const w = await kubectl(['-n', ns, 'get', 'deployments', '-o', 'wide'], { kubeconfig: kc });
    expect(w.stdout).toMatch(/NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES/);
    expect(w.stdout).toContain('registry.example/web:1.0');
  });

  it('lists in chunks (limit/continue), with kubectl and raw', async () => {
    const k = await kubectl(['-n', ns, 'get', 'cm', '-l', 'app=many', '--chunk-size=7', '-o', 'name', '-v=6'], { kubeconfig: kc });
    expect(k.code).toBe(0);
    expect(k.stdout.trim().split('\n')).toHaveLength(40);
    expect(k.stderr).toContain('continue=');
    const names: string[] = [];
    let cont = '';
    let pages = 0;
    do {
      const r = await agent.get<{ items: { metadata: { name: string } }[]; metadata: { continue?: string } }>(`/api/v1/namespaces/${ns}/configmaps`, {
        query: { labelSelector: 'app=many', limit: 15, continue: cont || undefined },
      });
      names.push(...r.items.map((i) => i.metadata.name));
      cont = r.metadata.continue ?? '';
      pages++;
    } while (cont);
    expect(pages).toBe(3);
    expect(new Set(names).size).toBe(40);
  });

  it('watches stream events as they happen', async () => {
    const events: WatchEvent[] = [];
    const w = agent.watch(`/api/v1/namespaces/${ns}/configmaps`, { labelSelector: 'app=watched' }, (e) => events.push(e));
    try {
      await new Promise((r) => setTimeout(r, 300));
      const admin = await clientFor('admin');
      const name = uniqueName('w');
      await admin.create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: 'watched' } } });
      await eventually(() => events.some((e) => e.type === 'ADDED' && (e.object.metadata as { name: string }).name === name), 10000, 'ADDED event');
      await admin.delete(`/api/v1/namespaces/${ns}/configmaps/${name}`);
      await eventually(() => events.some((e) => e.type === 'DELETED'), 10000, 'DELETED event');
    } finally {
      w.stop();
    }
  });

  it('many open watches do not make a GET wait', async () => {
    // Watches hold their upstream connection for minutes: if they shared a bounded pool with requests that
    // end, enough of them would leave every other request queued behind them (a design tried and reverted).
    const token = testEnv().tokens['agent-ci'];
    const ca = readFileSync(testEnv().caFile);
    const u = new URL(proxy.url);
    const watches = await Promise.all(Array.from({ length: 140 }, () => new Promise<ClientRequest>((resolve, reject) => {
      const req = httpsRequest({ hostname: u.hostname, port: u.port, path: `/api/v1/namespaces/${ns}/configmaps?watch=true&timeoutSeconds=60`, headers: { authorization: `Bearer ${token}` }, ca, agent: false }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`watch answered ${res.statusCode}`));
        res.resume();
        resolve(req);
      });
      req.on('error', () => undefined);
      req.end();
    })));
    try {
      const admin = await clientFor('admin');
      const name = uniqueName('pool');
      await admin.create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } });
      const got = await agent.get<{ metadata: { name: string } }>(`/api/v1/namespaces/${ns}/configmaps/${name}`, { timeoutMs: 10_000 });
      expect(got.metadata.name).toBe(name);
    } finally {
      for (const w of watches) w.destroy();
    }
  }, 30_000);

  it('kubectl get --watch prints events until stopped', async () => {
    const name = uniqueName('kw');
    const p = kubectl(['-n', ns, 'get', 'cm', '--watch', '-l', 'app=kw', '-o', 'name', '--request-timeout=4s'], { kubeconfig: kc, timeoutMs: 15000 });
    await new Promise((r) => setTimeout(r, 800));
    await (await clientFor('admin')).create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: 'kw' } } });
    const r = await p;
    expect(r.stdout).toContain(`configmap/${name}`);
  });

  it('deletes (one, by label, and deletecollection)', async () => {
    const one = await kubectl(['-n', ns, 'delete', 'cm', 'cm-0'], { kubeconfig: kc });
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('deleted');
    const coll = await agent.delete<{ kind: string }>(`/api/v1/namespaces/${ns}/configmaps`, { query: { labelSelector: 'app=many' } });
    expect(coll.kind).toBe('ConfigMapList');
    const left = await (await clientFor('admin')).get<{ items: unknown[] }>(`/api/v1/namespaces/${ns}/configmaps`, { query: { labelSelector: 'app=many' } });
    expect(left.items).toHaveLength(0);
  });

  it('kubectl auth can-i answers for the agent (RBAC still applies through impersonation)', async () => {
    const r = await kubectl(['auth', 'can-i', 'create', 'deployments', '-n', ns], { kubeconfig: kc });
    expect(r.stdout.trim()).toBe('yes');
    const who = await kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig: kc });
    expect(JSON.parse(who.stdout).status.userInfo.username).toBe('agent-ci');
  });

  it('a denied delete names policy and rule; the object stays', async () => {
    const admin = await clientFor('admin');
    await admin.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'keep' }, stringData: { k: 'v' } });
    const r = await kubectl(['-n', ns, 'delete', 'secret', 'keep'], { kubeconfig: kc });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`policy ${policyName} rule no-secrets`);
    await admin.get(`/api/v1/namespaces/${ns}/secrets/keep`);
  });

  it('records requests with identity, decision, status and bodies', async () => {
    await kubectl(['-n', ns, 'get', 'deployment', 'web'], { kubeconfig: kc });
    await kubectl(['-n', ns, 'get', 'secret', 'keep'], { kubeconfig: kc });
    await eventually(() => recorder.records.some((r) => r.request.resource === 'secrets' && r.request.name === 'keep' && r.request.verb === 'get'), 5000, 'record');
    const denied = recorder.records.find((r) => r.request.resource === 'secrets' && r.request.name === 'keep' && r.request.verb === 'get')!;
    expect(denied).toMatchObject({ type: 'request', sessionId: 'sess-agent-ci', method: 'GET', status: 403, decision: { action: 'deny', policy: policyName, rule: 'no-secrets' } });
    expect(denied.user.username).toBe('agent-ci');
    const ok = recorder.records.find((r) => r.request.resource === 'deployments' && r.request.name === 'web' && r.method === 'GET' && r.status === 200)!;
    expect(ok.decision.action).toBe('allow');
    expect(ok.latencyMs).toBeGreaterThan(0);
    expect((ok.responseBody as { kind?: string }).kind).toBe('Deployment');
    expect(recorder.records.every((r) => !JSON.stringify(r).includes(testEnv().tokens['agent-ci']))).toBe(true);
  });
});

describe('kubectl airlock kubeconfig', () => {
  it('generates a kubeconfig that kubectl uses to reach the cluster through the proxy', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const code = await kubeconfigMain(['--agent', 'agent-ci', '--server', proxy.url, '--ca-file', proxy.caFile, '--token', testEnv().tokens['agent-ci'], '--namespace', ns], { stdout: out, stderr: process.stderr });
    expect(code).toBe(0);
    const file = join(tmpdir(), `${uniqueName('kc')}.kubeconfig`);
    writeFileSync(file, text);
    afterCleanup.push(file);
    const r = await kubectl(['get', 'serviceaccounts', '-o', 'name'], { kubeconfig: file });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('serviceaccount/default');
    const denied = await kubectl(['get', 'secrets'], { kubeconfig: file });
    expect(denied.stderr).toContain('agents may not touch secrets');
  });
});

describe('mutate and hold actions', () => {
  it('hold with the real ApprovalService: held, approved by a human in the cluster, then the retry passes once', async () => {
    await installCrds(await clientFor('admin'));
    const service = new KubeApprovalService({ client: await clientFor('airlock') });
    const hp = await startTestProxy({
      approvals: service,
      policies: [
        agentPolicy(uniqueName('real-hold'), [
          { name: 'hold-cms', match: { apiGroups: [''], resources: ['configmaps'], verbs: ['create'], namespaces: [ns] }, action: 'hold', message: 'new config needs a human', hold: { mode: 'async', approvers: { groups: ['airlock:approvers'] }, ttl: '10m' } },
          { name: 'rest', match: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, action: 'allow' },
        ]),
      ],
    });
    try {
      const name = uniqueName('approved');
      const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: 'v' } });
      const send = () => rawRequest(hp.url, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { token: testEnv().tokens['agent-ci'], headers: { 'content-type': 'application/json' }, body });
      const held = await send();
      expect(held.status).toBe(403);
      const st = held.json() as { message: string; details: { name: string } };
      const approval = st.details.name;
      expect(st.message).toContain(`held for approval: kubectl approve ${approval}`);
      const a = await (await clientFor('admin')).get<Approval>(approvalPath(approval));
      expect(a.spec.request).toMatchObject({ user: 'agent-ci', verb: 'create', resource: 'configmaps', namespace: ns, via: 'proxy' });
      expect((await send()).json().details).toMatchObject({ name: approval }); // the retry finds the same Approval
      const alice = await clientFor('alice');
      const cur = await alice.get<Approval>(approvalPath(approval));
      cur.status = { ...(cur.status ?? {}), phase: 'Approved', decisions: [{ decision: 'approve', by: 'alice', at: new Date().toISOString().replace(/\.\d+Z$/u, 'Z') }] };
      await alice.replace(`${approvalPath(approval)}/status`, cur);
      const ok = await send();
      expect(ok.status).toBe(201);
      expect(ok.json()).toMatchObject({ metadata: { name, annotations: { 'airlock.dev/agent': 'agent-ci' } } });
      await (await clientFor('admin')).delete(`/api/v1/namespaces/${ns}/configmaps/${name}`);
      const again = await send(); // one use only
      expect(again.status).toBe(403);
    } finally {
      await hp.close();
    }
  });

  it('inline hold waits for the decision: approved proceeds, denied is refused', async () => {
    let phase: 'Approved' | 'Denied' = 'Approved';
    const waited: number[] = [];
    let consumed = 0;
    const approvals: ApprovalService = {
      async hold(): Promise<HoldOutcome> {
        const approval = { apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name: 'inline-1' } } as Approval;
        if (consumed > 0 && phase === 'Approved') return { approval, state: 'approved' };
        consumed++;
        return { approval, state: 'pending' };
      },
      async waitForDecision(name: string, timeoutMs: number): Promise<Approval> {
        waited.push(timeoutMs);
        await new Promise((r) => setTimeout(r, 200));
        return { apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name }, status: { phase } } as Approval;
      },
    };
    const ip = await startTestProxy({
      approvals,
      policies: [
        agentPolicy(uniqueName('inline'), [
          { name: 'hold-cm', match: { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }, action: 'hold', hold: { mode: 'inline', inlineTimeout: '5s', approvers: { users: ['alice'] } } },
          { name: 'rest', match: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, action: 'allow' },
        ]),
      ],
    });
    try {
      const cm = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } });
      const ok = await rawRequest(ip.url, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { token: testEnv().tokens['agent-ci'], headers: { 'content-type': 'application/json' }, body: cm(uniqueName('held')) });
      expect(ok.status).toBe(201);
      expect(waited).toEqual([5000]);
      phase = 'Denied';
      consumed = 0;
      const no = await rawRequest(ip.url, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { token: testEnv().tokens['agent-ci'], headers: { 'content-type': 'application/json' }, body: cm(uniqueName('held')) });
      expect(no.status).toBe(403);
      expect(no.json().message).toContain('approval inline-1 for this exact request was denied');
    } finally {
      await ip.close();
    }
  });


  it('mutate applies the policy patch to a created object and to a patched one', async () => {
    const mp = await startTestProxy({
      policies: [
        agentPolicy(uniqueName('mutator'), [
          { name: 'discovery', match: { nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi/*', '/version'], verbs: ['get'] }, action: 'allow' },
          { name: 'label-cms', match: { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'update', 'patch'] }, action: 'mutate', mutate: { patch: [{ op: 'add', path: '/metadata/labels', value: { 'airlock.dev/touched': 'true' } }] } },
          { name: 'rest', match: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, action: 'allow' },
        ]),
      ],
    });
    try {
      const mk = mp.kubeconfigFor('agent-ci');
      const name = uniqueName('mut');
      const r = await kubectl(['-n', ns, 'create', 'configmap', name, '--from-literal=a=b'], { kubeconfig: mk });
      expect(r.stderr).toBe('');
      const admin = await clientFor('admin');
      const cm = await admin.get<{ metadata: { labels: Record<string, string> } }>(`/api/v1/namespaces/${ns}/configmaps/${name}`);
      expect(cm.metadata.labels['airlock.dev/touched']).toBe('true');
      await admin.patch(`/api/v1/namespaces/${ns}/configmaps/${name}`, { metadata: { labels: null } });
      const p = await kubectl(['-n', ns, 'patch', 'cm', name, '-p', '{"data":{"a":"c"}}'], { kubeconfig: mk });
      expect(p.stderr).toBe('');
      const after = await admin.get<{ metadata: { labels: Record<string, string>; annotations: Record<string, string> }; data: Record<string, string> }>(`/api/v1/namespaces/${ns}/configmaps/${name}`);
      expect(after.data.a).toBe('c');
      expect(after.metadata.labels['airlock.dev/touched']).toBe('true');
      expect(after.metadata.annotations['airlock.dev/agent']).toBe('agent-ci');
    } finally {
      await mp.close();
    }
  });

  it('hold: pending answers 403 naming the Approval; an approved retry is forwarded', async () => {
    const calls: string[] = [];
    let approved = false;
    const approvals: ApprovalService = {
      async hold(req, decision): Promise<HoldOutcome> {
        calls.push(`${req.verb} ${req.resource}/${req.name ?? ''} ${decision.matched?.rule}`);
        const approval = { apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name: 'appr-1' } } as Approval;
        return { approval, state: approved ? 'approved' : 'pending' };
      },
      async waitForDecision(): Promise<Approval> {
        throw new Error('not inline');
      },
    };
    const hp = await startTestProxy({
      approvals,
      policies: [
        agentPolicy(uniqueName('holder'), [
          { name: 'discovery', match: { nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi/*', '/version'], verbs: ['get'] }, action: 'allow' },
          { name: 'hold-deletes', match: { apiGroups: ['apps'], resources: ['deployments'], verbs: ['delete'] }, action: 'hold', hold: { mode: 'async', approvers: { groups: ['airlock:approvers'] } } },
          { name: 'rest', match: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, action: 'allow' },
        ]),
      ],
    });
    const dep = uniqueName('held');
    await (await clientFor('admin')).create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: dep },
      spec: { replicas: 0, selector: { matchLabels: { app: dep } }, template: { metadata: { labels: { app: dep } }, spec: { containers: [{ name: 'c', image: 'registry.example/c:1' }] } } },
    });
    try {
      const r = await rawRequest(hp.url, 'DELETE', `/apis/apps/v1/namespaces/${ns}/deployments/${dep}`, { token: testEnv().tokens['agent-ci'] });
      expect(r.status).toBe(403);
      const st = r.json();
      expect(st).toMatchObject({ kind: 'Status', reason: 'Forbidden', details: { name: 'appr-1', kind: 'Approval' } });
      expect(st.message).toContain('held for approval: kubectl approve appr-1');
      expect(calls).toEqual([`delete deployments/${dep} hold-deletes`]);
      await (await clientFor('admin')).get(`/apis/apps/v1/namespaces/${ns}/deployments/${dep}`);
      approved = true;
      const ok = await kubectl(['-n', ns, 'delete', 'deployment', dep, '--wait=false'], { kubeconfig: hp.kubeconfigFor('agent-ci') });
      expect(ok.stderr).toBe('');
      expect(ok.stdout).toContain('deleted');
    } finally {
      await hp.close();
    }
  });
});
