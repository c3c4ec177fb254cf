// Every detector and the known-value matcher run in time linear in their input. Checked without clocks:
// the scanners count their character steps (ScanStats) and the tests assert ops <= C * input length on
// pathological inputs built from each detector's own keywords and prefixes.
import { describe, expect, it } from '@jest/globals';
import { Marker, NeedleMatcher, TextMasker, ValueScrubber, detectors, type ScanStats } from '../../../src/masking/index.js';
import { KEY } from './helpers.js';

const marker = new Marker(KEY);
const MB = 1024 * 1024;
/** Steps per input character allowed (a constant, whatever the input). */
const C = 64;

function fill(unit: string, size = MB): string {
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}

function maskCounting(text: string): { out: string; ops: number } {
  const stats: ScanStats = { ops: 0 };
  const out = new TextMasker(marker, [], [], { stats }).mask(text, 'log', {});
  return { out, ops: stats.ops };
}

const PATHOLOGICAL: Array<[string, string]> = [
  ['key-value keyword runs', fill('password.')],
  ['key-value separators', fill('password=')],
  ['key-value spaced', fill('token : ')],
  ['key-value quotes', fill('"secret":"')],
  ['jwt headers', fill('eyJ')],
  ['jwt segments', fill('eyJaaaaaaaaaa.')],
  ['jwt header+payload', fill('eyJaaaaaaaaaa.eyJ')],
  ['pem begins', fill('-----BEGIN ')],
  ['pem labels', fill('-----BEGIN A ')],
  ['pem ends', fill('-----BEGIN PRIVATE KEY----------END ')],
  ['url separators', fill('://')],
  ['url authorities', fill('a://a:b@')],
  ['url colons', 'http://' + fill('a:') + '@h'],
  ['aws ids', fill('AKIA')],
  ['aws secret keys', fill('aws_secret_access_key = ')],
  ['github', fill('github_pat_')],
  ['gitlab', fill('glpat-')],
  ['slack', fill('xoxb-')],
  ['stripe', fill('sk_live_')],
  ['gcp', fill('ya29.')],
  ['bearer', fill('Bearer ')],
  ['authorization', fill('Authorization: Bearer ')],
  ['spaces after keyword', 'password' + ' '.repeat(MB)],
  ['mixed', fill('password=eyJ://AKIA-----BEGIN xoxb-Bearer glpat-')],
];

describe('detectors are linear', () => {
  it.each(PATHOLOGICAL)('%s (1 MB)', (_name, text) => {
    const { out, ops } = maskCounting(text);
    expect(typeof out).toBe('string');
    expect(ops).toBeLessThanOrEqual(C * text.length);
  });

  it('the historic ReDoS input masks correctly: a ConfigMap-style value of password. x 1000', () => {
    const text = 'password.'.repeat(1000);
    const { out, ops } = maskCounting(text);
    expect(out).toBe(text); // a key with no separator and no value: nothing to mask
    expect(ops).toBeLessThanOrEqual(C * text.length);
    const withValue = 'password.'.repeat(1000) + '=hunter22';
    expect(maskCounting(withValue).out).toBe('password.'.repeat(1000) + '=' + marker.mark('hunter22'));
  });

  it('work grows linearly: 4x the input costs about 4x the steps', () => {
    for (const [, text] of PATHOLOGICAL.slice(0, 8)) {
      const small = maskCounting(text.slice(0, MB / 4)).ops;
      const big = maskCounting(text).ops;
      expect(big).toBeLessThanOrEqual(5 * small + 1000);
    }
  });

  it('still finds the secrets inside pathological text', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig_nature';
    const text = 'eyJ'.repeat(1000) + ' ' + jwt + ' ' + 'xoxb-'.repeat(3);
    const out = maskCounting(text).out;
    expect(out).toContain(' ' + marker.mark(jwt) + ' ');
    expect(out).toContain(marker.mark('xoxb-xoxb-xoxb-'));
    expect(out.startsWith('eyJ'.repeat(1000))).toBe(true);
  });

  it('every detector is a scanner (no regex) and has a name', () => {
    for (const d of detectors) expect(typeof d.scan).toBe('function');
  });
});

describe('known-value matcher (Aho–Corasick) is linear', () => {
  it('needles that share long prefixes against a text of their prefix', () => {
    const needles = Array.from({ length: 50 }, (_, i) => 'a'.repeat(100 + i) + 'b');
    const stats: ScanStats = { ops: 0 };
    const m = new NeedleMatcher(needles, stats);
    const buildOps = stats.ops;
    expect(buildOps).toBeLessThanOrEqual(C * needles.join('').length);
    stats.ops = 0;
    const text = 'a'.repeat(MB);
    expect(m.regions(text, 0, text.length, stats)).toEqual([]);
    expect(stats.ops).toBeLessThanOrEqual(C * text.length);
    stats.ops = 0;
    const hit = 'a'.repeat(MB) + 'b';
    expect(m.regions(hit, 0, hit.length, stats)).toEqual([{ start: hit.length - 150, end: hit.length, needle: 49 }]);
    expect(stats.ops).toBeLessThanOrEqual(C * hit.length);
  });

  it('many overlapping needles merge into one region, in linear work', () => {
    const needles = Array.from({ length: 30 }, (_, i) => 'ab'.repeat(3 + i));
    const stats: ScanStats = { ops: 0 };
    const m = new NeedleMatcher(needles);
    const text = 'x' + 'ab'.repeat(MB / 2) + 'x';
    expect(m.regions(text, 0, text.length, stats)).toEqual([{ start: 1, end: text.length - 1, needle: -1 }]);
    expect(stats.ops).toBeLessThanOrEqual(C * text.length);
  });

  it('finds every needle like a naive search does (random texts)', () => {
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const alpha = 'abc';
    const word = (n: number) => Array.from({ length: n }, () => alpha[rnd(3)]).join('');
    for (let round = 0; round < 200; round++) {
      const needles = Array.from({ length: 1 + rnd(5) }, () => word(2 + rnd(4)));
      const text = word(60);
      const covered = new Array<boolean>(text.length).fill(false);
      for (const n of needles) for (let i = text.indexOf(n); i >= 0; i = text.indexOf(n, i + 1)) for (let k = i; k < i + n.length; k++) covered[k] = true;
      const got = new Array<boolean>(text.length).fill(false);
      for (const r of new NeedleMatcher(needles).regions(text)) for (let k = r.start; k < r.end; k++) got[k] = true;
      expect(got).toEqual(covered);
    }
  });

  it('a scrubber with many values scans a 1 MB string in linear work', () => {
    const values = Array.from({ length: 200 }, (_, i) => `value-${i}-` + 'x'.repeat(i % 40));
    const s = ValueScrubber.of(values)!;
    const stats: ScanStats = { ops: 0 };
    const text = fill('value-1-xvalue-');
    s.replace(text, (v) => marker.mark(v), undefined, stats);
    expect(stats.ops).toBeLessThanOrEqual(C * text.length);
  });
});
