// The approval workflow end to end on a real control plane: held requests, sign-off with the real
// `kubectl approve` plugin, retries that pass once approved (consumed once), a controller-like retry loop,
// N-of-M, expiry, and every forgery the webhook must reject.
import { ensureBuilt } from '../helpers/build.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Approval } from '../../src/api/types.js';
import { approvalPath, APPROVALS_PATH } from '../../src/approvals/paths.js';
import { startApprovalController } from '../../src/operator/approval-controller.js';
import { KubeApprovalService } from '../../src/approvals/service.js';
import { Informer, type KObject } from '../../src/k8s/informer.js';
import { KubeApiError } from '../../src/k8s/client.js';
import { createMetrics } from '../../src/metrics/registry.js';
import type { RequestAttributes } from '../../src/policy/types.js';
import { clientFor, eventually, run, testEnv, type TestUser } from '../helpers/env.js';
import { policy, SCOPE_LABEL, startFixture, waitForWebhook, type Fixture } from './webhook-fixtures.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const HELD = /held for approval: kubectl approve (\S+) \(Approval \1;/;

let fx: Fixture;
let ns: string;
let pluginPath: string;
let pluginDir: string | undefined;

/** Runs the real kubectl with our plugin directory on PATH, as one of the test identities. */
function kubectlAs(user: TestUser, args: string[], input?: string) {
  const env = testEnv();
  // kubectl does not allow its own flags before a plugin name, so the context comes from KUBECONFIG, as for users.
  return run(env.kubectl, args, { env: { ...process.env, PATH: pluginPath, KUBECONFIG: env.kubeconfigs[user] }, ...(input !== undefined ? { input } : {}) });
}

const deployment = (name: string, replicas = 2) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns, labels: { app: name } },
  spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'registry.example.com/web:1.2.3' }] } } },
});

async function heldName(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KubeApiError);
  expect((err as KubeApiError).status).toBe(403);
  const m = HELD.exec((err as KubeApiError).message);
  if (!m) throw new Error(`not held: ${(err as KubeApiError).message}`);
  return m[1]!;
}

const getApproval = async (name: string): Promise<Approval> => (await clientFor('admin')).get<Approval>(approvalPath(name));

/** A raw status update as `user`, editing a fresh copy. */
async function writeStatus(user: TestUser, name: string, edit: (a: Approval) => void): Promise<unknown> {
  const c = await clientFor(user);
  const a = await c.get<Approval>(approvalPath(name));
  edit(a);
  return c.replace(`${approvalPath(name)}/status`, a);
}
const decision = (by: string, d: 'approve' | 'deny' = 'approve') => ({ decision: d, by, at: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
const rejection = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as KubeApiError);

describe('approval workflow (real control plane, kubectl approve plugin)', () => {
  beforeAll(async () => {
    ensureBuilt();
    const dir = (pluginDir = mkdtempSync(join(tmpdir(), 'airlock-plugins-')));
    const plugin = join(dir, 'kubectl-approve');
    writeFileSync(plugin, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/kubectl-approve.js')}" "$@"\n`);
    chmodSync(plugin, 0o755);
    pluginPath = `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`;

    const approvers = { groups: ['airlock:approvers'] };
    fx = await startFixture('apr', [
      policy('apr-gitops-' + process.pid.toString(36), {
        agents: { users: ['agent-ci'] },
        defaultAction: 'allow',
        rules: [
          { name: 'prod-deployments', match: { apiGroups: ['apps'], resources: ['deployments'], verbs: ['create', 'update', 'patch'] }, action: 'hold', message: 'production Deployment changes need a human', hold: { approvers, ttl: '10m' } },
          { name: 'two-person-services', match: { resources: ['services'], verbs: ['create'] }, action: 'hold', hold: { approvers, required: 2, ttl: '10m' } },
          { name: 'short-configmaps', match: { resources: ['configmaps'], verbs: ['create'] }, action: 'hold', hold: { approvers, ttl: '2s' } },
          { name: 'alice-secrets', match: { resources: ['secrets'], verbs: ['create'] }, action: 'hold', hold: { approvers: { users: ['alice'] }, ttl: '10m' } },
          { name: 'self-serve-sa', match: { resources: ['serviceaccounts'], verbs: ['create'] }, action: 'hold', hold: { approvers: { users: ['agent-ci', 'alice'] }, ttl: '10m' } },
        ],
      }),
    ]);
    ns = await fx.namespace('prod');
    const agent = await clientFor('agent-ci');
    await waitForWebhook(fx, ns, () => agent.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment('probe'), { query: { dryRun: 'All' } }), 'deployments');
  }, 180000);
  afterAll(async () => {
    await fx?.close();
    if (pluginDir) rmSync(pluginDir, { recursive: true, force: true });
  });

  it('holds a production Deployment, alice approves with `kubectl approve`, the retry is admitted once and the Approval is Consumed', async () => {
    const agent = await clientFor('agent-ci');
    const create = () => agent.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment('web'));
    const name = await heldName(create());
    expect(await heldName(create())).toBe(name); // retries find the same Approval

    const a = await getApproval(name);
    expect(a.status?.phase).toBe('Pending');
    expect(a.metadata.labels?.['airlock.dev/fingerprint']).toBe(a.spec.request.fingerprint.slice(0, 40));
    expect(a.spec.request).toMatchObject({ user: 'agent-ci', uid: 'uid-agent-ci', verb: 'create', operation: 'CREATE', apiGroup: 'apps', resource: 'deployments', namespace: ns, name: 'web', via: 'webhook' });
    expect(a.spec.request.diff).toContain('+  replicas: 2');
    expect(a.spec.policy.rule).toBe('prod-deployments');

    const list = await kubectlAs('alice', ['approve', 'list']);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+AGE\s+REQUESTER\s+VERB\s+RESOURCE\s+NAMESPACE\/NAME\s+POLICY\s+EXPIRES/);
    expect(list.stdout).toMatch(new RegExp(`${name}\\s+\\S+\\s+agent-ci\\s+create\\s+deployments\\s+${ns}/web`));
    const show = await kubectlAs('alice', ['approve', 'show', name]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('production Deployment changes need a human');
    expect(show.stdout).toMatch(/^\s+\+\s+replicas: 2$/m);
    expect(show.stdout).toContain('Requester:    agent-ci');
    const asJson = await kubectlAs('alice', ['approve', 'list', '-o', 'json']);
    expect((JSON.parse(asJson.stdout) as { items: Approval[] }).items.map((x) => x.metadata.name)).toContain(name);

    const approve = await kubectlAs('alice', ['approve', name, '--comment', 'looks right']);
    expect(approve.stderr).toBe('');
    expect(approve.stdout).toContain(`approval.airlock.dev/${name} approved`);
    const approved = await getApproval(name);
    expect(approved.status?.phase).toBe('Approved');
    expect(approved.status?.decisions).toEqual([expect.objectContaining({ decision: 'approve', by: 'alice', comment: 'looks right' })]);

    const created = await create();
    expect((created as { metadata: { name: string } }).metadata.name).toBe('web');
    const consumed = await getApproval(name);
    expect(consumed.status).toMatchObject({ phase: 'Consumed', usesConsumed: 1 });

    // One-shot: the same change again (here: an update) needs a new sign-off.
    const again = await heldName(agent.patch(`/apis/apps/v1/namespaces/${ns}/deployments/web`, { spec: { replicas: 3 } }));
    expect(again).not.toBe(name);
    expect((await kubectlAs('alice', ['approve', 'list', '-A'])).stdout).toMatch(new RegExp(`${name}\\s+Consumed`));
  });

  it('a controller-like retry loop (kubectl apply with backoff) passes once a second identity approves', async () => {
    const manifest = JSON.stringify(deployment('synced', 1));
    let attempts = 0;
    let lastErr = '';
    let stop = false;
    const loop = (async () => {
      let backoff = 200;
      const deadline = Date.now() + 45000;
      while (Date.now() < deadline && !stop) {
        attempts++;
        const r = await kubectlAs('agent-ci', ['apply', '-f', '-'], manifest);
        if (r.code === 0) return r.stdout;
        lastErr = r.stderr;
        await new Promise((res) => setTimeout(res, backoff));
        backoff = Math.min(2000, backoff * 2);
      }
      throw new Error(`retry loop ${stop ? 'stopped' : 'never passed'}: ${lastErr}`);
    })();
    loop.catch(() => undefined); // awaited below; never left unhandled if an expectation fails first
    let out: string;
    let name: string;
    try {
      name = await eventually(() => HELD.exec(lastErr)?.[1], 30000, 'the first held apply');
      const r = await kubectlAs('bob', ['approve', name]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      out = await loop;
    } finally {
      stop = true;
    }
    expect(out).toContain('deployment.apps/synced created');
    expect(attempts).toBeGreaterThan(1);
    expect((await getApproval(name)).status?.phase).toBe('Consumed');
  });

  it('rejects self-approval, forged `by`, non-approvers, unjustified phases, controller fields and spec edits', async () => {
    const agent = await clientFor('agent-ci');
    const name = await heldName(agent.create(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'deployer' } }));

    let e = await rejection(writeStatus('agent-ci', name, (a) => { a.status = { ...a.status, phase: 'Approved', decisions: [decision('agent-ci')] }; }));
    expect(e.message).toContain('four-eyes');
    e = await rejection(writeStatus('agent-ci', name, (a) => { a.status = { ...a.status, phase: 'Approved', decisions: [decision('alice')] }; }));
    expect(e.message).toContain('must be your own username');
    e = await rejection(writeStatus('admin', name, (a) => { a.status = { ...a.status, phase: 'Approved', decisions: [decision('admin')] }; }));
    expect(e.message).toContain('not an approver');
    e = await rejection(writeStatus('mallory', name, (a) => { a.status = { ...a.status, phase: 'Approved', decisions: [decision('mallory')] }; }));
    expect(e.status).toBe(403);
    e = await rejection(writeStatus('alice', name, (a) => { a.status = { ...a.status, phase: 'Approved' }; }));
    expect(e.message).toContain('not justified');
    e = await rejection(writeStatus('alice', name, (a) => { a.status = { ...a.status, phase: 'Approved', decisions: [decision('alice')], usesConsumed: 0, consumedBy: ['x'] }; }));
    expect(e.message).toContain('only the Airlock controller');
    e = await rejection((await clientFor('admin')).patch(approvalPath(name), { spec: { request: { user: 'someone-else' } } }));
    expect(e.message).toContain('spec is immutable');
    e = await rejection((await clientFor('admin')).create(APPROVALS_PATH, { ...(await getApproval(name)), metadata: { name: `${name}-forged`, labels: { [SCOPE_LABEL]: fx.id } }, status: undefined }));
    expect(e.message).toContain('only the Airlock controller may create Approvals');
    // The CLI refuses the requester too, and says why.
    const self = await kubectlAs('agent-ci', ['approve', name]);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('four-eyes');

    // A legitimate approval, then attempts to rewrite history.
    expect((await kubectlAs('alice', ['approve', name])).code).toBe(0);
    e = await rejection(writeStatus('alice', name, (a) => { a.status = { ...a.status, decisions: [], phase: 'Pending' }; }));
    expect(e.message).toContain('append only');
    e = await rejection(writeStatus('alice', name, (a) => { a.status = { ...a.status, phase: 'Consumed' }; }));
    expect(e.message).toContain('only the Airlock controller');
    expect((await getApproval(name)).status?.phase).toBe('Approved');

    // An approver listed by user only: bob (an approver elsewhere by group) is not one here.
    const sec = await heldName(agent.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'p' } }));
    e = await rejection(writeStatus('bob', sec, (a) => { a.status = { ...a.status, phase: 'Approved', decisions: [decision('bob')] }; }));
    expect(e.message).toContain('not an approver');
    const deny = await kubectlAs('alice', ['approve', 'deny', sec, '--reason', 'use the vault']);
    expect(deny.code).toBe(0);
    const denied = (await rejection(agent.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'p' } })));
    expect(denied.message).toContain(`approval ${sec} for this exact request was denied by alice: use the vault`);
  });

  it('N-of-M: two distinct approvers are needed when required is 2', async () => {
    const agent = await clientFor('agent-ci');
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api' }, spec: { ports: [{ port: 443 }] } };
    const create = () => agent.create(`/api/v1/namespaces/${ns}/services`, svc);
    const name = await heldName(create());
    const first = await kubectlAs('alice', ['approve', name]);
    expect(first.stdout).toContain('1/2 approvals');
    expect((await getApproval(name)).status?.phase).toBe('Pending');
    expect(await heldName(create())).toBe(name);
    const twice = await rejection(writeStatus('alice', name, (a) => { a.status = { ...a.status, phase: 'Approved', decisions: [...(a.status?.decisions ?? []), decision('alice')] }; }));
    expect(twice.message).toContain('already decided');
    expect((await kubectlAs('bob', ['approve', name])).stdout).toContain('(phase Approved)');
    await expect(create()).resolves.toMatchObject({ metadata: { name: 'api' } });
    expect((await getApproval(name)).status).toMatchObject({ phase: 'Consumed', usesConsumed: 1 });
  });

  it('expiry: no sign-off after expiresAt; the controller marks it Expired and a retry asks again', async () => {
    const admin = fx.admin;
    const informer = new Informer<KObject>(admin, APPROVALS_PATH, { labelSelector: `${SCOPE_LABEL}=${fx.id}` }).start();
    const metrics = createMetrics();
    const ctl = startApprovalController(fx.airlock, informer, { metrics });
    try {
      await informer.waitForSync();
      const agent = await clientFor('agent-ci');
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'flags' }, data: { beta: 'on' } };
      const name = await heldName(agent.create(`/api/v1/namespaces/${ns}/configmaps`, cm));
      const pending = (await metrics.registry.getSingleMetric('airlock_approvals_pending')!.get()).values[0]?.value ?? 0;
      expect(pending).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 2300));
      const late = await rejection(writeStatus('alice', name, (a) => { a.status = { ...a.status, phase: 'Approved', decisions: [decision('alice')] }; }));
      expect(late.message).toMatch(/expired/);
      await eventually(async () => (await getApproval(name)).status?.phase === 'Expired', 15000, 'phase Expired');
      const cli = await kubectlAs('alice', ['approve', name]);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toMatch(/Expired|expired/);
      const next = await heldName(agent.create(`/api/v1/namespaces/${ns}/configmaps`, cm));
      expect(next).not.toBe(name);
    } finally {
      ctl.stop();
      informer.stop();
    }
  });

  it('two replicas never both consume the last use of an Approval', async () => {
    const agent = await clientFor('agent-ci');
    const dep = deployment('race');
    const name = await heldName(agent.create(`/apis/apps/v1/namespaces/${ns}/deployments`, dep));
    expect((await kubectlAs('alice', ['approve', name])).code).toBe(0);
    const a = await getApproval(name);
    const req: RequestAttributes = {
      user: { username: 'agent-ci', uid: 'uid-agent-ci', groups: ['airlock:agents', 'system:authenticated'] },
      verb: 'create', isResourceRequest: true, apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: ns, name: 'race', via: 'webhook', operation: 'CREATE',
    };
    // Four replicas race for the single use of the same Approved Approval; resourceVersion preconditions let one win.
    const replicas = [0, 1, 2, 3].map(() => new KubeApprovalService({ client: fx.airlock, labels: { [SCOPE_LABEL]: fx.id } }));
    const consumeAll = await Promise.all(replicas.map((s) => s.consume(a, req)));
    expect(consumeAll.filter(Boolean)).toHaveLength(1);
    const after = await getApproval(name);
    expect(after.status).toMatchObject({ phase: 'Consumed', usesConsumed: 1 });
    expect(after.status?.consumedBy).toHaveLength(1);

    // Concurrent first attempts on several replicas settle on one Approval (deterministic name, AlreadyExists).
    const cmReq: RequestAttributes = { ...req, verb: 'create', apiGroup: '', resource: 'configmaps', name: 'race-cm', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'race-cm', namespace: ns }, data: { k: 'v' } } };
    const hold = { action: 'hold' as const, reason: 'test', matched: { policy: 'p', rule: 'r' }, agent: true, policies: ['p'], explanations: [], audits: [], recording: { enabled: false, bodies: false },
      hold: { required: 1, ttl: '10m', mode: 'async' as const, inlineTimeout: '25s', uses: 1, approvers: { users: [], groups: ['airlock:approvers'] } } };
    const outs = await Promise.all(replicas.map((s) => s.hold(cmReq, hold)));
    expect(new Set(outs.map((o) => o.approval.metadata.name)).size).toBe(1);
    expect(outs.every((o) => o.state === 'pending')).toBe(true);
    expect(await replicas[0]!.findByFingerprint(outs[0]!.approval.spec.request.fingerprint)).toHaveLength(1);
  });

  it('waitForDecision (used by the proxy inline mode) returns once an approver decides, and `kubectl approve watch` streams it', async () => {
    const agent = await clientFor('agent-ci');
    const watch = kubectlAs('alice', ['approve', 'watch', '--timeout', '6s']);
    await new Promise((r) => setTimeout(r, 800)); // let the watch start
    const name = await heldName(agent.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'api-key' }, stringData: { key: 'k' } }));
    const still = await fx.approvals.waitForDecision(name, 300);
    expect(still.status?.phase).toBe('Pending');
    const waiting = fx.approvals.waitForDecision(name, 20000);
    await new Promise((r) => setTimeout(r, 300));
    expect((await kubectlAs('alice', ['approve', name, '--comment', 'rotate it after'])).code).toBe(0);
    const decided = await waiting;
    expect(decided.status?.phase).toBe('Approved');
    const out = await watch;
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^EVENT\s+NAME\s+PHASE/);
    // The Approval may be created before the watch has listed (EXISTING) or after (ADDED): both are the plugin working.
    expect(out.stdout).toMatch(new RegExp(`(ADDED|EXISTING)\\s+${name}\\s+Pending`));
    expect(out.stdout).toMatch(new RegExp(`MODIFIED\\s+${name}\\s+Approved`));
  });
});
