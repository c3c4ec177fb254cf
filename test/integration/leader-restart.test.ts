// Fast takeover against the real control plane: a replica SIGKILLed while leading (no release) is restarted
// with the same (default) identity and leads again long before its 30 s Lease would have expired; as it
// starts leading, Approval expiry catches up at once (no timer is set for Approvals already due, so only the
// catch-up can explain the result). A graceful stop releases the Lease. Replicas are child processes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Approval } from '../../src/api/types.js';
import { installCrds } from '../../src/operator/crds.js';
import { instanceOf, type Lease } from '../../src/operator/leader.js';
import { clientFor, eventually, testEnv, uniqueName } from '../helpers/env.js';
import { TS_SOURCE_HOOKS } from '../helpers/ts-hooks.js';

const LEASE_S = 30;
const timings = { leaseDurationSeconds: LEASE_S, renewIntervalMs: 2000, renewDeadlineMs: 20000, retryIntervalMs: 1000 };
const SCOPE = 'airlock.dev/test-leader-restart';


// The same shape as src/main/index.ts: an elector with the default identity; on leading, the expiry controller.
const CHILD = (src: (p: string) => string) => `
import { LeaderElector } from ${JSON.stringify(src('src/operator/leader.ts'))};
import { KubeClient } from ${JSON.stringify(src('src/k8s/client.ts'))};
import { Informer } from ${JSON.stringify(src('src/k8s/informer.ts'))};
import { startApprovalController } from ${JSON.stringify(src('src/operator/approval-controller.ts'))};
const cfg = JSON.parse(process.argv[2]);
const emit = (ev, extra = {}) => process.stdout.write(JSON.stringify({ ev, t: Date.now(), ...extra }) + '\\n');
const client = await KubeClient.load(cfg.kubeconfig);
const approvals = new Informer(client, '/apis/airlock.dev/v1alpha1/approvals', { labelSelector: cfg.scope }).start();
const elector = new LeaderElector({
  client, namespace: cfg.namespace, name: cfg.lease, ...cfg.timings,
  onStartedLeading: async (signal) => {
    emit('started', { identity: elector.identity, instance: elector.instance });
    const report = (m, f) => emit('error', { msg: m + ' ' + JSON.stringify(f) });
    const expiry = startApprovalController(client, approvals, { log: { debug() {}, info() {}, warn: report, error: report, child() { return this; } } });
    expiry.caughtUp.then((n) => emit('caughtUp', { expired: n }));
    await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    expiry.stop();
  },
  onStoppedLeading: () => emit('stopped'),
  log: { debug() {}, info() {}, warn: (msg, f) => emit('error', { msg: String(f?.error ?? msg) }), error: (msg, f) => emit('error', { msg: String(f?.error ?? msg) }), child() { return this; } },
});
process.on('SIGTERM', async () => { await elector.stop(); approvals.stop(); emit('exited'); process.exit(0); });
elector.start();
emit('ready', { identity: elector.identity });
`;

interface Ev { ev: string; t: number; identity?: string; instance?: string; expired?: number; msg?: string }

class Run {
  readonly events: Ev[] = [];
  stderr = '';
  readonly child: ChildProcess;
  constructor(dir: string, cfg: Record<string, unknown>) {
    const env = { ...process.env };
    delete env.POD_NAME; // the local default identity (the hostname)
    this.child = spawn(process.execPath, [
      '--experimental-transform-types', '--no-warnings', '--import', pathToFileURL(join(dir, 'hooks.mjs')).href, join(dir, 'child.mjs'), JSON.stringify(cfg),
    ], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        this.events.push(JSON.parse(buf.slice(0, nl)) as Ev);
        buf = buf.slice(nl + 1);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (c: string) => { this.stderr += c; });
  }
  find(ev: string): Ev | undefined { return this.events.find((e) => e.ev === ev); }
  exited(): Promise<void> {
    return this.child.exitCode !== null || this.child.signalCode !== null ? Promise.resolve() : new Promise((r) => this.child.once('exit', () => r()));
  }
  describe(): string { return `${this.events.map((e) => `${e.ev}${e.msg ? `(${e.msg})` : ''}`).join(' ')} ${this.stderr.slice(0, 800)}`; }
}

describe('restart with the same identity', () => {
  let dir: string;
  let namespace: string;
  const scope = uniqueName('scope');
  const runs: Run[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-restart-'));
    writeFileSync(join(dir, 'hooks.mjs'), TS_SOURCE_HOOKS);
    writeFileSync(join(dir, 'child.mjs'), CHILD((p) => pathToFileURL(resolve(process.cwd(), p)).href));
    const admin = await clientFor('admin');
    await installCrds(admin);
    namespace = uniqueName('restart');
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  }, 60000);

  afterAll(async () => {
    for (const r of runs) { if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL'); await r.exited(); }
    const admin = await clientFor('admin');
    const list = await admin.get<{ items: Approval[] }>('/apis/airlock.dev/v1alpha1/approvals', { query: { labelSelector: `${SCOPE}=${scope}` } }).catch(() => ({ items: [] as Approval[] }));
    for (const a of list.items) await admin.delete(`/apis/airlock.dev/v1alpha1/approvals/${a.metadata.name}`).catch(() => undefined);
    await admin.delete(`/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('after SIGKILL the restarted replica leads at once, and its expiry catches up at once', async () => {
    const lease = uniqueName('lease');
    const cfg = { kubeconfig: testEnv().kubeconfigs.airlock, namespace, lease, timings, scope: `${SCOPE}=${scope}` };
    const admin = await clientFor('admin');
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${lease}`;

    const first = new Run(dir, cfg);
    runs.push(first);
    const started1 = await eventually(() => first.find('started'), 30000, `first run leads\n${first.describe()}`);
    expect(started1.identity).toBe(hostname());
    first.child.kill('SIGKILL'); // no release: the Lease stays held for 30 s
    await first.exited();
    const killedAt = Date.now();

    // While nobody leads, Approvals fall due (created already past expiry), one does not.
    const airlock = await clientFor('airlock');
    const mk = (name: string, expiresAt: number) => airlock.create('/apis/airlock.dev/v1alpha1/approvals', {
      apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name, labels: { [SCOPE]: scope } },
      spec: {
        request: { user: 'agent-ci', verb: 'delete', apiGroup: '', apiVersion: 'v1', resource: 'namespaces', name: 'prod', via: 'proxy', fingerprint: 'b'.repeat(64), summary: 'delete namespace prod' },
        policy: { name: 'p', rule: 'r' }, approvers: { groups: ['airlock:approvers'] }, required: 1, uses: 1, expiresAt: new Date(expiresAt).toISOString(),
      },
    });
    const names = [uniqueName('due'), uniqueName('due'), uniqueName('later')];
    await mk(names[0]!, Date.now() - 60_000);
    await mk(names[1]!, Date.now() - 1_000);
    await mk(names[2]!, Date.now() + 3_600_000);
    expect((await admin.get<Lease>(leasePath)).spec.holderIdentity).toBe(hostname());

    const spawnedAt = Date.now();
    const second = new Run(dir, cfg);
    runs.push(second);
    const started2 = await eventually(() => second.find('started'), LEASE_S * 1000, `restart leads\n${second.describe()}`);
    const takeoverMs = started2.t - killedAt;
    const ready = second.find('ready')!;
    console.log(`[leader-restart] restarted replica led ${takeoverMs} ms after SIGKILL, ${started2.t - ready.t} ms after its elector started (process start ${ready.t - spawnedAt} ms; lease ${LEASE_S} s)`);
    expect(takeoverMs).toBeLessThan(LEASE_S * 1000); // i.e. it did not wait for the Lease to expire
    const l = await admin.get<Lease>(leasePath);
    expect(l.spec.holderIdentity).toBe(hostname());
    expect(instanceOf(l)).toBe(started2.instance);
    expect(started2.instance).not.toBe(started1.instance);

    const caught = await eventually(() => second.find('caughtUp'), 20000, `catch-up\n${second.describe()}`);
    expect(caught.expired).toBe(2);
    const phase = async (n: string) => (await admin.get<Approval>(`/apis/airlock.dev/v1alpha1/approvals/${n}`)).status?.phase;
    expect(await phase(names[0]!)).toBe('Expired');
    expect(await phase(names[1]!)).toBe('Expired');
    expect(await phase(names[2]!) ?? 'Pending').toBe('Pending');
    console.log(`[leader-restart] expiry caught up ${caught.t - started2.t} ms after leadership started`);

    // A graceful stop releases the Lease (so the next replica need not wait either).
    second.child.kill('SIGTERM');
    await second.exited();
    expect(second.find('exited')).toBeDefined();
    expect((await admin.get<Lease>(leasePath)).spec.holderIdentity).toBe('');
  }, 120000);
});
