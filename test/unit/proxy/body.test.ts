import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { bodyKind, expandedSize, findDuplicateKey, MAX_YAML_NODES, parseBody, parseJson, parseYaml, readBody } from '../../../src/proxy/body.js';
import { RequestError } from '../../../src/proxy/request-info.js';

function fakeReq(chunks: Buffer[], headers: Record<string, string> = {}): IncomingMessage {
  const s = new PassThrough() as unknown as IncomingMessage;
  (s as unknown as { headers: Record<string, string> }).headers = headers;
  setImmediate(() => {
    for (const c of chunks) (s as unknown as PassThrough).write(c);
    (s as unknown as PassThrough).end();
  });
  return s;
}

describe('bodyKind', () => {
  it('classifies JSON, YAML and patch types', () => {
    expect(bodyKind('POST', 'application/json; charset=utf-8')).toBe('json');
    expect(bodyKind('PUT', 'application/yaml')).toBe('yaml');
    expect(bodyKind('POST', 'application/vnd.kubernetes.protobuf')).toBe('protobuf');
    expect(bodyKind('PATCH', 'application/json-patch+json')).toBe('json-patch');
    expect(bodyKind('PATCH', 'application/merge-patch+json')).toBe('merge-patch');
    expect(bodyKind('PATCH', 'application/strategic-merge-patch+json')).toBe('strategic-merge-patch');
    expect(bodyKind('PATCH', 'application/apply-patch+yaml')).toBe('apply-patch');
  });
  it.each([
    ['PATCH', 'application/vnd.kubernetes.protobuf'],
    ['PATCH', 'application/apply-patch+cbor'],
    ['POST', 'application/cbor'],
    ['POST', 'text/plain'],
    ['POST', undefined],
    ['PATCH', 'application/json'],
  ])('refuses %s %s with 415', (method, ct) => {
    expect(() => bodyKind(method, ct)).toThrow(expect.objectContaining({ code: 415, reason: 'UnsupportedMediaType' }));
  });
});

describe('readBody', () => {
  it('reads up to the limit', async () => {
    const b = await readBody(fakeReq([Buffer.from('ab'), Buffer.from('cd')]), 4);
    expect(b.toString()).toBe('abcd');
  });
  it('rejects a declared oversize body before reading it', async () => {
    await expect(readBody(fakeReq([], { 'content-length': '10' }), 4)).rejects.toMatchObject({ code: 413 });
  });
  it('rejects a streamed oversize body as soon as it passes the limit', async () => {
    await expect(readBody(fakeReq([Buffer.alloc(3), Buffer.alloc(3)]), 4)).rejects.toMatchObject({ code: 413, reason: 'RequestEntityTooLarge' });
  });
});

describe('YAML', () => {
  it('parses one document with the YAML 1.2 core schema', () => {
    expect(parseYaml('a: yes\nb: 1\nc: 2020-01-01\n')).toEqual({ a: 'yes', b: 1, c: '2020-01-01' });
  });
  it('refuses duplicate keys', () => {
    expect(() => parseYaml('a: 1\na: 2\n')).toThrow(RequestError);
  });
  it('refuses several documents', () => {
    expect(() => parseYaml('a: 1\n---\nb: 2\n')).toThrow(/exactly one document/);
  });
  it('refuses billion laughs by counting expansion without expanding', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill('*' + String.fromCharCode(96 + i)).join(', ')}]`);
    expect(() => parseYaml(lines.join('\n'))).toThrow(/alias expansion limit/);
  });
  it('allows modest anchors', () => {
    expect(parseYaml('base: &b {x: 1}\nother: *b\n')).toEqual({ base: { x: 1 }, other: { x: 1 } });
  });
  it('counts shared nodes once per reference', () => {
    const shared = { a: 1, b: 2 };
    expect(expandedSize({ x: shared, y: shared }, MAX_YAML_NODES)).toBe(7);
  });
});

describe('nesting', () => {
  const deepJson = (n: number): string => '{"a":' + '['.repeat(n) + ']'.repeat(n) + '}';
  it('refuses JSON and YAML bodies nested deeper than 200 levels, before anything walks them', () => {
    expect(() => parseJson(deepJson(3000))).toThrow(/nests deeper than 200 levels/);
    // js-yaml stops at 100 levels itself.
    expect(() => parseYaml(deepJson(3000))).toThrow(/nesting exceeded maxDepth/);
    expect(() => parseBody('merge-patch', Buffer.from(deepJson(250)), 'application/merge-patch+json')).toThrow(/nests deeper/);
  });
  it('accepts what Kubernetes objects nest to', () => {
    expect(parseJson(deepJson(150))).toBeDefined();
    expect(parseYaml(deepJson(60))).toBeDefined();
  });
});

describe('JSON', () => {
  it('finds duplicate keys, also when escaped differently', () => {
    expect(findDuplicateKey('{"a":1,"b":{"c":1,"c":2}}')).toBe('c');
    expect(findDuplicateKey('{"a":1,"\\u0061":2}')).toBe('a');
    expect(findDuplicateKey('{"a":[{"b":1},{"b":2}],"s":"\\"a\\":"}')).toBeUndefined();
    expect(findDuplicateKey('[{"a":1},{"a":1}]')).toBeUndefined();
  });
  it('refuses invalid JSON and duplicate keys with 400', () => {
    expect(() => parseJson('{')).toThrow(expect.objectContaining({ code: 400 }));
    expect(() => parseJson('{"x":1,"x":2}')).toThrow(/duplicate key "x"/);
  });
  it('converts YAML to JSON and keeps apply patches as apply-patch+yaml', () => {
    expect(parseBody('yaml', Buffer.from('a: 1'), 'application/yaml')).toEqual({ kind: 'yaml', value: { a: 1 }, contentType: 'application/json' });
    expect(parseBody('apply-patch', Buffer.from('a: 1'), 'application/apply-patch+yaml').contentType).toBe('application/apply-patch+yaml');
    expect(parseBody('merge-patch', Buffer.from('{"a":1}'), 'application/merge-patch+json; charset=utf-8').contentType).toBe('application/merge-patch+json');
  });
});
