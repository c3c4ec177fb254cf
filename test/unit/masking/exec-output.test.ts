// The exec output masker: known values masked in every spelling and however the stream splits them,
// binary output unchanged, bounded lines.
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { ExecKnownValues, ExecOutputMasker, FRAGMENT_CHARS, HOLD_MIN_CHARS, MAX_NEEDLE_CHARS, TooManyValues } from '../../../src/masking/exec-output.js';
import { Marker, MARKER_PREFIX, TextMasker } from '../../../src/masking/index.js';

const marker = new Marker(Buffer.alloc(32, 7));
const SECRET = 'Zq8-db-p4ss-Wx91';
const masker = (values: (string | Buffer)[] = [SECRET], maxLineBytes?: number) =>
  new ExecOutputMasker({ text: new TextMasker(marker, [], []), known: ExecKnownValues.of(values), ...(maxLineBytes ? { maxLineBytes } : {}) });

/** Feeds pieces, calling flushIdle after each when asked, and returns everything that went out. */
function run(m: ExecOutputMasker, pieces: (string | Buffer)[], idle = false): Buffer {
  const out: Buffer[] = [];
  for (const p of pieces) {
    out.push(m.write(Buffer.isBuffer(p) ? p : Buffer.from(p)));
    if (idle) out.push(m.flushIdle());
  }
  out.push(m.end());
  return Buffer.concat(out);
}

describe('ExecOutputMasker', () => {
  it('masks a known value and its encoded spellings, keeping the rest of the line', () => {
    const b64 = Buffer.from(SECRET).toString('base64');
    const out = run(masker(), [`DB_PASS=${SECRET}\nencoded: ${b64}\nplain line\n`]).toString();
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(b64);
    expect(out).toContain(`DB_PASS=${marker.mark(SECRET)}\n`);
    expect(out).toContain('plain line\n');
  });

  it('never lets a value through, whatever the split, with or without idle flushes in between', () => {
    const text = `before ${SECRET} after\n`;
    for (let cut = 1; cut < text.length; cut++) {
      for (const idle of [false, true]) {
        const out = run(masker(), [text.slice(0, cut), text.slice(cut)], idle).toString();
        expect(out).not.toContain(SECRET);
        expect(out.endsWith(' after\n')).toBe(true);
        // An idle flush may have sent fewer than HOLD_MIN_CHARS leading characters; never more.
        const leaked = out.indexOf(SECRET.slice(0, HOLD_MIN_CHARS));
        expect(leaked).toBe(-1);
      }
    }
  });

  it('a value written one byte at a time with idle flushes leaks fewer than HOLD_MIN_CHARS characters', () => {
    const out = run(masker(), [...`x${SECRET}y`].map((c) => c), true).toString();
    expect(out).not.toContain(SECRET.slice(0, HOLD_MIN_CHARS));
    expect(out).toContain(MARKER_PREFIX);
    expect(out.endsWith('y')).toBe(true);
  });

  it('goes out on idle when nothing in the tail begins a value (prompts appear)', () => {
    const m = masker();
    expect(m.write(Buffer.from('$ ')).length).toBe(0);
    expect(m.holding).toBe(true);
    expect(m.flushIdle().toString()).toBe('$ ');
    expect(m.holding).toBe(false);
  });

  it('holds a tail that begins a value across idle flushes until it is ruled out', () => {
    const m = masker();
    m.write(Buffer.from(`ok ${SECRET.slice(0, 6)}`));
    expect(m.flushIdle().toString()).toBe('ok ');
    expect(m.flushIdle().toString()).toBe('');
    expect(m.write(Buffer.from('!!\n')).toString()).toBe(`${SECRET.slice(0, 6)}!!\n`);
  });

  it('masks each line of a multi-line value (the stream is masked line by line)', () => {
    const value = 'first-line-of-it\nsecond-line-here\nx';
    const out = run(masker([value]), ['first-line-of-it\r\nsecond-line-here\r\n']).toString();
    expect(out).not.toContain('first-line-of-it');
    expect(out).not.toContain('second-line-here');
    expect(out.split('\r\n')).toHaveLength(3);
  });

  it('passes binary output byte for byte and masks a value inside it', () => {
    const bin = Buffer.from(Array.from({ length: 4096 }, (_, i) => 128 + (i % 120)));
    expect(run(masker(), [bin.subarray(0, 1000), bin.subarray(1000)]).equals(bin)).toBe(true);
    const withSecret = Buffer.concat([bin.subarray(0, 10), Buffer.from(SECRET), bin.subarray(10, 20)]);
    const out = run(masker(), [withSecret]);
    expect(out.includes(Buffer.from(SECRET))).toBe(false);
    expect(out.subarray(0, 10).equals(bin.subarray(0, 10))).toBe(true);
  });

  it('matches non-ASCII values on their UTF-8 bytes, split inside a character', () => {
    const value = 'pässwörd-grün-42';
    const bytes = Buffer.from(`v=${value}\n`);
    for (let cut = 1; cut < bytes.length; cut++) {
      const out = run(masker([value]), [bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(out.toString()).toBe(`v=${marker.mark(value)}\n`);
    }
  });

  it('bounds a line without newlines and still masks a value on a piece boundary', () => {
    const m = masker([SECRET], 64);
    const out: Buffer[] = [];
    for (let i = 0; i < 50; i++) out.push(m.write(Buffer.from('a'.repeat(61) + SECRET.slice(0, 5))), m.write(Buffer.from(SECRET.slice(5))));
    out.push(m.end());
    const all = Buffer.concat(out).toString();
    expect(all).not.toContain(SECRET);
    expect(all.split(marker.mark(SECRET))).toHaveLength(51);
  });

  it('masks detector shapes and PEM blocks like logs do', () => {
    const key = ['-----BEGIN PRIVATE KEY-----', 'MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA', '-----END PRIVATE KEY-----'].join('\n');
    const out = run(masker([]), [`${key}\nAKIAIOSFODNN7EXAMPLE\n`]).toString();
    expect(out).not.toContain('MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA');
    expect(out).not.toContain('AKIAIOSFODNN7EXAMPLE');
  });

  it('masks a run of FRAGMENT_CHARS or more of a value wherever it is cut (ps -o args:N, columns)', () => {
    const cut = SECRET.slice(0, SECRET.length - 3);
    const middle = SECRET.slice(3, 3 + FRAGMENT_CHARS);
    const out = run(masker(), [`AIRLOCK=${cut}\nend ${SECRET.slice(-FRAGMENT_CHARS)}\nmid ${middle} x\nshort ${SECRET.slice(0, FRAGMENT_CHARS - 1)}\n`]).toString();
    expect(out).toBe(`AIRLOCK=${marker.mark(SECRET)}\nend ${marker.mark(SECRET)}\nmid ${marker.mark(SECRET)} x\nshort ${SECRET.slice(0, FRAGMENT_CHARS - 1)}\n`);
    expect(ExecKnownValues.of([SECRET])!.contains(Buffer.from(`ls /${middle}`))).toBe(true);
    expect(ExecKnownValues.of([SECRET])!.contains(Buffer.from('ls /tmp'))).toBe(false);
  });

  it('masks values that are not UTF-8 as bytes, and in their base64 and hex spellings', () => {
    const keystore = Buffer.from([0xff, 0xfe, 0x00, 0x01, ...Buffer.from('cnrybinkeystore8877'), 0x80, 0x81]);
    const bin = Buffer.from(Array.from({ length: 64 }, (_, i) => 128 + i));
    const out = run(masker([keystore]), [Buffer.concat([bin, keystore, bin]), Buffer.from(`\n${keystore.toString('base64')}\n${keystore.toString('hex')}\n`)]);
    expect(out.includes(keystore)).toBe(false);
    expect(out.includes(keystore.subarray(4, 12))).toBe(false);
    expect(out.toString('latin1')).not.toContain(keystore.toString('base64'));
    expect(out.toString('latin1')).not.toContain(keystore.toString('hex'));
    expect(out.subarray(0, 64).equals(bin)).toBe(true);
  });

  it('refuses values too many to search for (the automaton is built on the event loop)', () => {
    const values = Array.from({ length: 400 }, (_, i) => `${i}-`.padEnd(4000, 'x') + i);
    expect(() => ExecKnownValues.of(values)).toThrow(TooManyValues);
    expect(MAX_NEEDLE_CHARS).toBeGreaterThan(100_000);
  });

  it('holds a trailing word over idle flushes so a token written in two pieces reaches the detectors whole', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJlLXZhbHVlLWhlcmU';
    const m = masker([]);
    const out = [m.write(Buffer.from(`Authorization: Bearer ${jwt.slice(0, 20)}`)), m.flushIdle(), m.flushIdle(), m.write(Buffer.from(`${jwt.slice(20)}\n`)), m.end()];
    const text = Buffer.concat(out).toString();
    expect(text.startsWith('Authorization: ')).toBe(true);
    expect(text).not.toContain(jwt.slice(0, 12));
    expect(text).not.toContain(jwt.slice(30, 50));
    // A prompt that ends in a word still shows, after about a second of idle flushes.
    const p = masker([]);
    p.write(Buffer.from('Continue? [y/N]'));
    const shown: string[] = [];
    for (let i = 0; i < 12; i++) shown.push(p.flushIdle().toString());
    expect(shown.join('')).toBe('Continue? [y/N]');
    expect(shown.slice(0, 9).join('')).toBe('Continue? ');
  });

  it('random values at random splits never reach the output (generative)', () => {
    let seed = 20261202;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let round = 0; round < 300; round++) {
      const values = Array.from({ length: 1 + rnd(3) }, () => randomBytes(6 + rnd(20)).toString('base64url'));
      const parts: string[] = [];
      for (let i = 0; i < 8; i++) parts.push(rnd(2) ? values[rnd(values.length)]! : ['\n', ' ', 'x', '\r\n', 'é'][rnd(5)]!);
      const text = Buffer.from(parts.join(''));
      const pieces: Buffer[] = [];
      for (let at = 0; at < text.length; ) {
        const n = 1 + rnd(12);
        pieces.push(text.subarray(at, at + n));
        at += n;
      }
      const out = run(masker(values), pieces, rnd(2) === 1).toString('latin1');
      for (const v of values) expect(out).not.toContain(v.slice(0, HOLD_MIN_CHARS) + v.slice(HOLD_MIN_CHARS));
    }
  });
});
