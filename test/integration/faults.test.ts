// Faults injected into real processes on a private control plane: Airlock SIGKILLed during write loops,
// recordings on a full filesystem, kube-apiserver paused. What must hold: every 2xx write has a record
// (made before it was forwarded); no request outlives its timeout by more than a second; identities no
// policy names keep writing while Airlock is down; an Approval is neither lost nor consumed twice.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeApiError, KubeClient } from '../../src/k8s/client.js';
import type { Approval } from '../../src/api/types.js';
import { listSessionFiles } from '../../src/recording/paths.js';
import { readSession } from '../../src/recording/reader.js';
import { verifySession } from '../../src/recording/chain.js';
import type { RequestRecord } from '../../src/recording/types.js';
import { ROOT } from '../helpers/build.js';
import { eventually, run } from '../helpers/env.js';
import { metricValue, startAirlock, startPrivateCluster, type AirlockProcess, type PrivateCluster } from '../helpers/airlock-process.js';

const NS = 'faults-app';

/** Every record in a recording directory, and whether every session's chain verifies. */
function recordsIn(dir: string): { records: RequestRecord[]; broken: string[] } {
  const records: RequestRecord[] = [];
  const broken: string[] = [];
  for (const files of listSessionFiles(dir)) {
    const v = verifySession(files, dir);
    if (!v.ok) broken.push(`${files.sessionId}: ${v.error?.message}`);
    records.push(...readSession(files));
  }
  return { records, broken };
}

/** Names of ConfigMaps whose create has a durable intent in the recordings. */
function intentNames(records: RequestRecord[]): Set<string> {
  return new Set(records.filter((r) => r.type === 'intent' && r.request.resource === 'configmaps' && r.request.verb === 'create').map((r) => r.request.name!));
}

interface LoopResult { created: string[]; statuses: Map<number, number>; messages: string[] }

/** Workers creating ConfigMaps through the proxy until stopped; what each answer was. */
function writeLoop(agent: KubeClient, prefix: string, workers: number, until: (r: LoopResult) => boolean, result: LoopResult = { created: [], statuses: new Map(), messages: [] }): Promise<LoopResult> {
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; !until(result) && i < 3000; i++) {
      const name = `${prefix}-${w}-${i}`;
      try {
        await agent.create(`/api/v1/namespaces/${NS}/configmaps`, { metadata: { name }, data: { v: String(i) } }, { timeoutMs: 10_000 });
        result.created.push(name);
        result.statuses.set(201, (result.statuses.get(201) ?? 0) + 1);
      } catch (err) {
        const status = err instanceof KubeApiError ? err.status : 0;
        result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
        if (status) result.messages.push(err instanceof KubeApiError ? String((err.body as { message?: string })?.message ?? err.message) : '');
        else await new Promise((r) => setTimeout(r, 50)); // the proxy is down: do not spin
      }
    }
  };
  return Promise.all(Array.from({ length: workers }, (_, w) => worker(w))).then(() => result);
}

/**
 * A new process leads once the stopped one released the Lease, and then registers its own webhook: until
 * then the agent's writes are refused by the old registration (fail closed), never let through.
 */
async function untilOwnWebhook(agent: KubeClient): Promise<void> {
  await eventually(async () => {
    await agent.create(`/api/v1/namespaces/${NS}/configmaps`, { metadata: { generateName: 'warm-' } });
    return true;
  }, 30000, 'the new process registered its webhook');
}

describe('faults', () => {
  let c: PrivateCluster;
  let airlock: AirlockProcess | undefined;

  beforeAll(async () => {
    c = await startPrivateCluster('faults');
    // The agent holds cluster-admin: Airlock's policy is the only guard.
    await c.admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: 'agent-ci-admin' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'agent-ci' }],
    });
    await c.admin.create('/api/v1/namespaces', { metadata: { name: NS } });
    await c.admin.create('/api/v1/namespaces', { metadata: { name: 'faults-prod', labels: { env: 'production' } } });
    await c.admin.create('/api/v1/namespaces/faults-prod/configmaps', { metadata: { name: 'victim' }, data: { a: '1' } });
    airlock = await startAirlock(c, { id: 'airlock-a', recordingDir: join(c.dir, 'rec-a') });
    const applied = await c.kubectl(c.env.kubeconfigs.admin!, ['apply', '-f', join(ROOT, 'examples/default-agent-policy.yaml')]);
    expect(applied.stderr).toBe('');
    expect((await c.kubectl(c.env.kubeconfigs.admin!, ['wait', '--for=condition=Ready', 'agentpolicy/default-agent-policy', '--timeout=30s'])).code).toBe(0);
  }, 240000);

  afterAll(async () => {
    await airlock?.kill('SIGKILL');
    c?.down();
  });

  it('SIGKILL during write loops: every 2xx write has a record; people keep writing while Airlock is down; an Approval is consumed once', async () => {
    const a = airlock!;
    const agent = await KubeClient.load(a.agentKubeconfig);
    // A held delete, approved only after the restart.
    const held = await c.kubectl(a.agentKubeconfig, ['delete', 'configmap', 'victim', '-n', 'faults-prod']);
    const approval = /kubectl approve (\S+)/.exec(held.stderr)?.[1];
    expect(approval).toBeDefined();

    let stop = false;
    const progress: LoopResult = { created: [], statuses: new Map(), messages: [] };
    const loop = writeLoop(agent, 'kill', 4, () => stop, progress);
    await eventually(() => progress.created.length >= 20, 30000, 'writes flowing');
    await a.kill('SIGKILL');
    airlock = undefined;

    // Airlock is down. The admin (no policy names it) still writes; the agent going around the proxy is
    // still judged by the webhook, which is down: it fails closed.
    await c.admin.create(`/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: 'by-admin-while-down' } });
    const direct = await KubeClient.load(c.env.kubeconfigs['agent-ci']!);
    await expect(direct.create(`/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: 'agent-direct-while-down' } })).rejects.toThrow(/failed calling webhook|webhook/i);
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    const result = await loop;
    expect(result.created.length).toBeGreaterThanOrEqual(20);

    // The same identity restarts on the same recordings: it recovers what the killed process left open.
    airlock = await startAirlock(c, { id: 'airlock-a', recordingDir: join(c.dir, 'rec-a') });
    await eventually(() => recordsIn(airlock!.recordingDir).records.some((r) => r.type === 'session-end' && r.sessionId !== undefined), 30000, 'the killed session ended by recovery');
    const { records, broken } = recordsIn(airlock.recordingDir);
    expect(broken).toEqual([]);
    const intents = intentNames(records);
    // Every write the agent was told succeeded, and every agent object in the cluster, has its intent.
    expect(result.created.filter((n) => !intents.has(n))).toEqual([]);
    const inCluster = (await c.admin.get<{ items: { metadata: { name: string } }[] }>(`/api/v1/namespaces/${NS}/configmaps`)).items.map((i) => i.metadata.name).filter((n) => n.startsWith('kill-'));
    expect(inCluster.filter((n) => !intents.has(n))).toEqual([]);
    // Every intent has an outcome: the request's record, or a recovered one that says what the cluster shows.
    const closed = new Set(records.filter((r) => r.type === 'request' || r.type === 'recovered').map((r) => r.requestId));
    expect(records.filter((r) => r.type === 'intent' && !closed.has(r.requestId)).map((r) => r.request.name)).toEqual([]);
    for (const r of records.filter((x) => x.type === 'recovered')) {
      const exists = inCluster.includes(r.request.name!);
      expect(r.recovery?.outcome).toBe(exists ? 'applied' : 'not-applied');
    }

    // The Approval survived the kill; approved now, the retried delete passes exactly once.
    const approve = await run(process.execPath, [join(ROOT, 'bin/kubectl-approve.js'), approval!, '--comment', 'ok'], { env: { ...process.env, KUBECONFIG: c.env.kubeconfigs.alice } });
    expect({ code: approve.code, err: approve.stderr }).toEqual({ code: 0, err: '' });
    const retries = await Promise.all([1, 2].map(() => c.kubectl(airlock!.agentKubeconfig, ['delete', 'configmap', 'victim', '-n', 'faults-prod'])));
    expect(retries.filter((r) => r.code === 0)).toHaveLength(1);
    const consumed = await c.admin.get<Approval>(`/apis/airlock.dev/v1alpha1/approvals/${approval}`);
    expect(consumed.status?.phase).toBe('Consumed');
    expect(consumed.status?.usesConsumed).toBe(1);
  }, 180000);

  it('a full filesystem: writes and reads are refused with 503, every 2xx write has its record, and it recovers by itself', async () => {
    await airlock?.kill('SIGTERM');
    const dir = join(c.dir, 'rec-full');
    mkdirSync(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
    try {
      airlock = await startAirlock(c, { id: 'airlock-full', recordingDir: dir });
      const agent = await KubeClient.load(airlock.agentKubeconfig);
      await untilOwnWebhook(agent);
      // Writes until the filesystem is full and the first is refused.
      const loop2 = await writeLoop(agent, 'full', 2, (r) => (r.statuses.get(503) ?? 0) > 0);
      expect(loop2.statuses.get(503)).toBeGreaterThan(0);
      expect(loop2.messages.some((m) => m.includes('session recording is unavailable'))).toBe(true);
      const intents = intentNames(recordsIn(dir).records);
      expect(loop2.created.filter((n) => !intents.has(n))).toEqual([]);
      // A read the policy records is refused too (readFailurePolicy Fail by default).
      await expect(agent.get(`/api/v1/namespaces/${NS}/configmaps`)).rejects.toMatchObject({ status: 503 });
      const m = await airlock.metrics();
      expect(metricValue(m, 'airlock_recording_available')).toBe(0);
      expect(metricValue(m, 'airlock_refused_requests_total{kind="write"}')).toBeGreaterThan(0);

      // Space comes back: Airlock notices by itself and writes are recorded and forwarded again.
      execFileSync('mount', ['-o', 'remount,size=16m', dir]);
      await eventually(async () => {
        await agent.create(`/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: 'after-space' } });
        return true;
      }, 20000, 'writes accepted again');
      expect(intentNames(recordsIn(dir).records).has('after-space')).toBe(true);
      // Reads wait for the recorder's probe to find room again (a write that fits proves no headroom).
      await eventually(async () => metricValue(await airlock!.metrics(), 'airlock_recording_available') === 1, 10000, 'recording available again');
      await agent.get(`/api/v1/namespaces/${NS}/configmaps?limit=1`);
    } finally {
      await airlock?.kill('SIGTERM');
      airlock = undefined;
      execFileSync('umount', ['-l', dir]);
    }
  }, 120000);

  it('a paused kube-apiserver: requests end by their timeout with a 504, /readyz goes false, and both come back', async () => {
    airlock = await startAirlock(c, { id: 'airlock-pause', recordingDir: join(c.dir, 'rec-pause'), extraArgs: ['--upstream-timeout-seconds', '3'] });
    const agent = await KubeClient.load(airlock.agentKubeconfig);
    await untilOwnWebhook(agent);
    // Authentication and namespace labels are cached from this request: what is measured is the upstream bound.
    await agent.get(`/api/v1/namespaces/${NS}/configmaps?limit=1`);
    const apiserver = c.pid('kube-apiserver');
    process.kill(apiserver, 'SIGSTOP');
    try {
      const timed = async (label: string, limitMs: number, call: () => Promise<unknown>): Promise<{ label: string; status: number; ms: number; limitMs: number; message: string }> => {
        const t0 = Date.now();
        try {
          await call();
          return { label, status: 200, ms: Date.now() - t0, limitMs, message: '' };
        } catch (err) {
          const status = err instanceof KubeApiError ? err.status : 0;
          return { label, status, ms: Date.now() - t0, limitMs, message: err instanceof KubeApiError ? String((err.body as { message?: string })?.message) : String(err) };
        }
      };
      const results = await Promise.all([
        timed('get with ?timeout=2s', 2000, () => agent.get(`/api/v1/namespaces/${NS}/configmaps/none?timeout=2s`, { timeoutMs: 20_000 })),
        timed('list, default timeout', 3000, () => agent.get(`/api/v1/namespaces/${NS}/configmaps`, { timeoutMs: 20_000 })),
        timed('watch timeoutSeconds=2', 2000, () => agent.get(`/api/v1/namespaces/${NS}/configmaps?watch=true&timeoutSeconds=2`, { timeoutMs: 20_000 })),
        timed('create, default timeout', 3000, () => agent.create(`/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: 'during-pause' } }, { timeoutMs: 20_000 })),
      ]);
      for (const r of results) {
        expect({ label: r.label, status: r.status }).toEqual({ label: r.label, status: 504 });
        expect(r.message).toMatch(/did not answer .* in time/);
        // No request outlives its timeout by more than a second.
        expect({ label: r.label, withinBound: r.ms <= r.limitMs + 1000 }).toEqual({ label: r.label, withinBound: true });
      }
      await eventually(async () => (await fetch(`http://127.0.0.1:${airlock!.healthPort}/readyz`)).status === 503, 20000, '/readyz false while kube-apiserver is paused');
    } finally {
      process.kill(apiserver, 'SIGCONT');
    }
    await eventually(async () => (await fetch(`http://127.0.0.1:${airlock!.healthPort}/readyz`)).ok, 30000, '/readyz true again');
    await agent.get(`/api/v1/namespaces/${NS}/configmaps?limit=1`);
  }, 120000);

  it('a hostile agent neither takes Airlock down nor writes around it', async () => {
    await airlock?.kill('SIGTERM');
    // A ServiceAccount the default policy names (namespace agents), with a token only Airlock accepts.
    await c.admin.create('/api/v1/namespaces', { metadata: { name: 'agents' } });
    await c.admin.create('/api/v1/namespaces/agents/serviceaccounts', { metadata: { name: 'bot' } });
    await c.admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: 'bot-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', namespace: 'agents', name: 'bot' }],
    });
    const tr = await c.admin.create<{ status: { token: string } }>('/api/v1/namespaces/agents/serviceaccounts/bot/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['airlock'], expirationSeconds: 600 } });
    airlock = await startAirlock(c, { id: 'airlock-hostile', recordingDir: join(c.dir, 'rec-hostile'), extraArgs: ['--token-audiences', 'airlock'] });
    const botKubeconfig = join(c.dir, 'bot.kubeconfig');
    writeFileSync(botKubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'a',
      clusters: [{ name: 'p', cluster: { server: `https://127.0.0.1:${airlock.proxyPort}`, 'certificate-authority': c.env.caFile } }],
      users: [{ name: 'bot', user: { token: tr.status.token } }],
      contexts: [{ name: 'a', context: { cluster: 'p', user: 'bot' } }],
    }));
    const agent = await KubeClient.load(botKubeconfig);
    await untilOwnWebhook(agent);

    // Bodies nested deeper than any Kubernetes object: a 400 Status, and the process stays up.
    const deep = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'deep' }, x: JSON.parse('['.repeat(3000) + ']'.repeat(3000)) as unknown };
    for (const path of [`/api/v1/namespaces/${NS}/configmaps`, '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?dryRun=All']) {
      await expect(agent.create(path, deep)).rejects.toMatchObject({ status: 400, message: expect.stringContaining('nests deeper than 200 levels') });
    }
    expect((await fetch(`http://127.0.0.1:${airlock.healthPort}/readyz`)).ok).toBe(true);
    expect(airlock.proc.exitCode).toBeNull();

    // With its own credentials, straight to kube-apiserver: writes in kube-system and Airlock's namespace
    // are judged like any other (the default policy denies them), not exempt.
    const direct = await KubeClient.load(c.env.kubeconfigs['agent-ci']!);
    for (const ns of ['kube-system', 'airlock-system']) {
      await expect(direct.create(`/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'planted' } })).rejects.toMatchObject({ status: 403, message: expect.stringContaining('airlock: denied by policy') });
    }

    // The token issued for the audience `airlock` works through Airlock and is refused by kube-apiserver;
    // a token valid at kube-apiserver (agent-ci's) is refused by Airlock.
    await expect(KubeClient.load(airlock.agentKubeconfig).then((k) => k.get(`/api/v1/namespaces/${NS}/configmaps?limit=1`))).rejects.toMatchObject({ status: 401 });
    const call = (base: string): Promise<number> =>
      run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', c.env.caFile, '-H', `Authorization: Bearer ${tr.status.token}`, `${base}/api/v1/namespaces/${NS}/configmaps?limit=1`]).then((r) => Number(r.stdout));
    expect(await call(`https://127.0.0.1:${airlock.proxyPort}`)).toBe(200);
    expect(await call(c.env.server)).toBe(401);
  }, 120000);
});
