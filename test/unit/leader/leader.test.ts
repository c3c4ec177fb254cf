import { describe, expect, it, afterEach } from '@jest/globals';
import {
  LeaderElector, decide, defaultIdentity, formatMicroTime, released, validateOptions, type Lease,
} from '../../../src/operator/leader.js';
import { hostname } from 'node:os';
import type { Fields, Logger } from '../../../src/log.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { FakeLeaseStore } from './fake-lease-store.js';

const NS = 'airlock-system';
const PATH = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/airlock`;
const fast = { leaseDurationSeconds: 1, renewIntervalMs: 100, renewDeadlineMs: 600, retryIntervalMs: 100 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lease(spec: Lease['spec'], rv = '7'): Lease {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'airlock', namespace: NS, resourceVersion: rv }, spec };
}

async function until(fn: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Tracks how many electors think they lead at any instant; the maximum must never exceed 1. */
class LeaderCounter {
  current = 0;
  max = 0;
  starts: string[] = [];
  started(id: string): void {
    this.current++;
    this.max = Math.max(this.max, this.current);
    this.starts.push(id);
  }
  stopped(): void {
    this.current--;
  }
}

const electors: LeaderElector[] = [];
afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
});

function spawn(store: FakeLeaseStore, id: string, counter: LeaderCounter, extra: Partial<ConstructorParameters<typeof LeaderElector>[0]> = {}) {
  const client = store.clientFor(id, { latencyMs: 2 });
  const signals: AbortSignal[] = [];
  const e = new LeaderElector({
    client, namespace: NS, name: 'airlock', identity: id, ...fast,
    onStartedLeading: (s) => { signals.push(s); counter.started(id); },
    onStoppedLeading: () => counter.stopped(),
    ...extra,
  });
  electors.push(e);
  return { e, client, signals };
}

describe('lease records (pure)', () => {
  it('formats MicroTime with exactly six fractional digits', () => {
    expect(formatMicroTime(Date.UTC(2026, 0, 2, 3, 4, 5, 67))).toBe('2026-01-02T03:04:05.067000Z');
  });

  it('creates an absent lease with this identity and zero transitions', () => {
    const s = decide({ lease: undefined, namespace: NS, name: 'airlock', identity: 'a', leaseDurationSeconds: 15, observed: { atMs: 0 }, nowMs: 1000 });
    expect(s.kind).toBe('create');
    if (s.kind !== 'create') return;
    expect(s.lease.metadata).toEqual({ name: 'airlock', namespace: NS });
    expect(s.lease.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
  });

  it('waits while another holder renewed within the lease duration (measured on the local clock)', () => {
    const held = lease({ holderIdentity: 'b', leaseDurationSeconds: 15, renewTime: '2000-01-01T00:00:00.000000Z', leaseTransitions: 3 });
    // renewTime is ancient on b's clock, but we first saw this record 10 s ago: not expired yet.
    const s = decide({ lease: held, namespace: NS, name: 'airlock', identity: 'a', leaseDurationSeconds: 15, observed: { resourceVersion: '7', atMs: 50_000 }, nowMs: 60_000 });
    expect(s).toEqual({ kind: 'wait', holder: 'b', expiresAtMs: 65_000 });
  });

  it('measures expiry on the monotonic clock: a wall-clock step does not expire a lease', () => {
    const held = lease({ holderIdentity: 'b', leaseDurationSeconds: 15, leaseTransitions: 0 });
    const s = decide({ lease: held, namespace: NS, name: 'airlock', identity: 'a', leaseDurationSeconds: 15, observed: { resourceVersion: '7', atMs: 1000 }, nowMs: Date.UTC(2030, 0, 1), monoMs: 2000 });
    expect(s).toEqual({ kind: 'wait', holder: 'b', expiresAtMs: 16_000 });
  });

  it('takes over an expired lease: new acquireTime, transitions + 1, keeps the resourceVersion precondition', () => {
    const held = lease({ holderIdentity: 'b', leaseDurationSeconds: 15, acquireTime: 'x', renewTime: 'y', leaseTransitions: 3 });
    const s = decide({ lease: held, namespace: NS, name: 'airlock', identity: 'a', leaseDurationSeconds: 15, observed: { resourceVersion: '7', atMs: 0 }, nowMs: 15_001 });
    expect(s.kind).toBe('update');
    if (s.kind !== 'update') return;
    expect(s.takeover).toBe(true);
    expect(s.lease.metadata.resourceVersion).toBe('7');
    expect(s.lease.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 4, acquireTime: formatMicroTime(15_001), renewTime: formatMicroTime(15_001) });
  });

  it('renews its own lease without a transition and keeps acquireTime', () => {
    const mine = lease({ holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: 'first', renewTime: 'y', leaseTransitions: 2 });
    const s = decide({ lease: mine, namespace: NS, name: 'airlock', identity: 'a', leaseDurationSeconds: 15, observed: { resourceVersion: '7', atMs: 999 }, nowMs: 1000 });
    expect(s.kind === 'update' && s.lease.spec).toMatchObject({ acquireTime: 'first', leaseTransitions: 2, renewTime: formatMicroTime(1000) });
  });

  it('takes a released lease at once', () => {
    const free = released(lease({ holderIdentity: 'b', leaseDurationSeconds: 15, leaseTransitions: 1 }), 5000);
    expect(free.spec.holderIdentity).toBe('');
    const s = decide({ lease: free, namespace: NS, name: 'airlock', identity: 'a', leaseDurationSeconds: 15, observed: { resourceVersion: '7', atMs: 5000 }, nowMs: 5001 });
    expect(s.kind === 'update' && s.lease.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 2 });
  });

  it('rejects unsafe or malformed settings with a clear error', () => {
    const ok = { namespace: NS, name: 'airlock', identity: 'a', leaseDurationSeconds: 15, renewIntervalMs: 5000, renewDeadlineMs: 10000, retryIntervalMs: 2000 };
    expect(() => validateOptions(ok)).not.toThrow();
    expect(() => validateOptions({ ...ok, renewDeadlineMs: 15000 })).toThrow(/renewDeadlineMs must be shorter than leaseDurationSeconds/);
    expect(() => validateOptions({ ...ok, renewIntervalMs: 10000 })).toThrow(/renewIntervalMs must be shorter/);
    expect(() => validateOptions({ ...ok, name: 'Bad/Name' })).toThrow(/invalid lease name/);
    expect(() => validateOptions({ ...ok, namespace: '../x' })).toThrow(/invalid namespace/);
    expect(() => validateOptions({ ...ok, identity: '' })).toThrow(/identity/);
    expect(() => validateOptions({ ...ok, leaseDurationSeconds: 0.5 })).toThrow(/positive integer/);
  });

  it('identity is the pod name, else the hostname (stable across restarts)', () => {
    expect(defaultIdentity({ POD_NAME: 'airlock-7c9d-x2' })).toBe('airlock-7c9d-x2');
    expect(defaultIdentity({})).toBe(hostname());
    expect(defaultIdentity({})).not.toContain(String(process.pid));
  });
});

describe('LeaderElector against an optimistic-concurrency store', () => {
  it('concurrent candidates: exactly one leads, and handover on stop() is immediate', async () => {
    const store = new FakeLeaseStore();
    const counter = new LeaderCounter();
    const all = ['r0', 'r1', 'r2', 'r3', 'r4'].map((id) => spawn(store, id, counter));
    all.forEach((x) => x.e.start());
    await until(() => counter.current === 1, 3000, 'a leader');
    await sleep(400); // several renew rounds
    expect(all.filter((x) => x.e.isLeader())).toHaveLength(1);
    expect(counter.max).toBe(1);
    expect(store.peek(PATH)?.spec.leaseTransitions).toBe(0);

    const first = all.find((x) => x.e.isLeader())!;
    const t0 = Date.now();
    await first.e.stop();
    expect(first.signals[0].aborted).toBe(true);
    await until(() => counter.current === 1, 3000, 'a new leader');
    // A released lease is taken on the next retry, long before the 1 s lease would expire.
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(counter.max).toBe(1);
    const l = store.peek(PATH)!;
    expect(l.spec.holderIdentity).not.toBe(first.e.identity);
    expect(l.spec.leaseTransitions).toBe(1);
    expect(all.filter((x) => x.e.isLeader())).toHaveLength(1);
  });

  it('many rounds of random stops and restarts never produce two leaders', async () => {
    const store = new FakeLeaseStore();
    const counter = new LeaderCounter();
    const all = ['a', 'b', 'c'].map((id) => spawn(store, id, counter));
    all.forEach((x) => x.e.start());
    for (let round = 0; round < 12; round++) {
      await until(() => counter.current === 1, 3000, `leader in round ${round}`);
      const leader = all.find((x) => x.e.isLeader())!;
      await leader.e.stop();
      // Half the rounds rejoin at once (racing the others for the released Lease), half after a handover.
      if (round % 2 === 1) await until(() => counter.current === 1, 3000, `handover in round ${round}`);
      leader.e.start();
    }
    expect(counter.max).toBe(1);
    expect(new Set(counter.starts).size).toBeGreaterThan(1);
    // Every write that changed the holder counted one transition.
    const holders = store.writes.map((w) => w.holder);
    const changes = holders.filter((h, i) => i > 0 && h !== holders[i - 1] && h !== '').length;
    expect(store.peek(PATH)!.spec.leaseTransitions).toBe(changes);
  });

  it('a partitioned leader steps down by its renew deadline, before anyone else takes over', async () => {
    const store = new FakeLeaseStore();
    const counter = new LeaderCounter();
    const events: string[] = [];
    const all = ['p', 'q'].map((id) => spawn(store, id, counter, {
      onStartedLeading: () => { counter.started(id); events.push(`start ${id} ${Date.now()}`); },
      onStoppedLeading: () => { counter.stopped(); events.push(`stop ${id} ${Date.now()}`); },
    }));
    all[0].e.start();
    await until(() => all[0].e.isLeader(), 3000, 'p leads');
    all[1].e.start();
    await sleep(300);
    all[0].client.partitioned = true;
    const cut = Date.now();
    await until(() => all[1].e.isLeader(), 5000, 'q takes over');
    const stopP = Number(events.find((e) => e.startsWith('stop p'))!.split(' ')[2]);
    const startQ = Number(events.find((e) => e.startsWith('start q'))!.split(' ')[2]);
    expect(stopP).toBeLessThanOrEqual(startQ);
    expect(stopP - cut).toBeLessThanOrEqual(fast.renewDeadlineMs + 50);
    expect(counter.max).toBe(1);
    expect(all[0].e.isLeader()).toBe(false);
    expect(store.peek(PATH)!.spec).toMatchObject({ holderIdentity: 'q', leaseTransitions: 1 });
    // Reconnected, p sees q's lease and stays a follower.
    all[0].client.partitioned = false;
    await sleep(400);
    expect(all[0].e.isLeader()).toBe(false);
    expect(all[0].e.leader()).toBe('q');
  });

  it('stop() waits for the work to notice the signal before releasing the lease', async () => {
    const store = new FakeLeaseStore();
    const order: string[] = [];
    const { e } = spawn(store, 'w', new LeaderCounter(), {
      onStartedLeading: async (signal) => {
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
        await sleep(50);
        order.push(`work done, holder=${store.peek(PATH)!.spec.holderIdentity}`);
      },
      onStoppedLeading: () => order.push('stopped'),
    });
    e.start();
    await until(() => e.isLeader());
    await e.stop();
    order.push(`after stop, holder=${JSON.stringify(store.peek(PATH)!.spec.holderIdentity)}`);
    expect(order).toEqual(['stopped', 'work done, holder=w', 'after stop, holder=""']);
  });

  it('keeps leading when the callback throws, reports the error, and exports airlock_leader', async () => {
    const store = new FakeLeaseStore();
    const errors: unknown[] = [];
    const push = (_msg: string, fields?: Fields): void => void errors.push(fields?.error);
    const log: Logger = { debug: push, info: push, warn: push, error: push, child: () => log };
    const metrics = createMetrics();
    const { e } = spawn(store, 'm', new LeaderCounter(), {
      onStartedLeading: () => { throw new Error('boom'); },
      onStoppedLeading: () => undefined,
      log,
      metrics,
    });
    e.start();
    await until(() => errors.length > 0);
    expect(String(errors[0])).toContain('boom');
    expect(e.isLeader()).toBe(true);
    const gauge = async () => (await metrics.registry.getSingleMetric('airlock_leader')!.get()).values.find((v) => v.labels.lease === 'airlock')?.value;
    expect(await gauge()).toBe(1);
    await e.stop();
    expect(await gauge()).toBe(0);
  });
});
