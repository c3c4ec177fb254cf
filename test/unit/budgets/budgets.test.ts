// Budgets and rate limits without a cluster: compiling spec.budgets and spec.rateLimits (errors name the
// field), which requests count and what they cost, the token buckets, and the ledger's optimistic
// concurrency against an in-memory store that answers like the API server (resourceVersion, 409).
import { describe, expect, it } from '@jest/globals';
import { Engine } from '../../../src/policy/engine.js';
import { BudgetLedger, nameFor, type BudgetCharge, type UsageClient } from '../../../src/budgets/ledger.js';
import { RateLimiter } from '../../../src/budgets/rate-limiter.js';
import { verbClassOf } from '../../../src/proxy/budgets.js';
import { startBudgetSweeper, type SweepClient } from '../../../src/budgets/sweeper.js';
import { chargesFor, judgeBudgets, scopeOf } from '../../../src/budgets/charge.js';
import { KubeApiError } from '../../../src/k8s/client.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import type { BudgetSpec, BudgetUsage } from '../../../src/api/types.js';
import { rowsOf, table } from '../../../src/cli/budgets.js';
import type { CompiledBudget } from '../../../src/policy/compile.js';
import { mulberry32 } from '../../helpers/random.js';
import { agent, policy, req } from '../policy/helpers.js';

const approvals = { approvers: { groups: ['airlock:approvers'] } };
const deletes: BudgetSpec = { name: 'deletes', match: { verbs: ['delete', 'deletecollection'] }, limit: 3, window: '1h' };

async function engineWith(spec: Record<string, unknown>): Promise<Engine> {
  const e = new Engine({ metrics: false });
  const r = await e.upsert(policy('p', { agents: { users: ['agent-ci'] }, approvals, rules: [{ name: 'all', action: 'allow' }], ...spec }));
  expect(r.errors).toEqual([]);
  return e;
}

async function errorsOf(spec: Record<string, unknown>): Promise<string[]> {
  const e = new Engine({ metrics: false });
  return (await e.upsert(policy('p', { agents: { users: ['agent-ci'] }, rules: [], ...spec }))).errors;
}

describe('compiling budgets and rate limits', () => {
  it('names the field of each mistake', async () => {
    const errs = await errorsOf({
      approvals,
      budgets: [
        { ...deletes, window: '800h' },
        { ...deletes },
        { name: 'x', match: { resources: ['[bad'] }, limit: 1, window: '1m', per: { label: 'not a key!' } },
        { name: 'y', match: {}, limit: 1, window: '1m', onExhausted: 'deny', hold: { required: 1 } },
      ],
    });
    expect(errs).toEqual(expect.arrayContaining([
      expect.stringMatching(/^spec\.budgets\[0\]\.window: "800h"/),
      expect.stringMatching(/^spec\.budgets\[1\]\.name: duplicate budget name "deletes"/),
      expect.stringMatching(/^spec\.budgets\[2\]\.match\.resources\[0\]/),
      expect.stringMatching(/^spec\.budgets\[2\]\.per\.label: "not a key!" is not a label key/),
      expect.stringMatching(/^spec\.budgets\[3\]\.hold: only allowed for onExhausted hold/),
    ]));
    expect(await errorsOf({ budgets: [deletes] })).toEqual([expect.stringMatching(/^spec\.budgets\[0\]\.hold: hold needs approvers/)]);
    expect(await errorsOf({ budgets: [{ ...deletes, onExhausted: 'deny', grant: 5 }] })).toEqual(['spec.budgets[0].grant: only allowed for onExhausted hold']);
    expect(await errorsOf({ budgets: [{ ...deletes, limit: 0 }] })).toEqual([expect.stringMatching(/^spec\.budgets\[0\]\.limit: must be >= 1/)]);
    expect(await errorsOf({ rateLimits: { read: { qps: 0 } } })).toEqual([expect.stringMatching(/^spec\.rateLimits\.read\.qps: must be >= 0.001/)]);
  });

  it('counts requests the match selects, in the namespaces the policy governs, restrictively when facts are unknown', async () => {
    const e = await engineWith({
      namespaces: ['team-*'],
      budgets: [deletes, { name: 'labelled', match: { verbs: ['delete'], labelSelector: { matchLabels: { tier: 'db' } } }, limit: 1, window: '1m' }],
    });
    const names = (over: Parameters<typeof req>[0]) => e.budgetsFor(req(over)).map((b) => b.name);
    expect(names({ verb: 'get' })).toEqual([]);
    expect(names({ verb: 'delete', oldObject: { metadata: { labels: { tier: 'web' } } } })).toEqual(['deletes']);
    expect(names({ verb: 'delete', oldObject: { metadata: { labels: { tier: 'db' } } } })).toEqual(['deletes', 'labelled']);
    // Labels unknown: it counts (missing information never lets a request off a budget).
    expect(names({ verb: 'delete' })).toEqual(['deletes', 'labelled']);
    expect(names({ verb: 'delete', namespace: 'other' })).toEqual([]);
    expect(e.budgetsFor(req({ verb: 'delete', user: { username: 'someone-else', groups: [] } }))).toEqual([]);
  });

  it('merges rate limits of several policies to the strictest', async () => {
    const e = new Engine({ metrics: false });
    await e.upsert(policy('a', { agents: { users: ['agent-ci'] }, rules: [], rateLimits: { read: { qps: 10, burst: 50 }, maxInFlight: 8, priority: 'none' } }));
    await e.upsert(policy('b', { agents: { users: ['agent-*'] }, rules: [], rateLimits: { read: { qps: 20, burst: 5 }, write: { qps: 2 } } }));
    expect(e.rateLimitsFor(agent)).toEqual({ read: { qps: 10, burst: 5 }, write: { qps: 2, burst: 2 }, maxInFlight: 8, priority: 'reads' });
    expect(e.rateLimitsFor({ username: 'human', groups: [] })).toBeUndefined();
  });
});

describe('what a request costs', () => {
  it('charges a deletecollection one unit per object, a budget on the collection verb once, and scopes by namespace or label', async () => {
    const e = await engineWith({
      budgets: [
        deletes,
        { name: 'collections', match: { verbs: ['deletecollection'] }, limit: 5, window: '1h' },
        { name: 'per-team', match: { verbs: ['delete'] }, limit: 5, window: '1h', per: { label: 'team' } },
      ],
    });
    const items = ['a', 'b', 'c'].map((name, i) => req({ verb: 'delete', name, oldObject: { metadata: { name, labels: { team: i < 2 ? 'red' : 'blue' } } } }));
    const charges = chargesFor(e, [req({ verb: 'deletecollection' }), ...items], items.length);
    const summary = charges.map((c) => `${c.budget.name}|${c.scope}|${c.cost}`).sort();
    expect(summary).toEqual(['collections||1', 'deletes||3', 'per-team|label:team=blue|1', 'per-team|label:team=red|2']);
    const nsBudget = { ...charges[0]!.budget, per: { namespace: true } } as CompiledBudget;
    expect(scopeOf(nsBudget, req({ namespace: 'team-a' }))).toBe('namespace=team-a');
  });

  it('classes verbs for rate limits', () => {
    expect(verbClassOf('get', undefined)).toBe('read');
    expect(verbClassOf('watch', undefined)).toBe('read');
    expect(verbClassOf('create', 'exec')).toBe('connect');
    expect(verbClassOf('get', 'portforward')).toBe('connect');
    expect(verbClassOf('patch', 'scale')).toBe('write');
    expect(verbClassOf('deletecollection', undefined)).toBe('write');
  });
});

describe('rate limiter', () => {
  it('lets a burst through, then answers with the wait until the next token', () => {
    let now = 0;
    const rl = new RateLimiter({ now: () => now });
    const limits = { read: { qps: 2, burst: 3 }, priority: 'reads' as const };
    const get = () => rl.admit({ agent: 'a', verbClass: 'read', longRunning: false }, limits);
    for (let i = 0; i < 3; i++) expect(get().ok).toBe(true);
    const refused = get();
    expect(refused).toMatchObject({ ok: false, limit: 'read', retryAfterSeconds: 1 });
    now += 500; // half a second at 2/s: one token
    expect(get().ok).toBe(true);
    expect(get().ok).toBe(false);
    // Another agent has its own bucket; writes are not limited by the read bucket.
    expect(rl.admit({ agent: 'b', verbClass: 'read', longRunning: false }, limits).ok).toBe(true);
    expect(rl.admit({ agent: 'a', verbClass: 'write', longRunning: false }, limits).ok).toBe(true);
  });

  it('bounds requests in flight, keeps a quarter for reads, and does not count long-running ones', () => {
    const rl = new RateLimiter();
    const limits = { maxInFlight: 4, priority: 'reads' as const };
    const take = (verbClass: 'read' | 'write', longRunning = false) => rl.admit({ agent: 'a', verbClass, longRunning }, limits);
    const writes = [take('write'), take('write'), take('write')];
    expect(writes.every((w) => w.ok)).toBe(true);
    expect(take('write')).toMatchObject({ ok: false, limit: 'in-flight' });
    const read = take('read');
    expect(read.ok).toBe(true);
    expect(take('read').ok).toBe(false);
    expect(take('read', true).ok).toBe(true);
    if (writes[0]!.ok) writes[0]!.done();
    if (writes[0]!.ok) writes[0]!.done(); // a second done() gives nothing back twice
    expect(take('read').ok).toBe(true);
    expect(take('read').ok).toBe(false);
  });
});

/** An in-memory BudgetUsage store that answers like the API server: resourceVersion checks, 404, 409. */
function memoryStore(): UsageClient & SweepClient & { objects: Map<string, Record<string, unknown>>; writes: number } {
  const objects = new Map<string, Record<string, unknown>>();
  let rv = 0;
  const tick = () => new Promise((r) => setImmediate(r));
  const store = {
    objects,
    writes: 0,
    async get<T>(path: string): Promise<T> {
      await tick();
      const o = objects.get(path);
      if (path.endsWith('/budgetusages')) return { items: [...objects].filter(([k]) => k.startsWith(`${path}/`)).map(([, v]) => structuredClone(v)) } as T;
      if (!o) throw new KubeApiError(404, 'NotFound', 'not found');
      return structuredClone(o) as T;
    },
    async create<T>(path: string, body: unknown): Promise<T> {
      await tick();
      const b = structuredClone(body) as { metadata: { name: string; resourceVersion?: string } };
      const key = `${path}/${b.metadata.name}`;
      if (objects.has(key)) throw new KubeApiError(409, 'AlreadyExists', 'exists');
      b.metadata.resourceVersion = String(++rv);
      objects.set(key, b);
      store.writes++;
      return structuredClone(b) as T;
    },
    async delete<T>(path: string, opts?: { body?: unknown }): Promise<T> {
      await tick();
      const cur = objects.get(path) as { metadata: { resourceVersion: string } } | undefined;
      if (!cur) throw new KubeApiError(404, 'NotFound', 'not found');
      const want = (opts?.body as { preconditions?: { resourceVersion?: string } } | undefined)?.preconditions?.resourceVersion;
      if (want !== undefined && want !== cur.metadata.resourceVersion) throw new KubeApiError(409, 'Conflict', 'precondition failed');
      objects.delete(path);
      return {} as T;
    },
    async replace<T>(path: string, body: unknown): Promise<T> {
      await tick();
      const b = structuredClone(body) as { metadata: { resourceVersion?: string } };
      const cur = objects.get(path) as { metadata: { resourceVersion: string } } | undefined;
      if (!cur) throw new KubeApiError(404, 'NotFound', 'not found');
      if (b.metadata.resourceVersion !== cur.metadata.resourceVersion) throw new KubeApiError(409, 'Conflict', 'the object has been modified');
      b.metadata.resourceVersion = String(++rv);
      objects.set(path, b);
      store.writes++;
      return structuredClone(b) as T;
    },
  };
  return store;
}

async function compiled(spec: BudgetSpec): Promise<CompiledBudget> {
  const e = await engineWith({ budgets: [spec] });
  return e.budgetsFor(req({ verb: spec.match.verbs?.[0] ?? 'delete' }))[0]!;
}

describe('budget ledger', () => {
  it('never lets more than the limit through, whichever of several replicas charges (seeded interleavings)', async () => {
    const budget = await compiled({ ...deletes, limit: 20 });
    for (const seed of [1, 2, 3]) {
      const rand = mulberry32(seed);
      const store = memoryStore();
      const replicas = [0, 1, 2].map(() => new BudgetLedger({ client: store, namespace: 'airlock-system', now: () => 1_000_000 }));
      const charge = (): BudgetCharge => ({ budget, scope: '', cost: 1 + Math.floor(rand() * 2), enforce: true });
      const attempts = Array.from({ length: 60 }, () => ({ replica: replicas[Math.floor(rand() * 3)]!, charge: charge() }));
      const results = await Promise.all(attempts.map((a) => a.replica.reserve('agent-ci', [a.charge])));
      const granted = attempts.filter((_, i) => results[i]!.ok).reduce((n, a) => n + a.charge.cost, 0);
      const stored = [...store.objects.values()][0] as { status: { charges: number[] } };
      expect(stored.status.charges.length).toBe(granted);
      expect(granted).toBeLessThanOrEqual(20);
      // Once it is full, nothing more fits (the last refusals were for lack of room, not for conflicts).
      expect(granted).toBeGreaterThanOrEqual(19);
    }
  });

  it('says when the window will have room again, and lets the request through once it has', async () => {
    let now = 0;
    const budget = await compiled({ ...deletes, limit: 2, window: '10m' });
    const ledger = new BudgetLedger({ client: memoryStore(), namespace: 'ns', now: () => now });
    const one = { budget, scope: '', cost: 1, enforce: true };
    expect((await ledger.reserve('agent-ci', [one])).ok).toBe(true);
    now = 60_000;
    expect((await ledger.reserve('agent-ci', [one])).ok).toBe(true);
    now = 120_000;
    const refused = await ledger.reserve('agent-ci', [one]);
    expect(refused).toMatchObject({ ok: false, spent: { used: 2, retryAfterSeconds: 480 } });
    now = 600_001; // the first charge left the window
    expect((await ledger.reserve('agent-ci', [one])).ok).toBe(true);
    // A cost larger than the limit never fits: it waits a whole window.
    expect(await ledger.reserve('agent-ci', [{ ...one, cost: 3 }])).toMatchObject({ ok: false, spent: { retryAfterSeconds: 600 } });
  });

  it('charges all of a request\'s budgets or none, and counts unenforced ones past the limit', async () => {
    const store = memoryStore();
    const big = await compiled({ ...deletes, name: 'big', limit: 10 });
    const small = await compiled({ ...deletes, name: 'small', limit: 1 });
    const ledger = new BudgetLedger({ client: store, namespace: 'ns', now: () => 5 });
    const both = (enforce: boolean): BudgetCharge[] => [{ budget: big, scope: '', cost: 1, enforce }, { budget: small, scope: '', cost: 1, enforce }];
    expect((await ledger.reserve('agent-ci', both(true))).ok).toBe(true);
    expect(await ledger.reserve('agent-ci', both(true))).toMatchObject({ ok: false, spent: { charge: { budget: { name: 'small' } } } });
    const count = (b: CompiledBudget) => ((store.objects.get(`/apis/airlock.dev/v1alpha1/namespaces/ns/budgetusages/${nameFor('agent-ci', { budget: b, scope: '' })}`) as { status: { charges: number[] } }).status.charges.length);
    expect([count(big), count(small)]).toEqual([1, 1]); // big's charge was taken back
    const approved = await ledger.reserve('agent-ci', both(false));
    expect(approved).toMatchObject({ ok: true, exhausted: [{ charge: { budget: { name: 'small' } }, used: 1 }] });
    expect([count(big), count(small)]).toEqual([2, 2]);
  });

  it('sweeps objects with nothing left in their window, and a replica holding a swept copy re-creates it', async () => {
    let now = 0;
    const store = memoryStore();
    const budget = await compiled({ ...deletes, limit: 5, window: '10m' });
    const ledger = new BudgetLedger({ client: store, namespace: 'ns', now: () => now });
    const one = (agentName: string) => ledger.reserve(agentName, [{ budget, scope: '', cost: 1, enforce: true }]);
    await one('idle');
    now = 300_000;
    await one('busy');
    now = 600_001; // idle's only charge left the window; busy's has not
    const sweeper = startBudgetSweeper(store, 'ns', { now: () => now, intervalMs: 3_600_000 });
    expect(await sweeper.sweep()).toBe(1);
    sweeper.stop();
    expect([...store.objects.values()].map((o) => (o as unknown as BudgetUsage).spec.agent)).toEqual(['busy']);
    // The ledger still holds its last copy of idle's object: the write finds it gone and creates it afresh.
    expect((await one('idle')).ok).toBe(true);
    expect([...store.objects.values()].map((o) => (o as unknown as BudgetUsage).spec.agent).sort()).toEqual(['busy', 'idle']);
  });

  it('lets an approval of a held request grant the budget more room for one window', async () => {
    let now = 0;
    const store = memoryStore();
    const e = await engineWith({ budgets: [{ ...deletes, limit: 2, window: '10m', grant: 3 }] });
    const ledger = new BudgetLedger({ client: store, namespace: 'ns', now: () => now });
    const del = req({ verb: 'delete', name: 'x' });
    const allow = e.decide(del);
    const metrics = createMetrics();
    const charge = (mode: 'charge' | 'approved', decision = allow) => judgeBudgets({ ledger, engine: e, metrics }, agent, decision, [del], 0, mode, 'apr-1');
    expect((await charge('charge')).kind).toBe('charged');
    expect((await charge('charge')).kind).toBe('charged');
    const held = await charge('charge');
    expect(held).toMatchObject({ kind: 'hold', decision: { action: 'hold', matched: { policy: 'p', rule: 'budget:deletes' } } });
    if (held.kind !== 'hold') throw new Error('not held');
    expect(held.decision.reason).toContain('at most 2 per 10m; agent-ci used 2');
    // Approved: counted, and the budget grows by 3 (the approved one included) for one window.
    expect((await charge('approved', held.decision)).kind).toBe('charged');
    expect((await charge('charge')).kind).toBe('charged');
    expect((await charge('charge')).kind).toBe('charged');
    const again = await charge('charge');
    expect(again.kind).toBe('hold');
    if (again.kind === 'hold') expect(again.decision.reason).toContain('at most 2 (+3 granted) per 10m; agent-ci used 5');
    const stored = [...store.objects.values()][0] as unknown as BudgetUsage;
    expect(stored.status?.grants).toEqual([{ at: 0, units: 3, approval: 'apr-1' }]);
    // A window later the grant is gone with the charges.
    now = 600_001;
    expect(rowsOf([stored], now)[0]).toMatchObject({ used: 0, granted: 0, remaining: 2 });
    expect(rowsOf([stored], 1)[0]).toMatchObject({ used: 5, granted: 3, remaining: 0 });
  });

  it('charges a held request\'s deny budgets before its Approval: approved retries racing each other cannot all fit', async () => {
    const store = memoryStore();
    const e = await engineWith({ budgets: [{ name: 'rbac', match: { verbs: ['create'] }, limit: 10, window: '24h', onExhausted: 'deny' }, { ...deletes, match: { verbs: ['create'] }, limit: 1 }] });
    const replicas = [0, 1].map(() => new BudgetLedger({ client: store, namespace: 'ns', now: () => 7 }));
    const create = req({ verb: 'create', resource: 'rolebindings', apiGroup: 'rbac.authorization.k8s.io' });
    const held = { ...e.decide(create), action: 'hold' } as never;
    const metrics = createMetrics();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => judgeBudgets({ ledger: replicas[i % 2]!, engine: e, metrics }, agent, held, [create], 0, 'hold')));
    expect(results.filter((r) => r.kind === 'charged')).toHaveLength(10);
    expect(results.filter((r) => r.kind === 'refuse').map((r) => r.kind === 'refuse' && r.code)).toEqual([429, 429]);
    // The hold budget ("deletes" here, limit 1) is not charged before approval: an approval cannot be starved by it.
    const usage = (name: string) => [...store.objects.values()].map((o) => o as unknown as BudgetUsage).find((u) => u.spec.budget === name);
    expect(usage('deletes')).toBeUndefined();
    // Not admitted (still pending): the charge is given back.
    const first = results.find((r) => r.kind === 'charged');
    if (first?.kind === 'charged') await first.release();
    expect(usage('rbac')?.status?.charges).toHaveLength(9);
  });

  it('keeps agents, budgets and scopes apart, in objects named by a hash of the key', async () => {
    const budget = await compiled(deletes);
    const a = nameFor('agent-ci', { budget, scope: '' });
    expect(a).toMatch(/^deletes-[0-9a-f]{16}$/);
    expect(new Set([a, nameFor('agent-cd', { budget, scope: '' }), nameFor('agent-ci', { budget, scope: 'namespace=x' })]).size).toBe(3);
  });
});

describe('kubectl airlock budgets', () => {
  it('counts each object as of now and prints a table that names the scope', () => {
    const usage = (agentName: string, charges: number[], scope?: string): BudgetUsage => ({
      apiVersion: 'airlock.dev/v1alpha1', kind: 'BudgetUsage', metadata: { name: 'x' },
      spec: { agent: agentName, policy: 'p', budget: 'deletes', limit: 3, window: '1h', ...(scope ? { scope } : {}) },
      status: { charges },
    });
    const now = 10 * 3_600_000;
    const rows = rowsOf([usage('b', [now - 2 * 3_600_000, now - 1_800_000, now - 60_000]), usage('a', [], 'namespace=x')], now);
    expect(rows.map((r) => [r.agent, r.used, r.remaining, r.nextFreeSeconds])).toEqual([['a', 0, 3, undefined], ['b', 2, 1, 1800]]);
    const lines = table(rows).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^AGENT\s+POLICY\s+BUDGET\s+USED\s+WINDOW\s+REMAINING\s+NEXT-FREE\s+SCOPE$/);
    expect(lines[1]).toMatch(/^a\s+p\s+deletes\s+0\/3\s+1h\s+3\s+-\s+namespace=x$/);
    expect(lines[2]).toMatch(/^b\s+p\s+deletes\s+2\/3\s+1h\s+1\s+30m\s+-$/);
  });
});
