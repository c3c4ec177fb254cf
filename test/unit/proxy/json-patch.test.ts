import { describe, expect, it } from '@jest/globals';
import { applyJsonPatch } from '../../../src/proxy/json-patch.js';
import { withProvenance } from '../../../src/proxy/provenance.js';
import { decideAll } from '../../../src/proxy/judge.js';
import { denyMessage } from '../../../src/policy/verdict.js';
import { parseDurationMs } from '../../../src/proxy/duration.js';
import type { Decision, PolicyEngine, RequestAttributes } from '../../../src/policy/types.js';

describe('applyJsonPatch', () => {
  it('applies add/remove/replace/move/copy/test without touching the input', () => {
    const doc = { metadata: { labels: { a: '1' } }, spec: { list: [1, 2, 3] } };
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/metadata/labels/b~1c', value: '2' },
      { op: 'remove', path: '/spec/list/0' },
      { op: 'replace', path: '/metadata/labels/a', value: 'x' },
      { op: 'add', path: '/spec/list/-', value: 9 },
      { op: 'copy', from: '/metadata/labels', path: '/spec/labels' },
      { op: 'move', from: '/spec/labels', path: '/spec/moved' },
      { op: 'test', path: '/spec/list', value: [2, 3, 9] },
    ]);
    expect(out).toEqual({ metadata: { labels: { a: 'x', 'b/c': '2' } }, spec: { list: [2, 3, 9], moved: { a: 'x', 'b/c': '2' } } });
    expect(doc.metadata.labels).toEqual({ a: '1' });
  });
  it('throws on missing paths and failed tests', () => {
    expect(() => applyJsonPatch({}, [{ op: 'replace', path: '/nope', value: 1 }])).toThrow();
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(/test failed/);
    expect(() => applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: 1 }])).toThrow();
  });
});

describe('withProvenance', () => {
  const ann = { 'airlock.dev/agent': 'bot', 'airlock.dev/session': 's1' };
  it('adds annotations to objects and merge patches, with an optional resourceVersion precondition', () => {
    expect(withProvenance('merge-patch', { data: { a: 'b' } }, ann, undefined, '42')).toEqual({ data: { a: 'b' }, metadata: { annotations: ann, resourceVersion: '42' } });
    expect(withProvenance('json', { metadata: { annotations: { x: 'y' }, resourceVersion: '7' } }, ann, undefined, '42')).toEqual({ metadata: { annotations: { x: 'y', ...ann }, resourceVersion: '7' } });
  });
  it('adds json-patch ops that apply whether or not annotations exist', () => {
    const withAnn = withProvenance('json-patch', [], ann, { metadata: { annotations: {} } }, '5') as unknown[];
    expect(withAnn).toEqual([
      { op: 'add', path: '/metadata/annotations/airlock.dev~1agent', value: 'bot' },
      { op: 'add', path: '/metadata/annotations/airlock.dev~1session', value: 's1' },
      { op: 'replace', path: '/metadata/resourceVersion', value: '5' },
    ]);
    const live = { metadata: { name: 'x' } };
    const noAnn = withProvenance('json-patch', [{ op: 'add', path: '/spec', value: {} }], ann, live) as never[];
    expect(applyJsonPatch(live, noAnn)).toEqual({ metadata: { name: 'x', annotations: ann }, spec: {} });
  });
});

describe('decideAll', () => {
  const base = { agent: true, policies: ['p'], explanations: [], audits: [], recording: { enabled: true, bodies: false } };
  const engine = (byVerb: Record<string, Decision>): PolicyEngine => ({
    upsert: async () => ({ ok: true, errors: [], warnings: [] }),
    remove: () => undefined,
    policiesFor: () => ['p'],
    decide: (r: RequestAttributes) => byVerb[r.verb]!,
  });
  const attrs = (verb: string): RequestAttributes => ({ user: { username: 'a', groups: [] }, verb, isResourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'pods', subresource: 'exec', via: 'proxy' });
  it('keeps the strictest decision across variants', () => {
    const d = decideAll(engine({ create: { action: 'allow', ...base }, get: { action: 'deny', reason: 'no', ...base, matched: { policy: 'p', rule: 'r' } } }), [attrs('create'), attrs('get')]);
    expect(d.action).toBe('deny');
    expect(denyMessage(d as Extract<Decision, { action: 'deny' }>)).toBe('airlock: denied by policy p rule r: no');
  });
  it('turns an engine exception into a deny', () => {
    const broken: PolicyEngine = { ...engine({}), decide: () => { throw new Error('boom'); } };
    expect(decideAll(broken, [attrs('create')])).toMatchObject({ action: 'deny', reason: expect.stringContaining('boom') });
  });
});

describe('parseDurationMs', () => {
  it('parses Go durations', () => {
    expect(parseDurationMs('1m30s', 0)).toBe(90_000);
    expect(parseDurationMs('250ms', 0)).toBe(250);
    expect(parseDurationMs('bogus', 5)).toBe(5);
    expect(parseDurationMs(undefined, 7)).toBe(7);
  });
});
