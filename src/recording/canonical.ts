// Canonical JSON (object keys sorted, no whitespace, undefined members dropped) and the hash of format 1
// record lines (written before format 2, record-line.ts; still verified).
import { createHash } from 'node:crypto';
import type { RequestRecord } from './types.js';

export const ZERO_HASH = '0'.repeat(64);

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object' && JSON.isRawJSON(value)) return JSON.stringify(value);
  if (Array.isArray(value)) return '[' + value.map((v) => (v === undefined || typeof v === 'function' ? 'null' : canonicalJson(v))).join(',') + ']';
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((obj as { toJSON: () => unknown }).toJSON());
    const parts: string[] = [];
    for (const k of Object.keys(obj).sort()) {
      const v = obj[k];
      if (v === undefined || typeof v === 'function') continue;
      parts.push(JSON.stringify(k) + ':' + canonicalJson(v));
    }
    return '{' + parts.join(',') + '}';
  }
  if (typeof value === 'bigint') return value.toString();
  const s = JSON.stringify(value);
  return s === undefined ? 'null' : s;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 over the canonical JSON of the record without its `hash` member. */
export function recordHash(rec: RequestRecord | Record<string, unknown>): string {
  const { hash: _omit, ...rest } = rec as Record<string, unknown>;
  return sha256Hex(canonicalJson(rest));
}
