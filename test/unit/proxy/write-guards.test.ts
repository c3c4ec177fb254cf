import { describe, expect, it } from '@jest/globals';
import { createMaskerFactory } from '../../../src/masking/index.js';
import { keepLiveValues } from '../../../src/proxy/placeholders.js';
import { STRICTEST_MASKING } from '../../../src/proxy/context.js';
import { oracleTest, refuseUnsafeWrite, secretValueOutsideData } from '../../../src/proxy/write-guards.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const masker = createMaskerFactory({ key: Buffer.alloc(32, 3) });
const reveal = { masker, target: { verb: 'patch', apiGroup: '', apiVersion: 'v1', resource: 'configmaps', watch: false }, rules: STRICTEST_MASKING };

describe('secretValueOutsideData', () => {
  const secret = (extra: Record<string, unknown>) => ({ kind: 'Secret', metadata: { name: 's', ...extra }, data: { password: b64('hunter2hunter2') } });
  it('finds a Secret value copied into an annotation, plain or base64', () => {
    expect(secretValueOutsideData(secret({ annotations: { x: 'hunter2hunter2' } }))).toBe('metadata.annotations.x');
    expect(secretValueOutsideData(secret({ labels: { x: b64('hunter2hunter2') } }))).toBe('metadata.labels.x');
  });
  it('accepts the last-applied manifest of the Secret itself, but not a value put elsewhere in it', () => {
    const manifest = JSON.stringify({ kind: 'Secret', metadata: { name: 's' }, data: { password: b64('hunter2hunter2') } });
    expect(secretValueOutsideData(secret({ annotations: { 'kubectl.kubernetes.io/last-applied-configuration': manifest } }))).toBeUndefined();
    const sneaky = JSON.stringify({ kind: 'Secret', metadata: { name: 's', labels: { x: 'hunter2hunter2' } } });
    expect(secretValueOutsideData(secret({ annotations: { 'kubectl.kubernetes.io/last-applied-configuration': sneaky } }))).toContain('last-applied-configuration');
  });
  it('knows the values of the live Secret after a move emptied data', () => {
    expect(secretValueOutsideData({ kind: 'Secret', metadata: { annotations: { x: 'hunter2hunter2' } }, data: {} }, ['hunter2hunter2'])).toBe('metadata.annotations.x');
  });
});

describe('oracleTest', () => {
  const live = { kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'DB_PASSWORD', value: 'cnryvalue12345' }] }] } } }, metadata: { name: 'd' } };
  it('refuses a test op on anything that holds a hidden value, at any depth', () => {
    for (const path of ['', '/spec', '/spec/template/spec/containers/0']) {
      expect(oracleTest('deployments', [{ op: 'test', path, value: {} }], live, ['cnryvalue12345'])).toBeDefined();
    }
  });
  it('lets a test op on a field without hidden values through', () => {
    expect(oracleTest('deployments', [{ op: 'test', path: '/metadata/name', value: 'd' }], live, ['cnryvalue12345'])).toBeUndefined();
  });
});

describe('refuseUnsafeWrite', () => {
  const old = { kind: 'ConfigMap', metadata: { name: 'c' }, data: { DB_PASSWORD: 'cnryvalue12345' } };
  it('refuses a write that moves a hidden value to a key masking does not hide', () => {
    const moved = { kind: 'ConfigMap', metadata: { name: 'c' }, data: { plain: 'cnryvalue12345' } };
    expect(refuseUnsafeWrite({ resource: 'configmaps', object: moved, oldObject: old, hidden: ['cnryvalue12345'] }, reveal)?.code).toBe(403);
  });
  it('lets a write keep the value where it was', () => {
    const same = { kind: 'ConfigMap', metadata: { name: 'c' }, data: { DB_PASSWORD: 'cnryvalue12345', mode: 'fast' } };
    expect(refuseUnsafeWrite({ resource: 'configmaps', object: same, oldObject: old, hidden: ['cnryvalue12345'] }, reveal)).toBeUndefined();
  });
  it('refuses changing who created the object', () => {
    const claimed = { ...old, metadata: { name: 'c', annotations: { 'airlock.dev/agent': 'agent-ci' } } };
    expect(refuseUnsafeWrite({ resource: 'configmaps', object: claimed, oldObject: old, hidden: [] }, reveal)?.message).toContain('airlock.dev/agent');
  });
});

describe('keepLiveValues', () => {
  it('puts the live value back where a placeholder was patched over it', () => {
    const live = { kind: 'Secret', metadata: { name: 's' }, data: { password: b64('hunter2'), other: b64('x') } };
    const patched = { kind: 'Secret', metadata: { name: 's', labels: { a: 'b' } }, data: { password: b64('airlock-masked:sha256:0123abcd'), other: b64('y') } };
    const r = keepLiveValues(patched, live);
    expect(r).toEqual({ kept: 1, object: { kind: 'Secret', metadata: { name: 's', labels: { a: 'b' } }, data: { password: b64('hunter2'), other: b64('y') } } });
  });
  it('names a placeholder with no live value to keep', () => {
    expect(keepLiveValues({ kind: 'ConfigMap', data: { n: 'airlock-masked:sha256:0123abcd' } }, { kind: 'ConfigMap', data: {} })).toEqual({ unresolved: 'data.n' });
  });
});
