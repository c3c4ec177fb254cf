// Masking yields to the event loop between slices of work and bounds a response; no timing involved.
import { describe, expect, it } from '@jest/globals';
import { createMaskerFactory, JsonMaskStream, LogMaskStream, Marker, TextMasker, type MaskTarget } from '../../../src/masking/index.js';
import { KEY, b64, rules, through } from './helpers.js';

const factory = createMaskerFactory({ key: KEY });
const marker = new Marker(KEY);
const target = (over: Partial<MaskTarget> = {}): MaskTarget => ({ verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'secrets', watch: false, contentType: 'application/json', ...over });

describe('slicing and budgets', () => {
  it('a chunk with many items is masked in several slices, other callbacks run in between, output intact', async () => {
    const items = Array.from({ length: 2000 }, (_, i) => ({ metadata: { name: `s${i}` }, data: { k: b64(`value-${i}`) } }));
    const text = JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items });
    const tr = factory.create(target(), rules()) as JsonMaskStream;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const out = await through(tr, [text]);
    clearInterval(timer);
    expect(tr.yields).toBeGreaterThan(2);
    const o = JSON.parse(out);
    expect(o.items).toHaveLength(2000);
    expect(Buffer.from(o.items[1999].data.k, 'base64').toString()).toBe(marker.mark('value-1999'));
    expect(ticks).toBeGreaterThan(0);
  });

  it('a large log chunk is masked in slices with identical output', async () => {
    const line = 'token=abcdefgh1234 and some words\n';
    const big = line.repeat(30000);
    const t = new LogMaskStream(new TextMasker(marker));
    const out = await through(t, [big]);
    expect(t.yields).toBeGreaterThan(1);
    expect(out).toBe(`token=${marker.mark('abcdefgh1234')} and some words\n`.repeat(30000));
  });

  it('fails closed beyond the per-response budget, but not for watches', async () => {
    const f = createMaskerFactory({ key: KEY, maxResponseBytes: 4096 });
    const list = JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: Array.from({ length: 100 }, (_, i) => ({ metadata: { name: `s${i}` }, data: { k: b64('v') } })) });
    const chunks = list.match(/.{1,1000}/gs)!;
    await expect(through(f.create(target(), rules())!, chunks)).rejects.toThrow(/response larger than 4096 bytes/);
    const events = Array.from({ length: 100 }, (_, i) => JSON.stringify({ type: 'ADDED', object: { kind: 'Secret', apiVersion: 'v1', metadata: { name: `s${i}` }, data: { k: b64('v') } } }) + '\n').join('');
    const out = await through(f.create(target({ watch: true, verb: 'watch' }), rules())!, [events]);
    expect(out.trim().split('\n')).toHaveLength(100);
  });
});
