// Shared fixtures for the masking tests.
import { Readable, type Transform } from 'node:stream';
import type { ResolvedMasking } from '../../../src/policy/types.js';

export const KEY = Buffer.alloc(32, 7);

export function rules(over: Partial<ResolvedMasking> = {}): ResolvedMasking {
  return { secrets: true, configMaps: true, logs: true, envNamePatterns: [], patterns: [], ...over };
}

export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** Pipes chunks through a transform and returns the output text. */
export async function through(t: Transform, chunks: Array<Buffer | string>): Promise<string> {
  const out: Buffer[] = [];
  t.on('data', (c: Buffer) => out.push(Buffer.from(c)));
  const done = new Promise<void>((resolve, reject) => {
    t.on('end', resolve);
    t.on('error', reject);
  });
  Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)), { objectMode: false }).pipe(t);
  await done;
  return Buffer.concat(out).toString('utf8');
}

/** Splits a buffer into pieces of 1 byte, or random sizes with a seeded generator. */
export function split(buf: Buffer, mode: 'bytes' | number): Buffer[] {
  const out: Buffer[] = [];
  if (mode === 'bytes') {
    for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
    return out;
  }
  let seed = mode;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < buf.length; ) {
    const n = 1 + Math.floor(rnd() * 97);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}
