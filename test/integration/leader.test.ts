// Leader election against the real control plane. Replicas run as child processes (so the leader can be
// killed with SIGKILL, as when a node dies) and report what they do as JSON lines on stdout.
import { describe, expect, it, beforeAll, afterAll, afterEach } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { clientFor, eventually, testEnv, uniqueName } from '../helpers/env.js';
import { LeaderElector, type Lease } from '../../src/operator/leader.js';
import { KubeClient } from '../../src/k8s/client.js';
import { TS_SOURCE_HOOKS } from '../helpers/ts-hooks.js';

// Short enough for a quick test, with a renew deadline that tolerates a busy CI machine.
const timings = { leaseDurationSeconds: 4, renewIntervalMs: 1000, renewDeadlineMs: 3000, retryIntervalMs: 500 };
/** Scheduling and API latency allowance on a busy 2-core CI machine. */
const SLACK_MS = 1500;


const CHILD = (leaderUrl: string, clientUrl: string) => `
import { LeaderElector } from ${JSON.stringify(leaderUrl)};
import { KubeClient, isConflict } from ${JSON.stringify(clientUrl)};
const cfg = JSON.parse(process.argv[2]);
const emit = (ev, extra = {}) => process.stdout.write(JSON.stringify({ ev, id: cfg.identity, t: Date.now(), ...extra }) + '\\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const client = await KubeClient.load(cfg.kubeconfig);
let term = 0;
const cmPath = cfg.counter ? '/api/v1/namespaces/' + cfg.namespace + '/configmaps/' + cfg.counter : undefined;
async function consume(signal, myTerm) {
  // The critical section: move the first pending item to "consumed", with a resourceVersion precondition.
  while (!signal.aborted) {
    let cm;
    try { cm = await client.get(cmPath); } catch (err) { emit('error', { msg: String(err) }); await sleep(50); continue; }
    const pending = cm.data.pending ? cm.data.pending.split(',') : [];
    if (!pending.length) { await sleep(50); continue; }
    if (!elector.isLeader()) break;
    const item = pending[0];
    const data = { ...cm.data, pending: pending.slice(1).join(','), ['item-' + item]: cfg.identity + '/' + myTerm };
    try {
      await client.replace(cmPath, { ...cm, data });
      emit('consumed', { item });
    } catch (err) {
      emit(isConflict(err) ? 'conflict' : 'error', { item, msg: String(err) });
    }
    await sleep(cfg.paceMs);
  }
}
const elector = new LeaderElector({
  client, namespace: cfg.namespace, name: cfg.lease, identity: cfg.identity, ...cfg.timings,
  onStartedLeading: (signal) => { term++; emit('started', { term }); return cmPath ? consume(signal, term) : undefined; },
  onStoppedLeading: () => emit('stopped', { term }),
  log: { debug() {}, info() {}, warn: (msg, f) => emit('error', { msg: String(f?.error ?? msg) }), error: (msg, f) => emit('error', { msg: String(f?.error ?? msg) }), child() { return this; } },
});
process.on('SIGTERM', async () => { await elector.stop(); emit('exited'); process.exit(0); });
elector.start();
emit('ready');
`;

interface Ev { ev: string; id: string; t: number; term?: number; item?: string; msg?: string }

class Replica {
  readonly events: Ev[] = [];
  stderr = '';
  readonly child: ChildProcess;
  constructor(dir: string, readonly identity: string, cfg: Record<string, unknown>, private readonly sink: (e: Ev) => void) {
    this.child = spawn(process.execPath, [
      '--experimental-transform-types', '--no-warnings', '--import', pathToFileURL(join(dir, 'hooks.mjs')).href,
      join(dir, 'child.mjs'), JSON.stringify({ ...cfg, identity }),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const e = JSON.parse(line) as Ev;
        this.events.push(e);
        this.sink(e);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (c: string) => { this.stderr += c; });
  }
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  exited(): Promise<void> {
    return this.alive ? new Promise((r) => this.child.once('exit', () => r())) : Promise.resolve();
  }
}

/** Who leads, as reported by the replicas; fails the moment two would lead at once. */
class Tracker {
  leaders = new Set<string>();
  maxConcurrent = 0;
  log: Ev[] = [];
  on = (e: Ev): void => {
    this.log.push(e);
    if (e.ev === 'started') this.leaders.add(e.id);
    if (e.ev === 'stopped' || e.ev === 'exited') this.leaders.delete(e.id);
    this.maxConcurrent = Math.max(this.maxConcurrent, this.leaders.size);
  };
  killed(id: string): void {
    this.leaders.delete(id);
  }
  startedAfter(t: number, exclude?: string): Ev | undefined {
    return this.log.find((e) => e.ev === 'started' && e.t >= t && e.id !== exclude);
  }
}

let dir: string;
let namespace: string;
const replicas: Replica[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-leader-'));
  writeFileSync(join(dir, 'hooks.mjs'), TS_SOURCE_HOOKS);
  const src = (p: string) => pathToFileURL(resolve(process.cwd(), p)).href;
  writeFileSync(join(dir, 'child.mjs'), CHILD(src('src/operator/leader.ts'), src('src/k8s/client.ts')));
  namespace = uniqueName('leader');
  await (await clientFor('admin')).create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
});

afterEach(async () => {
  for (const r of replicas.splice(0)) {
    if (r.alive) r.child.kill('SIGKILL');
    await r.exited();
  }
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await (await clientFor('admin')).delete(`/api/v1/namespaces/${namespace}`).catch(() => undefined);
});

function start(ids: string[], tracker: Tracker, extra: Record<string, unknown> = {}): Replica[] {
  const cfg = { kubeconfig: testEnv().kubeconfigs.airlock, namespace, timings, ...extra };
  const rs = ids.map((id) => new Replica(dir, id, cfg, tracker.on));
  replicas.push(...rs);
  return rs;
}

async function getLease(name: string): Promise<Lease> {
  return (await clientFor('admin')).get<Lease>(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`);
}

function describeFailure(rs: Replica[]): string {
  return rs.map((r) => `${r.identity}: ${r.events.map((e) => `${e.ev}${e.msg ? `(${e.msg})` : ''}`).join(' ')} ${r.stderr.slice(0, 500)}`).join('\n');
}

describe('leader election on a real Lease', () => {
  it('three replicas: one leads; SIGKILL hands over within leaseDuration + retry; SIGTERM hands over at once', async () => {
    const lease = uniqueName('lease');
    const tracker = new Tracker();
    const rs = start(['replica-a', 'replica-b', 'replica-c'], tracker, { lease });
    await eventually(() => tracker.leaders.size === 1, 20000, `a leader\n${describeFailure(rs)}`);
    await new Promise((r) => setTimeout(r, 2 * timings.renewIntervalMs)); // it keeps renewing; nobody else takes over
    expect(tracker.leaders.size).toBe(1);
    expect(tracker.log.filter((e) => e.ev === 'started')).toHaveLength(1);
    const first = [...tracker.leaders][0];
    let l = await getLease(lease);
    expect(l.spec).toMatchObject({ holderIdentity: first, leaseDurationSeconds: timings.leaseDurationSeconds, leaseTransitions: 0 });
    expect(l.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    // kill -9 the leader: no release, so the others must wait for the lease to expire.
    const killedAt = Date.now();
    rs.find((r) => r.identity === first)!.child.kill('SIGKILL');
    tracker.killed(first);
    const second = await eventually(() => tracker.startedAfter(killedAt, first), 20000, 'takeover after SIGKILL');
    const takeoverMs = second.t - killedAt;
    console.log(`[leader] takeover after SIGKILL: ${takeoverMs} ms (lease ${timings.leaseDurationSeconds} s, retry ${timings.retryIntervalMs} ms)`);
    expect(takeoverMs).toBeLessThanOrEqual(timings.leaseDurationSeconds * 1000 + timings.retryIntervalMs * 1.2 + SLACK_MS);
    l = await getLease(lease);
    expect(l.spec).toMatchObject({ holderIdentity: second.id, leaseTransitions: 1 });

    // Graceful stop: the leader releases the lease and the last replica takes it without waiting.
    const stoppedAt = Date.now();
    const secondReplica = rs.find((r) => r.identity === second.id)!;
    secondReplica.child.kill('SIGTERM');
    await secondReplica.exited();
    expect(secondReplica.events.map((e) => e.ev)).toEqual(expect.arrayContaining(['stopped', 'exited']));
    const third = await eventually(() => tracker.startedAfter(stoppedAt, second.id), 20000, 'takeover after SIGTERM');
    const handoverMs = third.t - stoppedAt;
    console.log(`[leader] handover after SIGTERM: ${handoverMs} ms`);
    expect(handoverMs).toBeLessThan(timings.leaseDurationSeconds * 1000);
    l = await getLease(lease);
    expect(l.spec).toMatchObject({ holderIdentity: third.id, leaseTransitions: 2 });
    expect(tracker.maxConcurrent).toBe(1);
  }, 90000);

  it('concurrent acquisition by many in-process electors never yields two leaders', async () => {
    const lease = uniqueName('race');
    let current = 0;
    let max = 0;
    let starts = 0;
    const clients = await Promise.all([0, 1, 2, 3, 4, 5].map(() => KubeClient.load(testEnv().kubeconfigs.airlock)));
    const electors = clients.map((client, i) => new LeaderElector({
      client, namespace, name: lease, identity: `racer-${i}`,
      leaseDurationSeconds: 4, renewIntervalMs: 500, renewDeadlineMs: 3000, retryIntervalMs: 100,
      onStartedLeading: () => { current++; starts++; max = Math.max(max, current); },
      onStoppedLeading: () => { current--; },
    }));
    try {
      electors.forEach((e) => e.start()); // all race for an absent Lease: one create wins, the rest get 409
      for (let round = 0; round < 8; round++) {
        await eventually(() => current === 1, 10000, `a leader in round ${round}`);
        const leader = electors.find((e) => e.isLeader())!;
        expect(electors.filter((e) => e.isLeader())).toHaveLength(1);
        await leader.stop();
        leader.start();
      }
      await eventually(() => current === 1, 10000, 'a final leader');
    } finally {
      await Promise.all(electors.map((e) => e.stop()));
    }
    expect(max).toBe(1);
    expect(starts).toBeGreaterThanOrEqual(9);
    const l = await getLease(lease);
    expect(l.spec.holderIdentity).toBe('');
    expect(l.spec.leaseTransitions).toBe(starts - 1);
  }, 90000);

  it('a critical section behind the lease consumes every item exactly once across a leader SIGKILL', async () => {
    const lease = uniqueName('work');
    const counter = uniqueName('approvals');
    const N = 40;
    const items = Array.from({ length: N }, (_, i) => String(i + 1));
    const admin = await clientFor('admin');
    await admin.create(`/api/v1/namespaces/${namespace}/configmaps`, {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: counter }, data: { pending: items.join(',') },
    });
    const tracker = new Tracker();
    const rs = start(['worker-a', 'worker-b'], tracker, { lease, counter, paceMs: 25 });
    const consumed = () => tracker.log.filter((e) => e.ev === 'consumed');
    await eventually(() => consumed().length >= 8, 30000, `first consumptions\n${describeFailure(rs)}`);
    const victim = consumed()[0].id;
    const killedAt = Date.now();
    rs.find((r) => r.identity === victim)!.child.kill('SIGKILL');
    tracker.killed(victim);
    const survivor = rs.find((r) => r.identity !== victim)!.identity;

    const cm = await eventually(async () => {
      const c = await admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${namespace}/configmaps/${counter}`);
      return c.data.pending === '' ? c : undefined;
    }, 30000, `all items consumed\n${describeFailure(rs)}`);

    // Every item consumed exactly once: one record per item, nothing left pending.
    const records = items.map((i) => cm.data[`item-${i}`]);
    expect(records.every(Boolean)).toBe(true);
    expect(Object.keys(cm.data).filter((k) => k.startsWith('item-'))).toHaveLength(N);
    // Consumption happened in two contiguous terms (victim, then survivor), never interleaved.
    const owners = records.map((r) => r.split('/')[0]);
    const switchAt = owners.indexOf(survivor);
    expect(switchAt).toBeGreaterThan(0);
    expect(owners.slice(0, switchAt).every((o) => o === victim)).toBe(true);
    expect(owners.slice(switchAt).every((o) => o === survivor)).toBe(true);
    // The survivor reported exactly what the ConfigMap attributes to it; the victim's last write may have
    // landed without its report (killed mid-request), but never more than one such write.
    // The survivor is alive, so its report of the last write follows that write on its stdout: wait for it
    // rather than race the pipe (the ConfigMap can show the write before the line is read).
    const survivorReported = () => consumed().filter((e) => e.id === survivor).map((e) => e.item);
    await eventually(() => survivorReported().length >= N - switchAt, 10000, `the survivor's reports\n${describeFailure(rs)}`);
    expect(survivorReported()).toEqual(items.slice(switchAt));
    const victimReported = consumed().filter((e) => e.id === victim).length;
    expect(switchAt - victimReported).toBeGreaterThanOrEqual(0);
    expect(switchAt - victimReported).toBeLessThanOrEqual(1);
    // With one leader at a time nobody ever lost a resourceVersion race on the counter.
    expect(tracker.log.filter((e) => e.ev === 'conflict')).toHaveLength(0);
    expect(tracker.maxConcurrent).toBe(1);
    const takeover = tracker.startedAfter(killedAt, victim)!;
    console.log(`[leader] work resumed ${takeover.t - killedAt} ms after SIGKILL; victim consumed ${switchAt}, survivor ${N - switchAt}`);
  }, 90000);
});
