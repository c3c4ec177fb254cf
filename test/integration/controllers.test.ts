// The operator as GitOps tools and a rotating credential see it, against a real control plane:
// - Airlock runs as a ServiceAccount whose token lives in a file (as a projected token does in a pod); the
//   file is rotated and the old token revoked under the running process, which keeps working: its
//   controllers write status and its proxy forwards, with the new token;
// - kstatus (sigs.k8s.io/cli-utils, what Flux and kpt wait on, built by hack/kstatus.sh) reads an invalid
//   AgentPolicy as Failed, not as in progress forever, a valid one as Current, and Approvals as
//   InProgress while pending and Failed once expired;
// - a reconcile that fails (the status write is forbidden) is retried with backoff until it succeeds.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentPolicy, Approval } from '../../src/api/types.js';
import { KubeClient } from '../../src/k8s/client.js';
import { Engine } from '../../src/policy/engine.js';
import { PolicyController, AGENTPOLICIES_PATH } from '../../src/operator/policy-controller.js';
import { startAirlock, startPrivateCluster, type AirlockProcess, type PrivateCluster } from '../helpers/airlock-process.js';
import { ROOT } from '../helpers/build.js';
import { eventually } from '../helpers/env.js';

const NS = 'airlock-system';
const SA = 'airlock-rotating';
const APPROVALS = '/apis/airlock.dev/v1alpha1/approvals';

interface KStatus { status: string; message: string }

function kstatus(objects: unknown[]): KStatus[] {
  const bin = execFileSync('bash', [join(ROOT, 'hack/kstatus.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const out = execFileSync(bin, [], { input: objects.map((o) => JSON.stringify(o)).join('\n') + '\n', encoding: 'utf8' });
  return out.trim().split('\n').map((l) => JSON.parse(l) as KStatus);
}

const policy = (name: string, spec: Partial<AgentPolicy['spec']> = {}): AgentPolicy => ({
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AgentPolicy',
  metadata: { name },
  spec: { agents: { users: ['agent-ci'] }, rules: [{ name: 'configmaps', match: { resources: ['configmaps'] }, action: 'allow' }], ...spec },
});

describe('controllers: rotating credentials, kstatus, retries', () => {
  let c: PrivateCluster;
  let airlock: AirlockProcess;
  let tokenFile: string;

  /** A token for the ServiceAccount, valid only while the Secret it is bound to exists. */
  async function boundToken(secret: string): Promise<string> {
    const s = await c.admin.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${NS}/secrets`, { metadata: { name: secret }, type: 'Opaque' });
    const tr = await c.admin.create<{ status: { token: string } }>(`/api/v1/namespaces/${NS}/serviceaccounts/${SA}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600, boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: secret, uid: s.metadata.uid } },
    });
    return tr.status.token;
  }

  /** Replaces the token file the way kubelet does: a new file renamed over the old. */
  function writeToken(token: string): void {
    writeFileSync(`${tokenFile}.new`, token);
    renameSync(`${tokenFile}.new`, tokenFile);
  }

  beforeAll(async () => {
    c = await startPrivateCluster('controllers');
    await c.admin.create(`/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: SA } });
    await c.admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: SA },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: SA, namespace: NS }],
    });
    tokenFile = join(c.dir, 'sa-token');
    writeToken(await boundToken('token-one'));
    const kubeconfig = join(c.dir, 'rotating.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: c.env.server, 'certificate-authority': c.env.caFile } }],
      users: [{ name: SA, user: { tokenFile } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: SA } }],
    }));
    airlock = await startAirlock(c, {
      id: 'rotating',
      recordingDir: join(c.dir, 'rec'),
      kubeconfig,
      extraArgs: ['--controller-users', `system:serviceaccount:${NS}:${SA}`],
    });
    await c.admin.create('/api/v1/namespaces', { metadata: { name: 'ctl-app' } });
    await c.admin.create(AGENTPOLICIES_PATH, policy('agent-ci'));
    expect((await c.kubectl(c.env.kubeconfigs.admin!, ['wait', '--for=condition=Ready', 'agentpolicy/agent-ci', '--timeout=30s'])).code).toBe(0);
  }, 240000);

  afterAll(async () => {
    await airlock?.kill();
    c?.down();
  });

  it('kstatus reads an invalid AgentPolicy as Failed and a valid one as Current', async () => {
    // Valid for the CRD's schema, but not a policy the engine can load: the rule's Rego is not WebAssembly.
    await c.admin.create(AGENTPOLICIES_PATH, policy('broken', {
      // An invalid policy denies its agents everything (fail closed): not agent-ci, which the other tests use.
      agents: { users: ['broken-agent'] },
      rules: [{ name: 'rego', rego: { entrypoint: 'airlock/deny', wasmBase64: Buffer.from('package x').toString('base64') }, action: 'deny' }],
    }));
    const broken = await eventually(async () => {
      const p = await c.admin.get<AgentPolicy>(`${AGENTPOLICIES_PATH}/broken`);
      return p.status?.observedGeneration === p.metadata.generation ? p : undefined;
    }, 20000, 'broken policy has status');
    const valid = await c.admin.get<AgentPolicy>(`${AGENTPOLICIES_PATH}/agent-ci`);
    const [b, v] = kstatus([broken, valid]);
    expect(b).toEqual({ status: 'Failed', message: expect.stringContaining('not a WebAssembly module') });
    expect(v!.status).toBe('Current');
    expect(broken.status?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'Invalid' });

    // Fixed in Git, applied again: Current, and the Stalled condition is gone.
    await c.admin.patch(`${AGENTPOLICIES_PATH}/broken`, { spec: { rules: [{ name: 'rego', match: { verbs: ['delete'] }, action: 'deny' }] } });
    const fixed = await eventually(async () => {
      const p = await c.admin.get<AgentPolicy>(`${AGENTPOLICIES_PATH}/broken`);
      return p.status?.observedGeneration === p.metadata.generation ? p : undefined;
    }, 20000, 'fixed policy has status');
    expect(kstatus([fixed])[0]!.status).toBe('Current');
    expect(fixed.status?.conditions?.map((x) => x.type)).toEqual(['Ready']);
  }, 60000);

  it('kstatus reads a pending Approval as InProgress and an expired one as Failed', async () => {
    const sa = await KubeClient.load(join(c.dir, 'rotating.kubeconfig'));
    try {
      await sa.create(APPROVALS, {
        apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name: 'kstatus-expiring' },
        spec: {
          request: { user: 'agent-ci', verb: 'delete', apiGroup: '', apiVersion: 'v1', resource: 'configmaps', namespace: 'ctl-app', name: 'x', via: 'proxy', fingerprint: 'c'.repeat(64), summary: 'delete configmap ctl-app/x' },
          policy: { name: 'agent-ci', rule: 'r' }, approvers: { groups: ['airlock:approvers'] }, required: 1, uses: 1, expiresAt: new Date(Date.now() + 6000).toISOString(),
        },
      });
    } finally {
      sa.close();
    }
    const path = `${APPROVALS}/kstatus-expiring`;
    const pending = await eventually(async () => {
      const a = await c.admin.get<Approval>(path);
      return a.status?.conditions?.length ? a : undefined;
    }, 10000, 'conditions on the pending Approval');
    expect(kstatus([pending])[0]).toEqual({ status: 'InProgress', message: expect.stringContaining('waiting for 1 more approval') });
    const expired = await eventually(async () => {
      const a = await c.admin.get<Approval>(path);
      return a.status?.phase === 'Expired' ? a : undefined;
    }, 20000, 'Approval expired');
    expect(kstatus([expired])[0]!.status).toBe('Failed');
  }, 60000);

  it('a token file rotated (and the old token revoked) under the running operator keeps it working', async () => {
    const agent = (args: string[]) => c.kubectl(airlock.agentKubeconfig, ['-n', 'ctl-app', ...args]);
    expect((await agent(['create', 'configmap', 'before', '--from-literal=k=v'])).stderr).toBe('');
    const first = readFileSync(tokenFile, 'utf8');
    writeToken(await boundToken('token-two'));
    // kubelet replaces the file well before the old token expires; here it is revoked a moment later.
    await new Promise((r) => setTimeout(r, 1500));
    await c.admin.delete(`/api/v1/namespaces/${NS}/secrets/token-one`);
    // The old token no longer authenticates.
    const oldKubeconfig = join(c.dir, 'old-token.kubeconfig');
    writeFileSync(oldKubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: c.env.server, 'certificate-authority': c.env.caFile } }],
      users: [{ name: 'old', user: { token: first } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'old' } }],
    }));
    // kube-apiserver caches a token's success for up to 10 s: wait until it refuses the old one.
    const old = await KubeClient.load(oldKubeconfig);
    await eventually(() => old.get('/api/v1/namespaces/default').then(() => false, (err: { status?: number }) => err.status === 401), 20000, 'old token refused');
    old.close();
    // Every request from here on succeeds: the proxy forwards with the new token...
    for (let i = 0; i < 5; i++) {
      const r = await agent(['create', 'configmap', `after-${i}`, '--from-literal=k=v']);
      expect({ i, stderr: r.stderr }).toEqual({ i, stderr: '' });
    }
    // ...and the controllers write status with it.
    await c.admin.create(AGENTPOLICIES_PATH, policy('after-rotation'));
    const ready = await c.kubectl(c.env.kubeconfigs.admin!, ['wait', '--for=condition=Ready', 'agentpolicy/after-rotation', '--timeout=30s']);
    expect(ready.code).toBe(0);
  }, 90000);

  it('a reconcile that fails is retried with backoff until it succeeds', async () => {
    // A controller whose status writes are forbidden until a RoleBinding grants them.
    await c.admin.create(`/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: 'status-writer' } });
    await c.admin.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: 'status-writer-read' },
      rules: [{ apiGroups: ['airlock.dev'], resources: ['agentpolicies'], verbs: ['get', 'list', 'watch'] }, { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
    });
    await c.admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: 'status-writer-read' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'status-writer-read' },
      subjects: [{ kind: 'ServiceAccount', name: 'status-writer', namespace: NS }],
    });
    const tr = await c.admin.create<{ status: { token: string } }>(`/api/v1/namespaces/${NS}/serviceaccounts/status-writer/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    const kubeconfig = join(c.dir, 'status-writer.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: c.env.server, 'certificate-authority': c.env.caFile } }],
      users: [{ name: 'w', user: { token: tr.status.token } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'w' } }],
    }));
    const client = await KubeClient.load(kubeconfig);
    const failures: { policy: unknown; retryInMs: unknown }[] = [];
    const log = {
      debug: () => undefined, info: () => undefined, error: () => undefined,
      warn: (msg: string, f?: Record<string, unknown>) => void (msg.includes('reconcile failed') && failures.push({ policy: f?.policy, retryInMs: f?.retryInMs })),
      child() { return this; },
    };
    const engine = new Engine({});
    const controller = new PolicyController({ client, engine, writeStatus: () => true, log, retry: { baseDelayMs: 100, maxDelayMs: 800 } });
    try {
      await controller.start();
      // The running Airlock has written every status already: rewriting it is forced, as after a leader change.
      void controller.resyncStatus();
      const ofAgentCi = () => failures.filter((f) => f.policy === 'agent-ci').map((f) => f.retryInMs);
      await eventually(() => ofAgentCi().length >= 3, 10000, 'three failed attempts');
      expect(ofAgentCi().slice(0, 3)).toEqual([100, 200, 400]);
      expect(controller.retrying()).toContain('agent-ci');
      await c.admin.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
        metadata: { name: 'status-writer-status' },
        rules: [{ apiGroups: ['airlock.dev'], resources: ['agentpolicies/status'], verbs: ['patch'] }],
      });
      await c.admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
        metadata: { name: 'status-writer-status' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'status-writer-status' },
        subjects: [{ kind: 'ServiceAccount', name: 'status-writer', namespace: NS }],
      });
      // Retried with backoff (at most 800 ms apart): every policy's status write goes through soon after.
      await eventually(() => controller.retrying().length === 0, 15000, 'every reconcile succeeded once granted');
      expect(controller.status().size).toBe(controller.informer.list().length);
    } finally {
      controller.stop();
      client.close();
    }
  }, 60000);
});
