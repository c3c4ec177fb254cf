// High availability with real processes: two Airlock replicas (operator + webhook + proxy each) on a private
// control plane. The leader is killed with SIGKILL; the other replica takes the Lease, keeps expiring
// Approvals, and a held request approved during the outage is admitted exactly once.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { KubeClient } from '../../src/k8s/client.js';
import { encodeRelease } from '../../src/masking/index.js';
import type { Approval } from '../../src/api/types.js';
import { freePort } from '../helpers/airlock-process.js';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { eventually, run, type RunResult } from '../helpers/env.js';

interface ClusterEnv { server: string; caFile: string; caKeyFile: string; kubectl: string; kubeconfigs: Record<string, string>; tokens: Record<string, string> }


interface Replica { id: string; proc: ChildProcess; proxyPort: number; healthPort: number }

describe('HA: two replicas, the leader killed', () => {
  let dir: string;
  let env: ClusterEnv;
  let admin: KubeClient;
  const replicas: Replica[] = [];

  const kubectl = (kubeconfig: string, args: string[]): Promise<RunResult> => run(env.kubectl, ['--kubeconfig', kubeconfig, ...args]);
  const lease = async (): Promise<{ holder: string; transitions: number }> => {
    const l = await admin.get<{ spec: { holderIdentity?: string; leaseTransitions?: number } }>('/apis/coordination.k8s.io/v1/namespaces/airlock-system/leases/airlock-controller');
    return { holder: l.spec.holderIdentity ?? '', transitions: l.spec.leaseTransitions ?? 0 };
  };

  async function startReplica(id: string): Promise<Replica> {
    const [proxyPort, webhookPort, healthPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const log = openSync(join(dir, `${id}.log`), 'a');
    const proc = spawn(process.execPath, [
      join(ROOT, 'dist/src/main/index.js'),
      '--kubeconfig', env.kubeconfigs.airlock!, '--namespace', 'airlock-system', '--identity', id, '--bind-address', '127.0.0.1',
      '--proxy-port', String(proxyPort), '--proxy-cert', join(dir, 'proxy.crt'), '--proxy-key', join(dir, 'proxy.key'),
      // Both replicas serve the webhook; the registration (written by the leader) points at replica a's port,
      // the way a Service would point at any ready replica.
      '--webhook-port', String(webhookPort), '--webhook-url', `https://127.0.0.1:${webhookPort}/validate`, '--failure-policy', 'Ignore',
      '--health-port', String(healthPort), '--metrics-port', String(metricsPort), '--recording-dir', join(dir, `rec-${id}`),
    ], { stdio: ['ignore', log, log] });
    const r = { id, proc, proxyPort, healthPort };
    await eventually(async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok, 30000, `replica ${id} ready`);
    return r;
  }

  function agentKubeconfig(r: Replica): string {
    const path = join(dir, `agent-${r.id}.kubeconfig`);
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'a',
      clusters: [{ name: 'p', cluster: { server: `https://127.0.0.1:${r.proxyPort}`, 'certificate-authority': env.caFile } }],
      users: [{ name: 'agent', user: { token: env.tokens['agent-ci'] } }],
      contexts: [{ name: 'a', context: { cluster: 'p', user: 'agent' } }],
    }));
    return path;
  }

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'airlock-ha-'));
    execFileSync('bash', [join(ROOT, 'hack/cluster.sh'), 'up', join(dir, 'cluster')], { stdio: ['ignore', 'ignore', 'inherit'] });
    env = JSON.parse(readFileSync(join(dir, 'cluster/env.json'), 'utf8')) as ClusterEnv;
    admin = await KubeClient.load(env.kubeconfigs.admin);
    await admin.create('/api/v1/namespaces', { metadata: { name: 'airlock-system' } });
    writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=airlock-proxy', '-keyout', join(dir, 'proxy.key'), '-out', join(dir, 'proxy.csr')], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'proxy.csr'), '-CA', env.caFile, '-CAkey', env.caKeyFile, '-CAcreateserial', '-CAserial', join(dir, 'srl'), '-days', '1', '-extfile', join(dir, 'ext'), '-out', join(dir, 'proxy.crt')], { stdio: 'ignore' });
    replicas.push(await startReplica('replica-a'));
    await eventually(async () => (await lease()).holder === 'replica-a', 30000, 'replica-a leads');
    replicas.push(await startReplica('replica-b'));
    const applied = await kubectl(env.kubeconfigs.admin!, ['apply', '-f', join(ROOT, 'examples/default-agent-policy.yaml')]);
    expect(applied.stderr).toBe('');
    const ready = await kubectl(env.kubeconfigs.admin!, ['wait', '--for=condition=Ready', 'agentpolicy/default-agent-policy', '--timeout=30s']);
    expect(ready.code).toBe(0);
  }, 180000);

  afterAll(() => {
    for (const r of replicas) if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
    if (dir) {
      execFileSync('bash', [join(ROOT, 'hack/cluster.sh'), 'down', join(dir, 'cluster')], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('both replicas mask with the installation key: a Helm record reads the same through either, and goes back through the other', async () => {
    const [a, b] = replicas as [Replica, Replica];
    await admin.create('/api/v1/namespaces', { metadata: { name: 'ha-helm' } });
    const token = 'ha-token-5d1c7e9a0b';
    const release = { name: 'app', namespace: 'ha-helm', version: 1, info: { status: 'deployed', notes: 'ok' }, config: { apiToken: token }, chart: { metadata: { name: 'app', version: '0.1.0' } }, manifest: '' };
    const path = '/api/v1/namespaces/ha-helm/secrets';
    await admin.create(path, { apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1', metadata: { name: 'sh.helm.release.v1.app.v1', labels: { owner: 'helm', name: 'app', version: '1', status: 'deployed' } }, data: { release: encodeRelease(release) } });
    const [viaA, viaB] = [await KubeClient.load(agentKubeconfig(a)), await KubeClient.load(agentKubeconfig(b))];
    type Rec = { data: { release: string }; metadata: Record<string, unknown> };
    const seenA = await viaA.get<Rec>(`${path}/sh.helm.release.v1.app.v1`);
    const seenB = await viaB.get<Rec>(`${path}/sh.helm.release.v1.app.v1`);
    expect(seenA.data.release).toBe(seenB.data.release);
    const decode = (v: string) => JSON.parse(gunzipSync(Buffer.from(Buffer.from(v, 'base64').toString('latin1'), 'base64')).toString()) as { config: { apiToken: string } };
    expect(decode(seenA.data.release).config.apiToken).toMatch(/^airlock-masked:sha256:/);
    // Read through a, written back (as Helm marks a revision superseded) through b: the real value stays.
    await viaB.replace(`${path}/sh.helm.release.v1.app.v1`, { ...seenA, metadata: { ...seenA.metadata, labels: { owner: 'helm', name: 'app', version: '1', status: 'superseded' } } });
    const stored = await admin.get<Rec>(`${path}/sh.helm.release.v1.app.v1`);
    expect(decode(stored.data.release).config.apiToken).toBe(token);
    const key = await admin.get<{ data: Record<string, string> }>('/api/v1/namespaces/airlock-system/secrets/airlock-masking-key');
    expect(Buffer.from(key.data['hmac-sha256-key']!, 'base64').length).toBe(32);
  }, 60000);

  it("the webhook judges namespace selectors by the namespace's labels (bypassing the proxy)", async () => {
    const direct = env.kubeconfigs['agent-ci']!;
    for (const [name, env_] of [['ha-prod-labelled', 'production'], ['ha-staging', 'staging']] as const) {
      await admin.create('/api/v1/namespaces', { metadata: { name, labels: { env: env_ } } });
      await admin.create(`/api/v1/namespaces/${name}/configmaps`, { metadata: { name: 'c' }, data: { a: 'b' } });
    }
    // The webhook's namespace cache fills from a watch: wait until a labelled namespace is judged by its labels.
    await eventually(async () => (await kubectl(direct, ['-n', 'ha-prod-labelled', 'delete', 'configmap', 'c', '--dry-run=server'])).stderr.includes('production-deletes-need-approval-by-label'), 20000, 'production label seen');
    const staging = await kubectl(direct, ['-n', 'ha-staging', 'delete', 'configmap', 'c', '--dry-run=server']);
    expect(staging.stderr).not.toContain('production-deletes-need-approval-by-label');
  }, 60000);

  it('a follower takes over after SIGKILL of the leader; an approval granted meanwhile is consumed exactly once', async () => {
    const [a, b] = replicas as [Replica, Replica];
    // A held request through replica b's proxy (any replica can hold; Approvals live in the cluster).
    await admin.create('/api/v1/namespaces', { metadata: { name: 'ha-app' } });
    const held = await kubectl(agentKubeconfig(b), ['delete', 'namespace', 'ha-app', '--wait=false']);
    const name = /kubectl approve (\S+)/.exec(held.stderr)?.[1];
    expect(name).toBeDefined();
    // An Approval that expires during the outage: only a leader's expiry controller can mark it.
    const shortLived = (await admin.get<Approval>(`/apis/airlock.dev/v1alpha1/approvals/${name}`)).spec;
    const airlock = await KubeClient.load(env.kubeconfigs.airlock!);
    await airlock.create('/apis/airlock.dev/v1alpha1/approvals', {
      apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name: 'ha-short-lived' },
      spec: { ...shortLived, request: { ...shortLived.request, fingerprint: 'f'.repeat(64) }, expiresAt: new Date(Date.now() + 8000).toISOString() },
    });

    const before = await lease();
    a.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await eventually(async () => (await lease()).holder === 'replica-b', 40000, 'replica-b takes the lease');
    const takeoverMs = Date.now() - killedAt;
    const after = await lease();
    expect(after.transitions).toBe(before.transitions + 1);
    console.log(`[ha] lease taken over ${(takeoverMs / 1000).toFixed(1)} s after SIGKILL of the leader`);

    // The new leader's expiry controller marks the short-lived Approval Expired.
    await eventually(async () => (await admin.get<Approval>('/apis/airlock.dev/v1alpha1/approvals/ha-short-lived')).status?.phase === 'Expired', 30000, 'expired by the new leader');

    // alice approves; the agent's retry through the surviving replica is admitted once.
    const whoami = await run(process.execPath, [join(ROOT, 'bin/kubectl-approve.js'), name!, '--comment', 'ok'], { env: { ...process.env, KUBECONFIG: env.kubeconfigs.alice } });
    expect({ code: whoami.code, err: whoami.stderr }).toEqual({ code: 0, err: '' });
    const agentB = agentKubeconfig(b);
    const retried = await kubectl(agentB, ['delete', 'namespace', 'ha-app', '--wait=false']);
    expect({ code: retried.code, err: retried.stderr }).toEqual({ code: 0, err: '' });
    const consumed = await admin.get<Approval>(`/apis/airlock.dev/v1alpha1/approvals/${name}`);
    expect(consumed.status?.phase).toBe('Consumed');
    expect(consumed.status?.usesConsumed).toBe(1);
    // The used Approval admits nothing else: the next destructive request is held for its own sign-off.
    await admin.create('/api/v1/namespaces', { metadata: { name: 'ha-app2' } });
    const again = await kubectl(agentB, ['delete', 'namespace', 'ha-app2', '--wait=false']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('held for approval');
  }, 120000);
});
