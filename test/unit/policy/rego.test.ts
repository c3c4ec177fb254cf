// The Rego escape hatch with real wasm compiled by the opa CLI (found via hack/build-tools.sh).
import { compileRego } from '../../helpers/rego.js';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Engine } from '../../../src/policy/engine.js';
import type { RegoRef } from '../../../src/api/types.js';
import { policy, req } from './helpers.js';

const root = new URL('../../../', import.meta.url).pathname;
const wasm: Record<string, Buffer> = {};

const build = compileRego;

beforeAll(() => {
  const bin = execFileSync('bash', [join(root, 'hack/build-tools.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()!;
  const opa = join(bin, 'opa');
  wasm.owner = build(opa, 'owner.rego', 'airlock/deny');
  wasm.namespace = build(opa, 'namespace.rego', 'airlock/forbidden');
  wasm.hungry = build(opa, 'hungry.rego', 'airlock/deny');
}, 600000);

const rule = (rego: RegoRef, failurePolicy?: 'deny' | 'allow') => policy('rego', {
  agents: { users: ['agent-ci'] }, defaultAction: 'allow', ...(failurePolicy ? { failurePolicy } : {}),
  rules: [{ name: 'rego', rego, action: 'deny', message: 'Rego says no' }],
});
const inline = (name: string, entrypoint: string, extra: Partial<RegoRef> = {}): RegoRef => ({ entrypoint, wasmBase64: wasm[name]!.toString('base64'), ...extra });

describe('rego', () => {
  it('a non-empty set of messages is a violation; messages become explanations', async () => {
    const e = new Engine({ metrics: false });
    expect(await e.upsert(rule(inline('owner', 'airlock/deny')))).toMatchObject({ ok: true, errors: [] });
    const d = e.decide(req({ verb: 'create', resource: 'configmaps', object: { metadata: { name: 'cfg', labels: {} } } }));
    expect(d.action).toBe('deny');
    expect(d.explanations).toEqual([{ detector: 'rego', path: 'spec.rules[0].rego', message: 'ConfigMap cfg needs an owner label' }]);
    expect(e.decide(req({ verb: 'create', resource: 'configmaps', object: { metadata: { name: 'cfg', labels: { owner: 'me' } } } })).action).toBe('allow');
    expect(e.decide(req({ verb: 'get', resource: 'pods' })).action).toBe('allow');
  });

  it('true is a violation; false is not', async () => {
    const e = new Engine({ metrics: false });
    await e.upsert(rule(inline('namespace', 'airlock/forbidden')));
    const d = e.decide(req({ namespace: 'forbidden' }));
    expect(d.action).toBe('deny');
    expect(d.explanations[0]?.message).toBe('Rego policy reported a violation');
    expect(e.decide(req({ namespace: 'fine' })).action).toBe('allow');
  });

  it('loads wasm from a ConfigMap through loadConfigMap (default key policy.wasm)', async () => {
    const asked: string[] = [];
    const e = new Engine({ metrics: false, loadConfigMap: async (ns, name, key) => { asked.push(`${ns}/${name}/${key}`); return new Uint8Array(wasm.namespace!); } });
    const r = await e.upsert(rule({ entrypoint: 'airlock/forbidden', configMapRef: { namespace: 'airlock-system', name: 'rego' } }));
    expect(r.ok).toBe(true);
    expect(asked).toEqual(['airlock-system/rego/policy.wasm']);
    expect(e.decide(req({ namespace: 'forbidden' })).action).toBe('deny');
  });

  it('an agent may not change the ConfigMap a policy loads its Rego from (it would rewrite its own policy)', async () => {
    const e = new Engine({ metrics: false, loadConfigMap: async () => new Uint8Array(wasm.namespace!) });
    await e.upsert(rule({ entrypoint: 'airlock/forbidden', configMapRef: { namespace: 'team', name: 'rego' } }));
    const cm = (verb: string, extra: Record<string, unknown> = {}) => e.decide(req({ verb, resource: 'configmaps', namespace: 'team', ...extra }));
    for (const verb of ['update', 'patch', 'delete']) expect(cm(verb, { name: 'rego' })).toMatchObject({ action: 'deny', matched: { policy: 'airlock', rule: 'policy-inputs' } });
    expect(cm('create', { object: { metadata: { name: 'rego' } } }).action).toBe('deny');
    expect(cm('deletecollection').action).toBe('deny');
    // Other ConfigMaps, reads, and creates the API server names are the policy's to judge.
    expect(cm('update', { name: 'other' }).action).toBe('allow');
    expect(cm('get', { name: 'rego' }).action).toBe('allow');
    expect(cm('create', { object: { metadata: { generateName: 'x-' } } }).action).toBe('allow');
  });

  it('load errors name spec.rules[i].rego and the policy fails closed', async () => {
    const e = new Engine({ metrics: false, loadConfigMap: async () => { throw new Error('configmaps "rego" not found'); } });
    const missing = await e.upsert(rule({ entrypoint: 'airlock/deny', configMapRef: { namespace: 'a', name: 'rego', key: 'x.wasm' } }));
    expect(missing.errors).toEqual(['spec.rules[0].rego: cannot load key "x.wasm" of ConfigMap a/rego: configmaps "rego" not found']);
    expect(e.decide(req()).action).toBe('deny');
    const badEntry = await e.upsert(rule(inline('owner', 'airlock/nope')));
    expect(badEntry.errors[0]).toMatch(/^spec\.rules\[0\]\.rego: entrypoint "airlock\/nope" not in the compiled policy \(has: airlock\/deny\)/);
    const corrupt = Buffer.from(wasm.owner!);
    corrupt[20] = 0xff; corrupt[21] = 0xff; corrupt[22] = 0xff;
    const broken = await e.upsert(rule({ entrypoint: 'airlock/deny', wasmBase64: corrupt.subarray(0, 200).toString('base64') }));
    expect(broken.errors[0]).toMatch(/^spec\.rules\[0\]\.rego: invalid WebAssembly/);
  });

  it('an evaluation that runs out of memory denies (fail closed) and the engine keeps working', async () => {
    const e = new Engine({ metrics: false });
    expect((await e.upsert(rule(inline('hungry', 'airlock/deny', { memoryLimitMiB: 2 })))).ok).toBe(true);
    const d = e.decide(req({ namespace: 'boom' }));
    expect(d.action).toBe('deny');
    expect((d as { reason: string }).reason).toMatch(/could not be evaluated: Rego evaluation failed/);
    // the instance is rebuilt: later requests evaluate normally
    expect(e.decide(req({ namespace: 'calm' })).action).toBe('allow');
    expect(e.decide(req({ namespace: 'boom' })).action).toBe('deny');
  });

  it('with failurePolicy allow a failing Rego rule is skipped and audited', async () => {
    const e = new Engine({ metrics: false });
    await e.upsert(rule(inline('hungry', 'airlock/deny', { memoryLimitMiB: 2 }), 'allow'));
    const d = e.decide(req({ namespace: 'boom' }));
    expect(d.action).toBe('allow');
    expect(d.audits[0]?.message).toMatch(/Rego evaluation failed.*failurePolicy allow/);
  });

  it('with a generous memory cap the same policy evaluates', async () => {
    const e = new Engine({ metrics: false });
    await e.upsert(rule(inline('hungry', 'airlock/deny', { memoryLimitMiB: 512 })));
    expect(e.decide(req({ namespace: 'calm' })).action).toBe('allow');
  });
});
