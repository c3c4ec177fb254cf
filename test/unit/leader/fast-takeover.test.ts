// Fast takeover: a replica restarted with the same identity takes its own stale Lease at once (instance
// annotation), two live processes misconfigured with one identity never stay co-leaders, and a new
// leader's Approval expiry catches up at once.
import { describe, expect, it, afterEach } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { LeaderElector, INSTANCE_ANNOTATION, decide, instanceOf, type Lease } from '../../../src/operator/leader.js';
import { startApprovalController } from '../../../src/operator/approval-controller.js';
import type { KubeClient } from '../../../src/k8s/client.js';
import type { Informer, KObject } from '../../../src/k8s/informer.js';
import { FakeLeaseStore } from './fake-lease-store.js';

const NS = 'airlock-system';
const PATH = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/airlock`;
// A long lease: anything that waited for expiry would take 20 s.
const slow = { leaseDurationSeconds: 20, renewIntervalMs: 100, renewDeadlineMs: 600, retryIntervalMs: 100 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(fn: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const electors: LeaderElector[] = [];
afterEach(async () => { await Promise.all(electors.splice(0).map((e) => e.stop())); });

function elector(store: FakeLeaseStore, id: string, state: { leading: Set<string>; max: number }, tag = id) {
  const e = new LeaderElector({
    client: store.clientFor(tag, { latencyMs: 2 }), namespace: NS, name: 'airlock', identity: id, ...slow,
    onStartedLeading: () => { state.leading.add(tag); state.max = Math.max(state.max, state.leading.size); },
    onStoppedLeading: () => { state.leading.delete(tag); },
  });
  electors.push(e);
  return e;
}

const lease = (spec: Lease['spec'], annotations?: Record<string, string>): Lease => ({
  apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'airlock', namespace: NS, resourceVersion: '7', ...(annotations ? { annotations } : {}) }, spec,
});

describe('decide with instances (pure)', () => {
  const base = { namespace: NS, name: 'airlock', identity: 'pod-0', leaseDurationSeconds: 15, observed: { resourceVersion: '7', atMs: 1000 }, nowMs: 1001 };
  it('a fresh elector takes a Lease its identity holds under another instance at once, as a new term', () => {
    const stale = lease({ holderIdentity: 'pod-0', leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: 'old' }, { [INSTANCE_ANNOTATION]: 'previous-run' });
    const s = decide({ ...base, lease: stale, instance: 'me', reclaim: true });
    expect(s.kind).toBe('update');
    if (s.kind !== 'update') return;
    expect(s.takeover).toBe(true);
    expect(instanceOf(s.lease)).toBe('me');
    expect(s.lease.spec).toMatchObject({ holderIdentity: 'pod-0', leaseTransitions: 4 });
    // Without the annotation (written before instances existed) it is a previous run too.
    expect(decide({ ...base, lease: lease({ holderIdentity: 'pod-0' }), instance: 'me' }).kind).toBe('update');
  });
  it('once it has led, another instance of its identity is waited out like any holder', () => {
    const other = lease({ holderIdentity: 'pod-0', leaseDurationSeconds: 15 }, { [INSTANCE_ANNOTATION]: 'twin' });
    expect(decide({ ...base, lease: other, instance: 'me', reclaim: false })).toMatchObject({ kind: 'wait', holder: 'pod-0' });
  });
  it('renews its own instance without a transition; other identities still wait for expiry', () => {
    const mine = lease({ holderIdentity: 'pod-0', leaseDurationSeconds: 15, leaseTransitions: 2, acquireTime: 'first' }, { [INSTANCE_ANNOTATION]: 'me', keep: 'x' });
    const s = decide({ ...base, lease: mine, instance: 'me', reclaim: false });
    expect(s.kind === 'update' && s.lease.spec).toMatchObject({ leaseTransitions: 2, acquireTime: 'first' });
    expect(s.kind === 'update' && s.lease.metadata.annotations).toEqual({ [INSTANCE_ANNOTATION]: 'me', keep: 'x' });
    expect(decide({ ...base, lease: lease({ holderIdentity: 'pod-1', leaseDurationSeconds: 15 }), instance: 'me', reclaim: true }).kind).toBe('wait');
  });
});

describe('restart with the same identity', () => {
  it('a replica killed without releasing is replaced by its restart at once, not after the 20 s lease', async () => {
    const store = new FakeLeaseStore();
    const state = { leading: new Set<string>(), max: 0 };
    const first = elector(store, 'pod-0', state, 'run-1');
    first.start();
    await until(() => state.leading.has('run-1'), 3000, 'first run leads');
    // "SIGKILL": the old run stops talking to the API server and never releases.
    (first as unknown as { o: { client: { partitioned: boolean } } }).o.client.partitioned = true;
    const killedAt = Date.now();
    const second = elector(store, 'pod-0', state, 'run-2');
    second.start();
    await until(() => state.leading.has('run-2'), 3000, 'restart leads');
    expect(Date.now() - killedAt).toBeLessThan(slow.leaseDurationSeconds * 1000 / 4);
    expect(instanceOf(store.peek(PATH))).toBe(second.instance);
  });

  it('two live processes given one identity: the older steps down and stays down (never co-leaders for long)', async () => {
    const store = new FakeLeaseStore();
    const state = { leading: new Set<string>(), max: 0 };
    const a = elector(store, 'pod-0', state, 'a');
    a.start();
    await until(() => state.leading.has('a'), 3000, 'a leads');
    const b = elector(store, 'pod-0', state, 'b');
    b.start();
    await until(() => state.leading.has('b') && !state.leading.has('a'), 3000, 'b leads, a stepped down');
    await sleep(10 * slow.renewIntervalMs);
    expect([...state.leading]).toEqual(['b']);
    expect(a.isLeader()).toBe(false);
    expect(instanceOf(store.peek(PATH))).toBe(b.instance);
    // Graceful stop of b releases; a takes it at once.
    await b.stop();
    await until(() => state.leading.has('a'), 3000, 'a after b released');
  });
});

/** A minimal Informer over a fixed list (synced on demand). */
class FakeInformer extends EventEmitter {
  synced = false;
  private waiters: (() => void)[] = [];
  constructor(public items: KObject[]) { super(); }
  list() { return this.items; }
  get(name: string) { return this.items.find((o) => o.metadata.name === name); }
  hasSynced() { return this.synced; }
  waitForSync() { return this.synced ? Promise.resolve() : new Promise<void>((r) => this.waiters.push(r)); }
  sync() { this.synced = true; for (const w of this.waiters.splice(0)) w(); this.emit('synced'); }
}

describe('expiry catches up when leadership starts', () => {
  const approval = (name: string, expiresAt: string, phase = 'Pending') => ({
    apiVersion: 'airlock.dev/v1alpha1', kind: 'Approval', metadata: { name, resourceVersion: '1' },
    spec: { expiresAt, uses: 1, required: 1 }, status: { phase },
  }) as unknown as KObject;

  function fakeClient() {
    const writes: { path: string; phase: string }[] = [];
    const client = { replace: async (path: string, body: { status: { phase: string } }) => { writes.push({ path, phase: body.status.phase }); return body; }, get: async () => { throw new Error('unused'); } };
    return { client: client as unknown as KubeClient, writes };
  }

  it('expires everything already past its expiry at once (no interval tick), whether the informer has synced yet or not', async () => {
    for (const syncedFirst of [true, false]) {
      const { client, writes } = fakeClient();
      const past = new Date(Date.now() - 60_000).toISOString();
      const inf = new FakeInformer([approval('a', past), approval('b', past, 'Approved'), approval('c', past, 'Denied'), approval('d', new Date(Date.now() + 3_600_000).toISOString())]);
      if (syncedFirst) inf.sync();
      const ctl = startApprovalController(client, inf as unknown as Informer<KObject>);
      try {
        if (!syncedFirst) { await sleep(20); expect(writes).toEqual([]); inf.sync(); }
        await expect(ctl.caughtUp).resolves.toBe(2);
        const nameOf = (w: { path: string }) => w.path.split('/').slice(-2, -1)[0];
        expect(writes.filter((w) => w.phase === 'Expired').map(nameOf).sort()).toEqual(['a', 'b']);
        // The others only get their conditions written, in the phase they are in.
        expect(writes.filter((w) => w.phase !== 'Expired').map((w) => `${nameOf(w)} ${w.phase}`).sort()).toEqual(['c Denied', 'd Pending']);
      } finally {
        ctl.stop();
      }
    }
  });
});
