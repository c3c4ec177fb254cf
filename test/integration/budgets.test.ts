// Budgets and rate limits with real processes: two Airlock replicas on a private control plane, the agent
// alternating between them with kubectl. The 21st delete in the window is held whichever replica serves
// it; an approval lets that one request through once; the count survives a replica restart; a rate limit
// answers 429 with Retry-After, and kubectl (client-go) waits and retries by itself; 30 deletes racing over
// both replicas against a deny budget of 10 let exactly 10 through.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { AgentPolicy, Approval, BudgetUsage } from '../../src/api/types.js';
import { metricValue, startAirlock, startPrivateCluster, type AirlockProcess, type PrivateCluster } from '../helpers/airlock-process.js';
import { ROOT } from '../helpers/build.js';
import { eventually, run } from '../helpers/env.js';

const NS = 'budget-app';
const USAGES = '/apis/airlock.dev/v1alpha1/namespaces/airlock-system/budgetusages';

/** The default policy as shipped, with its delete budget at the example: 20 an hour. */
function policyWith20Deletes(): AgentPolicy {
  const p = yaml.load(readFileSync(join(ROOT, 'examples/default-agent-policy.yaml'), 'utf8')) as AgentPolicy;
  const deletes = p.spec.budgets!.find((b) => b.name === 'deletes')!;
  deletes.limit = 20;
  deletes.message = 'more than 20 deletes in an hour need approval';
  return p;
}

/** mallory, an agent of its own policy with a tight read rate (and no RBAC: allowed reads get 403 upstream), and a deny budget of 10 deletes. */
const limitedPolicy: AgentPolicy = {
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AgentPolicy',
  metadata: { name: 'rate-limited' },
  spec: {
    agents: { users: ['mallory'] },
    rules: [
      { name: 'reads', match: { verbs: ['get', 'list'] }, action: 'allow' },
      { name: 'deletes', match: { verbs: ['delete'], resources: ['configmaps'], namespaces: ['burst-app'] }, action: 'allow' },
    ],
    budgets: [{ name: 'deletes', match: { verbs: ['delete'] }, limit: 10, window: '1h', onExhausted: 'deny' }],
    rateLimits: { read: { qps: 1, burst: 3 } },
  },
};

function call(c: PrivateCluster, port: number, token: string, method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<{ status: number; retryAfter?: string; body: Record<string, unknown> }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json', ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}), ...extra };
  return new Promise((resolve, reject) => {
    const req = request({ hostname: '127.0.0.1', port, method, path, headers, ca: readFileSync(c.env.caFile), agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers['retry-after'] ? { retryAfter: String(res.headers['retry-after']) } : {}), body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('budgets and rate limits across two replicas', () => {
  let c: PrivateCluster;
  const replicas: AirlockProcess[] = [];
  const agent = (i: number) => replicas[i % replicas.length]!.agentKubeconfig;

  beforeAll(async () => {
    c = await startPrivateCluster('budgets');
    replicas.push(await startAirlock(c, { id: 'replica-a', recordingDir: join(c.dir, 'rec-a') }));
    // Both serve the webhook, registered by URL by whichever leads (as a Service would point at any replica).
    replicas.push(await startAirlock(c, { id: 'replica-b', recordingDir: join(c.dir, 'rec-b') }));
    for (const p of [policyWith20Deletes(), limitedPolicy]) {
      await c.admin.create('/apis/airlock.dev/v1alpha1/agentpolicies', p);
      const ready = await c.kubectl(c.env.kubeconfigs.admin!, ['wait', '--for=condition=Ready', `agentpolicy/${p.metadata.name}`, '--timeout=30s']);
      expect(ready.code).toBe(0);
    }
    // The agent creates what it will delete (deleting others' objects is held by a rule of its own).
    const created = await c.kubectl(agent(0), ['create', 'namespace', NS]);
    expect(created.stderr).toBe('');
    for (let i = 0; i < 24; i++) {
      const cm = await c.kubectl(agent(i), ['-n', NS, 'create', 'configmap', `cm-${i}`, '--from-literal=k=v']);
      expect({ i, err: cm.stderr }).toEqual({ i, err: '' });
    }
  }, 240000);

  afterAll(async () => {
    for (const r of replicas) await r.kill();
    c?.down();
  });

  it('holds the 21st delete in the window, lets it through once approved, and counts on across a replica restart', async () => {
    // What the API server refuses did nothing and is given back: deletes whose precondition fails (409).
    for (let i = 0; i < 3; i++) {
      const refused = await call(c, replicas[i % 2]!.proxyPort, c.env.tokens['agent-ci']!, 'DELETE', `/api/v1/namespaces/${NS}/configmaps/cm-0`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'not-its-uid' } });
      expect({ i, status: refused.status, reason: refused.body.reason }).toEqual({ i, status: 409, reason: 'Conflict' });
    }
    // 20 deletes, alternating replicas: each allowed.
    for (let i = 0; i < 19; i++) {
      const del = await c.kubectl(agent(i), ['-n', NS, 'delete', 'configmap', `cm-${i}`]);
      expect({ i, code: del.code, err: del.stderr }).toEqual({ i, code: 0, err: '' });
    }
    // A delete that asks for an answer only a list could give: kube-apiserver would delete, then answer 406
    // (red team), so the proxy refuses it before sending anything. Nothing is deleted or counted.
    const listOnly = await call(c, replicas[1]!.proxyPort, c.env.tokens['agent-ci']!, 'DELETE', `/api/v1/namespaces/${NS}/configmaps/cm-19?propagationPolicy=Foreground`, undefined, { accept: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io' });
    expect(listOnly).toMatchObject({ status: 406, body: { reason: 'NotAcceptable', message: expect.stringContaining('nothing was sent') } });
    expect((await c.admin.get<{ metadata: { deletionTimestamp?: string } }>(`/api/v1/namespaces/${NS}/configmaps/cm-19`)).metadata.deletionTimestamp).toBeUndefined();
    const twentieth = await c.kubectl(agent(19), ['-n', NS, 'delete', 'configmap', 'cm-19']);
    expect({ code: twentieth.code, err: twentieth.stderr }).toEqual({ code: 0, err: '' });
    // The 21st, through either replica, is held; the Approval says the budget is why.
    const held = await c.kubectl(agent(1), ['-n', NS, 'delete', 'configmap', 'cm-20']);
    expect(held.code).not.toBe(0);
    expect(held.stderr).toContain('budget "deletes"');
    expect(held.stderr).toContain('more than 20 deletes in an hour need approval (at most 20 per 1h; agent-ci used 20)');
    const name = /kubectl approve (\S+)/.exec(held.stderr)?.[1];
    expect(name).toBeDefined();
    const approval = await c.admin.get<Approval>(`/apis/airlock.dev/v1alpha1/approvals/${name}`);
    expect(approval.spec.policy).toMatchObject({ name: 'default-agent-policy', rule: 'budget:deletes' });
    expect(approval.spec.policy.message).toContain('budget "deletes"');
    const again = await c.kubectl(agent(0), ['-n', NS, 'delete', 'configmap', 'cm-20']);
    expect(again.stderr).toContain(`kubectl approve ${name}`); // the same Approval, from the other replica

    // The count is one BudgetUsage object, shared by the replicas.
    const usages = (await c.admin.get<{ items: BudgetUsage[] }>(USAGES)).items.filter((u) => u.spec.budget === 'deletes');
    expect(usages.map((u) => [u.spec.agent, u.spec.limit, u.status?.charges?.length])).toEqual([['agent-ci', 20, 20]]);

    // Approved: the identical request goes through once; the next delete is held again.
    const approved = await run(process.execPath, [join(ROOT, 'bin/kubectl-approve.js'), name!, '--comment', 'clean-up run'], { env: { ...process.env, KUBECONFIG: c.env.kubeconfigs.alice } });
    expect({ code: approved.code, err: approved.stderr }).toEqual({ code: 0, err: '' });
    const through = await c.kubectl(agent(1), ['-n', NS, 'delete', 'configmap', 'cm-20']);
    expect({ code: through.code, err: through.stderr }).toEqual({ code: 0, err: '' });
    expect((await c.admin.get<Approval>(`/apis/airlock.dev/v1alpha1/approvals/${name}`)).status?.phase).toBe('Consumed');
    const next = await c.kubectl(agent(0), ['-n', NS, 'delete', 'configmap', 'cm-21']);
    expect(next.code).not.toBe(0);
    expect(next.stderr).toContain('budget "deletes"');

    // Around the proxy, with the agent's own credentials: the webhook counts the same budget.
    const direct = await c.kubectl(c.env.kubeconfigs['agent-ci']!, ['-n', NS, 'delete', 'configmap', 'cm-23']);
    expect(direct.code).not.toBe(0);
    expect(direct.stderr).toContain('budget "deletes"');

    // Nor claim someone else's object as its own to delete it freely (red team): the creator annotation
    // cannot be set or changed around the proxy either.
    await c.admin.create(`/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: 'admins' }, data: { a: 'b' } });
    const forged = await c.kubectl(c.env.kubeconfigs['agent-ci']!, ['-n', NS, 'annotate', 'configmap', 'admins', 'airlock.dev/agent=agent-ci']);
    expect(forged.code).not.toBe(0);
    expect(forged.stderr).toContain('records which agent created the object');

    // The agent cannot reset its count, through the proxy or around it.
    for (const kubeconfig of [agent(1), c.env.kubeconfigs['agent-ci']!]) {
      const reset = await c.kubectl(kubeconfig, ['-n', 'airlock-system', 'delete', 'budgetusages', '--all']);
      expect(reset.code).not.toBe(0);
      expect(reset.stderr).toMatch(/protect-airlock-and-system|Airlock's own resources/);
    }
    expect((await c.admin.get<{ items: BudgetUsage[] }>(USAGES)).items.find((u) => u.spec.budget === 'deletes')?.status?.charges?.length).toBe(21);

    // Restart a replica: the count is in the cluster, not in its memory.
    await replicas[0]!.kill();
    replicas[0] = await startAirlock(c, { id: 'replica-a', recordingDir: join(c.dir, 'rec-a') });
    // Its webhook serves on a new port: wait until the registration points there (writes go through it).
    await eventually(async () => {
      const probe = await c.kubectl(c.env.kubeconfigs['agent-ci']!, ['-n', NS, 'create', 'configmap', 'webhook-probe', '--dry-run=server']);
      return probe.code === 0;
    }, 60000, 'the restarted replica\'s webhook serving admission');
    const afterRestart = await c.kubectl(agent(0), ['-n', NS, 'delete', 'configmap', 'cm-22']);
    expect(afterRestart.code).not.toBe(0);
    expect(afterRestart.stderr).toContain('at most 20 (+1 granted) per 1h; agent-ci used 21');

    // Visible: kubectl airlock budgets, the metrics, an Event on the AgentPolicy.
    const table = await run(process.execPath, [join(ROOT, 'bin/kubectl-airlock.js'), 'budgets', '-n', 'airlock-system'], { env: { ...process.env, KUBECONFIG: c.env.kubeconfigs.alice } });
    expect(table.stderr).toBe('');
    expect(table.stdout).toMatch(/agent-ci\s+default-agent-policy\s+deletes\s+21\/20\+1\s+1h\s+0\s/);
    const metrics = await replicas[1]!.metrics();
    expect(metricValue(metrics, 'airlock_budget_exhausted_total{policy="default-agent-policy",budget="deletes",agent="agent-ci",action="hold"}')).toBeGreaterThanOrEqual(1);
    const events = await eventually(async () => {
      const list = await c.admin.get<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events?fieldSelector=reason%3DBudgetExhausted');
      return list.items.length ? list.items : undefined;
    }, 20000, 'a BudgetExhausted Event');
    expect(events[0]!.involvedObject.name).toBe('default-agent-policy');
    expect(events[0]!.message).toContain('budget "deletes" spent by agent-ci');
    const described = await c.kubectl(c.env.kubeconfigs.admin!, ['describe', 'agentpolicy', 'default-agent-policy']);
    expect(described.stdout).toContain('BudgetExhausted');
  }, 240000);

  it('answers a rate-limited agent 429 with Retry-After, and kubectl backs off and succeeds', async () => {
    const port = replicas[1]!.proxyPort;
    const token = c.env.tokens.mallory!;
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await call(c, port, token, 'GET', `/api/v1/namespaces/${NS}/configmaps`));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(2);
    expect(limited[0]).toMatchObject({ retryAfter: '1', body: { kind: 'Status', reason: 'TooManyRequests', code: 429, details: { retryAfterSeconds: 1 } } });
    expect(String(limited[0]!.body.message)).toContain('mallory sent more than 1 read requests a second (burst 3)');
    // The others reached the API server as mallory (who has no RBAC): 403 from kube-apiserver.
    expect(answers.filter((a) => a.status !== 429).every((a) => a.status === 403)).toBe(true);
    // kubectl (client-go) honours Retry-After: its requests wait out the 429s and end with the API server's
    // own answer (RBAC refuses mallory), never with the rate limit's.
    const kubeconfig = join(c.dir, 'mallory.kubeconfig');
    writeFileSync(kubeconfig, readFileSync(replicas[1]!.agentKubeconfig, 'utf8').replace(c.env.tokens['agent-ci']!, token));
    const slow = await c.kubectl(kubeconfig, ['-n', NS, 'get', 'configmaps', '--cache-dir', join(c.dir, 'kube-cache')]);
    expect(slow.stderr).toMatch(/forbidden: User "mallory" cannot list resource "configmaps"/);
    expect(slow.stderr).not.toMatch(/TooManyRequests|too many requests/i);
    // Rate limits are per agent: agent-ci is not slowed by mallory's.
    const ci = await c.kubectl(agent(1), ['-n', NS, 'get', 'configmaps', '-o', 'name']);
    expect(ci.code).toBe(0);
  }, 60000);

  it('lets exactly the limit through when 30 deletes race over both replicas at once', async () => {
    await c.admin.create('/api/v1/namespaces', { metadata: { name: 'burst-app' } });
    await c.admin.create('/apis/rbac.authorization.k8s.io/v1/namespaces/burst-app/rolebindings', {
      metadata: { name: 'mallory-edit' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'mallory' }],
    });
    for (let i = 0; i < 30; i++) await c.admin.create('/api/v1/namespaces/burst-app/configmaps', { metadata: { name: `b-${i}` } });
    const token = c.env.tokens.mallory!;
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => call(c, replicas[i % 2]!.proxyPort, token, 'DELETE', `/api/v1/namespaces/burst-app/configmaps/b-${i}`)));
    const byStatus = answers.reduce<Record<number, number>>((m, a) => ({ ...m, [a.status]: (m[a.status] ?? 0) + 1 }), {});
    expect(byStatus).toEqual({ 200: 10, 429: 20 });
    const left = await c.admin.get<{ items: unknown[] }>('/api/v1/namespaces/burst-app/configmaps?labelSelector=');
    expect(left.items.filter((o) => String((o as { metadata: { name: string } }).metadata.name).startsWith('b-'))).toHaveLength(20);
    const usage = (await c.admin.get<{ items: BudgetUsage[] }>(USAGES)).items.find((u) => u.spec.agent === 'mallory');
    expect(usage?.status?.charges).toHaveLength(10);
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.retryAfter).toBeUndefined(); // no Retry-After: a client would sleep out the window
    expect(refused.body).toMatchObject({ reason: 'TooManyRequests', details: { retryAfterSeconds: expect.any(Number) } });
  }, 60000);
});
