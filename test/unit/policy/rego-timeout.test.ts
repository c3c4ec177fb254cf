// Rego time budget: evaluation runs in a worker thread that is terminated (and replaced) when an evaluation
// exceeds timeoutMilliseconds; the rule fails closed. Real wasm compiled by the opa CLI.
import { compileRego } from '../../helpers/rego.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Engine } from '../../../src/policy/engine.js';
import { regoWorkerState } from '../../../src/policy/rego.js';
import type { RegoRef } from '../../../src/api/types.js';
import { policy, req } from './helpers.js';

const root = new URL('../../../', import.meta.url).pathname;
const wasm: Record<string, Buffer> = {};
const engines: Engine[] = [];

beforeAll(() => {
  const bin = execFileSync('bash', [join(root, 'hack/build-tools.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()!;
  const opa = join(bin, 'opa');
  wasm.slow = compileRego(opa, 'slow.rego', 'airlock/deny');
  wasm.owner = compileRego(opa, 'owner.rego', 'airlock/deny');
}, 600000);

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  expect(regoWorkerState()).toEqual({ running: false, instances: 0 });
});

const engine = (): Engine => { const e = new Engine({ metrics: false }); engines.push(e); return e; };
const inline = (name: string, extra: Partial<RegoRef> = {}): RegoRef => ({ entrypoint: 'airlock/deny', wasmBase64: wasm[name]!.toString('base64'), ...extra });
const rule = (name: string, rego: RegoRef, failurePolicy?: 'deny' | 'allow') => policy(name, {
  agents: { users: ['agent-ci'] }, defaultAction: 'allow', ...(failurePolicy ? { failurePolicy } : {}),
  rules: [{ name: 'rego', rego, action: 'deny', message: 'Rego says no' }],
});
const timed = <T>(fn: () => T): [T, number] => { const t = performance.now(); const r = fn(); return [r, performance.now() - t]; };
const slowReq = req({ namespace: 'slow' });
const configMap = (labels: Record<string, string>) => req({ verb: 'create', resource: 'configmaps', namespace: 'fast', object: { metadata: { name: 'cfg', labels } } });

describe('rego time budget', () => {
  it('an evaluation over its budget is stopped and denied with the reason; the next evaluation works', async () => {
    const e = engine();
    expect(await e.upsert(rule('looping', inline('slow', { timeoutMilliseconds: 50 })))).toMatchObject({ ok: true, errors: [] });
    expect(e.decide(req({ namespace: 'fast' })).action).toBe('allow');
    const [d, ms] = timed(() => e.decide(slowReq));
    expect(d.action).toBe('deny');
    expect((d as { reason: string }).reason).toBe(
      'AgentPolicy "looping" rule "rego" could not be evaluated: Rego evaluation exceeded its time budget of 50 ms (timeoutMilliseconds) and was stopped; denied (fail closed)');
    expect(ms).toBeLessThan(5000); // unbounded, this evaluation takes well over ten seconds
    // The worker was replaced and the policy is loaded into the new one on its next use.
    expect(e.decide(req({ namespace: 'fast' })).action).toBe('allow');
    // Stuck evaluations one after the other do not wedge anything.
    for (let i = 0; i < 3; i++) {
      const [again, t] = timed(() => e.decide(slowReq));
      expect((again as { reason: string }).reason).toMatch(/exceeded its time budget of 50 ms/);
      expect(t).toBeLessThan(5000);
      expect(e.decide(req({ namespace: 'fast' })).action).toBe('allow');
    }
  });

  it('defaults to 100 ms', async () => {
    const e = engine();
    await e.upsert(rule('looping', inline('slow')));
    const [d, ms] = timed(() => e.decide(slowReq));
    expect((d as { reason: string }).reason).toMatch(/^AgentPolicy "looping" rule "rego" could not be evaluated: Rego evaluation exceeded its time budget of 100 ms/);
    expect(ms).toBeLessThan(5000);
  });

  it('other Rego policies, in the same and in other engines, keep their results across a timeout', async () => {
    const e = engine();
    const other = engine();
    const loaded = await Promise.all([
      e.upsert(rule('a-looping', inline('slow', { timeoutMilliseconds: 50 }))), e.upsert(rule('b-owner', inline('owner'))), other.upsert(rule('owner', inline('owner'))),
    ]);
    expect(loaded.map((r) => r.ok)).toEqual([true, true, true]);
    expect(regoWorkerState().instances).toBeGreaterThanOrEqual(3);
    const check = () => {
      expect(e.decide(configMap({ owner: 'me' })).action).toBe('allow');
      const d = e.decide(configMap({}));
      expect(d.action).toBe('deny');
      expect(d.explanations).toEqual([{ detector: 'rego', path: 'spec.rules[0].rego', message: 'ConfigMap cfg needs an owner label' }]);
      expect(other.decide(configMap({})).explanations[0]?.message).toBe('ConfigMap cfg needs an owner label');
      expect(other.decide(configMap({ owner: 'me' })).action).toBe('allow');
    };
    check();
    // Both policies govern: the looping one times out (and denies), the other is still evaluated after it.
    const d = e.decide({ ...configMap({}), namespace: 'slow' });
    expect(d.action).toBe('deny');
    expect(d.matched).toEqual({ policy: 'a-looping', rule: 'rego' });
    check();
  });

  it('with failurePolicy allow a timed-out rule is skipped and audited', async () => {
    const e = engine();
    await e.upsert(rule('looping', inline('slow', { timeoutMilliseconds: 20 }), 'allow'));
    const d = e.decide(slowReq);
    expect(d.action).toBe('allow');
    expect(d.audits[0]?.message).toBe('rule "rego" could not be evaluated: Rego evaluation exceeded its time budget of 20 ms (timeoutMilliseconds) and was stopped; skipped (failurePolicy allow)');
  });

  it('the schema bounds timeoutMilliseconds', async () => {
    const e = engine();
    const tooLong = await e.upsert(rule('p', inline('owner', { timeoutMilliseconds: 5000 })));
    expect(tooLong.ok).toBe(false);
    expect(tooLong.errors.join('\n')).toMatch(/timeoutMilliseconds.*1000/);
    const zero = await e.upsert(rule('p', inline('owner', { timeoutMilliseconds: 0 })));
    expect(zero.ok).toBe(false);
    expect(zero.errors.join('\n')).toMatch(/timeoutMilliseconds/);
    expect((await e.upsert(rule('p', inline('owner', { timeoutMilliseconds: 1000 })))).ok).toBe(true);
  });

  it('close() ends the worker once no engine holds a Rego policy; a closed engine loads again on demand', async () => {
    for (const x of engines.splice(0)) await x.close();
    expect(regoWorkerState()).toEqual({ running: false, instances: 0 });
    const e = engine();
    await e.upsert(rule('owner', inline('owner')));
    expect(regoWorkerState()).toEqual({ running: true, instances: 1 });
    await e.close();
    expect(regoWorkerState()).toEqual({ running: false, instances: 0 });
    expect(e.decide(configMap({})).action).toBe('deny');
    expect(regoWorkerState()).toEqual({ running: true, instances: 1 });
    e.remove('owner');
    await new Promise((r) => setImmediate(r));
    expect(regoWorkerState().running).toBe(false);
  });
});
